//! Dense f64 linear algebra for the linear metrics (Procrustes, CCA, PWCCA, SVCCA): a
//! symmetric eigendecomposition, singular values (and left singular vectors) and matrix
//! products (the eigenvalues-only case is the singular values: faer's SVD, not the
//! eigenvalues of MᵀM), on row-major `Vec<f64>` matrices.
//!
//! With the `linalg` feature every operation is faer's (`faer::linalg`, blocked Householder
//! reductions and its own GEMM); without it, the in-crate eigensolver ([`super::eigen`]) and
//! plain row loops. faer reads and writes the row-major buffers in place
//! (`MatRef::from_row_major_slice`, `MatMut::from_row_major_slice_mut`): no transposed
//! copies. Every call runs on one thread, `Par::Seq`: repalign owns its threads (the sweep
//! and calibration already run layers and null samples in parallel), and a sequential faer
//! is deterministic for one binary on one CPU. faer picks its own SIMD level at run time, so
//! a forced `Exec::isa` does not reach it (ARCHITECTURE.md, "Forced ISA means forced").
//!
//! Errors: a buffer the allocator refuses is [`Error::OutOfMemory`]; faer's non-convergence
//! is [`Error::NumericalRange`]. Nothing here panics on data.

use alloc::vec::Vec;

#[cfg(feature = "linalg")]
use crate::error::Error;
use crate::error::{Result, out_of_memory, try_vec};

const WHAT: &str = "dense f64 linear algebra of a linear metric (svcca, procrustes, cca, pwcca)";

/// One operand of [`product`]: a row-major `rows x cols` matrix, used as itself or, with
/// `transposed`, as its transpose.
#[derive(Clone, Copy)]
pub(super) struct Operand<'a> {
    pub data: &'a [f64],
    pub rows: usize,
    pub cols: usize,
    pub transposed: bool,
}

impl<'a> Operand<'a> {
    pub fn new(data: &'a [f64], rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self { data, rows, cols, transposed: false }
    }

    pub fn t(self) -> Self {
        Self { transposed: !self.transposed, ..self }
    }

    /// Shape as used: (rows, cols) of op(A).
    fn shape(&self) -> (usize, usize) {
        if self.transposed { (self.cols, self.rows) } else { (self.rows, self.cols) }
    }
}

fn zeroed(rows: usize, cols: usize) -> Result<Vec<f64>> {
    let len = rows.checked_mul(cols).ok_or(out_of_memory::<f64>(usize::MAX, WHAT))?;
    try_vec(len, 0.0f64, WHAT)
}

/// `alpha · op(A) op(B)` as a new row-major matrix.
pub(super) fn product(a: Operand<'_>, b: Operand<'_>, alpha: f64) -> Result<Vec<f64>> {
    let ((m, k), (k2, n)) = (a.shape(), b.shape());
    assert_eq!(k, k2, "inner dimensions of a product");
    let mut out = zeroed(m, n)?;
    product_into(a, b, alpha, &mut out);
    Ok(out)
}

