//! The detector's grid: the model's pixel size (15 m, the preprint's geocoding) in a raster's
//! projected CRS, or in the UTM zone of its centre when the raster is in longitude/latitude, and
//! a wrapped phase brought onto it as the complex signal — cos φ and sin φ warped bilinearly,
//! φ = atan2 of the results — never as an angle, so a wrap is not smeared into a ramp. Product
//! readers (`product::prepare`) and end-to-end detection of rasters on other pixel sizes use it.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, ArrayView2, Zip};

use super::align::{bounds_in, warp_band, Resampling};
use super::io::{Encoding, GeoTiffWriter, RasterFile};
use super::{strips, Crs, Grid, STRIP_HALO, STRIP_ROWS};
use crate::error::{Error, Result};

/// The detector's pixel size, metres (the preprint geocodes at 15 m; METHOD.md §1).
pub const MODEL_SPACING_M: f64 = 15.0;

/// Most pixels of the detector's grid a phase or product may need (a Sentinel-1 frame at 15 m
/// is about 16,000 × 13,000 = 2.1·10⁸).
pub const MAX_PIXELS: usize = 400_000_000;

/// How a source strip is prepared before it is warped, in place (a product's 0 = nodata, its
/// coherence scale); `&|_| {}` for none.
pub(crate) type Prepare<'a> = &'a dyn Fn(&mut Array2<f32>);

/// Band 1 of `phase` (wrapped, radians), prepared by `prepare`, on `grid` as the complex
/// signal (cos φ and sin φ warped bilinearly, φ = atan2 of the results; missing where either
/// is), handed to `put` one strip of [`STRIP_ROWS`] rows at a time: cos φ and sin φ are written
/// strip by strip to scratch GeoTIFFs in `scratch` (removed after) and warped back in strips
/// ([`warp_strips`]). Memory: a few strips and GDAL's cache, not the raster.
pub(crate) fn phase_strips_onto(
    phase: &RasterFile,
    grid: &Grid,
    scratch: &Path,
    prepare: Prepare,
    put: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
) -> Result<()> {
    let source = phase.grid();
    let scratch_files = ScratchFiles(
        ["cos_phase", "sin_phase"]
            .map(|name| scratch.join(format!(".{name}.model-grid.tif")))
            .to_vec(),
    );
    let [cos_path, sin_path] = [&scratch_files.0[0], &scratch_files.0[1]];
    let mut cos_writer =
        GeoTiffWriter::create(cos_path, source, &[Encoding::Float32], &["cos_phase"])?;
    let mut sin_writer =
        GeoTiffWriter::create(sin_path, source, &[Encoding::Float32], &["sin_phase"])?;
    for (row0, rows) in strips(source.height, STRIP_ROWS) {
        let mut values = phase.read_rows(1, row0, rows)?;
        prepare(&mut values);
        cos_writer.write_rows(1, row0, values.mapv(f32::cos).view())?;
        sin_writer.write_rows(1, row0, values.mapv(f32::sin).view())?;
    }
    cos_writer.finish()?;
    sin_writer.finish()?;
    let (cos_file, sin_file) = (RasterFile::open(cos_path)?, RasterFile::open(sin_path)?);
    warp_strips(&[&cos_file, &sin_file], grid, &mut |row0, warped| {
        let mut values = Array2::<f32>::from_elem(warped[0].dim(), f32::NAN);
        Zip::from(&mut values)
            .and(&warped[0])
            .and(&warped[1])
            .for_each(|p, &c, &s| *p = s.atan2(c));
        put(row0, values.view())
    })
}

