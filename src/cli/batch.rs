//! `fringewatch batch`: many product folders into one GeoPackage, resumable.

use std::path::{Path, PathBuf};

use clap::Args;
use fringewatch::batch::{batch_persistence, run_batch, BatchSettings, Status};
use fringewatch::detect::job::Detector;
use fringewatch::detect::DetectSettings;
use fringewatch::persistence::MatchRule;
use fringewatch::product::prepare::Overrides;
use fringewatch::{Error, Result};
use indicatif::MultiProgress;

use super::Bar;

#[derive(Args)]
pub(crate) struct BatchArgs {
    /// Product folders (HyP3, LiCSAR pair, GMTSAR, ISCE2, simulated scene), one interferogram
    /// each.
    #[arg(long, num_args = 1.., required_unless_present = "manifest", conflicts_with = "manifest")]
    products: Vec<PathBuf>,
    /// A CSV of product folders: a header line with a `product` column (other columns are
    /// ignored), paths relative to the CSV's folder.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Output GeoPackage: the detection layer and the `runs` table (created, or continued).
    #[arg(long)]
    out: PathBuf,
    /// Detection layer name.
    #[arg(long, default_value = "detections")]
    layer: String,
    /// ONNX model (default: the bundled model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Least score of a reported box (default: the model's recommended threshold).
    #[arg(long)]
    confidence: Option<f32>,
    /// Inference backend (auto: a hardware GPU when there is one, else tract).
    #[arg(long, value_enum, default_value = "auto")]
    backend: super::choices::BackendArg,
    /// Average the network over symmetries of each tile (test-time augmentation): each one
    /// costs another pass.
    #[arg(long, value_enum, default_value = "off")]
    augment: super::choices::AugmentArg,
    /// Afterwards, the persistent areas over every done interferogram of the layer, into layer
    /// `<layer>_persistence` of the same file (IoU ≥ 0.25 or centres within 150 m; replaced at
    /// each call).
    #[arg(long)]
    persistence: bool,
}

/// The product folders of a manifest CSV.
fn manifest_products(path: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::reading(path, source))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let column = header
        .iter()
        .position(|h| h == "product")
        .ok_or_else(|| Error::bad_input(path, "no 'product' column in the header line"))?;
    let base = path.parent().unwrap_or(Path::new("."));
    lines
        .enumerate()
        .map(|(k, line)| {
            let cell = line.split(',').nth(column).map(str::trim).unwrap_or("");
            if cell.is_empty() {
                return Err(Error::bad_input(
                    path,
                    format!("line {}: no product folder", k + 2),
                ));
            }
            Ok(base.join(cell))
        })
        .collect()
}

pub(crate) fn run(args: BatchArgs, quiet: bool) -> Result<()> {
    let products = match &args.manifest {
        Some(csv) => manifest_products(csv)?,
        None => args.products.clone(),
    };
    let detector = super::native_stderr::silenced(|| {
        Detector::open(args.model.as_deref(), args.backend.into(), 1)
    })?;
    super::detect::print_notes(&detector, quiet);
    let defaults = detector.default_settings();
    let settings = BatchSettings {
        out: args.out.clone(),
        layer: args.layer.clone(),
        overrides: Overrides::default(),
        detect: DetectSettings {
            confidence: args.confidence.unwrap_or(defaults.confidence),
            augmentation: args.augment.into(),
            ..defaults
        },
    };
    // one bar over the pairs, one over the current pair
    let bars = MultiProgress::new();
    let (overall, current) = (Bar::new(quiet, "pairs"), Bar::new(quiet, "pair"));
    let _ = bars.add(overall.0.clone());
    let _ = bars.add(current.0.clone());
    let outcomes = run_batch(&products, &settings, &detector, &overall, &current)?;
    overall.done();
    current.done();
    let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    for o in outcomes.iter().filter(|o| o.status == Status::Failed) {
        let product = o.product.display().to_string();
        if o.message.starts_with(&product) {
            eprintln!("failed: {}", o.message);
        } else {
            eprintln!("failed: {product}: {}", o.message);
        }
    }
    println!(
        "{} pairs: {} done ({} detections), {} failed, {} skipped (done before) → {} layer '{}', table 'runs'",
        outcomes.len(),
        count(Status::Done),
        outcomes.iter().map(|o| o.detections).sum::<usize>(),
        count(Status::Failed),
        count(Status::Skipped),
        args.out.display(),
        args.layer
    );
    if args.persistence {
        let (layer, summary) = batch_persistence(
            &args.out,
            &args.layer,
            &MatchRule::default(),
            &fringewatch::progress::Silent,
        )?;
        println!(
            "persistence: {} areas from {} detections of {} interferograms, {} seen in ≥ 2 → layer '{layer}'",
            summary.areas, summary.detections, summary.interferograms, summary.persistent_areas
        );
    }
    Ok(())
}
