//! # repalign C ABI
//!
//! `librepalign.a` / `librepalign.so` and `include/repalign.h` (generated from this crate by
//! cbindgen, committed, never edited by hand): exact kNN graphs, the alignment metrics
//! (kNN metrics, CKA, CKNNA, SVCCA), feature preparation and the layer sweep of the
//! `repalign` crate, for C and C++.
//!
//! ## Conventions (repeated at the top of the header)
//! - Every fallible function returns a [`RepalignStatus`]; `REPALIGN_STATUS_OK` (0) is
//!   success. `repalign_status_message` describes a code; `repalign_last_error` gives the
//!   detail of the last failure on the calling thread.
//! - Inputs come first, out-parameters last. Optional pointers are documented as nullable;
//!   every other NULL pointer is `REPALIGN_STATUS_NULL_POINTER`.
//! - The caller owns every buffer: the library never keeps a pointer after a call returns,
//!   never frees caller memory, and returns no memory to free. Strings it returns are
//!   static, except `repalign_last_error`'s (thread-local, see there).
//! - Buffer lengths are element counts, checked before use; sizes whose product overflows
//!   `size_t` are `REPALIGN_STATUS_SHAPE_OVERFLOW`. Output buffers must not overlap inputs.
//! - Enumerated values (dtype, ISA, similarity, metric kind, kernel, preparation mode) are
//!   passed as `uint32_t` and checked; the `RepalignDtype`, `RepalignIsa`,
//!   `RepalignSimilarity`, `RepalignMetricKind`, `RepalignKernel` and `RepalignPrepare`
//!   constants name them. Flags are `uint32_t` 0 or 1, also checked.
//! - On failure, output buffers hold unspecified values and scalar out-parameters are
//!   unspecified (they may have been zeroed).
//! - Thread safety: every function may be called from any thread concurrently. There is no
//!   global mutable state visible to callers (CPU detection is cached once); the last-error
//!   message is per thread.
//! - No Rust panic crosses the boundary: a panic (a bug) is caught and reported as
//!   `REPALIGN_STATUS_PANIC`.
//!
//! ## Layout
//! [`status`] (codes and messages), [`types`] (matrix descriptor, options, constants), `ffi`
//! (pointer checks, last error), `panic` (the boundary); the kNN functions are below,
//! [`metric`] holds the metric descriptor and scores, [`tensor`] the 3-D tensor
//! descriptor, feature preparation and the layer sweep.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod calibrate;
mod ffi;
pub mod metric;
mod panic;
pub mod status;
pub mod tensor;
pub mod types;

#[cfg(test)]
mod tests;

use std::ffi::{CStr, c_char};

use repalign_core::knn::{self, GraphRef, KnnOptions};
use repalign_core::{Isa, metrics};

pub use calibrate::{RepalignCalibration, RepalignCalibrationOptions};
pub use metric::{RepalignKernel, RepalignMetric, RepalignMetricKind};
pub use status::RepalignStatus;
pub use tensor::{RepalignPrepare, RepalignTensor3};
pub use types::{RepalignDtype, RepalignIsa, RepalignKnnOptions, RepalignMatrix, RepalignSimilarity};

use status::Failure;

/// The core version with its terminating NUL, built at compile time.
const VERSION_BYTES: [u8; repalign_core::VERSION.len() + 1] = {
    let mut out = [0u8; repalign_core::VERSION.len() + 1];
    let src = repalign_core::VERSION.as_bytes();
    let mut i = 0;
    while i < src.len() {
        out[i] = src[i];
        i += 1;
    }
    out
};
const VERSION: &CStr = match CStr::from_bytes_with_nul(&VERSION_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("the version string holds a NUL"),
};

/// The library version, e.g. `"0.1.0"`: a static string.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_version() -> *const c_char {
    panic::value(VERSION.as_ptr(), || VERSION.as_ptr())
}

/// A short static description of a status code. Accepts any integer: values that are not
/// a `RepalignStatus` get a generic message. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_status_message(status: u32) -> *const c_char {
    const UNRECOGNISED: &CStr = c"unrecognised status code";
    panic::value(UNRECOGNISED.as_ptr(), || {
        RepalignStatus::from_u32(status).map_or(UNRECOGNISED, RepalignStatus::message).as_ptr()
    })
}

