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

impl<'a> Stage<'a> {
    /// The whole of `parent`'s range, `[0, 1]`: reports pass through unchanged.
    pub fn whole(parent: &'a dyn Progress) -> Self {
        Stage {
            parent,
            start: 0.0,
            span: 1.0,
        }
    }

    /// Report `fraction` of this stage; `Err(Cancelled)` when the parent asks to stop.
    pub fn step(&self, fraction: f64, message: &str) -> Result<()> {
        let f = self.start + self.span * fraction.clamp(0.0, 1.0);
        if self.parent.report(f, message) {
            Ok(())
        } else {
            Err(Error::Cancelled)
        }
    }

    /// The stage's last report, once its output is in place: a cancel asked now comes too late
    /// to undo anything, so it is no error (the output is complete and stays).
    pub fn done(&self, message: &str) {
        let _ = self.parent.report(self.start + self.span, message);
    }
}

impl Progress for Stage<'_> {
    fn report(&self, fraction: f64, message: &str) -> bool {
        self.parent
            .report(self.start + self.span * fraction.clamp(0.0, 1.0), message)
    }
}

/// Progress of parts that run at the same time (e.g. ISL beside PC1): each part reports its own
/// fraction, and the parent receives start + span · Σ wᵢ·fᵢ / Σ wᵢ over the parts' latest
/// fractions — one fraction that never runs backwards, however the parts' reports interleave.
pub struct Concurrent<'a> {
    parent: &'a dyn Progress,
    start: f64,
    span: f64,
    weights: Vec<f64>,
    /// Latest fraction of each part and the last fraction sent to the parent.
    state: std::sync::Mutex<(Vec<f64>, f64)>,
}

impl<'a> Concurrent<'a> {
    /// Parts with the given relative weights (their share of the time), reporting into
    /// `[start, start + span]` of `parent`.
    pub fn new(parent: &'a dyn Progress, start: f64, span: f64, weights: &[f64]) -> Self {
        Concurrent {
            parent,
            start,
            span,
            weights: weights.to_vec(),
            state: std::sync::Mutex::new((vec![0.0; weights.len()], start)),
        }
    }

    /// The progress sink of part `index`.
    pub fn part(&self, index: usize) -> ConcurrentPart<'_, 'a> {
        ConcurrentPart { all: self, index }
    }
}

/// One part of a [`Concurrent`] progress.
pub struct ConcurrentPart<'c, 'a> {
    all: &'c Concurrent<'a>,
    index: usize,
}

impl Progress for ConcurrentPart<'_, '_> {
    fn report(&self, fraction: f64, message: &str) -> bool {
        let all = self.all;
        // The lock is held through the parent's call, so the parent sees the fractions in order.
        let mut state = match all.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (fractions, last) = &mut *state;
        if let Some(f) = fractions.get_mut(self.index) {
            *f = f.max(fraction.clamp(0.0, 1.0));
        }
        let total: f64 = all.weights.iter().sum();
        let done: f64 = all
            .weights
            .iter()
            .zip(fractions.iter())
            .map(|(w, f)| w * f)
            .sum();
        let share = if total > 0.0 { done / total } else { 0.0 };
        *last = last.max(all.start + all.span * share);
        all.parent.report(*last, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<f64>>);

    impl Progress for Recorder {
        fn report(&self, fraction: f64, _message: &str) -> bool {
            self.0.lock().unwrap().push(fraction);
            true
        }
    }

    #[test]
    fn concurrent_parts_make_one_monotone_fraction() {
        let parent = Recorder(Mutex::new(Vec::new()));
        let both = Concurrent::new(&parent, 0.1, 0.5, &[1.0, 3.0]);
        let (a, b) = (both.part(0), both.part(1));
        // Interleaved as two threads report: each part's own fraction, the first one faster.
        for (part, f) in [
            (&a, 0.5),
            (&b, 0.1),
            (&a, 1.0),
            (&b, 0.05),
            (&b, 0.6),
            (&b, 1.0),
        ] {
            assert!(part.report(f, "step"));
        }
        let seen = parent.0.lock().unwrap().clone();
        let expected = [0.1625, 0.2, 0.2625, 0.2625, 0.45, 0.6];
        assert_eq!(seen.len(), expected.len());
        for (s, e) in seen.iter().zip(expected) {
            assert!((s - e).abs() < 1e-12, "{seen:?}");
        }
        assert!(seen.windows(2).all(|w| w[1] >= w[0]));
    }
}
