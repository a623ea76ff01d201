//! `fringewatch persistence`: detections of several interferograms clustered into persistent
//! areas.

use std::path::PathBuf;

use clap::Args;
use fringewatch::persistence::layer::persistence_files;
use fringewatch::persistence::MatchRule;
use fringewatch::vector::LayerRef;
use fringewatch::Result;

use super::Bar;

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
    super::write_summary(args.summary.as_deref(), &summary)
}
