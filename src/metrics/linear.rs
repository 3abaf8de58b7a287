//! Metrics of the linear maps between two representations: orthogonal Procrustes, CCA
//! (mean canonical correlation) and PWCCA (Morcos et al. 2018's projection weighting).
//!
//! Input f32/f16/bf16 → column-centred f64 copy (N x D) → everything after in f64, on one
//! thread, deterministic. Cross-covariances are accumulated as row-major outer products
//! (sample by sample, a contiguous row update each), O(N · D_A · D_B); singular values come
//! from the in-crate symmetric eigensolver ([`super::eigen`]) on the smaller of MᵀM / MMᵀ.
//!
//! CCA whitening: with `C = Xcᵀ Xc / (N-1) + 1e-6 I = V Λ Vᵀ` (eigenvalues floored at
//! 1e-6), `Xw = Xc C^-1/2 = Z Vᵀ` with `Z = Xc V Λ^-1/2`, an orthogonal change of basis.
//! T = Xwᵀ Yw / (N-1) and Z_xᵀ Z_y / (N-1) have the same singular values, and a left
//! singular vector u of T maps to ũ = Vᵀ u with `Xw u = Z ũ`, so each layer keeps only Z,
//! computed on the smaller side: from the D x D covariance when D <= N, else from the
//! N x N Gram matrix `Xc Xcᵀ = U S² Uᵀ` (Z = U S Λ^-1/2: the D - N directions Xc maps to 0
//! contribute exactly 0). Numerical stability: the ridge amplifies directions of tiny
//! variance by up to 1e3 = 1e-6^-1/2, so the D x D path takes Λ from the columns of Xc V,
//! not from the eigenvalues (see `whitened`); checked against a one-sided Jacobi SVD on a
//! rank-5 input of 40 columns, where the two agree to 1e-12.
//!
//! Memory: a layer holds an N x D (Procrustes) or N x min(N, D) (CCA, PWCCA) f64 matrix;
//! building it needs one more of each size and a D x D (or N x N) f64 matrix; a comparison
//! a D_A x D_B (or smaller) f64 matrix and one of its Gram matrices.

use alloc::vec;
use alloc::vec::Vec;

use super::eigen::{eigenvalues, leading_eigenpairs};
use super::svcca::{gram_cols, gram_rows};
use crate::element::Element;
use crate::error::{Error, Result, out_of_memory, try_vec};
use crate::exec::Exec;
use crate::layers::each_dtype;
use crate::matrix::{AnyMatrix, Matrix};

/// What a layer keeps for Procrustes (`Xc`, column-centred) or CCA / PWCCA (`Z`, whitened).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearBasis {
    n: usize,
    /// The input's feature count D.
    d: usize,
    /// Columns of `values` (D for Procrustes; min(N, D) for CCA).
    cols: usize,
    values: Vec<f64>,
    /// ‖Xc‖_F² (Procrustes).
    frobenius2: f64,
}

const WHAT: &str = "procrustes, cca and pwcca need N x D and D x D (or N x N) f64 matrices per input";

/// The column-centred f64 copy of `x` (N >= 2).
fn centred(x: AnyMatrix<'_>) -> Result<Vec<f64>> {
    fn go<T: Element>(m: Matrix<'_, T>) -> Result<Vec<f64>> {
        let (n, d) = (m.rows(), m.cols());
        if n < 2 {
            return Err(if n == 0 { Error::EmptyMatrix } else { Error::TooFewSamples { n, min: 2 } });
        }
        if d == 0 {
            return Err(Error::ZeroDimension);
        }
        m.scan()?;
        let len = n.checked_mul(d).ok_or(out_of_memory::<f64>(usize::MAX, WHAT))?;
        let mut out = try_vec(len, 0.0f64, WHAT)?;
        let mut mean = try_vec(d, 0.0f64, WHAT)?;
        for (i, row) in out.chunks_exact_mut(d).enumerate() {
            for ((o, x), s) in row.iter_mut().zip(m.row(i)).zip(mean.iter_mut()) {
                *o = f64::from(x.to_f32());
                *s += *o;
            }
        }
        mean.iter_mut().for_each(|s| *s /= n as f64);
        for row in out.chunks_exact_mut(d) {
            row.iter_mut().zip(&mean).for_each(|(o, m)| *o -= m);
        }
        Ok(out)
    }
    each_dtype!(AnyMatrix, x, m => go(m))
}

