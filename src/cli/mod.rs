//! The `repalign` command line: kNN graphs, alignment scores and layer sweeps of feature
//! files from the shell. A module of the library (feature `cli`, hidden from its docs) so that
//! tests import it; the binary, `src/bin/repalign.rs`, only calls [`main`].
//!
//! The library is `no_std`: each file of this module imports `std`'s prelude and the `std`
//! macros it uses.
//!
//! `args` holds the usage text and the option parser, `input` reads `.npy` and
//! `.safetensors` features, `stepwise` runs the library's sweep and calibration under a
//! `progress` bar, `output` prints JSON, tables and CSV; `plot` and `demo` are the heatmap
//! and the bundled colour study. Exit status: 0 success, 1 bad data or computation error,
//! 2 bad command line.

use std::prelude::rust_2024::*;
use std::{eprintln, format, print, println, vec};

mod args;
pub mod demo;
mod input;
mod output;
pub mod plot;
mod progress;
mod stepwise;

use std::process::ExitCode;
use std::time::Instant;

use crate::calibrate::{Calibration, CalibrationOptions};
use crate::knn::{self, KnnOptions, Similarity};
use crate::metrics::Kernel;
use crate::prepare::Prepare;
use crate::sweep::{Metric, SweepResult};
use crate::{AnyMatrix, Isa, Matrix};
use serde_json::{Value, json};

use args::{Args, Fail, USAGE};
use input::Features;
use output::{Object, number, print_json, print_table};
use stepwise::Side;

const METRICS: &str = "mutual_knn, cycle_knn, lcs_knn, edit_distance_knn, jaccard_knn, cka, unbiased_cka, cknna, svcca";

/// The metric named by `--metric` with its options, as the sweep computes it.
fn metric_of(a: &Args) -> Result<(String, Metric), Fail> {
    let name = a.metric.clone().unwrap_or_else(|| "mutual_knn".into());
    let k = a.k.unwrap_or(10);
    let kernel = match a.kernel.as_deref() {
        None | Some("ip") | Some("linear") => Kernel::Linear,
        Some("rbf") => Kernel::Rbf { sigma: a.sigma.unwrap_or(1.0) },
        Some(other) => return Err(Fail::Usage(format!("--kernel: unknown '{other}' (ip or rbf)"))),
    };
    let metric = match Metric::reference(&name, k) {
        Some(Metric::Cka { unbiased, .. }) => Metric::Cka { kernel, unbiased: a.unbiased.unwrap_or(unbiased) },
        Some(Metric::Cknna { topk, unbiased }) => Metric::Cknna { topk, unbiased: a.unbiased.unwrap_or(unbiased) },
        Some(Metric::Svcca { cca_dim }) => Metric::Svcca { cca_dim: a.cca_dim.unwrap_or(cca_dim) },
        Some(m) => m,
        None => return Err(Fail::Usage(format!("--metric: unknown metric '{name}' (valid: {METRICS})"))),
    };
    Ok((name, metric))
}

/// The metric's name and parameters, the first keys of `score` and `sweep` JSON.
fn metric_json(name: &str, metric: Metric) -> Object {
    let mut o = Object::new();
    o.insert("metric".into(), name.into());
    match metric {
        Metric::Knn { k, .. } => {
            o.insert("k".into(), k.into());
        }
        Metric::Cka { kernel, unbiased } => {
            match kernel {
                Kernel::Linear => o.insert("kernel".into(), "ip".into()),
                Kernel::Rbf { sigma } => {
                    o.insert("kernel".into(), "rbf".into());
                    o.insert("sigma".into(), number(sigma))
                }
            };
            o.insert("unbiased".into(), unbiased.into());
        }
        Metric::Cknna { topk, unbiased } => {
            o.insert("k".into(), topk.into());
            o.insert("unbiased".into(), unbiased.into());
        }
        Metric::Svcca { cca_dim } => {
            o.insert("cca_dim".into(), cca_dim.into());
        }
    }
    o
}

