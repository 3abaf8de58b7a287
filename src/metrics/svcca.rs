//! SVCCA, computed exactly and deterministically.
//!
//! The reference uses a randomised low-rank SVD and scikit-learn's iterative CCA, so its
//! value moves with seeds (by up to 0.14 on flat spectra, see the golden README). This is
//! the definition it approximates: standardise each column ((x - mean) / (std + 1e-8),
//! N - 1 denominator), keep the `cca_dim` leading left singular vectors U_A and U_B, and
//! average the canonical correlations, the singular values of U_Aᵀ U_B. All in f64.
//!
//! Linear algebra: the leading eigenpairs of the smaller Gram matrix (D x D or N x N) by
//! the in-crate symmetric eigensolver in [`super::eigen`] (Householder tridiagonalisation,
//! QL eigenvalues, inverse iteration for the wanted vectors only), about 250 lines instead
//! of a LAPACK dependency: small, exact to rounding, deterministic on every platform;
//! O(min(N, D)³) with a small constant.

use alloc::vec;
use alloc::vec::Vec;

use super::eigen::{eigenvalues, leading_eigenpairs};
use crate::element::Element;
use crate::error::{Error, Result, out_of_memory, try_vec};
use crate::exec::Exec;
use crate::layers::each_dtype;
use crate::matrix::{AnyMatrix, Matrix};

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
    let mut m = vec![0.0f64; cca_dim * cca_dim];
    for r in 0..cca_dim {
        for c in 0..cca_dim {
            m[r * cca_dim + c] = (0..n).map(|i| ua[i * cca_dim + r] * ub[i * cca_dim + c]).sum();
        }
    }
    let mtm = gram_cols(&m, cca_dim, cca_dim)?;
    let values = eigenvalues(mtm, cca_dim);
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
        let (values, vectors) = leading_eigenpairs(gram_rows(x, n, d)?, n, dim);
        if values.iter().any(|&v| v <= 0.0) {
            return Err(rank_error);
        }
        return Ok(vectors);
    }
    // U = X V / s from the eigenvectors V of Xᵀ X.
    let (values, vectors) = leading_eigenpairs(gram_cols(x, n, d)?, d, dim);
    if values.iter().any(|&v| v <= 0.0) {
        return Err(rank_error);
    }
    let mut u = vec![0.0f64; n * dim];
    for (c, &value) in values.iter().enumerate() {
        let s = libm::sqrt(value);
        for i in 0..n {
            u[i * dim + c] = (0..d).map(|j| x[i * d + j] * vectors[j * dim + c]).sum::<f64>() / s;
        }
    }
    Ok(u)
}

/// X Xᵀ of a row-major n x d matrix. The n x n result (and a transposed copy of X) are
/// requested with `try_vec`: a size the allocator refuses is [`Error::OutOfMemory`].
pub(super) fn gram_rows(x: &[f64], n: usize, d: usize) -> Result<Vec<f64>> {
    // PERF: as (Xᵀ)ᵀ Xᵀ, rank-one row updates vectorise; n² dot products would not (an
    // f64 sum is a serial chain).
    let mut xt = try_vec(n * d, 0.0f64, GRAM)?;
    for (c, col) in xt.chunks_exact_mut(n.max(1)).enumerate().take(d) {
        col.iter_mut().enumerate().for_each(|(i, v)| *v = x[i * d + c]);
    }
    gram_cols(&xt, d, n)
}

const GRAM: &str = "a D x D (or N x N) f64 Gram matrix of a linear metric (svcca, procrustes, cca, pwcca)";

/// Xᵀ X of a row-major n x d matrix, the d x d result requested with `try_vec`.
pub(super) fn gram_cols(x: &[f64], n: usize, d: usize) -> Result<Vec<f64>> {
    let len = d.checked_mul(d).ok_or(out_of_memory::<f64>(usize::MAX, GRAM))?;
    let mut g = try_vec(len, 0.0f64, GRAM)?;
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
    Ok(g)
}
