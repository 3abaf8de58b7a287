//! `repalign`: kNN graphs, alignment scores and layer sweeps of feature files from the shell.
//! The command line lives in the library's `cli` module (feature `cli`), where tests reach it.

use std::process::ExitCode;

fn main() -> ExitCode {
    repalign::cli::main()
}
