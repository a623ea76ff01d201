//! Hydrological terrain variables: depression filling, multiple-flow-direction catchment area,
//! specific catchment area and the Topographic Wetness Index, as SAGA's `ta_preprocessor`,
//! `ta_hydrology 0/19/20` compute them.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::gradient::{gradient_at, GradientMethod};
use crate::error::{Error, Result};
use crate::progress::{Progress, Stage};
use crate::raster::scratch::{ScratchFile, ScratchRaster, WindowSource};
use crate::raster::CellSpacing;
use area_tile::AreaTile;
use tiled::Tiling;

mod area_tile;
mod level_queue;
pub mod tiled;

/// Freeman (1991) flow-partition exponent used by SAGA's MFD (`-CONVERGENCE 1.1`).
pub const DEFAULT_CONVERGENCE: f64 = 1.1;

/// Lower bound of tan β in the TWI (SAGA's `M_ALMOST_ZERO`), so flats give a finite TWI.
pub const MIN_TAN_SLOPE: f64 = 0.001;

/// Depression filling by Priority-Flood+ε (Barnes, Lehman & Mulla 2014, Alg. 3): flooding
/// inwards from the grid edge and nodata holes, every cell is raised to at least the next
/// representable value above the cell it was reached from, so that every filled cell drains.
/// Cells are taken strictly in order of level, so the result is the unique solution of
/// F = z on the edge, F = max(z, next_up(min F of the neighbours)) elsewhere, which the tiled
/// [`tiled::fill_depressions_tiled`] reproduces bit for bit.
pub fn fill_depressions(dem: ArrayView2<f32>) -> Array2<f32> {
    match fill_depressions_until(dem, &|_| true) {
        Some(filled) => filled,
        None => unreachable!("filling that is never asked to stop finishes"),
    }
}

/// [`fill_depressions`] that asks `keep_going(fraction of cells settled)` every
/// `ROUTING_CHECK_CELLS` (2¹⁸) cells and returns `None` as soon as it answers `false` (the fill is
/// sequential: at 2400² it runs for about a second, too long to run deaf to a cancel).
pub fn fill_depressions_until(
    dem: ArrayView2<f32>,
    keep_going: &dyn Fn(f64) -> bool,
) -> Option<Array2<f32>> {
    let (rows, cols) = dem.dim();
    let cells = (rows * cols).max(1) as f64;
    let padded = dem.window(-1, -1, rows + 2, cols + 2).ok()?;
    let filled = tiled::fill_tile(padded, |_, _| f32::NAN, &|n| keep_going(n as f64 / cells))?;
    Some(filled.slice_move(s![1..rows + 1, 1..cols + 1]))
}

