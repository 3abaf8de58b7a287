//! SIMD building blocks of the inner-product engine, written once over `pulp::Simd`.
//!
//! - [`pack`]: widen f32/f16/bf16 rows into zero-padded f32 micro-panels.
//! - [`tile`]: the register-tiled microkernel (MR query rows x NR candidate rows).
//! - [`shared_count`]: neighbours two lists share, under a permutation (the calibration null).
//! - [`amx`]: Intel AMX-BF16 tiles for the kNN prefilter's bf16 pass (x86-64 Linux).
//! - [`avx512_bf16`]: the same pass on AVX-512 BF16 dot products, where there are no tiles.
//! - [`block`]: a query super-block (packed once, all features) against one candidate
//!   block, depth-sliced so a B micro-panel stays in L1 and the A slice in L2.
//!
//! Numerical contract: every score is one chain of fused multiply-adds over the features
//! in order, accumulated in f32. Tiles, slices, lanes and threads only decide *where* a
//! chain runs, never its order, so every ISA and every thread count yields the same bits,
//! and score(i, j) == score(j, i) bit for bit (multiplication commutes).

pub(crate) mod amx;
pub(crate) mod avx512_bf16;
pub(crate) mod block;
pub(crate) mod pack;
pub(crate) mod shared_count;
pub(crate) mod tile;

use pulp::Simd;

/// Register tile `(MR, NRV)` for a backend with `lanes` f32 lanes: MR query rows times
/// NRV vectors of candidates, sized so accumulators plus operands fit the register file
/// (AVX2: 6x2 of 16 registers; AVX-512: 14x2 of 32; NEON: 8x3 of 32; scalar: 6x2).
///
/// The one map from lanes to tile shape: [`tiled`] dispatches on it, the buffers are sized
/// from it. A backend with another lane count fails to compile (no silent fallback).
pub(crate) const fn tile_shape(lanes: usize) -> (usize, usize) {
    match lanes {
        16 => (14, 2),
        4 => (8, 3),
        1 | 8 => (6, 2),
        _ => panic!("no register tile for this lane count: add one to tile_shape"),
    }
}

/// An operation over the register-tiled kernel, monomorphised for one tile shape.
pub(crate) trait Tiled {
    /// What the operation returns.
    type Output;
    /// Runs with MR x NRV tiles on `simd`.
    fn run<S: Simd, const MR: usize, const NRV: usize>(self, simd: S) -> Self::Output;
}

/// Runs `op` with the tile shape of `S` (see [`tile_shape`]): the one place where a tile
/// shape becomes const generics, for the kNN engine, the Gram kernel and the benchmarks.
// PERF: inline(always) keeps the kernel inside the caller's target features.
#[inline(always)]
pub(crate) fn tiled<S: Simd, Op: Tiled>(simd: S, op: Op) -> Op::Output {
    match const { tile_shape(S::F32_LANES) } {
        (14, 2) => op.run::<S, 14, 2>(simd),
        (8, 3) => op.run::<S, 8, 3>(simd),
        (6, 2) => op.run::<S, 6, 2>(simd),
        _ => unreachable!("tile_shape returns one of the shapes above"),
    }
}

/// Features per depth slice: one B micro-panel (KC x NR floats, 16 KiB or less) stays in L1.
pub(crate) const fn depth_slice(lanes: usize) -> usize {
    if lanes >= 16 { 128 } else { 256 }
}

/// Candidate rows per block: a multiple of NR near 256, or 64 on the scalar backend.
///
/// The scalar backend is what microcontrollers run (thumbv7em has no pulp SIMD backend):
/// there the score block (super-block x CB floats) comes out of a heap of tens of KiB and no
/// cache rewards a wide one. A 64-wide block keeps it at 17 KiB (66 x 64 x 4 bytes for a
/// single worker), a quarter of the 256-wide one; each B panel still serves every query row
/// of the super-block, so packing is amortised the same. Block sizes never change a result.
pub(crate) const fn candidate_block_rows(lanes: usize) -> usize {
    let (_, nrv) = tile_shape(lanes);
    let nr = nrv * lanes;
    let target = if lanes == 1 { 64 } else { 256 };
    nr * (target / nr)
}

