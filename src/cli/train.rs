//! `fringewatch train`: train (or fine-tune) the detector on a dataset (feature `train`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use fringewatch::Result;

use super::choices::{ArchitectureArg, PhaseInputArg};

/// Where training runs (mirrors the library's choice so the CLI parses without burn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TrainBackendArg {
    /// burn's flex backend on the CPU
    Cpu,
    /// burn's wgpu backend (any GPU; build with --features train-gpu)
    Gpu,
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Dataset directory made by `fringewatch dataset` (holds dataset.json).
    #[arg(long)]
    dataset: PathBuf,
    /// Output model (ONNX). Checkpoints, losses.csv and losses.png go to the folder OUT.train/
    /// beside it (for yours.onnx: yours.onnx.train/).
    #[arg(long)]
    out: PathBuf,
    /// Network size.
    #[arg(long, value_enum, default_value_t = ArchitectureArg::Compact)]
    arch: ArchitectureArg,
    /// Channel multiplier in place of --arch's (compact 0.25, full 1). With --init, a narrower
    /// model is widened first: its channels keep their weights, the new ones start with random
    /// input weights and (unless --widen-outgoing) nothing read from them, so the run starts
    /// from exactly what the model computed.
    #[arg(long)]
    width: Option<f64>,
    /// With --width and a narrower --init: what the old channels read from the new ones starts
    /// at this share of a fresh random draw instead of 0, so the new channels learn from the
    /// first step; the start moves away from --init's function as it grows (0.1 cost v10 2.6
    /// of validation loss, 0.25 cost 11.7). In [0, 1].
    #[arg(long, default_value_t = 0.0)]
    widen_outgoing: f64,
    /// Maximum number of epochs.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Early stopping: epochs without a better validation loss.
    #[arg(long, default_value_t = 30)]
    patience: usize,
    /// Tiles per training step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Peak learning rate (Adam; linear warm-up, then cosine decay to 5 %).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// At most this many steps per epoch (default: the whole training split).
    #[arg(long)]
    steps_per_epoch: Option<usize>,
    /// End the run after this epoch and export it, keeping the learning-rate schedule planned
    /// for --epochs (to cut a run where the held-out scores stop improving).
    #[arg(long)]
    stop_after: Option<usize>,
    /// Class-balanced sampling: tiles holding a class present on fewer than this share of the
    /// training tiles are repeated √(share threshold / class share) times per epoch (LVIS repeat
    /// factors); 0 = every tile once.
    #[arg(long, default_value_t = 0.0)]
    class_balance: f64,
    /// Train on random CROP×CROP windows of the tiles (a multiple of 32, ≥ 64): a step costs
    /// (CROP / tile)² of a whole tile's; validation stays on whole tiles. Default: whole tiles.
    #[arg(long)]
    crop: Option<usize>,
    /// Share of training tiles whose phase gets a fresh turbulent atmosphere (P(k) ∝ k^−β, β in
    /// [7/3, 3.2]) added and wrapped again: the same ground under another pair's weather
    /// (models/README.md, v19). 0 = off.
    #[arg(long, default_value_t = 0.0)]
    weather: f64,
    /// Largest RMS of that atmosphere over a field twice the tile's side, radians (each tile draws
    /// one uniformly from 0).
    #[arg(long, default_value_t = 2.0)]
    weather_rms: f64,
    /// Share r of the objectness target taken from how well the predicted box fits: the target
    /// is (1 − r) + r·IoU(box, labelled box) (IoU-aware objectness), so scores rank well-placed
    /// boxes above poorly placed ones; 0 = YOLOv3's target 1 (models/README.md, v21). A resumed
    /// run keeps its own.
    #[arg(long, default_value_t = 0.0)]
    objectness_iou: f64,
    /// Weight of the class term in the loss minimised (YOLOv5's `cls` gain): above 1 a step
    /// follows the class term more; 1 = YOLOv3's sum (models/README.md, v25). The loss columns
    /// of losses.csv stay unweighted. A resumed run keeps its own.
    #[arg(long, default_value_t = 1.0)]
    class_gain: f64,
    /// Adam's weight decay λ (L2, added to the gradient as λθ); 0 = none. A resumed run keeps
    /// its own.
    #[arg(long, default_value_t = 5e-4)]
    weight_decay: f64,
    /// Seed of the shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fine-tune from this model (same architecture and classes).
    #[arg(long)]
    init: Option<PathBuf>,
    /// How the network reads the phase: cos-sin maps it to (cos φ, sin φ) inside the graph, so a
    /// wrap is not an edge; scaled reads φ/σ (models before v4). Default: as the --init model
    /// does, else cos-sin. A scaled --init fine-tuned as cos-sin keeps its other weights.
    #[arg(long, value_enum)]
    phase_input: Option<PhaseInputArg>,
    /// The reference each tile's phase is seen in, after augmentation and for validation:
    /// as-given (the random reference offsets of the augmentation only, as the bundled model
    /// was trained), or tile-mean (each tile's circular mean, as `detect` does by default;
    /// it lost on the held-out family of other processors: v13, models/README.md).
    #[arg(long, value_enum, default_value = "as-given")]
    phase_reference: super::choices::PhaseReferenceArg,
    /// Continue the run whose checkpoints are in OUT.train/.
    #[arg(long)]
    resume: bool,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = TrainBackendArg::Cpu)]
    backend: TrainBackendArg,
    /// Model name written into its metadata.
    #[arg(long, default_value = "fringewatch")]
    name: String,
}

