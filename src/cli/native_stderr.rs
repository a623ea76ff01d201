//! Native libraries that print on their own: the Vulkan loader and Mesa's window-system code
//! write "error: XDG_RUNTIME_DIR is invalid or not set in the environment." to standard error
//! while the GPU is probed on a machine without a display. The library never prints and reports
//! every outcome of the probe as a value, so the CLI hides the process's standard error while a
//! detector is opened.

use std::os::fd::AsRawFd;

/// Run `f` with file descriptor 2 pointed at /dev/null, restored afterwards.
pub(crate) fn silenced<T>(f: impl FnOnce() -> T) -> T {
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return f();
    };
    // SAFETY: dup/dup2 on the process's own standard error and a file we hold open; the saved
    // descriptor is restored and closed before returning.
    let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
    if saved < 0 {
        return f();
    }
    unsafe { libc::dup2(null.as_raw_fd(), libc::STDERR_FILENO) };
    let result = f();
    unsafe {
        libc::dup2(saved, libc::STDERR_FILENO);
        libc::close(saved);
    }
    result
}
