//! The detector's three-band input (METHOD.md §1): wrapped phase, ISL, PC1, on the
//! interferogram's grid, in that band order. Float32 by default; UInt16 with per-band scale and
//! offset for the preprint's 16-bit form.

use std::cell::RefCell;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use gdal::Metadata;
use ndarray::Array2;

use crate::error::{Error, Result};
use crate::progress::{Progress, Stage};
use crate::raster::align::{require_overlap, warp_band, Resampling};
use crate::raster::io::{
    check_not_an_input, check_output_path, require_north_up, Encoding, GeoTiffWriter, RasterFile,
};
use crate::raster::scratch::{ScratchRaster, StripCache};
use crate::raster::{finite_range, strips, Grid, STRIP_ROWS};
use crate::sensitivity::layer::IslRows;
use crate::terrain::pca::{Pc1Rows, PC1_STRIP_ROWS};

/// Band names, in band order; also recorded in the file (`FRINGEWATCH_CHANNELS`).
pub const CHANNELS: [&str; 3] = ["phase", "isl", "pc1"];

/// Largest |phase| accepted as wrapped (π plus rounding slack).
const WRAPPED_LIMIT: f32 = (PI + 1e-3) as f32;

/// Inputs of the stack.
#[derive(Debug, Clone)]
pub struct StackJob {
    pub phase: PathBuf,
    pub isl: PathBuf,
    pub pc1: PathBuf,
    pub out: PathBuf,
    pub uint16: bool,
}

/// The layers a stack is made of, opened: the phase, and ISL and PC1 warped bilinearly onto the
/// phase grid when their grids differ (a plain read when they coincide, as `run`'s layers do).
pub struct StackLayers {
    pub phase: RasterFile,
    pub isl: RasterFile,
    pub pc1: RasterFile,
}

impl StackLayers {
    /// Open the layers and check that ISL and PC1 overlap the phase.
    pub fn open(phase: &Path, isl: &Path, pc1: &Path) -> Result<StackLayers> {
        let phase = RasterFile::open(phase)?;
        let isl = RasterFile::open(isl)?;
        let pc1 = RasterFile::open(pc1)?;
        require_overlap(&isl, &phase)?;
        require_overlap(&pc1, &phase)?;
        Ok(StackLayers { phase, isl, pc1 })
    }

    /// Phase, ISL and PC1 of rows `row0 .. row0 + rows` of the phase grid: the stack's bands
    /// there. A phase outside (−π, π] or an ISL outside [0, 1] is refused, naming the file.
    pub fn read_rows(&self, row0: usize, rows: usize) -> Result<[Array2<f32>; 3]> {
        let grid = self.phase.grid();
        let block = grid.window(0, row0 as isize, grid.width, rows);
        let phase = wrapped_rows(&self.phase, row0, rows)?;
        let isl = warp_band(&self.isl, &block, Resampling::Bilinear)?;
        if let Some((lo, hi)) = finite_range(isl.view()) {
            if lo < -1e-4 || hi > 1.0 + 1e-4 {
                return Err(Error::bad_input(
                    self.isl.path(),
                    format!("ISL must lie in [0, 1], found {lo} to {hi}"),
                ));
            }
        }
        let pc1 = warp_band(&self.pc1, &block, Resampling::Bilinear)?;
        Ok([phase, isl, pc1])
    }
}

/// Rows `row0 .. row0 + rows` of a phase raster, refused (naming the file) outside (−π, π].
fn wrapped_rows(phase: &RasterFile, row0: usize, rows: usize) -> Result<Array2<f32>> {
    let values = phase.read_rows(1, row0, rows)?;
    if let Some((lo, hi)) = finite_range(values.view()) {
        if lo < -WRAPPED_LIMIT || hi > WRAPPED_LIMIT {
            return Err(Error::bad_input(
                phase.path(),
                format!("phase must be wrapped radians in (−π, π], found {lo} to {hi} (unwrapped? wrap it with atan2(sin φ, cos φ))"),
            ));
        }
    }
    Ok(values)
}

/// The phase read from its file, ISL and PC1 made as the rows are asked for (in the strips
/// their files are written in, so with the same bits): the stack's bands with no full-frame
/// layer written. What needs the whole DEM (PC1's flow routing and statistics) is done
/// beforehand by [`Pc1Rows::prepare`]; [`crate::layers::layers_on_demand`] makes one.
pub struct LayersOnDemand {
    phase: RasterFile,
    isl: RefCell<(IslRows, StripCache)>,
    pc1: RefCell<(Pc1Rows<ScratchRaster>, StripCache)>,
}

