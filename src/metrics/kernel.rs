//! Kernel alignment metrics: CKA (biased and unbiased, linear or RBF kernel) and CKNNA.
//!
//! Semantics are the reference's (`metrics.py` of the paper): HSIC without the 1/(N-1)²
//! factor, `CKA = HSIC(K, L) / (sqrt(HSIC(K, K) HSIC(L, L)) + 1e-6)`, the unbiased HSIC of
//! Song et al. (2012) on kernels with zeroed diagonals. Kernels are N x N f64 matrices built
//! from the f32 Gram matrix of the tiled kernel ([`crate::gram`]); every sum of N² terms
//! is accumulated in f64. Memory: two N x N f64 kernels (8 MiB each at N = 1024), checked
//! before any work: a size the allocator refuses is [`Error::OutOfMemory`], not an abort.

// Index loops over (i, j) read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result, out_of_memory, try_vec};
use crate::exec::Exec;
use crate::isa::Isa;
use crate::matrix::AnyMatrix;
use crate::topk::TopK;

/// The kernel of a kernel metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kernel {
    /// `K = X Xᵀ` (the reference's `'ip'`).
    Linear,
    /// `K_ij = exp(-|x_i - x_j|² / (2 sigma²))` (the reference's `'rbf'`, default sigma 1).
    Rbf {
        /// Bandwidth, > 0.
        sigma: f64,
    },
}

/// An N x N kernel matrix, row-major, f64.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelMatrix {
    pub(crate) n: usize,
    /// Symmetric bit for bit: Gram entries are, and so is everything computed from them.
    pub(crate) values: Vec<f64>,
    /// The backend of the Gram kernel it was built from.
    pub(crate) isa: Isa,
    /// HSIC(K, K), biased and unbiased, where a layer state keeps it ([`Self::keep_own_hsic`]):
    /// reordering the samples does not change it, so a null sample costs one HSIC, not three.
    pub(crate) own: [Option<f64>; 2],
}

impl KernelMatrix {
    /// Number of samples.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Row-major values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
    /// The backend that computed the Gram matrix behind it.
    pub fn isa(&self) -> Isa {
        self.isa
    }
    /// The kernel of the samples reordered by `perm`: entry (i, j) is (perm\[i\], perm\[j\]).
    /// A second N x N f64 buffer the allocator refuses is [`Error::OutOfMemory`].
    pub fn permuted(&self, perm: &[u32]) -> Result<KernelMatrix> {
        let n = self.n;
        let mut values = try_vec(n * n, 0.0f64, KERNEL)?;
        for (i, &pi) in perm.iter().enumerate() {
            let src = &self.values[pi as usize * n..(pi as usize + 1) * n];
            for (dst, &pj) in values[i * n..(i + 1) * n].iter_mut().zip(perm) {
                *dst = src[pj as usize];
            }
        }
        Ok(KernelMatrix { n, values, ..*self })
    }

    /// Keeps HSIC(K, K) (biased or unbiased) for every later comparison: only the estimator
    /// the metric uses is computed (none for CKNNA, whose masks change with the partner).
    /// The unbiased one needs N >= 4, which is refused where it is used.
    pub(crate) fn keep_own_hsic(mut self, unbiased: bool) -> Self {
        if !unbiased || self.n >= 4 {
            let m = Masked { k: &self, mask: None };
            self.own[usize::from(unbiased)] = Some(hsic(m, m, unbiased));
        }
        self
    }

    /// HSIC(K, K), biased or unbiased: the kept value, else computed now.
    fn own_hsic(&self, unbiased: bool) -> f64 {
        self.own[usize::from(unbiased)].unwrap_or_else(|| {
            let m = Masked { k: self, mask: None };
            hsic(m, m, unbiased)
        })
    }
}

/// What a kernel metric's N x N f64 kernel is called when it cannot be allocated.
const KERNEL: &str = "a kernel metric (cka, cknna) needs an N x N f64 kernel per input";

