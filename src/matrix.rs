//! Borrowed row-major matrix views and their validation.
//!
//! A [`Matrix`] never owns or copies its data. Construction checks that the shape and
//! stride fit the buffer; [`Matrix::scan`] checks the values (finite, not too large).

use half::{bf16, f16};

use crate::element::{Dtype, Element};
use crate::error::{Error, Result};

/// A borrowed `rows x cols` row-major matrix whose rows start `stride` elements apart.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a, T: Element> Matrix<'a, T> {
    /// A dense view: rows are contiguous (`stride == cols`).
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        Self::with_stride(data, rows, cols, cols)
    }

    /// A view whose rows start `stride` elements apart (`stride >= cols`).
    pub fn with_stride(data: &'a [T], rows: usize, cols: usize, stride: usize) -> Result<Self> {
        if stride < cols {
            return Err(Error::StrideTooSmall { stride, cols });
        }
        let needed = required_len(rows, cols, stride)?;
        if data.len() < needed {
            return Err(Error::BufferTooShort { needed, len: data.len() });
        }
        Ok(Self { data, rows, cols, stride })
    }

    /// Number of rows (samples).
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (features).
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance in elements between the starts of consecutive rows.
    #[inline]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// All values as one row-major slice, when rows follow each other without gaps
    /// (stride = cols).
    pub fn dense(&self) -> Option<&'a [T]> {
        (self.stride == self.cols).then(|| &self.data[..self.rows * self.cols])
    }

    /// Row `i` (panics if `i >= rows`, like slice indexing).
    #[inline]
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.stride..i * self.stride + self.cols]
    }

    /// The backing slice: row i at `i * stride .. i * stride + cols`.
    #[cfg(all(feature = "alloc", target_arch = "x86_64", feature = "x86-v4"))]
    pub(crate) fn backing(&self) -> &'a [T] {
        self.data
    }

    /// Rows `start .. start + len`, as a view (panics if out of range).
    #[cfg(feature = "alloc")]
    pub(crate) fn row_range(&self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.rows, "rows {start}..{} of {}", start + len, self.rows);
        let data = if len == 0 { &self.data[..0] } else { &self.data[start * self.stride..] };
        Self { data, rows: len, cols: self.cols, stride: self.stride }
    }

    /// Columns `start .. start + len` of every row, as a view (panics if out of range).
    #[cfg(feature = "alloc")]
    pub(crate) fn columns(&self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.cols, "columns {start}..{} of {}", start + len, self.cols);
        let data = if self.rows == 0 { &self.data[..0] } else { &self.data[start..] };
        Self { data, rows: self.rows, cols: len, stride: self.stride }
    }

    /// Checks every value and returns each row's squared L2 norm (accumulated in f64).
    ///
    /// Errors: [`Error::NonFinite`] names the first NaN/infinity; [`Error::MagnitudeTooLarge`]
    /// a row whose squared norm exceeds `f32::MAX`, beyond which f32 inner products could
    /// overflow (|<x, y>| <= |x| |y| bounds every partial sum); [`Error::OutOfMemory`] if
    /// the N norms cannot be allocated.
    #[cfg(feature = "alloc")]
    pub fn scan(&self) -> Result<alloc::vec::Vec<f64>> {
        let mut sq = alloc::vec::Vec::new();
        sq.try_reserve_exact(self.rows)
            .map_err(|_| crate::error::out_of_memory::<f64>(self.rows, "the rows' squared norms"))?;
        for i in 0..self.rows {
            let s = sum_of_squares(self.row(i));
            // The f64 sum of squares of f32/f16 values is finite exactly when every value is.
            if !s.is_finite() {
                return Err(Error::NonFinite { row: i, col: first_non_finite(self.row(i)) });
            }
            if s > f64::from(f32::MAX) {
                return Err(Error::MagnitudeTooLarge { row: i });
            }
            sq.push(s);
        }
        Ok(sq)
    }

    /// Checks every value as [`Matrix::scan`] does, with the same errors for the same
    /// first row, but keeps no norms and allocates nothing.
    ///
    /// PERF: a row whose largest magnitude m has D m^2 <= f32::MAX / 2 cannot reach the
    /// bound (the f64 sum's rounding is far below a factor 2), so most rows need only f32
    /// max and multiply-adds in the backend's vectors instead of the scalar f64 sum of
    /// squares: at 1024 x 768 the kNN graph's input check went from 0.20 ms (4% of the
    /// graph on 2 threads) to 0.05 ms. Rows near the bound get scan's exact sum.
    #[cfg(feature = "alloc")]
    pub fn check(&self) -> Result<()> {
        struct Check<'m, 'a, T>(&'m Matrix<'a, T>);
        impl<T: Element> pulp::WithSimd for Check<'_, '_, T> {
            type Output = Result<()>;
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, simd: S) -> Result<()> {
                check_rows(simd, self.0)
            }
        }
        crate::dispatch::run(crate::Isa::best(), Check(self))?
    }
}

