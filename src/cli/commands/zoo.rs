//! `repalign zoo`: every model pair of a zoo (or group A × group B), each model's layers
//! computed once, optionally calibrated with Benjamini–Hochberg q-values across pairs.

use std::format;
use std::prelude::rust_2024::*;

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde_json::{Value, json};

use super::{calibration_options, exec, isa_name, load_all, prepare_mode};
use crate::cache::StateCache;
use crate::cli::args::{Args, Fail};
use crate::cli::input::Features;
use crate::cli::metric::{check_cca_dim, check_k, metric_json, metric_of, metric_text};
use crate::cli::output::{self, number, print_json};
use crate::cli::plot;
use crate::cli::progress;
use crate::metrics::LayerState;
use crate::zoo::{
    Pairs, RankTest, ZooPair, ZooResult, mean_alignment, model_map, model_states_with, rank_correlation_test,
    zoo_states,
};
use crate::{AnyMatrix, Progress};

/// Orderings sampled by the performance test above [`crate::zoo::performance::EXACT`] models.
const PERFORMANCE_PERMUTATIONS: usize = 9_999;

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
    let mut paths = Vec::new();
    for spec in &a.positional {
        let (model, path) = model_spec(spec);
        if names.contains(&model) {
            return Err(Fail::Usage(format!(
                "two models are named '{model}': name them NAME=PATH (e.g. {model}2={path})"
            )));
        }
        names.push(model);
        paths.push(path);
    }
    let mut files = load_all(&paths, &a, "zoo", false)?;
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
    // Everything that can be refused is refused before the long part.
    let performance = a.performance.as_deref().map(|p| read_performance(p, &names)).transpose()?;
    if a.scatter.is_some() && performance.is_none() {
        return Err(Fail::Usage(
            "--scatter draws alignment against performance: it needs --performance PERF.csv".into(),
        ));
    }
    if a.map.is_some() && first_b.is_some() {
        return Err(Fail::Usage(
            "--map places models by their distances to every other model: a zoo with --group-b compares no model with its own group".into(),
        ));
    }
    for (flag, path) in [("--plot", &a.plot), ("--map", &a.map), ("--scatter", &a.scatter)] {
        if let Some(p) = path {
            output::check_output(flag, p, &a.positional)?;
        }
    }
    let cache = match &a.cache {
        Some(dir) => Some(StateCache::open(dir).map_err(|e| Fail::Data(format!("--cache {dir}: {e}")))?),
        None => None,
    };
    let start = Instant::now();
    let run_exec = exec(&a);
    // The files' own element types, for the report; then each prepared where it is (see
    // `sweep`).
    let dtypes: Vec<&str> = files.iter().map(Features::dtype).collect();
    for f in &mut files {
        f.prepare(mode, q, &run_exec)?;
    }
    let layers = files.iter().map(|f| Ok(f.tensor()?.layer_views())).collect::<Result<Vec<_>, String>>()?;
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
    let with_bar = run_exec.with_progress(&hook);
    let result = pairs.list(refs.len()).and_then(|_| {
        let states = model_states_with(&refs, &metric, &with_bar, |x, exec| match &cache {
            Some(c) => c.state(x, &metric, exec),
            None => LayerState::new(x, &metric, exec),
        })?;
        zoo_states(&states, pairs, calibration.as_ref(), &with_bar)
    });
    drop(bar);
    let result = result.map_err(|e| match *at.lock().unwrap_or_else(PoisonError::into_inner) {
        Some((m, l)) if files[m].layers() > 1 => format!("{} (layer {}): {e}", files[m].source, ids[m][l]),
        Some((m, _)) => format!("{}: {e}", files[m].source),
        None => e.to_string(),
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let isa = isa_name(result.pairs.first().and_then(|p| p.sweep.isa));
    let mut warnings = warnings(&result.pairs, &names, &ids);
    let cache_stats = cache.as_ref().map(StateCache::stats);
    if let Some(e) = cache_stats.as_ref().and_then(|s| s.first_write_error.clone()) {
        let text = format!(
            "the cache could not keep {} of the states computed (they were used, not stored): {e}",
            cache_stats.as_ref().map_or(0, |s| s.unwritten)
        );
        let _ = writeln!(std::io::stderr(), "repalign: warning: {text}");
        warnings.push(text);
    }
    let relation = match &performance {
        Some(perf) => Some(relate(&result, pairs, perf, &names, a.seed.unwrap_or(0))?),
        None => None,
    };
    let (row_names, col_names) = match pairs {
        Pairs::All => (&names[..], &names[..]),
        Pairs::Bipartite { first_b } => (&names[..first_b], &names[first_b..]),
    };
    let map = match &a.map {
        Some(_) => Some(model_map(&result, pairs, metric.max()).map_err(|e| Fail::Data(format!("--map: {e}")))?),
        None => None,
    };
    let title = format!("{}, prepare {mode_name}, N = {n}", metric_text(&name, metric));
    if let Some(path) = &a.plot {
        let alpha = calibration.as_ref().map_or(0.05, |c| c.alpha);
        let significant = calibration.as_ref().map(|_| {
            let mut s = vec![false; result.rows * result.cols];
            let offset = if let Pairs::Bipartite { first_b } = pairs { first_b } else { 0 };
            for p in &result.pairs {
                let yes = p.q_value.is_some_and(|q| q < alpha);
                s[p.a * result.cols + (p.b - offset)] = yes;
                if pairs == Pairs::All {
                    s[p.b * result.cols + p.a] = yes;
                }
            }
            s
        });
        let m = plot::ModelMatrix {
            rows: row_names.to_vec(),
            cols: col_names.to_vec(),
            values: result.matrix.clone(),
            significant,
            title: format!("{title}: best layer pair of each model pair"),
            value_label: if calibration.is_some() {
                format!("best score (* Benjamini-Hochberg q < {alpha})")
            } else {
                "best score".into()
            },
        };
        plot::write_model_matrix(Path::new(path), &m)?;
    }
    if let (Some(path), Some(m)) = (&a.map, &map) {
        let caption = match m.negative {
            0 => "classical MDS of d = -ln(best score); the distances are Euclidean".to_string(),
            k => format!(
                "classical MDS of d = -ln(best score); {k} negative eigenvalue{} ({:.1}% of the spectrum) dropped",
                if k == 1 { "" } else { "s" },
                100.0 * m.negative_share
            ),
        };
        let figure = plot::Map {
            names: names.clone(),
            x: m.x.clone(),
            y: m.y.clone(),
            title: format!("{title}: models by alignment"),
            groups: None,
            caption,
        };
        plot::write_map(Path::new(path), &figure)?;
    }
    if let (Some(path), Some(r)) = (&a.scatter, &relation) {
        let figure = plot::Scatter {
            names: r.models.iter().map(|&m| names[m].clone()).collect(),
            x: r.alignment.clone(),
            y: r.score.clone(),
            x_label: match pairs {
                Pairs::All => "mean alignment to the other models".into(),
                Pairs::Bipartite { .. } => "mean alignment to the other group".into(),
            },
            y_label: "performance score".into(),
            title: format!("{title}: alignment vs. performance"),
            annotation: format!("Spearman rho = {:.3}, p = {:.4} ({})", r.test.rho, r.test.p_value, r.how()),
        };
        plot::write_scatter(Path::new(path), &figure)?;
    }
    if a.json {
        let mut o = metric_json(&name, metric);
        o.insert("prepare".into(), mode_name.clone().into());
        o.insert("n".into(), n.into());
        let models = files.iter().zip(&names).zip(&ids).zip(&dtypes).map(|(((f, name), ids), dtype)| {
            json!({"name": name, "source": f.source, "n": f.rows(), "layers": f.layers(), "layer_ids": ids, "dim": f.dim(), "dtype": dtype})
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
        if let Some(r) = &relation {
            o.insert("performance".into(), r.json(&names));
        }
        if let Some(m) = &map {
            let models = names
                .iter()
                .zip(&m.x)
                .zip(&m.y)
                .map(|((name, &x), &y)| json!({"name": name, "x": number(x), "y": number(y)}));
            o.insert(
                "map".into(),
                json!({
                    "models": Value::Array(models.collect()),
                    "eigenvalues": Value::Array(m.eigenvalues.iter().map(|&v| number(v)).collect()),
                    "negative": m.negative,
                    "negative_share": number(m.negative_share),
                }),
            );
        }
        if let (Some(s), Some(dir)) = (&cache_stats, &a.cache) {
            o.insert(
                "cache".into(),
                json!({"dir": dir, "hits": s.hits, "computed": s.computed, "rejected": s.rejected, "unwritten": s.unwritten}),
            );
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
                // Layers are named only where a model has more than one.
                let best = match (p.sweep.best_index, ids[p.a].len() > 1, ids[p.b].len() > 1) {
                    (None, ..) => "none above 0".into(),
                    (Some((i, j)), true, true) => {
                        format!("{:.4} at layers {} / {}", p.sweep.best, ids[p.a][i], ids[p.b][j])
                    }
                    (Some((i, _)), true, false) => {
                        format!("{:.4} at layer {} of {}", p.sweep.best, ids[p.a][i], names[p.a])
                    }
                    (Some((_, j)), false, true) => {
                        format!("{:.4} at layer {} of {}", p.sweep.best, ids[p.b][j], names[p.b])
                    }
                    (Some(_), false, false) => format!("{:.4}", p.sweep.best),
                };
                write!(w, "{} vs {}: {best}", names[p.a], names[p.b])?;
                if let (Some(c), Some(q)) = (&p.calibration, p.q_value) {
                    write!(w, ", p = {:.4}, q = {q:.4}, z = {:.1}", c.p_value, c.z)?;
                }
                writeln!(w)?;
            }
            if let Some(r) = &relation {
                r.write(w, &names)?;
            }
            if let (Some(s), Some(dir)) = (&cache_stats, &a.cache) {
                write!(w, "cache {dir}: {} layer states read, {} computed", s.hits, s.computed)?;
                if s.rejected > 0 {
                    write!(w, " ({} damaged or unreadable entries replaced)", s.rejected)?;
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

/// Each model's task score from `path`: a CSV of `model,score` rows (a first row that is
/// not a number is a header), every model a zoo model's name, once. Models of the zoo that
/// are not listed are left out of the analysis.
fn read_performance(path: &str, names: &[String]) -> Result<Vec<(usize, f64)>, Fail> {
    let text = std::fs::read_to_string(path).map_err(|e| Fail::Data(format!("--performance {path}: {e}")))?;
    let mut out: Vec<(usize, f64)> = Vec::new();
    let mut first = true;
    for (line_no, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let header = std::mem::replace(&mut first, false);
        let bad = |what: String| Fail::Data(format!("{path}, line {line_no}: {what}"));
        let (model, score) = line.split_once(',').ok_or_else(|| bad("expected 'model,score'".into()))?;
        let (model, score) = (model.trim().trim_matches('"'), score.trim().trim_matches('"'));
        let Ok(value) = score.parse::<f64>() else {
            if header {
                continue;
            }
            return Err(bad(format!("'{score}' is not a number")));
        };
        if !value.is_finite() {
            return Err(bad(format!("the score of {model} is not finite")));
        }
        let at = names
            .iter()
            .position(|n| n == model)
            .ok_or_else(|| bad(format!("'{model}' is not a model of this zoo (its models: {})", names.join(", "))))?;
        if out.iter().any(|&(m, _)| m == at) {
            return Err(bad(format!("{model} is listed twice")));
        }
        out.push((at, value));
    }
    if out.len() < 3 {
        return Err(Fail::Data(format!(
            "{path}: a rank correlation needs the scores of 3 models or more (found {})",
            out.len()
        )));
    }
    Ok(out)
}

/// Each listed model's mean alignment against its task score.
struct Relation {
    models: Vec<usize>,
    alignment: Vec<f64>,
    score: Vec<f64>,
    test: RankTest,
}

fn relate(
    result: &ZooResult,
    pairs: Pairs,
    perf: &[(usize, f64)],
    names: &[String],
    seed: u64,
) -> Result<Relation, Fail> {
    let mean = mean_alignment(result, pairs);
    let models: Vec<usize> = perf.iter().map(|&(m, _)| m).collect();
    let alignment: Vec<f64> = models.iter().map(|&m| mean[m]).collect();
    let score: Vec<f64> = perf.iter().map(|&(_, s)| s).collect();
    if let Some(&m) = models.iter().zip(&alignment).find(|(_, x)| !x.is_finite()).map(|(m, _)| m) {
        return Err(Fail::Data(format!("{} has no finite mean alignment to relate to its score", names[m])));
    }
    let test = rank_correlation_test(&alignment, &score, PERFORMANCE_PERMUTATIONS, seed)
        .map_err(|e| Fail::Data(format!("alignment vs. performance: {e}")))?;
    Ok(Relation { models, alignment, score, test })
}

impl Relation {
    fn how(&self) -> String {
        if self.test.exact {
            format!("exact, all {} orderings", self.test.permutations)
        } else {
            format!("{} random orderings", self.test.permutations)
        }
    }

    fn json(&self, names: &[String]) -> Value {
        let models = self
            .models
            .iter()
            .zip(&self.alignment)
            .zip(&self.score)
            .map(|((&m, &x), &s)| json!({"name": names[m], "mean_alignment": number(x), "score": number(s)}));
        json!({
            "models": Value::Array(models.collect()),
            "spearman_rho": number(self.test.rho),
            "p_value": number(self.test.p_value),
            "permutations": self.test.permutations,
            "exact": self.test.exact,
        })
    }

    fn write(&self, w: &mut dyn Write, names: &[String]) -> std::io::Result<()> {
        writeln!(w)?;
        writeln!(
            w,
            "alignment vs. performance ({} models): Spearman rho = {:.4}, p = {:.4} ({})",
            self.models.len(),
            self.test.rho,
            self.test.p_value,
            self.how()
        )?;
        let width = self.models.iter().map(|&m| names[m].len()).max().unwrap_or(0).max(5);
        writeln!(w, "  {:width$}  {:>14}  {:>12}", "model", "mean alignment", "score")?;
        for ((&m, x), s) in self.models.iter().zip(&self.alignment).zip(&self.score) {
            writeln!(w, "  {:width$}  {x:>14.4}  {s:>12.4}", names[m])?;
        }
        Ok(())
    }
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
