//! The subcommands, one module each (arguments, then the library call, then the output), and
//! what several of them share: reading inputs, the preparation mode, the calibration options
//! and how a calibration is printed.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::io::Write;

use serde_json::{Value, json};

use crate::calibrate::{Calibration, CalibrationOptions};
use crate::prepare::Prepare;
use crate::sweep::SweepResult;
use crate::{Exec, Isa, Metric};

use super::args::{Args, Fail};
use super::input::{self, Features};
use super::output::{Object, number};
use super::progress;
use super::stepwise::{self, Side};

pub(crate) mod demo;
pub(crate) mod info;
pub(crate) mod knn;
pub(crate) mod prepare;
pub(crate) mod score;
pub(crate) mod sweep;
pub(crate) mod zoo;

/// Reads an input: N x D when `two_d` (a 3-D input is then an error naming `command`),
/// otherwise N x D or N x L x D.
fn load(spec: &str, a: &Args, command: &str, two_d: bool) -> Result<Features, Fail> {
    let f = input::load(spec, a.tensor.as_deref())?;
    if two_d {
        f.require_2d(command)?;
    }
    Ok(f)
}

/// [`load`] for several inputs, read side by side on up to `--threads` workers (reading is
/// bound by the kernel's page faults and copies, one core's worth per file: two 40 MB
/// layer files took 54-60 ms one after the other, 33-43 ms side by side). Fails with the
/// first input's error in `specs` order, as reading them in turn would.
fn load_all(specs: &[&str], a: &Args, command: &str, two_d: bool) -> Result<Vec<Features>, Fail> {
    let threads = crate::pool::resolve(a.threads, false);
    crate::pool::map(threads, specs.to_vec(), |spec| load(spec, a, command, two_d)).into_iter().collect()
}

/// [`load_all`] for a command's two inputs.
fn load_pair(pa: &str, pb: &str, a: &Args, command: &str, two_d: bool) -> Result<(Features, Features), Fail> {
    match <[Features; 2]>::try_from(load_all(&[pa, pb], a, command, two_d)?) {
        Ok([fa, fb]) => Ok((fa, fb)),
        Err(_) => unreachable!("two inputs read give two features"),
    }
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

/// The `--prepare` mode and its name (`default` when not given).
fn prepare_mode(a: &Args, default: &str) -> Result<(String, Prepare), Fail> {
    let name = a.prepare.clone().unwrap_or_else(|| default.into());
    let mode = Prepare::from_name(&name).ok_or_else(|| {
        Fail::Usage(format!("--prepare: unknown mode '{name}' (valid: {})", Prepare::NAMES.join(", ")))
    })?;
    if a.q.is_some() && !mode.clamps() {
        return Err(Fail::Usage(format!(
            "--q (the clamp quantile) applies to --prepare paper, paper-per-sample, clamp and clamp-per-sample; \
             --prepare {name} clamps nothing"
        )));
    }
    Ok((name, mode))
}

/// The calibration that `--permutations` asks for (with `--seed` and `--alpha`), if any.
fn calibration_options(a: &Args) -> Option<CalibrationOptions> {
    let permutations = a.permutations?;
    Some(CalibrationOptions { permutations, seed: a.seed.unwrap_or(0), alpha: a.alpha.unwrap_or(0.05) })
}

/// How to run: `--threads` and `--isa`.
fn exec(a: &Args) -> Exec<'static> {
    Exec::new().with_threads(a.threads).with_isa(a.isa)
}

/// The name of the ISA a result reports (`none` where no SIMD kernel ran: SVCCA).
fn isa_name(isa: Option<Isa>) -> &'static str {
    isa.map_or("none", Isa::name)
}

/// Scores every layer pair, calibrated when `--permutations` is given.
fn score_layers(
    a: &Args,
    sa: &Side<'_>,
    sb: &Side<'_>,
    metric: &Metric,
) -> Result<(SweepResult, Option<Calibration>), Fail> {
    let calibration = calibration_options(a);
    Ok(stepwise::score(sa, sb, metric, &exec(a), calibration.as_ref(), progress::visible(a.quiet))?)
}

/// The result's warnings as sentences that name the file, and the layer by its id
/// (`layer 3 of A (a.npy): ...`; `A (a.npy): ...` for a single layer), each also written to
/// stderr as `repalign: warning: ...`, with or without `--quiet` (which hides only the bar).
fn warnings(r: &SweepResult, sides: [&Side<'_>; 2]) -> Vec<String> {
    let texts: Vec<String> = r
        .warnings
        .iter()
        .map(|w| {
            let (model, layer) = w.layer();
            let side = sides[model.min(1)];
            let which = if model == 0 { "A" } else { "B" };
            let id = side.layer_ids.get(layer).copied().unwrap_or(layer);
            match side.layers.len() {
                1 => format!("{which} ({}): {}", side.source, w.message()),
                _ => format!("layer {id} of {which} ({}): {}", side.source, w.message()),
            }
        })
        .collect();
    for t in &texts {
        // A failed write to stderr has nowhere to be reported.
        let _ = writeln!(std::io::stderr(), "repalign: warning: {t}");
    }
    texts
}

/// `o` with the keys `score` and `sweep` JSON end with: `isa`, `seconds`, `warnings`, then
/// `calibration` when there is one.
fn with_run_keys(
    mut o: Object,
    isa: &str,
    seconds: f64,
    warnings: Vec<String>,
    calibration: Option<&Calibration>,
    a: &Args,
) -> Object {
    o.insert("isa".into(), isa.into());
    o.insert("seconds".into(), number(seconds));
    o.insert("warnings".into(), warnings.into());
    if let Some(c) = calibration {
        o.insert("calibration".into(), calibration_json(c, a));
    }
    o
}

/// The `calibration` object of `score` and `sweep` JSON.
fn calibration_json(c: &Calibration, a: &Args) -> Value {
    json!({
        "permutations": c.null.len(),
        "seed": a.seed.unwrap_or(0),
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

/// The calibration's lines of `score` and `sweep` tables.
fn calibration_rows(c: &Calibration) -> Vec<(&'static str, String)> {
    vec![
        ("null mean", format!("{:.6} (sd {:.6}, median {:.6})", c.null_mean, c.null_std, c.null_median)),
        ("z", format!("{:.2}", c.z)),
        ("p-value", format!("{:.4} ({} permutations)", c.p_value, c.null.len())),
        ("tau", format!("{:.6}", c.tau)),
        ("calibrated", format!("{:.4}", c.calibrated)),
    ]
}
