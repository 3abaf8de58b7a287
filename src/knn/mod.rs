//! Exact k-nearest-neighbour graphs by inner product or cosine similarity.
//!
//! - [`graph`]: each row's `k` most similar *other* rows (self excluded).
//! - [`search`]: each query's `k` most similar database rows (no exclusion).
//! - [`merge`]: the top `k` of several partial lists, so a database split into shards
//!   (on several machines) gives exactly the single-pass answer.
//!
//! **Contract.** Lists are best first: higher similarity first, equal similarities by
//! lower index ([`crate::topk`]). Similarities are f32, accumulated in f32 with fused
//! multiply-adds in feature order; for cosine, `dot * (1/|x_i| * 1/|x_j|)` with the inverse
//! norms computed once in f64. Results are bit-identical for every thread count and every
//! [`Isa`]. Memory is O(N k) plus per-thread blocks: no N x N matrix is ever formed.
//!
//! **Input checks** (each a typed [`Error`]): N = 0, D = 0, k = 0 or k above N - 1 (self) /
//! N (search), D mismatch, NaN or infinity (row and column named), a row so large its inner
//! products could overflow f32, cosine on a zero-norm row, an unavailable ISA.

mod engine;
mod graph;

use alloc::vec;
use alloc::vec::Vec;

pub(crate) use graph::find_invalid;
pub use graph::{GraphRef, KnnGraph, merge};

use crate::dispatch;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::kernels::query_block_rows;
use crate::matrix::{AnyMatrix, Matrix};
use engine::{Job, OutBlock, RunBlocks};

/// How two rows are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Similarity {
    /// `<x_i, x_j>` of the rows as given.
    #[default]
    InnerProduct,
    /// `<x_i, x_j> / (|x_i| |x_j|)`, without a normalised copy of the input.
    Cosine,
}

/// Options shared by every kNN computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KnnOptions {
    /// Inner product (default) or cosine.
    pub similarity: Similarity,
    /// Worker threads; 0 = all available cores. Ignored without the `std` feature.
    /// Results do not depend on it.
    pub threads: usize,
    /// Force a backend (tests, benchmarks); `None` = [`Isa::best`]. Results do not depend on it.
    pub isa: Option<Isa>,
}

impl KnnOptions {
    /// Default options with the given similarity.
    pub fn with_similarity(similarity: Similarity) -> Self {
        Self { similarity, ..Self::default() }
    }
}

/// The `k` most similar other rows of every row of `x`.
pub fn graph<'a>(x: impl Into<AnyMatrix<'a>>, k: usize, opts: &KnnOptions) -> Result<KnnGraph> {
    let x = x.into();
    let (indices, scores) = output(x.rows(), k, x.rows());
    finish(x.rows(), k, indices, scores, |i, s| graph_into(x, k, opts, i, s))
}

/// [`graph`] into caller buffers of at least `rows * k` entries each; returns the ISA used.
pub fn graph_into<'a>(
    x: impl Into<AnyMatrix<'a>>,
    k: usize,
    opts: &KnnOptions,
    indices: &mut [u32],
    scores: &mut [f32],
) -> Result<Isa> {
    match x.into() {
        AnyMatrix::F32(m) => compute(m, m, true, k, opts, indices, scores),
        AnyMatrix::F16(m) => compute(m, m, true, k, opts, indices, scores),
        AnyMatrix::Bf16(m) => compute(m, m, true, k, opts, indices, scores),
    }
}

/// The `k` most similar rows of `database` for every row of `queries` (same dtype and D).
pub fn search<'a>(
    queries: impl Into<AnyMatrix<'a>>,
    database: impl Into<AnyMatrix<'a>>,
    k: usize,
    opts: &KnnOptions,
) -> Result<KnnGraph> {
    let (queries, database) = (queries.into(), database.into());
    let (indices, scores) = output(queries.rows(), k, database.rows());
    finish(queries.rows(), k, indices, scores, |i, s| search_into(queries, database, k, opts, i, s))
}

/// [`search`] into caller buffers of at least `queries.rows() * k` entries; returns the ISA used.
pub fn search_into<'a>(
    queries: impl Into<AnyMatrix<'a>>,
    database: impl Into<AnyMatrix<'a>>,
    k: usize,
    opts: &KnnOptions,
    indices: &mut [u32],
    scores: &mut [f32],
) -> Result<Isa> {
    match (queries.into(), database.into()) {
        (AnyMatrix::F32(q), AnyMatrix::F32(d)) => compute(q, d, false, k, opts, indices, scores),
        (AnyMatrix::F16(q), AnyMatrix::F16(d)) => compute(q, d, false, k, opts, indices, scores),
        (AnyMatrix::Bf16(q), AnyMatrix::Bf16(d)) => compute(q, d, false, k, opts, indices, scores),
        _ => Err(Error::DtypeMismatch),
    }
}