/// The detailed message of the most recent failed call on this thread, e.g.
/// `"non-finite value (NaN or infinity) at row 2, column 3"`; the empty string when the
/// most recent status-returning call succeeded, or none was made. Never NULL.
///
/// Every function returning `RepalignStatus` first clears the message, so the pointer is
/// valid until the next such call on this thread; copy the text to keep it longer.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_last_error() -> *const c_char {
    panic::value(c"".as_ptr(), ffi::last_error_ptr)
}

/// The fastest instruction set available on this CPU (a `RepalignIsa` value, never
/// `REPALIGN_ISA_AUTO`): what `REPALIGN_ISA_AUTO` resolves to.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_isa_best() -> u32 {
    panic::value(RepalignIsa::Scalar as u32, || types::encode_isa(Isa::best()) as u32)
}

/// Whether the instruction set `isa` (a `RepalignIsa` value) can run on this CPU and
/// build. `REPALIGN_ISA_AUTO` is always available.
///
/// Errors: `REPALIGN_STATUS_INVALID_ENUM` for an unknown value, `REPALIGN_STATUS_NULL_POINTER`.
///
/// # Safety
/// `out` must be valid for writing one `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_isa_available(isa: u32, out: *mut bool) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for `out`.
        let out = unsafe { ffi::out_ref(out, "out") }?;
        *out = types::decode_isa(isa)?.is_none_or(Isa::is_available);
        Ok(())
    })
}

/// The static name of an instruction set (`"auto"`, `"scalar"`, `"x86-v3"`, `"x86-v4"`,
/// `"neon"`, `"emulated-128"`, `"emulated-256"`, `"emulated-512"`), or NULL when `isa` is
/// not a `RepalignIsa` value.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_isa_name(isa: u32) -> *const c_char {
    panic::value(std::ptr::null(), || types::isa_name(isa).map_or(std::ptr::null(), CStr::as_ptr))
}

/// The default kNN options: inner product, all cores, automatic ISA.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_knn_options_default() -> RepalignKnnOptions {
    panic::value(RepalignKnnOptions::default(), RepalignKnnOptions::default)
}

/// The options behind a nullable pointer, decoded and checked.
///
/// # Safety
/// Unless NULL, `opts` must point to a valid `RepalignKnnOptions`.
pub(crate) unsafe fn options(opts: *const RepalignKnnOptions) -> Result<KnnOptions, Failure> {
    if opts.is_null() {
        return Ok(KnnOptions::default());
    }
    // SAFETY: forwarded contract.
    unsafe { ffi::reference(opts, "opts") }?.decode()
}

/// Output lists of `rows` queries with `k` neighbours, written by the core.
///
/// # Safety
/// `indices` valid for `indices_len` writes; `scores` NULL or valid for `scores_len` writes;
/// `isa_used` NULL or valid for one write; none overlapping each other or the inputs.
unsafe fn knn_outputs(
    rows: usize,
    candidates: usize,
    k: usize,
    (indices, indices_len): (*mut u32, usize),
    (scores, scores_len): (*mut f32, usize),
    isa_used: *mut u32,
    run: impl FnOnce(&mut [u32], &mut [f32]) -> repalign_core::Result<Isa>,
) -> Result<(), Failure> {
    // Only the `rows * k` entries the core writes are touched (fewer when the buffer is
    // shorter: the core then reports it). A NULL `scores` gets scratch of the same length,
    // allocated only for a plausible `k` so a garbage `k` cannot request a huge buffer.
    let needed = rows.saturating_mul(k);
    // SAFETY: the caller's contract for each pointer.
    let indices = unsafe { ffi::out_slice(indices, indices_len.min(needed), "indices") }?;
    let mut scratch = Vec::new();
    let scores = if scores.is_null() {
        scratch.resize(if k <= candidates { indices.len() } else { 0 }, 0.0f32);
        &mut scratch[..]
    } else {
        // SAFETY: as above.
        unsafe { ffi::out_slice(scores, scores_len.min(needed), "scores") }?
    };
    // SAFETY: as above.
    let isa_used = unsafe { ffi::out_opt(isa_used, "isa_used") }?;
    let isa = run(indices, scores)?;
    if let Some(out) = isa_used {
        *out = types::encode_isa(isa) as u32;
    }
    Ok(())
}

