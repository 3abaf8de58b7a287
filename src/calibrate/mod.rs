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

mod summary;

pub use summary::Calibration;

use crate::dispatch;
use crate::error::{Error, Result, out_of_memory, try_vec};
use crate::exec::{Exec, Progress};
use crate::kernels::shared_count::SharedCount;
use crate::knn::GraphRef;
use crate::matrix::AnyMatrix;
use crate::metrics::neighbours::{Scratch, knn_metric_unchecked};
use crate::metrics::{self, KnnMetric, LayerState, Metric};
use crate::pool;
use crate::sweep::{SweepResult, layer_states, sweep_states};
use summary::summarise;

/// How many null samples, from which seed, at which level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationOptions {
    /// Number of random permutations P (>= 1).
    pub permutations: usize,
    /// Seed of the permutations.
    pub seed: u64,
    /// Level of the threshold `tau`: the (1 - alpha) quantile of the null. Default 0.05.
    pub alpha: f64,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        Self { permutations: 1000, seed: 0, alpha: 0.05 }
    }
}

/// Scores every layer pair (as [`crate::sweep::sweep`]) and calibrates the best score
/// against the null of the maximum over pairs. For a single score pass one layer each.
/// Reports the sweep's steps (and the per-layer work's), then [`Progress::Samples`] as
/// null samples finish.
pub fn calibrate(
    a: &[AnyMatrix<'_>],
    b: &[AnyMatrix<'_>],
    metric: &Metric,
    opts: &CalibrationOptions,
    exec: &Exec<'_>,
) -> Result<(SweepResult, Calibration)> {
    let buffers = buffers(opts)?;
    let (pa, pb) = layer_states(a, b, metric, exec)?;
    states_with(&pa, &pb, opts, exec, buffers)
}

/// [`calibrate`] from per-layer states computed once (same metric and samples): the null
/// relabels them, it never recomputes a graph, kernel or basis.
pub fn calibrate_states(
    pa: &[LayerState],
    pb: &[LayerState],
    opts: &CalibrationOptions,
    exec: &Exec<'_>,
) -> Result<(SweepResult, Calibration)> {
    states_with(pa, pb, opts, exec, buffers(opts)?)
}

/// [`calibrate_states`] with the buffers of [`buffers`].
fn states_with(
    pa: &[LayerState],
    pb: &[LayerState],
    opts: &CalibrationOptions,
    exec: &Exec<'_>,
    (null, sorted): (Vec<f64>, Vec<f64>),
) -> Result<(SweepResult, Calibration)> {
    let (first, _) = pa.first().zip(pb.first()).ok_or(Error::EmptyMatrix)?;
    let metric = *first.metric();
    // The observed pairs are reported by the sweep's own steps; here only the samples count.
    let observed = sweep_states(pa, pb, &exec.silent())?;
    let raw = observed.scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let null = null_distribution(first.samples(), opts, exec, null, |st| null_sample(pa, pb, metric, st))?;
    Ok((observed, summarise(raw, null, sorted, opts.alpha, metric.max())))
}

/// The maximum over layer pairs of the scores with B's rows reordered by `st.perm`.
fn null_sample(pa: &[LayerState], pb: &[LayerState], metric: Metric, st: &mut NullState) -> Result<f64> {
    let mut best = f64::NEG_INFINITY;
    for y in pb {
        // A kNN metric relabels B's graph row by row below; any other state is reordered
        // once for all of A's layers.
        let permuted = if y.graph().is_some() { None } else { Some(y.permuted(&st.perm)?) };
        for x in pa {
            let s = match (x.graph(), y.graph(), metric) {
                (Some(ga), Some(gb), Metric::Knn { metric, k, .. }) => {
                    knn_null(metric, ga.as_ref(), gb.as_ref(), k, st)?
                }
                _ => metrics::pair(x, permuted.as_ref().unwrap_or(y))?,
            };
            best = best.max(s);
        }
    }
    Ok(best)
}

/// A kNN metric of A against B with B's rows reordered by `st.perm`.
fn knn_null(metric: KnnMetric, a: GraphRef<'_>, b: GraphRef<'_>, k: usize, st: &mut NullState) -> Result<f64> {
    let NullState { perm, inverse, scratch, relabelled, marks, isa } = st;
    Ok(match metric {
        KnnMetric::Mutual | KnnMetric::Jaccard => shared_fraction(metric, a, b, k, perm, marks, *isa),
        _ => {
            for (i, &p) in perm.iter().enumerate() {
                inverse[p as usize] = i as u32;
            }
            // Row i of the permuted graph: B's row perm[i], relabelled.
            relabelled.clear();
            for &p in perm.iter() {
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
    exec: &Exec<'_>,
) -> Result<Calibration> {
    let (null, sorted) = buffers(opts)?;
    let raw = metrics::knn_metric_graphs(metric, a, b, k)?;
    let null = null_distribution(a.rows(), opts, exec, null, |st| knn_null(metric, a, b, k, st))?;
    let max = if metric == KnnMetric::Lcs { k as f64 } else { 1.0 };
    Ok(summarise(raw, null, sorted, opts.alpha, max))
}

/// `opts.permutations` null samples (into `null`, of that length) over N rows on `exec`'s
/// workers: sample s draws its
/// permutation into the worker's state, then `sample` scores it. Samples are taken in
/// blocks, so a worker's state serves many; each sample depends only on (seed, s).
fn null_distribution(
    n: usize,
    opts: &CalibrationOptions,
    exec: &Exec<'_>,
    mut null: Vec<f64>,
    sample: impl Fn(&mut NullState) -> Result<f64> + Sync,
) -> Result<Vec<f64>> {
    let total = null.len();
    let isa = exec.resolve_isa()?;
    let done = core::sync::atomic::AtomicUsize::new(0);
    // Blocks of samples: few enough that taking one costs nothing, enough to balance.
    let block = total.div_ceil(exec.workers() * 8).max(1);
    let blocks: Vec<(usize, &mut [f64])> = null.chunks_mut(block).enumerate().map(|(b, c)| (b * block, c)).collect();
    let results = pool::workers(exec.workers(), blocks, |blocks| {
        let mut st = NullState::new(n, isa);
        for (_, (first, out)) in blocks {
            for (i, o) in out.iter_mut().enumerate() {
                exec.check()?;
                permutation_into(&mut st.perm, n, opts.seed, (first + i) as u64);
                *o = sample(&mut st)?;
                let finished = done.fetch_add(1, core::sync::atomic::Ordering::Relaxed) + 1;
                exec.report(Progress::Samples { done: finished, total });
            }
        }
        Ok(())
    });
    results.into_iter().collect::<Result<()>>()?;
    Ok(null)
}

/// The null samples (P values) and the summary's sorted copy (room for P + 1), for valid
/// options: allocated before any work, so a P too large to hold is
/// [`Error::OutOfMemory`] at once, not an abort (or a capacity-overflow panic) later.
fn buffers(opts: &CalibrationOptions) -> Result<(Vec<f64>, Vec<f64>)> {
    check(opts)?;
    let p = opts.permutations;
    let too_many = || out_of_memory::<f64>(p.checked_mul(2).and_then(|v| v.checked_add(1)).unwrap_or(usize::MAX), WHAT);
    const WHAT: &str = "calibration needs two f64 vectors of `permutations` values";
    let null = try_vec(p, 0.0f64, WHAT).map_err(|_| too_many())?;
    let mut sorted = Vec::new();
    sorted.try_reserve_exact(p.checked_add(1).ok_or_else(too_many)?).map_err(|_| too_many())?;
    Ok((null, sorted))
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
    isa: crate::Isa,
) -> f64 {
    if metric == KnnMetric::Mutual {
        // The null's hot path: whole-vector compares, one backend dispatch per sample.
        if let Ok(Some(count)) = dispatch::run(isa, SharedCount { a, b, k, perm }) {
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
    /// The backend of the shared-count kernel.
    isa: crate::Isa,
}

impl NullState {
    fn new(n: usize, isa: crate::Isa) -> Self {
        Self {
            perm: Vec::new(),
            inverse: vec![0; n],
            scratch: Scratch::default(),
            relabelled: Vec::new(),
            marks: Marks::new(n),
            isa,
        }
    }
    /// Draws sample `s`'s permutation into `perm`.
    #[cfg(test)]
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

pub(crate) fn permutation_into(perm: &mut Vec<u32>, n: usize, seed: u64, s: u64) {
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
            let mut st = NullState::new(n, crate::Isa::best());
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
                let markers = shared_fraction(KnnMetric::Jaccard, a, b, k, &st.perm, &mut st.marks, st.isa);
                assert!((markers - jaccard).abs() < 1e-12, "k={k}: {markers} vs {jaccard}");
                for isa in crate::Isa::ALL.into_iter().filter(|i| i.is_available()) {
                    let got = crate::dispatch::run(isa, SharedCount { a, b, k, perm: &st.perm }).unwrap();
                    if let Some(got) = got {
                        assert_eq!(got, want, "{isa:?} k={k} sample {sample}");
                    } else {
                        assert!(k > 2 * isa.f32_lanes(), "{isa:?} declined k={k}");
                    }
                }
                let mutual = shared_fraction(KnnMetric::Mutual, a, b, k, &st.perm, &mut st.marks, st.isa);
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
        let mut st = NullState::new(n, crate::Isa::best());
        st.draw(n, 5, 1);
        let perm = st.perm.clone();
        let bp: Vec<f32> = perm.iter().flat_map(|&p| b[p as usize * d..(p as usize + 1) * d].to_vec()).collect();
        let (ma, mb, mp) =
            (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap(), Matrix::new(&bp, n, d).unwrap());
        let o = Exec::default();
        let similarity = crate::knn::Similarity::InnerProduct;
        let mut metrics: Vec<Metric> =
            KnnMetric::ALL.iter().map(|&metric| Metric::Knn { metric, k: 6, similarity }).collect();
        metrics.push(Metric::Cka { kernel: crate::metrics::Kernel::Linear, unbiased: true });
        metrics.push(Metric::Cknna { topk: 6, unbiased: true });
        metrics.push(Metric::Svcca { cca_dim: 4 });
        metrics.push(Metric::Cka { kernel: crate::metrics::Kernel::Linear, unbiased: false });
        metrics.push(Metric::RvCoefficient);
        metrics.extend([Metric::Procrustes, Metric::Cca, Metric::Pwcca]);
        for rdm in [crate::metrics::Rdm::Euclidean, crate::metrics::Rdm::Cosine] {
            for corr in [crate::metrics::Corr::Spearman, crate::metrics::Corr::Pearson] {
                metrics.push(Metric::Rsa { rdm, corr });
            }
        }
        for metric in metrics {
            let (pa, pb) = layer_states(&[ma.into()], &[mb.into()], &metric, &o).unwrap();
            let fast = null_sample(&pa, &pb, metric, &mut st).unwrap();
            let direct = crate::sweep::sweep(&[ma.into()], &[mp.into()], &metric, &o).unwrap().scores[0];
            assert!((fast - direct).abs() < 1e-9, "{metric:?}: {fast} vs {direct}");
        }
    }
}
