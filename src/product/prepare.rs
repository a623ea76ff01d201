//! A product brought onto the detector's grid: the model's pixel size (15 m, the preprint's
//! geocoding) in the product's projected CRS, or the UTM zone of its centre when the product is
//! in longitude/latitude (LiCSAR). The wrapped phase is resampled as the complex signal — cos φ
//! and sin φ warped bilinearly, φ = atan2 of the results — never as an angle, so a wrap is not
//! smeared into a ramp; coherence, heights and incidence are warped bilinearly. Values the
//! product marks missing (NaN, its nodata, LiCSAR's 0) stay missing.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Zip};

use super::geometry::{
    enu_field, enu_from_hyp3, enu_from_isce, incidence_and_mean_heading, wrap_degrees,
};
use super::{LineOfSight, Product};
use crate::error::{Error, Result};
use crate::layers::RawLayers;
use crate::progress::Progress;
use crate::raster::align::{bounds_in, warp_band, Resampling};
use crate::raster::io::{write_single_band, RasterFile};
use crate::raster::keys;
use crate::raster::{Crs, Grid};
use crate::sensitivity::layer::Incidence;

/// The detector's pixel size, metres (the preprint geocodes at 15 m; METHOD.md §1).
pub const MODEL_SPACING_M: f64 = 15.0;
/// Products coarser than this get a warning: the preprint's smallest slides are a few 15 m
/// pixels wide.
pub const COARSE_SPACING_M: f64 = 40.0;
/// Most pixels of the detector's grid a product may need (a Sentinel-1 frame at 15 m is about
/// 16,000 × 13,000 = 2.1·10⁸).
pub const MAX_PIXELS: usize = 400_000_000;
/// Headings of metadata and geometry that differ by more than this are reported.
pub const HEADING_TOLERANCE_DEG: f64 = 5.0;

/// What the user gave on the command line: each replaces what the product says.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub dem: Option<PathBuf>,
    pub incidence: Option<Incidence>,
    pub heading_deg: Option<f64>,
}

/// A product on the detector's grid.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The rasters of the layer chain, written in the work folder.
    pub raw: RawLayers,
    pub grid: Grid,
    /// The product's own CRS, where its detections go back to.
    pub product_crs: Crs,
    /// The product's pixel size, metres.
    pub product_spacing_m: f64,
    /// Things the user should know (a coarse product, disagreeing headings), one line each.
    pub notes: Vec<String>,
}

