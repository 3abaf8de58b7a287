//! Samples x layers x features tensors (N x L x D, C order): the hidden states of every
//! layer of one model, borrowed ([`Layers`], [`AnyLayers`]) or owned ([`Values`]), in
//! f32, f16 or bf16. Each layer is a strided N x D [`Matrix`] view: no copy.

use alloc::vec::Vec;

use half::{bf16, f16};

use crate::dispatch::with_best_isa;
use crate::element::{Dtype, Element};
use crate::error::{Error, Result};
use crate::exec::Exec;
use crate::matrix::{AnyMatrix, Matrix};
use crate::prepare::{self, Prepare};

/// Runs `$body` with `$x` bound to the typed value inside any of the crate's dtype enums
/// (`AnyMatrix`, `AnyLayers`, `Values`): the one place that spells out the three dtypes.
macro_rules! each_dtype {
    ($ty:ident, $value:expr, $x:ident => $body:expr) => {
        match $value {
            $ty::F32($x) => $body,
            $ty::F16($x) => $body,
            $ty::Bf16($x) => $body,
        }
    };
}
pub(crate) use each_dtype;

/// A borrowed N x L x D tensor in C order: `samples` rows, each `layers` runs of `dim` values.
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a, T> {
    data: &'a [T],
    samples: usize,
    layers: usize,
    dim: usize,
}

impl<'a, T: Element> Layers<'a, T> {
    /// Wraps `samples * layers * dim` values.
    pub fn new(data: &'a [T], samples: usize, layers: usize, dim: usize) -> Result<Self> {
        let len = samples.checked_mul(layers).and_then(|x| x.checked_mul(dim)).ok_or(Error::ShapeOverflow)?;
        if data.len() < len {
            return Err(Error::BufferTooShort { needed: len, len: data.len() });
        }
        Ok(Self { data: &data[..len], samples, layers, dim })
    }
    /// N.
    pub fn samples(&self) -> usize {
        self.samples
    }
    /// L.
    pub fn layers(&self) -> usize {
        self.layers
    }
    /// D.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// The first NaN or infinity, as [`Error::NonFinite`] (row = sample, col = position
    /// within the sample's L x D values); the one search of every entry point.
    pub(crate) fn reject_non_finite(&self) -> Result<()> {
        let per_sample = (self.layers * self.dim).max(1);
        // PERF: a chunk at a time without an early exit, in vectorised code (`position`
        // tested one value at a time: 2.7 ms for a 1024 x 13 x 768 f32 tensor), then
        // the bad chunk value by value.
        const CHUNK: usize = 4096;
        let values = self.data;
        let bad = with_best_isa(|| {
            values.chunks(CHUNK).position(|c| !c.iter().fold(true, |ok, v| ok & v.to_f32().is_finite()))
        });
        let Some(chunk) = bad else { return Ok(()) };
        let i = chunk * CHUNK + values[chunk * CHUNK..].iter().position(|v| !v.to_f32().is_finite()).unwrap_or(0);
        Err(Error::NonFinite { row: i / per_sample, col: i % per_sample })
    }
    /// All values, C order.
    pub fn values(&self) -> &'a [T] {
        self.data
    }
    /// Layer `l` as an N x D view (stride L x D): no copy. Panics if `l >= layers`.
    pub fn layer(&self, l: usize) -> Matrix<'a, T> {
        assert!(l < self.layers, "layer {l} of {}", self.layers);
        let stride = self.layers * self.dim;
        let start = (l * self.dim).min(self.data.len());
        Matrix::with_stride(&self.data[start..], self.samples, self.dim, stride.max(self.dim))
            .expect("in bounds by construction")
    }
}

