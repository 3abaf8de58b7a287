//! # repalign C ABI
//!
//! `librepalign.a` / `librepalign.so` and `include/repalign.h` (generated from this crate by
//! cbindgen, committed, never edited by hand): exact kNN graphs, the alignment metrics
//! (kNN metrics, CKA, CKNNA, SVCCA), feature preparation and the layer sweep of the
//! `repalign` crate, for C and C++.
//!
//! ## Conventions (repeated at the top of the header)
//! - Every fallible function returns a [`RepalignStatus`]; `REPALIGN_STATUS_OK` (0) is
//!   success. `repalign_status_message` describes a code; `repalign_last_error` gives the
//!   detail of the last failure on the calling thread.
//! - Inputs come first, out-parameters last. Optional pointers are documented as nullable;
//!   every other NULL pointer is `REPALIGN_STATUS_NULL_POINTER`.
//! - The caller owns every buffer: the library never keeps a pointer after a call returns,
//!   never frees caller memory, and returns no memory to free. Strings it returns are
//!   static, except `repalign_last_error`'s (thread-local, see there).
//! - Buffer lengths are element counts, checked before use; sizes whose product overflows
//!   `size_t` are `REPALIGN_STATUS_SHAPE_OVERFLOW`. Output buffers must not overlap inputs.
//! - Enumerated values (dtype, ISA, similarity, metric kind, kernel, preparation mode) are
//!   passed as `uint32_t` and checked; the `RepalignDtype`, `RepalignIsa`,
//!   `RepalignSimilarity`, `RepalignMetricKind`, `RepalignKernel` and `RepalignPrepare`
//!   constants name them. Flags are `uint32_t` 0 or 1, also checked.
//! - On failure, output buffers hold unspecified values and scalar out-parameters are
//!   unspecified (they may have been zeroed).
//! - Thread safety: every function may be called from any thread concurrently. There is no
//!   global mutable state visible to callers (CPU detection is cached once); the last-error
//!   message is per thread.
//! - No Rust panic crosses the boundary: a panic (a bug) is caught and reported as
//!   `REPALIGN_STATUS_PANIC`.
//!
//! ## Layout
//! One module per family of entry points: [`knn`] (graphs, search, merge, mutual kNN),
//! [`metric`] (the metric descriptor and scores), [`tensor`] (the 3-D tensor descriptor,
//! feature preparation and the layer sweep), [`calibrate`] (permutation nulls), [`zoo`]
//! (many models at once). Beside
//! them: [`status`] (codes, messages, the core error mapping), [`types`] (matrix
//! descriptor, kNN options, dtype/ISA/similarity constants), `enums` (decoding the integer
//! enums), `ffi` (pointer checks, descriptors, last error), `panic` (the boundary). This
//! file keeps the version, status, last-error and ISA helpers.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod status;
pub mod types;

// The families of entry points, in the order the header presents them (cbindgen follows
// the order of these declarations): calibration last, as it builds on the others.
pub mod knn;
pub mod metric;
pub mod tensor;

pub mod calibrate;
pub mod zoo;

mod enums;
mod ffi;
mod panic;

#[cfg(test)]
mod tests;

use std::ffi::{CStr, c_char};

use repalign_core::Isa;

pub use calibrate::{RepalignCalibration, RepalignCalibrationOptions};
pub use metric::{RepalignCorr, RepalignKernel, RepalignMetric, RepalignMetricKind, RepalignRdm};
pub use status::RepalignStatus;
pub use tensor::{RepalignPrepare, RepalignTensor3};
pub use types::{RepalignDtype, RepalignIsa, RepalignKnnOptions, RepalignMatrix, RepalignSimilarity};

use enums::CEnum;

/// The core version with its terminating NUL, built at compile time.
const VERSION_BYTES: [u8; repalign_core::VERSION.len() + 1] = {
    let mut out = [0u8; repalign_core::VERSION.len() + 1];
    let src = repalign_core::VERSION.as_bytes();
    let mut i = 0;
    while i < src.len() {
        out[i] = src[i];
        i += 1;
    }
    out
};
const VERSION: &CStr = match CStr::from_bytes_with_nul(&VERSION_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("the version string holds a NUL"),
};

/// The library version, e.g. `"0.1.0"`: a static string.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_version() -> *const c_char {
    panic::value(VERSION.as_ptr(), || VERSION.as_ptr())
}

/// A short static description of a status code. Accepts any integer: values that are not
/// a `RepalignStatus` get a generic message. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_status_message(status: u32) -> *const c_char {
    const UNRECOGNISED: &CStr = c"unrecognised status code";
    panic::value(UNRECOGNISED.as_ptr(), || {
        RepalignStatus::from_u32(status).map_or(UNRECOGNISED, RepalignStatus::message).as_ptr()
    })
}

/// The detailed message of the most recent failed call on this thread, e.g.
/// `"non-finite value (NaN or infinity) at row 2, column 3"`; the empty string when the
/// most recent status-returning call succeeded, or none was made. Never NULL.
///
/// Every function returning `RepalignStatus` first clears the message, so the pointer is
/// valid until the next such call on this thread; copy the text to keep it longer.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_last_error() -> *const c_char {
    panic::value(c"".as_ptr(), ffi::last_error_ptr)
}

/// The fastest instruction set available on this CPU (a `RepalignIsa` value, never
/// `REPALIGN_ISA_AUTO`): what `REPALIGN_ISA_AUTO` resolves to.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_isa_best() -> u32 {
    panic::value(RepalignIsa::Scalar as u32, || types::encode_isa(Isa::best()) as u32)
}

/// Whether the instruction set `isa` (a `RepalignIsa` value) can run on this CPU and
/// build. `REPALIGN_ISA_AUTO` is always available.
///
/// Errors: `REPALIGN_STATUS_INVALID_ENUM` for an unknown value, `REPALIGN_STATUS_NULL_POINTER`.
///
/// # Safety
/// `out` must be valid for writing one `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn repalign_isa_available(isa: u32, out: *mut bool) -> RepalignStatus {
    panic::status(|| {
        // SAFETY: the caller's contract for `out`.
        let out = unsafe { ffi::out_ref(out, "out") }?;
        *out = types::decode_isa(isa, "isa")?.is_none_or(Isa::is_available);
        Ok(())
    })
}

/// Frees the buffers kNN calls keep for the next call (the threads' packed blocks, up to
/// 64 MiB in all, and the bf16 prefilter's score matrix, up to 64 MiB); returns the bytes
/// freed. Later calls allocate anew. Safe to call at any time, from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_release_memory() -> usize {
    panic::value(0, repalign_core::knn::release_memory)
}

/// The static name of an instruction set (`"auto"`, `"scalar"`, `"x86-v3"`, `"x86-v4"`,
/// `"neon"`, `"emulated-128"`, `"emulated-256"`, `"emulated-512"`), or NULL when `isa` is
/// not a `RepalignIsa` value.
#[unsafe(no_mangle)]
pub extern "C" fn repalign_isa_name(isa: u32) -> *const c_char {
    panic::value(std::ptr::null(), || types::isa_name(isa).map_or(std::ptr::null(), CStr::as_ptr))
}
