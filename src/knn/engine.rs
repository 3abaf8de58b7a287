//! The blocked exact-kNN loop of one thread: score blocks feed per-row top-k heaps.
//!
//! The unit of work is a super-block of query rows, packed once. For a self graph only
//! pairs i < j are scored (candidates from about the super-block's first row on, and in
//! blocks that cross the diagonal only tiles holding a pair above it), so each pair is
//! offered once: it goes
//! to row i's heap (in the output) and to row j's heap in [`Private`], one set shared by all
//! threads in stripes of rows, each locked only around one score block's offers to it.
//! [`merge_private`] then folds the private heaps into the output. A search in both
//! directions ([`Pairs::Both`]) scores every pair of two matrices once the same way; there
//! the private heaps are the database rows' own lists. A row's two heaps share one entry
//! bar ([`Bars`]), read without a lock. Heaps start full of [`SENTINEL`]s;
//! the order contract makes every merge exact, so neither the split between threads nor
//! the schedule changes a result. The transposed offers rely on score(i, j) ==
//! score(j, i) bit for bit (see [`crate::kernels`]).

use alloc::vec::Vec;
use core::ops::{DerefMut, Range};
use core::sync::atomic::{AtomicU32, Ordering};

use pulp::{Simd, WithSimd};

use crate::element::Element;
use crate::error::{Result, out_of_memory, try_vec};
use crate::isa::Isa;
use crate::kernels::{Tiled, block, candidate_block_rows, tiled};
use crate::matrix::Matrix;
use crate::pool::Lock;
use crate::topk::{SENTINEL, TopK};

/// What every thread of one kNN call shares.
pub(crate) struct Job<'a, T> {
    pub queries: Matrix<'a, T>,
    pub database: Matrix<'a, T>,
    pub k: usize,
    /// Which pairs are scored and whom each score is offered to.
    pub pairs: Pairs,
    /// Cosine: per-row inverse norms; a score becomes `dot * (inv_q * inv_d)`.
    pub scales: Option<(&'a [f32], &'a [f32])>,
    /// The backend, which packing and heap insertion follow too (see `pack::panels`,
    /// [`offer`]); available on this CPU (see `Exec::resolve_isa`).
    pub isa: Isa,
}

/// Which pairs a [`Job`] scores, and whom each score is offered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pairs {
    /// Every (query, database row) pair, offered to the query only: a search.
    Search,
    /// A self graph (queries are the database): pairs i < j only, offered to row i and,
    /// transposed, to row j in [`Private`]; self is excluded.
    Within,
    /// Every (query, database row) pair, offered to the query and, transposed, to the
    /// database row in [`Private`]: a search in both directions, nothing excluded.
    Both,
}

impl Pairs {
    /// Whether scores are also offered to the database rows' heaps in [`Private`].
    pub(crate) fn transposed(self) -> bool {
        self != Pairs::Search
    }
}

/// Output rows of one super-block: `k` heap entries per row, initially [`SENTINEL`]s.
pub(crate) struct Unit<'o> {
    pub q0: usize,
    pub indices: &'o mut [u32],
    pub scores: &'o mut [f32],
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// Bytes of private heaps allocated on this thread (a test's measure of their memory).
    pub(crate) static PRIVATE_BYTES: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// Rows of [`Private`] behind one lock. Small enough that workers rarely meet on one
/// stripe, large enough that a candidate block spans one or two.
const STRIPE_ROWS: usize = 256;

/// Heaps for every database row, fed by the transposed half of each score: one set for all
/// workers (shared through [`Private::stripes`]), so its memory, N x (8k + 4) bytes, does
/// not grow with the worker count.
pub(crate) struct Private {
    k: usize,
    scores: Vec<f32>,
    indices: Vec<u32>,
    /// Each row's entry bar, checked before any heap work (see [`Bars`]).
    bars: Vec<AtomicU32>,
    /// Whether the rows are the queries too (a self graph), whose output heaps share the bars.
    within: bool,
}

