//! Training the YOLOv3 detector on a dataset built by [`crate::dataset`] (feature `train`, burn
//! 0.22 on its flex CPU backend; `train-gpu` adds burn's wgpu backend).
//!
//! - network: [`network::Yolov3Net`] mirrors [`crate::model::yolov3::build_graph`] conv for conv;
//! - loss: [`loss::yolo_loss`], the four terms of the paper's Figure 5;
//! - optimiser: Adam (β 0.9/0.999), linear warm-up then cosine decay of the learning rate to 5 %,
//!   early stopping on the validation loss with patience;
//! - augmentation: [`data::augment`] (flips, crops, per-channel scale and shift, the phase's
//!   reference and sign, and optionally another atmosphere);
//! - checkpoints in `MODEL.train/` (`last.bpk`, `best.bpk`, `optimizer.bpk`, `state.json`,
//!   `losses.csv`, `losses.png`), resumable; fine-tuning from an existing ONNX (`init`);
//! - export: batch-norm folded into the ONNX writer's graph, then tract's output on validation
//!   tiles is compared with the trainer's own forward pass (relative 1e-4) before the file is
//!   put in place.

pub mod data;
pub mod flex_ops;
pub mod im2col;
pub mod loss;
pub mod network;
pub mod norm_leaky;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::dataset::{read_manifest, read_tile_labels, Manifest, TileEntry};
use crate::engine::tract::TractEngine;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::contract::{self, Anchor, ModelMetadata, Provenance};
use crate::model::onnx::{read_conv_weights, read_model, to_onnx, write_onnx};
use crate::model::phase_input::{cos_sin_first_conv, PhaseInput, PhaseReference};
use crate::model::sha256_of;
use crate::model::widen::widen;
use crate::model::yolov3::{build_graph, Architecture, ConvWeights, Graph, Yolov3Config, STRIDES};
use crate::progress::{Progress, Stage};
use data::{augment, batch_of, read_sample, Augmentation, Sample};
use loss::{yolo_loss, LossSettings, LossTerms};
use network::{ChannelStatistics, Yolov3Net};

/// Where training runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainBackend {
    /// burn's flex backend on the CPU.
    Cpu,
    /// burn's wgpu backend (Vulkan, Metal, DX12); needs the `train-gpu` build.
    Gpu,
}

/// Settings of a training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSettings {
    pub architecture: Architecture,
    /// Channel multiplier in place of the architecture's (None: the architecture's). An `init`
    /// model narrower than this is widened ([`crate::model::widen`]; with its function kept
    /// when `widen_outgoing` is 0); a wider one is refused.
    #[serde(default)]
    pub width: Option<f64>,
    /// When a narrower `init` is widened: what its channels read from the new ones starts at
    /// this share of a fresh random draw ([`crate::model::widen::widen`]'s `outgoing`; 0 keeps
    /// its function exactly, more lets the new channels learn from the first step). Above 0
    /// only with an `init` narrower than `width`; refused otherwise.
    #[serde(default)]
    pub widen_outgoing: f64,
    pub epochs: usize,
    /// Stop when the validation loss has not improved for this many epochs.
    pub patience: usize,
    pub batch: usize,
    /// Peak learning rate (Adam).
    pub learning_rate: f64,
    /// Warm-up steps (linear from 0).
    pub warmup_steps: usize,
    /// Adam weight decay λ (L2: λθ added to the gradient), 0 for none. Adam's normalisation turns
    /// it into a step of up to the learning rate towards 0 for a weight the loss barely moves
    /// (Loshchilov & Hutter 2019), so when fine-tuning it also pulls on what the new data does
    /// not exercise. Kept with a run's state: a resumed run keeps its own.
    pub weight_decay: f64,
    pub augmentation: Augmentation,
    pub seed: u64,
    /// Start from this model's weights (fine-tuning).
    pub init: Option<PathBuf>,
    /// How the network reads the phase. `None`: as the `init` model does, else
    /// [`PhaseInput::CosSin`]. A scaled `init` fine-tuned with `CosSin` starts from
    /// [`cos_sin_first_conv`]. A run's state stores the resolved choice (absent in runs saved
    /// before it existed: scaled).
    #[serde(default)]
    pub phase_input: Option<PhaseInput>,
    /// Class-balanced sampling threshold t of repeat-factor sampling ([`data::repeat_factors`]):
    /// tiles holding a class found on fewer than this share of tiles are repeated; 0 = off.
    #[serde(default)]
    pub class_balance: f64,
    /// Train on random `crop`×`crop` windows of the augmented tiles (a multiple of 32, at least
    /// 64, at most the tile): (crop / tile)² of the FLOPs a step. The validation split is
    /// always scored on whole tiles. None: whole tiles (runs saved before it existed).
    #[serde(default)]
    pub crop: Option<usize>,
    /// The reference every tile's phase is seen in, after augmentation and for validation.
    /// [`PhaseReference::AsGiven`] by default: the augmentation's random reference offsets
    /// only, how the bundled model was trained; [`PhaseReference::TileMean`] trains in the
    /// reference detection sees tiles in, which lost on the held-out `outside` family (v13,
    /// model card). Runs saved before the choice existed read `AsGiven` and resume unchanged.
    #[serde(default = "PhaseReference::as_given")]
    pub phase_reference: PhaseReference,
    /// r of the objectness target at a responsible anchor, (1 − r) + r·IoU(its decoded box, the
    /// truth box) ([`loss`]; IoU-aware objectness, Wu et al. 2020), in [0, 1]: 0 is YOLOv3's
    /// target 1 (how every model up to v10 was trained); above 0 the score also ranks how well
    /// a box fits, which AP@0.5 counts. Runs saved before it existed read 0 and resume unchanged.
    #[serde(default)]
    pub objectness_iou: f64,
    /// g, the class term's weight in the loss minimised ([`loss::LossSettings::class_gain`],
    /// YOLOv5's `cls`): above 1 the step follows the class term more, for classes the network
    /// confuses although the stack tells them apart (models/README.md, v25). Runs saved before
    /// it existed read 1 and resume unchanged.
    #[serde(default = "unit_gain")]
    pub class_gain: f64,
    /// At most this many training batches per epoch (None: the whole training split).
    pub steps_per_epoch: Option<usize>,
    /// End the run after this epoch (and export), keeping the learning-rate schedule planned
    /// for `epochs`: a run cut where its held-out scores stop improving is reproducible.
    #[serde(default)]
    pub stop_after: Option<usize>,
    pub backend: TrainBackend,
    /// Name written into the model metadata.
    pub name: String,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            architecture: Architecture::Compact,
            width: None,
            widen_outgoing: 0.0,
            epochs: 100,
            patience: 30,
            batch: 16,
            learning_rate: 2e-3,
            warmup_steps: 300,
            weight_decay: 5e-4,
            augmentation: Augmentation::default(),
            seed: 0,
            init: None,
            phase_input: None,
            class_balance: 0.0,
            crop: None,
            phase_reference: PhaseReference::AsGiven,
            objectness_iou: 0.0,
            class_gain: 1.0,
            steps_per_epoch: None,
            stop_after: None,
            backend: TrainBackend::Cpu,
            name: "fringewatch".into(),
        }
    }
}

