//! Permutation calibration of a score or of a layer sweep's best score, through the C ABI.

use repalign_core::AnyMatrix;
use repalign_core::Metric;
use repalign_core::calibrate::{self, Calibration, CalibrationOptions};

use crate::enums::CEnum;
use crate::ffi::{self, Zeroable};
use crate::metric::RepalignMetric;
use crate::panic;
use crate::status::{Failure, RepalignStatus};
use crate::tensor::{RepalignPrepare, RepalignTensor3, check_q, prepared_pair, tensor};
use crate::types::{Options, RepalignKnnOptions, RepalignMatrix, options};

/// How to build a permutation null: `permutations` random permutations of B's rows (>= 1)
/// drawn from `seed`; `alpha` in (0, 1) sets the threshold `tau`, the (1 - alpha) quantile
/// of the null. Results depend on the seed, never on the thread count.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepalignCalibrationOptions {
    /// Number of null samples P.
    pub permutations: usize,
    /// Seed of the permutations.
    pub seed: u64,
    /// Level of `tau`, default 0.05.
    pub alpha: f64,
}

/// A score against its permutation null (for a sweep: its maximum over layer pairs against
/// the null of that maximum, one permutation per sample for every pair).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RepalignCalibration {
    /// The observed score.
    pub raw: f64,
    /// Mean of the null samples.
    pub null_mean: f64,
    /// Median of the null samples.
    pub null_median: f64,
    /// Standard deviation of the null (P - 1 denominator).
    pub null_std: f64,
    /// (raw - null_mean) / null_std; +-infinity when the null has no spread.
    pub z: f64,
    /// (#{null >= raw} + 1) / (P + 1).
    pub p_value: f64,
    /// The (1 - alpha) quantile of the null with the observed value included.
    pub tau: f64,
    /// 0 when raw <= tau, else (raw - tau) / (max - tau), max = the metric's largest value.
    pub calibrated: f64,
    /// P.
    pub permutations: usize,
}

// SAFETY: all fields are plain numbers, for which all-zero bytes are valid (0 and +0.0).
unsafe impl Zeroable for RepalignCalibration {}

impl From<&Calibration> for RepalignCalibration {
    fn from(c: &Calibration) -> Self {
        Self {
            raw: c.raw,
            null_mean: c.null_mean,
            null_median: c.null_median,
            null_std: c.null_std,
            z: c.z,
            p_value: c.p_value,
            tau: c.tau,
            calibrated: c.calibrated,
            permutations: c.null.len(),
        }
    }
}

/// Defaults: 1000 permutations, seed 0, alpha 0.05.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_calibration_options_default() -> RepalignCalibrationOptions {
    let d = CalibrationOptions::default();
    RepalignCalibrationOptions { permutations: d.permutations, seed: d.seed, alpha: d.alpha }
}

/// The core's options from a nullable C pointer (NULL = defaults).
///
/// # Safety
/// `cal` NULL or valid for reading.
unsafe fn calibration_options(cal: *const RepalignCalibrationOptions) -> CalibrationOptions {
    let c = if cal.is_null() {
        repalign_calibration_options_default()
    } else {
        // SAFETY: non-NULL and readable by the caller's contract.
        unsafe { *cal }
    };
    CalibrationOptions { permutations: c.permutations, seed: c.seed, alpha: c.alpha }
}

fn run(
    a: &[AnyMatrix<'_>],
    b: &[AnyMatrix<'_>],
    metric: Metric,
    knn: &Options,
    cal: &CalibrationOptions,
    out: &mut RepalignCalibration,
) -> Result<(), Failure> {
    let (_, c) = calibrate::calibrate(a, b, &metric.with_similarity(knn.similarity), cal, &knn.exec)?;
    *out = RepalignCalibration::from(&c);
    Ok(())
}

/// A metric of two representations of the same samples (as `repalign_score`) calibrated
/// against `cal->permutations` random permutations of B's rows (`cal` NULL = defaults).
///
/// Errors: those of `repalign_score`, `REPALIGN_STATUS_INVALID_PARAMETER` for 0
/// permutations or alpha outside (0, 1), and `REPALIGN_STATUS_OUT_OF_MEMORY` for more
/// permutations than memory holds (two f64 per permutation), before any work.
///
/// # Safety
/// `a`, `b`, `metric` valid; `opts` and `cal` NULL or valid; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_calibrate_score(
    a: *const RepalignMatrix,
    b: *const RepalignMatrix,
    metric: *const RepalignMetric,
    opts: *const RepalignKnnOptions,
    cal: *const RepalignCalibrationOptions,
    out: *mut RepalignCalibration,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for every pointer.
        let (a, b, metric, knn, out) = unsafe {
            (
                ffi::matrix(a, "a")?,
                ffi::matrix(b, "b")?,
                ffi::reference(metric, "metric")?.decode()?,
                options(opts)?,
                ffi::out_ref(out, "out")?,
            )
        };
        // SAFETY: `cal` NULL or readable by the caller's contract.
        let cal = unsafe { calibration_options(cal) };
        run(&[a], &[b], metric, &knn, &cal, out)
    })
}

/// The best score of a layer sweep (as `repalign_sweep`, same preparation: `prepare_mode`
/// at clamp quantile `q`, in (0, 1], `REPALIGN_SWEEP_Q` for the paper's) calibrated against
/// the null of the maximum over all layer pairs.
///
/// Errors: those of `repalign_sweep` and `repalign_calibrate_score`.
///
/// # Safety
/// `a`, `b`, `metric` valid; `opts` and `cal` NULL or valid; `out` writable.
// Boilerplate: the inputs of repalign_sweep, in its order (the C signature is flat); the
// shared work is `prepared_pair`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_calibrate_sweep(
    a: *const RepalignTensor3,
    b: *const RepalignTensor3,
    metric: *const RepalignMetric,
    prepare_mode: u32,
    q: f64,
    opts: *const RepalignKnnOptions,
    cal: *const RepalignCalibrationOptions,
    out: *mut RepalignCalibration,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for every pointer.
        let (ta, tb, metric, knn, out) = unsafe {
            (
                tensor(a, "a")?,
                tensor(b, "b")?,
                ffi::reference(metric, "metric")?.decode()?,
                options(opts)?,
                ffi::out_ref(out, "out")?,
            )
        };
        // SAFETY: `cal` NULL or readable by the caller's contract.
        let cal = unsafe { calibration_options(cal) };
        let (mode, q) = (RepalignPrepare::decode(prepare_mode, "prepare_mode")?.to_core(), check_q(q)?);
        let mut bufs = (Vec::new(), Vec::new());
        let (views_a, views_b) = prepared_pair(&ta, &tb, mode, q, &knn.exec, &mut bufs)?;
        run(&views_a, &views_b, metric, &knn, &cal, out)
    })
}
