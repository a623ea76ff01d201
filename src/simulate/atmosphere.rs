//! Atmospheric delay and the artifacts labelled AR (METHOD.md §4, §7).
//!
//! - turbulent delay: a Gaussian field with power spectrum P(k) ∝ k^−β (β = 8/3, Kolmogorov
//!   turbulence in 2-D; Hanssen 2001 §4.7), scaled to an RMS in millimetres;
//! - stratified delay: K·(h − h̄), K in mm per km of elevation (differential vertical refractivity
//!   between the two dates);
//! - AR, artifacts that look like deformation: localised atmospheric blobs (convective cells), and
//!   topographic residuals from DEM errors on high ground, whose phase 4π·B⊥·Δh/(λ·R·sin θ) grows
//!   with the perpendicular baseline;
//! - residual orbital ramps: a plane, slightly quadratic, along one direction (orbit errors are
//!   planar to slightly quadratic over a scene; Fattahi & Amelung 2014);
//! - ionospheric phase: at C band only its longest wavelengths show (Gomba et al. 2016), so a
//!   band-limited screen (P(k) ∝ k^−5, no power below ~5 km wavelength) plus a linear gradient.

use std::f64::consts::PI;

use ndarray::{Array2, ArrayView2, Zip};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use rustfft::num_complex::Complex32;
use rustfft::FftDirection;

use super::geometry::{dem_error_phase, slant_range};
use super::relief::aperiodic_field;
use super::{Footprint, SignalClass};
use crate::phase::fft::{frequency, standardise, Fft2};
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

/// Spectral exponent of the ionospheric screen: far steeper than Kolmogorov's 8/3, so only the
/// longest wavelengths carry power.
const IONOSPHERE_BETA: f64 = 5.0;
/// Shortest wavelength of the ionospheric screen, km: the amplitude spectrum is tapered by
/// exp(−(2kλ)²), 2 % left at λ, nothing below λ/2.
const IONOSPHERE_MIN_WAVELENGTH_KM: f64 = 5.0;
/// Node spacing of the grid the ionospheric screen is synthesised on, km (λ/5: the band-limited
/// field is rendered on the scene grid by cubic convolution without visible error).
const IONOSPHERE_NODE_KM: f64 = 1.0;

/// Distance of each cell centre from the scene centre along `azimuth_rad` (0 = east = increasing
/// column, counter-clockwise: π/2 = north = decreasing row), pixels.
fn along_direction(rows: usize, cols: usize, azimuth_rad: f64) -> Array2<f64> {
    let (sin, cos) = azimuth_rad.sin_cos();
    let (r_mid, c_mid) = ((rows as f64 - 1.0) / 2.0, (cols as f64 - 1.0) / 2.0);
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        (c as f64 - c_mid) * cos + (r_mid - r as f64) * sin
    })
}

/// Residual orbital ramp (radians): a plane whose peak-to-peak over the scene is `amplitude_rad`
/// along `azimuth_rad` (0 = east, counter-clockwise), rising towards the azimuth, plus
/// `quadratic`·amplitude·(u² − ⟨u²⟩), u ∈ [−1, 1] the same coordinate scaled to the scene and
/// centred on it. Zero mean over the scene.
pub fn orbital_ramp(
    rows: usize,
    cols: usize,
    amplitude_rad: f64,
    azimuth_rad: f64,
    quadratic: f64,
) -> Array2<f32> {
    let (sin, cos) = azimuth_rad.sin_cos();
    // Peak-to-peak of the coordinate: reached between opposite corners.
    let spread =
        cols.saturating_sub(1) as f64 * cos.abs() + rows.saturating_sub(1) as f64 * sin.abs();
    let u = if spread > 0.0 {
        along_direction(rows, cols, azimuth_rad).mapv(|s| 2.0 * s / spread)
    } else {
        Array2::zeros((rows, cols))
    };
    let mean_square = u.iter().map(|v| v * v).sum::<f64>() / u.len().max(1) as f64;
    u.mapv(|u| (amplitude_rad * (u / 2.0 + quadratic * (u * u - mean_square))) as f32)
}

/// Catmull–Rom cubic convolution taps (node index modulo `nodes`, weight) at coordinate `x`
/// (nodes) on a periodic axis.
fn cubic_taps(x: f64, nodes: usize) -> [(usize, f64); 4] {
    let base = x.floor();
    let t = x - base;
    let (t2, t3) = (t * t, t * t * t);
    let weights = [
        (-t3 + 2.0 * t2 - t) / 2.0,
        (3.0 * t3 - 5.0 * t2 + 2.0) / 2.0,
        (-3.0 * t3 + 4.0 * t2 + t) / 2.0,
        (t3 - t2) / 2.0,
    ];
    let n = nodes as i64;
    let base = base as i64;
    let mut taps = [(0usize, 0.0f64); 4];
    for (k, (tap, w)) in taps.iter_mut().zip(weights).enumerate() {
        *tap = ((base - 1 + k as i64).rem_euclid(n) as usize, w);
    }
    taps
}

