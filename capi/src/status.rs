//! Status codes: the one enum every fallible C function returns, its static messages,
//! and the exhaustive mapping from the core's [`Error`] (by its [`ErrorKind`]).
//!
//! The numeric values are ABI: never renumber them; new codes are appended after the last.

use std::ffi::CStr;

use repalign_core::{Error, ErrorKind};

use crate::enums::c_enum;

/// The result of every fallible `repalign_*` function. `REPALIGN_STATUS_OK` is 0; any other
/// value is an error. `repalign_status_message` gives a short static description of each
/// code and `repalign_last_error` a detailed one of the last failure on this thread.
///
/// Values are stable across releases; new codes may be added after `REPALIGN_STATUS_UNKNOWN`.
// Boilerplate: a plain C enum, written out for cbindgen; `c_enum!` below decodes it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepalignStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument (or a matrix's `data` with `rows > 0`) is NULL.
    NullPointer = 1,
    /// `RepalignMatrix.dtype` is not a `RepalignDtype` value.
    InvalidDtype = 2,
    /// An enumerated integer (similarity, ISA, metric kind, kernel, preparation mode) is not
    /// a value of its enum, or not one the function accepts.
    InvalidEnum = 3,
    /// A pointer is not aligned for its element type (e.g. f32 data not 4-byte aligned).
    Misaligned = 4,
    /// A matrix has no rows.
    EmptyMatrix = 5,
    /// A matrix has no columns.
    ZeroDimension = 6,
    /// `k` is 0 or larger than the number of candidates (N - 1 for a graph, N for a search).
    InvalidK = 7,
    /// `row_stride` is smaller than `cols`.
    StrideTooSmall = 8,
    /// `len` is smaller than `(rows - 1) * row_stride + cols`.
    BufferTooShort = 9,
    /// A shape or buffer size overflows `size_t` (or the address space).
    ShapeOverflow = 10,
    /// More rows than a `uint32_t` neighbour index can name.
    TooManyRows = 11,
    /// A NaN or infinity in an input matrix.
    NonFinite = 12,
    /// Cosine similarity of a row whose norm is zero.
    ZeroNorm = 13,
    /// A row so large that its inner products could overflow f32.
    MagnitudeTooLarge = 14,
    /// Two inputs describing the same samples have different row counts.
    RowCountMismatch = 15,
    /// Queries and database have different numbers of columns.
    DimensionMismatch = 16,
    /// Queries and database have different dtypes.
    DtypeMismatch = 17,
    /// The requested ISA is not available on this CPU or in this build.
    IsaUnavailable = 18,
    /// An output buffer is shorter than `rows * k`.
    OutputTooShort = 19,
    /// A neighbour list holds an index out of range or repeated within a row.
    InvalidGraph = 20,
    /// Neighbour lists have incompatible shapes (e.g. no parts to merge).
    GraphMismatch = 21,
    /// A bug: Rust code panicked. The panic was caught at the boundary; outputs are unspecified.
    Panic = 22,
    /// An error without a dedicated code. This version never returns it: every error of
    /// the core has a code of its own.
    Unknown = 23,
    /// Too few samples for the estimator, e.g. unbiased CKA needs N >= 4, SVCCA N >= 2.
    TooFewSamples = 24,
    /// A numeric parameter outside its domain, e.g. an RBF sigma <= 0, q outside (0, 1],
    /// cca_dim outside 1..=min(N, D), or a 0/1 flag holding another value.
    InvalidParameter = 25,
    /// A result f32/f64 cannot represent or that is undefined for this input: cosine on rows
    /// too small for f32, or CKA/CKNNA whose unbiased self-HSIC is negative.
    NumericalRange = 26,
    /// A buffer whose size follows from the input or a parameter (an N x N kernel, N x k
    /// neighbour lists, a null of `permutations` values) cannot be allocated. Reported
    /// before the work that needs it; the process is not aborted.
    OutOfMemory = 27,
    /// The work was stopped before it finished. The C API has no way to ask for that today
    /// (the Python binding's Ctrl-C does); the code exists so every core error has one.
    Cancelled = 28,
}

