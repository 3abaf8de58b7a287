//! Single-thread multiply-add throughput of this CPU's AVX-512 arithmetic: f32 FMA
//! (`vfmadd231ps`), bf16 dot (`vdpbf16ps`), int8 dot (`vpdpbusd`, u8 × s8 → i32) at zmm and ymm
//! width, and int16 dot (`vpdpwssd`) at zmm width.
//!
//! `cargo run --release --example lowprec_throughput [-- ITERATIONS]` (default 10 000 000 loop
//! iterations per timed run). Pin it if the machine is busy, e.g. `taskset -c 0 …`.
//!
//! Why: the low-precision prefilter proposed in the performance issue (rank candidates with a
//! bf16 or int8 dot product, then rescore the survivors exactly in f32) only pays where those
//! instructions retire more multiply-adds per cycle than f32 FMA. That differs per CPU (Zen 4
//! runs 512-bit operations as two 256-bit halves; Intel server parts differ again), so the
//! decision needs measured per-CPU numbers, which this program prints.
//!
//! Method: each kernel is one `asm!` loop of 12 independent accumulators (more than latency ×
//! issue width, so the dependency chains never limit it), operands in registers and no memory
//! access. Throughput is reported in GMAC/s, counting per instruction: f32 FMA = its lanes,
//! `vdpbf16ps` = 2 × its f32 lanes, `vpdpbusd` = 4 × its i32 lanes, `vpdpwssd` = 2 × its i32
//! lanes; the median of 7 timed runs after one warm-up run, and the ratio to f32 FMA of the same
//! width. The inputs keep every accumulator finite and normal (no denormal slow paths); the
//! integer dots wrap, which the instructions define.

#[cfg(target_arch = "x86_64")]
mod bench {
    use core::arch::asm;
    use core::arch::x86_64::{__m256i, __m512i, _mm256_set1_epi32, _mm512_set1_epi32};
    use std::hint::black_box;
    use std::time::Instant;

    /// Independent accumulators per loop iteration (= instructions per iteration).
    const ACCUMULATORS: u64 = 12;
    /// Timed runs per kernel; the median is reported.
    const RUNS: usize = 7;

