//! Intel AMX-BF16 tiles: blocks of bf16 inner products for the kNN prefilter.
//!
//! One AMX `tdpbf16ps` multiplies a 16 x 32 bf16 tile by a 32 x 16 one into 16 x 16 f32
//! sums: 8192 multiply-adds per instruction. On this project's Sapphire/Emerald Rapids dev
//! machines one core retires about 940 G bf16 multiply-adds a second from registers, 14x
//! its f32 FMA rate (`examples/lowprec_throughput.rs`), which is what makes a certified
//! low-precision pass cheaper than the exact f32 engine (see `knn::prefilter`).
//!
//! Rust has no stable AMX intrinsics, so the instructions are written in `asm!`. Linux
//! hands AMX state to a process only after `arch_prctl(ARCH_REQ_XCOMP_PERM)`: [`available`]
//! asks once, and answers false on other systems, without `std`, or when the CPU or the
//! kernel (or a hypervisor hiding AMX) says no.
//!
//! **Tile streams.** 16 rows of D features, laid out for tile loads: steps of 32 features,
//! each step 16 lines of 64 bytes (one 1 KiB tile load). For tile A (query rows) line l is
//! row l's 32 features; for tile B (candidates, AMX's "VNNI" layout) line p holds features
//! 2p and 2p + 1 of each of the 16 rows, one u32 per row. `knn::prefilter` writes both.
//!
//! Numerics (Intel SDM, TDPBF16PS): products of bf16 pairs are exact in f32, sums round to
//! nearest even, input denormals are read as zero and output denormals flushed to zero,
//! whatever MXCSR says. The prefilter's error bound covers any order of the sums and the
//! flushes (`knn::prefilter::Bound`).

/// bf16 features per tile row (64 bytes) and f32 columns per tile.
pub(crate) const DEPTH: usize = 32;
/// Rows of one tile.
pub(crate) const ROWS: usize = 16;

/// Whether AMX-BF16 tiles can run in this process (asked once, then cached).
#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
pub(crate) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // CPUID leaf 7: EDX bit 22 = AMX-BF16, bit 24 = AMX-TILE.
        let leaf = core::arch::x86_64::__cpuid_count(7, 0);
        let cpu = leaf.edx & (1 << 22) != 0 && leaf.edx & (1 << 24) != 0;
        cpu && request_tile_data()
    })
}