/// Builds the kernel matrix of the rows of `x` (computed once, reusable across comparisons).
/// Both N x N buffers (the f64 kernel and the f32 Gram matrix it is built from) are
/// allocated before any work: one the allocator refuses is [`Error::OutOfMemory`].
pub fn kernel_matrix<'a>(x: impl Into<AnyMatrix<'a>>, kernel: Kernel, exec: &Exec<'_>) -> Result<KernelMatrix> {
    let x = x.into();
    let n = x.rows();
    if let Kernel::Rbf { sigma } = kernel {
        // 2 sigma² must be a positive normal f64, or the exponent's scale is 0 or -inf.
        if !(sigma > 0.0 && (2.0 * sigma * sigma).is_normal()) {
            return Err(Error::InvalidParameter { what: "rbf sigma must be > 0 with 2 sigma^2 finite and normal" });
        }
    }
    let len = n.checked_mul(n).ok_or(out_of_memory::<f64>(usize::MAX, KERNEL))?;
    let mut values = try_vec(len, 0.0f64, KERNEL)?;
    let (g, isa) = crate::knn::gram(x, exec)?;
    match kernel {
        Kernel::Linear => values.iter_mut().zip(&g).for_each(|(v, &g)| *v = f64::from(g)),
        Kernel::Rbf { sigma } => {
            let sq: Vec<f64> = (0..n).map(|i| f64::from(g[i * n + i])).collect();
            let scale = -1.0 / (2.0 * sigma * sigma);
            for i in 0..n {
                for j in 0..n {
                    // |a - b|² = |a|² + |b|² - 2 <a, b>, clamped against rounding below 0.
                    let d2 = if i == j { 0.0 } else { (sq[i] + sq[j] - 2.0 * f64::from(g[i * n + j])).max(0.0) };
                    values[i * n + j] = libm::exp(d2 * scale);
                }
            }
        }
    }
    Ok(KernelMatrix { n, values, isa, own: [None; 2] })
}

/// A 0/1 neighbour mask and its transpose (CKNNA), one byte per entry.
struct Mask {
    w: Vec<u8>,
    wt: Vec<u8>,
}

/// A symmetric kernel, optionally masked elementwise: `K'_ij = w_ij K_ij`. The masked
/// matrix is not symmetric, so HSIC reads `K'_ji = wt_ij K_ij` through the mask's transpose
/// instead of materialising N x N f64 copies.
#[derive(Clone, Copy)]
struct Masked<'a> {
    k: &'a KernelMatrix,
    mask: Option<&'a Mask>,
}

impl Masked<'_> {
    /// Row i of K' and of K'ᵀ, written into the two buffers.
    fn rows(&self, i: usize, row: &mut [f64], row_t: &mut [f64]) {
        let n = self.k.n;
        let k = &self.k.values[i * n..(i + 1) * n];
        match self.mask {
            None => {
                row.copy_from_slice(k);
                row_t.copy_from_slice(k);
            }
            Some(m) => {
                let (w, wt) = (&m.w[i * n..(i + 1) * n], &m.wt[i * n..(i + 1) * n]);
                for (((r, rt), &kij), (&a, &b)) in row.iter_mut().zip(row_t.iter_mut()).zip(k).zip(w.iter().zip(wt)) {
                    *r = if a != 0 { kij } else { 0.0 };
                    *rt = if b != 0 { kij } else { 0.0 };
                }
            }
        }
    }
}

/// Biased HSIC: `trace(K H L H)` with `H = I - 11ᵀ/N`, no normalising factor.
fn hsic_biased(k: Masked<'_>, l: Masked<'_>) -> f64 {
    let n = k.k.n;
    let (mut kr, mut krt, mut lr, mut lrt) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let (mut rk, mut rl) = (vec![0.0f64; n], vec![0.0f64; n]);
    for i in 0..n {
        k.rows(i, &mut kr, &mut krt);
        l.rows(i, &mut lr, &mut lrt);
        rk[i] = kr.iter().sum::<f64>() / n as f64;
        rl[i] = lr.iter().sum::<f64>() / n as f64;
    }
    // trace(KH LH) = sum_ij (KH)_ij (LH)_ji, (KH)_ij = K_ij - mean of row i of K.
    let mut s = 0.0;
    for i in 0..n {
        k.rows(i, &mut kr, &mut krt);
        l.rows(i, &mut lr, &mut lrt);
        for ((kij, lji), rlj) in kr.iter().zip(&lrt).zip(&rl) {
            s += (kij - rk[i]) * (lji - rlj);
        }
    }
    s
}

