//! Packing: rows of a matrix, one depth slice at a time, into f32 micro-panels.
//!
//! Panel layout for width `w`: panel `t` holds rows `t*w .. t*w + w`; within it, feature
//! `p` of those rows is `w` consecutive floats. Rows past the end are zeros, so the
//! microkernel never needs an edge variant. This is where f16/bf16 are widened.

use crate::element::{Dtype, Element};
use crate::isa::Isa;
use crate::matrix::Matrix;

/// Packs rows `r0 .. r0 + rows` of `m`, all features, into `out`, one depth slice of
/// `kc` features after another: slice `p0` starts at `p0 * rows_pad` (`rows_pad` = `rows`
/// rounded up to `w`) and holds `rows_pad / w` panels of `w * kc` floats (the last slice
/// may be thinner). `row_buf` is scratch of at least `w * min(kc, D)` floats.
///
/// Rows are packed a panel (`w` rows) at a time, all slices, so each source row is read
/// front to back while it is hot. `isa`: the kernels' backend. On a native one packing
/// uses this CPU's instructions too (AVX transposes, F16C widening); otherwise it stays
/// portable, which honours a forced `Isa::Scalar` or emulated backend. The bytes are the
/// same either way.
#[allow(clippy::too_many_arguments)]
pub(crate) fn panels<T: Element>(
    m: &Matrix<'_, T>,
    r0: usize,
    rows: usize,
    kc: usize,
    w: usize,
    isa: Isa,
    out: &mut [f32],
    row_buf: &mut [f32],
) {
    let depth = m.cols();
    // A slice is never wider than the rows: the same layout, and scratch sized by D.
    let kc = kc.min(depth);
    let rows_pad = rows.div_ceil(w) * w;
    let out = &mut out[..rows_pad * depth];
    let row_buf = &mut row_buf[..w * kc];
    let native = isa.is_native();
    // PERF: with AVX, whole groups go through 8 x 8 register transposes: packing went from
    // about 10% to 6% of a 4096 x 4096 graph. The bits are the same. x86-v3 and x86-v4 both
    // include AVX; their availability is detected (and cached) in `isa.rs`.
    #[cfg(target_arch = "x86_64")]
    let avx = matches!(isa, Isa::X86V3 | Isa::X86V4) && isa.is_available();
    // PERF: with AVX-512, a last group of fewer than TRANSPOSE rows goes through the same
    // transposes with masked stores: the AVX-512 tile's query panels are 14 rows wide,
    // so 6 of every 14 rows were copied one float at a time. At N = 1024, D = 768 packing
    // went from 8.2% to 7.0% of the graph (0.98x on one thread). AVX-512's masked stores,
    // not AVX's `vmaskmovps`, which is slow on AMD.
    #[cfg(target_arch = "x86_64")]
    let avx512 = isa == Isa::X86V4 && isa.is_available();
    for t in 0..rows_pad / w {
        let mut p0 = 0;
        while p0 < depth {
            let kc = kc.min(depth - p0);
            let panel = &mut out[p0 * rows_pad + t * w * kc..][..w * kc];
            let live = w.min(rows - t * w);
            // f32 rows are read in place; f16/bf16 rows are first widened, a row at a
            // time with vector conversions, into `row_buf`.
            let direct = T::DTYPE == Dtype::F32;
            if !direct {
                for r in 0..live {
                    let (src, dst) = (&m.row(r0 + t * w + r)[p0..p0 + kc], &mut row_buf[r * kc..(r + 1) * kc]);
                    if native { T::widen(src, dst) } else { T::widen_portable(src, dst) }
                }
            }
            let source = |r: usize| -> &[f32] {
                if direct {
                    bytemuck::cast_slice::<T, f32>(&m.row(r0 + t * w + r)[p0..p0 + kc])
                } else {
                    &row_buf[r * kc..(r + 1) * kc]
                }
            };
            // PERF: the panel is written front to back, a group of TRANSPOSE rows at a
            // time: contiguous stores, and TRANSPOSE sequential read streams.
            let mut r = 0;
            #[cfg(target_arch = "x86_64")]
            if avx {
                while r + TRANSPOSE <= live {
                    let src: [&[f32]; TRANSPOSE] = core::array::from_fn(|q| source(r + q));
                    // SAFETY: `avx`: this CPU runs x86-v3 or x86-v4, so it has AVX.
                    unsafe { avx::transpose_group(src, &mut panel[r..], w) };
                    r += TRANSPOSE;
                }
            }
            while r < live {
                let g = TRANSPOSE.min(live - r);
                let src: [&[f32]; TRANSPOSE] = core::array::from_fn(|q| source(r + q.min(g - 1)));
                #[cfg(target_arch = "x86_64")]
                if avx512 && g < TRANSPOSE {
                    // SAFETY: `avx512`: this CPU runs x86-v4, which has AVX, AVX-512F and VL.
                    unsafe { avx::transpose_part(src, g, &mut panel[r..], w) };
                    r += g;
                    continue;
                }
                for (p, dst) in panel.chunks_exact_mut(w).enumerate() {
                    for (q, d) in dst[r..r + g].iter_mut().enumerate() {
                        *d = src[q][p];
                    }
                }
                r += g;
            }
            if live < w {
                panel.chunks_exact_mut(w).for_each(|dst| dst[live..].iter_mut().for_each(|d| *d = 0.0));
            }
            p0 += kc;
        }
    }
}

