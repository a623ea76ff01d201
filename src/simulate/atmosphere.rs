//! Atmospheric delay and the artifacts labelled AR (METHOD.md §4, §7).
//!
//! - turbulent delay: a Gaussian field with power spectrum P(k) ∝ k^−β (β = 8/3, Kolmogorov
//!   turbulence in 2-D; Hanssen 2001 §4.7), scaled to an RMS in millimetres;
//! - stratified delay: K·(h − h̄), K in mm per km of elevation (differential vertical refractivity
//!   between the two dates);
//! - AR, artifacts that look like deformation: localised atmospheric blobs (convective cells), and
//!   topographic residuals from DEM errors on high ground, whose phase 4π·B⊥·Δh/(λ·R·sin θ) grows
//!   with the perpendicular baseline.

use std::f64::consts::PI;

use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};

use super::geometry::{dem_error_phase, slant_range};
use super::relief::aperiodic_field;
use super::{Footprint, SignalClass};
use crate::phase::phase_of_range_change;

/// Phase (radians) of a delay in millimetres (a delay is a range increase).
pub fn delay_phase(delay_mm: f64, wavelength_m: f64) -> f64 {
    phase_of_range_change(delay_mm / 1000.0, wavelength_m)
}

/// Turbulent delay screen in millimetres with spectral exponent `beta` and the given RMS.
pub fn turbulent_delay(size: usize, beta: f64, rms_mm: f64, rng: &mut impl Rng) -> Array2<f32> {
    let mut field = aperiodic_field(size, size, beta, rng);
    field.mapv_inplace(|v| v * rms_mm as f32);
    field
}

/// Stratified delay in millimetres: K·(h − h̄)/1000 with K in mm/km.
pub fn stratified_delay(dem: ArrayView2<f32>, mm_per_km: f64) -> Array2<f32> {
    let finite: Vec<f64> = dem
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .collect();
    let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
    dem.mapv(|h| ((f64::from(h) - mean) * mm_per_km / 1000.0) as f32)
}

/// An elliptical Gaussian bump: amplitude·exp(−(u²/σu² + v²/σv²)/2).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct GaussianBump {
    /// Centre, pixels (row, col).
    pub centre: (f64, f64),
    pub sigma_px: (f64, f64),
    /// Orientation of the first axis, radians.
    pub rotation: f64,
    /// Peak phase, radians.
    pub amplitude_rad: f64,
}

impl GaussianBump {
    /// Footprint on a window of ±3σ, clipped to the scene.
    pub fn footprint(&self, rows: usize, cols: usize) -> Option<Footprint> {
        let reach = 3.0 * self.sigma_px.0.max(self.sigma_px.1);
        let r0 = (self.centre.0 - reach).floor().max(0.0) as usize;
        let c0 = (self.centre.1 - reach).floor().max(0.0) as usize;
        let r1 = ((self.centre.0 + reach).ceil() as usize).min(rows - 1);
        let c1 = ((self.centre.1 + reach).ceil() as usize).min(cols - 1);
        if r1 <= r0 || c1 <= c0 {
            return None;
        }
        let (s, c) = self.rotation.sin_cos();
        let mut phase = Array2::<f32>::zeros((r1 - r0 + 1, c1 - c0 + 1));
        for ((i, j), v) in phase.indexed_iter_mut() {
            let dr = (r0 + i) as f64 + 0.5 - self.centre.0;
            let dc = (c0 + j) as f64 + 0.5 - self.centre.1;
            let u = (dc * c + dr * s) / self.sigma_px.0;
            let w = (-dc * s + dr * c) / self.sigma_px.1;
            *v = (self.amplitude_rad * (-(u * u + w * w) / 2.0).exp()) as f32;
        }
        let weight = phase.mapv(|_| 0.0);
        Some(Footprint {
            class: SignalClass::Artifact,
            body_id: None,
            velocity_m_per_yr: None,
            row0: r0,
            col0: c0,
            phase,
            weight,
            decorrelation: 0.0,
        })
    }
}

fn random_sign(rng: &mut impl Rng) -> f64 {
    if rng.random_bool(0.5) {
        1.0
    } else {
        -1.0
    }
}

