//! Native libraries that print on their own: the Vulkan loader and Mesa's window-system code
//! write "error: XDG_RUNTIME_DIR is invalid or not set in the environment." to standard error
//! while the GPU is probed on a machine without a display. The library never prints and reports
//! every outcome of the probe as a value, so the CLI hides the process's standard error while a
//! detector is opened.

/// Run `f` with file descriptor 2 pointed at /dev/null, restored afterwards (also when `f`
/// panics, so a panic message is still seen).
#[cfg(unix)]
pub(crate) fn silenced<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;

    /// Puts the saved standard error back when dropped.
    struct Restore(i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: `self.0` is a descriptor this module duplicated from fd 2 and owns.
            unsafe {
                libc::dup2(self.0, libc::STDERR_FILENO);
                libc::close(self.0);
            }
        }
    }

    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return f();
    };
    // SAFETY: dup/dup2 on the process's own standard error and a file we hold open.
    let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
    if saved < 0 {
        return f();
    }
    let _restore = Restore(saved);
    unsafe { libc::dup2(null.as_raw_fd(), libc::STDERR_FILENO) };
    f()
}

/// Elsewhere standard error is left as it is.
#[cfg(not(unix))]
pub(crate) fn silenced<T>(f: impl FnOnce() -> T) -> T {
    f()
}
