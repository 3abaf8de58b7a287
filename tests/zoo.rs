//! The zoo: every pair's result equals the pair's own sweep (and calibration) bit for bit,
//! whatever the thread count; each layer's state is computed once; the multiple-comparison
//! adjustments match their definitions; bad zoos are errors.

use std::sync::Mutex;

use repalign::calibrate::{CalibrationOptions, calibrate};
use repalign::knn::Similarity;
use repalign::metrics::{Kernel, KnnMetric};
use repalign::sweep::sweep;
use repalign::zoo::{Pairs, benjamini_hochberg, holm, zoo};
use repalign::{AnyMatrix, Error, Exec, Matrix, Metric, Progress, f16};

const N: usize = 60;

/// Model m: `layers` layers of `d` features, each a noisy copy of one shared signal (so
/// models agree somewhat), deterministic.
fn model(m: u64, layers: usize, d: usize) -> Vec<Vec<f32>> {
    let mut seed = 0x9E37_79B9 ^ m;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let signal: Vec<f32> = (0..N).map(|i| ((i * 7) % 13) as f32 / 13.0).collect();
    (0..layers).map(|l| (0..N * d).map(|e| signal[e / d] * ((e % d + l) % 3) as f32 + 0.3 * next()).collect()).collect()
}

#[test]
fn every_pair_is_its_own_sweep_and_calibration() {
    let shapes = [(3, 12), (2, 9), (4, 16), (1, 7)];
    let data: Vec<Vec<Vec<f32>>> = shapes.iter().enumerate().map(|(m, &(l, d))| model(m as u64, l, d)).collect();
    // Model 2 in f16: dtypes may differ between models.
    let halves: Vec<Vec<f16>> = data[2].iter().map(|l| l.iter().map(|&v| f16::from_f32(v)).collect()).collect();
    let models: Vec<Vec<AnyMatrix<'_>>> = data
        .iter()
        .zip(shapes)
        .enumerate()
        .map(|(m, (layers, (_, d)))| {
            if m == 2 {
                halves.iter().map(|l| Matrix::new(l, N, d).unwrap().into()).collect()
            } else {
                layers.iter().map(|l| Matrix::new(l, N, d).unwrap().into()).collect()
            }
        })
        .collect();
    let refs: Vec<&[AnyMatrix<'_>]> = models.iter().map(|m| m.as_slice()).collect();
    let opts = CalibrationOptions { permutations: 40, seed: 3, alpha: 0.05 };
    let metrics = [
        Metric::Knn { metric: KnnMetric::Mutual, k: 5, similarity: Similarity::InnerProduct },
        Metric::Knn { metric: KnnMetric::Cycle, k: 5, similarity: Similarity::Cosine },
        Metric::Cka { kernel: Kernel::Linear, unbiased: false },
        Metric::Procrustes,
    ];
    for metric in metrics {
        for pairs in [Pairs::All, Pairs::Bipartite { first_b: 1 }, Pairs::Bipartite { first_b: 3 }] {
            let got = zoo(&refs, &metric, pairs, Some(&opts), &Exec::default()).unwrap();
            assert_eq!(got.pairs.len(), pairs.list(4).unwrap().len());
            for p in &got.pairs {
                let (want_sweep, want_cal) = calibrate(refs[p.a], refs[p.b], &metric, &opts, &Exec::default()).unwrap();
                assert_eq!(p.sweep, want_sweep, "{metric:?} {pairs:?} ({}, {})", p.a, p.b);
                assert_eq!(p.sweep, sweep(refs[p.a], refs[p.b], &metric, &Exec::default()).unwrap());
                assert_eq!(p.calibration.as_ref(), Some(&want_cal), "{metric:?} ({}, {})", p.a, p.b);
                let offset = if let Pairs::Bipartite { first_b } = pairs { first_b } else { 0 };
                assert_eq!(got.matrix[p.a * got.cols + p.b - offset].to_bits(), p.sweep.best.to_bits());
            }
            // The thread count changes nothing.
            for threads in [1, 3] {
                let again = zoo(&refs, &metric, pairs, Some(&opts), &Exec::new().with_threads(threads)).unwrap();
                assert_eq!(again.pairs, got.pairs, "{metric:?} {pairs:?}, {threads} threads");
                let bits = |m: &[f64]| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&again.matrix), bits(&got.matrix));
            }
            // Without calibration: the same sweeps, no p-values.
            let plain = zoo(&refs, &metric, pairs, None, &Exec::default()).unwrap();
            for (p, q) in plain.pairs.iter().zip(&got.pairs) {
                assert_eq!((&p.sweep, p.calibration.as_ref(), p.q_value), (&q.sweep, None, None));
            }
        }
    }
}