impl Private {
    /// Empty heaps for `rows` rows; `rows * k` must not overflow (the output's size). With
    /// `within` (a self graph) the rows are the queries too, and their bars are shared with
    /// the queries' output heaps.
    pub(crate) fn new(rows: usize, k: usize, within: bool) -> Result<Self> {
        const WHAT: &str = "the N x k heaps for transposed scores";
        #[cfg(all(test, feature = "std"))]
        PRIVATE_BYTES.with(|b| b.set(b.get() + rows * (k * 8 + 4)));
        let mut bars = Vec::new();
        bars.try_reserve_exact(rows).map_err(|_| out_of_memory::<AtomicU32>(rows, WHAT))?;
        bars.extend((0..rows).map(|_| AtomicU32::new(SENTINEL.0.to_bits())));
        Ok(Self {
            k,
            scores: try_vec(rows * k, SENTINEL.0, WHAT)?,
            indices: try_vec(rows * k, SENTINEL.1, WHAT)?,
            bars,
            within,
        })
    }

    /// The heaps as the lists of their rows, each sorted best first: the database side of
    /// a search in both directions, which needs no merge.
    pub(crate) fn into_lists(self) -> (Vec<u32>, Vec<f32>) {
        let Private { k, mut scores, mut indices, .. } = self;
        for (s, i) in scores.chunks_exact_mut(k).zip(indices.chunks_exact_mut(k)) {
            TopK::resume(s, i).finish();
        }
        (indices, scores)
    }

    /// The heaps as stripes of [`STRIPE_ROWS`] rows, each behind its own lock, for the
    /// workers to share.
    pub(crate) fn stripes(&mut self) -> Result<Stripes<'_>> {
        let k = self.k;
        let count = self.bars.len().div_ceil(STRIPE_ROWS);
        let mut locks = Vec::new();
        locks.try_reserve_exact(count).map_err(|_| out_of_memory::<Lock<Stripe<'_>>>(count, "the heap stripes"))?;
        let parts = self.scores.chunks_mut(STRIPE_ROWS * k).zip(self.indices.chunks_mut(STRIPE_ROWS * k));
        for (s, (scores, indices)) in parts.enumerate() {
            locks.push(Lock::new(Stripe { k, r0: s * STRIPE_ROWS, scores, indices }));
        }
        let bars = Bars(&self.bars);
        Ok(Stripes { locks, bars, rows: self.within.then_some(bars) })
    }
}

/// The entry bar of each row of [`Private`], read and raised by every worker without a
/// lock: a score below it is not offered. In a self graph a row has two heaps, its output
/// heap (fed pairs (i, j > i) by the worker that owns the row) and its private heap (fed
/// (i, j < i) by every worker), and both share the row's bar.
///
/// A heap's worst score, once it holds k candidates, is a bar for its row as a whole: the
/// k candidates ranking before it are the row's, so a score below it is not in the row's
/// top k, whichever heap it was offered to. PERF: each half of a self graph's row used to
/// start from nothing and fill its own top k (at N = 1024, k = 10, about 40 insertions a row
/// besides the merge); with the other half's bar, 30. With `TopK::merge` for the
/// merge, the graph took 0.93x the time on one thread and 0.92x on two (paired runs).
///
/// Exactness does not need these reads to be current, only true: a bar is written as
/// some heap's worst score at some time, so any value read, however stale, is below k of
/// the row's candidates. Plain loads and stores suffice (a race that lowers a bar costs
/// only a few insertions), and no CPU needs an atomic read-modify-write.
#[derive(Clone, Copy)]
pub(crate) struct Bars<'p>(&'p [AtomicU32]);

impl Bars<'_> {
    /// Row `row`'s bar: `-inf` until a heap of the row is full.
    #[inline(always)]
    fn get(self, row: usize) -> f32 {
        f32::from_bits(self.0[row].load(Ordering::Relaxed))
    }

    /// Raises row `row`'s bar to `bar` (a worst score of one of its full heaps) if higher.
    #[inline(always)]
    fn raise(self, row: usize, bar: f32) {
        if bar > self.get(row) {
            self.0[row].store(bar.to_bits(), Ordering::Relaxed);
        }
    }
}

/// [`Private`]'s heaps, shared by the workers one stripe of rows at a time.
pub(crate) struct Stripes<'p> {
    locks: Vec<Lock<Stripe<'p>>>,
    /// The private heaps' bars.
    bars: Bars<'p>,
    /// The same bars in a self graph, where they are the query rows' too.
    rows: Option<Bars<'p>>,
}

impl<'p> Stripes<'p> {
    /// The stripe holding `row`, locked, and the end of its rows (at most `end`).
    #[inline]
    fn lock(&self, row: usize, end: usize) -> (impl DerefMut<Target = Stripe<'p>> + '_, usize) {
        let s = row / STRIPE_ROWS;
        (self.locks[s].lock(), end.min((s + 1) * STRIPE_ROWS))
    }
}

