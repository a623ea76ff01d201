//! Reading rasters with GDAL (anything it opens: GeoTIFF, GMTSAR/GMT NetCDF grids, ENVI, …) and
//! writing tiled, compressed GeoTIFFs atomically (a temporary file renamed into place, so an
//! error or a cancel leaves nothing half-written).

use std::path::{Path, PathBuf};

use gdal::raster::RasterCreationOptions;
use gdal::spatial_ref::SpatialRef;
use gdal::{Dataset, DatasetOptions, DriverManager, GdalOpenFlags, Metadata};
use ndarray::{Array2, ArrayView2};

use super::{Crs, Grid, FLOAT_NODATA};
use crate::error::{Error, Result};

/// GDAL block cache of the command-line program, in MiB, unless the user set `GDAL_CACHEMAX`:
/// keeps the memory of windowed processing bounded (GDAL's own default is 5 % of RAM).
pub const DEFAULT_CACHE_MIB: i64 = 64;

/// Bound GDAL's block cache and silence GDAL's own printing for a process that owns GDAL (the
/// `fringewatch` program), once.
///
/// The library never calls this: loaded into a host (QGIS, a Python process), it must not change
/// process-wide settings the host owns, such as the host's own block cache.
pub fn configure_gdal() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("GDAL_CACHEMAX").is_none() {
            // SAFETY: plain setter of a global size, no pointers involved.
            unsafe { gdal_sys::GDALSetCacheMax64(DEFAULT_CACHE_MIB * 1024 * 1024) };
        }
        // GDAL's messages reach the user through the errors they cause ([`Error::gdal`] words
        // them), not as raw "ERROR 1: TIFFFillTile…" lines on standard error.
        gdal::config::set_error_handler(|_class, _code, _message| {});
    });
}

/// GDAL block cache, MiB, that suits a memory budget of `budget` bytes (the CLI's
/// `--max-memory`): a sixteenth of it, between 8 and [`DEFAULT_CACHE_MIB`], so that the cache
/// (otherwise 64 MiB, a third of a 0.18 GiB budget) stays a small share of what a capped job may
/// use.
///
/// ```
/// use fringewatch::raster::io::{gdal_cache_mib_for_budget, DEFAULT_CACHE_MIB};
/// assert_eq!(gdal_cache_mib_for_budget(1 << 30), DEFAULT_CACHE_MIB);
/// assert_eq!(gdal_cache_mib_for_budget(256 << 20), 16);
/// assert_eq!(gdal_cache_mib_for_budget(1 << 20), 8);
/// ```
pub fn gdal_cache_mib_for_budget(budget: u64) -> i64 {
    ((budget >> 20) as i64 / 16).clamp(8, DEFAULT_CACHE_MIB)
}

/// Set GDAL's block cache to `mib` MiB unless the user set `GDAL_CACHEMAX` (for the program's
/// `--max-memory`; like [`configure_gdal`], never called by the library).
pub fn set_gdal_cache_mib(mib: i64) {
    if std::env::var_os("GDAL_CACHEMAX").is_none() {
        // SAFETY: plain setter of a global size, no pointers involved.
        unsafe { gdal_sys::GDALSetCacheMax64(mib * 1024 * 1024) };
    }
}

/// An open raster file: its grid and per-band nodata values.
pub struct RasterFile {
    path: PathBuf,
    dataset: Dataset,
    grid: Grid,
    nodata: Vec<Option<f64>>,
    /// Per band (scale, offset) from the file, applied on read.
    scaling: Vec<(f64, f64)>,
}

impl std::fmt::Debug for RasterFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RasterFile")
            .field("path", &self.path)
            .field("grid", &self.grid)
            .finish()
    }
}

