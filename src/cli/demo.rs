//! `fringewatch demo`: the main job on built-in inputs.
//!
//! 1. simulate a labelled scene (UTM 32N, 15 m) and compute its ISL, PC1 and stack with the
//!    production layer code; render `preview.png` (phase and truth boxes);
//! 2. detect with the given or bundled model into `detections.gpkg`, render `detections.png`
//!    and score against the truth (skipped, with a message, while no model is bundled);
//! 3. when the real test rasters are present (`../shared/data/real`), compute ISL, PC1 and the
//!    stack of the real Sentinel-1 crop (PyRate's pair) too.
//!
//! The detections are then scored against the scene's truth (simulated data: the figures are
//! not real-world accuracy).

use std::path::{Path, PathBuf};

use clap::Args;
use fringewatch::raster::io::{Encoding, GeoTiffWriter, RasterFile};
use fringewatch::sensitivity::layer::{compute_isl, Incidence, IslJob, Look};
use fringewatch::sensitivity::CoherenceWeight;
use fringewatch::stack::{build_stack, StackJob};
use fringewatch::terrain::layer::compute_pc1;
use fringewatch::terrain::pca::Pc1Settings;
use fringewatch::terrain::GradientMethod;
use fringewatch::{Error, Result};

use super::layers::print_pc1_report;
use super::Bar;

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Output directory (created if missing).
    #[arg(long, default_value = "demo_out")]
    out: PathBuf,
    /// Folder with the real test rasters (default: ../shared/data/real if it exists).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Skip the real-data step even when the real rasters are available.
    #[arg(long)]
    synthetic_only: bool,
    /// Side of the simulated scene, pixels.
    #[arg(long, default_value_t = 960)]
    size: usize,
    /// Seed of the simulated scene.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Detector model (default: the bundled model, when there is one).
    #[arg(long)]
    model: Option<PathBuf>,
}

/// Inputs of one demo scene.
struct Scene {
    name: &'static str,
    phase: PathBuf,
    coherence: PathBuf,
    dem: PathBuf,
    incidence_deg: f64,
    heading_deg: f64,
}

pub(crate) fn run(args: DemoArgs, quiet: bool) -> Result<()> {
    // the inputs first: a missing --data must not wait for the synthetic part to fail
    if let Some(data) = &args.data {
        if !data.is_dir() {
            return Err(Error::bad_input(
                data,
                "is not a folder of real rasters (the layout of ../shared/data/real)",
            ));
        }
    }
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(args.out.clone(), e))?;
    simulated_part(&args, quiet)?;
    let data = args.data.clone().or_else(|| {
        let p = PathBuf::from("../shared/data/real");
        p.is_dir().then_some(p)
    });
    match data {
        Some(dir) if !args.synthetic_only => {
            let real_out = args.out.join("real");
            std::fs::create_dir_all(&real_out).map_err(|e| Error::io(real_out.clone(), e))?;
            let scene = real_scene(&dir, &real_out)?;
            real_part(&scene, &real_out, quiet)
        }
        Some(_) => Ok(()),
        None => {
            println!("real-data step skipped (no ../shared/data/real; pass --data DIR)");
            Ok(())
        }
    }
}