c_enum! {
    RepalignStatus {
        Ok, NullPointer, InvalidDtype, InvalidEnum, Misaligned, EmptyMatrix, ZeroDimension, InvalidK, StrideTooSmall,
        BufferTooShort, ShapeOverflow, TooManyRows, NonFinite, ZeroNorm, MagnitudeTooLarge, RowCountMismatch,
        DimensionMismatch, DtypeMismatch, IsaUnavailable, OutputTooShort, InvalidGraph, GraphMismatch, Panic, Unknown,
        TooFewSamples, InvalidParameter, NumericalRange, OutOfMemory, Cancelled,
    }
}

impl RepalignStatus {
    /// A short, static, NUL-terminated description.
    pub(crate) fn message(self) -> &'static CStr {
        match self {
            RepalignStatus::Ok => c"ok",
            RepalignStatus::NullPointer => c"a required pointer is NULL",
            RepalignStatus::InvalidDtype => c"unknown dtype value",
            RepalignStatus::InvalidEnum => c"unknown or unaccepted enumerated value",
            RepalignStatus::Misaligned => c"pointer not aligned for its element type",
            RepalignStatus::EmptyMatrix => c"matrix has no rows",
            RepalignStatus::ZeroDimension => c"matrix has no columns",
            RepalignStatus::InvalidK => c"k is out of range",
            RepalignStatus::StrideTooSmall => c"row stride is smaller than the number of columns",
            RepalignStatus::BufferTooShort => c"buffer is shorter than the shape needs",
            RepalignStatus::ShapeOverflow => c"shape overflows the address space",
            RepalignStatus::TooManyRows => c"too many rows for uint32_t neighbour indices",
            RepalignStatus::NonFinite => c"non-finite value (NaN or infinity) in the input",
            RepalignStatus::ZeroNorm => c"zero-norm row: cosine similarity is undefined",
            RepalignStatus::MagnitudeTooLarge => c"row too large: inner products could overflow f32",
            RepalignStatus::RowCountMismatch => c"inputs have different row counts",
            RepalignStatus::DimensionMismatch => c"inputs have different numbers of columns",
            RepalignStatus::DtypeMismatch => c"inputs have different dtypes",
            RepalignStatus::IsaUnavailable => c"instruction set not available on this CPU or build",
            RepalignStatus::OutputTooShort => c"output buffer is too short",
            RepalignStatus::InvalidGraph => c"neighbour list holds an out-of-range or repeated index",
            RepalignStatus::GraphMismatch => c"neighbour lists have incompatible shapes",
            RepalignStatus::Panic => c"internal error: a Rust panic was caught (a bug, please report it)",
            RepalignStatus::Unknown => c"unknown error",
            RepalignStatus::TooFewSamples => c"too few samples for the estimator",
            RepalignStatus::InvalidParameter => c"parameter outside its domain",
            RepalignStatus::NumericalRange => c"result out of numerical range or undefined",
            RepalignStatus::OutOfMemory => c"a buffer sized by the input cannot be allocated",
            RepalignStatus::Cancelled => c"cancelled before the work finished",
        }
    }
}

/// The status code of a core error kind. The match is exhaustive, without a wildcard: a
/// new core error stops this build until it is given a code, so it cannot silently become
/// [`RepalignStatus::Unknown`] (which stays for codes a future C API may lack).
pub(crate) fn status_of(kind: ErrorKind) -> RepalignStatus {
    match kind {
        ErrorKind::EmptyMatrix => RepalignStatus::EmptyMatrix,
        ErrorKind::ZeroDimension => RepalignStatus::ZeroDimension,
        ErrorKind::InvalidK => RepalignStatus::InvalidK,
        ErrorKind::StrideTooSmall => RepalignStatus::StrideTooSmall,
        ErrorKind::BufferTooShort => RepalignStatus::BufferTooShort,
        ErrorKind::ShapeOverflow => RepalignStatus::ShapeOverflow,
        ErrorKind::TooManyRows => RepalignStatus::TooManyRows,
        ErrorKind::NonFinite => RepalignStatus::NonFinite,
        ErrorKind::ZeroNorm => RepalignStatus::ZeroNorm,
        ErrorKind::MagnitudeTooLarge => RepalignStatus::MagnitudeTooLarge,
        ErrorKind::RowCountMismatch => RepalignStatus::RowCountMismatch,
        ErrorKind::DimensionMismatch => RepalignStatus::DimensionMismatch,
        ErrorKind::DtypeMismatch => RepalignStatus::DtypeMismatch,
        ErrorKind::IsaUnavailable => RepalignStatus::IsaUnavailable,
        ErrorKind::OutputTooShort => RepalignStatus::OutputTooShort,
        ErrorKind::InvalidGraph => RepalignStatus::InvalidGraph,
        ErrorKind::GraphMismatch => RepalignStatus::GraphMismatch,
        ErrorKind::TooFewSamples => RepalignStatus::TooFewSamples,
        ErrorKind::InvalidParameter => RepalignStatus::InvalidParameter,
        ErrorKind::NumericalRange => RepalignStatus::NumericalRange,
        ErrorKind::OutOfMemory => RepalignStatus::OutOfMemory,
        ErrorKind::Cancelled => RepalignStatus::Cancelled,
    }
}

