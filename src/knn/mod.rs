//! Exact k-nearest-neighbour graphs by inner product or cosine similarity.
//!
//! - [`graph`]: each row's `k` most similar *other* rows (self excluded).
//! - [`search`]: each query's `k` most similar database rows (no exclusion).
//! - [`search_both`]: [`search`] in both directions between two matrices, each similarity
//!   computed once (half the work of two searches).
//! - [`neighbours`] / [`neighbours_into`]: either, by [`Rows`]; `_into` writes caller buffers.
//! - [`gram`]: every inner product (N x N), on the same engine, for the kernel metrics.
//! - [`merge`]: the top `k` of several partial lists, so a database split into shards
//!   (on several machines) gives exactly the single-pass answer.
//!
//! **Contract.** Lists are best first: higher similarity first, equal similarities by
//! lower index ([`crate::topk`]). Similarities are f32, accumulated in f32 with fused
//! multiply-adds in feature order; for cosine, `dot * (1/|x_i| * 1/|x_j|)` with the inverse
//! norms computed once in f64. Results are bit-identical for every thread count and every
//! [`Isa`]. Memory is O(N k) plus per-thread blocks (and, for a self graph, one set of N x k
//! private heaps, N x (8k + 4) bytes, shared by all workers; for [`search_both`] those heaps
//! are the second side's lists): no N x N matrix is ever formed,
//! and no buffer is multiplied by the thread count.
//! Buffers the allocator refuses are [`Error::OutOfMemory`], before any work.
//!
//! [`Prefilter`] (`Exec::prefilter`): self graphs by inner product may go through a
//! certified bf16 prefilter (AMX tiles) with exact rescoring: the same graph, bit for bit,
//! with more memory (a bf16 copy of the rows; see the `prefilter` module).
//!
//! **Input checks** (each a typed [`Error`]): N = 0, D = 0, k = 0 or k above N - 1 (self) /
//! N (search; either side's N for [`search_both`]), D mismatch, NaN or infinity (row and column named), a row so large its inner
//! products could overflow f32, cosine on a zero-norm row, an unavailable ISA.

mod engine;
mod gram;
mod graph;
mod prefilter;

use alloc::vec::Vec;

pub use gram::gram;
pub(crate) use gram::gram_blocks;
pub(crate) use graph::find_invalid;
pub use graph::{GraphRef, KnnGraph, merge};
pub use prefilter::{Bf16Pass, Prefilter, PrefilterStats, SURVIVOR_SHARE, prefilter_totals, release_prefilter_memory};

use crate::dispatch;
use crate::element::Element;
use crate::error::{Error, Result, try_vec};
use crate::exec::{Exec, Progress};
use crate::isa::Isa;
use crate::kernels::super_block_rows;
use crate::layers::each_dtype;
use crate::matrix::{AnyMatrix, Matrix};
use crate::pool;
use crate::topk::SENTINEL;
use engine::{Job, Pairs, Private, RunUnits, Stripes, Unit, merge_private};

/// How two rows are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Similarity {
    /// `<x_i, x_j>` of the rows as given.
    #[default]
    InnerProduct,
    /// `<x_i, x_j> / (|x_i| |x_j|)`, without a normalised copy of the input.
    Cosine,
}

/// Which rows are compared with which.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// Every row of one matrix with every other row (self excluded): a kNN graph.
    Within(AnyMatrix<'a>),
    /// Every query row with every database row (nothing excluded): a search. Same dtype and D.
    Between {
        /// The rows whose neighbours are wanted.
        queries: AnyMatrix<'a>,
        /// The rows they are drawn from.
        database: AnyMatrix<'a>,
    },
}

impl Rows<'_> {
    /// Rows with neighbour lists (queries).
    fn queries(&self) -> usize {
        match self {
            Rows::Within(x) => x.rows(),
            Rows::Between { queries, .. } => queries.rows(),
        }
    }
}

/// The `k` most similar other rows of every row of `x`. Reports [`Progress::Blocks`] as
/// blocks of rows are taken up.
pub fn graph<'a>(x: impl Into<AnyMatrix<'a>>, k: usize, similarity: Similarity, exec: &Exec<'_>) -> Result<KnnGraph> {
    neighbours(Rows::Within(x.into()), k, similarity, exec)
}

/// The `k` most similar rows of `database` for every row of `queries` (same dtype and D).
pub fn search<'a>(
    queries: impl Into<AnyMatrix<'a>>,
    database: impl Into<AnyMatrix<'a>>,
    k: usize,
    similarity: Similarity,
    exec: &Exec<'_>,
) -> Result<KnnGraph> {
    neighbours(Rows::Between { queries: queries.into(), database: database.into() }, k, similarity, exec)
}

