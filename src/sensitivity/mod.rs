//! The InSAR Sensitivity Layer (METHOD.md §2): how much of a downslope movement the radar sees
//! (slope-to-LOS sensitivity, S2L), masked in layover and shadow, times how reliable the phase
//! is (coherence with a sigmoid weight).

pub mod layer;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::raster::CellSpacing;
use crate::terrain::gradient::{aspect_of, gradient_at, slope_of, GradientMethod};

/// Sigmoid coherence weight W(γ) = 1 / (1 + exp(−k (γ − γ_M))) (METHOD.md §2; defaults are
/// this project's choice: k = 20, γ_M = 0.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoherenceWeight {
    pub k: f64,
    pub gamma_m: f64,
}

impl Default for CoherenceWeight {
    fn default() -> Self {
        CoherenceWeight {
            k: 20.0,
            gamma_m: 0.3,
        }
    }
}

impl CoherenceWeight {
    /// W(γ).
    #[inline]
    pub fn weight(&self, coherence: f64) -> f64 {
        1.0 / (1.0 + (-self.k * (coherence - self.gamma_m)).exp())
    }
}

/// Slope-to-LOS sensitivity S2L = sin β·cos θ + cos β·sin θ·sin(δ − α): the projection of the
/// downslope unit vector on the line of sight (positive = motion away from the satellite).
/// β slope, δ aspect (downslope azimuth), α heading, θ incidence; all radians.
#[inline]
pub fn s2l(slope: f64, aspect: f64, heading: f64, incidence: f64) -> f64 {
    slope.sin() * incidence.cos() + slope.cos() * incidence.sin() * (aspect - heading).sin()
}

/// Range-plane slope β_r = atan(tan β · sin(δ − α)) (positive: ground falls away from the
/// sensor).
#[inline]
pub fn range_slope(slope: f64, aspect: f64, heading: f64) -> f64 {
    (slope.tan() * (aspect - heading).sin()).atan()
}

/// Layover where β_r < −θ, shadow where β_r > 90° − θ.
#[inline]
pub fn layover_or_shadow(slope: f64, aspect: f64, heading: f64, incidence: f64) -> bool {
    let br = range_slope(slope, aspect, heading);
    br < -incidence || br > std::f64::consts::FRAC_PI_2 - incidence
}

/// ISL = |S2L| · γ · W(γ), 0 in layover or shadow and on flat ground (no downslope direction).
#[inline]
pub fn isl_value(
    slope: f64,
    aspect: f64,
    heading: f64,
    incidence: f64,
    coherence: f64,
    weight: &CoherenceWeight,
) -> f64 {
    if !aspect.is_finite() || layover_or_shadow(slope, aspect, heading, incidence) {
        return 0.0;
    }
    s2l(slope, aspect, heading, incidence).abs() * coherence * weight.weight(coherence)
}

/// A per-pixel angle layer or a constant, in radians.
#[derive(Debug, Clone, Copy)]
pub enum AngleField<'a> {
    Constant(f64),
    /// Per-pixel values in radians (NaN = nodata), on the output grid.
    PerPixel(ArrayView2<'a, f32>),
}

impl AngleField<'_> {
    #[inline]
    fn at(&self, r: usize, c: usize) -> f64 {
        match self {
            AngleField::Constant(v) => *v,
            AngleField::PerPixel(a) => a[(r, c)] as f64,
        }
    }
}

/// ISL over a block. `dem` covers the output block plus a one-cell halo on every side (so that
/// gradients at the block's edges use real neighbours); `dem_spacing` is the halo'd DEM's row
/// spacing; `coherence`, `incidence` and `heading` are on the output block. NaN in any input gives
/// NaN.
pub fn isl(
    dem: ArrayView2<f32>,
    dem_spacing: &CellSpacing,
    coherence: ArrayView2<f32>,
    incidence: AngleField,
    heading: AngleField,
    weight: &CoherenceWeight,
    gradient: GradientMethod,
) -> Array2<f32> {
    let (rows, cols) = coherence.dim();
    let mut out = Array2::<f32>::from_elem((rows, cols), f32::NAN);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            let (dx, dy) = (dem_spacing.dx[r + 1], dem_spacing.dy[r + 1]);
            for c in 0..cols {
                let gamma = coherence[(r, c)] as f64;
                let theta = incidence.at(r, c);
                let alpha = heading.at(r, c);
                if !dem[(r + 1, c + 1)].is_finite()
                    || !gamma.is_finite()
                    || !theta.is_finite()
                    || !alpha.is_finite()
                {
                    continue;
                }
                let (gx, gy) = gradient_at(&dem, r + 1, c + 1, dx, dy, gradient);
                let beta = slope_of(gx, gy);
                let delta = aspect_of(gx, gy);
                row[c] = isl_value(beta, delta, alpha, theta, gamma, weight) as f32;
            }
        });
    out
}
