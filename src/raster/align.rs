//! Bringing a raster onto another grid: GDAL's warper (`GDALReprojectImage`, PROJ underneath)
//! into a buffer we own, after checking with PROJ that the two grids overlap at all.

use std::ffi::CString;

use gdal::Dataset;
use ndarray::{s, Array2};

use super::io::RasterFile;
use super::{strips, Grid, STRIP_ROWS};
use crate::error::{Error, Result};

/// Resampling used when warping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resampling {
    /// For categorical values.
    Nearest,
    /// For continuous values (elevation, coherence, angles): the default.
    Bilinear,
    /// Smoother, for DEMs brought to a finer grid.
    Cubic,
}

impl Resampling {
    fn to_gdal(self) -> gdal_sys::GDALResampleAlg::Type {
        use gdal_sys::GDALResampleAlg::*;
        match self {
            Resampling::Nearest => GRA_NearestNeighbour,
            Resampling::Bilinear => GRA_Bilinear,
            Resampling::Cubic => GRA_Cubic,
        }
    }
}

/// Bounds of `grid` expressed in the CRS of `target` (PROJ `proj_trans_bounds`, densified
/// edges), as `(xmin, ymin, xmax, ymax)`.
pub fn bounds_in(grid: &Grid, target: &Grid) -> Result<(f64, f64, f64, f64)> {
    let (x0, y0, x1, y1) = grid.bounds();
    if grid.crs.same_as(&target.crs) {
        return Ok((x0, y0, x1, y1));
    }
    let proj = proj::Proj::new_known_crs(&grid.crs.wkt, &target.crs.wkt, None)
        .map_err(|e| Error::Proj(e.to_string()))?;
    let b = proj
        .transform_bounds(x0, y0, x1, y1, 21)
        .map_err(|e| Error::Proj(e.to_string()))?;
    Ok((b[0], b[1], b[2], b[3]))
}

/// Fraction of `target`'s area covered by `source` (0 when they do not overlap).
pub fn coverage(source: &Grid, target: &Grid) -> Result<f64> {
    let (sx0, sy0, sx1, sy1) = bounds_in(source, target)?;
    let (tx0, ty0, tx1, ty1) = target.bounds();
    let w = (sx1.min(tx1) - sx0.max(tx0)).max(0.0);
    let h = (sy1.min(ty1) - sy0.max(ty0)).max(0.0);
    Ok(w * h / ((tx1 - tx0) * (ty1 - ty0)))
}

/// Refuse, naming both files, when `source` does not overlap `reference`.
pub fn require_overlap(source: &RasterFile, reference: &RasterFile) -> Result<()> {
    require_overlap_grid(source, reference.grid(), reference.path())
}

/// As [`require_overlap`], against a bare grid described by `reference_path`.
pub fn require_overlap_grid(
    source: &RasterFile,
    reference: &Grid,
    reference_path: &std::path::Path,
) -> Result<()> {
    let c = coverage(source.grid(), reference)?;
    if c <= 0.0 {
        return Err(Error::Incompatible {
            first: source.path().to_path_buf(),
            second: reference_path.to_path_buf(),
            problem: "the rasters do not overlap (compare their extents with gdalinfo)".into(),
        });
    }
    Ok(())
}

/// Band 1 of `source` on `grid`: read directly when the grids coincide, else warped with
/// `resampling`. Pixels outside the source, or whose inputs are nodata, are NaN; the source's
/// scale/offset is applied.
pub fn warp_band(source: &RasterFile, grid: &Grid, resampling: Resampling) -> Result<Array2<f32>> {
    let sg = source.grid();
    if grid.crs.same_as(&sg.crs) {
        if let Some((col0, row0)) = integer_offset(sg, grid) {
            return read_clipped(source, grid, col0, row0);
        }
    }
    let mut out = Array2::<f32>::from_elem((grid.height, grid.width), f32::NAN);
    warp_into(source, grid, resampling, &mut out)?;
    // the warper works on raw values: apply nodata / scaling like a direct read does
    if let Some(values) = out.as_slice_mut() {
        source.normalise(1, values);
    }
    Ok(out)
}

/// When `grid`'s cells coincide with `source`'s (same size, origin a whole number of cells
/// away), the (column, row) of `grid`'s origin in `source`.
fn integer_offset(source: &Grid, grid: &Grid) -> Option<(isize, isize)> {
    let s = &source.geo_transform;
    let g = &grid.geo_transform;
    let tol = 1e-6;
    if (s[1] - g[1]).abs() > tol * s[1].abs() || (s[5] - g[5]).abs() > tol * s[5].abs() {
        return None;
    }
    let (c, r) = source.map_to_pixel(g[0], g[3]);
    let (ci, ri) = (c.round(), r.round());
    if (c - ci).abs() > tol || (r - ri).abs() > tol {
        return None;
    }
    Some((ci as isize, ri as isize))
}

