//! The demo's computation: each representation's kNN graph per subset, ranked as the
//! reference ranks them, then mutual kNN and its permutation null for every comparison and k.

use std::format;
use std::prelude::rust_2024::*;

use crate::Exec;
use crate::calibrate::{CalibrationOptions, calibrate_graphs};
use crate::knn::{self, GraphRef, Similarity};
use crate::metrics::{KnnMetric, mutual_knn_graphs};

use super::data::{DemoData, Features};
use super::{COMPARISONS, KS, MATRIX_K, REPRESENTATIONS, SUBSETS};

impl Features {
    /// Each row's `k` nearest other rows by cosine similarity, ranked as the reference ranks
    /// them: by the f64 inner product of f64-normalised rows, equal scores by lower index.
    ///
    /// The library's f32 engine finds `k + MARGIN` candidates; their f64 scores decide the
    /// order. That is exact whenever the k-th f64 score clears the last candidate's f32 score
    /// by more than f32's rounding bound (no row outside the list can then beat it); a row
    /// where it does not is ranked over all rows in f64. Needed because nearly equal rows
    /// make near-ties that f32 and f64 order differently: GloVe averages the same words in
    /// another order for "blue green" and "green blue".
    fn graph(&self, k: usize, exec: &Exec<'_>) -> Result<Graph, crate::Error> {
        let n = self.rows;
        let wide = (k + MARGIN).min(n.saturating_sub(1));
        let candidates = knn::graph(self.values.matrix(n, self.cols)?, wide, Similarity::Cosine, exec)?;
        let x = self.normalised_f64();
        let row = |i: usize| &x[i * self.cols..(i + 1) * self.cols];
        let score = |i: usize, j: u32| row(i).iter().zip(row(j as usize)).map(|(a, b)| a * b).sum::<f64>();
        // |f32 cosine - exact cosine| <= (D + 2) u for unit rows; twice that for safety.
        let bound = 2.0 * (self.cols as f64 + 2.0) * f64::from(f32::EPSILON);
        let mut indices = Vec::with_capacity(n * k);
        let mut scored: Vec<(f64, u32)> = Vec::with_capacity(n);
        let best_first = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        for i in 0..n {
            scored.clear();
            scored.extend(candidates.row(i).iter().map(|&j| (score(i, j), j)));
            scored.sort_by(best_first);
            let last = candidates.row_scores(i).last().copied().map_or(f64::NEG_INFINITY, f64::from);
            if wide < n - 1 && scored[k - 1].0 <= last + bound {
                scored.clear();
                scored.extend((0..n as u32).filter(|&j| j as usize != i).map(|j| (score(i, j), j)));
                scored.sort_by(best_first);
            }
            indices.extend(scored[..k].iter().map(|&(_, j)| j));
        }
        Ok(Graph { indices, rows: n, k })
    }

    /// The rows in f64, each divided by its f64 norm.
    fn normalised_f64(&self) -> Vec<f64> {
        let mut x = self.values.to_f64();
        for row in x.chunks_exact_mut(self.cols) {
            let norm = row.iter().map(|a| a * a).sum::<f64>().sqrt();
            row.iter_mut().for_each(|a| *a /= norm);
        }
        x
    }
}

/// Extra candidates the f32 engine finds for the f64 re-ranking.
const MARGIN: usize = 16;

/// A kNN graph: row i's `k` neighbours, best first.
struct Graph {
    indices: Vec<u32>,
    rows: usize,
    k: usize,
}

impl Graph {
    fn as_ref(&self) -> GraphRef<'_> {
        GraphRef::new(&self.indices, self.rows, self.k).expect("a graph of rows x k indices")
    }
}

/// One comparison's score against its permutation null.
#[derive(Debug, Clone)]
pub struct Row {
    pub a: &'static str,
    pub b: &'static str,
    pub subset: &'static str,
    pub n: usize,
    pub k: usize,
    pub score: f64,
    pub null_mean: f64,
    pub null_std: f64,
    pub z: f64,
    pub p_value: f64,
}

/// The demo's results: the rows (subset, then comparison, then k) and the
/// representation x representation mutual kNN at k = `MATRIX_K` on all names.
pub struct Results {
    pub rows: Vec<Row>,
    pub matrix: Vec<Vec<f64>>,
}

/// Computes every row on `exec`; `progress` is told each step done out of the total.
pub fn compute(
    data: &DemoData,
    opts: &CalibrationOptions,
    exec: &Exec<'_>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Results, String> {
    let kmax = KS[KS.len() - 1];
    let total = SUBSETS.len() * (REPRESENTATIONS.len() + COMPARISONS.len() * KS.len());
    let mut done = 0;
    let mut rows = Vec::new();
    let mut matrix = Vec::new();
    for subset in SUBSETS {
        let idx: Vec<usize> = match subset {
            "all" => (0..data.names.len()).collect(),
            _ => data.single_word.clone(),
        };
        let mut graphs = Vec::new();
        for (r, f) in REPRESENTATIONS.iter().zip(&data.features) {
            let g = f.subset(&idx).graph(kmax, exec).map_err(|e| format!("{} ({subset}): {e}", r.key))?;
            graphs.push(g);
            done += 1;
            progress(done, total);
        }
        for &(i, j) in &COMPARISONS {
            for k in KS {
                let c = calibrate_graphs(KnnMetric::Mutual, graphs[i].as_ref(), graphs[j].as_ref(), k, opts, exec)
                    .map_err(|e| e.to_string())?;
                rows.push(Row {
                    a: REPRESENTATIONS[i].key,
                    b: REPRESENTATIONS[j].key,
                    subset,
                    n: idx.len(),
                    k,
                    score: c.raw,
                    null_mean: c.null_mean,
                    null_std: c.null_std,
                    z: c.z,
                    p_value: c.p_value,
                });
                done += 1;
                progress(done, total);
            }
        }
        if subset == "all" {
            matrix = graphs
                .iter()
                .map(|gi| graphs.iter().map(|gj| mutual_knn_graphs(gi.as_ref(), gj.as_ref(), MATRIX_K)).collect())
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(Results { rows, matrix })
}
