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
    sweep_with_progress(a, b, metric, opts, &|_| {})
}

/// A step of [`sweep_with_progress`], reported before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepStep {
    /// The per-layer work (kNN graph, kernel matrix or SVCCA basis) of layer `layer` of
    /// model A (`model == 0`) or B (`model == 1`), of `layers` in that model. These come
    /// first, A's then B's, and cost far more than a pair.
    Layer {
        /// 0 for A, 1 for B.
        model: usize,
        /// The layer's index.
        layer: usize,
        /// Layers of that model.
        layers: usize,
    },
    /// The comparison of layer `i` of A with layer `j` of B, in row-major order.
    Pair {
        /// A's layer.
        i: usize,
        /// B's layer.
        j: usize,
    },
}

/// [`sweep`], calling `progress` before each step, so that a caller can show progress and,
/// when an error comes back, name the layer that was being processed (the last step
/// reported). The result is [`sweep`]'s, bit for bit.
pub fn sweep_with_progress(
    a: &[AnyMatrix<'_>],
    b: &[AnyMatrix<'_>],
    metric: Metric,
    opts: &KnnOptions,
    progress: &dyn Fn(SweepStep),
) -> Result<SweepResult> {
    let (pa, pb) = per_layers(a, b, metric, opts, progress)?;
    sweep_layers(&pa, &pb, metric, progress)
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
    progress: &dyn Fn(SweepStep),
) -> Result<(Vec<PerLayer>, Vec<PerLayer>)> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::EmptyMatrix);
    }
    let n = a[0].rows();
    if let Some(x) = a.iter().chain(b).find(|x| x.rows() != n) {
        return Err(Error::RowCountMismatch { a: n, b: x.rows() });
    }
    let model = |model: usize, layers: &[AnyMatrix<'_>]| {
        let total = layers.len();
        let state = |(layer, &x): (usize, &AnyMatrix<'_>)| {
            progress(SweepStep::Layer { model, layer, layers: total });
            per_layer(x, metric, opts)
        };
        layers.iter().enumerate().map(state).collect::<Result<Vec<_>>>()
    };
    Ok((model(0, a)?, model(1, b)?))
}

pub(crate) fn sweep_layers(
    pa: &[PerLayer],
    pb: &[PerLayer],
    metric: Metric,
    progress: &dyn Fn(SweepStep),
) -> Result<SweepResult> {
    let mut scores = Vec::with_capacity(pa.len() * pb.len());
    let (mut best, mut best_index) = (0.0f64, None);
    for (i, x) in pa.iter().enumerate() {
        for (j, y) in pb.iter().enumerate() {
            progress(SweepStep::Pair { i, j });
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

    #[test]
    fn progress_reports_every_step_in_order_and_the_failing_layer() {
        use core::cell::RefCell;
        let (n, d) = (30, 8);
        let x: Vec<f32> = (0..n * d * 5).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
        let layer =
            |l: usize| -> AnyMatrix<'_> { crate::Matrix::new(&x[l * n * d..(l + 1) * n * d], n, d).unwrap().into() };
        let (a, b) = ([layer(0), layer(1)], [layer(2), layer(3), layer(4)]);
        let opts = KnnOptions::default();
        for metric in [Metric::Knn { metric: KnnMetric::Mutual, k: 4 }, Metric::Svcca { cca_dim: 3 }] {
            let steps = RefCell::new(Vec::new());
            let got = sweep_with_progress(&a, &b, metric, &opts, &|s| steps.borrow_mut().push(s)).unwrap();
            assert_eq!(got, sweep(&a, &b, metric, &opts).unwrap());
            let mut want: Vec<SweepStep> =
                (0..2).map(|layer| SweepStep::Layer { model: 0, layer, layers: 2 }).collect();
            want.extend((0..3).map(|layer| SweepStep::Layer { model: 1, layer, layers: 3 }));
            want.extend((0..2).flat_map(|i| (0..3).map(move |j| SweepStep::Pair { i, j })));
            assert_eq!(steps.into_inner(), want, "{metric:?}");
        }
        // A NaN in B's second layer: the error comes back and the last step names that layer.
        let mut bad = x[3 * n * d..4 * n * d].to_vec();
        bad[5 * d + 2] = f32::NAN;
        let b = [layer(2), crate::Matrix::new(&bad, n, d).unwrap().into(), layer(4)];
        let last = RefCell::new(None);
        let mutual = Metric::Knn { metric: KnnMetric::Mutual, k: 4 };
        let err = sweep_with_progress(&a, &b, mutual, &opts, &|s| *last.borrow_mut() = Some(s)).unwrap_err();
        assert!(matches!(err, Error::NonFinite { row: 5, col: 2, .. }), "{err:?}");
        assert_eq!(last.into_inner(), Some(SweepStep::Layer { model: 1, layer: 1, layers: 3 }));
    }
}
