//! Progress and cancellation callbacks of the C ABI, bridged to [`Progress`].

use std::ffi::{c_void, CString};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::versioned::Versioned;
use super::ArgumentError;
use crate::progress::Progress;

/// Called with the fraction done in [0, 1] of the whole call and a short UTF-8 message of the
/// current step. May be called from a worker thread, never from two threads at once.
pub type FwProgressCallback = Option<
    unsafe extern "C" fn(fraction: f64, message: *const std::ffi::c_char, user_data: *mut c_void),
>;

/// Polled while the work runs; return non-zero to stop it. The call then returns
/// `FW_CANCELLED` and leaves no output behind. Same threading rules as the progress callback.
pub type FwCancelCallback = Option<unsafe extern "C" fn(user_data: *mut c_void) -> i32>;

/// The callbacks of one call; a NULL pointer to this struct, or NULL members, mean "none".
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FwCallbacks {
    /// `sizeof(FwCallbacks)` as the host's header declares it. Members past `size` (a host
    /// built against an older header) are "none".
    pub size: u32,
    pub progress: FwProgressCallback,
    pub cancel: FwCancelCallback,
    /// Passed back unchanged to both callbacks.
    pub user_data: *mut c_void,
}

/// Progress reports reach the host at most this often (the last one, 100 %, always does);
/// cancellation is polled at every report of the library.
const REPORT_INTERVAL: Duration = Duration::from_millis(50);

struct BridgeState {
    last_report: Option<Instant>,
    last_message: String,
    cancelled: bool,
}

/// A [`Progress`] that forwards to the host's callbacks, serialised by a mutex.
pub(crate) struct CallbackProgress {
    progress: FwProgressCallback,
    cancel: FwCancelCallback,
    user_data: *mut c_void,
    state: Mutex<BridgeState>,
}

// SAFETY: the host promises (header documentation) that its callbacks and `user_data` may be
// used from any thread; the bridge never calls them concurrently (the mutex is held).
unsafe impl Sync for CallbackProgress {}
unsafe impl Send for CallbackProgress {}

impl Versioned for FwCallbacks {
    const NAME: &'static str = "FwCallbacks";
    fn members() -> Vec<(usize, usize)> {
        super::versioned::members!(FwCallbacks; size, progress, cancel, user_data)
    }
    fn defaults() -> Self {
        FwCallbacks {
            size: std::mem::size_of::<FwCallbacks>() as u32,
            progress: None,
            cancel: None,
            user_data: std::ptr::null_mut(),
        }
    }
}

impl CallbackProgress {
    /// # Safety
    /// `callbacks` is NULL or points to a valid [`FwCallbacks`] for the duration of the call.
    pub(crate) unsafe fn new(
        callbacks: *const FwCallbacks,
    ) -> Result<CallbackProgress, ArgumentError> {
        let c = super::versioned::read(callbacks)?.unwrap_or_else(FwCallbacks::defaults);
        let (progress, cancel, user_data) = (c.progress, c.cancel, c.user_data);
        Ok(CallbackProgress {
            progress,
            cancel,
            user_data,
            state: Mutex::new(BridgeState {
                last_report: None,
                last_message: String::new(),
                cancelled: false,
            }),
        })
    }
}

impl Progress for CallbackProgress {
    fn report(&self, fraction: f64, message: &str) -> bool {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.cancelled {
            return false;
        }
        if let Some(cancel) = self.cancel {
            // SAFETY: a host-supplied function pointer called with its own user_data.
            if unsafe { cancel(self.user_data) } != 0 {
                state.cancelled = true;
                return false;
            }
        }
        if let Some(progress) = self.progress {
            let now = Instant::now();
            let due = state
                .last_report
                .is_none_or(|t| now.duration_since(t) >= REPORT_INTERVAL);
            if due || fraction >= 1.0 || message != state.last_message {
                state.last_report = Some(now);
                state.last_message.clear();
                state.last_message.push_str(message);
                let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
                // SAFETY: as above; `text` outlives the call.
                unsafe { progress(fraction.clamp(0.0, 1.0), text.as_ptr(), self.user_data) };
            }
        }
        true
    }
}
