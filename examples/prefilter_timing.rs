//! The kNN self graph by inner product with and without the bf16 prefilter, side by side:
//! `cargo run --release --example prefilter_timing -- N D K [THREADS [REPS [DATA [DTYPE]]]]`.
//!
//! DATA: `gauss` (default; Gaussian rows, L2-normalised like the paper's features),
//! `massive` (the same plus a constant massive feature 0 = 1000: the bound's worst case),
//! `nearties` (rows from 8 prototypes plus 1e-4 noise), or `raw:PATH`: N x D little-endian
//! f32 values from a file (e.g. a real model's features), used as they are. Prints the
//! median times of REPS alternating runs (default 7) and their ratio, the same for the
//! fastest runs (steadier on a shared machine), the pairs rescored per row and the rows
//! handed to the engine, and checks that both graphs are the same bit for bit. DTYPE: `f32`
//! (default), `f16` or `bf16`: the rows rounded to that type and scored from it.

use std::time::Instant;

use repalign::knn::{Prefilter, Similarity, graph, prefilter_totals};
use repalign::{AnyMatrix, Exec, Matrix};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num =
        |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().expect("N D K [THREADS [REPS [DATA]]]"));
    let (n, d, k, threads, reps) = (num(0, 4096), num(1, 4096), num(2, 10), num(3, 0), num(4, 7));
    let data = args.get(5).map_or("gauss", String::as_str);
    let mut seed = 7u64;
    let mut uniform = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut gauss = move || {
        let (u, v) = (uniform(), uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    };
    let mut x: Vec<f32> = (0..n * d).map(|_| gauss()).collect();
    if data == "nearties" {
        let protos: Vec<f32> = x[..8 * d].to_vec();
        for (i, row) in x.chunks_mut(d).enumerate() {
            for (p, v) in row.iter_mut().enumerate() {
                *v = protos[(i % 8) * d + p] + 1e-4 * *v;
            }
        }
    }
    if let Some(path) = data.strip_prefix("raw:") {
        let bytes = std::fs::read(path).expect("the raw f32 file");
        assert_eq!(bytes.len(), n * d * 4, "the file holds N x D f32 values");
        x = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    }
    for row in x.chunks_mut(d).filter(|_| !data.starts_with("raw:")) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
        if data == "massive" {
            row[0] = 1000.0;
        }
    }
    let dtype = args.get(6).map_or("f32", String::as_str);
    let halves: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    let brains: Vec<half::bf16> = x.iter().map(|&v| half::bf16::from_f32(v)).collect();
    let m: AnyMatrix<'_> = match dtype {
        "f32" => Matrix::new(&x, n, d).unwrap().into(),
        "f16" => Matrix::new(&halves, n, d).unwrap().into(),
        "bf16" => Matrix::new(&brains, n, d).unwrap().into(),
        _ => panic!("DTYPE: f32, f16 or bf16"),
    };
    let exec = Exec::default().with_threads(threads);
    let run = |mode: Prefilter| {
        let t = Instant::now();
        let g = graph(m, k, Similarity::InnerProduct, &exec.with_prefilter(mode)).unwrap();
        (t.elapsed().as_secs_f64(), g)
    };
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let (_, reference) = run(Prefilter::Off);
    let before = prefilter_totals();
    // PROFILE_PREFILTER=1: the prefilter alone after the reference (for `perf record`).
    let profile = std::env::var_os("PROFILE_PREFILTER").is_some();
    for _ in 0..reps {
        if !profile {
            let (t, g) = run(Prefilter::Off);
            off.push(t);
            assert!(g.indices() == reference.indices(), "the engine is not deterministic");
        }
        let (t, g) = run(Prefilter::On);
        on.push(t);
        let same = g.indices() == reference.indices()
            && g.scores().iter().zip(reference.scores()).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "the prefiltered graph differs from the engine's");
    }
    let after = prefilter_totals();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let fastest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    if profile {
        println!("prefilter alone: median {:.4} s, fastest {:.4} s", median(&mut on), fastest(&on));
        return;
    }
    let (f_off, f_on) = (fastest(&off), fastest(&on));
    let (t_off, t_on) = (median(&mut off), median(&mut on));
    let graphs = (after.2 - before.2).max(1) as f64;
    println!(
        "N = {n}, D = {d}, k = {k}, {data} {dtype}: engine {:.4} s, prefilter {:.4} s, ratio {:.3} (fastest {:.4} s, {:.4} s, ratio {:.3}); rescored {:.1} pairs a row, {:.0} rows to the engine a graph; same bits",
        t_off,
        t_on,
        t_on / t_off,
        f_off,
        f_on,
        f_on / f_off,
        (after.0 - before.0) as f64 / graphs / n as f64,
        (after.1 - before.1) as f64 / graphs,
    );
}
