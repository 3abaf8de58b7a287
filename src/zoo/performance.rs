//! Alignment against competence, the paper's Figure 2 (left) and Figure 3: does a model
//! that aligns more with the others (or with the other group) also score better on a task?
//! Each model's mean best-pair alignment is set against its task score by Spearman's rank
//! correlation, tested by permuting the scores: every permutation when there are at most
//! [`EXACT`] models (an exact p-value), else seeded random ones.

use alloc::vec;
use alloc::vec::Vec;

use super::{Pairs, ZooResult};
use crate::calibrate::permutation_into;
use crate::error::{Error, Result};

/// Up to this many models the test enumerates all n! orderings (8! = 40,320).
pub const EXACT: usize = 8;

/// Each model's mean best score against the models it was compared with: every other
/// model ([`Pairs::All`]), or every model of the other group ([`Pairs::Bipartite`]). NaN
/// for a model compared with none.
pub fn mean_alignment(result: &ZooResult, pairs: Pairs) -> Vec<f64> {
    let (rows, cols) = (result.rows, result.cols);
    let mean = |xs: &mut dyn Iterator<Item = f64>| {
        let (sum, count) = xs.filter(|x| !x.is_nan()).fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
        if count == 0 { f64::NAN } else { sum / count as f64 }
    };
    let row = |a: usize| mean(&mut result.matrix[a * cols..(a + 1) * cols].iter().copied());
    let col = |b: usize| mean(&mut (0..rows).map(|a| result.matrix[a * cols + b]));
    match pairs {
        Pairs::All => (0..rows).map(row).collect(),
        Pairs::Bipartite { .. } => (0..rows).map(row).chain((0..cols).map(col)).collect(),
    }
}

/// Spearman's ρ: the Pearson correlation of the average ranks (ties share their mean rank).
/// NaN when either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// A rank correlation and its permutation p-value.
#[derive(Debug, Clone, PartialEq)]
pub struct RankTest {
    /// Spearman's ρ.
    pub rho: f64,
    /// Two-sided: the share of orderings of `y` whose |ρ| reaches the observed |ρ| (exact),
    /// or (1 + that count) / (1 + permutations) (sampled).
    pub p_value: f64,
    /// Orderings evaluated: n! when exact.
    pub permutations: usize,
    /// Whether every ordering was evaluated.
    pub exact: bool,
}

