//! Plumbing between C pointers and Rust references: null and alignment checks, slices
//! with checked sizes, the typed buffer of a descriptor and the matrix descriptor →
//! [`AnyMatrix`] conversion, and the thread-local detail message behind
//! `repalign_last_error`.
//!
//! Every function that turns a pointer into a reference is `unsafe` and states what the
//! caller (ultimately the C caller, through the documented contract) must guarantee. The
//! checks here catch what *can* be checked: NULL, misalignment, sizes that overflow.

use std::cell::RefCell;
use std::ffi::{CString, c_void};
use std::mem::{align_of, size_of};

use repalign_core::{AnyMatrix, Matrix, bf16, f16};

use crate::enums::CEnum;
use crate::status::{Failure, RepalignStatus};
use crate::types::{RepalignDtype, RepalignMatrix};

thread_local! {
    /// Detail of the last failed call on this thread; `None` after a successful one.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Forgets the last error (start of every status-returning call).
pub(crate) fn clear_last_error() {
    // `try_with` fails only while the thread is being torn down; nothing to clear then.
    let _ = LAST_ERROR.try_with(|cell| cell.borrow_mut().take());
}

/// Records the detail of a failed call.
pub(crate) fn set_last_error(detail: &str) {
    // Messages come from Display impls and never hold NUL; strip any, just in case.
    let message = CString::new(detail.replace('\0', "")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|cell| *cell.borrow_mut() = Some(message));
}

/// The last error's detail, or `""`. The pointer outlives the borrow: it points into the
/// `CString`'s heap buffer, which stays put until the next clear or set on this thread
/// (the start of the next status-returning call), as the C documentation promises.
pub(crate) fn last_error_ptr() -> *const std::ffi::c_char {
    LAST_ERROR.try_with(|cell| cell.borrow().as_ref().map(|s| s.as_ptr())).ok().flatten().unwrap_or(c"".as_ptr())
}

fn null(name: &str) -> Failure {
    Failure::new(RepalignStatus::NullPointer, format!("`{name}` is NULL"))
}

fn check_align<T>(ptr: *const T, name: &str) -> Result<(), Failure> {
    if !(ptr as usize).is_multiple_of(align_of::<T>()) {
        return Err(Failure::new(
            RepalignStatus::Misaligned,
            format!("`{name}` ({ptr:p}) is not aligned to {} bytes", align_of::<T>()),
        ));
    }
    Ok(())
}

/// Bytes of `len` elements of `T`, if they fit in `isize` (the limit of a Rust slice).
fn check_size<T>(len: usize, name: &str) -> Result<(), Failure> {
    match len.checked_mul(size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(Failure::new(
            RepalignStatus::ShapeOverflow,
            format!("`{name}`: {len} elements of {} bytes overflow the address space", size_of::<T>()),
        )),
    }
}

/// `len` elements at `ptr` as a slice. NULL is allowed only when `len` is 0.
///
/// # Safety
/// Unless NULL, `ptr` must point to `len` initialised, readable `T`s that nothing writes to
/// during `'a`.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, name: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    check_align(ptr, name)?;
    check_size::<T>(len, name)?;
    // SAFETY: non-NULL, aligned, size within isize (checked above); readable, initialised
    // and unaliased by writers for 'a (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// `len` writable elements at `ptr`, zero-filled, as a mutable slice. NULL is an error
/// even when `len` is 0: every output this is used for is required.
///
/// The zero fill makes the slice sound for buffers C left uninitialised (`malloc`): a
/// Rust reference must only ever see initialised values. Callers pass only the length
/// they will write, so the fill costs no more than the results themselves.
///
/// # Safety
/// `ptr` must be valid for writes of `len` `T`s that nothing else accesses during `'a`.
pub(crate) unsafe fn out_slice<'a, T: Zeroable>(ptr: *mut T, len: usize, name: &str) -> Result<&'a mut [T], Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    check_align(ptr, name)?;
    check_size::<T>(len, name)?;
    // SAFETY: non-NULL, aligned, size within isize (checked above), writable for `len`
    // elements (the caller's contract). All-zero bytes are a valid `T` (`Zeroable`).
    unsafe { ptr.write_bytes(0, len) };
    // SAFETY: as above, and now every element is initialised; exclusive for 'a by contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// Plain number types for which all-zero bytes are a valid value.
///
/// # Safety
/// All-zero bytes must be a valid value of the implementing type.
pub(crate) unsafe trait Zeroable: Copy {}
// SAFETY: all-zero bytes are the integer 0.
unsafe impl Zeroable for u32 {}
// SAFETY: all-zero bytes are +0.0.
unsafe impl Zeroable for f32 {}
// SAFETY: all-zero bytes are +0.0.
unsafe impl Zeroable for f64 {}
// SAFETY: all-zero bytes are the integer 0.
unsafe impl Zeroable for usize {}
// SAFETY: the zero byte is `false`.
unsafe impl Zeroable for bool {}

/// A reference to a required input struct.
///
/// # Safety
/// Unless NULL, `ptr` must point to a valid, initialised `T` that lives for `'a`.
pub(crate) unsafe fn reference<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    check_align(ptr, name)?;
    // SAFETY: non-NULL and aligned; valid for 'a by the caller's contract.
    Ok(unsafe { &*ptr })
}

