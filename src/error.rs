//! The one error type of the crate. Every fallible function returns [`Result`];
//! bad input is reported, never panicked on and never turned into a silent answer.

use core::fmt;

use crate::isa::Isa;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong, with the details needed to find the bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant's doc describes its fields
pub enum Error {
    /// The matrix has no rows (N = 0).
    EmptyMatrix,
    /// The rows have no features (D = 0).
    ZeroDimension,
    /// `k` is 0 or larger than the number of candidates (`max`); self-kNN allows at most N - 1.
    InvalidK { k: usize, max: usize },
    /// The row stride is shorter than a row.
    StrideTooSmall { stride: usize, cols: usize },
    /// The buffer holds fewer elements than the shape and stride address.
    BufferTooShort { needed: usize, len: usize },
    /// `rows`, `cols` and `stride` describe more elements than fit in `usize`.
    ShapeOverflow,
    /// More rows than a `u32` neighbour index can name.
    TooManyRows { rows: usize },
    /// A NaN or infinity in the input, at (`row`, `col`).
    NonFinite { row: usize, col: usize },
    /// Cosine similarity asked of a row whose norm is zero, or so small (squared norm below
    /// `f32::MIN_POSITIVE`) that its similarities cannot be computed in f32.
    ZeroNorm { row: usize },
    /// A row so large that inner products could overflow f32 (its squared norm exceeds `f32::MAX`).
    MagnitudeTooLarge { row: usize },
    /// Two inputs that must describe the same samples have different row counts.
    RowCountMismatch { a: usize, b: usize },
    /// Queries and database rows have different feature dimensions.
    DimensionMismatch { a: usize, b: usize },
    /// Queries and database have different element types.
    DtypeMismatch,
    /// The requested instruction set is not available on this CPU or build.
    IsaUnavailable(Isa),
    /// An output buffer is shorter than required.
    OutputTooShort { needed: usize, len: usize },
    /// A neighbour list names a row that does not exist (`index >= rows`) or repeats one.
    InvalidGraph { row: usize, index: u32 },
    /// Too few samples for the estimator (`min` needed), e.g. unbiased HSIC needs N >= 4.
    TooFewSamples { n: usize, min: usize },
    /// A parameter outside its domain (`what` names it), e.g. an RBF sigma <= 0.
    InvalidParameter { what: &'static str },
    /// A result that f32/f64 arithmetic cannot represent or that is undefined for this
    /// input (`what` says which), e.g. cosine similarities of rows too small for f32, or CKA
    /// when the unbiased HSIC of a kernel with itself is negative.
    NumericalRange { what: &'static str },
    /// Neighbour lists of unequal shape where equal ones are required (e.g. shards to merge).
    GraphMismatch,
    /// An allocation whose size follows from the input or a parameter failed or would exceed
    /// the address space: `what` names the buffer, `bytes` its size (`usize::MAX` when the
    /// size itself overflows). Reported before the work that needs it starts.
    OutOfMemory { what: &'static str, bytes: usize },
    /// The work was stopped through [`crate::Exec::cancel`] (e.g. Ctrl-C in Python) before
    /// it finished; nothing was returned.
    Cancelled,
}

/// Declares [`ErrorKind`] and [`ErrorKind::ALL`] from one list, so `ALL` names every kind.
macro_rules! error_kinds {
    ($($kind:ident),* $(,)?) => {
        /// Which [`Error`] variant a value is, without its details: a fieldless, exhaustive
        /// enum (unlike `Error`, it is not `#[non_exhaustive]`), so front ends that map errors
        /// to their own codes (the C ABI's status) can match it without a wildcard, and a new
        /// error stops their build instead of falling into an "unknown" code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $(#[doc = concat!("[`Error::", stringify!($kind), "`].")] $kind,)*
        }

        impl ErrorKind {
            /// Every kind, in the order `Error` declares them.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),*];
        }
    };
}

error_kinds!(
    EmptyMatrix,
    ZeroDimension,
    InvalidK,
    StrideTooSmall,
    BufferTooShort,
    ShapeOverflow,
    TooManyRows,
    NonFinite,
    ZeroNorm,
    MagnitudeTooLarge,
    RowCountMismatch,
    DimensionMismatch,
    DtypeMismatch,
    IsaUnavailable,
    OutputTooShort,
    InvalidGraph,
    TooFewSamples,
    InvalidParameter,
    NumericalRange,
    GraphMismatch,
    OutOfMemory,
    Cancelled,
);

impl Error {
    /// The variant of this error, without its details.
    pub fn kind(&self) -> ErrorKind {
        // Exhaustive (no wildcard): a new variant must be given its kind here.
        match self {
            Error::EmptyMatrix => ErrorKind::EmptyMatrix,
            Error::ZeroDimension => ErrorKind::ZeroDimension,
            Error::InvalidK { .. } => ErrorKind::InvalidK,
            Error::StrideTooSmall { .. } => ErrorKind::StrideTooSmall,
            Error::BufferTooShort { .. } => ErrorKind::BufferTooShort,
            Error::ShapeOverflow => ErrorKind::ShapeOverflow,
            Error::TooManyRows { .. } => ErrorKind::TooManyRows,
            Error::NonFinite { .. } => ErrorKind::NonFinite,
            Error::ZeroNorm { .. } => ErrorKind::ZeroNorm,
            Error::MagnitudeTooLarge { .. } => ErrorKind::MagnitudeTooLarge,
            Error::RowCountMismatch { .. } => ErrorKind::RowCountMismatch,
            Error::DimensionMismatch { .. } => ErrorKind::DimensionMismatch,
            Error::DtypeMismatch => ErrorKind::DtypeMismatch,
            Error::IsaUnavailable(_) => ErrorKind::IsaUnavailable,
            Error::OutputTooShort { .. } => ErrorKind::OutputTooShort,
            Error::InvalidGraph { .. } => ErrorKind::InvalidGraph,
            Error::TooFewSamples { .. } => ErrorKind::TooFewSamples,
            Error::InvalidParameter { .. } => ErrorKind::InvalidParameter,
            Error::NumericalRange { .. } => ErrorKind::NumericalRange,
            Error::GraphMismatch => ErrorKind::GraphMismatch,
            Error::OutOfMemory { .. } => ErrorKind::OutOfMemory,
            Error::Cancelled => ErrorKind::Cancelled,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::EmptyMatrix => write!(f, "matrix has no rows (N = 0)"),
            Error::ZeroDimension => write!(f, "rows have no features (D = 0)"),
            Error::InvalidK { k, max } => write!(f, "k = {k} is out of range: it must be in 1..={max}"),
            Error::StrideTooSmall { stride, cols } => {
                write!(f, "row stride {stride} is smaller than the number of columns {cols}")
            }
            Error::BufferTooShort { needed, len } => {
                write!(f, "buffer holds {len} elements but the shape needs {needed}")
            }
            Error::ShapeOverflow => write!(f, "rows x stride overflows the address space"),
            Error::TooManyRows { rows } => {
                write!(f, "{rows} rows exceed what a u32 neighbour index can address")
            }
            Error::NonFinite { row, col } => {
                write!(f, "non-finite value (NaN or infinity) at row {row}, column {col}")
            }
            Error::ZeroNorm { row } => write!(
                f,
                "row {row} has zero norm (or a squared norm below f32's smallest normal): cosine similarity is undefined"
            ),
            Error::MagnitudeTooLarge { row } => write!(
                f,
                "row {row} is too large: its squared norm exceeds the f32 range, inner products could overflow"
            ),
            Error::RowCountMismatch { a, b } => {
                write!(f, "inputs describe different samples: {a} rows vs {b} rows")
            }
            Error::DimensionMismatch { a, b } => {
                write!(f, "feature dimensions differ: {a} vs {b}")
            }
            Error::DtypeMismatch => write!(f, "queries and database have different element types"),
            Error::IsaUnavailable(isa) => {
                write!(f, "instruction set {} is not available on this CPU or build", isa.name())
            }
            Error::OutputTooShort { needed, len } => {
                write!(f, "output buffer holds {len} elements but {needed} are needed")
            }
            Error::InvalidGraph { row, index } => {
                write!(f, "neighbour list of row {row} holds index {index}, which is out of range or repeated")
            }
            Error::TooFewSamples { n, min } => {
                write!(f, "{n} samples are too few for this estimator: it needs at least {min}")
            }
            Error::InvalidParameter { what } => write!(f, "invalid parameter: {what}"),
            Error::NumericalRange { what } => write!(f, "result out of numerical range: {what}"),
            Error::GraphMismatch => write!(f, "neighbour lists have incompatible shapes"),
            Error::OutOfMemory { what, bytes } => {
                write!(f, "out of memory: {what}: ")?;
                if bytes == usize::MAX {
                    write!(f, "more bytes than the address space holds")
                } else {
                    write!(f, "{} cannot be allocated", Bytes(bytes))
                }
            }
            Error::Cancelled => write!(f, "cancelled before the work finished"),
        }
    }
}

/// A byte count in the largest unit that keeps it at least 1 (decimal units, as `df -H`).
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
        let (mut value, mut unit) = (self.0 as f64, 0);
        while value >= 1000.0 && unit + 1 < UNITS.len() {
            value /= 1000.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} bytes", self.0)
        } else {
            write!(f, "{value:.1} {} ({} bytes)", UNITS[unit], self.0)
        }
    }
}

