//! kNN graphs: owned ([`KnnGraph`]) and borrowed ([`GraphRef`]) neighbour lists, and the
//! merge of partial lists computed on database shards.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result, try_vec};
use crate::isa::Isa;
use crate::topk::TopK;

/// Neighbour lists of `rows` queries, `k` per row, best first (see [`crate::topk`] for
/// the order), with the similarity of each neighbour and the backend that computed them
/// (none for a [`merge`] of lists).
#[derive(Debug, Clone, PartialEq)]
pub struct KnnGraph {
    pub(crate) rows: usize,
    pub(crate) k: usize,
    pub(crate) indices: Vec<u32>,
    pub(crate) scores: Vec<f32>,
    pub(crate) isa: Option<Isa>,
}

impl KnnGraph {
    /// Number of query rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Neighbours per row.
    pub fn k(&self) -> usize {
        self.k
    }
    /// All neighbour indices, row-major (`rows * k`).
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }
    /// All similarities, row-major, matching [`KnnGraph::indices`].
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }
    /// Neighbours of row `i`, best first.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }
    /// Similarities of row `i`'s neighbours.
    pub fn row_scores(&self, i: usize) -> &[f32] {
        &self.scores[i * self.k..(i + 1) * self.k]
    }
    /// The backend that computed the scores; `None` for a [`merge`] (which only compares them).
    pub fn isa(&self) -> Option<Isa> {
        self.isa
    }
    /// The graph of the same rows reordered by `perm` (row i becomes row `perm[i]`, and
    /// every index is relabelled to match), as a graph of the permuted rows would be up to
    /// ties: neighbours of equal similarity keep their order here, where recomputing would
    /// put the lower new index first. `perm` must be a permutation of `0..rows`.
    pub fn permuted(&self, perm: &[u32]) -> KnnGraph {
        let mut inverse = vec![0u32; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p as usize] = i as u32;
        }
        let (mut indices, mut scores) = (Vec::with_capacity(self.indices.len()), Vec::with_capacity(self.scores.len()));
        for &p in perm {
            indices.extend(self.row(p as usize).iter().map(|&j| inverse[j as usize]));
            scores.extend_from_slice(self.row_scores(p as usize));
        }
        KnnGraph { rows: self.rows, k: self.k, indices, scores, isa: self.isa }
    }
    /// A borrowed view, e.g. for the metrics or [`merge`].
    pub fn as_ref(&self) -> GraphRef<'_> {
        GraphRef { rows: self.rows, width: self.k, indices: &self.indices, scores: Some(&self.scores) }
    }
    /// Keeps the first `k` neighbours of every row (`k <= self.k()`), in place.
    pub(crate) fn truncate(&mut self, k: usize) {
        if k >= self.k {
            return;
        }
        for i in 0..self.rows {
            self.indices.copy_within(i * self.k..i * self.k + k, i * k);
            self.scores.copy_within(i * self.k..i * self.k + k, i * k);
        }
        self.indices.truncate(self.rows * k);
        self.scores.truncate(self.rows * k);
        self.k = k;
    }
    /// Adds `offset` to every index: turns a shard's local row numbers into global ones.
    pub fn offset_indices(&mut self, offset: u32) -> Result<()> {
        for (pos, i) in self.indices.iter_mut().enumerate() {
            *i = i.checked_add(offset).ok_or(Error::InvalidGraph { row: pos / self.k, index: *i })?;
        }
        Ok(())
    }
}

/// Borrowed neighbour lists: `rows` rows of `width` indices (best first), optionally
/// with their scores. Graphs from other tools (e.g. the C ABI) enter the crate this way.
#[derive(Debug, Clone, Copy)]
pub struct GraphRef<'a> {
    rows: usize,
    width: usize,
    indices: &'a [u32],
    scores: Option<&'a [f32]>,
}