/// Spearman's ρ of `x` and `y` (same length n >= 3, finite) with a two-sided permutation
/// p-value: exact for n <= [`EXACT`], else from `permutations` (>= 1) orderings drawn with
/// `seed`. A constant side has no correlation: [`Error::NumericalRange`].
pub fn rank_correlation_test(x: &[f64], y: &[f64], permutations: usize, seed: u64) -> Result<RankTest> {
    let n = x.len();
    if n != y.len() || n < 3 {
        return Err(Error::InvalidParameter {
            what: "a rank correlation needs two lists of the same length, 3 or more",
        });
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(Error::InvalidParameter { what: "a rank correlation needs finite values" });
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let rho = pearson(&rx, &ry);
    if rho.is_nan() {
        return Err(Error::NumericalRange { what: "one side is constant: its ranks have no correlation" });
    }
    // Ties in |rho| are decided up to rounding: orderings with the same rank sums must count.
    let bar = rho.abs() - 1e-12;
    let mut at_least = 0usize;
    let mut shuffled = ry.clone();
    if n <= EXACT {
        let mut total = 0usize;
        each_ordering(&mut shuffled, &mut |p| {
            total += 1;
            at_least += usize::from(pearson(&rx, p).abs() >= bar);
        });
        return Ok(RankTest { rho, p_value: at_least as f64 / total as f64, permutations: total, exact: true });
    }
    if permutations == 0 {
        return Err(Error::InvalidParameter { what: "a sampled permutation test needs 1 permutation or more" });
    }
    let mut perm = Vec::new();
    for s in 0..permutations as u64 {
        permutation_into(&mut perm, n, seed, s);
        shuffled.iter_mut().zip(&perm).for_each(|(v, &p)| *v = ry[p as usize]);
        at_least += usize::from(pearson(&rx, &shuffled).abs() >= bar);
    }
    let p_value = (1 + at_least) as f64 / (1 + permutations) as f64;
    Ok(RankTest { rho, p_value, permutations, exact: false })
}

/// Every ordering of `v` (Heap's algorithm), each passed to `f`.
fn each_ordering(v: &mut [f64], f: &mut dyn FnMut(&[f64])) {
    let n = v.len();
    let mut c = vec![0usize; n];
    f(v);
    let mut i = 1;
    while i < n {
        if c[i] < i {
            v.swap(if i % 2 == 0 { 0 } else { c[i] }, i);
            f(v);
            c[i] += 1;
            i = 1;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
}

/// Average ranks, 1-based: ties share the mean of the ranks they span.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut start = 0;
    while start < order.len() {
        let end = (start..order.len()).find(|&e| x[order[e]] != x[order[start]]).unwrap_or(order.len());
        let mean = (start + 1 + end) as f64 / 2.0;
        order[start..end].iter().for_each(|&i| r[i] = mean);
        start = end;
    }
    r
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        (sxy, sxx, syy) = (sxy + dx * dy, sxx + dx * dx, syy + dy * dy);
    }
    if sxx == 0.0 || syy == 0.0 { f64::NAN } else { sxy / libm::sqrt(sxx * syy) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_matches_hand_values() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]), 1.0);
        assert_eq!(spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]), -1.0);
        // Ranks (1, 2, 3, 4, 5) and (2, 1, 4, 3, 5): 1 - 6 Σd² / (n(n²-1)) = 1 - 24/120.
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]) - 0.8).abs() < 1e-15);
        // Ties share their mean rank.
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    }

    #[test]
    fn exact_p_values_count_orderings() {
        // n = 4, perfectly monotone: 2 of the 24 orderings reach |rho| = 1.
        let t = rank_correlation_test(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 4.0], 0, 0).unwrap();
        assert_eq!((t.rho, t.permutations, t.exact), (1.0, 24, true));
        assert!((t.p_value - 2.0 / 24.0).abs() < 1e-15);
        // n = 5, rho = 0.8: orderings with |rho| >= 0.8 are those with Σd² <= 4 or >= 36.
        let t = rank_correlation_test(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0], 0, 0).unwrap();
        let mut count = 0;
        let mut v = [1.0, 2.0, 3.0, 4.0, 5.0];
        each_ordering(&mut v, &mut |p| {
            let d2: f64 = p.iter().enumerate().map(|(i, r)| (r - (i + 1) as f64).powi(2)).sum();
            count += usize::from(d2 <= 4.0 || d2 >= 36.0);
        });
        assert_eq!(t.permutations, 120);
        assert!((t.p_value - count as f64 / 120.0).abs() < 1e-15, "{} {count}", t.p_value);
    }

    #[test]
    fn sampled_p_values_are_seeded_and_sensible() {
        let x: Vec<f64> = (0..30).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v * v).collect();
        let t = rank_correlation_test(&x, &y, 999, 7).unwrap();
        assert_eq!((t.rho, t.exact, t.permutations), (1.0, false, 999));
        assert_eq!(t.p_value, 1.0 / 1000.0);
        let noise: Vec<f64> = (0..30u64).map(|i| ((i * 7919) % 31) as f64).collect();
        let a = rank_correlation_test(&x, &noise, 999, 7).unwrap();
        assert_eq!(a, rank_correlation_test(&x, &noise, 999, 7).unwrap());
        assert!(a.p_value > 0.05, "{a:?}");
        assert!(rank_correlation_test(&x, &noise, 0, 7).is_err());
        assert!(rank_correlation_test(&[1.0, 2.0], &[1.0, 2.0], 9, 7).is_err());
        assert!(rank_correlation_test(&[1.0, 2.0, f64::NAN], &[1.0, 2.0, 3.0], 9, 7).is_err());
        assert!(rank_correlation_test(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0], 9, 7).is_err());
    }

    #[test]
    fn mean_alignment_of_all_pairs_and_groups() {
        let nan = f64::NAN;
        let all = ZooResult {
            pairs: Vec::new(),
            rows: 3,
            cols: 3,
            matrix: vec![nan, 0.2, 0.4, 0.2, nan, 0.6, 0.4, 0.6, nan],
        };
        let m = mean_alignment(&all, Pairs::All);
        assert!((m[0] - 0.3).abs() < 1e-15 && (m[1] - 0.4).abs() < 1e-15 && (m[2] - 0.5).abs() < 1e-15);
        // Groups {0} x {1, 2}: model 0 against both, models 1 and 2 against model 0.
        let two = ZooResult { pairs: Vec::new(), rows: 1, cols: 2, matrix: vec![0.2, 0.4] };
        let m = mean_alignment(&two, Pairs::Bipartite { first_b: 1 });
        assert_eq!(m.len(), 3);
        assert!((m[0] - 0.3).abs() < 1e-15 && m[1] == 0.2 && m[2] == 0.4);
    }
}
