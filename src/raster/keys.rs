//! GDAL metadata keys of the interferogram's facts, written on `phase.tif` by `simulate` and by
//! the product readers, carried by `stack` and read back by detection for its output fields.

pub const INTERFEROGRAM_ID: &str = "FRINGEWATCH_INTERFEROGRAM_ID";
pub const PRIMARY_DATE: &str = "FRINGEWATCH_PRIMARY_DATE";
pub const SECONDARY_DATE: &str = "FRINGEWATCH_SECONDARY_DATE";
pub const ORBIT: &str = "FRINGEWATCH_ORBIT";
pub const HEADING_DEG: &str = "FRINGEWATCH_HEADING_DEG";
pub const TEMPORAL_BASELINE_DAYS: &str = "FRINGEWATCH_TEMPORAL_BASELINE_DAYS";
pub const PERPENDICULAR_BASELINE_M: &str = "FRINGEWATCH_PERPENDICULAR_BASELINE_M";
pub const WAVELENGTH_M: &str = "FRINGEWATCH_WAVELENGTH_M";