#[cfg(not(feature = "train"))]
pub(crate) fn run(args: TrainArgs, quiet: bool) -> Result<()> {
    let _ = (args, quiet);
    Err(fringewatch::Error::parameter(
        "train",
        "this fringewatch was built without the trainer; build it with `cargo build --release --features train`",
    ))
}

#[cfg(feature = "train")]
pub(crate) fn run(args: TrainArgs, quiet: bool) -> Result<()> {
    use fringewatch::train::data::Augmentation;
    use fringewatch::train::{train, TrainBackend, TrainSettings};

    let settings = TrainSettings {
        architecture: args.arch.into(),
        width: args.width,
        widen_outgoing: args.widen_outgoing,
        epochs: args.epochs,
        patience: args.patience,
        batch: args.batch,
        learning_rate: args.lr,
        seed: args.seed,
        init: args.init.clone(),
        phase_input: args.phase_input.map(Into::into),
        steps_per_epoch: args.steps_per_epoch,
        stop_after: args.stop_after,
        class_balance: args.class_balance,
        crop: args.crop,
        phase_reference: args.phase_reference.into(),
        backend: match args.backend {
            TrainBackendArg::Cpu => TrainBackend::Cpu,
            TrainBackendArg::Gpu => TrainBackend::Gpu,
        },
        name: args.name.clone(),
        weight_decay: args.weight_decay,
        objectness_iou: args.objectness_iou,
        class_gain: args.class_gain,
        augmentation: Augmentation {
            weather_probability: args.weather,
            weather_rms_rad: args.weather_rms,
            ..Augmentation::default()
        },
        ..Default::default()
    };
    let bar = super::Bar::new(quiet, "train");
    let report = train(&args.dataset, &args.out, &settings, args.resume, &bar)?;
    bar.done();
    println!("epoch | train box obj noobj cls | val box obj noobj cls | total train/val | s");
    for r in &report.history {
        println!(
            "{:5} | {:.3} {:.3} {:.3} {:.3} | {:.3} {:.3} {:.3} {:.3} | {:.3}/{:.3} | {:.0}",
            r.epoch,
            r.train.box_loss,
            r.train.objectness,
            r.train.no_object,
            r.train.class,
            r.validation.box_loss,
            r.validation.objectness,
            r.validation.no_object,
            r.validation.class,
            r.train.total(),
            r.validation.total(),
            r.seconds
        );
    }
    println!(
        "best epoch {} of {}{}; export checked against tract (max relative error {:.1e})",
        report.best_epoch,
        report.history.len(),
        if report.stopped_early {
            " (stopped early)"
        } else {
            ""
        },
        report.export_max_relative_error
    );
    println!(
        "model: {}\nlosses: {}/losses.csv, losses.png",
        args.out.display(),
        report.checkpoint_dir.display()
    );
    Ok(())
}