    /// One kernel: `iters` loop iterations of 12 instructions `$insn acc_i, x, y`, with `x` and
    /// `y` broadcast from the 32-bit patterns `xb` and `yb` and the accumulators starting at zero.
    /// Returns the accumulators so the caller can `black_box` them.
    macro_rules! kernel {
        ($name:ident, $vec:ty, $class:ident, $set1:ident, $insn:literal) => {
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni")]
            fn $name(iters: u64, xb: u32, yb: u32) -> [$vec; 12] {
                assert!(iters > 0, "the loop runs at least once");
                let (x, y) = ($set1(xb as i32), $set1(yb as i32));
                let z = $set1(0);
                let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5) = (z, z, z, z, z, z);
                let (mut a6, mut a7, mut a8, mut a9, mut a10, mut a11) = (z, z, z, z, z, z);
                let mut n = iters;
                // SAFETY: the enclosing function is compiled with, and (by `run`'s feature
                // checks) only called on a CPU with, every feature the instruction needs. The
                // asm touches only its declared register operands and the flags (which `asm!`
                // assumes clobbered without `preserves_flags`): no memory (`nomem`), no stack
                // (`nostack`). `n` starts > 0 (asserted above), so `dec`/`jnz` ends after
                // exactly `iters` iterations.
                unsafe {
                    asm!(
                        "2:",
                        concat!($insn, " {a0}, {x}, {y}"),
                        concat!($insn, " {a1}, {x}, {y}"),
                        concat!($insn, " {a2}, {x}, {y}"),
                        concat!($insn, " {a3}, {x}, {y}"),
                        concat!($insn, " {a4}, {x}, {y}"),
                        concat!($insn, " {a5}, {x}, {y}"),
                        concat!($insn, " {a6}, {x}, {y}"),
                        concat!($insn, " {a7}, {x}, {y}"),
                        concat!($insn, " {a8}, {x}, {y}"),
                        concat!($insn, " {a9}, {x}, {y}"),
                        concat!($insn, " {a10}, {x}, {y}"),
                        concat!($insn, " {a11}, {x}, {y}"),
                        "dec {n}",
                        "jnz 2b",
                        n = inout(reg) n,
                        x = in($class) x,
                        y = in($class) y,
                        a0 = inout($class) a0,
                        a1 = inout($class) a1,
                        a2 = inout($class) a2,
                        a3 = inout($class) a3,
                        a4 = inout($class) a4,
                        a5 = inout($class) a5,
                        a6 = inout($class) a6,
                        a7 = inout($class) a7,
                        a8 = inout($class) a8,
                        a9 = inout($class) a9,
                        a10 = inout($class) a10,
                        a11 = inout($class) a11,
                        options(nomem, nostack),
                    );
                }
                black_box(n);
                [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11]
            }
        };
    }

    // The register operands are typed as integer vectors throughout; the instruction decides how
    // the bits are read. ymm operands live in ymm0-15; `{evex}` forces the AVX-512 encoding of
    // `vpdpbusd`, whose VEX form would need AVX-VNNI (which e.g. Zen 4 lacks).
    kernel!(fma_zmm, __m512i, zmm_reg, _mm512_set1_epi32, "vfmadd231ps");
    kernel!(fma_ymm, __m256i, ymm_reg, _mm256_set1_epi32, "vfmadd231ps");
    kernel!(bf16_zmm, __m512i, zmm_reg, _mm512_set1_epi32, "vdpbf16ps");
    kernel!(bf16_ymm, __m256i, ymm_reg, _mm256_set1_epi32, "{{evex}} vdpbf16ps");
    kernel!(int8_zmm, __m512i, zmm_reg, _mm512_set1_epi32, "vpdpbusd");
    kernel!(int8_ymm, __m256i, ymm_reg, _mm256_set1_epi32, "{{evex}} vpdpbusd");
    kernel!(int16_zmm, __m512i, zmm_reg, _mm512_set1_epi32, "vpdpwssd");

    /// A kernel as the table sees it.
    struct Kernel {
        label: &'static str,
        /// Multiply-adds per instruction.
        macs: u64,
        /// Index of the f32 FMA row of the same width, for the ratio.
        baseline: usize,
        /// Runs `iters` loop iterations; returns seconds.
        time: fn(u64) -> f64,
    }

    // Operand patterns (per 32-bit lane): f32 1.0 × 2^-20; bf16 pairs (1.0, 1.0) × (2^-20, 2^-20);
    // u8 ones × s8 ones; i16 ones × i16 ones.
    const F32_ONE: u32 = 0x3F80_0000;
    const F32_SMALL: u32 = 0x3580_0000;
    const BF16_ONES: u32 = 0x3F80_3F80;
    const BF16_SMALL: u32 = 0x3580_3580;
    const I8_ONES: u32 = 0x0101_0101;
    const I16_ONES: u32 = 0x0001_0001;

    /// Times one call of `$kernel` (a `kernel!` function) with the given operand patterns.
    macro_rules! timer {
        ($kernel:ident, $xb:expr, $yb:expr) => {{
            fn time(iters: u64) -> f64 {
                let t = Instant::now();
                // SAFETY: `time` is only reached through `run`, after it has checked that the CPU
                // has every feature in the kernel's `#[target_feature]` list.
                let acc = unsafe { $kernel(black_box(iters), black_box($xb), black_box($yb)) };
                let secs = t.elapsed().as_secs_f64();
                black_box(acc);
                secs
            }
            time
        }};
    }

    /// The features in the kernels' `#[target_feature]` list, and whether this CPU has each.
    fn detected() -> [(&'static str, bool); 5] {
        [
            ("avx512f", is_x86_feature_detected!("avx512f")),
            ("avx512bw", is_x86_feature_detected!("avx512bw")),
            ("avx512vl", is_x86_feature_detected!("avx512vl")),
            ("avx512bf16", is_x86_feature_detected!("avx512bf16")),
            ("avx512vnni", is_x86_feature_detected!("avx512vnni")),
        ]
    }

    pub fn run() {
        let iters: u64 = std::env::args()
            .nth(1)
            .map(|a| a.replace('_', "").parse().expect("ITERATIONS: a positive integer"))
            .unwrap_or(10_000_000);
        assert!(iters > 0, "ITERATIONS must be positive");
        let missing: Vec<&str> = detected().iter().filter(|f| !f.1).map(|f| f.0).collect();
        if !missing.is_empty() {
            println!("unsupported: this CPU lacks {}", missing.join(", "));
            return;
        }
        let kernels = [
            Kernel {
                label: "f32 FMA vfmadd231ps zmm",
                macs: 16,
                baseline: 0,
                time: timer!(fma_zmm, F32_ONE, F32_SMALL),
            },
            Kernel {
                label: "f32 FMA vfmadd231ps ymm",
                macs: 8,
                baseline: 1,
                time: timer!(fma_ymm, F32_ONE, F32_SMALL),
            },
            Kernel {
                label: "bf16 dot vdpbf16ps zmm",
                macs: 32,
                baseline: 0,
                time: timer!(bf16_zmm, BF16_ONES, BF16_SMALL),
            },
            Kernel {
                label: "bf16 dot vdpbf16ps ymm",
                macs: 16,
                baseline: 1,
                time: timer!(bf16_ymm, BF16_ONES, BF16_SMALL),
            },
            Kernel { label: "int8 dot vpdpbusd zmm", macs: 64, baseline: 0, time: timer!(int8_zmm, I8_ONES, I8_ONES) },
            Kernel { label: "int8 dot vpdpbusd ymm", macs: 32, baseline: 1, time: timer!(int8_ymm, I8_ONES, I8_ONES) },
            Kernel {
                label: "int16 dot vpdpwssd zmm",
                macs: 32,
                baseline: 0,
                time: timer!(int16_zmm, I16_ONES, I16_ONES),
            },
        ];
        println!("{iters} iterations × {ACCUMULATORS} instructions per run, median of {RUNS} runs, one thread");
        println!("| kernel | MAC/insn | median ms | Ginsn/s | GMAC/s | × f32 FMA same width |");
        println!("|---|---:|---:|---:|---:|---:|");
        let mut gmacs = [0.0f64; 7];
        for (k, kernel) in kernels.iter().enumerate() {
            (kernel.time)(iters); // warm-up: clocks, AVX-512 power state
            let mut secs: Vec<f64> = (0..RUNS).map(|_| (kernel.time)(iters)).collect();
            secs.sort_by(f64::total_cmp);
            let median = secs[RUNS / 2];
            let insns = (iters * ACCUMULATORS) as f64;
            gmacs[k] = insns * kernel.macs as f64 / median / 1e9;
            println!(
                "| {} | {} | {:.2} | {:.2} | {:.1} | {:.2} |",
                kernel.label,
                kernel.macs,
                median * 1e3,
                insns / median / 1e9,
                gmacs[k],
                gmacs[k] / gmacs[kernel.baseline]
            );
        }
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    bench::run();
    #[cfg(not(target_arch = "x86_64"))]
    println!("x86-64 only");
}
