//! Many interferograms into one GeoPackage: every product's detections in one layer (each
//! feature carries its interferogram, dates and orbit) and each attempt's outcome in a `runs`
//! table of the same file — `done`, `failed` with the error, or `skipped` because an earlier
//! call already did it. A pair lands in one SQLite transaction with its `runs` row: it is wholly
//! in the layer or not at all, also after a kill. A second call does only what is not done.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::detect::job::Detector;
use crate::detect::output::{detection_fields, footprint_metadata};
use crate::detect::DetectSettings;
use crate::error::{Error, Result};
use crate::persistence::layer::{persistence_of_layer, PersistenceSummary};
use crate::persistence::MatchRule;
use crate::product::open_product;
use crate::product::prepare::{prepare, Overrides};
use crate::progress::{Progress, Stage};
use crate::raster::io::check_output_path;
use crate::vector::gpkg::{append_in_transaction, layer_crs, read_layer};
use crate::vector::{FieldKind, FieldSpec, LayerRef, LayerSpec, PolygonFeature, Value};

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
        FieldSpec::new("footprint", FieldKind::Text),
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

/// One product's detections as the detector found them, still in the detector's grid CRS: what
/// a worker hands to the single writer of a batch ([`BatchWriter::record`]), which brings them
/// into the layer's CRS. Crosses process boundaries as JSON (the C ABI's `fw_detect_product`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairDetections {
    /// The interferogram's name (the product's).
    pub interferogram: String,
    /// CRS (WKT) of `features`: the detector's grid.
    pub grid_crs: String,
    /// The product's own CRS (WKT): the layer's CRS when this pair creates the layer.
    pub product_crs: String,
    pub features: Vec<PolygonFeature>,
    /// Time the detection took.
    pub seconds: f64,
    /// The scene's outline as a lon/lat WKT polygon (what persistence counts as covered).
    #[serde(default)]
    pub footprint: Option<String>,
}

/// What a batch records for a product.
#[derive(Debug, Clone, PartialEq)]
pub enum PairResult {
    /// Detected: its features land in the layer.
    Detected(PairDetections),
    /// The product could not be run: the error text, and the seconds it took.
    Failed { message: String, seconds: f64 },
    /// Not run because an earlier call already did it.
    DoneBefore,
}

/// Read `product`, bring it onto the detector's grid in a scratch folder under `scratch_parent`
/// (removed afterwards) and detect: the pair's work, without writing anything shared.
pub fn detect_pair(
    product: &Path,
    overrides: &Overrides,
    detector: &Detector,
    settings: &DetectSettings,
    scratch_parent: &Path,
    progress: &dyn Progress,
) -> Result<PairDetections> {
    let started = Instant::now();
    let scratch = tempfile::Builder::new()
        .prefix(".fringewatch-batch-")
        .tempdir_in(scratch_parent)
        .map_err(|source| Error::io(scratch_parent, source))?;
    let opened = open_product(product)?;
    let prepared = prepare(
        &opened,
        overrides,
        scratch.path(),
        &Stage {
            parent: progress,
            start: 0.0,
            span: 0.3,
        },
    )?;
    let run = detector.detect_raw(
        &prepared.raw,
        scratch.path(),
        false,
        settings,
        &Stage {
            parent: progress,
            start: 0.3,
            span: 0.7,
        },
    )?;
    Ok(PairDetections {
        interferogram: opened.name,
        grid_crs: run.grid.crs.wkt.clone(),
        product_crs: prepared.product_crs.wkt.clone(),
        features: detector.features(&run),
        seconds: started.elapsed().as_secs_f64(),
        footprint: footprint_metadata(&run.grid).map(|(_, wkt)| wkt),
    })
}

/// The single writer of a batch's GeoPackage: knows which products are done and the detection
/// layer's CRS (an existing layer's, else the first detected pair's product CRS), and records
/// each product's result with its `runs` row in one transaction. `batch` and the Dask client
/// both write through it, so that their layers are the same.
#[derive(Debug)]
pub struct BatchWriter {
    out: PathBuf,
    layer: String,
    layer_crs: Option<String>,
    done: std::collections::HashSet<String>,
}

impl BatchWriter {
    /// Open (or prepare to create) the batch output `out` with detection layer `layer`;
    /// refuses an output that is one of `products`.
    pub fn open(out: &Path, layer: &str, products: &[PathBuf]) -> Result<BatchWriter> {
        check_output_path(out)?;
        crate::vector::check_geopackage_name(out)?;
        crate::vector::check_layer_name(layer)?;
        let out_key = product_key(out);
        if products.iter().any(|p| product_key(p) == out_key) {
            return Err(Error::parameter(
                "out",
                format!("{} is also an input", out.display()),
            ));
        }
        Ok(BatchWriter {
            out: out.to_path_buf(),
            layer: layer.to_string(),
            layer_crs: layer_crs(out, layer),
            done: done_products(out)?,
        })
    }