/// Bring `product` onto the detector's grid in `dir` (`phase.tif`, `coherence.tif`, `dem.tif`,
/// `incidence.tif`); the phase raster carries the pair's dates, orbit, heading and baseline as
/// metadata, so that detections carry them.
pub fn prepare(
    product: &Product,
    overrides: &Overrides,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<Prepared> {
    std::fs::create_dir_all(dir).map_err(|source| Error::io(dir, source))?;
    let step = |fraction: f64, message: &str| {
        crate::progress::Stage::whole(progress).step(fraction, message)
    };
    let phase_file = if product.phase_is_complex {
        RasterFile::open_complex_phase(&product.phase)?
    } else {
        RasterFile::open(&product.phase)?
    };
    let source = phase_file.grid().clone();
    let coherence_file = RasterFile::open(&product.coherence)?;
    if !coherence_file.grid().same_as(&source) {
        return Err(Error::bad_input(
            &product.coherence,
            format!(
                "the coherence grid ({} × {}) is not the phase grid of {} ({} × {}): the product's pieces disagree",
                coherence_file.grid().width,
                coherence_file.grid().height,
                product.phase.display(),
                source.width,
                source.height
            ),
        ));
    }
    let product_spacing_m = spacing_m(&source);
    let grid = model_grid(&source)?;
    let mut notes = Vec::new();
    if product_spacing_m > COARSE_SPACING_M {
        notes.push(format!(
            "the product's pixels are {product_spacing_m:.0} m, coarser than {COARSE_SPACING_M:.0} m: slides narrower than about {:.0} m (4 of its pixels) cannot be resolved",
            4.0 * product_spacing_m
        ));
    }
    let load_band = |file: &RasterFile, band: usize, scale: f64| -> Result<Array2<f32>> {
        let mut values = file.read_band(band)?;
        values.mapv_inplace(|v| {
            if product.zero_is_nodata && v == 0.0 {
                f32::NAN
            } else {
                (f64::from(v) * scale) as f32
            }
        });
        Ok(values)
    };
    let load = |file: &RasterFile, scale: f64| load_band(file, 1, scale);
    let onto_grid = |values: &Array2<f32>, name: &str| -> Result<Array2<f32>> {
        warp_values(values, &source, &grid, dir, name)
    };

    // phase: the complex signal, warped, then its angle
    let phase = load(&phase_file, 1.0)?;
    step(0.1, "reading the product")?;
    let phase = warp_phase(phase, &source, &grid, dir)?;
    step(0.4, "phase resampled")?;

    let coherence = onto_grid(
        &load(&coherence_file, product.coherence_scale)?,
        "coherence",
    )?;
    let coherence_path = dir.join("coherence.tif");
    write_single_band(&coherence_path, &grid, coherence.view(), "coherence", &[])?;
    drop(coherence);
    step(0.5, "coherence resampled")?;

    let dem_path = dir.join("dem.tif");
    match (&overrides.dem, &product.dem) {
        (Some(dem), _) => {
            let heights = warp_band(&RasterFile::open(dem)?, &grid, Resampling::Bilinear)?;
            write_single_band(&dem_path, &grid, heights.view(), "height", &[])?;
        }
        (None, Some(dem)) => {
            let file = RasterFile::open(dem)?;
            let heights = warp_band(&file, &grid, Resampling::Bilinear)?;
            write_single_band(&dem_path, &grid, heights.view(), "height", &[])?;
        }
        (None, None) => {
            return Err(Error::bad_input(
                &product.phase,
                format!(
                    "the {} product {} has no DEM (HyP3: order it with include_dem); give `dem`",
                    product.processor.name(),
                    product.name
                ),
            ))
        }
    }
    step(0.6, "DEM resampled")?;

    // geometry: per-pixel incidence and the mean heading from the line of sight
    let mut geometry_heading = None;
    let incidence = match (&overrides.incidence, &product.line_of_sight) {
        (Some(given), _) => given.clone(),
        (None, Some(los)) => {
            // on the phase grid (LiCSAR's look vectors cover the whole frame, not the pair)
            let on_source_band = |path: &Path, band: usize| -> Result<Array2<f32>> {
                let file = RasterFile::open(path)?;
                let values = load_band(&file, band, 1.0)?;
                if file.grid().same_as(&source) {
                    return Ok(values);
                }
                let temp = dir.join(".line_of_sight.tif");
                write_single_band(&temp, file.grid(), values.view(), "line of sight", &[])?;
                let warped = warp_band(&RasterFile::open(&temp)?, &source, Resampling::Bilinear);
                let _ = std::fs::remove_file(&temp);
                warped
            };
            let on_source = |path: &Path| on_source_band(path, 1);
            let (east, north, up) = match los {
                LineOfSight::IncidenceDegrees { path } => {
                    // a vertical plane through the heading: only the incidence matters
                    let incidence = on_source(path)?;
                    let east = incidence.mapv(|i| i.to_radians().sin());
                    let up = incidence.mapv(|i| i.to_radians().cos());
                    let (e, n) = match product.heading_deg {
                        Some(h) => {
                            let b = (h - 90.0).to_radians();
                            (east.mapv(|s| s * b.sin() as f32), east.mapv(|s| s * b.cos() as f32))
                        }
                        None => (east.clone(), Array2::zeros(east.dim())),
                    };
                    (e, n, up)
                }
                LineOfSight::IsceAngles { path } => enu_field(
                    on_source_band(path, 1)?.view(),
                    on_source_band(path, 2)?.view(),
                    enu_from_isce,
                ),
                LineOfSight::Hyp3Angles { theta, phi } => enu_field(
                    on_source(theta)?.view(),
                    on_source(phi)?.view(),
                    enu_from_hyp3,
                ),
                LineOfSight::UnitVector { east, north, up } => {
                    (on_source(east)?, on_source(north)?, on_source(up)?)
                }
            };
            let (incidence, heading) =
                incidence_and_mean_heading(east.view(), north.view(), up.view());
            // an incidence raster carries no heading of its own
            if !matches!(los, LineOfSight::IncidenceDegrees { .. }) {
                geometry_heading = heading;
            }
            let warped = onto_grid(&incidence, "incidence")?;
            let path = dir.join("incidence.tif");
            write_single_band(&path, &grid, warped.view(), "incidence", &[])?;
            Incidence::Raster(path)
        }
        (None, None) => {
            return Err(Error::bad_input(
                &product.phase,
                format!(
                    "the {} product {} has no line-of-sight rasters{}; give `incidence` or `incidence_deg`",
                    product.processor.name(),
                    product.name,
                    geometry_hint(product)
                ),
            ))
        }
    };
    if let (Some(a), Some(b)) = (product.heading_deg, geometry_heading) {
        let gap = wrap_degrees(a - b).abs();
        if gap > HEADING_TOLERANCE_DEG {
            notes.push(format!(
                "the product's metadata gives heading {a:.1}°, its line-of-sight rasters {b:.1}° ({gap:.1}° apart); using {:.1}°",
                overrides.heading_deg.or(geometry_heading).unwrap_or(b)
            ));
        }
    }
    let heading_deg = overrides
        .heading_deg
        .or(geometry_heading)
        .or(product.heading_deg)
        .ok_or_else(|| {
            Error::bad_input(
                &product.phase,
                format!(
                    "the {} product {} says nothing of its heading{}; give `heading`{}",
                    product.processor.name(),
                    product.name,
                    geometry_hint(product),
                    match product.orbit {
                        Some(super::OrbitDirection::Ascending) =>
                            " (the pair is ascending: Sentinel-1 about −10°)",
                        Some(super::OrbitDirection::Descending) =>
                            " (the pair is descending: Sentinel-1 about −170°)",
                        None => "",
                    }
                ),
            )
        })?;
    step(0.8, "geometry")?;

    let mut metadata = vec![
        (keys::INTERFEROGRAM_ID, product.name.clone()),
        (keys::HEADING_DEG, format!("{heading_deg:.4}")),
    ];
    if let Some(d) = product.reference_date {
        metadata.push((keys::PRIMARY_DATE, d.to_string()));
    }
    if let Some(d) = product.secondary_date {
        metadata.push((keys::SECONDARY_DATE, d.to_string()));
    }
    if let (Some(a), Some(b)) = (product.reference_date, product.secondary_date) {
        metadata.push((keys::TEMPORAL_BASELINE_DAYS, (b - a).num_days().to_string()));
    }
    let orbit = product
        .orbit
        .or_else(|| geometry_heading.map(super::isce2::orbit_of_heading));
    if let Some(o) = orbit {
        metadata.push((keys::ORBIT, o.name().to_string()));
    }
    if let Some(b) = product.perpendicular_baseline_m {
        metadata.push((keys::PERPENDICULAR_BASELINE_M, format!("{b:.2}")));
    }
    let phase_path = dir.join("phase.tif");
    let items: Vec<(&str, String)> = metadata.into_iter().collect();
    write_single_band(&phase_path, &grid, phase.view(), "phase", &items)?;
    step(1.0, "product ready")?;
    Ok(Prepared {
        raw: RawLayers {
            phase: phase_path,
            coherence: coherence_path,
            dem: dem_path,
            incidence,
            heading_deg,
        },
        grid,
        product_crs: source.crs.clone(),
        product_spacing_m,
        notes,
    })
}

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

/// Wrapped phase on `source` warped onto `grid` as the complex signal: cos φ and sin φ warped
/// bilinearly (scratch files in `dir`), φ = atan2(sin, cos); missing where either is.
fn warp_phase(phase: Array2<f32>, source: &Grid, grid: &Grid, dir: &Path) -> Result<Array2<f32>> {
    let cos = warp_values(&phase.mapv(f32::cos), source, grid, dir, "cos_phase")?;
    let sin = warp_values(&phase.mapv(f32::sin), source, grid, dir, "sin_phase")?;
    drop(phase);
    let mut phase = Array2::<f32>::from_elem(cos.dim(), f32::NAN);
    Zip::from(&mut phase)
        .and(&cos)
        .and(&sin)
        .for_each(|p, &c, &s| *p = s.atan2(c));
    Ok(phase)
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
    /// The original phase's pixel size, metres.
    pub source_spacing_m: f64,
}

/// `phase` on the detector's grid ([`model_grid`]: 15 m in its CRS, or in the UTM zone of its
/// centre when it is in longitude/latitude), resampled as the complex signal and written at
/// `out` with the original's metadata; scratch files go in `scratch`. For a phase whose pixels
/// are not the detector's ([`off_model_spacing`]). Coherence, DEM and incidence need no copy:
/// the layer chain warps them onto the phase's grid, whatever theirs.
///
/// ```no_run
/// use fringewatch::product::prepare::{off_model_spacing, phase_on_model_grid};
/// use fringewatch::raster::io::RasterFile;
/// # fn main() -> fringewatch::Result<()> {
/// let phase = RasterFile::open("phase_30m.tif")?;
/// if off_model_spacing(phase.grid()) {
///     let dir = std::env::temp_dir();
///     let p = phase_on_model_grid(&phase, &dir.join("phase_15m.tif"), &dir)?;
///     assert_eq!((p.source_spacing_m.round(), p.grid.geo_transform[1]), (30.0, 15.0));
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
    let values = warp_phase(phase.read_band(1)?, &source, &grid, scratch)?;
    let metadata = phase.metadata_items();
    let items: Vec<(&str, String)> = metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    write_single_band(out, &grid, values.view(), "phase", &items)?;
    Ok(PhaseOnModelGrid {
        path: out.to_path_buf(),
        grid,
        source_crs: source.crs.clone(),
        source_spacing_m: spacing_m(&source),
    })
}

