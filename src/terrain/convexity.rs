//! Terrain surface convexity (Iwahashi & Pike 2007), as SAGA's `ta_morphometry 21` computes it
//! with its defaults (4-neighbour Laplacian, flat threshold 0, scale 10 cells, "resampling").

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::neighbour;
use crate::error::Result;
use crate::progress::{Progress, Stage};
use crate::raster::scratch::WindowSource;
use crate::raster::CellSpacing;

/// Settings of the convexity computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvexitySettings {
    /// Averaging scale in cells (SAGA `SCALE`, default 10).
    pub scale_cells: usize,
    /// Flat-area threshold on the Laplacian (SAGA `EPSILON`, default 0).
    pub epsilon: f64,
}

impl Default for ConvexitySettings {
    fn default() -> Self {
        ConvexitySettings {
            scale_cells: 10,
            epsilon: 0.0,
        }
    }
}

/// Convexity in percent: the share of convex-up cells around each cell.
///
/// 1. Indicator L = 1 where the 4-neighbour Laplacian (2z₀ − z_E − z_W)/Δx² + (2z₀ − z_N − z_S)/Δy²
///    exceeds ε (a missing neighbour counts as z₀), else 0.
/// 2. L averaged over blocks of `scale`×`scale` cells anchored at the lower-left cell (SAGA's
///    grid origin), then evaluated at every cell centre with a cubic B-spline (SAGA's default
///    interpolation), times 100.
pub fn convexity(
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    settings: ConvexitySettings,
) -> Array2<f32> {
    let (rows, cols) = dem.dim();
    // the indicator, replaced row by row by the convexity (one array a cell, not two)
    let mut out = laplacian_indicator(dem, spacing, settings.epsilon);
    let mut blocks = ConvexityBlocks::new(rows, cols, settings);
    blocks.add_rows(0, out.view());
    blocks.means().smooth_rows(0, &mut out);
    out
}

/// The block sums of step 2 of [`convexity`], accumulated strip by strip in row order (the same
/// additions in the same order as over the whole raster, so the same bits).
#[derive(Debug, Clone)]
pub struct ConvexityBlocks {
    rows: usize,
    settings: ConvexitySettings,
    scale: usize,
    sum: Array2<f64>,
    count: Array2<f64>,
}

impl ConvexityBlocks {
    /// Empty sums for a `rows × cols` raster.
    pub fn new(rows: usize, cols: usize, settings: ConvexitySettings) -> Self {
        let scale = settings.scale_cells.max(1);
        let block = |i: usize| Self::block_of(i, scale);
        let shape = (block(rows.max(1) - 1) + 1, block(cols.max(1) - 1) + 1);
        ConvexityBlocks {
            rows,
            settings,
            scale,
            sum: Array2::zeros(shape),
            count: Array2::zeros(shape),
        }
    }

    /// Block index of a row or column counted from the grid's lower-left (SAGA's origin):
    /// k = floor(i/s + 1/2).
    fn block_of(i: usize, scale: usize) -> usize {
        (2 * i + scale) / (2 * scale)
    }

    /// Add the indicator of raster rows `row0 .. row0 + indicator.nrows()`; strips must come in
    /// row order, each row once.
    pub fn add_rows(&mut self, row0: usize, indicator: ArrayView2<f32>) {
        for (i, row) in indicator.outer_iter().enumerate() {
            let by = Self::block_of(self.rows - 1 - (row0 + i), self.scale);
            for (c, &v) in row.iter().enumerate() {
                if v.is_finite() {
                    let bx = Self::block_of(c, self.scale);
                    self.sum[(by, bx)] += v as f64;
                    self.count[(by, bx)] += 1.0;
                }
            }
        }
    }

    /// The block means (NaN for a block with no valid cell).
    pub fn means(&self) -> ConvexityMeans {
        ConvexityMeans {
            rows: self.rows,
            settings: self.settings,
            scale: self.scale,
            means: ndarray::Zip::from(&self.sum)
                .and(&self.count)
                .map_collect(|&s, &n| if n > 0.0 { s / n } else { f64::NAN }),
        }
    }
}

/// The block means of a whole raster, from which any rows' convexity follows.
#[derive(Debug, Clone)]
pub struct ConvexityMeans {
    rows: usize,
    settings: ConvexitySettings,
    scale: usize,
    means: Array2<f64>,
}

