//! Feature preparation as the paper's `prepare_features`: clamp outliers at the q-quantile
//! of |x| (default q = 0.95), then L2-normalise each row (`v / max(|v|, 1e-12)`).
//!
//! Both of the reference's clamp thresholds, over an N x L x D tensor (samples x layers x
//! features; one threshold serves every layer of a model):
//! - [`threshold_exact`]: the element at 0-based index `floor(q * numel)` of the ascending
//!   |x| of the whole tensor (its library entry point). Found by a two-pass radix select
//!   on the f32 bit patterns: O(numel) time, 512 KiB of counters, no sort, no copy.
//! - [`threshold_per_sample`]: the mean over samples of each sample's linearly interpolated
//!   q-quantile of |x| over its L x D values (the default of its measurement script).

use alloc::vec;
use alloc::vec::Vec;

use crate::dispatch::with_best_isa;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::exec::Exec;
pub use crate::layers::Layers;
use crate::pool;

fn check_q(q: f64) -> Result<()> {
    if q > 0.0 && q <= 1.0 { Ok(()) } else { Err(Error::InvalidParameter { what: "q must be in (0, 1]" }) }
}

/// |x| as ordered bits (non-negative floats order like their bit patterns), or the error
/// naming the first NaN/infinity (row = sample, col = position within the sample).
fn abs_bits<T: Element>(x: T, flat: usize, per_sample: usize) -> Result<u32> {
    let bits = x.to_f32().to_bits() & 0x7fff_ffff;
    if bits >= 0x7f80_0000 {
        return Err(Error::NonFinite { row: flat / per_sample.max(1), col: flat % per_sample.max(1) });
    }
    Ok(bits)
}

/// The exact-mode threshold: |x| at ascending index `floor(q * numel)` over all values.
/// `q = 1` means no clamping and returns `f32::INFINITY`.
pub fn threshold_exact<T: Element>(x: &Layers<'_, T>, q: f64, exec: &Exec<'_>) -> Result<f32> {
    check_q(q)?;
    let values = x.values();
    if values.is_empty() {
        return Err(Error::EmptyMatrix);
    }
    if q == 1.0 {
        // No clamping, but the values are still checked like everywhere else.
        x.reject_non_finite()?;
        return Ok(f32::INFINITY);
    }
    let per_sample = x.layers() * x.dim();
    let rank = (q * values.len() as f64) as usize; // truncation, as the reference's int()
    // Radix select on the bits of |x| (ordered like the values): the high 16 bits first,
    // then the low 16 bits within the chosen bucket. The first pass also rejects NaN/inf.
    let threads = exec.workers();
    let counts = histogram(threads, values, |i, v| Ok(Some((abs_bits(v, i, per_sample)? >> 16) as usize)))?;
    let (high, below) = bucket_of(&counts, rank);
    let counts = histogram(threads, values, |_, v| {
        let bits = v.to_f32().to_bits() & 0x7fff_ffff;
        Ok((bits >> 16 == high).then_some((bits & 0xffff) as usize))
    })?;
    let (low, _) = bucket_of(&counts, rank - below);
    Ok(f32::from_bits(high << 16 | low))
}

/// Counts of the 2^16 buckets that `key(flat index, value)` assigns (`None`: not counted),
/// over contiguous parts of `values` on `threads` workers. An error in several parts is
/// reported for the lowest index, so the answer never depends on the thread count.
fn histogram<T: Element>(
    threads: usize,
    values: &[T],
    key: impl Fn(usize, T) -> Result<Option<usize>> + Sync,
) -> Result<Vec<u64>> {
    let count = |offset: usize, part: &[T]| -> Result<Vec<u64>> {
        let mut counts = vec![0u64; 1 << 16];
        for (i, &v) in part.iter().enumerate() {
            if let Some(b) = key(offset + i, v)? {
                counts[b] += 1;
            }
        }
        Ok(counts)
    };
    let per = part_len(values.len(), 1, threads);
    let mut total = vec![0u64; 1 << 16];
    for counts in pool::map(threads, values.chunks(per).enumerate().collect(), |(p, part)| count(p * per, part)) {
        total.iter_mut().zip(counts?).for_each(|(t, c)| *t += c);
    }
    Ok(total)
}