/// Where the processor would have written the geometry, when it can.
fn geometry_hint(product: &Product) -> &'static str {
    match product.processor {
        super::Processor::Gmtsar => {
            " (GMTSAR writes east_look.grd, north_look.grd, up_look.grd with calc_look_vector.csh)"
        }
        super::Processor::Hyp3 => {
            " (HyP3 writes *_lv_theta.tif and *_lv_phi.tif when ordered with include_look_vectors)"
        }
        super::Processor::Licsar => " (LiCSAR keeps the frame's geo.E/N/U.tif in FRAME/metadata/)",
        super::Processor::Isce2 => " (topsApp geocodes los.rdr into merged/los.rdr.geo)",
        super::Processor::Simulated => " (simulate writes incidence.tif and scene.json)",
    }
}

/// The detector's grid over `source`: [`MODEL_SPACING_M`] cells in `source`'s CRS when it is
/// projected, else in the UTM zone of its centre (WGS 84).
pub fn model_grid(source: &Grid) -> Result<Grid> {
    let crs = if source.crs.geographic {
        let (x0, y0, x1, y1) = source.bounds();
        let (lon, lat) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
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
                "{width} × {height} pixels at {MODEL_SPACING_M} m: more than {MAX_PIXELS} (a whole frame is about 2·10⁸); crop the product first (gdal_translate -projwin)"
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
