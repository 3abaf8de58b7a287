//! Scores of one query super-block against one candidate block, over all features.

use alloc::vec::Vec;

use pulp::Simd;

use super::{candidate_block_rows, depth_slice, pack, tile::tile, tile_shape};
use crate::element::Element;
use crate::error::{Result, try_vec};
use crate::isa::Isa;
use crate::matrix::Matrix;

/// Per-thread buffers.
pub(crate) struct Scratch {
    /// The super-block's query rows, packed once for all depth slices (see `pack::panels`).
    a: Aligned,
    /// One depth slice of one candidate block, packed like a slice of `a`.
    b: Aligned,
    row: Aligned,
    /// The score block, row-major with the stride returned by [`scores`].
    pub(crate) scores: Aligned,
}

/// Floats starting on a 64-byte boundary (a cache line, an AVX-512 vector). PERF: the
/// allocator's 16-byte alignment let vector loads and the tiles' partial sums straddle
/// cache lines; which buffers did changed from call to call (4% at N = 1024 between two
/// placements).
pub(crate) struct Aligned {
    buf: Vec<f32>,
    start: usize,
    len: usize,
}

impl core::ops::Deref for Aligned {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl core::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

impl Scratch {
    /// Buffers for super-blocks of up to `sb` rows of `depth` features: 4 x (sb x D +
    /// CB x min(KC, D) + max(MR, NR) x min(KC, D) + sb x CB) bytes, sb and CB rounded up to
    /// MR and NR (see [`candidate_block_rows`], [`depth_slice`]).
    ///
    /// A refused allocation is [`crate::Error::OutOfMemory`] (a worker reports it before
    /// taking any rows), not the allocation error handler: on a microcontroller's heap these
    /// are the largest buffers after the private heaps.
    pub(crate) fn new(lanes: usize, sb: usize, depth: usize) -> Result<Self> {
        let (mr, nrv) = tile_shape(lanes);
        // A depth slice never spans more than D features: small-D inputs (the edge devices'
        // case) get B buffers of CB x D, not CB x KC.
        let (cb, kc) = (candidate_block_rows(lanes), depth_slice(lanes).min(depth));
        let rows_pad = sb.div_ceil(mr) * mr;
        let [a, b, row, scores] = spare::take();
        Ok(Self {
            a: fit(a, rows_pad * depth)?,
            b: fit(b, cb * kc)?,
            // Widened rows of one panel slice (A panels are MR rows wide, B panels NR).
            row: fit(row, mr.max(nrv * lanes) * kc)?,
            scores: fit(scores, rows_pad * cb)?,
        })
    }
}

impl Scratch {
    /// Gives the buffers back for the next call (see [`spare`]). PERF: called at the end of
    /// a worker's run, not from `Drop`: drop glue in the engine's loop cost 3% at N = 1024.
    pub(crate) fn recycle(self) {
        let Scratch { a, b, row, scores } = self;
        spare::put([a.buf, b.buf, row.buf, scores.buf]);
    }
}

/// `v` (kept from an earlier call) as `len` aligned floats, reallocated only when too
/// small. Its contents are stale: packing writes every float it reads back, padding
/// included, and a score block's stale entries are never offered (see [`scores`]).
fn fit(mut v: Vec<f32>, len: usize) -> Result<Aligned> {
    const LINE: usize = 64 / size_of::<f32>();
    let need = len + LINE - 1;
    if v.capacity() < need {
        // Freed first: a small heap need not hold both.
        drop(core::mem::take(&mut v));
        v = try_vec(need, 0.0, "a worker's packed panels and score block")?;
    }
    v.resize(need, 0.0);
    // Always below LINE for f32 pointers; 0 (unaligned, still correct) otherwise.
    let start = Some(v.as_ptr().align_offset(64)).filter(|&s| s < LINE).unwrap_or(0);
    Ok(Aligned { buf: v, start, len })
}

/// Workers' buffers kept between calls. PERF: fresh buffers cost page faults on every call
/// (half of a 64-row graph's time, a few percent at N = 1024, paid again by each layer of
/// a sweep); kept ones are warm. At most one set per core and [`spare::KEEP`] bytes in all
/// stay allocated after a call; a set too large to keep is freed as before.
#[cfg(feature = "std")]
mod spare {
    use alloc::vec::Vec;
    use std::sync::Mutex;

    /// The most bytes of buffers kept between calls.
    pub(super) const KEEP: usize = 64 << 20;

    type Set = [Vec<f32>; 4];
    static SPARE: Mutex<Vec<Set>> = Mutex::new(Vec::new());

    fn bytes(s: &Set) -> usize {
        s.iter().map(|v| v.capacity() * 4).sum()
    }