/// Losses of one epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train: LossTerms,
    pub validation: LossTerms,
    pub learning_rate: f64,
    pub seconds: f64,
}

/// State kept in the checkpoint directory to resume a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    pub settings: TrainSettings,
    pub dataset: PathBuf,
    /// What the provenance will name the initial model and the dataset by, taken when the run
    /// started (absent in runs saved before it existed: taken when they resume).
    #[serde(default)]
    pub sources: Option<Sources>,
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub best_validation: f64,
    pub step: usize,
}

/// The initial model and the dataset as a trained model's provenance names them: by their names
/// and the first 16 hex digits of their files' SHA-256, not by where they lay on the trainer's
/// disk (a model is shared, and a path names folders that mean nothing elsewhere and may say
/// more than its owner wants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sources {
    /// "NAME (FILE, sha256 HEX16)" of the `init` model, when fine-tuning.
    pub init: Option<String>,
    /// "FOLDER (dataset.json, sha256 HEX16)".
    pub dataset: String,
}

impl Sources {
    fn of(settings: &TrainSettings, dataset: &Path) -> Result<Sources> {
        let init = match &settings.init {
            Some(init) => Some(format!(
                "{} ({})",
                read_model(init)?.1.name,
                file_identity(init)?
            )),
            None => None,
        };
        let folder = dataset
            .canonicalize()
            .ok()
            .as_deref()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dataset".into());
        Ok(Sources {
            init,
            dataset: format!(
                "{folder} ({})",
                file_identity(&dataset.join("dataset.json"))?
            ),
        })
    }
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub export_max_relative_error: f64,
    pub metadata: ModelMetadata,
    pub checkpoint_dir: PathBuf,
}

/// Checkpoint directory of a model path: `MODEL.train/` beside it.
pub fn checkpoint_dir(model: &Path) -> PathBuf {
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    model.with_file_name(format!("{name}.train"))
}

fn device_of(backend: TrainBackend) -> Result<Device> {
    match backend {
        TrainBackend::Cpu => Ok(Device::flex()),
        #[cfg(feature = "train-gpu")]
        TrainBackend::Gpu => Ok(Device::wgpu(Default::default())),
        #[cfg(not(feature = "train-gpu"))]
        TrainBackend::Gpu => Err(Error::parameter(
            "backend",
            "this build trains on the CPU only; GPU training needs a build with the cargo feature train-gpu",
        )),
    }
}

