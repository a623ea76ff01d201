//! Wrapped interferometric phase: the radar constants and sign convention (METHOD.md §7),
//! wrapping, phase residues, 2-D FFTs and the phase filters (Goldstein–Werner, its
//! coherence-adaptive and GAMMA-`adf`-like variants, complex boxcar).
//!
//! Sign convention (GMTSAR, MintPy, SNAP): positive phase = range increase = motion away from the
//! satellite. With Δr the range increase, φ = 4π·Δr/λ, and the line-of-sight displacement towards
//! the satellite is d_LOS = −λ·φ/(4π) = −Δr.

pub mod adf;
pub mod boxcar;
pub mod fft;
pub mod goldstein;

use std::f64::consts::PI;

use ndarray::ArrayView2;

/// Sentinel-1 C-band radar wavelength, metres (METHOD.md §7).
pub const SENTINEL1_WAVELENGTH_M: f64 = 0.055466;

/// Wrap a phase to (−π, π].
pub fn wrap(phase: f64) -> f64 {
    let w = phase - 2.0 * PI * ((phase + PI) / (2.0 * PI)).floor();
    // floor puts exactly −π at −π: move it to +π so the interval is (−π, π].
    if w <= -PI {
        w + 2.0 * PI
    } else {
        w
    }
}

/// Interferometric phase of a range increase Δr (metres): φ = 4π·Δr/λ (METHOD.md §7).
pub fn phase_of_range_change(range_change_m: f64, wavelength_m: f64) -> f64 {
    4.0 * PI * range_change_m / wavelength_m
}

/// Line-of-sight displacement towards the satellite for an unwrapped phase:
/// d_LOS = −λ·φ/(4π) (METHOD.md §7).
pub fn los_displacement_of_phase(phase: f64, wavelength_m: f64) -> f64 {
    -wavelength_m * phase / (4.0 * PI)
}

/// Number of phase residues: 2×2 loops whose sum of wrapped phase differences is ±2π
/// (Goldstein, Zebker & Werner 1988). NaN cells break their loops and are not counted.
pub fn residue_count(wrapped: ArrayView2<f32>) -> usize {
    let (rows, cols) = wrapped.dim();
    let mut count = 0;
    for r in 0..rows.saturating_sub(1) {
        for c in 0..cols.saturating_sub(1) {
            let corners = [
                wrapped[(r, c)],
                wrapped[(r, c + 1)],
                wrapped[(r + 1, c + 1)],
                wrapped[(r + 1, c)],
            ];
            if corners.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let mut sum = 0.0f64;
            for k in 0..4 {
                sum += wrap(f64::from(corners[(k + 1) % 4]) - f64::from(corners[k]));
            }
            if sum.abs() > PI {
                count += 1;
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_interval() {
        assert!((wrap(PI) - PI).abs() < 1e-12);
        assert!((wrap(-PI) - PI).abs() < 1e-12);
        assert!((wrap(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((wrap(-7.0) - (-7.0 + 2.0 * PI)).abs() < 1e-12);
    }

    #[test]
    fn one_fringe_is_half_a_wavelength() {
        let lambda = SENTINEL1_WAVELENGTH_M;
        let phase = phase_of_range_change(lambda / 2.0, lambda);
        assert!((phase - 2.0 * PI).abs() < 1e-12);
        assert!((los_displacement_of_phase(phase, lambda) + lambda / 2.0).abs() < 1e-15);
    }
}
