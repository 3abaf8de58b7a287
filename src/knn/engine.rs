//! The blocked exact-kNN loop for one thread: score blocks feed per-row top-k heaps.

use alloc::vec::Vec;

use pulp::{Simd, WithSimd};

use crate::element::Element;
use crate::kernels::{block, candidate_block_rows, query_block_rows, tile_shape};
use crate::matrix::Matrix;
use crate::topk::TopK;

/// What every thread of one kNN call shares.
pub(crate) struct Job<'a, T> {
    pub queries: Matrix<'a, T>,
    pub database: Matrix<'a, T>,
    pub k: usize,
    /// Query row i is database row i and must not be its own neighbour.
    pub exclude_self: bool,
    /// Cosine: per-row inverse norms; a score becomes `dot * (inv_q * inv_d)`.
    pub scales: Option<(&'a [f32], &'a [f32])>,
}

/// Output rows of one query block: `indices` and `scores` hold `k` entries per row.
pub(crate) struct OutBlock<'o> {
    pub q0: usize,
    pub indices: &'o mut [u32],
    pub scores: &'o mut [f32],
}

/// Runs a list of query blocks on one backend (one dispatch per thread).
pub(crate) struct RunBlocks<'a, 'o, T> {
    pub job: &'a Job<'a, T>,
    pub blocks: Vec<OutBlock<'o>>,
}

impl<T: Element> WithSimd for RunBlocks<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match tile_shape(S::F32_LANES) {
            (14, 2) => run::<S, 14, 2, T>(simd, self),
            (8, 3) => run::<S, 8, 3, T>(simd, self),
            _ => run::<S, 6, 2, T>(simd, self),
        }
    }
}

#[inline(always)]
fn run<S: Simd, const MR: usize, const NRV: usize, T: Element>(simd: S, op: RunBlocks<'_, '_, T>) {
    let job = op.job;
    let lanes = S::F32_LANES;
    let (qb, cb) = (query_block_rows(lanes), candidate_block_rows(lanes));
    debug_assert_eq!((qb % MR, cb % (NRV * lanes)), (0, 0));
    let mut scratch = block::Scratch::new(qb, cb);
    let n = job.database.rows();
    for out in op.blocks {
        let qn = out.indices.len() / job.k;
        debug_assert!(qn <= qb);
        let mut heaps: Vec<TopK<'_>> = out
            .scores
            .chunks_exact_mut(job.k)
            .zip(out.indices.chunks_exact_mut(job.k))
            .map(|(s, i)| TopK::new(s, i))
            .collect();
        let mut c0 = 0;
        while c0 < n {
            let cn = cb.min(n - c0);
            let ldc =
                block::scores::<S, MR, NRV, T>(simd, &job.queries, out.q0, qn, &job.database, c0, cn, &mut scratch);
            feed(simd, job, &mut scratch.scores, ldc, out.q0, c0, cn, &mut heaps);
            c0 += cn;
        }
        for heap in heaps {
            let held = heap.finish();
            debug_assert_eq!(held, job.k);
        }
    }
}

/// Offers a block of scores to the heaps of its query rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn feed<S: Simd, T>(
    simd: S,
    job: &Job<'_, T>,
    scores: &mut [f32],
    ldc: usize,
    q0: usize,
    c0: usize,
    cn: usize,
    heaps: &mut [TopK<'_>],
) {
    let group = 4 * S::F32_LANES;
    for (r, heap) in heaps.iter_mut().enumerate() {
        let row = &mut scores[r * ldc..r * ldc + cn];
        let query = q0 + r;
        if let Some((q_scale, d_scale)) = job.scales {
            let qi = q_scale[query];
            let (rv, rt) = S::as_mut_simd_f32s(row);
            let (dv, dt) = S::as_simd_f32s(&d_scale[c0..c0 + cn]);
            let qv = simd.splat_f32s(qi);
            for (x, d) in rv.iter_mut().zip(dv) {
                *x = simd.mul_f32s(*x, simd.mul_f32s(qv, *d));
            }
            for (x, d) in rt.iter_mut().zip(dt) {
                *x *= qi * d;
            }
        }
        let mut threshold = heap.threshold();
        let offer = |heap: &mut TopK<'_>, threshold: &mut f32, c: usize, s: f32| {
            let j = c0 + c;
            if s >= *threshold && !(job.exclude_self && j == query) {
                heap.offer(s, j as u32);
                *threshold = heap.threshold();
            }
        };
        let mut c = 0;
        while c + group <= cn {
            let (v, _) = S::as_simd_f32s(&row[c..c + group]);
            // PERF: once the heap is full almost every group is rejected here, by
            // three vector max and one reduction, before any scalar work.
            let m = simd.max_f32s(simd.max_f32s(v[0], v[1]), simd.max_f32s(v[2], v[3]));
            if simd.reduce_max_f32s(m) >= threshold {
                for (o, &s) in row[c..c + group].iter().enumerate() {
                    offer(heap, &mut threshold, c + o, s);
                }
            }
            c += group;
        }
        for (o, &s) in row[c..].iter().enumerate() {
            offer(heap, &mut threshold, c + o, s);
        }
    }
}