impl ConvexityMeans {
    /// The block means of a DEM read in strips of `strip_rows` rows (each strip's indicator
    /// added in row order), so that [`ConvexityMeans::convexity_rows`] then gives any strip the
    /// values of [`convexity`] over the whole raster, bit for bit.
    pub fn of_strips(
        dem: &dyn WindowSource,
        spacing: &CellSpacing,
        settings: ConvexitySettings,
        strip_rows: usize,
        progress: &dyn Progress,
    ) -> Result<ConvexityMeans> {
        let (rows, cols) = dem.shape();
        let stage = Stage::whole(progress);
        let mut blocks = ConvexityBlocks::new(rows, cols, settings);
        for (row0, count) in crate::raster::strips(rows, strip_rows) {
            stage.step(row0 as f64 / rows as f64, "convexity")?;
            blocks.add_rows(
                row0,
                indicator_rows(dem, spacing, settings, row0, count)?.view(),
            );
        }
        Ok(blocks.means())
    }

    /// The convexity (%) of DEM rows `row0 .. row0 + count`.
    pub fn convexity_rows(
        &self,
        dem: &dyn WindowSource,
        spacing: &CellSpacing,
        row0: usize,
        count: usize,
    ) -> Result<Array2<f32>> {
        let mut values = indicator_rows(dem, spacing, self.settings, row0, count)?;
        self.smooth_rows(row0, &mut values);
        Ok(values)
    }

    /// Replace the indicator of raster rows `row0 ..` by the convexity (%): the B-spline of the
    /// block means at each valid cell's centre.
    pub fn smooth_rows(&self, row0: usize, indicator: &mut Array2<f32>) {
        let s = self.scale as f64;
        indicator
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut row)| {
                let v = (self.rows - 1 - (row0 + i)) as f64 / s;
                for (c, x) in row.iter_mut().enumerate() {
                    if x.is_finite() {
                        let u = c as f64 / s;
                        *x = (100.0 * bspline_at(&self.means, u, v)) as f32;
                    }
                }
            });
    }
}

/// The convexity indicator (step 1 of [`convexity`]) of DEM rows `row0 .. row0 + count`, read
/// with one row of context on each side where the raster has one.
fn indicator_rows(
    dem: &dyn WindowSource,
    spacing: &CellSpacing,
    settings: ConvexitySettings,
    row0: usize,
    count: usize,
) -> Result<Array2<f32>> {
    super::rows_with_context(dem, spacing, row0, count, 1, |d, sp| {
        laplacian_indicator(d, sp, settings.epsilon)
    })
}

/// 1 where the Laplacian exceeds `epsilon` (convex up), 0 elsewhere, NaN where nodata.
fn laplacian_indicator(dem: ArrayView2<f32>, spacing: &CellSpacing, epsilon: f64) -> Array2<f32> {
    super::per_valid_cell(&dem, |r, c| {
        let (dx2, dy2) = (spacing.dx[r].powi(2), spacing.dy[r].powi(2));
        let z0 = dem[(r, c)];
        let z = |dr, dc| neighbour(&dem, r, c, dr, dc).unwrap_or(z0) as f64;
        let z0 = z0 as f64;
        let lap = (2.0 * z0 - z(0, 1) - z(0, -1)) / dx2 + (2.0 * z0 - z(-1, 0) - z(1, 0)) / dy2;
        // scaled to SAGA's unweighted 4z₀ − Σz (square cells): same sign, same threshold
        if lap * dx2.min(dy2) > epsilon {
            1.0
        } else {
            0.0
        }
    })
}

/// Uniform cubic B-spline basis β₃(t).
#[inline]
fn bspline(t: f64) -> f64 {
    let t = t.abs();
    if t < 1.0 {
        (4.0 - 6.0 * t * t + 3.0 * t * t * t) / 6.0
    } else if t < 2.0 {
        let u = 2.0 - t;
        u * u * u / 6.0
    } else {
        0.0
    }
}

/// B-spline value of a coarse grid (rows bottom-up) at coarse coordinates (u, v); samples outside
/// the grid or NaN are replaced by the nearest valid edge value (clamped index).
fn bspline_at(grid: &Array2<f64>, u: f64, v: f64) -> f64 {
    let (ny, nx) = grid.dim();
    let (iu, iv) = (u.floor(), v.floor());
    let (du, dv) = (u - iu, v - iv);
    let mut acc = 0.0;
    let mut wsum = 0.0;
    for n in -1..=2isize {
        let wy = bspline(n as f64 - dv);
        let y = (iv as isize + n).clamp(0, ny as isize - 1) as usize;
        for m in -1..=2isize {
            let wx = bspline(m as f64 - du);
            let x = (iu as isize + m).clamp(0, nx as isize - 1) as usize;
            let val = grid[(y, x)];
            if val.is_finite() {
                acc += wx * wy * val;
                wsum += wx * wy;
            }
        }
    }
    if wsum > 0.0 {
        acc / wsum
    } else {
        f64::NAN
    }
}
