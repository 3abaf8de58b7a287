//! Bounded top-k selection with a written, tested order.
//!
//! **Order contract.** Candidate `(s, i)` ranks before `(t, j)` when `s > t`, or when
//! `s == t` and `i < j`: higher score first, equal scores broken by lower index. The
//! order is total on finite scores, so results never depend on the order candidates
//! arrive in (tiles, threads, shards), and top-k is always a prefix of top-(k+1).
//! NaN never enters: inputs are checked before any score is computed.
//!
//! [`TopK`] lives in caller-provided arrays (no allocation), with the current k-th best as a
//! threshold so most candidates are rejected by one compare. Up to [`SORTED_MAX`] entries
//! it is a list sorted best first, which a new candidate enters by insertion from the worst
//! end; above that, a binary heap with the worst at the root. PERF: a kNN graph's k is
//! small (the paper's is 10), and there a candidate that passes the threshold lands on
//! average a few places from the end: fewer compares and no unpredictable left/right
//! choice per level, and `finish` has nothing left to sort (at N = 1024, k = 10 the kNN
//! graph took 0.96x the time of the heap, and the final merge 0.3x). Insertion costs O(k),
//! so large k keeps the heap's O(log k).

/// `true` when `(s, i)` ranks strictly before `(t, j)` under the order contract.
#[inline(always)]
pub fn ranks_before(s: f32, i: u32, t: f32, j: u32) -> bool {
    s > t || (s == t && i < j)
}

/// A placeholder that every real candidate outranks: `(-inf, u32::MAX)`. Arrays filled
/// with it are a valid full selection in either layout (see `TopK::resume`).
#[cfg(feature = "alloc")]
pub(crate) const SENTINEL: (f32, u32) = (f32::NEG_INFINITY, u32::MAX);