/// Learning rate at `step`: linear warm-up, then cosine from the peak to 5 % of it.
pub fn learning_rate(settings: &TrainSettings, step: usize, total_steps: usize) -> f64 {
    let peak = settings.learning_rate;
    if step < settings.warmup_steps {
        return peak * (step + 1) as f64 / settings.warmup_steps as f64;
    }
    let span = total_steps.saturating_sub(settings.warmup_steps).max(1) as f64;
    let t = ((step - settings.warmup_steps) as f64 / span).min(1.0);
    let floor = 0.05 * peak;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// Anchors of the manifest with the strides of their heads.
fn anchors_of(manifest: &Manifest) -> Result<Vec<Anchor>> {
    if manifest.anchors.len() != 9 {
        return Err(Error::parameter(
            "dataset",
            format!(
                "{} anchors in the manifest; YOLOv3 needs 9",
                manifest.anchors.len()
            ),
        ));
    }
    Ok(manifest
        .anchors
        .iter()
        .enumerate()
        .map(|(i, &(width, height))| Anchor {
            width,
            height,
            stride: STRIDES[i / 3],
        })
        .collect())
}

/// Training tiles whose conv outputs set a fine-tuning start's batch-norm statistics
/// ([`Yolov3Net::calibrate_batch_norm`]).
const CALIBRATION_TILES: usize = 64;

/// Everything a training run needs, loaded once.
struct Run<'a> {
    dataset: &'a Path,
    manifest: Manifest,
    graph: Graph,
    anchors: Vec<Anchor>,
    classes: usize,
    phase_reference: PhaseReference,
    /// The objectness target and class gain ([`TrainSettings::objectness_iou`],
    /// [`TrainSettings::class_gain`]).
    loss: LossSettings,
}

impl Run<'_> {
    /// The tiles as detection sees them: normalised, the phase in the run's reference.
    fn samples(&self, entries: &[TileEntry]) -> Result<Vec<Sample>> {
        entries
            .iter()
            .map(|e| {
                let mut sample = read_sample(
                    self.dataset,
                    &e.name,
                    &self.manifest.channels,
                    self.manifest.tile,
                )?;
                self.reference(&mut sample);
                Ok(sample)
            })
            .collect()
    }

    /// Put a sample's phase in the run's reference.
    fn reference(&self, sample: &mut Sample) {
        self.phase_reference.apply(
            sample.tile.index_axis_mut(ndarray::Axis(0), 0),
            &self.manifest.channels[0],
        );
    }

    fn input(&self, samples: &[Sample], device: &Device) -> Tensor<4> {
        let batch = batch_of(samples);
        let shape = batch.dim();
        let (values, _) = batch.into_raw_vec_and_offset();
        Tensor::from_data(
            TensorData::new(values, [shape.0, shape.1, shape.2, shape.3]),
            device,
        )
    }

    /// Repeat factors of the training tiles for class-balanced sampling (all 1 when off).
    fn repeat_factors(&self, threshold: f64) -> Result<Vec<f64>> {
        let train = &self.manifest.train;
        if threshold <= 0.0 {
            return Ok(vec![1.0; train.len()]);
        }
        let tile_classes = train
            .iter()
            .map(|e| {
                let labels = read_tile_labels(self.dataset, &e.name, self.manifest.tile)?;
                let found = labels.iter().filter(|l| !l.dont_care);
                Ok(found.map(|l| l.class).collect())
            })
            .collect::<Result<Vec<Vec<usize>>>>()?;
        Ok(data::repeat_factors(&tile_classes, self.classes, threshold))
    }

    /// [`Yolov3Net::conv_output_statistics`] of `net` in inference mode on up to
    /// [`CALIBRATION_TILES`] training tiles spread evenly over the split (no augmentation), in
    /// batches of `batch`.
    fn conv_output_statistics(
        &self,
        net: &Yolov3Net,
        device: &Device,
        batch: usize,
    ) -> Result<Vec<Option<ChannelStatistics>>> {
        let train = &self.manifest.train;
        let step = train.len().div_ceil(CALIBRATION_TILES).max(1);
        let tiles: Vec<TileEntry> = train.iter().step_by(step).cloned().collect();
        let inner = device.clone().inner();
        let batches = tiles
            .chunks(batch.max(1))
            .map(|chunk| Ok(self.input(&self.samples(chunk)?, &inner)));
        net.valid().conv_output_statistics(&self.graph, batches)
    }

    /// Mean loss terms of the validation split (inference mode, no augmentation).
    fn validation_loss(&self, net: &Yolov3Net, device: &Device, batch: usize) -> Result<LossTerms> {
        let mut sum = LossTerms::default();
        let mut count = 0usize;
        for chunk in self.manifest.validation.chunks(batch.max(1)) {
            let samples = self.samples(chunk)?;
            let labels: Vec<_> = samples.iter().map(|s| s.labels.clone()).collect();
            let heads = net.forward(&self.graph, self.input(&samples, device));
            let (_, terms) = yolo_loss(
                &heads,
                &labels,
                &self.anchors,
                self.classes,
                self.manifest.tile,
                self.loss,
            );
            sum.add(&terms, chunk.len() as f64);
            count += chunk.len();
        }
        let mut mean = LossTerms::default();
        mean.add(&sum, 1.0 / count.max(1) as f64);
        Ok(mean)
    }
}

