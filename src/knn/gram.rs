//! Gram matrices `G = X Xᵀ` (N x N, f32) for the kernel metrics, on the same tiled SIMD
//! kernel as the kNN engine: the same bits for every ISA and thread count, and
//! `G[i][j] == G[j][i]` exactly. Unlike the kNN engine this allocates N² floats: the
//! kernel metrics (CKA, CKNNA) need the whole matrix.

use alloc::vec::Vec;

use pulp::{Simd, WithSimd};

use crate::dispatch;
use crate::element::Element;
use crate::error::{Error, Result, out_of_memory, try_vec};
use crate::exec::{Exec, Progress};
use crate::isa::Isa;
use crate::kernels::{Tiled, block, candidate_block_rows, super_block_rows, tiled};
use crate::layers::each_dtype;
use crate::matrix::{AnyMatrix, Matrix};
use crate::pool;

/// The inner products of every pair of rows of `x`, row-major N x N, and the ISA that
/// computed them. Checks the input like the kNN engine does; reports [`Progress::Blocks`].
pub fn gram<'a>(x: impl Into<AnyMatrix<'a>>, exec: &Exec<'_>) -> Result<(Vec<f32>, Isa)> {
    each_dtype!(AnyMatrix, x.into(), m => compute(m, exec))
}

fn compute<T: Element>(x: Matrix<'_, T>, exec: &Exec<'_>) -> Result<(Vec<f32>, Isa)> {
    let len = x.rows().checked_mul(x.rows()).ok_or(out_of_memory::<f32>(usize::MAX, WHAT))?;
    let mut out = Vec::new();
    let isa = blocks(x, exec, len, |_, _| Ok(()), &mut out)?;
    Ok((out, isa))
}

const WHAT: &str = "the N x N f32 Gram matrix (or a block of its rows)";

/// [`gram`] a horizontal block of whole rows at a time, for a consumer that reads each row
/// once (RSA's distances): `consume(first_row, rows)` gets the rows in order, from one
/// reused buffer of about `max_floats` floats (at least a few super-blocks of rows, so
/// every worker has one). The same bits as [`gram`]. Returns the ISA.
pub(crate) fn gram_blocks<T: Element>(
    x: Matrix<'_, T>,
    exec: &Exec<'_>,
    max_floats: usize,
    consume: impl FnMut(usize, &[f32]) -> Result<()>,
) -> Result<Isa> {
    blocks(x, exec, max_floats, consume, &mut Vec::new())
}

/// The blocks of [`gram_blocks`], computed into `buffer` (grown to the block size); one
/// block of all N rows when `max_floats >= N²`.
fn blocks<T: Element>(
    x: Matrix<'_, T>,
    exec: &Exec<'_>,
    max_floats: usize,
    mut consume: impl FnMut(usize, &[f32]) -> Result<()>,
    buffer: &mut Vec<f32>,
) -> Result<Isa> {
    let n = x.rows();
    if n == 0 {
        return Err(Error::EmptyMatrix);
    }
    if x.cols() == 0 {
        return Err(Error::ZeroDimension);
    }
    let isa = exec.resolve_isa()?;
    x.check()?;
    let threads = exec.workers();
    let sb = super_block_rows(isa.f32_lanes(), n, threads, x.cols());
    // All N rows when they fit, else whole super-blocks, at least two per worker.
    let rows = if max_floats / n >= n { n } else { (max_floats / n / sb * sb).max(2 * threads * sb).min(n) };
    let len = rows.checked_mul(n).ok_or(out_of_memory::<f32>(usize::MAX, WHAT))?;
    *buffer = try_vec(len, 0.0f32, WHAT)?;
    let total = n.div_ceil(sb);
    for first in (0..n).step_by(rows) {
        let block = &mut buffer[..rows.min(n - first) * n];
        let done = first / sb;
        let items: Vec<(usize, &mut [f32])> =
            block.chunks_mut(sb * n).enumerate().map(|(u, c)| (first + u * sb, c)).collect();
        let results = pool::workers(threads, items, |items| {
            let rows = &mut items.map_while(|(u, item)| {
                exec.report(Progress::Blocks { done: done + u, total });
                (!exec.cancelled()).then_some(item)
            });
            dispatch::run(isa, GramRows { x, sb, isa, rows }).and_then(|r| r)
        });
        results.into_iter().collect::<Result<()>>()?;
        exec.check()?;
        consume(first, block)?;
    }
    exec.report(Progress::Blocks { done: total, total });
    Ok(isa)
}

/// Fills whole rows of the Gram matrix: each item of `rows` is (first row, that row block's
/// output), taken until the iterator runs dry.
struct GramRows<'a, 'i, 'o, T> {
    x: Matrix<'a, T>,
    sb: usize,
    isa: Isa,
    rows: &'i mut dyn Iterator<Item = (usize, &'o mut [f32])>,
}

impl<T: Element> WithSimd for GramRows<'_, '_, '_, T> {
    type Output = Result<()>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Result<()> {
        tiled(simd, self)
    }
}

impl<T: Element> Tiled for GramRows<'_, '_, '_, T> {
    type Output = Result<()>;

    /// Fails only when the worker's buffers are refused, before it takes any rows.
    #[inline(always)]
    fn run<S: Simd, const MR: usize, const NRV: usize>(self, simd: S) -> Result<()> {
        let GramRows { x, sb, isa, rows } = self;
        let lanes = S::F32_LANES;
        let (n, cb) = (x.rows(), candidate_block_rows(lanes));
        let mut scratch = block::Scratch::new(lanes, sb, x.cols())?;
        for (q0, out) in rows {
            let qn = out.len() / n;
            block::pack_queries(lanes, &x, q0, qn, isa, &mut scratch);
            let mut c0 = 0;
            while c0 < n {
                let cn = cb.min(n - c0);
                let ldc = block::scores::<S, MR, NRV, T>(simd, qn, &x, c0, cn, None, isa, &mut scratch);
                for r in 0..qn {
                    out[r * n + c0..r * n + c0 + cn].copy_from_slice(&scratch.scores[r * ldc..r * ldc + cn]);
                }
                c0 += cn;
            }
        }
        scratch.keep();
        Ok(())
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
        let scalar = Exec::new().with_threads(1).with_isa(Some(Isa::Scalar));
        let reference = gram(x, &scalar).unwrap().0;
        for i in 0..n {
            for j in 0..n {
                let want: f64 = (0..d).map(|c| f64::from(data[i * d + c]) * f64::from(data[j * d + c])).sum();
                assert_eq!(f64::from(reference[i * n + j]), want, "({i}, {j})");
                assert_eq!(reference[i * n + j].to_bits(), reference[j * n + i].to_bits());
            }
        }
        for isa in Isa::available() {
            for threads in [1, 3] {
                let exec = Exec::new().with_threads(threads).with_isa(Some(isa));
                assert_eq!(gram(x, &exec).unwrap(), (reference.clone(), isa), "{isa} x{threads}");
                // In blocks of rows (the smallest the engine takes): the same rows, in order.
                let mut rows = Vec::new();
                let got = gram_blocks(x, &exec, 0, |first, block| {
                    assert_eq!(first * n, rows.len());
                    rows.extend_from_slice(block);
                    Ok(())
                });
                assert_eq!((got.unwrap(), &rows), (isa, &reference), "{isa} x{threads}, blocks");
            }
        }
    }
}