/// Band 1 of `file` warped bilinearly onto `grid` (the same values as one whole warp),
/// handed to `put` one strip of [`STRIP_ROWS`] rows at a time. With `prepare`, the band is first
/// prepared strip by strip into a scratch GeoTIFF named after `name` in `scratch` (removed
/// after); without, the strips are warped from `file` itself.
pub(crate) fn values_strips_onto(
    file: &RasterFile,
    grid: &Grid,
    scratch: &Path,
    name: &str,
    prepare: Option<Prepare>,
    put: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
) -> Result<()> {
    let Some(prepare) = prepare else {
        return warp_strips(&[file], grid, &mut |row0, warped| put(row0, warped[0]));
    };
    let source = file.grid();
    let scratch_files = ScratchFiles(vec![scratch.join(format!(".{name}.model-grid.tif"))]);
    let path = &scratch_files.0[0];
    let mut writer = GeoTiffWriter::create(path, source, &[Encoding::Float32], &[name])?;
    for (row0, rows) in strips(source.height, STRIP_ROWS) {
        let mut values = file.read_rows(1, row0, rows)?;
        prepare(&mut values);
        writer.write_rows(1, row0, values.view())?;
    }
    writer.finish()?;
    let prepared = RasterFile::open(path)?;
    warp_strips(&[&prepared], grid, &mut |row0, warped| put(row0, warped[0]))
}

/// `values` on `source` (in memory, e.g. computed on a product's own grid) warped bilinearly
/// onto `grid` as [`values_strips_onto`] does, through a scratch GeoTIFF named after `name` in
/// `scratch` (removed after, whatever happened); `values` are dropped once written there.
pub(crate) fn array_strips_onto(
    values: Array2<f32>,
    source: &Grid,
    grid: &Grid,
    scratch: &Path,
    name: &str,
    put: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
) -> Result<()> {
    let scratch_files = ScratchFiles(vec![scratch.join(format!(".{name}.source-grid.tif"))]);
    let path = &scratch_files.0[0];
    let mut writer = GeoTiffWriter::create(path, source, &[Encoding::Float32], &[name])?;
    writer.write_rows(1, 0, values.view())?;
    writer.finish()?;
    drop(values);
    values_strips_onto(&RasterFile::open(path)?, grid, scratch, name, None, put)
}

/// What takes the warped strips: the strip's first row and one view per source.
type PutStrips<'a> = dyn FnMut(usize, &[ArrayView2<f32>]) -> Result<()> + 'a;

/// Each of `sources` (band 1) warped bilinearly onto `grid` one strip of [`STRIP_ROWS`] rows at
/// a time, each strip with [`STRIP_HALO`] rows more on either side and then cut, so that its edge
/// rows are warped as inner rows (the same values as one whole warp); `put` gets the strip's
/// first row and one view per source.
fn warp_strips(sources: &[&RasterFile], grid: &Grid, put: &mut PutStrips) -> Result<()> {
    for (row0, rows) in strips(grid.height, STRIP_ROWS) {
        let strip = grid.window(
            0,
            row0 as isize - STRIP_HALO as isize,
            grid.width,
            rows + 2 * STRIP_HALO,
        );
        let warped = sources
            .iter()
            .map(|source| warp_band(source, &strip, Resampling::Bilinear))
            .collect::<Result<Vec<_>>>()?;
        let cut: Vec<ArrayView2<f32>> = warped
            .iter()
            .map(|w| w.slice(s![STRIP_HALO..STRIP_HALO + rows, ..]))
            .collect();
        put(row0, &cut)?;
    }
    Ok(())
}

/// Scratch files removed when dropped, whatever happened.
struct ScratchFiles(Vec<PathBuf>);

impl Drop for ScratchFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Pixel sizes within this share of [`MODEL_SPACING_M`] (13.5–16.5 m) are the detector's own: a
/// raster on such a grid is used as it is.
pub const SPACING_TOLERANCE: f64 = 0.1;

/// A grid's pixel size, metres: the larger of its cell width and height at the middle row.
pub fn spacing_m(grid: &Grid) -> f64 {
    let spacing = grid.spacing();
    let middle = spacing.rows() / 2;
    spacing.dx[middle].max(spacing.dy[middle])
}

/// Whether a raster on `grid` must be brought to the detector's grid: its pixel size differs from
/// [`MODEL_SPACING_M`] by more than [`SPACING_TOLERANCE`]. The model learnt landslides at 15 m;
/// at 30 m the same slide covers a quarter of the pixels and no longer looks like what it learnt.
pub fn off_model_spacing(grid: &Grid) -> bool {
    (spacing_m(grid) / MODEL_SPACING_M - 1.0).abs() > SPACING_TOLERANCE
}

