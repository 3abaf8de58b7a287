//! Input element types: `f32`, `half::f16` and `half::bf16`.
//!
//! Inputs stay in their own type; kernels widen small slices to f32 while packing
//! panels, so no full f32 copy of an input ever exists. Accumulation is always f32.

use half::{bf16, f16};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// The element type of a feature matrix, as seen by C and by the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16 (the top half of a binary32).
    Bf16,
}

impl Dtype {
    /// Lower-case name: `"f32"`, `"f16"`, `"bf16"`.
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::Bf16 => "bf16",
        }
    }
}

/// A feature element that widens exactly to f32. Sealed: implemented for `f32`, `f16`, `bf16`.
pub trait Element: Copy + bytemuck::Pod + Send + Sync + 'static + sealed::Sealed {
    /// The dtype tag of this element type.
    const DTYPE: Dtype;
    /// Widen one element (exact for every supported type).
    fn to_f32(self) -> f32;
    /// Widen `src` into `dst` (`dst.len() == src.len()`), with this CPU's conversion
    /// instructions where there are any.
    fn widen(src: &[Self], dst: &mut [f32]);
    /// [`Element::widen`] in portable code only (for a forced scalar or emulated ISA).
    #[inline]
    fn widen_portable(src: &[Self], dst: &mut [f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s.to_f32();
        }
    }
}

impl Element for f32 {
    const DTYPE: Dtype = Dtype::F32;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn widen(src: &[Self], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}

impl Element for f16 {
    const DTYPE: Dtype = Dtype::F16;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[inline]
    fn widen(src: &[Self], dst: &mut [f32]) {
        // PERF: `half` converts 8 values per call of an F16C function that cannot be
        // inlined (it copies them through arrays), about 2.5 cycles a value: packing f16
        // rows made a one-thread 1024 x 768 graph about a fifth slower than f32 rows. One
        // inlined loop of `vcvtph2ps` instead; the same exact conversion.
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("f16c") {
            // SAFETY: this CPU has AVX and F16C (detected just above).
            unsafe { widen_f16c(src, dst) };
            return;
        }
        // `half` uses F16C / fp16 instructions when they are enabled at compile time.
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(src, dst);
    }
    #[inline]
    fn widen_portable(src: &[Self], dst: &mut [f32]) {
        // `to_f32` may use F16C; the const conversion is plain integer code (same bits).
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.to_f32_const();
        }
    }
}

/// `dst[i] = src[i]` widened for `i < min(len)`, 8 values a `vcvtph2ps` (exact: every f16
/// is an f32).
///
/// # Safety
/// The CPU must have AVX and F16C.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx,f16c")]
unsafe fn widen_f16c(src: &[f16], dst: &mut [f32]) {
    use core::arch::x86_64::{__m128i, _mm_loadu_si128, _mm256_cvtph_ps, _mm256_storeu_ps};
    let n = src.len().min(dst.len());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: values i .. i + 8 are within both slices (i + 8 <= n); unaligned loads
        // and stores; the caller's CPU has F16C and AVX.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(i).cast::<__m128i>());
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
        i += 8;
    }
    for (d, s) in dst[i..n].iter_mut().zip(&src[i..n]) {
        *d = s.to_f32();
    }
}

impl Element for bf16 {
    const DTYPE: Dtype = Dtype::Bf16;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    #[inline]
    fn widen(src: &[Self], dst: &mut [f32]) {
        // A bf16 is the high half of an f32: a shift the compiler vectorises.
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits((s.to_bits() as u32) << 16);
        }
    }
}

/// `From<$view<'a, T>>` for `$any<'a>` (an enum with `F32`, `F16` and `Bf16` variants), for
/// each of the three element types.
macro_rules! from_each_dtype {
    ($any:ident, $view:ident) => {
        impl<'a> From<$view<'a, f32>> for $any<'a> {
            fn from(x: $view<'a, f32>) -> Self {
                $any::F32(x)
            }
        }
        impl<'a> From<$view<'a, half::f16>> for $any<'a> {
            fn from(x: $view<'a, half::f16>) -> Self {
                $any::F16(x)
            }
        }
        impl<'a> From<$view<'a, half::bf16>> for $any<'a> {
            fn from(x: $view<'a, half::bf16>) -> Self {
                $any::Bf16(x)
            }
        }
    };
}
pub(crate) use from_each_dtype;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// `widen` gives the portable conversion's bits for every f16 and bf16 bit pattern
    /// (NaNs compared as NaNs), at every offset and length around the 8-value steps.
    #[test]
    fn widen_is_the_exact_conversion_for_every_value() {
        fn check<T: Element>(all: &[T]) {
            let mut want = alloc::vec![0.0f32; all.len()];
            T::widen_portable(all, &mut want);
            let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            let mut got = alloc::vec![0.0f32; all.len()];
            T::widen(all, &mut got);
            let bad = got.iter().zip(&want).position(|(&a, &b)| !same(a, b));
            assert_eq!(bad, None, "{:?}", T::DTYPE);
            for start in 0..9 {
                for len in [0, 1, 7, 8, 9, 15, 16, 17, 100] {
                    let src = &all[start * 997..start * 997 + len];
                    let mut out = alloc::vec![-1.0f32; len];
                    T::widen(src, &mut out);
                    let expected = &want[start * 997..start * 997 + len];
                    assert!(out.iter().zip(expected).all(|(&a, &b)| same(a, b)), "{:?} {start} {len}", T::DTYPE);
                }
            }
        }
        check(&(0..=u16::MAX).map(f16::from_bits).collect::<Vec<_>>());
        check(&(0..=u16::MAX).map(bf16::from_bits).collect::<Vec<_>>());
    }
}