/// A required out-parameter, zero-filled (see [`out_slice`]) so it can be checked before
/// any work is done and assigned after.
///
/// # Safety
/// `ptr` must be valid for a write of `T` that nothing else accesses during `'a`.
pub(crate) unsafe fn out_ref<'a, T: Zeroable>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: forwarded contract, for one element.
    Ok(unsafe { out_slice(ptr, 1, name)? }.first_mut().expect("one element"))
}

/// An optional out-parameter: NULL means the caller does not want the value.
///
/// # Safety
/// Unless NULL, as [`out_ref`].
pub(crate) unsafe fn out_opt<'a, T: Zeroable>(ptr: *mut T, name: &str) -> Result<Option<&'a mut T>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { out_ref(ptr, name) }.map(Some)
}

/// A descriptor's buffer, typed by its dtype.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AnySlice<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    Bf16(&'a [bf16]),
}

/// Applies `$body`, generic over the element type, to each variant of `$value` (an enum
/// with the variants `F32`, `F16`, `Bf16`, such as [`AnySlice`]), and wraps the result in
/// the same variant of `$out`: `map_dtype!(data, AnySlice => AnyMatrix, d => view(d)?)`.
macro_rules! map_dtype {
    ($value:expr, $in:ident => $out:ident, $x:ident => $body:expr) => {
        match $value {
            $in::F32($x) => $out::F32($body),
            $in::F16($x) => $out::F16($body),
            $in::Bf16($x) => $out::Bf16($body),
        }
    };
}
pub(crate) use map_dtype;

/// The part of validating a descriptor that matrices and tensors share: the dtype
/// (`REPALIGN_STATUS_INVALID_DTYPE`), then the descriptor's own shape checks (`shape`),
/// then `len` elements of that dtype at `data` (NULL unless `len` is 0, alignment, byte
/// size). The caller then checks `len` against the shape (the core's views do).
///
/// # Safety
/// Unless `len` is 0, `data` must point to `len` readable elements of the declared dtype
/// that nothing modifies during `'a`.
pub(crate) unsafe fn buffer<'a>(
    (data, dtype, len): (*const c_void, u32, usize),
    name: &str,
    shape: impl FnOnce() -> Result<(), Failure>,
) -> Result<AnySlice<'a>, Failure> {
    let dtype = RepalignDtype::decode(dtype, &format!("{name}->dtype"))?;
    shape()?;
    let field = format!("{name}->data");
    // SAFETY: `data` holds `len` elements of `dtype` (forwarded contract); `slice` checks
    // NULL, alignment and size first.
    Ok(unsafe {
        match dtype {
            RepalignDtype::F32 => AnySlice::F32(slice(data.cast(), len, &field)?),
            RepalignDtype::F16 => AnySlice::F16(slice(data.cast(), len, &field)?),
            RepalignDtype::Bf16 => AnySlice::Bf16(slice(data.cast(), len, &field)?),
        }
    })
}

/// Validates a matrix descriptor and views it as a typed core matrix.
///
/// Order of checks: descriptor NULL, `data` NULL with `rows > 0`, then [`buffer`] (dtype,
/// alignment, byte size), then the core's shape checks (stride, buffer length, overflow).
///
/// # Safety
/// Unless NULL, `desc` must point to a valid descriptor whose `data` satisfies the
/// `RepalignMatrix` contract (`len` readable, unmodified elements) for `'a`.
pub(crate) unsafe fn matrix<'a>(desc: *const RepalignMatrix, name: &str) -> Result<AnyMatrix<'a>, Failure> {
    // SAFETY: forwarded contract.
    let m = unsafe { reference(desc, name)? };
    if m.data.is_null() && m.rows > 0 {
        return Err(null(&format!("{name}->data")));
    }
    // With rows == 0 nothing is read: skip the buffer, so a NULL or dangling pointer with a
    // stale `len` is never turned into a slice.
    let len = if m.rows == 0 { 0 } else { m.len };
    // SAFETY: `data` holds `len` elements of the declared dtype (the caller's contract).
    let data = unsafe { buffer((m.data, m.dtype, len), name, || Ok(()))? };
    Ok(map_dtype!(data, AnySlice => AnyMatrix, d => Matrix::with_stride(d, m.rows, m.cols, m.row_stride)?))
}

