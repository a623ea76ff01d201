//! Synthetic relief: a fractal surface by spectral synthesis (P(k) ∝ k^−β) with a carved network
//! of V-shaped valleys along the zero lines of a second, smoother field, scaled so that the median
//! slope matches a target (Apennine hills: 10–20°).

use ndarray::{s, Array2};
use rand::Rng;

use crate::phase::fft::{power_law_field, standardise};
use crate::raster::CellSpacing;
use crate::terrain::gradient::slope;
use crate::terrain::GradientMethod;

/// Draws of one synthetic relief.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ReliefDraw {
    pub spectral_exponent: f64,
    pub valley_weight: f64,
    pub median_slope_deg: f64,
    pub base_elevation_m: f64,
}

/// A power-law field of `rows × cols`, cut from a 25 % larger periodic field so that opposite
/// edges do not match.
pub fn aperiodic_field(rows: usize, cols: usize, beta: f64, rng: &mut impl Rng) -> Array2<f32> {
    let margin_r = rows / 8 + 1;
    let margin_c = cols / 8 + 1;
    let big = power_law_field(rows + 2 * margin_r, cols + 2 * margin_c, beta, rng);
    let mut field = big
        .slice(s![margin_r..margin_r + rows, margin_c..margin_c + cols])
        .to_owned();
    standardise(&mut field);
    field
}

/// Synthetic DEM (metres) on a square grid of `pixel_m` cells.
pub fn synthetic_dem(
    size: usize,
    pixel_m: f64,
    draw: &ReliefDraw,
    rng: &mut impl Rng,
) -> Array2<f32> {
    let fractal = aperiodic_field(size, size, draw.spectral_exponent, rng);
    let network = aperiodic_field(size, size, draw.spectral_exponent + 0.6, rng);
    // Valleys: a trough of V-to-U profile along the zero lines of `network`.
    let mut surface = ndarray::Zip::from(&fractal)
        .and(&network)
        .map_collect(|&f, &v| {
            let d = (v.abs() / 0.6).min(1.0);
            f - draw.valley_weight as f32 * 2.0 * (1.0 - d) * (1.0 - d)
        });
    scale_to_median_slope(&mut surface, pixel_m, draw.median_slope_deg);
    let min = surface.iter().copied().fold(f32::INFINITY, f32::min);
    surface.mapv_inplace(|z| z - min + draw.base_elevation_m as f32);
    surface
}

/// Multiply elevations so that the median slope becomes `target_deg` (tan β scales linearly with
/// the elevation factor).
pub fn scale_to_median_slope(surface: &mut Array2<f32>, pixel_m: f64, target_deg: f64) {
    let spacing = CellSpacing::uniform(pixel_m, surface.nrows());
    let slopes = slope(surface.view(), &spacing, GradientMethod::ZevenbergenThorne);
    let median_tan = median(slopes.iter().filter(|v| v.is_finite()).map(|v| v.tan()));
    if median_tan > 0.0 {
        let factor = target_deg.to_radians().tan() / f64::from(median_tan);
        surface.mapv_inplace(|z| (f64::from(z) * factor) as f32);
    }
}

/// Median of finite values (0 when there are none).
pub fn median(values: impl Iterator<Item = f32>) -> f32 {
    let mut v: Vec<f32> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn relief_has_the_target_median_slope() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
        let draw = ReliefDraw {
            spectral_exponent: 3.4,
            valley_weight: 0.5,
            median_slope_deg: 15.0,
            base_elevation_m: 200.0,
        };
        let dem = synthetic_dem(128, 15.0, &draw, &mut rng);
        let spacing = CellSpacing::uniform(15.0, 128);
        let slopes = slope(dem.view(), &spacing, GradientMethod::ZevenbergenThorne);
        let med = median(slopes.iter().map(|v| v.to_degrees()));
        assert!((med - 15.0).abs() < 0.5, "median slope {med}");
        let min = dem.iter().copied().fold(f32::INFINITY, f32::min);
        assert!((min - 200.0).abs() < 1e-3);
    }
}
