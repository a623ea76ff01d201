//! # fringewatch
//!
//! Finds active slow landslides in Sentinel-1 wrapped interferograms (Mondini et al. 2026; the
//! method and every convention: `../shared/docs/METHOD.md`, condensed in the README).
//!
//! Layout, one module per domain concept:
//! - [`raster`]: grids, GDAL raster I/O, alignment with PROJ;
//! - [`terrain`]: slope, aspect, TRI, convexity, TWI and PC1 (pure kernels + the file layer);
//! - [`sensitivity`]: S2L, layover/shadow, coherence weight and ISL;
//! - [`stack`]: the detector's three-band input;
//! - [`progress`], [`error`]: progress/cancel and typed errors shared by CLI and C ABI.

pub mod error;
pub mod progress;
pub mod raster;
pub mod sensitivity;
pub mod stack;
pub mod terrain;

pub use error::{Error, Result};