/// A one-line description of the metric for tables and plot titles.
fn metric_text(name: &str, metric: Metric) -> String {
    match metric {
        Metric::Knn { k, .. } => format!("{name} (k = {k})"),
        Metric::Cka { kernel: Kernel::Linear, .. } => name.to_string(),
        Metric::Cka { kernel: Kernel::Rbf { sigma }, .. } => format!("{name} (rbf, sigma = {sigma})"),
        Metric::Cknna { topk, unbiased } => format!("{name} (k = {topk}{})", if unbiased { "" } else { ", biased" }),
        Metric::Svcca { cca_dim } => format!("{name} (cca_dim = {cca_dim})"),
    }
}

fn calibration_json(c: &Calibration, a: &Args) -> Value {
    json!({
        "permutations": c.null.len(),
        "seed": a.seed,
        "alpha": a.alpha.unwrap_or(0.05),
        "raw": number(c.raw),
        "null_mean": number(c.null_mean),
        "null_median": number(c.null_median),
        "null_std": number(c.null_std),
        "z": number(c.z),
        "p_value": number(c.p_value),
        "tau": number(c.tau),
        "calibrated": number(c.calibrated),
    })
}

fn calibration_rows(c: &Calibration) -> Vec<(&'static str, String)> {
    vec![
        ("null mean", format!("{:.6} (sd {:.6}, median {:.6})", c.null_mean, c.null_std, c.null_median)),
        ("z", format!("{:.2}", c.z)),
        ("p-value", format!("{:.4} ({} permutations)", c.p_value, c.null.len())),
        ("tau", format!("{:.6}", c.tau)),
        ("calibrated", format!("{:.4}", c.calibrated)),
    ]
}

/// Reads an input, for a command that needs N x D (`dims == 2`) or any rank.
fn load(spec: &str, a: &Args, command: &str, two_d: bool) -> Result<Features, Fail> {
    let f = input::load(spec, a.tensor.as_deref())?;
    if two_d {
        f.require_2d(command)?;
    }
    Ok(f)
}

/// Both inputs must describe the same samples.
fn same_samples(fa: &Features, fb: &Features) -> Result<(), Fail> {
    if fa.rows() == fb.rows() {
        return Ok(());
    }
    Err(Fail::Data(format!(
        "the inputs describe different samples: {} has N = {} rows, {} has N = {}; row i of both must be sample i",
        fa.source,
        fa.rows(),
        fb.source,
        fb.rows()
    )))
}

/// k must leave room for the neighbours of N samples (self excluded for kNN metrics).
fn check_k(k: usize, n: usize, metric: Metric) -> Result<(), Fail> {
    let (lo, hi, why) = match metric {
        Metric::Knn { .. } => (1, n.saturating_sub(1), "N - 1: a row is not its own neighbour"),
        Metric::Cknna { .. } => (2, n, "N"),
        _ => return Ok(()),
    };
    if k < lo {
        return Err(Fail::Data(format!("--k {k} is too small: it must be at least {lo}")));
    }
    if k > hi {
        return Err(Fail::Data(format!("--k {k} is too large for N = {n} samples: at most {hi} ({why})")));
    }
    Ok(())
}

fn calibration_options(a: &Args, permutations: usize) -> CalibrationOptions {
    CalibrationOptions { permutations, seed: a.seed, alpha: a.alpha.unwrap_or(0.05), threads: a.threads }
}

/// Scores every layer pair, calibrated when `--permutations` is given.
fn score_layers(
    a: &Args,
    sa: &Side<'_>,
    sb: &Side<'_>,
    metric: Metric,
    opts: &KnnOptions,
) -> Result<(SweepResult, Option<Calibration>), Fail> {
    let visible = progress::visible(a.quiet);
    Ok(match a.permutations {
        None => (stepwise::sweep(sa, sb, metric, opts, visible)?, None),
        Some(p) => {
            let (r, c) = stepwise::calibrated(sa, sb, metric, opts, &calibration_options(a, p), visible)?;
            (r, Some(c))
        }
    })
}