/// Output buffers, or empty ones when `k` is out of range (then `compute` reports it
/// before touching them; nothing huge is allocated for a bad `k`).
fn output(rows: usize, k: usize, candidates: usize) -> (Vec<u32>, Vec<f32>) {
    match rows.checked_mul(k) {
        Some(len) if k <= candidates => (vec![0; len], vec![0.0; len]),
        _ => (Vec::new(), Vec::new()),
    }
}

fn finish(
    rows: usize,
    k: usize,
    mut indices: Vec<u32>,
    mut scores: Vec<f32>,
    run: impl FnOnce(&mut [u32], &mut [f32]) -> Result<Isa>,
) -> Result<KnnGraph> {
    let isa = run(&mut indices, &mut scores)?;
    Ok(KnnGraph { rows, k, indices, scores, isa })
}

fn compute<T: Element>(
    queries: Matrix<'_, T>,
    database: Matrix<'_, T>,
    exclude_self: bool,
    k: usize,
    opts: &KnnOptions,
    indices: &mut [u32],
    scores: &mut [f32],
) -> Result<Isa> {
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
    let max_k = if exclude_self { n - 1 } else { n };
    if k == 0 || k > max_k {
        return Err(Error::InvalidK { k, max: max_k });
    }
    let needed = m.checked_mul(k).ok_or(Error::ShapeOverflow)?;
    for len in [indices.len(), scores.len()] {
        if len < needed {
            return Err(Error::OutputTooShort { needed, len });
        }
    }
    let isa = opts.isa.unwrap_or_else(Isa::best);
    if !isa.is_available() {
        return Err(Error::IsaUnavailable(isa));
    }

    let q_sq = queries.scan()?;
    let d_sq = if exclude_self { None } else { Some(database.scan()?) };
    let scales = match opts.similarity {
        Similarity::InnerProduct => None,
        Similarity::Cosine => {
            let q_inv = inverse_norms(&q_sq)?;
            let d_inv = match &d_sq {
                Some(d) => inverse_norms(d)?,
                None => q_inv.clone(),
            };
            Some((q_inv, d_inv))
        }
    };
    let job =
        Job { queries, database, k, exclude_self, scales: scales.as_ref().map(|(q, d)| (q.as_slice(), d.as_slice())) };

    let qb = query_block_rows(isa.f32_lanes());
    let blocks: Vec<OutBlock<'_>> = indices[..needed]
        .chunks_mut(qb * k)
        .zip(scores[..needed].chunks_mut(qb * k))
        .enumerate()
        .map(|(b, (indices, scores))| OutBlock { q0: b * qb, indices, scores })
        .collect();
    run_threads(isa, &job, blocks, opts.threads)?;
    Ok(isa)
}

fn inverse_norms(sq: &[f64]) -> Result<Vec<f32>> {
    sq.iter()
        .enumerate()
        .map(|(row, &s)| if s > 0.0 { Ok((1.0 / libm::sqrt(s)) as f32) } else { Err(Error::ZeroNorm { row }) })
        .collect()
}

/// Deals query blocks round-robin to the threads. Each row's result depends only on its
/// own scores, so the split never changes the answer.
#[cfg(feature = "std")]
fn run_threads<T: Element>(isa: Isa, job: &Job<'_, T>, blocks: Vec<OutBlock<'_>>, threads: usize) -> Result<()> {
    let available = || std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if threads == 0 { available() } else { threads }.clamp(1, blocks.len().max(1));
    if threads == 1 {
        return dispatch::run(isa, RunBlocks { job, blocks });
    }
    let mut shares: Vec<Vec<OutBlock<'_>>> = (0..threads).map(|_| Vec::new()).collect();
    for (b, block) in blocks.into_iter().enumerate() {
        shares[b % threads].push(block);
    }
    std::thread::scope(|s| {
        let workers: Vec<_> =
            shares.into_iter().map(|blocks| s.spawn(move || dispatch::run(isa, RunBlocks { job, blocks }))).collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

#[cfg(not(feature = "std"))]
fn run_threads<T: Element>(isa: Isa, job: &Job<'_, T>, blocks: Vec<OutBlock<'_>>, _threads: usize) -> Result<()> {
    dispatch::run(isa, RunBlocks { job, blocks })
}
