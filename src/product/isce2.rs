//! ISCE2 geocoded outputs (topsApp `merged/`, stripmapApp `interferogram/` + `geometry/`): the
//! complex interferogram `filt_topophase.flat.geo` (or `filt_topophase.flt.geo`; the phase is its
//! argument), the coherence `phsig.cor.geo`, and `los.rdr.geo`, two bands in degrees: the
//! incidence from the vertical at the target, and the azimuth of the target-to-platform vector
//! from north, anticlockwise (ISCE2 `runTopo.py`; MintPy reads it the same way), so
//! (E, N, U) = (−sin i·sin a, sin i·cos a, cos i) and the heading is 90° − a. Each raster is read
//! through its GDAL `.vrt` sidecar when there is one, else through GDAL's ISCE driver (`.xml`).
//! The DEM is topsApp's `*.dem.wgs84` in the run folder (above `merged/`). ISCE writes 0 outside
//! the swath without saying so. Dates come from a `YYYYMMDD_YYYYMMDD` folder name on the way up,
//! the orbit direction from the heading; the perpendicular baseline is not read.

use std::path::{Path, PathBuf};

use super::{files_ending, Found, LineOfSight, OrbitDirection, Processor, Product};
use crate::error::Result;

/// The ISCE2 outputs in `folder` (or in `folder/merged`), if it holds them.
pub fn read(folder: &Path) -> Result<Found> {
    let merged = folder.join("merged");
    let folder = if merged.is_dir() {
        merged
    } else {
        folder.to_path_buf()
    };
    let file = |dir: &Path, name: &str| -> Option<PathBuf> {
        let vrt = dir.join(format!("{name}.vrt"));
        let raw = dir.join(name);
        if vrt.is_file() {
            Some(vrt)
        } else {
            raw.is_file().then_some(raw)
        }
    };
    let Some(phase) = file(&folder, "filt_topophase.flat.geo")
        .or_else(|| file(&folder, "filt_topophase.flt.geo"))
    else {
        return Ok(Found::Not("ISCE2: no filt_topophase.flat.geo".into()));
    };
    let Some(coherence) = file(&folder, "phsig.cor.geo") else {
        return Ok(Found::Not(
            "ISCE2: no phsig.cor.geo beside the interferogram".into(),
        ));
    };
    // stripmapApp keeps los.rdr.geo in ../geometry
    let los =
        file(&folder, "los.rdr.geo").or_else(|| file(&folder.join("../geometry"), "los.rdr.geo"));
    let run_dir = folder.parent().map(Path::to_path_buf).unwrap_or_default();
    let dem = [folder.as_path(), run_dir.as_path()]
        .iter()
        .find_map(|dir| {
            let vrt = files_ending(dir, ".dem.wgs84.vrt").ok()?.into_iter().next();
            vrt.or_else(|| files_ending(dir, ".dem.wgs84").ok()?.into_iter().next())
        });
    let canonical = folder.canonicalize().unwrap_or(folder.clone());
    let (name, dates) = canonical
        .ancestors()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .find_map(|n| crate::detect::scene_info::dates_from_name(&n).map(|d| (n, d)))
        .map_or_else(
            || {
                let n = canonical
                    .parent()
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (n, None)
            },
            |(n, d)| (n, Some(d)),
        );
    Ok(Found::Product(Box::new(Product {
        processor: Processor::Isce2,
        name,
        phase,
        phase_is_complex: true,
        coherence,
        coherence_scale: 1.0,
        zero_is_nodata: true,
        dem,
        line_of_sight: los.map(|path| LineOfSight::IsceAngles { path }),
        heading_deg: None,
        reference_date: dates.map(|d| d.0),
        secondary_date: dates.map(|d| d.1),
        orbit: None,
        perpendicular_baseline_m: None,
    })))
}

/// The orbit direction of a Sentinel-1 heading: ascending when the track points north.
pub fn orbit_of_heading(heading_deg: f64) -> OrbitDirection {
    if super::geometry::wrap_degrees(heading_deg).abs() < 90.0 {
        OrbitDirection::Ascending
    } else {
        OrbitDirection::Descending
    }
}
