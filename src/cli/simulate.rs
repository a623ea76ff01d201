//! `fringewatch simulate` and `fringewatch render`.

use std::path::{Path, PathBuf};

use clap::Args;
use fringewatch::raster::io::RasterFile;
use fringewatch::render::{class_colour, render_phase_png, DrawBox};
use fringewatch::simulate::domain::Family;
use fringewatch::simulate::output::write_scene;
use fringewatch::simulate::{scene_seed, simulate_scene, Orbit, Scene, SimulationSettings};
use fringewatch::vector::gpkg::read_layer;
use fringewatch::vector::LayerRef;
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
    orbit: Option<Orbit>,
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

#[derive(Args)]
pub(crate) struct RenderArgs {
    /// Wrapped phase raster, or a stack (band 1 is the phase).
    #[arg(long)]
    pub(crate) raster: PathBuf,
    /// Band to render.
    #[arg(long, default_value_t = 1)]
    pub(crate) band: usize,
    /// Box layers to draw (PATH[:LAYER]); boxes are coloured by their `class` field.
    #[arg(long, num_args = 1..)]
    pub(crate) boxes: Vec<String>,
    /// Output PNG.
    #[arg(long)]
    pub(crate) out: PathBuf,
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
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
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
        settings.orbit = args.orbit;
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
    std::fs::create_dir_all(&out_dir).map_err(|source| Error::Io {
        path: out_dir.clone(),
        source,
    })?;
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

pub(crate) fn render(args: RenderArgs) -> Result<()> {
    let raster = RasterFile::open(&args.raster)?;
    if args.band == 0 || args.band > raster.band_count() {
        return Err(Error::parameter(
            "band",
            format!(
                "{} has {} band(s)",
                args.raster.display(),
                raster.band_count()
            ),
        ));
    }
    let values = raster.read_band(args.band)?;
    let grid = raster.grid();
    let mut boxes = Vec::new();
    for text in &args.boxes {
        let layer_ref = LayerRef::parse(text);
        let layer = read_layer(&layer_ref.path, layer_ref.layer.as_deref())?;
        for f in &layer.features {
            let Some((x0, y0, x1, y1)) = f.envelope else {
                continue;
            };
            let (c0, r0) = grid.map_to_pixel(x0, y1);
            let (c1, r1) = grid.map_to_pixel(x1, y0);
            let class = f
                .attribute("class")
                .and_then(|v| v.as_text())
                .unwrap_or_default();
            boxes.push(DrawBox {
                px: [c0.min(c1), r0.min(r1), c0.max(c1), r0.max(r1)],
                colour: class_colour(&class),
            });
        }
    }
    render_phase_png(values.view(), &boxes, &args.out)?;
    println!("{} ({} boxes)", args.out.display(), boxes.len());
    Ok(())
}

#[derive(Args)]
pub(crate) struct DatasetArgs {
    /// Scene directories (phase.tif, coherence.tif, dem.tif, incidence.tif or scene.json,
    /// truth.gpkg), or directories holding such scene directories (e.g. a `simulate --out`).
    #[arg(long, num_args = 1.., required = true)]
    scenes: Vec<PathBuf>,
    /// Output dataset directory (must be missing or empty).
    #[arg(long)]
    out: PathBuf,
    /// Tile side in pixels (multiple of 32).
    #[arg(long, default_value_t = 160)]
    tile: usize,
    /// Keep a box cut by a tile edge when at least this share of it remains.
    #[arg(long, default_value_t = 0.4)]
    min_visible: f64,
    /// Share of tiles without labels to keep.
    #[arg(long, default_value_t = 0.25)]
    empty_fraction: f64,
    /// Seed of the split, the empty-tile choice and the anchors.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Scene directories: the given ones that hold a phase.tif, else their sub-directories that do.
fn expand_scenes(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        if dir.join("phase.tif").exists() {
            out.push(dir.clone());
            continue;
        }
        let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.join("phase.tif").exists())
                    .collect()
            })
            .unwrap_or_default();
        children.sort();
        if children.is_empty() {
            out.push(dir.clone());
        }
        out.extend(children);
    }
    out
}

pub(crate) fn dataset(args: DatasetArgs, quiet: bool) -> Result<()> {
    use fringewatch::dataset::{build_dataset, DatasetSettings};
    let scenes = expand_scenes(&args.scenes);
    let settings = DatasetSettings {
        tile: args.tile,
        min_visible_fraction: args.min_visible,
        empty_tile_fraction: args.empty_fraction,
        seed: args.seed,
        ..DatasetSettings::default()
    };
    let bar = Bar::new(quiet, "dataset");
    let manifest = build_dataset(&scenes, &args.out, &settings, &bar)?;
    bar.done();
    println!(
        "{}: {} scenes, tiles train/validation/test {}/{}/{}",
        args.out.display(),
        manifest.scenes.len(),
        manifest.train.len(),
        manifest.validation.len(),
        manifest.test.len()
    );
    for (split, counts) in ["train", "validation", "test"]
        .iter()
        .zip(manifest.class_counts)
    {
        println!(
            "  {split:<10} labels: AR {} CF {} CS {} FS {}",
            counts[0], counts[1], counts[2], counts[3]
        );
    }
    let anchors: Vec<String> = manifest
        .anchors
        .iter()
        .map(|a| format!("{:.0}x{:.0}", a.0, a.1))
        .collect();
    println!("  anchors (px): {}", anchors.join(" "));
    Ok(())
}
