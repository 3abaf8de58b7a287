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
                let col = self.row(i).iter().position(|x| !x.to_f32().is_finite()).unwrap_or(0);
                return Err(Error::NonFinite { row: i, col });
            }
            if s > f64::from(f32::MAX) {
                return Err(Error::MagnitudeTooLarge { row: i });
            }
            sq.push(s);
        }
        Ok(sq)
    }
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
}
