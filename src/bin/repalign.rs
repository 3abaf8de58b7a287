//! `repalign`: kNN graphs and alignment scores of `.npy` feature files from the shell.
//!
//! ```text
//! repalign knn X.npy --k 10 [--cosine] [--threads N] [--isa NAME] --out graph.npy
//! repalign score A.npy B.npy --metric mutual_knn --k 10 [--normalize] [--threads N] [--isa NAME] [--json]
//! repalign isa
//! ```
//! Exit status: 0 success, 1 bad data or computation error, 2 bad command line.

use std::process::ExitCode;
use std::time::Instant;

use repalign::knn::{self, KnnOptions, Similarity};
use repalign::npy::{self, NpyData};
use repalign::{AnyMatrix, Isa, Matrix, metrics};

const USAGE: &str = "\
repalign: exact kNN graphs and representation alignment (mutual kNN)

USAGE:
  repalign knn X.npy --k K --out GRAPH.npy [--cosine] [--threads N] [--isa NAME]
      Writes the N x K int32 graph: row i lists the K most similar other rows,
      best first (higher similarity, then lower index).
  repalign score A.npy B.npy --metric mutual_knn --k K [--normalize] [--json]
                 [--threads N] [--isa NAME]
      Alignment of two representations of the same N samples (rows).
  repalign isa
      Lists the instruction sets available here; the first is the default.

OPTIONS:
  --k K          neighbours per row (1 <= K <= N-1)
  --cosine       rank by cosine similarity instead of the raw inner product
  --normalize    L2-normalise rows before the metric (cosine; zero rows are an error)
  --threads N    worker threads, 0 = all cores (default 0); results never depend on it
  --isa NAME     force a backend (see `repalign isa`); results never depend on it
  --json         print one JSON object: {\"metric\", \"k\", \"score\", ...}
  --out PATH     output file of `knn`
Inputs are 2-D .npy arrays of float32 or float16 in C order.
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
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, Fail> {
    let mut a = Args::default();
    let number = |flag: &str, v: Option<String>| -> Result<usize, Fail> {
        let v = v.ok_or_else(|| Fail::Usage(format!("{flag} needs a value")))?;
        v.parse().map_err(|_| Fail::Usage(format!("{flag}: '{v}' is not a non-negative integer")))
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
            "--cosine" => a.cosine = true,
            "--normalize" => a.normalize = true,
            "--json" => a.json = true,
            s if s.starts_with("--") => return Err(Fail::Usage(format!("unknown option {s}"))),
            _ => a.positional.push(arg),
        }
    }
    Ok(a)
}

/// A 2-D feature file, owned; `view` borrows it without copying.
struct Features {
    rows: usize,
    cols: usize,
    data: NpyData,
}

impl Features {
    fn load(path: &str) -> Result<Features, Fail> {
        let a = npy::read(path).map_err(|e| Fail::Data(e.to_string()))?;
        if a.shape.len() != 2 {
            return Err(Fail::Data(format!("{path}: expected a 2-D array (N x D), got shape {:?}", a.shape)));
        }
        if matches!(a.data, NpyData::I32(_)) {
            return Err(Fail::Data(format!("{path}: features must be float32 or float16, not int32")));
        }
        Ok(Features { rows: a.shape[0], cols: a.shape[1], data: a.data })
    }

    fn view(&self) -> Result<AnyMatrix<'_>, Fail> {
        Ok(match &self.data {
            NpyData::F32(v) => Matrix::new(v, self.rows, self.cols)?.into(),
            NpyData::F16(v) => Matrix::new(v, self.rows, self.cols)?.into(),
            NpyData::I32(_) => unreachable!("rejected in load"),
        })
    }
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
    let x = Features::load(input)?;
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
    let metric = a.metric.as_deref().unwrap_or("mutual_knn");
    if metric != "mutual_knn" {
        return Err(Fail::Usage(format!("--metric: unknown '{metric}' (available: mutual_knn)")));
    }
    let k = k_of(&a)?;
    let (fa, fb) = (Features::load(pa)?, Features::load(pb)?);
    let similarity = if a.normalize || a.cosine { Similarity::Cosine } else { Similarity::InnerProduct };
    let opts = KnnOptions { similarity, threads: a.threads, isa: a.isa };
    let start = Instant::now();
    let score = metrics::mutual_knn(fa.view()?, fb.view()?, k, &opts)?;
    let seconds = start.elapsed().as_secs_f64();
    let isa = a.isa.unwrap_or_else(Isa::best);
    if a.json {
        println!(
            "{{\"metric\": \"{metric}\", \"k\": {k}, \"score\": {score}, \"n\": {}, \"normalize\": {}, \"isa\": \"{isa}\", \"seconds\": {seconds:.6}}}",
            fa.rows, a.normalize
        );
    } else {
        println!("{metric} (k = {k}, N = {}): {score:.6}", fa.rows);
    }
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
