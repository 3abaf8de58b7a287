//! The library's layer sweep, one step at a time, so that a progress bar can follow it and
//! an error can name the file and layer it came from.
//!
//! The library has no progress callbacks, so this composes its public per-layer API exactly
//! as `repalign::sweep::sweep` does: one kNN graph, kernel or SVCCA basis per layer
//! (L_A + L_B steps), then one cheap comparison per pair (L_A x L_B steps), and the same
//! best-pair rule. Results are the library's, bit for bit (tests/cli.rs checks it).

use repalign::calibrate::{self, Calibration, CalibrationOptions};
use repalign::knn::{self, KnnGraph, KnnOptions};
use repalign::metrics::{self, Kernel, KernelMatrix, SvccaBasis};
use repalign::sweep::{Metric, SweepResult};
use repalign::{AnyMatrix, Error};

use crate::progress::Progress;

/// One model's layers and the name of the file they came from.
pub(crate) struct Side<'a> {
    pub(crate) source: &'a str,
    pub(crate) layers: &'a [AnyMatrix<'a>],
}

impl Side<'_> {
    /// `file` for a single layer, `file (layer l)` otherwise, before an error message.
    fn context(&self, l: usize, e: Error) -> String {
        if self.layers.len() == 1 {
            format!("{}: {e}", self.source)
        } else {
            format!("{} (layer {l}): {e}", self.source)
        }
    }
}

/// What `repalign::sweep` keeps per layer.
enum PerLayer {
    Graph(KnnGraph),
    Kernel(KernelMatrix),
    Basis(SvccaBasis),
}

fn per_layer(x: AnyMatrix<'_>, metric: Metric, opts: &KnnOptions) -> Result<PerLayer, Error> {
    Ok(match metric {
        Metric::Knn { k, .. } => PerLayer::Graph(knn::graph(x, k, opts)?),
        Metric::Cka { kernel, .. } => PerLayer::Kernel(metrics::kernel_matrix(x, kernel, opts.threads)?),
        Metric::Cknna { .. } => PerLayer::Kernel(metrics::kernel_matrix(x, Kernel::Linear, opts.threads)?),
        Metric::Svcca { cca_dim } => PerLayer::Basis(SvccaBasis::new(x, cca_dim)?),
    })
}

fn pair(a: &PerLayer, b: &PerLayer, metric: Metric) -> Result<f64, Error> {
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

fn per_layers(
    side: &Side<'_>,
    which: &str,
    metric: Metric,
    opts: &KnnOptions,
    bar: &Progress,
) -> Result<Vec<PerLayer>, String> {
    let total = side.layers.len();
    side.layers
        .iter()
        .enumerate()
        .map(|(l, &x)| {
            bar.message(format!("{which}: layer {}/{total}", l + 1));
            let state = per_layer(x, metric, opts).map_err(|e| side.context(l, e));
            bar.step();
            state
        })
        .collect()
}

/// Every layer pair of `a` and `b`, as `repalign::sweep::sweep`.
pub(crate) fn sweep(
    a: &Side<'_>,
    b: &Side<'_>,
    metric: Metric,
    opts: &KnnOptions,
    visible: bool,
) -> Result<SweepResult, String> {
    let (la, lb) = (a.layers.len(), b.layers.len());
    // Two phases with their own ETA: per-layer work is far costlier than a pair.
    let bar = Progress::bar(visible, (la + lb) as u64, "");
    let pa = per_layers(a, "A", metric, opts, &bar)?;
    let pb = per_layers(b, "B", metric, opts, &bar)?;
    bar.phase((la * lb) as u64, "layer pairs".into());
    let mut scores = Vec::with_capacity(la * lb);
    let (mut best, mut best_index) = (0.0f64, None);
    for (i, x) in pa.iter().enumerate() {
        for (j, y) in pb.iter().enumerate() {
            let s = pair(x, y, metric).map_err(|e| e.to_string())?;
            // The reference's rule: a strictly larger score replaces the running best from 0.
            if s > best {
                (best, best_index) = (s, Some((i, j)));
            }
            scores.push(s);
            bar.step();
        }
    }
    Ok(SweepResult { rows: la, cols: lb, scores, best, best_index })
}

/// The sweep and its permutation calibration, as `repalign::calibrate::calibrate`. A kNN
/// metric of one layer each builds its two graphs step by step and calibrates from them;
/// anything else is one library call, its bar counting the null samples.
pub(crate) fn calibrated(
    a: &Side<'_>,
    b: &Side<'_>,
    metric: Metric,
    opts: &KnnOptions,
    cal: &CalibrationOptions,
    visible: bool,
) -> Result<(SweepResult, Calibration), String> {
    let nulls = format!("{} permutations", cal.permutations);
    match metric {
        Metric::Knn { metric: m, k } if a.layers.len() == 1 && b.layers.len() == 1 => {
            let (ga, gb) = {
                let bar = Progress::bar(visible, 2, "");
                let ga = per_layers(a, "A", metric, opts, &bar)?;
                let gb = per_layers(b, "B", metric, opts, &bar)?;
                (ga, gb)
            };
            let (PerLayer::Graph(ga), PerLayer::Graph(gb)) = (&ga[0], &gb[0]) else {
                unreachable!("kNN metrics keep graphs")
            };
            let bar = Progress::bar(visible, cal.permutations as u64, &nulls);
            let c = calibrate::calibrate_graphs_with_progress(m, ga.as_ref(), gb.as_ref(), k, cal, &|done, total| {
                bar.report(done, total)
            })
            .map_err(|e| e.to_string())?;
            let best_index = (c.raw > 0.0).then_some((0, 0));
            let result = SweepResult { rows: 1, cols: 1, scores: vec![c.raw], best: c.raw.max(0.0), best_index };
            Ok((result, c))
        }
        _ => {
            // The per-layer work comes first (uncounted), then the null samples.
            let bar = Progress::bar(visible, cal.permutations as u64, &format!("scores and {nulls}"));
            calibrate::calibrate_with_progress(a.layers, b.layers, metric, opts, cal, &|done, total| {
                bar.report(done, total)
            })
            .map_err(|e| e.to_string())
        }
    }
}
