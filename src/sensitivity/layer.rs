//! The ISL layer from files: DEM, coherence and acquisition geometry brought onto the reference
//! grid and processed in strips of [`STRIP_ROWS`] rows, so memory stays bounded for any raster
//! size.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::Serialize;

use super::{isl, AngleField, CoherenceWeight};
use crate::error::{Error, Result};
use crate::progress::{Progress, Stage};
use crate::raster::align::{require_overlap_grid, warp_band, Resampling};
use crate::raster::io::{
    check_not_an_input, check_output_path, require_north_up, Encoding, GeoTiffWriter, RasterFile,
};
use crate::raster::{finite_range, strips, Grid, STRIP_ROWS};
use crate::terrain::GradientMethod;

/// Incidence angle θ (w.r.t. the ellipsoid normal).
#[derive(Debug, Clone, PartialEq)]
pub enum Incidence {
    /// One angle for the whole scene, degrees.
    Degrees(f64),
    /// A raster of per-pixel incidence, degrees.
    Raster(PathBuf),
}

impl Incidence {
    /// The incidence a caller gave: the raster when there is one, else the constant angle
    /// (`None` or NaN: not given); an error naming both ways when neither is given.
    ///
    /// ```
    /// use fringewatch::sensitivity::layer::Incidence;
    /// assert_eq!(Incidence::given(None, Some(38.0)).unwrap(), Incidence::Degrees(38.0));
    /// assert!(Incidence::given(None, Some(f64::NAN)).is_err());
    /// ```
    pub fn given(raster: Option<PathBuf>, degrees: Option<f64>) -> crate::Result<Incidence> {
        match (raster, degrees.filter(|d| !d.is_nan())) {
            (Some(path), _) => Ok(Incidence::Raster(path)),
            (None, Some(d)) => Ok(Incidence::Degrees(d)),
            (None, None) => Err(crate::Error::parameter(
                "incidence",
                "give `incidence` (a raster of angles, degrees) or `incidence_deg` (one angle)",
            )),
        }
    }
}

/// The satellite's along-track direction.
#[derive(Debug, Clone, PartialEq)]
pub enum Look {
    /// Scene heading α, degrees clockwise from north (Sentinel-1 over the Apennines: about
    /// −10.5 ascending, −169.5 descending).
    Heading(f64),
    /// Per-pixel azimuth of the horizontal look direction (satellite → ground), degrees
    /// clockwise from north; α = look azimuth − 90° for a right-looking SAR. From ISCE's
    /// `los.rdr` band 2 (ground → satellite, counter-clockwise): look = 180° − value.
    LookAzimuthRaster(PathBuf),
}

/// Everything the ISL computation takes.
#[derive(Debug, Clone)]
pub struct IslJob {
    pub dem: PathBuf,
    pub coherence: PathBuf,
    pub incidence: Incidence,
    pub look: Look,
    /// Output grid; default the coherence grid.
    pub like: Option<PathBuf>,
    pub out: PathBuf,
    pub weight: CoherenceWeight,
    pub gradient: GradientMethod,
}

/// What the ISL run produced, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct IslSummary {
    pub width: usize,
    pub height: usize,
    pub valid_pixels: u64,
    pub mean_isl: f64,
    /// Share of valid pixels set to 0 by the layover/shadow mask or flat ground.
    pub zero_fraction: f64,
}

