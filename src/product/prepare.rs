//! A product brought onto the detector's grid ([`crate::raster::detector_grid`]: 15 m in the
//! product's projected CRS, or the UTM zone of its centre when the product is in
//! longitude/latitude, as LiCSAR's are). The wrapped phase is resampled as the complex signal,
//! never as an angle, so a wrap is not smeared into a ramp; coherence, heights and incidence are
//! warped bilinearly. Values the product marks missing (NaN, its nodata, LiCSAR's 0) stay
//! missing. Phase, coherence, heights and incidence go onto the detector's grid in strips (a few
//! strips and GDAL's cache in memory, whatever the product's size); the line-of-sight geometry
//! is computed whole on the product's own grid (LiCSAR's 100 m, HyP3's 40–80 m: a small share
//! of the detector's grid).

use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::geometry::{
    enu_field, enu_from_hyp3, enu_from_isce, incidence_and_mean_heading, wrap_degrees,
};
use super::{LineOfSight, Product};
use crate::error::{Error, Result};
use crate::layers::RawLayers;
use crate::progress::Progress;
use crate::raster::align::{warp_band, Resampling};
use crate::raster::detector_grid::{
    array_strips_onto, phase_strips_onto, values_strips_onto, Prepare,
};
pub use crate::raster::detector_grid::{model_grid, spacing_m, MAX_PIXELS, MODEL_SPACING_M};
use crate::raster::io::{
    check_not_an_input, write_single_band, Encoding, GeoTiffWriter, RasterFile,
};
use crate::raster::keys;
use crate::raster::{Crs, Grid};
use crate::sensitivity::layer::Incidence;

/// Products coarser than this get a warning: the preprint's smallest slides are a few 15 m
/// pixels wide.
pub const COARSE_SPACING_M: f64 = 40.0;
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

/// The phase on the detector's grid, as [`prepare`] writes it in its folder.
pub const PHASE_FILE: &str = "phase.tif";
/// The coherence on the detector's grid, in [`prepare`]'s folder.
pub const COHERENCE_FILE: &str = "coherence.tif";
/// The heights on the detector's grid, in [`prepare`]'s folder.
pub const DEM_FILE: &str = "dem.tif";
/// The incidence on the detector's grid, in [`prepare`]'s folder when it comes from the
/// product's line of sight (not when the caller gives one).
pub const INCIDENCE_FILE: &str = "incidence.tif";

/// Refuses a folder where [`prepare`] would write over one of the rasters it reads (a DEM named
/// `dem.tif` given from the folder `--keep-layers` names, or a product folder kept into).
fn refuse_outputs_over_inputs(product: &Product, overrides: &Overrides, dir: &Path) -> Result<()> {
    let mut inputs: Vec<&Path> = vec![&product.phase, &product.coherence];
    inputs.extend(overrides.dem.as_deref().or(product.dem.as_deref()));
    let mut outputs = vec![PHASE_FILE, COHERENCE_FILE, DEM_FILE];
    match &overrides.incidence {
        Some(Incidence::Raster(path)) => inputs.push(path),
        Some(Incidence::Degrees(_)) => {}
        None => {
            inputs.extend(product.line_of_sight.iter().flat_map(LineOfSight::paths));
            outputs.push(INCIDENCE_FILE);
        }
    }
    for name in outputs {
        let out = dir.join(name);
        check_not_an_input(&out, &inputs).map_err(|_| Error::Output {
            path: out.clone(),
            problem: format!(
                "is also an input, and the product's {name} is written in this folder: keep the layers in another folder"
            ),
        })?;
    }
    Ok(())
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
    refuse_outputs_over_inputs(product, overrides, dir)?;
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
    // a product's missing values (LiCSAR's 0) and scale, applied to a strip or a band in place
    let prepare_values = |values: &mut Array2<f32>, scale: f64| {
        values.mapv_inplace(|v| {
            if product.zero_is_nodata && v == 0.0 {
                f32::NAN
            } else {
                (f64::from(v) * scale) as f32
            }
        });
    };
    let load_band = |file: &RasterFile, band: usize, scale: f64| -> Result<Array2<f32>> {
        let mut values = file.read_band(band)?;
        prepare_values(&mut values, scale);
        Ok(values)
    };
    // coherence, heights and incidence are brought over strip by strip, written as they come
    let strips_to_file =
        |file: &RasterFile, path: &Path, name: &str, prepare: Option<Prepare>| -> Result<()> {
            let mut writer = GeoTiffWriter::create(path, &grid, &[Encoding::Float32], &[name])?;
            values_strips_onto(file, &grid, dir, name, prepare, &mut |row0, strip| {
                writer.write_rows(1, row0, strip)
            })?;
            writer.finish()
        };

    let coherence_path = dir.join(COHERENCE_FILE);
    strips_to_file(
        &coherence_file,
        &coherence_path,
        "coherence",
        Some(&|values: &mut Array2<f32>| prepare_values(values, product.coherence_scale)),
    )?;
    step(0.2, "coherence resampled")?;

    let dem_path = dir.join(DEM_FILE);
    let dem = match (&overrides.dem, &product.dem) {
        (Some(dem), _) | (None, Some(dem)) => dem,
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
    };
    strips_to_file(&RasterFile::open(dem)?, &dem_path, "height", None)?;
    step(0.35, "DEM resampled")?;

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
            drop((east, north, up));
            // an incidence raster carries no heading of its own
            if !matches!(los, LineOfSight::IncidenceDegrees { .. }) {
                geometry_heading = heading;
            }
            // computed on the product's grid, brought onto the detector's in strips
            let path = dir.join(INCIDENCE_FILE);
            let mut writer =
                GeoTiffWriter::create(&path, &grid, &[Encoding::Float32], &["incidence"])?;
            array_strips_onto(
                incidence,
                &source,
                &grid,
                dir,
                "incidence",
                &mut |row0, strip| writer.write_rows(1, row0, strip),
            )?;
            writer.finish()?;
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
    step(0.5, "geometry")?;

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
    // phase: the complex signal, warped, then its angle, strip by strip, with the pair's metadata
    let phase_path = dir.join(PHASE_FILE);
    let mut writer = GeoTiffWriter::create(&phase_path, &grid, &[Encoding::Float32], &["phase"])?;
    for (key, value) in &metadata {
        writer.set_metadata(key, value)?;
    }
    phase_strips_onto(
        &phase_file,
        &grid,
        dir,
        &|values: &mut Array2<f32>| prepare_values(values, 1.0),
        &mut |row0, strip| writer.write_rows(1, row0, strip),
    )?;
    writer.finish()?;
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
