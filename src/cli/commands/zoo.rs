//! `repalign zoo`: every model pair of a zoo (or group A × group B), each model's layers
//! computed once, optionally calibrated with Benjamini–Hochberg q-values across pairs.

use std::format;
use std::prelude::rust_2024::*;

use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde_json::{Value, json};

use super::{calibration_options, exec, isa_name, load, prepare_mode};
use crate::cli::args::{Args, Fail};
use crate::cli::input::Features;
use crate::cli::metric::{check_cca_dim, check_k, metric_json, metric_of, metric_text};
use crate::cli::output::{self, number, print_json};
use crate::cli::progress;
use crate::zoo::{Pairs, ZooPair, zoo};
use crate::{AnyMatrix, Progress};

/// A model on the command line: `NAME=PATH`, or a path named by its file stem.
fn model_spec(spec: &str) -> (String, &str) {
    match spec.split_once('=') {
        Some((name, path)) if !name.is_empty() && !name.contains('/') => (name.to_string(), path),
        _ => {
            let file = spec.rsplit('/').next().unwrap_or(spec);
            let file = file.split(':').next().unwrap_or(file);
            let stem = file.split('.').next().filter(|s| !s.is_empty()).unwrap_or(file);
            (stem.to_string(), spec)
        }
    }
}

