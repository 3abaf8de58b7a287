//! `repalign`: kNN graphs and alignment scores of `.npy` feature files from the shell.
//!
//! ```text
//! repalign knn X.npy --k 10 [--cosine] [--threads N] [--isa NAME] --out graph.npy
//! repalign score A.npy B.npy --metric NAME [--k 10] [--kernel ip|rbf] [--sigma S] [--unbiased|--biased]
//!                [--cca-dim 10] [--normalize] [--threads N] [--isa NAME] [--json]
//! repalign sweep A.npy B.npy --metric NAME --k 10 --prepare none|normalize|paper|paper-per-sample [--json]
//! repalign prepare X.npy --prepare paper [--q 0.95] --out Y.npy
//! repalign isa
//! ```
//! Exit status: 0 success, 1 bad data or computation error, 2 bad command line.

use std::process::ExitCode;
use std::time::Instant;

use repalign::calibrate::{Calibration, CalibrationOptions, calibrate};
use repalign::knn::{self, KnnOptions, Similarity};
use repalign::metrics::Kernel;
use repalign::npy::{self, NpyData};
use repalign::prepare::{self, Layers, Prepare};
use repalign::sweep::{Metric, SweepResult, sweep};
use repalign::{AnyMatrix, Isa, Matrix};

const USAGE: &str = "\
repalign: exact kNN graphs and representation alignment (mutual kNN)

USAGE:
  repalign knn X.npy --k K --out GRAPH.npy [--cosine] [--threads N] [--isa NAME]
      Writes the N x K int32 graph: row i lists the K most similar other rows,
      best first (higher similarity, then lower index).
  repalign score A.npy B.npy --metric NAME [--k K] [--normalize] [--json] [metric options]
      Alignment of two representations of the same N samples (rows, 2-D .npy).
  repalign sweep A.npy B.npy --metric NAME [--k K] [--prepare MODE] [--json] [metric options]
      Every layer pair of two models (3-D .npy, N x L x D): the L_A x L_B scores and the best
      pair (the first maximum in row-major order; none when no pair scores above 0).
  repalign prepare X.npy --prepare MODE [--q Q] --out Y.npy
      Writes the prepared float32 features (same shape), e.g. clamped and normalised once
      for many sweeps; prints the clamp threshold.
  repalign isa
      Lists the instruction sets available here; the first is the default.

METRICS (the reference's names):
  mutual_knn cycle_knn lcs_knn edit_distance_knn jaccard_knn   kNN graphs, --k (default 10)
  cka unbiased_cka      --kernel ip|rbf (default ip), --sigma S (rbf, default 1)
  cknna                 --k (topk >= 2, default 10), unbiased unless --biased
  svcca                 --cca-dim (default 10), exact (deterministic) computation
  --unbiased / --biased override a metric's default (cka biased, cknna unbiased).

OPTIONS:
  --k K          neighbours per row (1 <= K <= N-1)
  --cosine       rank by cosine similarity instead of the raw inner product
  --normalize    L2-normalise rows before the metric (v / max(|v|, 1e-12))
  --prepare MODE sweep: none (default), normalize, paper (exact 0.95 clamp + normalise),
                 paper-per-sample (per-sample clamp + normalise); --q Q sets the quantile
  --threads N    worker threads, 0 = all cores (default 0); results never depend on it
  --isa NAME     force a backend (see `repalign isa`); results never depend on it
  --permutations P  score, sweep: calibrate against P random permutations of B's rows
                 (the sweep's null is the null of its maximum); --seed S (default 0),
                 --alpha A (default 0.05) for the threshold tau; --json gains \"calibration\"
  --json         print one JSON object (score: metric, k, score, ...; sweep: scores,
                 best, best_index, ...)
  --out PATH     output file of `knn` and `prepare`
Inputs are .npy arrays of float32 or float16 in C order.
";

/// A command-line failure: usage errors exit with 2, data errors with 1.
enum Fail {
    Usage(String),
    Data(String),
}

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Data(e.to_string())
    }
}

