//! The models of a zoo as points in the plane, as the paper's Figure 2 (right) draws them:
//! classical (Torgerson) multidimensional scaling of the distances d = -ln(alignment).
//!
//! Distances of the form -ln(s) need not be Euclidean: the doubly centred matrix
//! B = -J D² J / 2 can have negative eigenvalues. The map keeps the two largest
//! eigenvalues that are positive (an axis whose eigenvalue is not positive is all zeros),
//! which is the best rank-2 positive semidefinite approximation of B in the Frobenius norm,
//! and reports how many eigenvalues were negative and their share of Σ|λ|, so a reader
//! knows how much of the geometry the plane cannot show. Eigenvector signs are fixed (the
//! entry of largest magnitude, the first on ties, is positive): the same zoo gives the same
//! picture.

use alloc::vec;
use alloc::vec::Vec;

use super::{Pairs, ZooResult};
use crate::error::{Error, Result};
use crate::metrics::dense::eigenpairs;

/// A 2-D map of a zoo's models.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMap {
    /// First coordinate of each model.
    pub x: Vec<f64>,
    /// Second coordinate of each model.
    pub y: Vec<f64>,
    /// Every eigenvalue of B, descending.
    pub eigenvalues: Vec<f64>,
    /// How many eigenvalues are negative (below -1e-12 · the largest magnitude).
    pub negative: usize,
    /// Their share of Σ |λ|: 0 for Euclidean distances.
    pub negative_share: f64,
}

/// The map of the zoo `result` (every pair: [`Pairs::All`]) from each pair's best score
/// divided by `max` (the metric's largest value, e.g. 1, or k for `lcs_knn`), d = -ln of
/// that (a ratio above 1 counts as 1). A best score that is not above 0 has no distance:
/// [`Error::InvalidParameter`]; so does a bipartite zoo, which compares no model of a
/// group with another of its own group.
pub fn model_map(result: &ZooResult, pairs: Pairs, max: f64) -> Result<ModelMap> {
    if pairs != Pairs::All || result.rows != result.cols {
        return Err(Error::InvalidParameter { what: "a map needs every pair of models: a zoo without groups" });
    }
    let m = result.rows;
    let mut d = vec![0.0f64; m * m];
    for a in 0..m {
        for b in 0..m {
            if a != b {
                let s = result.matrix[a * m + b] / max;
                if s.is_nan() || s <= 0.0 {
                    return Err(Error::InvalidParameter {
                        what: "a map needs every best score above 0 (-ln of 0 is infinite)",
                    });
                }
                d[a * m + b] = -libm::log(s.min(1.0));
            }
        }
    }
    classical_mds(&d, m)
}

