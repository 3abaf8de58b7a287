//! The execution context: every entry point runs on a forced ISA (each available one, the
//! scalar and emulated ones included), reports the ISA that actually ran, and returns the
//! same bits as on the scalar backend; a forced ISA this CPU lacks is an error everywhere.

mod common;

use common::Rng;
use repalign::calibrate::{self, CalibrationOptions};
use repalign::knn::{self, Similarity};
use repalign::metrics::{self, Kernel, KnnMetric, LayerState};
use repalign::prepare::{self, Prepare};
use repalign::sweep;
use repalign::{AnyMatrix, Error, Exec, Isa, Layers, Matrix, Metric, f16};

fn on(isa: Isa, threads: usize) -> Exec<'static> {
    Exec::new().with_isa(Some(isa)).with_threads(threads)
}

fn every_metric() -> Vec<Metric> {
    let mut v: Vec<Metric> =
        KnnMetric::ALL.into_iter().map(|metric| Metric::Knn { metric, k: 5, similarity: Similarity::Cosine }).collect();
    v.push(Metric::Cka { kernel: Kernel::Linear, unbiased: false });
    v.push(Metric::Cka { kernel: Kernel::Rbf { sigma: 3.0 }, unbiased: true });
    v.push(Metric::Cknna { topk: 6, unbiased: true });
    v.push(Metric::Svcca { cca_dim: 4 });
    v
}

#[test]
fn every_entry_point_reports_the_forced_isa_and_gives_the_scalar_bits() {
    let mut rng = Rng(31);
    let (n, d) = (67, 21);
    let (xa, xb) = (rng.gauss(n * d), rng.gauss(n * d));
    let hb: Vec<f16> = xb.iter().map(|&x| f16::from_f32(x)).collect();
    let (a, b) = (Matrix::new(&xa, n, d).unwrap(), Matrix::new(&hb, n, d).unwrap());
    let (a, b) = (AnyMatrix::from(a), AnyMatrix::from(b));
    let scalar = on(Isa::Scalar, 1);
    let graph = knn::graph(b, 7, Similarity::Cosine, &scalar).unwrap();
    let search = knn::search(a, a, 4, Similarity::InnerProduct, &scalar).unwrap();
    let gram = knn::gram(b, &scalar).unwrap();
    let kernel = metrics::kernel_matrix(a, Kernel::Linear, &scalar).unwrap();
    let scores: Vec<f64> = every_metric().iter().map(|m| metrics::score(a, b, m, &scalar).unwrap()).collect();
    let cal = CalibrationOptions { permutations: 40, seed: 3, ..CalibrationOptions::default() };
    let mutual = Metric::Knn { metric: KnnMetric::Mutual, k: 5, similarity: Similarity::InnerProduct };
    let (swept, calibrated) = calibrate::calibrate(&[a, b], &[b], &mutual, &cal, &scalar).unwrap();
    let (ga, gb) = (knn::graph(a, 5, Similarity::InnerProduct, &scalar).unwrap(), graph.clone());
    let from_graphs = calibrate::calibrate_graphs(KnnMetric::Mutual, ga.as_ref(), gb.as_ref(), 5, &cal, &scalar);
    let from_graphs = from_graphs.unwrap();
    let layers = Layers::new(&xa, n, 3, 7).unwrap();
    let prepared = prepare::prepare(&layers, Prepare::Paper, 0.9, &scalar).unwrap();
    let paper = sweep::compute_score(layers, layers, &mutual, Prepare::Paper, 0.9, &scalar).unwrap();
    assert_eq!((graph.isa(), swept.isa, paper.isa), (Some(Isa::Scalar), Some(Isa::Scalar), Some(Isa::Scalar)));

    for isa in Isa::available() {
        for threads in [1, 3] {
            let exec = on(isa, threads);
            let what = format!("{isa} on {threads} threads");
            let g = knn::graph(b, 7, Similarity::Cosine, &exec).unwrap();
            assert_eq!((g.isa(), g.indices(), g.scores()), (Some(isa), graph.indices(), graph.scores()), "{what}");
            let s = knn::search(a, a, 4, Similarity::InnerProduct, &exec).unwrap();
            assert_eq!((s.isa(), s.indices(), s.scores()), (Some(isa), search.indices(), search.scores()), "{what}");
            let (mut i, mut sc) = (vec![0u32; n * 7], vec![0f32; n * 7]);
            assert_eq!(
                knn::neighbours_into(knn::Rows::Within(b), 7, Similarity::Cosine, &exec, &mut i, &mut sc),
                Ok(isa),
                "{what}"
            );
            assert_eq!((&i[..], &sc[..]), (graph.indices(), graph.scores()), "{what}");
            assert_eq!(knn::gram(b, &exec).unwrap(), (gram.0.clone(), isa), "{what}");
            let k = metrics::kernel_matrix(a, Kernel::Linear, &exec).unwrap();
            assert_eq!((k.isa(), k.values()), (isa, kernel.values()), "{what}");
            for (m, &want) in every_metric().iter().zip(&scores) {
                let got = metrics::score(a, b, m, &exec).unwrap();
                assert_eq!(got.to_bits(), want.to_bits(), "{what} {}", m.name());
                let state = LayerState::new(a, m, &exec).unwrap();
                let expected = if matches!(m, Metric::Svcca { .. }) { None } else { Some(isa) };
                assert_eq!(state.isa(), expected, "{what} {}", m.name());
            }
            let (sw, c) = calibrate::calibrate(&[a, b], &[b], &mutual, &cal, &exec).unwrap();
            assert_eq!((sw.isa, &sw.scores, &c), (Some(isa), &swept.scores, &calibrated), "{what}");
            let c = calibrate::calibrate_graphs(KnnMetric::Mutual, ga.as_ref(), gb.as_ref(), 5, &cal, &exec);
            assert_eq!(c.unwrap(), from_graphs, "{what}");
            assert_eq!(prepare::prepare(&layers, Prepare::Paper, 0.9, &exec).unwrap(), prepared, "{what}");
            let p = sweep::compute_score(layers, layers, &mutual, Prepare::Paper, 0.9, &exec).unwrap();
            assert_eq!((p.isa, &p.scores), (Some(isa), &paper.scores), "{what}");
        }
    }
}

