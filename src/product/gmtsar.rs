//! GMTSAR interferogram folders (`intf_all/REF_SEC/` or `merge/`): the geocoded grids
//! `phasefilt_ll.grd` (else `phase_ll.grd`; wrapped phase, radians), `corr_ll.grd`, the look
//! vectors `east_look.grd`, `north_look.grd`, `up_look.grd` when `SAT_look` /
//! `calc_look_vector.csh` made them (the ground-to-satellite unit vector), the DEM
//! (`dem.grd` here or in `../topo/`, `../../topo/`), and the PRM files (`orbdir = A|D`,
//! `B_perpendicular`), else `baseline_table.dat` beside the folder for B⊥. GMT grids are NetCDF
//! with longitude/latitude coordinates, NaN for missing cells. The folder name holds the dates
//! as `YYYYDDD_YYYYDDD` with a day of year counted from 0 (1 January = 000, GMTSAR's
//! `SC_clock_start`; MintPy's `yyyyddd2yyyymmdd` agrees). GMTSAR records no heading: it comes
//! from the look vectors, else from `--heading`.

use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};

use super::{files_ending, Found, LineOfSight, OrbitDirection, Processor, Product};
use crate::error::Result;

/// The GMTSAR interferogram in `folder`, if it is one.
pub fn read(folder: &Path) -> Result<Found> {
    let grid = |name: &str| {
        let p = folder.join(name);
        p.is_file().then_some(p)
    };
    let Some(phase) = grid("phasefilt_ll.grd").or_else(|| grid("phase_ll.grd")) else {
        return Ok(Found::Not(
            "GMTSAR: no phasefilt_ll.grd or phase_ll.grd".into(),
        ));
    };
    let Some(coherence) = grid("corr_ll.grd") else {
        return Ok(Found::Not("GMTSAR: no corr_ll.grd beside the phase".into()));
    };
    let name = folder
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let (reference_date, secondary_date) = match dates_from_folder(&name) {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    let prms: Vec<Vec<(String, String)>> = files_ending(folder, ".PRM")?
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|text| parse_prm(&text))
        .collect();
    // the PRM files' acquisitions must include the folder's pair
    let acquisitions: Vec<NaiveDate> = prms
        .iter()
        .filter_map(|prm| prm.iter().find(|(k, _)| k == "SC_clock_start"))
        .filter_map(|(_, v)| date_from_yyyyddd(v.split('.').next()?))
        .collect();
    if let (Some(a), Some(b), false) = (reference_date, secondary_date, acquisitions.is_empty()) {
        if let Some(missing) = [a, b].into_iter().find(|d| !acquisitions.contains(d)) {
            return Err(crate::error::Error::bad_input(
                folder,
                format!(
                    "GMTSAR folder {name} names {missing}, but its PRM files (SC_clock_start) were acquired on {}: the product's pieces disagree",
                    acquisitions.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let prm_value = |key: &str| {
        prms.iter()
            .find_map(|prm| prm.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    };
    let orbit = prm_value("orbdir").and_then(|v| match v.as_str() {
        "A" => Some(OrbitDirection::Ascending),
        "D" => Some(OrbitDirection::Descending),
        _ => None,
    });
    let perpendicular_baseline_m = prm_value("B_perpendicular")
        .and_then(|v| v.parse::<f64>().ok())
        .or_else(|| {
            let (a, b) = (reference_date?, secondary_date?);
            let table = folder.parent()?.join("baseline_table.dat");
            let text = std::fs::read_to_string(table).ok().or_else(|| {
                std::fs::read_to_string(folder.parent()?.parent()?.join("baseline_table.dat")).ok()
            })?;
            table_baseline(&text, a, b)
        });
    let line_of_sight = match (
        grid("east_look.grd"),
        grid("north_look.grd"),
        grid("up_look.grd"),
    ) {
        (Some(east), Some(north), Some(up)) => Some(LineOfSight::UnitVector { east, north, up }),
        _ => None,
    };
    let dem = ["dem.grd", "../topo/dem.grd", "../../topo/dem.grd"]
        .iter()
        .map(|p| folder.join(p))
        .find(|p| p.is_file())
        .map(|p: PathBuf| p.canonicalize().unwrap_or(p));
    Ok(Found::Product(Box::new(Product {
        processor: Processor::Gmtsar,
        name,
        phase,
        phase_is_complex: false,
        coherence,
        coherence_scale: 1.0,
        zero_is_nodata: false,
        dem,
        line_of_sight,
        heading_deg: None,
        reference_date,
        secondary_date,
        orbit,
        perpendicular_baseline_m,
    })))
}

/// `key = value` lines of a GMTSAR PRM file.
pub fn parse_prm(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A GMTSAR `YYYYDDD` day (DDD counted from 0 on 1 January).
///
/// ```
/// use fringewatch::product::gmtsar::date_from_yyyyddd;
/// assert_eq!(date_from_yyyyddd("2015145").unwrap().to_string(), "2015-05-26");
/// assert_eq!(date_from_yyyyddd("2014364").unwrap().to_string(), "2014-12-31");
/// ```
pub fn date_from_yyyyddd(text: &str) -> Option<NaiveDate> {
    if text.len() != 7 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = text[..4].parse().ok()?;
    let day: u64 = text[4..].parse().ok()?;
    let date = NaiveDate::from_ymd_opt(year, 1, 1)?.checked_add_days(Days::new(day))?;
    (date.format("%Y").to_string() == text[..4]).then_some(date)
}

/// The dates of a GMTSAR folder name `YYYYDDD_YYYYDDD`.
pub fn dates_from_folder(name: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (a, b) = name.split_once('_')?;
    Some((date_from_yyyyddd(a)?, date_from_yyyyddd(b.get(..7)?)?))
}

/// B⊥ of the pair from GMTSAR's `baseline_table.dat` (`file_ID YYYYDDD.fraction day b_para
/// b_perp` per acquisition): b_perp(secondary) − b_perp(reference).
pub fn table_baseline(text: &str, reference: NaiveDate, secondary: NaiveDate) -> Option<f64> {
    let perp_of = |date: NaiveDate| {
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let day = fields.get(1)?.split('.').next()?;
            (date_from_yyyyddd(day)? == date)
                .then(|| fields.get(4)?.parse::<f64>().ok())
                .flatten()
        })
    };
    Some(perp_of(secondary)? - perp_of(reference)?)
}
