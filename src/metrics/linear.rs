//! Metrics of the linear maps between two representations: orthogonal Procrustes, CCA
//! (mean canonical correlation) and PWCCA (Morcos et al. 2018's projection weighting).
//!
//! Input f32/f16/bf16 → column-centred f64 copy (N x D) → everything after in f64, on one
//! thread, deterministic. Products, eigendecompositions and singular values come from
//! [`super::dense`]: faer with the `linalg` feature (SVDs of the cross-covariances
//! directly), else row loops and the in-crate eigensolver (singular values as square roots
//! of the eigenvalues of the smaller of MᵀM / MMᵀ). A cross-covariance costs O(N · c_A · c_B),
//! c = min(N, D) the columns a layer keeps (below).
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
//! Procrustes with D > N keeps F = Rᵀ from the QR factorisation Xcᵀ = Q R (N x N, same
//! singular values of every cross product: [`super::dense::row_space`]) instead of Xc.
//!
//! Memory: a layer holds an N x min(N, D) f64 matrix (N x D for Procrustes without `linalg`);
//! building it needs one more of each size and two D x D (or N x N) f64 matrices (the
//! covariance and its eigenvectors); a comparison a D_A x D_B (or smaller) f64 matrix and
//! the SVD's workspace (without `linalg`: one of its Gram matrices), PWCCA also its left
//! singular vectors and an N x r matrix of projections.

use alloc::vec::Vec;

use super::dense::{Operand, eigenpairs, leading_left_singular, product, row_space, singular_values};
use crate::element::Element;
use crate::error::{Error, Result, out_of_memory, try_vec};
use crate::exec::Exec;
use crate::layers::each_dtype;
use crate::matrix::{AnyMatrix, Matrix};

/// What a layer keeps for Procrustes (`Xc`, column-centred, or its N x N row-space
/// coordinates when D > N) or CCA / PWCCA (`Z`, whitened).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearBasis {
    pub(crate) n: usize,
    /// The input's feature count D.
    pub(crate) d: usize,
    /// Columns of `values` (min(N, D); D for Procrustes without `linalg`).
    pub(crate) cols: usize,
    pub(crate) values: Vec<f64>,
    /// ‖Xc‖_F² (Procrustes).
    pub(crate) frobenius2: f64,
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
        m.check()?;
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
        let (n, d) = (x.rows(), x.cols());
        let values = centred(x)?;
        let frobenius2 = values.iter().map(|v| v * v).sum();
        // Wider than tall: N columns carry the same singular values of every cross product
        // (row_space), so a comparison is N x N, not D_A x D_B (16x fewer products and a
        // 64x cheaper SVD at N = 1024, D = 4096).
        let (values, cols) = row_space(values, n, d)?;
        Ok(Self { n, d, cols, values, frobenius2 })
    }

    /// The whitened rows Z of `x` (module doc), for CCA and PWCCA.
    pub fn whitened<'a>(x: impl Into<AnyMatrix<'a>>, exec: &Exec<'_>) -> Result<Self> {
        exec.resolve_isa()?;
        let x = x.into();
        let (n, d) = (x.rows(), x.cols());
        let xc = centred(x)?;
        let scale = |lambda: f64| 1.0 / libm::sqrt((lambda / (n - 1) as f64 + 1e-6).max(1e-6));
        let r = n.min(d);
        let x = Operand::new(&xc, n, d);
        let z = if d <= n {
            // Z = Xc V Λ^-1/2.
            let (_, v) = eigenpairs(product(x.t(), x, 1.0)?, d, d)?;
            let mut z = product(x, Operand::new(&v, d, d), 1.0)?;
            // Λ from the columns |Xc v|² rather than the computed eigenvalues: directions
            // the data spans only through rounding (a rank-deficient f32 input) have
            // eigenvalues below the solver's absolute accuracy, eps · λ_max, often computed
            // as 0 or negative, yet they are real data, amplified by up to 1e3 = 1e-6^-1/2.
            // Their vectors are accurate as a subspace, and |Xc v|² measures them well.
            let mut lambda = try_vec(r, 0.0f64, WHAT)?;
            for zi in z.chunks_exact(r) {
                lambda.iter_mut().zip(zi).for_each(|(l, z)| *l += z * z);
            }
            for zi in z.chunks_exact_mut(r) {
                zi.iter_mut().zip(&lambda).for_each(|(z, &l)| *z *= scale(l));
            }
            z
        } else {
            // Z = U S Λ^-1/2 from Xc Xcᵀ = U S² Uᵀ. Singular values below sqrt(eps) of the
            // largest are lost here (they would need the D x D path).
            let (values, mut z) = eigenpairs(product(x, x.t(), 1.0)?, n, n)?;
            let s: Vec<f64> = values.iter().map(|&l| libm::sqrt(l.max(0.0)) * scale(l)).collect();
            for zi in z.chunks_exact_mut(r) {
                zi.iter_mut().zip(&s).for_each(|(z, s)| *z *= s);
            }
            z
        };
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

