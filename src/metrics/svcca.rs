//! SVCCA, computed exactly and deterministically.
//!
//! The reference uses a randomised low-rank SVD and scikit-learn's iterative CCA, so its
//! value moves with seeds (by up to 0.14 on flat spectra, see the golden README). This is
//! the definition it approximates: standardise each column ((x - mean) / (std + 1e-8),
//! N - 1 denominator), keep the `cca_dim` leading left singular vectors U_A and U_B, and
//! average the canonical correlations, the singular values of U_Aᵀ U_B. All in f64.
//!
//! Linear algebra: the leading eigenpairs of the smaller Gram matrix (D x D or N x N), by
//! [`super::dense`]: faer's symmetric eigendecomposition with the `linalg` feature, else
//! the in-crate eigensolver in [`super::eigen`] (Householder tridiagonalisation, QL
//! eigenvalues, inverse iteration for the wanted vectors only). Both are deterministic for
//! one binary on one CPU; O(min(N, D)³).

use alloc::vec::Vec;

use super::dense::{Operand, eigenpairs, product, singular_values};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::exec::Exec;
use crate::layers::each_dtype;
use crate::matrix::{AnyMatrix, Matrix};

/// The `cca_dim` leading left singular vectors of one standardised representation:
/// computed once per layer, reused for every comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct SvccaBasis {
    pub(crate) n: usize,
    pub(crate) dim: usize,
    pub(crate) u: Vec<f64>,
}

impl SvccaBasis {
    /// Standardises the columns of `x` and keeps its `cca_dim` leading left singular vectors.
    /// Scalar f64 code on one thread: `exec` only has its forced ISA checked.
    pub fn new<'a>(x: impl Into<AnyMatrix<'a>>, cca_dim: usize, exec: &Exec<'_>) -> Result<Self> {
        exec.resolve_isa()?;
        let x = x.into();
        let u = leading_left_vectors(&standardised(x)?, x.rows(), x.cols(), cca_dim)?;
        Ok(Self { n: x.rows(), dim: cca_dim, u })
    }

    /// Number of samples.
    pub fn n(&self) -> usize {
        self.n
    }
}

impl SvccaBasis {
    /// The basis of the samples reordered by `perm` (standardisation does not see row order).
    pub fn permuted(&self, perm: &[u32]) -> SvccaBasis {
        let rows = perm.iter().map(|&p| p as usize);
        let u = rows.flat_map(|p| self.u[p * self.dim..(p + 1) * self.dim].iter().copied()).collect();
        SvccaBasis { n: self.n, dim: self.dim, u }
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
    let m = product(Operand::new(ua, n, cca_dim).t(), Operand::new(ub, n, cca_dim), 1.0)?;
    let values = singular_values(&m, cca_dim, cca_dim)?;
    Ok(values.iter().map(|&s| s.min(1.0)).sum::<f64>() / cca_dim as f64)
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
        m.check()?;
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
    each_dtype!(AnyMatrix, x, m => go(m))
}

/// The `dim` leading left singular vectors of the n x d matrix `x`, as an n x dim matrix.
fn leading_left_vectors(x: &[f64], n: usize, d: usize, dim: usize) -> Result<Vec<f64>> {
    if dim == 0 || dim > n.min(d) {
        return Err(Error::InvalidParameter { what: "cca_dim must be in 1..=min(N, D)" });
    }
    let rank_error = Error::InvalidParameter { what: "cca_dim exceeds the rank of the standardised input" };
    if n <= d {
        // Eigenvectors of X Xᵀ are the left singular vectors.
        let xo = Operand::new(x, n, d);
        let (values, vectors) = eigenpairs(product(xo, xo.t(), 1.0)?, n, dim)?;
        if values.iter().any(|&v| v <= 0.0) {
            return Err(rank_error);
        }
        return Ok(vectors);
    }
    // U = X V / s from the eigenvectors V of Xᵀ X.
    let xo = Operand::new(x, n, d);
    let (values, vectors) = eigenpairs(product(xo.t(), xo, 1.0)?, d, dim)?;
    if values.iter().any(|&v| v <= 0.0) {
        return Err(rank_error);
    }
    let mut u = product(xo, Operand::new(&vectors, d, dim), 1.0)?;
    let s: Vec<f64> = values.iter().map(|&v| libm::sqrt(v)).collect();
    for ui in u.chunks_exact_mut(dim) {
        ui.iter_mut().zip(&s).for_each(|(u, s)| *u /= s);
    }
    Ok(u)
}