impl LinearBasis {
    /// The column-centred rows of `x`, for Procrustes. Scalar f64 code: `exec` only has its
    /// forced ISA checked.
    pub fn procrustes<'a>(x: impl Into<AnyMatrix<'a>>, exec: &Exec<'_>) -> Result<Self> {
        exec.resolve_isa()?;
        let x = x.into();
        let values = centred(x)?;
        let frobenius2 = values.iter().map(|v| v * v).sum();
        Ok(Self { n: x.rows(), d: x.cols(), cols: x.cols(), values, frobenius2 })
    }

    /// The whitened rows Z of `x` (module doc), for CCA and PWCCA.
    pub fn whitened<'a>(x: impl Into<AnyMatrix<'a>>, exec: &Exec<'_>) -> Result<Self> {
        exec.resolve_isa()?;
        let x = x.into();
        let (n, d) = (x.rows(), x.cols());
        let xc = centred(x)?;
        let scale = |lambda: f64| 1.0 / libm::sqrt((lambda / (n - 1) as f64 + 1e-6).max(1e-6));
        let r = n.min(d);
        let mut z = try_vec(n * r, 0.0f64, WHAT)?;
        if d <= n {
            // Z = Xc V Λ^-1/2, row by row: z_i = Σ_a x_ia V_a (contiguous rows of V).
            let (_, v) = leading_eigenpairs(gram_cols(&xc, n, d)?, d, d);
            for (zi, xi) in z.chunks_exact_mut(r).zip(xc.chunks_exact(d)) {
                for (&xa, va) in xi.iter().zip(v.chunks_exact(d)) {
                    zi.iter_mut().zip(va).for_each(|(z, v)| *z += xa * v);
                }
            }
            // Λ from the columns |Xc v|² rather than the computed eigenvalues: directions
            // the data spans only through rounding (a rank-deficient f32 input) have
            // eigenvalues below the solver's absolute accuracy, eps · λ_max, often computed
            // as 0 or negative, yet they are real data, amplified by up to 1e3 = 1e-6^-1/2.
            // Their vectors are accurate as a subspace, and |Xc v|² measures them well.
            let mut lambda = vec![0.0f64; r];
            for zi in z.chunks_exact(r) {
                lambda.iter_mut().zip(zi).for_each(|(l, z)| *l += z * z);
            }
            for zi in z.chunks_exact_mut(r) {
                zi.iter_mut().zip(&lambda).for_each(|(z, &l)| *z *= scale(l));
            }
        } else {
            // Z = U S Λ^-1/2 from Xc Xcᵀ = U S² Uᵀ. Singular values below sqrt(eps) of the
            // largest are lost here (they would need the D x D path).
            let (values, u) = leading_eigenpairs(gram_rows(&xc, n, d)?, n, n);
            let s: Vec<f64> = values.iter().map(|&l| libm::sqrt(l.max(0.0)) * scale(l)).collect();
            for (zi, ui) in z.chunks_exact_mut(r).zip(u.chunks_exact(n)) {
                zi.iter_mut().zip(ui).zip(&s).for_each(|((z, u), s)| *z = u * s);
            }
        }
        Ok(Self { n, d, cols: r, values: z, frobenius2: 0.0 })
    }

    /// Number of samples.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The basis of the samples reordered by `perm` (sample i becomes `perm[i]`): centring
    /// and whitening do not see row order. A copy the allocator refuses is [`Error::OutOfMemory`].
    pub fn permuted(&self, perm: &[u32]) -> Result<LinearBasis> {
        let c = self.cols;
        let mut values = try_vec(self.values.len(), 0.0f64, WHAT)?;
        for (row, &p) in values.chunks_exact_mut(c).zip(perm) {
            row.copy_from_slice(&self.values[p as usize * c..(p as usize + 1) * c]);
        }
        Ok(LinearBasis { values, ..*self })
    }
}