/// `alpha · Xᵀ Y` of two bases of the same N (X: N x ca, Y: N x cb), as ca x cb.
fn cross(a: &LinearBasis, b: &LinearBasis, alpha: f64) -> Result<Vec<f64>> {
    if a.n != b.n {
        return Err(Error::RowCountMismatch { a: a.n, b: b.n });
    }
    product(Operand::new(&a.values, a.n, a.cols).t(), Operand::new(&b.values, b.n, b.cols), alpha)
}

/// Orthogonal Procrustes similarity of X to Y (not symmetric: normalised by ‖Yc‖_F):
/// `1 - sqrt(max(0, ‖Xc‖² + ‖Yc‖² - 2 ‖Xcᵀ Yc‖_*)) / (‖Yc‖_F + 1e-8)`.
pub fn procrustes_bases(x: &LinearBasis, y: &LinearBasis) -> Result<f64> {
    let m = cross(x, y, 1.0)?;
    let nuclear: f64 = singular_values(&m, x.cols, y.cols)?.iter().sum();
    let residual = (x.frobenius2 + y.frobenius2 - 2.0 * nuclear).max(0.0);
    Ok(1.0 - libm::sqrt(residual) / (libm::sqrt(y.frobenius2) + 1e-8))
}

/// CCA: the mean of the min(D_X, D_Y) singular values of T = Z_xᵀ Z_y / (N - 1).
pub fn cca_bases(x: &LinearBasis, y: &LinearBasis) -> Result<f64> {
    let t = cross(x, y, 1.0 / (x.n - 1) as f64)?;
    let sum: f64 = singular_values(&t, x.cols, y.cols)?.iter().sum();
    Ok(sum / x.d.min(y.d) as f64)
}

/// PWCCA of X to Y (not symmetric: X's projections weigh): `Σ w_i s_i` over the
/// r = min(D_X, D_Y, N - 1) leading singular values s_i of T, with
/// `w_i ∝ |Xw u_i|_1 = |Z_x ũ_i|_1` (normalised with + 1e-8).
pub fn pwcca_bases(x: &LinearBasis, y: &LinearBasis) -> Result<f64> {
    let (n, cx) = (x.n, x.cols);
    let t = cross(x, y, 1.0 / (n - 1) as f64)?;
    let r = x.d.min(y.d).min(n - 1);
    let (values, u) = leading_left_singular(&t, cx, y.cols, r)?;
    let r = values.len();
    // |Z_x ũ_i|_1 for every i at once: the column sums of |P|, P = Z_x Ũ (N x r).
    let p = product(Operand::new(&x.values, n, cx), Operand::new(&u, cx, r), 1.0)?;
    let mut weights = try_vec(r, 0.0f64, WHAT)?;
    for pi in p.chunks_exact(r) {
        weights.iter_mut().zip(pi).for_each(|(w, p)| *w += p.abs());
    }
    let total: f64 = weights.iter().sum::<f64>() + 1e-8;
    Ok(weights.iter().zip(&values).map(|(w, &s)| w / total * s).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wider than tall (D > N): the N x N row-space basis gives the same Procrustes score as
    /// the centred rows themselves (the definition), also with B's rows reordered.
    #[test]
    fn row_space_keeps_procrustes() {
        let mut seed = 7u64;
        let mut random = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect()
        };
        let exec = Exec::default();
        for (n, da, db) in [(9, 40, 13), (17, 17, 60), (30, 31, 90), (5, 200, 3)] {
            let (xa, xb) = (random(n * da), random(n * db));
            let (ma, mb) = (Matrix::new(&xa, n, da).unwrap(), Matrix::new(&xb, n, db).unwrap());
            let (fa, fb) = (LinearBasis::procrustes(ma, &exec).unwrap(), LinearBasis::procrustes(mb, &exec).unwrap());
            let plain = |m: Matrix<'_, f32>| {
                let values = centred(m.into()).unwrap();
                let frobenius2 = values.iter().map(|v| v * v).sum();
                LinearBasis { n, d: m.cols(), cols: m.cols(), values, frobenius2 }
            };
            let (pa, pb) = (plain(ma), plain(mb));
            #[cfg(feature = "linalg")]
            assert_eq!((fa.cols, fb.cols), (da.min(n), db.min(n)));
            let perm: Vec<u32> = (0..n as u32).rev().collect();
            for (x, y, px, py) in [(&fa, &fb, &pa, &pb), (&fb, &fa, &pb, &pa)] {
                let (got, want) = (procrustes_bases(x, y).unwrap(), procrustes_bases(px, py).unwrap());
                assert!((got - want).abs() < 1e-12, "{n} x {da}/{db}: {got} vs {want}");
                let got = procrustes_bases(x, &y.permuted(&perm).unwrap()).unwrap();
                let want = procrustes_bases(px, &py.permuted(&perm).unwrap()).unwrap();
                assert!((got - want).abs() < 1e-12, "{n} x {da}/{db}, permuted: {got} vs {want}");
            }
        }
    }
}
