//! One block of scores: query rows x candidate rows over all features, depth-sliced.

use alloc::vec;
use alloc::vec::Vec;

use pulp::Simd;

use super::{KC, pack, tile::tile};
use crate::element::Element;
use crate::matrix::Matrix;

/// Per-thread buffers, sized once for the largest block.
pub(crate) struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    row: Vec<f32>,
    /// The score block, row-major with the stride returned by [`scores`].
    pub(crate) scores: Vec<f32>,
}

impl Scratch {
    /// Buffers for blocks of up to `qb` query rows (a multiple of MR) and `cb` candidate rows
    /// (a multiple of NR).
    pub(crate) fn new(qb: usize, cb: usize) -> Self {
        Self { a: vec![0.0; qb * KC], b: vec![0.0; cb * KC], row: vec![0.0; KC], scores: vec![0.0; qb * cb] }
    }
}

/// Fills `scratch.scores[r * ldc + c]` with `<query q0 + r, candidate c0 + c>` for
/// `r < qn`, `c < cn` (entries past those are padding) and returns `ldc`.
// PERF: inline(always) keeps the microkernel inside the caller's target features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn scores<S: Simd, const MR: usize, const NRV: usize, T: Element>(
    simd: S,
    queries: &Matrix<'_, T>,
    q0: usize,
    qn: usize,
    candidates: &Matrix<'_, T>,
    c0: usize,
    cn: usize,
    scratch: &mut Scratch,
) -> usize {
    let nr = NRV * S::F32_LANES;
    let q_pad = qn.div_ceil(MR) * MR;
    let ldc = cn.div_ceil(nr) * nr;
    let depth = queries.cols();
    let mut p0 = 0;
    while p0 < depth {
        let kc = KC.min(depth - p0);
        pack::panels(queries, q0, qn, p0, kc, MR, &mut scratch.a, &mut scratch.row);
        pack::panels(candidates, c0, cn, p0, kc, nr, &mut scratch.b, &mut scratch.row);
        let (b_vecs, _) = S::as_simd_f32s(&scratch.b[..ldc * kc]);
        // One B micro-panel stays in L1 while every A panel of the block streams past it.
        for (jt, b_panel) in b_vecs.chunks_exact(kc * NRV).enumerate() {
            for (it, a_panel) in scratch.a[..q_pad * kc].chunks_exact(kc * MR).enumerate() {
                let c = &mut scratch.scores[it * MR * ldc + jt * nr..];
                tile::<S, MR, NRV>(simd, a_panel, b_panel, c, ldc, p0 > 0);
            }
        }
        p0 += kc;
    }
    ldc
}
