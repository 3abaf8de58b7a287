//! AVX-512 BF16 dot products (`vdpbf16ps`): blocks of bf16 inner products for the kNN
//! prefilter where there are no AMX tiles.
//!
//! One `vdpbf16ps` on zmm registers multiplies 16 pairs of bf16 pairs and adds them to 16
//! f32 sums: 32 multiply-adds. On a Zen 5 core it retires 1.88x the multiply-adds of f32
//! `vfmadd231ps` (`examples/lowprec_throughput.rs`: 230 against 122 G a second), on a Zen 4
//! core 2.05x (112 against 55: both run as two 256-bit halves there); on the Emerald Rapids
//! dev machines 0.58x, where the prefilter uses AMX instead.
//!
//! It reads the operands in [`super::amx`]'s tile streams, which suit it as they are: a
//! line of a candidate stream (features 2p and 2p + 1 of 16 rows, one u32 each) is one
//! register of 16 lanes, and a query row's pair (2p, 2p + 1) is one u32 broadcast to
//! every lane.
//!
//! Numerics (Intel SDM, VDPBF16PS): products of bf16 pairs are exact in f32; each lane
//! adds the two products of its pair to its sum, rounding to nearest even; input
//! denormals are read as zero and output denormals flushed, whatever MXCSR says. The
//! prefilter's bound allows any order of the sums, each rounded with relative error up to
//! 2u, and the flushes (`knn::prefilter::Bound`), so it holds for any implementation of
//! the instruction that rounds each sum at most once to a neighbour.

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
use super::amx::{DEPTH, ROWS};

/// Query rows per block: each is one broadcast per pair of features.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
pub(crate) const QUERY_ROWS: usize = 8;

/// Whether this process can run the kernels (checked once per call of the caller; the
/// standard library caches the CPUID answer).
#[cfg(all(feature = "std", target_arch = "x86_64", feature = "x86-v4"))]
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// Without std (no feature detection) or the AVX-512 backend, never.
#[cfg(not(all(feature = "std", target_arch = "x86_64", feature = "x86-v4")))]
pub(crate) fn available() -> bool {
    false
}

/// Proof that this process can run the kernels (as [`super::amx::Tiles`] is for AMX):
/// made once per worker, so the blocks need not ask again.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dots(());

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
impl Dots {
    /// `None` where [`available`] is false.
    pub(crate) fn new() -> Option<Self> {
        available().then_some(Dots(()))
    }

    /// Sums of [`QUERY_ROWS`] query rows against `C` blocks of 16 candidates over `steps`
    /// steps of 32 features: `c[r * ldc + 16 * j + m] (+)= <query r, candidate m of block
    /// j>`.
    ///
    /// `a`: the query rows' tile stream from the chunk's first step and the first of the 8
    /// rows (row r, step s at `a[s * 512 + r * 32..][..32]`); `b[j]`: block j's candidate
    /// stream from the chunk's first step (step s at `b[j][s * 256..][..256]`, line p its
    /// words `16 p..16 p + 16`). Added to `c` if `accumulate`, else written. Panics if a
    /// slice is too short.
    #[inline]
    pub(crate) fn block<const C: usize>(
        self,
        a: &[u16],
        b: [&[u32]; C],
        steps: usize,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        assert!(steps > 0);
        let (a_step, b_step) = (ROWS * DEPTH, ROWS * DEPTH / 2);
        assert!(a.len() >= (steps - 1) * a_step + QUERY_ROWS * DEPTH, "query stream");
        assert!(b.iter().all(|s| s.len() >= steps * b_step), "candidate streams");
        assert!(ldc >= C * ROWS && c.len() >= (QUERY_ROWS - 1) * ldc + C * ROWS, "sums");
        // SAFETY: the CPU has AVX-512F and AVX-512 BF16 (`self` exists only where
        // `available`), and every slice holds what the kernel reads and writes (asserted
        // above, as the doc says).
        unsafe { kernel::<C>(a, b, steps, c, ldc, accumulate) }
    }
}

