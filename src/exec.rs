//! The execution context: how a computation runs (worker threads, a forced instruction set,
//! a progress hook), never what it computes.
//!
//! Every entry point that does real work takes an [`Exec`] the same way, as its last
//! argument. Results never depend on it: every ISA and every thread count gives the same
//! bits, so an `Exec` only changes speed and what is reported along the way.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::knn::Prefilter;

/// How to run: threads, ISA, progress. `Exec::default()` uses every core, the best ISA and
/// reports nothing.
#[derive(Clone, Copy, Default)]
pub struct Exec<'p> {
    /// Worker threads; 0 = all available cores (counted once per process, when first
    /// needed: later changes of the process's affinity or CPU quota are not followed). A
    /// request above the available cores is capped there unless [`Exec::oversubscribe`]
    /// allows it: more workers would not be faster. Memory barely depends on it (at most
    /// about 9 MiB of blocks per worker; a self kNN graph's workers share one set of
    /// private heaps; a sweep's or zoo's kNN layer states, up to N = 8192, are computed one
    /// per worker, each with its own). Always 1 without `std`.
    pub threads: usize,
    /// Run `threads` workers even above the available cores (at most 1024), e.g. to test
    /// contention; off by default.
    pub oversubscribe: bool,
    /// Force a backend (tests, benchmarks, reproducing a report); `None` = [`Isa::best`].
    /// A forced ISA is honoured by every kernel: kNN, Gram, packing, the calibration null.
    pub isa: Option<Isa>,
    /// Whether self kNN graphs by inner product go through the certified bf16 prefilter
    /// ([`Prefilter`]; the same graph either way, bit for bit).
    pub prefilter: Prefilter,
    /// Called as work proceeds, possibly from worker threads: keep it cheap (it runs between
    /// blocks of work). See [`Progress`] for what each computation reports.
    pub progress: Option<&'p (dyn Fn(Progress) + Sync)>,
    /// Set (by another thread, e.g. a front end that saw Ctrl-C) to stop the work: workers
    /// take no further block of rows, null sample or layer, and the call returns
    /// [`Error::Cancelled`] within about one block's time. Never a partial result.
    pub cancel: Option<&'p AtomicBool>,
}

/// A progress report. Nested computations report through the same hook: a sweep reports
/// its steps and, inside each layer, the kNN engine's blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The kNN engine or the Gram kernel took up block `done` of `total` blocks of rows
    /// (a last report has `done == total`).
    Blocks {
        /// Blocks taken up so far.
        done: usize,
        /// Blocks in this computation.
        total: usize,
    },
    /// Calibration finished `done` of `total` null samples.
    Samples {
        /// Samples finished so far.
        done: usize,
        /// Samples in this calibration.
        total: usize,
    },
    /// A sweep starts the per-layer work (kNN graph, kernel or basis) of layer `layer` of
    /// model A (`model == 0`) or B (`model == 1`), of `layers` in that model. These come
    /// first, A's then B's, and cost far more than a pair.
    Layer {
        /// 0 for A, 1 for B.
        model: usize,
        /// The layer's index.
        layer: usize,
        /// Layers of that model.
        layers: usize,
    },
    /// A sweep starts the comparison of layer `i` of A with layer `j` of B (row-major order).
    Pair {
        /// A's layer.
        i: usize,
        /// B's layer.
        j: usize,
    },
    /// A zoo finished `done` of its `total` model pairs (their sweeps, and calibrations).
    ModelPairs {
        /// Model pairs finished so far.
        done: usize,
        /// Model pairs in the zoo.
        total: usize,
    },
}

