//! Progress on stderr (indicatif): a bar for work counted in steps (layers, pairs; blocks of
//! rows of a kNN graph and null samples of a calibration, reported by the library's
//! `*_with_progress` calls), a spinner with the elapsed time for a step that cannot be divided.
//! Hidden when stderr is not a terminal or with `--quiet`, so pipes and logs stay clean.

use std::prelude::rust_2024::*;

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar or spinner that clears itself when dropped.
pub(crate) struct Progress {
    bar: ProgressBar,
}

/// Whether progress is drawn: stderr is a terminal and `--quiet` was not given.
pub(crate) fn visible(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

impl Progress {
    /// A bar of `len` steps.
    pub(crate) fn bar(visible: bool, len: u64, message: &str) -> Progress {
        if !visible {
            return Progress { bar: ProgressBar::hidden() };
        }
        let style =
            ProgressStyle::with_template("{spinner} {msg:24} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})")
                .expect("a valid template");
        let bar = ProgressBar::new(len).with_style(style).with_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// A spinner showing the elapsed time of one step that cannot be divided.
    pub(crate) fn spinner(visible: bool, message: &str) -> Progress {
        if !visible {
            return Progress { bar: ProgressBar::hidden() };
        }
        let style = ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]").expect("a valid template");
        let bar = ProgressBar::new_spinner().with_style(style).with_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// Starts a new phase of `len` steps (its own ETA).
    pub(crate) fn phase(&self, len: u64, message: String) {
        self.bar.set_length(len);
        self.bar.set_position(0);
        self.bar.reset_eta();
        self.bar.set_message(message);
    }

    /// Replaces the message.
    pub(crate) fn message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// `done` of `total` steps, as the library's progress callbacks report them (from any
    /// thread).
    pub(crate) fn report(&self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }

    /// One step done.
    pub(crate) fn step(&self) {
        self.bar.inc(1);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
