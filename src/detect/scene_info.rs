//! Acquisition facts of an interferogram for the output fields: from fringewatch metadata on the
//! raster (written by `simulate` and carried by `stack`), else from GMTSAR/ISCE-style file names
//! (`…YYYYMMDD_YYYYMMDD…`), else empty.

use chrono::NaiveDate;

use crate::raster::io::RasterFile;

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

#[cfg(test)]
mod tests {
    use super::*;

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
