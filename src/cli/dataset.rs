//! `fringewatch dataset`: tiles, YOLO labels, split and anchors from labelled scenes.

use std::path::PathBuf;

use clap::Args;
use fringewatch::Result;

use super::Bar;

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
    /// Mark labels whose signal shows a visible peak phase under this many radians (the
    /// `visible_peak_rad` of simulated scenes' truth.gpkg) as don't-care: training neither
    /// teaches to find them nor to call them background, and scoring leaves them out (e.g. 2, a
    /// third of a fringe). Off by default: every label is one to find.
    #[arg(long, value_name = "RAD")]
    dont_care_below_rad: Option<f64>,
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
        dont_care_below_rad: args.dont_care_below_rad,
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