/// A tensor of any supported element type, for callers that learn the dtype at run time.
#[derive(Debug, Clone, Copy)]
pub enum AnyLayers<'a> {
    /// f32 elements.
    F32(Layers<'a, f32>),
    /// f16 elements.
    F16(Layers<'a, f16>),
    /// bf16 elements.
    Bf16(Layers<'a, bf16>),
}

impl<'a> AnyLayers<'a> {
    /// N.
    pub fn samples(&self) -> usize {
        each_dtype!(AnyLayers, self, x => x.samples())
    }
    /// L.
    pub fn layers(&self) -> usize {
        each_dtype!(AnyLayers, self, x => x.layers())
    }
    /// D.
    pub fn dim(&self) -> usize {
        each_dtype!(AnyLayers, self, x => x.dim())
    }
    /// The element type.
    pub fn dtype(&self) -> Dtype {
        each_dtype!(AnyLayers, self, x => element_dtype(x))
    }
    /// Layer `l` as an N x D view. Panics if `l >= layers`.
    pub fn layer(&self, l: usize) -> AnyMatrix<'a> {
        each_dtype!(AnyLayers, self, x => x.layer(l).into())
    }
    /// Every layer, as N x D views.
    pub fn layer_views(&self) -> Vec<AnyMatrix<'a>> {
        (0..self.layers()).map(|l| self.layer(l)).collect()
    }
    /// The first NaN or infinity, located as [`prepare::prepare`] reports it (row = sample,
    /// col = position within the sample's L x D values), without a prepared copy.
    pub fn scan(&self) -> Result<()> {
        each_dtype!(AnyLayers, self, x => x.reject_non_finite())
    }
    /// Prepared f32 values (N x L x D) and the clamp threshold; see [`prepare::prepare`].
    pub fn prepare(&self, mode: Prepare, q: f64, exec: &Exec<'_>) -> Result<(Vec<f32>, f32)> {
        each_dtype!(AnyLayers, self, x => prepare::prepare(x, mode, q, exec))
    }
    /// The clamp threshold of the paper's preparation at quantile `q`: over the whole tensor
    /// ([`prepare::threshold_exact`]) or the mean of per-sample quantiles
    /// ([`prepare::threshold_per_sample`]).
    pub fn threshold(&self, per_sample: bool, q: f64, exec: &Exec<'_>) -> Result<f32> {
        if per_sample {
            each_dtype!(AnyLayers, self, x => prepare::threshold_per_sample(x, q))
        } else {
            each_dtype!(AnyLayers, self, x => prepare::threshold_exact(x, q, exec))
        }
    }
    /// Every layer after preparation with `mode` at quantile `q`: views of this tensor for
    /// [`Prepare::None`] (after the NaN/infinity check every mode makes), else views of
    /// `buf`, which receives the prepared f32 values.
    pub fn prepared_layers<'b>(
        &self,
        mode: Prepare,
        q: f64,
        exec: &Exec<'_>,
        buf: &'b mut Vec<f32>,
    ) -> Result<Vec<AnyMatrix<'b>>>
    where
        'a: 'b,
    {
        if mode == Prepare::None {
            self.scan()?;
            return Ok(self.layer_views());
        }
        *buf = self.prepare(mode, q, exec)?.0;
        let prepared = Layers::new(&buf[..], self.samples(), self.layers(), self.dim())?;
        Ok(AnyLayers::from(prepared).layer_views())
    }
}

fn element_dtype<T: Element>(_: &Layers<'_, T>) -> Dtype {
    T::DTYPE
}

crate::element::from_each_dtype!(AnyLayers, Layers);

/// Owned values of one dtype (e.g. read from a file), viewed as matrices or tensors.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// f32 elements.
    F32(Vec<f32>),
    /// f16 elements.
    F16(Vec<f16>),
    /// bf16 elements.
    Bf16(Vec<bf16>),
}