/// Query rows per super-block (the unit of work of a thread): a multiple of MR, at most
/// about 512 (its A slice stays in L2 and packing B is amortised over it), and small
/// enough that `threads` workers get two units each when N is small. PERF: two, not four:
/// every unit packs its candidate blocks again, and a self graph's units shrink along the
/// triangle, so taking them in order still balances (at N = 1024 on 2 threads the units'
/// work is 237, 166, 96 and 26 thousand pairs: 262 + 262 per worker). The packed
/// super-block, sb x D floats, stays within [`SUPER_BLOCK_BYTES`] whatever D.
pub(crate) fn super_block_rows(lanes: usize, rows: usize, threads: usize, depth: usize) -> usize {
    let mr = tile_shape(lanes).0;
    // The scalar backend (microcontrollers) keeps four units per worker: its score block,
    // sb x CB floats, comes out of a heap of tens of KiB (README, "Edge devices").
    let units = if lanes == 1 { 4 } else { 2 };
    let most = (SUPER_BLOCK_BYTES / 4 / depth.max(1)).clamp(64, 512);
    let per_unit = rows.div_ceil(threads.clamp(1, 1 << 20) * units).clamp(64, most);
    per_unit.div_ceil(mr) * mr
}

/// The most bytes of one worker's packed super-block (query rows x all features): 512 rows
/// up to D = 4096, fewer beyond (at D = 25,000 a 512-row super-block was 51 MB a worker).
pub(crate) const SUPER_BLOCK_BYTES: usize = 8 << 20;

/// Benchmark support (for `benches/`, hidden from the docs): runs `isa`'s microkernel
/// `reps` times over one packed MR-row A panel and one NR-row B panel of `depth` features,
/// as the engine does within one depth slice. Returns a checksum and the multiply-adds done.
#[doc(hidden)]
pub fn bench_tile(isa: crate::Isa, depth: usize, reps: usize) -> crate::Result<(f32, u64)> {
    struct Bench {
        depth: usize,
        reps: usize,
    }
    impl pulp::WithSimd for Bench {
        type Output = (f32, u64);
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, simd: S) -> (f32, u64) {
            tiled(simd, self)
        }
    }
    impl Tiled for Bench {
        type Output = (f32, u64);
        #[inline(always)]
        fn run<S: pulp::Simd, const MR: usize, const NRV: usize>(self, simd: S) -> (f32, u64) {
            run::<S, MR, NRV>(simd, self.depth, self.reps)
        }
    }
    #[inline(always)]
    fn run<S: pulp::Simd, const MR: usize, const NRV: usize>(simd: S, depth: usize, reps: usize) -> (f32, u64) {
        let nr = NRV * S::F32_LANES;
        // Opaque, non-repeating inputs: the compiler must do every multiply-add.
        let a: alloc::vec::Vec<f32> = (0..depth * MR).map(|i| (i % 13) as f32 * 0.125 - 0.5).collect();
        let b: alloc::vec::Vec<f32> = (0..depth * nr).map(|i| (i % 11) as f32 * 0.25 - 1.0).collect();
        let (a, b) = (core::hint::black_box(a), core::hint::black_box(b));
        let (b, _) = S::as_simd_f32s(&b);
        let mut c = alloc::vec![0.0f32; MR * nr];
        for rep in 0..reps {
            tile::tile::<S, MR, NRV>(simd, core::hint::black_box(&a), b, &mut c, nr, rep > 0);
            // Every sum is read: only c[0] is returned, and without this the compiler may
            // drop the multiply-adds of the others (the AVX2 tile reported 162 GFLOP/s on
            // a Zen 4 core whose FMA peak is 112).
            core::hint::black_box(&mut c);
        }
        (c[0], (reps * depth * MR * nr) as u64)
    }
    crate::dispatch::run(isa, Bench { depth, reps })
}
