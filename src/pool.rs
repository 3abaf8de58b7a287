//! The crate's one thread pool: scoped workers taking items in order from a shared counter.
//!
//! Every parallel loop of the crate (kNN blocks, Gram row blocks, calibration samples,
//! preparation parts) runs here. Without `std` the same calls run on the calling thread.
//! Workers take items in order, so the largest (first) items go first; callers make each
//! item's result independent of which worker ran it, which keeps every answer independent
//! of the thread count and the schedule.

use alloc::vec::Vec;

/// Threads for a request of `threads` (0 = all available cores; always 1 without `std`).
#[cfg(feature = "std")]
pub(crate) fn resolve(threads: usize) -> usize {
    // More threads than this is a caller's mistake; it must not overflow block arithmetic.
    const MAX_THREADS: usize = 1024;
    if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads.min(MAX_THREADS) }
}

#[cfg(not(feature = "std"))]
pub(crate) fn resolve(_threads: usize) -> usize {
    1
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
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return alloc::vec![worker(&mut items.into_iter().enumerate())];
    }
    let slots: Vec<Mutex<Option<I>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let next = AtomicUsize::new(0);
    let take = || {
        let u = next.fetch_add(1, Ordering::Relaxed);
        let item = slots.get(u)?.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()?;
        Some((u, item))
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| worker(&mut core::iter::from_fn(take)))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

#[cfg(not(feature = "std"))]
pub(crate) fn workers<I, R>(
    _threads: usize,
    items: Vec<I>,
    worker: impl Fn(&mut dyn Iterator<Item = (usize, I)>) -> R,
) -> Vec<R> {
    alloc::vec![worker(&mut items.into_iter().enumerate())]
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
}