#[cfg(feature = "linalg")]
fn product_into(a: Operand<'_>, b: Operand<'_>, alpha: f64, out: &mut [f64]) {
    use faer::linalg::matmul::matmul;
    use faer::{Accum, MatMut, MatRef, Par};
    fn view(o: Operand<'_>) -> MatRef<'_, f64> {
        let v = MatRef::from_row_major_slice(o.data, o.rows, o.cols);
        if o.transposed { v.transpose() } else { v }
    }
    let (m, n) = (a.shape().0, b.shape().1);
    // Par::Seq: see the module doc (repalign's threads, determinism).
    matmul(MatMut::from_row_major_slice_mut(out, m, n), Accum::Replace, view(a), view(b), alpha, Par::Seq);
}

/// Row loops summing over the inner index in ascending order (the order of the code this
/// replaced, so results without `linalg` keep their bits).
#[cfg(not(feature = "linalg"))]
fn product_into(a: Operand<'_>, b: Operand<'_>, alpha: f64, out: &mut [f64]) {
    let (m, k) = a.shape();
    let n = b.shape().1;
    match (a.transposed, b.transposed) {
        // Aᵀ B: rank-one row updates, sample by sample (contiguous rows of both).
        (true, false) => {
            for (ap, bp) in a.data.chunks_exact(m).zip(b.data.chunks_exact(n)) {
                for (&x, row) in ap.iter().zip(out.chunks_exact_mut(n)) {
                    // PERF: a contiguous axpy per entry of x vectorises; a column walk would not.
                    row.iter_mut().zip(bp).for_each(|(o, y)| *o += x * y);
                }
            }
        }
        // A B: row i of the result is Σ_p a_ip B_p.
        (false, false) => {
            for (oi, ai) in out.chunks_exact_mut(n).zip(a.data.chunks_exact(k)) {
                for (&x, bp) in ai.iter().zip(b.data.chunks_exact(n)) {
                    oi.iter_mut().zip(bp).for_each(|(o, y)| *o += x * y);
                }
            }
        }
        // A Bᵀ: dot products of rows.
        (false, true) => {
            for (oi, ai) in out.chunks_exact_mut(n).zip(a.data.chunks_exact(k)) {
                for (o, bj) in oi.iter_mut().zip(b.data.chunks_exact(k)) {
                    *o = ai.iter().zip(bj).map(|(x, y)| x * y).sum();
                }
            }
        }
        (true, true) => {
            for i in 0..m {
                for j in 0..n {
                    out[i * n + j] = (0..k).map(|p| a.data[p * m + i] * b.data[j * k + p]).sum();
                }
            }
        }
    }
    if alpha != 1.0 {
        out.iter_mut().for_each(|v| *v *= alpha);
    }
}

/// For a row-major n x d `x` with d > n, an n x n matrix F with the same rows' inner
/// products (F Fᵀ = X Xᵀ) and F = X Q for a d x n Q with orthonormal columns: so Xᵀ Y and
/// Fₓᵀ F_y share their singular values, and reordering X's rows reorders F's. From the QR
/// factorisation Xᵀ = Q R (Householder, backward stable: no Gram matrix, no squared
/// condition number), F = Rᵀ. Returns the matrix and its column count; with d <= n, or
/// without `linalg`, `x` itself and d.
pub(super) fn row_space(x: Vec<f64>, n: usize, d: usize) -> Result<(Vec<f64>, usize)> {
    #[cfg(feature = "linalg")]
    if d > n {
        use faer::dyn_stack::MemStack;
        use faer::linalg::qr::no_pivoting::factor::{qr_in_place, qr_in_place_scratch, recommended_block_size};
        use faer::{MatMut, Par};
        let mut x = x;
        let block = recommended_block_size::<f64>(d, n);
        let mut coeff = zeroed(block, n)?;
        let mut mem = scratch(qr_in_place_scratch::<f64>(d, n, block, Par::Seq, Default::default()))?;
        // Xᵀ as a d x n view of the row-major n x d buffer; R lands in its upper triangle.
        qr_in_place(
            MatMut::from_row_major_slice_mut(&mut x, n, d).transpose_mut(),
            MatMut::from_column_major_slice_mut(&mut coeff, block, n),
            Par::Seq,
            MemStack::new(&mut mem),
            Default::default(),
        );
        // Fᵀ = R: F's row j is R's column j, entries 0..=j, which are Xᵀ's (i, j) = x[j d + i].
        let mut f = zeroed(n, n)?;
        for (j, row) in f.chunks_exact_mut(n).enumerate() {
            row[..=j].copy_from_slice(&x[j * d..j * d + j + 1]);
        }
        return Ok((f, n));
    }
    let _ = n;
    Ok((x, d))
}

#[cfg(feature = "linalg")]
fn scratch(req: faer::dyn_stack::StackReq) -> Result<faer::dyn_stack::MemBuffer> {
    faer::dyn_stack::MemBuffer::try_new(req).map_err(|_| out_of_memory::<u8>(req.size_bytes(), WHAT))
}

/// The `count` largest eigenvalues of the symmetric n x n row-major `a` (descending) and
/// their orthonormal eigenvectors as an n x count row-major matrix (column c belongs to
/// value c). Only the upper triangle is read.
#[cfg(feature = "linalg")]
pub(crate) fn eigenpairs(a: Vec<f64>, n: usize, count: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    use faer::dyn_stack::MemStack;
    use faer::linalg::evd::{ComputeEigenvectors, self_adjoint_evd, self_adjoint_evd_scratch};
    use faer::{ColMut, MatMut, MatRef, Par};
    let count = count.min(n);
    let mut values = try_vec(n, 0.0f64, WHAT)?;
    let mut vectors = zeroed(n, n)?;
    let mut mem = scratch(self_adjoint_evd_scratch::<f64>(n, ComputeEigenvectors::Yes, Par::Seq, Default::default()))?;
    self_adjoint_evd(
        // faer reads the lower triangle: that of the transposed view is our upper one.
        MatRef::from_row_major_slice(&a, n, n).transpose(),
        ColMut::from_slice_mut(&mut values).as_diagonal_mut(),
        Some(MatMut::from_row_major_slice_mut(&mut vectors, n, n)),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|_| Error::NumericalRange { what: "symmetric eigendecomposition did not converge" })?;
    // faer's order is ascending: reverse the values and each row's columns, then keep the
    // first `count` columns, compacted in place.
    values.reverse();
    values.truncate(count);
    for r in 0..n {
        let row = &mut vectors[r * n..(r + 1) * n];
        row.reverse();
        vectors.copy_within(r * n..r * n + count, r * count);
    }
    vectors.truncate(n * count);
    Ok((values, vectors))
}

#[cfg(not(feature = "linalg"))]
pub(crate) fn eigenpairs(a: Vec<f64>, n: usize, count: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    Ok(super::eigen::leading_eigenpairs(a, n, count))
}

/// The min(rows, cols) singular values of the row-major `m`, descending.
#[cfg(feature = "linalg")]
pub(super) fn singular_values(m: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
    Ok(left_singular(m, rows, cols, None)?.0)
}

/// Square roots of the eigenvalues of the smaller of MᵀM and MMᵀ (clamped at 0): loses the
/// singular values below about sqrt(eps) · σ_max, which `linalg` keeps.
#[cfg(not(feature = "linalg"))]
pub(super) fn singular_values(m: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
    let op = Operand::new(m, rows, cols);
    let squared = if rows <= cols {
        super::eigen::eigenvalues(product(op, op.t(), 1.0)?, rows)
    } else {
        super::eigen::eigenvalues(product(op.t(), op, 1.0)?, cols)
    };
    Ok(squared.iter().map(|&l| libm::sqrt(l.max(0.0))).collect())
}

/// The `count` (<= min(rows, cols)) largest singular values of the row-major `m`,
/// descending, and their left singular vectors as a rows x count row-major matrix.
pub(super) fn leading_left_singular(m: &[f64], rows: usize, cols: usize, count: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    #[cfg(feature = "linalg")]
    {
        let (mut values, u) = left_singular(m, rows, cols, Some(count))?;
        values.truncate(count);
        Ok((values, u.unwrap_or_default()))
    }
    #[cfg(not(feature = "linalg"))]
    {
        // Eigenvectors of M Mᵀ.
        let op = Operand::new(m, rows, cols);
        let (values, u) = super::eigen::leading_eigenpairs(product(op, op.t(), 1.0)?, rows, count);
        Ok((values.iter().map(|&l| libm::sqrt(l.max(0.0))).collect(), u))
    }
}

/// faer's SVD: all min(rows, cols) singular values (descending) and, for `Some(count)`,
/// the first `count` left singular vectors (rows x count, row-major).
#[cfg(feature = "linalg")]
fn left_singular(m: &[f64], rows: usize, cols: usize, count: Option<usize>) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    use faer::dyn_stack::MemStack;
    use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
    use faer::{ColMut, MatMut, MatRef, Par};
    let size = rows.min(cols);
    let mut values = try_vec(size, 0.0f64, WHAT)?;
    let mut u = match count {
        Some(_) => Some(zeroed(rows, size)?),
        None => None,
    };
    let compute_u = if count.is_some() { ComputeSvdVectors::Thin } else { ComputeSvdVectors::No };
    let req = svd_scratch::<f64>(rows, cols, compute_u, ComputeSvdVectors::No, Par::Seq, Default::default());
    let mut mem = scratch(req)?;
    svd(
        MatRef::from_row_major_slice(m, rows, cols),
        ColMut::from_slice_mut(&mut values).as_diagonal_mut(),
        u.as_mut().map(|u| MatMut::from_row_major_slice_mut(u, rows, size)),
        None,
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|_| Error::NumericalRange { what: "singular value decomposition did not converge" })?;
    if let (Some(u), Some(count)) = (u.as_mut(), count) {
        let count = count.min(size);
        for r in 0..rows {
            u.copy_within(r * size..r * size + count, r * count);
        }
        u.truncate(rows * count);
    }
    Ok((values, u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn random(len: usize, seed: &mut u64) -> Vec<f64> {
        (0..len)
            .map(|_| {
                *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (*seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// Every transpose combination against the definition, on odd shapes.
    #[test]
    fn products_match_the_definition() {
        let mut seed = 3u64;
        for (m, k, n) in [(1, 1, 1), (3, 7, 2), (9, 10, 5), (17, 4, 33)] {
            let a = random(m * k, &mut seed);
            let b = random(k * n, &mut seed);
            let want: Vec<f64> =
                (0..m * n).map(|e| 0.5 * (0..k).map(|p| a[e / n * k + p] * b[p * n + e % n]).sum::<f64>()).collect();
            let at: Vec<f64> = (0..k * m).map(|e| a[(e % m) * k + e / m]).collect();
            let bt: Vec<f64> = (0..n * k).map(|e| b[(e % k) * n + e / k]).collect();
            let (oa, oat) = (Operand::new(&a, m, k), Operand::new(&at, k, m).t());
            let (ob, obt) = (Operand::new(&b, k, n), Operand::new(&bt, n, k).t());
            for (x, y) in [(oa, ob), (oat, ob), (oa, obt), (oat, obt)] {
                let got = product(x, y, 0.5).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-13, "{m}x{k}x{n}: {g} vs {w}");
                }
            }
        }
    }

    /// Eigenpairs in descending order, A v = λ v, and singular values / left vectors of a
    /// matrix with a known SVD.
    #[test]
    fn decompositions() {
        let a = vec![4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0];
        let (values, vectors) = eigenpairs(a.clone(), 3, 2).unwrap();
        assert!(values[0] >= values[1]);
        for c in 0..2 {
            for r in 0..3 {
                let av: f64 = (0..3).map(|k| a[r * 3 + k] * vectors[k * 2 + c]).sum();
                assert!((av - values[c] * vectors[r * 2 + c]).abs() < 1e-12);
            }
        }
        let (all, _) = eigenpairs(a, 3, 3).unwrap();
        assert!((all.iter().sum::<f64>() - 12.0).abs() < 1e-12 && (all[0] - values[0]).abs() < 1e-12);
        // diag(3, 2) in a 3 x 2 matrix with its rows permuted: σ = (3, 2), u = ±e_2, ±e_0.
        let m = [0.0, 2.0, 0.0, 0.0, 3.0, 0.0];
        let sv = singular_values(&m, 3, 2).unwrap();
        assert!((sv[0] - 3.0).abs() < 1e-12 && (sv[1] - 2.0).abs() < 1e-12, "{sv:?}");
        let (s, u) = leading_left_singular(&m, 3, 2, 1).unwrap();
        assert!(s.len() == 1 && (s[0] - 3.0).abs() < 1e-12);
        assert!(u[0].abs() < 1e-12 && u[1].abs() < 1e-12 && (u[2].abs() - 1.0).abs() < 1e-12, "{u:?}");
    }
}