/// A wrapped phase raster brought onto the detector's grid.
#[derive(Debug, Clone)]
pub struct PhaseOnModelGrid {
    /// The resampled phase, with the original's metadata (dates, orbit, heading).
    pub path: PathBuf,
    pub grid: Grid,
    /// The original phase's CRS, where its detections go back to.
    pub source_crs: Crs,
}

/// `phase` on the detector's grid ([`model_grid`]: 15 m in its CRS, or in the UTM zone of its
/// centre when it is in longitude/latitude), resampled as the complex signal and written at
/// `out` with the original's metadata; scratch files go in `scratch`. For a phase whose pixels
/// are not the detector's ([`off_model_spacing`]). Coherence, DEM and incidence need no copy:
/// the layer chain warps them onto the phase's grid, whatever theirs.
///
/// ```no_run
/// use fringewatch::raster::detector_grid::{off_model_spacing, phase_on_model_grid, spacing_m};
/// use fringewatch::raster::io::RasterFile;
/// # fn main() -> fringewatch::Result<()> {
/// let phase = RasterFile::open("phase_30m.tif")?;
/// if off_model_spacing(phase.grid()) {
///     let dir = std::env::temp_dir();
///     let p = phase_on_model_grid(&phase, &dir.join("phase_15m.tif"), &dir)?;
///     assert_eq!((spacing_m(phase.grid()).round(), p.grid.geo_transform[1]), (30.0, 15.0));
/// }
/// # Ok(())
/// # }
/// ```
pub fn phase_on_model_grid(
    phase: &RasterFile,
    out: &Path,
    scratch: &Path,
) -> Result<PhaseOnModelGrid> {
    let source = phase.grid().clone();
    let grid = model_grid(&source)?;
    let mut writer = GeoTiffWriter::create(out, &grid, &[Encoding::Float32], &["phase"])?;
    for (key, value) in phase.metadata_items() {
        writer.set_metadata(&key, &value)?;
    }
    phase_strips_onto(phase, &grid, scratch, &|_| {}, &mut |row0, strip| {
        writer.write_rows(1, row0, strip)
    })?;
    writer.finish()?;
    Ok(PhaseOnModelGrid {
        path: out.to_path_buf(),
        grid,
        source_crs: source.crs,
    })
}

/// The detector's grid over `source`: [`MODEL_SPACING_M`] cells in `source`'s CRS when it is
/// projected, else in the UTM zone of its centre (WGS 84).
pub fn model_grid(source: &Grid) -> Result<Grid> {
    let crs = if source.crs.geographic {
        let (x0, y0, x1, y1) = source.bounds();
        let (lon, lat) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        // longitudes may come as 0–360° (GMT's convention): the zone is that of lon mod 360
        let lon = (lon + 180.0).rem_euclid(360.0) - 180.0;
        let zone = (((lon + 180.0) / 6.0).floor() as i64).clamp(0, 59) + 1;
        let code = if lat >= 0.0 {
            32600 + zone
        } else {
            32700 + zone
        };
        Crs::from_definition(&format!("EPSG:{code}")).map_err(Error::Proj)?
    } else {
        source.crs.clone()
    };
    let target = Grid {
        width: 1,
        height: 1,
        geo_transform: [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
        crs,
    };
    let (x0, y0, x1, y1) = bounds_in(source, &target)?;
    let cell = MODEL_SPACING_M / target.crs.metres_per_unit;
    let width = ((x1 - x0) / cell).ceil().max(1.0) as usize;
    let height = ((y1 - y0) / cell).ceil().max(1.0) as usize;
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(Error::parameter(
            "product",
            format!(
                "{width} × {height} pixels at {MODEL_SPACING_M} m: more than {MAX_PIXELS} (a whole frame is about 2·10⁸); crop it first (gdal_translate -projwin)"
            ),
        ));
    }
    Ok(Grid {
        width,
        height,
        geo_transform: [x0, cell, 0.0, y1, 0.0, -cell],
        crs: target.crs,
    })
}

#[cfg(test)]
mod tests {
    use super::super::io::write_single_band;
    use super::*;

