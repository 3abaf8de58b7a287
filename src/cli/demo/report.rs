//! The demo's report: the table of scores and nulls with the finding in one sentence, the
//! JSON object of `--json`, and the heatmap of every pair of representations.

use std::format;
use std::prelude::rust_2024::*;

use std::path::Path;

use crate::calibrate::CalibrationOptions;
use crate::cli::plot;

use super::{DemoData, MATRIX_K, REPRESENTATIONS, Results, Row};

/// Writes the representation x representation heatmap. The diagonal (each representation
/// against itself, 1) is left out, so that it does not stretch the colour scale over the
/// other cells; the most aligned pair is named in the title.
pub(crate) fn write_plot(path: &Path, matrix: &[Vec<f64>], names: usize) -> Result<(), String> {
    let labels: Vec<String> = REPRESENTATIONS.iter().map(|r| r.key.to_string()).collect();
    let mut best: Option<(usize, usize)> = None;
    let mut values = Vec::new();
    for (i, row) in matrix.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if i != j && best.is_none_or(|(bi, bj)| v > matrix[bi][bj]) {
                best = Some((i, j));
            }
            values.push(if i == j { f64::NAN } else { v });
        }
    }
    let most = best.map_or(String::new(), |(i, j)| format!("; most aligned: {} and {}", labels[i], labels[j]));
    let m = plot::ModelMatrix {
        rows: labels.clone(),
        cols: labels,
        values,
        significant: None,
        title: format!("Mutual kNN (k = {MATRIX_K}) of {names} colour names{most}"),
        value_label: "mutual kNN".into(),
    };
    plot::write_model_matrix(path, &m)
}

/// The table of every row, then the finding and where the heatmap went.
pub(crate) fn table(data: &DemoData, res: &Results, cal: &CalibrationOptions, plot_path: Option<&Path>) -> String {
    let mut s = format!(
        "Mutual kNN alignment of {} colour names (cosine; null: {} permutations of B's rows, seed {})\n\
         data: {}\n\n",
        data.names.len(),
        cal.permutations,
        cal.seed,
        data.source
    );
    s += &format!(
        "{:<7} {:<7} {:<11} {:>4} {:>3} {:>7} {:>9} {:>7} {:>7}\n",
        "a", "b", "subset", "n", "k", "score", "null mean", "z", "p"
    );
    let mut last = None;
    for r in &res.rows {
        if last.is_some_and(|(a, b, sub)| (a, b, sub) != (r.a, r.b, r.subset)) {
            s.push('\n');
        }
        last = Some((r.a, r.b, r.subset));
        s += &format!(
            "{:<7} {:<7} {:<11} {:>4} {:>3} {:>7.4} {:>9.4} {:>7.1} {:>7.4}\n",
            r.a, r.b, r.subset, r.n, r.k, r.score, r.null_mean, r.z, r.p_value
        );
    }
    s += &format!("\n{}\n", finding(res, cal.permutations));
    if let Some(path) = plot_path {
        s += &format!("Heatmap (every pair of representations, k = {MATRIX_K}, all names): {}\n", path.display());
    }
    s
}

/// The finding in one sentence, with the numbers of this run (k = 10).
fn finding(res: &Results, permutations: usize) -> String {
    let pick = |subset: &str, text: bool| -> Vec<&Row> {
        res.rows
            .iter()
            .filter(|r| r.k == 10 && r.subset == subset && r.a == "lab" && (r.b != "random") == text)
            .collect()
    };
    let range = |rows: &[&Row], f: fn(&Row) -> f64| {
        let lo = rows.iter().map(|r| f(r)).fold(f64::INFINITY, f64::min);
        let hi = rows.iter().map(|r| f(r)).fold(f64::NEG_INFINITY, f64::max);
        if (hi - lo).abs() < 5e-4 { format!("{lo:.3}") } else { format!("{lo:.3}-{hi:.3}") }
    };
    let (all, single) = (pick("all", true), pick("single_word", true));
    let controls: Vec<&Row> = res.rows.iter().filter(|r| r.b == "random").collect();
    let p_floor = 1.0 / (permutations as f64 + 1.0);
    let max_p = |rows: &[&Row]| rows.iter().map(|r| r.p_value).fold(0.0, f64::max);
    let p_text =
        |p: f64| if p <= p_floor * 1.000001 { format!("p = 1/{}", permutations + 1) } else { format!("p <= {p:.3}") };
    let single_text = if max_p(&single) <= 0.05 {
        format!(
            "still agrees above chance ({} vs {}, {})",
            range(&single, |r| r.score),
            range(&single, |r| r.null_mean),
            p_text(max_p(&single))
        )
    } else {
        format!(
            "is not clearly above chance ({} vs {}, p up to {:.3})",
            range(&single, |r| r.score),
            range(&single, |r| r.null_mean),
            max_p(&single)
        )
    };
    // Twelve control rows: one of them below 0.05 is expected by chance, so judge them by z.
    let max_z = controls.iter().map(|r| r.z.abs()).fold(0.0, f64::max);
    let min_p = controls.iter().map(|r| r.p_value).fold(1.0, f64::min);
    let control_text = if max_z < 3.0 {
        format!(
            "the random control is at chance (|z| <= {max_z:.1}, smallest p {:.3})",
            (min_p * 1000.0).floor() / 1000.0
        )
    } else {
        format!("the random control is NOT at chance (|z| up to {max_z:.1}): check the data")
    };
    format!(
        "Finding: perceptual colour space (Lab) and language-model embeddings of colour names share nearest \
         neighbours far more often than chance ({} vs {} at k = 10 on all {} names, {}), but on the full list much of \
         that agreement is shared spelling (\"light blue\" sits near \"blue\" in both); on the {} single-word names \
         Lab {}, and {}.",
        range(&all, |r| r.score),
        range(&all, |r| r.null_mean),
        all.first().map_or(0, |r| r.n),
        p_text(max_p(&all)),
        single.first().map_or(0, |r| r.n),
        single_text,
        control_text
    )
}

/// The JSON object of `--json`: the rows, the run's parameters and the heatmap's matrix.
pub(crate) fn json(data: &DemoData, res: &Results, cal: &CalibrationOptions, plot_path: Option<&Path>) -> String {
    let rows: Vec<_> = res
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "a": r.a, "b": r.b, "subset": r.subset, "n": r.n, "k": r.k, "score": r.score,
                "null_mean": r.null_mean, "null_std": r.null_std, "z": r.z, "p_value": r.p_value,
            })
        })
        .collect();
    let labels: Vec<_> = REPRESENTATIONS.iter().map(|r| r.key).collect();
    serde_json::json!({
        "rows": rows,
        "metric": "mutual_knn",
        "similarity": "cosine",
        "permutations": cal.permutations,
        "seed": cal.seed,
        "n_names": data.names.len(),
        "data": data.source,
        "matrix": { "labels": labels, "subset": "all", "k": MATRIX_K, "scores": res.matrix },
        "plot": plot_path.map(|p| p.display().to_string()),
    })
    .to_string()
}