/// Fine-tuning keeps what the initial model's weights were trained for: its anchors (the heads'
/// box sizes) and its channel normalisation, in place of the dataset's k-means anchors and
/// statistics. Its classes and tile side must be the dataset's.
fn adopt_model_inputs(run: &mut Run<'_>, init: &Path) -> Result<()> {
    let (_, model) = read_model(init)?;
    if model.classes != run.manifest.classes || model.tile != run.manifest.tile {
        return Err(Error::bad_input(
            init,
            format!(
                "the model detects {:?} on {} px tiles, the dataset labels {:?} on {} px tiles: \
                 fine-tune on a dataset with the model's classes and tile size",
                model.classes, model.tile, run.manifest.classes, run.manifest.tile
            ),
        ));
    }
    run.anchors = model.anchors;
    run.manifest.channels = model.channels;
    Ok(())
}

/// The (folded) weights of `init` for `graph`: read as they are; for a scaled-phase model and a
/// cos/sin graph, with the first conv carried over by [`cos_sin_first_conv`]; for a narrower
/// model, then widened ([`widen`], new channels drawn from `seed`, `outgoing` of a draw read
/// from them).
fn init_weights(init: &Path, graph: &Graph, seed: u64, outgoing: f64) -> Result<Vec<ConvWeights>> {
    let (_, model) = read_model(init)?;
    if model.width > graph.config.width {
        return Err(Error::bad_input(
            init,
            format!(
                "a model of width {} cannot start a run of width {}: train at width {} or more",
                model.width, graph.config.width, model.width
            ),
        ));
    }
    // the run's graph at the model's width
    let own = build_graph(graph.config.with_width(model.width));
    let weights = match (model.phase_input, own.config.phase_input) {
        (from, to) if from == to => read_conv_weights(init, &own)?,
        (PhaseInput::Scaled, PhaseInput::CosSin) => {
            let scaled = build_graph(own.config.with_phase_input(PhaseInput::Scaled));
            let mut weights = read_conv_weights(init, &scaled)?;
            let first = scaled.convs().next().map_or(0, |c| c.out_channels);
            weights[0] = cos_sin_first_conv(&weights[0], first, model.channels[0].std);
            weights
        }
        (from, to) => return Err(Error::bad_input(
            init,
            format!("a model with the {from:?} phase input cannot start a run with the {to:?} input; train from scratch or keep {from:?}"),
        )),
    };
    if outgoing > 0.0 && model.width >= graph.config.width {
        return Err(Error::parameter(
            "widen-outgoing",
            format!(
                "applies only when the initial model is narrower than the run: both are width {}",
                model.width
            ),
        ));
    }
    if model.width < graph.config.width {
        widen(&own, graph, &weights, seed, outgoing as f32)
            .map_err(|e| Error::bad_input(init, format!("cannot be widened: {e}")))
    } else {
        Ok(weights)
    }
}

/// Train on `dataset` and export the best epoch's weights to `out` (ONNX). With `resume`, continue
/// the run whose checkpoints are in `MODEL.train/`. One run at a time in a process: two runs side
/// by side change each other's losses through state burn keeps per process (its generator among
/// it), so a host that trains twice runs them one after the other.
pub fn train(
    dataset: &Path,
    out: &Path,
    settings: &TrainSettings,
    resume: bool,
    progress: &dyn Progress,
) -> Result<TrainReport> {
    crate::raster::io::check_output_path(out)?;
    check_settings(settings)?;
    let manifest = read_splits(dataset)?;
    let ckpt = checkpoint_dir(out);
    let state_path = ckpt.join("state.json");
    let mut state = if resume {
        let text = std::fs::read_to_string(&state_path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => Error::bad_input(
                &ckpt,
                "nothing to resume: no state.json (start without `resume`)",
            ),
            _ => Error::io(&state_path, source),
        })?;
        let mut state: TrainState = serde_json::from_str(&text)
            .map_err(|e| Error::bad_input(&state_path, format!("unreadable: {e}")))?;
        state.settings.epochs = settings.epochs;
        state.settings.patience = settings.patience;
        state.settings.stop_after = settings.stop_after;
        state.settings.phase_input = Some(state.settings.phase_input.unwrap_or_default());
        state
    } else {
        new_state(settings, dataset)?
    };
    // taken when a run starts and kept with its state (runs saved before: when they resume)
    let sources = match &state.sources {
        Some(sources) => sources.clone(),
        None => Sources::of(&state.settings, dataset)?,
    };
    state.sources = Some(sources.clone());
    let run = prepare_run(dataset, manifest, &state.settings)?;
    let device = device_of(state.settings.backend)?.autodiff();
    // Seed burn's generator too: the initial weights follow from `seed`.
    device.seed(state.settings.seed);
    let resume_from = resume.then_some(ckpt.as_path());
    let (net, optimizer) = start_network(&run, &state.settings, resume_from, &device)?;
    // made once the start is known to be good: a refused start leaves no folder behind
    std::fs::create_dir_all(&ckpt).map_err(|source| Error::io(&ckpt, source))?;
    let stopped_early = train_epochs(&run, &mut state, &ckpt, net, optimizer, &device, progress)?;
    let best = Yolov3Net::new(&run.graph, &device.clone().inner())
        .try_load_file(ckpt.join("best.bpk"))
        .map_err(|e| Error::bad_input(ckpt.join("best.bpk"), format!("{e:?}")))?;
    let metadata = trained_metadata(&run, &state, sources);
    let error = export_checked(&run, &best, &metadata, out, &device.clone().inner())?;
    Ok(TrainReport {
        history: state.history,
        best_epoch: state.best_epoch,
        stopped_early,
        export_max_relative_error: error,
        metadata,
        checkpoint_dir: ckpt,
    })
}

