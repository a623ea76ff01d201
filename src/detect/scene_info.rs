//! Acquisition facts of an interferogram for the output fields: from fringewatch metadata on the
//! raster (written by `simulate` and carried by `stack`), else from GMTSAR/ISCE-style file names
//! (`…YYYYMMDD_YYYYMMDD…`), else empty.

use std::path::Path;

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::raster::io::RasterFile;
use crate::raster::keys;

/// What is known of the interferogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SceneInfo {
    pub interferogram: String,
    pub primary_date: Option<NaiveDate>,
    pub secondary_date: Option<NaiveDate>,
    pub orbit: Option<String>,
    pub temporal_baseline_days: Option<i64>,
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .ok()
}

/// The first pair of 8-digit dates separated by one non-digit character in `name`
/// (GMTSAR `S1_20180106_ALL_F1`… pairs `20180106_20180130`, ISCE `20180106_20180130`, LiCSAR
/// `20170320_20170413`).
pub fn dates_from_name(name: &str) -> Option<(NaiveDate, NaiveDate)> {
    let bytes = name.as_bytes();
    let digits = |i: usize| i + 8 <= bytes.len() && bytes[i..i + 8].iter().all(u8::is_ascii_digit);
    for i in 0..bytes.len() {
        if (i == 0 || !bytes[i - 1].is_ascii_digit())
            && digits(i)
            && i + 17 <= bytes.len()
            && !bytes[i + 8].is_ascii_digit()
            && digits(i + 9)
        {
            let after = i + 17;
            if after < bytes.len() && bytes[after].is_ascii_digit() {
                continue;
            }
            let a = parse_date(&name[i..i + 8])?;
            let b = parse_date(&name[i + 9..i + 17])?;
            return Some((a, b));
        }
    }
    None
}

/// Gather what the stack (and its file name) says about the interferogram.
pub fn scene_info(stack: &RasterFile) -> SceneInfo {
    let items = stack.metadata_items();
    let get = |key: &str| items.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let stem = stack
        .path()
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut info = SceneInfo {
        interferogram: get("FRINGEWATCH_INTERFEROGRAM_ID").unwrap_or_else(|| stem.clone()),
        primary_date: get("FRINGEWATCH_PRIMARY_DATE").and_then(|d| parse_date(&d)),
        secondary_date: get("FRINGEWATCH_SECONDARY_DATE").and_then(|d| parse_date(&d)),
        orbit: get("FRINGEWATCH_ORBIT"),
        temporal_baseline_days: None,
    };
    if info.primary_date.is_none() {
        let from_name = dates_from_name(&stem).or_else(|| {
            stack
                .path()
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| dates_from_name(&n.to_string_lossy()))
        });
        if let Some((a, b)) = from_name {
            info.primary_date = Some(a.min(b));
            info.secondary_date = Some(a.max(b));
        }
    }
    if let (Some(a), Some(b)) = (info.primary_date, info.secondary_date) {
        info.temporal_baseline_days = Some((b - a).num_days());
    }
    info
}

/// The scene heading the layer chain uses, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ChosenHeading {
    /// Degrees clockwise from north.
    pub degrees: f64,
    /// Taken from the phase's metadata rather than given.
    pub from_data: bool,
    /// Set when the given heading contradicts what the phase records (used anyway).
    pub contradiction: Option<String>,
}

/// The heading and orbit the phase records (`FRINGEWATCH_HEADING_DEG`, `FRINGEWATCH_ORBIT`:
/// written by `simulate` and the product readers; absent on other rasters).
pub fn recorded_geometry(phase: &Path) -> Result<(Option<f64>, Option<String>)> {
    let items = RasterFile::open(phase)?.metadata_items();
    let get = |key: &str| items.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let heading = get(keys::HEADING_DEG)
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|h| h.is_finite());
    let orbit = get(keys::ORBIT).filter(|o| !o.trim().is_empty());
    Ok((heading, orbit))
}

