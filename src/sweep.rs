//! The layer sweep: a metric for every pair (layer i of model A, layer j of model B), and
//! the best pair, as the paper's `compute_score`.
//!
//! Per-layer work is done once per layer, not once per pair: L_A + L_B kNN graphs (or
//! kernel matrices, or SVCCA bases) instead of the reference's 2 L_A L_B. Kernel metrics
//! hold every layer's N x N kernel (8 N² bytes each).

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::knn::{self, KnnGraph, KnnOptions};
use crate::matrix::AnyMatrix;
use crate::metrics::{self, Kernel, KernelMatrix, KnnMetric, SvccaBasis};

/// A metric with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A kNN-graph metric with `k` neighbours (self excluded).
    Knn {
        /// Which one.
        metric: KnnMetric,
        /// Neighbours per row.
        k: usize,
    },
    /// CKA (`unbiased = false`, the reference's `cka`) or the unbiased estimator (`unbiased_cka`).
    Cka {
        /// Linear or RBF.
        kernel: Kernel,
        /// Unbiased HSIC.
        unbiased: bool,
    },
    /// CKNNA with `topk` neighbours (the reference's default is unbiased).
    Cknna {
        /// Neighbours per row, >= 2.
        topk: usize,
        /// Unbiased HSIC.
        unbiased: bool,
    },
    /// SVCCA with `cca_dim` directions.
    Svcca {
        /// Directions kept.
        cca_dim: usize,
    },
}

impl Metric {
    /// The metric as the reference's `compute_score` calls it by name: kNN metrics and
    /// cknna with `topk = k` (cknna unbiased), cka and unbiased_cka with the linear kernel,
    /// svcca with cca_dim 10. `None` for an unknown name.
    pub fn reference(name: &str, k: usize) -> Option<Metric> {
        Some(match name {
            "cka" => Metric::Cka { kernel: Kernel::Linear, unbiased: false },
            "unbiased_cka" => Metric::Cka { kernel: Kernel::Linear, unbiased: true },
            "cknna" => Metric::Cknna { topk: k, unbiased: true },
            "svcca" => Metric::Svcca { cca_dim: 10 },
            other => Metric::Knn { metric: KnnMetric::from_name(other)?, k },
        })
    }
}

/// Scores of every layer pair.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepResult {
    /// L_A.
    pub rows: usize,
    /// L_B.
    pub cols: usize,
    /// Row-major L_A x L_B: `scores[i * cols + j]` compares layer i of A with layer j of B.
    pub scores: Vec<f64>,
    /// The reference's best: starts at 0 and is replaced only by a strictly larger score,
    /// so it is the first maximum in row-major order, and 0 when no pair scores above 0.
    pub best: f64,
    /// The (i, j) of `best`, `None` when no pair scores above 0.
    pub best_index: Option<(usize, usize)>,
}

/// Per-layer state computed once.
pub(crate) enum PerLayer {
    Graph(KnnGraph),
    Kernel(KernelMatrix),
    Basis(SvccaBasis),
}

pub(crate) fn per_layer(x: AnyMatrix<'_>, metric: Metric, opts: &KnnOptions) -> Result<PerLayer> {
    Ok(match metric {
        Metric::Knn { k, .. } => PerLayer::Graph(knn::graph(x, k, opts)?),
        Metric::Cka { kernel, .. } => PerLayer::Kernel(metrics::kernel_matrix(x, kernel, opts.threads)?),
        Metric::Cknna { .. } => PerLayer::Kernel(metrics::kernel_matrix(x, Kernel::Linear, opts.threads)?),
        Metric::Svcca { cca_dim } => PerLayer::Basis(SvccaBasis::new(x, cca_dim)?),
    })
}

pub(crate) fn pair(a: &PerLayer, b: &PerLayer, metric: Metric) -> Result<f64> {
    match (a, b, metric) {
        (PerLayer::Graph(a), PerLayer::Graph(b), Metric::Knn { metric, k }) => {
            metrics::knn_metric_graphs(metric, a.as_ref(), b.as_ref(), k)
        }
        (PerLayer::Kernel(a), PerLayer::Kernel(b), Metric::Cka { unbiased, .. }) => {
            metrics::cka_kernels(a, b, unbiased)
        }
        (PerLayer::Kernel(a), PerLayer::Kernel(b), Metric::Cknna { topk, unbiased }) => {
            metrics::cknna_kernels(a, b, topk, unbiased)
        }
        (PerLayer::Basis(a), PerLayer::Basis(b), Metric::Svcca { .. }) => metrics::svcca_bases(a, b),
        _ => unreachable!("per-layer state matches the metric"),
    }
}

/// Scores every pair of layers of two models (same N in every layer) with `metric`.
/// `opts` sets the kNN similarity, threads and ISA.
pub fn sweep(a: &[AnyMatrix<'_>], b: &[AnyMatrix<'_>], metric: Metric, opts: &KnnOptions) -> Result<SweepResult> {
    let (pa, pb) = per_layers(a, b, metric, opts)?;
    sweep_layers(&pa, &pb, metric)
}

/// Per-layer state of both models, after checking they describe the same samples.
pub(crate) fn per_layers(
    a: &[AnyMatrix<'_>],
    b: &[AnyMatrix<'_>],
    metric: Metric,
    opts: &KnnOptions,
) -> Result<(Vec<PerLayer>, Vec<PerLayer>)> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::EmptyMatrix);
    }
    let n = a[0].rows();
    if let Some(x) = a.iter().chain(b).find(|x| x.rows() != n) {
        return Err(Error::RowCountMismatch { a: n, b: x.rows() });
    }
    let pa = a.iter().map(|&x| per_layer(x, metric, opts)).collect::<Result<Vec<_>>>()?;
    let pb = b.iter().map(|&x| per_layer(x, metric, opts)).collect::<Result<Vec<_>>>()?;
    Ok((pa, pb))
}

pub(crate) fn sweep_layers(pa: &[PerLayer], pb: &[PerLayer], metric: Metric) -> Result<SweepResult> {
    let mut scores = Vec::with_capacity(pa.len() * pb.len());
    let (mut best, mut best_index) = (0.0f64, None);
    for (i, x) in pa.iter().enumerate() {
        for (j, y) in pb.iter().enumerate() {
            let s = pair(x, y, metric)?;
            if s > best {
                (best, best_index) = (s, Some((i, j)));
            }
            scores.push(s);
        }
    }
    Ok(SweepResult { rows: pa.len(), cols: pb.len(), scores, best, best_index })
}