/// Localised atmospheric blobs anywhere in the scene.
pub fn atmospheric_blobs(
    count: usize,
    size: usize,
    pixel_m: f64,
    sigma_m: (f64, f64),
    delay_mm: (f64, f64),
    wavelength_m: f64,
    rng: &mut impl Rng,
) -> Vec<GaussianBump> {
    (0..count)
        .map(|_| {
            let sigma = rng.random_range(sigma_m.0..=sigma_m.1) / pixel_m;
            let elongation = rng.random_range(0.6..=1.0);
            let delay = random_sign(rng) * rng.random_range(delay_mm.0..=delay_mm.1);
            GaussianBump {
                centre: (
                    rng.random_range(0.0..size as f64),
                    rng.random_range(0.0..size as f64),
                ),
                sigma_px: (sigma, sigma * elongation),
                rotation: rng.random_range(0.0..PI),
                amplitude_rad: delay_phase(delay, wavelength_m),
            }
        })
        .collect()
}

/// Topographic residuals: DEM errors of Δh metres on high ground (elevation above the 70th
/// percentile, where canopy, quarries and radar shadow corrupt DEMs), phase from the baseline.
#[allow(clippy::too_many_arguments)]
pub fn dem_error_residuals(
    count: usize,
    dem: ArrayView2<f32>,
    incidence_deg: ArrayView2<f32>,
    pixel_m: f64,
    error_m: (f64, f64),
    sigma_m: (f64, f64),
    perpendicular_baseline_m: f64,
    wavelength_m: f64,
    altitude_m: f64,
    rng: &mut impl Rng,
) -> Vec<GaussianBump> {
    let (rows, cols) = dem.dim();
    let mut sorted: Vec<f32> = dem.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return Vec::new();
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    let high = sorted[(sorted.len() * 7) / 10];
    let mut bumps = Vec::new();
    for _ in 0..count {
        for _attempt in 0..200 {
            let (r, c) = (rng.random_range(0..rows), rng.random_range(0..cols));
            if dem[(r, c)].is_nan() || dem[(r, c)] < high {
                continue;
            }
            let theta = f64::from(incidence_deg[(r, c)]).to_radians();
            let range = slant_range(altitude_m, theta);
            let error = random_sign(rng) * rng.random_range(error_m.0..=error_m.1);
            let sigma = rng.random_range(sigma_m.0..=sigma_m.1) / pixel_m;
            bumps.push(GaussianBump {
                centre: (r as f64 + 0.5, c as f64 + 0.5),
                sigma_px: (sigma, sigma * rng.random_range(0.6..=1.0)),
                rotation: rng.random_range(0.0..PI),
                amplitude_rad: dem_error_phase(
                    error,
                    perpendicular_baseline_m,
                    wavelength_m,
                    range,
                    theta,
                ),
            });
            break;
        }
    }
    bumps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::fft::radial_power_spectrum;
    use rand::SeedableRng;

    /// Least-squares slope of log P against log k.
    fn loglog_slope(points: &[(f64, f64)]) -> f64 {
        let n = points.len() as f64;
        let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for &(k, p) in points {
            let (x, y) = (k.ln(), p.ln());
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        (n * sxy - sx * sy) / (n * sxx - sx * sx)
    }

    #[test]
    fn turbulent_screen_has_the_configured_spectral_slope() {
        for (seed, beta) in [(1u64, 8.0 / 3.0), (2, 2.0), (3, 3.5)] {
            let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
            let screen = turbulent_delay(256, beta, 5.0, &mut rng);
            let rms = (screen.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>()
                / screen.len() as f64)
                .sqrt();
            assert!((rms - 5.0).abs() < 1e-3, "rms {rms}");
            // Mid band: avoid the lowest bins (few samples, taper of the crop) and the corners.
            let spectrum: Vec<(f64, f64)> = radial_power_spectrum(&screen)
                .into_iter()
                .filter(|&(k, _)| (4.0 / 256.0..=0.25).contains(&k))
                .collect();
            let slope = loglog_slope(&spectrum);
            assert!(
                (slope + beta).abs() < 0.3,
                "β = {beta}: fitted slope {slope}"
            );
        }
    }

    #[test]
    fn stratified_delay_follows_elevation() {
        let dem = Array2::from_shape_fn((3, 3), |(r, _)| 500.0 + 1000.0 * r as f32);
        let delay = stratified_delay(dem.view(), 6.0);
        assert!((delay[(2, 0)] - delay[(0, 0)] - 12.0).abs() < 1e-4);
        assert!(delay[(1, 1)].abs() < 1e-4);
    }
}