/// The exact kNN graph of the rows of `x`: for every row, the `k` most similar *other*
/// rows, best first (higher similarity first; equal similarities by lower index).
///
/// - `k`: from 1 to `x->rows - 1`.
/// - `opts`: nullable (defaults).
/// - `indices`: `x->rows * k` neighbour row numbers, row-major; `indices_len` elements.
/// - `scores`: nullable; the matching similarities, `scores_len` elements (at least
///   `x->rows * k` when not NULL).
/// - `isa_used`: nullable; receives the `RepalignIsa` value that computed the scores.
///
/// Results are identical for every thread count and ISA.
///
/// # Safety
/// `x` must point to a valid `RepalignMatrix` (see its contract); `opts` NULL or valid;
/// `indices` valid for `indices_len` writes and `scores` (unless NULL) for `scores_len`
/// writes of `float`; `isa_used` NULL or writable. Outputs must not overlap the inputs or
/// each other.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_knn_graph(
    x: *const RepalignMatrix,
    k: usize,
    opts: *const RepalignKnnOptions,
    indices: *mut u32,
    indices_len: usize,
    scores: *mut f32,
    scores_len: usize,
    isa_used: *mut u32,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for `x` and `opts`.
        let x = unsafe { ffi::matrix(x, "x") }?;
        // SAFETY: as above.
        let opts = unsafe { options(opts) }?;
        let rows = x.rows();
        // SAFETY: the caller's contract for the outputs.
        unsafe {
            knn_outputs(rows, rows, k, (indices, indices_len), (scores, scores_len), isa_used, |i, s| {
                knn::graph_into(x, k, &opts, i, s)
            })
        }
    })
}

/// Exact kNN search: for every row of `queries`, the `k` most similar rows of `database`
/// (no exclusion), best first. Both matrices must have the same dtype and `cols`.
///
/// - `k`: from 1 to `database->rows`.
/// - `indices` / `scores` (nullable) / `isa_used` (nullable): as in `repalign_knn_graph`,
///   with `queries->rows * k` entries.
///
/// # Safety
/// As `repalign_knn_graph`, for both matrices.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_knn_search(
    queries: *const RepalignMatrix,
    database: *const RepalignMatrix,
    k: usize,
    opts: *const RepalignKnnOptions,
    indices: *mut u32,
    indices_len: usize,
    scores: *mut f32,
    scores_len: usize,
    isa_used: *mut u32,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for the inputs.
        let queries = unsafe { ffi::matrix(queries, "queries") }?;
        // SAFETY: as above.
        let database = unsafe { ffi::matrix(database, "database") }?;
        // SAFETY: as above.
        let opts = unsafe { options(opts) }?;
        let (rows, candidates) = (queries.rows(), database.rows());
        // SAFETY: the caller's contract for the outputs.
        unsafe {
            knn_outputs(rows, candidates, k, (indices, indices_len), (scores, scores_len), isa_used, |i, s| {
                knn::search_into(queries, database, k, &opts, i, s)
            })
        }
    })
}