/// `a * b`, or a shape-overflow failure naming the product.
pub(crate) fn product(a: usize, b: usize, what: &str) -> Result<usize, Failure> {
    a.checked_mul(b)
        .ok_or_else(|| Failure::new(RepalignStatus::ShapeOverflow, format!("{what} = {a} * {b} overflows size_t")))
}

/// Reads a C string this crate returned; `None` for NULL. Tests only.
#[cfg(test)]
pub(crate) fn c_str<'a>(ptr: *const std::ffi::c_char) -> Option<&'a str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: only given pointers this crate returned: static strings or the last error,
    // which the test reads before its next call.
    Some(unsafe { std::ffi::CStr::from_ptr(ptr) }.to_str().expect("UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{RepalignTensor3, tensor};

    fn matrix_error(m: RepalignMatrix) -> (RepalignStatus, String) {
        // SAFETY: `data` is NULL or points to the test's 8 floats; `len` is 8 where it is read.
        let failure = unsafe { matrix(&m, "x") }.expect_err("an invalid descriptor");
        (failure.status, failure.detail)
    }

    fn tensor_error(t: RepalignTensor3) -> (RepalignStatus, String) {
        // SAFETY: as above.
        let failure = unsafe { tensor(&t, "x") }.expect_err("an invalid descriptor");
        (failure.status, failure.detail)
    }

    /// Matrices and tensors share the dtype and buffer checks; each keeps its own order
    /// around them. The first failing check is the one reported.
    #[test]
    fn descriptors_report_the_first_failing_check() {
        let v = [0.5f32; 8];
        let data = v.as_ptr().cast::<c_void>();
        let m = RepalignMatrix { data, dtype: 0, rows: 2, cols: 4, row_stride: 4, len: 8 };
        let null = (RepalignStatus::NullPointer, "`x->data` is NULL".to_owned());
        let dtype = (RepalignStatus::InvalidDtype, "`x->dtype` is 9, not a RepalignDtype value (0 to 2)".to_owned());
        // A matrix: NULL data (with rows), dtype, alignment, byte size, then the core's shape.
        assert_eq!(matrix_error(RepalignMatrix { data: std::ptr::null(), dtype: 9, ..m }), null);
        assert_eq!(matrix_error(RepalignMatrix { dtype: 9, len: usize::MAX, ..m }), dtype);
        let odd = data.cast::<u8>().wrapping_add(1).cast();
        assert_eq!(matrix_error(RepalignMatrix { data: odd, len: usize::MAX, ..m }).0, RepalignStatus::Misaligned);
        assert_eq!(matrix_error(RepalignMatrix { len: usize::MAX, ..m }).0, RepalignStatus::ShapeOverflow);
        assert_eq!(matrix_error(RepalignMatrix { len: 7, ..m }).0, RepalignStatus::BufferTooShort);
        // A tensor: dtype, overflow, empty, zero dim, then NULL data, alignment, byte size, len.
        let t = RepalignTensor3 { data, dtype: 0, samples: 2, layers: 2, dim: 2, len: 8 };
        let nothing = RepalignTensor3 { data: std::ptr::null(), dtype: 9, samples: usize::MAX, dim: 0, ..t };
        assert_eq!(tensor_error(nothing), dtype);
        assert_eq!(tensor_error(RepalignTensor3 { dtype: 0, ..nothing }).0, RepalignStatus::ShapeOverflow);
        assert_eq!(tensor_error(RepalignTensor3 { dtype: 0, samples: 0, ..nothing }).0, RepalignStatus::EmptyMatrix);
        assert_eq!(tensor_error(RepalignTensor3 { dtype: 0, samples: 2, ..nothing }).0, RepalignStatus::ZeroDimension);
        assert_eq!(tensor_error(RepalignTensor3 { data: std::ptr::null(), len: 7, ..t }), null);
        assert_eq!(tensor_error(RepalignTensor3 { data: odd, len: usize::MAX, ..t }).0, RepalignStatus::Misaligned);
        assert_eq!(tensor_error(RepalignTensor3 { len: usize::MAX, ..t }).0, RepalignStatus::ShapeOverflow);
        assert_eq!(tensor_error(RepalignTensor3 { len: 7, ..t }).0, RepalignStatus::BufferTooShort);
    }
}
