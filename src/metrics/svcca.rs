//! SVCCA, computed exactly and deterministically.
//!
//! The reference uses a randomised low-rank SVD and scikit-learn's iterative CCA, so its
//! value moves with seeds (by up to 0.14 on flat spectra, see the golden README). This is
//! the definition it approximates: standardise each column ((x - mean) / (std + 1e-8),
//! N - 1 denominator), keep the `cca_dim` leading left singular vectors U_A and U_B, and
//! average the canonical correlations, the singular values of U_Aᵀ U_B. All in f64.
//!
//! Linear algebra: a cyclic Jacobi eigensolver on the smaller Gram matrix (D x D or N x N),
//! about 60 lines in-crate instead of a LAPACK dependency: small, exact to rounding, and
//! deterministic on every platform; O(min(N, D)³) per sweep, which is seconds at 1000.

use alloc::vec;
use alloc::vec::Vec;

use crate::element::Element;
use crate::error::{Error, Result};
use crate::matrix::{AnyMatrix, Matrix};

/// Mean canonical correlation of the `cca_dim` leading singular directions of `a` and `b`
/// (same N), in `[0, 1]`.
pub fn svcca<'a, 'b>(a: impl Into<AnyMatrix<'a>>, b: impl Into<AnyMatrix<'b>>, cca_dim: usize) -> Result<f64> {
    let (a, b) = (a.into(), b.into());
    if a.rows() != b.rows() {
        return Err(Error::RowCountMismatch { a: a.rows(), b: b.rows() });
    }
    svcca_bases(&SvccaBasis::new(a, cca_dim)?, &SvccaBasis::new(b, cca_dim)?)
}

/// The `cca_dim` leading left singular vectors of one standardised representation:
/// computed once per layer, reused for every comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct SvccaBasis {
    n: usize,
    dim: usize,
    u: Vec<f64>,
}

impl SvccaBasis {
    /// Standardises the columns of `x` and keeps its `cca_dim` leading left singular vectors.
    pub fn new<'a>(x: impl Into<AnyMatrix<'a>>, cca_dim: usize) -> Result<Self> {
        let x = x.into();
        let u = leading_left_vectors(&standardised(x)?, x.rows(), x.cols(), cca_dim)?;
        Ok(Self { n: x.rows(), dim: cca_dim, u })
    }
}

/// SVCCA from two bases of the same N and `cca_dim`.
pub fn svcca_bases(a: &SvccaBasis, b: &SvccaBasis) -> Result<f64> {
    if a.n != b.n {
        return Err(Error::RowCountMismatch { a: a.n, b: b.n });
    }
    if a.dim != b.dim {
        return Err(Error::InvalidParameter { what: "svcca bases of different cca_dim" });
    }
    let (n, cca_dim, ua, ub) = (a.n, a.dim, &a.u, &b.u);
    // M = U_Aᵀ U_B (cca_dim x cca_dim); its singular values are the canonical correlations.
    let mut m = vec![0.0f64; cca_dim * cca_dim];
    for r in 0..cca_dim {
        for c in 0..cca_dim {
            m[r * cca_dim + c] = (0..n).map(|i| ua[i * cca_dim + r] * ub[i * cca_dim + c]).sum();
        }
    }
    let mtm = gram_cols(&m, cca_dim, cca_dim);
    let (values, _) = symmetric_eigen(mtm, cca_dim);
    Ok(values.iter().map(|&v| libm::sqrt(v.max(0.0)).min(1.0)).sum::<f64>() / cca_dim as f64)
}

