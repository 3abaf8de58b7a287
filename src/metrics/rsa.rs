//! Representational similarity analysis (RSA): the correlation of two representations'
//! distance matrices over all N(N-1)/2 pairs of samples (i < j).
//!
//! Input f32/f16/bf16 → the tiled f32 Gram kernel, a block of rows at a time
//! ([`crate::knn::gram_blocks`]; small inputs, [`DIRECT`], straight from the rows in f64)
//! → distances in f64 → per layer, for Spearman each pair's average rank doubled (an exact
//! u32), for Pearson the distances standardised (mean 0, norm 1, f64). A comparison is one
//! dot product (Spearman's in exact integer arithmetic: the correlation of the ranks is
//! rounded once, at the end), and a permutation of one side's samples is a re-indexing of
//! its pairs, O(N²) per null sample with no re-ranking.
//!
//! Numerical stability: a Euclidean distance from the Gram matrix,
//! `|x|² + |y|² - 2 <x, y>`, cancels when the rows are close relative to their norms, and
//! the f32 inner product's rounding (about sqrt(D) · 2^-24 · |x| |y|) then dominates the
//! difference; a cosine distance `1 - cos` cancels the same way for nearly parallel rows.
//! Such pairs (distance below [`RECOMPUTE`] of the scale) and rows with squared norm below
//! 1e-30 (where f32 products underflow) are recomputed from the rows in f64, so every
//! distance has a relative error of at most a few f32 roundings times 1/[`RECOMPUTE`].
//! Squared norms are the input scan's f64 sums. Ranks come from a sort of the f64
//! distances: equal distances share their average rank, whatever the sort order.
//!
//! Memory, with M = N(N-1)/2 pairs: a layer keeps M u32 ranks (Spearman, 2 N² bytes: 2 MiB
//! at N = 1024, 200 MB at N = 10,000) or M f64 values (Pearson, 4 N² bytes). Building it
//! takes M f64 distances (4 N² bytes) and one block of Gram rows (at most N²/8 f32, 0.5 N²
//! bytes; an N x D f64 copy of the rows instead below [`DIRECT`]), then for Spearman M u32
//! sort indices, freed before the M u32 ranks are copied out (2 N² bytes each, beside the
//! distances): peak 6 N² bytes for Spearman (600 MB at N = 10,000, 6.4 GB at N = 32,768),
//! 4.5 N² for Pearson, where a whole Gram matrix and f64 ranks took 10 N². A null sample
//! holds one more layer vector per worker. All requested before any work; a refusal is
//! [`Error::OutOfMemory`]. Pairs are indexed by u32 and doubled ranks (up to 2M) are u32:
//! N <= 65,536 for Spearman, N <= 92,681 for Pearson, else [`Error::TooManyRows`].

use alloc::vec::Vec;

use crate::element::Element;
use crate::error::{Error, Result, out_of_memory, try_vec};
use crate::exec::Exec;
use crate::isa::Isa;
use crate::layers::each_dtype;
use crate::matrix::{AnyMatrix, Matrix};

/// How RSA's distance matrix (the "representational dissimilarity matrix") is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rdm {
    /// `|x - y|` (the default).
    Euclidean,
    /// `1 - <x, y> / (|x| |y|)`; a row of norm zero is [`Error::ZeroNorm`].
    Cosine,
}

/// How RSA correlates the two distance matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corr {
    /// Pearson correlation of the ranks, ties sharing their average rank (the default).
    Spearman,
    /// Pearson correlation of the distances.
    Pearson,
}

impl Rdm {
    /// The name front ends use: `"euclidean"` or `"cosine"`.
    pub const fn name(self) -> &'static str {
        match self {
            Rdm::Euclidean => "euclidean",
            Rdm::Cosine => "cosine",
        }
    }
    /// The RDM of this name.
    pub fn from_name(name: &str) -> Option<Rdm> {
        [Rdm::Euclidean, Rdm::Cosine].into_iter().find(|r| r.name() == name)
    }
}

impl Corr {
    /// The name front ends use: `"spearman"` or `"pearson"`.
    pub const fn name(self) -> &'static str {
        match self {
            Corr::Spearman => "spearman",
            Corr::Pearson => "pearson",
        }
    }
    /// The correlation of this name.
    pub fn from_name(name: &str) -> Option<Corr> {
        [Corr::Spearman, Corr::Pearson].into_iter().find(|c| c.name() == name)
    }
}