/// Refuse settings out of range: batch and epochs of at least 1, a learning rate in (0, 1), a
/// crop of a tile size the network takes, a class-balance share, an objectness IoU share and a
/// weather probability in [0, 1], a finite weather RMS ≥ 0, a finite weight decay ≥ 0 and a
/// finite class gain > 0.
fn check_settings(settings: &TrainSettings) -> Result<()> {
    if settings.batch == 0 || settings.epochs == 0 {
        return Err(Error::parameter("batch/epochs", "must be at least 1"));
    }
    if !(settings.learning_rate > 0.0 && settings.learning_rate < 1.0) {
        return Err(Error::parameter("lr", "must lie in (0, 1)"));
    }
    if let Some(crop) = settings.crop {
        crate::model::yolov3::check_tile_size("crop", crop)?;
    }
    if let Some(width) = settings.width {
        if !(width > 0.0 && width <= 1.0) {
            return Err(Error::parameter(
                "width",
                "is a channel multiplier in (0, 1] (0.25: the compact network, 1: Darknet-53's)",
            ));
        }
    }
    share(
        settings.widen_outgoing,
        "widen-outgoing",
        "is a share of a fresh random draw in [0, 1] (0 keeps the widened model's function)",
    )?;
    if settings.widen_outgoing > 0.0 && (settings.init.is_none() || settings.width.is_none()) {
        return Err(Error::parameter(
            "widen-outgoing",
            "applies only when an initial model is widened (an init model and a width)",
        ));
    }
    share(
        settings.class_balance,
        "class-balance",
        "is a share of tiles in [0, 1] (0 = off; 0.3 repeats tiles of classes rarer than 30 %)",
    )?;
    share(
        settings.objectness_iou,
        "objectness-iou",
        "is the share of the objectness target taken from the box's IoU, in [0, 1] (0 = YOLOv3's)",
    )?;
    non_negative(
        settings.weight_decay,
        "weight-decay",
        "is Adam's L2 coefficient, finite and ≥ 0 (0 = none)",
    )?;
    if !(settings.class_gain.is_finite() && settings.class_gain > 0.0) {
        return Err(Error::parameter(
            "class-gain",
            "is the class term's weight in the loss, finite and > 0 (1 = YOLOv3's sum)",
        ));
    }
    let augmentation = &settings.augmentation;
    share(
        augmentation.weather_probability,
        "weather",
        "is the share of training tiles given another atmosphere, in [0, 1] (0 = off)",
    )?;
    non_negative(
        augmentation.weather_rms_rad,
        "weather-rms",
        "is the largest RMS of the added atmosphere in radians, finite and ≥ 0",
    )
}

/// `value` in [0, 1], else the parameter error `what`.
fn share(value: f64, name: &str, what: &str) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::parameter(name, what))
    }
}

/// `value` finite and ≥ 0, else the parameter error `what`.
fn non_negative(value: f64, name: &str, what: &str) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::parameter(name, what))
    }
}

/// The class gain of runs saved before it existed: YOLOv3's sum.
fn unit_gain() -> f64 {
    1.0
}

/// The dataset's manifest, once both the training and the validation split have tiles.
fn read_splits(dataset: &Path) -> Result<Manifest> {
    let manifest = read_manifest(dataset)?;
    if manifest.train.is_empty() || manifest.validation.is_empty() {
        return Err(Error::bad_input(
            dataset,
            format!(
                "{} training and {} validation tiles: both splits need tiles; add scenes",
                manifest.train.len(),
                manifest.validation.len()
            ),
        ));
    }
    Ok(manifest)
}

/// The state of a new run: the settings with the phase input decided (the one given, else the
/// initial model's, else cos/sin), no history yet.
fn new_state(settings: &TrainSettings, dataset: &Path) -> Result<TrainState> {
    let mut settings = settings.clone();
    settings.phase_input = Some(match (settings.phase_input, &settings.init) {
        (Some(p), _) => p,
        (None, Some(init)) => read_model(init)?.1.phase_input,
        (None, None) => PhaseInput::CosSin,
    });
    Ok(TrainState {
        sources: None,
        settings,
        dataset: dataset.to_path_buf(),
        history: Vec::new(),
        best_epoch: 0,
        best_validation: f64::INFINITY,
        step: 0,
    })
}

