//! Ctrl-C (SIGINT) and SIGTERM as a cancel: the first one is remembered and every progress report
//! after it asks the library to stop, so the run ends through the library's own cancel path
//! (partial files removed, transactions rolled back) and the process exits 128 + the signal
//! (130, 143). A second signal ends the process at once, as the shell's default would.

use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: an atomic store and resetting the handler.
    RECEIVED.store(signal, Ordering::SeqCst);
    // SAFETY: signal() is async-signal-safe; SIG_DFL lets a second signal end the process.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
    }
}

/// Route SIGINT and SIGTERM to [`received`].
pub(crate) fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installs a handler that only stores to an atomic and calls signal().
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// The signal received so far, if any.
pub(crate) fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