/// Distances below this fraction of their scale (`|x|² + |y|²` for a squared Euclidean
/// distance, 1 for a cosine distance) are recomputed from the rows in f64.
pub const RECOMPUTE: f64 = 0.25;

/// Inputs with N(N-1)/2 · D at most this (2^26: N <= 418 at D = 768, N <= 1024 at
/// D = 128) skip the Gram kernel: every distance is computed from the rows in f64, in well
/// under a second. Why: Spearman correlation is discontinuous, and one swap of two ranks
/// moves it by up to about 4 / M² for M pairs, 1.3e-6 at N = 60, where the f32 Gram's
/// rounding (about 1e-7 relative) can swap two nearly equal distances. Above the bound
/// M >= 87,000 (at D <= 768) and a swap costs under 1e-9.
pub const DIRECT: usize = 1 << 26;

/// One layer's condensed distance matrix (pairs i < j, row by row): ranked (Spearman) or
/// standardised (Pearson).
#[derive(Debug, Clone, PartialEq)]
pub struct RsaVector {
    pub(crate) n: usize,
    pub(crate) values: Values,
    /// `None` when every distance was computed directly in f64 ([`DIRECT`]).
    pub(crate) isa: Option<Isa>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// Each pair's average rank (1..=M, ties sharing their mean), doubled: an integer in
    /// 2..=2M, whose mean is exactly M + 1; `spread` = Σ (r - (M + 1))², exactly.
    Ranks { doubled: Vec<u32>, spread: u128 },
    /// The distances, standardised to mean 0 and norm 1.
    Standard(Vec<f64>),
}

/// Doubled ranks are u32: 2M must fit.
const MAX_RANKED_PAIRS: usize = (u32::MAX / 2) as usize;

/// Gram rows per block: at most N²/8 floats, a sixteenth of the f64 distances' bytes.
fn gram_block_floats(n: usize) -> usize {
    n.saturating_mul(n) / 8
}

const WHAT: &str = "rsa needs N(N-1)/2 f64 distances and u32 sort indices per input";

impl RsaVector {
    /// The standardised distances of the rows of `x` (N >= 3: fewer than 3 pairs have no
    /// correlation, [`Error::TooFewSamples`]). All distances equal (e.g. N = 3 points of an
    /// equilateral triangle) is [`Error::NumericalRange`].
    pub fn new<'a>(x: impl Into<AnyMatrix<'a>>, rdm: Rdm, corr: Corr, exec: &Exec<'_>) -> Result<Self> {
        let x = x.into();
        let n = x.rows();
        if n < 3 {
            return Err(if n == 0 { Error::EmptyMatrix } else { Error::TooFewSamples { n, min: 3 } });
        }
        let m = n.checked_mul(n - 1).ok_or(out_of_memory::<f64>(usize::MAX, WHAT))? / 2;
        let limit = if corr == Corr::Spearman { MAX_RANKED_PAIRS } else { u32::MAX as usize };
        if m > limit {
            return Err(Error::TooManyRows { rows: n });
        }
        let mut distances = try_vec(m, 0.0f64, WHAT)?;
        let isa = if m.saturating_mul(x.cols()) <= DIRECT {
            exec.resolve_isa()?;
            each_dtype!(AnyMatrix, x, x => direct_distances(x, rdm, &mut distances))?;
            None
        } else {
            Some(each_dtype!(AnyMatrix, x, x => gram_distances(x, rdm, exec, gram_block_floats(n), &mut distances))?)
        };
        Ok(Self { n, values: Values::new(distances, corr)?, isa })
    }

    /// Number of samples.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The backend of the Gram kernel the distances came from; `None` for inputs small
    /// enough to be computed directly in f64 ([`DIRECT`]).
    pub fn isa(&self) -> Option<Isa> {
        self.isa
    }

    /// The vector of the samples reordered by `perm` (sample i becomes `perm[i]`): pair
    /// (i, j) takes pair (perm\[i\], perm\[j\])'s value. Ranks of reordered distances are the
    /// reordered ranks, so nothing is re-ranked. A second vector the allocator refuses is
    /// [`Error::OutOfMemory`].
    pub fn permuted(&self, perm: &[u32]) -> Result<RsaVector> {
        let values = match &self.values {
            Values::Ranks { doubled, spread } => {
                Values::Ranks { doubled: self.reindexed(doubled, perm, 0)?, spread: *spread }
            }
            Values::Standard(v) => Values::Standard(self.reindexed(v, perm, 0.0)?),
        };
        Ok(RsaVector { n: self.n, values, isa: self.isa })
    }

    /// `values` (one per pair) with pair (i, j) taking pair (perm\[i\], perm\[j\])'s value.
    fn reindexed<V: Copy>(&self, values: &[V], perm: &[u32], zero: V) -> Result<Vec<V>> {
        let n = self.n;
        let mut out = try_vec(values.len(), zero, WHAT)?;
        let mut slots = out.iter_mut();
        for (i, &pi) in perm.iter().enumerate() {
            for &pj in &perm[i + 1..] {
                let (a, b) = if pi < pj { (pi, pj) } else { (pj, pi) };
                if let Some(v) = slots.next() {
                    *v = values[pair_index(n, a as usize, b as usize)];
                }
            }
        }
        Ok(out)
    }
}

