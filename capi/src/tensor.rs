//! Samples x layers x features tensors: the paper's feature preparation (clamp at a
//! quantile of |x|, then L2-normalise every row of every layer) and the layer sweep (a
//! metric for every pair of layers of two models, and the best pair).
//!
//! A [`RepalignTensor3`] is viewed as the core's [`Layers`] without a copy; each layer is a
//! strided N x D view of it. Errors about a value name its sample, layer and feature.

use std::ffi::c_void;

use repalign_core::prepare::{Layers, Prepare};
use repalign_core::sweep::{self, SweepResult};
use repalign_core::{AnyLayers, AnyMatrix, Error, Exec};

use crate::enums::{CEnum, c_enum};
use crate::ffi::{self, AnySlice, map_dtype, product};
use crate::metric::{RepalignMetric, decode_flag};
use crate::panic;
use crate::status::{Failure, RepalignStatus};
use crate::types::{RepalignKnnOptions, options};

/// The paper's clamp quantile (its `prepare_features` clamps at the 0.95 quantile of |x|):
/// the `q` to pass to `repalign_sweep`, `repalign_calibrate_sweep` and `repalign_prepare`
/// to reproduce its layer sweep.
pub const REPALIGN_SWEEP_Q: f64 = 0.95;

/// A borrowed, dense tensor in C order: `samples` samples, each `layers` runs of `dim`
/// features (element `[s][l][d]` at `data[(s * layers + l) * dim + d]`), in a buffer of
/// `len` elements at `data`; e.g. the hidden states of every layer of one model.
///
/// The buffer must hold at least `samples * layers * dim` elements and stay valid and
/// unmodified for the duration of the call. `samples`, `layers` and `dim` must be
/// non-zero (`REPALIGN_STATUS_EMPTY_MATRIX`, `REPALIGN_STATUS_ZERO_DIMENSION`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RepalignTensor3 {
    /// First element. Aligned for the dtype.
    pub data: *const c_void,
    /// A `RepalignDtype` value.
    pub dtype: u32,
    /// N: samples (the rows of every layer).
    pub samples: usize,
    /// L: layers.
    pub layers: usize,
    /// D: features per layer.
    pub dim: usize,
    /// Elements (not bytes) readable at `data`.
    pub len: usize,
}

/// How features are prepared, for `repalign_prepare` and `repalign_sweep`.
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepalignPrepare {
    /// As given (only checked for NaN and infinity).
    None = 0,
    /// L2-normalise every row of every layer: `v / max(|v|, 1e-12)`.
    Normalize = 1,
    /// The paper's `prepare_features`: clamp to [-t, t], t the value at ascending index
    /// `floor(q * numel)` of |x| over the whole tensor, then normalise.
    Paper = 2,
    /// As `PAPER`, with t the mean over samples of each sample's linearly interpolated
    /// q-quantile of |x| (the default of the reference's measurement script).
    PaperPerSample = 3,
}

c_enum! { RepalignPrepare { None, Normalize, Paper, PaperPerSample } }

impl RepalignPrepare {
    /// The core's mode.
    pub(crate) fn to_core(self) -> Prepare {
        match self {
            RepalignPrepare::None => Prepare::None,
            RepalignPrepare::Normalize => Prepare::Normalize,
            RepalignPrepare::Paper => Prepare::Paper,
            RepalignPrepare::PaperPerSample => Prepare::PaperPerSample,
        }
    }
}

/// The clamp quantile of the layer sweep, checked for every preparation mode (those that do
/// not clamp ignore it, but a value outside (0, 1] is a caller's bug all the same).
pub(crate) fn check_q(q: f64) -> Result<f64, Failure> {
    if q > 0.0 && q <= 1.0 {
        return Ok(q);
    }
    Err(Failure::new(RepalignStatus::InvalidParameter, format!("`q` is {q}: the clamp quantile must be in (0, 1]")))
}

/// A validated tensor of any dtype, and the name it is reported under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tensor<'a> {
    name: &'a str,
    layers: AnyLayers<'a>,
}

impl<'a> Tensor<'a> {
    /// (samples, layers, dim).
    pub(crate) fn shape(&self) -> (usize, usize, usize) {
        (self.layers.samples(), self.layers.layers(), self.layers.dim())
    }

