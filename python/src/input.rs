//! numpy arrays to the core's borrowed views, without a copy.
//!
//! The Python layer (`repalign/_inputs.py`) hands this module only arrays it can view: dtype
//! float32, float16, or uint16 holding bfloat16 bits (how torch's and ml_dtypes' bfloat16
//! arrive), the last axis contiguous, the other strides non-negative and aligned. Anything
//! else was copied (or refused) there, where the copy is documented. These checks repeat the
//! rules so that a direct call of the private module can never read out of bounds.

use numpy::npyffi::NPY_TYPES;
use numpy::{PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use repalign::layers::Layers;
use repalign::{AnyLayers, AnyMatrix, Element, Matrix, bf16, f16};

/// An array's shape and element layout, read once.
struct Raw<'a> {
    ptr: *const u8,
    shape: &'a [usize],
    /// In bytes, as numpy gives them.
    strides: &'a [isize],
}

fn array<'a, 'py>(x: &'a Bound<'py, PyAny>, what: &str, ndim: usize) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    let arr = x.cast::<PyUntypedArray>().map_err(|_| {
        let ty = x.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        PyTypeError::new_err(format!("{what}: expected a numpy array, got {ty}"))
    })?;
    if arr.ndim() != ndim {
        return Err(PyValueError::new_err(format!("{what}: expected a {ndim}-D array, got {}-D", arr.ndim())));
    }
    Ok(arr)
}

/// Element strides of a view of `raw` whose last axis is contiguous, or a ValueError.
fn element_strides<T>(raw: &Raw<'_>, what: &str) -> PyResult<Vec<usize>> {
    let size = core::mem::size_of::<T>();
    if !(raw.ptr as usize).is_multiple_of(core::mem::align_of::<T>()) {
        return Err(PyValueError::new_err(format!("{what}: the array's data is not aligned for its dtype")));
    }
    let last = raw.shape.len() - 1;
    let mut out = Vec::with_capacity(raw.shape.len());
    for (axis, (&n, &s)) in raw.shape.iter().zip(raw.strides).enumerate() {
        // A stride along an axis of length 0 or 1 is never used; numpy may set it to anything.
        if n <= 1 {
            out.push(if axis == last { 1 } else { 0 });
            continue;
        }
        let ok = s >= 0 && (s as usize).is_multiple_of(size) && (axis != last || s as usize == size);
        if !ok {
            return Err(PyValueError::new_err(format!(
                "{what}: stride {s} bytes along axis {axis} cannot be viewed without a copy (the last axis must \
                 be contiguous, the others non-negative); repalign's Python functions copy such arrays themselves"
            )));
        }
        out.push(s as usize / size);
    }
    Ok(out)
}

/// The elements a view addresses, from its first to its last (0 when any axis is empty).
fn span(shape: &[usize], strides: &[usize]) -> PyResult<usize> {
    if shape.contains(&0) {
        return Ok(0);
    }
    let mut last = 0usize;
    for (&n, &s) in shape.iter().zip(strides) {
        last = (n - 1)
            .checked_mul(s)
            .and_then(|v| v.checked_add(last))
            .ok_or_else(|| PyValueError::new_err("array strides overflow the address space"))?;
    }
    Ok(last + 1)
}

/// The `len` elements from `raw.ptr`.
///
/// # Safety
/// `raw` describes a live numpy array that addresses `len` elements of `T` from `ptr`
/// (checked by the caller with [`span`]), and the array outlives `'a`.
unsafe fn elements<'a, T>(raw: &Raw<'_>, len: usize) -> &'a [T] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the caller guarantees the array holds `len` elements of T from `ptr`,
    // aligned (checked in `element_strides`), alive for 'a. A caller who mutates the array
    // from another thread while a call reads it gets unspecified scores (documented).
    unsafe { core::slice::from_raw_parts(raw.ptr.cast::<T>(), len) }
}

/// Which element type an array holds, by numpy type number.
#[derive(Clone, Copy)]
enum Kind {
    F32,
    F16,
    Bf16,
}

fn kind(arr: &Bound<'_, PyUntypedArray>, what: &str) -> PyResult<Kind> {
    let num = arr.dtype().num();
    if num == NPY_TYPES::NPY_FLOAT as i32 {
        Ok(Kind::F32)
    } else if num == NPY_TYPES::NPY_HALF as i32 {
        Ok(Kind::F16)
    } else if num == NPY_TYPES::NPY_USHORT as i32 {
        Ok(Kind::Bf16)
    } else {
        Err(PyTypeError::new_err(format!(
            "{what}: dtype {} is not float32, float16 or bfloat16 bits",
            arr.dtype().str().map(|s| s.to_string()).unwrap_or_default()
        )))
    }
}

