//! Many interferograms into one GeoPackage: every product's detections in one layer (each
//! feature carries its interferogram, dates and orbit) and each attempt's outcome in a `runs`
//! table of the same file — `done`, `failed` with the error, or `skipped` because an earlier
//! call already did it. A pair lands in one SQLite transaction with its `runs` row: it is wholly
//! in the layer or not at all, also after a kill. A second call does only what is not done.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;

use crate::detect::job::Detector;
use crate::detect::output::detection_fields;
use crate::detect::DetectSettings;
use crate::error::{Error, Result};
use crate::product::open_product;
use crate::product::prepare::{prepare, Overrides};
use crate::progress::{Progress, Stage};
use crate::raster::io::check_output_path;
use crate::vector::gpkg::{append_in_transaction, layer_crs, read_layer};
use crate::vector::{FieldKind, FieldSpec, LayerSpec, PolygonFeature, Value};

/// Name of the table of outcomes.
pub const RUNS_TABLE: &str = "runs";

/// What became of a pair in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Done,
    Failed,
    /// Done by an earlier call (or listed twice): not run again.
    Skipped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One pair's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct PairOutcome {
    /// The product folder as given.
    pub product: PathBuf,
    pub interferogram: String,
    pub status: Status,
    /// The error for a failed pair, why for a skipped one.
    pub message: String,
    pub detections: usize,
}

/// Where and how a batch writes.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    pub out: PathBuf,
    /// The detection layer.
    pub layer: String,
    pub overrides: Overrides,
    pub detect: DetectSettings,
}

/// Fields of the `runs` table.
pub fn runs_fields() -> Vec<FieldSpec> {
    vec![
        FieldSpec::new("product", FieldKind::Text),
        FieldSpec::new("interferogram", FieldKind::Text),
        FieldSpec::new("status", FieldKind::Text),
        FieldSpec::new("message", FieldKind::Text),
        FieldSpec::new("detections", FieldKind::Integer),
        FieldSpec::new("finished", FieldKind::DateTime),
        FieldSpec::new("seconds", FieldKind::Real),
    ]
}

/// The key of a product in the `runs` table: its canonical path.
fn product_key(product: &Path) -> String {
    product
        .canonicalize()
        .unwrap_or_else(|_| product.to_path_buf())
        .display()
        .to_string()
}

/// Products whose latest recorded attempt in `out` is `done`.
pub fn done_products(out: &Path) -> Result<std::collections::HashSet<String>> {
    let mut done = std::collections::HashSet::new();
    if !out.exists() {
        return Ok(done);
    }
    let Ok(layer) = read_layer(out, Some(RUNS_TABLE)) else {
        return Ok(done);
    };
    for row in &layer.features {
        let text = |k: &str| {
            row.attribute(k)
                .and_then(Value::as_text)
                .unwrap_or_default()
        };
        if text("status") == Status::Done.name() {
            done.insert(text("product"));
        }
    }
    Ok(done)
}

/// Run every product of `products` into `settings.out`: one progress over the pairs
/// (`overall`), one over the current pair (`current`). Returns each pair's outcome; only a
/// cancel or an output that cannot be written stop the batch (a cancelled pair leaves nothing).
pub fn run_batch(
    products: &[PathBuf],
    settings: &BatchSettings,
    detector: &Detector,
    overall: &dyn Progress,
    current: &dyn Progress,
) -> Result<Vec<PairOutcome>> {
    check_output_path(&settings.out)?;
    for product in products {
        if product_key(product) == product_key(&settings.out) {
            return Err(Error::parameter(
                "out",
                format!("{} is also an input", settings.out.display()),
            ));
        }
    }
    let mut done = done_products(&settings.out)?;
    // the detection layer's CRS: an existing layer's, else the first done pair's product CRS
    let mut target_crs = layer_crs(&settings.out, &settings.layer);
    let scratch_parent = settings
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut outcomes = Vec::new();
    for (k, product) in products.iter().enumerate() {
        let fraction = k as f64 / products.len().max(1) as f64;
        if !overall.report(fraction, &product.display().to_string()) {
            return Err(Error::Cancelled);
        }
        let key = product_key(product);
        let started = Instant::now();
        if done.contains(&key) {
            let outcome = PairOutcome {
                product: product.clone(),
                interferogram: String::new(),
                status: Status::Skipped,
                message: "done by an earlier call".into(),
                detections: 0,
            };
            record(settings, &key, &outcome, started, None)?;
            outcomes.push(outcome);
            continue;
        }
        let scratch = tempfile::Builder::new()
            .prefix(".fringewatch-batch-")
            .tempdir_in(scratch_parent)
            .map_err(|source| Error::Io {
                path: scratch_parent.to_path_buf(),
                source,
            })?;
        let attempt = (|| -> Result<(String, Vec<PolygonFeature>, String)> {
            let opened = open_product(product)?;
            let prepared = prepare(
                &opened,
                &settings.overrides,
                scratch.path(),
                &Stage {
                    parent: current,
                    start: 0.0,
                    span: 0.3,
                },
            )?;
            let run = detector.detect_raw(
                &prepared.raw,
                scratch.path(),
                &settings.detect,
                &Stage {
                    parent: current,
                    start: 0.3,
                    span: 0.7,
                },
            )?;
            // into the layer's CRS: the product's own for the first pair (boxes transformed
            // with PROJ, 8 points per edge, when the CRSs differ)
            let crs = target_crs
                .clone()
                .unwrap_or_else(|| prepared.product_crs.wkt.clone());
            let features = crate::vector::reproject_features(
                detector.features(&run),
                &run.grid.crs.wkt,
                &crs,
            )?;
            Ok((opened.name, features, crs))
        })();
        let outcome = match attempt {
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => PairOutcome {
                product: product.clone(),
                interferogram: String::new(),
                status: Status::Failed,
                message: e.to_string(),
                detections: 0,
            },
            Ok((interferogram, features, crs)) => {
                let outcome = PairOutcome {
                    product: product.clone(),
                    interferogram,
                    status: Status::Done,
                    message: String::new(),
                    detections: features.len(),
                };
                record(settings, &key, &outcome, started, Some((&crs, &features)))?;
                target_crs = Some(crs);
                done.insert(key);
                outcomes.push(outcome);
                continue;
            }
        };
        record(settings, &key, &outcome, started, None)?;
        outcomes.push(outcome);
    }
    overall.report(1.0, "done");
    Ok(outcomes)
}

/// Append a done pair's features (in CRS `crs`; the layer is created in it when missing) and
/// the attempt's `runs` row in one transaction.
fn record(
    settings: &BatchSettings,
    key: &str,
    outcome: &PairOutcome,
    started: Instant,
    detections: Option<(&str, &[PolygonFeature])>,
) -> Result<()> {
    let spec = detections.map(|(crs, _)| LayerSpec {
        name: settings.layer.clone(),
        crs: crs.to_string(),
        fields: detection_fields(),
    });
    let table = LayerSpec {
        name: RUNS_TABLE.into(),
        crs: String::new(),
        fields: runs_fields(),
    };
    let row = vec![
        Value::Text(key.to_string()),
        Value::Text(outcome.interferogram.clone()),
        Value::Text(outcome.status.name().into()),
        Value::Text(outcome.message.clone()),
        Value::Integer(outcome.detections as i64),
        Value::DateTime(Utc::now()),
        Value::Real(started.elapsed().as_secs_f64()),
    ];
    append_in_transaction(
        &settings.out,
        spec.as_ref().zip(detections.map(|(_, features)| features)),
        &table,
        &[row],
    )
}