/// Elements per part when `len` elements, in whole runs of `run`, are split over `threads`.
fn part_len(len: usize, run: usize, threads: usize) -> usize {
    let run = run.max(1);
    len.div_ceil(run).div_ceil(threads.max(1)).max(1) * run
}

/// The bucket holding the element of ascending rank `rank`, and how many lie below it.
fn bucket_of(counts: &[u64], rank: usize) -> (u32, usize) {
    let mut below = 0usize;
    for (b, &c) in counts.iter().enumerate() {
        if below + c as usize > rank {
            return (b as u32, below);
        }
        below += c as usize;
    }
    unreachable!("rank < number of counted values")
}

/// The per-sample-mode threshold: mean over samples of the linearly interpolated
/// q-quantile of each sample's |x| (position `q * (m - 1)` among its m values).
/// `q = 1` means no clamping and returns `f32::INFINITY`, as in exact mode (the reference's
/// `remove_outliers` returns its input unchanged for q = 1 in both modes).
pub fn threshold_per_sample<T: Element>(x: &Layers<'_, T>, q: f64) -> Result<f32> {
    check_q(q)?;
    let m = x.layers() * x.dim();
    if x.samples() == 0 || m == 0 {
        return Err(Error::EmptyMatrix);
    }
    if q == 1.0 {
        for (i, &v) in x.values().iter().enumerate() {
            abs_bits(v, i, m)?;
        }
        return Ok(f32::INFINITY);
    }
    let mut buf: Vec<f32> = Vec::with_capacity(m);
    let mut total = 0.0f64;
    for (s, sample) in x.values().chunks_exact(m).enumerate() {
        buf.clear();
        for (i, &v) in sample.iter().enumerate() {
            buf.push(f32::from_bits(abs_bits(v, s * m + i, m)?));
        }
        let pos = q * (m - 1) as f64;
        let lo = pos as usize;
        let frac = pos - lo as f64;
        let (_, &mut v_lo, right) = buf.select_nth_unstable_by(lo, f32::total_cmp);
        let v_hi = right.iter().copied().fold(f32::INFINITY, f32::min);
        let v_hi = if lo + 1 < m { v_hi } else { v_lo };
        total += f64::from(v_lo) + frac * (f64::from(v_hi) - f64::from(v_lo));
    }
    Ok((total / x.samples() as f64) as f32)
}

/// Clamps every value to `[-t, t]` and L2-normalises each run of `dim` values (each row of
/// each layer) as the reference does: `v / max(|v|, 1e-12)`. Returns a new f32 tensor.
pub fn clamp_and_normalize<T: Element>(x: &Layers<'_, T>, t: f32, normalize: bool, exec: &Exec<'_>) -> Vec<f32> {
    clamp_and_normalize_checked(x, t, normalize, exec).0
}

/// [`clamp_and_normalize`], and whether every row's sum of squares was finite (so that no
/// value was NaN or infinite; a `false` may also be a finite row too large to square).
fn clamp_and_normalize_checked<T: Element>(
    x: &Layers<'_, T>,
    t: f32,
    normalize: bool,
    exec: &Exec<'_>,
) -> (Vec<f32>, bool) {
    let values = x.values();
    let threads = exec.workers();
    let mut out = vec![0.0f32; values.len()];
    let run = if x.dim() > 0 { x.dim() } else { values.len().max(1) };
    let per = part_len(values.len(), run, threads);
    let parts: Vec<(&[T], &mut [f32])> = values.chunks(per).zip(out.chunks_mut(per)).collect();
    let normalize = normalize && x.dim() > 0;
    let finite = pool::map(threads, parts, |(src, dst)| with_best_isa(|| clamp_rows(src, dst, run, t, normalize)));
    (out, finite.into_iter().all(|f| f))
}

