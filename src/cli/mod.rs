//! The `repalign` command line: kNN graphs, alignment scores and layer sweeps of feature
//! files from the shell. A module of the library (feature `cli`, hidden from its docs) so
//! that tests import it; the binary, `src/bin/repalign.rs`, only calls [`main`].
//!
//! `args` holds the usage text and the option parser; `commands` one module per subcommand
//! (arguments, library call, output); `input` reads `.npy` and `.safetensors` features;
//! `metric` maps `--metric` to the library's metric; `stepwise` runs the library's sweep and
//! calibration under a `progress` bar; `output` prints JSON, tables and CSV; `plot` draws
//! heatmaps; `demo` is the bundled colour study. Exit status: 0 success, 1 bad data or
//! computation error, 2 bad command line.
//!
//! The library is `no_std`: each file here imports `std`'s prelude and the `std` macros it
//! uses.

use std::prelude::rust_2024::*;
use std::{eprintln, print, println};

mod args;
mod commands;
pub mod demo;
mod input;
mod metric;
mod output;
pub mod plot;
mod progress;
mod stepwise;

use std::process::ExitCode;

use args::{Fail, USAGE};
use commands::{info, knn, prepare, score, sweep};

/// Runs the command named by the first argument.
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
        "isa" => return info::isa(argv),
        "demo" => return commands::demo::run(&argv.collect::<Vec<_>>()),
        _ => {}
    }
    let a = args::parse(command, argv)?;
    if a.help {
        print!("{USAGE}");
        return Ok(());
    }
    match command {
        "knn" => knn::run(a),
        "score" => score::run(a),
        "sweep" => sweep::run(a),
        "prepare" => prepare::run(a),
        "info" => info::run(a),
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