/// Rows `r0..` of [`Private`]'s heaps.
struct Stripe<'p> {
    k: usize,
    r0: usize,
    scores: &'p mut [f32],
    indices: &'p mut [u32],
}

impl Stripe<'_> {
    /// Offers to the stripe's row `row` (counted from `r0`); returns the heap's new worst.
    #[inline]
    fn offer(&mut self, row: usize, score: f32, index: u32, isa: Isa) -> f32 {
        let span = row * self.k..(row + 1) * self.k;
        let mut heap = TopK::resume(&mut self.scores[span.clone()], &mut self.indices[span]);
        offer(&mut heap, score, index, isa)
    }
}

/// [`TopK::offer`], by AVX-512 on that backend (see [`TopK::offer_full_avx512`]); returns
/// the heap's new threshold.
#[inline(always)]
fn offer(heap: &mut TopK<'_>, score: f32, index: u32, isa: Isa) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::X86V4 {
        // SAFETY: a job's backend is available on this CPU (see `Job::isa`), and x86-v4
        // includes AVX-512F.
        return unsafe { heap.offer_full_avx512(score, index) };
    }
    let _ = isa;
    heap.offer(score, index);
    heap.threshold()
}

/// Folds the private heaps into the output heaps, then sorts every row best first.
pub(crate) fn merge_private(k: usize, indices: &mut [u32], scores: &mut [f32], private: Option<&Private>) {
    for (row, (out_i, out_s)) in indices.chunks_exact_mut(k).zip(scores.chunks_exact_mut(k)).enumerate() {
        let mut heap = TopK::resume(out_s, out_i);
        if let Some(p) = private {
            let span = row * k..(row + 1) * k;
            heap.merge(&p.scores[span.clone()], &p.indices[span]);
        }
        heap.finish();
        debug_assert!(!out_i.contains(&SENTINEL.1), "fewer than k candidates reached row {row}");
    }
}

/// Runs super-blocks taken from `units` on one backend (one dispatch per thread).
pub(crate) struct RunUnits<'a, 'u, 'o, 'p, T> {
    pub job: &'a Job<'a, T>,
    /// Largest super-block, in rows.
    pub super_block: usize,
    pub units: &'u mut dyn Iterator<Item = Unit<'o>>,
    /// Required when `job.pairs.transposed()`.
    pub private: Option<&'u Stripes<'p>>,
}

impl<T: Element> WithSimd for RunUnits<'_, '_, '_, '_, T> {
    type Output = Result<()>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Result<()> {
        tiled(simd, self)
    }
}

impl<T: Element> Tiled for RunUnits<'_, '_, '_, '_, T> {
    type Output = Result<()>;

    #[inline(always)]
    fn run<S: Simd, const MR: usize, const NRV: usize>(self, simd: S) -> Result<()> {
        run::<S, MR, NRV, T>(simd, self)
    }
}

