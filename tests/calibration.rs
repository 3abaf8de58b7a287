//! Permutation nulls: the null of mutual kNN has its exact expectation k/(N-1), p-values
//! are uniform when A and B are unrelated and minimal when they are strongly related, the
//! sweep's null is the null of the maximum, and nothing depends on the thread count.

mod common;

use common::Rng;
use repalign::calibrate::{Calibration, CalibrationOptions, calibrate};
use repalign::knn::Similarity;
use repalign::metrics::{Kernel, KnnMetric};
use repalign::{AnyMatrix, Matrix};
use repalign::{Exec, Metric, Progress};

const IP: Similarity = Similarity::InnerProduct;
const MUTUAL: Metric = Metric::Knn { metric: KnnMetric::Mutual, k: 10, similarity: IP };

fn opts(permutations: usize, seed: u64) -> CalibrationOptions {
    CalibrationOptions { permutations, seed, ..CalibrationOptions::default() }
}

/// On `threads` workers (0 = all cores).
fn exec(threads: usize) -> Exec<'static> {
    Exec::new().with_threads(threads)
}

/// The p-values of `metric` calibrated with `p` permutations on `pairs` unrelated pairs of
/// Gaussian N x D features (pair s draws its permutations from seed s).
fn unrelated_p_values(metric: &Metric, (n, d, p, pairs): (usize, usize, usize, u64), rng: &mut Rng) -> Vec<f64> {
    (0..pairs)
        .map(|pair| {
            let (a, b) = (rng.gauss(n * d), rng.gauss(n * d));
            let (ma, mb) = (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap());
            calibrate(&[ma.into()], &[mb.into()], metric, &opts(p, pair), &exec(0)).unwrap().1.p_value
        })
        .collect()
}

/// `metric` of Gaussian N x D features A against A plus a little noise, calibrated with `p`
/// permutations (seed 3).
fn related_calibration(metric: &Metric, n: usize, d: usize, p: usize, rng: &mut Rng) -> Calibration {
    let a = rng.gauss(n * d);
    let b: Vec<f32> = a.iter().map(|x| x + 0.05 * rng.normal() as f32).collect();
    let (ma, mb) = (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap());
    calibrate(&[ma.into()], &[mb.into()], metric, &opts(p, 3), &exec(0)).unwrap().1
}

/// The Kolmogorov-Smirnov distance of `ps` to the uniform law on [0, 1].
fn ks_to_uniform(ps: &[f64]) -> f64 {
    let mut sorted = ps.to_vec();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| (x - i as f64 / m).abs().max(((i + 1) as f64 / m - x).abs()))
        .fold(0.0, f64::max)
}

#[test]
fn null_mean_of_mutual_knn_is_k_over_n_minus_1() {
    let mut rng = Rng(21);
    let (n, d, k, p) = (300, 16, 10, 400);
    let (a, b) = (rng.gauss(n * d), rng.gauss(n * d));
    let (ma, mb) = (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap());
    let (_, c) = calibrate(&[ma.into()], &[mb.into()], &MUTUAL, &opts(p, 1), &exec(0)).unwrap();
    let expected = k as f64 / (n - 1) as f64;
    let standard_error = c.null_std / (p as f64).sqrt();
    assert!(
        (c.null_mean - expected).abs() < 4.0 * standard_error,
        "{} vs {expected} (se {standard_error})",
        c.null_mean
    );
    assert_eq!(c.null.len(), p);
}

#[test]
fn p_values_are_uniform_for_unrelated_and_minimal_for_related_features() {
    let mut rng = Rng(22);
    let (n, d, p) = (120, 8, 99);
    let ps = unrelated_p_values(&MUTUAL, (n, d, p, 60), &mut rng);
    // Uniform p: mean 1/2 (sd of the mean of 60 is 0.037), about 10% below 0.1.
    let mean = ps.iter().sum::<f64>() / ps.len() as f64;
    let low = ps.iter().filter(|&&x| x <= 0.1).count();
    assert!((mean - 0.5).abs() < 0.15, "mean p {mean}: {ps:?}");
    assert!(low <= 15, "{low} of 60 p-values <= 0.1");
    // Kolmogorov-Smirnov distance to the uniform law; 0.21 is its 5% critical value at n = 60.
    let ks = ks_to_uniform(&ps);
    assert!(ks < 0.21, "KS distance {ks}");

    // B is A plus a little noise: p reaches its floor 1/(P + 1) and the score calibrates above 0.
    let c = related_calibration(&MUTUAL, n, d, p, &mut rng);
    assert_eq!(c.p_value, 1.0 / (p as f64 + 1.0));
    assert!(c.calibrated > 0.5 && c.z > 10.0, "{c:?}");
}

