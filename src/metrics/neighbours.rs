//! Metrics on kNN graphs: mutual kNN (the paper's headline metric), cycle kNN, LCS kNN,
//! edit-distance kNN and Jaccard kNN.
//!
//! Computed from neighbour lists (best first), using the first `k` of each row, so a graph
//! computed once with a large k serves every comparison and every smaller k (from features:
//! [`super::score`] with a [`super::Metric::Knn`]). Lists are validated: an index `>= rows`
//! or repeated within a row is an error.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::knn::{GraphRef, find_invalid};

/// Mutual kNN alignment from precomputed neighbour lists: mean over i of
/// |kNN_A(i) ∩ kNN_B(i)| / k, in `[0, 1]` (the paper's headline metric).
pub fn mutual_knn_graphs(a: GraphRef<'_>, b: GraphRef<'_>, k: usize) -> Result<f64> {
    knn_metric_graphs(KnnMetric::Mutual, a, b, k)
}

/// The kNN-graph metrics, by the reference's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnnMetric {
    /// `mutual_knn`: mean over i of |NN_A(i) ∩ NN_B(i)| / k.
    Mutual,
    /// `cycle_knn`: the fraction of samples i for which some j in NN_B(i) has i in NN_A(j).
    /// Not symmetric in (A, B).
    Cycle,
    /// `lcs_knn`: mean over i of the length of the longest common subsequence of the ordered
    /// lists NN_A(i) and NN_B(i). As in the reference this is the raw length in `[0, k]`,
    /// **not** divided by k.
    Lcs,
    /// `edit_distance_knn`: 1 - mean over i of the Levenshtein distance between the ordered
    /// lists (unit costs) / k.
    EditDistance,
    /// `jaccard_knn`: mean over i of |NN_A(i) ∩ NN_B(i)| / |NN_A(i) ∪ NN_B(i)|.
    Jaccard,
}

impl KnnMetric {
    /// Every kNN metric.
    pub const ALL: [KnnMetric; 5] =
        [KnnMetric::Mutual, KnnMetric::Cycle, KnnMetric::Lcs, KnnMetric::EditDistance, KnnMetric::Jaccard];

