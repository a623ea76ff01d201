//! Scoring a model on a dataset split straight from its tiles: every tile of the split goes
//! through the engine, boxes are decoded at a low confidence floor (so that the PR curve and AP
//! see the whole score range), suppressed per tile, and matched against the tile's labels.
//! Don't-care labels ([`super::TileLabel::dont_care`]) count as PASCAL VOC counts its
//! "difficult" objects ([`crate::evaluate::dont_care`]): not as truths to find, and a detection
//! whose best-overlapping label at the matching IoU is one of them is left out, neither true nor
//! false.

use std::path::Path;

use ndarray::{s, Array4};

use super::{read_manifest, read_tile};
use crate::detect::decode::nms;
use crate::detect::DetectSettings;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::evaluate::dont_care::without_dont_care;
use crate::evaluate::{evaluate, Evaluation, Prediction, Threshold, Truth};
use crate::model::phase_input::PhaseReference;
use crate::progress::Progress;

/// Which split of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    Test,
}

/// Least score a decoded box needs to enter the evaluation (the AP integrates over the rest).
pub const SCORE_FLOOR: f32 = 0.001;

/// How a split is scored: the reference each tile's phase is seen in, the IoU a box must reach
/// to match a label, the threshold P, R and F1 are reported at, and the IoU of the per-tile
/// suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitScoring {
    pub reference: PhaseReference,
    pub iou_threshold: f64,
    pub threshold: Threshold,
    pub nms_iou: f64,
}

impl Default for SplitScoring {
    /// As detection sees tiles by default (reference and suppression), matched at IoU 0.5 and
    /// reported at the best-F1 threshold.
    fn default() -> Self {
        SplitScoring {
            reference: PhaseReference::default(),
            iou_threshold: 0.5,
            threshold: Threshold::BestF1,
            nms_iou: DetectSettings::default().iou,
        }
    }
}

/// Score `engine` on `split` of the dataset at `dataset` as `scoring` says.
pub fn evaluate_split(
    dataset: &Path,
    split: Split,
    engine: &dyn Engine,
    scoring: &SplitScoring,
    progress: &dyn Progress,
) -> Result<Evaluation> {
    let SplitScoring {
        reference,
        iou_threshold,
        threshold,
        nms_iou,
    } = *scoring;
    let manifest = read_manifest(dataset)?;
    let metadata = engine.metadata();
    if manifest.tile != metadata.tile {
        return Err(Error::Incompatible {
            first: dataset.to_path_buf(),
            second: metadata.name.clone().into(),
            problem: format!(
                "tiles of {} px, the model takes {} px",
                manifest.tile, metadata.tile
            ),
        });
    }
    if manifest.classes != metadata.classes {
        return Err(Error::Incompatible {
            first: dataset.to_path_buf(),
            second: metadata.name.clone().into(),
            problem: format!(
                "dataset classes {:?}, model classes {:?}",
                manifest.classes, metadata.classes
            ),
        });
    }
    let entries = match split {
        Split::Train => &manifest.train,
        Split::Validation => &manifest.validation,
        Split::Test => &manifest.test,
    };
    let tile = manifest.tile;
    let stage = crate::progress::Stage::whole(progress);
    let mut predictions = Vec::new();
    let mut truths = Vec::new();
    let mut dont_care = Vec::new();
    for (k, chunk) in entries.chunks(8).enumerate() {
        let mut batch = Array4::<f32>::zeros((chunk.len(), 3, tile, tile));
        for (i, entry) in chunk.iter().enumerate() {
            let (values, labels) = read_tile(dataset, &entry.name, &metadata.channels, tile)?;
            batch.slice_mut(s![i, .., .., ..]).assign(&values);
            reference.apply(batch.slice_mut(s![i, 0, .., ..]), &metadata.channels[0]);
            truths.extend(labels.iter().map(|l| Truth {
                image: entry.name.clone(),
                class: l.class,
                bbox: l.bbox,
            }));
            dont_care.extend(labels.iter().map(|l| l.dont_care));
        }
        let candidates = engine.candidates(batch.view(), SCORE_FLOOR)?;
        for (entry, tile_candidates) in chunk.iter().zip(candidates) {
            for d in nms(tile_candidates, nms_iou) {
                predictions.push(Prediction {
                    image: entry.name.clone(),
                    class: d.class,
                    bbox: d.bbox,
                    score: f64::from(d.score),
                });
            }
        }
        stage.step(
            ((k + 1) * 8).min(entries.len()) as f64 / entries.len().max(1) as f64,
            "evaluating tiles",
        )?;
    }
    let (predictions, truths) = without_dont_care(predictions, truths, &dont_care, iou_threshold);
    Ok(evaluate(
        &predictions,
        &truths,
        &metadata.classes,
        iou_threshold,
        threshold,
    ))
}