/// The run: the graph of the settings' architecture and phase input, the manifest's anchors and
/// normalisation (the initial model's when fine-tuning; no phase scaling for a cos/sin input).
fn prepare_run<'a>(
    dataset: &'a Path,
    manifest: Manifest,
    settings: &TrainSettings,
) -> Result<Run<'a>> {
    let classes = manifest.classes.len();
    let phase_input = settings.phase_input.unwrap_or_default();
    let mut config = Yolov3Config::of(settings.architecture, classes).with_phase_input(phase_input);
    if let Some(width) = settings.width {
        config = config.with_width(width);
    }
    let graph = build_graph(config);
    let mut run = Run {
        dataset,
        anchors: anchors_of(&manifest)?,
        graph,
        classes,
        manifest,
        phase_reference: settings.phase_reference,
        loss: LossSettings {
            objectness_iou: settings.objectness_iou,
            class_gain: settings.class_gain,
        },
    };
    if let Some(init) = &settings.init {
        adopt_model_inputs(&mut run, init)?;
    }
    if phase_input == PhaseInput::CosSin {
        // the graph maps radians to (cos, sin): no scaling of the phase
        run.manifest.channels[0].mean = 0.0;
        run.manifest.channels[0].std = 1.0;
    }
    Ok(run)
}

/// The network and its Adam optimiser at the start: weights from the initial model when
/// fine-tuning, else drawn; with `resume_from` (the checkpoint folder) both as the last
/// checkpoint left them.
fn start_network(
    run: &Run,
    settings: &TrainSettings,
    resume_from: Option<&Path>,
    device: &Device,
) -> Result<(Yolov3Net, ModuleOptimizer)> {
    let mut net = match &settings.init {
        Some(init) => {
            let weights = init_weights(init, &run.graph, settings.seed, settings.widen_outgoing)?;
            let mut net = Yolov3Net::from_weights(&run.graph, &weights, device)?;
            if resume_from.is_none() {
                let statistics = run.conv_output_statistics(&net, device, settings.batch)?;
                net.calibrate_batch_norm(&statistics, device)?;
            }
            net
        }
        None => Yolov3Net::new(&run.graph, device),
    };
    let weight_decay = settings.weight_decay;
    let mut optimizer = AdamConfig::new()
        .with_weight_decay(
            (weight_decay > 0.0)
                .then(|| burn::optim::decay::WeightDecayConfig::new(weight_decay as f32)),
        )
        .init();
    if let Some(ckpt) = resume_from {
        net = net
            .try_load_file(ckpt.join("last.bpk"))
            .map_err(|e| Error::bad_input(ckpt.join("last.bpk"), format!("{e:?}")))?;
        let record = OptimizerRecord::load(ckpt.join("optimizer.bpk"))
            .map_err(|e| Error::bad_input(ckpt.join("optimizer.bpk"), format!("{e:?}")))?;
        optimizer = optimizer.load_record(record);
    }
    Ok((net, optimizer))
}