#[test]
fn sweep_null_is_the_null_of_the_maximum_and_threads_do_not_matter() {
    let mut rng = Rng(23);
    let (n, d) = (90, 12);
    let layers: Vec<Vec<f32>> = (0..5).map(|_| rng.gauss(n * d)).collect();
    let views: Vec<AnyMatrix<'_>> = layers.iter().map(|l| Matrix::new(l, n, d).unwrap().into()).collect();
    let (a, b) = (&views[..2], &views[2..]);
    let (sweep, c) = calibrate(a, b, &MUTUAL, &opts(200, 9), &exec(1)).unwrap();
    assert_eq!((sweep.rows, sweep.cols), (2, 3));
    assert_eq!(c.raw, sweep.scores.iter().copied().fold(f64::MIN, f64::max));
    // The maximum over 6 pairs has a higher null than one pair's.
    let (_, single) = calibrate(&a[..1], &b[..1], &MUTUAL, &opts(200, 9), &exec(1)).unwrap();
    assert!(c.null_mean > single.null_mean, "{} vs {}", c.null_mean, single.null_mean);
    for threads in [2, 3, 0] {
        let (_, again) = calibrate(a, b, &MUTUAL, &opts(200, 9), &exec(threads)).unwrap();
        assert_eq!(again, c, "threads = {threads}");
    }
    // Other metrics calibrate too; unrelated data is not significant at 1%.
    for metric in [
        Metric::Knn { metric: KnnMetric::Lcs, k: 5, similarity: IP },
        Metric::Cka { kernel: Kernel::Linear, unbiased: false },
        Metric::Cknna { topk: 5, unbiased: true },
        Metric::Svcca { cca_dim: 3 },
    ] {
        let (_, c) = calibrate(&a[..1], &b[..1], &metric, &opts(50, 4), &exec(0)).unwrap();
        assert!(c.p_value > 0.01 && c.p_value <= 1.0, "{metric:?}: {c:?}");
        assert!(c.tau >= c.null_median);
    }
    assert!(calibrate(&a[..1], &b[..1], &MUTUAL, &opts(0, 0), &exec(0)).is_err());
}

#[test]
fn calibrating_precomputed_graphs_equals_calibrating_features() {
    use repalign::calibrate::calibrate_graphs;
    use repalign::knn;
    let mut rng = Rng(24);
    let (n, d) = (150, 10);
    let (a, b) = (rng.gauss(n * d), rng.gauss(n * d));
    let (ma, mb) = (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap());
    let (ga, gb) = (knn::graph(ma, 12, IP, &exec(0)).unwrap(), knn::graph(mb, 12, IP, &exec(0)).unwrap());
    for metric in KnnMetric::ALL {
        let (_, want) = calibrate(
            &[ma.into()],
            &[mb.into()],
            &Metric::Knn { metric, k: 7, similarity: IP },
            &opts(64, 2),
            &exec(0),
        )
        .unwrap();
        // Graphs computed once with k = 12 serve k = 7.
        let got = calibrate_graphs(metric, ga.as_ref(), gb.as_ref(), 7, &opts(64, 2), &exec(0)).unwrap();
        assert_eq!(got, want, "{}", metric.name());
    }
}

