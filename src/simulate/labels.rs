//! What a human labeller would box: a signal is labelled only when its peak phase survives the
//! processing filter and the coherence over it makes it visible; the box encloses the pixels whose
//! signal phase reaches a fraction of the peak.
//!
//! The filter test: the scene is also processed without noise (same Gaussian and Goldstein
//! filters, amplitude γ). The signal a person sees at a pixel is the wrapped difference between
//! that clean filtered phase and the scene's phase without this signal; signals too small or too
//! dense for the filters vanish there and are not labelled, as they would not be in real data.

use ndarray::ArrayView2;
use serde::Serialize;

use super::params::LabelSettings;
use super::{Footprint, SignalClass};
use crate::phase::wrap;

/// A simulated signal and whether it is labelled.
#[derive(Debug, Clone, Serialize)]
pub struct TruthSignal {
    pub class: SignalClass,
    /// Landslide body id (inventory `id_frana` link); None for artifacts.
    pub body_id: Option<u32>,
    pub velocity_m_per_yr: Option<f64>,
    /// Largest |signal phase|, radians.
    pub peak_phase_rad: f64,
    /// Largest |signal phase| left after filtering (wrapped), radians.
    pub visible_peak_rad: f64,
    /// Mean true coherence over the boxed pixels.
    pub mean_coherence: f64,
    /// Box in pixels: first column, first row, end column, end row (ends exclusive).
    pub box_px: [usize; 4],
    pub visible: bool,
}

/// Label one footprint against the scene's true coherence. `clean_filtered` is the noise-free
/// scene phase after the processing filters and `true_phase` the unfiltered scene phase (all
/// signals included), both on the scene grid.
pub fn label(
    footprint: &Footprint,
    coherence: ArrayView2<f32>,
    clean_filtered: ArrayView2<f32>,
    true_phase: ArrayView2<f32>,
    settings: &LabelSettings,
) -> Option<TruthSignal> {
    let mut visible_peak = 0.0f64;
    for ((i, j), own) in footprint.phase.indexed_iter() {
        let (r, c) = (footprint.row0 + i, footprint.col0 + j);
        let background = f64::from(true_phase[(r, c)]) - f64::from(*own);
        let seen = wrap(f64::from(clean_filtered[(r, c)]) - background).abs();
        if seen.is_finite() && f64::from(own.abs()) >= 0.5 * seen {
            visible_peak = visible_peak.max(seen);
        }
    }
    let peak = footprint
        .phase
        .iter()
        .map(|v| f64::from(v.abs()))
        .fold(0.0, f64::max);
    if peak <= 0.0 {
        return None;
    }
    let threshold = settings.outline_fraction * peak;
    let (mut r0, mut c0, mut r1, mut c1) = (usize::MAX, usize::MAX, 0, 0);
    let (mut sum, mut n) = (0.0f64, 0usize);
    for ((i, j), v) in footprint.phase.indexed_iter() {
        if f64::from(v.abs()) < threshold {
            continue;
        }
        let (r, c) = (footprint.row0 + i, footprint.col0 + j);
        r0 = r0.min(r);
        c0 = c0.min(c);
        r1 = r1.max(r + 1);
        c1 = c1.max(c + 1);
        let g = coherence[(r, c)];
        if g.is_finite() {
            sum += f64::from(g);
            n += 1;
        }
    }
    if n == 0 {
        return None;
    }
    let mean_coherence = sum / n as f64;
    let big_enough = (c1 - c0).min(r1 - r0) >= settings.min_box_px;
    Some(TruthSignal {
        class: footprint.class,
        body_id: footprint.body_id,
        velocity_m_per_yr: footprint.velocity_m_per_yr,
        peak_phase_rad: peak,
        visible_peak_rad: visible_peak,
        mean_coherence,
        box_px: [c0, r0, c1, r1],
        visible: visible_peak >= settings.min_peak_phase_rad
            && mean_coherence >= settings.min_coherence
            && big_enough,
    })
}
