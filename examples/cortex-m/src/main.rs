//! repalign on a Cortex-M4F: two kNN graphs and their mutual kNN alignment, in a fixed
//! 64 KiB heap, printed as one JSON line through semihosting.
//!
//! Runs under `qemu-system-arm -M mps2-an386` (see `run.sh`). The two feature matrices
//! (N = 256 rows of f16, D = 16 and D = 24, from `make_data.py`) are the .npy files in
//! `data/`, embedded in flash. The neighbour lists go to caller buffers
//! (`knn::neighbours_into`), statically allocated; the heap holds only the engine's working
//! memory, and a counting allocator reports its peak.
#![no_std]
#![no_main]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use embedded_alloc::LlffHeap;
use panic_semihosting as _;
use repalign::knn::{self, GraphRef, Rows, Similarity};
use repalign::{Exec, Matrix, f16, metrics};

const N: usize = 256;
const K: usize = 10;
/// The heap budget: every allocation of the engine and the metric comes from here.
const HEAP_BYTES: usize = 64 * 1024;

/// A heap that counts the bytes it has handed out, now and at most.
struct Counting {
    heap: LlffHeap,
    current: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: forwards to `LlffHeap` unchanged; only adds counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { self.heap.alloc(layout) };
        if !p.is_null() {
            let now = self.current.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.current.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: Counting = Counting { heap: LlffHeap::empty(), current: AtomicUsize::new(0), peak: AtomicUsize::new(0) };

/// Aligns an embedded file: the .npy payload starts 64-byte aligned within the file, so
/// its f16 values can be borrowed in place.
#[repr(C, align(64))]
struct Aligned<B: ?Sized>(B);

static A_NPY: &Aligned<[u8]> = &Aligned(*include_bytes!("../data/a_d16.f16.npy"));
static B_NPY: &Aligned<[u8]> = &Aligned(*include_bytes!("../data/b_d24.f16.npy"));

/// The f16 rows of a C-order .npy (format 1.0, `<f2`) of shape (N, d), borrowed.
fn npy_f16(file: &'static [u8], d: usize) -> Matrix<'static, f16> {
    assert!(file.starts_with(b"\x93NUMPY\x01\x00"), "not a .npy 1.0 file");
    let header_len = usize::from(u16::from_le_bytes([file[8], file[9]]));
    let header = core::str::from_utf8(&file[10..10 + header_len]).expect("npy header");
    assert!(header.contains("'descr': '<f2'") && header.contains("'fortran_order': False"), "{header}");
    let mut shape = [0usize; 2];
    let dims = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).expect("npy shape");
    for (s, text) in shape.iter_mut().zip(dims.split(',')) {
        *s = text.trim().parse().expect("npy dimension");
    }
    assert_eq!(shape, [N, d], "npy shape");
    let values: &[f16] = bytemuck::cast_slice(&file[10 + header_len..10 + header_len + N * d * 2]);
    Matrix::new(values, N, d).expect("matrix")
}

/// The free RAM between the statics and the stack pointer is painted with this word, so the
/// stack's low-water mark can be found afterwards.
const PAINT: u32 = 0xa5a5_a5a5;

unsafe extern "C" {
    /// cortex-m-rt's linker script: the end of the statics, and the initial stack pointer
    /// (the top of RAM).
    static __sheap: u32;
    static _stack_start: u32;
}

/// Paints the free RAM below the current stack frame (less a margin for this call).
fn paint_stack() {
    let bottom = (&raw const __sheap) as usize;
    let sp = cortex_m::register::msp::read() as usize - 256;
    for addr in (bottom..sp).step_by(4) {
        // SAFETY: [__sheap, sp) is RAM that no object occupies yet: nothing but the stack,
        // which grows down from above sp, ever uses it (the heap is a static).
        unsafe { (addr as *mut u32).write_volatile(PAINT) }
    }
}

/// Bytes of stack used so far: from the top of RAM down to the lowest unpainted word.
fn stack_peak() -> usize {
    let (bottom, top) = ((&raw const __sheap) as usize, (&raw const _stack_start) as usize);
    // SAFETY: reads words of RAM, which is mapped, between the statics and the stack top.
    let low = (bottom..top).step_by(4).find(|&a| unsafe { (a as *const u32).read_volatile() } != PAINT);
    top - low.unwrap_or(top)
}

/// FNV-1a, 64 bits, over a graph's indices (u32, little-endian) then its scores (the f32
/// bits, little-endian): the host computes the same in `tests/edge_host.rs`.
fn fnv1a64(indices: &[u32], scores: &[f32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let bytes = indices.iter().map(|i| i.to_le_bytes()).chain(scores.iter().map(|s| s.to_bits().to_le_bytes()));
    for b in bytes.flatten() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[entry]
fn main() -> ! {
    paint_stack();
    {
        static mut MEMORY: [core::mem::MaybeUninit<u8>; HEAP_BYTES] = [core::mem::MaybeUninit::uninit(); HEAP_BYTES];
        // SAFETY: runs once, before any allocation; MEMORY is used by nothing else.
        unsafe { HEAP.heap.init(&raw mut MEMORY as usize, HEAP_BYTES) }
    }
    // The neighbour lists: graph A's, then graph B's indices (their scores reuse A's buffer
    // once A's checksum is taken).
    let indices_a = cortex_m::singleton!(: [u32; N * K] = [0; N * K]).unwrap();
    let indices_b = cortex_m::singleton!(: [u32; N * K] = [0; N * K]).unwrap();
    let scores = cortex_m::singleton!(: [f32; N * K] = [0.0; N * K]).unwrap();

    let exec = Exec::default();
    let (a, b) = (npy_f16(&A_NPY.0, 16), npy_f16(&B_NPY.0, 24));
    knn::neighbours_into(Rows::Within(a.into()), K, Similarity::InnerProduct, &exec, indices_a, scores).unwrap();
    let checksum = fnv1a64(indices_a, scores);
    knn::neighbours_into(Rows::Within(b.into()), K, Similarity::InnerProduct, &exec, indices_b, scores).unwrap();
    let graph_a = GraphRef::new(indices_a, N, K).unwrap();
    let graph_b = GraphRef::new(indices_b, N, K).unwrap();
    let score = metrics::mutual_knn_graphs(graph_a, graph_b, K).unwrap();

    let peak = HEAP.peak.load(Ordering::Relaxed);
    let stack = stack_peak();
    hprintln!(
        "{{\"n\":{},\"k\":{},\"mutual_knn\":{},\"graph_a_checksum\":\"{:016x}\",\"heap_peak_bytes\":{},\"stack_peak_bytes\":{}}}",
        N,
        K,
        score,
        checksum,
        peak,
        stack
    );
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}
