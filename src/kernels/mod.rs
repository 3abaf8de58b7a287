//! SIMD building blocks of the inner-product engine, written once over `pulp::Simd`.
//!
//! - [`pack`]: widen f32/f16/bf16 rows into zero-padded f32 micro-panels.
//! - [`tile`]: the register-tiled microkernel (MR query rows x NR candidate rows).
//! - [`block`]: a query super-block (packed once, all features) against one candidate
//!   block, depth-sliced so a B micro-panel stays in L1 and the A slice in L2.
//!
//! Numerical contract: every score is one chain of fused multiply-adds over the features
//! in order, accumulated in f32. Tiles, slices, lanes and threads only decide *where* a
//! chain runs, never its order, so every ISA and every thread count yields the same bits,
//! and score(i, j) == score(j, i) bit for bit (multiplication commutes).

pub(crate) mod block;
pub(crate) mod pack;
pub(crate) mod tile;

/// Register tile `(MR, NRV)` for a backend with `lanes` f32 lanes: MR query rows times
/// NRV vectors of candidates, sized so accumulators plus operands fit the register file
/// (AVX2: 6x2 of 16 registers; AVX-512: 14x2 of 32; NEON: 8x3 of 32).
pub(crate) const fn tile_shape(lanes: usize) -> (usize, usize) {
    match lanes {
        16.. => (14, 2),
        4 => (8, 3),
        _ => (6, 2),
    }
}

/// Features per depth slice: one B micro-panel (KC x NR floats, 16 KiB or less) stays in L1.
pub(crate) const fn depth_slice(lanes: usize) -> usize {
    if lanes >= 16 { 128 } else { 256 }
}

/// Candidate rows per block: a multiple of NR near 256.
pub(crate) const fn candidate_block_rows(lanes: usize) -> usize {
    let (_, nrv) = tile_shape(lanes);
    let nr = nrv * lanes;
    nr * (256 / nr)
}

/// Query rows per super-block (the unit of work of a thread): a multiple of MR, at most
/// about 512 (its A slice stays in L2 and packing B is amortised over it), and small
/// enough that `threads` workers get several units each when N is small.
pub(crate) fn super_block_rows(lanes: usize, rows: usize, threads: usize) -> usize {
    let mr = tile_shape(lanes).0;
    let per_unit = rows.div_ceil(threads.clamp(1, 1 << 20) * 4).clamp(64, 512);
    per_unit.div_ceil(mr) * mr
}