/// Periodic band-limited Gaussian field on `nodes × nodes` nodes `node_km` apart: white noise
/// filtered by k^(−β/2)·exp(−(2kλ_min)²) (spectral synthesis, as `power_law_field`), not scaled.
fn band_limited_field(nodes: usize, node_km: f64, rng: &mut impl Rng) -> Array2<f32> {
    let mut spectrum = Array2::<Complex32>::zeros((nodes, nodes));
    for v in spectrum.iter_mut() {
        let re: f64 = StandardNormal.sample(rng);
        *v = Complex32::new(re as f32, 0.0);
    }
    Fft2::new(nodes, nodes, FftDirection::Forward).process_parallel(&mut spectrum);
    for ((r, c), v) in spectrum.indexed_iter_mut() {
        // Cycles per domain (≥ 1 off DC) for the power law, cycles per km for the taper.
        let cycles = frequency(r, nodes).hypot(frequency(c, nodes)) * nodes as f64;
        let gain = if cycles == 0.0 {
            0.0
        } else {
            let k_per_km = cycles / (nodes as f64 * node_km);
            cycles.powf(-IONOSPHERE_BETA / 2.0)
                * (-(2.0 * k_per_km * IONOSPHERE_MIN_WAVELENGTH_KM).powi(2)).exp()
        };
        *v *= gain as f32;
    }
    Fft2::new(nodes, nodes, FftDirection::Inverse).process_parallel(&mut spectrum);
    spectrum.mapv(|v| v.re)
}

