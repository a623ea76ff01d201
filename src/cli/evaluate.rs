//! `fringewatch evaluate`: score a detection layer against a truth layer.

use std::path::PathBuf;

use clap::Args;
use fringewatch::dataset::evaluate::{evaluate_split, SplitScoring};
use fringewatch::engine::tract::TractEngine;

use super::choices::SplitArg;
use fringewatch::evaluate::confusion::Confusion;
use fringewatch::evaluate::dont_care::{check_threshold, is_faint, without_dont_care};
use fringewatch::evaluate::{
    check_iou, class_agnostic, evaluate, Evaluation, Prediction, Threshold, Truth,
};
use fringewatch::render::render_pr_curves;
use fringewatch::simulate::output::VISIBLE_PEAK_FIELD;
use fringewatch::simulate::SignalClass;
use fringewatch::vector::gpkg::read_layer;
use fringewatch::vector::{LayerRef, ReadLayer};
use fringewatch::{Error, Result};

#[derive(Args)]
pub(crate) struct EvaluateArgs {
    /// Detections, PATH[:LAYER] (fields `class` and `score`). Repeat with --truth to score
    /// several interferograms together: the n-th --pred goes with the n-th --truth and boxes
    /// match only within their pair.
    #[arg(long, required_unless_present = "dataset", requires = "truth")]
    pred: Vec<String>,
    /// Ground truth, PATH[:LAYER] (field `class`), one per --pred.
    #[arg(long, requires = "pred")]
    truth: Vec<String>,
    /// Instead of layers: score a model on a dataset split straight from its tiles.
    #[arg(long, conflicts_with_all = ["pred", "truth"], requires = "model")]
    dataset: Option<PathBuf>,
    /// Model for --dataset (ONNX; default: none, it must be given).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Split for --dataset.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
    /// Ignore classes: score localisation only (as for the class-agnostic baseline).
    #[arg(long)]
    class_agnostic: bool,
    /// Score the truth boxes whose visible peak phase (field `visible_peak_rad`, which `simulate`
    /// writes) lies under RAD radians as don't-care, as PASCAL VOC scores its "difficult"
    /// objects: not to be found, and a detection fitting one best is neither true nor false.
    /// A --dataset split's labels carry their own marks (`dataset --dont-care-below-rad`).
    #[arg(long, value_name = "RAD", conflicts_with = "dataset")]
    dont_care_below_rad: Option<f64>,
    /// IoU a match needs.
    #[arg(long, default_value_t = 0.5)]
    iou: f64,
    /// Confidence threshold for P, R, F1 and the table, or `best` (the one maximising F1).
    #[arg(long, default_value = "0.5")]
    confidence: String,
    /// Write the full evaluation (with PR curves) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw the per-class precision–recall curves as PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
}

fn read(text: &str) -> Result<ReadLayer> {
    let r = LayerRef::parse(text);
    read_layer(&r.path, r.layer.as_deref())
}

fn class_index(classes: &mut Vec<String>, code: &str) -> usize {
    match classes.iter().position(|c| c == code) {
        Some(i) => i,
        None => {
            classes.push(code.to_string());
            classes.len() - 1
        }
    }
}

pub(crate) fn run(args: EvaluateArgs, quiet: bool) -> Result<()> {
    check_iou(args.iou)?;
    if let Some(below) = args.dont_care_below_rad {
        check_threshold(below)?;
    }
    let threshold = if args.confidence.eq_ignore_ascii_case("best") {
        Threshold::BestF1
    } else {
        let c: f64 = args
            .confidence
            .parse()
            .map_err(|_| Error::parameter("confidence", "a number in [0, 1] or 'best'"))?;
        Threshold::fixed(c)?
    };
    let e = match &args.dataset {
        Some(dataset) => {
            if args.class_agnostic {
                return Err(Error::parameter(
                    "class-agnostic",
                    "only with --pred/--truth layers",
                ));
            }
            let model = args
                .model
                .as_ref()
                .ok_or_else(|| Error::parameter("model", "--dataset needs --model"))?;
            let engine = TractEngine::load(model, 8)?;
            let bar = super::Bar::new(quiet, "evaluate");
            let e = evaluate_split(
                dataset,
                args.split.into(),
                &engine,
                // tiles as `detect` sees them by default
                &SplitScoring {
                    iou_threshold: args.iou,
                    threshold,
                    ..SplitScoring::default()
                },
                &bar,
            )?;
            bar.done();
            e
        }
        None => {
            if args.pred.len() != args.truth.len() || args.pred.is_empty() {
                return Err(Error::parameter(
                    "pred/truth",
                    format!(
                        "{} --pred and {} --truth: give one truth layer per detection layer",
                        args.pred.len(),
                        args.truth.len()
                    ),
                ));
            }
            let mut classes: Vec<String> = SignalClass::ALL
                .iter()
                .map(|c| c.code().to_string())
                .collect();
            let mut boxes = Boxes::default();
            for (k, (pred, truth)) in args.pred.iter().zip(&args.truth).enumerate() {
                boxes.read_pair(
                    pred,
                    truth,
                    &k.to_string(),
                    &mut classes,
                    args.dont_care_below_rad,
                )?;
            }
            let (mut predictions, mut truths) =
                without_dont_care(boxes.predictions, boxes.truths, &boxes.dont_care, args.iou);
            if args.class_agnostic {
                class_agnostic(&mut predictions, &mut truths);
                classes = vec!["any".to_string()];
            }
            evaluate(&predictions, &truths, &classes, args.iou, threshold)
        }
    };
    report(&e, &args)
}

