//! Detection scores (METHOD.md §6): greedy matching, AP in the VOC all-point and the COCO
//! 101-point conventions, precision / recall / F1 at a confidence threshold, and the per-class
//! table (AP, TP, FP, FN, P, R, #GT, #PRED).
//!
//! A prediction is a true positive when its class matches and its IoU with a still-unmatched
//! ground-truth box of the same image is ≥ the IoU threshold; predictions are taken highest score
//! first and each one takes the unmatched truth box it overlaps most. [`confusion`] matches the
//! same way across classes, to show which class a found box was given; [`dont_care`] leaves
//! PASCAL VOC's "difficult" boxes out before scoring.

pub mod confusion;
pub mod dont_care;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::tiling::{iou, PixelBox};

/// A predicted box.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Image (tile, interferogram) the box belongs to; boxes match only within one image.
    pub image: String,
    pub class: usize,
    pub bbox: PixelBox,
    pub score: f64,
}

/// A ground-truth box.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub image: String,
    pub class: usize,
    pub bbox: PixelBox,
}

/// One row of the per-class table, with its precision–recall curve.
#[derive(Debug, Clone, Serialize)]
pub struct ClassScore {
    pub class: String,
    /// AP, VOC all-point interpolation.
    pub ap_voc: f64,
    /// AP, COCO 101-point interpolation (pycocotools' AP50 at IoU 0.5).
    pub ap_coco: f64,
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub n_truth: usize,
    /// Raw predictions, before the confidence threshold.
    pub n_predictions: usize,
    /// (recall, precision) after each prediction in score order.
    pub curve: Vec<(f64, f64)>,
}

/// Scores of a prediction set against the truth.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub iou_threshold: f64,
    pub confidence: f64,
    /// True when `confidence` was chosen to maximise F1.
    pub confidence_is_best_f1: bool,
    /// Mean AP over classes that have truth boxes.
    pub map_voc: f64,
    pub map_coco: f64,
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub classes: Vec<ClassScore>,
    /// Which class each box found at `confidence` was given (matching that ignores the class).
    pub confusion: confusion::Confusion,
}

/// Which confidence threshold to report P, R and F1 at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Fixed(f64),
    /// The threshold that maximises F1 over all classes.
    BestF1,
}

impl Threshold {
    /// A fixed confidence, which must lie in [0, 1].
    pub fn fixed(confidence: f64) -> Result<Threshold> {
        if (0.0..=1.0).contains(&confidence) {
            Ok(Threshold::Fixed(confidence))
        } else {
            Err(Error::parameter(
                "confidence",
                format!("{confidence}: give a score in [0, 1] or 'best'"),
            ))
        }
    }
}

/// Refuses a matching IoU outside (0, 1]: at 0 a prediction that does not touch its truth
/// would count as found.
pub fn check_iou(iou: f64) -> Result<()> {
    if iou > 0.0 && iou <= 1.0 {
        Ok(())
    } else {
        Err(Error::parameter(
            "iou",
            format!("{iou}: give an IoU in (0, 1], e.g. 0.5"),
        ))
    }
}

/// For each prediction (in score order): the truth box it takes, the still-unmatched one of its
/// image that it overlaps most with IoU ≥ `iou_threshold`, whatever the classes.
pub(crate) fn greedy_match(
    predictions: &[&Prediction],
    truths: &[&Truth],
    iou_threshold: f64,
) -> Vec<Option<usize>> {
    let mut used = vec![false; truths.len()];
    predictions
        .iter()
        .map(|p| {
            let mut best: Option<(usize, f64)> = None;
            for (k, t) in truths.iter().enumerate() {
                if used[k] || t.image != p.image {
                    continue;
                }
                let overlap = iou(&p.bbox, &t.bbox);
                if overlap >= iou_threshold && best.is_none_or(|(_, b)| overlap > b) {
                    best = Some((k, overlap));
                }
            }
            if let Some((k, _)) = best {
                used[k] = true;
            }
            best.map(|(k, _)| k)
        })
        .collect()
}

/// For each prediction of one class (in score order): whether it is a true positive.
fn match_class(predictions: &[&Prediction], truths: &[&Truth], iou_threshold: f64) -> Vec<bool> {
    greedy_match(predictions, truths, iou_threshold)
        .iter()
        .map(Option::is_some)
        .collect()
}