impl Values {
    /// A layer's values from its M distances (consumed: for Spearman they are the sort's
    /// keys, then freed).
    fn new(mut distances: Vec<f64>, corr: Corr) -> Result<Values> {
        let m = distances.len();
        Ok(match corr {
            Corr::Spearman => {
                let doubled = doubled_ranks(distances)?;
                let mean = m as u128 + 1;
                let sum2: u128 = doubled.iter().map(|&r| u128::from(r) * u128::from(r)).sum();
                let spread = sum2 - m as u128 * mean * mean;
                if spread == 0 {
                    return Err(constant());
                }
                Values::Ranks { doubled, spread }
            }
            Corr::Pearson => {
                standardise(&mut distances)?;
                Values::Standard(distances)
            }
        })
    }
}

fn constant() -> Error {
    Error::NumericalRange { what: "rsa: all pairwise distances are equal, their correlation is undefined" }
}

/// The position of pair (a, b), a < b, in the condensed order (0, 1), (0, 2), ..., (1, 2), ...
fn pair_index(n: usize, a: usize, b: usize) -> usize {
    a * (2 * n - a - 1) / 2 + (b - a - 1)
}

/// RSA of two vectors of the same N and options, clamped to [-1, 1]: for Spearman the
/// covariance of the doubled ranks, Σ a b - M (M + 1)², is exact (u128), so the
/// correlation is rounded once; for Pearson the dot product of the standardised vectors.
pub fn rsa_vectors(a: &RsaVector, b: &RsaVector) -> Result<f64> {
    if a.n != b.n {
        return Err(Error::RowCountMismatch { a: a.n, b: b.n });
    }
    let r = match (&a.values, &b.values) {
        (Values::Ranks { doubled: ra, spread: sa }, Values::Ranks { doubled: rb, spread: sb }) => {
            let m = ra.len() as u128;
            let cross = rank_dot(ra, rb) as i128 - (m * (m + 1) * (m + 1)) as i128;
            cross as f64 / (libm::sqrt(*sa as f64) * libm::sqrt(*sb as f64))
        }
        (Values::Standard(va), Values::Standard(vb)) => dot(va, vb),
        _ => return Err(Error::InvalidParameter { what: "rsa vectors of different correlations" }),
    };
    Ok(r.clamp(-1.0, 1.0))
}

/// Σ a b of doubled ranks, exactly. Each product is below 2^64 (ranks below 2^32); the
/// u64 partial sums are flushed into the u128 total before they can wrap.
fn rank_dot(a: &[u32], b: &[u32]) -> u128 {
    let max = a.iter().chain(b).copied().max().unwrap_or(0) as u64;
    // How many products of at most max² a u64 holds; one at the least.
    let run = (u64::MAX / (max * max).max(1)).clamp(1, 1 << 16) as usize;
    a.chunks(run)
        .zip(b.chunks(run))
        .map(|(x, y)| {
            let partial: u64 = x.iter().zip(y).map(|(&p, &q)| u64::from(p) * u64::from(q)).sum();
            u128::from(partial)
        })
        .sum()
}

/// f64 dot product with four accumulators in a fixed order (the same bits everywhere).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    sum4(a, b, |x, y| x * y)
}