    /// A core error about this tensor; a non-finite value is located by sample, layer and
    /// feature (the core reports the sample as `row` and the position in it as `col`).
    fn failure(&self, error: Error) -> Failure {
        match error {
            Error::NonFinite { row, col } => {
                let dim = self.layers.dim().max(1);
                Failure::new(
                    RepalignStatus::NonFinite,
                    format!(
                        "non-finite value (NaN or infinity) in `{}` at sample {row}, layer {}, feature {}",
                        self.name,
                        col / dim,
                        col % dim
                    ),
                )
            }
            other => other.into(),
        }
    }

    /// Every layer after preparation with `mode` at quantile `q` (see
    /// `AnyLayers::prepared_layers`; `buf` receives the prepared values).
    pub(crate) fn prepared_layers(
        &self,
        mode: Prepare,
        q: f64,
        exec: &Exec<'_>,
        buf: &'a mut Vec<f32>,
    ) -> Result<Vec<AnyMatrix<'a>>, Failure> {
        self.layers.prepared_layers(mode, q, exec, buf).map_err(|e| self.failure(e))
    }
}

/// The layers of both tensors of a sweep, prepared with `mode` at quantile `q` (into
/// `bufs` unless `mode` is `None`), after checking that they describe the same samples.
pub(crate) fn prepared_pair<'a>(
    a: &Tensor<'a>,
    b: &Tensor<'a>,
    mode: Prepare,
    q: f64,
    exec: &Exec<'_>,
    bufs: &'a mut (Vec<f32>, Vec<f32>),
) -> Result<(Vec<AnyMatrix<'a>>, Vec<AnyMatrix<'a>>), Failure> {
    let (na, nb) = (a.shape().0, b.shape().0);
    if na != nb {
        return Err(Error::RowCountMismatch { a: na, b: nb }.into());
    }
    Ok((a.prepared_layers(mode, q, exec, &mut bufs.0)?, b.prepared_layers(mode, q, exec, &mut bufs.1)?))
}

/// Validates a tensor descriptor and views it as a typed core tensor.
///
/// Order of checks: descriptor NULL, then [`ffi::buffer`]: dtype, the shape
/// (`samples * layers * dim` overflow, a zero size), `data` (NULL, alignment, byte size of
/// `len`); then `len` against the shape.
///
/// # Safety
/// Unless NULL, `desc` must point to a valid descriptor whose `data` satisfies the
/// `RepalignTensor3` contract (`len` readable, unmodified elements) for `'a`.
pub(crate) unsafe fn tensor<'a>(desc: *const RepalignTensor3, name: &'a str) -> Result<Tensor<'a>, Failure> {
    // SAFETY: forwarded contract.
    let t = unsafe { ffi::reference(desc, name)? };
    let (samples, layers, dim) = (t.samples, t.layers, t.dim);
    let shape = || {
        samples.checked_mul(layers).and_then(|x| x.checked_mul(dim)).ok_or_else(|| {
            Failure::new(
                RepalignStatus::ShapeOverflow,
                format!("`{name}`: samples * layers * dim = {samples} * {layers} * {dim} overflows size_t"),
            )
        })?;
        if samples == 0 || layers == 0 {
            return Err(Failure::new(
                RepalignStatus::EmptyMatrix,
                format!("`{name}` has {samples} samples and {layers} layers: it needs at least one of each"),
            ));
        }
        if dim == 0 {
            return Err(Failure::new(RepalignStatus::ZeroDimension, format!("`{name}` has dim = 0")));
        }
        Ok(())
    };
    // SAFETY: `data` holds `len` elements of the declared dtype (the caller's contract).
    let data = unsafe { ffi::buffer((t.data, t.dtype, t.len), name, shape)? };
    let layers = map_dtype!(data, AnySlice => AnyLayers, d => Layers::new(d, samples, layers, dim)?);
    Ok(Tensor { name, layers })
}