/// The `k` most similar rows of `b` for every row of `a`, and the `k` most similar rows of
/// `a` for every row of `b` (same dtype and D): bit for bit `(search(a, b, k, ..),
/// search(b, a, k, ..))`, indices, scores and ties, for every ISA and thread count, with
/// each similarity computed once. For blocks of one data set on several machines: the
/// pair (i, j) of blocks gives both blocks' lists for that pair.
///
/// `k` must not exceed either side's rows (the error is the one the failing [`search`]
/// gives). Workers split `a`'s rows, so put the larger side first. Memory: the two
/// graphs and per-thread blocks; `b`'s lists are filled in place by transposed offers.
/// Reports [`Progress::Blocks`] as blocks of `a`'s rows are taken up.
pub fn search_both<'a>(
    a: impl Into<AnyMatrix<'a>>,
    b: impl Into<AnyMatrix<'a>>,
    k: usize,
    similarity: Similarity,
    exec: &Exec<'_>,
) -> Result<(KnnGraph, KnnGraph)> {
    let (a, b) = (a.into(), b.into());
    let (m, n) = (a.rows(), b.rows());
    let (mut indices, mut scores) = match m.checked_mul(k) {
        Some(len) if k <= m.min(n) && a.cols() > 0 && b.cols() > 0 => {
            (try_vec(len, 0, "the N x k neighbour indices")?, try_vec(len, 0.0, "the N x k neighbour scores")?)
        }
        _ => (Vec::new(), Vec::new()),
    };
    let out = Out { k, similarity, exec, threads: exec.workers(), indices: &mut indices, scores: &mut scores };
    let (isa, private) = match (a, b) {
        (AnyMatrix::F32(a), AnyMatrix::F32(b)) => compute(a, b, Pairs::Both, out),
        (AnyMatrix::F16(a), AnyMatrix::F16(b)) => compute(a, b, Pairs::Both, out),
        (AnyMatrix::Bf16(a), AnyMatrix::Bf16(b)) => compute(a, b, Pairs::Both, out),
        _ => Err(Error::DtypeMismatch),
    }?;
    let (b_indices, b_scores) =
        private.ok_or(Error::NumericalRange { what: "no lists for the second side" })?.into_lists();
    if b_indices.contains(&SENTINEL.1) || b_scores.iter().any(|s| !s.is_finite()) {
        return Err(Error::NumericalRange { what: "similarities are not finite in f32" });
    }
    let a_graph = KnnGraph { rows: m, k, indices, scores, isa: Some(isa) };
    Ok((a_graph, KnnGraph { rows: n, k, indices: b_indices, scores: b_scores, isa: Some(isa) }))
}

/// [`graph`] or [`search`], by [`Rows`].
pub fn neighbours(rows: Rows<'_>, k: usize, similarity: Similarity, exec: &Exec<'_>) -> Result<KnnGraph> {
    let (candidates, cols) = match rows {
        Rows::Within(x) => (x.rows(), x.cols()),
        Rows::Between { queries, database } => (database.rows(), queries.cols().min(database.cols())),
    };
    let n = rows.queries();
    // Nothing is allocated for bad input (`compute` reports it before touching the
    // buffers): a view of zero-width rows holds any number of them in an empty buffer.
    let (mut indices, mut scores) = match n.checked_mul(k) {
        Some(len) if k <= candidates && cols > 0 => {
            (try_vec(len, 0, "the N x k neighbour indices")?, try_vec(len, 0.0, "the N x k neighbour scores")?)
        }
        _ => (Vec::new(), Vec::new()),
    };
    let isa = neighbours_into(rows, k, similarity, exec, &mut indices, &mut scores)?;
    Ok(KnnGraph { rows: n, k, indices, scores, isa: Some(isa) })
}

/// [`neighbours`] into caller buffers of at least `queries * k` entries each; returns the
/// ISA used.
pub fn neighbours_into(
    rows: Rows<'_>,
    k: usize,
    similarity: Similarity,
    exec: &Exec<'_>,
    indices: &mut [u32],
    scores: &mut [f32],
) -> Result<Isa> {
    let out = Out { k, similarity, exec, threads: exec.workers(), indices, scores };
    match rows {
        Rows::Within(x) => each_dtype!(AnyMatrix, x, m => compute(m, m, Pairs::Within, out)),
        Rows::Between { queries, database } => match (queries, database) {
            (AnyMatrix::F32(q), AnyMatrix::F32(d)) => compute(q, d, Pairs::Search, out),
            (AnyMatrix::F16(q), AnyMatrix::F16(d)) => compute(q, d, Pairs::Search, out),
            (AnyMatrix::Bf16(q), AnyMatrix::Bf16(d)) => compute(q, d, Pairs::Search, out),
            _ => Err(Error::DtypeMismatch),
        },
    }
    .map(|(isa, _)| isa)
}

