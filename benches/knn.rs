//! Criterion benches of the exact kNN graph (k = 10).
//!
//! - `knn_graph/{dtype}/n{N}_d{D}`: the full self-kNN graph on all cores, best ISA.
//! - `knn_isa/{isa}/n1024_d768`: the same work with each available backend forced
//!   (one thread), so backends can be compared as ratios in one run.
//! - `tile/{isa}/kc128`: the register-tiled microkernel alone (flops per second per backend).
//! - `knn_threads/...`: N = 4096, D = 4096 on 1, 2 and all threads.
//! - `calibrate/...`: a 1000-permutation null of mutual kNN from two graphs.
//! - `sweep/mutual_knn_13x13_n1024_d768`: the paper's layer sweep (13 x 13 layers, k = 10),
//!   all cores.
//! - `prepare/...`: one model's 1024 x 13 x 768 f32 tensor as the sweep command prepares it
//!   (`normalize` in place, all cores) or checks it (`scan` for NaN and infinity, as every
//!   input file is).
//!
//! Throughput is counted as 2·N²·D flops (the multiply-adds of all pairs).
//! Quick run: `cargo bench --bench knn -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use repalign::Exec;
use repalign::knn::{self, Similarity::InnerProduct as IP};
use repalign::{Isa, Matrix, bf16, f16};

fn features(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n * d)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