/// Clamps `src` into `dst` and, with `normalize`, scales each run of `run` values to unit
/// norm (v / max(|v|, 1e-12)).
/// Returns whether every run's sum of squares was finite.
#[inline(always)]
fn clamp_rows<T: Element>(src: &[T], dst: &mut [f32], run: usize, t: f32, normalize: bool) -> bool {
    let mut finite = true;
    // PERF: one pass per row while it is in cache: widen (vector conversions), clamp, and
    // sum squares into eight f64 accumulators (a fixed order, so the same bits on every
    // machine, and no serial chain of dependent adds).
    for (src, row) in src.chunks(run).zip(dst.chunks_mut(run)) {
        T::widen(src, row);
        finite &= clamp_row(row, t, normalize, false);
    }
    finite
}

/// Clamps one run of values in place and, with `normalize`, scales it to unit norm;
/// returns whether its sum of squares was finite. With `keep_bad`, a run that is not is
/// left unscaled: its NaN or infinity stays where it was, for the error to name.
///
/// The arithmetic is scalar in form (value `i` of the run goes to f64 accumulator `i % 8`,
/// in order; f64 products of f32 values are exact, so a fused multiply-add gives the same
/// bits), and it is the same on every backend. PERF: callers run it inside
/// [`with_best_isa`], whose target features let the compiler put the eight accumulators in
/// one AVX-512 register (two AVX2 ones): compiled for baseline x86-64 it kept them on the
/// stack, one dependent store and reload per addition, and preparing the 13 x 13 sweep's
/// two 1024 x 13 x 768 tensors took 3.3-3.5 ms on two threads (see BENCHMARKS.md).
#[inline(always)]
fn clamp_row(row: &mut [f32], t: f32, normalize: bool, keep_bad: bool) -> bool {
    let sum = clamp_and_sum_squares(row, t);
    let finite = sum.is_finite();
    if normalize && (finite || !keep_bad) {
        let norm = libm::sqrt(sum);
        let norm32 = (norm as f32).max(1e-12);
        if norm32.is_finite() {
            row.iter_mut().for_each(|v| *v /= norm32);
        } else {
            // A norm beyond f32 (e.g. a row of 3e38s): divide in f64 and round once; the
            // quotient is at most 1, so representable. Ordinary rows keep the f32 division
            // of the reference (and its bits).
            row.iter_mut().for_each(|v| *v = (f64::from(*v) / norm) as f32);
        }
    }
    finite
}