/// The condensed distances of the rows of `x` from its f32 Gram matrix, computed a block
/// of about `block_floats` floats of rows at a time. Returns the Gram kernel's ISA.
fn gram_distances<T: Element>(
    x: Matrix<'_, T>,
    rdm: Rdm,
    exec: &Exec<'_>,
    block_floats: usize,
    out: &mut [f64],
) -> Result<Isa> {
    let n = x.rows();
    let sq = x.scan()?;
    // Below this, f32 products of the row's entries can underflow: recompute in f64.
    let tiny = |s: f64| s < 1e-30;
    check_norms(&sq, rdm)?;
    let mut out = out.iter_mut();
    crate::knn::gram_blocks(x, exec, block_floats, |first, g| {
        for (i, gi) in (first..).zip(g.chunks_exact(n)) {
            distance_row(x, &sq, i, gi, rdm, tiny, &mut out);
        }
        Ok(())
    })
}

/// The distances of row i to rows i + 1.. from its Gram row `g` (see the module doc).
fn distance_row<'o, T: Element>(
    x: Matrix<'_, T>,
    sq: &[f64],
    i: usize,
    g: &[f32],
    rdm: Rdm,
    tiny: impl Fn(f64) -> bool,
    out: &mut impl Iterator<Item = &'o mut f64>,
) {
    for j in i + 1..x.rows() {
        let gij = f64::from(g[j]);
        let exact = tiny(sq[i]) || tiny(sq[j]);
        let d = match rdm {
            Rdm::Euclidean => {
                let scale = sq[i] + sq[j];
                let d2 = scale - 2.0 * gij;
                // The Gram path loses the difference to cancellation: see the module doc.
                let d2 = if exact || d2 < RECOMPUTE * scale { squared_distance(x.row(i), x.row(j)) } else { d2 };
                libm::sqrt(d2.max(0.0))
            }
            Rdm::Cosine => {
                let d = cosine_distance(gij, sq[i] * sq[j]);
                if exact || d < RECOMPUTE { cosine_distance(dot_rows(x.row(i), x.row(j)), sq[i] * sq[j]) } else { d }
            }
        };
        if let Some(o) = out.next() {
            *o = d;
        }
    }
}

/// `1 - g / sqrt(p)` for the inner product g and the product p of the squared norms, as
/// `1 - sign(g) sqrt(g² / p)`: one correctly rounded division of exact inputs (small
/// integers, say) gives equal cosines equal bits, so ties stay ties for Spearman; `g /
/// sqrt(p)` rounds twice, differently for different (g, p) of the same ratio.
fn cosine_distance(g: f64, p: f64) -> f64 {
    1.0 - libm::copysign(libm::sqrt(g * g / p), g)
}

/// A cosine distance needs every row to have a norm: the first zero one is [`Error::ZeroNorm`].
fn check_norms(sq: &[f64], rdm: Rdm) -> Result<()> {
    match sq.iter().position(|&s| s == 0.0) {
        Some(row) if rdm == Rdm::Cosine => Err(Error::ZeroNorm { row }),
        _ => Ok(()),
    }
}

/// Every condensed distance of the rows of `x` in f64, from an f64 copy of the rows.
fn direct_distances<T: Element>(x: Matrix<'_, T>, rdm: Rdm, out: &mut [f64]) -> Result<()> {
    let (n, d) = (x.rows(), x.cols());
    if d == 0 {
        return Err(Error::ZeroDimension);
    }
    let sq = x.scan()?;
    check_norms(&sq, rdm)?;
    let mut rows = try_vec(n * d, 0.0f64, WHAT)?;
    for (i, r) in rows.chunks_exact_mut(d).enumerate() {
        r.iter_mut().zip(x.row(i)).for_each(|(r, v)| *r = f64::from(v.to_f32()));
    }
    let mut out = out.iter_mut();
    for (i, a) in rows.chunks_exact(d).enumerate() {
        for (j, b) in rows.chunks_exact(d).enumerate().skip(i + 1) {
            let v = match rdm {
                Rdm::Euclidean => libm::sqrt(sum4(a, b, |x, y| (x - y) * (x - y))),
                Rdm::Cosine => cosine_distance(sum4(a, b, |x, y| x * y), sq[i] * sq[j]),
            };
            if let Some(o) = out.next() {
                *o = v;
            }
        }
    }
    Ok(())
}

