//! Many models at once: every model's per-layer state computed once, then every model pair
//! swept (and calibrated) from those states. The paper's conclusions come from zoos (78
//! vision models; language × vision); its script recomputes each layer's kNN graph for
//! every layer pair of every model pair, and a per-pair [`crate::sweep::sweep`] still
//! recomputes each model's layers for every partner. Here a zoo of M models with L layers
//! costs M·L states, and its pairs only compare states.
//!
//! Pairs run side by side on the context's workers, one pair per worker at a time (a
//! pair's sweep and null samples on one thread): results do not depend on the thread
//! count. Each pair's [`SweepResult`] is the one [`crate::sweep::sweep_states`] gives for
//! those two models, bit for bit, and its calibration the one [`calibrate_states`] gives,
//! with the same options (so the same permutations) for every pair.
//!
//! Multiple comparisons: with a calibration, each pair's p-value is adjusted across the
//! zoo's pairs by Benjamini–Hochberg (the false discovery rate: `q_value`) and by Holm (the
//! family-wise error: `holm`). Both are valid for the positively dependent p-values that
//! shared permutations and shared models give.
//!
//! Memory: the states of every layer of every model at once. kNN metrics: N·k neighbours
//! (u32) and scores (f32) per layer, 8·N·k bytes (80 KiB at N = 1024, k = 10); kernel
//! metrics (CKA, CKNNA, RV): an N x N f64 kernel per layer (8 MiB at N = 1024, so 12 models
//! of 13 layers hold 1.3 GB); RSA: N(N-1)/2 values per layer; SVCCA, Procrustes, CCA and
//! PWCCA: an N x min(N, D) f64 matrix per layer. Plus, per worker, what one pair's
//! comparison or null sample needs.

pub mod map;
pub mod performance;

pub use map::{ModelMap, classical_mds, model_map};
pub use performance::{RankTest, mean_alignment, rank_correlation_test, spearman};

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::calibrate::{Calibration, CalibrationOptions, calibrate_states};
use crate::error::{Error, Result};
use crate::exec::{Exec, Progress};
use crate::matrix::AnyMatrix;
use crate::metrics::{LayerState, Metric};
use crate::pool;
use crate::sweep::{SweepResult, sweep_states};

/// Which model pairs a zoo compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairs {
    /// Every pair (a, b) with a < b: M(M-1)/2 pairs.
    All,
    /// Models `0..first_b` (group A) against models `first_b..` (group B), as the paper's
    /// language × vision comparison: |A|·|B| pairs, a from A and b from B.
    Bipartite {
        /// The first model of group B (1 <= first_b < M).
        first_b: usize,
    },
}

impl Pairs {
    /// The (a, b) model pairs for M models, in order: row-major over a, then b.
    pub fn list(self, models: usize) -> Result<Vec<(usize, usize)>> {
        match self {
            Pairs::All if models >= 2 => Ok((0..models).flat_map(|a| (a + 1..models).map(move |b| (a, b))).collect()),
            Pairs::Bipartite { first_b } if first_b >= 1 && first_b < models => {
                Ok((0..first_b).flat_map(|a| (first_b..models).map(move |b| (a, b))).collect())
            }
            _ => Err(Error::InvalidParameter {
                what: "a zoo needs two models or more, and both groups of a bipartite zoo at least one",
            }),
        }
    }
}

/// One model pair of a zoo.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooPair {
    /// Model a (rows of `sweep`).
    pub a: usize,
    /// Model b (columns of `sweep`).
    pub b: usize,
    /// Every layer pair of a against b, and the best, as [`crate::sweep::sweep`].
    pub sweep: SweepResult,
    /// The calibration of the best score (the null of the maximum over layer pairs), when
    /// the zoo was calibrated.
    pub calibration: Option<Calibration>,
    /// Benjamini–Hochberg adjusted p-value across the zoo's pairs (with a calibration).
    pub q_value: Option<f64>,
    /// Holm adjusted p-value across the zoo's pairs (with a calibration).
    pub holm: Option<f64>,
}

/// A whole zoo.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooResult {
    /// The model pairs, in [`Pairs::list`] order.
    pub pairs: Vec<ZooPair>,
    /// Rows of `matrix`: M for [`Pairs::All`], |A| for [`Pairs::Bipartite`].
    pub rows: usize,
    /// Columns of `matrix`: M, or |B|.
    pub cols: usize,
    /// Row-major best scores: for [`Pairs::All`] symmetric where the metric is (cell (a, b)
    /// and (b, a) both hold pair (a, b)'s best; asymmetric metrics compare a's layers with
    /// b's in both), the diagonal NaN (a model is not compared with itself); for
    /// [`Pairs::Bipartite`] cell (a, b - |A|). (NaN is not equal to itself: compare
    /// matrices by their bits.)
    pub matrix: Vec<f64>,
}

