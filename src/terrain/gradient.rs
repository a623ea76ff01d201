//! Slope and aspect.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::mirrored_difference;
use crate::raster::CellSpacing;

/// Finite-difference scheme for the surface gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GradientMethod {
    /// Zevenbergen & Thorne (1987): central differences of the 4 orthogonal neighbours,
    /// ∂z/∂x = (z_E − z_W)/2Δx, ∂z/∂y = (z_N − z_S)/2Δy. SAGA's default (`ta_morphometry 0`).
    #[default]
    ZevenbergenThorne,
    /// Horn (1981): 3×3 Sobel-weighted differences, ∂z/∂x = [(c+2f+i) − (a+2d+g)]/8Δx.
    /// gdaldem's default.
    Horn,
}

/// Gradient (∂z/∂east, ∂z/∂north) at a cell.
#[inline]
pub(crate) fn gradient_at(
    dem: &ArrayView2<f32>,
    r: usize,
    c: usize,
    dx: f64,
    dy: f64,
    method: GradientMethod,
) -> (f64, f64) {
    let d = |dr, dc| mirrored_difference(dem, r, c, dr, dc);
    match method {
        GradientMethod::ZevenbergenThorne => (
            (d(0, 1) - d(0, -1)) / (2.0 * dx),
            (d(-1, 0) - d(1, 0)) / (2.0 * dy),
        ),
        GradientMethod::Horn => {
            let east = d(-1, 1) + 2.0 * d(0, 1) + d(1, 1);
            let west = d(-1, -1) + 2.0 * d(0, -1) + d(1, -1);
            let north = d(-1, -1) + 2.0 * d(-1, 0) + d(-1, 1);
            let south = d(1, -1) + 2.0 * d(1, 0) + d(1, 1);
            ((east - west) / (8.0 * dx), (north - south) / (8.0 * dy))
        }
    }
}

/// Slope β = atan(|∇z|) in radians.
#[inline]
pub(crate) fn slope_of(gx: f64, gy: f64) -> f64 {
    (gx * gx + gy * gy).sqrt().atan()
}

/// Aspect δ: azimuth of the downslope direction, radians clockwise from north in [0, 2π),
/// δ = atan2(−∂z/∂east, −∂z/∂north); NaN on flat cells (as SAGA and gdaldem leave them).
#[inline]
pub(crate) fn aspect_of(gx: f64, gy: f64) -> f64 {
    if gx == 0.0 && gy == 0.0 {
        return f64::NAN;
    }
    let a = (-gx).atan2(-gy);
    if a < 0.0 {
        a + std::f64::consts::TAU
    } else {
        a
    }
}

/// Slope and aspect, both radians (aspect NaN where flat); nodata cells give NaN.
pub fn slope_aspect(
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    method: GradientMethod,
) -> (Array2<f32>, Array2<f32>) {
    let (rows, cols) = dem.dim();
    let mut slope = Array2::<f32>::from_elem((rows, cols), f32::NAN);
    let mut aspect = Array2::<f32>::from_elem((rows, cols), f32::NAN);
    slope
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(aspect.axis_iter_mut(Axis(0)).into_par_iter())
        .enumerate()
        .for_each(|(r, (mut srow, mut arow))| {
            for c in 0..cols {
                if !dem[(r, c)].is_finite() {
                    continue;
                }
                let (gx, gy) = gradient_at(&dem, r, c, spacing.dx[r], spacing.dy[r], method);
                srow[c] = slope_of(gx, gy) as f32;
                arow[c] = aspect_of(gx, gy) as f32;
            }
        });
    (slope, aspect)
}

/// Slope alone (radians), without allocating aspect.
pub fn slope(dem: ArrayView2<f32>, spacing: &CellSpacing, method: GradientMethod) -> Array2<f32> {
    super::per_valid_cell(&dem, |r, c| {
        let (gx, gy) = gradient_at(&dem, r, c, spacing.dx[r], spacing.dy[r], method);
        slope_of(gx, gy) as f32
    })
}