fn cmd_knn(a: Args) -> Result<(), Fail> {
    let [input] = &a.positional[..] else {
        return Err(Fail::Usage("knn takes one input file".into()));
    };
    let k = a.k.ok_or_else(|| Fail::Usage("knn needs --k K".into()))?;
    if a.out.is_some() && a.csv {
        return Err(Fail::Usage("--csv prints the graph to stdout: give --out or --csv, not both".into()));
    }
    let x = load(input, &a, "knn", true)?;
    check_k(k, x.rows(), Metric::Knn { metric: crate::metrics::KnnMetric::Mutual, k })?;
    let similarity = if a.cosine { Similarity::Cosine } else { Similarity::InnerProduct };
    let start = Instant::now();
    let g = {
        let bar = progress::Progress::bar(
            progress::visible(a.quiet),
            1,
            &format!("kNN graph, {} x {} ({})", x.rows(), k, x.dtype()),
        );
        let opts = KnnOptions { similarity, threads: a.threads, isa: a.isa };
        knn::graph_with_progress(x.matrix()?, k, &opts, &|done, total| bar.report(done, total))
            .map_err(|e| format!("{}: {e}", x.source))?
    };
    let seconds = start.elapsed().as_secs_f64();
    let (n, d) = (g.rows(), x.dim());
    let similarity = if a.cosine { "cosine" } else { "inner_product" };
    let mut o = Object::new();
    for (key, value) in [
        ("n", json!(n)),
        ("d", json!(d)),
        ("k", json!(k)),
        ("similarity", json!(similarity)),
        ("isa", json!(g.isa().name())),
        ("seconds", number(seconds)),
    ] {
        o.insert(key.into(), value);
    }
    if let Some(out) = &a.out {
        let graph: Vec<i32> = g.indices().iter().map(|&i| i as i32).collect();
        output::write_npy(out, &[n, k], &graph)?;
        if a.json {
            o.insert("out".into(), json!(out));
            print_json(o);
        } else {
            print_table(&[
                ("graph", format!("{n} x {k} int32 -> {out}")),
                ("input", format!("{} ({n} x {d}, {})", x.source, x.dtype())),
                ("similarity", similarity.into()),
                ("isa", g.isa().name().into()),
                ("seconds", format!("{seconds:.3}")),
            ]);
        }
    } else if a.csv {
        output::print_csv(g.indices(), k)?;
    } else if a.json {
        let rows = |i: usize| json!(g.row(i));
        o.insert("indices".into(), Value::Array((0..n).map(rows).collect()));
        let sims = |i: usize| Value::Array(g.row_scores(i).iter().map(|&s| number(f64::from(s))).collect());
        o.insert("similarities".into(), Value::Array((0..n).map(sims).collect()));
        print_json(o);
    } else {
        println!("row  neighbours, best first ({similarity})");
        for i in 0..n {
            let row: Vec<String> = g.row(i).iter().map(u32::to_string).collect();
            println!("{i:<4} {}", row.join(" "));
        }
    }
    Ok(())
}

