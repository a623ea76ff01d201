//! Interferogram products as processors write them. [`open_product`] finds, in the folder a
//! processor wrote, the wrapped phase, the coherence, the DEM, the per-pixel line-of-sight
//! geometry, the dates, the orbit direction, the heading and the perpendicular baseline;
//! [`prepare::prepare`] brings them onto the detector's grid.
//!
//! Readers: [`hyp3`] (ASF HyP3 INSAR_GAMMA and INSAR_ISCE_BURST), [`licsar`] (COMET LiCSAR
//! frame folders), [`gmtsar`] (GMTSAR interferogram folders), [`isce2`] (ISCE2 geocoded
//! outputs) and [`scene`] (fringewatch's simulated scenes).

pub mod geometry;
pub mod gmtsar;
pub mod hyp3;
pub mod isce2;
pub mod licsar;
pub mod prepare;
pub mod scene;
pub mod xml;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::error::{Error, Result};

/// The processor that wrote a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    /// ASF HyP3 (GAMMA or ISCE2 burst) product folder.
    Hyp3,
    /// COMET LiCSAR frame folder.
    Licsar,
    /// GMTSAR interferogram folder.
    Gmtsar,
    /// ISCE2 geocoded outputs (`merged/`).
    Isce2,
    /// A scene folder of `fringewatch simulate`.
    Simulated,
}

impl Processor {
    pub fn name(self) -> &'static str {
        match self {
            Processor::Hyp3 => "HyP3",
            Processor::Licsar => "LiCSAR",
            Processor::Gmtsar => "GMTSAR",
            Processor::Isce2 => "ISCE2",
            Processor::Simulated => "simulated",
        }
    }
}

/// Orbit direction of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrbitDirection {
    Ascending,
    Descending,
}

impl OrbitDirection {
    pub fn name(self) -> &'static str {
        match self {
            OrbitDirection::Ascending => "ascending",
            OrbitDirection::Descending => "descending",
        }
    }
}

/// Per-pixel line-of-sight rasters as the processor stores them.
#[derive(Debug, Clone, PartialEq)]
pub enum LineOfSight {
    /// HyP3 `lv_theta` (elevation of the ground-to-satellite vector above the horizontal) and
    /// `lv_phi` (its direction from east, counter-clockwise), radians.
    Hyp3Angles { theta: PathBuf, phi: PathBuf },
    /// An incidence raster in degrees from the vertical; the heading comes from the metadata.
    IncidenceDegrees { path: PathBuf },
    /// ISCE2 `los.rdr.geo`: band 1 the incidence from the vertical, band 2 the azimuth of the
    /// target-to-platform vector from north, anticlockwise, degrees.
    IsceAngles { path: PathBuf },
    /// Ground-to-satellite unit vector components (LiCSAR `geo.E/N/U.tif`, GMTSAR
    /// `east_look.grd`, `north_look.grd`, `up_look.grd`).
    UnitVector {
        east: PathBuf,
        north: PathBuf,
        up: PathBuf,
    },
}

impl LineOfSight {
    /// The rasters it is read from.
    pub fn paths(&self) -> Vec<&Path> {
        match self {
            LineOfSight::Hyp3Angles { theta, phi } => vec![theta, phi],
            LineOfSight::IncidenceDegrees { path } | LineOfSight::IsceAngles { path } => {
                vec![path]
            }
            LineOfSight::UnitVector { east, north, up } => vec![east, north, up],
        }
    }
}

/// What a product folder holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub processor: Processor,
    /// The interferogram's name (HyP3 product name, LiCSAR `REF_SEC` pair).
    pub name: String,
    /// Wrapped phase, radians, or the complex interferogram when `phase_is_complex`.
    pub phase: PathBuf,
    /// The phase raster is complex: its argument is the phase (ISCE2).
    pub phase_is_complex: bool,
    pub coherence: PathBuf,
    /// Coherence = stored value × this (LiCSAR stores bytes 0–255: 1/255).
    pub coherence_scale: f64,
    /// A stored 0 marks a missing pixel in every raster, whether or not the file says so.
    pub zero_is_nodata: bool,
    pub dem: Option<PathBuf>,
    pub line_of_sight: Option<LineOfSight>,
    /// Heading from the product's metadata, degrees clockwise from north.
    pub heading_deg: Option<f64>,
    pub reference_date: Option<NaiveDate>,
    pub secondary_date: Option<NaiveDate>,
    pub orbit: Option<OrbitDirection>,
    /// Perpendicular baseline, metres.
    pub perpendicular_baseline_m: Option<f64>,
}

/// Read the product in `folder`, whichever processor wrote it; the error lists what each
/// reader looked for.
pub fn open_product(folder: &Path) -> Result<Product> {
    if !folder.is_dir() {
        return Err(Error::NotFound {
            path: folder.to_path_buf(),
        });
    }
    let mut misses = Vec::new();
    for reader in [
        hyp3::read,
        licsar::read,
        gmtsar::read,
        isce2::read,
        scene::read,
    ] {
        match reader(folder)? {
            Found::Product(p) => return Ok(*p),
            Found::Not(why) => misses.push(why),
        }
    }
    Err(Error::bad_input(
        folder,
        format!(
            "not a product folder fringewatch reads ({}); give `phase`, `coherence`, `dem` and the geometry instead",
            misses.join("; ")
        ),
    ))
}

/// A reader's answer: the product, or why the folder is not one of its format.
pub enum Found {
    Product(Box<Product>),
    Not(String),
}

/// Files in `folder` whose names end with `suffix`, sorted.
fn files_ending(folder: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(folder).map_err(|source| Error::io(folder, source))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(suffix))
        })
        .collect();
    found.sort();
    Ok(found)
}