    pub(super) fn take() -> Set {
        SPARE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop().unwrap_or_default()
    }

    pub(super) fn put(set: Set) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut spare = SPARE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept: usize = spare.iter().map(bytes).sum();
        if spare.len() < cores && kept + bytes(&set) <= KEEP && spare.try_reserve(1).is_ok() {
            spare.push(set);
        }
    }

    /// Sets kept now, and their bytes (tests).
    #[cfg(test)]
    pub(super) fn kept() -> (usize, usize) {
        let spare = SPARE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (spare.len(), spare.iter().map(bytes).sum())
    }
}

/// Without `std` (one worker, often a small heap) nothing is kept: every call allocates.
#[cfg(not(feature = "std"))]
mod spare {
    use alloc::vec::Vec;

    pub(super) fn take() -> [Vec<f32>; 4] {
        Default::default()
    }

    pub(super) fn put(_: [Vec<f32>; 4]) {}
}

/// Packs query rows `q0 .. q0 + qn` (all features) into the scratch A buffer.
/// `isa`: the kernels' backend, which packing follows (see [`pack::panels`]).
pub(crate) fn pack_queries<T: Element>(
    lanes: usize,
    queries: &Matrix<'_, T>,
    q0: usize,
    qn: usize,
    isa: Isa,
    s: &mut Scratch,
) {
    let (mr, _) = tile_shape(lanes);
    pack::panels(queries, q0, qn, depth_slice(lanes), mr, isa, &mut s.a, &mut s.row);
}

/// Fills `scratch.scores[r * ldc + c]` with `<query q0 + r, candidate c0 + c>` for the
/// `qn` packed query rows and `c < cn` (entries past those are padding); returns `ldc`.
///
/// With `upper = Some((q0, c0))` (a self graph's diagonal block) only tiles holding some
/// pair with `c0 + c > q0 + r` are computed; entries of skipped tiles are stale.
// PERF: inline(always) keeps the microkernel inside the caller's target features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn scores<S: Simd, const MR: usize, const NRV: usize, T: Element>(
    simd: S,
    qn: usize,
    candidates: &Matrix<'_, T>,
    c0: usize,
    cn: usize,
    upper: Option<(usize, usize)>,
    isa: Isa,
    s: &mut Scratch,
) -> usize {
    let nr = NRV * S::F32_LANES;
    let q_pad = qn.div_ceil(MR) * MR;
    let ldc = cn.div_ceil(nr) * nr;
    let kc_max = depth_slice(S::F32_LANES);
    let depth = candidates.cols();
    let mut p0 = 0;
    while p0 < depth {
        let kc = kc_max.min(depth - p0);
        // One depth slice of the candidate block at a time: the per-thread buffer is
        // 128 KiB whatever D (a whole block was 4 MiB at D = 4096), at the same speed.
        pack::panels(&candidates.columns(p0, kc), c0, cn, kc, nr, isa, &mut s.b, &mut s.row);
        let (b_vecs, _) = S::as_simd_f32s(&s.b[..ldc * kc]);
        let a_slice = &s.a[p0 * q_pad..p0 * q_pad + q_pad * kc];
        // One B micro-panel stays in L1 while every A panel of the super-block streams past it.
        for (jt, b_panel) in b_vecs.chunks_exact(kc * NRV).enumerate() {
            // Row tiles whose first row is below the tile's last column.
            let tiles = match upper {
                Some((q0, c0)) => (c0 + jt * nr + nr - 1).saturating_sub(q0).div_ceil(MR),
                None => usize::MAX,
            };
            for (it, a_panel) in a_slice.chunks_exact(kc * MR).enumerate().take(tiles) {
                let c = &mut s.scores[it * MR * ldc + jt * nr..];
                tile::<S, MR, NRV>(simd, a_panel, b_panel, c, ldc, p0 > 0);
            }
        }
        p0 += kc;
    }
    ldc
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_kept_between_calls_within_the_limits() {
        // Buffers of a call come back for the next one; the kept sets stay within one per
        // core and `KEEP` bytes whatever is asked.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let scratches: Vec<Scratch> = (0..cores + 3).map(|_| Scratch::new(16, 64, 40).unwrap()).collect();
        scratches.into_iter().for_each(Scratch::recycle);
        let (sets, bytes) = spare::kept();
        assert!(sets >= 1 && sets <= cores && bytes <= spare::KEEP, "{sets} sets, {bytes} bytes");
        // Too large to keep: 4 x 512 x 40,000 floats.
        Scratch::new(16, 512, 40_000).unwrap().recycle();
        assert!(spare::kept().1 <= spare::KEEP);
    }
}
