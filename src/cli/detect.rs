//! `fringewatch detect`, `fringewatch run` and `fringewatch model`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use fringewatch::detect::job::{DetectionOutput, Detector};
use fringewatch::detect::{DetectSettings, DetectionRun};
use fringewatch::engine::{Backend, Engine};
use fringewatch::model::write_random_network;
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
    /// A processor's product folder (HyP3 product; LiCSAR pair folder or frame folder with one
    /// pair; GMTSAR interferogram folder; ISCE2 run folder or merged/): phase, coherence, DEM,
    /// geometry, dates and orbit are read from it and brought to the detector's 15 m grid; the
    /// flags below replace what it says.
    #[arg(long, conflicts_with_all = ["phase", "coherence"])]
    product: Option<PathBuf>,
    /// Wrapped phase, radians (its grid is the output grid).
    #[arg(long, required_unless_present = "product")]
    phase: Option<PathBuf>,
    /// Coherence in [0, 1].
    #[arg(long, required_unless_present = "product")]
    coherence: Option<PathBuf>,
    /// DEM, metres.
    #[arg(long, required_unless_present = "product")]
    dem: Option<PathBuf>,
    /// Per-pixel incidence angle raster, degrees.
    #[arg(long, conflicts_with = "incidence_deg")]
    incidence: Option<PathBuf>,
    /// Constant incidence angle, degrees.
    #[arg(long)]
    incidence_deg: Option<f64>,
    /// Scene heading, degrees clockwise from north (S1 Apennines: −10.5 asc, −169.5 desc);
    /// default: the heading the phase or product records.
    #[arg(long, allow_negative_numbers = true)]
    heading: Option<f64>,
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
        /// Network size.
        #[arg(long, value_enum, default_value = "compact")]
        arch: Architecture,
        /// Tile side the model reads, pixels (a multiple of 32).
        #[arg(long, default_value_t = 160)]
        tile: usize,
        /// Seed of the random weights: the same seed gives the same file.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How the graph reads the phase (cos-sin: (cos φ, sin φ) inside the graph).
        #[arg(long, value_enum, default_value = "cos-sin")]
        phase_input: fringewatch::model::phase_input::PhaseInput,
        /// Output ONNX file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a model's contract metadata.
    Info {
        /// The ONNX model.
        model: PathBuf,
    },
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
    let detector = super::native_stderr::silenced(|| {
        Detector::open(args.model.as_deref(), o.backend, o.batch.unwrap_or(1))
    })?;
    print_notes(&detector, quiet);
    let bar = Bar::new(quiet, "detect");
    let run = detector.detect_to_output(&args.stack, &output, &o.settings(&detector), &bar)?;
    bar.done();
    report(&run, &args.out, &o.layer, detector.engine());
    Ok(())
}

/// `--heading`, else the phase's recorded heading; a contradiction is printed as a warning.
fn heading_of(phase: &std::path::Path, given: Option<f64>, quiet: bool) -> Result<f64> {
    let (recorded, orbit) = fringewatch::detect::scene_info::recorded_geometry(phase)?;
    let chosen = fringewatch::detect::scene_info::choose_heading(given, recorded, orbit.as_deref())
        .map_err(|e| match e {
            Error::Parameter { name, problem } if name == "heading" => Error::parameter(
                name,
                problem.replace("give the scene heading", "give --heading"),
            ),
            other => other,
        })?;
    if let Some(note) = &chosen.contradiction {
        eprintln!("warning: {note}");
    } else if chosen.from_data && !quiet {
        eprintln!("heading {}° from the phase's metadata", chosen.degrees);
    }
    Ok(chosen.degrees)
}

