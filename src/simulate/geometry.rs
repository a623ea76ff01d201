//! Acquisition geometry of a simulated scene (METHOD.md §2): heading, per-pixel incidence varying
//! linearly across the range direction, slant range, and the baseline-dependent sensitivities.

use std::f64::consts::PI;

use ndarray::Array2;

/// Incidence angle (degrees) at every pixel of a square scene: θ = θ_c + (dθ/dr)·r, with r the
/// ground distance (km) from the scene centre along the look direction (azimuth α + 90°, a
/// right-looking SAR), so incidence grows away from the ground track.
pub fn incidence_field(
    size: usize,
    pixel_m: f64,
    heading_deg: f64,
    centre_deg: f64,
    per_km_deg: f64,
) -> Array2<f32> {
    let look = (heading_deg + 90.0).to_radians();
    let (east, north) = (look.sin(), look.cos());
    let half = size as f64 / 2.0;
    Array2::from_shape_fn((size, size), |(row, col)| {
        let x = (col as f64 + 0.5 - half) * pixel_m;
        let y = (half - row as f64 - 0.5) * pixel_m;
        let range_km = (x * east + y * north) / 1000.0;
        (centre_deg + per_km_deg * range_km) as f32
    })
}

/// Slant range (metres) from a satellite at `altitude_m` seen under incidence θ, flat-Earth
/// approximation R = H / cos θ (within ~2 % of the spherical value for Sentinel-1 IW).
pub fn slant_range(altitude_m: f64, incidence_rad: f64) -> f64 {
    altitude_m / incidence_rad.cos()
}

/// Critical perpendicular baseline B⊥c = λ·R·tan θ / (2·δr) (Zebker & Villasenor 1992), with δr
/// the slant-range resolution; the geometric coherence is 1 − |B⊥|/B⊥c.
pub fn critical_baseline(
    wavelength_m: f64,
    range_m: f64,
    incidence_rad: f64,
    resolution_m: f64,
) -> f64 {
    wavelength_m * range_m * incidence_rad.tan() / (2.0 * resolution_m)
}

/// Phase of a DEM error Δh (metres): φ = 4π·B⊥·Δh / (λ·R·sin θ) (Hanssen 2001, eq. 2.5.8).
pub fn dem_error_phase(
    dem_error_m: f64,
    baseline_m: f64,
    wavelength_m: f64,
    range_m: f64,
    incidence_rad: f64,
) -> f64 {
    4.0 * PI * baseline_m * dem_error_m / (wavelength_m * range_m * incidence_rad.sin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidence_grows_towards_the_look_direction() {
        // Ascending, heading ≈ −10.5°: the radar looks east (≈ 79.5°), so incidence grows east.
        let theta = incidence_field(101, 15.0, -10.5, 38.0, 0.068);
        assert!((theta[(50, 50)] - 38.0).abs() < 1e-3);
        assert!(theta[(50, 100)] > theta[(50, 0)]);
        let span = theta[(50, 100)] - theta[(50, 0)];
        let expected = 0.068 * 1.5 * (79.5f64).to_radians().sin();
        assert!(
            (f64::from(span) - expected).abs() < 1e-3,
            "{span} vs {expected}"
        );
        // Descending: looks west, so incidence grows west.
        let theta = incidence_field(101, 15.0, -169.5, 38.0, 0.068);
        assert!(theta[(50, 0)] > theta[(50, 100)]);
    }

    #[test]
    fn sentinel1_sensitivities() {
        let theta = 39f64.to_radians();
        let range = slant_range(693_000.0, theta);
        let bc = critical_baseline(0.055466, range, theta, 2.7);
        assert!(bc > 5_000.0 && bc < 10_000.0, "critical baseline {bc}");
        // 100 m baseline: one fringe per ~ 100 m of DEM error... a few tens of metres.
        let per_m = dem_error_phase(1.0, 100.0, 0.055466, range, theta);
        let height_of_ambiguity = 2.0 * PI / per_m;
        assert!(
            height_of_ambiguity > 100.0 && height_of_ambiguity < 200.0,
            "{height_of_ambiguity}"
        );
    }
}