/// [`Matrix::check`]'s rows.
#[cfg(feature = "alloc")]
#[inline(always)]
fn check_rows<S: pulp::Simd, T: Element>(simd: S, m: &Matrix<'_, T>) -> Result<()> {
    let safe = f64::from(f32::MAX) / 2.0 / m.cols.max(1) as f64;
    let mut buf = [0.0f32; 64];
    for i in 0..m.rows {
        // The largest magnitude, and x * 0 summed, which is NaN once any x was NaN or
        // infinite.
        let (mut most, mut poison) = (simd.splat_f32s(0.0), simd.splat_f32s(0.0));
        let mut tail_most = 0.0f32;
        for chunk in m.row(i).chunks(buf.len()) {
            // f32 rows are read in place; f16 and bf16 are widened a chunk at a time.
            let wide: &[f32] = match bytemuck::try_cast_slice(chunk) {
                Ok(row) if T::DTYPE == Dtype::F32 => row,
                _ => {
                    T::widen(chunk, &mut buf[..chunk.len()]);
                    &buf[..chunk.len()]
                }
            };
            let (vecs, tail) = S::as_simd_f32s(wide);
            for &x in vecs {
                most = simd.max_f32s(most, simd.abs_f32s(x));
                poison = simd.add_f32s(poison, simd.mul_f32s(x, simd.splat_f32s(0.0)));
            }
            for &x in tail {
                tail_most = tail_most.max(x.abs());
                poison = simd.add_f32s(poison, simd.splat_f32s(x * 0.0));
            }
        }
        if simd.reduce_sum_f32s(poison).is_nan() {
            return Err(Error::NonFinite { row: i, col: first_non_finite(m.row(i)) });
        }
        let most = f64::from(simd.reduce_max_f32s(most).max(tail_most));
        if most * most > safe && sum_of_squares(m.row(i)) > f64::from(f32::MAX) {
            return Err(Error::MagnitudeTooLarge { row: i });
        }
    }
    Ok(())
}

/// The column of a row's first NaN or infinity: [`Matrix::scan`] and [`Matrix::check`]
/// name the same one.
#[cfg(feature = "alloc")]
fn first_non_finite<T: Element>(row: &[T]) -> usize {
    row.iter().position(|x| !x.to_f32().is_finite()).unwrap_or(0)
}

