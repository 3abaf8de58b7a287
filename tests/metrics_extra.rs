//! Properties of the follow-up literature's metrics (rsa, procrustes, cca, pwcca,
//! rv_coefficient): invariances, symmetry where symmetric, self-similarity, the same bits on
//! every ISA and thread count, permuted states equal to states of permuted rows, and their
//! permutation nulls.

mod common;

use common::Rng;
use repalign::calibrate::{CalibrationOptions, calibrate};
use repalign::metrics::{self, LayerState, MetricParams};
use repalign::{AnyMatrix, Error, Exec, Isa, Matrix, Metric};

const EXEC: Exec<'static> = Exec::new();

fn metric(name: &str) -> Metric {
    let none = MetricParams::default();
    match name {
        "rsa_cosine" => MetricParams { rdm: Some("cosine"), ..none }.metric("rsa"),
        "rsa_pearson" => MetricParams { corr: Some("pearson"), ..none }.metric("rsa"),
        other => none.metric(other),
    }
    .unwrap()
}

const ALL: [&str; 7] = ["rsa", "rsa_cosine", "rsa_pearson", "procrustes", "cca", "pwcca", "rv_coefficient"];

fn score(a: &[f32], b: &[f32], n: usize, name: &str) -> f64 {
    let (da, db) = (a.len() / n, b.len() / n);
    let (ma, mb) = (Matrix::new(a, n, da).unwrap(), Matrix::new(b, n, db).unwrap());
    metrics::score(ma, mb, &metric(name), &EXEC).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// X M for a row-major n x d matrix X and d x e matrix M, in f64, rounded to f32.
fn times(x: &[f32], n: usize, m: &[f64], e: usize) -> Vec<f32> {
    let d = x.len() / n;
    let mut out = vec![0.0f32; n * e];
    for i in 0..n {
        for c in 0..e {
            out[i * e + c] = (0..d).map(|k| f64::from(x[i * d + k]) * m[k * e + c]).sum::<f64>() as f32;
        }
    }
    out
}

/// A random d x d orthogonal matrix: Gram-Schmidt of a Gaussian one.
fn orthogonal(rng: &mut Rng, d: usize) -> Vec<f64> {
    let mut q: Vec<Vec<f64>> = Vec::new();
    while q.len() < d {
        let mut v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        for _ in 0..2 {
            for u in &q {
                let p: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= p * b);
            }
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        q.push(v.into_iter().map(|a| a / norm).collect());
    }
    (0..d * d).map(|k| q[k / d][k % d]).collect()
}

/// Two related representations: B is a noisy linear map of A.
fn related(rng: &mut Rng, n: usize, da: usize, db: usize, noise: f64) -> (Vec<f32>, Vec<f32>) {
    let a = rng.gauss(n * da);
    let w: Vec<f64> = (0..da * db).map(|_| rng.normal() / (da as f64).sqrt()).collect();
    let mut b = times(&a, n, &w, db);
    b.iter_mut().for_each(|v| *v += (noise * rng.normal()) as f32);
    (a, b)
}

#[test]
fn invariances() {
    let mut rng = Rng(41);
    let (n, da, db) = (80, 12, 9);
    let (a, b) = related(&mut rng, n, da, db, 0.8);
    let (qa, qb) = (orthogonal(&mut rng, da), orthogonal(&mut rng, db));
    let (ra, rb) = (times(&a, n, &qa, da), times(&b, n, &qb, db));
    let scaled: Vec<f32> = a.iter().map(|v| v * 3.7).collect();
    // A well-conditioned invertible map: I + 0.3 G / sqrt(d).
    let inv: Vec<f64> = (0..da * da)
        .map(|k| if k / da == k % da { 1.0 } else { 0.0 } + 0.3 * rng.normal() / (da as f64).sqrt())
        .collect();
    let la = times(&a, n, &inv, da);
    // Spearman RSA moves by about 4 / M² when the f32 rounding of a transformed input swaps
    // two nearly equal distances (M = 3160 pairs here): tolerances leave room for a few.
    for (name, tol) in [("rsa", 1e-5), ("rsa_cosine", 1e-5), ("rsa_pearson", 1e-6), ("rv_coefficient", 1e-6)] {
        let base = score(&a, &b, n, name);
        for (what, x, y) in [("orthogonal A", &ra, &b), ("orthogonal B", &a, &rb), ("scaled A", &scaled, &b)] {
            let got = score(x, y, n, name);
            assert!((got - base).abs() <= tol, "{name}, {what}: {got} vs {base}");
        }
    }
    // The 1e-6 ridge makes CCA only nearly invariant to an invertible map.
    for name in ["cca", "pwcca"] {
        let base = score(&a, &b, n, name);
        for (what, x, y) in [("invertible A", &la, &b), ("orthogonal B", &a, &rb), ("scaled A", &scaled, &b)] {
            let got = score(x, y, n, name);
            assert!((got - base).abs() <= 1e-5, "{name}, {what}: {got} vs {base}");
        }
    }
    let base = score(&a, &b, n, "procrustes");
    let got = score(&ra, &b, n, "procrustes");
    assert!((got - base).abs() <= 1e-6, "procrustes, orthogonal A: {got} vs {base}");
    // Not invariant to everything: a non-orthogonal map of A moves Procrustes, and RSA
    // changes when B's rows are shuffled.
    assert!((score(&la, &b, n, "procrustes") - base).abs() > 1e-3);
    let mut shuffled = b.clone();
    shuffled.rotate_left(db);
    assert!((score(&a, &shuffled, n, "rsa") - score(&a, &b, n, "rsa")).abs() > 1e-2);
}

#[test]
fn symmetry_and_self_similarity() {
    let mut rng = Rng(42);
    let (n, da, db) = (70, 10, 14);
    let (a, b) = related(&mut rng, n, da, db, 0.5);
    for name in ["rsa", "rsa_cosine", "rsa_pearson", "rv_coefficient", "cca"] {
        let (ab, ba) = (score(&a, &b, n, name), score(&b, &a, n, name));
        assert!((ab - ba).abs() <= 1e-12, "{name}: {ab} vs {ba}");
    }
    // Procrustes is normalised by B, PWCCA weighted by A: the argument order matters.
    for name in ["procrustes", "pwcca"] {
        assert!((score(&a, &b, n, name) - score(&b, &a, n, name)).abs() > 1e-6, "{name} looks symmetric");
    }
    for (name, tol) in [("rsa", 1e-12), ("rsa_cosine", 1e-12), ("rsa_pearson", 1e-12), ("rv_coefficient", 1e-9)] {
        let s = score(&a, &a, n, name);
        assert!((s - 1.0).abs() <= tol, "{name}(A, A) = {s}");
    }
    // CCA of A with itself: canonical correlations λ / (λ + 1e-6) for the covariance's
    // eigenvalues λ (about 0.1 to 3 here).
    for name in ["cca", "pwcca"] {
        let s = score(&a, &a, n, name);
        assert!((s - 1.0).abs() <= 1e-4, "{name}(A, A) = {s}");
    }
    let s = score(&a, &a, n, "procrustes");
    assert!((s - 1.0).abs() <= 1e-6, "procrustes(A, A) = {s}");
}

/// Every metric on every available ISA and on 1 and 3 threads gives the scalar
/// single-thread bits; RSA also at a size that takes the Gram path (slow on the emulated
/// backends: one metric only; rv_coefficient shares the Gram kernel with CKA's tests).
#[test]
fn the_same_bits_on_every_isa_and_thread_count() {
    let mut rng = Rng(43);
    for (n, da, db) in [(830, 200, 210), (90, 20, 13)] {
        let (a, b) = related(&mut rng, n, da, db, 1.0);
        let (ma, mb) = (Matrix::new(&a, n, da).unwrap(), Matrix::new(&b, n, db).unwrap());
        let names: &[&str] = if n > 500 { &["rsa"] } else { &ALL };
        for &name in names {
            let scalar = Exec::new().with_isa(Some(Isa::Scalar)).with_threads(1);
            let want = metrics::score(ma, mb, &metric(name), &scalar).unwrap();
            let state = LayerState::new(ma, &metric(name), &scalar).unwrap();
            let gram = matches!(name, "rv_coefficient") || (name.starts_with("rsa") && n > 500);
            assert_eq!(state.isa(), gram.then_some(Isa::Scalar), "{name} at N = {n}");
            for isa in common::isas() {
                for threads in [1, 3] {
                    let exec = Exec::new().with_isa(Some(isa)).with_threads(threads);
                    let got = metrics::score(ma, mb, &metric(name), &exec).unwrap();
                    assert_eq!(got.to_bits(), want.to_bits(), "{name} N = {n} on {isa:?} x {threads}: {got} vs {want}");
                }
            }
        }
    }
}

/// What the calibration null relies on: a state reordered by a permutation scores as the
/// state of the reordered rows.
#[test]
fn permuted_states_are_states_of_permuted_rows() {
    let mut rng = Rng(44);
    for (n, d) in [(50, 11), (1200, 96)] {
        let (a, b) = related(&mut rng, n, d, d, 0.7);
        let mut perm: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            perm.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let pb: Vec<f32> = perm.iter().flat_map(|&p| b[p as usize * d..(p as usize + 1) * d].iter().copied()).collect();
        let (ma, mb, mp) =
            (Matrix::new(&a, n, d).unwrap(), Matrix::new(&b, n, d).unwrap(), Matrix::new(&pb, n, d).unwrap());
        let names: &[&str] = if n > 1000 { &["rsa", "rsa_pearson"] } else { &ALL };
        for &name in names {
            let m = metric(name);
            let sa = LayerState::new(ma, &m, &EXEC).unwrap();
            let permuted = LayerState::new(mb, &m, &EXEC).unwrap().permuted(&perm).unwrap();
            let direct = LayerState::new(mp, &m, &EXEC).unwrap();
            let (x, y) = (metrics::pair(&sa, &permuted).unwrap(), metrics::pair(&sa, &direct).unwrap());
            assert!((x - y).abs() <= 1e-9, "{name} N = {n}: {x} vs {y}");
        }
    }
}

fn opts(permutations: usize, seed: u64) -> CalibrationOptions {
    CalibrationOptions { permutations, seed, ..CalibrationOptions::default() }
}

#[test]
fn calibration_of_every_new_metric() {
    let mut rng = Rng(45);
    let (n, d, p) = (60, 10, 200);
    // Independent Gaussian data: RSA's null is centred on 0.
    let (a, b) = (rng.gauss(n * d), rng.gauss(n * d));
    let (ma, mb): (AnyMatrix<'_>, AnyMatrix<'_>) =
        (Matrix::new(&a, n, d).unwrap().into(), Matrix::new(&b, n, d).unwrap().into());
    for name in ["rsa", "rsa_cosine", "rsa_pearson"] {
        let (_, c) = calibrate(&[ma], &[mb], &metric(name), &opts(p, 7), &EXEC).unwrap();
        assert!(c.null_mean.abs() < 0.05, "{name}: null mean {}", c.null_mean);
        assert_eq!(c.null.len(), p);
    }
    // Strongly related data: the observed score beats every permutation, p = 1 / (P + 1).
    let (a, b) = related(&mut rng, n, d, d, 0.2);
    let (ma, mb): (AnyMatrix<'_>, AnyMatrix<'_>) =
        (Matrix::new(&a, n, d).unwrap().into(), Matrix::new(&b, n, d).unwrap().into());
    for name in ALL {
        let (sweep, c) = calibrate(&[ma], &[mb], &metric(name), &opts(p, 8), &EXEC).unwrap();
        assert_eq!(c.raw, sweep.scores[0], "{name}");
        assert_eq!(c.p_value, 1.0 / (p as f64 + 1.0), "{name}: {c:?}");
        // Threads change nothing.
        let (_, c3) = calibrate(&[ma], &[mb], &metric(name), &opts(p, 8), &EXEC.with_threads(3)).unwrap();
        assert_eq!(c.null, c3.null, "{name}");
    }
}

#[test]
fn degenerate_inputs_are_errors() {
    let two = [0.0f32, 1.0, 2.0, 3.0];
    let m = Matrix::new(&two, 2, 2).unwrap();
    for name in ["rsa", "rsa_pearson"] {
        assert_eq!(metrics::score(m, m, &metric(name), &EXEC), Err(Error::TooFewSamples { n: 2, min: 3 }), "{name}");
    }
    let one = [1.0f32, 2.0];
    let m1 = Matrix::new(&one, 1, 2).unwrap();
    for name in ["procrustes", "cca", "pwcca"] {
        assert_eq!(metrics::score(m1, m1, &metric(name), &EXEC), Err(Error::TooFewSamples { n: 1, min: 2 }), "{name}");
    }
    // Equal distances (a regular simplex: the standard basis) have no correlation.
    let eye: Vec<f32> = (0..16).map(|k| if k % 5 == 0 { 1.0 } else { 0.0 }).collect();
    let e = Matrix::new(&eye, 4, 4).unwrap();
    assert!(matches!(metrics::score(e, e, &metric("rsa"), &EXEC), Err(Error::NumericalRange { .. })));
    let zero = [0.0f32, 0.0, 1.0, 2.0, 3.0, 1.0];
    let z = Matrix::new(&zero, 3, 2).unwrap();
    assert_eq!(metrics::score(z, z, &metric("rsa_cosine"), &EXEC), Err(Error::ZeroNorm { row: 0 }));
    // Constant columns: zero variance everywhere is finite, not NaN.
    let flat = [1.0f32; 12];
    let f = Matrix::new(&flat, 4, 3).unwrap();
    for name in ["procrustes", "cca", "pwcca", "rv_coefficient"] {
        let s = metrics::score(f, f, &metric(name), &EXEC).unwrap();
        assert!(s.is_finite(), "{name}: {s}");
    }
}