/// Classical MDS of the symmetric m × m row-major distances `d` (m >= 2) to 2-D.
pub fn classical_mds(d: &[f64], m: usize) -> Result<ModelMap> {
    if m < 2 || d.len() != m * m {
        return Err(Error::InvalidParameter { what: "classical MDS needs an m x m distance matrix, m >= 2" });
    }
    // B = -1/2 J D² J, J = I - 11ᵀ/m: double centring of the squared distances.
    let sq: Vec<f64> = d.iter().map(|x| x * x).collect();
    let row: Vec<f64> = (0..m).map(|i| sq[i * m..(i + 1) * m].iter().sum::<f64>() / m as f64).collect();
    let all = row.iter().sum::<f64>() / m as f64;
    let mut b = vec![0.0f64; m * m];
    for i in 0..m {
        for j in 0..m {
            b[i * m + j] = -0.5 * (sq[i * m + j] - row[i] - row[j] + all);
        }
    }
    let (values, vectors) = eigenpairs(b, m, m)?;
    let largest = values.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let negative = values.iter().filter(|&&v| v < -1e-12 * largest).count();
    let total: f64 = values.iter().map(|v| v.abs()).sum();
    let negative_share =
        if total > 0.0 { values.iter().filter(|&&v| v < 0.0).fold(0.0, |a, v| a - v) / total } else { 0.0 };
    let axis = |c: usize| -> Vec<f64> {
        let lambda = values.get(c).copied().unwrap_or(0.0);
        if lambda.is_nan() || lambda <= 1e-12 * largest {
            return vec![0.0; m];
        }
        let v: Vec<f64> = (0..m).map(|r| vectors[r * m + c]).collect();
        let lead = v.iter().fold(0.0f64, |a, x| if x.abs() > a.abs() { *x } else { a });
        let (sign, scale) = (if lead < 0.0 { -1.0 } else { 1.0 }, libm::sqrt(lambda));
        v.iter().map(|x| sign * scale * x).collect()
    };
    Ok(ModelMap { x: axis(0), y: axis(1), eigenvalues: values, negative, negative_share })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distances(points: &[(f64, f64)]) -> Vec<f64> {
        let m = points.len();
        let mut d = vec![0.0; m * m];
        for (i, a) in points.iter().enumerate() {
            for (j, b) in points.iter().enumerate() {
                d[i * m + j] = libm::sqrt((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2));
            }
        }
        d
    }

    #[test]
    fn euclidean_points_are_recovered_up_to_a_rigid_motion() {
        let points = [(0.0, 0.0), (3.0, 0.0), (0.0, 4.0), (1.0, 1.0), (-2.0, 0.5)];
        let d = distances(&points);
        let map = classical_mds(&d, 5).unwrap();
        assert_eq!(map.negative, 0);
        assert!(map.negative_share < 1e-12);
        let got: Vec<(f64, f64)> = map.x.iter().copied().zip(map.y.iter().copied()).collect();
        let again = distances(&got);
        for (a, b) in d.iter().zip(&again) {
            assert!((a - b).abs() < 1e-9, "{a} {b}");
        }
        // Deterministic signs: the largest-magnitude entry of each axis is positive.
        for axis in [&map.x, &map.y] {
            let lead = axis.iter().fold(0.0f64, |a, x| if x.abs() > a.abs() { *x } else { a });
            assert!(lead > 0.0);
        }
    }

    #[test]
    fn non_euclidean_distances_report_their_negative_eigenvalues() {
        // Four points at mutual distance 1 except one pair at 3: violates the triangle
        // inequality, so B has a negative eigenvalue.
        let mut d = vec![1.0; 16];
        (0..4).for_each(|i| d[i * 4 + i] = 0.0);
        (d[1], d[4]) = (3.0, 3.0);
        let map = classical_mds(&d, 4).unwrap();
        assert!(map.negative >= 1 && map.negative_share > 0.0, "{map:?}");
        assert!(map.x.iter().chain(&map.y).all(|v| v.is_finite()));
    }

    #[test]
    fn zoo_maps_need_positive_scores_and_every_pair() {
        let nan = f64::NAN;
        let zoo = |matrix: Vec<f64>| ZooResult { pairs: Vec::new(), rows: 3, cols: 3, matrix };
        let ok = zoo(vec![nan, 0.5, 0.25, 0.5, nan, 0.5, 0.25, 0.5, nan]);
        let map = model_map(&ok, Pairs::All, 1.0).unwrap();
        // -ln 0.5 and -ln 0.25 = 2 (-ln 0.5): three collinear points.
        let (dx, dy) = (map.x[0] - map.x[2], map.y[0] - map.y[2]);
        assert!((libm::sqrt(dx * dx + dy * dy) - 2.0 * core::f64::consts::LN_2).abs() < 1e-9);
        let zero = zoo(vec![nan, 0.0, 0.25, 0.0, nan, 0.5, 0.25, 0.5, nan]);
        assert!(model_map(&zero, Pairs::All, 1.0).is_err());
        assert!(model_map(&ok, Pairs::Bipartite { first_b: 1 }, 1.0).is_err());
        assert!(classical_mds(&[0.0], 1).is_err());
    }
}
