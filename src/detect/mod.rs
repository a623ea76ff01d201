//! Detection on a stack: tiles (with overlap) → normalisation → engine batches → YOLOv3 decoding
//! → merging across tiles in raster pixels → boxes in the interferogram's CRS, written as a
//! GeoPackage (or GeoJSON) layer with the acquisition and model fields.
//!
//! Tile overlap default: 32 px (20 % of a 160 px tile, 480 m at 15 m). The median labelled box of
//! the default simulated set is about 30–40 px, so with 32 px of overlap most slides cut by one
//! tile are seen whole by the neighbour, and the merge step ([`merge()`]) only has to join the
//! two pieces of the large ones across one edge. It costs 56 % more tiles than the preprint's non-overlapping tiling (`--overlap 0`).

pub mod baseline;
pub mod decode;
pub mod job;
pub mod merge;
pub mod output;
pub mod scene_info;
pub mod suppress;

use std::path::Path;

use ndarray::{s, Array4};
use rayon::prelude::*;

use crate::engine::augmented::{Augmented, TestTimeAugmentation};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::phase_input::PhaseReference;
use crate::progress::{Progress, Stage};
use crate::raster::io::RasterFile;
use crate::raster::Grid;
use crate::stack::StackSource;
use crate::tiling::tile_origins;
pub use decode::Detection;
use merge::{merge, place, PlacedDetection};

/// Detection settings.
#[derive(Debug, Clone)]
pub struct DetectSettings {
    /// Least score (objectness × class probability) of a reported box.
    pub confidence: f32,
    /// IoU above which a box of the same class is suppressed.
    pub iou: f64,
    /// Tile overlap in pixels.
    pub overlap: usize,
    /// Tiles per engine call; engine calls run in parallel on the rayon pool. tract on the CPU
    /// is fastest at 1 (measured: 3.7 s for 361 tiles against 4.6 s at 8).
    pub batch: usize,
    /// Symmetries of each tile the network is averaged over (test-time augmentation,
    /// [`Augmented`]); each costs one more pass.
    pub augmentation: TestTimeAugmentation,
    /// The reference each tile's phase is seen in (default: each tile's circular mean, so that
    /// a constant offset of the interferogram's phase does not move the boxes).
    pub reference: PhaseReference,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            confidence: 0.5,
            iou: 0.45,
            overlap: 32,
            batch: 1,
            augmentation: TestTimeAugmentation::Off,
            reference: PhaseReference::default(),
        }
    }
}

impl DetectSettings {
    /// Refuses settings that would give meaningless output instead of an error: a confidence
    /// outside (0, 1) (0 reports every anchor of every tile, 1 nothing), an IoU outside (0, 1]
    /// (0 suppresses every overlapping box, even one touching by a corner), a batch of 0, an
    /// overlap of half the `tile` or more.
    ///
    /// ```
    /// use fringewatch::detect::DetectSettings;
    /// assert!(DetectSettings::default().validate(160).is_ok());
    /// let zero = DetectSettings { confidence: 0.0, ..DetectSettings::default() };
    /// assert!(zero.validate(160).unwrap_err().to_string().contains("confidence"));
    /// ```
    pub fn validate(&self, tile: usize) -> Result<()> {
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::parameter(
                "confidence",
                format!(
                    "{}: give a score in (0, 1), e.g. 0.2; 0 would report every anchor of every tile",
                    self.confidence
                ),
            ));
        }
        if !(self.iou > 0.0 && self.iou <= 1.0) {
            return Err(Error::parameter(
                "iou",
                format!("{}: give an IoU in (0, 1], e.g. 0.45", self.iou),
            ));
        }
        if self.batch == 0 {
            return Err(Error::parameter(
                "batch",
                "0 tiles per call: give 1 or more",
            ));
        }
        if self.overlap >= tile / 2 {
            return Err(Error::parameter(
                "overlap",
                format!(
                    "{} px: use less than half the tile ({} px)",
                    self.overlap,
                    tile / 2
                ),
            ));
        }
        Ok(())
    }
}

