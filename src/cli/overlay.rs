//! `fringewatch overlay` and `fringewatch persistence`.

use std::path::PathBuf;

use clap::Args;
use fringewatch::overlay::layer::overlay_files;
use fringewatch::vector::LayerRef;
use fringewatch::Result;

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
    if summary.without_geometry > 0 {
        eprintln!(
            "warning: {} of the detections have no geometry (NULL or empty) and are not in the output",
            summary.without_geometry
        );
    }
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
    super::write_summary(args.summary.as_deref(), &summary)
}