/// The smallest f32 greater than `z`.
fn next_up(z: f32) -> f32 {
    if z.is_nan() || z == f32::INFINITY {
        return z;
    }
    let bits = z.to_bits();
    let next = if z == 0.0 {
        1
    } else if z > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

/// Total catchment area (m²) by multiple flow direction routing (Freeman 1991, as SAGA
/// `ta_hydrology 0` METHOD 4): each cell passes its area plus inflow to every lower neighbour i
/// in proportion to (Δzᵢ / Lᵢ)^p. Run it on a depression-filled DEM.
///
/// Cells are processed in topological order (Kahn: a cell goes once all its higher neighbours
/// are done), on all threads, and each sums its donors' shares in neighbour order, so the result
/// does not depend on the order of visits and the tiled [`tiled::mfd_catchment_area_tiled`]
/// reproduces it bit for bit. A routed cell keeps A/W (its area over its total outflow weight,
/// as f32) rather than A and W, within 10⁻⁵ of an f64 routing. Memory besides the input: about
/// 8 bytes a cell (a padded copy and the output); the tiled version bounds it for large
/// rasters.
pub fn mfd_catchment_area(
    filled: ArrayView2<f32>,
    spacing: &CellSpacing,
    convergence: f64,
) -> Array2<f32> {
    match mfd_catchment_area_until(filled, spacing, convergence, &|_| true) {
        Some(area) => area,
        None => unreachable!("routing that is never asked to stop finishes"),
    }
}

/// Cells routed between two calls of the `keep_going` check (about 50 ms on one core).
const ROUTING_CHECK_CELLS: usize = 1 << 18;

/// [`mfd_catchment_area`] that asks `keep_going(fraction of cells routed)` every
/// `ROUTING_CHECK_CELLS` (2¹⁸) cells and returns `None` as soon as it answers `false` (cancellation
/// of long runs).
pub fn mfd_catchment_area_until(
    filled: ArrayView2<f32>,
    spacing: &CellSpacing,
    convergence: f64,
    keep_going: &(dyn Fn(f64) -> bool + Sync),
) -> Option<Array2<f32>> {
    let (rows, cols) = filled.dim();
    let framed = filled.window(-2, -2, rows + 4, cols + 4).ok()?;
    area_of_framed_fill(framed.view(), spacing, convergence, keep_going)
}

/// MFD area of a whole raster's fill framed by two nodata cells on every side (one tile, as
/// [`AreaTile`] reads it); `keep_going(fraction of cells routed)`.
fn area_of_framed_fill(
    framed: ArrayView2<f32>,
    spacing: &CellSpacing,
    convergence: f64,
    keep_going: &(dyn Fn(f64) -> bool + Sync),
) -> Option<Array2<f32>> {
    let (rows, cols) = (framed.nrows() - 4, framed.ncols() - 4);
    let cells = (rows * cols).max(1) as f64;
    let tile = AreaTile::new(framed, &spacing.rows_clamped(-2, rows + 4), convergence);
    let mut area = tile.solve(|_, _| 0.0, &|n| keep_going(n as f64 / cells))?;
    tile.areas_in_place(&mut area);
    Some(area)
}

/// Specific catchment area (m²/m) = catchment area / flow width, with SAGA's default
/// (`ta_hydrology 19`, "Aspect") width w = |cos δ|·Δx + |sin δ|·Δy, δ the aspect of the
/// (filled) DEM, taken from the gradient without trigonometry; on flat cells w = Δx. Computed in
/// place on `area`.
pub fn specific_catchment_area(
    filled: ArrayView2<f32>,
    spacing: &CellSpacing,
    area: &mut Array2<f32>,
) {
    let cols = filled.ncols();
    area.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            let (dx, dy) = (spacing.dx[r], spacing.dy[r]);
            for c in 0..cols {
                if !row[c].is_finite() {
                    continue;
                }
                let (gx, gy) =
                    gradient_at(&filled, r, c, dx, dy, GradientMethod::ZevenbergenThorne);
                // with δ = atan2(−gx, −gy): |cos δ| = |gy|/|∇z|, |sin δ| = |gx|/|∇z|
                let norm = (gx * gx + gy * gy).sqrt();
                let width = if norm > 0.0 {
                    (gy.abs() * dx + gx.abs() * dy) / norm
                } else {
                    dx
                };
                row[c] = (row[c] as f64 / width) as f32;
            }
        });
}

/// Topographic Wetness Index TWI = ln(SCA / tan β) (Beven & Kirkby 1979; SAGA `ta_hydrology 20`,
/// standard method), β the Zevenbergen–Thorne slope of the unfilled DEM, tan β ≥
/// [`MIN_TAN_SLOPE`]; SCA from depression filling, MFD routing (convergence 1.1) and
/// aspect-based flow width. The whole raster routed at once ([`twi_whole`]).
pub fn twi(dem: ArrayView2<f32>, spacing: &CellSpacing) -> Array2<f32> {
    match twi_whole(&dem, spacing, &crate::progress::Silent) {
        Ok(twi) => twi,
        Err(_) => unreachable!("an array's windows are always read and Silent never cancels"),
    }
}

/// How flow routing holds a raster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// The whole raster in memory at once (the fastest; PC1 peaks at about
    /// 8 to 9 bytes a cell with it, the fill and each cell's routed value, with the DEM on disk).
    Whole,
    /// Square tiles of `tile` cells a side, the fill and the areas in unnamed scratch files in
    /// `scratch` (the system's temporary folder when `None`): memory grows with the tile and
    /// the raster's width, not its area; the result is the same bit for bit.
    Tiled {
        tile: usize,
        scratch: Option<PathBuf>,
    },
}