/// Sum of squares in f64 with four interleaved accumulators in a fixed order: the same
/// bits on every machine (plain scalar code, no ISA-dependent reduction).
#[cfg(feature = "alloc")]
fn sum_of_squares<T: Element>(row: &[T]) -> f64 {
    let mut acc = [0.0f64; 4];
    // PERF: widen a chunk at a time with the vector conversions (one `to_f32` per f16
    // element is a scalar conversion). Chunks are a multiple of 4, so every element
    // still lands in accumulator `index % 4`.
    let mut buf = [0.0f32; 64];
    for chunk in row.chunks(buf.len()) {
        let wide = &mut buf[..chunk.len()];
        T::widen(chunk, wide);
        let quads = wide.chunks_exact(4);
        let tail = quads.remainder();
        for q in quads {
            for (a, &x) in acc.iter_mut().zip(q) {
                *a += f64::from(x) * f64::from(x);
            }
        }
        for (a, &x) in acc.iter_mut().zip(tail) {
            *a += f64::from(x) * f64::from(x);
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Elements a `rows x cols` view with this stride addresses: `(rows - 1) * stride + cols`.
pub fn required_len(rows: usize, cols: usize, stride: usize) -> Result<usize> {
    if rows == 0 {
        return Ok(0);
    }
    (rows - 1).checked_mul(stride).and_then(|x| x.checked_add(cols)).ok_or(Error::ShapeOverflow)
}

/// A matrix of any supported element type, for callers that learn the dtype at run time
/// (the C ABI, the CLI).
#[derive(Debug, Clone, Copy)]
pub enum AnyMatrix<'a> {
    /// f32 elements.
    F32(Matrix<'a, f32>),
    /// f16 elements.
    F16(Matrix<'a, f16>),
    /// bf16 elements.
    Bf16(Matrix<'a, bf16>),
}

impl AnyMatrix<'_> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            AnyMatrix::F32(m) => m.rows(),
            AnyMatrix::F16(m) => m.rows(),
            AnyMatrix::Bf16(m) => m.rows(),
        }
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        match self {
            AnyMatrix::F32(m) => m.cols(),
            AnyMatrix::F16(m) => m.cols(),
            AnyMatrix::Bf16(m) => m.cols(),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            AnyMatrix::F32(_) => Dtype::F32,
            AnyMatrix::F16(_) => Dtype::F16,
            AnyMatrix::Bf16(_) => Dtype::Bf16,
        }
    }
}

crate::element::from_each_dtype!(AnyMatrix, Matrix);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_checks() {
        let d = [0.0f32; 10];
        assert!(Matrix::new(&d, 2, 5).is_ok());
        assert_eq!(Matrix::new(&d, 3, 4).unwrap_err(), Error::BufferTooShort { needed: 12, len: 10 });
        assert_eq!(Matrix::with_stride(&d, 2, 4, 3).unwrap_err(), Error::StrideTooSmall { stride: 3, cols: 4 });
        // The last row needs only `cols` elements, not a whole stride.
        assert!(Matrix::with_stride(&d, 2, 4, 6).is_ok());
        assert_eq!(Matrix::with_stride(&d, usize::MAX, 1, 2).unwrap_err(), Error::ShapeOverflow);
        assert!(Matrix::<f32>::new(&[], 0, 0).is_ok());
    }

    #[test]
    fn column_views() {
        let data: [f32; 11] = core::array::from_fn(|i| i as f32);
        let m = Matrix::with_stride(&data, 3, 3, 4).unwrap();
        let v = m.columns(1, 2);
        assert_eq!((v.rows(), v.cols(), v.stride()), (3, 2, 4));
        assert_eq!([v.row(0), v.row(1), v.row(2)], [[1.0, 2.0], [5.0, 6.0], [9.0, 10.0]]);
        assert_eq!(m.columns(3, 0).row(2), [0.0f32; 0]);
    }

    #[test]
    fn scan_names_the_bad_value() {
        let d = [1.0f32, 2.0, 3.0, f32::NAN, 5.0, 6.0];
        assert_eq!(Matrix::new(&d, 3, 2).unwrap().scan().unwrap_err(), Error::NonFinite { row: 1, col: 1 });
        let d = [1.0f32, f32::NEG_INFINITY];
        assert_eq!(Matrix::new(&d, 2, 1).unwrap().scan().unwrap_err(), Error::NonFinite { row: 1, col: 0 });
        let d = [1.0f32, 2.0e19];
        assert_eq!(Matrix::new(&d, 2, 1).unwrap().scan().unwrap_err(), Error::MagnitudeTooLarge { row: 1 });
        let d = [3.0f32, 4.0];
        assert_eq!(Matrix::new(&d, 1, 2).unwrap().scan().unwrap(), [25.0]);
    }

    /// `check` gives `scan`'s verdict on every matrix: bad values at every position, rows
    /// on both sides of the magnitude bound (some past the f32 screen but under the bound),
    /// two problems in one matrix (the first row's wins), three dtypes. Fails if the
    /// screen lets a too-large row through or refuses a good one.
    #[test]
    fn check_agrees_with_scan() {
        fn both<T: Element>(data: &[T], rows: usize, cols: usize, stride: usize) {
            let m = Matrix::with_stride(data, rows, cols, stride).unwrap();
            assert_eq!(m.check(), m.scan().map(|_| ()), "{rows} x {cols} (stride {stride}) of {:?}", T::DTYPE);
        }
        // Row i of `cols` values `v`, one of them replaced.
        let (rows, cols) = (5, 70);
        let bound = (f64::from(f32::MAX) / cols as f64).sqrt() as f32;
        // (every value, one replaced: (row, col, value))
        type Case = (f32, Option<(usize, usize, f32)>);
        let cases: [Case; 10] = [
            (0.5, None),
            (0.5, Some((2, 0, f32::NAN))),
            (0.5, Some((4, 69, f32::INFINITY))),
            (0.5, Some((0, 33, f32::NEG_INFINITY))),
            (0.5, Some((3, 64, f32::MAX))),
            // Every value near the bound: the screen passes some rows on to the f64 sum.
            (bound * 0.999, None),
            (bound * 1.001, None),
            (bound * 0.75, Some((1, 5, bound * 1.5))),
            (bound * 0.999, Some((2, 7, -bound * 1.01))),
            (-bound * 1.0001, Some((3, 1, f32::NAN))),
        ];
        for (v, bad) in cases {
            for stride in [cols, cols + 3] {
                let mut d = alloc::vec![v; (rows - 1) * stride + cols];
                if let Some((r, c, x)) = bad {
                    d[r * stride + c] = x;
                }
                both(&d, rows, cols, stride);
                let h: alloc::vec::Vec<half::f16> = d.iter().map(|&x| half::f16::from_f32(x)).collect();
                both(&h, rows, cols, stride);
                let b: alloc::vec::Vec<half::bf16> = d.iter().map(|&x| half::bf16::from_f32(x)).collect();
                both(&b, rows, cols, stride);
            }
        }
        // A too-large row before a NaN row, and the reverse.
        let mut d = alloc::vec![1.0f32; rows * cols];
        d[cols + 3] = 1.0e20;
        d[3 * cols] = f32::NAN;
        both(&d, rows, cols, cols);
        assert_eq!(Matrix::new(&d, rows, cols).unwrap().check(), Err(Error::MagnitudeTooLarge { row: 1 }));
        d.swap(cols + 3, 3 * cols);
        both(&d, rows, cols, cols);
        assert_eq!(Matrix::new(&d, rows, cols).unwrap().check(), Err(Error::NonFinite { row: 1, col: 3 }));
        both::<f32>(&[], 0, 0, 0);
        both(&[0.0f32; 3], 3, 0, 0);
    }
}