/// Merges partial neighbour lists of the same `rows` queries (e.g. one search per database
/// shard, with indices already made global) into the top `k` of their union, exactly as a
/// single search over the whole database would rank them.
///
/// - `indices[p]`, `scores[p]`: part `p`'s `rows * widths[p]` indices and similarities,
///   row-major, best first; `p` from 0 to `parts - 1`. The three arrays may be NULL only
///   when `parts` is 0 (then `REPALIGN_STATUS_GRAPH_MISMATCH`).
/// - `k`: from 1 to the sum of `widths`.
/// - `out_indices`: `rows * k` merged indices; `out_scores`: nullable, the matching
///   similarities. Both hold `out_len` elements.
///
/// An index repeated within a merged row is `REPALIGN_STATUS_INVALID_GRAPH`.
///
/// # Safety
/// The arrays hold `parts` valid entries; each part pointer is valid for reading
/// `rows * widths[p]` elements (or NULL when that is 0); `out_indices` (and `out_scores`
/// unless NULL) valid for `out_len` writes, not overlapping the inputs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_knn_merge(
    indices: *const *const u32,
    scores: *const *const f32,
    widths: *const usize,
    parts: usize,
    rows: usize,
    k: usize,
    out_indices: *mut u32,
    out_scores: *mut f32,
    out_len: usize,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract: `parts` readable entries in each array.
        let (index_parts, score_parts, widths) = unsafe {
            (
                ffi::slice(indices, parts, "indices")?,
                ffi::slice(scores, parts, "scores")?,
                ffi::slice(widths, parts, "widths")?,
            )
        };
        let mut graphs = Vec::with_capacity(parts);
        for (p, ((&ip, &sp), &width)) in index_parts.iter().zip(score_parts).zip(widths).enumerate() {
            let len = product(rows, width, "rows * widths[p]")?;
            // SAFETY: the caller's contract: part `p` holds `rows * widths[p]` elements.
            let (i, s) = unsafe {
                (ffi::slice(ip, len, &format!("indices[{p}]"))?, ffi::slice(sp, len, &format!("scores[{p}]"))?)
            };
            graphs.push(GraphRef::new(i, rows, width)?.with_scores(s)?);
        }
        if widths.iter().try_fold(0usize, |sum, &w| sum.checked_add(w)).is_none() {
            return Err(Failure::new(RepalignStatus::ShapeOverflow, "the sum of `widths` overflows size_t"));
        }
        let needed = rows.saturating_mul(k);
        // SAFETY: the caller's contract for the outputs.
        let out_i = unsafe { ffi::out_slice(out_indices, out_len.min(needed), "out_indices") }?;
        let out_s = if out_scores.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { ffi::out_slice(out_scores, out_len.min(needed), "out_scores") }?)
        };
        let merged = knn::merge(&graphs, k)?;
        let needed = merged.indices().len();
        if out_len < needed {
            return Err(repalign_core::Error::OutputTooShort { needed, len: out_len }.into());
        }
        out_i.copy_from_slice(merged.indices());
        if let Some(out_s) = out_s {
            out_s.copy_from_slice(merged.scores());
        }
        Ok(())
    })
}

/// Mutual-kNN alignment of two representations `a` and `b` of the same samples: the mean
/// over rows i of |kNN_a(i) ∩ kNN_b(i)| / k, self excluded, in [0, 1].
///
/// `a` and `b` need the same `rows`; their `cols` and dtypes may differ. `k` from 1 to
/// `rows - 1`; `opts` nullable (inner product by default: pass cosine for the inner product
/// of L2-normalised rows). `out` receives the score.
///
/// # Safety
/// `a`, `b` valid descriptors (see `RepalignMatrix`); `opts` NULL or valid; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_mutual_knn(
    a: *const RepalignMatrix,
    b: *const RepalignMatrix,
    k: usize,
    opts: *const RepalignKnnOptions,
    out: *mut f64,
) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for every pointer.
        let (a, b, opts, out) =
            unsafe { (ffi::matrix(a, "a")?, ffi::matrix(b, "b")?, options(opts)?, ffi::out_ref(out, "out")?) };
        *out = metrics::mutual_knn(a, b, k, &opts)?;
        Ok(())
    })
}

/// Mutual-kNN alignment from precomputed neighbour lists (e.g. from `repalign_knn_graph`):
/// `a` holds `rows * a_width` indices, `b` holds `rows * b_width`, row-major, best first.
/// The first `k` of each row are used (`k` from 1 to the smaller width), so lists computed
/// once with a large k serve every smaller one. An index `>= rows` or repeated within a
/// row is `REPALIGN_STATUS_INVALID_GRAPH`. `out` receives the score.
///
/// # Safety
/// `a` and `b` valid for reading their `rows * width` elements; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_mutual_knn_graphs(
    a: *const u32,
    a_width: usize,
    b: *const u32,
    b_width: usize,
    rows: usize,
    k: usize,
    out: *mut f64,
) -> RepalignStatus {
    let mutual = metric::RepalignMetricKind::MutualKnn as u32;
    // SAFETY: the same contract as repalign_knn_metric_graphs, passed through unchanged.
    unsafe { metric::repalign_knn_metric_graphs(mutual, a, a_width, b, b_width, rows, k, out) }
}

/// `a * b`, or a shape-overflow failure naming the product.
pub(crate) fn product(a: usize, b: usize, what: &str) -> Result<usize, Failure> {
    a.checked_mul(b)
        .ok_or_else(|| Failure::new(RepalignStatus::ShapeOverflow, format!("{what} = {a} * {b} overflows size_t")))
}
