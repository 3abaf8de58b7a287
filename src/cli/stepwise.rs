//! The library's layer sweep and its calibration under a progress bar, with errors that
//! name the file and layer they came from. The commands call only [`score`].

use std::format;
use std::prelude::rust_2024::*;

use std::sync::{Mutex, PoisonError};

use crate::calibrate::{self, Calibration, CalibrationOptions};
use crate::sweep::{self, SweepResult};
use crate::{AnyMatrix, Error, Exec, Metric, Progress};

use super::progress;

/// One model's layers and the name of the file they came from.
pub(crate) struct Side<'a> {
    pub(crate) source: &'a str,
    pub(crate) layers: &'a [AnyMatrix<'a>],
    /// Each layer's id in messages: the file's own index for a layer pattern.
    pub(crate) layer_ids: &'a [usize],
}

impl Side<'_> {
    /// `file` for a single layer, `file (layer l)` otherwise, before an error message.
    fn context(&self, l: usize, e: Error) -> String {
        if self.layers.len() == 1 {
            format!("{}: {e}", self.source)
        } else {
            format!("{} (layer {}): {e}", self.source, self.layer_ids.get(l).copied().unwrap_or(l))
        }
    }
}

/// What the bar has seen: the last step reported, and the layer being worked on (cleared
/// once the per-layer work is over, so a later error names no layer).
#[derive(Default)]
struct Seen {
    last: Option<Progress>,
    layer: Option<(usize, usize)>,
}

/// Every layer pair of `a` and `b` (`sweep::sweep`), calibrated against `calibration`'s
/// permutations when it is given (`calibrate::calibrate`): one library call under a bar that
/// counts layers, then pairs or null samples, each phase with its own ETA (a layer costs far
/// more than a pair). An error names the file and layer that was being processed.
pub(crate) fn score(
    a: &Side<'_>,
    b: &Side<'_>,
    metric: &Metric,
    exec: &Exec<'_>,
    calibration: Option<&CalibrationOptions>,
    visible: bool,
) -> Result<(SweepResult, Option<Calibration>), String> {
    let (la, lb) = (a.layers.len(), b.layers.len());
    let bar = progress::Progress::bar(visible, (la + lb) as u64, "");
    let seen = Mutex::new(Seen::default());
    let hook = |step: Progress| {
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        match step {
            Progress::Layer { model, layer, layers } => {
                // A report starts a step, so the one before it is done.
                if seen.last.is_some() {
                    bar.step();
                }
                let which = if model == 0 { "A" } else { "B" };
                bar.message(format!("{which}: layer {}/{layers}", layer + 1));
                seen.layer = Some((model, layer));
            }
            Progress::Pair { .. } => {
                if matches!(seen.last, Some(Progress::Layer { .. })) {
                    bar.step();
                    bar.phase((la * lb) as u64, "layer pairs".into());
                } else {
                    bar.step();
                }
                seen.layer = None;
            }
            Progress::Samples { done, total } => {
                if !matches!(seen.last, Some(Progress::Samples { .. })) {
                    bar.phase(total as u64, format!("{total} permutations"));
                }
                bar.report(done, total);
                seen.layer = None;
            }
            // The kNN engine's blocks inside a layer: the layer's message says enough. No
            // stepwise command runs a zoo.
            Progress::Blocks { .. } | Progress::ModelPairs { .. } => return,
        }
        seen.last = Some(step);
    };
    let exec = exec.with_progress(&hook);
    let result = match calibration {
        None => sweep::sweep(a.layers, b.layers, metric, &exec).map(|r| (r, None)),
        Some(cal) => calibrate::calibrate(a.layers, b.layers, metric, cal, &exec).map(|(r, c)| (r, Some(c))),
    };
    let layer = seen.lock().unwrap_or_else(PoisonError::into_inner).layer;
    result.map_err(|e| match layer {
        Some((0, l)) => a.context(l, e),
        Some((_, l)) => b.context(l, e),
        None => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::prelude::rust_2024::*;
    use std::vec;

    use super::*;
    use crate::Matrix;

    #[test]
    fn an_error_names_the_file_and_layer_being_processed_by_its_id() {
        let good = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.2];
        let mut bad = good;
        bad[5] = f32::NAN;
        let m = |v: &'static [f32]| -> AnyMatrix<'static> { Matrix::new(v, 4, 2).unwrap().into() };
        let (good, bad): (&'static [f32], &'static [f32]) = (Box::leak(Box::new(good)), Box::leak(Box::new(bad)));
        let la = [m(good)];
        let lb = [m(good), m(bad)];
        let (a, b) = (
            Side { source: "a.npy", layers: &la, layer_ids: &[0] },
            Side { source: "b.npy", layers: &lb, layer_ids: &[0, 7] },
        );
        let metric = Metric::from_name("mutual_knn", 1).unwrap();
        let e = score(&a, &b, &metric, &Exec::default(), None, false).unwrap_err();
        assert!(e.starts_with("b.npy (layer 7): non-finite value"), "{e}");
        let cal = CalibrationOptions { permutations: 3, ..CalibrationOptions::default() };
        let e = score(&a, &b, &metric, &Exec::default(), Some(&cal), false).unwrap_err();
        assert!(e.starts_with("b.npy (layer 7): non-finite value"), "{e}");
        let b0 = Side { source: "b.npy", layers: &lb[..1], layer_ids: &[0] };
        let ok = score(&a, &b0, &metric, &Exec::default(), None, false);
        assert_eq!(ok.unwrap().0.scores, vec![1.0]);
    }
}