/// Unbiased HSIC (Song et al. 2012, eq. 5) on K, L with zeroed diagonals; N >= 4.
fn hsic_unbiased(k: Masked<'_>, l: Masked<'_>) -> f64 {
    let n = k.k.n;
    let (mut kr, mut krt, mut lr, mut lrt) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let (mut trace, mut sum_k, mut sum_l, mut cross) = (0.0, 0.0, 0.0, 0.0);
    let mut col_k = vec![0.0f64; n];
    let mut row_l = vec![0.0f64; n];
    for i in 0..n {
        k.rows(i, &mut kr, &mut krt);
        l.rows(i, &mut lr, &mut lrt);
        // The diagonals count as zero.
        (kr[i], lr[i], lrt[i]) = (0.0, 0.0, 0.0);
        for j in 0..n {
            trace += kr[j] * lrt[j];
            col_k[j] += kr[j];
        }
        sum_k += kr.iter().sum::<f64>();
        row_l[i] = lr.iter().sum::<f64>();
        sum_l += row_l[i];
    }
    for j in 0..n {
        cross += col_k[j] * row_l[j]; // 1ᵀ K̃ L̃ 1
    }
    let m = n as f64;
    (trace + sum_k * sum_l / ((m - 1.0) * (m - 2.0)) - 2.0 / (m - 2.0) * cross) / (m * (m - 3.0))
}

fn hsic(k: Masked<'_>, l: Masked<'_>, unbiased: bool) -> f64 {
    if unbiased { hsic_unbiased(k, l) } else { hsic_biased(k, l) }
}

/// HSIC(K, K) · HSIC(L, L), the square of the normaliser. The unbiased estimator can be
/// negative (small N, kernels with almost no variance), and then the ratio is undefined:
/// the reference returns NaN, repalign says so. Rounding residue of a zero-variance kernel
/// (|product| within 1e-12 of the kernels' scale) counts as 0, giving 0 / (0 + 1e-6).
fn self_product(kk: f64, ll: f64) -> Result<f64> {
    let p = kk * ll;
    if p >= 0.0 {
        Ok(p)
    } else if p > -1e-24 * (1.0 + kk.abs()) * (1.0 + ll.abs()) {
        Ok(0.0)
    } else {
        Err(Error::NumericalRange { what: "the unbiased HSIC of a kernel with itself is negative: CKA is undefined" })
    }
}

fn check_pair(k: &KernelMatrix, l: &KernelMatrix, unbiased: bool) -> Result<()> {
    if k.n != l.n {
        return Err(Error::RowCountMismatch { a: k.n, b: l.n });
    }
    if unbiased && k.n < 4 {
        return Err(Error::TooFewSamples { n: k.n, min: 4 });
    }
    Ok(())
}

/// CKA from two kernel matrices: biased (the reference's `cka`) or unbiased (`unbiased_cka`).
/// The unbiased value can be negative.
pub fn cka_kernels(k: &KernelMatrix, l: &KernelMatrix, unbiased: bool) -> Result<f64> {
    check_pair(k, l, unbiased)?;
    let (kk, ll) = (k.own_hsic(unbiased), l.own_hsic(unbiased));
    let kl = hsic(Masked { k, mask: None }, Masked { k: l, mask: None }, unbiased);
    Ok(kl / (libm::sqrt(self_product(kk, ll)?) + 1e-6))
}