#[derive(Default)]
struct Args {
    positional: Vec<String>,
    k: Option<usize>,
    metric: Option<String>,
    out: Option<String>,
    cosine: bool,
    normalize: bool,
    json: bool,
    threads: usize,
    isa: Option<Isa>,
    kernel: Option<String>,
    sigma: Option<f64>,
    unbiased: Option<bool>,
    cca_dim: Option<usize>,
    prepare: Option<String>,
    q: Option<f64>,
    permutations: Option<usize>,
    seed: u64,
    alpha: Option<f64>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, Fail> {
    let mut a = Args::default();
    let number = |flag: &str, v: Option<String>| -> Result<usize, Fail> {
        let v = v.ok_or_else(|| Fail::Usage(format!("{flag} needs a value")))?;
        v.parse().map_err(|_| Fail::Usage(format!("{flag}: '{v}' is not a non-negative integer")))
    };
    let float = |flag: &str, v: Option<String>| -> Result<f64, Fail> {
        let v = v.ok_or_else(|| Fail::Usage(format!("{flag} needs a value")))?;
        v.parse().map_err(|_| Fail::Usage(format!("{flag}: '{v}' is not a number")))
    };
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--k" => a.k = Some(number("--k", argv.next())?),
            "--threads" => a.threads = number("--threads", argv.next())?,
            "--metric" => a.metric = Some(argv.next().ok_or_else(|| Fail::Usage("--metric needs a value".into()))?),
            "--out" => a.out = Some(argv.next().ok_or_else(|| Fail::Usage("--out needs a path".into()))?),
            "--isa" => {
                let name = argv.next().ok_or_else(|| Fail::Usage("--isa needs a value".into()))?;
                let isa = Isa::from_name(&name).ok_or_else(|| {
                    let names: Vec<_> = Isa::ALL.iter().map(|i| i.name()).collect();
                    Fail::Usage(format!("--isa: unknown '{name}' (one of: {})", names.join(", ")))
                })?;
                a.isa = Some(isa);
            }
            "--kernel" => a.kernel = Some(argv.next().ok_or_else(|| Fail::Usage("--kernel needs ip or rbf".into()))?),
            "--sigma" => a.sigma = Some(float("--sigma", argv.next())?),
            "--q" => a.q = Some(float("--q", argv.next())?),
            "--cca-dim" => a.cca_dim = Some(number("--cca-dim", argv.next())?),
            "--prepare" => a.prepare = Some(argv.next().ok_or_else(|| Fail::Usage("--prepare needs a mode".into()))?),
            "--permutations" => a.permutations = Some(number("--permutations", argv.next())?),
            "--seed" => a.seed = number("--seed", argv.next())? as u64,
            "--alpha" => a.alpha = Some(float("--alpha", argv.next())?),
            "--unbiased" => a.unbiased = Some(true),
            "--biased" => a.unbiased = Some(false),
            "--cosine" => a.cosine = true,
            "--normalize" => a.normalize = true,
            "--json" => a.json = true,
            s if s.starts_with("--") => return Err(Fail::Usage(format!("unknown option {s}"))),
            _ => a.positional.push(arg),
        }
    }
    Ok(a)
}

/// A feature file, owned; `view` and `layers` borrow it without copying.
struct Features {
    shape: Vec<usize>,
    data: NpyData,
}

impl Features {
    fn load(path: &str, dims: usize) -> Result<Features, Fail> {
        let a = npy::read(path).map_err(|e| Fail::Data(e.to_string()))?;
        if a.shape.len() != dims {
            let want = if dims == 2 { "a 2-D array (N x D)" } else { "a 3-D array (N x L x D)" };
            return Err(Fail::Data(format!("{path}: expected {want}, got shape {:?}", a.shape)));
        }
        if matches!(a.data, NpyData::I32(_)) {
            return Err(Fail::Data(format!("{path}: features must be float32 or float16, not int32")));
        }
        Ok(Features { shape: a.shape, data: a.data })
    }

    fn rows(&self) -> usize {
        self.shape[0]
    }

