//! Exact kNN through the C ABI: graphs of the rows of one matrix, search of one matrix in
//! another, the merge of partial lists (database shards), and mutual kNN, the paper's
//! metric on two such graphs, from features or from precomputed lists.
//!
//! Neighbour lists are best first (higher similarity first, equal similarities by lower
//! index) and identical for every thread count and ISA; the core writes them straight into
//! the caller's buffers.

use repalign_core::Isa;
use repalign_core::Metric;
use repalign_core::knn::{self, GraphRef, Rows};
use repalign_core::metrics::{self, KnnMetric};

use crate::ffi::{self, product};
use crate::metric::{RepalignMetricKind, repalign_knn_metric_graphs};
use crate::panic;
use crate::status::{Failure, RepalignStatus};
use crate::types::{self, RepalignKnnOptions, RepalignMatrix, options};

/// The default kNN options: inner product, all cores, automatic ISA.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_knn_options_default() -> RepalignKnnOptions {
    panic::value(RepalignKnnOptions::default(), RepalignKnnOptions::default)
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
                knn::neighbours_into(Rows::Within(x), k, opts.similarity, &opts.exec, i, s)
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
// Boilerplate: the C signature repeats repalign_knn_graph's parameters from `k` on (C has
// no parameter structs here by design); the shared work is `knn_outputs`.
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
                let rows = Rows::Between { queries, database };
                knn::neighbours_into(rows, k, opts.similarity, &opts.exec, i, s)
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
        let mutual = Metric::Knn { metric: KnnMetric::Mutual, k, similarity: opts.similarity };
        *out = metrics::score(a, b, &mutual, &opts.exec)?;
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
// Boilerplate: the signature of repalign_knn_metric_graphs without `kind`, to which it
// forwards.
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
    let mutual = RepalignMetricKind::MutualKnn as u32;
    // SAFETY: the same contract as repalign_knn_metric_graphs, passed through unchanged.
    unsafe { repalign_knn_metric_graphs(mutual, a, a_width, b, b_width, rows, k, out) }
}