/// Compute ISL into a Float32 GeoTIFF on the reference grid.
///
/// ```
/// use fringewatch::progress::Silent;
/// use fringewatch::raster::io::{Encoding, GeoTiffWriter};
/// use fringewatch::raster::{Crs, Grid};
/// use fringewatch::sensitivity::layer::{compute_isl, Incidence, IslJob, Look};
/// let dir = tempfile::tempdir()?;
/// let grid = Grid {
///     width: 40,
///     height: 30,
///     geo_transform: [600_000.0, 15.0, 0.0, 4_900_000.0, 0.0, -15.0],
///     crs: Crs::from_definition("EPSG:32632").map_err(std::io::Error::other)?,
/// };
/// let write = |name: &str, f: fn(usize, usize) -> f32| -> fringewatch::Result<()> {
///     let mut w = GeoTiffWriter::create(&dir.path().join(name), &grid, &[Encoding::Float32], &[name])?;
///     w.write_rows(1, 0, ndarray::Array2::from_shape_fn((30, 40), |(r, c)| f(r, c)).view())?;
///     w.finish()
/// };
/// write("dem.tif", |_, c| 500.0 - 5.0 * c as f32)?; // an east-facing slope
/// write("coherence.tif", |_, _| 0.8)?;
/// let job = IslJob {
///     dem: dir.path().join("dem.tif"),
///     coherence: dir.path().join("coherence.tif"),
///     incidence: Incidence::Degrees(39.0),
///     look: Look::Heading(-10.5), // Sentinel-1 ascending
///     like: None,
///     out: dir.path().join("isl.tif"),
///     weight: Default::default(),
///     gradient: Default::default(),
/// };
/// let summary = compute_isl(&job, &Silent)?;
/// assert!(summary.valid_pixels > 0 && summary.mean_isl > 0.0 && summary.mean_isl <= 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compute_isl(job: &IslJob, progress: &dyn Progress) -> Result<IslSummary> {
    check_output(job)?;
    let mut isl = IslRows::open(job)?;
    let grid = isl.grid().clone();
    crate::raster::budget::check_disk(&job.out, grid.width as f64 * grid.height as f64 * 4.0)?;
    let mut writer = GeoTiffWriter::create(&job.out, &grid, &[Encoding::Float32], &["ISL"])?;
    let stage = Stage::whole(progress);
    for (row0, rows) in strips(grid.height, STRIP_ROWS) {
        stage.step(row0 as f64 / grid.height as f64, "ISL")?;
        writer.write_rows(1, row0, isl.rows(row0, rows)?.view())?;
    }
    let summary = isl.finish()?;
    writer.set_metadata("FRINGEWATCH_LAYER", "ISL")?;
    writer.set_metadata(
        "FRINGEWATCH_ISL_PARAMETERS",
        &format!(
            "k={} gamma_m={} gradient={:?} incidence={:?} look={:?}",
            job.weight.k, job.weight.gamma_m, job.gradient, job.incidence, job.look
        ),
    )?;
    writer.finish()?;
    stage.done("ISL");
    Ok(summary)
}

/// Refuse a job whose output is not writable there or is one of its inputs.
fn check_output(job: &IslJob) -> Result<()> {
    check_output_path(&job.out)?;
    let mut inputs = vec![job.dem.as_path(), job.coherence.as_path()];
    inputs.extend(job.like.as_deref());
    if let Incidence::Raster(p) = &job.incidence {
        inputs.push(p);
    }
    if let Look::LookAzimuthRaster(p) = &job.look {
        inputs.push(p);
    }
    check_not_an_input(&job.out, &inputs)
}

/// ISL made on demand on the job's grid, rows at a time, without writing it (the job's `out`
/// is not used): [`compute_isl`] writes its strips, detection reads them as it goes
/// ([`crate::stack::StackSource`]). A block's values depend on where it starts (the inputs are
/// warped onto it), so a caller that wants the file's bits asks for [`STRIP_ROWS`]-aligned
/// strips, as [`crate::raster::scratch::StripCache`] does.
pub struct IslRows {
    job: IslJob,
    inputs: IslInputs,
    tally: IslTally,
}

impl IslRows {
    /// Open the inputs, check that they overlap the grid and that the angles and the coherence
    /// weight are in range.
    pub fn open(job: &IslJob) -> Result<IslRows> {
        validate_weight(&job.weight)?;
        Ok(IslRows {
            job: job.clone(),
            inputs: IslInputs::open(job)?,
            tally: IslTally::default(),
        })
    }

    /// The output grid (`like`'s, else the coherence's).
    pub fn grid(&self) -> &Grid {
        &self.inputs.grid
    }

    /// ISL of rows `row0 .. row0 + rows` (a coherence outside [0, 1] or an incidence in radians
    /// is refused here, naming the file).
    pub fn rows(&mut self, row0: usize, rows: usize) -> Result<Array2<f32>> {
        self.inputs.strip(&self.job, row0, rows, &mut self.tally)
    }

    /// Once every row has been made: refuse a DEM or a coherence without any valid value over
    /// the grid, else the summary of what was made.
    pub fn finish(&self) -> Result<IslSummary> {
        self.tally.check_inputs(&self.job)?;
        Ok(self.tally.summary(&self.inputs.grid))
    }
}

