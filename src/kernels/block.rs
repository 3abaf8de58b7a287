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
/// allocator only promises 16 bytes, so whether vector loads and the tiles' partial sums
/// straddle cache lines depended on where a call's buffers happened to land (buffers kept
/// at a 16-byte offset measured 4% slower at N = 1024); aligned, it never does.
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
    /// MR and NR (see [`candidate_block_rows`], [`depth_slice`]). With `std` they are a
    /// worker's of an earlier call where one was kept ([`Scratch::keep`]), each buffer
    /// reused where large enough; their old contents are never read as scores (packing
    /// writes every float it hands the tiles, and a score block's entries are read only
    /// once a tile wrote them, or, stale, only past a test that rejects them).
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
        // Widened rows of one panel slice (A panels are MR rows wide, B panels NR).
        let lens = [rows_pad * depth, cb * kc, mr.max(nrv * lanes) * kc, rows_pad * cb];
        #[cfg(feature = "std")]
        let kept = KEPT.lock().pop();
        #[cfg(not(feature = "std"))]
        let kept: Option<Self> = None;
        let [a, b, row, scores] = match kept {
            Some(Self { a, b, row, scores }) => [a, b, row, scores],
            None => core::array::from_fn(|_| Aligned { buf: Vec::new(), start: 0, len: 0 }),
        };
        Ok(Self { a: a.fit(lens[0])?, b: b.fit(lens[1])?, row: row.fit(lens[2])?, scores: scores.fit(lens[3])? })
    }

    /// Keeps these buffers for a worker of a later call (with `std`): at most one set a
    /// core, [`KEPT_BYTES`] in all. PERF: a graph at N = 1024 allocated about 1-2 MB a
    /// worker; how glibc served that (fresh pages faulted in and zeroed, or a zeroed
    /// reuse) depended on the sizes, and at D = 256 page faults and zeroing took about 9%
    /// of a one-thread graph and of a 13 x 13 sweep.
    pub(crate) fn keep(self) {
        #[cfg(feature = "std")]
        {
            let cores = crate::pool::cores();
            let mut kept = KEPT.lock();
            let held: usize = kept.iter().map(Scratch::bytes).sum();
            if kept.len() < cores && held + self.bytes() <= KEPT_BYTES {
                kept.push(self);
            }
        }
    }

    /// Bytes allocated for the buffers.
    #[cfg(feature = "std")]
    fn bytes(&self) -> usize {
        [&self.a, &self.b, &self.row, &self.scores].iter().map(|x| x.buf.capacity() * size_of::<f32>()).sum()
    }
}

/// The workers' buffers kept between calls (see [`Scratch::keep`]).
#[cfg(feature = "std")]
static KEPT: crate::pool::Lock<Vec<Scratch>> = crate::pool::Lock::new(Vec::new());

/// The most bytes of workers' buffers kept between calls, as much as the prefilter keeps.
#[cfg(feature = "std")]
const KEPT_BYTES: usize = 64 << 20;

/// Frees the workers' buffers kept between calls; returns their size in bytes.
pub(crate) fn release_kept() -> usize {
    #[cfg(feature = "std")]
    {
        core::mem::take(&mut *KEPT.lock()).iter().map(Scratch::bytes).sum()
    }
    #[cfg(not(feature = "std"))]
    0
}

impl Aligned {
    /// These floats as a buffer of `len` floats on a 64-byte boundary: the same allocation
    /// where it holds them, else a new zeroed one.
    fn fit(self, len: usize) -> Result<Self> {
        if self.buf.len() >= len + LINE - 1 {
            return Ok(Aligned { len, ..self });
        }
        drop(self);
        aligned(len)
    }
}

/// Floats in a 64-byte line: an [`Aligned`] buffer holds `len + LINE - 1` for its start to
/// fall on a boundary.
const LINE: usize = 64 / size_of::<f32>();

/// `len` zeroed floats starting on a 64-byte boundary.
fn aligned(len: usize) -> Result<Aligned> {
    let buf = try_vec(len + LINE - 1, 0.0, "a worker's packed panels and score block")?;
    // Always below LINE for f32 pointers; 0 (unaligned, still correct) otherwise.
    let start = Some(buf.as_ptr().align_offset(64)).filter(|&s| s < LINE).unwrap_or(0);
    Ok(Aligned { buf, start, len })
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
/// With `upper = Some((q0, c0))` (a self graph) only tiles holding some
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