/// [`Dots::block`] without the checks.
///
/// # Safety
/// AVX-512F and AVX-512 BF16 must be present, and the slices as [`Dots::block`] asserts.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel<const C: usize>(a: &[u16], b: [&[u32]; C], steps: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
    use core::arch::x86_64::*;
    let (a_step, b_step) = (ROWS * DEPTH, ROWS * DEPTH / 2);
    let mut acc = [[_mm512_setzero_ps(); C]; QUERY_ROWS];
    if accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                // SAFETY: 16 floats at r * ldc + 16 j, inside `c` (the caller's bounds).
                *v = unsafe { _mm512_loadu_ps(c.as_ptr().add(r * ldc + j * ROWS)) };
            }
        }
    }
    let (a, b) = (a.as_ptr(), b.map(|s| s.as_ptr()));
    for s in 0..steps {
        // PERF: the 16 lines of a step unrolled: C candidate loads and 8 broadcasts feed
        // 8 C independent sums (24 of the 32 registers at C = 3), enough to cover the
        // instruction's latency at two a cycle.
        for p in 0..DEPTH / 2 {
            // SAFETY: line p of step s, 16 words inside each candidate stream (bounds).
            let lines: [__m512bh; C] =
                core::array::from_fn(|j| unsafe { bf16s(_mm512_loadu_si512(b[j].add(s * b_step + p * ROWS).cast())) });
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: features 2p, 2p + 1 of row r at step s, inside the query stream
                // (bounds); an unaligned read of their two u16 as one u32.
                let pair = unsafe { a.add(s * a_step + r * DEPTH + 2 * p).cast::<i32>().read_unaligned() };
                let pair = bf16s(_mm512_set1_epi32(pair));
                for (v, &line) in row.iter_mut().zip(&lines) {
                    *v = _mm512_dpbf16_ps(*v, line, pair);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            // SAFETY: 16 floats at r * ldc + 16 j, inside `c` (the caller's bounds).
            unsafe { _mm512_storeu_ps(c.as_mut_ptr().add(r * ldc + j * ROWS), v) };
        }
    }
}

/// 32 bf16 from the bits of 16 u32 (Rust has no cast intrinsic for `__m512bh`).
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[inline(always)]
fn bf16s(v: core::arch::x86_64::__m512i) -> core::arch::x86_64::__m512bh {
    // SAFETY: both are 64 bytes of plain SIMD data, and every bit pattern is a valid value
    // of either.
    unsafe { core::mem::transmute(v) }
}

/// Whether this CPU is one where the kernels were measured to beat f32 FMA by enough for
/// the prefilter to pay (BENCHMARKS.md, issue 18): AMD family 1Ah (Zen 5), 1.88x the
/// multiply-adds a second, and family 19h with AVX-512 BF16 (Zen 4; Zen 3, the family's
/// other members, lacks it), 2.05x; on both the same shapes paid (`knn::Prefilter::Auto`).
/// Not Intel (0.58x on Emerald Rapids, which has AMX anyway). `Prefilter::On` still uses
/// them anywhere they run. Asked once, then cached (`Prefilter::Auto` asks
/// for every graph, and CPUID traps to the hypervisor in a VM).
#[cfg(all(feature = "std", target_arch = "x86_64", feature = "x86-v4"))]
pub(crate) fn measured_to_pay() -> bool {
    static PAYS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PAYS.get_or_init(|| {
        use core::arch::x86_64::__cpuid;
        let vendor = __cpuid(0);
        available() && measured_cpu([vendor.ebx, vendor.edx, vendor.ecx], __cpuid(1).eax)
    })
}

/// CPUID leaf 0's vendor words (EBX, EDX, ECX) on AMD: "AuthenticAMD".
#[cfg(all(feature = "std", target_arch = "x86_64", feature = "x86-v4"))]
const AMD: [u32; 3] = [0x6874_7541, 0x6974_6e65, 0x444d_4163];

/// [`measured_to_pay`]'s table, from CPUID leaf 0's vendor words (EBX, EDX, ECX) and leaf
/// 1's EAX: the base family in bits 8-11, the extended family (added when the base is 0xF)
/// in bits 20-27.
#[cfg(all(feature = "std", target_arch = "x86_64", feature = "x86-v4"))]
fn measured_cpu(vendor: [u32; 3], eax: u32) -> bool {
    let base = (eax >> 8) & 0xf;
    let family = if base == 0xf { base + ((eax >> 20) & 0xff) } else { base };
    vendor == AMD && matches!(family, 0x19 | 0x1a)
}

#[cfg(all(test, feature = "std", target_arch = "x86_64", feature = "x86-v4"))]
mod tests {
    use super::{AMD, measured_cpu};

    /// Zen 4 and Zen 5 only: the CPUs whose `vdpbf16ps` was measured (BENCHMARKS.md).
    #[test]
    fn the_table_names_zen_4_and_zen_5() {
        let intel = [0x756e_6547, 0x4965_6e69, 0x6c65_746e];
        // Leaf 1 EAX of the machines measured: Zen 4 (19h model 11h), Zen 5 (1Ah model 2),
        // and of the others: Zen 2 (17h), Emerald Rapids (6, model CFh).
        let (zen4, zen5, zen2, emerald) = (0x00a1_0f11, 0x00b0_0f21, 0x0083_0f10, 0x000c_06f2);
        assert!(measured_cpu(AMD, zen4));
        assert!(measured_cpu(AMD, zen5));
        assert!(!measured_cpu(AMD, zen2));
        assert!(!measured_cpu(intel, emerald));
        assert!(!measured_cpu(intel, zen4), "the family alone is not enough");
    }
}

/// Without std or the AVX-512 backend, never.
#[cfg(not(all(feature = "std", target_arch = "x86_64", feature = "x86-v4")))]
pub(crate) fn measured_to_pay() -> bool {
    false
}