/// Predictions and truth boxes read from layer pairs, with each truth box's don't-care mark.
#[derive(Default)]
struct Boxes {
    predictions: Vec<Prediction>,
    truths: Vec<Truth>,
    dont_care: Vec<bool>,
}

impl Boxes {
    /// Read one detection layer and its truth layer as boxes of image `image`; truth boxes whose
    /// visible peak phase lies under `dont_care_below_rad` are marked don't-care.
    fn read_pair(
        &mut self,
        pred: &str,
        truth: &str,
        image: &str,
        classes: &mut Vec<String>,
        dont_care_below_rad: Option<f64>,
    ) -> Result<()> {
        let pred_layer = read(pred)?;
        let truth_layer = read(truth)?;
        if !pred_layer.crs_wkt.is_empty() && !truth_layer.crs_wkt.is_empty() {
            let (a, b) = (
                fringewatch::raster::Crs::from_definition(&pred_layer.crs_wkt),
                fringewatch::raster::Crs::from_definition(&truth_layer.crs_wkt),
            );
            if let (Ok(a), Ok(b)) = (a, b) {
                if !a.same_as(&b) {
                    return Err(Error::Incompatible {
                        first: pred.into(),
                        second: truth.into(),
                        problem: "the layers are in different CRSs; reproject one (ogr2ogr -t_srs)"
                            .into(),
                    });
                }
            }
        }
        for f in &pred_layer.features {
            let (Some(e), Some(code), Some(score)) = (
                f.envelope,
                f.attribute("class").and_then(|v| v.as_text()),
                f.attribute("score").and_then(|v| v.as_f64()),
            ) else {
                return Err(Error::bad_input(
                    pred,
                    "every detection needs a geometry, a 'class' and a 'score' field",
                ));
            };
            self.predictions.push(Prediction {
                image: image.to_string(),
                class: class_index(classes, &code),
                bbox: [e.0, e.1, e.2, e.3],
                score,
            });
        }
        for f in &truth_layer.features {
            let (Some(e), Some(code)) =
                (f.envelope, f.attribute("class").and_then(|v| v.as_text()))
            else {
                return Err(Error::bad_input(
                    truth,
                    "every truth box needs a geometry and a 'class' field",
                ));
            };
            let peak = f.attribute(VISIBLE_PEAK_FIELD).and_then(|v| v.as_f64());
            let dont_care = is_faint(peak, dont_care_below_rad, std::path::Path::new(truth))?;
            self.truths.push(Truth {
                image: image.to_string(),
                class: class_index(classes, &code),
                bbox: [e.0, e.1, e.2, e.3],
            });
            self.dont_care.push(dont_care);
        }
        Ok(())
    }
}

fn report(e: &Evaluation, args: &EvaluateArgs) -> Result<()> {
    print_report(e);
    super::write_summary(args.json.as_deref(), e)?;
    if let Some(path) = &args.plot {
        let curves: Vec<(String, Vec<(f64, f64)>)> = e
            .classes
            .iter()
            .filter(|c| c.n_truth > 0)
            .map(|c| (c.class.clone(), c.curve.clone()))
            .collect();
        render_pr_curves(&curves, path)?;
        println!(
            "PR curves: {} (AR grey, CF orange, CS magenta, FS dark red)",
            path.display()
        );
    }
    Ok(())
}

fn print_report(e: &Evaluation) {
    println!(
        "mAP@{:.2}: {:.3} (VOC all-point), {:.3} (COCO 101-point)",
        e.iou_threshold, e.map_voc, e.map_coco
    );
    println!(
        "at confidence {:.3}{}: P {:.3}, R {:.3}, F1 {:.3} (TP {}, FP {}, FN {})",
        e.confidence,
        if e.confidence_is_best_f1 {
            " (chosen to maximise F1)"
        } else {
            ""
        },
        e.precision,
        e.recall,
        e.f1,
        e.tp,
        e.fp,
        e.false_negatives
    );
    println!("| class | AP (VOC) | AP (COCO) | TP | FP | FN | P | R | #GT | #PRED |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for c in &e.classes {
        println!(
            "| {} | {:.3} | {:.3} | {} | {} | {} | {:.3} | {:.3} | {} | {} |",
            c.class,
            c.ap_voc,
            c.ap_coco,
            c.tp,
            c.fp,
            c.false_negatives,
            c.precision,
            c.recall,
            c.n_truth,
            c.n_predictions
        );
    }
    if e.classes.len() > 1 {
        print_confusion(&e.confusion);
    }
}

/// The confusion matrix as a Markdown table: one row per truth class, then the predictions that
/// found nothing.
fn print_confusion(c: &Confusion) {
    println!("Which class the boxes found were given (rows: truth; matched whatever the class):");
    println!("| truth \\ called | {} | missed |", c.classes.join(" | "));
    println!("|---|{}---|", "---|".repeat(c.classes.len()));
    for (t, row) in c.found.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(usize::to_string).collect();
        println!(
            "| {} | {} | {} |",
            c.classes[t],
            cells.join(" | "),
            c.missed[t]
        );
    }
    let alarms: Vec<String> = c.false_alarms.iter().map(usize::to_string).collect();
    println!("| nothing | {} | |", alarms.join(" | "));
}

/// Score a detection layer against a truth layer at IoU 0.5 and `confidence` (used by the demo).
pub(crate) fn score(pred: String, truth: String, confidence: f32) -> Result<()> {
    run(
        EvaluateArgs {
            pred: vec![pred],
            truth: vec![truth],
            dataset: None,
            model: None,
            split: SplitArg::Test,
            class_agnostic: false,
            dont_care_below_rad: None,
            iou: 0.5,
            confidence: format!("{confidence}"),
            json: None,
            plot: None,
        },
        true,
    )
}
