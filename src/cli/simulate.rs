//! `fringewatch simulate` and `fringewatch render`.

use std::path::{Path, PathBuf};

use clap::Args;
use fringewatch::render::{class_colour, render_phase_png, DrawBox};
use fringewatch::simulate::domain::Family;
use fringewatch::simulate::output::write_scene;
use fringewatch::simulate::{scene_seed, simulate_scene, Scene, SimulationSettings};

use super::choices::OrbitArg;
use fringewatch::{Error, Result};

use super::Bar;

#[derive(Args)]
pub(crate) struct SimulateArgs {
    /// Output directory; scene k is written to DIR/scene_k (4 digits).
    #[arg(long, required_unless_present = "print_settings")]
    out: Option<PathBuf>,
    /// Seed: the same seed and settings give byte-identical scenes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of scenes.
    #[arg(long, default_value_t = 1)]
    scenes: usize,
    /// Scene side in pixels (15 m pixels: 960 px = 14.4 km; the preprint's area ≈ 2400 px).
    #[arg(long)]
    size: Option<usize>,
    /// Pass direction (default: drawn per scene).
    #[arg(long, value_enum)]
    orbit: Option<OrbitArg>,
    /// Temporal baseline in days (default: drawn from 6–30 days per scene).
    #[arg(long)]
    baseline_days: Option<u32>,
    /// Real DEM to use instead of synthetic relief (any GDAL raster).
    #[arg(long)]
    dem: Option<PathBuf>,
    /// JSON file whose values override the settings (the family's, else the defaults) at any
    /// depth: any subset of what --print-settings shows; an unknown key is refused.
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Scene family: `fixed` (one GMTSAR-like chain, the defaults), `randomised` (training: each
    /// scene draws its processing chain and physics from wide ranges), `outside` (held out:
    /// processing choices outside the training ranges).
    #[arg(long, value_parser = ["fixed", "randomised", "outside"])]
    family: Option<String>,
    /// Real DEMs that randomised scenes cut their relief from (with synthetic relief); the
    /// held-out Matese tile (N41E014) is refused for `randomised`.
    #[arg(long, num_args = 1.., requires = "family")]
    dems: Vec<PathBuf>,
    /// Print the default settings as JSON and exit.
    #[arg(long)]
    print_settings: bool,
    /// Also write preview.png (phase in a cyclic colour map with the truth boxes).
    #[arg(long)]
    render: bool,
    /// First scene number (to extend an existing set with new scenes).
    #[arg(long, default_value_t = 0)]
    first: usize,
}

fn load_settings(args: &SimulateArgs) -> Result<SimulationSettings> {
    // the family's settings (or the defaults), with a --settings file's values laid over them
    let base = match args.family.as_deref().and_then(Family::parse) {
        Some(family) => {
            let dems: Vec<String> = args.dems.iter().map(|d| d.display().to_string()).collect();
            family.settings(&dems)
        }
        None => SimulationSettings::default(),
    };
    let mut settings = match &args.settings {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| Error::io(path.clone(), source))?;
            base.overridden_by(&text).map_err(|e| {
                Error::bad_input(path, format!("not valid simulation settings: {e}"))
            })?
        }
        None => base,
    };
    if let Some(size) = args.size {
        settings.size = size;
    }
    if args.orbit.is_some() {
        settings.orbit = args.orbit.map(Into::into);
    }
    if args.baseline_days.is_some() {
        settings.baseline_days = args.baseline_days;
    }
    Ok(settings)
}

pub(crate) fn simulate(args: SimulateArgs, quiet: bool) -> Result<()> {
    if args.print_settings {
        let text = serde_json::to_string_pretty(&load_settings(&args)?).unwrap_or_default();
        println!("{text}");
        return Ok(());
    }
    let settings = load_settings(&args)?;
    let Some(out_dir) = args.out.clone() else {
        return Err(Error::parameter("out", "give --out DIR"));
    };
    let created = !out_dir.exists();
    std::fs::create_dir_all(&out_dir).map_err(|source| Error::io(out_dir.clone(), source))?;
    let result = simulate_into(&args, &settings, &out_dir, quiet);
    if result.is_err() && created {
        // a folder this call made and that holds nothing (remove_dir refuses a non-empty one)
        let _ = std::fs::remove_dir(&out_dir);
    }
    result
}

/// The scenes of `args` into `out_dir`, with one line each and the label counts.
fn simulate_into(
    args: &SimulateArgs,
    settings: &SimulationSettings,
    out_dir: &std::path::Path,
    quiet: bool,
) -> Result<()> {
    let mut labels = [0usize; 4];
    for k in args.first..args.first + args.scenes {
        let name = format!("scene_{k:04}");
        let bar = Bar::new(quiet, &name);
        let seed = scene_seed(args.seed, k as u64);
        let scene = simulate_scene(settings, &name, seed, args.dem.as_deref(), &bar)?;
        let dir = write_scene(&scene, out_dir, k)?;
        if args.render {
            render_scene(&scene, &dir.join("preview.png"))?;
        }
        bar.done();
        for s in scene.signals.iter().filter(|s| s.visible) {
            labels[s.class as usize] += 1;
        }
        let d = &scene.description;
        println!(
            "{}: {} {}→{} ({} d, B⊥ {:.0} m), {} bodies ({} active), {} labelled signals",
            dir.display(),
            d.orbit.code(),
            d.primary_date,
            d.secondary_date,
            d.temporal_baseline_days,
            d.perpendicular_baseline_m,
            d.bodies,
            d.active_bodies,
            d.labelled_signals
        );
    }
    println!(
        "labels: AR {}, CF {}, CS {}, FS {} (total {})",
        labels[0],
        labels[1],
        labels[2],
        labels[3],
        labels.iter().sum::<usize>()
    );
    Ok(())
}

fn render_scene(scene: &Scene, path: &Path) -> Result<()> {
    let boxes: Vec<DrawBox> = scene
        .signals
        .iter()
        .filter(|s| s.visible)
        .map(|s| DrawBox {
            px: s.box_px.map(|v| v as f64),
            colour: class_colour(s.class.code()),
        })
        .collect();
    render_phase_png(scene.phase.view(), &boxes, path)
}