/// Columns centred and scaled by (sample std + 1e-8), row-major f64.
fn standardised(x: AnyMatrix<'_>) -> Result<Vec<f64>> {
    fn go<T: Element>(m: Matrix<'_, T>) -> Result<Vec<f64>> {
        let (n, d) = (m.rows(), m.cols());
        if n < 2 {
            return Err(Error::TooFewSamples { n, min: 2 });
        }
        if d == 0 {
            return Err(Error::ZeroDimension);
        }
        m.scan()?;
        let mut out: Vec<f64> = (0..n).flat_map(|i| m.row(i).iter().map(|x| f64::from(x.to_f32()))).collect();
        for c in 0..d {
            let mean = (0..n).map(|i| out[i * d + c]).sum::<f64>() / n as f64;
            let var = (0..n).map(|i| (out[i * d + c] - mean) * (out[i * d + c] - mean)).sum::<f64>() / (n - 1) as f64;
            let scale = 1.0 / (libm::sqrt(var) + 1e-8);
            for i in 0..n {
                out[i * d + c] = (out[i * d + c] - mean) * scale;
            }
        }
        Ok(out)
    }
    match x {
        AnyMatrix::F32(m) => go(m),
        AnyMatrix::F16(m) => go(m),
        AnyMatrix::Bf16(m) => go(m),
    }
}

/// The `dim` leading left singular vectors of the n x d matrix `x`, as an n x dim matrix.
fn leading_left_vectors(x: &[f64], n: usize, d: usize, dim: usize) -> Result<Vec<f64>> {
    if dim == 0 || dim > n.min(d) {
        return Err(Error::InvalidParameter { what: "cca_dim must be in 1..=min(N, D)" });
    }
    let mut u = vec![0.0f64; n * dim];
    if n <= d {
        // Eigenvectors of X Xᵀ are the left singular vectors.
        let xxt = gram_rows(x, n, d);
        let (values, vectors) = symmetric_eigen(xxt, n);
        for c in 0..dim {
            if values[c] <= 0.0 {
                return Err(Error::InvalidParameter { what: "cca_dim exceeds the rank of the standardised input" });
            }
            for i in 0..n {
                u[i * dim + c] = vectors[i * n + c];
            }
        }
    } else {
        // U = X V / s from the eigenvectors V of Xᵀ X.
        let (values, vectors) = symmetric_eigen(gram_cols(x, n, d), d);
        for c in 0..dim {
            if values[c] <= 0.0 {
                return Err(Error::InvalidParameter { what: "cca_dim exceeds the rank of the standardised input" });
            }
            let s = libm::sqrt(values[c]);
            for i in 0..n {
                u[i * dim + c] = (0..d).map(|j| x[i * d + j] * vectors[j * d + c]).sum::<f64>() / s;
            }
        }
    }
    Ok(u)
}

/// X Xᵀ of a row-major n x d matrix.
fn gram_rows(x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut g = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let v: f64 = (0..d).map(|c| x[i * d + c] * x[j * d + c]).sum();
            g[i * n + j] = v;
            g[j * n + i] = v;
        }
    }
    g
}

/// Xᵀ X of a row-major n x d matrix.
fn gram_cols(x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut g = vec![0.0f64; d * d];
    for i in 0..n {
        let row = &x[i * d..(i + 1) * d];
        for a in 0..d {
            for b in a..d {
                g[a * d + b] += row[a] * row[b];
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            g[a * d + b] = g[b * d + a];
        }
    }
    g
}

/// Eigen-decomposition of a symmetric n x n matrix by cyclic Jacobi rotations: eigenvalues
/// in descending order and the matching eigenvectors as columns (row-major n x n).
fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + libm::sqrt(theta * theta + 1.0));
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / libm::sqrt(t * t + 1.0);
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| a[y * n + y].total_cmp(&a[x * n + x]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = vec![0.0f64; n * n];
    for (c, &src) in order.iter().enumerate() {
        for r in 0..n {
            vectors[r * n + c] = v[r * n + src];
        }
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises() {
        let a = vec![4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0];
        let (values, vectors) = symmetric_eigen(a.clone(), 3);
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
        for c in 0..3 {
            for r in 0..3 {
                let av: f64 = (0..3).map(|k| a[r * 3 + k] * vectors[k * 3 + c]).sum();
                assert!((av - values[c] * vectors[r * 3 + c]).abs() < 1e-12);
            }
        }
        assert!((values.iter().sum::<f64>() - 12.0).abs() < 1e-12);
    }
}
