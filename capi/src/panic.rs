//! The panic boundary. Every `extern "C"` function runs its body through [`status`] or
//! [`value`], which catch any unwinding panic, so no panic ever crosses into C (where it
//! would abort the process). A caught panic becomes `REPALIGN_STATUS_PANIC` (or a
//! documented fallback value) and its message goes to `repalign_last_error`.
//!
//! Panics are bugs: the core reports bad input as errors. The boundary exists so that a bug
//! costs one failed call, not the host process.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::ffi;
use crate::status::{Failure, RepalignStatus};

/// Runs a fallible entry point: clears the last error, runs `body` under `catch_unwind`,
/// and turns its outcome into a status (recording the detail of a failure).
pub(crate) fn status(body: impl FnOnce() -> Result<(), Failure>) -> RepalignStatus {
    ffi::clear_last_error();
    // AssertUnwindSafe: after a panic nothing of the body's state is used again; outputs
    // are documented as unspecified on failure.
    match catch_unwind(AssertUnwindSafe(|| {
        #[cfg(test)]
        test_hook::maybe_panic();
        body()
    })) {
        Ok(Ok(())) => RepalignStatus::Ok,
        Ok(Err(failure)) => {
            ffi::set_last_error(&failure.detail);
            failure.status
        }
        Err(payload) => {
            ffi::set_last_error(&format!("internal error: Rust panic: {}", payload_message(&*payload)));
            // The payload is dropped here, inside Rust: a panic while dropping it would
            // abort rather than unwind into C.
            drop(payload);
            RepalignStatus::Panic
        }
    }
}

/// Runs an infallible entry point; returns `on_panic` if it panics anyway.
pub(crate) fn value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(|| {
        #[cfg(test)]
        test_hook::maybe_panic();
        body()
    }))
    .unwrap_or(on_panic)
}

fn payload_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string payload)"
    }
}

/// Makes the next guarded call on this thread panic inside the boundary, so tests can
/// check that the guard works without a real bug.
#[cfg(test)]
pub(crate) mod test_hook {
    use std::cell::Cell;

    thread_local! {
        static ARMED: Cell<bool> = const { Cell::new(false) };
    }

    /// The next guarded call on this thread panics.
    pub(crate) fn arm() {
        ARMED.with(|a| a.set(true));
    }

    pub(super) fn maybe_panic() {
        if ARMED.with(|a| a.replace(false)) {
            panic!("injected test panic");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = status(|| panic!("boom {}", 42));
        assert_eq!(status, RepalignStatus::Panic);
        let message = ffi::c_str(ffi::last_error_ptr()).unwrap();
        assert!(message.contains("boom 42"), "{message}");
        // The next call clears it.
        assert_eq!(super::status(|| Ok(())), RepalignStatus::Ok);
        assert_eq!(ffi::c_str(ffi::last_error_ptr()), Some(""));
    }

    #[test]
    fn value_falls_back_on_panic() {
        assert_eq!(value(7u32, || panic!("static message")), 7);
        assert_eq!(value(7u32, || 3), 3);
    }
}
