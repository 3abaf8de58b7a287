//! SIMD building blocks of the inner-product engine, written once over `pulp::Simd`.
//!
//! - [`pack`]: widen f32/f16/bf16 rows into zero-padded f32 micro-panels.
//! - [`tile`]: the register-tiled microkernel (MR query rows x NR candidate rows).
//! - [`block`]: one query block x one candidate block of scores, depth-sliced for L1.
//!
//! Numerical contract: every score is one chain of fused multiply-adds over the features
//! in order, accumulated in f32. Tiles, slices, lanes and threads only decide *where* a
//! chain runs, never its order, so every ISA and every thread count yields the same bits.

pub(crate) mod block;
pub(crate) mod pack;
pub(crate) mod tile;

/// Depth slice (features per pass): one B micro-panel (KC x NR f32) stays in L1.
pub(crate) const KC: usize = 256;

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

/// Query rows per block for a backend with `lanes` lanes: a multiple of MR.
pub(crate) const fn query_block_rows(lanes: usize) -> usize {
    let mr = tile_shape(lanes).0;
    mr * (96 / mr)
}

/// Candidate rows per block for a backend with `lanes` lanes: a multiple of NR.
pub(crate) const fn candidate_block_rows(lanes: usize) -> usize {
    let (_, nrv) = tile_shape(lanes);
    let nr = nrv * lanes;
    nr * (256 / nr)
}