/// What a kNN call computes besides its inputs, and where the results go.
struct Out<'e, 'p, 'o> {
    k: usize,
    similarity: Similarity,
    exec: &'e Exec<'p>,
    /// Workers: `exec.workers()` (capped at the cores); tests may ask for more.
    threads: usize,
    indices: &'o mut [u32],
    scores: &'o mut [f32],
}

/// Frees what kNN calls keep between calls for the next one (with `std`): the prefilter's
/// score matrix (up to 64 MiB, see [`release_prefilter_memory`]) and the workers' packing
/// and score buffers (up to one set a core, 64 MiB in all; about 2.3 MB a worker at
/// N = 1024, D = 768). Returns the bytes freed. Later calls allocate anew.
pub fn release_memory() -> usize {
    release_prefilter_memory() + crate::kernels::block::release_kept()
}

/// Runs one kNN job into `out` (the queries' lists); returns the ISA used and, for
/// [`Pairs::Both`], the database rows' lists as private heaps (see [`Private::into_lists`]).
fn compute<T: Element>(
    queries: Matrix<'_, T>,
    database: Matrix<'_, T>,
    pairs: Pairs,
    out: Out<'_, '_, '_>,
) -> Result<(Isa, Option<Private>)> {
    let Out { k, similarity, exec, threads, indices, scores } = out;
    let (m, n) = (queries.rows(), database.rows());
    if m == 0 || n == 0 {
        return Err(Error::EmptyMatrix);
    }
    if queries.cols() == 0 || database.cols() == 0 {
        return Err(Error::ZeroDimension);
    }
    if queries.cols() != database.cols() {
        return Err(Error::DimensionMismatch { a: queries.cols(), b: database.cols() });
    }
    if n > u32::MAX as usize {
        return Err(Error::TooManyRows { rows: n });
    }
    let exclude_self = pairs == Pairs::Within;
    let max_k = if exclude_self { n - 1 } else { n };
    if k == 0 || k > max_k {
        return Err(Error::InvalidK { k, max: max_k });
    }
    // Both directions: the database rows' lists hold query indices, k of them.
    if pairs == Pairs::Both {
        if m > u32::MAX as usize {
            return Err(Error::TooManyRows { rows: m });
        }
        if k > m {
            return Err(Error::InvalidK { k, max: m });
        }
        n.checked_mul(k).ok_or(Error::ShapeOverflow)?;
    }
    let needed = m.checked_mul(k).ok_or(Error::ShapeOverflow)?;
    for len in [indices.len(), scores.len()] {
        if len < needed {
            return Err(Error::OutputTooShort { needed, len });
        }
    }
    let isa = exec.resolve_isa()?;
    if exclude_self
        && similarity == Similarity::InnerProduct
        && prefilter::chosen(exec.prefilter, n, queries.cols(), k, T::DTYPE, isa)
    {
        queries.check()?;
        let (indices, scores) = (&mut indices[..needed], &mut scores[..needed]);
        let fallback = match prefilter::graph(
            queries,
            k,
            exec,
            threads,
            isa,
            indices,
            scores,
            prefilter::Bf16Pass::fastest(),
            prefilter::WHOLE_FLOATS,
        ) {
            Ok(Some(_)) => false,
            // The data defeat the bound: the engine takes the whole graph.
            Ok(None) => true,
            // Auto takes the engine where the prefilter's buffers are refused.
            Err(Error::OutOfMemory { .. }) if exec.prefilter == Prefilter::Auto => true,
            Err(e) => return Err(e),
        };
        if !fallback {
            return finite(indices, scores).map(|()| (isa, None));
        }
    }

    // Inner products need only the values checked; cosine needs the norms too.
    let scales = match similarity {
        Similarity::InnerProduct => {
            queries.check()?;
            if !exclude_self {
                database.check()?;
            }
            None
        }
        Similarity::Cosine => {
            let q_sq = queries.scan()?;
            let d_sq = if exclude_self { None } else { Some(database.scan()?) };
            let q_inv = inverse_norms(&q_sq)?;
            let d_inv = match &d_sq {
                Some(d) => inverse_norms(d)?,
                None => q_inv.clone(),
            };
            Some((q_inv, d_inv))
        }
    };
    let job =
        Job { queries, database, k, pairs, scales: scales.as_ref().map(|(q, d)| (q.as_slice(), d.as_slice())), isa };
    let kept = run_job(&job, threads, exec, &mut indices[..needed], &mut scores[..needed])?;
    Ok((isa, kept))
}

