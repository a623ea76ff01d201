//! The C ABI of batch work split across processes (the Dask client and its workers): a worker
//! detects one product and hands back its result as JSON ([`fw_detect_product`]); the single
//! writer asks which products are still to do ([`fw_batch_plan`]) and records each result with
//! its `runs` row in one transaction ([`fw_batch_record`]) — the same writer as `batch` — and
//! may add the persistence layer over all of them ([`fw_batch_persistence`]).

use std::ffi::c_char;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::json;

use super::callbacks::CallbackProgress;
use super::{
    clear_out, detection_settings, give_string, guard, optional_str, required_str, ArgumentError,
    FwCallbacks, FwDetectOptions, FwDetector, FwStatus,
};
use crate::batch::{batch_persistence, detect_pair, BatchWriter, PairDetections, PairResult};
use crate::detect::output::detection_fields;
use crate::persistence::MatchRule;
use crate::product::prepare::Overrides;

/// A pair's result as a worker or a host gives it to [`fw_batch_record`].
#[derive(Deserialize)]
#[serde(untagged)]
enum RecordedResult {
    Detected(PairDetections),
    Failed {
        failed: String,
        #[serde(default)]
        seconds: f64,
    },
}

unsafe fn product_list(
    products: *const *const c_char,
    count: usize,
) -> Result<Vec<PathBuf>, ArgumentError> {
    if products.is_null() && count > 0 {
        return Err(ArgumentError("argument 'products' is NULL".into()));
    }
    (0..count)
        .map(|i| required_str(*products.add(i), &format!("products[{i}]")).map(PathBuf::from))
        .collect()
}

/// Detect one product folder (HyP3, LiCSAR, GMTSAR, ISCE2, simulated scene) without writing
/// anything shared: scratch rasters go to a temporary folder of the system's (removed
/// afterwards). The result, for [`fw_batch_record`], as JSON in `result_json`: the
/// interferogram's name, the detector grid's and the product's CRS (WKT), the boxes in the grid
/// CRS with their attributes, and the seconds it took.
///
/// # Safety
/// `detector` comes from [`fw_detector_open`](super::fw_detector_open); `product` is
/// NUL-terminated; other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fw_detect_product(
    detector: *const FwDetector,
    product: *const c_char,
    options: *const FwDetectOptions,
    callbacks: *const FwCallbacks,
    result_json: *mut *mut c_char,
) -> FwStatus {
    guard(|| {
        clear_out(result_json);
        let detector = &detector
            .as_ref()
            .ok_or_else(|| ArgumentError("argument 'detector' is NULL".into()))?
            .inner;
        let product = PathBuf::from(required_str(product, "product")?);
        let (settings, _) = detection_settings(detector, options)?;
        let progress = CallbackProgress::new(callbacks)?;
        let pair = detect_pair(
            &product,
            &Overrides::default(),
            detector,
            &settings,
            &std::env::temp_dir(),
            &progress,
        )?;
        give_string(
            result_json,
            serde_json::to_string(&pair).unwrap_or_default(),
        );
        Ok(())
    })
}

/// Which of `count` product folders `products[i]` are already done in batch output `out`
/// (detection layer `layer`, NULL: "detections"), as JSON in `plan_json`:
/// `[{"product": "...", "done": true}, ...]` in the order given. Refuses an output that is one
/// of the products.
///
/// # Safety
/// `products` points to `count` NUL-terminated strings; other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fw_batch_plan(
    out: *const c_char,
    layer: *const c_char,
    products: *const *const c_char,
    count: usize,
    plan_json: *mut *mut c_char,
) -> FwStatus {
    guard(|| {
        clear_out(plan_json);
        let products = product_list(products, count)?;
        let out = PathBuf::from(required_str(out, "out")?);
        let layer = optional_str(layer, "layer")?.unwrap_or("detections");
        let writer = BatchWriter::open(&out, layer, &products)?;
        let plan: Vec<_> = products
            .iter()
            .map(|p| json!({"product": p.display().to_string(), "done": writer.is_done(p)}))
            .collect();
        give_string(plan_json, serde_json::Value::from(plan).to_string());
        Ok(())
    })
}

