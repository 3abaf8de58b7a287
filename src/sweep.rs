//! The layer sweep: a metric for every pair (layer i of model A, layer j of model B), and
//! the best pair, as the paper's `compute_score`.
//!
//! Per-layer work is done once per layer, not once per pair: L_A + L_B kNN graphs (or
//! kernel matrices, or SVCCA bases) instead of the reference's 2 L_A L_B. Kernel metrics
//! hold every layer's N x N kernel (8 N² bytes each).

use alloc::vec::Vec;

use crate::element::Element;
use crate::error::{Error, Result};
use crate::knn::{self, KnnGraph, KnnOptions};
use crate::matrix::AnyMatrix;
use crate::metrics::{self, Kernel, KernelMatrix, KnnMetric, SvccaBasis};
use crate::prepare::{self, Layers, Prepare};

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

/// The paper's whole pipeline in one call, its `prepare_features` + `compute_score`:
/// prepare both N x L x D tensors with `prepare` (e.g. [`Prepare::Paper`]: clamp |x| at its
/// exact `q`-quantile, then L2-normalise each row of each layer), then [`sweep`] every
/// layer pair. The best is the reference's: the first maximum in row-major order, and
/// `best = 0`, `best_index = None` when no pair scores above 0. Prepared copies are f32
/// (N·L·D floats per model); with [`Prepare::None`] pass the layers to [`sweep`] directly
/// to avoid them.
pub fn compute_score<TA: Element, TB: Element>(
    a: &Layers<'_, TA>,
    b: &Layers<'_, TB>,
    metric: Metric,
    prepare: Prepare,
    q: f64,
    opts: &KnnOptions,
) -> Result<SweepResult> {
    let (va, _) = prepare::prepare(a, prepare, q)?;
    let (vb, _) = prepare::prepare(b, prepare, q)?;
    let la = Layers::new(&va, a.samples(), a.layers(), a.dim())?;
    let lb = Layers::new(&vb, b.samples(), b.layers(), b.dim())?;
    let va: Vec<AnyMatrix<'_>> = (0..la.layers()).map(|l| la.layer(l).into()).collect();
    let vb: Vec<AnyMatrix<'_>> = (0..lb.layers()).map(|l| lb.layer(l).into()).collect();
    sweep(&va, &vb, metric, opts)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_score_is_prepare_then_sweep() {
        // Two models of 40 samples: 3 layers of 12 features and 2 layers of 9, with outliers.
        let mut seed = 11u64;
        let mut next = |scale: f32| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
        };
        let (n, (la, da), (lb, db)) = (40, (3, 12), (2, 9));
        let xa: Vec<f32> = (0..n * la * da).map(|i| next(if i % 97 == 0 { 50.0 } else { 1.0 })).collect();
        let xb: Vec<f32> = (0..n * lb * db).map(|_| next(1.0)).collect();
        let (a, b) = (Layers::new(&xa, n, la, da).unwrap(), Layers::new(&xb, n, lb, db).unwrap());
        let opts = KnnOptions::default();
        for mode in [Prepare::None, Prepare::Normalize, Prepare::Paper, Prepare::PaperPerSample] {
            for metric in [
                Metric::Knn { metric: KnnMetric::Mutual, k: 5 },
                Metric::Cka { kernel: Kernel::Linear, unbiased: false },
            ] {
                let got = compute_score(&a, &b, metric, mode, 0.95, &opts).unwrap();
                let (pa, _) = prepare::prepare(&a, mode, 0.95).unwrap();
                let (pb, _) = prepare::prepare(&b, mode, 0.95).unwrap();
                let (pa, pb) = (Layers::new(&pa, n, la, da).unwrap(), Layers::new(&pb, n, lb, db).unwrap());
                let va: Vec<AnyMatrix<'_>> = (0..la).map(|l| pa.layer(l).into()).collect();
                let vb: Vec<AnyMatrix<'_>> = (0..lb).map(|l| pb.layer(l).into()).collect();
                let want = sweep(&va, &vb, metric, &opts).unwrap();
                assert_eq!(got, want, "{mode:?} {metric:?}");
                assert_eq!((got.rows, got.cols, got.scores.len()), (la, lb, la * lb));
                assert!(got.best_index.is_some() && got.best > 0.0);
            }
        }
        // Bad input is an error, not a panic: N differs between the models.
        let c = Layers::new(&xb[..(n - 1) * lb * db], n - 1, lb, db).unwrap();
        let mutual = Metric::Knn { metric: KnnMetric::Mutual, k: 5 };
        assert_eq!(
            compute_score(&a, &c, mutual, Prepare::Paper, 0.95, &opts),
            Err(Error::RowCountMismatch { a: n, b: n - 1 })
        );
    }
}
