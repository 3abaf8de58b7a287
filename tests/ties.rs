//! Degenerate inputs (issue 13, item 11): rows whose k-th neighbour ties with the next
//! candidate get their lists from index order, not from the data. Identical rows, all-zero
//! rows and features whose inner products underflow must come back with a warning (the
//! scores themselves are unchanged); ordinary data must not.

mod common;

use common::Rng;
use repalign::calibrate::{CalibrationOptions, calibrate};
use repalign::knn::{self, Similarity};
use repalign::metrics::{Kernel, KnnMetric, LayerState};
use repalign::sweep::{SweepResult, TIED_ROWS_WARNING, Warning, sweep};
use repalign::{AnyMatrix, Exec, Matrix, Metric};

const IP: Similarity = Similarity::InnerProduct;

fn mutual(k: usize) -> Metric {
    Metric::Knn { metric: KnnMetric::Mutual, k, similarity: IP }
}

fn m(x: &[f32], n: usize) -> AnyMatrix<'_> {
    Matrix::new(x, n, x.len() / n).unwrap().into()
}

/// One layer of A against one layer of B.
fn one_pair(a: &[f32], b: &[f32], n: usize, metric: &Metric) -> SweepResult {
    sweep(&[m(a, n)], &[m(b, n)], metric, &Exec::default()).unwrap()
}

fn tied(model: usize, rows: usize, samples: usize) -> Warning {
    Warning::TiedNeighbours { model, layer: 0, rows, samples }
}

#[test]
fn identical_rows_score_one_with_a_warning_for_both_models() {
    let (n, d, k) = (51, 8, 10);
    let row: Vec<f32> = Rng(3).gauss(d);
    let a: Vec<f32> = row.iter().copied().cycle().take(n * d).collect();
    let b: Vec<f32> = a.iter().map(|x| 2.0 * x).collect();
    let r = one_pair(&a, &b, n, &mutual(k));
    // The score is what it always was (both graphs are the index order)...
    assert_eq!(r.scores, vec![1.0]);
    // ...but it comes with the reason not to believe it.
    assert_eq!(r.warnings, vec![tied(0, n, n), tied(1, n, n)]);
    let text = r.warnings[0].to_string();
    assert_eq!(
        text,
        "layer 0 of A: 51 of 51 rows have a tie at the k-th neighbour: their neighbour lists are \
         decided by index order, not by the data"
    );
    // A calibration reports the same warnings with its sweep.
    let opts = CalibrationOptions { permutations: 50, ..CalibrationOptions::default() };
    let (observed, _) = calibrate(&[m(&a, n)], &[m(&b, n)], &mutual(k), &opts, &Exec::default()).unwrap();
    assert_eq!(observed.warnings, r.warnings);
}

#[test]
fn all_zero_rows_warn() {
    let (n, d, k) = (40, 6, 5);
    let zero = vec![0.0f32; n * d];
    let random = Rng(5).gauss(n * d);
    let r = one_pair(&zero, &random, n, &mutual(k));
    assert_eq!(r.warnings, vec![tied(0, n, n)]);
    assert_eq!(one_pair(&zero, &zero, n, &mutual(k)).scores, vec![1.0]);
    for metric in KnnMetric::ALL {
        let metric = Metric::Knn { metric, k, similarity: IP };
        let r = one_pair(&zero, &zero, n, &metric);
        assert_eq!(r.warnings, vec![tied(0, n, n), tied(1, n, n)], "{metric:?}");
    }
}

