//! The one place that turns an [`Isa`] into a pulp SIMD token and runs an op with it.

use pulp::{Simd, WithSimd};

use crate::error::{Error, Result};
use crate::isa::Isa;

/// Runs `op` on the backend `isa`, or fails with [`Error::IsaUnavailable`].
#[inline]
pub(crate) fn run<Op: WithSimd>(isa: Isa, op: Op) -> Result<Op::Output> {
    match isa {
        Isa::Scalar => Ok(pulp::Scalar.vectorize(op)),
        Isa::Emulated128 => Ok(pulp::Scalar128b.vectorize(op)),
        Isa::Emulated256 => Ok(pulp::Scalar256b.vectorize(op)),
        Isa::Emulated512 => Ok(pulp::Scalar512b.vectorize(op)),
        #[cfg(target_arch = "x86_64")]
        Isa::X86V3 => pulp::x86::V3::try_new().map(|s| Simd::vectorize(s, op)).ok_or(Error::IsaUnavailable(isa)),
        #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
        Isa::X86V4 => pulp::x86::V4::try_new().map(|s| Simd::vectorize(s, op)).ok_or(Error::IsaUnavailable(isa)),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => pulp::aarch64::Neon::try_new().map(|s| Simd::vectorize(s, op)).ok_or(Error::IsaUnavailable(isa)),
        #[allow(unreachable_patterns)]
        _ => Err(Error::IsaUnavailable(isa)),
    }
}

/// `f()` compiled with the target features of the best backend this CPU has (see
/// [`Isa::best`]), for plain loops that the compiler vectorises (such as preparation's
/// sums of squares): they do the same operations in the same order on every backend, so
/// give the same bits; only their speed depends on it.
#[inline(always)]
pub(crate) fn with_best_isa<R>(mut f: impl FnMut() -> R) -> R {
    struct Op<'f, F>(&'f mut F);
    impl<R, F: FnMut() -> R> WithSimd for Op<'_, F> {
        type Output = R;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) -> R {
            (self.0)()
        }
    }
    // The best backend is available by construction; were it refused, `f` would run
    // without its target features (the same bits, slower).
    run(Isa::best(), Op(&mut f)).unwrap_or_else(|_| f())
}