/// Train the epochs not yet in the history (up to `stop_after`): after each, the validation loss,
/// `best.bpk` when it improved and a checkpoint. True when the validation loss stopped improving
/// for `patience` epochs.
fn train_epochs(
    run: &Run,
    state: &mut TrainState,
    ckpt: &Path,
    mut net: Yolov3Net,
    mut optimizer: ModuleOptimizer,
    device: &Device,
    progress: &dyn Progress,
) -> Result<bool> {
    let settings = state.settings.clone();
    let steps_per_epoch = run
        .manifest
        .train
        .len()
        .div_ceil(settings.batch)
        .min(settings.steps_per_epoch.unwrap_or(usize::MAX));
    let epochs = Epochs {
        run,
        total_steps: steps_per_epoch * settings.epochs,
        steps_per_epoch,
        factors: run.repeat_factors(settings.class_balance)?,
        device,
        stage: Stage::whole(progress),
        settings: settings.clone(),
    };
    let first_epoch = state.history.len();
    let last_epoch = settings
        .stop_after
        .map_or(settings.epochs, |n| n.min(settings.epochs));
    for epoch in first_epoch..last_epoch {
        let started = Instant::now();
        let (trained, train_mean, lr) =
            epochs.train_epoch(epoch, net, &mut optimizer, &mut state.step)?;
        net = trained;
        let validation =
            run.validation_loss(&net.valid(), &device.clone().inner(), settings.batch)?;
        state.history.push(EpochRecord {
            epoch: epoch + 1,
            train: train_mean,
            validation,
            learning_rate: lr,
            seconds: started.elapsed().as_secs_f64(),
        });
        if validation.total() < state.best_validation {
            state.best_validation = validation.total();
            state.best_epoch = epoch + 1;
            net.clone()
                .save_file(ckpt.join("best.bpk"))
                .map_err(|e| Error::Output {
                    path: ckpt.join("best.bpk"),
                    problem: format!("{e:?}"),
                })?;
        }
        save_checkpoint(ckpt, &net, &optimizer, state)?;
        if epoch + 1 - state.best_epoch >= settings.patience {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What every epoch of a run shares: the data, the settings, the step schedule, the device and
/// the progress of the whole run.
struct Epochs<'a> {
    run: &'a Run<'a>,
    settings: TrainSettings,
    steps_per_epoch: usize,
    total_steps: usize,
    /// Repeat factors of the training tiles (class-balanced sampling).
    factors: Vec<f64>,
    device: &'a Device,
    stage: Stage<'a>,
}

impl Epochs<'_> {
    /// One epoch: the training tiles in the epoch's seeded order, one optimiser step per batch;
    /// `step` counts the run's steps (the learning-rate schedule). Returns the network, the mean
    /// training loss terms and the last learning rate.
    fn train_epoch(
        &self,
        epoch: usize,
        mut net: Yolov3Net,
        optimizer: &mut ModuleOptimizer,
        step: &mut usize,
    ) -> Result<(Yolov3Net, LossTerms, f64)> {
        let (run, settings) = (self.run, &self.settings);
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(epoch as u64));
        let order = data::epoch_order(&run.manifest.train, &self.factors, &mut rng);
        let mut sum = LossTerms::default();
        let mut seen = 0usize;
        let mut lr = 0.0;
        for (k, chunk) in order
            .chunks(settings.batch)
            .take(self.steps_per_epoch)
            .enumerate()
        {
            let samples = self.augmented(chunk, &mut rng)?;
            let labels: Vec<_> = samples.iter().map(|s| s.labels.clone()).collect();
            let heads = net.forward(&run.graph, run.input(&samples, self.device));
            let (loss, terms) = yolo_loss(
                &heads,
                &labels,
                &run.anchors,
                run.classes,
                run.manifest.tile,
                run.loss,
            );
            if !terms.total().is_finite() {
                return Err(Error::parameter(
                    "lr",
                    format!(
                        "the loss diverged at epoch {} step {k}: lower the learning rate",
                        epoch + 1
                    ),
                ));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            lr = learning_rate(settings, *step, self.total_steps);
            net = optimizer.step(lr, net, grads);
            *step += 1;
            sum.add(&terms, chunk.len() as f64);
            seen += chunk.len();
            self.report(epoch, k, terms.total())?;
        }
        let mut train_mean = LossTerms::default();
        train_mean.add(&sum, 1.0 / seen.max(1) as f64);
        Ok((net, train_mean, lr))
    }

    /// The samples of one batch, augmented, then cropped at a random place when the run trains
    /// on crops smaller than the tiles.
    fn augmented(&self, chunk: &[TileEntry], rng: &mut ChaCha8Rng) -> Result<Vec<Sample>> {
        let (run, settings) = (self.run, &self.settings);
        let mut samples = run.samples(chunk)?;
        for s in &mut samples {
            augment(s, &settings.augmentation, &run.manifest.channels[0], rng);
            if let Some(size) = settings.crop.filter(|&c| c < run.manifest.tile) {
                let room = run.manifest.tile - size;
                let (x0, y0) = (rng.random_range(0..=room), rng.random_range(0..=room));
                data::crop_tile(s, x0, y0, size, settings.augmentation.min_visible_fraction);
            }
            run.reference(s);
        }
        Ok(samples)
    }

    /// Report step `k` of epoch `epoch` (both from 0) with its loss.
    fn report(&self, epoch: usize, k: usize, loss: f64) -> Result<()> {
        let settings = &self.settings;
        self.stage.step(
            (epoch as f64 + (k + 1) as f64 / self.steps_per_epoch as f64) / settings.epochs as f64,
            &format!(
                "epoch {}/{} step {}/{} loss {:.3}",
                epoch + 1,
                settings.epochs,
                k + 1,
                self.steps_per_epoch,
                loss
            ),
        )
    }
}

/// The exported model's metadata: the run's classes, anchors, normalisation, tile and
/// architecture, and where the weights came from ([`Sources`]).
fn trained_metadata(run: &Run, state: &TrainState, sources: Sources) -> ModelMetadata {
    let settings = &state.settings;
    let widened = match settings.width {
        Some(width) if settings.widen_outgoing > 0.0 => format!(
            " at width {width} (weights out of its new channels started at {} of a fresh draw)",
            settings.widen_outgoing
        ),
        Some(width) => format!(" at width {width}"),
        None => String::new(),
    };
    let init = sources
        .init
        .map(|init| format!(", fine-tuned from {init}{widened}"))
        .unwrap_or_default();
    ModelMetadata {
        format_version: contract::FORMAT_VERSION,
        name: settings.name.clone(),
        classes: run.manifest.classes.clone(),
        anchors: run.anchors.clone(),
        channels: run.manifest.channels.clone(),
        tile: run.manifest.tile,
        width: run.graph.config.width,
        depth: run.graph.config.depth,
        phase_input: run.graph.config.phase_input,
        provenance: Provenance {
            trained: true,
            source: format!(
                "fringewatch {} train, best of {} epochs (epoch {}), seed {}, phase {}{}",
                env!("CARGO_PKG_VERSION"),
                state.history.len(),
                state.best_epoch,
                settings.seed,
                match settings.phase_reference {
                    PhaseReference::AsGiven => "as given (random reference offsets)",
                    PhaseReference::TileMean => "referenced to each tile's circular mean",
                },
                init
            ),
            dataset: Some(sources.dataset),
            epochs: Some(state.history.len()),
            created: chrono::Utc::now().to_rfc3339(),
            note: "trained on simulated interferograms unless the dataset says otherwise; see the model card".into(),
        },
        recommended_confidence: None,
    }
}

/// A file as the provenance names it: its name and the first 16 hex digits of its SHA-256
/// (`sha256sum FILE` gives the whole digest to compare).
fn file_identity(path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!("{name}, sha256 {}", &sha256_of(path)?[..16]))
}