impl<'a> GraphRef<'a> {
    /// Wraps `rows * width` indices (row-major). Scores may be added with [`GraphRef::with_scores`].
    pub fn new(indices: &'a [u32], rows: usize, width: usize) -> Result<Self> {
        let needed = rows.checked_mul(width).ok_or(Error::ShapeOverflow)?;
        if indices.len() < needed {
            return Err(Error::BufferTooShort { needed, len: indices.len() });
        }
        Ok(Self { rows, width, indices: &indices[..needed], scores: None })
    }
    /// Attaches the scores matching the indices (needed by [`merge`]).
    pub fn with_scores(mut self, scores: &'a [f32]) -> Result<Self> {
        let needed = self.indices.len();
        if scores.len() < needed {
            return Err(Error::BufferTooShort { needed, len: scores.len() });
        }
        self.scores = Some(&scores[..needed]);
        Ok(self)
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Neighbours stored per row.
    pub fn width(&self) -> usize {
        self.width
    }
    /// The first `k` neighbours of row `i`.
    pub fn row(&self, i: usize, k: usize) -> &'a [u32] {
        &self.indices[i * self.width..i * self.width + k]
    }
    /// Every index from row `i`'s first on (row `i`, then the rows after it).
    pub(crate) fn rows_from(&self, i: usize) -> &'a [u32] {
        &self.indices[i * self.width..]
    }
    /// Scores, when attached.
    pub fn scores(&self) -> Option<&'a [f32]> {
        self.scores
    }
}

/// Merges partial top-k lists of the same queries (e.g. one per database shard, with
/// global indices) into the top `k` of their union. The result equals a single pass over
/// the whole database, whatever the shard boundaries, thanks to the order contract.
///
/// Every part needs scores and the same row count; `k` may not exceed the total width.
/// An index present twice in one row is reported as [`Error::InvalidGraph`], a NaN or
/// infinite score as [`Error::NonFinite`] (row, position in the part's row), and a part
/// whose row is not best first (a higher score after a lower one, or equal scores with
/// the higher index first) as [`Error::InvalidParameter`].
pub fn merge(parts: &[GraphRef<'_>], k: usize) -> Result<KnnGraph> {
    let first = parts.first().ok_or(Error::GraphMismatch)?;
    let rows = first.rows;
    let total: usize = parts.iter().map(|p| p.width).sum();
    if parts.iter().any(|p| p.rows != rows || p.scores.is_none()) {
        return Err(Error::GraphMismatch);
    }
    if k == 0 || k > total {
        return Err(Error::InvalidK { k, max: total });
    }
    let len = rows.checked_mul(k).ok_or(Error::ShapeOverflow)?;
    let mut indices = try_vec(len, 0u32, "the merged N x k neighbour indices")?;
    let mut scores = try_vec(len, 0.0f32, "the merged N x k neighbour scores")?;
    let mut seen = Vec::new();
    for (r, (out_i, out_s)) in indices.chunks_exact_mut(k).zip(scores.chunks_exact_mut(k)).enumerate() {
        let mut heap = TopK::new(out_s, out_i);
        for p in parts {
            let row = r * p.width..(r + 1) * p.width;
            let (ps, pi) = (&p.scores.unwrap_or_default()[row.clone()], &p.indices[row]);
            check_part_row(r, ps, pi)?;
            for (&s, &i) in ps.iter().zip(pi) {
                heap.offer(s, i);
            }
        }
        heap.finish();
        if let Some(index) = find_invalid(out_i, usize::MAX, &mut seen) {
            return Err(Error::InvalidGraph { row: r, index });
        }
    }
    Ok(KnnGraph { rows, k, indices, scores, isa: None })
}

/// A part's row for [`merge`]: finite scores, best first by the order contract.
fn check_part_row(row: usize, scores: &[f32], indices: &[u32]) -> Result<()> {
    if let Some(col) = scores.iter().position(|s| !s.is_finite()) {
        return Err(Error::NonFinite { row, col });
    }
    let best_first = |a: (f32, u32), b: (f32, u32)| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
    let pairs = scores.iter().copied().zip(indices.iter().copied());
    if pairs.clone().zip(pairs.skip(1)).any(|(a, b)| !best_first(a, b) && a.1 != b.1) {
        return Err(Error::InvalidParameter {
            what: "merge: every part's rows must be best first (higher score first, equal scores by lower index)",
        });
    }
    Ok(())
}

/// The first index in `row` that is `>= n` or repeats an earlier one, if any.
pub(crate) fn find_invalid(row: &[u32], n: usize, scratch: &mut Vec<u32>) -> Option<u32> {
    if let Some(&i) = row.iter().find(|&&i| i as usize >= n) {
        return Some(i);
    }
    if row.len() <= 32 {
        (1..row.len()).find(|&a| row[..a].contains(&row[a])).map(|a| row[a])
    } else {
        scratch.clear();
        scratch.extend_from_slice(row);
        scratch.sort_unstable();
        scratch.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
    }
}