/// `repalign zoo MODEL... [--group-b MODEL...]`: the model × model matrix of best-pair
/// scores, each pair's layer matrix and, with `--permutations`, p- and q-values.
pub(crate) fn run(a: Args) -> Result<(), Fail> {
    let first_b = a.group_b;
    if a.positional.len() < 2 || first_b.is_some_and(|b| b == 0 || b >= a.positional.len()) {
        return Err(Fail::Usage(
            "zoo takes two models or more; with --group-b, at least one model before it and one after".into(),
        ));
    }
    let (name, metric) = metric_of(&a)?;
    let (mode_name, mode) = prepare_mode(&a, "none")?;
    let q = a.q.unwrap_or(0.95);
    let mut names = Vec::new();
    let mut files = Vec::new();
    for spec in &a.positional {
        let (model, path) = model_spec(spec);
        if names.contains(&model) {
            return Err(Fail::Usage(format!(
                "two models are named '{model}': name them NAME=PATH (e.g. {model}2={path})"
            )));
        }
        files.push(load(path, &a, "zoo", false)?);
        names.push(model);
    }
    let n = files[0].rows();
    if let Some(f) = files.iter().find(|f| f.rows() != n) {
        return Err(Fail::Data(format!(
            "the models describe different samples: {} has N = {n} rows, {} has N = {}; row i of every model must be sample i",
            files[0].source,
            f.source,
            f.rows()
        )));
    }
    check_k(n, metric)?;
    for f in &files {
        check_cca_dim(n, f.dim(), f.dim(), metric)?;
    }
    let start = Instant::now();
    let mut buffers: Vec<Vec<f32>> = files.iter().map(|_| Vec::new()).collect();
    let run_exec = exec(&a);
    let mut layers: Vec<Vec<AnyMatrix<'_>>> = Vec::new();
    for (f, buf) in files.iter().zip(buffers.iter_mut()) {
        layers.push(f.prepared_layers(mode, q, &run_exec, buf)?);
    }
    let refs: Vec<&[AnyMatrix<'_>]> = layers.iter().map(Vec::as_slice).collect();
    let pairs = first_b.map_or(Pairs::All, |first_b| Pairs::Bipartite { first_b });
    let total_layers: usize = layers.iter().map(Vec::len).sum();
    let bar = progress::Progress::bar(progress::visible(a.quiet), total_layers as u64, "");
    // The layer being worked on, so an error can name it.
    let at = Mutex::new(None::<(usize, usize)>);
    let ids: Vec<Vec<usize>> = files.iter().map(Features::layer_ids).collect();
    let hook = |p: Progress| match p {
        Progress::Layer { model, layer, layers } => {
            let mut at = at.lock().unwrap_or_else(PoisonError::into_inner);
            if at.is_some() {
                bar.step();
            }
            *at = Some((model, layer));
            bar.message(format!("{}: layer {}/{layers}", names[model], layer + 1));
        }
        Progress::ModelPairs { done, total } => {
            let mut at = at.lock().unwrap_or_else(PoisonError::into_inner);
            if at.take().is_some() {
                bar.step();
                bar.phase(total as u64, format!("{total} model pairs"));
            }
            bar.report(done, total);
        }
        _ => {}
    };
    let calibration = calibration_options(&a);
    let result = zoo(&refs, &metric, pairs, calibration.as_ref(), &run_exec.with_progress(&hook));
    drop(bar);
    let result = result.map_err(|e| match *at.lock().unwrap_or_else(PoisonError::into_inner) {
        Some((m, l)) if files[m].layers() > 1 => format!("{} (layer {}): {e}", files[m].source, ids[m][l]),
        Some((m, _)) => format!("{}: {e}", files[m].source),
        None => e.to_string(),
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let isa = isa_name(result.pairs.first().and_then(|p| p.sweep.isa));
    let warnings = warnings(&result.pairs, &names, &ids);
    let (row_names, col_names) = match pairs {
        Pairs::All => (&names[..], &names[..]),
        Pairs::Bipartite { first_b } => (&names[..first_b], &names[first_b..]),
    };
    if a.json {
        let mut o = metric_json(&name, metric);
        o.insert("prepare".into(), mode_name.clone().into());
        o.insert("n".into(), n.into());
        let models = files.iter().zip(&names).zip(&ids).map(|((f, name), ids)| {
            json!({"name": name, "source": f.source, "layers": f.layers(), "layer_ids": ids, "dim": f.dim(), "dtype": f.dtype()})
        });
        o.insert("models".into(), Value::Array(models.collect()));
        let pair_json = |p: &ZooPair| {
            let r = &p.sweep;
            let scores =
                r.scores.chunks(r.cols.max(1)).map(|row| Value::Array(row.iter().map(|&x| number(x)).collect()));
            let mut v = json!({
                "a": names[p.a], "b": names[p.b],
                "scores": Value::Array(scores.collect()),
                "best": number(r.best),
                "best_index": r.best_index.map_or(Value::Null, |(i, j)| json!([i, j])),
                "best_layers": r.best_index.map_or(Value::Null, |(i, j)| json!([ids[p.a][i], ids[p.b][j]])),
            });
            if let (Some(c), Value::Object(m)) = (&p.calibration, &mut v) {
                for (key, x) in [
                    ("p_value", c.p_value),
                    ("q_value", p.q_value.unwrap_or(f64::NAN)),
                    ("holm", p.holm.unwrap_or(f64::NAN)),
                    ("z", c.z),
                    ("null_mean", c.null_mean),
                    ("tau", c.tau),
                    ("calibrated", c.calibrated),
                ] {
                    m.insert(key.into(), number(x));
                }
            }
            v
        };
        o.insert("pairs".into(), Value::Array(result.pairs.iter().map(pair_json).collect()));
        o.insert("rows".into(), json!(row_names));
        o.insert("cols".into(), json!(col_names));
        let rows = result.matrix.chunks(result.cols).map(|row| Value::Array(row.iter().map(|&x| number(x)).collect()));
        o.insert("matrix".into(), Value::Array(rows.collect()));
        if let Some(c) = &calibration {
            o.insert("calibration".into(), json!({"permutations": c.permutations, "seed": c.seed, "alpha": c.alpha}));
        }
        o.insert("isa".into(), isa.into());
        o.insert("seconds".into(), number(seconds));
        o.insert("warnings".into(), warnings.into());
        print_json(o)?;
    } else if a.csv {
        output::to_stdout(|w| {
            writeln!(w, "model,{}", col_names.join(","))?;
            for (row, r) in result.matrix.chunks(result.cols).zip(row_names) {
                let cells: Vec<String> =
                    row.iter().map(|x| if x.is_nan() { String::new() } else { x.to_string() }).collect();
                writeln!(w, "{r},{}", cells.join(","))?;
            }
            Ok(())
        })?;
    } else {
        output::to_stdout(|w| {
            writeln!(
                w,
                "{}, prepare {mode_name}, N = {n}: best layer pair of each model pair",
                metric_text(&name, metric)
            )?;
            let width = names.iter().map(String::len).max().unwrap_or(0).max(6);
            write!(w, "{:width$}", "")?;
            for c in col_names {
                write!(w, "  {c:>width$}")?;
            }
            writeln!(w)?;
            for (row, r) in result.matrix.chunks(result.cols).zip(row_names) {
                write!(w, "{r:width$}")?;
                for x in row {
                    if x.is_nan() { write!(w, "  {:>width$}", "-")? } else { write!(w, "  {x:>width$.4}")? }
                }
                writeln!(w)?;
            }
            writeln!(w)?;
            for p in &result.pairs {
                let best = match p.sweep.best_index {
                    Some((i, j)) => format!("{:.4} at layers {} / {}", p.sweep.best, ids[p.a][i], ids[p.b][j]),
                    None => "none above 0".into(),
                };
                write!(w, "{} vs {}: {best}", names[p.a], names[p.b])?;
                if let (Some(c), Some(q)) = (&p.calibration, p.q_value) {
                    write!(w, ", p = {:.4}, q = {q:.4}, z = {:.1}", c.p_value, c.z)?;
                }
                writeln!(w)?;
            }
            writeln!(w, "isa {isa}, {seconds:.3} s")?;
            for t in &warnings {
                writeln!(w, "warning: {t}")?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Each pair's warnings, naming the model and layer (by the file's layer id), once each;
/// also written to stderr.
fn warnings(pairs: &[ZooPair], names: &[String], ids: &[Vec<usize>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in pairs {
        for w in &p.sweep.warnings {
            let (side, layer) = w.layer();
            let model = if side == 0 { p.a } else { p.b };
            let text = match ids[model].len() {
                1 => format!("{}: {}", names[model], w.message()),
                _ => format!("{} (layer {}): {}", names[model], ids[model].get(layer).unwrap_or(&layer), w.message()),
            };
            if !out.contains(&text) {
                out.push(text);
            }
        }
    }
    for t in &out {
        let _ = writeln!(std::io::stderr(), "repalign: warning: {t}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::model_spec;

    #[test]
    fn models_are_named_by_stem_or_name() {
        assert_eq!(model_spec("data/e5.f16.npy"), ("e5".into(), "data/e5.f16.npy"));
        assert_eq!(model_spec("vit=runs/a.npy"), ("vit".into(), "runs/a.npy"));
        assert_eq!(model_spec("x.safetensors:layers.{}.out"), ("x".into(), "x.safetensors:layers.{}.out"));
        assert_eq!(model_spec("dir=x/y.npy"), ("dir".into(), "x/y.npy"));
        assert_eq!(model_spec("a/b=c.npy"), ("b=c".into(), "a/b=c.npy"));
    }
}