/// Side of the tiles of [`Routing::Tiled`] by default: about 10 MB of work a tile in flight.
pub const DEFAULT_ROUTING_TILE: usize = 512;

/// [`twi`] with its stages reported to `progress` (filling 0–0.3, routing 0.3–0.8, the index
/// 0.8–1), routed as `routing` says; [`Error::Cancelled`] when `progress` asked to stop.
pub fn twi_routed(
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    routing: &Routing,
    progress: &dyn Progress,
) -> Result<Array2<f32>> {
    let (tile, scratch) = match routing {
        Routing::Whole => return twi_whole(&dem, spacing, progress),
        Routing::Tiled { tile, scratch } => (*tile, scratch.as_deref()),
    };
    let mut twi = Array2::<f32>::from_elem(dem.dim(), f32::NAN);
    twi_tiled(
        &dem,
        spacing,
        tile,
        scratch,
        progress,
        &mut |row0, strip| {
            twi.slice_mut(s![row0..row0 + strip.nrows(), ..])
                .assign(&strip);
            Ok(())
        },
    )?;
    Ok(twi)
}

/// TWI with the whole raster routed at once, the DEM read by windows from `dem` (a scratch
/// file, or an array): the fill, then the MFD areas (each cell's slot holding its total outflow
/// weight until it is routed), then SCA and TWI in strips over the areas. Peak memory about 8
/// bytes a cell (the fill with its frame, and one f32 a cell for the routing) besides `dem`.
pub fn twi_whole(
    dem: &dyn WindowSource,
    spacing: &CellSpacing,
    progress: &dyn Progress,
) -> Result<Array2<f32>> {
    let stage = Stage::whole(progress);
    let filling = |f: f64| progress.report(0.3 * f, "TWI: filling depressions");
    let routing_step = |f: f64| progress.report(0.3 + 0.5 * f, "TWI: flow routing");
    // the fill in a frame of two nodata cells, which the routing reads as it is
    let (rows, cols) = dem.shape();
    let cells = (rows * cols).max(1) as f64;
    stage.step(0.0, "TWI: filling depressions")?;
    let padded = dem.window(-2, -2, rows + 4, cols + 4)?;
    let filled = tiled::fill_tile(padded, |_, _| f32::NAN, &|n| filling(n as f64 / cells))
        .ok_or(Error::Cancelled)?;
    stage.step(0.3, "TWI: flow routing")?;
    let mut twi = area_of_framed_fill(filled.view(), spacing, DEFAULT_CONVERGENCE, &routing_step)
        .ok_or(Error::Cancelled)?;
    stage.step(0.8, "TWI: wetness index")?;
    let fill = filled.slice(s![2..rows + 2, 2..cols + 2]);
    // strips on all threads: each reads its own areas and the fill and DEM around it
    twi.axis_chunks_iter_mut(Axis(0), TWI_STRIP_ROWS)
        .into_par_iter()
        .enumerate()
        .try_for_each(|(i, mut strip)| -> Result<()> {
            let values = twi_rows(dem, &fill, spacing, i * TWI_STRIP_ROWS, strip.view())?;
            strip.assign(&values);
            Ok(())
        })?;
    Ok(twi)
}

/// Rows of the TWI computed together from their areas (about 4 MB an array at frame widths).
const TWI_STRIP_ROWS: usize = 64;

/// TWI of rows `row0 .. row0 + h` from their MFD `area`: the SCA from the fill's aspect, tan β
/// from the DEM's slope, each read with one row of context. The same bits whatever the strips.
fn twi_rows(
    dem: &dyn WindowSource,
    fill: &dyn WindowSource,
    spacing: &CellSpacing,
    row0: usize,
    area: ArrayView2<f32>,
) -> Result<Array2<f32>> {
    let (h, cols) = area.dim();
    let fill = fill.window(row0 as isize - 1, 0, h + 2, cols)?;
    let elevation = dem.window(row0 as isize - 1, 0, h + 2, cols)?;
    let rows_spacing = spacing.rows_clamped(row0 as isize - 1, h + 2);
    let mut sca = Array2::<f32>::from_elem((h + 2, cols), f32::NAN);
    sca.slice_mut(s![1..h + 1, ..]).assign(&area);
    specific_catchment_area(fill.view(), &rows_spacing, &mut sca);
    let twi = twi_from_sca(elevation.view(), &rows_spacing, sca);
    Ok(twi.slice_move(s![1..h + 1, ..]))
}

