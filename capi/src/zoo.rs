//! A zoo through the C ABI: every model pair's layer sweep (and calibration) from each
//! model's layers computed once (`repalign::zoo`).

use repalign_core::zoo::{Pairs, zoo};

use crate::calibrate::{RepalignCalibration, RepalignCalibrationOptions};
use crate::enums::CEnum;
use crate::ffi::{self, Zeroable};
use crate::metric::RepalignMetric;
use crate::panic;
use crate::status::{Failure, RepalignStatus};
use crate::tensor::{RepalignPrepare, RepalignTensor3, Tensor, check_q, tensor};
use crate::types::{RepalignKnnOptions, options};
use repalign_core::Error;

/// One model pair of a zoo: models `a` and `b` (indices into `models`), where its
/// `a.layers * b.layers` scores start in the zoo's `scores` (row-major, layer i of `a`
/// against layer j of `b`), its best pair by the reference's rule, and with a calibration
/// its summary and the p-value adjusted across the zoo's pairs.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RepalignZooPair {
    /// Model of the rows.
    pub a: usize,
    /// Model of the columns.
    pub b: usize,
    /// Index in `scores` of this pair's first score.
    pub scores_offset: usize,
    /// The best score (0 when no pair scores above 0).
    pub best: f64,
    /// Layer of `a` of the best pair (0 when none).
    pub best_i: usize,
    /// Layer of `b` of the best pair (0 when none).
    pub best_j: usize,
    /// Whether some layer pair scores above 0.
    pub has_best: bool,
    /// Whether `calibration`, `q_value` and `holm` hold values (the zoo was calibrated).
    pub has_calibration: bool,
    /// The best score against the null of the maximum over layer pairs.
    pub calibration: RepalignCalibration,
    /// Benjamini–Hochberg adjusted p-value across the zoo's pairs.
    pub q_value: f64,
    /// Holm adjusted p-value across the zoo's pairs.
    pub holm: f64,
}

// SAFETY: plain numbers and bools, for which all-zero bytes are valid (0, +0.0, false).
unsafe impl Zeroable for RepalignZooPair {}

/// Which pairs `first_b` asks for: all pairs (a < b) when 0, else models `0..first_b`
/// against `first_b..`.
fn pairs_kind(first_b: usize) -> Pairs {
    if first_b == 0 { Pairs::All } else { Pairs::Bipartite { first_b } }
}

/// The models' descriptors, validated, named `models[i]` in errors.
///
/// # Safety
/// `models` valid for `count` descriptors, each as `RepalignTensor3` requires.
unsafe fn tensors<'a>(
    models: *const RepalignTensor3,
    count: usize,
    names: &'a [String],
) -> Result<Vec<Tensor<'a>>, Failure> {
    // SAFETY: forwarded contract.
    let descs = unsafe { ffi::slice(models, count, "models")? };
    // SAFETY: each element is a valid descriptor by the caller's contract.
    descs.iter().zip(names).map(|(d, name)| unsafe { tensor(d, name) }).collect()
}

/// The sizes of a zoo's outputs: `pairs_len` model pairs (M (M - 1) / 2 for all pairs,
/// `first_b * (M - first_b)` for two groups) and `scores_len` scores (the sum over pairs
/// of `a.layers * b.layers`).
///
/// Errors: those of the descriptors (as `repalign_sweep`), and
/// `REPALIGN_STATUS_INVALID_PARAMETER` for fewer than two models or `first_b` >= `count`.
///
/// # Safety
/// `models` valid for `count` descriptors; `pairs_len`, `scores_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_zoo_sizes(
    models: *const RepalignTensor3,
    count: usize,
    first_b: usize,
    pairs_len: *mut usize,
    scores_len: *mut usize,
) -> RepalignStatus {
    panic::status(|| {
        let names: Vec<String> = (0..count).map(|i| format!("models[{i}]")).collect();
        // SAFETY: the caller's contract for every pointer.
        let (ts, pairs_len, scores_len) = unsafe {
            (
                tensors(models, count, &names)?,
                ffi::out_ref(pairs_len, "pairs_len")?,
                ffi::out_ref(scores_len, "scores_len")?,
            )
        };
        let list = pairs_kind(first_b).list(count)?;
        *scores_len = total_scores(&ts, &list)?;
        *pairs_len = list.len();
        Ok(())
    })
}

