//! Permutation nulls: how surprising is an alignment score?
//!
//! The null hypothesis is "no correspondence between the rows of A and B": each null
//! sample permutes B's rows at random and recomputes the score. Per-layer work is reused:
//! a permutation only relabels B's kNN graph (O(N k) per sample for mutual and Jaccard kNN,
//! O(N k²) for the ordered-list metrics), reorders one kernel matrix (O(N²)) or the rows of
//! an SVCCA basis. For a layer sweep one permutation serves every layer pair of a sample
//! and the sample's statistic is the maximum over pairs, so the best pair gets an honest
//! p-value. Sample s draws its permutation from its own generator seeded by (seed, s):
//! results depend on the seed, never on the thread count.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::knn::{GraphRef, KnnOptions};
use crate::matrix::AnyMatrix;
use crate::metrics::neighbours::{Scratch, knn_metric_unchecked};
use crate::metrics::{self, KnnMetric};
use crate::sweep::{Metric, PerLayer, SweepResult, per_layers, sweep_layers};

/// How many null samples, from which seed, at which level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationOptions {
    /// Number of random permutations P (>= 1).
    pub permutations: usize,
    /// Seed of the permutations.
    pub seed: u64,
    /// Level of the threshold `tau`: the (1 - alpha) quantile of the null. Default 0.05.
    pub alpha: f64,
    /// Worker threads, 0 = all cores. Results do not depend on it.
    pub threads: usize,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        Self { permutations: 1000, seed: 0, alpha: 0.05, threads: 0 }
    }
}

/// A score against its permutation null.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The observed score (for a sweep: the maximum over layer pairs).
    pub raw: f64,
    /// Mean of the null samples.
    pub null_mean: f64,
    /// Median of the null samples.
    pub null_median: f64,
    /// Standard deviation of the null samples (P - 1 denominator).
    pub null_std: f64,
    /// `(raw - null_mean) / null_std` (infinite when the null has no spread).
    pub z: f64,
    /// `(#{null >= raw} + 1) / (P + 1)`: never 0, at least 1 / (P + 1).
    pub p_value: f64,
    /// The (1 - alpha) quantile of the null with the observed value included: the smallest
    /// of the P + 1 values with at least (1 - alpha)(P + 1) of them at or below it.
    pub tau: f64,
    /// 0 when `raw <= tau`, else `(raw - tau) / (max - tau)` with `max` the metric's largest
    /// possible value (k for lcs_knn, 1 for every other metric).
    pub calibrated: f64,
    /// The null samples, in sample order.
    pub null: Vec<f64>,
}