impl RasterFile {
    /// Open a raster, checking that it is a north-up grid with a CRS and at least one band.
    ///
    /// GMT/GMTSAR NetCDF grids carry no CRS; when their coordinate variables are CF longitude
    /// and latitude (`gmt … -fg`, GMTSAR `*_ll.grd`) the grid is taken as WGS 84 (EPSG:4326).
    ///
    /// ```
    /// use fringewatch::raster::io::{Encoding, GeoTiffWriter, RasterFile};
    /// use fringewatch::raster::{Crs, Grid};
    /// let dir = tempfile::tempdir()?;
    /// let grid = Grid {
    ///     width: 40,
    ///     height: 30,
    ///     geo_transform: [600_000.0, 15.0, 0.0, 4_900_000.0, 0.0, -15.0],
    ///     crs: Crs::from_definition("EPSG:32632").map_err(std::io::Error::other)?,
    /// };
    /// let mut dem = GeoTiffWriter::create(&dir.path().join("dem.tif"), &grid, &[Encoding::Float32], &["DEM"])?;
    /// dem.write_rows(1, 0, ndarray::Array2::from_elem((30, 40), 412.0f32).view())?;
    /// dem.finish()?;
    ///
    /// let raster = RasterFile::open(dir.path().join("dem.tif"))?;
    /// assert_eq!((raster.grid().width, raster.grid().height), (40, 30));
    /// assert_eq!(raster.read_band(1)?[[0, 0]], 412.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<RasterFile> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(Error::NotFound { path });
        }
        Self::open_as(path.clone(), &path)
    }

    /// The phase (argument, radians) of a complex raster (ISCE `filt_topophase.flat.geo`), read
    /// through GDAL's `DERIVED_SUBDATASET:PHASE:` pixel function.
    pub fn open_complex_phase(path: impl AsRef<Path>) -> Result<RasterFile> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(Error::NotFound { path });
        }
        let derived = PathBuf::from(format!("DERIVED_SUBDATASET:PHASE:{}", path.display()));
        Self::open_as(path, &derived)
    }

    /// Open GDAL dataset `name` as the raster of file `path` (named in messages).
    fn open_as(path: PathBuf, name: &Path) -> Result<RasterFile> {
        let options = DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_READONLY,
            ..Default::default()
        };
        let dataset = Dataset::open_ex(name, options).map_err(|e| Error::NotRaster {
            path: path.clone(),
            reason: first_line(&e.to_string()),
        })?;
        let (width, height) = dataset.raster_size();
        let bands = dataset.raster_count();
        if bands == 0 || width == 0 || height == 0 {
            return Err(Error::bad_input(&path, "raster has no pixels or no bands"));
        }
        let geo_transform = dataset.geo_transform().map_err(|_| {
            Error::bad_input(
                &path,
                "raster has no georeferencing (geotransform); georeference it first, e.g. with gdal_translate -a_ullr",
            )
        })?;
        if geo_transform[2] != 0.0 || geo_transform[4] != 0.0 {
            return Err(Error::bad_input(
                &path,
                "rotated or sheared grids are not supported; make it north-up with gdalwarp first",
            ));
        }
        if geo_transform[1] == 0.0 || geo_transform[5] == 0.0 {
            return Err(Error::bad_input(&path, "geotransform has a zero cell size"));
        }
        let crs = read_crs(&dataset, &path)?;
        let mut nodata = Vec::with_capacity(bands);
        let mut scaling = Vec::with_capacity(bands);
        for b in 1..=bands {
            let band = dataset.rasterband(b).map_err(|e| Error::gdal(&path, e))?;
            nodata.push(band.no_data_value());
            scaling.push((band.scale().unwrap_or(1.0), band.offset().unwrap_or(0.0)));
        }
        let grid = Grid {
            width,
            height,
            geo_transform,
            crs,
        };
        Ok(RasterFile {
            path,
            dataset,
            grid,
            nodata,
            scaling,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    pub fn band_count(&self) -> usize {
        self.nodata.len()
    }

    pub(crate) fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Nodata value of a band (1-based), as stored in the file.
    pub fn nodata(&self, band: usize) -> Option<f64> {
        self.nodata.get(band - 1).copied().flatten()
    }

    /// Read rows `[row0, row0 + rows)` of a band (1-based) as f32, nodata and non-finite values
    /// as NaN, and the file's scale/offset applied.
    pub fn read_rows(&self, band: usize, row0: usize, rows: usize) -> Result<Array2<f32>> {
        super::budget::check_memory("reading it", &self.path, self.grid.width, rows, 4.0)?;
        let mut out = Array2::<f32>::zeros((rows, self.grid.width));
        self.read_window_into(band, 0, row0, out.view_mut())?;
        Ok(out)
    }

    /// Read a whole band (1-based).
    pub fn read_band(&self, band: usize) -> Result<Array2<f32>> {
        self.read_rows(band, 0, self.grid.height)
    }

    /// Read the window whose top-left pixel is (col0, row0) into `out` (its shape sets the size).
    pub fn read_window_into(
        &self,
        band: usize,
        col0: usize,
        row0: usize,
        mut out: ndarray::ArrayViewMut2<f32>,
    ) -> Result<()> {
        let (rows, cols) = out.dim();
        let rb = self
            .dataset
            .rasterband(band)
            .map_err(|e| Error::gdal(&self.path, e))?;
        let slice = out
            .as_slice_mut()
            .ok_or_else(|| Error::parameter("buffer", "window buffer must be contiguous"))?;
        rb.read_into_slice::<f32>(
            (col0 as isize, row0 as isize),
            (cols, rows),
            (cols, rows),
            slice,
            None,
        )
        .map_err(|e| Error::gdal(&self.path, e))?;
        self.normalise(band, slice);
        Ok(())
    }
}

impl RasterFile {
    /// Turn raw band values into physical ones in place: nodata and non-finite values become
    /// NaN, the band's scale/offset is applied. Used after direct reads and after warps.
    pub(crate) fn normalise(&self, band: usize, values: &mut [f32]) {
        let nodata = self.nodata(band).map(|v| v as f32);
        let (scale, offset) = self.scaling[band - 1];
        let scaled = scale != 1.0 || offset != 0.0;
        for v in values.iter_mut() {
            if !v.is_finite() || Some(*v) == nodata {
                *v = f32::NAN;
            } else if scaled {
                *v = (*v as f64 * scale + offset) as f32;
            }
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn read_crs(dataset: &Dataset, path: &Path) -> Result<Crs> {
    let missing = || {
        Error::bad_input(
            path,
            "raster has no coordinate reference system; assign one, e.g. gdal_edit.py -a_srs EPSG:32632 FILE",
        )
    };
    let srs = match dataset.spatial_ref() {
        Ok(srs) => srs,
        Err(_) if is_cf_lonlat_grid(dataset) => {
            SpatialRef::from_epsg(4326).map_err(|e| Error::gdal(path, e))?
        }
        Err(_) => return Err(missing()),
    };
    Crs::from_spatial_ref(&srs).map_err(|problem| Error::bad_input(path, problem))
}

/// A NetCDF grid whose x and y coordinate variables are CF longitude and latitude.
fn is_cf_lonlat_grid(dataset: &Dataset) -> bool {
    if dataset.driver().short_name() != "netCDF" {
        return false;
    }
    let entries: Vec<String> = dataset
        .metadata()
        .map(|e| format!("{}={}", e.key, e.value))
        .collect();
    let has = |needle: &str| entries.iter().any(|e| e.ends_with(needle));
    (has("#units=degrees_east") || has("#standard_name=longitude"))
        && (has("#units=degrees_north") || has("#standard_name=latitude"))
}

/// How a band is stored in an output GeoTIFF.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Encoding {
    /// Float32 with nodata [`FLOAT_NODATA`].
    Float32,
    /// UInt16, value = raw · scale + offset, raw 0 = nodata; scale and offset are written into the
    /// band (GDAL scale/offset, shown by gdalinfo and honoured by QGIS).
    UInt16 { scale: f64, offset: f64 },
}

impl Encoding {
    /// UInt16 encoding that maps `[min, max]` onto raw values 1..=65535 (0 is nodata).
    pub fn uint16_for_range(min: f64, max: f64) -> Encoding {
        let span = if max > min { max - min } else { 1.0 };
        let scale = span / 65534.0;
        Encoding::UInt16 {
            scale,
            offset: min - scale,
        }
    }
}

/// Check that an output can be created at `path` before any work starts.
pub fn check_output_path(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::Output {
            path: path.to_path_buf(),
            problem: format!("directory {} does not exist", parent.display()),
        });
    }
    if path.is_dir() {
        return Err(Error::Output {
            path: path.to_path_buf(),
            problem: "is a directory".into(),
        });
    }
    Ok(())
}

/// The path as the file system resolves it (symbolic links, `..`, relative paths), also for an
/// output that does not exist yet (its folder resolved, its name kept).
pub fn resolved_path(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Refuses `grid` (of the raster at `path`) as the grid a command's outputs are made on when its
/// rows do not run north to south or its columns west to east: cells are read as stored, so
/// aspect, ISL and the detector's tiles would come out mirrored. (Rasters that are warped onto
/// another grid may lie either way: GDAL's warp reads them by their geotransform.)
///
/// ```
/// use std::path::Path;
/// use fringewatch::raster::{Crs, Grid};
/// use fringewatch::raster::io::require_north_up;
/// let crs = Crs::from_definition("EPSG:32632").unwrap();
/// let north_up = Grid { width: 4, height: 3, geo_transform: [0.0, 15.0, 0.0, 45.0, 0.0, -15.0], crs: crs.clone() };
/// assert!(require_north_up(&north_up, Path::new("dem.tif")).is_ok());
/// let south_first = Grid { geo_transform: [0.0, 15.0, 0.0, 0.0, 0.0, 15.0], ..north_up };
/// let err = require_north_up(&south_first, Path::new("dem.tif")).unwrap_err().to_string();
/// assert!(err.contains("south first") && err.contains("gdalwarp"));
/// ```
pub fn require_north_up(grid: &Grid, path: &Path) -> Result<()> {
    let [_, pixel_width, _, _, _, pixel_height] = grid.geo_transform;
    if grid.is_north_up() {
        return Ok(());
    }
    Err(Error::bad_input(
        path,
        format!(
            "the grid is stored {} (pixel size {pixel_width} × {pixel_height}), and the outputs are made on it; make it north-up with gdalwarp first",
            if pixel_height > 0.0 { "south first" } else { "east first" },
        ),
    ))
}

/// Refuses an output `out` that is one of `inputs` (by resolved path): writing it would replace
/// data the user gave to be read.
///
/// ```
/// use std::path::Path;
/// use fringewatch::raster::io::check_not_an_input;
/// let err = check_not_an_input(Path::new("./dem.tif"), &[Path::new("dem.tif")]).unwrap_err();
/// assert!(err.to_string().contains("is also an input"));
/// assert!(check_not_an_input(Path::new("isl.tif"), &[Path::new("dem.tif")]).is_ok());
/// ```
pub fn check_not_an_input(out: &Path, inputs: &[&Path]) -> Result<()> {
    let target = resolved_path(out);
    if inputs.iter().any(|i| resolved_path(i) == target) {
        return Err(Error::Output {
            path: out.to_path_buf(),
            problem: "is also an input: give the output another name".into(),
        });
    }
    Ok(())
}

/// The hidden file an output `target` is written to before it is renamed into place:
/// `.NAME.partial-PID.EXT` beside it.
pub fn partial_path(target: &Path, extension: &str) -> PathBuf {
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("output.{extension}"));
    target.with_file_name(format!(
        ".{file_name}.partial-{}.{extension}",
        std::process::id()
    ))
}

/// Remove what a killed writer of `target` left: `.NAME.partial-PID.EXT` files or folders whose
/// process no longer runs. Best effort: a file that cannot
/// be read or removed is left.
pub fn remove_stale_partials(target: &Path, extension: &str) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.partial-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !rest[pid.to_string().len()..].starts_with(&format!(".{extension}")) {
            continue;
        }
        if pid as u32 != std::process::id() && !process_runs(pid) {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
        }
    }
}

