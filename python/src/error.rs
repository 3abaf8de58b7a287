//! The core's errors as Python exceptions, with the core's messages.

use pyo3::PyErr;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyTypeError, PyValueError};
use repalign::{Error, ErrorKind};

/// `ValueError` for bad values and shapes (which row or column is NaN, the valid k range,
/// mismatched samples), `TypeError` for mismatched dtypes, `MemoryError` when an input-sized
/// buffer cannot be allocated, `KeyboardInterrupt` for a cancelled call.
pub(crate) fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e.kind() {
        ErrorKind::DtypeMismatch => PyTypeError::new_err(message),
        ErrorKind::OutOfMemory => PyMemoryError::new_err(message),
        ErrorKind::Cancelled => PyKeyboardInterrupt::new_err(message),
        _ => PyValueError::new_err(message),
    }
}
