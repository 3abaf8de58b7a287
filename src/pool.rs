//! The crate's one thread pool: scoped workers taking items in order from a shared counter.
//!
//! Every parallel loop of the crate (kNN blocks, Gram row blocks, calibration samples,
//! preparation parts) runs here. Without `std` the same calls run on the calling thread.
//! Workers take items in order, so the largest (first) items go first; callers make each
//! item's result independent of which worker ran it, which keeps every answer independent
//! of the thread count and the schedule.

use alloc::vec::Vec;

/// The cores available to the process (`std::thread::available_parallelism`), read on
/// first use and kept: affinity or quota changes made later are not followed (as a
/// thread pool sized at start-up would not follow them either). PERF: the call parses the
/// cgroup quota on Linux, 30 µs here, about 1% of a two-thread graph at N = 1024, and every
/// graph of a sweep asked for it.
#[cfg(feature = "std")]
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Threads for a request of `threads`: 0 = all available cores ([`cores`]), and a request
/// above them is capped there unless `oversubscribe` (then at 1024, which keeps block
/// arithmetic far from overflow); always 1 without `std`. More workers than cores would not
/// run faster. (Memory does not depend on it: the kNN workers of a self graph share one set
/// of private heaps.)
#[cfg(feature = "std")]
pub(crate) fn resolve(threads: usize, oversubscribe: bool) -> usize {
    const MAX_THREADS: usize = 1024;
    let cores = cores();
    match threads {
        0 => cores,
        n if oversubscribe => n.min(MAX_THREADS),
        n => n.min(cores),
    }
}

#[cfg(not(feature = "std"))]
pub(crate) fn resolve(_threads: usize, _oversubscribe: bool) -> usize {
    1
}

/// How many workers [`workers`] starts for `threads` threads and `items` items.
#[cfg(feature = "std")]
fn worker_count(threads: usize, items: usize) -> usize {
    threads.clamp(1, items.max(1))
}

/// Runs `worker` once on each of `min(threads, items)` threads (at least one call). Each
/// call gets an iterator that hands out `(index, item)` pairs in index order from a shared
/// counter, so a worker keeps its own state (buffers, a SIMD context) across the items it
/// takes. Returns the workers' results (in no particular order). A worker's panic is
/// resumed on the calling thread.
#[cfg(feature = "std")]
pub(crate) fn workers<I: Send, R: Send>(
    threads: usize,
    items: Vec<I>,
    worker: impl Fn(&mut dyn Iterator<Item = (usize, I)>) -> R + Sync,
) -> Vec<R> {
    let states = (0..worker_count(threads, items.len())).map(|_| ()).collect();
    workers_with(states, items, |(), it| worker(it))
}

/// Without `std`: one call takes every item, on the calling thread (so nothing need be
/// `Send` or `Sync`).
#[cfg(not(feature = "std"))]
pub(crate) fn workers<I, R>(
    _threads: usize,
    items: Vec<I>,
    worker: impl Fn(&mut dyn Iterator<Item = (usize, I)>) -> R,
) -> Vec<R> {
    alloc::vec![worker(&mut items.into_iter().enumerate())]
}

/// A value one worker sets once and others read after: a `OnceLock`, or without `std`
/// (one thread) a `OnceCell`.
#[cfg(feature = "std")]
pub(crate) type Once<T> = std::sync::OnceLock<T>;
#[cfg(not(feature = "std"))]
pub(crate) type Once<T> = core::cell::OnceCell<T>;

/// A value that workers share and change one at a time: a mutex, or without `std` (one
/// thread) a cell.
#[cfg(feature = "std")]
pub(crate) struct Lock<T>(std::sync::Mutex<T>);

#[cfg(feature = "std")]
impl<T> Lock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    /// The value, held until the guard drops. A worker that panicked while holding it left
    /// it usable (its panic is resumed on the caller anyway).
    #[inline]
    pub(crate) fn lock(&self) -> impl core::ops::DerefMut<Target = T> + '_ {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A value that workers share and change one at a time: a mutex, or without `std` (one