/// Σ f(a_k, b_k) with four accumulators in a fixed order.
#[inline(always)]
fn sum4(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let (qa, qb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = qa.remainder().iter().zip(qb.remainder()).map(|(&x, &y)| f(x, y)).sum();
    for (x, y) in qa.zip(qb) {
        for l in 0..4 {
            acc[l] += f(x[l], y[l]);
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

fn squared_distance<T: Element>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x.to_f32()) - f64::from(y.to_f32())).map(|d| d * d).sum()
}

fn dot_rows<T: Element>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x.to_f32()) * f64::from(y.to_f32())).sum()
}

/// Keys per bucket of the rank sort, on average: a bucket's (key, index) pairs stay in cache.
const BUCKET: usize = 1 << 12;
/// Buckets larger than this (a skewed distribution) are sorted in place, indirectly.
const LOCAL: usize = 1 << 20;

/// Each distance's rank 1..=M doubled, ties sharing twice their average rank (an integer,
/// so exact). NaN never occurs (finite inputs give finite distances); -0 and +0 are one
/// value. A bucket sort: each key goes to bucket ⌊(k - min) · B / (max - min)⌋, monotone in
/// k, so equal keys share a bucket and buckets are in key order; each bucket's (key,
/// index) pairs are then sorted in cache and ranked at the bucket's offset. One indirect
/// sort of all M indices instead misses the cache on nearly every comparison once the keys
/// outgrow it (a Spearman RSA of two N = 10,000 layers, M = 5e7, took 26 s that way and
/// takes 7 s this way). Besides the keys: M u32 indices, then the M u32 ranks, and M / 4096
/// bucket offsets.
fn doubled_ranks(keys: Vec<f64>) -> Result<Vec<u32>> {
    ranks_with(keys, LOCAL)
}

/// [`doubled_ranks`] with buckets above `local_cap` keys sorted in place.
fn ranks_with(mut keys: Vec<f64>, local_cap: usize) -> Result<Vec<u32>> {
    let m = keys.len();
    keys.iter_mut().filter(|k| **k == 0.0).for_each(|k| *k = 0.0);
    let (lo, hi) = keys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &k| (l.min(k), h.max(k)));
    let buckets = (m / BUCKET).max(1);
    // A range that overflows puts every key in bucket 0: slower, still exact.
    let scale = if hi > lo && (hi - lo).is_finite() { buckets as f64 / (hi - lo) } else { 0.0 };
    let bucket = |k: f64| (((k - lo) * scale) as usize).min(buckets - 1);
    let mut start = try_vec(buckets + 1, 0usize, WHAT)?;
    for &k in &keys {
        start[bucket(k) + 1] += 1;
    }
    for b in 0..buckets {
        start[b + 1] += start[b];
    }
    let mut order = try_vec(m, 0u32, WHAT)?;
    {
        let mut fill = try_vec(buckets, 0usize, WHAT)?;
        fill.copy_from_slice(&start[..buckets]);
        for (i, &k) in keys.iter().enumerate() {
            let f = &mut fill[bucket(k)];
            order[*f] = i as u32;
            *f += 1;
        }
    }
    let largest = start.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let mut local = try_vec(largest.min(local_cap), (0u64, 0u32), WHAT)?;
    // Each key is read only while its own bucket is ranked, so its slot then takes the
    // rank (an exact integer in f64): no third M-vector beside the keys and indices.
    for w in start.windows(2) {
        let (base, seg) = (w[0], &mut order[w[0]..w[1]]);
        let rank = |s: usize, e: usize| (2 * base + s + 1 + e) as f64;
        if seg.len() <= local.len() {
            // Sorting the keys' order-preserving bits beside the indices: no indirection.
            let pairs = &mut local[..seg.len()];
            pairs.iter_mut().zip(seg.iter()).for_each(|(p, &i)| *p = (ordered_bits(keys[i as usize]), i));
            pairs.sort_unstable();
            let mut s = 0;
            while s < pairs.len() {
                let e = s + pairs[s..].iter().take_while(|p| p.0 == pairs[s].0).count();
                // Positions base + s .. base + e share the mean of ranks base + s + 1 ..= base + e.
                pairs[s..e].iter().for_each(|p| keys[p.1 as usize] = rank(s, e));
                s = e;
            }
        } else {
            seg.sort_unstable_by(|&a, &b| keys[a as usize].total_cmp(&keys[b as usize]));
            let mut s = 0;
            while s < seg.len() {
                let v = keys[seg[s] as usize];
                // The group's keys and the next one are read before any of them is written.
                let e = s + seg[s..].iter().take_while(|&&i| keys[i as usize] == v).count();
                seg[s..e].iter().for_each(|&i| keys[i as usize] = rank(s, e));
                s = e;
            }
        }
    }
    drop((order, local));
    let mut doubled = try_vec(m, 0u32, WHAT)?;
    // Exact: integers below 2^32 (MAX_RANKED_PAIRS).
    doubled.iter_mut().zip(&keys).for_each(|(d, &r)| *d = r as u32);
    Ok(doubled)
}

