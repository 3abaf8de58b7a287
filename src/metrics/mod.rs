//! Alignment metrics between two representations of the same N samples.
//!
//! [`Metric`] names a metric with its parameters; [`score`] computes it from features and
//! [`LayerState`] + [`pair`] from per-layer state computed once (a kNN graph, a kernel, a
//! basis), so one layer's work serves many comparisons. One file per family holds the
//! definitions: [`neighbours`](KnnMetric) (kNN graphs), kernel (CKA, CKNNA), SVCCA.

mod eigen;
mod kernel;
mod metric;
pub(crate) mod neighbours;
mod svcca;

pub use kernel::{Kernel, KernelMatrix, cka_kernels, cknna_kernels, kernel_matrix};
pub use metric::{LayerState, Metric, MetricParams, Param, ParamError, pair, score};
pub use neighbours::{KnnMetric, knn_metric_graphs, mutual_knn_graphs};
pub use svcca::{SvccaBasis, svcca_bases};