/// Scores every layer pair (as [`crate::sweep::sweep`]) and calibrates the best score
/// against the null of the maximum over pairs. For a single score pass one layer each.
pub fn calibrate(
    a: &[AnyMatrix<'_>],
    b: &[AnyMatrix<'_>],
    metric: Metric,
    knn: &KnnOptions,
    opts: &CalibrationOptions,
) -> Result<(SweepResult, Calibration)> {
    calibrate_with_progress(a, b, metric, knn, opts, &|_, _| {})
}

/// [`calibrate`], calling `progress(done, total)` from the worker threads as null samples
/// finish (`total` = `opts.permutations`); the per-layer work before them is not counted.
/// The result is [`calibrate`]'s.
pub fn calibrate_with_progress(
    a: &[AnyMatrix<'_>],
    b: &[AnyMatrix<'_>],
    metric: Metric,
    knn: &KnnOptions,
    opts: &CalibrationOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(SweepResult, Calibration)> {
    check(opts)?;
    let (pa, pb) = per_layers(a, b, metric, knn, &|_| {})?;
    let observed = sweep_layers(&pa, &pb, metric, &|_| {})?;
    let raw = observed.scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let null = null_distribution(a[0].rows(), opts, progress, |st| null_sample(&pa, &pb, metric, st))?;
    let max = match metric {
        Metric::Knn { metric, k } => metric_max(metric, k),
        _ => 1.0,
    };
    Ok((observed, summarise(raw, null, opts.alpha, max)))
}

/// The maximum over layer pairs of the scores with B's rows reordered by `st.perm`.
fn null_sample(pa: &[PerLayer], pb: &[PerLayer], metric: Metric, st: &mut NullState) -> Result<f64> {
    let NullState { perm, inverse, scratch, relabelled, marks } = st;
    let mut best = f64::NEG_INFINITY;
    for y in pb {
        // The permuted state of B's layer, computed once for all of A's layers.
        let permuted = match y {
            PerLayer::Graph(_) => None,
            PerLayer::Kernel(l) => Some(PerLayer::Kernel(l.permuted(perm))),
            PerLayer::Basis(u) => Some(PerLayer::Basis(u.permuted(perm))),
        };
        for x in pa {
            let s = match (x, y, metric) {
                (PerLayer::Graph(ga), PerLayer::Graph(gb), Metric::Knn { metric, k }) => knn_null(
                    metric,
                    ga.as_ref(),
                    gb.as_ref(),
                    k,
                    perm,
                    inverse,
                    (&mut *scratch, &mut *relabelled, &mut *marks),
                )?,
                (x, _, metric) => crate::sweep::pair(x, permuted.as_ref().unwrap_or(y), metric)?,
            };
            best = best.max(s);
        }
    }
    Ok(best)
}

/// A kNN metric of A against B with B's rows reordered by `perm` (`inverse` is scratch for
/// its inverse).
fn knn_null(
    metric: KnnMetric,
    a: GraphRef<'_>,
    b: GraphRef<'_>,
    k: usize,
    perm: &[u32],
    inverse: &mut [u32],
    (scratch, relabelled, marks): (&mut Scratch, &mut Vec<u32>, &mut Marks),
) -> Result<f64> {
    Ok(match metric {
        KnnMetric::Mutual | KnnMetric::Jaccard => shared_fraction(metric, a, b, k, perm, marks),
        _ => {
            for (i, &p) in perm.iter().enumerate() {
                inverse[p as usize] = i as u32;
            }
            // Row i of the permuted graph: B's row perm[i], relabelled.
            relabelled.clear();
            for &p in perm {
                relabelled.extend(b.row(p as usize, k).iter().map(|&j| inverse[j as usize]));
            }
            knn_metric_unchecked(metric, a, GraphRef::new(relabelled, perm.len(), k)?, k, scratch)
        }
    })
}

/// [`calibrate`] for a kNN metric from two precomputed graphs (validated as by
/// [`metrics::knn_metric_graphs`]): the null costs O(N k) per sample for mutual and Jaccard
/// kNN, O(N k²) for the others, and never recomputes a graph.
pub fn calibrate_graphs(
    metric: KnnMetric,
    a: GraphRef<'_>,
    b: GraphRef<'_>,
    k: usize,
    opts: &CalibrationOptions,
) -> Result<Calibration> {
    calibrate_graphs_with_progress(metric, a, b, k, opts, &|_, _| {})
}

/// [`calibrate_graphs`], calling `progress(done, total)` from the worker threads as null
/// samples finish (`total` = `opts.permutations`). The result is [`calibrate_graphs`]'s.
pub fn calibrate_graphs_with_progress(
    metric: KnnMetric,
    a: GraphRef<'_>,
    b: GraphRef<'_>,
    k: usize,
    opts: &CalibrationOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Calibration> {
    check(opts)?;
    let raw = metrics::knn_metric_graphs(metric, a, b, k)?;
    let null = null_distribution(a.rows(), opts, progress, |st| {
        let NullState { perm, inverse, scratch, relabelled, marks } = st;
        knn_null(metric, a, b, k, perm, inverse, (scratch, relabelled, marks))
    })?;
    Ok(summarise(raw, null, opts.alpha, metric_max(metric, k)))
}

/// The largest value a kNN metric can take: k for lcs_knn (not divided by k), else 1.
fn metric_max(metric: KnnMetric, k: usize) -> f64 {
    if metric == KnnMetric::Lcs { k as f64 } else { 1.0 }
}

/// `opts.permutations` null samples over N rows: sample s draws its permutation into the
/// thread's state, then `sample` scores it.
fn null_distribution(
    n: usize,
    opts: &CalibrationOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
    sample: impl Fn(&mut NullState) -> Result<f64> + Sync,
) -> Result<Vec<f64>> {
    let total = opts.permutations;
    let mut null = vec![0.0f64; total];
    let threads = crate::knn::resolve_threads(opts.threads);
    let done = core::sync::atomic::AtomicUsize::new(0);
    run_samples(
        &mut null,
        threads,
        || NullState::new(n),
        |st, s, out| {
            st.draw(n, opts.seed, s as u64);
            *out = sample(st)?;
            progress(done.fetch_add(1, core::sync::atomic::Ordering::Relaxed) + 1, total);
            Ok(())
        },
    )?;
    Ok(null)
}

fn check(opts: &CalibrationOptions) -> Result<()> {
    if opts.permutations == 0 {
        return Err(Error::InvalidParameter { what: "permutations must be at least 1" });
    }
    if !(opts.alpha > 0.0 && opts.alpha < 1.0) {
        return Err(Error::InvalidParameter { what: "alpha must be in (0, 1)" });
    }
    Ok(())
}

/// Mutual or Jaccard kNN of A against B with rows reordered by `perm`, in O(N k): row i
/// compares perm(NN_A(i)) with NN_B(perm\[i\]) through a stamped marker array.
fn shared_fraction(
    metric: KnnMetric,
    a: GraphRef<'_>,
    b: GraphRef<'_>,
    k: usize,
    perm: &[u32],
    marks: &mut Marks,
) -> f64 {
    if metric == KnnMetric::Mutual {
        // The null's hot path: whole-vector compares, one backend dispatch per sample.
        if let Ok(Some(count)) = crate::dispatch::run(crate::Isa::best(), SharedCount { a, b, k, perm }) {
            return count as f64 / (perm.len() as f64 * k as f64);
        }
    }
    let (mut count, mut sum) = (0u64, 0.0f64);
    for (i, &p) in perm.iter().enumerate() {
        let stamp = marks.next_stamp();
        for &j in b.row(p as usize, k) {
            marks.seen[j as usize] = stamp;
        }
        let shared = a.row(i, k).iter().filter(|&&j| marks.seen[perm[j as usize] as usize] == stamp).count();
        count += shared as u64;
        if metric == KnnMetric::Jaccard {
            sum += shared as f64 / (2 * k - shared) as f64;
        }
    }
    let n = perm.len() as f64;
    if metric == KnnMetric::Mutual { count as f64 / (n * k as f64) } else { sum / n }
}

/// Σ_i |perm(NN_A(i)) ∩ NN_B(perm\[i\])| with each row of B in one or two vectors and each
/// mapped neighbour of A one broadcast compare against them: no marker stores, about half
/// the instructions of [`Marks`]. `None` when k exceeds two vectors.
struct SharedCount<'a> {
    a: GraphRef<'a>,
    b: GraphRef<'a>,
    k: usize,
    perm: &'a [u32],
}

impl pulp::WithSimd for SharedCount<'_> {
    type Output = Option<u64>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Option<u64> {
        let lanes = S::U32_LANES;
        if self.k <= lanes {
            Some(shared_count::<S, 1>(simd, self))
        } else if self.k <= 2 * lanes {
            Some(shared_count::<S, 2>(simd, self))
        } else {
            None
        }
    }
}

#[inline(always)]
fn shared_count<S: pulp::Simd, const CHUNKS: usize>(simd: S, op: SharedCount<'_>) -> u64 {
    const ONES: [u32; 64] = [1; 64];
    let SharedCount { a, b, k, perm } = op;
    let lanes = S::U32_LANES;
    let (one, zero, none) = (simd.splat_u32s(1), simd.splat_u32s(0), simd.splat_u32s(u32::MAX));
    // Lanes past k (other rows, or a partial load's zeros) become u32::MAX, never an index.
    let valid: [S::m32s; CHUNKS] = core::array::from_fn(|c| {
        let len = (k - (c * lanes).min(k)).min(lanes);
        simd.equal_u32s(simd.partial_load_u32s(&ONES[..len]), one)
    });
    let mut hits = zero;
    let mut spare = [0u32; 128];
    for (i, &p) in perm.iter().enumerate() {
        // PERF: whole-vector loads from the row's start (lanes past k, from the next rows,
        // are masked off); a copy only for the last rows of the buffer.
        let mut from = b.rows_from(p as usize);
        if from.len() < CHUNKS * lanes {
            spare[..k].copy_from_slice(&from[..k]);
            from = &spare;
        }
        let (loaded, _) = S::as_simd_u32s(&from[..CHUNKS * lanes]);
        let vb: [S::u32s; CHUNKS] = core::array::from_fn(|c| simd.select_u32s(valid[c], loaded[c], none));
        let mut found = [simd.equal_u32s(zero, one); CHUNKS];
        for &j in a.row(i, k) {
            let mapped = simd.splat_u32s(perm[j as usize]);
            for (f, &v) in found.iter_mut().zip(&vb) {
                *f = simd.or_m32s(*f, simd.equal_u32s(v, mapped));
            }
        }
        for f in found {
            hits = simd.add_u32s(hits, simd.select_u32s(f, one, zero));
        }
    }
    // Rows hold distinct indices, so each lane of B matches at most one neighbour of A.
    bytemuck::cast_slice::<S::u32s, u32>(core::slice::from_ref(&hits)).iter().map(|&h| u64::from(h)).sum()
}

/// A marker array whose stamps run on across rows and samples, so it is cleared only when
/// the stamp wraps, not once per sample.
struct Marks {
    seen: Vec<u32>,
    stamp: u32,
}

impl Marks {
    fn new(n: usize) -> Self {
        Self { seen: vec![0; n], stamp: 0 }
    }
    fn next_stamp(&mut self) -> u32 {
        if self.stamp == u32::MAX {
            self.seen.iter_mut().for_each(|m| *m = 0);
            self.stamp = 0;
        }
        self.stamp += 1;
        self.stamp
    }
}

/// One thread's reusable buffers for null samples.
struct NullState {
    perm: Vec<u32>,
    inverse: Vec<u32>,
    scratch: Scratch,
    relabelled: Vec<u32>,
    marks: Marks,
}

impl NullState {
    fn new(n: usize) -> Self {
        Self {
            perm: Vec::new(),
            inverse: vec![0; n],
            scratch: Scratch::default(),
            relabelled: Vec::new(),
            marks: Marks::new(n),
        }
    }
    /// Draws sample `s`'s permutation into `perm` (`inverse` is filled where needed).
    fn draw(&mut self, n: usize, seed: u64, s: u64) {
        permutation_into(&mut self.perm, n, seed, s);
    }
}

/// A uniformly random permutation of 0..n for sample `s` (Fisher-Yates on SplitMix64).
#[cfg(test)]
fn permutation(n: usize, seed: u64, s: u64) -> Vec<u32> {
    let mut perm = Vec::new();
    permutation_into(&mut perm, n, seed, s);
    perm
}

fn permutation_into(perm: &mut Vec<u32>, n: usize, seed: u64, s: u64) {
    let mut state = seed ^ s.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    perm.clear();
    perm.extend(0..n as u32);
    for i in (1..n).rev() {
        // Multiply-shift maps 64 random bits to 0..=i (bias below 2^-40 for any realistic N).
        let j = ((u128::from(next()) * (i as u128 + 1)) >> 64) as usize;
        perm.swap(i, j);
    }
}

/// Fills `out[s]` for every sample s, split into contiguous ranges over threads; each
/// thread builds its state once with `init`.
#[cfg(feature = "std")]
fn run_samples<S>(
    out: &mut [f64],
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut f64) -> Result<()> + Sync,
) -> Result<()> {
    let chunk = out.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = out
            .chunks_mut(chunk)
            .enumerate()
            .map(|(c, part)| {
                let (f, init) = (&f, &init);
                scope.spawn(move || {
                    let mut state = init();
                    part.iter_mut().enumerate().try_for_each(|(i, o)| f(&mut state, c * chunk + i, o))
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

#[cfg(not(feature = "std"))]
fn run_samples<S>(
    out: &mut [f64],
    _threads: usize,
    init: impl Fn() -> S,
    f: impl Fn(&mut S, usize, &mut f64) -> Result<()>,
) -> Result<()> {
    let mut state = init();
    out.iter_mut().enumerate().try_for_each(|(s, o)| f(&mut state, s, o))
}

fn summarise(raw: f64, null: Vec<f64>, alpha: f64, max: f64) -> Calibration {
    let p = null.len() as f64;
    let mean = null.iter().sum::<f64>() / p;
    let var = if null.len() > 1 { null.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (p - 1.0) } else { 0.0 };
    let std = libm::sqrt(var);
    let mut sorted = null.clone();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
    let at_least = null.iter().filter(|&&x| x >= raw).count();
    let p_value = (at_least as f64 + 1.0) / (p + 1.0);
    let mut with_raw = sorted;
    with_raw.push(raw);
    with_raw.sort_by(f64::total_cmp);
    let rank = libm::ceil((1.0 - alpha) * with_raw.len() as f64) as usize;
    let tau = with_raw[rank.clamp(1, with_raw.len()) - 1];
    let z = if std > 0.0 {
        (raw - mean) / std
    } else if raw == mean {
        0.0
    } else {
        (raw - mean) * f64::INFINITY
    };
    let calibrated = if raw <= tau || max <= tau { 0.0 } else { ((raw - tau) / (max - tau)).min(1.0) };
    Calibration { raw, null_mean: mean, null_median: median, null_std: std, z, p_value, tau, calibrated, null }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_permutations_and_reproducible() {
        let p = permutation(100, 7, 3);
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<u32>>());
        assert_eq!(p, permutation(100, 7, 3));
        assert_ne!(p, permutation(100, 7, 4));
        assert_ne!(p, permutation(100, 8, 3));
    }

    #[test]
    fn summary_statistics() {
        let c = summarise(0.9, vec![0.1, 0.2, 0.3, 0.4], 0.2, 1.0);
        assert!((c.null_mean - 0.25).abs() < 1e-12);
        assert!((c.null_median - 0.25).abs() < 1e-12);
        assert_eq!(c.p_value, 1.0 / 5.0);
        // Five values 0.1..0.4, 0.9: the 0.8 quantile is the 4th smallest, 0.4.
        assert_eq!(c.tau, 0.4);
        assert!((c.calibrated - 0.5 / 0.6).abs() < 1e-12);
        let c = summarise(0.2, vec![0.1, 0.2, 0.3, 0.4], 0.2, 1.0);
        assert_eq!(c.p_value, 4.0 / 5.0);
        assert_eq!(c.calibrated, 0.0);
    }
}

#[cfg(test)]
mod null_sample_tests {
    use super::*;
    use crate::matrix::Matrix;

    #[test]
    fn vector_shared_count_equals_markers_on_every_backend() {
        // Random graphs of distinct indices (self excluded), k from 1 to 40: one vector, two
        // vectors, and the marker fallback on every backend; the last rows of B sit at the
        // end of its buffer.
        let n = 97;
        let mut s = 3u64;
        let mut next = |m: usize| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) % m as u64) as u32
        };
        for k in [1, 2, 7, 8, 10, 15, 16, 17, 31, 32, 33, 40] {
            let mut graph = || -> Vec<u32> {
                (0..n)
                    .flat_map(|i| {
                        let mut row: Vec<u32> = Vec::new();
                        while row.len() < k {
                            let j = next(n);
                            if j as usize != i && !row.contains(&j) {
                                row.push(j);
                            }
                        }
                        row
                    })
                    .collect()
            };
            let (ga, gb) = (graph(), graph());
            let (a, b) = (GraphRef::new(&ga, n, k).unwrap(), GraphRef::new(&gb, n, k).unwrap());
            let mut st = NullState::new(n);
            for sample in 0..3 {
                st.draw(n, 9, sample);
                let shared: Vec<u64> = (0..n)
                    .map(|i| {
                        let row_b = b.row(st.perm[i] as usize, k);
                        a.row(i, k).iter().filter(|&&j| row_b.contains(&st.perm[j as usize])).count() as u64
                    })
                    .collect();
                let want: u64 = shared.iter().sum();
                // Jaccard always takes the marker path.
                let jaccard = shared.iter().map(|&c| c as f64 / (2 * k as u64 - c) as f64).sum::<f64>() / n as f64;
                let markers = shared_fraction(KnnMetric::Jaccard, a, b, k, &st.perm, &mut st.marks);
                assert!((markers - jaccard).abs() < 1e-12, "k={k}: {markers} vs {jaccard}");
                for isa in crate::Isa::ALL.into_iter().filter(|i| i.is_available()) {
                    let got = crate::dispatch::run(isa, SharedCount { a, b, k, perm: &st.perm }).unwrap();
                    if let Some(got) = got {
                        assert_eq!(got, want, "{isa:?} k={k} sample {sample}");
                    } else {
                        assert!(k > 2 * isa.f32_lanes(), "{isa:?} declined k={k}");
                    }
                }
                let mutual = shared_fraction(KnnMetric::Mutual, a, b, k, &st.perm, &mut st.marks);
                assert_eq!(mutual, want as f64 / (n * k) as f64, "k={k}");
            }
        }
    }

    /// The fast relabelling paths equal recomputing every metric on permuted features.
    #[test]
    fn relabelled_state_equals_recomputation() {
        let (n, d) = (60, 9);
        let mut s = 1u64;
        let mut gauss = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect()
        };
        let (a, b) = (gauss(n * d), gauss(n * d));
        let mut st = NullState::new(n);
        st.draw(n, 5, 1);
        let perm = st.perm.clone();
        let bp: Vec<f32> = perm.iter().flat_map(|&p| b[p as usize * d..(p as usize + 1) * d].to_vec()).collect();
        let (ma, mb, mp) =
            (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap(), Matrix::new(&bp, n, d).unwrap());
        let o = KnnOptions::default();
        let mut metrics: Vec<Metric> = KnnMetric::ALL.iter().map(|&metric| Metric::Knn { metric, k: 6 }).collect();
        metrics.push(Metric::Cka { kernel: crate::metrics::Kernel::Linear, unbiased: true });
        metrics.push(Metric::Cknna { topk: 6, unbiased: true });
        metrics.push(Metric::Svcca { cca_dim: 4 });
        for metric in metrics {
            let (pa, pb) = per_layers(&[ma.into()], &[mb.into()], metric, &o, &|_| {}).unwrap();
            let fast = null_sample(&pa, &pb, metric, &mut st).unwrap();
            let direct = crate::sweep::sweep(&[ma.into()], &[mp.into()], metric, &o).unwrap().scores[0];
            assert!((fast - direct).abs() < 1e-9, "{metric:?}: {fast} vs {direct}");
        }
    }
}