    /// `values` on `source` warped bilinearly onto `grid`, through a scratch file in `dir` (removed).
    fn warp_values(
        values: &Array2<f32>,
        source: &Grid,
        grid: &Grid,
        dir: &Path,
        name: &str,
    ) -> Result<Array2<f32>> {
        let temp = dir.join(format!(".{name}.product-grid.tif"));
        write_single_band(&temp, source, values.view(), name, &[])?;
        let warped = warp_band(&RasterFile::open(&temp)?, grid, Resampling::Bilinear);
        let _ = std::fs::remove_file(&temp);
        warped
    }

    /// A longitude/latitude grid gets the UTM zone of its centre, also with longitudes written
    /// 0–360° (240°E is 120°W: zone 11), and the same grid either way.
    #[test]
    fn a_grid_in_0_to_360_longitudes_gets_the_zone_of_its_centre() {
        let grid_at = |lon0: f64| Grid {
            width: 400,
            height: 300,
            geo_transform: [lon0, 0.0005, 0.0, 35.0, 0.0, -0.0005],
            crs: Crs::from_definition("EPSG:4326").unwrap(),
        };
        let east = model_grid(&grid_at(240.0)).unwrap();
        let west = model_grid(&grid_at(-120.0)).unwrap();
        assert!(west
            .crs
            .same_as(&Crs::from_definition("EPSG:32611").unwrap()));
        assert!(east.crs.same_as(&west.crs));
        assert_eq!((east.width, east.height), (west.width, west.height));
        for (a, b) in east.geo_transform.iter().zip(west.geo_transform) {
            assert!(
                (a - b).abs() < 1e-3,
                "{:?} against {:?}",
                east.geo_transform,
                west.geo_transform
            );
        }
    }

    /// A product's band in strips equals one whole warp of the same prepared values, to the bit,
    /// with and without a preparation (0 = nodata and a scale, as LiCSAR's coherence bytes), over
    /// several strips; no scratch file is left.
    #[test]
    fn a_band_in_strips_is_one_whole_warp() {
        let dir = tempfile::tempdir().unwrap();
        let source_grid = Grid {
            width: 150,
            height: 300,
            geo_transform: [600_000.0, 30.0, 0.0, 4_900_000.0, 0.0, -30.0],
            crs: Crs::from_definition("EPSG:32632").unwrap(),
        };
        let bytes = Array2::from_shape_fn((300, 150), |(r, c)| {
            if (60..64).contains(&r) && (20..90).contains(&c) {
                0.0
            } else {
                ((r * 7 + c * 3) % 250 + 1) as f32
            }
        });
        let source_path = dir.path().join("coherence_bytes.tif");
        write_single_band(&source_path, &source_grid, bytes.view(), "cc", &[]).unwrap();
        let source = RasterFile::open(&source_path).unwrap();
        let grid = model_grid(&source_grid).unwrap();
        assert!(grid.height > 2 * STRIP_ROWS, "{} rows", grid.height);
        let prepare = |values: &mut Array2<f32>| {
            values.mapv_inplace(|v| if v == 0.0 { f32::NAN } else { v / 255.0 });
        };
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        for with_preparation in [true, false] {
            let mut strips = Array2::<f32>::from_elem((grid.height, grid.width), -1.0);
            let mut put = |row0: usize, strip: ArrayView2<f32>| {
                strips
                    .slice_mut(s![row0..row0 + strip.nrows(), ..])
                    .assign(&strip);
                Ok(())
            };
            let preparation: Option<Prepare> = with_preparation.then_some(&prepare);
            values_strips_onto(&source, &grid, &scratch, "cc", preparation, &mut put).unwrap();
            assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
            let mut whole_values = bytes.clone();
            if with_preparation {
                prepare(&mut whole_values);
            }
            let whole =
                warp_values(&whole_values, &source_grid, &grid, dir.path(), "whole").unwrap();
            let mut compared = 0;
            for (a, b) in strips.iter().zip(whole.iter()) {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{a} in strips against {b} whole (prepared: {with_preparation})"
                );
                compared += usize::from(a.is_finite());
            }
            assert!(compared > strips.len() / 2, "{compared} values");
            let missing = strips.iter().filter(|v| v.is_nan()).count();
            assert_eq!(missing > 0, with_preparation, "{missing} missing");
        }
    }
}
