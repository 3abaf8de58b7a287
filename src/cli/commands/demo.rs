//! `repalign demo`: its own options and usage text, then the study of `cli::demo`, printed
//! as a table or JSON, with its heatmap.

use std::format;
use std::prelude::rust_2024::*;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::calibrate::CalibrationOptions;
use crate::cli::args::Fail;
use crate::cli::demo::{DemoData, compute, report};
use crate::cli::{output, plot};

const USAGE: &str = "\
repalign demo: colour names in perceptual colour space vs. three language models

USAGE:
  repalign demo [--plot PATH | --no-plot] [--json] [--permutations P] [--seed S]
                [--data DIR [--dtype f16|f32]] [--threads N] [--quiet]

Mutual kNN (k = 5, 10, 20, cosine) between CIELAB (lab) and the embeddings of
\"the color {name}\" by GloVe (glove), multilingual-e5-small (e5) and all-MiniLM-L6-v2
(minilm), between the models, and against a random control (random), on all 913 names
and the 230 single-word names, each with a permutation p-value.

OPTIONS:
  --plot PATH        heatmap of every pair of representations (k = 10, all names),
                     .svg or .png (default color-demo.svg)
  --no-plot          write no heatmap
  --json             print {\"rows\": [...]}: a, b, subset, n, k, score, null_mean,
                     null_std, z, p_value per comparison
  --permutations P   permutations per comparison (default 1000)
  --seed S           seed of the permutations (default 0)
  --data DIR         read the features from DIR instead of the embedded copy: names.json
                     and, per representation, NAME.DTYPE.npy (lab_kernel, glove, e5, minilm,
                     random) or the reference names (glove_thecolor, e5_thecolor,
                     minilm_thecolor, random_gauss384)
  --dtype f16|f32    which files of DIR (default: f16 when present, else f32)
  --threads N        worker threads, 0 = all cores (default); results never depend on it
  --quiet            no progress on stderr
";

/// The demo's options.
struct Options {
    plot: Option<PathBuf>,
    json: bool,
    quiet: bool,
    data: Option<PathBuf>,
    dtype: Option<String>,
    calibration: CalibrationOptions,
    threads: usize,
}

/// The options, or `None` for `--help`; an error is a bad command line (exit status 2).
fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        plot: Some(PathBuf::from("color-demo.svg")),
        json: false,
        quiet: false,
        data: None,
        dtype: None,
        calibration: CalibrationOptions::default(),
        threads: 0,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // A value that starts with `--` is the next option: this one's value is missing.
        let mut value = |flag: &str| match it.next() {
            Some(v) if !v.starts_with("--") => Ok(v.clone()),
            Some(v) => Err(format!("demo: {flag} needs a value (got the option '{v}')")),
            None => Err(format!("demo: {flag} needs a value")),
        };
        let number = |flag: &str, v: String| -> Result<u64, String> {
            v.parse().map_err(|_| format!("demo: {flag}: '{v}' is not a non-negative integer"))
        };
        match arg.as_str() {
            "--plot" => o.plot = Some(PathBuf::from(value("--plot")?)),
            "--no-plot" => o.plot = None,
            "--json" => o.json = true,
            "--quiet" => o.quiet = true,
            "--data" => o.data = Some(PathBuf::from(value("--data")?)),
            "--dtype" => match value("--dtype")?.as_str() {
                d @ ("f16" | "f32") => o.dtype = Some(d.into()),
                d => return Err(format!("demo: --dtype: unknown '{d}' (f16 or f32)")),
            },
            "--permutations" => {
                o.calibration.permutations = number("--permutations", value("--permutations")?)? as usize;
                if o.calibration.permutations == 0 {
                    return Err("demo: --permutations must be at least 1".into());
                }
            }
            "--seed" => o.calibration.seed = number("--seed", value("--seed")?)?,
            "--threads" => o.threads = number("--threads", value("--threads")?)? as usize,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("demo: unknown argument '{other}' (see repalign demo --help)")),
        }
    }
    if let Some(path) = &o.plot {
        plot::check_path(path)?;
    }
    if o.dtype.is_some() && o.data.is_none() {
        return Err("demo: --dtype applies to --data DIR (the embedded data is float16)".into());
    }
    Ok(Some(o))
}

/// `repalign demo [options]`: a bad option is a usage error, anything after it a data error.
pub(crate) fn run(args: &[String]) -> Result<(), Fail> {
    let Some(o) = parse(args).map_err(Fail::Usage)? else {
        return Ok(output::print(USAGE)?);
    };
    // Before any work, like every output: a place that cannot be written is a data error.
    if let Some(path) = &o.plot {
        output::check_writable(path)?;
    }
    let data = match &o.data {
        Some(dir) => DemoData::from_dir(dir, o.dtype.as_deref())?,
        None => DemoData::embedded()?,
    };
    let show = !o.quiet && std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if show {
            // Progress is best effort: a failed write to stderr is ignored, never a panic.
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\rrepalign demo: {done}/{total} (kNN graphs, then {} permutations each)",
                o.calibration.permutations
            );
            if done == total {
                let _ = write!(err, "\r\x1b[2K");
            }
        }
    };
    let results = compute(&data, &o.calibration, &crate::Exec::new().with_threads(o.threads), &mut progress)?;
    if let Some(path) = &o.plot {
        report::write_plot(path, &results.matrix, data.names.len())?;
    }
    if o.json {
        output::print(&format!("{}\n", report::json(&data, &results, &o.calibration, o.plot.as_deref())))?;
    } else {
        output::print(&report::table(&data, &results, &o.calibration, o.plot.as_deref()))?;
    }
    Ok(())
}
