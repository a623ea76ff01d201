//! ISCE2 geocoded outputs (topsApp `merged/`, stripmapApp `interferogram/` + `geometry/`): the
//! complex interferogram `filt_topophase.flat.geo` (or `filt_topophase.flt.geo`; the phase is its
//! argument), the coherence `phsig.cor.geo`, and `los.rdr.geo`, two bands in degrees: the
//! incidence from the vertical at the target, and the azimuth of the target-to-platform vector
//! from north, anticlockwise (ISCE2 `runTopo.py`; MintPy reads it the same way), so
//! (E, N, U) = (−sin i·sin a, sin i·cos a, cos i) and the heading is 90° − a. Each raster is read
//! through its GDAL `.vrt` sidecar when there is one, else through GDAL's ISCE driver (`.xml`).
//! The DEM is topsApp's `*.dem.wgs84` in the run folder (above `merged/`). ISCE writes 0 outside
//! the swath without saying so. The run folder's `topsApp.xml` names the SAFE files of the
//! reference and the secondary, whose acquisition dates are the pair's (else a
//! `YYYYMMDD_YYYYMMDD` folder name on the way up; when both exist they must agree); its
//! `topsProc.xml` holds B⊥ per swath (`IW-n_Bperp_at_midrange_for_first_common_burst`, metres;
//! their mean is taken). The orbit direction comes from the heading.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::xml::flatten_xml;
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
    let (name, named_dates) = canonical
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
    let run = RunMetadata::read(&[folder.as_path(), run_dir.as_path()])?;
    let dates = match (run.dates, named_dates) {
        (Some(xml), Some(named)) if xml != named => {
            return Err(crate::error::Error::bad_input(
                &folder,
                format!(
                    "ISCE2 folder {name} names {} → {}, but topsApp.xml's SAFE files were acquired on {} → {}: the product's pieces disagree",
                    named.0, named.1, xml.0, xml.1
                ),
            ))
        }
        (xml, named) => xml.or(named),
    };
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
        perpendicular_baseline_m: run.perpendicular_baseline_m,
    })))
}

/// What topsApp's XML files in a run folder say of the pair.
#[derive(Debug, Default, PartialEq)]
pub struct RunMetadata {
    /// Acquisition dates of the reference and the secondary SAFE files (`topsApp.xml`).
    pub dates: Option<(NaiveDate, NaiveDate)>,
    /// B⊥ in metres: mean over the swaths of `topsProc.xml`'s
    /// `IW-n_Bperp_at_midrange_for_first_common_burst`.
    pub perpendicular_baseline_m: Option<f64>,
}

impl RunMetadata {
    /// Read `topsApp.xml` and `topsProc.xml` from the first of `dirs` that holds each.
    pub fn read(dirs: &[&Path]) -> Result<RunMetadata> {
        let find = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
        let mut run = RunMetadata::default();
        if let Some(app) = find("topsApp.xml") {
            let entries = flatten_xml(&app)?;
            let acquired = |role: &str| {
                entries
                    .iter()
                    .find(|(k, _)| k.ends_with(&format!("component[{role}]/property[safe]")))
                    .and_then(|(_, v)| earliest_safe_date(v))
            };
            run.dates = acquired("reference").zip(acquired("secondary"));
        }
        if let Some(proc) = find("topsProc.xml") {
            let values: Vec<f64> = flatten_xml(&proc)?
                .into_iter()
                .filter(|(k, _)| {
                    k.starts_with("topsProc/baseline/")
                        && k.ends_with("_Bperp_at_midrange_for_first_common_burst")
                })
                .filter_map(|(_, v)| v.parse().ok())
                .collect();
            if !values.is_empty() {
                run.perpendicular_baseline_m =
                    Some(values.iter().sum::<f64>() / values.len() as f64);
            }
        }
        Ok(run)
    }
}

/// The earliest acquisition date among the SAFE names in `text` (one path, or a list of them):
/// the `YYYYMMDDTHHMMSS` start times of `S1A_IW_SLC__1SDV_20200103T…_….SAFE`.
fn earliest_safe_date(text: &str) -> Option<NaiveDate> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| t.len() == 15 && t.as_bytes()[8] == b'T')
        .filter_map(|t| NaiveDate::parse_from_str(&t[..8], "%Y%m%d").ok())
        .min()
}

/// The orbit direction of a Sentinel-1 heading: ascending when the track points north.
pub fn orbit_of_heading(heading_deg: f64) -> OrbitDirection {
    if super::geometry::wrap_degrees(heading_deg).abs() < 90.0 {
        OrbitDirection::Ascending
    } else {
        OrbitDirection::Descending
    }
}