#[test]
fn underflowing_features_warn() {
    // |x| ~ 1e-30: every product is ~1e-60, far below f32's smallest subnormal, so every
    // inner product is 0 and every row gets the list [0, 1, 2] (itself skipped).
    let (n, d, k) = (30, 16, 3);
    let tiny: Vec<f32> = Rng(7).gauss(n * d).iter().map(|x| x * 1e-30).collect();
    let g = knn::graph(m(&tiny, n), k, IP, &Exec::default()).unwrap();
    assert_eq!(g.row(5), &[0, 1, 2]);
    let random = Rng(8).gauss(n * d);
    let r = one_pair(&random, &tiny, n, &mutual(k));
    assert_eq!(r.warnings, vec![tied(1, n, n)]);
    // Cosine refuses such rows: their norms underflow too.
    let cosine = Metric::Knn { metric: KnnMetric::Mutual, k, similarity: Similarity::Cosine };
    let e = sweep(&[m(&random, n)], &[m(&tiny, n)], &cosine, &Exec::default()).unwrap_err();
    assert!(matches!(e, repalign::Error::ZeroNorm { .. }), "{e:?}");
}

#[test]
fn random_data_has_no_ties_and_no_warning() {
    let (n, d) = (100, 12);
    let (a, b) = (Rng(11).gauss(n * d), Rng(12).gauss(n * d));
    let exec = Exec::default();
    for metric in KnnMetric::ALL {
        for k in [1, 10, n - 2, n - 1] {
            let metric = Metric::Knn { metric, k, similarity: IP };
            let state = LayerState::new(m(&a, n), &metric, &exec).unwrap();
            assert_eq!(state.tied_rows(), Some(0), "{metric:?}");
            // The state's graph is the engine's graph for k, whatever was computed to count ties.
            assert_eq!(state.graph().unwrap(), &knn::graph(m(&a, n), k, IP, &exec).unwrap(), "{metric:?}");
            assert_eq!(one_pair(&a, &b, n, &metric).warnings, vec![], "{metric:?}");
        }
    }
    for metric in [Metric::Cka { kernel: Kernel::Linear, unbiased: false }, Metric::Svcca { cca_dim: 4 }] {
        let state = LayerState::new(m(&a, n), &metric, &exec).unwrap();
        assert_eq!(state.tied_rows(), None, "{metric:?}");
        assert_eq!(one_pair(&a, &b, n, &metric).warnings, vec![], "{metric:?}");
    }
}

#[test]
fn the_warning_needs_more_than_the_threshold_of_rows_tied_in_some_layer() {
    let (n, d, k) = (100, 12, 10);
    assert_eq!(TIED_ROWS_WARNING, 0.1);
    let random = Rng(13).gauss(n * d);
    let with_zeros = |zeros: usize| -> Vec<f32> {
        let mut x = random.clone();
        x[..zeros * d].iter_mut().for_each(|v| *v = 0.0);
        x
    };
    let (ten, eleven) = (with_zeros(10), with_zeros(11));
    let exec = Exec::default();
    assert_eq!(LayerState::new(m(&ten, n), &mutual(k), &exec).unwrap().tied_rows(), Some(10));
    assert_eq!(LayerState::new(m(&eleven, n), &mutual(k), &exec).unwrap().tied_rows(), Some(11));
    // 10% tied is tolerated, 11% is not; layers are named by their position.
    let r = sweep(&[m(&random, n), m(&ten, n)], &[m(&random, n), m(&eleven, n)], &mutual(k), &exec).unwrap();
    assert_eq!(r.warnings, vec![Warning::TiedNeighbours { model: 1, layer: 1, rows: 11, samples: n }]);
    assert!(r.warnings[0].to_string().starts_with("layer 1 of B: 11 of 100 rows have a tie"));
}

#[test]
fn k_of_n_minus_1_counts_rows_whose_similarities_are_all_equal() {
    let (n, d) = (6, 3);
    let zero = vec![0.0f32; n * d];
    let state = LayerState::new(m(&zero, n), &mutual(n - 1), &Exec::default()).unwrap();
    assert_eq!(state.tied_rows(), Some(n));
    // N = 2, k = 1: a single neighbour cannot tie with anything.
    let state = LayerState::new(m(&zero[..2 * d], 2), &mutual(1), &Exec::default()).unwrap();
    assert_eq!(state.tied_rows(), Some(0));
}