/// Record one product's result in batch output `out` (detection layer `layer`, NULL:
/// "detections") as `batch` does: its boxes (brought into the layer's CRS) and its `runs` row in
/// one transaction. `result_json` is what [`fw_detect_product`] gave, or
/// `{"failed": "message", "seconds": 1.5}` for a product that could not be run, or NULL for a
/// product [`fw_batch_plan`] found done. A product already done is recorded as `skipped`
/// whatever the result: nothing is written twice. The outcome (`product`, `interferogram`,
/// `status`, `message`, `detections`) as JSON in `outcome_json`.
///
/// # Safety
/// String arguments NULL or NUL-terminated; `outcome_json` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fw_batch_record(
    out: *const c_char,
    layer: *const c_char,
    product: *const c_char,
    result_json: *const c_char,
    outcome_json: *mut *mut c_char,
) -> FwStatus {
    guard(|| {
        clear_out(outcome_json);
        let out = PathBuf::from(required_str(out, "out")?);
        let layer = optional_str(layer, "layer")?.unwrap_or("detections");
        let product = PathBuf::from(required_str(product, "product")?);
        let result = match optional_str(result_json, "result_json")? {
            None => PairResult::DoneBefore,
            Some(text) => match serde_json::from_str::<RecordedResult>(text) {
                Ok(RecordedResult::Detected(pair)) => {
                    let fields = detection_fields().len();
                    if let Some((k, _)) = pair
                        .features
                        .iter()
                        .enumerate()
                        .find(|(_, f)| f.values.len() != fields || f.ring.len() < 4)
                    {
                        return Err(ArgumentError(format!(
                            "argument 'result_json': feature {k} needs {fields} values and a \
                             closed ring of at least 4 points"
                        ))
                        .into());
                    }
                    PairResult::Detected(pair)
                }
                Ok(RecordedResult::Failed { failed, seconds }) => PairResult::Failed {
                    message: failed,
                    seconds,
                },
                Err(e) => {
                    return Err(ArgumentError(format!(
                        "argument 'result_json' is neither a result of fw_detect_product nor \
                         {{\"failed\": ...}}: {e}"
                    ))
                    .into())
                }
            },
        };
        let mut writer = BatchWriter::open(&out, layer, std::slice::from_ref(&product))?;
        let outcome = writer.record(&product, result)?;
        give_string(
            outcome_json,
            json!({
                "product": outcome.product.display().to_string(),
                "interferogram": outcome.interferogram,
                "status": outcome.status.name(),
                "message": outcome.message,
                "detections": outcome.detections,
            })
            .to_string(),
        );
        Ok(())
    })
}

/// The persistence layer of batch output `out` (detection layer `layer`, NULL: "detections"):
/// persistent areas over its done interferograms (IoU ≥ `iou` or centres within `distance`,
/// CRS units), written to layer `<layer>_persistence` of `out` and replaced at each call.
/// Summary (interferograms, detections, areas, persistent areas, layer) as JSON in
/// `summary_json`.
///
/// # Safety
/// String arguments NULL or NUL-terminated; other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn fw_batch_persistence(
    out: *const c_char,
    layer: *const c_char,
    iou: f64,
    distance: f64,
    callbacks: *const FwCallbacks,
    summary_json: *mut *mut c_char,
) -> FwStatus {
    guard(|| {
        clear_out(summary_json);
        let out = PathBuf::from(required_str(out, "out")?);
        let layer = optional_str(layer, "layer")?.unwrap_or("detections");
        let progress = CallbackProgress::new(callbacks)?;
        let (name, summary) =
            batch_persistence(&out, layer, &MatchRule { iou, distance }, &progress)?;
        let mut value = serde_json::to_value(&summary).unwrap_or_default();
        value["layer"] = json!(name);
        give_string(summary_json, value.to_string());
        Ok(())
    })
}
