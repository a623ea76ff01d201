//! The method's layers end to end: from the raw inputs of one interferogram (phase, coherence,
//! DEM, incidence, heading) to ISL and PC1 on the phase grid, side by side, and the detector's
//! three-band stack (METHOD.md §1–§3). The commands `run` and `batch`, the C ABI and the
//! dataset builder start here; `terrain`, `sensitivity` and `stack` hold the steps.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::progress::{Progress, Stage};
use crate::raster::io::{require_north_up, RasterFile};
use crate::sensitivity::layer::{compute_isl, IslJob, IslRows, Look};
use crate::stack::{build_stack, LayersOnDemand, StackJob, StackSource};
use crate::terrain::pca::Pc1Rows;

/// Raw inputs of the whole layer chain on the phase grid.
#[derive(Debug, Clone)]
pub struct RawLayers {
    pub phase: PathBuf,
    pub coherence: PathBuf,
    pub dem: PathBuf,
    pub incidence: crate::sensitivity::layer::Incidence,
    /// Scene heading, degrees clockwise from north.
    pub heading_deg: f64,
}

/// ISL and PC1 (paper defaults) of `raw` on the phase grid, written as `isl.tif` and `pc1.tif`
/// in `dir`; returns their paths. ISL (light, in strips) runs beside PC1, whose flow routing is
/// partly sequential. [`layers_and_stack`] also writes the stack; detection without kept layers
/// needs neither file ([`layers_on_demand`]).
pub fn layers(raw: &RawLayers, dir: &Path, progress: &dyn Progress) -> Result<[PathBuf; 2]> {
    // both layers are made on the phase grid: memory and the two files' disk, checked before
    // anything is made
    let grid = RasterFile::open(&raw.phase)?.grid().clone();
    require_north_up(&grid, &raw.phase)?;
    let (width, height) = (grid.width, grid.height);
    check_layers_memory(raw, &grid)?;
    crate::raster::budget::check_disk(&dir.join("pc1.tif"), (width * height) as f64 * 8.0)?;
    std::fs::create_dir_all(dir).map_err(|source| Error::io(dir.to_path_buf(), source))?;
    let (isl, pc1) = (dir.join("isl.tif"), dir.join("pc1.tif"));
    let job = isl_job(raw, isl.clone());
    // ISL and PC1 run at the same time: one combined fraction, so progress never runs back.
    let layers = crate::progress::Concurrent::new(progress, 0.0, 1.0, &[1.0, 2.0]);
    let (isl_done, pc1_done) = rayon::join(
        || compute_isl(&job, &layers.part(0)),
        || {
            crate::terrain::layer::compute_pc1(
                &raw.dem,
                Some(&raw.phase),
                &pc1,
                &crate::terrain::pca::Pc1Settings::default(),
                &layers.part(1),
            )
        },
    );
    isl_done?;
    pc1_done?;
    Ok([isl, pc1])
}

/// Refuse layers on `grid` whose PC1 would not fit in memory even with tiled flow routing (the
/// least it can do), naming the phase.
fn check_layers_memory(raw: &RawLayers, grid: &crate::raster::Grid) -> Result<()> {
    let (width, height) = (grid.width, grid.height);
    let tile = crate::terrain::layer::routing_tile(width, height);
    let pc1_bytes = crate::terrain::layer::tiled_routing_bytes(width, height, tile);
    crate::raster::budget::check_memory(
        "ISL and PC1",
        &raw.phase,
        width,
        height,
        pc1_bytes / (width as f64 * height as f64).max(1.0),
    )
}

/// The stack of `raw` with ISL and PC1 made as detection reads its rows: nothing but unnamed
/// scratch files in `scratch` (the DEM on the phase grid, 4 bytes a cell; with tiled routing
/// also the TWI and the routing's), removed by the system when done, even after a kill. PC1's
/// flow routing and statistics, which need the whole DEM, are done here first; ISL and PC1's
/// rows then come with the same bits as [`layers`] writes ([`LayersOnDemand`]).
pub fn layers_on_demand(
    raw: &RawLayers,
    scratch: &Path,
    progress: &dyn Progress,
) -> Result<StackSource> {
    let phase = RasterFile::open(&raw.phase)?;
    let grid = phase.grid().clone();
    require_north_up(&grid, &raw.phase)?;
    let settings = crate::terrain::pca::Pc1Settings::default();
    check_layers_memory(raw, &grid)?;
    std::fs::create_dir_all(scratch).map_err(|source| Error::io(scratch.to_path_buf(), source))?;
    // whole-raster routing when it fits, else tiles (refused when even they do not fit), and
    // the scratch files' disk
    let routing = crate::terrain::layer::pc1_routing(&raw.dem, grid.width, grid.height, scratch)?;
    let isl = IslRows::open(&isl_job(raw, scratch.join("isl.tif")))?;
    let dem = crate::terrain::layer::dem_on_grid_in_strips(
        &RasterFile::open(&raw.dem)?,
        &grid,
        &raw.phase,
        Some(scratch),
        &Stage {
            parent: progress,
            start: 0.0,
            span: 0.1,
        },
    )?;
    let pc1 = Pc1Rows::prepare(
        dem,
        &grid.spacing(),
        &settings,
        &routing,
        &Stage {
            parent: progress,
            start: 0.1,
            span: 0.9,
        },
    )?;
    Ok(StackSource::OnDemand(Box::new(LayersOnDemand::new(
        phase, isl, pc1,
    )?)))
}

/// The ISL job of `raw` (the paper's coherence weight and gradient) on the phase grid.
fn isl_job(raw: &RawLayers, out: PathBuf) -> IslJob {
    IslJob {
        dem: raw.dem.clone(),
        coherence: raw.coherence.clone(),
        incidence: raw.incidence.clone(),
        look: Look::Heading(raw.heading_deg),
        like: Some(raw.phase.clone()),
        out,
        weight: crate::sensitivity::CoherenceWeight::default(),
        gradient: crate::terrain::GradientMethod::ZevenbergenThorne,
    }
}

/// ISL, PC1 ([`layers`]) and the stack of `raw`, written as `isl.tif`, `pc1.tif` and
/// `stack.tif` in `dir`; returns the stack path.
pub fn layers_and_stack(raw: &RawLayers, dir: &Path, progress: &dyn Progress) -> Result<PathBuf> {
    let stage = |start, span| Stage {
        parent: progress,
        start,
        span,
    };
    let [isl, pc1] = layers(raw, dir, &stage(0.0, 0.9))?;
    let stack = dir.join("stack.tif");
    build_stack(
        &StackJob {
            phase: raw.phase.clone(),
            isl,
            pc1,
            out: stack.clone(),
            uint16: false,
        },
        &stage(0.9, 0.1),
    )?;
    Ok(stack)
}
