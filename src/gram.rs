//! Gram matrices `G = X Xᵀ` (N x N, f32) for the kernel metrics, on the same tiled SIMD
//! kernel as the kNN engine: the same bits for every ISA and thread count, and
//! `G[i][j] == G[j][i]` exactly. Unlike the kNN engine this allocates N² floats: the
//! kernel metrics (CKA, CKNNA) need the whole matrix.

use alloc::vec;
use alloc::vec::Vec;

use pulp::{Simd, WithSimd};

use crate::dispatch;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::kernels::{block, candidate_block_rows, super_block_rows, tile_shape};
use crate::matrix::{AnyMatrix, Matrix};

/// The inner products of every pair of rows of `x`, row-major N x N. `threads`: 0 = all
/// cores; `isa`: `None` = [`Isa::best`]. Checks the input like the kNN engine does.
pub fn gram<'a>(x: impl Into<AnyMatrix<'a>>, threads: usize, isa: Option<Isa>) -> Result<Vec<f32>> {
    match x.into() {
        AnyMatrix::F32(m) => compute(m, threads, isa),
        AnyMatrix::F16(m) => compute(m, threads, isa),
        AnyMatrix::Bf16(m) => compute(m, threads, isa),
    }
}

fn compute<T: Element>(x: Matrix<'_, T>, threads: usize, isa: Option<Isa>) -> Result<Vec<f32>> {
    let n = x.rows();
    if n == 0 {
        return Err(Error::EmptyMatrix);
    }
    if x.cols() == 0 {
        return Err(Error::ZeroDimension);
    }
    let len = n.checked_mul(n).ok_or(Error::ShapeOverflow)?;
    let isa = isa.unwrap_or_else(Isa::best);
    if !isa.is_available() {
        return Err(Error::IsaUnavailable(isa));
    }
    x.scan()?;
    let mut out = vec![0.0f32; len];
    let threads = crate::knn::resolve_threads(threads);
    let sb = super_block_rows(isa.f32_lanes(), n, threads);
    let chunks: Vec<(usize, &mut [f32])> = out.chunks_mut(sb * n).enumerate().map(|(u, c)| (u * sb, c)).collect();
    let threads = threads.clamp(1, chunks.len());
    let mut shares: Vec<Vec<(usize, &mut [f32])>> = (0..threads).map(|_| Vec::new()).collect();
    for (u, chunk) in chunks.into_iter().enumerate() {
        shares[u % threads].push(chunk);
    }
    run_shares(isa, x, sb, shares)?;
    Ok(out)
}

#[cfg(feature = "std")]
fn run_shares<T: Element>(isa: Isa, x: Matrix<'_, T>, sb: usize, shares: Vec<Vec<(usize, &mut [f32])>>) -> Result<()> {
    std::thread::scope(|s| {
        let workers: Vec<_> =
            shares.into_iter().map(|rows| s.spawn(move || dispatch::run(isa, GramRows { x, sb, rows }))).collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

#[cfg(not(feature = "std"))]
fn run_shares<T: Element>(isa: Isa, x: Matrix<'_, T>, sb: usize, shares: Vec<Vec<(usize, &mut [f32])>>) -> Result<()> {
    shares.into_iter().try_for_each(|rows| dispatch::run(isa, GramRows { x, sb, rows }))
}

/// Fills whole rows of the Gram matrix: `rows` holds (first row, that row block's output).
struct GramRows<'a, 'o, T> {
    x: Matrix<'a, T>,
    sb: usize,
    rows: Vec<(usize, &'o mut [f32])>,
}

impl<T: Element> WithSimd for GramRows<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match tile_shape(S::F32_LANES) {
            (14, 2) => run::<S, 14, 2, T>(simd, self),
            (8, 3) => run::<S, 8, 3, T>(simd, self),
            _ => run::<S, 6, 2, T>(simd, self),
        }
    }
}

#[inline(always)]
fn run<S: Simd, const MR: usize, const NRV: usize, T: Element>(simd: S, op: GramRows<'_, '_, T>) {
    let GramRows { x, sb, rows } = op;
    let lanes = S::F32_LANES;
    let (n, cb) = (x.rows(), candidate_block_rows(lanes));
    let mut scratch = block::Scratch::new(lanes, sb, x.cols());
    for (q0, out) in rows {
        let qn = out.len() / n;
        block::pack_queries(lanes, &x, q0, qn, &mut scratch);
        let mut c0 = 0;
        while c0 < n {
            let cn = cb.min(n - c0);
            let ldc = block::scores::<S, MR, NRV, T>(simd, qn, &x, c0, cn, None, &mut scratch);
            for r in 0..qn {
                out[r * n + c0..r * n + c0 + cn].copy_from_slice(&scratch.scores[r * ldc..r * ldc + cn]);
            }
            c0 += cn;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_f64_and_is_symmetric_on_every_isa() {
        let (n, d) = (70, 37);
        let data: Vec<f32> = (0..n * d).map(|i| ((i * 7919 % 23) as f32 - 11.0) / 8.0).collect();
        let x = Matrix::new(&data, n, d).unwrap();
        let reference = gram(x, 1, Some(Isa::Scalar)).unwrap();
        for i in 0..n {
            for j in 0..n {
                let want: f64 = (0..d).map(|c| f64::from(data[i * d + c]) * f64::from(data[j * d + c])).sum();
                assert_eq!(f64::from(reference[i * n + j]), want, "({i}, {j})");
                assert_eq!(reference[i * n + j].to_bits(), reference[j * n + i].to_bits());
            }
        }
        for isa in Isa::available() {
            for threads in [1, 3] {
                assert_eq!(gram(x, threads, Some(isa)).unwrap(), reference, "{isa} x{threads}");
            }
        }
    }
}
