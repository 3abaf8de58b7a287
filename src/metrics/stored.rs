//! A layer state as bytes, and back: what an on-disk cache ([`crate::cache`]) or another
//! process (a cluster worker) keeps of a layer so that nobody computes it twice.
//!
//! The format is this build's: a reader refuses bytes written for another format version
//! or another metric (parameters included), and checks every length and index against
//! the header before it allocates or indexes, so malformed bytes are an error, never a
//! panic, an allocation larger than the input, or an out-of-range neighbour. It does not
//! detect a flipped bit inside a value: a store checksums what it keeps (the cache does).
//!
//! Layout, little-endian: magic `RPSTATE1`, the metric's description (length-prefixed
//! UTF-8), the tied-row count (u64, all ones for none), then a tag and the state's fields.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::kernel::KernelMatrix;
use super::linear::LinearBasis;
use super::metric::{LayerState, Metric, State};
use super::rsa::{Corr, RsaVector, Values};
use super::svcca::SvccaBasis;
use crate::error::{Error, Result, out_of_memory};
use crate::isa::Isa;
use crate::knn::KnnGraph;

const MAGIC: &[u8; 8] = b"RPSTATE1";
const MALFORMED: Error =
    Error::InvalidParameter { what: "stored layer state is malformed, of another version or of another metric" };
const NONE: u64 = u64::MAX;
const WHAT: &str = "a stored layer state";

/// The metric's identity in stored bytes: every parameter, exactly (an f64 prints its
/// shortest round-trip form).
pub(crate) fn metric_id(metric: &Metric) -> String {
    format!("{metric:?}")
}

