//! Time of the follow-up metrics' per-layer state, of one pair and of a calibration's null
//! samples, on random correlated f32 features:
//! `THREADS=1 cargo run --release --example linear_timing -- N D [permutations [metric ...]]`.
//! Compare builds with and without the `linalg` feature.

use std::time::Instant;

use repalign::calibrate::{CalibrationOptions, calibrate_states};
use repalign::metrics::{LayerState, Metric, pair};
use repalign::{Exec, Matrix};

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = words.iter().take(3).map(|a| a.parse().expect("N D [permutations [metric ...]]")).collect();
    let only = &words[words.len().min(3)..];
    let (n, d) = (args.first().copied().unwrap_or(1024), args.get(1).copied().unwrap_or(768));
    let permutations = args.get(2).copied().unwrap_or(0);
    let mut seed = 1u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32
    };
    // Column scales (j + 1)^-0.5 give a decaying spectrum; B = A + noise.
    let a: Vec<f32> = (0..n * d).map(|e| next() / ((e % d + 1) as f32).sqrt()).collect();
    let b: Vec<f32> = a.iter().map(|&x| x + 0.5 * next()).collect();
    let (ma, mb) = (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap());
    let threads = std::env::var("THREADS").ok().and_then(|t| t.parse().ok());
    let exec = threads.map_or(Exec::default(), |t| Exec::default().with_threads(t));
    println!("N = {n}, D = {d}");
    println!("| metric | state per layer (s) | pair (s) | score |");
    println!("|---|---|---|---|");
    let rsa = repalign::metrics::MetricParams::default().metric("rsa").unwrap();
    for metric in
        [rsa, Metric::RvCoefficient, Metric::Procrustes, Metric::Cca, Metric::Pwcca, Metric::Svcca { cca_dim: 10 }]
    {
        if !only.is_empty() && !only.iter().any(|m| m == metric.name()) {
            continue;
        }
        let t = Instant::now();
        let sa = LayerState::new(ma, &metric, &exec).unwrap();
        let state = t.elapsed().as_secs_f64();
        let sb = LayerState::new(mb, &metric, &exec).unwrap();
        let t = Instant::now();
        let s = pair(&sa, &sb).unwrap();
        let pair_time = t.elapsed().as_secs_f64();
        println!("| {} | {state:.3} | {pair_time:.3} | {s:.12} |", metric.name());
        if permutations > 0 {
            let opts = CalibrationOptions { permutations, ..Default::default() };
            let t = Instant::now();
            let (_, c) = calibrate_states(&[sa], &[sb], &opts, &exec).unwrap();
            let total = t.elapsed().as_secs_f64();
            println!(
                "{} calibration, {permutations} permutations on {} threads: {total:.2} s ({:.1} ms per null sample, p = {})",
                metric.name(),
                exec.workers(),
                1e3 * total / permutations as f64,
                c.p_value
            );
        }
    }
}