impl LayersOnDemand {
    /// The phase file with ISL and PC1 on its grid; refused when their grids differ from it.
    pub fn new(phase: RasterFile, isl: IslRows, pc1: Pc1Rows<ScratchRaster>) -> Result<Self> {
        let grid = phase.grid();
        let shape = (grid.height, grid.width);
        if (isl.grid().height, isl.grid().width) != shape || pc1.shape() != shape {
            return Err(Error::parameter(
                "layers",
                format!(
                    "ISL ({} × {}) and PC1 ({} × {}) must be made on the phase grid ({} × {})",
                    isl.grid().width,
                    isl.grid().height,
                    pc1.shape().1,
                    pc1.shape().0,
                    grid.width,
                    grid.height
                ),
            ));
        }
        let isl_cache = StripCache::new(grid.height, STRIP_ROWS, grid.width);
        let pc1_cache = StripCache::new(grid.height, PC1_STRIP_ROWS, grid.width);
        Ok(LayersOnDemand {
            phase,
            isl: RefCell::new((isl, isl_cache)),
            pc1: RefCell::new((pc1, pc1_cache)),
        })
    }

    /// Phase, ISL and PC1 of rows `row0 .. row0 + rows`; strips made once while the reads move
    /// down the raster.
    pub fn read_rows(&self, row0: usize, rows: usize) -> Result<[Array2<f32>; 3]> {
        let phase = wrapped_rows(&self.phase, row0, rows)?;
        let isl = {
            let mut held = self.isl.borrow_mut();
            let (isl, cache) = &mut *held;
            cache.rows(row0, rows, &mut |r, h| isl.rows(r, h))?
        };
        let pc1 = {
            let mut held = self.pc1.borrow_mut();
            let (pc1, cache) = &mut *held;
            cache.rows(row0, rows, &mut |r, h| pc1.rows(r, h))?
        };
        Ok([phase, isl, pc1])
    }

    /// Once every row has been read: refuse a DEM or coherence without any valid value over the
    /// grid (as writing ISL does).
    pub fn finish(&self) -> Result<()> {
        self.isl.borrow().0.finish().map(|_| ())
    }
}

/// The detector's three bands on the phase grid, a strip of rows at a time: from a stack file,
/// or with ISL and PC1 made as they are read, exactly as [`build_stack`] writes them, so that
/// detection needs no full-frame layer on disk.
pub enum StackSource {
    /// A 3-band stack written by [`build_stack`].
    File(RasterFile),
    /// The phase raster, ISL and PC1 made on demand.
    OnDemand(Box<LayersOnDemand>),
}

impl StackSource {
    /// The grid of the bands (the phase's).
    pub fn grid(&self) -> &Grid {
        match self {
            StackSource::File(file) => file.grid(),
            StackSource::OnDemand(layers) => layers.phase.grid(),
        }
    }

    /// The file whose metadata describes the interferogram (dates, orbit…): the stack, which
    /// carries the phase's, or the phase itself.
    pub fn described_by(&self) -> &RasterFile {
        match self {
            StackSource::File(file) => file,
            StackSource::OnDemand(layers) => &layers.phase,
        }
    }

    /// Phase, ISL and PC1 of rows `row0 .. row0 + rows`.
    pub fn read_rows(&self, row0: usize, rows: usize) -> Result<[Array2<f32>; 3]> {
        match self {
            StackSource::File(file) => Ok([
                file.read_rows(1, row0, rows)?,
                file.read_rows(2, row0, rows)?,
                file.read_rows(3, row0, rows)?,
            ]),
            StackSource::OnDemand(layers) => layers.read_rows(row0, rows),
        }
    }

    /// Once every row has been read: the checks over the whole of bands made on demand.
    pub fn finish(&self) -> Result<()> {
        match self {
            StackSource::File(_) => Ok(()),
            StackSource::OnDemand(layers) => layers.finish(),
        }
    }
}

