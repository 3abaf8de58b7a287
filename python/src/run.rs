//! How a call runs: the GIL released, Ctrl-C honoured, progress reported.
//!
//! Long calls run on a scoped thread while the calling thread, detached from the
//! interpreter, wakes every 50 ms to run Python's signal handlers (only the main thread can)
//! and to pass progress to the Python callback. A KeyboardInterrupt sets the core's cancel
//! flag ([`Exec::cancel`]); workers stop at the next block of rows, null sample or layer, and
//! the call raises within about one block's time. Short calls (estimated under a few
//! milliseconds) run inline on the calling thread, detached as well: a thread per call
//! would cost more than they do.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::time::Duration;

use pyo3::prelude::*;
use repalign::{Exec, Isa, Progress};

/// The execution options every function takes: `threads=`, `isa=` and `progress=`.
pub(crate) struct Opts {
    pub threads: usize,
    pub isa: Option<Isa>,
    /// Called as `progress(stage, done, total)` from the calling thread, attached.
    pub progress: Option<Py<PyAny>>,
    /// A zoo's layers per model (empty for other calls): its layer reports count across
    /// models, and its model pairs are the "pairs" stage.
    pub zoo_layers: Vec<usize>,
}

impl Opts {
    pub(crate) fn new(threads: usize, isa: Option<&str>, progress: Option<Py<PyAny>>) -> PyResult<Self> {
        let isa = match isa {
            None | Some("auto") => None,
            Some(name) => Some(Isa::from_name(name).ok_or_else(|| {
                let valid: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
                pyo3::exceptions::PyValueError::new_err(format!(
                    "isa: unknown '{name}' (valid: auto, {})",
                    valid.join(", ")
                ))
            })?),
        };
        Ok(Opts { threads, isa, progress, zoo_layers: Vec::new() })
    }
}

/// The stages a progress callback sees.
const STAGES: [&str; 4] = ["blocks", "layers", "pairs", "null"];

/// The latest progress report, written by workers and read by the watching thread.
struct Counters {
    stage: AtomicU8,
    done: AtomicUsize,
    total: AtomicUsize,
    /// Layers of models A and B, to number B's layers after A's and to count pairs.
    layers_a: AtomicUsize,
    layers_b: AtomicUsize,
    /// A zoo's layers per model ([`Opts::zoo_layers`]).
    zoo_layers: Vec<usize>,
}

impl Counters {
    fn record(&self, p: Progress) {
        let (stage, done, total) = match p {
            // Blocks inside a sweep's layers would make the bar jump back and forth.
            Progress::Blocks { done, total } if self.stage.load(Relaxed) == 0 => (0, done, total),
            Progress::Blocks { .. } => return,
            Progress::Layer { model, layer, .. } if !self.zoo_layers.is_empty() => {
                let before: usize = self.zoo_layers[..model.min(self.zoo_layers.len())].iter().sum();
                (1, before + layer, self.zoo_layers.iter().sum())
            }
            Progress::Layer { model: 0, layer, layers } => {
                self.layers_a.store(layers, Relaxed);
                (1, layer, layers)
            }
            Progress::Layer { layer, layers, .. } => {
                self.layers_b.store(layers, Relaxed);
                let a = self.layers_a.load(Relaxed);
                (1, a + layer, a + layers)
            }
            Progress::Pair { i, j } => {
                let (a, b) = (self.layers_a.load(Relaxed), self.layers_b.load(Relaxed));
                (2, i * b + j, a * b)
            }
            Progress::Samples { done, total } => (3, done, total),
            Progress::ModelPairs { done, total } => (2, done, total),
        };
        self.stage.store(stage, Relaxed);
        self.total.store(total, Relaxed);
        self.done.fetch_max(done, Relaxed);
        if stage != 0 {
            self.done.store(done, Relaxed);
        }
    }
}

/// Work below this many multiply-adds (a few milliseconds) runs inline.
const INLINE_WORK: f64 = 2e7;

/// Runs `work` with the GIL released (Python threads run other calls meanwhile) and the
/// options' threads and ISA. `cost` estimates its multiply-adds, to choose inline or
/// watched. Errors come back as Python exceptions; a Ctrl-C as the KeyboardInterrupt.
pub(crate) fn run<T: Send>(
    py: Python<'_>,
    opts: &Opts,
    cost: f64,
    work: impl FnOnce(&Exec<'_>) -> repalign::Result<T> + Send,
) -> PyResult<T> {
    let base = Exec::new().with_threads(opts.threads).with_isa(opts.isa);
    if opts.progress.is_none() && cost < INLINE_WORK {
        return py.detach(|| work(&base)).map_err(crate::error::to_py);
    }
    let cancel = AtomicBool::new(false);
    let counters = Counters {
        stage: AtomicU8::new(0),
        done: AtomicUsize::new(0),
        total: AtomicUsize::new(0),
        layers_a: AtomicUsize::new(0),
        layers_b: AtomicUsize::new(0),
        zoo_layers: opts.zoo_layers.clone(),
    };
    let hook = |p: Progress| counters.record(p);
    let exec = base.with_cancel(&cancel).with_progress(&hook);
    let progress = opts.progress.as_ref();
    let mut shown = (usize::MAX, usize::MAX, usize::MAX);
    // `done` is set before the unpark: the waiter must not look at the thread's own
    // `is_finished`, which turns true only after the closure has returned, so a wake-up
    // between the two would be spent and the waiter would sleep 50 ms more.
    let done = AtomicBool::new(false);
    let (result, interrupt) = py.detach(|| {
        std::thread::scope(|s| {
            let (waiter, exec, finished) = (std::thread::current(), &exec, &done);
            let handle = s.spawn(move || {
                let r = work(exec);
                finished.store(true, Release);
                waiter.unpark();
                r
            });
            let mut interrupt: Option<PyErr> = None;
            while !done.load(Acquire) {
                std::thread::park_timeout(Duration::from_millis(50));
                if interrupt.is_some() || done.load(Acquire) {
                    continue;
                }
                let seen =
                    (counters.stage.load(Relaxed) as usize, counters.done.load(Relaxed), counters.total.load(Relaxed));
                let checked = Python::attach(|py| -> PyResult<()> {
                    py.check_signals()?;
                    if let Some(cb) = progress.filter(|_| seen != shown && seen.2 > 0) {
                        cb.call1(py, (STAGES[seen.0], seen.1, seen.2))?;
                    }
                    Ok(())
                });
                shown = seen;
                if let Err(e) = checked {
                    cancel.store(true, Relaxed);
                    interrupt = Some(e);
                }
            }
            let result = handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (result, interrupt)
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    let value = result.map_err(crate::error::to_py)?;
    if let Some(cb) = progress {
        let stage = counters.stage.load(Relaxed) as usize;
        let total = counters.total.load(Relaxed);
        if total > 0 {
            cb.call1(py, (STAGES[stage], total, total))?;
        }
    }
    Ok(value)
}
