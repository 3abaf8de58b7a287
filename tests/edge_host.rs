//! The Cortex-M example's answer, computed on the host (issue 19): the same .npy files
//! (`examples/cortex-m/data/`), graph A's checksum and the mutual kNN score, on every
//! backend this machine runs, with one worker as the firmware has and with all of them.
//!
//! Prints the line `edge-host: {json}`; `examples/cortex-m/run.sh --check` compares the
//! firmware's JSON with it field by field, and this test compares both with the committed
//! `examples/cortex-m/expected.json`, so the firmware's bits are pinned on every CI host.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

use repalign::knn::{self, Rows, Similarity};
use repalign::{Error, Exec, Isa, Matrix, f16, metrics};

const N: usize = 256;
const K: usize = 10;

std::thread_local! {
    /// Heap bytes this thread holds now and at most (tests run on several threads).
    static HELD: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// Bytes this thread may hold: a microcontroller's heap, on the host.
    static LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The system allocator, counting each thread's bytes as the firmware's allocator does,
/// and refusing what would take the thread past its [`LIMIT`].
struct Counting;

// SAFETY: forwards to `System` unchanged; only adds thread-local counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let held = HELD.try_with(|h| h.get().0).unwrap_or(0);
        if held + layout.size() > LIMIT.try_with(Cell::get).unwrap_or(usize::MAX) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let _ = HELD.try_with(|h| {
                let now = h.get().0 + layout.size();
                h.set((now, h.get().1.max(now)));
            });
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = HELD.try_with(|h| h.set((h.get().0.saturating_sub(layout.size()), h.get().1)));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cortex-m").join(rel)
}

fn read_f16(rel: &str, d: usize) -> Vec<f16> {
    let path = example(rel);
    let file = npyz::NpyFile::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    assert_eq!(file.shape(), [N as u64, d as u64], "{}", path.display());
    assert_eq!(file.order(), npyz::Order::C);
    file.into_vec().unwrap()
}

/// FNV-1a, 64 bits, over the indices (u32, little-endian) then the scores (f32 bits,
/// little-endian): the firmware's `fnv1a64`.
fn fnv1a64(indices: &[u32], scores: &[f32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let bytes = indices.iter().map(|i| i.to_le_bytes()).chain(scores.iter().map(|s| s.to_bits().to_le_bytes()));
    for b in bytes.flatten() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// (mutual kNN, graph A's checksum) with `exec`.
fn answer(a: &[f16], b: &[f16], exec: &Exec<'_>) -> (f64, u64) {
    let a = knn::graph(Matrix::new(a, N, 16).unwrap(), K, Similarity::InnerProduct, exec).unwrap();
    let b = knn::graph(Matrix::new(b, N, 24).unwrap(), K, Similarity::InnerProduct, exec).unwrap();
    let score = metrics::mutual_knn_graphs(a.as_ref(), b.as_ref(), K).unwrap();
    (score, fnv1a64(a.indices(), a.scores()))
}

/// The value of `"key":` in a one-line JSON object of numbers and strings.
fn field<'j>(json: &'j str, key: &str) -> &'j str {
    let rest = json.split(&format!("\"{key}\":")).nth(1).unwrap_or_else(|| panic!("{key} missing from {json}"));
    rest.split([',', '}']).next().unwrap().trim().trim_matches('"')
}

#[test]
fn host_gives_the_firmware_answer_on_every_backend() {
    let (a, b) = (read_f16("data/a_d16.f16.npy", 16), read_f16("data/b_d24.f16.npy", 24));
    let (score, checksum) = answer(&a, &b, &Exec::default());
    let line = format!("{{\"n\":{N},\"k\":{K},\"mutual_knn\":{score},\"graph_a_checksum\":\"{checksum:016x}\"}}");
    println!("edge-host: {line}");
    for isa in Isa::ALL.into_iter().filter(|isa| isa.is_available()) {
        for threads in [1, 0] {
            let exec = Exec { threads, isa: Some(isa), ..Exec::default() };
            let (s, c) = answer(&a, &b, &exec);
            assert!(s.to_bits() == score.to_bits() && c == checksum, "{isa:?}, {threads} threads: {s} {c:016x}");
        }
    }
    let expected = std::fs::read_to_string(example("expected.json")).unwrap();
    for key in ["n", "k", "mutual_knn", "graph_a_checksum"] {
        assert_eq!(field(&line, key), field(&expected, key), "{key}: host {line}, expected.json {expected}");
    }
    // The score is far above chance (k / (N - 1)): the matrices share a latent.
    assert!(score > 0.2, "{score}");
}

/// The firmware's configuration (one worker, the scalar backend, caller buffers) stays in
/// the 64 KiB heap on the host too, where pointers are twice as wide: the engine's working
/// memory for a self graph is the private heaps, N x (8k + 4) bytes, the squared norms,
/// 8N, and the blocks (see README, "Edge devices").
#[test]
fn firmware_configuration_fits_its_heap() {
    let b = read_f16("data/b_d24.f16.npy", 24);
    let (mut indices, mut scores) = (vec![0u32; N * K], vec![0f32; N * K]);
    let exec = Exec { threads: 1, isa: Some(Isa::Scalar), ..Exec::default() };
    let x = Matrix::new(&b, N, 24).unwrap();
    HELD.with(|h| h.set((0, 0)));
    knn::neighbours_into(Rows::Within(x.into()), K, Similarity::InnerProduct, &exec, &mut indices, &mut scores)
        .unwrap();
    let peak = HELD.with(|h| h.get().1);
    println!("edge-host: engine heap peak {peak} bytes (N = {N}, D = 24, k = {K}, scalar, 1 worker)");
    let private = N * (8 * K + 4);
    assert!(peak > private && peak <= 60 * 1024, "{peak} bytes");
}

/// A heap too small for the workers' blocks is an error, not an abort: the engine's
/// buffers are all fallible allocations (issue 19; the blocks were `vec!` before).
#[test]
fn a_heap_too_small_is_out_of_memory() {
    let b = read_f16("data/b_d24.f16.npy", 24);
    let (mut indices, mut scores) = (vec![0u32; N * K], vec![0f32; N * K]);
    let exec = Exec { threads: 1, isa: Some(Isa::Scalar), ..Exec::default() };
    let x = Matrix::new(&b, N, 24).unwrap();
    // The norms and the private heaps (about 24 KiB) fit; the blocks (about 30 KiB) do not.
    HELD.with(|h| h.set((0, 0)));
    LIMIT.with(|l| l.set(40_000));
    let got =
        knn::neighbours_into(Rows::Within(x.into()), K, Similarity::InnerProduct, &exec, &mut indices, &mut scores);
    LIMIT.with(|l| l.set(usize::MAX));
    match got {
        Err(Error::OutOfMemory { what, .. }) => assert_eq!(what, "a worker's packed panels and score block"),
        other => panic!("{other:?}"),
    }
    // Below the private heaps: refused before the workers start.
    LIMIT.with(|l| l.set(10_000));
    let got =
        knn::neighbours_into(Rows::Within(x.into()), K, Similarity::InnerProduct, &exec, &mut indices, &mut scores);
    LIMIT.with(|l| l.set(usize::MAX));
    assert!(matches!(got, Err(Error::OutOfMemory { .. })), "{got:?}");
}