/// AP with VOC all-point interpolation: Σ (r_i − r_{i−1}) · max_{r ≥ r_i} p(r).
pub fn ap_all_point(curve: &[(f64, f64)]) -> f64 {
    let mut ap = 0.0;
    let mut previous_recall = 0.0;
    for (i, &(r, _)) in curve.iter().enumerate() {
        let envelope = curve[i..].iter().map(|c| c.1).fold(0.0, f64::max);
        ap += (r - previous_recall) * envelope;
        previous_recall = r;
    }
    ap
}

/// AP with COCO 101-point interpolation: mean over r ∈ {0, 0.01, …, 1} of max_{r' ≥ r} p(r').
/// The thresholds are `k · 0.01` compared exactly, as numpy's `linspace` makes them in
/// pycocotools (k/100 differs from it in the last bit for 10 of the 101 values).
pub fn ap_101_point(curve: &[(f64, f64)]) -> f64 {
    (0..=100)
        .map(|k| {
            let r = k as f64 * 0.01;
            curve
                .iter()
                .filter(|c| c.0 >= r)
                .map(|c| c.1)
                .fold(0.0, f64::max)
        })
        .sum::<f64>()
        / 101.0
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// Score `predictions` against `truths` for `classes` (index = position).
pub fn evaluate(
    predictions: &[Prediction],
    truths: &[Truth],
    classes: &[String],
    iou_threshold: f64,
    threshold: Threshold,
) -> Evaluation {
    // Per class: predictions in score order with their TP flags.
    let per_class: Vec<(Vec<&Prediction>, Vec<bool>, usize)> = (0..classes.len())
        .map(|c| {
            let mut preds: Vec<&Prediction> = predictions.iter().filter(|p| p.class == c).collect();
            preds.sort_by(|a, b| b.score.total_cmp(&a.score));
            let class_truths: Vec<&Truth> = truths.iter().filter(|t| t.class == c).collect();
            let flags = match_class(&preds, &class_truths, iou_threshold);
            (preds, flags, class_truths.len())
        })
        .collect();
    let counts_at = |confidence: f64| -> Vec<(usize, usize, usize)> {
        per_class
            .iter()
            .map(|(preds, flags, n_truth)| {
                let tp = preds
                    .iter()
                    .zip(flags)
                    .filter(|(p, f)| **f && p.score >= confidence)
                    .count();
                let fp = preds
                    .iter()
                    .zip(flags)
                    .filter(|(p, f)| !**f && p.score >= confidence)
                    .count();
                (tp, fp, n_truth - tp)
            })
            .collect()
    };
    let (confidence, best) = match threshold {
        Threshold::Fixed(c) => (c, false),
        Threshold::BestF1 => {
            let mut candidates: Vec<f64> = predictions.iter().map(|p| p.score).collect();
            candidates.sort_by(|a, b| b.total_cmp(a));
            candidates.dedup();
            let mut best = (f64::NEG_INFINITY, 1.0);
            for c in candidates {
                let totals = counts_at(c)
                    .iter()
                    .fold((0, 0, 0), |s, x| (s.0 + x.0, s.1 + x.1, s.2 + x.2));
                let score = f1(
                    ratio(totals.0, totals.0 + totals.1),
                    ratio(totals.0, totals.0 + totals.2),
                );
                if score > best.0 {
                    best = (score, c);
                }
            }
            (best.1, true)
        }
    };
    let counts = counts_at(confidence);
    let mut rows = Vec::new();
    for (c, ((preds, flags, n_truth), (tp, fp, fneg))) in per_class.iter().zip(&counts).enumerate()
    {
        let mut curve = Vec::with_capacity(preds.len());
        let mut cumulative_tp = 0;
        for (k, f) in flags.iter().enumerate() {
            if *f {
                cumulative_tp += 1;
            }
            curve.push((ratio(cumulative_tp, *n_truth), ratio(cumulative_tp, k + 1)));
        }
        rows.push(ClassScore {
            class: classes[c].clone(),
            ap_voc: if *n_truth > 0 {
                ap_all_point(&curve)
            } else {
                0.0
            },
            ap_coco: if *n_truth > 0 {
                ap_101_point(&curve)
            } else {
                0.0
            },
            tp: *tp,
            fp: *fp,
            false_negatives: *fneg,
            precision: ratio(*tp, tp + fp),
            recall: ratio(*tp, *n_truth),
            n_truth: *n_truth,
            n_predictions: preds.len(),
            curve,
        });
    }
    let with_truth: Vec<&ClassScore> = rows.iter().filter(|r| r.n_truth > 0).collect();
    let mean = |f: fn(&ClassScore) -> f64| {
        if with_truth.is_empty() {
            0.0
        } else {
            with_truth.iter().map(|r| f(r)).sum::<f64>() / with_truth.len() as f64
        }
    };
    let (tp, fp, fneg) = counts
        .iter()
        .fold((0, 0, 0), |s, x| (s.0 + x.0, s.1 + x.1, s.2 + x.2));
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    Evaluation {
        iou_threshold,
        confidence,
        confidence_is_best_f1: best,
        map_voc: mean(|r| r.ap_voc),
        map_coco: mean(|r| r.ap_coco),
        tp,
        fp,
        false_negatives: fneg,
        precision,
        recall,
        f1: f1(precision, recall),
        classes: rows,
        confusion: confusion::confusion(predictions, truths, classes, iou_threshold, confidence),
    }
}

/// Merge every class into one (class 0): scores localisation alone, as for a class-agnostic
/// detector such as the baseline.
pub fn class_agnostic(predictions: &mut [Prediction], truths: &mut [Truth]) {
    for p in predictions {
        p.class = 0;
    }
    for t in truths {
        t.class = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(class: usize, b: [f64; 4], score: f64) -> Prediction {
        Prediction {
            image: "a".into(),
            class,
            bbox: b,
            score,
        }
    }

    fn t(class: usize, b: [f64; 4]) -> Truth {
        Truth {
            image: "a".into(),
            class,
            bbox: b,
        }
    }

    #[test]
    fn hand_computed_average_precision() {
        let classes = vec!["AR".to_string(), "CF".to_string()];
        let truths = vec![t(1, [0.0, 0.0, 10.0, 10.0]), t(1, [20.0, 20.0, 30.0, 30.0])];
        let preds = vec![
            p(1, [0.0, 0.0, 10.0, 10.0], 0.9),    // TP
            p(1, [50.0, 50.0, 60.0, 60.0], 0.8),  // FP
            p(1, [20.0, 20.0, 30.0, 31.0], 0.7),  // TP (IoU 0.91)
            p(1, [0.0, 0.0, 10.0, 10.0], 0.6),    // FP: its truth is taken
            p(0, [20.0, 20.0, 30.0, 30.0], 0.95), // wrong class: FP for AR
        ];
        let e = evaluate(&preds, &truths, &classes, 0.5, Threshold::Fixed(0.65));
        let cf = &e.classes[1];
        // Curve: (0.5, 1), (0.5, 0.5), (1, 0.667), (1, 0.5).
        assert!(
            (cf.ap_voc - (0.5 + 0.5 * 2.0 / 3.0)).abs() < 1e-12,
            "{}",
            cf.ap_voc
        );
        assert!(
            (cf.ap_coco - (51.0 + 50.0 * 2.0 / 3.0) / 101.0).abs() < 1e-12,
            "{}",
            cf.ap_coco
        );
        assert_eq!(
            (
                cf.tp,
                cf.fp,
                cf.false_negatives,
                cf.n_truth,
                cf.n_predictions
            ),
            (2, 1, 0, 2, 4)
        );
        assert_eq!((e.classes[0].fp, e.classes[0].n_truth), (1, 0));
        // mAP over classes with truth only; totals at 0.65: TP 2, FP 2 (CF 1 + AR 1), FN 0.
        assert!((e.map_voc - cf.ap_voc).abs() < 1e-12);
        assert_eq!((e.tp, e.fp, e.false_negatives), (2, 2, 0));
        assert!((e.f1 - 2.0 * 0.5 * 1.0 / 1.5).abs() < 1e-12);
        // Best F1: cutting at 0.7 keeps AR's FP (0.95) and CF's FP (0.8): P 0.5; at 0.9 → P 0.5 R 0.5.
        let best = evaluate(&preds, &truths, &classes, 0.5, Threshold::BestF1);
        assert!(best.confidence_is_best_f1);
        assert!(
            (best.f1 - 2.0 / 3.0).abs() < 1e-12 && (best.confidence - 0.7).abs() < 1e-12,
            "{} at {}",
            best.f1,
            best.confidence
        );
    }

    #[test]
    fn boxes_match_only_within_their_image() {
        let classes = vec!["CF".to_string()];
        let truths = vec![t(0, [0.0, 0.0, 10.0, 10.0])];
        let mut other = p(0, [0.0, 0.0, 10.0, 10.0], 0.9);
        other.image = "b".into();
        let e = evaluate(&[other], &truths, &classes, 0.5, Threshold::Fixed(0.5));
        assert_eq!((e.tp, e.fp, e.false_negatives), (0, 1, 1));
        assert_eq!(e.map_voc, 0.0);
    }
}