/// The opened inputs of an ISL job on its output grid.
struct IslInputs {
    coherence: RasterFile,
    dem: RasterFile,
    grid: Grid,
    /// Per-pixel incidence (degrees), or `None` for the constant.
    incidence_file: Option<RasterFile>,
    /// Per-pixel look azimuth (degrees), or `None` for the constant heading.
    look_file: Option<RasterFile>,
    /// The constant incidence and heading in radians (NaN when a raster is used instead).
    incidence_constant: f64,
    heading_constant: f64,
}

impl IslInputs {
    /// Open the rasters, take the output grid (`like`'s, else the coherence's), check that every
    /// raster overlaps it and that constant angles are angles in degrees.
    fn open(job: &IslJob) -> Result<IslInputs> {
        let coherence = RasterFile::open(&job.coherence)?;
        let dem = RasterFile::open(&job.dem)?;
        let like = job.like.as_ref().map(RasterFile::open).transpose()?;
        let (grid, grid_path): (Grid, &Path) = match &like {
            Some(l) => (l.grid().clone(), l.path()),
            None => (coherence.grid().clone(), coherence.path()),
        };
        require_north_up(&grid, grid_path)?;
        require_overlap_grid(&dem, &grid, grid_path)?;
        if like.is_some() {
            require_overlap_grid(&coherence, &grid, grid_path)?;
        }
        let incidence_file = match &job.incidence {
            Incidence::Raster(p) => {
                let f = RasterFile::open(p)?;
                require_overlap_grid(&f, &grid, grid_path)?;
                Some(f)
            }
            Incidence::Degrees(d) => {
                check_incidence(*d).map_err(|p| Error::parameter("incidence", p))?;
                None
            }
        };
        let look_file = match &job.look {
            Look::LookAzimuthRaster(p) => {
                let f = RasterFile::open(p)?;
                require_overlap_grid(&f, &grid, grid_path)?;
                Some(f)
            }
            Look::Heading(h) => {
                if !h.is_finite() || h.abs() > 360.0 {
                    return Err(Error::parameter(
                        "heading",
                        format!("{h} is not an azimuth in degrees"),
                    ));
                }
                None
            }
        };
        Ok(IslInputs {
            coherence,
            dem,
            grid,
            incidence_file,
            look_file,
            incidence_constant: match job.incidence {
                Incidence::Degrees(d) => d.to_radians(),
                Incidence::Raster(_) => f64::NAN,
            },
            heading_constant: match job.look {
                Look::Heading(h) => h.to_radians(),
                Look::LookAzimuthRaster(_) => f64::NAN,
            },
        })
    }

    /// ISL of the strip of `rows` rows from `row0`: the DEM (with a one-cell halo), coherence and
    /// angles warped onto it; the valid inputs and outputs are counted into `tally`.
    fn strip(
        &self,
        job: &IslJob,
        row0: usize,
        rows: usize,
        tally: &mut IslTally,
    ) -> Result<Array2<f32>> {
        let grid = &self.grid;
        let block = grid.window(0, row0 as isize, grid.width, rows);
        let halo = grid.window(-1, row0 as isize - 1, grid.width + 2, rows + 2);
        let dem_block = warp_band(&self.dem, &halo, Resampling::Bilinear)?;
        tally.dem_valid += dem_block.iter().filter(|v| v.is_finite()).count() as u64;
        let coh_block = self.coherence_strip(job, &block)?;
        tally.coh_valid += coh_block.iter().filter(|v| v.is_finite()).count() as u64;
        let inc_block = self.incidence_strip(&block)?;
        let heading_block = self.heading_strip(&block)?;
        let incidence = inc_block
            .as_ref()
            .map_or(AngleField::Constant(self.incidence_constant), |b| {
                AngleField::PerPixel(b.view())
            });
        let heading = heading_block
            .as_ref()
            .map_or(AngleField::Constant(self.heading_constant), |b| {
                AngleField::PerPixel(b.view())
            });
        let spacing = halo.spacing();
        let values = isl(
            dem_block.view(),
            &spacing,
            coh_block.view(),
            incidence,
            heading,
            &job.weight,
            job.gradient,
        );
        tally.count_outputs(&values);
        Ok(values)
    }