/// The bits of `x` as an integer in `total_cmp`'s order.
fn ordered_bits(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

/// Centres `values` and scales them to norm 1; a constant vector is [`Error::NumericalRange`].
fn standardise(values: &mut [f64]) -> Result<()> {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter_mut().for_each(|v| *v -= mean);
    let norm = libm::sqrt(dot(values, values));
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(constant());
    }
    values.iter_mut().for_each(|v| *v /= norm);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn ranks_average_ties_and_pairs_index_row_by_row() {
        assert_eq!(doubled_ranks(vec![3.0, 1.0, 3.0, 2.0, 3.0]).unwrap(), [8, 2, 8, 4, 8]);
        // Several chunks, groups of ties across them, -0 beside +0: against one plain sort.
        let m = 3 * BUCKET * 7 + 123;
        let keys: Vec<f64> =
            (0..m).map(|k| if k % 1000 == 1 { -0.0 } else { ((k * 7919) % 997) as f64 / 8.0 }).collect();
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
        let mut want = vec![0u32; m];
        let mut start = 0;
        while start < m {
            let end = start + order[start..].iter().take_while(|&&k| keys[k] == keys[order[start]]).count();
            order[start..end].iter().for_each(|&k| want[k] = (start + 1 + end) as u32);
            start = end;
        }
        assert!(doubled_ranks(keys.clone()).unwrap() == want);
        // Skewed (one far key: nearly all in one bucket, sorted in place past the cap),
        // negative keys, and a range too wide to scale: the same ranks as a plain sort.
        let plain = |keys: &[f64]| {
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
            let mut want = vec![0u32; keys.len()];
            let mut start = 0;
            while start < keys.len() {
                let end = start + order[start..].iter().take_while(|&&k| keys[k] == keys[order[start]]).count();
                order[start..end].iter().for_each(|&k| want[k] = (start + 1 + end) as u32);
                start = end;
            }
            want
        };
        for far in [1e300, -1e300, f64::MAX] {
            let mut k: Vec<f64> = keys.iter().map(|v| v - 1e-17).collect();
            k[5] = far;
            k[9] = -f64::MAX;
            for cap in [100, LOCAL] {
                assert!(ranks_with(k.clone(), cap).unwrap() == plain(&k), "far {far}, cap {cap}");
            }
        }
        let n = 5;
        let mut k = 0;
        for a in 0..n {
            for b in a + 1..n {
                assert_eq!(pair_index(n, a, b), k);
                k += 1;
            }
        }
    }

    /// The Gram path (used above [`DIRECT`]) against the direct f64 path on the same rows:
    /// distances to 1e-5 relative (close pairs and nearly parallel ones included, through
    /// the recompute guard), Spearman and Pearson to 1e-6.
    #[test]
    fn gram_distances_match_direct_f64_ones() {
        let (n, d) = (300, 96);
        let mut state = 0x1234_5678_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        // Clusters of nearly equal rows (cancellation), plus an offset (nearly parallel rows).
        let centres: Vec<f64> = (0..10 * d).map(|_| next()).collect();
        let x: Vec<f32> =
            (0..n * d).map(|k| (3.0 + centres[(k / d % 10) * d + k % d] + 1e-3 * next()) as f32).collect();
        let m = Matrix::new(&x, n, d).unwrap();
        let exec = Exec::new().with_threads(2);
        for rdm in [Rdm::Euclidean, Rdm::Cosine] {
            let mut a = vec![0.0; n * (n - 1) / 2];
            let mut b = a.clone();
            gram_distances(m, rdm, &exec, n * n, &mut a).unwrap();
            direct_distances(m, rdm, &mut b).unwrap();
            let worst = a.iter().zip(&b).map(|(a, b)| ((a - b) / b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-5, "{rdm:?}: relative error {worst}");
            // Blocks of Gram rows (down to the smallest) give the same bits as the whole.
            for (floats, threads) in [(0, 1), (0, 2), (n * 200, 1)] {
                let mut c = vec![0.0; a.len()];
                gram_distances(m, rdm, &exec.with_threads(threads), floats, &mut c).unwrap();
                assert!(c == a, "{rdm:?}, blocks of {floats} floats, {threads} threads");
            }
            for corr in [Corr::Spearman, Corr::Pearson] {
                let va = RsaVector { n, values: Values::new(a.clone(), corr).unwrap(), isa: None };
                let vb = RsaVector { n, values: Values::new(b.clone(), corr).unwrap(), isa: None };
                let r = rsa_vectors(&va, &vb).unwrap();
                assert!((r - 1.0).abs() < 1e-6, "{rdm:?} {corr:?}: {r}");
            }
        }
    }

    /// The integer dot product is exact where u64 sums would wrap (products near 2^64),
    /// and the exact Spearman path agrees with the correlation of f64 ranks.
    #[test]
    fn exact_rank_correlation() {
        let big = [u32::MAX, u32::MAX - 1, 3, u32::MAX];
        let want: u128 = big.iter().map(|&v| u128::from(v) * u128::from(v)).sum();
        assert_eq!(rank_dot(&big, &big), want);
        let small: Vec<u32> = (1..1000).collect();
        assert_eq!(rank_dot(&small, &small), (1..1000u128).map(|v| v * v).sum());
        // Distances with many ties: ranks shared, the integer and f64 routes agree.
        let m = 4950;
        let da: Vec<f64> = (0..m).map(|k| ((k * 37) % 101) as f64).collect();
        let db: Vec<f64> = (0..m).map(|k| ((k * 37) % 101 + (k * 53) % 29) as f64).collect();
        let exact =
            |d: &[f64]| RsaVector { n: 100, values: Values::new(d.to_vec(), Corr::Spearman).unwrap(), isa: None };
        let got = rsa_vectors(&exact(&da), &exact(&db)).unwrap();
        let ranks =
            |d: &[f64]| -> Vec<f64> { doubled_ranks(d.to_vec()).unwrap().iter().map(|&r| f64::from(r)).collect() };
        let (mut ra, mut rb) = (ranks(&da), ranks(&db));
        standardise(&mut ra).unwrap();
        standardise(&mut rb).unwrap();
        let want = dot(&ra, &rb);
        assert!((got - want).abs() < 1e-13 && got.abs() > 1e-3, "{got} vs {want}");
    }

    #[test]
    fn small_and_constant_inputs_are_errors() {
        let exec = Exec::new();
        let two = [0.0f32, 1.0];
        let m = Matrix::new(&two, 2, 1).unwrap();
        assert_eq!(
            RsaVector::new(m, Rdm::Euclidean, Corr::Spearman, &exec),
            Err(Error::TooFewSamples { n: 2, min: 3 })
        );
        // An equilateral triangle: three equal distances.
        let tri = [0.0f32, 0.0, 1.0, 0.0, 0.5, 0.866_025_4];
        let m = Matrix::new(&tri, 3, 2).unwrap();
        let e = RsaVector::new(m, Rdm::Euclidean, Corr::Pearson, &exec);
        assert!(e.is_ok() || matches!(e, Err(Error::NumericalRange { .. })));
        let same = [1.0f32; 8];
        let m = Matrix::new(&same, 4, 2).unwrap();
        assert!(matches!(RsaVector::new(m, Rdm::Euclidean, Corr::Spearman, &exec), Err(Error::NumericalRange { .. })));
        let zero = [0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0];
        let m = Matrix::new(&zero, 3, 2).unwrap();
        assert_eq!(RsaVector::new(m, Rdm::Cosine, Corr::Spearman, &exec), Err(Error::ZeroNorm { row: 0 }));
    }
}