/// Long-wavelength ionospheric phase (radians): a band-limited random screen (P(k) ∝ k^−5, no
/// power at wavelengths below ~5 km), synthesised on a periodic grid of 1 km nodes at least twice
/// the scene (and 64 km) across, rendered on the scene by cubic convolution and scaled to zero
/// mean and RMS `rms_rad`; plus a linear gradient of `gradient_rad_per_km` along `azimuth_rad`
/// (0 = east, counter-clockwise), zero at the scene centre.
pub fn ionospheric_screen(
    rows: usize,
    cols: usize,
    pixel_m: f64,
    rms_rad: f64,
    gradient_rad_per_km: f64,
    azimuth_rad: f64,
    rng: &mut impl Rng,
) -> Array2<f32> {
    let pixel_km = if pixel_m.is_finite() && pixel_m > 0.0 {
        pixel_m / 1000.0
    } else {
        0.0
    };
    let node_km = IONOSPHERE_NODE_KM.max(pixel_km);
    let extent_km = rows.max(cols) as f64 * pixel_km;
    let nodes = ((2.0 * extent_km / node_km).ceil() as usize)
        .clamp(64, 4096)
        .next_power_of_two();
    let coarse = band_limited_field(nodes, node_km, rng);
    let taps = |len: usize| -> Vec<[(usize, f64); 4]> {
        (0..len)
            .map(|i| cubic_taps((i as f64 + 0.5) * pixel_km / node_km, nodes))
            .collect()
    };
    let (row_taps, col_taps) = (taps(rows), taps(cols));
    let mut field = Array2::<f32>::zeros((rows, cols));
    Zip::indexed(&mut field).par_for_each(|(r, c), v| {
        let mut sum = 0.0f64;
        for &(i, wi) in &row_taps[r] {
            for &(j, wj) in &col_taps[c] {
                sum += wi * wj * f64::from(coarse[(i, j)]);
            }
        }
        *v = sum as f32;
    });
    standardise(&mut field);
    let along = along_direction(rows, cols, azimuth_rad);
    Zip::from(&mut field).and(&along).for_each(|v, &s| {
        *v = (f64::from(*v) * rms_rad + gradient_rad_per_km * s * pixel_km) as f32;
    });
    field
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
    fn orbital_ramp_without_quadratic_term_is_a_plane_of_the_given_amplitude() {
        let (rows, cols) = (40, 60);
        for azimuth in [0.0, 0.7, std::f64::consts::FRAC_PI_2, 2.5, -1.2] {
            let ramp = orbital_ramp(rows, cols, 5.0, azimuth, 0.0);
            for r in 0..rows - 1 {
                for c in 0..cols - 1 {
                    let mixed =
                        ramp[(r + 1, c + 1)] - ramp[(r + 1, c)] - ramp[(r, c + 1)] + ramp[(r, c)];
                    assert!(mixed.abs() < 1e-5, "{azimuth}: mixed {mixed} at ({r}, {c})");
                    if c + 2 < cols {
                        let d2 = ramp[(r, c + 2)] - 2.0 * ramp[(r, c + 1)] + ramp[(r, c)];
                        assert!(d2.abs() < 1e-5, "{azimuth}: {d2} at ({r}, {c})");
                    }
                    if r + 2 < rows {
                        let d2 = ramp[(r + 2, c)] - 2.0 * ramp[(r + 1, c)] + ramp[(r, c)];
                        assert!(d2.abs() < 1e-5, "{azimuth}: {d2} at ({r}, {c})");
                    }
                }
            }
            let max = ramp.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let min = ramp.iter().copied().fold(f32::INFINITY, f32::min);
            assert!((max - min - 5.0).abs() < 1e-4, "{azimuth}: {}", max - min);
        }
        // 0 = east: rises along the columns; π/2 = north: rises towards row 0.
        let east = orbital_ramp(rows, cols, 5.0, 0.0, 0.0);
        assert!((east[(7, cols - 1)] - east[(7, 0)] - 5.0).abs() < 1e-4);
        assert!((east[(0, 9)] - east[(rows - 1, 9)]).abs() < 1e-5);
        let north = orbital_ramp(rows, cols, 5.0, std::f64::consts::FRAC_PI_2, 0.0);
        assert!((north[(0, 3)] - north[(rows - 1, 3)] - 5.0).abs() < 1e-4);
    }

    #[test]
    fn quadratic_term_bends_the_ramp_symmetrically() {
        let ramp = orbital_ramp(11, 61, 4.0, 0.0, 0.5);
        // Ends at u = ±1, centre at u = 0: the bend is 2·quadratic·amplitude.
        let bend = ramp[(5, 0)] + ramp[(5, 60)] - 2.0 * ramp[(5, 30)];
        assert!((bend - 4.0).abs() < 1e-4, "bend {bend}");
        assert!((ramp[(5, 60)] - ramp[(5, 0)] - 4.0).abs() < 1e-4);
        let mean = ramp.iter().map(|&v| f64::from(v)).sum::<f64>() / ramp.len() as f64;
        assert!(mean.abs() < 1e-5, "mean {mean}");
    }

    /// RMS about the mean, and RMS of the differences between neighbouring pixels.
    fn rms_and_roughness(field: &Array2<f32>) -> (f64, f64) {
        let n = field.len() as f64;
        let mean = field.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let rms = (field
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        let (rows, cols) = field.dim();
        let mut sum = 0.0;
        let mut count = 0usize;
        for r in 0..rows {
            for c in 0..cols {
                if c + 1 < cols {
                    sum += f64::from(field[(r, c + 1)] - field[(r, c)]).powi(2);
                    count += 1;
                }
                if r + 1 < rows {
                    sum += f64::from(field[(r + 1, c)] - field[(r, c)]).powi(2);
                    count += 1;
                }
            }
        }
        (rms, (sum / count as f64).sqrt())
    }

    #[test]
    fn ionospheric_screen_is_smooth_with_the_configured_rms() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(7);
        let size = 256;
        let screen = ionospheric_screen(size, size, 15.0, 2.0, 0.0, 0.3, &mut rng);
        let (rms, roughness) = rms_and_roughness(&screen);
        assert!((rms - 2.0).abs() < 0.1, "rms {rms}");
        let turbulent = turbulent_delay(size, 8.0 / 3.0, 2.0, &mut rng);
        let (turbulent_rms, turbulent_roughness) = rms_and_roughness(&turbulent);
        assert!((turbulent_rms - 2.0).abs() < 0.01);
        // Measured on a replica: ≈ 0.01·rms for the screen, ≈ 0.25·rms for Kolmogorov.
        assert!(
            roughness < 0.1 * turbulent_roughness,
            "screen {roughness}, turbulent {turbulent_roughness}"
        );
        let other = ionospheric_screen(size, size, 15.0, 2.0, 0.0, 0.3, &mut rng);
        assert!(
            (other[(0, 0)] - screen[(0, 0)]).abs() > 1e-3
                || (other[(200, 9)] - screen[(200, 9)]).abs() > 1e-3
        );
    }

    #[test]
    fn ionospheric_gradient_follows_the_azimuth() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(8);
        let east = ionospheric_screen(20, 200, 15.0, 0.0, 0.5, 0.0, &mut rng);
        let expected = 0.5 * 199.0 * 0.015;
        assert!((f64::from(east[(0, 199)] - east[(0, 0)]) - expected).abs() < 1e-4);
        assert!((east[(19, 50)] - east[(0, 50)]).abs() < 1e-5);
        let north = ionospheric_screen(
            20,
            200,
            15.0,
            0.0,
            0.5,
            std::f64::consts::FRAC_PI_2,
            &mut rng,
        );
        let expected = 0.5 * 19.0 * 0.015;
        assert!((f64::from(north[(0, 7)] - north[(19, 7)]) - expected).abs() < 1e-4);
    }

    #[test]
    fn stratified_delay_follows_elevation() {
        let dem = Array2::from_shape_fn((3, 3), |(r, _)| 500.0 + 1000.0 * r as f32);
        let delay = stratified_delay(dem.view(), 6.0);
        assert!((delay[(2, 0)] - delay[(0, 0)] - 12.0).abs() < 1e-4);
        assert!(delay[(1, 1)].abs() < 1e-4);
    }
}
