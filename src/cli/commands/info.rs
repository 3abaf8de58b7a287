//! `repalign info` (version, instruction sets, threads) and `repalign isa` (the instruction
//! sets, one per line).

use std::format;
use std::prelude::rust_2024::*;

use serde_json::json;

use crate::Isa;
use crate::cli::args::{Args, Fail};
use crate::cli::output::{print, print_json, print_table};

/// `repalign info`: version, architecture, instruction sets and threads.
pub(crate) fn run(a: Args) -> Result<(), Fail> {
    if !a.positional.is_empty() {
        return Err(Fail::Usage("info takes no input file".into()));
    }
    // args::parse refuses an --isa that is not available.
    let isa = a.isa.unwrap_or_else(Isa::best);
    let available: Vec<&str> = isas().map(Isa::name).collect();
    let cores = crate::pool::cores();
    let threads = if a.threads == 0 { cores } else { a.threads };
    if a.json {
        print_json(json!({
            "version": crate::VERSION,
            "arch": std::env::consts::ARCH,
            "isa": isa.name(),
            "isas_available": available,
            "threads": threads,
        }))?;
    } else {
        let how = if a.isa.is_some() { "forced by --isa" } else { "the best available" };
        let cores_note = if a.threads == 0 { "all cores" } else { "set by --threads" };
        print_table(&[
            ("version", crate::VERSION.into()),
            ("arch", std::env::consts::ARCH.into()),
            ("isa", format!("{isa} ({how})")),
            ("isas available", available.join(", ")),
            ("threads", format!("{threads} ({cores_note}; {cores} available)")),
        ])?;
    }
    Ok(())
}

/// `repalign isa`: takes no argument.
pub(crate) fn isa(mut argv: impl Iterator<Item = String>) -> Result<(), Fail> {
    if let Some(arg) = argv.next() {
        return Err(Fail::Usage(format!("isa takes no argument (got '{arg}')")));
    }
    Ok(print(&isas().map(|isa| format!("{isa}\n")).collect::<String>())?)
}

/// Available instruction sets: the default first, then native ones, then the emulations.
fn isas() -> impl Iterator<Item = Isa> {
    let order = [Isa::X86V4, Isa::X86V3, Isa::Neon, Isa::Scalar, Isa::Emulated512, Isa::Emulated256, Isa::Emulated128];
    let rest = order.into_iter().chain(Isa::available().filter(move |i| !order.contains(i)));
    std::iter::once(Isa::best()).chain(rest.filter(|&i| i != Isa::best() && i.is_available()))
}
