//! Metrics on kNN graphs: mutual-kNN alignment (the paper's headline metric).

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::knn::{self, GraphRef, KnnOptions, find_invalid};
use crate::matrix::AnyMatrix;

/// Mutual kNN alignment of two representations of the same samples:
/// mean over i of |kNN_A(i) ∩ kNN_B(i)| / k, with self excluded from each list.
///
/// As in the paper the metric uses plain inner products of the rows it is given; pass
/// `Similarity::Cosine` in `opts` (or normalised rows) for the inner product of
/// L2-normalised rows. `a` and `b` must have the same N; their D and dtype may differ.
/// Returns a value in `[0, 1]`.
pub fn mutual_knn<'a, 'b>(
    a: impl Into<AnyMatrix<'a>>,
    b: impl Into<AnyMatrix<'b>>,
    k: usize,
    opts: &KnnOptions,
) -> Result<f64> {
    let (a, b) = (a.into(), b.into());
    if a.rows() != b.rows() {
        return Err(Error::RowCountMismatch { a: a.rows(), b: b.rows() });
    }
    let ga = knn::graph(a, k, opts)?;
    let gb = knn::graph(b, k, opts)?;
    mutual_knn_graphs(ga.as_ref(), gb.as_ref(), k)
}

/// [`mutual_knn`] from precomputed neighbour lists (best first); uses the first `k` of
/// each row, so graphs computed once with a larger k serve every smaller one.
///
/// Lists are validated: an index `>= rows` or repeated within a row is an error.
pub fn mutual_knn_graphs(a: GraphRef<'_>, b: GraphRef<'_>, k: usize) -> Result<f64> {
    let n = a.rows();
    if n != b.rows() {
        return Err(Error::RowCountMismatch { a: n, b: b.rows() });
    }
    if n == 0 {
        return Err(Error::EmptyMatrix);
    }
    let max = a.width().min(b.width());
    if k == 0 || k > max {
        return Err(Error::InvalidK { k, max });
    }
    let mut shared = 0u64;
    let (mut scratch_a, mut scratch_b) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (ra, rb) = (a.row(i, k), b.row(i, k));
        for row in [ra, rb] {
            if let Some(index) = find_invalid(row, n, &mut scratch_a) {
                return Err(Error::InvalidGraph { row: i, index });
            }
        }
        shared += intersection_size(ra, rb, &mut scratch_a, &mut scratch_b) as u64;
    }
    Ok(shared as f64 / (n as f64 * k as f64))
}

/// |a ∩ b| for lists of distinct indices.
fn intersection_size(a: &[u32], b: &[u32], sa: &mut Vec<u32>, sb: &mut Vec<u32>) -> usize {
    if a.len() <= 32 {
        // PERF: for the usual k (10-20) a quadratic scan beats sorting.
        return a.iter().filter(|x| b.contains(x)).count();
    }
    for (s, src) in [(&mut *sa, a), (&mut *sb, b)] {
        s.clear();
        s.extend_from_slice(src);
        s.sort_unstable();
    }
    let (mut i, mut j, mut count) = (0, 0, 0);
    while i < sa.len() && j < sb.len() {
        match sa[i].cmp(&sb[j]) {
            core::cmp::Ordering::Less => i += 1,
            core::cmp::Ordering::Greater => j += 1,
            core::cmp::Ordering::Equal => {
                count += 1;
                i += 1;
                j += 1;
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_shared_neighbours() {
        // 4 rows, k = 2: rows share 2, 1, 1 and 1 neighbours -> 5 / (4 * 2).
        let a = [1, 2, 0, 2, 0, 1, 0, 1];
        let b = [2, 1, 0, 3, 3, 0, 2, 1];
        let (ga, gb) = (GraphRef::new(&a, 4, 2).unwrap(), GraphRef::new(&b, 4, 2).unwrap());
        assert_eq!(mutual_knn_graphs(ga, gb, 2).unwrap(), 0.625);
        // k = 1 uses the first column only: only row 1 agrees.
        assert_eq!(mutual_knn_graphs(ga, gb, 1).unwrap(), 0.25);
    }

    #[test]
    fn large_k_path_matches_quadratic() {
        let a: Vec<u32> = (0..40).collect();
        let b: Vec<u32> = (20..60).rev().collect();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        assert_eq!(intersection_size(&a, &b, &mut x, &mut y), 20);
        assert_eq!(a.iter().filter(|v| b.contains(v)).count(), 20);
    }

    #[test]
    fn rejects_bad_lists() {
        let good = [1u32, 0];
        let out_of_range = [1u32, 2];
        let repeated = [1u32, 1, 0, 0];
        let g = GraphRef::new(&good, 2, 1).unwrap();
        let e = mutual_knn_graphs(g, GraphRef::new(&out_of_range, 2, 1).unwrap(), 1).unwrap_err();
        assert_eq!(e, Error::InvalidGraph { row: 1, index: 2 });
        let r = GraphRef::new(&repeated, 2, 2).unwrap();
        assert_eq!(mutual_knn_graphs(r, r, 2).unwrap_err(), Error::InvalidGraph { row: 0, index: 1 });
        assert_eq!(mutual_knn_graphs(g, g, 2).unwrap_err(), Error::InvalidK { k: 2, max: 1 });
        assert_eq!(mutual_knn_graphs(g, g, 0).unwrap_err(), Error::InvalidK { k: 0, max: 1 });
    }
}