    /// The reference's name (`"mutual_knn"`, `"cycle_knn"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            KnnMetric::Mutual => "mutual_knn",
            KnnMetric::Cycle => "cycle_knn",
            KnnMetric::Lcs => "lcs_knn",
            KnnMetric::EditDistance => "edit_distance_knn",
            KnnMetric::Jaccard => "jaccard_knn",
        }
    }

    /// Parses a name produced by [`KnnMetric::name`].
    pub fn from_name(name: &str) -> Option<KnnMetric> {
        KnnMetric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A kNN metric from precomputed neighbour lists.
pub fn knn_metric_graphs(metric: KnnMetric, a: GraphRef<'_>, b: GraphRef<'_>, k: usize) -> Result<f64> {
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
    let mut scratch = Scratch::default();
    for i in 0..n {
        for row in [a.row(i, k), b.row(i, k)] {
            if let Some(index) = find_invalid(row, n, &mut scratch.a) {
                return Err(Error::InvalidGraph { row: i, index });
            }
        }
    }
    Ok(knn_metric_unchecked(metric, a, b, k, &mut scratch))
}

/// The metric of two layer states' graphs, valid by construction (built by the kNN engine,
/// same rows, width >= k >= 1): no validation pass, and mutual kNN through the whole-vector
/// shared-count kernel of the calibration's null (identity permutation), the same count as
/// [`knn_metric_unchecked`], so the same bits. A zoo compares every layer pair of every
/// model pair: this is its inner loop.
pub(crate) fn knn_metric_states(
    metric: KnnMetric,
    a: GraphRef<'_>,
    b: GraphRef<'_>,
    k: usize,
    isa: Option<crate::Isa>,
) -> Result<f64> {
    let n = a.rows();
    if n != b.rows() {
        return Err(Error::RowCountMismatch { a: n, b: b.rows() });
    }
    if let (KnnMetric::Mutual, Some(isa)) = (metric, isa) {
        let mut identity = crate::error::try_vec(n, 0u32, "an identity permutation of the rows")?;
        identity.iter_mut().enumerate().for_each(|(i, v)| *v = i as u32);
        let shared = crate::kernels::shared_count::SharedCount { a, b, k, perm: &identity };
        if let Ok(Some(count)) = crate::dispatch::run(isa, shared) {
            return Ok(count as f64 / (n as f64 * k as f64));
        }
    }
    Ok(knn_metric_unchecked(metric, a, b, k, &mut Scratch::default()))
}

/// The metric of graphs already validated (same rows, width >= k >= 1, valid rows).
pub(crate) fn knn_metric_unchecked(
    metric: KnnMetric,
    a: GraphRef<'_>,
    b: GraphRef<'_>,
    k: usize,
    scratch: &mut Scratch,
) -> f64 {
    let n = a.rows();
    // Integer totals where the metric is a count: exact whatever N.
    let mut count = 0u64;
    let mut sum = 0.0f64;
    for i in 0..n {
        let (ra, rb) = (a.row(i, k), b.row(i, k));
        match metric {
            KnnMetric::Mutual => count += intersection_size(ra, rb, scratch) as u64,
            KnnMetric::Cycle => count += u64::from(rb.iter().any(|&j| a.row(j as usize, k).contains(&(i as u32)))),
            KnnMetric::Lcs => count += lcs_len(ra, rb, &mut scratch.a) as u64,
            KnnMetric::EditDistance => count += levenshtein(ra, rb, &mut scratch.a) as u64,
            KnnMetric::Jaccard => {
                let shared = intersection_size(ra, rb, scratch);
                sum += shared as f64 / (2 * k - shared) as f64;
            }
        }
    }
    let (n, kf) = (n as f64, k as f64);
    match metric {
        KnnMetric::Mutual => count as f64 / (n * kf),
        KnnMetric::Cycle => count as f64 / n,
        KnnMetric::Lcs => count as f64 / n,
        KnnMetric::EditDistance => 1.0 - count as f64 / (n * kf),
        KnnMetric::Jaccard => sum / n,
    }
}

/// Reusable buffers of the kNN metrics.
#[derive(Default)]
pub(crate) struct Scratch {
    a: Vec<u32>,
    b: Vec<u32>,
}

/// Length of the longest common subsequence (O(k^2) dynamic programme, one row of state).
fn lcs_len(a: &[u32], b: &[u32], row: &mut Vec<u32>) -> u32 {
    row.clear();
    row.resize(b.len() + 1, 0);
    for &x in a {
        let mut diag = 0; // row[j] of the previous pass, before it was overwritten
        for (j, &y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    row[b.len()]
}

/// Levenshtein distance with unit insertion, deletion and substitution costs.
fn levenshtein(a: &[u32], b: &[u32], row: &mut Vec<u32>) -> u32 {
    row.clear();
    row.extend(0..=b.len() as u32);
    for (i, &x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i as u32 + 1;
        for (j, &y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + u32::from(x != y)).min(up + 1).min(row[j] + 1);
            diag = up;
        }
    }
    row[b.len()]
}

/// |a ∩ b| for lists of distinct indices.
fn intersection_size(a: &[u32], b: &[u32], scratch: &mut Scratch) -> usize {
    let (sa, sb) = (&mut scratch.a, &mut scratch.b);
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
        // 40 distinct indices each (the sorting path), sharing 20..40.
        assert_eq!(intersection_size(&a, &b, &mut Scratch::default()), 20);
    }

    #[test]
    fn sequence_distances() {
        let mut row = Vec::new();
        assert_eq!(lcs_len(&[1, 2, 3, 4], &[2, 4, 3, 1], &mut row), 2);
        assert_eq!(lcs_len(&[1, 2, 3], &[1, 2, 3], &mut row), 3);
        assert_eq!(lcs_len(&[1, 2], &[3, 4], &mut row), 0);
        assert_eq!(levenshtein(&[1, 2, 3], &[1, 2, 3], &mut row), 0);
        assert_eq!(levenshtein(&[1, 2, 3], &[2, 3, 4], &mut row), 2);
        assert_eq!(levenshtein(&[1, 2, 3, 4], &[4, 3, 2, 1], &mut row), 4);
        assert_eq!(levenshtein(&[5, 6], &[7, 8], &mut row), 2);
    }

    #[test]
    fn cycle_and_jaccard_by_hand() {
        // k = 1. A: 0->1, 1->0, 2->0. B: 0->2, 1->0, 2->1.
        // cycle: i=0: j=2, is 0 in NN_A(2)={0}: yes. i=1: j=0, NN_A(0)={1}: yes. i=2: j=1, NN_A(1)={0}: no.
        let (a, b) = ([1u32, 0, 0], [2u32, 0, 1]);
        let (ga, gb) = (GraphRef::new(&a, 3, 1).unwrap(), GraphRef::new(&b, 3, 1).unwrap());
        assert_eq!(knn_metric_graphs(KnnMetric::Cycle, ga, gb, 1).unwrap(), 2.0 / 3.0);
        // jaccard: row 1 shares its neighbour (1/1), rows 0 and 2 share none (0/2).
        assert_eq!(knn_metric_graphs(KnnMetric::Jaccard, ga, gb, 1).unwrap(), 1.0 / 3.0);
        assert_eq!(knn_metric_graphs(KnnMetric::Lcs, ga, gb, 1).unwrap(), 1.0 / 3.0);
        assert_eq!(knn_metric_graphs(KnnMetric::EditDistance, ga, gb, 1).unwrap(), 1.0 - 2.0 / 3.0);
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
