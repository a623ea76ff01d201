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
//! - [`layers`]: the layers end to end: raw inputs → ISL beside PC1 → the stack (where `run`,
//!   `batch`, the C ABI and the dataset builder start);
//! - [`product`]: processor product folders (HyP3, LiCSAR, GMTSAR, ISCE2) read and brought onto
//!   the detector's grid (the phase resampled as the complex signal);
//! - [`phase`]: radar constants, sign convention, residues, FFTs, Goldstein filter;
//! - [`simulate`]: physically grounded simulated interferograms with labels and inventories;
//! - [`dataset`]: tiles, YOLO labels, split, anchors and manifest for training;
//! - [`tiling`]: tiles and boxes in pixel coordinates;
//! - [`model`]: the YOLOv3 graph, the model contract, ONNX writing and reading;
//! - [`engine`]: inference engines behind one trait (tract on the CPU);
//! - [`detect`]: tiling, decoding, merging across tiles, scene facts;
//! - `train` (feature `train`): the burn trainer, YOLOv3 loss, augmentation, checked export;
//! - [`evaluate`]: matching, AP (VOC all-point, COCO 101-point), P/R/F1, per-class table;
//! - [`overlay`]: detections against a landslide inventory (PROJ, rstar, geo);
//! - [`batch`]: many products into one GeoPackage layer with a `runs` table, resumable;
//! - [`persistence`]: detections of several interferograms clustered into persistent areas;
//! - [`vector`]: GeoPackage (transactional) and GeoJSON polygon layers;
//! - [`render`]: PNG previews (cyclic phase colours, class boxes);
//! - [`ffi`]: the C ABI (`include/fringewatch.h`) for the QGIS plugin and other hosts;
//! - [`progress`], [`error`]: progress/cancel and typed errors shared by CLI and C ABI.
//!
//! Dependencies point one way: [`raster`] (with [`phase`], [`tiling`]) → layers ([`terrain`],
//! [`sensitivity`], [`stack`], [`layers`]) → [`model`] (contract, classes, channel normalisation, head
//! decoding) → [`engine`] → [`detect`] → outputs ([`vector`], [`overlay`], [`persistence`],
//! [`evaluate`]); [`product`], [`batch`], [`simulate`], [`dataset`] and `train` above them;
//! [`ffi`] and the command line on top. `tests/layering.rs` fails when a module below
//! [`detect`] imports from above it.

pub mod batch;
pub mod dataset;
pub mod detect;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod ffi;
pub mod layers;
pub mod model;
pub mod overlay;
pub mod persistence;
pub mod phase;
pub mod product;
pub mod progress;
pub mod raster;
pub mod render;
pub mod sensitivity;
pub mod simulate;
pub mod stack;
pub mod terrain;
pub mod tiling;
#[cfg(feature = "train")]
pub mod train;
pub mod vector;

pub use error::{Error, Result};