/// Runs a checked job on `threads` workers into the queries' lists (`m x k` entries each);
/// returns the database rows' lists for [`Pairs::Both`].
fn run_job<T: Element>(
    job: &Job<'_, T>,
    threads: usize,
    exec: &Exec<'_>,
    indices: &mut [u32],
    scores: &mut [f32],
) -> Result<Option<Private>> {
    let (k, pairs, isa) = (job.k, job.pairs, job.isa);
    let (m, n) = (job.queries.rows(), job.database.rows());
    indices.fill(SENTINEL.1);
    scores.fill(SENTINEL.0);
    let super_block = super_block_rows(isa.f32_lanes(), m, threads, job.queries.cols());
    let units: Vec<Unit<'_>> = indices
        .chunks_mut(super_block * k)
        .zip(scores.chunks_mut(super_block * k))
        .enumerate()
        .map(|(u, (indices, scores))| Unit { q0: u * super_block, indices, scores })
        .collect();
    let total = units.len();
    // The private heaps (self graphs, both directions), one set for all workers, are
    // allocated before any work starts.
    let mut private = pairs.transposed().then(|| Private::new(n, k, pairs == Pairs::Within)).transpose()?;
    {
        let stripes = private.as_mut().map(Private::stripes).transpose()?;
        run_threads(isa, job, super_block, units, threads, stripes.as_ref(), exec)?;
    }
    exec.report(Progress::Blocks { done: total, total });
    // A self graph's private heaps are the rows' other halves; both directions keep them
    // as the database rows' own lists.
    let (merged, kept) = match pairs {
        Pairs::Both => (None, private),
        _ => (private, None),
    };
    merge_private(k, indices, scores, merged.as_ref());
    finite(indices, scores).map(|()| kept)
}

/// Inputs are checked so that every similarity is finite; this guard keeps a result that
/// escaped f32 anyway (non-finite scores never enter a heap) from being returned.
fn finite(indices: &[u32], scores: &[f32]) -> Result<()> {
    if indices.contains(&SENTINEL.1) || scores.iter().any(|s| !s.is_finite()) {
        return Err(Error::NumericalRange { what: "similarities are not finite in f32" });
    }
    Ok(())
}

fn inverse_norms(sq: &[f64]) -> Result<Vec<f32>> {
    sq.iter()
        .enumerate()
        // Below f32's smallest normal, products of such rows lose all
        // precision or underflow, and 1/|x|² overflows: cosine is not computable in f32.
        .map(|(row, &s)| {
            if s >= f64::from(f32::MIN_POSITIVE) {
                Ok((1.0 / libm::sqrt(s)) as f32)
            } else {
                Err(Error::ZeroNorm { row })
            }
        })
        .collect()
}

/// Runs every unit on `threads` workers, which share the private heaps of a self graph.
/// Workers take units in order: the largest (first) units go first, which balances the
/// triangle of a self graph. Each row's result depends only on the set of scores offered to
/// it, never on which thread offered them or in which order, so the schedule never changes
/// the answer.
fn run_threads<T: Element>(
    isa: Isa,
    job: &Job<'_, T>,
    super_block: usize,
    units: Vec<Unit<'_>>,
    threads: usize,
    private: Option<&Stripes<'_>>,
    exec: &Exec<'_>,
) -> Result<()> {
    let total = units.len();
    let results = pool::workers(threads, units, |units| {
        // A cancelled run takes no further unit (see `Exec::cancel`).
        let units = &mut units.map_while(|(u, unit)| {
            exec.report(Progress::Blocks { done: u, total });
            (!exec.cancelled()).then_some(unit)
        });
        dispatch::run(isa, RunUnits { job, super_block, units, private }).and_then(|r| r)
    });
    results.into_iter().collect::<Result<()>>()?;
    exec.check()
}

