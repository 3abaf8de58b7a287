//! `repalign sweep`: every layer pair of two inputs as a matrix (JSON, CSV or a table with the
//! best pair starred), optionally calibrated and drawn as a heatmap.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::io::{self, Write};
use std::time::Instant;

use serde_json::{Value, json};

use crate::Metric;
use crate::sweep::SweepResult;

use super::{
    calibration_rows, exec, isa_name, load_pair, prepare_mode, same_samples, score_layers, warnings, with_run_keys,
};
use crate::cli::args::{Args, Fail};
use crate::cli::input::Features;
use crate::cli::metric::{check_cca_dim, check_k, metric_json, metric_of, metric_text};
use crate::cli::output::{self, number, print_json};
use crate::cli::plot;
use crate::cli::stepwise::Side;

/// `repalign sweep A B`: the layer-pair matrix and its best pair as JSON, CSV or a table;
/// `--plot` draws it.
pub(crate) fn run(a: Args) -> Result<(), Fail> {
    let [pa, pb] = &a.positional[..] else {
        return Err(Fail::Usage("sweep takes two input files".into()));
    };
    let (name, metric) = metric_of(&a)?;
    let (mode_name, mode) = prepare_mode(&a, "none")?;
    let q = a.q.unwrap_or(0.95);
    if let Some(plot) = &a.plot {
        output::check_output("--plot", plot, &a.positional)?;
    }
    let (mut fa, mut fb) = load_pair(pa, pb, &a, "sweep", false)?;
    same_samples(&fa, &fb)?;
    check_k(fa.rows(), metric)?;
    check_cca_dim(fa.rows(), fa.dim(), fb.dim(), metric)?;
    let start = Instant::now();
    // In place: a prepared copy's fresh pages cost 34-40 ms of a 130 ms 13 x 13 sweep.
    fa.prepare(mode, q, &exec(&a))?;
    fb.prepare(mode, q, &exec(&a))?;
    let (la, lb) = (fa.tensor()?.layer_views(), fb.tensor()?.layer_views());
    // Layers are named by the file's own indices (`layers.3.out` is layer 3); positions stay
    // in `best_index` and the matrix.
    let (ids_a, ids_b) = (fa.layer_ids(), fb.layer_ids());
    let sa = Side { source: &fa.source, layers: &la, layer_ids: &ids_a };
    let sb = Side { source: &fb.source, layers: &lb, layer_ids: &ids_b };
    let (r, calibration) = score_layers(&a, &sa, &sb, &metric)?;
    let seconds = start.elapsed().as_secs_f64();
    let warnings = warnings(&r, [&sa, &sb]);
    let matrix: Vec<Vec<f64>> = r.scores.chunks(r.cols).map(<[f64]>::to_vec).collect();
    let isa = isa_name(r.isa);
    let best_layers = r.best_index.map(|(i, j)| (ids_a[i], ids_b[j]));
    // The heatmap first: with stdout's reader gone, the file is still written.
    if let Some(path) = &a.plot {
        let title = format!("{} between layers, prepare {mode_name}", metric_text(&name, metric));
        let x_label = format!("layer of B ({})", fb.source);
        let y_label = format!("layer of A ({})", fa.source);
        let (rows, cols): (Vec<String>, Vec<String>) =
            (ids_a.iter().map(usize::to_string).collect(), ids_b.iter().map(usize::to_string).collect());
        let map = plot::Heatmap {
            scores: &matrix,
            best: r.best_index,
            title: &title,
            x_label: &x_label,
            y_label: &y_label,
            row_labels: Some(&rows),
            col_labels: Some(&cols),
            annotate: true,
        };
        plot::write_heatmap_labeled(std::path::Path::new(path), &map)?;
    }
    if a.json {
        let mut o = metric_json(&name, metric);
        o.insert("prepare".into(), mode_name.clone().into());
        o.insert("n".into(), fa.rows().into());
        o.insert("layers_a".into(), r.rows.into());
        o.insert("layers_b".into(), r.cols.into());
        o.insert("layer_ids_a".into(), json!(ids_a));
        o.insert("layer_ids_b".into(), json!(ids_b));
        let rows = matrix.iter().map(|row| Value::Array(row.iter().map(|&x| number(x)).collect()));
        o.insert("scores".into(), Value::Array(rows.collect()));
        o.insert("best".into(), number(r.best));
        o.insert("best_index".into(), r.best_index.map_or(Value::Null, |(i, j)| json!([i, j])));
        o.insert("best_layers".into(), best_layers.map_or(Value::Null, |(i, j)| json!([i, j])));
        print_json(with_run_keys(o, isa, seconds, warnings, calibration.as_ref(), &a))?;
    } else if a.csv {
        output::print_csv(&r.scores, r.cols)?;
    } else {
        let best = match best_layers {
            Some((i, j)) => format!("{:.6} at layer {i} of A, layer {j} of B (* above)", r.best),
            None => "none: no pair scores above 0".into(),
        };
        let mut rows = vec![("best", best)];
        rows.extend(calibration.as_ref().map(calibration_rows).unwrap_or_default());
        rows.push(("isa", isa.into()));
        rows.push(("seconds", format!("{seconds:.3}")));
        rows.extend(warnings.into_iter().map(|w| ("warning", w)));
        output::to_stdout(|w| {
            write_sweep_table(w, &name, metric, &mode_name, (&fa, &ids_a), (&fb, &ids_b), &r)?;
            w.write_all(output::table(&rows).as_bytes())
        })?;
    }
    Ok(())
}

/// The L_A x L_B table, rows and columns headed by layer ids (`A3` is layer 3 of A), the best
/// pair starred.
fn write_sweep_table(
    w: &mut dyn Write,
    name: &str,
    metric: Metric,
    mode: &str,
    (fa, ids_a): (&Features, &[usize]),
    (fb, ids_b): (&Features, &[usize]),
    r: &SweepResult,
) -> io::Result<()> {
    writeln!(w, "{}, prepare {mode}, N = {}", metric_text(name, metric), fa.rows())?;
    writeln!(w, "rows: layers of A ({}); columns: layers of B ({})", fa.source, fb.source)?;
    let head: Vec<String> = ids_b.iter().map(|j| format!("{:>8} ", format!("B{j}"))).collect();
    writeln!(w, "{:>5} {}", "", head.join(" "))?;
    for (i, row) in r.scores.chunks(r.cols).enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(j, s)| format!("{s:>8.4}{}", if r.best_index == Some((i, j)) { "*" } else { " " }))
            .collect();
        writeln!(w, "{:>5} {}", format!("A{}", ids_a[i]), cells.join(" "))?;
    }
    Ok(())
}
