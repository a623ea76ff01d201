//! `fringewatch detect`, `fringewatch run` and `fringewatch model`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use fringewatch::detect::job::{DetectionOutput, Detector};
use fringewatch::detect::{DetectSettings, DetectionRun};
use fringewatch::engine::{Backend, Engine};
use fringewatch::model::write_random_model;
use fringewatch::model::yolov3::Architecture;
use fringewatch::sensitivity::layer::Incidence;
use fringewatch::stack::RawLayers;
use fringewatch::vector::is_geojson;
use fringewatch::{Error, Result};

use super::Bar;

#[derive(Args)]
pub(crate) struct DetectOptions {
    /// Output layer name inside the GeoPackage.
    #[arg(long, default_value = "detections")]
    layer: String,
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
    backend: Backend,
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
                backend: Backend::Auto,
                overwrite: false,
            },
        }
    }
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// Wrapped phase, radians (its grid is the output grid).
    #[arg(long)]
    phase: PathBuf,
    /// Coherence in [0, 1].
    #[arg(long)]
    coherence: PathBuf,
    /// DEM, metres.
    #[arg(long)]
    dem: PathBuf,
    /// Per-pixel incidence angle raster, degrees.
    #[arg(
        long,
        conflicts_with = "incidence_deg",
        required_unless_present = "incidence_deg"
    )]
    incidence: Option<PathBuf>,
    /// Constant incidence angle, degrees.
    #[arg(long)]
    incidence_deg: Option<f64>,
    /// Scene heading, degrees clockwise from north (S1 Apennines: −10.5 asc, −169.5 desc).
    #[arg(long, allow_negative_numbers = true)]
    heading: f64,
    /// ONNX model (default: the bundled model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output GeoPackage or .geojson.
    #[arg(long)]
    out: PathBuf,
    /// Keep the ISL, PC1 and stack rasters in this directory (default: temporary, removed).
    #[arg(long)]
    keep_layers: Option<PathBuf>,
    #[command(flatten)]
    options: DetectOptions,
}

#[derive(Subcommand)]
pub(crate) enum ModelCommand {
    /// Write an untrained YOLOv3 model (seeded random weights) following the model contract.
    Init {
        #[arg(long, value_enum, default_value = "compact")]
        arch: Architecture,
        #[arg(long, default_value_t = 160)]
        tile: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a model's contract metadata.
    Info { model: PathBuf },
}

impl DetectOptions {
    fn output(&self, out: &Path) -> DetectionOutput {
        DetectionOutput {
            path: out.to_path_buf(),
            layer: self.layer.clone(),
            overwrite: self.overwrite,
        }
    }

