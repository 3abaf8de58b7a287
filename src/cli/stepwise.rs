//! The library's layer sweep and its calibration under a progress bar, with errors that
//! name the file and layer they came from. The commands call only [`score`].

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::cell::Cell;

use crate::calibrate::{self, Calibration, CalibrationOptions};
use crate::knn::{self, KnnOptions};
use crate::sweep::{self, Metric, SweepResult, SweepStep};
use crate::{AnyMatrix, Error};

use super::progress::Progress;

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

/// Every layer pair of `a` and `b`, calibrated against `calibration`'s permutations when it
/// is given ([`calibrated`]), else [`sweep`].
pub(crate) fn score(
    a: &Side<'_>,
    b: &Side<'_>,
    metric: Metric,
    opts: &KnnOptions,
    calibration: Option<&CalibrationOptions>,
    visible: bool,
) -> Result<(SweepResult, Option<Calibration>), String> {
    match calibration {
        None => Ok((sweep(a, b, metric, opts, visible)?, None)),
        Some(cal) => calibrated(a, b, metric, opts, cal, visible).map(|(r, c)| (r, Some(c))),
    }
}

/// Every layer pair of `a` and `b` (`repalign::sweep::sweep_with_progress`): the bar counts
/// layers, then pairs, each phase with its own ETA (a layer costs far more than a pair).
fn sweep(a: &Side<'_>, b: &Side<'_>, metric: Metric, opts: &KnnOptions, visible: bool) -> Result<SweepResult, String> {
    let (la, lb) = (a.layers.len(), b.layers.len());
    let bar = Progress::bar(visible, (la + lb) as u64, "");
    let last = Cell::new(None);
    let result = sweep::sweep_with_progress(a.layers, b.layers, metric, opts, &|step| {
        // A report starts a step, so the one before it is done.
        if last.get().is_some() {
            bar.step();
        }
        match step {
            SweepStep::Layer { model, layer, layers } => {
                let which = if model == 0 { "A" } else { "B" };
                bar.message(format!("{which}: layer {}/{layers}", layer + 1));
            }
            SweepStep::Pair { .. } if matches!(last.get(), Some(SweepStep::Layer { .. })) => {
                bar.phase((la * lb) as u64, "layer pairs".into());
            }
            SweepStep::Pair { .. } => {}
        }
        last.set(Some(step));
    });
    result.map_err(|e| match last.get() {
        Some(SweepStep::Layer { model: 0, layer, .. }) => a.context(layer, e),
        Some(SweepStep::Layer { layer, .. }) => b.context(layer, e),
        _ => e.to_string(),
    })
}

/// The sweep and its permutation calibration, as `repalign::calibrate::calibrate`. A kNN
/// metric of one layer each builds its two graphs step by step and calibrates from them;
/// anything else is one library call, its bar counting the null samples.
fn calibrated(
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
                let graph = |side: &Side<'_>, which: &str| {
                    bar.message(format!("{which}: layer 1/1"));
                    let g = knn::graph(side.layers[0], k, opts).map_err(|e| side.context(0, e));
                    bar.step();
                    g
                };
                (graph(a, "A")?, graph(b, "B")?)
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