/// A failed call: the status to return and the detail for `repalign_last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) status: RepalignStatus,
    pub(crate) detail: String,
}

impl Failure {
    pub(crate) fn new(status: RepalignStatus, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into() }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self { status: status_of(error.kind()), detail: error.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enums::CEnum;

    #[test]
    fn values_are_the_documented_ones() {
        assert_eq!(RepalignStatus::ALL.len(), 29);
        for (value, &status) in RepalignStatus::ALL.iter().enumerate() {
            assert_eq!(RepalignStatus::from_u32(value as u32), Some(status));
            assert!(!status.message().is_empty());
        }
        assert_eq!(RepalignStatus::from_u32(29), None);
        assert_eq!(RepalignStatus::from_u32(u32::MAX), None);
    }

    /// Every core error kind has a code of its own: not OK, not a boundary code (NULL,
    /// enums, alignment, panic), not UNKNOWN, and no two kinds share one.
    #[test]
    fn every_error_kind_has_its_own_code() {
        let boundary = [
            RepalignStatus::Ok,
            RepalignStatus::NullPointer,
            RepalignStatus::InvalidDtype,
            RepalignStatus::InvalidEnum,
            RepalignStatus::Misaligned,
            RepalignStatus::Panic,
            RepalignStatus::Unknown,
        ];
        let mut seen = std::collections::HashSet::new();
        for &kind in ErrorKind::ALL {
            let status = status_of(kind);
            assert!(!boundary.contains(&status), "{kind:?} -> {status:?}");
            assert!(seen.insert(status), "{kind:?} shares {status:?} with another kind");
            // Named alike on both sides of the boundary.
            assert_eq!(format!("{kind:?}"), format!("{status:?}"));
        }
        // Every code is either a core error's or a boundary code.
        assert_eq!(seen.len() + boundary.len(), RepalignStatus::ALL.len());
    }

    #[test]
    fn core_errors_map_to_their_codes() {
        let cases = [
            (Error::EmptyMatrix, RepalignStatus::EmptyMatrix),
            (Error::InvalidK { k: 0, max: 3 }, RepalignStatus::InvalidK),
            (Error::NonFinite { row: 2, col: 3 }, RepalignStatus::NonFinite),
            (Error::IsaUnavailable(repalign_core::Isa::Neon), RepalignStatus::IsaUnavailable),
            (Error::GraphMismatch, RepalignStatus::GraphMismatch),
            (Error::TooFewSamples { n: 3, min: 4 }, RepalignStatus::TooFewSamples),
            (Error::InvalidParameter { what: "q must be in (0, 1]" }, RepalignStatus::InvalidParameter),
            (Error::NumericalRange { what: "x" }, RepalignStatus::NumericalRange),
            (Error::OutOfMemory { what: "x", bytes: 8 }, RepalignStatus::OutOfMemory),
            (Error::Cancelled, RepalignStatus::Cancelled),
        ];
        for (error, status) in cases {
            let failure = Failure::from(error);
            assert_eq!(failure.status, status);
            assert_eq!(failure.detail, error.to_string());
        }
    }
}