fn save_checkpoint(
    ckpt: &Path,
    net: &Yolov3Net,
    optimizer: &ModuleOptimizer,
    state: &TrainState,
) -> Result<()> {
    let failed = |path: PathBuf| {
        move |e: burn::store::RecordError| Error::Output {
            path,
            problem: format!("{e:?}"),
        }
    };
    net.clone()
        .save_file(ckpt.join("last.bpk"))
        .map_err(failed(ckpt.join("last.bpk")))?;
    optimizer
        .to_record()
        .save(ckpt.join("optimizer.bpk"))
        .map_err(failed(ckpt.join("optimizer.bpk")))?;
    let json = serde_json::to_string_pretty(state)
        .map_err(|e| Error::parameter("state", e.to_string()))?;
    let path = ckpt.join("state.json");
    std::fs::write(&path, json).map_err(|source| Error::io(&path, source))?;
    write_history(ckpt, &state.history)
}

/// `losses.csv` (one row per epoch, training and validation terms) and `losses.png` (panels box,
/// objectness, no-object, class, total; training blue, validation orange).
pub fn write_history(dir: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut csv = String::from(
        "epoch,train_box,train_objectness,train_no_object,train_class,train_total,\
val_box,val_objectness,val_no_object,val_class,val_total,learning_rate,seconds\n",
    );
    for r in history {
        let t = &r.train;
        let v = &r.validation;
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.3e},{:.1}\n",
            r.epoch,
            t.box_loss,
            t.objectness,
            t.no_object,
            t.class,
            t.total(),
            v.box_loss,
            v.objectness,
            v.no_object,
            v.class,
            v.total(),
            r.learning_rate,
            r.seconds
        ));
    }
    let path = dir.join("losses.csv");
    std::fs::write(&path, csv).map_err(|source| Error::io(&path, source))?;
    let term = |title: &str, f: fn(&LossTerms) -> f64| crate::render::Panel {
        title: title.to_string(),
        x_label: "epoch".into(),
        series: vec![
            crate::render::Series {
                name: "training".into(),
                values: history.iter().map(|r| f(&r.train)).collect(),
                colour: [31, 119, 180],
            },
            crate::render::Series {
                name: "validation".into(),
                values: history.iter().map(|r| f(&r.validation)).collect(),
                colour: [255, 127, 14],
            },
        ],
    };
    let panels = vec![
        term("box loss", |t| t.box_loss),
        term("objectness loss", |t| t.objectness),
        term("no-object loss", |t| t.no_object),
        term("class loss", |t| t.class),
        term("total loss", |t| t.total()),
    ];
    let png = dir.join("losses.png");
    let _ = std::fs::remove_file(&png);
    crate::render::render_panels(&panels, 3, &png)
}

/// Export `net` to `out` through the ONNX writer (batch-norm folded) after checking that tract's
/// raw heads on up to four validation tiles equal the trainer's (relative error ≤ 1e-4); the
/// metadata gets the best-F1 confidence on the validation split as the recommended threshold.
/// Returns the largest relative error.
fn export_checked(
    run: &Run,
    net: &Yolov3Net,
    metadata: &ModelMetadata,
    out: &Path,
    device: &Device,
) -> Result<f64> {
    let weights = net.conv_weights()?;
    let proto = to_onnx(&run.graph, &weights, metadata)?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let candidate = out.with_file_name(format!(".{name}.check-{}.onnx", std::process::id()));
    write_onnx(&proto, &candidate)?;
    let outcome = (|| -> Result<f64> {
        let check: Vec<TileEntry> = run.manifest.validation.iter().take(4).cloned().collect();
        let samples = run.samples(&check)?;
        let engine = TractEngine::load(&candidate, samples.len())?;
        let batch = batch_of(&samples);
        let ours = net.forward(&run.graph, run.input(&samples, device));
        let theirs = engine.infer(batch.view())?;
        let mut worst = 0.0f64;
        for (a, b) in ours.into_iter().zip(theirs.iter()) {
            let a = network::to_vec(a)?;
            let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(b.iter()) {
                worst = worst.max(f64::from((x - y).abs() / scale));
            }
        }
        if worst > 1e-4 {
            return Err(Error::Output {
                path: out.to_path_buf(),
                problem: format!(
                    "the exported ONNX differs from the trained network by {worst:.2e} (relative) in tract; not written"
                ),
            });
        }
        // The operating point: the threshold of best F1 on the validation split.
        let validation = crate::dataset::evaluate::evaluate_split(
            run.dataset,
            crate::dataset::evaluate::Split::Validation,
            &engine,
            &crate::dataset::evaluate::SplitScoring {
                reference: run.phase_reference,
                ..Default::default()
            },
            &crate::progress::Silent,
        )?;
        let mut tuned = metadata.clone();
        tuned.recommended_confidence = Some(validation.confidence);
        write_onnx(&to_onnx(&run.graph, &weights, &tuned)?, out)?;
        Ok(worst)
    })();
    let _ = std::fs::remove_file(&candidate);
    outcome
}