/// Angle between two headings, degrees in [0, 180].
fn heading_difference(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Choose the heading: the `given` one, else the `recorded` one; with neither, an error. A given
/// heading more than 30° from the recorded heading, or on the other side of the east–west line
/// from the recorded orbit (ascending headings point north, cos h > 0; descending south),
/// is used but flagged: the ISL would then be computed for the wrong look direction.
///
/// ```
/// use fringewatch::detect::scene_info::choose_heading;
/// let chosen = choose_heading(None, Some(-169.5), Some("descending")).unwrap();
/// assert_eq!((chosen.degrees, chosen.from_data), (-169.5, true));
/// let forced = choose_heading(Some(-10.5), Some(-169.5), Some("descending")).unwrap();
/// assert!(forced.contradiction.is_some());
/// ```
pub fn choose_heading(
    given: Option<f64>,
    recorded: Option<f64>,
    orbit: Option<&str>,
) -> Result<ChosenHeading> {
    let Some(degrees) = given else {
        return match recorded {
            Some(degrees) => Ok(ChosenHeading {
                degrees,
                from_data: true,
                contradiction: None,
            }),
            None => Err(Error::parameter(
                "heading",
                match orbit {
                    Some(o) => format!(
                        "the phase records a {o} orbit but no heading: give `heading` \
                         (Sentinel-1 over Italy: about -10.5 ascending, -169.5 descending)"
                    ),
                    None => {
                        "the phase records no heading (FRINGEWATCH_HEADING_DEG): give `heading`"
                            .to_string()
                    }
                },
            )),
        };
    };
    if !degrees.is_finite() {
        return Err(Error::parameter("heading", "is not a finite number"));
    }
    let orbit_says = |o: &str| match o.to_ascii_lowercase().as_str() {
        "ascending" => Some(true),
        "descending" => Some(false),
        _ => None,
    };
    let contradiction = match (recorded, orbit) {
        (Some(r), _) if heading_difference(degrees, r) > 30.0 => Some(format!(
            "the heading {degrees}° contradicts the phase's recorded heading {r}°{}: the ISL \
             is computed with {degrees}°; leave the heading unset to use the recorded one",
            orbit.map(|o| format!(" ({o} orbit)")).unwrap_or_default()
        )),
        (_, Some(o))
            if orbit_says(o).is_some_and(|up| up != (degrees.to_radians().cos() > 0.0)) =>
        {
            Some(format!(
                "the heading {degrees}° contradicts the phase's recorded {o} orbit: the ISL is \
                 computed with {degrees}°"
            ))
        }
        _ => None,
    };
    Ok(ChosenHeading {
        degrees,
        from_data: false,
        contradiction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_from_data_or_given_with_contradictions_flagged() {
        let c = choose_heading(None, Some(-10.5), None).unwrap();
        assert_eq!(
            (c.degrees, c.from_data, c.contradiction),
            (-10.5, true, None)
        );
        // within 30° of the recorded heading (and 350° is -10°): no flag
        assert_eq!(
            choose_heading(Some(350.0), Some(-10.5), Some("ascending"))
                .unwrap()
                .contradiction,
            None
        );
        let flagged = choose_heading(Some(-10.5), Some(-169.5), Some("descending")).unwrap();
        assert_eq!(flagged.degrees, -10.5);
        assert!(!flagged.from_data);
        assert!(flagged.contradiction.unwrap().contains("-169.5"));
        // orbit only: an ascending scene run with a southward heading
        let orbit_only = choose_heading(Some(190.0), None, Some("ascending")).unwrap();
        assert!(orbit_only
            .contradiction
            .unwrap()
            .contains("ascending orbit"));
        assert_eq!(
            choose_heading(Some(-12.0), None, Some("Ascending"))
                .unwrap()
                .contradiction,
            None
        );
        let missing = choose_heading(None, None, Some("descending")).unwrap_err();
        assert!(missing
            .to_string()
            .contains("descending orbit but no heading"));
        assert!(choose_heading(None, None, None).is_err());
        assert!(choose_heading(Some(f64::NAN), Some(1.0), None).is_err());
    }

    #[test]
    fn dates_from_processor_names() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y%m%d").unwrap();
        assert_eq!(
            dates_from_name("s1_pyrate_cropA_20180106_20180130_unwrapped"),
            Some((d("20180106"), d("20180130")))
        );
        assert_eq!(
            dates_from_name("20170320_20170413.geo.diff_pha"),
            Some((d("20170320"), d("20170413")))
        );
        assert_eq!(dates_from_name("phasefilt_ll"), None);
        assert_eq!(dates_from_name("x_2018010612_20180130"), None);
    }
}
