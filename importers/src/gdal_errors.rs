//! GDAL reports read errors through its error handler; collect them instead of letting GDAL
//! print to stderr, so the CLI can name the problem in one line. GDAL calls the handler on
//! the thread that hit the error, so what is collected is per thread: two imports reading at
//! once (on two threads) never see each other's errors.

use std::cell::{Cell, RefCell};
use std::sync::Once;

thread_local! {
    /// The first failure since `reset` on this thread, with the feature counter at that time.
    static FIRST: RefCell<Option<(i64, String)>> = const { RefCell::new(None) };
    static AT: Cell<i64> = const { Cell::new(0) };
}

/// Tells the handler which feature this thread is reading.
pub fn at(feature: i64) {
    AT.with(|a| a.set(feature));
}

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        gdal::config::set_error_handler(|class, _no, msg| {
            use gdal::errors::CplErrType;
            match class {
                CplErrType::Failure | CplErrType::Fatal => FIRST.with(|first| {
                    let mut first = first.borrow_mut();
                    if first.is_none() {
                        *first = Some((AT.with(Cell::get), msg.trim().to_owned()));
                    }
                }),
                CplErrType::Warning => tracing::debug!(target: "gdal", "{msg}"),
                _ => {}
            }
        });
    });
}

/// Forgets this thread's earlier failures, before a new read.
pub fn reset() {
    FIRST.with(|f| f.borrow_mut().take());
    at(0);
}

/// This thread's first failure since `reset`, taken.
pub fn first_failure() -> Option<(i64, String)> {
    FIRST.with(|f| f.borrow_mut().take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_stay_on_the_thread_that_had_them() {
        install();
        reset();
        at(7);
        // A failure as GDAL's drivers report one.
        // SAFETY: a constant format string without conversions.
        unsafe { gdal_sys::CPLError(gdal_sys::CPLErr::CE_Failure, 1, c"truncated file".as_ptr()) };
        let other = std::thread::spawn(|| {
            reset();
            first_failure()
        })
        .join()
        .unwrap();
        assert_eq!(other, None, "another thread saw this thread's failure");
        let (feature, message) = first_failure().expect("the failure was collected");
        assert_eq!(feature, 7);
        assert_eq!(message, "truncated file");
        assert_eq!(first_failure(), None, "taken once");
    }
}