// The private-heap counter is a thread-local: std only.
#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::vec;

    /// The private heaps of a self graph take the same memory for 1, 2 or 8 workers (more
    /// workers than cores, past `pool::resolve`'s cap), and the graph is the same.
    #[test]
    fn private_heap_memory_does_not_grow_with_workers() {
        let (n, d, k) = (300, 24, 7);
        let x: Vec<f32> = (0..n * d).map(|i| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5).collect();
        let m = Matrix::new(&x, n, d).unwrap();
        let exec = Exec::default();
        let mut first = None;
        for threads in [1, 2, 8] {
            let (mut indices, mut scores) = (vec![0; n * k], vec![0.0; n * k]);
            engine::PRIVATE_BYTES.with(|b| b.set(0));
            let out = Out {
                k,
                similarity: Similarity::Cosine,
                exec: &exec,
                threads,
                indices: &mut indices,
                scores: &mut scores,
            };
            compute(m, m, Pairs::Within, out).unwrap();
            let bytes = engine::PRIVATE_BYTES.with(|b| b.get());
            assert_eq!(bytes, n * (k * 8 + 4), "{threads} workers: private heap bytes");
            match &first {
                None => first = Some((indices, scores)),
                Some((i, s)) => {
                    assert!(*i == indices && s.iter().zip(&scores).all(|(a, b)| a.to_bits() == b.to_bits()))
                }
            }
        }
    }

    /// Workers' buffers kept from earlier calls (other shapes, other backends, scores far
    /// larger than the next call's) give the graphs fresh buffers give, on every backend;
    /// `release_memory` frees them.
    #[test]
    fn kept_buffers_give_the_graphs_of_fresh_ones() {
        let values = |n: usize, d: usize, scale: f32| -> Vec<f32> {
            (0..n * d).map(|i| scale * (((i * 7919 + 13) % 1009) as f32 / 1009.0 - 0.5)).collect()
        };
        let shapes = [(600, 130, 1000.0), (37, 5, 1.0), (300, 40, 0.01), (530, 300, 1.0)];
        for isa in Isa::available() {
            for threads in [1, 2] {
                let exec = Exec::default().with_isa(Some(isa)).with_threads(threads).with_prefilter(Prefilter::Off);
                for &(n, d, scale) in &shapes {
                    let x = values(n, d, scale);
                    let m = Matrix::new(&x, n, d).unwrap();
                    let kept = graph(m, 7, Similarity::InnerProduct, &exec).unwrap();
                    release_memory();
                    let fresh = graph(m, 7, Similarity::InnerProduct, &exec).unwrap();
                    let bits = |g: &KnnGraph| g.scores().iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                    assert!(kept.indices() == fresh.indices() && bits(&kept) == bits(&fresh), "{isa:?} {n} x {d}");
                }
            }
        }
        // Other tests run graphs meanwhile: some release finds buffers kept.
        let x = values(600, 130, 1.0);
        let freed = (0..20).any(|_| {
            graph(Matrix::new(&x, 600, 130).unwrap(), 3, Similarity::InnerProduct, &Exec::default()).unwrap();
            release_memory() > 0
        });
        assert!(freed, "a graph keeps its workers' buffers");
    }

    /// Both directions on 1, 2, 3 and 8 workers (past the cores' cap) equal two searches,
    /// and the database side's heaps are the only private memory.
    #[test]
    fn both_directions_equal_two_searches_for_any_worker_count() {
        let (m, n, d, k) = (530, 290, 19, 5);
        let values = |len: usize, seed: usize| -> Vec<f32> {
            (0..len).map(|i| (((i + seed) * 7919 % 1009) as f32 / 1009.0) - 0.5).collect()
        };
        let (a, b) = (values(m * d, 3), values(n * d, 11));
        let (a, b) = (Matrix::new(&a, m, d).unwrap(), Matrix::new(&b, n, d).unwrap());
        let exec = Exec::default();
        let run = |q: Matrix<'_, f32>, db: Matrix<'_, f32>, pairs: Pairs, threads: usize| {
            let (mut indices, mut scores) = (vec![0; q.rows() * k], vec![0.0; q.rows() * k]);
            let out = Out {
                k,
                similarity: Similarity::Cosine,
                exec: &exec,
                threads,
                indices: &mut indices,
                scores: &mut scores,
            };
            let (_, private) = compute(q, db, pairs, out).unwrap();
            (indices, scores, private)
        };
        let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let (ab_i, ab_s, _) = run(a, b, Pairs::Search, 1);
        let (ba_i, ba_s, _) = run(b, a, Pairs::Search, 1);
        for threads in [1, 2, 3, 8] {
            engine::PRIVATE_BYTES.with(|b| b.set(0));
            let (i, s, private) = run(a, b, Pairs::Both, threads);
            assert_eq!(engine::PRIVATE_BYTES.with(|b| b.get()), n * (k * 8 + 4), "{threads} workers");
            let (pi, ps) = private.unwrap().into_lists();
            assert!(i == ab_i && bits(&s) == bits(&ab_s), "{threads} workers: a's lists");
            assert!(pi == ba_i && bits(&ps) == bits(&ba_s), "{threads} workers: b's lists");
        }
    }
}