/// Build the stack on the phase grid (ISL and PC1 warped bilinearly when their grids differ).
pub fn build_stack(job: &StackJob, progress: &dyn Progress) -> Result<()> {
    check_output_path(&job.out)?;
    check_not_an_input(&job.out, &[&job.phase, &job.isl, &job.pc1])?;
    let layers = StackLayers::open(&job.phase, &job.isl, &job.pc1)?;
    let grid = layers.phase.grid().clone();
    require_north_up(&grid, &job.phase)?;
    let bytes_per_cell = if job.uint16 { 6.0 } else { 12.0 };
    crate::raster::budget::check_disk(
        &job.out,
        grid.width as f64 * grid.height as f64 * bytes_per_cell,
    )?;
    let encodings = if job.uint16 {
        let (lo, hi) = band_range(&layers.pc1)?;
        [
            Encoding::uint16_for_range(-PI, PI),
            Encoding::uint16_for_range(0.0, 1.0),
            Encoding::uint16_for_range(lo, hi),
        ]
    } else {
        [Encoding::Float32; 3]
    };
    let mut writer = GeoTiffWriter::create(&job.out, &grid, &encodings, &CHANNELS)?;
    // Acquisition metadata of the interferogram (dates, orbit…) travels with the stack.
    for (key, value) in layers.phase.metadata_items() {
        if key.starts_with("FRINGEWATCH_") && key != "FRINGEWATCH_CHANNELS" {
            writer.set_metadata(&key, &value)?;
        }
    }
    let stage = Stage::whole(progress);
    for (row0, rows) in strips(grid.height, STRIP_ROWS) {
        stage.step(row0 as f64 / grid.height as f64, "stacking")?;
        let bands = layers.read_rows(row0, rows)?;
        for (band, values) in bands.iter().enumerate() {
            writer.write_rows(band + 1, row0, values.view())?;
        }
    }
    writer.set_metadata("FRINGEWATCH_CHANNELS", &CHANNELS.join(","))?;
    writer.finish()?;
    stage.done("stack written");
    Ok(())
}

/// Exact minimum and maximum of band 1.
fn band_range(file: &RasterFile) -> Result<(f64, f64)> {
    let band = file
        .dataset()
        .rasterband(1)
        .map_err(|e| Error::gdal(file.path(), e))?;
    let mm = band
        .compute_raster_min_max(false)
        .map_err(|_| Error::bad_input(file.path(), "no valid pixels (all nodata)"))?;
    Ok((mm.min, mm.max))
}

/// Refuses a 3-band raster that is not a detector stack: bands named otherwise than phase, ISL,
/// PC1 in that order (when the file names them, as `fringewatch stack` and GDAL tools that keep
/// band descriptions do), a first band that is not a wrapped phase in radians (degrees,
/// unwrapped, a DEM) or a second band outside ISL's [0, 1]. Value ranges are GDAL's approximate
/// minimum and maximum (from overviews or a sample), in the bands' scaled units.
pub fn check_stack_bands(file: &RasterFile) -> Result<()> {
    let dataset = file.dataset();
    let band = |i: usize| {
        dataset
            .rasterband(i)
            .map_err(|e| Error::gdal(file.path(), e))
    };
    let names: Vec<String> = (1..=3)
        .map(|i| {
            Ok(band(i)?
                .description()
                .unwrap_or_default()
                .trim()
                .to_lowercase())
        })
        .collect::<Result<_>>()?;
    if names.iter().all(|n| !n.is_empty()) && names != CHANNELS {
        return Err(Error::bad_input(
            file.path(),
            format!(
                "its bands are {}; a detector stack holds phase, isl, pc1 in that order (build it with `fringewatch stack`)",
                names.join(", ")
            ),
        ));
    }
    let range = |i: usize| -> Result<Option<(f64, f64)>> {
        let b = band(i)?;
        let (scale, offset) = (b.scale().unwrap_or(1.0), b.offset().unwrap_or(0.0));
        Ok(b.compute_raster_min_max(true)
            .ok()
            .map(|mm| (mm.min * scale + offset, mm.max * scale + offset)))
    };
    if let Some((lo, hi)) = range(1)? {
        if lo < -PI - 0.01 || hi > PI + 0.01 {
            return Err(Error::bad_input(
                file.path(),
                format!(
                    "band 1 holds {lo:.3} … {hi:.3}, not a wrapped phase in radians (−π … π): degrees, an unwrapped phase or another layer?"
                ),
            ));
        }
    }
    if let Some((lo, hi)) = range(2)? {
        if lo < -1e-3 || hi > 1.0 + 1e-3 {
            return Err(Error::bad_input(
                file.path(),
                format!("band 2 holds {lo:.3} … {hi:.3}, not ISL (0 … 1)"),
            ));
        }
    }
    Ok(())
}

/// Read a stack's three bands back (for tests and detection): phase, ISL, PC1.
pub fn read_stack(path: &Path) -> Result<(RasterFile, [ndarray::Array2<f32>; 3])> {
    let file = RasterFile::open(path)?;
    if file.band_count() != 3 {
        return Err(Error::bad_input(
            path,
            format!(
                "a detector stack has 3 bands (phase, ISL, PC1), this file has {}",
                file.band_count()
            ),
        ));
    }
    let bands = [file.read_band(1)?, file.read_band(2)?, file.read_band(3)?];
    Ok((file, bands))
}