/// Without std, or off x86-64 Linux, AMX is never used.
#[cfg(not(all(feature = "std", target_arch = "x86_64", target_os = "linux")))]
pub(crate) fn available() -> bool {
    false
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: permission for this process's
/// threads to use the tile registers. Fails (non-zero) on kernels without AMX support.
#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
fn request_tile_data() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: the arch_prctl system call with integer arguments only; it reads and writes
    // no memory of ours. The syscall instruction clobbers rcx and r11, declared here.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

/// The tile configuration of the current thread, released on drop. Tiles 0-3 hold sums
/// (16 x 16 f32), 4-5 query rows, 6-7 packed candidates (16 rows of 64 bytes each).
#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
pub(crate) struct Tiles(());

#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
impl Tiles {
    /// Configures this thread's tiles; `None` where [`available`] is false.
    pub(crate) fn new() -> Option<Self> {
        #[repr(C, align(64))]
        struct Config {
            palette: u8,
            start_row: u8,
            reserved: [u8; 14],
            bytes_per_row: [u16; 16],
            rows: [u8; 16],
        }
        if !available() {
            return None;
        }
        let mut config = Config { palette: 1, start_row: 0, reserved: [0; 14], bytes_per_row: [0; 16], rows: [0; 16] };
        for t in 0..8 {
            config.bytes_per_row[t] = (DEPTH * 2) as u16;
            config.rows[t] = ROWS as u8;
        }
        // SAFETY: AMX is available and this process holds the tile permission
        // (`available`); ldtilecfg reads the 64-byte configuration, which lives until
        // after the instruction.
        unsafe { core::arch::asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly)) };
        Some(Tiles(()))
    }

    /// `c[r][j] (+)= sum_p a[r][p] * b[p][j]` for 32 query rows and 32 candidates over
    /// `steps` steps of 32 features: `a` holds the two query tiles' streams and `b` the two
    /// packed candidates' streams, each from the chunk's first step. `c`: 32 rows of 32 f32,
    /// `ldc` elements apart, added to if `accumulate`, else overwritten. Panics if a slice
    /// is too short.
    ///
    /// A chunk of the features at a time, so that the caller can keep one operand in L1
    /// (see `knn::prefilter`'s pass). The sums go through memory between chunks as f32,
    /// exactly: the result is the same as one pass over every step.
    #[inline]
    pub(crate) fn block(
        &self,
        a: [&[u16]; 2],
        b: [&[u32]; 2],
        steps: usize,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        assert!(steps > 0);
        let (a_len, b_len) = (steps * ROWS * DEPTH, steps * ROWS * DEPTH / 2);
        assert!(a.iter().all(|s| s.len() >= a_len) && b.iter().all(|s| s.len() >= b_len), "tile streams");
        assert!(ldc >= 2 * ROWS && c.len() >= (2 * ROWS - 1) * ldc + 2 * ROWS, "sums");
        let c_lo = c.as_mut_ptr();
        let c = [c_lo, c_lo.wrapping_add(ROWS), c_lo.wrapping_add(ROWS * ldc), c_lo.wrapping_add(ROWS * ldc + ROWS)];
        if accumulate {
            // SAFETY: tiles configured on this thread (`self`); each load reads 16 rows of
            // 64 bytes at c + r * ldc (r < 32), column 0 or 16: inside `c` by the assert.
            unsafe {
                core::arch::asm!(
                    "tileloadd tmm0, [{c0} + {ldc}*1]",
                    "tileloadd tmm1, [{c1} + {ldc}*1]",
                    "tileloadd tmm2, [{c2} + {ldc}*1]",
                    "tileloadd tmm3, [{c3} + {ldc}*1]",
                    c0 = in(reg) c[0], c1 = in(reg) c[1], c2 = in(reg) c[2], c3 = in(reg) c[3],
                    ldc = in(reg) ldc * 4,
                    options(nostack, readonly),
                );
            }
        } else {
            // SAFETY: tiles configured on this thread; no memory is touched.
            unsafe {
                core::arch::asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack, nomem)
                )
            };
        }
        // SAFETY: the tiles are configured on this thread (`self`) and tiles 0-3 hold the
        // sums (set just above; no Rust code uses tile registers). Every tile load reads 16
        // rows of 64 bytes, 1 KiB, at 1 KiB per step (s < steps) from the start of a
        // stream slice at least `steps` KiB long (asserted). The loop counter is >= 1.
        unsafe {
            core::arch::asm!(
                "2:",
                "tileloadd tmm4, [{a0} + {ld}*1]",
                "tileloadd tmm6, [{b0} + {ld}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{b1} + {ld}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{a1} + {ld}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "add {a0}, 1024",
                "add {a1}, 1024",
                "add {b0}, 1024",
                "add {b1}, 1024",
                "dec {n}",
                "jnz 2b",
                a0 = inout(reg) a[0].as_ptr() => _,
                a1 = inout(reg) a[1].as_ptr() => _,
                b0 = inout(reg) b[0].as_ptr() => _,
                b1 = inout(reg) b[1].as_ptr() => _,
                n = inout(reg) steps => _,
                ld = in(reg) DEPTH * 2,
                options(nostack, readonly),
            );
        }
        // SAFETY: tiles configured on this thread; each store writes 16 rows of 64 bytes at
        // c + r * ldc (r < 32), column 0 or 16: inside `c` by the assert.
        unsafe {
            core::arch::asm!(
                "tilestored [{c0} + {ldc}*1], tmm0",
                "tilestored [{c1} + {ldc}*1], tmm1",
                "tilestored [{c2} + {ldc}*1], tmm2",
                "tilestored [{c3} + {ldc}*1], tmm3",
                c0 = in(reg) c[0], c1 = in(reg) c[1], c2 = in(reg) c[2], c3 = in(reg) c[3],
                ldc = in(reg) ldc * 4,
                options(nostack),
            );
        }
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64", target_os = "linux"))]
impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: releases this thread's tile state, configured by `Tiles::new`.
        unsafe { core::arch::asm!("tilerelease", options(nostack, nomem)) };
    }
}