/// What a detection run found.
#[derive(Debug, Clone)]
pub struct DetectionRun {
    pub grid: Grid,
    pub detections: Vec<Detection>,
    pub tiles_run: usize,
    pub tiles_skipped: usize,
    /// What the stack says about the interferogram (dates, orbit…).
    pub scene: scene_info::SceneInfo,
}

/// A normalised tile waiting for the engine, with its origin in the raster.
struct QueuedTile {
    col0: usize,
    row0: usize,
    values: ndarray::Array3<f32>,
}

/// Normalise one tile in place: (x − mean)/std per channel, nodata → 0.
fn normalise(tile: &mut ndarray::ArrayViewMut3<f32>, means: &[f32; 3], stds: &[f32; 3]) {
    for c in 0..3 {
        tile.index_axis_mut(ndarray::Axis(0), c).mapv_inplace(|v| {
            if v.is_finite() {
                (v - means[c]) / stds[c]
            } else {
                0.0
            }
        });
    }
}

/// Run the detector on a 3-band stack file (phase, ISL, PC1); see [`detect_source`].
pub fn detect_stack(
    stack_path: &Path,
    engine: &dyn Engine,
    settings: &DetectSettings,
    progress: &dyn Progress,
) -> Result<DetectionRun> {
    let metadata = engine.metadata();
    settings.validate(metadata.tile)?;
    let stack = RasterFile::open(stack_path)?;
    crate::raster::io::require_north_up(stack.grid(), stack_path)?;
    if stack.band_count() != metadata.channels.len() {
        return Err(Error::bad_input(
            stack_path,
            format!(
                "{} band(s), but the model expects {} channels ({}); build the stack with `fringewatch stack`",
                stack.band_count(),
                metadata.channels.len(),
                metadata.channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if stack.band_count() == 3 {
        crate::stack::check_stack_bands(&stack)?;
    }
    detect_source(&StackSource::File(stack), engine, settings, progress)
}

/// Run the detector on the stack's three bands, from a stack file or straight from its layers.
/// Memory: one row of tiles plus at most `threads × batch` queued tiles.
pub fn detect_source(
    stack: &StackSource,
    engine: &dyn Engine,
    settings: &DetectSettings,
    progress: &dyn Progress,
) -> Result<DetectionRun> {
    let augmented = Augmented::new(engine, settings.augmentation);
    let engine: &dyn Engine = &augmented;
    let metadata = engine.metadata().clone();
    let tile = metadata.tile;
    settings.validate(tile)?;
    let grid = stack.grid().clone();
    let means = [0, 1, 2].map(|c| metadata.channels[c].mean as f32);
    let stds = [0, 1, 2].map(|c| metadata.channels[c].std as f32);
    let rows = tile_origins(grid.height, tile, settings.overlap);
    let cols = tile_origins(grid.width, tile, settings.overlap);
    let stage = Stage::whole(progress);
    let threads = rayon::current_num_threads().max(1);
    let chunk = settings.batch.max(1);
    // Decoded down to the merge's completion floor whatever the confidence, so the boxes above
    // the confidence do not depend on it (see `merge`).
    let decode_confidence = settings.confidence.min(merge::COMPLETION_FLOOR);
    let mut placed: Vec<PlacedDetection> = Vec::new();
    let (mut run, mut skipped) = (0, 0);
    // Tiles wait in a queue until every thread can take a full chunk, so the engine sees one
    // batch size (one compiled plan) except for the last chunk of the scene.
    let mut queue: Vec<QueuedTile> = Vec::new();
    let read_row = |row0: usize| stack.read_rows(row0, tile.min(grid.height - row0));
    let mut next = rows.first().map(|&row0| read_row(row0));
    for (i, &row0) in rows.iter().enumerate() {
        stage.step(i as f64 / rows.len() as f64, "detecting")?;
        let height = tile.min(grid.height - row0);
        let Some(bands) = next.take() else {
            break;
        };
        let bands = bands?;
        for &col0 in &cols {
            let width = tile.min(grid.width - col0);
            let mut t = ndarray::Array3::<f32>::from_elem((3, tile, tile), f32::NAN);
            for (c, band) in bands.iter().enumerate() {
                t.slice_mut(s![c, ..height, ..width])
                    .assign(&band.slice(s![.., col0..col0 + width]));
            }
            if t.index_axis(ndarray::Axis(0), 0)
                .iter()
                .all(|v| !v.is_finite())
            {
                skipped += 1;
                continue;
            }
            queue.push(QueuedTile {
                col0,
                row0,
                values: t,
            });
            run += 1;
        }
        let last = i + 1 == rows.len();
        let ready = if last {
            queue.len()
        } else {
            queue.len() / (chunk * threads) * chunk * threads
        };
        let batch: Vec<QueuedTile> = queue.drain(..ready).collect();
        let infer = || -> Vec<Result<Vec<PlacedDetection>>> {
            batch
                .par_chunks(chunk)
                .map(|group| {
                    let mut input = Array4::<f32>::zeros((group.len(), 3, tile, tile));
                    for (k, q) in group.iter().enumerate() {
                        let mut item = input.slice_mut(s![k, .., .., ..]);
                        item.assign(&q.values);
                        normalise(&mut item, &means, &stds);
                        settings.reference.apply(
                            item.index_axis_mut(ndarray::Axis(0), 0),
                            &metadata.channels[0],
                        );
                    }
                    let candidates = engine.candidates(input.view(), decode_confidence)?;
                    let mut found = Vec::new();
                    for (q, tile_candidates) in group.iter().zip(candidates) {
                        let tile_detections = decode::nms(tile_candidates, settings.iou);
                        found.extend(place(
                            &tile_detections,
                            q.col0,
                            q.row0,
                            tile,
                            (grid.width, grid.height),
                        ));
                    }
                    Ok(found)
                })
                .collect()
        };
        // The next row of tiles is read (GDAL, decompression: one thread) while the engine runs
        // this one's on the pool; the stack's GDAL handles stay on this thread.
        let results = std::thread::scope(|scope| {
            let inference = scope.spawn(infer);
            next = rows.get(i + 1).map(|&r| read_row(r));
            inference
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        for r in results {
            placed.extend(r?);
        }
    }
    stack.finish()?;
    // Boxes padded past the raster are clipped to it.
    let (w, h) = (grid.width as f64, grid.height as f64);
    let mut detections = merge(&placed, settings.overlap, settings.iou);
    detections.retain(|d| d.score >= settings.confidence);
    for d in &mut detections {
        d.bbox = [
            d.bbox[0].max(0.0),
            d.bbox[1].max(0.0),
            d.bbox[2].min(w),
            d.bbox[3].min(h),
        ];
    }
    detections.retain(|d| d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1]);
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    stage.step(1.0, "detected")?;
    Ok(DetectionRun {
        grid,
        detections,
        tiles_run: run,
        tiles_skipped: skipped,
        scene: scene_info::scene_info(stack.described_by()),
    })
}

/// The non-learning baseline ([`baseline::detect_fringes`]) on the phase band of a stack (or a
/// single-band phase raster), as a detection run (class index 0 for every box).
pub fn detect_baseline(
    stack_path: &Path,
    settings: &baseline::BaselineSettings,
) -> Result<DetectionRun> {
    let stack = RasterFile::open(stack_path)?;
    // the fringe indicator keeps up to 24 f64 planes of the scene (phasors, their box sums,
    // the six rate and consistency parts and theirs)
    let grid = stack.grid();
    crate::raster::budget::check_memory(
        "the baseline",
        stack_path,
        grid.width,
        grid.height,
        200.0,
    )?;
    let phase = stack.read_band(1)?;
    let detections = baseline::detect_fringes(phase.view(), settings);
    Ok(DetectionRun {
        grid: stack.grid().clone(),
        detections,
        tiles_run: 0,
        tiles_skipped: 0,
        scene: scene_info::scene_info(&stack),
    })
}
