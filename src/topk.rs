//! Bounded top-k selection with a written, tested order.
//!
//! **Order contract.** Candidate `(s, i)` ranks before `(t, j)` when `s > t`, or when
//! `s == t` and `i < j`: higher score first, equal scores broken by lower index. The
//! order is total on finite scores, so results never depend on the order candidates
//! arrive in (tiles, threads, shards), and top-k is always a prefix of top-(k+1).
//! NaN never enters: inputs are checked before any score is computed.
//!
//! [`TopK`] is a binary heap that lives in caller-provided arrays (no allocation), with
//! the current k-th best as a threshold so most candidates are rejected by one compare.

/// `true` when `(s, i)` ranks strictly before `(t, j)` under the order contract.
#[inline(always)]
pub fn ranks_before(s: f32, i: u32, t: f32, j: u32) -> bool {
    s > t || (s == t && i < j)
}

/// A placeholder that every real candidate outranks: `(-inf, u32::MAX)`. Arrays filled
/// with it are a valid full heap (see `TopK::resume`).
#[cfg(feature = "alloc")]
pub(crate) const SENTINEL: (f32, u32) = (f32::NEG_INFINITY, u32::MAX);

/// The best `capacity` candidates seen so far, stored in two borrowed arrays.
#[derive(Debug)]
pub struct TopK<'a> {
    scores: &'a mut [f32],
    indices: &'a mut [u32],
    len: usize,
}

impl<'a> TopK<'a> {
    /// An empty selection holding up to `min(scores.len(), indices.len())` candidates.
    pub fn new(scores: &'a mut [f32], indices: &'a mut [u32]) -> Self {
        let cap = scores.len().min(indices.len());
        Self { scores: &mut scores[..cap], indices: &mut indices[..cap], len: 0 }
    }

    /// A full selection over arrays that already form a heap under this order (the root,
    /// index 0, being the worst), e.g. arrays filled with [`SENTINEL`]. Lets a selection be
    /// put down and resumed later, or fed by several producers in turn.
    #[cfg(feature = "alloc")]
    pub(crate) fn resume(scores: &'a mut [f32], indices: &'a mut [u32]) -> Self {
        let cap = scores.len().min(indices.len());
        Self { scores: &mut scores[..cap], indices: &mut indices[..cap], len: cap }
    }

    /// How many candidates are held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no candidate is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A score below which no candidate can enter: the worst held score once full,
    /// `-inf` before. A candidate equal to it may still enter on a lower index.
    #[inline(always)]
    pub fn threshold(&self) -> f32 {
        if self.len == self.scores.len() && self.len > 0 { self.scores[0] } else { f32::NEG_INFINITY }
    }

    /// Offers one candidate; it is kept if it ranks among the best `capacity`.
    #[inline]
    pub fn offer(&mut self, score: f32, index: u32) {
        let cap = self.scores.len();
        if self.len < cap {
            // Sift up: the root holds the worst candidate.
            let mut pos = self.len;
            self.len += 1;
            while pos > 0 {
                let parent = (pos - 1) / 2;
                if ranks_before(self.scores[parent], self.indices[parent], score, index) {
                    self.scores[pos] = self.scores[parent];
                    self.indices[pos] = self.indices[parent];
                    pos = parent;
                } else {
                    break;
                }
            }
            self.scores[pos] = score;
            self.indices[pos] = index;
        } else if cap > 0 && ranks_before(score, index, self.scores[0], self.indices[0]) {
            self.sift_down(score, index, cap);
        }
    }

    /// Places `(score, index)` at the root and restores the heap within `0..end`.
    #[inline]
    fn sift_down(&mut self, score: f32, index: u32, end: usize) {
        let mut pos = 0;
        loop {
            let left = 2 * pos + 1;
            if left >= end {
                break;
            }
            let right = left + 1;
            // The worse child moves up.
            let child = if right < end
                && ranks_before(self.scores[left], self.indices[left], self.scores[right], self.indices[right])
            {
                right
            } else {
                left
            };
            if ranks_before(score, index, self.scores[child], self.indices[child]) {
                self.scores[pos] = self.scores[child];
                self.indices[pos] = self.indices[child];
                pos = child;
            } else {
                break;
            }
        }
        self.scores[pos] = score;
        self.indices[pos] = index;
    }

    /// Sorts the held candidates best first (heapsort in place) and returns how many there are.
    pub fn finish(mut self) -> usize {
        let len = self.len;
        for end in (1..len).rev() {
            // The root is the worst of 0..=end: move it behind the heap.
            let (s, i) = (self.scores[end], self.indices[end]);
            self.scores[end] = self.scores[0];
            self.indices[end] = self.indices[0];
            self.sift_down(s, i, end);
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(cands: &[(f32, u32)], k: usize) -> ([f32; 8], [u32; 8], usize) {
        let (mut s, mut i) = ([0.0f32; 8], [0u32; 8]);
        let mut t = TopK::new(&mut s[..k], &mut i[..k]);
        for &(score, index) in cands {
            t.offer(score, index);
        }
        let n = t.finish();
        (s, i, n)
    }

    #[test]
    fn keeps_best_with_ties_by_lower_index() {
        let cands = [(1.0, 5), (3.0, 2), (2.0, 9), (3.0, 1), (2.0, 4), (0.5, 0), (2.0, 3)];
        let (s, i, n) = select(&cands, 4);
        assert_eq!(n, 4);
        assert_eq!(&i[..4], &[1, 2, 3, 4]);
        assert_eq!(&s[..4], &[3.0, 3.0, 2.0, 2.0]);
        // Arrival order does not matter.
        let mut rev = cands;
        rev.reverse();
        assert_eq!(select(&rev, 4).1[..4], i[..4]);
    }

    #[test]
    fn prefix_property_and_partial_fill() {
        let cands = [(0.1, 7), (0.9, 3), (0.5, 1), (0.5, 0)];
        let (_, i6, n6) = select(&cands, 6);
        assert_eq!(n6, 4);
        assert_eq!(&i6[..4], &[3, 0, 1, 7]);
        for k in 1..=4 {
            assert_eq!(select(&cands, k).1[..k], i6[..k]);
        }
    }

    #[test]
    fn threshold_tracks_the_kth_best() {
        let (mut s, mut i) = ([0.0f32; 2], [0u32; 2]);
        let mut t = TopK::new(&mut s, &mut i);
        assert_eq!(t.threshold(), f32::NEG_INFINITY);
        t.offer(1.0, 0);
        assert_eq!(t.threshold(), f32::NEG_INFINITY);
        t.offer(2.0, 1);
        assert_eq!(t.threshold(), 1.0);
        t.offer(3.0, 2);
        assert_eq!(t.threshold(), 2.0);
        assert_eq!(t.len(), 2);
    }
}
