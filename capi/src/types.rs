//! The C-visible data types: the matrix descriptor, the kNN options, and the integer
//! constants for dtypes, instruction sets and similarities (decoded through
//! [`CEnum`](crate::enums::CEnum)).

use std::ffi::{CStr, c_void};

use repalign_core::Exec;
use repalign_core::Isa;
use repalign_core::knn::Similarity;

use crate::enums::{CEnum, c_enum};
use crate::ffi;
use crate::status::Failure;

/// Element types of `RepalignMatrix.dtype`.
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepalignDtype {
    /// IEEE binary32 (`float`); data must be 4-byte aligned.
    F32 = 0,
    /// IEEE binary16, as `uint16_t` bit patterns (0x3C00 is 1.0); 2-byte aligned.
    F16 = 1,
    /// bfloat16, the high 16 bits of a binary32, as `uint16_t`; 2-byte aligned.
    Bf16 = 2,
}

c_enum! { RepalignDtype { F32, F16, Bf16 }, invalid: InvalidDtype }

/// Instruction sets, for `RepalignKnnOptions.isa`, `repalign_isa_*` and `isa_used`
/// out-parameters. Every ISA computes bit-identical results; forcing one changes speed only.
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Underscores where the C names have them (cbindgen cannot rename single variants):
// REPALIGN_ISA_X86_V3, REPALIGN_ISA_EMULATED_128, ...
#[allow(non_camel_case_types)]
pub enum RepalignIsa {
    /// Let the library pick the fastest available one (options only).
    Auto = 0,
    /// Portable code, one f32 lane. Always available.
    Scalar = 1,
    /// x86-64-v3: AVX2 + FMA.
    X86_V3 = 2,
    /// x86-64-v4: AVX-512.
    X86_V4 = 3,
    /// AArch64 NEON.
    Neon = 4,
    /// Portable emulation of 4 lanes (testing). Always available.
    Emulated_128 = 5,
    /// Portable emulation of 8 lanes (testing). Always available.
    Emulated_256 = 6,
    /// Portable emulation of 16 lanes (testing). Always available.
    Emulated_512 = 7,
}

c_enum! { RepalignIsa { Auto, Scalar, X86_V3, X86_V4, Neon, Emulated_128, Emulated_256, Emulated_512 } }

/// How rows are compared, for `RepalignKnnOptions.similarity`.
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepalignSimilarity {
    /// Inner product of the rows as given.
    InnerProduct = 0,
    /// Cosine similarity: inner product divided by both row norms.
    Cosine = 1,
}

c_enum! { RepalignSimilarity { InnerProduct, Cosine } }

/// A borrowed, row-major matrix: `rows` rows of `cols` elements, whose starts are
/// `row_stride` elements apart, in a buffer of `len` elements at `data`.
///
/// The buffer must hold at least `(rows - 1) * row_stride + cols` elements (the last row
/// needs no padding) and must stay valid and unmodified for the duration of the call.
/// `data` may be NULL only when `rows` is 0 (which is then reported as an empty matrix).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RepalignMatrix {
    /// First element of row 0. Aligned for the dtype.
    pub data: *const c_void,
    /// A `RepalignDtype` value.
    pub dtype: u32,
    /// Number of rows (samples).
    pub rows: usize,
    /// Number of columns (features).
    pub cols: usize,
    /// Elements (not bytes) between the starts of consecutive rows; at least `cols`.
    pub row_stride: usize,
    /// Elements (not bytes) readable at `data`.
    pub len: usize,
}

/// Options of every kNN computation. Obtain defaults from `repalign_knn_options_default()`
/// and change fields; a NULL options pointer means the defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepalignKnnOptions {
    /// A `RepalignSimilarity` value. Default: `REPALIGN_SIMILARITY_INNER_PRODUCT`.
    pub similarity: u32,
    /// Worker threads; 0 (the default) uses every core. Results never depend on it.
    pub threads: usize,
    /// A `RepalignIsa` value. Default: `REPALIGN_ISA_AUTO`.
    pub isa: u32,
}

impl Default for RepalignKnnOptions {
    fn default() -> Self {
        Self { similarity: RepalignSimilarity::InnerProduct as u32, threads: 0, isa: RepalignIsa::Auto as u32 }
    }
}

/// `RepalignKnnOptions` decoded: what the kNN graphs compare (the similarity) and how to
/// run (the core's execution context).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) similarity: Similarity,
    pub(crate) exec: Exec<'static>,
}

impl RepalignKnnOptions {
    /// The core's similarity and execution context, after checking both integers.
    pub(crate) fn decode(&self) -> Result<Options, Failure> {
        let similarity = match RepalignSimilarity::decode(self.similarity, "opts->similarity")? {
            RepalignSimilarity::InnerProduct => Similarity::InnerProduct,
            RepalignSimilarity::Cosine => Similarity::Cosine,
        };
        let exec = Exec::new().with_threads(self.threads).with_isa(decode_isa(self.isa, "opts->isa")?);
        Ok(Options { similarity, exec })
    }
}

