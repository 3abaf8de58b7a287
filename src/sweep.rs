//! The layer sweep: a metric for every pair (layer i of model A, layer j of model B), and
//! the best pair, as the paper's `compute_score`. Owns the best-pair rule.
//!
//! Per-layer work is done once per layer, not once per pair: L_A + L_B kNN graphs (or
//! kernel matrices, or SVCCA bases) instead of the reference's 2 L_A L_B. Kernel metrics
//! hold every layer's N x N kernel (8 N² bytes each).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result, out_of_memory};
use crate::exec::{Exec, Progress};
use crate::isa::Isa;
use crate::layers::AnyLayers;
use crate::matrix::AnyMatrix;
use crate::metrics::{LayerState, Metric, pair};
use crate::pool::{self, Lock};
use crate::prepare::Prepare;

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
    /// The SIMD backend that computed the per-layer state (`None` for SVCCA: scalar f64).
    pub isa: Option<Isa>,
    /// What makes the scores doubtful (see [`Warning`]), A's layers first; empty when
    /// nothing does. Never changes a score.
    pub warnings: Vec<Warning>,
}

/// A layer's kNN graph is reported when more than this fraction of its rows is tied at
/// the k-th neighbour ([`LayerState::tied_rows`]).
pub const TIED_ROWS_WARNING: f64 = 0.1;

/// Something about the input that makes a result doubtful, though it is computed exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// More than [`TIED_ROWS_WARNING`] of a layer's rows have their k-th neighbour tied
    /// with the next candidate: their lists are decided by index order (the order
    /// contract's lower index first), not by the data. Identical rows, all-zero rows and
    /// features whose inner products underflow to 0 all do this; two such graphs agree
    /// perfectly, and a calibration's null over them is meaningless.
    TiedNeighbours {
        /// 0 for model A, 1 for model B.
        model: usize,
        /// The layer's position in its model's list.
        layer: usize,
        /// Rows with a tie at the k-th neighbour.
        rows: usize,
        /// N.
        samples: usize,
    },
}

impl Warning {
    /// The model (0 for A, 1 for B) and the layer's position that the warning is about.
    pub fn layer(&self) -> (usize, usize) {
        match *self {
            Warning::TiedNeighbours { model, layer, .. } => (model, layer),
        }
    }

    /// What is wrong, without naming the layer (front ends name it their way):
    /// "95 of 100 rows have a tie at the k-th neighbour: ...".
    pub fn message(&self) -> String {
        match *self {
            Warning::TiedNeighbours { rows, samples, .. } => format!(
                "{rows} of {samples} rows have a tie at the k-th neighbour: \
                 their neighbour lists are decided by index order, not by the data"
            ),
        }
    }
}

/// "layer 2 of A: " and [`Warning::message`].
impl core::fmt::Display for Warning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (model, layer) = self.layer();
        write!(f, "layer {layer} of {}: {}", if model == 0 { "A" } else { "B" }, self.message())
    }
}

/// The warnings of two models' per-layer states: a [`Warning::TiedNeighbours`] for every
/// kNN layer with more than [`TIED_ROWS_WARNING`] of its rows tied.
pub fn warnings(pa: &[LayerState], pb: &[LayerState]) -> Vec<Warning> {
    let mut out = Vec::new();
    for (model, states) in [pa, pb].into_iter().enumerate() {
        for (layer, st) in states.iter().enumerate() {
            let samples = st.samples();
            if let Some(rows) = st.tied_rows().filter(|&r| r as f64 > TIED_ROWS_WARNING * samples as f64) {
                out.push(Warning::TiedNeighbours { model, layer, rows, samples });
            }
        }
    }
    out
}