/// thread) a cell.
#[cfg(not(feature = "std"))]
pub(crate) struct Lock<T>(core::cell::RefCell<T>);

#[cfg(not(feature = "std"))]
impl<T> Lock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::RefCell::new(value))
    }

    /// The value, until the guard drops (never held twice: there is one thread).
    #[inline]
    pub(crate) fn lock(&self) -> impl core::ops::DerefMut<Target = T> + '_ {
        self.0.borrow_mut()
    }
}

/// [`workers`] with one worker per element of `states`; each worker owns its state.
#[cfg(feature = "std")]
fn workers_with<S: Send, I: Send, R: Send>(
    states: Vec<S>,
    items: Vec<I>,
    worker: impl Fn(S, &mut dyn Iterator<Item = (usize, I)>) -> R + Sync,
) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    if states.len() <= 1 {
        return states.into_iter().next().map(|s| worker(s, &mut items.into_iter().enumerate())).into_iter().collect();
    }
    let slots: Vec<Mutex<Option<I>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let next = AtomicUsize::new(0);
    let take = || {
        let u = next.fetch_add(1, Ordering::Relaxed);
        let item = slots.get(u)?.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()?;
        Some((u, item))
    };
    std::thread::scope(|s| {
        let mut states = states.into_iter();
        let mine = states.next();
        let handles: Vec<_> = states.map(|st| s.spawn(|| worker(st, &mut core::iter::from_fn(take)))).collect();
        // PERF: the calling thread is the first worker, so a call starts one thread fewer
        // (a sweep makes hundreds of calls; at N = 1024 a graph takes about 5 ms). Its
        // panic, like a spawned worker's, reaches the caller once the others are joined.
        let mine = mine.map(|st| worker(st, &mut core::iter::from_fn(take)));
        let others = handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        mine.into_iter().chain(others).collect()
    })
}

/// `f` on every item over `threads` workers; the results in item order.
pub(crate) fn map<I: Send, R: Send>(threads: usize, items: Vec<I>, f: impl Fn(I) -> R + Sync) -> Vec<R> {
    let len = items.len();
    let parts = workers(threads, items, |it| it.map(|(i, item)| (i, f(item))).collect::<Vec<_>>());
    let mut out: Vec<Option<R>> = (0..len).map(|_| None).collect();
    for (i, r) in parts.into_iter().flatten() {
        out[i] = Some(r);
    }
    out.into_iter().map(|r| r.expect("every item is taken by one worker")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_in_order_for_any_thread_count() {
        for threads in [1, 2, 3, 8] {
            let got = map(threads, (0..50).collect(), |x: u32| x * x);
            assert_eq!(got, (0..50).map(|x| x * x).collect::<Vec<u32>>(), "{threads} threads");
            let taken = workers(threads, (0..20).collect::<Vec<usize>>(), |it| it.collect::<Vec<_>>());
            let mut all: Vec<(usize, usize)> = taken.into_iter().flatten().collect();
            all.sort();
            assert_eq!(all, (0..20).map(|i| (i, i)).collect::<Vec<_>>());
        }
        assert!(map(4, Vec::<u8>::new(), |x| x).is_empty());
    }

    /// A request above the cores is capped.
    #[test]
    #[cfg(feature = "std")]
    fn thread_requests_are_capped_at_the_cores() {
        use alloc::vec;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(resolve(0, false), cores);
        assert_eq!(resolve(1, false), 1);
        assert_eq!(resolve(1024, false), cores);
        assert_eq!(resolve(usize::MAX, false), cores);
        // Unless explicitly allowed: then as asked, up to 1024.
        assert_eq!(resolve(0, true), cores);
        assert_eq!(resolve(64, true), 64);
        assert_eq!(resolve(usize::MAX, true), 1024);
        let got = workers_with(vec![10, 20, 30], (0..9).collect::<Vec<u32>>(), |s, it| (s, it.count()));
        assert_eq!(got.len(), 3);
        assert_eq!(got.iter().map(|&(_, c)| c).sum::<usize>(), 9);
    }
}