    /// The coherence on `block`, refused when its values leave [0, 1].
    fn coherence_strip(&self, job: &IslJob, block: &Grid) -> Result<Array2<f32>> {
        let coh_block = warp_band(&self.coherence, block, Resampling::Bilinear)?;
        if let Some((lo, hi)) = finite_range(coh_block.view()) {
            if lo < -1e-4 || hi > 1.0 + 1e-4 {
                return Err(Error::bad_input(
                    &job.coherence,
                    format!("coherence must lie in [0, 1], found values from {lo} to {hi} (a scaled or byte coherence must be converted first)"),
                ));
            }
        }
        Ok(coh_block)
    }

    /// The incidence raster on `block` in radians (checked to be degrees first), if there is one.
    fn incidence_strip(&self, block: &Grid) -> Result<Option<Array2<f32>>> {
        let Some(f) = &self.incidence_file else {
            return Ok(None);
        };
        let mut b = warp_band(f, block, Resampling::Bilinear)?;
        if let Some((lo, hi)) = finite_range(b.view()) {
            check_incidence(lo as f64)
                .and(check_incidence(hi as f64))
                .map_err(|p| Error::bad_input(f.path(), p))?;
        }
        b.mapv_inplace(f32::to_radians);
        Ok(Some(b))
    }

    /// The heading on `block` in radians from the look-azimuth raster (α = look − 90°), if there
    /// is one.
    fn heading_strip(&self, block: &Grid) -> Result<Option<Array2<f32>>> {
        let Some(f) = &self.look_file else {
            return Ok(None);
        };
        let mut b = warp_band(f, block, Resampling::Bilinear)?;
        b.mapv_inplace(|look| (look - 90.0).to_radians());
        Ok(Some(b))
    }
}

/// Counts over the strips of an ISL run.
#[derive(Default)]
struct IslTally {
    dem_valid: u64,
    coh_valid: u64,
    valid: u64,
    zeros: u64,
    sum: f64,
}

impl IslTally {
    /// Count the valid ISL values of a strip, their sum and the zeros among them.
    fn count_outputs(&mut self, values: &Array2<f32>) {
        for &v in values.iter().filter(|v| v.is_finite()) {
            self.valid += 1;
            self.sum += v as f64;
            if v == 0.0 {
                self.zeros += 1;
            }
        }
    }

    /// Refuse a DEM or a coherence without any valid value over the output grid.
    fn check_inputs(&self, job: &IslJob) -> Result<()> {
        if self.dem_valid == 0 {
            return Err(Error::bad_input(
                &job.dem,
                "no valid elevation over the output grid (all nodata)",
            ));
        }
        if self.coh_valid == 0 {
            return Err(Error::bad_input(
                &job.coherence,
                "no valid coherence over the output grid (all nodata)",
            ));
        }
        Ok(())
    }

    /// The run's summary on `grid`.
    fn summary(&self, grid: &Grid) -> IslSummary {
        let valid = self.valid;
        IslSummary {
            width: grid.width,
            height: grid.height,
            valid_pixels: valid,
            mean_isl: if valid > 0 {
                self.sum / valid as f64
            } else {
                f64::NAN
            },
            zero_fraction: if valid > 0 {
                self.zeros as f64 / valid as f64
            } else {
                f64::NAN
            },
        }
    }
}

/// An incidence angle in degrees: in (0, 90), and above 1.6, since every SAR looks at more than
/// 1.6° off nadir while an angle in radians never exceeds π/2 ≈ 1.571.
fn check_incidence(deg: f64) -> std::result::Result<(), String> {
    if deg.is_finite() && deg > 0.0 && deg <= 1.6 {
        Err(format!(
            "incidence {deg} looks like radians: give degrees (multiply by 57.2958, e.g. with gdal_calc.py)"
        ))
    } else if deg.is_finite() && deg > 0.0 && deg < 90.0 {
        Ok(())
    } else {
        Err(format!(
            "incidence must be an angle in degrees between 0 and 90, found {deg} (radians? multiply by 57.2958)"
        ))
    }
}

fn validate_weight(w: &CoherenceWeight) -> Result<()> {
    if !(w.k.is_finite() && w.k > 0.0) {
        return Err(Error::parameter(
            "sigmoid_k",
            format!("must be > 0, found {}", w.k),
        ));
    }
    if !(w.gamma_m.is_finite() && w.gamma_m > 0.0 && w.gamma_m < 1.0) {
        return Err(Error::parameter(
            "gamma_m",
            format!("must lie in (0, 1), found {}", w.gamma_m),
        ));
    }
    Ok(())
}