/// Clamps `row` to `[-t, t]` in place and returns its sum of squares in f64: value `i` into
/// accumulator `i % 8`, in order, then the accumulators summed pairwise.
#[inline(always)]
fn clamp_and_sum_squares(row: &mut [f32], t: f32) -> f64 {
    let mut acc = [0.0f64; 8];
    // `clamp(-inf, inf)` is the identity (NaN included): without a threshold, only the sum.
    let clamps = t < f32::INFINITY;
    let mut eights = row.chunks_exact_mut(8);
    for chunk in &mut eights {
        for (a, v) in acc.iter_mut().zip(chunk.iter_mut()) {
            if clamps {
                *v = v.clamp(-t, t);
            }
            *a += f64::from(*v) * f64::from(*v);
        }
    }
    for (a, v) in acc.iter_mut().zip(eights.into_remainder()) {
        if clamps {
            *v = v.clamp(-t, t);
        }
        *a += f64::from(*v) * f64::from(*v);
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// How features are prepared before a layer sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepare {
    /// As given.
    None,
    /// Row L2 normalisation only.
    Normalize,
    /// The paper's pipeline: exact-threshold clamp (q = 0.95), then normalisation.
    Paper,
    /// Per-sample-threshold clamp (q = 0.95), then normalisation (the reference script's default).
    PaperPerSample,
    /// The exact-threshold clamp alone: the reference's `prepare_features(feats, q, exact=True)`
    /// (its `compute_score` normalises later).
    Clamp,
    /// The per-sample-threshold clamp alone: `prepare_features(feats, q, exact=False)`.
    ClampPerSample,
}

impl Prepare {
    /// Every mode's name, as [`Prepare::from_name`] takes them.
    pub const NAMES: [&'static str; 6] =
        ["none", "normalize", "paper", "paper-per-sample", "clamp", "clamp-per-sample"];

    /// `none`, `normalize`, `paper`, `paper-per-sample`, `clamp`, `clamp-per-sample`.
    pub fn from_name(name: &str) -> Option<Prepare> {
        Some(match name {
            "none" => Prepare::None,
            "normalize" => Prepare::Normalize,
            "paper" => Prepare::Paper,
            "paper-per-sample" => Prepare::PaperPerSample,
            "clamp" => Prepare::Clamp,
            "clamp-per-sample" => Prepare::ClampPerSample,
            _ => return None,
        })
    }

    /// Whether rows are L2-normalised (after any clamp).
    pub fn normalizes(self) -> bool {
        matches!(self, Prepare::Normalize | Prepare::Paper | Prepare::PaperPerSample)
    }

    /// Whether values are clamped at a quantile `q` (which the mode then uses).
    pub fn clamps(self) -> bool {
        !matches!(self, Prepare::None | Prepare::Normalize)
    }
}

/// Prepares a tensor: returns the f32 values (N x L x D) and the clamp threshold used
/// (`f32::INFINITY` when there was no clamping). Runs on `exec.threads` workers; the
/// result does not depend on them.
pub fn prepare<T: Element>(x: &Layers<'_, T>, mode: Prepare, q: f64, exec: &Exec<'_>) -> Result<(Vec<f32>, f32)> {
    let t = threshold(x, mode, q, exec)?;
    let (out, finite) = clamp_and_normalize_checked(x, t, mode.normalizes(), exec);
    if !finite {
        // PERF: looked for only when a row's sum of squares says so: a serial scan of every
        // value was a quarter of a normalised 13 x 13 sweep's time.
        x.reject_non_finite()?;
    }
    Ok((out, t))
}

/// [`prepare`] of an f32 tensor (N x L x D values) into its own values: the same bits,
/// without a second copy of the tensor. Returns the clamp threshold used. On an error
/// the values are as given (a bad `q`, shape or threshold), or, for a NaN or infinity
/// (reported as [`prepare`] does), prepared in the rows before it.
///
/// PERF: a fresh copy's pages are faulted in and zeroed by the kernel: preparing the 13
/// x 13 sweep's two 1024 x 13 x 768 tensors took 34-40 ms of its 130 (Zen 5, two
/// threads); see BENCHMARKS.md.
pub fn prepare_in_place(
    values: &mut [f32],
    samples: usize,
    layers: usize,
    dim: usize,
    mode: Prepare,
    q: f64,
    exec: &Exec<'_>,
) -> Result<f32> {
    let t = threshold(&Layers::new(values, samples, layers, dim)?, mode, q, exec)?;
    if mode == Prepare::None || values.is_empty() {
        return Ok(t);
    }
    let threads = exec.workers();
    let run = if dim > 0 { dim } else { values.len() };
    let per = part_len(values.len(), run, threads);
    let normalize = mode.normalizes() && dim > 0;
    let parts: Vec<&mut [f32]> = values.chunks_mut(per).collect();
    let finite = pool::map(threads, parts, |part| {
        with_best_isa(|| part.chunks_mut(run).fold(true, |f, row| clamp_row(row, t, normalize, true) & f))
    });
    if !finite.into_iter().all(|f| f) {
        Layers::new(values, samples, layers, dim)?.reject_non_finite()?;
    }
    Ok(t)
}

/// The clamp threshold of `mode` (`f32::INFINITY` where it does not clamp).
fn threshold<T: Element>(x: &Layers<'_, T>, mode: Prepare, q: f64, exec: &Exec<'_>) -> Result<f32> {
    match mode {
        Prepare::None | Prepare::Normalize => Ok(f32::INFINITY),
        Prepare::Paper | Prepare::Clamp => threshold_exact(x, q, exec),
        Prepare::PaperPerSample | Prepare::ClampPerSample => threshold_per_sample(x, q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Exec<'static> = Exec::new();

    /// The clamp-only modes are the paper modes without the normalisation; q = 1 clamps
    /// nothing in either threshold mode (the reference returns its input for q = 1).
    #[test]
    fn clamp_modes_and_q_one() {
        let v: Vec<f32> = (0..600).map(|i| ((i * 37 % 101) as f32 - 50.0) / 3.0).collect();
        let x = Layers::new(&v, 10, 3, 20).unwrap();
        for (clamp, paper) in [(Prepare::Clamp, Prepare::Paper), (Prepare::ClampPerSample, Prepare::PaperPerSample)] {
            let (c, tc) = prepare(&x, clamp, 0.9, &E).unwrap();
            let (p, tp) = prepare(&x, paper, 0.9, &E).unwrap();
            assert_eq!(tc, tp);
            assert!(tc.is_finite() && tc > 0.0);
            let want: Vec<f32> = v.iter().map(|x| x.clamp(-tc, tc)).collect();
            assert_eq!(c, want, "{clamp:?}");
            assert_ne!(c, p);
            assert!(clamp.clamps() && !clamp.normalizes() && paper.normalizes());
            let (all, t1) = prepare(&x, clamp, 1.0, &E).unwrap();
            assert_eq!((all, t1), (v.clone(), f32::INFINITY), "{clamp:?} q = 1");
        }
        for name in Prepare::NAMES {
            assert!(Prepare::from_name(name).is_some(), "{name}");
        }
        let mut nan = v.clone();
        nan[45] = f32::NAN;
        let x = Layers::new(&nan, 10, 3, 20).unwrap();
        assert_eq!(threshold_per_sample(&x, 1.0), Err(Error::NonFinite { row: 0, col: 45 }));
    }

    #[test]
    fn normalize_names_the_first_non_finite_value_and_keeps_huge_rows() {
        // 4 samples x 2 layers x 3 features.
        let mut v: Vec<f32> = (0..24).map(|i| i as f32 - 11.5).collect();
        // Finite rows too large to square in f32 (their f64 sums are fine): no error.
        v[6..9].copy_from_slice(&[3e38, -3e38, 3e38]);
        for mode in [Prepare::None, Prepare::Normalize] {
            let (out, _) = prepare(&Layers::new(&v, 4, 2, 3).unwrap(), mode, 0.95, &E).unwrap();
            assert!(out.iter().all(|x| x.is_finite()), "{mode:?}");
            let mut bad = v.clone();
            bad[17] = f32::NAN;
            bad[13] = f32::NEG_INFINITY;
            let got = prepare(&Layers::new(&bad, 4, 2, 3).unwrap(), mode, 0.95, &E);
            assert_eq!(got, Err(Error::NonFinite { row: 2, col: 1 }), "{mode:?}");
        }
    }

    #[test]
    fn exact_threshold_is_the_order_statistic() {
        let v: Vec<f32> =
            (0..1000).map(|i| ((i * 7919) % 1000) as f32 * if i % 2 == 0 { 1.0 } else { -1.0 } / 7.0).collect();
        let x = Layers::new(&v, 10, 4, 25).unwrap();
        let mut sorted: Vec<f32> = v.iter().map(|x| x.abs()).collect();
        sorted.sort_by(f32::total_cmp);
        for q in [0.5, 0.95, 0.999, 0.0001] {
            assert_eq!(threshold_exact(&x, q, &E).unwrap(), sorted[(q * 1000.0) as usize], "q={q}");
        }
        assert_eq!(threshold_exact(&x, 1.0, &E).unwrap(), f32::INFINITY);
        assert!(threshold_exact(&x, 0.0, &E).is_err());
    }

    /// A row whose norm overflows f32 (two 3e38s: |v| = 4.2e38) normalises to unit norm,
    /// not to zeros, and can then be scored.
    #[test]
    fn rows_with_a_norm_beyond_f32_normalise() {
        let v = [3e38f32, 3e38, 1.0, 2.0, -3e38, 3e38, 2.0, 1.0, 0.5, 0.25, 3.0, -1.0];
        let x = Layers::new(&v, 6, 1, 2).unwrap();
        let (out, _) = prepare(&x, Prepare::Normalize, 0.95, &E).unwrap();
        let h = core::f32::consts::FRAC_1_SQRT_2;
        assert_eq!(&out[..2], &[h, h]);
        assert_eq!(&out[4..6], &[-h, h]);
        for row in out.chunks(2) {
            let norm = f64::from(row[0]).hypot(f64::from(row[1]));
            assert!((norm - 1.0).abs() < 1e-6, "{row:?}");
        }
        let m = crate::Matrix::new(&out, 6, 2).unwrap();
        let metric = crate::Metric::Knn {
            metric: crate::metrics::KnnMetric::Mutual,
            k: 2,
            similarity: crate::knn::Similarity::Cosine,
        };
        assert_eq!(crate::metrics::score(m, m, &metric, &E).unwrap(), 1.0);
    }

    #[test]
    fn per_sample_threshold_interpolates() {
        // Two samples of 5 values: |x| = 0..4 and 10..14; q = 0.5 -> 2 and 12; mean 7.
        let v = [0.0f32, -1.0, 2.0, -3.0, 4.0, 14.0, 13.0, -12.0, 11.0, 10.0];
        let x = Layers::new(&v, 2, 1, 5).unwrap();
        assert_eq!(threshold_per_sample(&x, 0.5).unwrap(), 7.0);
        // q = 0.9: position 3.6 -> 3.6 and 13.6; mean 8.6.
        assert!((threshold_per_sample(&x, 0.9).unwrap() - 8.6).abs() < 1e-6);
    }

    #[test]
    fn q_of_one_still_rejects_nan() {
        let v = [1.0f32, f32::INFINITY, 2.0, 3.0];
        let x = Layers::new(&v, 2, 1, 2).unwrap();
        assert_eq!(threshold_exact(&x, 1.0, &E).unwrap_err(), Error::NonFinite { row: 0, col: 1 });
        assert_eq!(prepare(&x, Prepare::Paper, 1.0, &E).unwrap_err(), Error::NonFinite { row: 0, col: 1 });
    }

    #[test]
    fn nan_is_named_and_layers_are_strided_views() {
        let mut v = [1.0f32; 24];
        v[13] = f32::NAN;
        let x = Layers::new(&v, 2, 3, 4).unwrap();
        assert_eq!(threshold_exact(&x, 0.95, &E).unwrap_err(), Error::NonFinite { row: 1, col: 1 });
        assert_eq!(prepare(&x, Prepare::None, 0.95, &E).unwrap_err(), Error::NonFinite { row: 1, col: 1 });
    }

    /// In place, every mode gives `prepare`'s bits and threshold on every thread count,
    /// rows of a norm beyond f32 included; errors are `prepare`'s, and a bad value stays
    /// where it was.
    #[test]
    fn in_place_is_prepare() {
        let (n, l, d) = (37, 3, 29);
        let mut v: Vec<f32> = (0..n * l * d).map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 37.0).collect();
        v[5 * d..5 * d + 3].copy_from_slice(&[3e38, -3e38, 3e38]);
        v[100] = 1e4;
        let x = Layers::new(&v, n, l, d).unwrap();
        for mode in Prepare::NAMES.iter().map(|m| Prepare::from_name(m).unwrap()) {
            for threads in [1, 2, 3] {
                let exec = Exec::new().with_threads(threads);
                let (want, t) = prepare(&x, mode, 0.9, &exec).unwrap();
                let mut got = v.clone();
                assert_eq!(prepare_in_place(&mut got, n, l, d, mode, 0.9, &exec), Ok(t), "{mode:?}");
                assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{mode:?}, {threads}");
            }
        }
        let mut bad = v.clone();
        bad[2 * l * d + d + 4] = f32::NAN;
        let want = prepare(&Layers::new(&bad, n, l, d).unwrap(), Prepare::Normalize, 0.9, &E);
        assert_eq!(want, Err(Error::NonFinite { row: 2, col: d + 4 }));
        for mode in [Prepare::Normalize, Prepare::Paper, Prepare::PaperPerSample] {
            let mut got = bad.clone();
            assert_eq!(
                prepare_in_place(&mut got, n, l, d, mode, 0.9, &E),
                Err(Error::NonFinite { row: 2, col: d + 4 })
            );
            assert!(got[2 * l * d + d + 4].is_nan(), "{mode:?}");
        }
        let mut short = v[..10].to_vec();
        assert!(prepare_in_place(&mut short, n, l, d, Prepare::Normalize, 0.9, &E).is_err());
        assert_eq!(short, v[..10]);
    }

    #[test]
    fn clamps_then_normalises() {
        // One sample, three layers of two features; the last row is zero and stays zero.
        let v = [3.0f32, -4.0, 10.0, 0.0, 0.0, 0.0];
        let x = Layers::new(&v, 1, 3, 2).unwrap();
        assert_eq!(clamp_and_normalize(&x, 5.0, true, &E), [0.6, -0.8, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(clamp_and_normalize(&x, 5.0, false, &E), [3.0, -4.0, 5.0, 0.0, 0.0, 0.0]);
    }

    /// Every row's sum of squares is the eight-accumulator one (value `i` into accumulator
    /// `i % 8`, in order, then summed pairwise), bit for bit, in the vectorised code; and
    /// every prepared row is scaled by its norm: rows of every length around the eights,
    /// values spread over twelve orders of magnitude (where another order of summation
    /// rounds differently), clamped and not, in place and copied. Fails if the loop sums in
    /// any other order.
    #[test]
    fn rows_are_scaled_by_the_eight_accumulator_norm() {
        fn sum(row: &[f32]) -> f64 {
            let mut acc = [0.0f64; 8];
            for (i, &v) in row.iter().enumerate() {
                acc[i % 8] += f64::from(v) * f64::from(v);
            }
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        }
        let mut seed = 5u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
            let e = ((seed >> 3) % 13) as i32 - 6;
            ((u - 0.5) * 10f64.powi(e)) as f32
        };
        let mut differ = 0;
        for d in [1, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 767, 768, 769] {
            let n = 9;
            let v: Vec<f32> = (0..n * d).map(|_| next()).collect();
            for t in [f32::INFINITY, 0.7] {
                let clamped: Vec<f32> = v.iter().map(|x| x.clamp(-t, t)).collect();
                let mut inside = v.clone();
                let sums: Vec<f64> =
                    with_best_isa(|| inside.chunks_mut(d).map(|r| clamp_and_sum_squares(r, t)).collect());
                assert_eq!(inside, clamped, "D = {d}, t = {t}");
                let want: Vec<f64> = clamped.chunks(d).map(sum).collect();
                assert!(sums.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "D = {d}, t = {t}");
                // Summed in index order instead: the test can tell the orders apart.
                let seq = clamped.chunks(d).map(|r| r.iter().fold(0.0f64, |a, &x| a + f64::from(x) * f64::from(x)));
                differ += seq.zip(&want).filter(|(a, b)| a != *b).count();
                // Prepared rows are divided by the f32 norm of that sum.
                let scaled: Vec<f32> = clamped
                    .chunks(d)
                    .zip(&want)
                    .flat_map(|(row, &s)| row.iter().map(move |x| x / (libm::sqrt(s) as f32).max(1e-12)))
                    .collect();
                let x = Layers::new(&v, n, 1, d).unwrap();
                let got = clamp_and_normalize(&x, t, true, &Exec::new().with_threads(2));
                assert!(got.iter().zip(&scaled).all(|(a, b)| a.to_bits() == b.to_bits()), "D = {d}, t = {t}");
            }
        }
        assert!(differ > 10, "only {differ} rows tell the orders of summation apart");
    }
}