/// Fails only when the worker's buffers are refused, before it takes a unit.
#[inline(always)]
fn run<S: Simd, const MR: usize, const NRV: usize, T: Element>(simd: S, op: RunUnits<'_, '_, '_, '_, T>) -> Result<()> {
    let RunUnits { job, super_block, units, private } = op;
    let lanes = S::F32_LANES;
    let cb = candidate_block_rows(lanes);
    let mut scratch = block::Scratch::new(lanes, super_block, job.queries.cols())?;
    let n = job.database.rows();
    for unit in units {
        let (q0, qn) = (unit.q0, unit.indices.len() / job.k);
        block::pack_queries(lanes, &job.queries, q0, qn, job.isa, &mut scratch);
        let mut heaps: Vec<TopK<'_>> = Vec::new();
        heaps.try_reserve_exact(qn).map_err(|_| out_of_memory::<TopK<'_>>(qn, "a super-block's heap handles"))?;
        heaps.extend(
            unit.scores
                .chunks_exact_mut(job.k)
                .zip(unit.indices.chunks_exact_mut(job.k))
                .map(|(s, i)| TopK::resume(s, i)),
        );
        // A self graph scores only candidates from q0 on (pairs with j > i are computed and
        // offered, both ways; `upper` skips the tiles that hold none). Its blocks start on
        // a multiple of NR at or below q0 rather than at q0 itself: PERF: a block's width is
        // padded to NR columns, and at N = 1024 blocks cut at the super-blocks' own edges
        // (q0 + 266, ...) left a 10-column block and ragged ends per unit, 6% of the
        // multiply-adds wasted on padding; on NR's grid only the last block is padded.
        let within = job.pairs == Pairs::Within;
        let nr = NRV * lanes;
        let mut c0 = if within { q0 - q0 % nr } else { 0 };
        while c0 < n {
            let cn = cb.min(n - c0);
            let upper = within.then_some((q0, c0));
            let ldc = block::scores::<S, MR, NRV, T>(simd, qn, &job.database, c0, cn, upper, job.isa, &mut scratch);
            let scores: &mut [f32] = &mut scratch.scores;
            if let Some((q_scale, d_scale)) = job.scales {
                apply_scales(simd, scores, ldc, &q_scale[q0..q0 + qn], &d_scale[c0..c0 + cn]);
            }
            feed_rows(simd, job, scores, ldc, q0, c0, cn, &mut heaps, private.and_then(|p| p.rows));
            if let Some(stripes) = private {
                // Each stripe is locked only for this block's offers to its rows.
                let mut c = c0;
                while c < c0 + cn {
                    let (mut stripe, end) = stripes.lock(c, c0 + cn);
                    let cols = c - c0..end - c0;
                    feed_columns(
                        simd,
                        &mut stripe,
                        stripes.bars,
                        scores,
                        ldc,
                        q0,
                        qn,
                        c0,
                        cols,
                        within,
                        job.k,
                        job.isa,
                    );
                    c = end;
                }
            }
            c0 += cn;
        }
    }
    scratch.keep();
    Ok(())
}

/// Cosine: `score = dot * (inv_q * inv_d)`, a product that is symmetric in (i, j).
#[inline(always)]
fn apply_scales<S: Simd>(simd: S, scores: &mut [f32], ldc: usize, q_scale: &[f32], d_scale: &[f32]) {
    let cn = d_scale.len();
    for (r, &qi) in q_scale.iter().enumerate() {
        let (rv, rt) = S::as_mut_simd_f32s(&mut scores[r * ldc..r * ldc + cn]);
        let (dv, dt) = S::as_simd_f32s(d_scale);
        let qv = simd.splat_f32s(qi);
        for (x, d) in rv.iter_mut().zip(dv) {
            *x = simd.mul_f32s(*x, simd.mul_f32s(qv, *d));
        }
        for (x, d) in rt.iter_mut().zip(dt) {
            *x *= qi * d;
        }
    }
}

/// Offers each query row's scores to that row's heap.
///
/// PERF: a row whose block holds nothing above its bar costs one vector max per vector and
/// a reduction. Otherwise the block's own scores give a second bar: lane l of the row's
/// vectors is a group of candidates, and the k-th largest of the groups' maxima is at most
/// the block's k-th best score, so a score below it has k candidates of the block ranking
/// before it and cannot be in the row's top k. While a row's heap is still weak (its first
/// blocks) this keeps most of a block away from the heap: at N = 1024, k = 10, most heap
/// insertions happened in a row's first block, each a sift through the heap.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn feed_rows<S: Simd, T>(
    simd: S,
    job: &Job<'_, T>,
    scores: &[f32],
    ldc: usize,
    q0: usize,
    c0: usize,
    cn: usize,
    heaps: &mut [TopK<'_>],
    bars: Option<Bars<'_>>,
) {
    let lanes = S::F32_LANES;
    let group = 4 * lanes;
    let full = cn / lanes;
    let within = job.pairs == Pairs::Within;
    let diagonal = within && c0 < q0 + heaps.len();
    for (r, heap) in heaps.iter_mut().enumerate() {
        let row = &scores[r * ldc..r * ldc + cn];
        let query = q0 + r;
        // In a self graph's blocks that cross the diagonal only columns past the row's own
        // are its candidates; the entries before are stale or mirrored. PERF: they are
        // not scanned at all (a super-block of 518 rows left N x 259 of them at N = 1024,
        // half as many as the real scores; each scanned, and offered up to the j > i test
        // when a stale score beat the bar).
        let eligible = if diagonal { (query + 1).saturating_sub(c0).min(cn) } else { 0 };
        if eligible == cn {
            continue;
        }
        let (vecs, _) = S::as_simd_f32s(&row[..full * lanes]);
        // The block's own bar needs k groups of eligible candidates: k <= lanes, and the
        // vectors whose candidates are all eligible. `partial` is the vector holding the
        // first eligible column when it holds stale ones too.
        let (partial, first) = ((eligible / lanes).min(full), eligible.div_ceil(lanes).min(full));
        let fold = |v: &[S::f32s]| v.iter().fold(simd.splat_f32s(f32::NEG_INFINITY), |m, &v| simd.max_f32s(m, v));
        let (lane_max, edge) = (fold(&vecs[first..]), fold(&vecs[partial..first]));
        let tail = &row[(full * lanes).max(eligible)..];
        let best = tail.iter().fold(simd.reduce_max_f32s(simd.max_f32s(lane_max, edge)), |m, &s| m.max(s));
        // A self graph's row bar covers the row's other heap too (see `Bars`).
        let shared = bars.map_or(f32::NEG_INFINITY, |b| b.get(query));
        let bar = heap.threshold().max(shared);
        if best < bar {
            continue;
        }
        // Worth computing only when at least k groups reach the bar (otherwise the k-th
        // largest maximum is below it): a row's first blocks, rarely later ones.
        let reaching = bitmask(simd, simd.greater_than_or_equal_f32s(lane_max, simd.splat_f32s(bar)));
        let own = if job.k <= lanes && first < full && reaching.count_ones() as usize >= job.k {
            kth_largest_lane(simd, lane_max, job.k)
        } else {
            f32::NEG_INFINITY
        };
        let floor = own.max(shared);
        let mut threshold = bar.max(own);
        let offer = |heap: &mut TopK<'_>, threshold: &mut f32, c: usize, s: f32| {
            let j = c0 + c;
            // A self graph offers (i, j) to row i here only when j > i; row j gets it as
            // a transposed offer.
            if s >= *threshold && (!within || j > query) {
                *threshold = offer(heap, s, j as u32, job.isa).max(floor);
            }
        };
        let mut c = partial * lanes;
        while c + group <= cn {
            let (v, _) = S::as_simd_f32s(&row[c..c + group]);
            // Once the bar is high almost every group is rejected here, by three vector
            // max and one reduction, before any scalar work.
            let m = simd.max_f32s(simd.max_f32s(v[0], v[1]), simd.max_f32s(v[2], v[3]));
            if simd.reduce_max_f32s(m) >= threshold {
                // Only the lanes at or above the bar, found by one compare per vector.
                for (q, &x) in v.iter().enumerate() {
                    let mut pass = bitmask(simd, simd.greater_than_or_equal_f32s(x, simd.splat_f32s(threshold)));
                    while pass != 0 {
                        let o = q * lanes + pass.trailing_zeros() as usize;
                        pass &= pass - 1;
                        offer(heap, &mut threshold, c + o, row[c + o]);
                    }
                }
            }
            c += group;
        }
        for (o, &s) in row[c..].iter().enumerate() {
            offer(heap, &mut threshold, c + o, s);
        }
        // The block's own bar is one for the row too: k of the row's candidates reach it.
        if let Some(b) = bars {
            b.raise(query, threshold);
        }
    }
}