/// Scores (and with `calibration`, calibrates) every model pair of `models` (each a list of
/// layers, all of the same N samples; layer counts and dimensions may differ) with
/// `metric`. Reports [`Progress::Layer`] (`model` is the model's index) before each
/// layer's state, then [`Progress::ModelPairs`] as pairs finish.
pub fn zoo(
    models: &[&[AnyMatrix<'_>]],
    metric: &Metric,
    pairs: Pairs,
    calibration: Option<&CalibrationOptions>,
    exec: &Exec<'_>,
) -> Result<ZooResult> {
    // A zoo that has no pairs is refused before any layer is computed.
    pairs.list(models.len())?;
    let states = model_states(models, metric, exec)?;
    zoo_states(&states, pairs, calibration, exec)
}

/// Every model's per-layer states (the zoo's one expensive step), after checking that every
/// layer describes the same N samples and that the metric suits N.
pub fn model_states(models: &[&[AnyMatrix<'_>]], metric: &Metric, exec: &Exec<'_>) -> Result<Vec<Vec<LayerState>>> {
    model_states_with(models, metric, exec, |x, exec| LayerState::new(x, metric, exec))
}

/// [`model_states`] with each layer's state from `state` (e.g. a
/// [`crate::cache::StateCache`], which reads what an earlier run computed), called with
/// the layer and `exec`, after the same checks and with the same progress reports.
pub fn model_states_with(
    models: &[&[AnyMatrix<'_>]],
    metric: &Metric,
    exec: &Exec<'_>,
    state: impl Fn(AnyMatrix<'_>, &Exec<'_>) -> Result<LayerState> + Sync,
) -> Result<Vec<Vec<LayerState>>> {
    crate::sweep::models_states(models, metric, exec, state)
}

/// [`zoo`] from per-model layer states computed once (e.g. by [`model_states`], or kept
/// from an earlier zoo: adding a model costs only its own layers and its new pairs).
pub fn zoo_states(
    states: &[Vec<LayerState>],
    pairs: Pairs,
    calibration: Option<&CalibrationOptions>,
    exec: &Exec<'_>,
) -> Result<ZooResult> {
    let list = pairs.list(states.len())?;
    let first = states.iter().flat_map(|m| m.first()).next().ok_or(Error::EmptyMatrix)?;
    if states.iter().any(|m| m.is_empty()) {
        return Err(Error::EmptyMatrix);
    }
    if let Some(x) = states.iter().flatten().find(|x| x.metric() != first.metric() || x.samples() != first.samples()) {
        return Err(if x.samples() != first.samples() {
            Error::RowCountMismatch { a: first.samples(), b: x.samples() }
        } else {
            Error::InvalidParameter { what: "layer states were computed for different metrics" }
        });
    }
    let total = list.len();
    let done = AtomicUsize::new(0);
    let job = exec.one_job();
    let one = |(a, b): (usize, usize)| -> Result<ZooPair> {
        let (sweep, calibration) = match calibration {
            Some(opts) => {
                let (sweep, c) = calibrate_states(&states[a], &states[b], opts, &job)?;
                (sweep, Some(c))
            }
            None => (sweep_states(&states[a], &states[b], &job)?, None),
        };
        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
        exec.report(Progress::ModelPairs { done: finished, total });
        Ok(ZooPair { a, b, sweep, calibration, q_value: None, holm: None })
    };
    // Each worker takes the next pair; results come back tagged with their position.
    let results = pool::workers(exec.workers(), list, |items| {
        items.map(|(at, pair)| one(pair).map(|p| (at, p))).collect::<Result<Vec<_>>>()
    });
    let mut found: Vec<(usize, ZooPair)> = Vec::new();
    for r in results {
        found.extend(r?);
    }
    found.sort_unstable_by_key(|(at, _)| *at);
    let mut out: Vec<ZooPair> = found.into_iter().map(|(_, p)| p).collect();
    if calibration.is_some() {
        let p: Vec<f64> = out.iter().map(|x| x.calibration.as_ref().map_or(1.0, |c| c.p_value)).collect();
        for ((x, q), h) in out.iter_mut().zip(benjamini_hochberg(&p)).zip(holm(&p)) {
            (x.q_value, x.holm) = (Some(q), Some(h));
        }
    }
    let (rows, cols, offset) = match pairs {
        Pairs::All => (states.len(), states.len(), 0),
        Pairs::Bipartite { first_b } => (first_b, states.len() - first_b, first_b),
    };
    let mut matrix = alloc::vec![f64::NAN; rows * cols];
    for x in &out {
        matrix[x.a * cols + (x.b - offset)] = x.sweep.best;
        if pairs == Pairs::All {
            matrix[x.b * cols + x.a] = x.sweep.best;
        }
    }
    Ok(ZooResult { pairs: out, rows, cols, matrix })
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the input's order: with the m
/// p-values sorted ascending, `q_(i) = min over j >= i of min(1, m p_(j) / j)`.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let (m, order) = (p.len(), ascending(p));
    let mut q = alloc::vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(m as f64 * p[i] / (rank + 1) as f64).min(1.0);
        q[i] = running;
    }
    q
}

/// The positions of `p` in ascending order of value (ties in input order).
fn ascending(p: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    order
}

/// Holm adjusted p-values, in the input's order: with the m p-values sorted ascending,
/// `h_(i) = max over j <= i of min(1, (m - j + 1) p_(j))`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let (m, order) = (p.len(), ascending(p));
    let mut h = alloc::vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        h[i] = running;
    }
    h
}
