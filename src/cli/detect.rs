//! `fringewatch detect`, `fringewatch run` and `fringewatch model`.

use std::path::{Path, PathBuf};

use clap::Args;
use fringewatch::detect::job::{DetectionOutput, Detector};
use fringewatch::detect::{DetectSettings, DetectionRun};
use fringewatch::engine::augmented::Augmented;
use fringewatch::engine::Engine;
use fringewatch::vector::is_geojson;
use fringewatch::Result;

use super::choices::{AugmentArg, BackendArg, PhaseReferenceArg};
use super::Bar;

#[derive(Args)]
pub(crate) struct DetectOptions {
    /// Output layer name inside the GeoPackage.
    #[arg(long, default_value = "detections")]
    pub(crate) layer: String,
    /// Least score (objectness × class probability) of a reported box (default: the model's
    /// recommended threshold, from its validation split, else 0.5).
    #[arg(long)]
    confidence: Option<f32>,
    /// IoU above which a box of the same class is suppressed.
    #[arg(long, default_value_t = 0.45)]
    iou: f64,
    /// Tile overlap in pixels (0 = the preprint's non-overlapping tiles).
    #[arg(long, default_value_t = 32)]
    overlap: usize,
    /// Tiles per engine call (default: the engine's; tract is fastest at 1 with calls on all
    /// cores, the GPU engine takes 16).
    #[arg(long)]
    batch: Option<usize>,
    /// Inference backend: auto takes a hardware GPU when there is one, else tract; gpu also
    /// takes software Vulkan adapters (lavapipe); a missing or failing GPU falls back to tract.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Average the network over symmetries of each tile (test-time augmentation): each one
    /// costs another pass.
    #[arg(long, value_enum, default_value = "off")]
    augment: AugmentArg,
    /// The reference each tile's phase is seen in: tile-mean takes each tile's circular mean,
    /// so that a constant offset of the interferogram's phase does not move the boxes.
    #[arg(long, value_enum, default_value = "tile-mean")]
    phase_reference: PhaseReferenceArg,
    /// Replace an existing layer of the same name (other layers are never touched).
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args)]
pub(crate) struct DetectArgs {
    /// Detector input stack (phase, ISL, PC1), from `fringewatch stack`.
    #[arg(long)]
    stack: PathBuf,
    /// ONNX model following the model contract (default: the bundled model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output GeoPackage (created, or a new layer added) or .geojson file.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    options: DetectOptions,
}

impl DetectArgs {
    /// Detection with default options (used by the demo).
    pub(crate) fn for_demo(stack: PathBuf, model: PathBuf, out: PathBuf) -> DetectArgs {
        DetectArgs {
            stack,
            model: Some(model),
            out,
            options: DetectOptions {
                layer: "detections".into(),
                confidence: None,
                iou: 0.45,
                overlap: 32,
                batch: None,
                backend: BackendArg::Auto,
                augment: AugmentArg::Off,
                phase_reference: PhaseReferenceArg::TileMean,
                overwrite: false,
            },
        }
    }
}

impl DetectOptions {
    /// The detector on the chosen backend, with the native libraries' noise hidden while it
    /// opens; which engine runs and why goes to standard error.
    pub(crate) fn open_detector(&self, model: Option<&Path>, quiet: bool) -> Result<Detector> {
        let detector = super::native_stderr::silenced(|| {
            Detector::open(model, self.backend.into(), self.batch.unwrap_or(1))
        })?;
        print_notes(&detector, quiet);
        Ok(detector)
    }

    /// The detector's engine as the run used it (named with its test-time augmentation).
    pub(crate) fn engine_as_run<'a>(&self, detector: &'a Detector) -> Augmented<'a> {
        Augmented::new(detector.engine(), self.augment.into())
    }

    pub(crate) fn output(&self, out: &Path) -> DetectionOutput {
        DetectionOutput {
            path: out.to_path_buf(),
            layer: self.layer.clone(),
            overwrite: self.overwrite,
        }
    }

    pub(crate) fn settings(&self, detector: &Detector) -> DetectSettings {
        DetectSettings {
            confidence: self
                .confidence
                .unwrap_or_else(|| detector.default_settings().confidence),
            iou: self.iou,
            overlap: self.overlap,
            batch: self
                .batch
                .unwrap_or_else(|| detector.default_settings().batch),
            augmentation: self.augment.into(),
            reference: self.phase_reference.into(),
        }
    }
}

/// Which engine runs and why, on standard error.
pub(crate) fn print_notes(detector: &Detector, quiet: bool) {
    for note in detector.notes() {
        if !quiet || !note.starts_with("engine:") {
            eprintln!("{}", super::with_flags(note));
        }
    }
}

pub(crate) fn report(run: &DetectionRun, out: &Path, layer: &str, engine: &dyn Engine) {
    let classes = &engine.metadata().classes;
    let mut counts = vec![0usize; classes.len()];
    for d in &run.detections {
        if d.class < counts.len() {
            counts[d.class] += 1;
        }
    }
    let by_class: Vec<String> = classes
        .iter()
        .zip(&counts)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    println!(
        "{} detections ({}) from {} tiles ({} empty skipped) with {} → {}{}",
        run.detections.len(),
        by_class.join(", "),
        run.tiles_run,
        run.tiles_skipped,
        engine.name(),
        out.display(),
        if is_geojson(out) {
            String::new()
        } else {
            format!(" layer '{layer}'")
        }
    );
    if !engine.metadata().provenance.trained {
        eprintln!(
            "warning: model '{}' is untrained: its detections mean nothing",
            engine.metadata().name
        );
    }
}

pub(crate) fn detect(args: DetectArgs, quiet: bool) -> Result<()> {
    let output = args.options.output(&args.out);
    output.check()?;
    let o = &args.options;
    let detector = o.open_detector(args.model.as_deref(), quiet)?;
    let grid = fringewatch::raster::io::RasterFile::open(&args.stack)?
        .grid()
        .clone();
    if fringewatch::raster::detector_grid::off_model_spacing(&grid) {
        eprintln!(
            "warning: the stack's pixels are {:.1} m, the detector learnt landslides on {:.0} m pixels: boxes may be missed or misplaced; `run` resamples a phase to {:.0} m first",
            fringewatch::raster::detector_grid::spacing_m(&grid),
            fringewatch::raster::detector_grid::MODEL_SPACING_M,
            fringewatch::raster::detector_grid::MODEL_SPACING_M,
        );
    }
    let bar = Bar::new(quiet, "detect");
    let run = detector.detect_to_output(&args.stack, &output, &o.settings(&detector), &bar)?;
    bar.done();
    report(&run, &args.out, &o.layer, &o.engine_as_run(&detector));
    Ok(())
}