/// A vector of `len` copies of `value`, or [`Error::OutOfMemory`] naming `what` when the
/// allocator refuses it (or its size overflows): the one place input-sized buffers are made.
#[cfg(feature = "alloc")]
pub(crate) fn try_vec<T: Clone>(len: usize, value: T, what: &'static str) -> Result<alloc::vec::Vec<T>> {
    let mut v = alloc::vec::Vec::new();
    v.try_reserve_exact(len).map_err(|_| out_of_memory::<T>(len, what))?;
    v.resize(len, value);
    Ok(v)
}

/// [`Error::OutOfMemory`] for `len` elements of `T` (the size saturates at `usize::MAX`).
#[cfg(feature = "alloc")]
pub(crate) fn out_of_memory<T>(len: usize, what: &'static str) -> Error {
    Error::OutOfMemory { what, bytes: len.saturating_mul(core::mem::size_of::<T>()) }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every variant, in declaration order: `kind()` gives each the kind of
    /// its own name, and `ALL` lists each kind once, in the same order.
    #[test]
    fn every_error_has_its_kind() {
        let one_of_each = [
            Error::EmptyMatrix,
            Error::ZeroDimension,
            Error::InvalidK { k: 0, max: 3 },
            Error::StrideTooSmall { stride: 1, cols: 2 },
            Error::BufferTooShort { needed: 2, len: 1 },
            Error::ShapeOverflow,
            Error::TooManyRows { rows: usize::MAX },
            Error::NonFinite { row: 1, col: 2 },
            Error::ZeroNorm { row: 3 },
            Error::MagnitudeTooLarge { row: 4 },
            Error::RowCountMismatch { a: 1, b: 2 },
            Error::DimensionMismatch { a: 1, b: 2 },
            Error::DtypeMismatch,
            Error::IsaUnavailable(Isa::Neon),
            Error::OutputTooShort { needed: 2, len: 1 },
            Error::InvalidGraph { row: 0, index: 7 },
            Error::TooFewSamples { n: 3, min: 4 },
            Error::InvalidParameter { what: "q" },
            Error::NumericalRange { what: "x" },
            Error::GraphMismatch,
            Error::OutOfMemory { what: "x", bytes: 1 },
            Error::Cancelled,
        ];
        // In declaration order, as `ALL`: so each error maps to the kind of its own name.
        assert!(one_of_each.iter().map(Error::kind).eq(ErrorKind::ALL.iter().copied()));
    }

    #[test]
    fn out_of_memory_names_the_buffer_and_its_size() {
        use alloc::string::ToString;
        let e = Error::OutOfMemory { what: "cka kernels (2 N x N f64, N = 200000)", bytes: 640_000_000_000 };
        assert_eq!(
            e.to_string(),
            "out of memory: cka kernels (2 N x N f64, N = 200000): 640.0 GB (640000000000 bytes) cannot be allocated"
        );
        let e = try_vec(usize::MAX / 2, 0u64, "huge").unwrap_err();
        assert_eq!(e, Error::OutOfMemory { what: "huge", bytes: usize::MAX });
        assert!(e.to_string().contains("address space"), "{e}");
        // 2^40 f64 = 8.8 TB: refused by the allocator, not an abort.
        assert_eq!(try_vec(1usize << 40, 0.0f64, "null").unwrap_err().kind(), ErrorKind::OutOfMemory);
        assert_eq!(try_vec(3, 1u8, "small").unwrap(), [1, 1, 1]);
    }
}
