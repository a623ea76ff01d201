//! fringewatch's own simulated scene folders (`fringewatch simulate`): `phase.tif`,
//! `coherence.tif`, `dem.tif`, `incidence.tif` (degrees) and `scene.json` (`interferogram_id`,
//! `primary_date`, `secondary_date`, `orbit`, `heading_deg`, `perpendicular_baseline_m`), so that
//! simulated pairs go through `run --product` and `batch` like a processor's.

use std::path::Path;

use chrono::NaiveDate;

use super::{Found, LineOfSight, OrbitDirection, Processor, Product};
use crate::error::{Error, Result};

/// The `scene.json` of a simulated scene folder.
pub fn read_scene_json(folder: &Path) -> Result<serde_json::Value> {
    let json_path = folder.join("scene.json");
    let text =
        std::fs::read_to_string(&json_path).map_err(|source| Error::io(&json_path, source))?;
    serde_json::from_str(&text).map_err(|e| Error::bad_input(&json_path, format!("not JSON: {e}")))
}

/// The simulated scene in `folder`, if it is one.
pub fn read(folder: &Path) -> Result<Found> {
    let json_path = folder.join("scene.json");
    let phase = folder.join("phase.tif");
    if !json_path.is_file() || !phase.is_file() {
        return Ok(Found::Not(
            "simulated scene: no scene.json and phase.tif".into(),
        ));
    }
    let json = read_scene_json(folder)?;
    let text_of = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let date_of =
        |key: &str| text_of(key).and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    let file = |name: &str| {
        let p = folder.join(name);
        p.is_file().then_some(p)
    };
    Ok(Found::Product(Box::new(Product {
        processor: Processor::Simulated,
        name: text_of("interferogram_id").unwrap_or_else(|| {
            folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        phase,
        phase_is_complex: false,
        coherence: file("coherence.tif")
            .ok_or_else(|| Error::bad_input(folder, "simulated scene without coherence.tif"))?,
        coherence_scale: 1.0,
        zero_is_nodata: false,
        dem: file("dem.tif"),
        line_of_sight: file("incidence.tif").map(|path| LineOfSight::IncidenceDegrees { path }),
        heading_deg: json.get("heading_deg").and_then(|v| v.as_f64()),
        reference_date: date_of("primary_date"),
        secondary_date: date_of("secondary_date"),
        orbit: text_of("orbit").and_then(|o| match o.as_str() {
            "ascending" => Some(OrbitDirection::Ascending),
            "descending" => Some(OrbitDirection::Descending),
            _ => None,
        }),
        perpendicular_baseline_m: json
            .get("perpendicular_baseline_m")
            .and_then(|v| v.as_f64()),
    })))
}
