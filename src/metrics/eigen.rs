//! Leading eigenpairs of a symmetric matrix, in f64, the way LAPACK's `dsyevx` path does it:
//! Householder reduction to tridiagonal form (`dsytrd`), eigenvalues of the tridiagonal
//! matrix by implicit QL (`dsterf`), eigenvectors of only the wanted ones by inverse
//! iteration (`dstein`), mapped back through the reflectors (`dormtr`).
//!
//! Cost: about n³ multiply-adds for the reduction, all in contiguous row sweeps, plus
//! O(n²) per wanted vector: at n = 1024 a fraction of a second, where accumulating every
//! eigenvector (the classic tred2/tql2 pair) costs several times more in strided sweeps.
//! Deterministic: fixed operation order and a fixed start vector, no threads.

use alloc::vec;
use alloc::vec::Vec;

/// A symmetric matrix reduced to tridiagonal form T = Qᵀ A Q.
struct Tridiagonal {
    n: usize,
    /// The diagonal of T.
    diag: Vec<f64>,
    /// `off[k]` = T\[k\]\[k + 1\] (length n - 1).
    off: Vec<f64>,
    /// Reflector k (k < n - 2) is I - beta\[k\] v vᵀ with v = `reflectors[k]` (length
    /// n - k - 1), acting on coordinates k + 1 .. n. Q = H_0 H_1 ⋯ H_{n-3}.
    reflectors: Vec<Vec<f64>>,
    beta: Vec<f64>,
}

/// The `count` largest eigenvalues of the symmetric n x n row-major matrix `a` (descending)
/// and their orthonormal eigenvectors as an n x count row-major matrix (column c belongs to
/// value c). Only the upper triangle needs to be meaningful.
pub(crate) fn leading_eigenpairs(a: Vec<f64>, n: usize, count: usize) -> (Vec<f64>, Vec<f64>) {
    let count = count.min(n);
    let t = tridiagonalize(a, n);
    let values = descending_eigenvalues(&t);
    let mut vectors = vec![0.0f64; n * count];
    let mut found: Vec<Vec<f64>> = Vec::with_capacity(count);
    let norm = t.norm();
    if norm == 0.0 {
        // The zero matrix (e.g. of a constant input): every vector is an eigenvector, and
        // inverse iteration would divide by zero pivots. The identity's columns.
        (0..count).for_each(|c| vectors[c * count + c] = 1.0);
        return (values[..count].to_vec(), vectors);
    }
    for (c, &lambda) in values[..count].iter().enumerate() {
        // Orthogonalise against earlier vectors of the same cluster (dstein's 1e-3 · ‖T‖).
        let cluster: Vec<&Vec<f64>> =
            found.iter().zip(&values).filter(|&(_, &mu)| (mu - lambda).abs() <= 1e-3 * norm).map(|(v, _)| v).collect();
        let y = t.inverse_iteration(lambda, norm, &cluster);
        let z = t.back_transform(&y);
        for (r, &x) in z.iter().enumerate() {
            vectors[r * count + c] = x;
        }
        found.push(y);
    }
    (values[..count].to_vec(), vectors)
}

/// All eigenvalues of the symmetric n x n row-major matrix `a`, descending.
pub(crate) fn eigenvalues(a: Vec<f64>, n: usize) -> Vec<f64> {
    descending_eigenvalues(&tridiagonalize(a, n))
}

/// Householder reduction, forward over columns. The trailing block is kept in full
/// (both triangles) so that every update is a contiguous row sweep the compiler vectorises.
fn tridiagonalize(mut a: Vec<f64>, n: usize) -> Tridiagonal {
    // Symmetrise from the upper triangle: callers may fill only that.
    for i in 0..n {
        for j in 0..i {
            a[i * n + j] = a[j * n + i];
        }
    }
    let mut diag = vec![0.0f64; n];
    let mut off = vec![0.0f64; n.saturating_sub(1)];
    let (mut reflectors, mut beta) = (Vec::new(), Vec::new());
    let mut p = vec![0.0f64; n];
    for k in 0..n.saturating_sub(2) {
        diag[k] = a[k * n + k];
        let mut v = a[k * n + k + 1..(k + 1) * n].to_vec();
        let norm = libm::sqrt(v.iter().map(|x| x * x).sum::<f64>());
        let alpha = if v[0] > 0.0 { -norm } else { norm };
        off[k] = alpha;
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        // A zero column needs no reflection (and would divide by zero).
        let b = if vv > 0.0 { 2.0 / vv } else { 0.0 };
        if b != 0.0 {
            // Trailing block B = A[k+1.., k+1..] (m x m): B ← H B H with H = I - b v vᵀ.
            let m = n - k - 1;
            let p = &mut p[..m];
            p.iter_mut().for_each(|x| *x = 0.0);
            for (r, &vr) in v.iter().enumerate() {
                // p = b · B v, summed as rows of B scaled by v (B is symmetric).
                let row = &a[(k + 1 + r) * n + k + 1..][..m];
                for (pj, &x) in p.iter_mut().zip(row) {
                    *pj += vr * x;
                }
            }
            p.iter_mut().for_each(|x| *x *= b);
            let half_k = 0.5 * b * p.iter().zip(&v).map(|(x, y)| x * y).sum::<f64>();
            // w = p - K v; B -= v wᵀ + w vᵀ.
            for (x, &y) in p.iter_mut().zip(&v) {
                *x -= half_k * y;
            }
            for r in 0..m {
                let (vr, wr) = (v[r], p[r]);
                let row = &mut a[(k + 1 + r) * n + k + 1..][..m];
                for ((x, &vj), &wj) in row.iter_mut().zip(&v).zip(p.iter()) {
                    *x -= vr * wj + wr * vj;
                }
            }
        }
        reflectors.push(v);
        beta.push(b);
    }
    if n >= 2 {
        diag[n - 2] = a[(n - 2) * n + n - 2];
        off[n - 2] = a[(n - 2) * n + n - 1];
    }
    if n >= 1 {
        diag[n - 1] = a[n * n - 1];
    }
    Tridiagonal { n, diag, off, reflectors, beta }
}