/// The largest capacity kept as a sorted list; larger ones are heaps.
pub const SORTED_MAX: usize = 16;

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

    /// A full selection over arrays that some selection of the same capacity left (its
    /// layout follows the capacity: see the module docs), e.g. arrays filled with
    /// [`SENTINEL`]. Lets a selection be put down and resumed later, or fed by several
    /// producers in turn.
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
        let cap = self.scores.len();
        match (self.len == cap).then(|| self.worst()).flatten() {
            Some(worst) => self.scores[worst],
            None => f32::NEG_INFINITY,
        }
    }

    /// Where the worst held candidate is once full: the list's end, or the heap's root.
    #[inline(always)]
    fn worst(&self) -> Option<usize> {
        let cap = self.scores.len();
        match cap {
            0 => None,
            1..=SORTED_MAX => Some(cap - 1),
            _ => Some(0),
        }
    }

    /// Offers one candidate; it is kept if it ranks among the best `capacity`.
    #[inline]
    pub fn offer(&mut self, score: f32, index: u32) {
        let cap = self.scores.len();
        if cap <= SORTED_MAX {
            self.insert(score, index);
        } else if self.len < cap {
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

    /// The sorted list's offer: the candidate takes the free place or the worst one's, then
    /// moves up past every candidate it ranks before.
    #[inline(always)]
    fn insert(&mut self, score: f32, index: u32) {
        let cap = self.scores.len();
        let mut pos = if self.len < cap {
            self.len += 1;
            self.len - 1
        } else if cap > 0 && ranks_before(score, index, self.scores[cap - 1], self.indices[cap - 1]) {
            cap - 1
        } else {
            return;
        };
        while pos > 0 && ranks_before(score, index, self.scores[pos - 1], self.indices[pos - 1]) {
            self.scores[pos] = self.scores[pos - 1];
            self.indices[pos] = self.indices[pos - 1];
            pos -= 1;
        }
        self.scores[pos] = score;
        self.indices[pos] = index;
    }

    /// Takes in the arrays of another full selection of the same capacity (in the layout
    /// that capacity has: see the module docs), e.g. a row's other half, keeping the best
    /// `capacity` of the two. A sorted list takes the other in one merge of the two lists
    /// (PERF: offering its entries one by one moved each about half the list; a fifth of a
    /// kNN graph's insertions at N = 1024, k = 10 were this); a heap is offered the other's
    /// entries, [`SENTINEL`]s left out. Callers merge disjoint selections (a candidate in
    /// both would be kept twice).
    #[cfg(feature = "alloc")]
    pub(crate) fn merge(&mut self, scores: &[f32], indices: &[u32]) {
        let cap = self.scores.len();
        debug_assert!(self.len == cap && scores.len() == cap && indices.len() == cap);
        if cap > SORTED_MAX {
            for (&s, &i) in scores.iter().zip(indices) {
                if i != SENTINEL.1 {
                    self.offer(s, i);
                }
            }
            return;
        }
        let (mut mine_s, mut mine_i) = ([0.0f32; SORTED_MAX], [0u32; SORTED_MAX]);
        mine_s[..cap].copy_from_slice(self.scores);
        mine_i[..cap].copy_from_slice(self.indices);
        let (mut a, mut b) = (0, 0);
        for pos in 0..cap {
            // Neither list runs out first: each holds `cap` entries, and `cap` are taken.
            if ranks_before(scores[b], indices[b], mine_s[a], mine_i[a]) {
                (self.scores[pos], self.indices[pos]) = (scores[b], indices[b]);
                b += 1;
            } else {
                (self.scores[pos], self.indices[pos]) = (mine_s[a], mine_i[a]);
                a += 1;
            }
        }
    }

    /// [`TopK::offer`] to a full selection of capacity up to [`SORTED_MAX`] (a sorted list)
    /// by AVX-512: the list is one vector of scores and one of indices; the place is the
    /// count of entries ranking before the candidate (a prefix), and the entries after it
    /// move up one lane (`valignd`). PERF: no loop and no branch: the scalar insertion's
    /// walk from the end, with its exit mispredicted once a candidate, was most of
    /// [`TopK::offer`]'s 8% of a kNN graph at N = 1024, k = 10.
    ///
    /// Returns the new [`TopK::threshold`], taken from the register: PERF: reading it back
    /// from memory waits for the masked store to complete (no store forwarding), which cost
    /// half as much again as the insertion.
    ///
    /// # Safety
    /// The CPU has AVX-512F (e.g. the kernels' backend is [`crate::Isa::X86V4`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn offer_full_avx512(&mut self, score: f32, index: u32) -> f32 {
        use core::arch::x86_64::*;
        let cap = self.scores.len();
        if cap > SORTED_MAX || self.len < cap || cap == 0 {
            self.offer(score, index);
            return self.threshold();
        }
        let live = ((1u32 << cap) - 1) as __mmask16;
        let (ps, pi) = (self.scores.as_mut_ptr(), self.indices.as_mut_ptr().cast::<i32>());
        // SAFETY: the masked loads and stores touch only the first `cap` lanes, which the
        // two slices hold; the caller's contract gives AVX-512F.
        unsafe {
            let (s, i) = (_mm512_maskz_loadu_ps(live, ps), _mm512_maskz_loadu_epi32(live, pi));
            let (vs, vi) = (_mm512_set1_ps(score), _mm512_set1_epi32(index as i32));
            // `ranks_before(entry, candidate)`, lane by lane: a prefix, the list being sorted.
            let before = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(live, s, vs)
                | (_mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(live, s, vs) & _mm512_cmplt_epu32_mask(i, vi));
            // The candidate's lane (none when all `cap` rank before it: the list is unchanged).
            let at = before.wrapping_add(1) & live;
            // Lane e > place takes entry e - 1; the place takes the candidate.
            let up_s = _mm512_castsi512_ps(_mm512_alignr_epi32::<15>(_mm512_castps_si512(s), _mm512_castps_si512(vs)));
            let up_i = _mm512_alignr_epi32::<15>(i, vi);
            let s = _mm512_mask_mov_ps(_mm512_mask_blend_ps(before, up_s, s), at, vs);
            let i = _mm512_mask_mov_epi32(_mm512_mask_blend_epi32(before, up_i, i), at, vi);
            _mm512_mask_storeu_ps(ps, live, s);
            _mm512_mask_storeu_epi32(pi, live, i);
            _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(cap as i32 - 1), s))
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

    /// Sorts the held candidates best first (heapsort in place; a list already is) and
    /// returns how many there are.
    pub fn finish(mut self) -> usize {
        let len = self.len;
        if self.scores.len() <= SORTED_MAX {
            return len;
        }
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

    /// A reproducible stream of numbers below `m` (a 64-bit LCG's high bits).
    #[cfg(feature = "alloc")]
    fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        }
    }

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

    /// Both layouts (sorted list up to SORTED_MAX, heap above), fresh and resumed over
    /// SENTINEL-filled arrays in several turns, against a full sort; scores from a small set
    /// so that ties are everywhere. Fails if either layout misorders, drops or keeps wrongly.
    #[test]
    #[cfg(feature = "alloc")]
    fn both_layouts_match_a_full_sort() {
        let mut next = numbers(0x2545_f491_4f6c_dd1du64);
        for cap in [1, 2, 3, 9, 10, 15, SORTED_MAX, SORTED_MAX + 1, 17, 31, 40] {
            for trial in 0..40 {
                let n = [0, 1, cap - 1, cap, cap + 1, 3 * cap, 200][trial % 7];
                let cands: alloc::vec::Vec<(f32, u32)> = (0..n)
                    .map(|i| (next(7) as f32 * 0.25 - 0.5, (i as u32).wrapping_mul(2_654_435_761) % 997))
                    .collect();
                let mut want = cands.clone();
                want.sort_by(|a, b| {
                    if ranks_before(a.0, a.1, b.0, b.1) {
                        core::cmp::Ordering::Less
                    } else {
                        core::cmp::Ordering::Greater
                    }
                });
                want.truncate(cap);
                let (mut s, mut i) = (alloc::vec![0.0f32; cap], alloc::vec![0u32; cap]);
                let mut t = TopK::new(&mut s, &mut i);
                for (seen, &(score, index)) in cands.iter().enumerate() {
                    t.offer(score, index);
                    // Once full, the threshold is the k-th best so far.
                    if seen + 1 >= cap {
                        let mut sofar = cands[..=seen].to_vec();
                        sofar.sort_by(|a, b| b.0.total_cmp(&a.0));
                        assert_eq!(t.threshold(), sofar[cap - 1].0, "cap {cap} after {seen}");
                    }
                }
                let len = t.finish();
                assert_eq!(len, want.len(), "cap {cap} n {n}");
                let got: alloc::vec::Vec<(f32, u32)> = s[..len].iter().copied().zip(i[..len].iter().copied()).collect();
                assert_eq!(got, want, "cap {cap} n {n} fresh");
                // Resumed over sentinels, fed in three turns (as the engine's producers do).
                let (mut s, mut i) = (alloc::vec![SENTINEL.0; cap], alloc::vec![SENTINEL.1; cap]);
                for part in cands.chunks(n.div_ceil(3).max(1)) {
                    let mut t = TopK::resume(&mut s, &mut i);
                    for &(score, index) in part {
                        t.offer(score, index);
                    }
                }
                TopK::resume(&mut s, &mut i).finish();
                let kept = want.len();
                let got: alloc::vec::Vec<(f32, u32)> =
                    s[..kept].iter().copied().zip(i[..kept].iter().copied()).collect();
                assert_eq!(got, want, "cap {cap} n {n} resumed");
                assert!(s[kept..].iter().zip(&i[kept..]).all(|(&s, &i)| (s, i) == SENTINEL));
            }
        }
    }

    /// `merge` against offering the other selection's entries one by one, on disjoint
    /// lists (and heaps) with ties across them and SENTINEL fill (fewer than k real
    /// candidates in either or both). Fails if the merge misorders, drops or duplicates.
    #[test]
    #[cfg(feature = "alloc")]
    fn merging_two_lists_equals_offering_one_to_the_other() {
        let mut next = numbers(0x9e37_79b9_7f4a_7c15u64);
        for cap in (1..=SORTED_MAX).chain([SORTED_MAX + 1, 24]) {
            for trial in 0..60 {
                // Candidates with even indices go to one list, odd to the other.
                let fill = |next: &mut dyn FnMut(u64) -> u64, parity: u32, count: usize| {
                    let (mut s, mut i) = (alloc::vec![SENTINEL.0; cap], alloc::vec![SENTINEL.1; cap]);
                    let mut t = TopK::resume(&mut s, &mut i);
                    for c in 0..count {
                        t.offer(next(5) as f32 - 2.0, 2 * (c as u32 * 7 % 101) + parity);
                    }
                    (s, i)
                };
                let (na, nb) = ([0, cap / 2, cap, 3 * cap][trial % 4], [0, 1, cap, 2 * cap + 1][trial / 4 % 4]);
                let (a_s, a_i) = fill(&mut next, 0, na);
                let (b_s, b_i) = fill(&mut next, 1, nb);
                let (mut want_s, mut want_i) = (a_s.clone(), a_i.clone());
                let mut t = TopK::resume(&mut want_s, &mut want_i);
                for (&s, &i) in b_s.iter().zip(&b_i) {
                    if i != SENTINEL.1 {
                        t.offer(s, i);
                    }
                }
                let (mut got_s, mut got_i) = (a_s.clone(), a_i.clone());
                TopK::resume(&mut got_s, &mut got_i).merge(&b_s, &b_i);
                assert_eq!((got_s, got_i), (want_s, want_i), "cap {cap} trial {trial}");
            }
        }
    }

    /// The AVX-512 insertion against the scalar one, offer by offer, on full lists of every
    /// capacity up to SORTED_MAX (resumed over SENTINELs, as the kNN engine's are) and on a
    /// heap-sized one (which falls back), with scores from a small set so that ties, ties
    /// at the worst entry and candidates that do not enter are everywhere. Fails if a lane
    /// moves wrongly, the place is off by one, or a store reaches past the list (the
    /// guard entries after it must stay untouched). Skipped on a CPU without AVX-512F.
    #[test]
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    fn avx512_insertion_equals_the_scalar_one() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut next = numbers(0xd1b5_4a32_d192_ed03u64);
        for cap in (1..=SORTED_MAX).chain([SORTED_MAX + 1, 24]) {
            for trial in 0..20 {
                let n = [cap / 2, cap, 3 * cap + 1, 200][trial % 4];
                let (mut want_s, mut want_i) = (alloc::vec![SENTINEL.0; cap], alloc::vec![SENTINEL.1; cap]);
                // The list is followed by guard entries that a wide store must not touch.
                let (mut got_s, mut got_i) = (alloc::vec![7.5f32; cap + 16], alloc::vec![77u32; cap + 16]);
                got_s[..cap].fill(SENTINEL.0);
                got_i[..cap].fill(SENTINEL.1);
                for c in 0..n {
                    let (score, index) = (next(6) as f32 * 0.5 - 1.0, next(40) as u32);
                    TopK::resume(&mut want_s, &mut want_i).offer(score, index);
                    // SAFETY: AVX-512F was detected above.
                    let bar =
                        unsafe { TopK::resume(&mut got_s[..cap], &mut got_i[..cap]).offer_full_avx512(score, index) };
                    assert_eq!((&got_s[..cap], &got_i[..cap]), (&want_s[..], &want_i[..]), "cap {cap} offer {c}");
                    assert_eq!(bar.to_bits(), TopK::resume(&mut want_s, &mut want_i).threshold().to_bits());
                }
                assert!(got_s[cap..].iter().all(|&s| s == 7.5) && got_i[cap..].iter().all(|&i| i == 77), "cap {cap}");
            }
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