/// The options behind a nullable pointer (NULL: the defaults), decoded and checked.
///
/// # Safety
/// Unless NULL, `opts` must point to a valid `RepalignKnnOptions`.
pub(crate) unsafe fn options(opts: *const RepalignKnnOptions) -> Result<Options, Failure> {
    if opts.is_null() {
        return RepalignKnnOptions::default().decode();
    }
    // SAFETY: forwarded contract.
    unsafe { ffi::reference(opts, "opts") }?.decode()
}

impl RepalignIsa {
    /// The core ISA; `None` for `Auto`.
    fn to_core(self) -> Option<Isa> {
        match self {
            RepalignIsa::Auto => None,
            RepalignIsa::Scalar => Some(Isa::Scalar),
            RepalignIsa::X86_V3 => Some(Isa::X86V3),
            RepalignIsa::X86_V4 => Some(Isa::X86V4),
            RepalignIsa::Neon => Some(Isa::Neon),
            RepalignIsa::Emulated_128 => Some(Isa::Emulated128),
            RepalignIsa::Emulated_256 => Some(Isa::Emulated256),
            RepalignIsa::Emulated_512 => Some(Isa::Emulated512),
        }
    }
}

/// `None` for `REPALIGN_ISA_AUTO`, the core ISA otherwise; `what` names the argument.
pub(crate) fn decode_isa(value: u32, what: &str) -> Result<Option<Isa>, Failure> {
    RepalignIsa::decode(value, what).map(RepalignIsa::to_core)
}

/// The C value of a core ISA.
pub(crate) fn encode_isa(isa: Isa) -> RepalignIsa {
    match isa {
        Isa::Scalar => RepalignIsa::Scalar,
        Isa::X86V3 => RepalignIsa::X86_V3,
        Isa::X86V4 => RepalignIsa::X86_V4,
        Isa::Neon => RepalignIsa::Neon,
        Isa::Emulated128 => RepalignIsa::Emulated_128,
        Isa::Emulated256 => RepalignIsa::Emulated_256,
        Isa::Emulated512 => RepalignIsa::Emulated_512,
    }
}

/// The static NUL-terminated name of an ISA value: `"auto"`, `"scalar"`, `"x86-v3"`, ...
pub(crate) fn isa_name(value: u32) -> Option<&'static CStr> {
    Some(match RepalignIsa::from_u32(value)? {
        RepalignIsa::Auto => c"auto",
        RepalignIsa::Scalar => c"scalar",
        RepalignIsa::X86_V3 => c"x86-v3",
        RepalignIsa::X86_V4 => c"x86-v4",
        RepalignIsa::Neon => c"neon",
        RepalignIsa::Emulated_128 => c"emulated-128",
        RepalignIsa::Emulated_256 => c"emulated-256",
        RepalignIsa::Emulated_512 => c"emulated-512",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::RepalignStatus;

    #[test]
    fn isa_values_round_trip_and_match_core_names() {
        for isa in Isa::ALL {
            let value = encode_isa(isa) as u32;
            assert_eq!(decode_isa(value, "isa").unwrap(), Some(isa));
            assert_eq!(isa_name(value).unwrap().to_str().unwrap(), isa.name());
        }
        assert_eq!(decode_isa(0, "isa").unwrap(), None);
        let bad = decode_isa(8, "opts->isa").unwrap_err();
        assert_eq!(bad.status, RepalignStatus::InvalidEnum);
        assert_eq!(bad.detail, "`opts->isa` is 8, not a RepalignIsa value (0 to 7)");
        assert!(isa_name(u32::MAX).is_none());
    }

    #[test]
    fn options_decode_checks_integers() {
        let default = RepalignKnnOptions::default().decode().unwrap();
        assert_eq!(default.similarity, Similarity::InnerProduct);
        assert_eq!((default.exec.threads, default.exec.isa), (0, None));
        let bad = RepalignKnnOptions { similarity: 2, ..Default::default() };
        assert_eq!(bad.decode().unwrap_err().status, RepalignStatus::InvalidEnum);
        let bad = RepalignKnnOptions { isa: 99, ..Default::default() };
        assert_eq!(bad.decode().unwrap_err().status, RepalignStatus::InvalidEnum);
        let cosine = RepalignKnnOptions { similarity: 1, threads: 2, isa: 1 }.decode().unwrap();
        assert_eq!(cosine.similarity, Similarity::Cosine);
        assert_eq!((cosine.exec.threads, cosine.exec.isa), (2, Some(Isa::Scalar)));
    }
}