pub(crate) fn run(args: RunArgs, quiet: bool) -> Result<()> {
    let output = args.options.output(&args.out);
    output.check()?;
    let o = &args.options;
    let incidence = match (&args.incidence, args.incidence_deg) {
        (Some(p), _) => Some(Incidence::Raster(p.clone())),
        (None, Some(d)) => Some(Incidence::Degrees(d)),
        (None, None) => None,
    };
    // a product is first brought to the detector's grid, in the layer folder (kept with
    // --keep-layers, else temporary)
    let mut scratch = None;
    let layer_dir = match (&args.keep_layers, &args.product) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(_)) => {
            let dir = tempfile::tempdir().map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            let path = dir.path().to_path_buf();
            scratch = Some(dir);
            Some(path)
        }
        (None, None) => None,
    };
    let mut product_crs = None;
    let raw = match (&args.product, &args.phase, &args.coherence) {
        (Some(folder), _, _) => {
            let product = fringewatch::product::open_product(folder)?;
            let overrides = fringewatch::product::prepare::Overrides {
                dem: args.dem.clone(),
                incidence,
                heading_deg: args.heading,
            };
            let dir = layer_dir.clone().unwrap_or_else(std::env::temp_dir);
            let bar = Bar::new(quiet, "product");
            let prepared =
                fringewatch::product::prepare::prepare(&product, &overrides, &dir, &bar)?;
            bar.done();
            if !quiet {
                eprintln!(
                    "{} product {}: {:.0} m pixels → {} × {} px at {:.0} m ({}), heading {:.1}°",
                    product.processor.name(),
                    product.name,
                    prepared.product_spacing_m,
                    prepared.grid.width,
                    prepared.grid.height,
                    fringewatch::product::prepare::MODEL_SPACING_M,
                    product.orbit.map_or("orbit unknown", |o| o.name()),
                    prepared.raw.heading_deg
                );
            }
            for note in &prepared.notes {
                eprintln!("warning: {note}");
            }
            product_crs = Some(prepared.product_crs.clone());
            prepared.raw
        }
        (None, Some(phase), Some(coherence)) => RawLayers {
            phase: phase.clone(),
            coherence: coherence.clone(),
            dem: args
                .dem
                .clone()
                .ok_or_else(|| Error::parameter("dem", "give --dem"))?,
            incidence: incidence.ok_or_else(|| {
                Error::parameter("incidence", "give --incidence or --incidence-deg")
            })?,
            heading_deg: heading_of(phase, args.heading, quiet)?,
        },
        _ => {
            return Err(Error::parameter(
                "phase",
                "give --product DIR, or --phase and --coherence",
            ))
        }
    };
    let detector = super::native_stderr::silenced(|| {
        Detector::open(args.model.as_deref(), o.backend, o.batch.unwrap_or(1))
    })?;
    print_notes(&detector, quiet);
    let bar = Bar::new(quiet, "run");
    let result = match (&product_crs, &layer_dir) {
        // a product's detections go back to its own CRS (longitude/latitude for LiCSAR)
        (Some(crs), Some(dir)) => {
            let run = detector.detect_raw(&raw, dir, &o.settings(&detector), &bar)?;
            let features = fringewatch::vector::reproject_features(
                detector.features(&run),
                &run.grid.crs.wkt,
                &crs.wkt,
            )?;
            fringewatch::detect::output::write_detections_in(
                &output.path,
                &output.layer,
                &crs.wkt,
                &run.grid,
                &features,
                output.overwrite,
                &fringewatch::progress::Silent,
            )?;
            run
        }
        _ => detector.detect_raw_to_output(
            &raw,
            layer_dir.as_deref(),
            &output,
            &o.settings(&detector),
            &bar,
        )?,
    };
    bar.done();
    drop(scratch);
    report(&result, &args.out, &o.layer, detector.engine());
    Ok(())
}

pub(crate) fn model(command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Init {
            arch,
            tile,
            seed,
            phase_input,
            out,
        } => {
            let config = fringewatch::model::yolov3::Yolov3Config::of(
                arch,
                fringewatch::simulate::SignalClass::ALL.len(),
            )
            .with_phase_input(phase_input);
            let metadata = write_random_network(&out, config, tile, seed)?;
            let graph = fringewatch::model::yolov3::build_graph(config);
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