/// Whether process `pid` exists (signal 0 probes without sending anything).
fn process_runs(pid: i32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: kill with signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Side of the GeoTIFF tiles the writer makes (`BLOCKXSIZE`, `BLOCKYSIZE`).
const TILE_SIDE: usize = 256;

/// A GeoTIFF being written: tiled 256×256, DEFLATE, on the exact grid given. It is written to a
/// hidden temporary file next to the target and renamed into place by [`GeoTiffWriter::finish`];
/// dropped unfinished, the temporary file is removed.
pub struct GeoTiffWriter {
    target: PathBuf,
    temp: PathBuf,
    dataset: Option<Dataset>,
    encodings: Vec<Encoding>,
    width: usize,
}

impl GeoTiffWriter {
    /// Create the file for `encodings.len()` bands on `grid`; `descriptions` name the bands.
    pub fn create(
        target: &Path,
        grid: &Grid,
        encodings: &[Encoding],
        descriptions: &[&str],
    ) -> Result<GeoTiffWriter> {
        check_output_path(target)?;
        remove_stale_partials(target, "tif");
        let temp = partial_path(target, "tif");
        let driver =
            DriverManager::get_driver_by_name("GTiff").map_err(|e| Error::gdal(target, e))?;
        let is_u16 = matches!(encodings.first(), Some(Encoding::UInt16 { .. }));
        let predictor = if is_u16 { "PREDICTOR=2" } else { "PREDICTOR=3" };
        let options = RasterCreationOptions::from_iter([
            "TILED=YES",
            "BLOCKXSIZE=256",
            "BLOCKYSIZE=256",
            "COMPRESS=DEFLATE",
            // level 1: float layers 2 % larger than GDAL's default 6, compressed in about
            // half the time (a tenth of PC1's wall time at 4000²); UInt16 stacks the same size
            "ZLEVEL=1",
            predictor,
            "BIGTIFF=IF_SAFER",
            "NUM_THREADS=ALL_CPUS",
        ]);
        let out_err = |e: gdal::errors::GdalError| Error::Output {
            path: target.to_path_buf(),
            problem: first_line(&e.to_string()),
        };
        let mut dataset = if is_u16 {
            driver.create_with_band_type_with_options::<u16, _>(
                &temp,
                grid.width,
                grid.height,
                encodings.len(),
                &options,
            )
        } else {
            driver.create_with_band_type_with_options::<f32, _>(
                &temp,
                grid.width,
                grid.height,
                encodings.len(),
                &options,
            )
        }
        .map_err(out_err)?;
        let mut writer = GeoTiffWriter {
            target: target.to_path_buf(),
            temp,
            dataset: None,
            encodings: encodings.to_vec(),
            width: grid.width,
        };
        dataset
            .set_geo_transform(&grid.geo_transform)
            .map_err(out_err)?;
        dataset.set_projection(&grid.crs.wkt).map_err(out_err)?;
        for (i, enc) in encodings.iter().enumerate() {
            let mut band = dataset.rasterband(i + 1).map_err(out_err)?;
            match *enc {
                Encoding::Float32 => band
                    .set_no_data_value(Some(FLOAT_NODATA))
                    .map_err(out_err)?,
                Encoding::UInt16 { scale, offset } => {
                    band.set_no_data_value(Some(0.0)).map_err(out_err)?;
                    band.set_scale(scale).map_err(out_err)?;
                    band.set_offset(offset).map_err(out_err)?;
                }
            }
            if let Some(d) = descriptions.get(i) {
                band.set_description(d).map_err(out_err)?;
            }
        }
        writer.dataset = Some(dataset);
        Ok(writer)
    }

    /// Set a dataset-level metadata item (default domain).
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        let target = self.target.clone();
        if let Some(ds) = self.dataset.as_mut() {
            ds.set_metadata_item(key, value, "")
                .map_err(|e| Error::gdal(&target, e))?;
        }
        Ok(())
    }

    /// Write `values` (NaN = nodata) into band `band` (1-based) starting at row `row0`.
    pub fn write_rows(&mut self, band: usize, row0: usize, values: ArrayView2<f32>) -> Result<()> {
        let (rows, cols) = values.dim();
        if cols != self.width {
            return Err(Error::parameter(
                "values",
                "row width differs from the grid",
            ));
        }
        let target = self.target.clone();
        let bands = self.encodings.len();
        let ds = self.dataset.as_mut().ok_or(Error::Cancelled)?;
        let mut rb = ds.rasterband(band).map_err(|e| Error::gdal(&target, e))?;
        match self.encodings[band - 1] {
            Encoding::Float32 => {
                let data: Vec<f32> = values
                    .iter()
                    .map(|&v| {
                        if v.is_finite() {
                            v
                        } else {
                            FLOAT_NODATA as f32
                        }
                    })
                    .collect();
                let mut buf = gdal::raster::Buffer::new((cols, rows), data);
                rb.write((0, row0 as isize), (cols, rows), &mut buf)
            }
            Encoding::UInt16 { scale, offset } => {
                let data: Vec<u16> = values
                    .iter()
                    .map(|&v| {
                        if v.is_finite() {
                            ((v as f64 - offset) / scale).round().clamp(1.0, 65535.0) as u16
                        } else {
                            0
                        }
                    })
                    .collect();
                let mut buf = gdal::raster::Buffer::new((cols, rows), data);
                rb.write((0, row0 as isize), (cols, rows), &mut buf)
            }
        }
        .map_err(|e| Error::gdal(&target, e))?;
        // Whole rows of tiles are complete once the last band is written: compress and write
        // them now, so that GDAL's cache never holds many dirty tiles. A cancelled write then
        // drops its file at once instead of first compressing the cache into it (seconds).
        if band == bands && (row0 + rows) % TILE_SIDE == 0 {
            ds.flush_cache().map_err(|e| Error::gdal(&target, e))?;
        }
        Ok(())
    }

    /// Flush, close and move the file into place (replacing an existing file at the target).
    pub fn finish(mut self) -> Result<()> {
        if let Some(ds) = self.dataset.take() {
            ds.close().map_err(|e| Error::Output {
                path: self.target.clone(),
                problem: first_line(&e.to_string()),
            })?;
        }
        std::fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.target, e))
    }
}

impl Drop for GeoTiffWriter {
    fn drop(&mut self) {
        if let Some(ds) = self.dataset.take() {
            drop(ds);
            let _ = std::fs::remove_file(&self.temp);
            let _ = std::fs::remove_file(self.temp.with_extension("tif.aux.xml"));
        }
    }
}

/// Write one Float32 band (NaN = nodata) with dataset metadata items, atomically.
pub fn write_single_band(
    path: &Path,
    grid: &Grid,
    values: ArrayView2<f32>,
    description: &str,
    metadata: &[(&str, String)],
) -> Result<()> {
    let mut writer = GeoTiffWriter::create(path, grid, &[Encoding::Float32], &[description])?;
    for (key, value) in metadata {
        writer.set_metadata(key, value)?;
    }
    writer.write_rows(1, 0, values)?;
    writer.finish()
}

impl RasterFile {
    /// Dataset-level metadata items (default domain) as (key, value).
    pub fn metadata_items(&self) -> Vec<(String, String)> {
        self.dataset()
            .metadata_domain("")
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect()
    }
}
