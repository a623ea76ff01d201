//! `fringewatch detect`, `fringewatch run` and `fringewatch model`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use fringewatch::detect::output::{detection_features, write_detections, ModelInfo};
use fringewatch::detect::{detect_stack, DetectSettings, DetectionRun};
use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::{Backend, Engine};
use fringewatch::model::yolov3::Architecture;
use fringewatch::model::{default_model, sha256_of, write_random_model};
use fringewatch::progress::{Progress, Silent};
use fringewatch::raster::io::check_output_path;
use fringewatch::sensitivity::layer::Incidence;
use fringewatch::stack::{layers_and_stack, RawLayers};
use fringewatch::vector::{check_layer_name, is_geojson};
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
    /// Tiles per engine call (tract on the CPU is fastest at 1; calls run on all cores).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Inference backend.
    #[arg(long, value_enum, default_value = "cpu")]
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
                batch: 1,
                backend: Backend::Cpu,
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

fn settings(o: &DetectOptions, engine: &dyn Engine) -> DetectSettings {
    DetectSettings {
        confidence: o
            .confidence
            .unwrap_or_else(|| engine.metadata().default_confidence()),
        iou: o.iou,
        overlap: o.overlap,
        batch: o.batch,
    }
}

fn load_engine(model: &Option<PathBuf>, o: &DetectOptions) -> Result<(Box<dyn Engine>, PathBuf)> {
    let path = match model {
        Some(p) => p.clone(),
        None => default_model()?,
    };
    let engine: Box<dyn Engine> = match o.backend {
        Backend::Cpu => Box::new(TractEngine::load(&path, o.batch)?),
    };
    Ok((engine, path))
}

/// Checks that need no work: output location, layer name, existing layer.
fn check_output(out: &Path, o: &DetectOptions) -> Result<()> {
    check_output_path(out)?;
    if !is_geojson(out) {
        check_layer_name(&o.layer)?;
        if out.exists() && !o.overwrite {
            if let Ok(names) = fringewatch::vector::gpkg::layer_names(out) {
                if names.iter().any(|n| n.eq_ignore_ascii_case(&o.layer)) {
                    return Err(Error::Output {
                        path: out.to_path_buf(),
                        problem: format!(
                            "layer '{}' already exists; choose another --layer or pass --overwrite",
                            o.layer
                        ),
                    });
                }
            }
        }
    } else if out.exists() && !o.overwrite {
        return Err(Error::Output {
            path: out.to_path_buf(),
            problem: "already exists; pass --overwrite to replace it".into(),
        });
    }
    Ok(())
}

fn detect_and_write(
    stack: &Path,
    engine: &dyn Engine,
    model_path: &Path,
    out: &Path,
    o: &DetectOptions,
    progress: &dyn Progress,
) -> Result<DetectionRun> {
    let run = detect_stack(stack, engine, &settings(o, engine), progress)?;
    let model = ModelInfo {
        name: engine.metadata().name.clone(),
        sha256: sha256_of(model_path)?,
    };
    let features = detection_features(&run, &engine.metadata().classes, &model, chrono::Utc::now());
    write_detections(out, &o.layer, &run, &features, o.overwrite, &Silent)?;
    Ok(run)
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
    check_output(&args.out, &args.options)?;
    let (engine, model_path) = load_engine(&args.model, &args.options)?;
    let bar = Bar::new(quiet, "detect");
    let run = detect_and_write(
        &args.stack,
        engine.as_ref(),
        &model_path,
        &args.out,
        &args.options,
        &bar,
    )?;
    bar.done();
    report(&run, &args.out, &args.options.layer, engine.as_ref());
    Ok(())
}

pub(crate) fn run(args: RunArgs, quiet: bool) -> Result<()> {
    check_output(&args.out, &args.options)?;
    let (engine, model_path) = load_engine(&args.model, &args.options)?;
    let temp;
    let layers = match &args.keep_layers {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            dir.clone()
        }
        None => {
            let parent = args
                .out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            temp = tempfile::Builder::new()
                .prefix(".fringewatch-layers-")
                .tempdir_in(parent)
                .map_err(|source| Error::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
            temp.path().to_path_buf()
        }
    };
    let bar = Bar::new(quiet, "run");
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
    let stage = |start, span| fringewatch::progress::Stage {
        parent: &bar as &dyn Progress,
        start,
        span,
    };
    let stack = layers_and_stack(&raw, &layers, &stage(0.0, 0.55))?;
    let result = detect_and_write(
        &stack,
        engine.as_ref(),
        &model_path,
        &args.out,
        &args.options,
        &stage(0.55, 0.45),
    )?;
    bar.done();
    report(&result, &args.out, &args.options.layer, engine.as_ref());
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
    let options = DetectOptions {
        layer: args.layer.clone(),
        confidence: None,
        iou: 0.0,
        overlap: 0,
        batch: 1,
        backend: Backend::Cpu,
        overwrite: args.overwrite,
    };
    check_output(&args.out, &options)?;
    let settings = fringewatch::detect::baseline::BaselineSettings {
        threshold: args.threshold,
        min_area: args.min_area,
        ..Default::default()
    };
    let run = fringewatch::detect::detect_baseline(&args.stack, &settings)?;
    let model = ModelInfo {
        name: "baseline: local fringe rate × consistency".into(),
        sha256: String::new(),
    };
    let features = detection_features(&run, &["FRINGE".to_string()], &model, chrono::Utc::now());
    write_detections(
        &args.out,
        &args.layer,
        &run,
        &features,
        args.overwrite,
        &Silent,
    )?;
    println!(
        "{} fringe boxes (baseline, class-agnostic) → {}",
        run.detections.len(),
        args.out.display()
    );
    Ok(())
}
