//! COMET LiCSAR frame folders (as LiCSBAS downloads them): `interferograms/REF_SEC/` with
//! `REF_SEC.geo.diff_pha.tif` (wrapped phase, radians) and `REF_SEC.geo.cc.tif` (coherence,
//! bytes 0–255 = γ·255 in current products, Float32 0–1 in old ones), and `metadata/` with the
//! frame's `FRAME.geo.E.tif`, `.N.tif`, `.U.tif` (ground-to-satellite unit vector),
//! `FRAME.geo.hgt.tif` (heights, m), `metadata.txt` (`key=value`: `heading`,
//! `avg_incidence_angle`) and `baselines` (`frame_reference date bperp btemp`). The orbit
//! direction is the frame id's fourth character (`124D_04854_171313`). LiCSAR writes 0 for
//! missing pixels without saying so in the files. `read` takes the pair folder
//! (`…/interferograms/REF_SEC`) or a frame folder holding exactly one pair.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{files_ending, Found, LineOfSight, OrbitDirection, Processor, Product};
use crate::error::{Error, Result};
use crate::raster::io::RasterFile;

/// The LiCSAR pair in `folder`, if it is one.
pub fn read(folder: &Path) -> Result<Found> {
    let pair_folder = match pair_folder(folder)? {
        Some(p) => p,
        None => return Ok(Found::Not("LiCSAR: no *.geo.diff_pha.tif".into())),
    };
    let phases = files_ending(&pair_folder, ".geo.diff_pha.tif")?;
    let Some(phase) = phases.first().cloned() else {
        return Ok(Found::Not("LiCSAR: no *.geo.diff_pha.tif".into()));
    };
    let file = phase.file_name().unwrap_or_default().to_string_lossy();
    let name = file.trim_end_matches(".geo.diff_pha.tif").to_string();
    let coherence = pair_folder.join(format!("{name}.geo.cc.tif"));
    if !coherence.is_file() {
        return Err(Error::bad_input(
            &pair_folder,
            format!("LiCSAR pair {name} has no {name}.geo.cc.tif (coherence)"),
        ));
    }
    let coherence_scale = match RasterFile::open(&coherence)?.dataset().rasterband(1) {
        Ok(band) if band.band_type() == gdal::raster::GdalDataType::UInt8 => 1.0 / 255.0,
        _ => 1.0,
    };
    let (reference_date, secondary_date) = match dates(&name) {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    // the frame folder: …/FRAME/interferograms/PAIR
    let frame_dir = pair_folder
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "interferograms"))
        .and_then(Path::parent);
    let metadata_dir = frame_dir.map(|f| f.join("metadata"));
    let frame = frame_dir
        .and_then(|f| f.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    let in_metadata = |suffix: &str| -> Option<PathBuf> {
        let dir = metadata_dir.as_ref()?;
        files_ending(dir, suffix).ok()?.into_iter().next()
    };
    let line_of_sight = match (
        in_metadata(".geo.E.tif"),
        in_metadata(".geo.N.tif"),
        in_metadata(".geo.U.tif"),
    ) {
        (Some(east), Some(north), Some(up)) => Some(LineOfSight::UnitVector { east, north, up }),
        _ => None,
    };
    let key_values: Vec<(String, String)> = metadata_dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("metadata.txt")).ok())
        .map(|text| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let heading_deg = key_values
        .iter()
        .find(|(k, _)| k == "heading")
        .and_then(|(_, v)| v.parse::<f64>().ok())
        .map(super::geometry::wrap_degrees);
    let orbit = frame
        .as_deref()
        .and_then(|f| f.chars().nth(3))
        .and_then(|c| match c {
            'A' => Some(OrbitDirection::Ascending),
            'D' => Some(OrbitDirection::Descending),
            _ => None,
        });
    let perpendicular_baseline_m = match (&metadata_dir, reference_date, secondary_date) {
        (Some(dir), Some(a), Some(b)) => std::fs::read_to_string(dir.join("baselines"))
            .ok()
            .and_then(|text| pair_baseline(&text, a, b)),
        _ => None,
    };
    Ok(Found::Product(Box::new(Product {
        processor: Processor::Licsar,
        name,
        phase,
        phase_is_complex: false,
        coherence,
        coherence_scale,
        zero_is_nodata: true,
        dem: in_metadata(".geo.hgt.tif"),
        line_of_sight,
        heading_deg,
        reference_date,
        secondary_date,
        orbit,
        perpendicular_baseline_m,
    })))
}

/// The pair folder: `folder` itself when it holds a `*.geo.diff_pha.tif`, else the single pair
/// under `folder/interferograms/`.
fn pair_folder(folder: &Path) -> Result<Option<PathBuf>> {
    if !files_ending(folder, ".geo.diff_pha.tif")?.is_empty() {
        return Ok(Some(folder.to_path_buf()));
    }
    let pairs_dir = folder.join("interferograms");
    if !pairs_dir.is_dir() {
        return Ok(None);
    }
    let mut pairs: Vec<PathBuf> = std::fs::read_dir(&pairs_dir)
        .map_err(|source| Error::io(&pairs_dir, source))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    pairs.sort();
    match pairs.len() {
        0 => Ok(None),
        1 => Ok(pairs.pop()),
        n => Err(Error::bad_input(
            folder,
            format!("a LiCSAR frame folder with {n} pairs: give one pair folder (interferograms/REF_SEC), or use batch"),
        )),
    }
}

/// `REF_SEC` as two dates.
fn dates(name: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (a, b) = name.split_once('_')?;
    Some((
        NaiveDate::parse_from_str(a, "%Y%m%d").ok()?,
        NaiveDate::parse_from_str(b.get(..8)?, "%Y%m%d").ok()?,
    ))
}

/// B⊥ of the pair from a LiCSAR `baselines` file (`frame_reference date bperp btemp` per
/// epoch): bperp(secondary) − bperp(reference), the frame's reference epoch counting 0.
pub fn pair_baseline(text: &str, reference: NaiveDate, secondary: NaiveDate) -> Option<f64> {
    let mut frame_reference = None;
    let bperp_of = |date: NaiveDate| -> Option<f64> {
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let d = NaiveDate::parse_from_str(fields.get(1)?, "%Y%m%d").ok()?;
            (d == date)
                .then(|| fields.get(2)?.parse::<f64>().ok())
                .flatten()
        })
    };
    for line in text.lines() {
        if let Some(first) = line.split_whitespace().next() {
            frame_reference = NaiveDate::parse_from_str(first, "%Y%m%d").ok();
            break;
        }
    }
    let value =
        |date: NaiveDate| bperp_of(date).or_else(|| (Some(date) == frame_reference).then_some(0.0));
    Some(value(secondary)? - value(reference)?)
}
