//! `fringewatch baseline`: the non-learning fringe detector.

use std::path::PathBuf;

use clap::Args;
use fringewatch::detect::job::DetectionOutput;
use fringewatch::Result;

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
