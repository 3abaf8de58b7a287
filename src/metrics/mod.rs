//! Alignment metrics between two representations of the same N samples.
//!
//! One file per family; every kNN metric takes either features (and computes the graphs)
//! or precomputed graphs, so one graph serves many comparisons.

mod eigen;
mod kernel;
pub(crate) mod neighbours;
mod svcca;

pub use kernel::{Kernel, KernelMatrix, cka, cka_kernels, cknna, cknna_kernels, kernel_matrix};
pub use neighbours::{KnnMetric, knn_metric, knn_metric_graphs, mutual_knn, mutual_knn_graphs};
pub use svcca::{SvccaBasis, svcca, svcca_bases};

/// Two representations must describe the same samples.
fn same_samples(a: &crate::AnyMatrix<'_>, b: &crate::AnyMatrix<'_>) -> crate::Result<()> {
    if a.rows() != b.rows() {
        return Err(crate::Error::RowCountMismatch { a: a.rows(), b: b.rows() });
    }
    Ok(())
}
