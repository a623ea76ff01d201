//! Terrain analysis on DEMs: the four variables of PC1 (slope, TRI, TWI, convexity) and aspect,
//! as SAGA GIS 8.x computes them (METHOD.md §3), plus PC1 itself.
//!
//! Every kernel is a pure function of an `ndarray` view of elevations (metres, NaN = nodata,
//! row 0 = north) and the metric [`crate::raster::CellSpacing`] of its rows.
//! Files are read and written in [`layer`].

pub mod convexity;
pub mod gradient;
pub mod hydrology;
pub mod layer;
pub mod pca;
pub mod ruggedness;

pub use convexity::convexity;
pub use gradient::{slope_aspect, GradientMethod};
pub use hydrology::{fill_depressions, mfd_catchment_area, specific_catchment_area, twi};
pub use pca::{pc1, Loadings, Pc1Result, TerrainVariable};
pub use ruggedness::{tri, TriMethod};

use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::Result;
use crate::raster::scratch::WindowSource;
use crate::raster::CellSpacing;

/// Row/column offsets of the 8 neighbours, clockwise from north (SAGA's order).
pub(crate) const NEIGHBOURS: [(isize, isize); 8] = [
    (-1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
    (1, 0),
    (1, -1),
    (0, -1),
    (-1, -1),
];

/// Elevation at (r + dr, c + dc) when inside the grid and valid.
#[inline]
pub(crate) fn neighbour(
    dem: &ArrayView2<f32>,
    r: usize,
    c: usize,
    dr: isize,
    dc: isize,
) -> Option<f32> {
    let rr = r as isize + dr;
    let cc = c as isize + dc;
    if rr < 0 || cc < 0 || rr >= dem.nrows() as isize || cc >= dem.ncols() as isize {
        return None;
    }
    let z = dem[(rr as usize, cc as usize)];
    z.is_finite().then_some(z)
}

/// Height difference z(neighbour) − z(centre), with SAGA's rule for a missing neighbour: the
/// opposite neighbour mirrored through the centre, else 0.
#[inline]
pub(crate) fn mirrored_difference(
    dem: &ArrayView2<f32>,
    r: usize,
    c: usize,
    dr: isize,
    dc: isize,
) -> f64 {
    let z0 = dem[(r, c)] as f64;
    match neighbour(dem, r, c, dr, dc) {
        Some(z) => z as f64 - z0,
        None => match neighbour(dem, r, c, -dr, -dc) {
            Some(z) => z0 - z as f64,
            None => 0.0,
        },
    }
}

/// `value(r, c)` at every valid DEM cell (rows in parallel), NaN where the DEM is nodata.
pub(crate) fn per_valid_cell(
    dem: &ArrayView2<f32>,
    value: impl Fn(usize, usize) -> f32 + Sync,
) -> Array2<f32> {
    let (rows, cols) = dem.dim();
    let mut out = Array2::<f32>::from_elem((rows, cols), f32::NAN);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            for c in 0..cols {
                if dem[(r, c)].is_finite() {
                    row[c] = value(r, c);
                }
            }
        });
    out
}

/// `kernel` over DEM rows `row0 .. row0 + count`, run on those rows with `context` more on each
/// side where the raster has them: a kernel that reaches `context` rows gives these rows the
/// values it gives them over the whole raster.
pub(crate) fn rows_with_context(
    dem: &dyn WindowSource,
    spacing: &CellSpacing,
    row0: usize,
    count: usize,
    context: usize,
    kernel: impl FnOnce(ArrayView2<f32>, &CellSpacing) -> Array2<f32>,
) -> Result<Array2<f32>> {
    let (rows, cols) = dem.shape();
    let first = row0.saturating_sub(context);
    let end = (row0 + count + context).min(rows);
    let window = dem.window(first as isize, 0, end - first, cols)?;
    let values = kernel(window.view(), &spacing.rows_range(first, end - first));
    Ok(values
        .slice(s![row0 - first..row0 - first + count, ..])
        .to_owned())
}