/// Simulate, compute the layers, render, and detect when a model is available.
fn simulated_part(args: &DemoArgs, quiet: bool) -> Result<()> {
    use fringewatch::simulate::{simulate_scene, SimulationSettings};
    let settings = SimulationSettings {
        size: args.size,
        ..SimulationSettings::default()
    };
    let scene_dir = args.out.join("scene_0000");
    if scene_dir.exists() {
        std::fs::remove_dir_all(&scene_dir).map_err(|e| Error::io(scene_dir.clone(), e))?;
    }
    let bar = Bar::new(quiet, "simulate");
    let scene = simulate_scene(&settings, "scene_0000", args.seed, None, &bar)?;
    let scene_dir = fringewatch::simulate::output::write_scene(&scene, &args.out, 0)?;
    bar.done();
    let d = &scene.description;
    println!(
        "simulated scene: {} ({} {}→{}, {} labelled signals of {} active bodies)",
        scene_dir.display(),
        d.orbit.code(),
        d.primary_date,
        d.secondary_date,
        d.labelled_signals,
        d.active_bodies
    );
    let bar = Bar::new(quiet, "layers");
    let stack = fringewatch::dataset::scene_stack(&scene_dir, &args.out.join("layers"), &bar)?;
    bar.done();
    println!(
        "layers: ISL, PC1 and stack in {}",
        args.out.join("layers").display()
    );
    let truth = scene_dir.join("truth.gpkg");
    super::render::render(super::render::RenderArgs {
        raster: scene_dir.join("phase.tif"),
        band: 1,
        boxes: vec![truth.display().to_string()],
        out: args.out.join("preview.png"),
    })?;
    let model = match &args.model {
        Some(m) => m.clone(),
        None => match fringewatch::model::default_model() {
            Ok(m) => m,
            Err(_) => {
                println!("detection skipped: no bundled model found; pass --model FILE.onnx");
                return Ok(());
            }
        },
    };
    let out = args.out.join("detections.gpkg");
    if out.exists() {
        std::fs::remove_file(&out).map_err(|e| Error::io(out.clone(), e))?;
    }
    let (_, metadata) = fringewatch::model::onnx::read_model(&model)?;
    let confidence = metadata.default_confidence();
    let detect = super::detect::DetectArgs::for_demo(stack, model, out.clone());
    super::detect::detect(detect, quiet)?;
    super::render::render(super::render::RenderArgs {
        raster: scene_dir.join("phase.tif"),
        band: 1,
        boxes: vec![format!("{}:detections", out.display())],
        out: args.out.join("detections.png"),
    })?;
    println!(
        "score against the scene's truth at the model's confidence {confidence:.3} (simulated data: not real-world accuracy):"
    );
    super::evaluate::score(
        format!("{}:detections", out.display()),
        format!("{}:truth", truth.display()),
        confidence,
    )
}

/// ISL, PC1 and the stack of the real crop.
fn real_part(scene: &Scene, out: &Path, quiet: bool) -> Result<()> {
    println!("real scene: {}", scene.name);
    let isl = out.join("isl.tif");
    let bar = Bar::new(quiet, "ISL");
    let summary = compute_isl(
        &IslJob {
            dem: scene.dem.clone(),
            coherence: scene.coherence.clone(),
            incidence: Incidence::Degrees(scene.incidence_deg),
            look: Look::Heading(scene.heading_deg),
            like: Some(scene.phase.clone()),
            out: isl.clone(),
            weight: CoherenceWeight::default(),
            gradient: GradientMethod::ZevenbergenThorne,
        },
        &bar,
    )?;
    bar.done();
    println!(
        "ISL: {} ({} valid pixels, mean {:.3}, {:.1}% zero)",
        isl.display(),
        summary.valid_pixels,
        summary.mean_isl,
        100.0 * summary.zero_fraction
    );
    let pc1 = out.join("pc1.tif");
    let bar = Bar::new(quiet, "PC1");
    let report = compute_pc1(
        &scene.dem,
        Some(&scene.phase),
        &pc1,
        &Pc1Settings::default(),
        &bar,
    )?;
    bar.done();
    print_pc1_report(&report);
    let stack = out.join("stack.tif");
    let bar = Bar::new(quiet, "stack");
    build_stack(
        &StackJob {
            phase: scene.phase.clone(),
            isl,
            pc1,
            out: stack.clone(),
            uint16: false,
        },
        &bar,
    )?;
    bar.done();
    println!("stack: {} (phase, ISL, PC1)", stack.display());
    Ok(())
}

/// The PyRate crop: its phase is unwrapped, so it is wrapped here with atan2(sin φ, cos φ).
fn real_scene(dir: &Path, out: &Path) -> Result<Scene> {
    let unwrapped = dir.join("s1_pyrate_cropA_20180106_20180130_unwrapped.tif");
    let file = RasterFile::open(&unwrapped)?;
    let phase = file.read_band(1)?.mapv(|p| p.sin().atan2(p.cos()));
    let wrapped = out.join("phase_wrapped.tif");
    let mut w = GeoTiffWriter::create(&wrapped, file.grid(), &[Encoding::Float32], &["phase"])?;
    w.write_rows(1, 0, phase.view())?;
    w.finish()?;
    Ok(Scene {
        name: "real Sentinel-1 crop, T005A 2018-01-06/2018-01-30 (PyRate test data, EPSG:4326)",
        phase: wrapped,
        coherence: dir.join("s1_pyrate_cropA_20180106_20180130_coherence.tif"),
        dem: dir.join("s1_pyrate_cropA_dem.tif"),
        incidence_deg: 39.0,
        heading_deg: -10.5,
    })
}
