//! `repalign prepare`: the prepared (clamped, normalised) float32 features, written to `.npy`.

use std::format;
use std::prelude::rust_2024::*;

use std::time::Instant;

use serde_json::json;

use super::{exec, load, prepare_mode};
use crate::cli::args::{Args, Fail};
use crate::cli::output::{self, number, print_json, print_table};
use crate::cli::progress;

/// `repalign prepare X --out Y.npy`: writes the prepared features, reports the threshold.
pub(crate) fn run(a: Args) -> Result<(), Fail> {
    let [input] = &a.positional[..] else {
        return Err(Fail::Usage("prepare takes one input file".into()));
    };
    let out = a.out.as_deref().ok_or_else(|| Fail::Usage("prepare needs --out Y.npy".into()))?;
    let (mode_name, mode) = prepare_mode(&a, "paper")?;
    let q = a.q.unwrap_or(0.95);
    output::check_output("--out", out, &a.positional)?;
    let x = load(input, &a, "prepare", false)?;
    let start = Instant::now();
    let (values, threshold) = {
        let _spinner = progress::Progress::spinner(progress::visible(a.quiet), &format!("prepare {mode_name}"));
        x.tensor()?.prepare(mode, q, &exec(&a)).map_err(|e| format!("{}: {e}", x.source))?
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
        }))?;
    } else {
        let threshold = if threshold.is_finite() { format!("{threshold}") } else { "none (no clamping)".into() };
        print_table(&[
            ("prepare", mode_name),
            ("threshold", threshold),
            ("output", format!("{out} ({:?} float32)", x.shape)),
            ("seconds", format!("{seconds:.3}")),
        ])?;
    }
    Ok(())
}