#[test]
fn an_unavailable_isa_is_an_error_at_every_entry_point() {
    let mut rng = Rng(2);
    let x = rng.gauss(20 * 4);
    let m = AnyMatrix::from(Matrix::new(&x, 20, 4).unwrap());
    let layers = Layers::new(&x, 20, 2, 2).unwrap();
    let cal = CalibrationOptions { permutations: 5, ..CalibrationOptions::default() };
    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        let exec = on(isa, 0);
        let want = Error::IsaUnavailable(isa);
        assert_eq!(knn::graph(m, 3, Similarity::InnerProduct, &exec).unwrap_err(), want);
        assert_eq!(knn::search(m, m, 3, Similarity::InnerProduct, &exec).unwrap_err(), want);
        assert_eq!(knn::gram(m, &exec).unwrap_err(), want);
        for metric in every_metric() {
            assert_eq!(metrics::score(m, m, &metric, &exec).unwrap_err(), want, "{}", metric.name());
            assert_eq!(calibrate::calibrate(&[m], &[m], &metric, &cal, &exec).unwrap_err(), want);
        }
        let g = knn::graph(m, 3, Similarity::InnerProduct, &Exec::default()).unwrap();
        let c = calibrate::calibrate_graphs(KnnMetric::Mutual, g.as_ref(), g.as_ref(), 3, &cal, &exec);
        assert_eq!(c.unwrap_err(), want);
        let mutual = Metric::from_name("mutual_knn", 3).unwrap();
        assert_eq!(sweep::compute_score(layers, layers, &mutual, Prepare::None, 0.95, &exec).unwrap_err(), want);
    }
}