/// TWI routed in tiles of `tile` cells (scratch files in `scratch`), handed to `sink` one strip
/// of rows at a time, top to bottom, as the routing's last pass finishes them: the whole TWI is
/// never held. The strips are those of [`twi_routed`] with [`Routing::Tiled`], bit for bit.
pub fn twi_tiled(
    dem: &dyn WindowSource,
    spacing: &CellSpacing,
    tile: usize,
    scratch: Option<&Path>,
    progress: &dyn Progress,
    sink: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
) -> Result<()> {
    let stage = Stage::whole(progress);
    let filling = |f: f64| progress.report(0.3 * f, "TWI: filling depressions");
    let routing_step = |f: f64| progress.report(0.3 + 0.5 * f, "TWI: flow routing");
    let (rows, cols) = dem.shape();
    let tiling = Tiling::new(rows, cols, tile);
    stage.step(0.0, "TWI: filling depressions")?;
    let filled = ScratchRaster::create(scratch, rows, cols)?;
    let fill_blocks = ScratchFile::create(scratch, tiling.tile_rows * tiling.tile_cols)?;
    tiled::fill_depressions_tiled(dem, tiling, &fill_blocks, &filling, &mut |row0, strip| {
        filled.write_rows(row0, strip)
    })?;
    drop(fill_blocks);
    stage.step(0.3, "TWI: flow routing")?;
    let areas = ScratchFile::create(scratch, tiling.framed_block_len())?;
    tiled::mfd_catchment_area_tiled(
        &filled,
        spacing,
        DEFAULT_CONVERGENCE,
        tiling,
        &areas,
        &routing_step,
        &mut |row0, area| sink(row0, twi_rows(dem, &filled, spacing, row0, area)?.view()),
    )?;
    stage.step(0.8, "TWI: wetness index")?;
    Ok(())
}

/// TWI = ln(SCA / tan β) from the SCA, computed in place (the last stage of [`twi`]); tan β is
/// the gradient's norm |∇z|.
pub fn twi_from_sca(
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    mut sca: Array2<f32>,
) -> Array2<f32> {
    let cols = dem.ncols();
    sca.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            for c in 0..cols {
                if !row[c].is_finite() || !dem[(r, c)].is_finite() {
                    row[c] = f32::NAN;
                    continue;
                }
                let (gx, gy) = gradient_at(
                    &dem,
                    r,
                    c,
                    spacing.dx[r],
                    spacing.dy[r],
                    GradientMethod::ZevenbergenThorne,
                );
                // tan β = |∇z|
                let tan_b = (gx * gx + gy * gy).sqrt().max(MIN_TAN_SLOPE);
                row[c] = (row[c] as f64 / tan_b).ln() as f32;
            }
        });
    sca
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_asked_to_stop_stops_and_one_left_alone_equals_the_plain_fill() {
        // 600 × 600 cells: more than one check interval, with pits everywhere
        let dem = Array2::from_shape_fn((600, 600), |(r, c)| {
            ((r * 7919 + c * 104_729) % 1000) as f32 + 0.01 * (r + c) as f32
        });
        let asked = std::cell::Cell::new(Vec::new());
        let stopped = fill_depressions_until(dem.view(), &|f| {
            let mut seen = asked.take();
            seen.push(f);
            asked.set(seen);
            false
        });
        assert!(stopped.is_none());
        let seen = asked.take();
        assert_eq!(seen.len(), 1);
        assert!((seen[0] - (1 << 18) as f64 / 360_000.0).abs() < 1e-12);
        let left_alone = fill_depressions_until(dem.view(), &|_| true).unwrap();
        assert_eq!(left_alone, fill_depressions(dem.view()));
        assert!(left_alone.iter().zip(dem.iter()).all(|(f, z)| f >= z));
    }
}