fn cmd_score(a: Args) -> Result<(), Fail> {
    let [pa, pb] = &a.positional[..] else {
        return Err(Fail::Usage("score takes two input files".into()));
    };
    let (name, metric) = metric_of(&a)?;
    let (fa, fb) = (load(pa, &a, "score", true)?, load(pb, &a, "score", true)?);
    same_samples(&fa, &fb)?;
    check_k(a.k.unwrap_or(10), fa.rows(), metric)?;
    let opts = KnnOptions { similarity: Similarity::InnerProduct, threads: a.threads, isa: a.isa };
    let start = Instant::now();
    let (result, calibration) = if a.normalize {
        let ((va, _), (vb, _)) = (fa.prepared(Prepare::Normalize, 1.0)?, fb.prepared(Prepare::Normalize, 1.0)?);
        let ma: [AnyMatrix<'_>; 1] = [Matrix::new(&va, fa.rows(), fa.dim())?.into()];
        let mb: [AnyMatrix<'_>; 1] = [Matrix::new(&vb, fb.rows(), fb.dim())?.into()];
        let (sa, sb) = (Side { source: &fa.source, layers: &ma }, Side { source: &fb.source, layers: &mb });
        score_layers(&a, &sa, &sb, metric, &opts)?
    } else {
        let similarity = if a.cosine { Similarity::Cosine } else { Similarity::InnerProduct };
        let (ma, mb) = ([fa.matrix()?], [fb.matrix()?]);
        let (sa, sb) = (Side { source: &fa.source, layers: &ma }, Side { source: &fb.source, layers: &mb });
        score_layers(&a, &sa, &sb, metric, &KnnOptions { similarity, ..opts })?
    };
    let score = result.scores[0];
    let seconds = start.elapsed().as_secs_f64();
    let isa = a.isa.unwrap_or_else(Isa::best);
    if a.json {
        let mut o = metric_json(&name, metric);
        o.insert("score".into(), number(score));
        o.insert("n".into(), fa.rows().into());
        o.insert("d_a".into(), fa.dim().into());
        o.insert("d_b".into(), fb.dim().into());
        o.insert("normalize".into(), a.normalize.into());
        o.insert("isa".into(), isa.name().into());
        o.insert("seconds".into(), number(seconds));
        if let Some(c) = &calibration {
            o.insert("calibration".into(), calibration_json(c, &a));
        }
        print_json(o);
    } else {
        let mut rows = vec![
            ("metric", metric_text(&name, metric)),
            ("score", format!("{score:.6}")),
            ("A", format!("{} ({} x {}, {})", fa.source, fa.rows(), fa.dim(), fa.dtype())),
            ("B", format!("{} ({} x {}, {})", fb.source, fb.rows(), fb.dim(), fb.dtype())),
            ("normalize", a.normalize.to_string()),
        ];
        rows.extend(calibration.as_ref().map(calibration_rows).unwrap_or_default());
        rows.push(("isa", isa.name().into()));
        rows.push(("seconds", format!("{seconds:.3}")));
        print_table(&rows);
    }
    Ok(())
}

fn prepare_mode(a: &Args, default: &str) -> Result<(String, Prepare), Fail> {
    let name = a.prepare.clone().unwrap_or_else(|| default.into());
    let mode = Prepare::from_name(&name).ok_or_else(|| {
        Fail::Usage(format!("--prepare: unknown mode '{name}' (valid: none, normalize, paper, paper-per-sample)"))
    })?;
    Ok((name, mode))
}

fn cmd_sweep(a: Args) -> Result<(), Fail> {
    let [pa, pb] = &a.positional[..] else {
        return Err(Fail::Usage("sweep takes two input files".into()));
    };
    let (name, metric) = metric_of(&a)?;
    let (mode_name, mode) = prepare_mode(&a, "none")?;
    let q = a.q.unwrap_or(0.95);
    let (fa, fb) = (load(pa, &a, "sweep", false)?, load(pb, &a, "sweep", false)?);
    same_samples(&fa, &fb)?;
    check_k(a.k.unwrap_or(10), fa.rows(), metric)?;
    let opts = KnnOptions { similarity: Similarity::InnerProduct, threads: a.threads, isa: a.isa };
    let start = Instant::now();
    let (r, calibration) = if mode == Prepare::None {
        let (la, lb) = (fa.layer_views()?, fb.layer_views()?);
        let (sa, sb) = (Side { source: &fa.source, layers: &la }, Side { source: &fb.source, layers: &lb });
        score_layers(&a, &sa, &sb, metric, &opts)?
    } else {
        let ((va, _), (vb, _)) = (fa.prepared(mode, q)?, fb.prepared(mode, q)?);
        let (la, lb) = (prepared_views(&va, &fa)?, prepared_views(&vb, &fb)?);
        let (sa, sb) = (Side { source: &fa.source, layers: &la }, Side { source: &fb.source, layers: &lb });
        score_layers(&a, &sa, &sb, metric, &opts)?
    };
    let seconds = start.elapsed().as_secs_f64();
    let matrix: Vec<Vec<f64>> = r.scores.chunks(r.cols).map(<[f64]>::to_vec).collect();
    let isa = a.isa.unwrap_or_else(Isa::best);
    if a.json {
        let mut o = metric_json(&name, metric);
        o.insert("prepare".into(), mode_name.clone().into());
        o.insert("n".into(), fa.rows().into());
        o.insert("layers_a".into(), r.rows.into());
        o.insert("layers_b".into(), r.cols.into());
        let rows = matrix.iter().map(|row| Value::Array(row.iter().map(|&x| number(x)).collect()));
        o.insert("scores".into(), Value::Array(rows.collect()));
        o.insert("best".into(), number(r.best));
        o.insert("best_index".into(), r.best_index.map_or(Value::Null, |(i, j)| json!([i, j])));
        o.insert("isa".into(), isa.name().into());
        o.insert("seconds".into(), number(seconds));
        if let Some(c) = &calibration {
            o.insert("calibration".into(), calibration_json(c, &a));
        }
        print_json(o);
    } else if a.csv {
        output::print_csv(&r.scores, r.cols)?;
    } else {
        print_sweep_table(&name, metric, &mode_name, &fa, &fb, &r);
        let best = match r.best_index {
            Some((i, j)) => format!("{:.6} at layer {i} of A, layer {j} of B (* above)", r.best),
            None => "none: no pair scores above 0".into(),
        };
        let mut rows = vec![("best", best)];
        rows.extend(calibration.as_ref().map(calibration_rows).unwrap_or_default());
        rows.push(("isa", isa.name().into()));
        rows.push(("seconds", format!("{seconds:.3}")));
        print_table(&rows);
    }
    if let Some(path) = &a.plot {
        let title = format!("{} between layers, prepare {mode_name}", metric_text(&name, metric));
        let x_label = format!("layer of B ({})", fb.source);
        let y_label = format!("layer of A ({})", fa.source);
        plot::write_heatmap(std::path::Path::new(path), &matrix, r.best_index, &title, &x_label, &y_label)?;
    }
    Ok(())
}

/// Each layer of prepared N x L x D values (shaped as `f`) as a borrowed view.
fn prepared_views<'v>(values: &'v [f32], f: &Features) -> Result<Vec<AnyMatrix<'v>>, Fail> {
    let x = crate::prepare::Layers::new(values, f.rows(), f.layers(), f.dim())?;
    Ok((0..f.layers()).map(|l| x.layer(l).into()).collect())
}