fn graph(c: &mut Criterion) {
    let mut group = c.benchmark_group("knn_graph");
    group.sample_size(10);
    let opts = Exec::default();
    for &(n, d) in &[(1024, 768), (1024, 4096), (4096, 768), (4096, 4096), (16384, 768)] {
        let x = features(n, d, 1);
        let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
        let b: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
        group.throughput(Throughput::Elements((2 * n * n * d) as u64));
        let id = format!("n{n}_d{d}");
        group.bench_with_input(BenchmarkId::new("f32", &id), &x, |bench, x| {
            let m = Matrix::new(x, n, d).unwrap();
            bench.iter(|| black_box(knn::graph(m, 10, IP, &opts).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("f16", &id), &h, |bench, h| {
            let m = Matrix::new(h, n, d).unwrap();
            bench.iter(|| black_box(knn::graph(m, 10, IP, &opts).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("bf16", &id), &b, |bench, b| {
            let m = Matrix::new(b, n, d).unwrap();
            bench.iter(|| black_box(knn::graph(m, 10, IP, &opts).unwrap()))
        });
    }
    group.finish();
}

fn per_isa(c: &mut Criterion) {
    let mut group = c.benchmark_group("knn_isa");
    group.sample_size(10);
    let (n, d) = (1024, 768);
    let x = features(n, d, 2);
    let m = Matrix::new(&x, n, d).unwrap();
    group.throughput(Throughput::Elements((2 * n * n * d) as u64));
    // The emulated backends are for correctness tests, orders of magnitude slower: skipped.
    for isa in [Isa::Scalar, Isa::X86V3, Isa::X86V4, Isa::Neon].into_iter().filter(|i| i.is_available()) {
        let opts = Exec::new().with_threads(1).with_isa(Some(isa));
        group.bench_function(BenchmarkId::new(isa.name(), "n1024_d768"), |bench| {
            bench.iter(|| black_box(knn::graph(m, 10, IP, &opts).unwrap()))
        });
    }
    group.finish();
}

/// Microkernel throughput per backend: one MR x NR register tile over a depth slice of
/// 128 features (the engine's slice on AVX-512), repeated; 1 thread, data in L1.
fn tile(c: &mut Criterion) {
    let mut group = c.benchmark_group("tile");
    let (depth, reps) = (128, 2000);
    for isa in [Isa::Scalar, Isa::X86V3, Isa::X86V4, Isa::Neon].into_iter().filter(|i| i.is_available()) {
        let (_, fmas) = repalign::bench_tile(isa, depth, 1).unwrap();
        group.throughput(Throughput::Elements(2 * fmas * reps as u64));
        group.bench_function(BenchmarkId::new(isa.name(), format!("kc{depth}")), |bench| {
            bench.iter(|| black_box(repalign::bench_tile(isa, depth, reps).unwrap()))
        });
    }
    group.finish();
}

/// Thread scaling on the large shape: 1 thread against 2 (and all cores).
fn threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("knn_threads");
    group.sample_size(10);
    let (n, d) = (4096, 4096);
    let x = features(n, d, 5);
    let m = Matrix::new(&x, n, d).unwrap();
    group.throughput(Throughput::Elements((2 * n * n * d) as u64));
    for threads in [1, 2, 0] {
        let opts = Exec::new().with_threads(threads);
        let id = if threads == 0 { "all".to_string() } else { threads.to_string() };
        group.bench_function(BenchmarkId::new("f32_n4096_d4096", id), |bench| {
            bench.iter(|| black_box(knn::graph(m, 10, IP, &opts).unwrap()))
        });
    }
    group.finish();
}

/// The paper's layer sweep at its size: 13 layers per model, N = 1024, D = 768, mutual kNN.
fn sweep(c: &mut Criterion) {
    use repalign::metrics::KnnMetric;
    use repalign::{AnyMatrix, Metric};
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    let (n, d, layers) = (1024, 768, 13);
    let (x, y) = (features(layers * n * d, 1, 7), features(layers * n * d, 1, 8));
    fn split(v: &[f32], n: usize, d: usize) -> Vec<AnyMatrix<'_>> {
        v.chunks_exact(n * d).map(|l| Matrix::new(l, n, d).unwrap().into()).collect()
    }
    let (a, b) = (split(&x, n, d), split(&y, n, d));
    let metric = Metric::Knn { metric: KnnMetric::Mutual, k: 10, similarity: IP };
    // Actual flops: each of the 26 layers' graphs computes every pair once (N² D flops).
    group.throughput(Throughput::Elements((2 * layers * n * n * d) as u64));
    group.bench_function("mutual_knn_13x13_n1024_d768", |bench| {
        bench.iter(|| black_box(repalign::sweep::sweep(&a, &b, &metric, &Exec::default()).unwrap()))
    });
    group.finish();
}

/// Issue target: 1000 permutations of mutual kNN (N = 1024, k = 10) cost less than one kNN
/// graph of N = 1024, D = 768 (`knn_graph/f32/n1024_d768`).
fn calibration(c: &mut Criterion) {
    use repalign::calibrate::{CalibrationOptions, calibrate_graphs};
    use repalign::metrics::KnnMetric;
    let mut group = c.benchmark_group("calibrate");
    group.sample_size(10);
    let (n, d) = (1024, 768);
    let (a, b) = (features(n, d, 3), features(n, d, 4));
    let opts = Exec::default();
    let ga = knn::graph(Matrix::new(&a, n, d).unwrap(), 10, IP, &opts).unwrap();
    let gb = knn::graph(Matrix::new(&b, n, d).unwrap(), 10, IP, &opts).unwrap();
    let cal = CalibrationOptions { permutations: 1000, ..CalibrationOptions::default() };
    group.bench_function("mutual_knn_n1024_k10_p1000", |bench| {
        bench
            .iter(|| black_box(calibrate_graphs(KnnMetric::Mutual, ga.as_ref(), gb.as_ref(), 10, &cal, &opts).unwrap()))
    });
    group.finish();
}

/// One model's tensor at the paper's size, prepared in place or checked: the work of the
/// sweep command around its graphs. Throughput is the tensor's bytes.
fn prepare(c: &mut Criterion) {
    use criterion::BatchSize;
    use repalign::prepare::{Prepare, prepare_in_place};
    use repalign::{AnyLayers, Layers};
    let mut group = c.benchmark_group("prepare");
    let (n, layers, d) = (1024, 13, 768);
    let x = features(layers * n * d, 1, 9);
    group.throughput(Throughput::Bytes((x.len() * 4) as u64));
    group.bench_function("normalize_1024x13x768", |bench| {
        bench.iter_batched_ref(
            || x.clone(),
            |v| prepare_in_place(v, n, layers, d, Prepare::Normalize, 0.95, &Exec::default()).unwrap(),
            BatchSize::LargeInput,
        )
    });
    let tensor = AnyLayers::from(Layers::new(&x, n, layers, d).unwrap());
    group.bench_function("scan_1024x13x768", |bench| bench.iter(|| black_box(tensor.scan()).unwrap()));
    group.finish();
}

criterion_group!(benches, graph, per_isa, tile, threads, calibration, sweep, prepare);
criterion_main!(benches);