    /// Whether an earlier call (or this one) already landed `product`.
    pub fn is_done(&self, product: &Path) -> bool {
        self.done.contains(&product_key(product))
    }

    /// Record `result` for `product`: a done product is recorded as skipped whatever the
    /// result (nothing is written twice); detected features are brought into the layer's CRS
    /// (PROJ, 8 points per edge, when the CRSs differ) and land with the `runs` row in one
    /// transaction.
    pub fn record(&mut self, product: &Path, result: PairResult) -> Result<PairOutcome> {
        let key = product_key(product);
        let mut outcome = PairOutcome {
            product: product.to_path_buf(),
            interferogram: String::new(),
            status: Status::Skipped,
            message: "done by an earlier call".into(),
            detections: 0,
        };
        let mut footprint = None;
        let (seconds, detections) = match result {
            _ if self.done.contains(&key) => (0.0, None),
            PairResult::DoneBefore => {
                return Err(Error::parameter(
                    "result",
                    format!("{} has no result and is not done", product.display()),
                ))
            }
            PairResult::Failed { message, seconds } => {
                outcome.status = Status::Failed;
                outcome.message = message;
                (seconds, None)
            }
            PairResult::Detected(pair) => {
                let crs = self
                    .layer_crs
                    .clone()
                    .unwrap_or_else(|| pair.product_crs.clone());
                let features =
                    crate::vector::reproject_features(pair.features, &pair.grid_crs, &crs)?;
                outcome.status = Status::Done;
                outcome.message.clear();
                outcome.interferogram = pair.interferogram;
                outcome.detections = features.len();
                footprint = pair.footprint;
                (pair.seconds, Some((crs, features)))
            }
        };
        let spec = detections.as_ref().map(|(crs, _)| LayerSpec {
            name: self.layer.clone(),
            crs: crs.clone(),
            fields: detection_fields(),
        });
        let table = LayerSpec {
            name: RUNS_TABLE.into(),
            crs: String::new(),
            fields: runs_fields(),
        };
        let row = vec![
            Value::Text(key.clone()),
            Value::Text(outcome.interferogram.clone()),
            Value::Text(outcome.status.name().into()),
            Value::Text(outcome.message.clone()),
            Value::Integer(outcome.detections as i64),
            Value::DateTime(Utc::now()),
            Value::Real(seconds),
            footprint.map_or(Value::Null, Value::Text),
        ];
        append_in_transaction(
            &self.out,
            spec.as_ref()
                .zip(detections.as_ref().map(|(_, f)| f.as_slice())),
            Some(&crate::detect::output::detection_style()),
            &table,
            &[row],
        )?;
        if let Some((crs, _)) = detections {
            self.layer_crs = Some(crs);
            self.done.insert(key);
        }
        Ok(outcome)
    }
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
    let mut writer = BatchWriter::open(&settings.out, &settings.layer, products)?;
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
        let started = Instant::now();
        let result = if writer.is_done(product) {
            PairResult::DoneBefore
        } else {
            match detect_pair(
                product,
                &settings.overrides,
                detector,
                &settings.detect,
                scratch_parent,
                current,
            ) {
                Ok(pair) => PairResult::Detected(pair),
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) => PairResult::Failed {
                    message: e.to_string(),
                    seconds: started.elapsed().as_secs_f64(),
                },
            }
        };
        outcomes.push(writer.record(product, result)?);
    }
    overall.report(1.0, "done");
    Ok(outcomes)
}

/// The persistence layer of a batch: persistent areas over every done interferogram of `out`'s
/// detection layer `layer` (their footprints from the `runs` table), written to layer
/// `<layer>_persistence` of the same file, replaced at each call (it is derived from the rest).
pub fn batch_persistence(
    out: &Path,
    layer: &str,
    rule: &MatchRule,
    progress: &dyn Progress,
) -> Result<(String, PersistenceSummary)> {
    let runs = read_layer(out, Some(RUNS_TABLE))?;
    let mut interferograms: Vec<(String, Option<String>)> = Vec::new();
    for row in &runs.features {
        let text = |k: &str| row.attribute(k).and_then(Value::as_text);
        let Some(id) = text("interferogram").filter(|s| !s.is_empty()) else {
            continue;
        };
        if text("status").as_deref() == Some(Status::Done.name())
            && !interferograms.iter().any(|(known, _)| *known == id)
        {
            interferograms.push((id, text("footprint")));
        }
    }
    let name = format!("{layer}_persistence");
    let summary = persistence_of_layer(
        &LayerRef {
            path: out.to_path_buf(),
            layer: Some(layer.to_string()),
        },
        &interferograms,
        &LayerRef {
            path: out.to_path_buf(),
            layer: Some(name.clone()),
        },
        rule,
        true,
        progress,
    )?;
    Ok((name, summary))
}