/// The L_A x L_B matrix with A's layers down and B's across, the best pair starred.
fn print_sweep_table(name: &str, metric: Metric, mode: &str, fa: &Features, fb: &Features, r: &SweepResult) {
    println!("{}, prepare {mode}, N = {}", metric_text(name, metric), fa.rows());
    println!("rows: layers of A ({}); columns: layers of B ({})", fa.source, fb.source);
    let head: Vec<String> = (0..r.cols).map(|j| format!("{:>8} ", format!("B{j}"))).collect();
    println!("{:>5} {}", "", head.join(" "));
    for (i, row) in r.scores.chunks(r.cols).enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(j, s)| format!("{s:>8.4}{}", if r.best_index == Some((i, j)) { "*" } else { " " }))
            .collect();
        println!("{:>5} {}", format!("A{i}"), cells.join(" "));
    }
}

fn cmd_prepare(a: Args) -> Result<(), Fail> {
    let [input] = &a.positional[..] else {
        return Err(Fail::Usage("prepare takes one input file".into()));
    };
    let out = a.out.as_deref().ok_or_else(|| Fail::Usage("prepare needs --out Y.npy".into()))?;
    let (mode_name, mode) = prepare_mode(&a, "paper")?;
    let q = a.q.unwrap_or(0.95);
    let x = load(input, &a, "prepare", false)?;
    let start = Instant::now();
    let (values, threshold) = {
        let _spinner = progress::Progress::spinner(progress::visible(a.quiet), &format!("prepare {mode_name}"));
        x.prepared(mode, q)?
    };
    let seconds = start.elapsed().as_secs_f64();
    output::write_npy(out, &x.shape, &values)?;
    let threshold = f64::from(threshold);
    if a.json {
        print_json(json!({
            "prepare": mode_name,
            "q": q,
            "threshold": number(threshold),
            "shape": x.shape,
            "out": out,
            "seconds": number(seconds),
        }));
    } else {
        let threshold = if threshold.is_finite() { format!("{threshold}") } else { "none (no clamping)".into() };
        print_table(&[
            ("prepare", mode_name),
            ("threshold", threshold),
            ("output", format!("{out} ({:?} float32)", x.shape)),
            ("seconds", format!("{seconds:.3}")),
        ]);
    }
    Ok(())
}

