//! Progress reporting and cancellation, shared by the CLI (progress bars), the C ABI (callbacks)
//! and tests.

use crate::error::{Error, Result};

/// Receives progress of long work. `report` returns `false` to ask the work to stop; the work
/// then returns [`Error::Cancelled`] and leaves no output behind.
pub trait Progress: Sync {
    /// `fraction` in [0, 1] of the whole task, with a short message of the current step.
    fn report(&self, fraction: f64, message: &str) -> bool;
}

/// Progress sink that ignores reports and never cancels.
pub struct Silent;

impl Progress for Silent {
    fn report(&self, _fraction: f64, _message: &str) -> bool {
        true
    }
}

/// Reports progress within a sub-range `[start, start + span]` of a parent task.
pub struct Stage<'a> {
    pub parent: &'a dyn Progress,
    pub start: f64,
    pub span: f64,
}

impl Stage<'_> {
    /// Report `fraction` of this stage; `Err(Cancelled)` when the parent asks to stop.
    pub fn step(&self, fraction: f64, message: &str) -> Result<()> {
        let f = self.start + self.span * fraction.clamp(0.0, 1.0);
        if self.parent.report(f, message) {
            Ok(())
        } else {
            Err(Error::Cancelled)
        }
    }
}

impl Progress for Stage<'_> {
    fn report(&self, fraction: f64, message: &str) -> bool {
        self.parent
            .report(self.start + self.span * fraction.clamp(0.0, 1.0), message)
    }
}