#[test]
fn layer_states_pair_as_score_and_refuse_other_metrics() {
    let mut rng = Rng(8);
    let (x, y) = (rng.gauss(30 * 6), rng.gauss(30 * 5));
    let (a, b) = (Matrix::new(&x, 30, 6).unwrap(), Matrix::new(&y, 30, 5).unwrap());
    let exec = Exec::default();
    for m in every_metric() {
        let (sa, sb) = (LayerState::new(a, &m, &exec).unwrap(), LayerState::new(b, &m, &exec).unwrap());
        assert_eq!(metrics::pair(&sa, &sb).unwrap(), metrics::score(a, b, &m, &exec).unwrap(), "{}", m.name());
    }
    let cka = LayerState::new(a, &every_metric()[5], &exec).unwrap();
    let rbf = LayerState::new(b, &every_metric()[6], &exec).unwrap();
    assert!(matches!(metrics::pair(&cka, &rbf), Err(Error::InvalidParameter { .. })));
}

/// `Exec::cancel`: a flag set before the call stops every entry point at once; a flag set
/// by the progress hook mid-run (from a worker) stops the work at the next block, on every
/// thread count; nothing partial is returned, and the same call without the flag succeeds.
#[test]
fn a_cancelled_call_returns_cancelled_and_nothing_else() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let mut rng = Rng(5);
    let (n, d) = (300, 16);
    let x = rng.gauss(n * d);
    let m = AnyMatrix::from(Matrix::new(&x, n, d).unwrap());
    let set = AtomicBool::new(true);
    let exec = Exec::new().with_cancel(&set);
    assert!(exec.cancelled());
    assert_eq!(knn::graph(m, 5, Similarity::InnerProduct, &exec).unwrap_err(), Error::Cancelled);
    assert_eq!(knn::search(m, m, 5, Similarity::Cosine, &exec).unwrap_err(), Error::Cancelled);
    assert_eq!(knn::gram(m, &exec).unwrap_err(), Error::Cancelled);
    for metric in every_metric() {
        // SVCCA has no block loop: the sweep's per-layer check stops it.
        let layers = [m];
        assert_eq!(sweep::sweep(&layers, &layers, &metric, &exec).unwrap_err(), Error::Cancelled, "{metric:?}");
        let opts = CalibrationOptions { permutations: 50, seed: 1, alpha: 0.05 };
        assert_eq!(calibrate::calibrate(&layers, &layers, &metric, &opts, &exec).unwrap_err(), Error::Cancelled);
    }
    // Calibration from states: the null's sample loop checks the flag.
    let metric = Metric::Knn { metric: KnnMetric::Mutual, k: 5, similarity: Similarity::InnerProduct };
    let state = [LayerState::new(m, &metric, &Exec::new()).unwrap()];
    let opts = CalibrationOptions { permutations: 50, seed: 1, alpha: 0.05 };
    assert_eq!(calibrate::calibrate_states(&state, &state, &opts, &exec).unwrap_err(), Error::Cancelled);

    // Cancelled from the hook after the first block, as a front end's watcher would.
    let (n, d) = (3000, 8);
    let x = rng.gauss(n * d);
    let big = AnyMatrix::from(Matrix::new(&x, n, d).unwrap());
    for threads in [1, 2, 4] {
        let flag = AtomicBool::new(false);
        let reports = AtomicUsize::new(0);
        let hook = |_| {
            reports.fetch_add(1, Ordering::Relaxed);
            flag.store(true, Ordering::Relaxed);
        };
        let exec = Exec::new().with_threads(threads).with_oversubscribe(true).with_cancel(&flag).with_progress(&hook);
        assert_eq!(knn::graph(big, 5, Similarity::InnerProduct, &exec).unwrap_err(), Error::Cancelled, "{threads}");
        // Each worker takes at most the block it was offered when the flag went up.
        assert!(reports.load(Ordering::Relaxed) <= threads + 1, "{threads} threads: {reports:?} blocks offered");
    }
    let exec = Exec::new().with_cancel(&set);
    set.store(false, Ordering::Relaxed);
    assert_eq!(
        knn::graph(big, 5, Similarity::InnerProduct, &exec).unwrap(),
        knn::graph(big, 5, Similarity::InnerProduct, &Exec::new()).unwrap()
    );
}