impl SweepResult {
    /// The result of `rows x cols` scores (row-major), with the reference's best pair and no
    /// warnings.
    pub fn new(rows: usize, cols: usize, scores: Vec<f64>, isa: Option<Isa>) -> Self {
        let (mut best, mut best_index) = (0.0f64, None);
        for (at, &s) in scores.iter().enumerate() {
            if s > best {
                (best, best_index) = (s, Some((at / cols.max(1), at % cols.max(1))));
            }
        }
        Self { rows, cols, scores, best, best_index, isa, warnings: Vec::new() }
    }
}

/// Scores every pair of layers of two models (same N in every layer) with `metric`.
/// Reports [`Progress::Layer`] before each layer's state, [`Progress::Pair`] before each
/// pair, and whatever the per-layer work reports: a caller that gets an error back can name
/// the layer that was being processed (the last `Layer` reported).
pub fn sweep(a: &[AnyMatrix<'_>], b: &[AnyMatrix<'_>], metric: &Metric, exec: &Exec<'_>) -> Result<SweepResult> {
    let (pa, pb) = layer_states(a, b, metric, exec)?;
    sweep_states(&pa, &pb, exec)
}

/// The paper's whole pipeline in one call, its `prepare_features` + `compute_score`:
/// prepare both N x L x D tensors with `prepare` (e.g. [`Prepare::Paper`]: clamp |x| at its
/// exact `q`-quantile, then L2-normalise each row of each layer), then [`sweep`] every
/// layer pair. The best is the reference's: the first maximum in row-major order, and
/// `best = 0`, `best_index = None` when no pair scores above 0. Prepared copies are f32
/// (N·L·D floats per model); with [`Prepare::None`] the layers are used as they are.
pub fn compute_score<'a, 'b>(
    a: impl Into<AnyLayers<'a>>,
    b: impl Into<AnyLayers<'b>>,
    metric: &Metric,
    prepare: Prepare,
    q: f64,
    exec: &Exec<'_>,
) -> Result<SweepResult> {
    let (a, b) = (a.into(), b.into());
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    let la = a.prepared_layers(prepare, q, exec, &mut va)?;
    let lb = b.prepared_layers(prepare, q, exec, &mut vb)?;
    sweep(&la, &lb, metric, exec)
}