    fn settings(&self, detector: &Detector) -> DetectSettings {
        DetectSettings {
            confidence: self
                .confidence
                .unwrap_or_else(|| detector.default_settings().confidence),
            iou: self.iou,
            overlap: self.overlap,
            batch: self
                .batch
                .unwrap_or_else(|| detector.default_settings().batch),
        }
    }
}

/// Which engine runs and why, on standard error.
fn print_notes(detector: &Detector, quiet: bool) {
    for note in detector.notes() {
        if !quiet || !note.starts_with("engine:") {
            eprintln!("{note}");
        }
    }
}

fn report(run: &DetectionRun, out: &Path, layer: &str, engine: &dyn Engine) {
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
    let detector = Detector::open(args.model.as_deref(), o.backend, o.batch.unwrap_or(1))?;
    print_notes(&detector, quiet);
    let bar = Bar::new(quiet, "detect");
    let run = detector.detect_to_output(&args.stack, &output, &o.settings(&detector), &bar)?;
    bar.done();
    report(&run, &args.out, &o.layer, detector.engine());
    Ok(())
}

pub(crate) fn run(args: RunArgs, quiet: bool) -> Result<()> {
    let output = args.options.output(&args.out);
    output.check()?;
    let o = &args.options;
    let incidence = match (&args.incidence, args.incidence_deg) {
        (Some(p), _) => Incidence::Raster(p.clone()),
        (None, Some(d)) => Incidence::Degrees(d),
        (None, None) => {
            return Err(Error::parameter(
                "incidence",
                "give --incidence or --incidence-deg",
            ))
        }
    };
    let raw = RawLayers {
        phase: args.phase.clone(),
        coherence: args.coherence.clone(),
        dem: args.dem.clone(),
        incidence,
        heading_deg: args.heading,
    };
    let detector = Detector::open(args.model.as_deref(), o.backend, o.batch.unwrap_or(1))?;
    print_notes(&detector, quiet);
    let bar = Bar::new(quiet, "run");
    let result = detector.detect_raw_to_output(
        &raw,
        args.keep_layers.as_deref(),
        &output,
        &o.settings(&detector),
        &bar,
    )?;
    bar.done();
    report(&result, &args.out, &o.layer, detector.engine());
    Ok(())
}

pub(crate) fn model(command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Init {
            arch,
            tile,
            seed,
            out,
        } => {
            let metadata = write_random_model(&out, arch, tile, seed)?;
            let graph = fringewatch::model::yolov3::build_graph(
                fringewatch::model::yolov3::Yolov3Config::of(arch, metadata.classes.len()),
            );
            println!(
                "{}: {} ({:.1} M parameters, {:.2} GFLOPs per {tile}×{tile} tile), untrained",
                out.display(),
                metadata.name,
                graph.parameter_count() as f64 / 1e6,
                graph.flops(tile) / 1e9
            );
            Ok(())
        }
        ModelCommand::Info { model } => {
            let (_, metadata) = fringewatch::model::onnx::read_model(&model)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&metadata).unwrap_or_default()
            );
            Ok(())
        }
    }
}

#[derive(Args)]
pub(crate) struct BaselineArgs {
    /// Detector input stack (its first band, the wrapped phase, is used) or a phase raster.
    #[arg(long)]
    stack: PathBuf,
    /// Output GeoPackage (created, or a new layer added) or .geojson file.
    #[arg(long)]
    out: PathBuf,
    /// Output layer name inside the GeoPackage.
    #[arg(long, default_value = "baseline")]
    layer: String,
    /// Fringe-indicator threshold (phase anomaly / π or excess fringe rate / 0.3 rad/px).
    #[arg(long, default_value_t = fringewatch::detect::baseline::BaselineSettings::default().threshold)]
    threshold: f64,
    /// Smallest component kept, pixels.
    #[arg(long, default_value_t = fringewatch::detect::baseline::BaselineSettings::default().min_area)]
    min_area: usize,
    /// Replace an existing layer of the same name (other layers are never touched).
    #[arg(long)]
    overwrite: bool,
}

/// `fringewatch baseline`: the non-learning fringe detector (class-agnostic; every box is
/// written with class `FRINGE`).
pub(crate) fn baseline(args: BaselineArgs) -> Result<()> {
    let output = DetectionOutput {
        path: args.out.clone(),
        layer: args.layer.clone(),
        overwrite: args.overwrite,
    };
    output.check()?;
    let settings = fringewatch::detect::baseline::BaselineSettings {
        threshold: args.threshold,
        min_area: args.min_area,
        ..Default::default()
    };
    let run = fringewatch::detect::detect_baseline(&args.stack, &settings)?;
    let model = fringewatch::detect::output::ModelInfo {
        name: "baseline: local fringe rate × consistency".into(),
        sha256: String::new(),
    };
    let features = fringewatch::detect::output::detection_features(
        &run,
        &["FRINGE".to_string()],
        &model,
        chrono::Utc::now(),
    );
    fringewatch::detect::output::write_detections(
        &args.out,
        &args.layer,
        &run,
        &features,
        args.overwrite,
        &fringewatch::progress::Silent,
    )?;
    println!(
        "{} fringe boxes (baseline, class-agnostic) → {}",
        run.detections.len(),
        args.out.display()
    );
    Ok(())
}