impl<'p> Exec<'p> {
    /// The defaults: all cores, best ISA, no progress.
    pub const fn new() -> Exec<'static> {
        Exec { threads: 0, oversubscribe: false, isa: None, prefilter: Prefilter::Auto, progress: None, cancel: None }
    }

    /// With `threads` workers (0 = all cores).
    pub const fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Allowing (or not) more workers than cores.
    pub const fn with_oversubscribe(mut self, oversubscribe: bool) -> Self {
        self.oversubscribe = oversubscribe;
        self
    }

    /// With a forced ISA (`None` = the best available).
    pub const fn with_isa(mut self, isa: Option<Isa>) -> Self {
        self.isa = isa;
        self
    }

    /// With a prefilter mode ([`Prefilter::Auto`] by default).
    pub const fn with_prefilter(mut self, prefilter: Prefilter) -> Self {
        self.prefilter = prefilter;
        self
    }

    /// With a progress hook.
    pub fn with_progress<'q>(self, progress: &'q (dyn Fn(Progress) + Sync)) -> Exec<'q>
    where
        'p: 'q,
    {
        Exec { progress: Some(progress), ..self }
    }

    /// Stoppable by setting `cancel` (see [`Exec::cancel`]).
    pub fn with_cancel<'q>(self, cancel: &'q AtomicBool) -> Exec<'q>
    where
        'p: 'q,
    {
        Exec { cancel: Some(cancel), ..self }
    }

    /// The same threads and ISA, reporting nothing (for inner work whose reports would
    /// mislead, e.g. the observed scores before a calibration's null samples).
    pub const fn silent(&self) -> Exec<'static> {
        Exec {
            threads: self.threads,
            oversubscribe: self.oversubscribe,
            isa: self.isa,
            prefilter: self.prefilter,
            progress: None,
            cancel: None,
        }
    }

    /// For one of many jobs run side by side on `self`'s workers: one thread, no progress,
    /// the same ISA and cancel flag.
    pub(crate) fn one_job(&self) -> Exec<'p> {
        Exec { threads: 1, progress: None, ..*self }
    }

    /// The ISA that will run: the forced one, or [`Isa::best`]. A forced ISA this CPU or
    /// build lacks is [`Error::IsaUnavailable`].
    pub fn resolve_isa(&self) -> Result<Isa> {
        let isa = self.isa.unwrap_or_else(Isa::best);
        if isa.is_available() { Ok(isa) } else { Err(Error::IsaUnavailable(isa)) }
    }

    /// Worker threads to start: `threads` capped at the available cores (unless
    /// `oversubscribe`), all cores for 0, 1 without `std`.
    pub fn workers(&self) -> usize {
        crate::pool::resolve(self.threads, self.oversubscribe)
    }

    /// Whether the work was asked to stop ([`Exec::cancel`]).
    #[inline]
    pub fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// [`Error::Cancelled`] once the work was asked to stop: called where work is taken up
    /// (blocks of rows, null samples, layers and pairs) and after workers are joined.
    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        if self.cancelled() { Err(Error::Cancelled) } else { Ok(()) }
    }

    /// Sends a report to the hook, if any.
    #[inline]
    pub(crate) fn report(&self, progress: Progress) {
        if let Some(hook) = self.progress {
            hook(progress);
        }
    }
}

impl core::fmt::Debug for Exec<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Exec")
            .field("threads", &self.threads)
            .field("oversubscribe", &self.oversubscribe)
            .field("isa", &self.isa)
            .field("prefilter", &self.prefilter)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_isa_is_checked_and_defaults_resolve_to_best() {
        assert_eq!(Exec::default().resolve_isa(), Ok(Isa::best()));
        for isa in Isa::ALL {
            let got = Exec::new().with_isa(Some(isa)).resolve_isa();
            assert_eq!(got, if isa.is_available() { Ok(isa) } else { Err(Error::IsaUnavailable(isa)) });
        }
        assert!(Exec::new().with_threads(3).workers() >= 1);
        // Above the cores only when explicitly allowed.
        #[cfg(feature = "std")]
        {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            assert_eq!(Exec::new().with_threads(cores + 5).workers(), cores);
            assert_eq!(Exec::new().with_threads(cores + 5).with_oversubscribe(true).workers(), cores + 5);
        }
    }
}