/// Per-layer state of both models (A's layers, then B's), after checking that every layer
/// describes the same N samples and that the metric's k suits N.
pub fn layer_states(
    a: &[AnyMatrix<'_>],
    b: &[AnyMatrix<'_>],
    metric: &Metric,
    exec: &Exec<'_>,
) -> Result<(Vec<LayerState>, Vec<LayerState>)> {
    // `models_states` refuses an empty model (Error::EmptyMatrix) before any other check.
    let mut states = models_states(&[a, b], metric, exec, |x, exec| LayerState::new(x, metric, exec))?.into_iter();
    match (states.next(), states.next()) {
        (Some(pa), Some(pb)) => Ok((pa, pb)),
        _ => unreachable!("one list of states per model"),
    }
}

/// Samples up to which [`models_states`] computes kNN layer states side by side.
pub(crate) const SIDE_BY_SIDE_ROWS: usize = 8192;

/// Every model's per-layer states from `state`, after checking that there is a layer, that
/// every layer describes the same N samples and that the metric suits N. Reports
/// [`Progress::Layer`] before each layer, in order; after a failure the last `Layer`
/// reported names the failing layer (the first in order, when several fail).
///
/// PERF: kNN states are computed side by side, one layer per worker with one thread each,
/// in whole rounds of workers (the rest one after another with every worker): a graph at
/// the paper's size (N = 1024) keeps two cores busier as two one-thread graphs than as
/// one two-thread graph (no shared heaps, no second packing of each block). Only kNN
/// states, and only up to [`SIDE_BY_SIDE_ROWS`] samples: each worker then holds a graph's
/// working memory (its heaps, N (16k + 20) bytes, and its blocks), where a kernel state's
/// N x N per worker could exhaust memory, and a large graph already keeps every core busy
/// (N = 16,384: 96% of sgemm). Results are the same bits either way.
pub(crate) fn models_states(
    models: &[&[AnyMatrix<'_>]],
    metric: &Metric,
    exec: &Exec<'_>,
    state: impl Fn(AnyMatrix<'_>, &Exec<'_>) -> Result<LayerState> + Sync,
) -> Result<Vec<Vec<LayerState>>> {
    let n = models.iter().flat_map(|m| m.first()).map(|x| x.rows()).next().ok_or(Error::EmptyMatrix)?;
    if models.iter().any(|m| m.is_empty()) {
        return Err(Error::EmptyMatrix);
    }
    if let Some(x) = models.iter().flat_map(|m| m.iter()).find(|x| x.rows() != n) {
        return Err(Error::RowCountMismatch { a: n, b: x.rows() });
    }
    metric.check(n)?;
    let mut layers = Vec::new();
    let count = models.iter().map(|m| m.len()).sum();
    layers.try_reserve_exact(count).map_err(|_| out_of_memory::<(usize, usize)>(count, "the layer list"))?;
    layers.extend(models.iter().enumerate().flat_map(|(m, l)| (0..l.len()).map(move |l| (m, l))));
    let report =
        |(model, layer): (usize, usize)| exec.report(Progress::Layer { model, layer, layers: models[model].len() });
    let workers = exec.workers();
    let side = if matches!(metric, Metric::Knn { .. }) && n <= SIDE_BY_SIDE_ROWS && workers > 1 {
        count - count % workers
    } else {
        0
    };
    let mut done: Vec<(usize, LayerState)> = Vec::new();
    done.try_reserve_exact(count).map_err(|_| out_of_memory::<LayerState>(count, "the layer states"))?;
    if side > 0 {
        // A layer is taken and reported under one lock, so reports come in order; after a
        // failure no layer is taken.
        let taking = Lock::new((false, None::<usize>));
        let job = exec.one_job();
        let parts = pool::workers(workers, layers[..side].to_vec(), |items| {
            let mut mine = Vec::new();
            loop {
                let at = {
                    let mut t = taking.lock();
                    let next = if t.0 { None } else { items.next() };
                    if let Some((at, layer)) = next {
                        report(layer);
                        t.1 = Some(at);
                    }
                    next
                };
                let Some((at, (model, layer))) = at else { return Ok(mine) };
                match exec.check().and_then(|()| state(models[model][layer], &job)) {
                    Ok(s) => mine.push((at, s)),
                    Err(e) => {
                        taking.lock().0 = true;
                        return Err((at, e));
                    }
                }
            }
        });
        let mut failed: Option<(usize, Error)> = None;
        for part in parts {
            match part {
                Ok(mine) => done.extend(mine),
                Err((at, e)) if failed.as_ref().is_none_or(|(f, _)| at < *f) => failed = Some((at, e)),
                Err(_) => {}
            }
        }
        if let Some((at, e)) = failed {
            if taking.lock().1 != Some(at) {
                report(layers[at]);
            }
            return Err(e);
        }
        done.sort_unstable_by_key(|&(at, _)| at);
    }
    for (at, &(model, layer)) in layers.iter().enumerate().skip(side) {
        report((model, layer));
        exec.check()?;
        done.push((at, state(models[model][layer], exec)?));
    }
    let mut states = done.into_iter().map(|(_, s)| s);
    let mut out = Vec::new();
    out.try_reserve_exact(models.len()).map_err(|_| out_of_memory::<Vec<LayerState>>(models.len(), "the states"))?;
    for m in models {
        out.push(states.by_ref().take(m.len()).collect());
    }
    Ok(out)
}

/// Every pair of per-layer states (made for the same metric and samples), row-major, with
/// the reference's best pair and the states' [`warnings`]. Reports [`Progress::Pair`]
/// before each pair.
pub fn sweep_states(pa: &[LayerState], pb: &[LayerState], exec: &Exec<'_>) -> Result<SweepResult> {
    let mut scores = Vec::with_capacity(pa.len() * pb.len());
    for (i, x) in pa.iter().enumerate() {
        for (j, y) in pb.iter().enumerate() {
            exec.report(Progress::Pair { i, j });
            exec.check()?;
            scores.push(pair(x, y)?);
        }
    }
    let isa = pa.first().and_then(LayerState::isa);
    let mut result = SweepResult::new(pa.len(), pb.len(), scores, isa);
    result.warnings = warnings(pa, pb);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::Similarity;
    use crate::layers::Layers;
    use crate::metrics::{Kernel, KnnMetric};
    use crate::prepare;

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
        let exec = Exec::default();
        for mode in [Prepare::None, Prepare::Normalize, Prepare::Paper, Prepare::PaperPerSample] {
            for metric in [
                Metric::Knn { metric: KnnMetric::Mutual, k: 5, similarity: Similarity::InnerProduct },
                Metric::Cka { kernel: Kernel::Linear, unbiased: false },
            ] {
                let got = compute_score(a, b, &metric, mode, 0.95, &exec).unwrap();
                let (pa, _) = prepare::prepare(&a, mode, 0.95, &exec).unwrap();
                let (pb, _) = prepare::prepare(&b, mode, 0.95, &exec).unwrap();
                let (pa, pb) = (Layers::new(&pa, n, la, da).unwrap(), Layers::new(&pb, n, lb, db).unwrap());
                let va: Vec<AnyMatrix<'_>> = (0..la).map(|l| pa.layer(l).into()).collect();
                let vb: Vec<AnyMatrix<'_>> = (0..lb).map(|l| pb.layer(l).into()).collect();
                let want = sweep(&va, &vb, &metric, &exec).unwrap();
                assert_eq!(got, want, "{mode:?} {metric:?}");
                assert_eq!((got.rows, got.cols, got.scores.len()), (la, lb, la * lb));
                assert!(got.best_index.is_some() && got.best > 0.0);
            }
        }
        // Bad input is an error, not a panic: N differs between the models.
        let c = Layers::new(&xb[..(n - 1) * lb * db], n - 1, lb, db).unwrap();
        let mutual = Metric::Knn { metric: KnnMetric::Mutual, k: 5, similarity: Similarity::InnerProduct };
        assert_eq!(
            compute_score(a, c, &mutual, Prepare::Paper, 0.95, &exec),
            Err(Error::RowCountMismatch { a: n, b: n - 1 })
        );
    }

    #[test]
    fn layers_side_by_side_give_the_same_states_and_name_the_first_failing_layer() {
        extern crate std;
        use std::sync::Mutex;
        let (n, d, l) = (40, 6, 7);
        let x: Vec<f32> = (0..n * d * l).map(|i| ((i * 7919) % 103) as f32 / 51.0 - 1.0).collect();
        fn layer(x: &[f32], l: usize) -> AnyMatrix<'_> {
            crate::Matrix::new(&x[l * 40 * 6..(l + 1) * 40 * 6], 40, 6).unwrap().into()
        }
        let (a, b): (Vec<_>, Vec<_>) = ((0..3).map(|i| layer(&x, i)).collect(), (3..l).map(|i| layer(&x, i)).collect());
        let mutual = Metric::Knn { metric: KnnMetric::Mutual, k: 5, similarity: Similarity::InnerProduct };
        let one = sweep(&a, &b, &mutual, &Exec::new().with_threads(1)).unwrap();
        assert_eq!(sweep(&a, &[], &mutual, &Exec::default()), Err(Error::EmptyMatrix));
        assert_eq!(sweep(&[], &b, &mutual, &Exec::default()), Err(Error::EmptyMatrix));
        // Two NaN layers (B's first and third): the first in order is the error, and the
        // last report names it, whichever worker got there first.
        let mut bad = x.clone();
        bad[3 * n * d + 7 * d + 1] = f32::NAN;
        bad[5 * n * d + 2 * d] = f32::NAN;
        let b_bad: Vec<_> = (3..l).map(|i| layer(&bad, i)).collect();
        for threads in [2, 3, 4, 7] {
            let exec = Exec::new().with_threads(threads).with_oversubscribe(true);
            assert_eq!(sweep(&a, &b, &mutual, &exec).unwrap(), one, "{threads} threads");
            for _ in 0..20 {
                let reports = Mutex::new(Vec::new());
                let hook = |p: Progress| {
                    if let Progress::Layer { model, layer, .. } = p {
                        reports.lock().unwrap().push((model, layer))
                    }
                };
                let err = sweep(&a, &b_bad, &mutual, &exec.with_progress(&hook)).unwrap_err();
                assert!(matches!(err, Error::NonFinite { row: 7, col: 1, .. }), "{err:?}");
                let reports = reports.into_inner().unwrap();
                assert_eq!(reports.last(), Some(&(1, 0)), "{threads} threads: {reports:?}");
                // In order up to the failure: A's layers, then B's.
                let taken: Vec<_> = reports.iter().take(reports.len() - 1).copied().collect();
                let mut sorted = taken.clone();
                sorted.sort_unstable();
                assert_eq!(taken, sorted, "{threads} threads");
            }
        }
    }

    #[test]
    fn progress_reports_every_step_in_order_and_the_failing_layer() {
        extern crate std;
        use std::sync::Mutex;
        let (n, d) = (30, 8);
        let x: Vec<f32> = (0..n * d * 5).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
        let layer =
            |l: usize| -> AnyMatrix<'_> { crate::Matrix::new(&x[l * n * d..(l + 1) * n * d], n, d).unwrap().into() };
        let (a, b) = ([layer(0), layer(1)], [layer(2), layer(3), layer(4)]);
        let mutual = Metric::Knn { metric: KnnMetric::Mutual, k: 4, similarity: Similarity::InnerProduct };
        for metric in [mutual, Metric::Svcca { cca_dim: 3 }] {
            let steps = Mutex::new(Vec::new());
            let hook = |p: Progress| {
                // The sweep's own steps; the kNN engine's blocks are nested in layers.
                if !matches!(p, Progress::Blocks { .. }) {
                    steps.lock().unwrap().push(p)
                }
            };
            let got = sweep(&a, &b, &metric, &Exec::new().with_progress(&hook)).unwrap();
            assert_eq!(got, sweep(&a, &b, &metric, &Exec::default()).unwrap());
            let mut want: Vec<Progress> = (0..2).map(|layer| Progress::Layer { model: 0, layer, layers: 2 }).collect();
            want.extend((0..3).map(|layer| Progress::Layer { model: 1, layer, layers: 3 }));
            want.extend((0..2).flat_map(|i| (0..3).map(move |j| Progress::Pair { i, j })));
            assert_eq!(steps.into_inner().unwrap(), want, "{metric:?}");
        }
        // A NaN in B's second layer: the error comes back and the last step names that layer.
        let mut bad = x[3 * n * d..4 * n * d].to_vec();
        bad[5 * d + 2] = f32::NAN;
        let b = [layer(2), crate::Matrix::new(&bad, n, d).unwrap().into(), layer(4)];
        let last = Mutex::new(None);
        let hook = |p: Progress| {
            if let Progress::Layer { .. } = p {
                *last.lock().unwrap() = Some(p)
            }
        };
        let err = sweep(&a, &b, &mutual, &Exec::new().with_progress(&hook)).unwrap_err();
        assert!(matches!(err, Error::NonFinite { row: 5, col: 2, .. }), "{err:?}");
        assert_eq!(last.into_inner().unwrap(), Some(Progress::Layer { model: 1, layer: 1, layers: 3 }));
    }
}