impl LayerState {
    /// The state as bytes, for [`LayerState::from_bytes`] of this build.
    /// A buffer the allocator refuses is [`Error::OutOfMemory`].
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer(Vec::new());
        w.reserve(self.stored_len())?;
        w.bytes(MAGIC);
        let id = metric_id(&self.metric);
        w.u64(id.len() as u64);
        w.bytes(id.as_bytes());
        w.u64(self.tied.map_or(NONE, |t| t as u64));
        match &self.state {
            State::Graph(g) => {
                w.u8(0);
                w.isa(g.isa);
                w.u64(g.rows as u64);
                w.u64(g.k as u64);
                g.indices.iter().for_each(|&i| w.u32(i));
                g.scores.iter().for_each(|&s| w.u32(s.to_bits()));
            }
            State::Kernel(k) => {
                w.u8(1);
                w.isa(Some(k.isa));
                w.u64(k.n as u64);
                k.own.iter().for_each(|o| w.u64(o.map_or(NONE, f64::to_bits)));
                k.values.iter().for_each(|&v| w.f64(v));
            }
            State::Basis(b) => {
                w.u8(2);
                w.u64(b.n as u64);
                w.u64(b.dim as u64);
                b.u.iter().for_each(|&v| w.f64(v));
            }
            State::Linear(b) => {
                w.u8(3);
                w.u64(b.n as u64);
                w.u64(b.d as u64);
                w.u64(b.cols as u64);
                w.f64(b.frobenius2);
                b.values.iter().for_each(|&v| w.f64(v));
            }
            State::Rsa(v) => {
                w.u8(4);
                w.isa(v.isa);
                w.u64(v.n as u64);
                match &v.values {
                    Values::Ranks { doubled, spread } => {
                        w.u8(0);
                        w.bytes(&spread.to_le_bytes());
                        doubled.iter().for_each(|&r| w.u32(r));
                    }
                    Values::Standard(s) => {
                        w.u8(1);
                        s.iter().for_each(|&x| w.f64(x));
                    }
                }
            }
        }
        Ok(w.0)
    }

    /// An upper bound of [`LayerState::to_bytes`]' length.
    fn stored_len(&self) -> usize {
        let body = match &self.state {
            State::Graph(g) => g.indices.len() * 8,
            State::Kernel(k) => k.values.len() * 8,
            State::Basis(b) => b.u.len() * 8,
            State::Linear(b) => b.values.len() * 8,
            State::Rsa(v) => match &v.values {
                Values::Ranks { doubled, .. } => doubled.len() * 4,
                Values::Standard(s) => s.len() * 8,
            },
        };
        body.saturating_add(256)
    }

    /// The state `bytes` hold, which must have been made for `metric` (every parameter
    /// equal) by [`LayerState::to_bytes`] of this format. Anything else is
    /// [`Error::InvalidParameter`]; a buffer the allocator refuses is [`Error::OutOfMemory`].
    pub fn from_bytes(bytes: &[u8], metric: &Metric) -> Result<LayerState> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return Err(MALFORMED);
        }
        let id_len = r.len(1)?;
        if r.take(id_len)? != metric_id(metric).as_bytes() {
            return Err(MALFORMED);
        }
        let tied = match r.u64()? {
            NONE => None,
            t => Some(usize::try_from(t).map_err(|_| MALFORMED)?),
        };
        let state = match (r.u8()?, *metric) {
            (0, Metric::Knn { k: want, .. }) => {
                let isa = r.isa()?;
                let (rows, k) = (r.len(1)?, r.len(1)?);
                let len = rows.checked_mul(k).ok_or(MALFORMED)?;
                if k != want || tied.is_none_or(|t| t > rows) {
                    return Err(MALFORMED);
                }
                let indices = r.each(len, 4, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))?;
                // Rows index each other, self excluded: anything else would mislead a metric.
                let bad = |(at, &j): (usize, &u32)| j as usize >= rows || j as usize == at / k;
                if indices.iter().enumerate().any(bad) {
                    return Err(MALFORMED);
                }
                let scores = r.each(len, 4, |b| f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))?;
                State::Graph(KnnGraph { rows, k, indices, scores, isa })
            }
            (1, Metric::Cka { .. } | Metric::Cknna { .. } | Metric::RvCoefficient) => {
                let isa = r.isa()?.ok_or(MALFORMED)?;
                let n = r.len(8)?;
                let mut own = [None; 2];
                for o in &mut own {
                    *o = match r.u64()? {
                        NONE => None,
                        bits => Some(f64::from_bits(bits)),
                    };
                }
                let values = r.f64s(n.checked_mul(n).ok_or(MALFORMED)?)?;
                State::Kernel(KernelMatrix { n, values, isa, own })
            }
            (2, Metric::Svcca { cca_dim }) => {
                let (n, dim) = (r.len(1)?, r.len(1)?);
                if dim != cca_dim {
                    return Err(MALFORMED);
                }
                let u = r.f64s(n.checked_mul(dim).ok_or(MALFORMED)?)?;
                State::Basis(SvccaBasis { n, dim, u })
            }
            (3, Metric::Procrustes | Metric::Cca | Metric::Pwcca) => {
                let (n, d, cols) = (r.len(1)?, r.len(1)?, r.len(1)?);
                if cols > d.max(n) {
                    return Err(MALFORMED);
                }
                let frobenius2 = r.f64()?;
                let values = r.f64s(n.checked_mul(cols).ok_or(MALFORMED)?)?;
                State::Linear(LinearBasis { n, d, cols, values, frobenius2 })
            }
            (4, Metric::Rsa { corr, .. }) => {
                let isa = r.isa()?;
                let n = r.len(1)?;
                let pairs = n.checked_mul(n.saturating_sub(1)).ok_or(MALFORMED)? / 2;
                let values = match (r.u8()?, corr) {
                    (0, Corr::Spearman) => {
                        let spread = u128::from_le_bytes(r.take(16)?.try_into().map_err(|_| MALFORMED)?);
                        let doubled = r.each(pairs, 4, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))?;
                        // Doubled average ranks lie in 2..=2M.
                        if doubled.iter().any(|&x| x < 2 || x as usize > 2 * pairs) {
                            return Err(MALFORMED);
                        }
                        Values::Ranks { doubled, spread }
                    }
                    (1, Corr::Pearson) => Values::Standard(r.f64s(pairs)?),
                    _ => return Err(MALFORMED),
                };
                State::Rsa(RsaVector { n, values, isa })
            }
            _ => return Err(MALFORMED),
        };
        if !r.0.is_empty() {
            return Err(MALFORMED);
        }
        Ok(LayerState { metric: *metric, state, tied })
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn reserve(&mut self, len: usize) -> Result<()> {
        self.0.try_reserve_exact(len).map_err(|_| out_of_memory::<u8>(len, WHAT))
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn u8(&mut self, x: u8) {
        self.0.push(x);
    }
    fn u32(&mut self, x: u32) {
        self.bytes(&x.to_le_bytes());
    }
    fn u64(&mut self, x: u64) {
        self.bytes(&x.to_le_bytes());
    }
    fn f64(&mut self, x: f64) {
        self.u64(x.to_bits());
    }
    fn isa(&mut self, isa: Option<Isa>) {
        self.u8(isa.and_then(|i| Isa::ALL.iter().position(|&x| x == i)).map_or(u8::MAX, |i| i as u8));
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.0.len() {
            return Err(MALFORMED);
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| MALFORMED)?))
    }
    fn f64(&mut self) -> Result<f64> {
        self.u64().map(f64::from_bits)
    }
    /// A count of items of `size` bytes each: no more than the bytes left could hold.
    fn len(&mut self, size: usize) -> Result<usize> {
        let x = usize::try_from(self.u64()?).map_err(|_| MALFORMED)?;
        if x > self.0.len() / size.max(1) {
            return Err(MALFORMED);
        }
        Ok(x)
    }
    fn isa(&mut self) -> Result<Option<Isa>> {
        match self.u8()? {
            u8::MAX => Ok(None),
            i => Isa::ALL.get(usize::from(i)).copied().map(Some).ok_or(MALFORMED),
        }
    }
    /// `count` items of `size` bytes; the bytes are checked before the allocation.
    fn each<T>(&mut self, count: usize, size: usize, f: impl Fn(&[u8]) -> T) -> Result<Vec<T>> {
        let raw = self.take(count.checked_mul(size).ok_or(MALFORMED)?)?;
        let mut out = Vec::new();
        out.try_reserve_exact(count).map_err(|_| out_of_memory::<T>(count, WHAT))?;
        out.extend(raw.chunks_exact(size).map(f));
        Ok(out)
    }
    fn f64s(&mut self, count: usize) -> Result<Vec<f64>> {
        self.each(count, 8, |b| f64::from_bits(u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))))
    }
}
