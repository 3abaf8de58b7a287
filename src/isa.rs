//! Instruction sets: detection (once, cached), availability, and names.
//!
//! Kernels are written once over `pulp::Simd`; an [`Isa`] names the backend they run on.
//! Every backend computes bit-identical scores (each inner product is one fused
//! multiply-add chain in feature order), so forcing an ISA changes speed, never results.

use core::sync::atomic::{AtomicU8, Ordering};

/// A SIMD backend the kernels can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// One f32 lane, portable Rust. Always available.
    Scalar,
    /// x86-64-v3: AVX2 + FMA, 8 f32 lanes.
    X86V3,
    /// x86-64-v4: AVX-512F/BW/CD/DQ/VL, 16 f32 lanes (cargo feature `x86-v4`, on by default).
    X86V4,
    /// AArch64 Advanced SIMD (NEON), 4 f32 lanes.
    Neon,
    /// Portable emulation of 4 lanes (pulp `Scalar128b`): for testing tile and tail logic.
    Emulated128,
    /// Portable emulation of 8 lanes (pulp `Scalar256b`).
    Emulated256,
    /// Portable emulation of 16 lanes (pulp `Scalar512b`): AVX-512-shaped tiles on any CPU.
    Emulated512,
}

impl Isa {
    /// Every backend this crate knows, available here or not.
    pub const ALL: [Isa; 7] =
        [Isa::Scalar, Isa::X86V3, Isa::X86V4, Isa::Neon, Isa::Emulated128, Isa::Emulated256, Isa::Emulated512];

    /// Stable lower-case name (`"scalar"`, `"x86-v3"`, `"x86-v4"`, `"neon"`, `"emulated-128"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::X86V3 => "x86-v3",
            Isa::X86V4 => "x86-v4",
            Isa::Neon => "neon",
            Isa::Emulated128 => "emulated-128",
            Isa::Emulated256 => "emulated-256",
            Isa::Emulated512 => "emulated-512",
        }
    }

    /// Parses a name produced by [`Isa::name`].
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }

    /// Number of f32 lanes in one vector of this backend.
    pub const fn f32_lanes(self) -> usize {
        match self {
            Isa::Scalar => 1,
            Isa::Neon | Isa::Emulated128 => 4,
            Isa::X86V3 | Isa::Emulated256 => 8,
            Isa::X86V4 | Isa::Emulated512 => 16,
        }
    }

    /// A backend of real vector instructions (AVX2, AVX-512, NEON), not portable code.
    pub const fn is_native(self) -> bool {
        matches!(self, Isa::X86V3 | Isa::X86V4 | Isa::Neon)
    }

    /// Whether the CPU and this build can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar | Isa::Emulated128 | Isa::Emulated256 | Isa::Emulated512 => true,
            #[cfg(target_arch = "x86_64")]
            Isa::X86V3 => pulp::x86::V3::try_new().is_some(),
            #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
            Isa::X86V4 => pulp::x86::V4::try_new().is_some(),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => pulp::aarch64::Neon::try_new().is_some(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The fastest available native backend, detected on first use and cached.
    pub fn best() -> Isa {
        static BEST: AtomicU8 = AtomicU8::new(u8::MAX);
        let cached = BEST.load(Ordering::Relaxed);
        if let Some(&isa) = Isa::ALL.get(usize::from(cached)) {
            return isa;
        }
        let best =
            [Isa::X86V4, Isa::X86V3, Isa::Neon].into_iter().find(|isa| isa.is_available()).unwrap_or(Isa::Scalar);
        let index = Isa::ALL.iter().position(|&i| i == best).unwrap_or(0);
        BEST.store(index as u8, Ordering::Relaxed);
        best
    }

    /// Iterator over the available backends, native ones first.
    pub fn available() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_available())
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::from_name("avx9"), None);
    }

    #[test]
    fn best_is_available_and_stable() {
        let best = Isa::best();
        assert!(best.is_available());
        assert_eq!(Isa::best(), best);
        assert!(Isa::available().any(|i| i == Isa::Scalar));
    }
}
