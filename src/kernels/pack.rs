//! Packing: rows of a matrix, one depth slice at a time, into f32 micro-panels.
//!
//! Panel layout for width `w`: panel `t` holds rows `t*w .. t*w + w`; within it, feature
//! `p` of those rows is `w` consecutive floats. Rows past the end are zeros, so the
//! microkernel never needs an edge variant. This is where f16/bf16 are widened.

use crate::element::Element;
use crate::matrix::Matrix;

/// Packs rows `r0 .. r0 + rows` and features `p0 .. p0 + kc` of `m` into `out`
/// (`ceil(rows / w) * w * kc` floats). `row_buf` is scratch of at least `kc` floats.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) fn panels<T: Element>(
    m: &Matrix<'_, T>,
    r0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    w: usize,
    out: &mut [f32],
    row_buf: &mut [f32],
) {
    let panels = rows.div_ceil(w);
    let out = &mut out[..panels * w * kc];
    let row_buf = &mut row_buf[..kc];
    for t in 0..panels {
        let panel = &mut out[t * w * kc..(t + 1) * w * kc];
        for r in 0..w {
            let row = t * w + r;
            if row < rows {
                T::widen(&m.row(r0 + row)[p0..p0 + kc], row_buf);
                for (dst, &x) in panel[r..].iter_mut().step_by(w).zip(row_buf.iter()) {
                    *dst = x;
                }
            } else {
                for dst in panel[r..].iter_mut().step_by(w) {
                    *dst = 0.0;
                }
            }
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
        let mut out = [f32::NAN; 2 * 2 * 3];
        let mut buf = [0.0f32; 3];
        // rows 0..3, features 1..4, panel width 2 -> two panels, the last half padding.
        panels(&m, 0, 3, 1, 3, 2, &mut out, &mut buf);
        assert_eq!(out, [1.0, 11.0, 2.0, 12.0, 3.0, 13.0, 21.0, 0.0, 22.0, 0.0, 23.0, 0.0]);
    }

    #[test]
    fn widens_half_types() {
        let data = [half::f16::from_f32(1.5), half::f16::from_f32(-2.0)];
        let m = Matrix::new(&data, 2, 1).unwrap();
        let (mut out, mut buf) = ([0.0f32; 2], [0.0f32; 1]);
        panels(&m, 0, 2, 0, 1, 2, &mut out, &mut buf);
        assert_eq!(out, [1.5, -2.0]);
        let data = [half::bf16::from_f32(0.25), half::bf16::from_f32(3.0)];
        let m = Matrix::new(&data, 2, 1).unwrap();
        panels(&m, 0, 2, 0, 1, 2, &mut out, &mut buf);
        assert_eq!(out, [0.25, 3.0]);
    }
}