/// The clamp threshold of the paper's feature preparation at quantile `q` (in (0, 1]):
/// with `per_sample` 0, the value at ascending index `floor(q * numel)` of |x| over the
/// whole tensor (`REPALIGN_PREPARE_PAPER`); with 1, the mean over samples of each sample's
/// linearly interpolated q-quantile of |x| over its `layers * dim` values
/// (`REPALIGN_PREPARE_PAPER_PER_SAMPLE`). `q = 1` gives infinity (no clamping).
///
/// Errors: `REPALIGN_STATUS_INVALID_PARAMETER` for `q` outside (0, 1] or `per_sample` not 0
/// or 1; `REPALIGN_STATUS_NON_FINITE` (the detail names sample, layer and feature).
/// `opts`: nullable (defaults); its `threads` caps the workers of the exact threshold, its
/// `isa` is checked; the similarity is not used.
///
/// # Safety
/// `x` a valid descriptor (see `RepalignTensor3`); `opts` NULL or valid; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_clamp_threshold(
    x: *const RepalignTensor3,
    q: f64,
    per_sample: u32,
    opts: *const RepalignKnnOptions,
    out: *mut f32,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for every pointer.
        let (x, opts, out) = unsafe { (tensor(x, "x")?, options(opts)?, ffi::out_ref(out, "out")?) };
        let per_sample = decode_flag(per_sample, "per_sample")?;
        opts.exec.resolve_isa()?;
        *out = x.layers.threshold(per_sample, q, &opts.exec).map_err(|e| x.failure(e))?;
        Ok(())
    })
}

/// Prepares a tensor as `mode` (a `RepalignPrepare` value) says, writing the
/// `samples * layers * dim` prepared values as f32, in the same C order, to `out`
/// (`out_len` elements, at least that many).
///
/// - `q`: the clamp quantile of `PAPER` and `PAPER_PER_SAMPLE`, in (0, 1] (the paper uses
///   0.95; 1 clamps nothing); ignored by `NONE` and `NORMALIZE`.
/// - `opts`: nullable (defaults); its `threads` caps the workers (0 = all cores), its `isa`
///   is checked; the similarity is not used.
/// - `threshold`: nullable; receives the clamp threshold used, infinity when none was.
///
/// f16 and bf16 inputs are widened exactly. Errors: `REPALIGN_STATUS_INVALID_ENUM` (mode),
/// `REPALIGN_STATUS_INVALID_PARAMETER` (q), `REPALIGN_STATUS_OUTPUT_TOO_SHORT`,
/// `REPALIGN_STATUS_NON_FINITE` (the detail names sample, layer and feature).
///
/// # Safety
/// `x` a valid descriptor (see `RepalignTensor3`); `opts` NULL or valid; `out` valid for
/// `out_len` writes of `float` and not overlapping `x`'s data (no in-place preparation);
/// `threshold` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_prepare(
    x: *const RepalignTensor3,
    mode: u32,
    q: f64,
    opts: *const RepalignKnnOptions,
    out: *mut f32,
    out_len: usize,
    threshold: *mut f32,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for `x` and `opts`.
        let (x, opts) = unsafe { (tensor(x, "x")?, options(opts)?) };
        let mode = RepalignPrepare::decode(mode, "mode")?.to_core();
        opts.exec.resolve_isa()?;
        let (samples, layers, dim) = x.shape();
        let needed = samples * layers * dim; // checked when the tensor was validated
        if out_len < needed {
            return Err(Error::OutputTooShort { needed, len: out_len }.into());
        }
        // SAFETY: the caller's contract for the outputs; only `needed <= out_len` are touched.
        let (out, threshold) = unsafe { (ffi::out_slice(out, needed, "out")?, ffi::out_opt(threshold, "threshold")?) };
        let (values, t) = x.layers.prepare(mode, q, &opts.exec).map_err(|e| x.failure(e))?;
        out.copy_from_slice(&values);
        if let Some(threshold) = threshold {
            *threshold = t;
        }
        Ok(())
    })
}