/// Read the part of `grid` (offset (col0,row0) in the source) that lies inside the source.
fn read_clipped(source: &RasterFile, grid: &Grid, col0: isize, row0: isize) -> Result<Array2<f32>> {
    let sg = source.grid();
    let mut out = Array2::<f32>::from_elem((grid.height, grid.width), f32::NAN);
    let c_start = col0.max(0);
    let r_start = row0.max(0);
    let c_end = (col0 + grid.width as isize).min(sg.width as isize);
    let r_end = (row0 + grid.height as isize).min(sg.height as isize);
    if c_end <= c_start || r_end <= r_start {
        return Ok(out);
    }
    let (height, width) = ((r_end - r_start) as usize, (c_end - c_start) as usize);
    let (c_start, r_start) = (c_start as usize, r_start as usize);
    let oc = (c_start as isize - col0) as usize;
    let or = (r_start as isize - row0) as usize;
    if width == grid.width {
        // whole rows: read straight into the output (one copy of the raster, not two)
        source.read_window_into(1, c_start, r_start, out.slice_mut(s![or..or + height, ..]))?;
        return Ok(out);
    }
    for (r, rows) in strips(height, STRIP_ROWS) {
        let mut part = Array2::<f32>::zeros((rows, width));
        source.read_window_into(1, c_start, r_start + r, part.view_mut())?;
        out.slice_mut(s![or + r..or + r + rows, oc..oc + width])
            .assign(&part);
    }
    Ok(out)
}

/// Warp band 1 of `source` into `out` (shape = grid), through a GDAL MEM dataset that wraps
/// `out`'s own memory (no copy).
fn warp_into(
    source: &RasterFile,
    grid: &Grid,
    resampling: Resampling,
    out: &mut Array2<f32>,
) -> Result<()> {
    let path = source.path().to_path_buf();
    let slice = out
        .as_slice_mut()
        .ok_or_else(|| Error::parameter("buffer", "warp buffer must be contiguous"))?;
    let spec = format!(
        "MEM:::DATAPOINTER={:p},PIXELS={},LINES={},BANDS=1,DATATYPE=Float32",
        slice.as_mut_ptr(),
        grid.width,
        grid.height
    );
    // GDAL >= 3.10 wants this to open MEM::: strings; harmless before.
    gdal::config::set_thread_local_config_option("GDAL_MEM_ENABLE_OPEN", "YES")
        .map_err(|e| Error::gdal(&path, e))?;
    let c_spec = CString::new(spec).map_err(|_| Error::parameter("buffer", "bad MEM spec"))?;
    // SAFETY: the MEM dataset borrows `slice` for its whole life, which ends in this function.
    let handle = unsafe { gdal_sys::GDALOpen(c_spec.as_ptr(), gdal_sys::GDALAccess::GA_Update) };
    if handle.is_null() {
        return Err(Error::Output {
            path: path.clone(),
            problem: "could not create the in-memory warp target".into(),
        });
    }
    // SAFETY: handle is a valid, owned dataset handle; Dataset closes it on drop.
    let mut mem = unsafe { Dataset::from_c_dataset(handle) };
    mem.set_geo_transform(&grid.geo_transform)
        .map_err(|e| Error::gdal(&path, e))?;
    mem.set_projection(&grid.crs.wkt)
        .map_err(|e| Error::gdal(&path, e))?;
    {
        let mut band = mem.rasterband(1).map_err(|e| Error::gdal(&path, e))?;
        band.set_no_data_value(Some(f64::NAN))
            .map_err(|e| Error::gdal(&path, e))?;
    }
    // SAFETY: both handles are valid open datasets for the duration of the call.
    let rv = unsafe {
        gdal_sys::GDALReprojectImage(
            source.dataset().c_dataset(),
            std::ptr::null(),
            mem.c_dataset(),
            std::ptr::null(),
            resampling.to_gdal(),
            0.0,
            0.0,
            None,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    drop(mem);
    if rv != gdal_sys::CPLErr::CE_None {
        return Err(Error::Incompatible {
            first: path,
            second: std::path::PathBuf::from("(target grid)"),
            problem: "GDAL could not warp the raster onto the target grid".into(),
        });
    }
    Ok(())
}