/// Rows transposed together by [`panels`].
const TRANSPOSE: usize = 8;

#[cfg(target_arch = "x86_64")]
mod avx {
    use core::arch::x86_64::*;

    use super::TRANSPOSE;

    /// `dst[p * w + q] = src[q][p]` for the 8 rows `q` and every `p` below the rows'
    /// common length `kc`: 8 x 8 blocks through registers, the rest one by one.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose_group(src: [&[f32]; TRANSPOSE], dst: &mut [f32], w: usize) {
        let kc = src[0].len();
        assert!(
            src.iter().all(|s| s.len() == kc) && w >= TRANSPOSE && (kc == 0 || dst.len() >= (kc - 1) * w + TRANSPOSE)
        );
        let mut p = 0;
        while p + 8 <= kc {
            // SAFETY: each row holds p + 8 <= kc floats, and output row p + i (i < 8) holds
            // 8 floats from (p + i) * w on, both asserted above; this function has AVX.
            unsafe {
                for (i, column) in transpose(&src, p).iter().enumerate() {
                    _mm256_storeu_ps(dst.as_mut_ptr().add((p + i) * w), *column);
                }
            }
            p += 8;
        }
        for p in p..kc {
            for (q, row) in src.iter().enumerate() {
                dst[p * w + q] = row[p];
            }
        }
    }

    /// [`transpose_group`] for the first `live` rows only (`1 <= live < 8`; the others
    /// may repeat a live row): `dst[p * w + q] = src[q][p]` for `q < live`, nothing else
    /// written.
    #[target_feature(enable = "avx,avx512f,avx512vl")]
    pub(super) unsafe fn transpose_part(src: [&[f32]; TRANSPOSE], live: usize, dst: &mut [f32], w: usize) {
        let kc = src[0].len();
        assert!(
            src.iter().all(|s| s.len() == kc)
                && (1..TRANSPOSE).contains(&live)
                && (kc == 0 || dst.len() >= (kc - 1) * w + live)
        );
        let mask = (1u8 << live) - 1;
        let mut p = 0;
        while p + 8 <= kc {
            // SAFETY: each row holds p + 8 <= kc floats; output row p + i (i < 8) holds
            // `live` floats from (p + i) * w on (asserted above), and the masked store
            // touches only those; this function has AVX, AVX-512F and VL.
            unsafe {
                for (i, column) in transpose(&src, p).iter().enumerate() {
                    _mm256_mask_storeu_ps(dst.as_mut_ptr().add((p + i) * w), mask, *column);
                }
            }
            p += 8;
        }
        for p in p..kc {
            for (q, row) in src[..live].iter().enumerate() {
                dst[p * w + q] = row[p];
            }
        }
    }

    /// Features `p .. p + 8` of the 8 rows, as 8 columns of 8 rows.
    ///
    /// # Safety
    /// Every row holds at least `p + 8` floats, and the caller has AVX.
    #[inline(always)]
    unsafe fn transpose(src: &[&[f32]; TRANSPOSE], p: usize) -> [__m256; 8] {
        // SAFETY: the caller's contract.
        unsafe {
            let r: [__m256; 8] = core::array::from_fn(|q| _mm256_loadu_ps(src[q].as_ptr().add(p)));
            // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves.
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_zero_padding() {
        // 3 x 4 matrix with values 10*r + c, stride 5.
        let data: [f32; 14] = core::array::from_fn(|i| (10 * (i / 5) + i % 5) as f32);
        let m = Matrix::with_stride(&data, 3, 4, 5).unwrap();
        let mut buf = [0.0f32; 2 * 3];
        // rows 1..3, slices of 3 features then 1, panel width 2: one panel, no padding.
        let mut out = [f32::NAN; 2 * 4];
        panels(&m, 1, 2, 3, 2, Isa::best(), &mut out, &mut buf);
        assert_eq!(out, [10.0, 20.0, 11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
        // rows 0..3, slices of 3 and 1 features, two panels per slice, the last half padding.
        let mut out = [f32::NAN; 4 * 4];
        panels(&m, 0, 3, 3, 2, Isa::best(), &mut out, &mut buf);
        assert_eq!(out, [0.0, 10.0, 1.0, 11.0, 2.0, 12.0, 20.0, 0.0, 21.0, 0.0, 22.0, 0.0, 3.0, 13.0, 23.0, 0.0]);
    }

    #[test]
    fn widens_half_types() {
        let data = [half::f16::from_f32(1.5), half::f16::from_f32(-2.0)];
        let m = Matrix::new(&data, 2, 1).unwrap();
        let (mut out, mut buf) = ([0.0f32; 2], [0.0f32; 2]);
        for isa in [Isa::best(), Isa::Scalar] {
            panels(&m, 0, 2, 1, 2, isa, &mut out, &mut buf);
            assert_eq!(out, [1.5, -2.0]);
        }
        let data = [half::bf16::from_f32(0.25), half::bf16::from_f32(3.0)];
        let m = Matrix::new(&data, 2, 1).unwrap();
        panels(&m, 0, 2, 1, 2, Isa::Scalar, &mut out, &mut buf);
        assert_eq!(out, [0.25, 3.0]);
    }

    #[test]
    fn matches_direct_indexing() {
        // Enough rows for whole groups of 8 plus a tail, features not a multiple of 8 or of
        // kc, stride > cols: every path (register transposes, scalar tails, padding).
        let (rows, cols, stride) = (21, 37, 40);
        let data: alloc::vec::Vec<f32> = (0..rows * stride).map(|i| i as f32 * 0.5 - 7.0).collect();
        let m = Matrix::with_stride(&data, rows, cols, stride).unwrap();
        let cases =
            [(0usize, 21usize, 16usize, 32usize), (3, 18, 13, 14), (1, 20, 37, 8), (0, 21, 9, 16), (5, 9, 40, 24)];
        // The native (register transposes where the CPU has AVX) and the portable paths.
        for (isa, (r0, n, kc, w)) in [Isa::best(), Isa::Scalar].into_iter().flat_map(|i| cases.map(|c| (i, c))) {
            let rows_pad = n.div_ceil(w) * w;
            let mut out = alloc::vec![f32::NAN; rows_pad * cols];
            let mut buf = alloc::vec![0.0f32; w * kc];
            panels(&m, r0, n, kc, w, isa, &mut out, &mut buf);
            let mut p0 = 0;
            while p0 < cols {
                let kc = kc.min(cols - p0);
                for t in 0..rows_pad / w {
                    for p in 0..kc {
                        for q in 0..w {
                            let r = t * w + q;
                            let want = if r < n { m.row(r0 + r)[p0 + p] } else { 0.0 };
                            let got = out[p0 * rows_pad + t * w * kc + p * w + q];
                            assert_eq!(
                                got.to_bits(),
                                want.to_bits(),
                                "r0 {r0} n {n} kc {kc} w {w}: row {r} feature {}",
                                p0 + p
                            );
                        }
                    }
                }
                p0 += kc;
            }
        }
    }
}