/// `Xᵀ Y` of two row-major matrices with N rows (a: N x ca, b: N x cb), as ca x cb, by
/// row-major outer products.
fn cross(a: &LinearBasis, b: &LinearBasis) -> Result<Vec<f64>> {
    if a.n != b.n {
        return Err(Error::RowCountMismatch { a: a.n, b: b.n });
    }
    let (ca, cb) = (a.cols, b.cols);
    let len = ca.checked_mul(cb).ok_or(out_of_memory::<f64>(usize::MAX, WHAT))?;
    let mut m = try_vec(len, 0.0f64, WHAT)?;
    for (xa, yb) in a.values.chunks_exact(ca).zip(b.values.chunks_exact(cb)) {
        for (&x, row) in xa.iter().zip(m.chunks_exact_mut(cb)) {
            // PERF: a contiguous axpy per entry of x vectorises; a column walk would not.
            row.iter_mut().zip(yb).for_each(|(m, y)| *m += x * y);
        }
    }
    Ok(m)
}

/// The eigenvalues of the smaller of MᵀM and MMᵀ for a rows x cols matrix M, descending:
/// the squared singular values.
fn squared_singular_values(m: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
    Ok(if rows <= cols {
        eigenvalues(gram_rows(m, rows, cols)?, rows)
    } else {
        eigenvalues(gram_cols(m, rows, cols)?, cols)
    })
}

/// Orthogonal Procrustes similarity of X to Y (not symmetric: normalised by ‖Yc‖_F):
/// `1 - sqrt(max(0, ‖Xc‖² + ‖Yc‖² - 2 ‖Xcᵀ Yc‖_*)) / (‖Yc‖_F + 1e-8)`.
pub fn procrustes_bases(x: &LinearBasis, y: &LinearBasis) -> Result<f64> {
    let m = cross(x, y)?;
    let nuclear: f64 = squared_singular_values(&m, x.cols, y.cols)?.iter().map(|&l| libm::sqrt(l.max(0.0))).sum();
    let residual = (x.frobenius2 + y.frobenius2 - 2.0 * nuclear).max(0.0);
    Ok(1.0 - libm::sqrt(residual) / (libm::sqrt(y.frobenius2) + 1e-8))
}

/// CCA: the mean of the min(D_X, D_Y) singular values of T = Z_xᵀ Z_y / (N - 1).
pub fn cca_bases(x: &LinearBasis, y: &LinearBasis) -> Result<f64> {
    let mut t = cross(x, y)?;
    let scale = 1.0 / (x.n - 1) as f64;
    t.iter_mut().for_each(|v| *v *= scale);
    let sum: f64 = squared_singular_values(&t, x.cols, y.cols)?.iter().map(|&l| libm::sqrt(l.max(0.0))).sum();
    Ok(sum / x.d.min(y.d) as f64)
}

/// PWCCA of X to Y (not symmetric: X's projections weigh): `Σ w_i s_i` over the
/// r = min(D_X, D_Y, N - 1) leading singular values s_i of T, with
/// `w_i ∝ |Xw u_i|_1 = |Z_x ũ_i|_1` (normalised with + 1e-8).
pub fn pwcca_bases(x: &LinearBasis, y: &LinearBasis) -> Result<f64> {
    let mut t = cross(x, y)?;
    let (n, cx) = (x.n, x.cols);
    let scale = 1.0 / (n - 1) as f64;
    t.iter_mut().for_each(|v| *v *= scale);
    let r = x.d.min(y.d).min(n - 1);
    // Left singular vectors: eigenvectors of T Tᵀ (cx x cx).
    let (values, u) = leading_eigenpairs(gram_rows(&t, cx, y.cols)?, cx, r);
    let r = values.len();
    // |Z_x ũ_i|_1 for every i at once: P = Z_x Ũ (N x r), row by row.
    let mut weights = vec![0.0f64; r];
    let mut p = vec![0.0f64; r];
    for zi in x.values.chunks_exact(cx) {
        p.iter_mut().for_each(|v| *v = 0.0);
        for (&z, ua) in zi.iter().zip(u.chunks_exact(r)) {
            p.iter_mut().zip(ua).for_each(|(p, u)| *p += z * u);
        }
        weights.iter_mut().zip(&p).for_each(|(w, p)| *w += p.abs());
    }
    let total: f64 = weights.iter().sum::<f64>() + 1e-8;
    Ok(weights.iter().zip(&values).map(|(w, &l)| w / total * libm::sqrt(l.max(0.0))).sum())
}
