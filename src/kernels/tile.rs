//! The microkernel: an MR x (NRV vectors) tile of inner products held in registers.

use pulp::Simd;

/// Computes `C[r][v] (+)= sum_p a[p][r] * b[p][v]` for one MR x NR tile over `kc` features.
///
/// `a` is an MR-wide panel (`kc * MR` floats), `b` an NR-wide panel as vectors
/// (`kc * NRV`), `c` the tile's top-left in a row-major score block with row stride `ldc`.
/// With `accumulate` the tile continues the sums already in `c` (a later depth slice).
// PERF: must be inline(always) so the caller's target features reach the FMAs.
#[inline(always)]
pub(crate) fn tile<S: Simd, const MR: usize, const NRV: usize>(
    simd: S,
    a: &[f32],
    b: &[S::f32s],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let lanes = S::F32_LANES;
    let mut acc = [[simd.splat_f32s(0.0); NRV]; MR];
    if accumulate {
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let (row, _) = S::as_simd_f32s(&c[r * ldc..r * ldc + NRV * lanes]);
            acc_r.copy_from_slice(row);
        }
    }
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NRV)) {
        let bv: [S::f32s; NRV] = core::array::from_fn(|v| bp[v]);
        for r in 0..MR {
            let av = simd.splat_f32s(ap[r]);
            for v in 0..NRV {
                // Fused on every backend: the same bits whatever the ISA.
                acc[r][v] = simd.mul_add_f32s(av, bv[v], acc[r][v]);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let (row, _) = S::as_mut_simd_f32s(&mut c[r * ldc..r * ldc + NRV * lanes]);
        row.copy_from_slice(acc_r);
    }
}