impl Values {
    /// Number of values.
    pub fn len(&self) -> usize {
        each_dtype!(Values, self, v => v.len())
    }
    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            Values::F32(_) => Dtype::F32,
            Values::F16(_) => Dtype::F16,
            Values::Bf16(_) => Dtype::Bf16,
        }
    }
    /// The values as a dense `rows x cols` matrix.
    pub fn matrix(&self, rows: usize, cols: usize) -> Result<AnyMatrix<'_>> {
        each_dtype!(Values, self, v => Matrix::new(v, rows, cols).map(AnyMatrix::from))
    }
    /// The values as a `samples x layers x dim` tensor.
    pub fn layers(&self, samples: usize, layers: usize, dim: usize) -> Result<AnyLayers<'_>> {
        each_dtype!(Values, self, v => Layers::new(v, samples, layers, dim).map(AnyLayers::from))
    }
    /// The values at `rows` (each a run of `cols`), in that order: a subset of samples.
    pub fn gather(&self, cols: usize, rows: &[usize]) -> Values {
        fn go<T: Copy>(v: &[T], cols: usize, rows: &[usize]) -> Vec<T> {
            rows.iter().flat_map(|&r| v[r * cols..(r + 1) * cols].iter().copied()).collect()
        }
        match self {
            Values::F32(v) => Values::F32(go(v, cols, rows)),
            Values::F16(v) => Values::F16(go(v, cols, rows)),
            Values::Bf16(v) => Values::Bf16(go(v, cols, rows)),
        }
    }
    /// Every value widened to f64 (exact).
    pub fn to_f64(&self) -> Vec<f64> {
        each_dtype!(Values, self, v => v.iter().map(|x| f64::from(x.to_f32())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_strided_views_and_values_reshape() {
        let v: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let x = Layers::new(&v, 2, 3, 4).unwrap();
        assert_eq!(x.layer(1).row(1), &v[16..20]);
        let owned = Values::F32(v.clone());
        let any = owned.layers(2, 3, 4).unwrap();
        assert_eq!((any.samples(), any.layers(), any.dim(), any.dtype()), (2, 3, 4, Dtype::F32));
        assert_eq!(any.layer_views().len(), 3);
        assert_eq!(owned.layers(2, 3, 5).unwrap_err(), Error::BufferTooShort { needed: 30, len: 24 });
        assert_eq!(owned.gather(12, &[1]).len(), 12);
        let mut bad = v;
        bad[13] = f32::NAN;
        let bad = Values::F32(bad);
        assert_eq!(bad.layers(2, 3, 4).unwrap().scan(), Err(Error::NonFinite { row: 1, col: 1 }));
    }

    /// `scan` names the first NaN or infinity wherever it falls against its chunks of
    /// 4096 values (first, last, either side of a boundary, the tensor's last value), the
    /// earlier of two in different chunks, in every dtype.
    #[test]
    fn scan_finds_the_first_bad_value_across_chunks() {
        use alloc::vec;
        let (n, l, d) = (3, 2, 2100);
        let per = l * d;
        let clean: Vec<f32> = (0..n * per).map(|i| (i % 17) as f32 - 8.0).collect();
        for bad in [vec![0], vec![4095], vec![4096], vec![8191, 8192], vec![12599], vec![9000, 4100], vec![4097, 4096]]
        {
            let mut v = clean.clone();
            for (j, &at) in bad.iter().enumerate() {
                v[at] = if j % 2 == 0 { f32::NAN } else { f32::NEG_INFINITY };
            }
            let first = *bad.iter().min().unwrap();
            let want = Err(Error::NonFinite { row: first / per, col: first % per });
            let f16s: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
            let bf16s: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
            for values in [Values::F32(v), Values::F16(f16s), Values::Bf16(bf16s)] {
                assert_eq!(
                    values.layers(n, l, d).unwrap().scan(),
                    want,
                    "{bad:?}, {:?}",
                    values.layers(n, l, d).unwrap().dtype()
                );
            }
        }
        assert_eq!(Values::F32(clean).layers(n, l, d).unwrap().scan(), Ok(()));
    }
}
