//! Packing: rows of a matrix, one depth slice at a time, into f32 micro-panels.
//!
//! Panel layout for width `w`: panel `t` holds rows `t*w .. t*w + w`; within it, feature
//! `p` of those rows is `w` consecutive floats. Rows past the end are zeros, so the
//! microkernel never needs an edge variant. This is where f16/bf16 are widened.

use crate::element::{Dtype, Element};
use crate::matrix::Matrix;

/// Packs rows `r0 .. r0 + rows` of `m`, all features, into `out`, one depth slice of
/// `kc` features after another: slice `p0` starts at `p0 * rows_pad` (`rows_pad` = `rows`
/// rounded up to `w`) and holds `rows_pad / w` panels of `w * kc` floats (the last slice
/// may be thinner). `row_buf` is scratch of at least `w * kc` floats.
///
/// Rows are packed a panel (`w` rows) at a time, all slices, so each source row is read
/// front to back while it is hot.
pub(crate) fn panels<T: Element>(
    m: &Matrix<'_, T>,
    r0: usize,
    rows: usize,
    kc: usize,
    w: usize,
    out: &mut [f32],
    row_buf: &mut [f32],
) {
    let depth = m.cols();
    let rows_pad = rows.div_ceil(w) * w;
    let out = &mut out[..rows_pad * depth];
    let row_buf = &mut row_buf[..w * kc];
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
                    T::widen(&m.row(r0 + t * w + r)[p0..p0 + kc], &mut row_buf[r * kc..(r + 1) * kc]);
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
            while r < live {
                let g = TRANSPOSE.min(live - r);
                let src: [&[f32]; TRANSPOSE] = core::array::from_fn(|q| source(r + q.min(g - 1)));
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
        panels(&m, 1, 2, 3, 2, &mut out, &mut buf);
        assert_eq!(out, [10.0, 20.0, 11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
        // rows 0..3, slices of 3 and 1 features, two panels per slice, the last half padding.
        let mut out = [f32::NAN; 4 * 4];
        panels(&m, 0, 3, 3, 2, &mut out, &mut buf);
        assert_eq!(out, [0.0, 10.0, 1.0, 11.0, 2.0, 12.0, 20.0, 0.0, 21.0, 0.0, 22.0, 0.0, 3.0, 13.0, 23.0, 0.0]);
    }

    #[test]
    fn widens_half_types() {
        let data = [half::f16::from_f32(1.5), half::f16::from_f32(-2.0)];
        let m = Matrix::new(&data, 2, 1).unwrap();
        let (mut out, mut buf) = ([0.0f32; 2], [0.0f32; 2]);
        panels(&m, 0, 2, 1, 2, &mut out, &mut buf);
        assert_eq!(out, [1.5, -2.0]);
        let data = [half::bf16::from_f32(0.25), half::bf16::from_f32(3.0)];
        let m = Matrix::new(&data, 2, 1).unwrap();
        panels(&m, 0, 2, 1, 2, &mut out, &mut buf);
        assert_eq!(out, [0.25, 3.0]);
    }
}
