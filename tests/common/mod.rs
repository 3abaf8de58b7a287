//! Shared test helpers: a seeded generator and a float64 brute-force kNN oracle.
#![allow(dead_code)]

use repalign::{Element, Isa, Matrix};

/// SplitMix64: small, seeded, reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// `len` small integers in [-lim, lim]: exact in f32, f16 and bf16, and their inner
    /// products are exact in f32 while |sum| < 2^24, so the oracle must match bit for bit.
    pub fn ints(&mut self, len: usize, lim: i64) -> Vec<f32> {
        (0..len).map(|_| (self.below((2 * lim + 1) as u64) as i64 - lim) as f32).collect()
    }
    pub fn gauss(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.normal() as f32).collect()
    }
}

/// Float64 similarities of query row `i` against every database row.
pub fn oracle_scores<T: Element>(q: &Matrix<'_, T>, d: &Matrix<'_, T>, i: usize, cosine: bool) -> Vec<f64> {
    let qi: Vec<f64> = q.row(i).iter().map(|x| f64::from(x.to_f32())).collect();
    let qn = qi.iter().map(|x| x * x).sum::<f64>().sqrt();
    (0..d.rows())
        .map(|j| {
            let dj = d.row(j);
            let dot: f64 = qi.iter().zip(dj).map(|(a, b)| a * f64::from(b.to_f32())).sum();
            if cosine {
                let dn = dj.iter().map(|x| f64::from(x.to_f32()).powi(2)).sum::<f64>().sqrt();
                dot / (qn * dn)
            } else {
                dot
            }
        })
        .collect()
}

/// The oracle's top-k of one row under the contract: score descending, then index ascending.
pub fn oracle_row(scores: &[f64], k: usize, exclude: Option<usize>) -> Vec<(u32, f64)> {
    let mut c: Vec<(u32, f64)> =
        scores.iter().enumerate().filter(|(j, _)| Some(*j) != exclude).map(|(j, &s)| (j as u32, s)).collect();
    c.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
    c.truncate(k);
    c
}

/// Path to the tests' reference data in the repository (`tests/data/`, see its README).
pub fn data(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("data").join(rel)
}

/// The ISAs a test sweeps: every available one, or with `REPALIGN_TEST_ISAS=native` (CI's
/// qemu-aarch64 step) only the native one and scalar. The emulated lanes are portable Rust
/// that the host's run sweeps already; under qemu each costs as much as NEON, out of CI's
/// 30 minutes.
pub fn isas() -> Vec<Isa> {
    let native_only = std::env::var("REPALIGN_TEST_ISAS").is_ok_and(|v| v == "native");
    Isa::available().filter(|&isa| !native_only || isa == Isa::best() || isa == Isa::Scalar).collect()
}