    /// The whole file as an N x L x D tensor (a 2-D file is one layer).
    fn prepared(&self, mode: Prepare, q: f64) -> Result<(Vec<f32>, [usize; 3]), Fail> {
        let s = match self.shape[..] {
            [n, d] => [n, 1, d],
            [n, l, d] => [n, l, d],
            _ => unreachable!("checked in load"),
        };
        let (values, _) = match &self.data {
            NpyData::F32(v) => prepare::prepare(&Layers::new(v, s[0], s[1], s[2])?, mode, q)?,
            NpyData::F16(v) => prepare::prepare(&Layers::new(v, s[0], s[1], s[2])?, mode, q)?,
            NpyData::I32(_) => unreachable!("rejected in load"),
        };
        Ok((values, s))
    }

    fn view(&self) -> Result<AnyMatrix<'_>, Fail> {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        Ok(match &self.data {
            NpyData::F32(v) => Matrix::new(v, rows, cols)?.into(),
            NpyData::F16(v) => Matrix::new(v, rows, cols)?.into(),
            NpyData::I32(_) => unreachable!("rejected in load"),
        })
    }
}

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
        None => {
            let names =
                "mutual_knn, cycle_knn, lcs_knn, edit_distance_knn, jaccard_knn, cka, unbiased_cka, cknna, svcca";
            return Err(Fail::Usage(format!("--metric: unknown '{name}' (one of: {names})")));
        }
    };
    Ok((name, metric))
}

