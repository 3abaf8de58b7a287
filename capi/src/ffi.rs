//! Plumbing between C pointers and Rust references: null and alignment checks, slices
//! with checked sizes, the matrix descriptor → [`AnyMatrix`] conversion, and the
//! thread-local detail message behind `repalign_last_error`.
//!
//! Every function that turns a pointer into a reference is `unsafe` and states what the
//! caller (ultimately the C caller, through the documented contract) must guarantee. The
//! checks here catch what *can* be checked: NULL, misalignment, sizes that overflow.

use std::cell::RefCell;
use std::ffi::CString;
use std::mem::{align_of, size_of};

use repalign_core::{AnyMatrix, Element, Matrix, bf16, f16};

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

/// Validates a matrix descriptor and views it as a typed core matrix.
///
/// Order of checks: descriptor NULL, `data` NULL with `rows > 0`, dtype, alignment, byte
/// size, then the core's shape checks (stride, buffer length, overflow).
///
/// # Safety
/// Unless NULL, `desc` must point to a valid descriptor whose `data` satisfies the
/// `RepalignMatrix` contract (`len` readable, unmodified elements) for `'a`.
pub(crate) unsafe fn matrix<'a>(desc: *const RepalignMatrix, name: &str) -> Result<AnyMatrix<'a>, Failure> {
    // SAFETY: forwarded contract.
    let m = unsafe { reference(desc, name)? };
    let field = format!("{name}->data");
    if m.data.is_null() && m.rows > 0 {
        return Err(null(&field));
    }
    Ok(match RepalignDtype::decode(m.dtype, &format!("{name}->dtype"))? {
        // SAFETY: `data` holds `len` elements of the declared dtype (the caller's contract).
        RepalignDtype::F32 => AnyMatrix::F32(unsafe { typed::<f32>(m, &field)? }),
        // SAFETY: as above.
        RepalignDtype::F16 => AnyMatrix::F16(unsafe { typed::<f16>(m, &field)? }),
        // SAFETY: as above.
        RepalignDtype::Bf16 => AnyMatrix::Bf16(unsafe { typed::<bf16>(m, &field)? }),
    })
}

/// The descriptor's buffer as `T`s, shape-checked by the core.
///
/// # Safety
/// Unless `rows` is 0, `m.data` must point to `m.len` readable, unmodified `T`s for `'a`.
unsafe fn typed<'a, T: Element>(m: &RepalignMatrix, field: &str) -> Result<Matrix<'a, T>, Failure> {
    // With rows == 0 nothing is read: skip the buffer, so a NULL or dangling pointer with a
    // stale `len` is never turned into a slice.
    let len = if m.rows == 0 { 0 } else { m.len };
    // SAFETY: forwarded contract; `slice` checks NULL, alignment and size first.
    let data = unsafe { slice(m.data.cast::<T>(), len, field)? };
    Ok(Matrix::with_stride(data, m.rows, m.cols, m.row_stride)?)
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
