//! The zoo against its parts, on random f32 models (each layer a noisy copy of a shared
//! signal), mutual kNN:
//! `cargo run --release --example zoo_timing -- [M L N D k permutations [separate]]`
//! (defaults 12 13 1024 768 10 1000 3). Prints the time of the M·L layer states alone, of
//! the zoo from those states, of the calibrated zoo, and of `separate` of the M(M-1)/2
//! separate `sweep` calls (each recomputing its two models' layers), extrapolated to all.
//! With `--features cache`, also the layer states through a fresh on-disk cache (computed
//! and written) and again (read back), in a temporary directory.

use std::time::Instant;

use repalign::calibrate::CalibrationOptions;
use repalign::knn::Similarity;
use repalign::metrics::KnnMetric;
use repalign::sweep::sweep;
use repalign::zoo::{Pairs, model_states, zoo_states};
use repalign::{AnyMatrix, Exec, Matrix, Metric};

fn main() {
    let args: Vec<usize> =
        std::env::args().skip(1).map(|a| a.parse().expect("M L N D k permutations [separate]")).collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (m, l, n, d, k, permutations, separate) =
        (arg(0, 12), arg(1, 13), arg(2, 1024), arg(3, 768), arg(4, 10), arg(5, 1000), arg(6, 3));
    let mut seed = 1u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32
    };
    let signal: Vec<f32> = (0..n * d).map(|_| next()).collect();
    let data: Vec<Vec<Vec<f32>>> =
        (0..m).map(|_| (0..l).map(|_| signal.iter().map(|&s| s + 2.0 * next()).collect()).collect()).collect();
    let models: Vec<Vec<AnyMatrix<'_>>> =
        data.iter().map(|layers| layers.iter().map(|x| Matrix::new(x, n, d).unwrap().into()).collect()).collect();
    let refs: Vec<&[AnyMatrix<'_>]> = models.iter().map(|x| x.as_slice()).collect();
    let metric = Metric::Knn { metric: KnnMetric::Mutual, k, similarity: Similarity::InnerProduct };
    let exec = Exec::default();
    println!("M = {m} models x L = {l} layers, N = {n}, D = {d}, mutual kNN k = {k}, {} threads", exec.workers());

    let t = Instant::now();
    let states = model_states(&refs, &metric, &exec).unwrap();
    let states_s = t.elapsed().as_secs_f64();
    println!("layer states ({} graphs): {states_s:.2} s", m * l);

    #[cfg(feature = "cache")]
    {
        let dir = std::env::temp_dir().join(format!("repalign-zoo-timing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for run in ["cold (computed, written)", "warm (read back)"] {
            let cache = repalign::cache::StateCache::open(&dir).unwrap();
            let t = Instant::now();
            let cached =
                repalign::zoo::model_states_with(&refs, &metric, &exec, |x, e| cache.state(x, &metric, e)).unwrap();
            let s = t.elapsed().as_secs_f64();
            assert!(cached == states);
            let st = cache.stats();
            println!(
                "layer states through the cache, {run}: {s:.3} s = {:.3} x computing them ({} read, {} computed)",
                s / states_s,
                st.hits,
                st.computed
            );
        }
        let bytes: u64 = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        println!("cache size: {:.1} MB", bytes as f64 / 1e6);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    let t = Instant::now();
    let plain = zoo_states(&states, Pairs::All, None, &exec).unwrap();
    let pairs_s = t.elapsed().as_secs_f64();
    println!(
        "zoo from the states ({} model pairs, {} layer pairs): {pairs_s:.3} s; zoo in all {:.2} s = {:.3} x the states alone",
        plain.pairs.len(),
        plain.pairs.len() * l * l,
        states_s + pairs_s,
        (states_s + pairs_s) / states_s
    );

    if permutations > 0 {
        let opts = CalibrationOptions { permutations, ..Default::default() };
        let t = Instant::now();
        let calibrated = zoo_states(&states, Pairs::All, Some(&opts), &exec).unwrap();
        let cal_s = t.elapsed().as_secs_f64();
        let significant = calibrated.pairs.iter().filter(|p| p.q_value.is_some_and(|q| q < 0.05)).count();
        println!(
            "calibrated zoo, {permutations} permutations per pair: {cal_s:.2} s from the states, {:.2} s in all ({significant} of {} pairs with q < 0.05)",
            states_s + cal_s,
            calibrated.pairs.len()
        );
    }

    if separate > 0 {
        let list = Pairs::All.list(m).unwrap();
        let t = Instant::now();
        for &(a, b) in list.iter().take(separate) {
            let got = sweep(refs[a], refs[b], &metric, &exec).unwrap();
            assert_eq!(got, plain.pairs.iter().find(|p| (p.a, p.b) == (a, b)).unwrap().sweep);
        }
        let per = t.elapsed().as_secs_f64() / separate.min(list.len()) as f64;
        println!(
            "separate sweeps: {per:.2} s a pair ({} measured); all {} pairs ≈ {:.1} s = {:.1} x the zoo",
            separate.min(list.len()),
            list.len(),
            per * list.len() as f64,
            per * list.len() as f64 / (states_s + pairs_s)
        );
    }
}