/// The `k`-th largest lane of `v` (`1 <= k <= lanes`, no NaN): the least lane that fewer
/// than `k` lanes exceed. PERF: one compare and count per lane, no sort or branchy
/// selection (`select_nth_unstable` took 2% of a graph at N = 1024).
#[inline(always)]
fn kth_largest_lane<S: Simd>(simd: S, v: S::f32s, k: usize) -> f32 {
    let lanes = bytemuck::cast_slice::<S::f32s, f32>(core::slice::from_ref(&v));
    lanes.iter().fold(f32::INFINITY, |least, &x| {
        let above = bitmask(simd, simd.greater_than_f32s(v, simd.splat_f32s(x))).count_ones() as usize;
        if above < k { least.min(x) } else { least }
    })
}

/// Offers the scores of columns `cols` of the block at `c0` to the candidates' heaps in
/// `stripe` (the pair (j, i) of a score computed as (i, j)). With `within` (a self graph)
/// only queries i < j are offered to candidate j.
///
/// PERF: the block is walked row by row, one vector of columns at a time, against the
/// vector of those columns' thresholds: contiguous loads and one compare per row and
/// vector, scalar work only for the lanes that pass. Walking each column down its rows
/// (strided loads, a scalar compare per score) cost several times more at N = 1024. The
/// order of offers never changes a heap's content (see [`crate::topk`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn feed_columns<S: Simd>(
    simd: S,
    stripe: &mut Stripe<'_>,
    bars: Bars<'_>,
    scores: &[f32],
    ldc: usize,
    q0: usize,
    qn: usize,
    c0: usize,
    cols: Range<usize>,
    within: bool,
    k: usize,
    isa: Isa,
) {
    let lanes = S::F32_LANES;
    // Column c's heap is the stripe's row c0 + c - r0.
    let r0 = stripe.r0;
    // The bars of one vector of columns, read in before its scores are walked, raised as
    // its heaps take candidates, and handed back after (see `Bars`).
    let mut local = [f32::NEG_INFINITY; 16];
    let local = &mut local[..lanes];
    let mut c = cols.start;
    while c + lanes <= cols.end {
        let j0 = c0 + c;
        // A self graph offers only queries i < j: rows from `all` on reach only the
        // lanes with j > i, rows from `any` on none (where a block crosses the diagonal,
        // the rest are mirrored or stale).
        let (all, any) = if within {
            (qn.min(j0.saturating_sub(q0)), qn.min((j0 + lanes - 1).saturating_sub(q0)))
        } else {
            (qn, qn)
        };
        for (l, bar) in local.iter_mut().enumerate() {
            *bar = bars.get(j0 + l);
        }
        let bar = |local: &[f32]| S::as_simd_f32s(local).0[0];
        // The columns' own bars, as in `feed_rows`: k groups of rows, each all eligible;
        // the least of the groups' maxima is at most a column's k-th best score here.
        let load = |r: usize| S::as_simd_f32s(&scores[r * ldc + c..r * ldc + c + lanes]).0[0];
        let groups = if k <= all { k } else { 1 };
        let (mut least, mut most) = (simd.splat_f32s(f32::INFINITY), simd.splat_f32s(f32::NEG_INFINITY));
        for g in 0..groups {
            let rows = g * (all / groups)..if g + 1 == groups { all } else { (g + 1) * (all / groups) };
            let m = rows.fold(simd.splat_f32s(f32::NEG_INFINITY), |m, r| simd.max_f32s(m, load(r)));
            (least, most) = (simd.min_f32s(least, m), simd.max_f32s(most, m));
        }
        let own = if k <= all { least } else { simd.splat_f32s(f32::NEG_INFINITY) };
        let mut threshold = bar(local);
        // Rows from `all` on are not in the groups: they are always walked.
        if all == any && bitmask(simd, simd.greater_than_or_equal_f32s(most, threshold)) == 0 {
            c += lanes;
            continue;
        }
        threshold = simd.max_f32s(threshold, own);
        for r in 0..any {
            let mut pass = bitmask(simd, simd.greater_than_or_equal_f32s(load(r), threshold));
            if pass == 0 {
                continue;
            }
            if r >= all {
                // Lane l is candidate j0 + l; only j0 + l > q0 + r may be offered.
                pass &= u64::MAX << (q0 + r + 1 - j0);
            }
            while pass != 0 {
                let l = pass.trailing_zeros() as usize;
                pass &= pass - 1;
                let worst = stripe.offer(j0 + l - r0, scores[r * ldc + c + l], (q0 + r) as u32, isa);
                local[l] = local[l].max(worst);
            }
            threshold = simd.max_f32s(bar(local), own);
        }
        for (l, &bar) in local.iter().enumerate() {
            bars.raise(j0 + l, bar);
        }
        c += lanes;
    }
    // The last columns, fewer than a vector: one by one down the rows.
    for c in c..cols.end {
        let j = c0 + c;
        let rows = if within { qn.min(j.saturating_sub(q0)) } else { qn };
        let mut threshold = bars.get(j);
        for r in 0..rows {
            let s = scores[r * ldc + c];
            if s >= threshold {
                threshold = threshold.max(stripe.offer(j - r0, s, (q0 + r) as u32, isa));
            }
        }
        bars.raise(j, threshold);
    }
}

/// The lanes of `mask` that are set, as the low bits of a word (lane 0 in bit 0).
#[inline(always)]
pub(super) fn bitmask<S: Simd>(simd: S, mask: S::m32s) -> u64 {
    if const { size_of::<S::m32s>() == size_of::<u16>() } {
        // AVX-512: the mask register itself.
        u64::from(bytemuck::cast::<S::m32s, u16>(mask))
    } else {
        // Lane masks (all bits set or clear per lane): one bit per lane.
        let ones = simd.select_f32s(mask, simd.splat_f32s(1.0), simd.splat_f32s(0.0));
        let lanes = bytemuck::cast_slice::<S::f32s, f32>(core::slice::from_ref(&ones));
        lanes.iter().enumerate().fold(0, |bits, (l, &x)| bits | (u64::from(x != 0.0) << l))
    }
}
