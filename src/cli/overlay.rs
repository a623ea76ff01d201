//! `fringewatch overlay` and `fringewatch persistence`.

use std::path::PathBuf;

use clap::Args;
use fringewatch::overlay::layer::overlay_files;
use fringewatch::persistence::layer::persistence_files;
use fringewatch::persistence::MatchRule;
use fringewatch::vector::LayerRef;
use fringewatch::{Error, Result};

use super::Bar;

#[derive(Args)]
pub(crate) struct OverlayArgs {
    /// Detections, PATH[:LAYER].
    #[arg(long)]
    detections: String,
    /// Inventory, anything OGR reads (GeoPackage, shapefile, IFFI GeoJSON), PATH[:LAYER].
    #[arg(long)]
    inventory: String,
    /// Output GeoPackage PATH[:LAYER] (default: the detections' file, layer `<layer>_overlay`).
    #[arg(long)]
    out: Option<String>,
    /// A detection farther than this from every mapped landslide is `new` (metres, CRS units).
    #[arg(long, default_value_t = 250.0)]
    new_distance: f64,
    /// Summary JSON (counts by class × status).
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Replace an existing output layer.
    #[arg(long)]
    overwrite: bool,
}

pub(crate) fn run(args: OverlayArgs, quiet: bool) -> Result<()> {
    let detections = LayerRef::parse(&args.detections);
    let inventory = LayerRef::parse(&args.inventory);
    let out = match &args.out {
        Some(text) => LayerRef::parse(text),
        None => LayerRef {
            path: detections.path.clone(),
            layer: None,
        },
    };
    let bar = Bar::new(quiet, "overlay");
    let summary = overlay_files(
        &detections,
        &inventory,
        &out,
        args.new_distance,
        args.overwrite,
        &bar,
    )?;
    bar.done();
    println!(
        "{} detections against {} inventory polygons ({} skipped as invalid){}",
        summary.detections,
        summary.inventory.polygons,
        summary.inventory.skipped_invalid,
        if summary.reprojected {
            ", inventory reprojected to the detections' CRS"
        } else {
            ""
        }
    );
    println!("| class | mapped | near | new |");
    println!("|---|---|---|---|");
    for (class, counts) in &summary.counts {
        let get = |s: &str| counts.get(s).copied().unwrap_or(0);
        println!(
            "| {class} | {} | {} | {} |",
            get("mapped"),
            get("near"),
            get("new")
        );
    }
    write_summary(args.summary.as_deref(), &summary)
}

#[derive(Args)]
pub(crate) struct PersistenceArgs {
    /// Detection layer of one interferogram, PATH[:LAYER]; repeat for each (at least two; any
    /// CRS, ascending and descending mixed).
    #[arg(long, required = true)]
    detections: Vec<String>,
    /// Output GeoPackage PATH[:LAYER] (default layer `persistence`).
    #[arg(long)]
    out: String,
    /// Two detections are one area when their boxes overlap with at least this IoU…
    #[arg(long, default_value_t = MatchRule::default().iou)]
    iou: f64,
    /// …or their centres lie within this distance (CRS units, metres in UTM).
    #[arg(long, default_value_t = MatchRule::default().distance)]
    distance: f64,
    /// Summary JSON.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Replace an existing output layer.
    #[arg(long)]
    overwrite: bool,
}

pub(crate) fn persistence(args: PersistenceArgs, quiet: bool) -> Result<()> {
    let inputs: Vec<LayerRef> = args.detections.iter().map(|t| LayerRef::parse(t)).collect();
    let out = LayerRef::parse(&args.out);
    let rule = MatchRule {
        iou: args.iou,
        distance: args.distance,
    };
    let bar = Bar::new(quiet, "persistence");
    let summary = persistence_files(&inputs, &out, &rule, args.overwrite, &bar)?;
    bar.done();
    println!(
        "{} detections of {} interferograms → {} areas, {} seen in two or more → {}",
        summary.detections,
        summary.interferograms,
        summary.areas,
        summary.persistent_areas,
        out.path.display()
    );
    for label in &summary.without_footprint {
        eprintln!(
            "note: {label} records no scene footprint (not written by fringewatch, or GeoJSON): it counts as covering every area"
        );
    }
    write_summary(args.summary.as_deref(), &summary)
}

/// Write a command's summary as pretty JSON when a path was given.
fn write_summary(path: Option<&std::path::Path>, summary: &impl serde::Serialize) -> Result<()> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(summary)
            .map_err(|e| Error::parameter("summary", e.to_string()))?;
        std::fs::write(path, text).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}
