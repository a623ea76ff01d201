//! ASF HyP3 InSAR products (INSAR_GAMMA and INSAR_ISCE_BURST), as unzipped: a folder of
//! single-band GeoTIFFs `NAME_wrapped_phase.tif`, `NAME_corr.tif`, `NAME_dem.tif`,
//! `NAME_lv_theta.tif`, `NAME_lv_phi.tif` and the metadata `NAME.txt` (`Key: value` lines:
//! `Reference Pass Direction`, `Baseline` (perpendicular, m), `Heading` (degrees), the
//! granules). Dates come from the product name (`S1AB_20171111T150004_20171117T145926_…`,
//! burst `S1_136231_IW2_20200604_20200616_…`). HyP3 marks nodata with 0 (the files say so).
//! Source: HyP3 InSAR product guides, hyp3-docs.asf.alaska.edu.

use std::path::Path;

use chrono::NaiveDate;

use super::{files_ending, Found, LineOfSight, OrbitDirection, Processor, Product};
use crate::error::{Error, Result};

/// The HyP3 product in `folder`, if it is one.
pub fn read(folder: &Path) -> Result<Found> {
    let phases = files_ending(folder, "_wrapped_phase.tif")?;
    let phase = match phases.as_slice() {
        [] => return Ok(Found::Not("HyP3: no *_wrapped_phase.tif".into())),
        [one] => one.clone(),
        many => {
            return Err(Error::bad_input(
                folder,
                format!(
                    "{} HyP3 wrapped-phase files in one folder ({}): one product per folder",
                    many.len(),
                    many.iter()
                        .filter_map(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    };
    let file = phase.file_name().unwrap_or_default().to_string_lossy();
    let name = file.trim_end_matches("_wrapped_phase.tif").to_string();
    let part = |suffix: &str| {
        let p = folder.join(format!("{name}{suffix}"));
        p.is_file().then_some(p)
    };
    let coherence = part("_corr.tif").ok_or_else(|| {
        Error::bad_input(
            folder,
            format!("HyP3 product {name} has no {name}_corr.tif (coherence)"),
        )
    })?;
    let line_of_sight = match (part("_lv_theta.tif"), part("_lv_phi.tif")) {
        (Some(theta), Some(phi)) => Some(LineOfSight::Hyp3Angles { theta, phi }),
        _ => None,
    };
    let metadata = match part(".txt") {
        Some(txt) => {
            let text = std::fs::read_to_string(&txt).map_err(|source| Error::io(&txt, source))?;
            parse_metadata(&text)
        }
        None => Vec::new(),
    };
    let get = |key: &str| {
        metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let orbit = get("Reference Pass Direction").and_then(|v| match v {
        "ASCENDING" => Some(OrbitDirection::Ascending),
        "DESCENDING" => Some(OrbitDirection::Descending),
        _ => None,
    });
    let number = |key: &str| get(key).and_then(|v| v.parse::<f64>().ok());
    let (reference_date, secondary_date) = match dates_from_product_name(&name) {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    // the metadata's granules must be the pair the name says
    for (key, named) in [
        ("Reference Granule", reference_date),
        ("Secondary Granule", secondary_date),
    ] {
        let granule = get(key).and_then(granule_date);
        if let (Some(granule), Some(named)) = (granule, named) {
            if granule != named {
                return Err(Error::bad_input(
                    folder,
                    format!(
                        "HyP3 product {name}: its name gives {named}, but {name}.txt's {key} was acquired on {granule}: the product's pieces disagree"
                    ),
                ));
            }
        }
    }
    Ok(Found::Product(Box::new(Product {
        processor: Processor::Hyp3,
        name: name.clone(),
        phase,
        phase_is_complex: false,
        coherence,
        coherence_scale: 1.0,
        zero_is_nodata: true,
        dem: part("_dem.tif"),
        line_of_sight,
        heading_deg: number("Heading").map(super::geometry::wrap_degrees),
        reference_date,
        secondary_date,
        orbit,
        perpendicular_baseline_m: number("Baseline"),
    })))
}

/// `Key: value` lines, split at the first colon (values such as times hold colons).
pub fn parse_metadata(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The acquisition date of a Sentinel-1 granule or burst name: its first field of eight digits
/// and a time (`S1A_IW_SLC__1SDV_20200103T135533_…`, `S1_056072_IW2_20220814T125829_VV_…`).
pub fn granule_date(granule: &str) -> Option<NaiveDate> {
    granule.split('_').find_map(|field| {
        let (day, time) = field.split_once('T')?;
        (day.len() == 8 && time.len() >= 6)
            .then(|| NaiveDate::parse_from_str(day, "%Y%m%d").ok())
            .flatten()
    })
}

/// Reference and secondary dates of a HyP3 product name: the first two underscore-separated
/// fields that start with eight digits (`20171111T150004`, burst `20200604`).
///
/// ```
/// use fringewatch::product::hyp3::dates_from_product_name;
/// let (a, b) = dates_from_product_name("S1AB_20171111T150004_20171117T145926_VVP006_INT80_G_ueF_4D09").unwrap();
/// assert_eq!((a.to_string(), b.to_string()), ("2017-11-11".into(), "2017-11-17".into()));
/// ```
pub fn dates_from_product_name(name: &str) -> Option<(NaiveDate, NaiveDate)> {
    let mut dates = name.split('_').filter_map(|field| {
        let digits = field.get(..8)?;
        let rest = &field[8..];
        (digits.bytes().all(|b| b.is_ascii_digit()) && (rest.is_empty() || rest.starts_with('T')))
            .then(|| NaiveDate::parse_from_str(digits, "%Y%m%d").ok())
            .flatten()
    });
    Some((dates.next()?, dates.next()?))
}