/// Eigenvalues of T by QL iterations with implicit shifts (no vectors: O(n²)), descending.
fn descending_eigenvalues(t: &Tridiagonal) -> Vec<f64> {
    let n = t.n;
    let mut d = t.diag.clone();
    // e[i] couples i and i + 1; e[n - 1] = 0.
    let mut e = t.off.clone();
    e.push(0.0);
    let eps = f64::EPSILON;
    let (mut f, mut tst1) = (0.0f64, 0.0f64);
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            for _iteration in 0..100 {
                let g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = libm::hypot(p, 1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for x in &mut d[l + 2..] {
                    *x -= h;
                }
                f += h;
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0, 0.0);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    h = c * p;
                    r = libm::hypot(p, e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    d.sort_by(|x, y| y.total_cmp(x));
    d
}

impl Tridiagonal {
    /// max_i (|d_i| + |e_{i-1}| + |e_i|), the 1-norm of T.
    fn norm(&self) -> f64 {
        (0..self.n)
            .map(|i| {
                let left = if i > 0 { self.off[i - 1].abs() } else { 0.0 };
                let right = if i + 1 < self.n { self.off[i].abs() } else { 0.0 };
                self.diag[i].abs() + left + right
            })
            .fold(0.0, f64::max)
    }

    /// A unit eigenvector of T for the (accurate) eigenvalue `lambda`, orthogonal to
    /// `cluster`: inverse iteration with a tridiagonal LU of T - λI (partial pivoting,
    /// zero pivots replaced by eps · ‖T‖).
    fn inverse_iteration(&self, lambda: f64, norm: f64, cluster: &[&Vec<f64>]) -> Vec<f64> {
        let n = self.n;
        let tiny = (f64::EPSILON * norm).max(f64::MIN_POSITIVE);
        // LU of T - λI with row interchanges: U has the diagonal u0 and two superdiagonals
        // u1, u2; l holds the multipliers, swapped marks an interchange at step i.
        let (mut u0, mut u1, mut u2) = (vec![0.0f64; n], vec![0.0f64; n], vec![0.0f64; n]);
        let (mut l, mut swapped) = (vec![0.0f64; n], vec![false; n]);
        let mut cur_diag = self.diag[0] - lambda;
        let mut cur_sup = if n > 1 { self.off[0] } else { 0.0 };
        for i in 0..n {
            if i + 1 == n {
                u0[i] = if cur_diag == 0.0 { tiny } else { cur_diag };
                break;
            }
            let sub = self.off[i];
            let next_diag = self.diag[i + 1] - lambda;
            let next_sup = if i + 2 < n { self.off[i + 1] } else { 0.0 };
            if cur_diag.abs() >= sub.abs() {
                let piv = if cur_diag == 0.0 { tiny } else { cur_diag };
                let m = sub / piv;
                (u0[i], u1[i], u2[i], l[i]) = (piv, cur_sup, 0.0, m);
                cur_diag = next_diag - m * cur_sup;
                cur_sup = next_sup;
            } else {
                // Swap rows i and i + 1.
                let m = cur_diag / sub;
                (u0[i], u1[i], u2[i], l[i], swapped[i]) = (sub, next_diag, next_sup, m, true);
                cur_diag = cur_sup - m * next_diag;
                cur_sup = -m * next_sup;
            }
        }
        // A fixed, non-special start vector keeps the result deterministic.
        let mut x: Vec<f64> = (0..n).map(|i| 1.0 + 0.5 * libm::sin(i as f64 * 1.618_033_988_7 + 0.5)).collect();
        for _ in 0..4 {
            // Forward: apply the interchanges and multipliers.
            for i in 0..n.saturating_sub(1) {
                if swapped[i] {
                    x.swap(i, i + 1);
                }
                x[i + 1] -= l[i] * x[i];
            }
            // Back substitution with U.
            for i in (0..n).rev() {
                let mut s = x[i];
                if i + 1 < n {
                    s -= u1[i] * x[i + 1];
                }
                if i + 2 < n {
                    s -= u2[i] * x[i + 2];
                }
                x[i] = s / u0[i];
            }
            for q in cluster {
                let dot: f64 = x.iter().zip(q.iter()).map(|(a, b)| a * b).sum();
                x.iter_mut().zip(q.iter()).for_each(|(a, b)| *a -= dot * b);
            }
            let norm = libm::sqrt(x.iter().map(|v| v * v).sum::<f64>());
            x.iter_mut().for_each(|v| *v /= norm);
        }
        x
    }

    /// Q y: the eigenvector of A for the eigenvector y of T.
    fn back_transform(&self, y: &[f64]) -> Vec<f64> {
        let mut z = y.to_vec();
        for (k, (v, &b)) in self.reflectors.iter().zip(&self.beta).enumerate().rev() {
            let tail = &mut z[k + 1..];
            let dot: f64 = v.iter().zip(tail.iter()).map(|(a, b)| a * b).sum();
            tail.iter_mut().zip(v).for_each(|(x, &vi)| *x -= b * dot * vi);
        }
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_symmetric(n: usize, seed: &mut u64) -> Vec<f64> {
        let mut a = vec![0.0f64; n * n];
        for i in 0..n {
            for j in 0..=i {
                *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let x = (*seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        a
    }

    /// A v = λ v and orthonormality, to `tol` relative to the matrix scale.
    fn assert_eigenpairs(a: &[f64], n: usize, values: &[f64], vectors: &[f64], count: usize, tol: f64) {
        assert!(values.windows(2).all(|w| w[0] >= w[1]), "not descending: {values:?}");
        for c in 0..count {
            for c2 in 0..count {
                let dot: f64 = (0..n).map(|r| vectors[r * count + c] * vectors[r * count + c2]).sum();
                let want = if c == c2 { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < tol, "n={n} columns {c},{c2}: {dot}");
            }
            for r in 0..n {
                let av: f64 = (0..n).map(|k| a[r * n + k] * vectors[k * count + c]).sum();
                assert!((av - values[c] * vectors[r * count + c]).abs() < tol, "n={n} A v = λ v at ({r}, {c})");
            }
        }
    }

    #[test]
    fn leading_pairs_of_random_symmetric_matrices() {
        let mut seed = 7u64;
        for n in [1, 2, 3, 7, 40, 97] {
            let a = random_symmetric(n, &mut seed);
            for count in [1, n.min(5), n] {
                let (values, vectors) = leading_eigenpairs(a.clone(), n, count);
                assert_eq!(values.len(), count);
                assert_eigenpairs(&a, n, &values, &vectors, count, 1e-10);
            }
            let all = eigenvalues(a.clone(), n);
            let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
            assert!((all.iter().sum::<f64>() - trace).abs() < 1e-10);
        }
    }

    #[test]
    fn repeated_and_zero_eigenvalues() {
        // Q diag(3, 3, 3, 1, 0, 0) Qᵀ for an orthogonal Q built from reflections: clusters
        // and a null space must still give an orthonormal set of eigenvectors.
        let n = 6;
        let spectrum = [3.0, 3.0, 3.0, 1.0, 0.0, 0.0];
        let u: Vec<f64> = (0..n).map(|i| (i as f64 + 1.0).sqrt()).collect();
        let uu: f64 = u.iter().map(|x| x * x).sum();
        let q = |i: usize, j: usize| f64::from(u8::from(i == j)) - 2.0 * u[i] * u[j] / uu;
        let mut a = vec![0.0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| q(i, k) * spectrum[k] * q(j, k)).sum();
            }
        }
        let (values, vectors) = leading_eigenpairs(a.clone(), n, n);
        for (v, s) in values.iter().zip(spectrum) {
            assert!((v - s).abs() < 1e-12, "{values:?}");
        }
        assert_eigenpairs(&a, n, &values, &vectors, n, 1e-10);
        // A diagonal matrix is already tridiagonal (every reflector is skipped).
        let d = [2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 5.0];
        let (values, vectors) = leading_eigenpairs(d.to_vec(), 3, 3);
        assert_eq!(values, [5.0, 2.0, 2.0]);
        assert_eigenpairs(&d, 3, &values, &vectors, 3, 1e-12);
    }

    #[test]
    fn small_known_case() {
        let a = vec![4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0];
        let (values, vectors) = leading_eigenpairs(a.clone(), 3, 3);
        assert_eigenpairs(&a, 3, &values, &vectors, 3, 1e-12);
        assert!((values.iter().sum::<f64>() - 12.0).abs() < 1e-12);
    }
}