fn cmd_info(a: Args) -> Result<(), Fail> {
    if !a.positional.is_empty() {
        return Err(Fail::Usage("info takes no input file".into()));
    }
    let isa = match a.isa {
        Some(isa) if !isa.is_available() => {
            return Err(Fail::Data(format!("instruction set {isa} is not available on this CPU or build")));
        }
        Some(isa) => isa,
        None => Isa::best(),
    };
    let available: Vec<&str> = isas().map(Isa::name).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if a.threads == 0 { cores } else { a.threads };
    if a.json {
        print_json(json!({
            "version": crate::VERSION,
            "arch": std::env::consts::ARCH,
            "isa": isa.name(),
            "isas_available": available,
            "threads": threads,
        }));
    } else {
        let how = if a.isa.is_some() { "forced by --isa" } else { "the best available" };
        let cores_note = if a.threads == 0 { "all cores" } else { "set by --threads" };
        print_table(&[
            ("version", crate::VERSION.into()),
            ("arch", std::env::consts::ARCH.into()),
            ("isa", format!("{isa} ({how})")),
            ("isas available", available.join(", ")),
            ("threads", format!("{threads} ({cores_note}; {cores} available)")),
        ]);
    }
    Ok(())
}

/// Available instruction sets: the default first, then native ones, then the emulations.
fn isas() -> impl Iterator<Item = Isa> {
    let order = [Isa::X86V4, Isa::X86V3, Isa::Neon, Isa::Scalar, Isa::Emulated512, Isa::Emulated256, Isa::Emulated128];
    let rest = order.into_iter().chain(Isa::available().filter(move |i| !order.contains(i)));
    std::iter::once(Isa::best()).chain(rest.filter(|&i| i != Isa::best() && i.is_available()))
}

fn run() -> Result<(), Fail> {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        return Err(Fail::Usage("no command given".into()));
    };
    let command = command.as_str();
    match command {
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            return Ok(());
        }
        "-V" | "--version" => {
            println!("repalign {}", crate::VERSION);
            return Ok(());
        }
        "isa" => {
            if let Some(arg) = argv.next() {
                return Err(Fail::Usage(format!("isa takes no argument (got '{arg}')")));
            }
            isas().for_each(|isa| println!("{isa}"));
            return Ok(());
        }
        "demo" => return demo::run(&argv.collect::<Vec<_>>()).map_err(Fail::Data),
        _ => {}
    }
    let a = args::parse(command, argv)?;
    if a.help {
        print!("{USAGE}");
        return Ok(());
    }
    match command {
        "knn" => cmd_knn(a),
        "score" => cmd_score(a),
        "sweep" => cmd_sweep(a),
        "prepare" => cmd_prepare(a),
        "info" => cmd_info(a),
        _ => unreachable!("args::parse rejects unknown commands"),
    }
}

/// The `repalign` binary: runs the command line and maps a failure to its exit status.
pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(msg)) => {
            eprintln!("repalign: error: {msg}\nrun 'repalign --help' for usage");
            ExitCode::from(2)
        }
        Err(Fail::Data(msg)) => {
            eprintln!("repalign: error: {msg}");
            ExitCode::from(1)
        }
    }
}
