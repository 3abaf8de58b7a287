//! The `repalign` command line: kNN graphs, alignment scores and layer sweeps of feature
//! files from the shell. A module of the library (feature `cli`, hidden from its docs) so
//! that tests import it; the binary, `src/bin/repalign.rs`, only calls [`main`].
//!
//! `args` holds the usage text and the option parser; `commands` one module per subcommand
//! (arguments, library call, output); `input` reads `.npy` and `.safetensors` features;
//! `metric` maps `--metric` to the library's metric; `stepwise` runs the library's sweep and
//! calibration under a `progress` bar; `output` prints JSON, tables and CSV; `plot` draws
//! figures (heatmaps, maps, scatter plots); `demo` is the bundled colour study. Exit status:
//! 0 success (also when stdout's reader went away: `repalign ... | head`), 1 bad data,
//! computation or write error, 2 bad command line (an output that is an input included).
//! Nothing written to stdout or stderr can panic, and `output` keeps files whole (see there).
//!
//! The library is `no_std`: each file here imports `std`'s prelude and the `std` macros it
//! uses.

use std::format;
use std::prelude::rust_2024::*;

mod args;
mod commands;
pub mod demo;
mod input;
mod metric;
mod output;
pub mod plot;
mod progress;
mod stepwise;

use std::io::Write;
use std::process::ExitCode;

use args::{Fail, USAGE};
use commands::{info, knn, prepare, score, sweep, zoo};

/// Runs the command named by the first argument.
fn run() -> Result<(), Fail> {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        return Err(Fail::Usage("no command given".into()));
    };
    let command = command.as_str();
    match command {
        "-h" | "--help" | "help" => {
            return Ok(output::print(USAGE)?);
        }
        "-V" | "--version" => {
            return Ok(output::print(&format!("repalign {}\n", crate::VERSION))?);
        }
        "isa" => return info::isa(argv),
        "demo" => return commands::demo::run(&argv.collect::<Vec<_>>()),
        _ => {}
    }
    let a = args::parse(command, argv)?;
    if a.help {
        return Ok(output::print(USAGE)?);
    }
    match command {
        "knn" => knn::run(a),
        "score" => score::run(a),
        "sweep" => sweep::run(a),
        "zoo" => zoo::run(a),
        "prepare" => prepare::run(a),
        "info" => info::run(a),
        _ => unreachable!("args::parse rejects unknown commands"),
    }
}

/// The `repalign` binary: runs the command line and maps a failure to its exit status.
pub fn main() -> ExitCode {
    // A failed write to stderr has nowhere to be reported: it is ignored, never a panic.
    let report = |msg: &str| {
        let _ = writeln!(std::io::stderr(), "repalign: error: {msg}");
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`repalign ... | head`): it has what it wanted.
        Err(_) if output::stdout_closed() => ExitCode::SUCCESS,
        Err(Fail::Usage(msg)) => {
            report(&format!("{msg}\nrun 'repalign --help' for usage"));
            ExitCode::from(2)
        }
        Err(Fail::Data(msg)) => {
            report(&msg);
            ExitCode::from(1)
        }
    }
}