/// Scores every layer pair, calibrated when `--permutations` is given.
fn score_layers(
    a: &Args,
    layers_a: &[AnyMatrix<'_>],
    layers_b: &[AnyMatrix<'_>],
    metric: Metric,
    opts: &KnnOptions,
) -> Result<(SweepResult, Option<Calibration>), Fail> {
    match a.permutations {
        None => Ok((sweep(layers_a, layers_b, metric, opts)?, None)),
        Some(permutations) => {
            let cal =
                CalibrationOptions { permutations, seed: a.seed, alpha: a.alpha.unwrap_or(0.05), threads: a.threads };
            let (result, c) = calibrate(layers_a, layers_b, metric, opts, &cal)?;
            Ok((result, Some(c)))
        }
    }
}

/// `, "calibration": {...}` for JSON output, or nothing.
fn calibration_json(c: &Option<Calibration>, a: &Args) -> String {
    let Some(c) = c else { return String::new() };
    format!(
        ", \"calibration\": {{\"permutations\": {}, \"seed\": {}, \"alpha\": {}, \"raw\": {}, \"null_mean\": {}, \"null_median\": {}, \"null_std\": {}, \"z\": {}, \"p_value\": {}, \"tau\": {}, \"calibrated\": {}}}",
        c.null.len(),
        a.seed,
        a.alpha.unwrap_or(0.05),
        json_number(c.raw),
        json_number(c.null_mean),
        json_number(c.null_median),
        json_number(c.null_std),
        json_number(c.z),
        json_number(c.p_value),
        json_number(c.tau),
        json_number(c.calibrated)
    )
}

/// One line of text for a calibration.
fn calibration_text(c: &Option<Calibration>) -> String {
    let Some(c) = c else { return String::new() };
    format!(
        "\n  null mean {:.6} (sd {:.6}), z = {:.2}, p = {:.4} ({} permutations), tau = {:.6}, calibrated {:.4}",
        c.null_mean,
        c.null_std,
        c.z,
        c.p_value,
        c.null.len(),
        c.tau,
        c.calibrated
    )
}

/// JSON fields describing a metric's parameters.
fn metric_json(name: &str, metric: Metric) -> String {
    match metric {
        Metric::Knn { k, .. } => format!("\"metric\": \"{name}\", \"k\": {k}"),
        Metric::Cka { kernel: Kernel::Linear, unbiased } => {
            format!("\"metric\": \"{name}\", \"kernel\": \"ip\", \"unbiased\": {unbiased}")
        }
        Metric::Cka { kernel: Kernel::Rbf { sigma }, unbiased } => {
            format!("\"metric\": \"{name}\", \"kernel\": \"rbf\", \"sigma\": {sigma}, \"unbiased\": {unbiased}")
        }
        Metric::Cknna { topk, unbiased } => format!("\"metric\": \"{name}\", \"k\": {topk}, \"unbiased\": {unbiased}"),
        Metric::Svcca { cca_dim } => format!("\"metric\": \"{name}\", \"cca_dim\": {cca_dim}"),
    }
}

fn json_number(x: f64) -> String {
    if x.is_finite() { format!("{x}") } else { "null".into() }
}

fn k_of(a: &Args) -> Result<usize, Fail> {
    a.k.ok_or_else(|| Fail::Usage("--k is required".into()))
}

fn cmd_knn(a: Args) -> Result<(), Fail> {
    let [input] = &a.positional[..] else {
        return Err(Fail::Usage("knn takes one input file".into()));
    };
    let out = a.out.as_deref().ok_or_else(|| Fail::Usage("knn needs --out GRAPH.npy".into()))?;
    let k = k_of(&a)?;
    let x = Features::load(input, 2)?;
    let similarity = if a.cosine { Similarity::Cosine } else { Similarity::InnerProduct };
    let start = Instant::now();
    let g = knn::graph(x.view()?, k, &KnnOptions { similarity, threads: a.threads, isa: a.isa })?;
    let seconds = start.elapsed().as_secs_f64();
    let graph: Vec<i32> = g.indices().iter().map(|&i| i as i32).collect();
    npy::write_i32(out, g.rows(), k, &graph)?;
    eprintln!("repalign: {} x {k} graph of {input} -> {out} ({seconds:.3} s, {})", g.rows(), g.isa());
    Ok(())
}

fn cmd_score(a: Args) -> Result<(), Fail> {
    let [pa, pb] = &a.positional[..] else {
        return Err(Fail::Usage("score takes two input files".into()));
    };
    let (name, metric) = metric_of(&a)?;
    let (fa, fb) = (Features::load(pa, 2)?, Features::load(pb, 2)?);
    let opts = KnnOptions { similarity: Similarity::InnerProduct, threads: a.threads, isa: a.isa };
    let start = Instant::now();
    let (result, calibration) = if a.normalize {
        let ((va, sa), (vb, sb)) = (fa.prepared(Prepare::Normalize, 1.0)?, fb.prepared(Prepare::Normalize, 1.0)?);
        let (ma, mb) = (Matrix::new(&va, sa[0], sa[2])?, Matrix::new(&vb, sb[0], sb[2])?);
        score_layers(&a, &[ma.into()], &[mb.into()], metric, &opts)?
    } else {
        let opts =
            KnnOptions { similarity: if a.cosine { Similarity::Cosine } else { Similarity::InnerProduct }, ..opts };
        score_layers(&a, &[fa.view()?], &[fb.view()?], metric, &opts)?
    };
    let score = result.scores[0];
    let seconds = start.elapsed().as_secs_f64();
    let isa = a.isa.unwrap_or_else(Isa::best);
    if a.json {
        println!(
            "{{{}, \"score\": {}, \"n\": {}, \"normalize\": {}, \"isa\": \"{isa}\", \"seconds\": {seconds:.6}{}}}",
            metric_json(&name, metric),
            json_number(score),
            fa.rows(),
            a.normalize,
            calibration_json(&calibration, &a)
        );
    } else {
        println!("{name} (N = {}): {score:.6}{}", fa.rows(), calibration_text(&calibration));
    }
    Ok(())
}

fn cmd_sweep(a: Args) -> Result<(), Fail> {
    let [pa, pb] = &a.positional[..] else {
        return Err(Fail::Usage("sweep takes two input files".into()));
    };
    let (name, metric) = metric_of(&a)?;
    let mode_name = a.prepare.as_deref().unwrap_or("none");
    let mode = Prepare::from_name(mode_name).ok_or_else(|| {
        Fail::Usage(format!("--prepare: unknown '{mode_name}' (none, normalize, paper, paper-per-sample)"))
    })?;
    let q = a.q.unwrap_or(0.95);
    let (fa, fb) = (Features::load(pa, 3)?, Features::load(pb, 3)?);
    let start = Instant::now();
    let ((va, sa), (vb, sb)) = (fa.prepared(mode, q)?, fb.prepared(mode, q)?);
    let (la, lb) = (Layers::new(&va, sa[0], sa[1], sa[2])?, Layers::new(&vb, sb[0], sb[1], sb[2])?);
    let layers_a: Vec<AnyMatrix<'_>> = (0..sa[1]).map(|l| la.layer(l).into()).collect();
    let layers_b: Vec<AnyMatrix<'_>> = (0..sb[1]).map(|l| lb.layer(l).into()).collect();
    let opts = KnnOptions { similarity: Similarity::InnerProduct, threads: a.threads, isa: a.isa };
    let (r, calibration) = score_layers(&a, &layers_a, &layers_b, metric, &opts)?;
    let seconds = start.elapsed().as_secs_f64();
    let rows: Vec<String> = r
        .scores
        .chunks(r.cols)
        .map(|row| format!("[{}]", row.iter().map(|&x| json_number(x)).collect::<Vec<_>>().join(", ")))
        .collect();
    let best_index = r.best_index.map_or("null".to_string(), |(i, j)| format!("[{i}, {j}]"));
    if a.json {
        println!(
            "{{{}, \"prepare\": \"{mode_name}\", \"n\": {}, \"layers_a\": {}, \"layers_b\": {}, \"scores\": [{}], \"best\": {}, \"best_index\": {best_index}, \"seconds\": {seconds:.6}{}}}",
            metric_json(&name, metric),
            sa[0],
            r.rows,
            r.cols,
            rows.join(", "),
            json_number(r.best),
            calibration_json(&calibration, &a)
        );
    } else {
        for row in &rows {
            println!("{row}");
        }
        println!("best {name}: {:.6} at {best_index}{}", r.best, calibration_text(&calibration));
    }
    Ok(())
}

fn cmd_prepare(a: Args) -> Result<(), Fail> {
    let [input] = &a.positional[..] else {
        return Err(Fail::Usage("prepare takes one input file".into()));
    };
    let out = a.out.as_deref().ok_or_else(|| Fail::Usage("prepare needs --out Y.npy".into()))?;
    let mode_name = a.prepare.as_deref().unwrap_or("paper");
    let mode = Prepare::from_name(mode_name).ok_or_else(|| {
        Fail::Usage(format!("--prepare: unknown '{mode_name}' (none, normalize, paper, paper-per-sample)"))
    })?;
    let x = npy::read(input).map_err(|e| Fail::Data(e.to_string()))?;
    let s = match x.shape[..] {
        [n, d] => [n, 1, d],
        [n, l, d] => [n, l, d],
        _ => return Err(Fail::Data(format!("{input}: expected 2-D or 3-D features, got shape {:?}", x.shape))),
    };
    let start = Instant::now();
    let (values, threshold) = match &x.data {
        NpyData::F32(v) => prepare::prepare(&Layers::new(v, s[0], s[1], s[2])?, mode, a.q.unwrap_or(0.95))?,
        NpyData::F16(v) => prepare::prepare(&Layers::new(v, s[0], s[1], s[2])?, mode, a.q.unwrap_or(0.95))?,
        NpyData::I32(_) => return Err(Fail::Data(format!("{input}: features must be float32 or float16"))),
    };
    let seconds = start.elapsed().as_secs_f64();
    npy::write_f32(out, &x.shape, &values)?;
    println!(
        "{{\"prepare\": \"{mode_name}\", \"threshold\": {}, \"seconds\": {seconds:.6}}}",
        json_number(f64::from(threshold))
    );
    Ok(())
}

fn run() -> Result<(), Fail> {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        return Err(Fail::Usage("no command given".into()));
    };
    match command.as_str() {
        "knn" => cmd_knn(parse(argv)?),
        "score" => cmd_score(parse(argv)?),
        "sweep" => cmd_sweep(parse(argv)?),
        "prepare" => cmd_prepare(parse(argv)?),
        "isa" => {
            for isa in std::iter::once(Isa::best()).chain(Isa::available().filter(|&i| i != Isa::best())) {
                println!("{isa}");
            }
            Ok(())
        }
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        "-V" | "--version" => {
            println!("repalign {}", repalign::VERSION);
            Ok(())
        }
        other => Err(Fail::Usage(format!("unknown command '{other}'"))),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(msg)) => {
            eprintln!("repalign: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Fail::Data(msg)) => {
            eprintln!("repalign: error: {msg}");
            ExitCode::from(1)
        }
    }
}