#[test]
fn states_are_computed_once_per_layer_and_pairs_are_reported() {
    let data: Vec<Vec<Vec<f32>>> = (0..5).map(|m| model(m, 2 + m as usize % 2, 8)).collect();
    let models: Vec<Vec<AnyMatrix<'_>>> =
        data.iter().map(|layers| layers.iter().map(|l| Matrix::new(l, N, 8).unwrap().into()).collect()).collect();
    let refs: Vec<&[AnyMatrix<'_>]> = models.iter().map(|m| m.as_slice()).collect();
    let seen = Mutex::new((Vec::new(), 0usize));
    let hook = |p: Progress| match p {
        Progress::Layer { model, layer, .. } => seen.lock().unwrap().0.push((model, layer)),
        Progress::ModelPairs { done, total } => {
            let mut s = seen.lock().unwrap();
            assert_eq!(total, 10);
            s.1 = s.1.max(done);
        }
        _ => {}
    };
    let metric = Metric::Knn { metric: KnnMetric::Mutual, k: 4, similarity: Similarity::InnerProduct };
    let got = zoo(&refs, &metric, Pairs::All, None, &Exec::new().with_progress(&hook)).unwrap();
    let (layers, pairs_done) = seen.into_inner().unwrap();
    // One state per layer: 2 + 3 + 2 + 3 + 2 layers, each reported once, in order.
    let want: Vec<(usize, usize)> = (0..5).flat_map(|m| (0..2 + m % 2).map(move |l| (m, l))).collect();
    assert_eq!(layers, want);
    assert_eq!(pairs_done, 10);
    // The matrix is symmetric with a NaN diagonal.
    for a in 0..5 {
        assert!(got.matrix[a * 5 + a].is_nan());
        for b in 0..5 {
            if a != b {
                assert_eq!(got.matrix[a * 5 + b].to_bits(), got.matrix[b * 5 + a].to_bits());
            }
        }
    }
}

#[test]
fn multiple_comparison_adjustments_match_their_definitions() {
    // Worked by hand: sorted p = 0.005, 0.01, 0.03, 0.04 (m = 4).
    // BH: 4·0.04/4 = 0.04, min(0.04, 4·0.03/3) = 0.04, 4·0.01/2 = 0.02, min(0.02, 4·0.005) = 0.02.
    // Holm: 4·0.005 = 0.02, 3·0.01 = 0.03, 2·0.03 = 0.06, max(0.06, 1·0.04) = 0.06.
    let p = [0.01, 0.04, 0.03, 0.005];
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
    assert!(close(&benjamini_hochberg(&p), &[0.02, 0.04, 0.04, 0.02]), "{:?}", benjamini_hochberg(&p));
    assert!(close(&holm(&p), &[0.03, 0.06, 0.06, 0.02]), "{:?}", holm(&p));
    // Capped at 1, ties kept equal, empty input empty.
    assert_eq!(benjamini_hochberg(&[0.9, 0.9, 0.5]), [0.9, 0.9, 0.9]);
    assert_eq!(holm(&[0.9, 0.9, 0.5]), [1.0, 1.0, 1.0]);
    assert!(benjamini_hochberg(&[]).is_empty() && holm(&[]).is_empty());
    // Against a brute-force evaluation of the definitions on a longer list.
    let p: Vec<f64> = (0..37).map(|i| ((i * 7919) % 1000) as f64 / 1000.0 + 1e-4).collect();
    let mut sorted = p.clone();
    sorted.sort_by(f64::total_cmp);
    let m = p.len();
    let (qs, hs) = (benjamini_hochberg(&p), holm(&p));
    for (i, (&q, &h)) in qs.iter().zip(&hs).enumerate() {
        let rank = sorted.iter().position(|&s| s == p[i]).unwrap();
        let last = sorted.iter().rposition(|&s| s == p[i]).unwrap();
        let bh = (last..m).map(|j| (m as f64 * sorted[j] / (j + 1) as f64).min(1.0)).fold(1.0, f64::min);
        let hm = (0..=rank).map(|j| ((m - j) as f64 * sorted[j]).min(1.0)).fold(0.0, f64::max);
        assert!((q - bh).abs() < 1e-12 && (h - hm).abs() < 1e-12, "{i}: {q} vs {bh}, {h} vs {hm}");
    }
}

#[test]
fn bad_zoos_are_errors() {
    let a = model(0, 2, 6);
    let short: Vec<f32> = a[0][..(N - 1) * 6].to_vec();
    let la: Vec<AnyMatrix<'_>> = a.iter().map(|l| Matrix::new(l, N, 6).unwrap().into()).collect();
    let lb: Vec<AnyMatrix<'_>> = vec![Matrix::new(&short, N - 1, 6).unwrap().into()];
    let metric = Metric::Cka { kernel: Kernel::Linear, unbiased: false };
    let exec = Exec::default();
    assert_eq!(zoo(&[&la, &lb], &metric, Pairs::All, None, &exec), Err(Error::RowCountMismatch { a: N, b: N - 1 }));
    assert!(matches!(zoo(&[&la], &metric, Pairs::All, None, &exec), Err(Error::InvalidParameter { .. })));
    assert!(matches!(
        zoo(&[&la, &la], &metric, Pairs::Bipartite { first_b: 2 }, None, &exec),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(zoo(&[], &metric, Pairs::All, None, &exec), Err(Error::InvalidParameter { .. })));
    assert_eq!(zoo(&[&la, &[]], &metric, Pairs::All, None, &exec), Err(Error::EmptyMatrix));
    let knn = Metric::Knn { metric: KnnMetric::Mutual, k: N, similarity: Similarity::InnerProduct };
    assert!(zoo(&[&la, &la], &knn, Pairs::All, None, &exec).is_err());
}

/// A zoo's inner loop compares layer states' graphs without revalidating them (mutual kNN
/// through the shared-count kernel): the same bits as the validated graph metrics, on every
/// ISA and for every kNN metric.
#[test]
fn state_pairs_equal_the_validated_graph_metrics() {
    use repalign::Isa;
    use repalign::knn::graph;
    use repalign::metrics::{LayerState, knn_metric_graphs, pair};
    let data = model(7, 2, 11);
    let (x, y) = (Matrix::new(&data[0], N, 11).unwrap(), Matrix::new(&data[1], N, 11).unwrap());
    for isa in Isa::available() {
        let exec = Exec::new().with_isa(Some(isa));
        for k in [1, 5, 9, 17, 40] {
            for metric in KnnMetric::ALL {
                let m = Metric::Knn { metric, k, similarity: Similarity::InnerProduct };
                let (sa, sb) = (LayerState::new(x, &m, &exec).unwrap(), LayerState::new(y, &m, &exec).unwrap());
                let (ga, gb) = (
                    graph(x, k, Similarity::InnerProduct, &exec).unwrap(),
                    graph(y, k, Similarity::InnerProduct, &exec).unwrap(),
                );
                let want = knn_metric_graphs(metric, ga.as_ref(), gb.as_ref(), k).unwrap();
                assert_eq!(pair(&sa, &sb).unwrap().to_bits(), want.to_bits(), "{isa} {metric:?} k = {k}");
            }
        }
    }
}