fn raw<'a>(arr: &'a Bound<'_, PyUntypedArray>) -> Raw<'a> {
    // SAFETY: `as_array_ptr` is a valid PyArrayObject while `arr` is alive and we are
    // attached to the interpreter; its `data` field is only read here.
    let ptr = unsafe { (*numpy::npyffi::_PyArray_GET_ITEM_DATA(arr.as_array_ptr())).data } as *const u8;
    Raw { ptr, shape: arr.shape(), strides: arr.strides() }
}

/// A 2-D array (N x D) as a core matrix view.
pub(crate) fn matrix<'a>(x: &'a Bound<'_, PyAny>, what: &str) -> PyResult<AnyMatrix<'a>> {
    let arr = array(x, what, 2)?;
    let raw = raw(arr);
    fn view<'a, T: Element>(raw: &Raw<'_>, what: &str) -> PyResult<Matrix<'a, T>> {
        let strides = element_strides::<T>(raw, what)?;
        let (rows, cols) = (raw.shape[0], raw.shape[1]);
        let stride = if rows <= 1 { cols } else { strides[0] };
        if rows > 1 && stride < cols {
            return Err(PyValueError::new_err(format!("{what}: rows overlap (row stride {stride} < {cols} columns)")));
        }
        let len = span(raw.shape, &[stride, 1])?;
        // SAFETY: `span` is the extent of this shape and these strides within the array.
        let data = unsafe { elements::<T>(raw, len) };
        Matrix::with_stride(data, rows, cols, stride).map_err(crate::error::to_py)
    }
    Ok(match kind(arr, what)? {
        Kind::F32 => view::<f32>(&raw, what)?.into(),
        Kind::F16 => view::<f16>(&raw, what)?.into(),
        Kind::Bf16 => view::<bf16>(&raw, what)?.into(),
    })
}

/// A C-contiguous 3-D array (N x L x D) as a core tensor view.
pub(crate) fn layers<'a>(x: &'a Bound<'_, PyAny>, what: &str) -> PyResult<AnyLayers<'a>> {
    let arr = array(x, what, 3)?;
    let raw = raw(arr);
    fn view<'a, T: Element>(raw: &Raw<'_>, what: &str) -> PyResult<Layers<'a, T>> {
        let strides = element_strides::<T>(raw, what)?;
        let (n, l, d) = (raw.shape[0], raw.shape[1], raw.shape[2]);
        let dense = (n <= 1 || strides[0] == l * d) && (l <= 1 || strides[1] == d);
        if !dense {
            return Err(PyValueError::new_err(format!("{what}: a 3-D input must be C-contiguous here")));
        }
        let len =
            n.checked_mul(l).and_then(|v| v.checked_mul(d)).ok_or_else(|| PyValueError::new_err("shape overflows"))?;
        // SAFETY: a dense N x L x D array holds exactly N·L·D elements from its start.
        let data = unsafe { elements::<T>(raw, len) };
        Layers::new(data, n, l, d).map_err(crate::error::to_py)
    }
    Ok(match kind(arr, what)? {
        Kind::F32 => view::<f32>(&raw, what)?.into(),
        Kind::F16 => view::<f16>(&raw, what)?.into(),
        Kind::Bf16 => view::<bf16>(&raw, what)?.into(),
    })
}

/// Every 2-D array of a list, as views (one model's layers).
pub(crate) fn matrices<'a>(xs: &'a [Bound<'_, PyAny>], what: &str) -> PyResult<Vec<AnyMatrix<'a>>> {
    xs.iter().enumerate().map(|(l, x)| matrix(x, &format!("{what}[{l}]"))).collect()
}

/// A 2-D integer array of neighbour lists (int64, C-contiguous: the Python layer converts)
/// as u32 indices, or a ValueError naming the first index that is not a row number.
pub(crate) fn indices(x: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<u32>, usize, usize)> {
    let arr = x
        .cast::<numpy::PyArray2<i64>>()
        .map_err(|_| PyTypeError::new_err(format!("{what}: expected a 2-D int64 array of neighbour indices")))?;
    let (rows, k) = (arr.shape()[0], arr.shape()[1]);
    let ro = arr.readonly();
    let values = ro.as_slice().map_err(|_| PyValueError::new_err(format!("{what}: must be C-contiguous")))?;
    let mut out = Vec::new();
    out.try_reserve_exact(values.len()).map_err(|_| pyo3::exceptions::PyMemoryError::new_err("neighbour lists"))?;
    for (i, &v) in values.iter().enumerate() {
        let v = u32::try_from(v).map_err(|_| {
            PyValueError::new_err(format!("{what}: row {} holds {v}, which is not a row index", i / k.max(1)))
        })?;
        out.push(v);
    }
    Ok((out, rows, k))
}
