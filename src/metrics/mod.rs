//! Alignment metrics between two representations of the same N samples.
//!
//! [`Metric`] names a metric with its parameters; [`score`] computes it from features and
//! [`LayerState`] + [`pair`] from per-layer state computed once (a kNN graph, a kernel, a
//! basis), so one layer's work serves many comparisons. One file per family holds the
//! definitions: [`neighbours`](KnnMetric) (kNN graphs), kernel (CKA, CKNNA, RV coefficient),
//! SVCCA, RSA, linear (Procrustes, CCA, PWCCA).

pub(crate) mod dense;
#[cfg(not(feature = "linalg"))]
mod eigen;
mod kernel;
mod linear;
mod metric;
pub(crate) mod neighbours;
mod rsa;
mod stored;
mod svcca;

pub use kernel::{Kernel, KernelMatrix, cka_kernels, cknna_kernels, kernel_matrix, rv_kernels};
pub use linear::{LinearBasis, cca_bases, procrustes_bases, pwcca_bases};
pub use metric::{LayerState, Metric, MetricParams, Param, ParamError, pair, score};
pub use neighbours::{KnnMetric, knn_metric_graphs, mutual_knn_graphs};
pub use rsa::{Corr, Rdm, RsaVector, rsa_vectors};
#[cfg(feature = "cache")]
pub(crate) use stored::metric_id;
pub use svcca::{SvccaBasis, svcca_bases};
