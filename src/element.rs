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
        // PERF: `half` uses F16C / fp16 instructions here when they are present.
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