/// Σ over pairs of `a.layers * b.layers`, checked.
fn total_scores(ts: &[Tensor<'_>], list: &[(usize, usize)]) -> Result<usize, Failure> {
    list.iter().try_fold(0usize, |sum, &(a, b)| {
        ffi::product(ts[a].shape().1, ts[b].shape().1, "a.layers * b.layers")?
            .checked_add(sum)
            .ok_or_else(|| Failure::new(RepalignStatus::ShapeOverflow, "the zoo's scores overflow size_t"))
    })
}

/// Many models at once: each of the `count` models (`models`, N x L x D tensors of the
/// same N; layers, dim and dtype may differ) is prepared with `prepare_mode` at clamp
/// quantile `q` (as `repalign_sweep`) and its per-layer state computed once; then every
/// model pair (all pairs a < b when `first_b` is 0, else models `0..first_b` against
/// `first_b..count`, as the paper's language x vision comparison) gets its layer sweep,
/// and with `cal` (nullable: NULL = no calibration) the calibration of its best score and
/// Benjamini–Hochberg / Holm adjusted p-values across the pairs. Pairs run side by side on
/// `opts`'s threads; every result equals `repalign_sweep` / `repalign_calibrate_sweep` on
/// that pair, whatever the thread count. `repalign_zoo_sizes` gives the output sizes.
///
/// - `pairs`: `pairs_len` elements, at least the number of pairs, in order (row-major
///   over a, then b).
/// - `scores`: `scores_len` elements, at least the total of the pairs' scores; pair p's
///   are at `scores[pairs[p].scores_offset ..]`.
///
/// Errors: those of `repalign_sweep` and `repalign_calibrate_sweep` (a model's detail
/// names it `models[i]`), `REPALIGN_STATUS_INVALID_PARAMETER` for fewer than two models or
/// `first_b` >= `count`, `REPALIGN_STATUS_ROW_COUNT_MISMATCH` when the models' samples
/// differ, `REPALIGN_STATUS_OUTPUT_TOO_SHORT` for short outputs.
///
/// # Safety
/// `models` valid for `count` descriptors; `metric` valid; `opts` and `cal` NULL or valid;
/// `pairs` and `scores` writable for `pairs_len` and `scores_len` elements. Outputs must
/// not overlap the inputs or each other.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_zoo(
    models: *const RepalignTensor3,
    count: usize,
    first_b: usize,
    metric: *const RepalignMetric,
    prepare_mode: u32,
    q: f64,
    opts: *const RepalignKnnOptions,
    cal: *const RepalignCalibrationOptions,
    pairs: *mut RepalignZooPair,
    pairs_len: usize,
    scores: *mut f64,
    scores_len: usize,
) -> RepalignStatus {
    panic::status(|| {
        let names: Vec<String> = (0..count).map(|i| format!("models[{i}]")).collect();
        // SAFETY: the caller's contract for the inputs.
        let (ts, metric, opts) =
            unsafe { (tensors(models, count, &names)?, ffi::reference(metric, "metric")?.decode()?, options(opts)?) };
        let cal = (!cal.is_null()).then(|| {
            // SAFETY: non-NULL, and readable by the caller's contract.
            let c = unsafe { *cal };
            repalign_core::calibrate::CalibrationOptions { permutations: c.permutations, seed: c.seed, alpha: c.alpha }
        });
        let (mode, q) = (RepalignPrepare::decode(prepare_mode, "prepare_mode")?.to_core(), check_q(q)?);
        let list = pairs_kind(first_b).list(count)?;
        let needed = total_scores(&ts, &list)?;
        if pairs_len < list.len() {
            return Err(Error::OutputTooShort { needed: list.len(), len: pairs_len }.into());
        }
        if scores_len < needed {
            return Err(Error::OutputTooShort { needed, len: scores_len }.into());
        }
        // SAFETY: the caller's contract for the outputs; only the needed elements are touched.
        let (out_pairs, out_scores) =
            unsafe { (ffi::out_slice(pairs, list.len(), "pairs")?, ffi::out_slice(scores, needed, "scores")?) };
        let mut bufs: Vec<Vec<f32>> = ts.iter().map(|_| Vec::new()).collect();
        let mut layers = Vec::with_capacity(ts.len());
        for (t, buf) in ts.iter().zip(bufs.iter_mut()) {
            layers.push(t.prepared_layers(mode, q, &opts.exec, buf)?);
        }
        let refs: Vec<&[repalign_core::AnyMatrix<'_>]> = layers.iter().map(Vec::as_slice).collect();
        let metric = metric.with_similarity(opts.similarity);
        let result = zoo(&refs, &metric, pairs_kind(first_b), cal.as_ref(), &opts.exec)?;
        let mut offset = 0;
        for (o, p) in out_pairs.iter_mut().zip(&result.pairs) {
            let s = &p.sweep;
            out_scores[offset..offset + s.scores.len()].copy_from_slice(&s.scores);
            let (best_i, best_j) = s.best_index.unwrap_or((0, 0));
            *o = RepalignZooPair {
                a: p.a,
                b: p.b,
                scores_offset: offset,
                best: s.best,
                best_i,
                best_j,
                has_best: s.best_index.is_some(),
                has_calibration: p.calibration.is_some(),
                calibration: p.calibration.as_ref().map(RepalignCalibration::from).unwrap_or_default(),
                q_value: p.q_value.unwrap_or(0.0),
                holm: p.holm.unwrap_or(0.0),
            };
            offset += s.scores.len();
        }
        Ok(())
    })
}