/// The layer sweep of the paper's `compute_score`: prepares both tensors with
/// `prepare_mode` (a `RepalignPrepare` value; `NONE` uses the features as given, without a
/// copy) at clamp quantile `q`, then scores `metric` for every pair (layer i of `a`, layer j
/// of `b`). `a` and `b` must have the same `samples`; `layers`, `dim` and dtype may differ.
/// Per-layer work (kNN graph, kernel matrix, SVCCA basis) is done once per layer.
///
/// - `q`: the clamp quantile of `PAPER` and `PAPER_PER_SAMPLE`, in (0, 1]:
///   `REPALIGN_SWEEP_Q` (0.95) is the paper's, 1 clamps nothing. Checked for every mode
///   (`REPALIGN_STATUS_INVALID_PARAMETER`), although `NONE` and `NORMALIZE` do not use it.
/// - `opts`: nullable (defaults); as in `repalign_score`.
/// - `scores`: `a->layers * b->layers` values, row-major: `scores[i * b->layers + j]`;
///   `scores_len` elements, at least that many.
/// - `best`, `best_i`, `best_j`, `has_best`: the reference's best pair. `best` starts at 0
///   and is replaced only by a strictly larger score, so (`best_i`, `best_j`) is the first
///   maximum in row-major order; when no pair scores above 0, `has_best` is false and
///   `best`, `best_i`, `best_j` are 0.
///
/// Errors: those of `repalign_prepare` (`REPALIGN_STATUS_INVALID_ENUM` for the mode,
/// `REPALIGN_STATUS_INVALID_PARAMETER` for `q`) and `repalign_score`, and
/// `REPALIGN_STATUS_ROW_COUNT_MISMATCH` for different `samples`.
///
/// # Safety
/// `a`, `b` valid descriptors (see `RepalignTensor3`); `metric` valid; `opts` NULL or
/// valid; `scores` valid for `scores_len` writes of `double`; `best`, `best_i`, `best_j`,
/// `has_best` writable. Outputs must not overlap the inputs or each other.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_sweep(
    a: *const RepalignTensor3,
    b: *const RepalignTensor3,
    metric: *const RepalignMetric,
    prepare_mode: u32,
    q: f64,
    opts: *const RepalignKnnOptions,
    scores: *mut f64,
    scores_len: usize,
    best: *mut f64,
    best_i: *mut usize,
    best_j: *mut usize,
    has_best: *mut bool,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for the inputs.
        let (ta, tb, metric, opts) =
            unsafe { (tensor(a, "a")?, tensor(b, "b")?, ffi::reference(metric, "metric")?.decode()?, options(opts)?) };
        let (mode, q) = (RepalignPrepare::decode(prepare_mode, "prepare_mode")?.to_core(), check_q(q)?);
        let (la, lb) = (ta.shape().1, tb.shape().1);
        let needed = product(la, lb, "a->layers * b->layers")?;
        if scores_len < needed {
            return Err(Error::OutputTooShort { needed, len: scores_len }.into());
        }
        // SAFETY: the caller's contract for the outputs; only `needed <= scores_len` scores
        // are touched.
        let (scores, best, best_i, best_j, has_best) = unsafe {
            (
                ffi::out_slice(scores, needed, "scores")?,
                ffi::out_ref(best, "best")?,
                ffi::out_ref(best_i, "best_i")?,
                ffi::out_ref(best_j, "best_j")?,
                ffi::out_ref(has_best, "has_best")?,
            )
        };
        let mut bufs = (Vec::new(), Vec::new());
        let (views_a, views_b) = prepared_pair(&ta, &tb, mode, q, &opts.exec, &mut bufs)?;
        let metric = metric.with_similarity(opts.similarity);
        let SweepResult { scores: values, best: best_value, best_index, .. } =
            sweep::sweep(&views_a, &views_b, &metric, &opts.exec)?;
        scores.copy_from_slice(&values);
        *best = best_value;
        (*best_i, *best_j) = best_index.unwrap_or((0, 0));
        *has_best = best_index.is_some();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_modes_and_q_are_checked() {
        assert_eq!(RepalignPrepare::decode(3, "mode").unwrap().to_core(), Prepare::PaperPerSample);
        let bad = RepalignPrepare::decode(4, "prepare_mode").unwrap_err();
        assert_eq!(bad.status, RepalignStatus::InvalidEnum);
        assert_eq!(bad.detail, "`prepare_mode` is 4, not a RepalignPrepare value (0 to 3)");
        assert_eq!(RepalignPrepare::decode(u32::MAX, "mode").unwrap_err().status, RepalignStatus::InvalidEnum);
        for q in [1.0, 0.95, f64::MIN_POSITIVE] {
            assert_eq!(check_q(q).unwrap(), q);
        }
        for q in [0.0, -0.5, 1.0 + f64::EPSILON, f64::NAN, f64::INFINITY] {
            let bad = check_q(q).unwrap_err();
            assert_eq!(bad.status, RepalignStatus::InvalidParameter, "{q}");
            assert!(bad.detail.starts_with("`q` is "), "{}", bad.detail);
        }
    }
}
