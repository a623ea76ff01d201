//! The viewing geometry as the commands take it: the incidence (a raster or one angle) and the
//! scene heading (given, else recorded in the phase).

use std::path::{Path, PathBuf};

use clap::Args;
use fringewatch::detect::scene_info::{choose_heading, recorded_geometry};
use fringewatch::sensitivity::layer::Incidence;
use fringewatch::{Error, Result};

/// `--incidence RASTER` or `--incidence-deg ANGLE`.
#[derive(Args, Clone)]
pub(crate) struct IncidenceArgs {
    /// Per-pixel incidence angle raster, degrees.
    #[arg(long, conflicts_with = "incidence_deg")]
    pub(crate) incidence: Option<PathBuf>,
    /// Constant incidence angle, degrees (Sentinel-1 IW: 29–46).
    #[arg(long)]
    pub(crate) incidence_deg: Option<f64>,
}

impl IncidenceArgs {
    /// The incidence given, or an error naming both flags.
    pub(crate) fn required(&self) -> Result<Incidence> {
        Incidence::given(self.incidence.clone(), self.degrees()?)
    }

    /// The incidence given, if any (a product may record its own).
    pub(crate) fn optional(&self) -> Result<Option<Incidence>> {
        if self.incidence.is_none() && self.incidence_deg.is_none() {
            return Ok(None);
        }
        self.required().map(Some)
    }

    /// The constant angle; NaN (which the C ABI reads as "not given") is refused here.
    fn degrees(&self) -> Result<Option<f64>> {
        match self.incidence_deg {
            Some(d) if d.is_nan() => Err(Error::parameter("incidence", "NaN is not an angle")),
            other => Ok(other),
        }
    }
}

/// `--heading`, else the phase's recorded heading; a contradiction is printed as a warning.
pub(crate) fn heading_of(phase: &Path, given: Option<f64>, quiet: bool) -> Result<f64> {
    let (recorded, orbit) = recorded_geometry(phase)?;
    let chosen = choose_heading(given, recorded, orbit.as_deref())?;
    if let Some(note) = &chosen.contradiction {
        eprintln!("warning: {}", super::with_flags(note));
    } else if chosen.from_data && !quiet {
        eprintln!("heading {}° from the phase's metadata", chosen.degrees);
    }
    Ok(chosen.degrees)
}