/// A progress hook changes nothing in the result and hears every step: blocks of rows for
/// a kNN graph (each once, then the end), every null sample of a calibration.
#[test]
fn progress_hooks_change_nothing_and_hear_every_step() {
    use std::sync::Mutex;
    let (n, d) = (300, 24);
    let mut rng = Rng(17);
    let (xa, xb) = (rng.gauss(n * d), rng.gauss(n * d));
    let (ma, mb) = (Matrix::new(&xa, n, d).unwrap(), Matrix::new(&xb, n, d).unwrap());
    for threads in [1, 2, 3] {
        let seen = Mutex::new(Vec::new());
        let record = |p: Progress| seen.lock().unwrap().push(p);
        let ga = repalign::knn::graph(ma, 7, IP, &exec(threads).with_progress(&record)).unwrap();
        assert_eq!(ga, repalign::knn::graph(ma, 7, IP, &exec(threads)).unwrap(), "threads {threads}");
        let steps: Vec<(usize, usize)> = seen
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Progress::Blocks { done, total } => (done, total),
                other => panic!("a kNN graph reported {other:?}"),
            })
            .collect();
        let total = steps[0].1;
        assert!(steps.iter().all(|&(done, t)| t == total && done <= total), "{steps:?}");
        assert_eq!(steps.last(), Some(&(total, total)), "{steps:?}");
        // Every block is reported once when it is taken up, then the end.
        assert_eq!(steps.len(), total + 1, "{steps:?}");

        let gb = repalign::knn::graph(mb, 7, IP, &exec(threads)).unwrap();
        let cal = opts(50, 3);
        let seen = Mutex::new(Vec::new());
        let record = |p: Progress| seen.lock().unwrap().push(p);
        let calibrate_graphs = repalign::calibrate::calibrate_graphs;
        let with = calibrate_graphs(
            KnnMetric::Mutual,
            ga.as_ref(),
            gb.as_ref(),
            7,
            &cal,
            &exec(threads).with_progress(&record),
        )
        .unwrap();
        let plain = calibrate_graphs(KnnMetric::Mutual, ga.as_ref(), gb.as_ref(), 7, &cal, &exec(threads)).unwrap();
        assert_eq!(with, plain);
        let mut done: Vec<usize> = seen
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Progress::Samples { done, total: 50 } => done,
                other => panic!("a calibration from graphs reported {other:?}"),
            })
            .collect();
        done.sort();
        assert_eq!(done, (1..=50).collect::<Vec<_>>(), "threads {threads}");

        // From features: the layers (and their kNN blocks), then every sample.
        let layers = [AnyMatrix::from(ma)];
        let layers_b = [AnyMatrix::from(mb)];
        let metric = Metric::Knn { metric: KnnMetric::Jaccard, k: 5, similarity: IP };
        let samples = Mutex::new(0usize);
        let layer_reports = Mutex::new(0usize);
        let tick = |p: Progress| match p {
            Progress::Samples { .. } => *samples.lock().unwrap() += 1,
            Progress::Layer { .. } => *layer_reports.lock().unwrap() += 1,
            _ => {}
        };
        let with = calibrate(&layers, &layers_b, &metric, &cal, &exec(threads).with_progress(&tick)).unwrap();
        assert_eq!(with, calibrate(&layers, &layers_b, &metric, &cal, &exec(threads)).unwrap());
        assert_eq!((samples.into_inner().unwrap(), layer_reports.into_inner().unwrap()), (50, 2));
    }
}

/// Permutation counts whose null vector cannot be held (2^40 f64 = 8.8 TB, 1e11) or whose
/// size overflows (2^61, usize::MAX) are errors, before any sample is drawn: never an
/// abort (allocation failure) or a panic (capacity overflow).
#[test]
fn huge_permutation_counts_are_errors_not_aborts_or_panics() {
    let mut rng = Rng(31);
    let (n, d) = (40, 4);
    let (a, b) = (rng.gauss(n * d), rng.gauss(n * d));
    let (ma, mb) = (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap());
    let (ga, gb) =
        (repalign::knn::graph(ma, 5, IP, &exec(1)).unwrap(), repalign::knn::graph(mb, 5, IP, &exec(1)).unwrap());
    for p in [usize::MAX, 1 << 61, 1usize << 40, 100_000_000_000] {
        let err = calibrate(&[ma.into()], &[mb.into()], &MUTUAL, &opts(p, 1), &exec(0)).unwrap_err();
        assert_eq!(err.kind(), repalign::ErrorKind::OutOfMemory, "{p}: {err}");
        assert!(err.to_string().contains("permutations"), "{err}");
        let err = repalign::calibrate::calibrate_graphs(
            KnnMetric::Mutual,
            ga.as_ref(),
            gb.as_ref(),
            5,
            &opts(p, 1),
            &exec(2),
        )
        .unwrap_err();
        assert_eq!(err.kind(), repalign::ErrorKind::OutOfMemory, "{p}: {err}");
    }
}

/// The follow-up literature's metrics: on unrelated pairs their permutation p-values are
/// uniform (the same Kolmogorov-Smirnov check as mutual kNN's), and on related data p
/// reaches its floor.
#[test]
fn p_values_of_the_new_metrics_are_uniform_for_unrelated_features() {
    use repalign::metrics::{Corr, Rdm};
    let metrics = [
        Metric::Rsa { rdm: Rdm::Euclidean, corr: Corr::Spearman },
        Metric::Rsa { rdm: Rdm::Cosine, corr: Corr::Pearson },
        Metric::Procrustes,
        Metric::Cca,
        Metric::Pwcca,
        Metric::RvCoefficient,
    ];
    let (n, d, p, pairs) = (40, 3, 49, 60);
    for metric in metrics {
        let mut rng = Rng(77);
        let ps = unrelated_p_values(&metric, (n, d, p, pairs), &mut rng);
        let ks = ks_to_uniform(&ps);
        // 0.21: the KS critical value at n = 60 and the 1% level (p is discrete in steps of
        // 1/50, which adds at most 0.02).
        assert!(ks < 0.23, "{metric:?}: KS distance {ks}, p-values {ps:?}");

        let c = related_calibration(&metric, n, d, p, &mut rng);
        assert_eq!(c.p_value, 1.0 / (p as f64 + 1.0), "{metric:?}: {c:?}");
    }
}