/// The RV coefficient from two linear kernels: `<Gx, Gy>_F / (sqrt(<Gx, Gx>_F <Gy, Gy>_F) + 1e-8)`
/// with `Gx = Xc Xcᵀ`. Since `<H K H, H L H>_F = trace(K H L H)`, this is biased linear CKA
/// with 1e-8 in place of 1e-6, and it is computed the same way: the f32 Gram kernel, then
/// f64 sums (so a large common offset of the rows, centred only after the f32 Gram, costs
/// accuracy as it does for CKA).
pub fn rv_kernels(k: &KernelMatrix, l: &KernelMatrix) -> Result<f64> {
    check_pair(k, l, false)?;
    let kl = hsic_biased(Masked { k, mask: None }, Masked { k: l, mask: None });
    Ok(kl / (libm::sqrt(self_product(k.own_hsic(false), l.own_hsic(false))?) + 1e-8))
}

/// Row-wise top-`topk` mask of M (diagonal excluded when `unbiased`) into `w` (zeroed,
/// N x N).
fn neighbour_mask(m: &KernelMatrix, topk: usize, unbiased: bool, w: &mut [u8]) {
    let n = m.n;
    let (mut s, mut idx) = (vec![0.0f32; topk], vec![0u32; topk]);
    for i in 0..n {
        let mut heap = TopK::new(&mut s, &mut idx);
        for (j, &v) in m.values[i * n..(i + 1) * n].iter().enumerate() {
            // -inf on the diagonal: picked last, as by the reference, only when topk = N.
            let v = if unbiased && i == j { f32::NEG_INFINITY } else { v as f32 };
            heap.offer(v, j as u32);
        }
        heap.finish();
        for &j in &idx {
            w[i * n + j as usize] = 1;
        }
    }
}

/// The transpose of an n x n byte matrix into `t`, in 64 x 64 tiles.
fn transpose_bytes(w: &[u8], n: usize, t: &mut [u8]) {
    for i0 in (0..n).step_by(64) {
        for j0 in (0..n).step_by(64) {
            for i in i0..(i0 + 64).min(n) {
                for j in j0..(j0 + 64).min(n) {
                    t[j * n + i] = w[i * n + j];
                }
            }
        }
    }
}

/// CKNNA from two linear kernels: kernel alignment restricted to mutual neighbours.
/// `topk` in `2..=N`; `unbiased` is the reference's default. Not symmetric when unbiased.
/// Neighbours are ranked by f32 kernel values with ties to the lower index.
pub fn cknna_kernels(k: &KernelMatrix, l: &KernelMatrix, topk: usize, unbiased: bool) -> Result<f64> {
    if topk < 2 || topk > k.n {
        return Err(Error::InvalidK { k: topk, max: k.n });
    }
    check_pair(k, l, unbiased)?;
    // Six N x N byte masks (K's, L's and both, each with its transpose), all allocated
    // before any work.
    let n = k.n;
    let mask = || try_vec(n * n, 0u8, "cknna needs six N x N byte masks");
    let (mut mk, mut ml, mut both) =
        (Mask { w: mask()?, wt: mask()? }, Mask { w: mask()?, wt: mask()? }, Mask { w: mask()?, wt: mask()? });
    for (m, mask) in [(k, &mut mk), (l, &mut ml)] {
        neighbour_mask(m, topk, unbiased, &mut mask.w);
        transpose_bytes(&mask.w, n, &mut mask.wt);
    }
    for (out, (a, b)) in both.w.iter_mut().zip(mk.w.iter().zip(&ml.w)) {
        *out = a & b;
    }
    for (out, (a, b)) in both.wt.iter_mut().zip(mk.wt.iter().zip(&ml.wt)) {
        *out = a & b;
    }
    let sim_kl = hsic(Masked { k, mask: Some(&both) }, Masked { k: l, mask: Some(&both) }, unbiased);
    let (kk, ll) = (Masked { k, mask: Some(&mk) }, Masked { k: l, mask: Some(&ml) });
    let (sim_kk, sim_ll) = (hsic(kk, kk, unbiased), hsic(ll, ll, unbiased));
    // The reference takes the square root and adds 1e-6 in float32.
    let denom = libm::sqrtf(self_product(sim_kk, sim_ll)? as f32) + 1e-6f32;
    Ok(sim_kl / f64::from(denom))
}
