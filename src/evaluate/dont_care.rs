//! Don't-care truth boxes, scored as PASCAL VOC scores its "difficult" objects (Everingham et
//! al. 2010, §4.4): they are not truths to find, and a prediction whose best-overlapping truth
//! box of its image, at the matching IoU and whatever the classes, is a don't-care one is left
//! out, neither true nor false.

use std::collections::HashMap;
use std::path::Path;

use super::{Prediction, Truth};
use crate::error::{Error, Result};
use crate::tiling::{iou, PixelBox};

/// `predictions` and `truths` with the don't-care boxes (`dont_care[k]` for `truths[k]`; a box
/// without a mark is one to find) and the predictions that fit one of them best taken out; what
/// is left goes to [`super::evaluate`].
///
/// ```
/// use fringewatch::evaluate::dont_care::without_dont_care;
/// use fringewatch::evaluate::{Prediction, Truth};
///
/// let truth = |bbox| Truth { image: "a".into(), class: 1, bbox };
/// let prediction = |bbox| Prediction { image: "a".into(), class: 1, bbox, score: 0.9 };
/// let truths = vec![truth([0.0, 0.0, 40.0, 40.0]), truth([60.0, 0.0, 100.0, 40.0])];
/// let predictions = vec![prediction([0.0, 0.0, 38.0, 40.0]), prediction([60.0, 0.0, 98.0, 40.0])];
/// // the first truth box is faint: it and the prediction on it leave the scoring
/// let (kept, to_find) = without_dont_care(predictions, truths, &[true, false], 0.5);
/// assert_eq!((kept.len(), to_find.len()), (1, 1));
/// assert_eq!(to_find[0].bbox[0], 60.0);
/// ```
pub fn without_dont_care(
    predictions: Vec<Prediction>,
    truths: Vec<Truth>,
    dont_care: &[bool],
    iou_threshold: f64,
) -> (Vec<Prediction>, Vec<Truth>) {
    let marked = |k: usize| dont_care.get(k).copied().unwrap_or(false);
    let mut by_image: HashMap<&str, Vec<(&Truth, bool)>> = HashMap::new();
    for (k, t) in truths.iter().enumerate() {
        by_image
            .entry(t.image.as_str())
            .or_default()
            .push((t, marked(k)));
    }
    let kept = predictions
        .into_iter()
        .filter(|p| {
            !by_image
                .get(p.image.as_str())
                .is_some_and(|boxes| fits_a_dont_care_box_best(&p.bbox, boxes, iou_threshold))
        })
        .collect();
    let to_find = truths
        .into_iter()
        .enumerate()
        .filter(|(k, _)| !marked(*k))
        .map(|(_, t)| t)
        .collect();
    (kept, to_find)
}

/// Whether the truth box that `bbox` overlaps most, at IoU ≥ `iou_threshold`, is a don't-care
/// one.
fn fits_a_dont_care_box_best(
    bbox: &PixelBox,
    boxes: &[(&Truth, bool)],
    iou_threshold: f64,
) -> bool {
    boxes
        .iter()
        .map(|(t, flag)| (iou(bbox, &t.bbox), *flag))
        .filter(|(overlap, _)| *overlap >= iou_threshold)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .is_some_and(|(_, flag)| flag)
}

/// Refuses a don't-care threshold that is not a visible peak phase of 0 rad or more.
pub fn check_threshold(below_rad: f64) -> Result<()> {
    if below_rad.is_finite() && below_rad >= 0.0 {
        Ok(())
    } else {
        Err(Error::parameter(
            "dont_care_below_rad",
            format!("{below_rad} rad: use a visible peak phase of 0 rad or more"),
        ))
    }
}

/// Whether a truth box of `source` is don't-care: a threshold `below_rad` is set and its
/// visible peak phase (the largest |signal phase| the processing left, wrapped, that the
/// simulator writes as `visible_peak_rad`) lies under it. With a threshold, a box without a
/// visible peak is refused: the threshold cannot be applied to it.
pub fn is_faint(
    visible_peak_rad: Option<f64>,
    below_rad: Option<f64>,
    source: &Path,
) -> Result<bool> {
    let Some(below_rad) = below_rad else {
        return Ok(false);
    };
    let peak = visible_peak_rad.ok_or_else(|| {
        Error::bad_input(
            source,
            "a label without a visible_peak_rad field: a don't-care threshold needs each \
             label's visible peak phase (the simulator writes it since December 2026; simulate \
             the scenes again)",
        )
    })?;
    Ok(peak < below_rad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(image: &str, bbox: [f64; 4]) -> Truth {
        Truth {
            image: image.into(),
            class: 1,
            bbox,
        }
    }

    fn kept(bbox: [f64; 4], image: &str, truths: &[Truth], flags: &[bool], at: f64) -> bool {
        let prediction = Prediction {
            image: image.into(),
            class: 2,
            bbox,
            score: 0.5,
        };
        let (kept, _) = without_dont_care(vec![prediction], truths.to_vec(), flags, at);
        kept.len() == 1
    }

    /// A prediction is left out only when the truth box it overlaps most (at the matching IoU,
    /// in its own image, whatever the classes) is a don't-care one.
    #[test]
    fn a_prediction_is_left_out_only_on_a_dont_care_box_it_fits_best() {
        let truths = [
            truth("a", [0.0, 0.0, 40.0, 40.0]),
            truth("a", [20.0, 0.0, 60.0, 40.0]),
        ];
        let flags = [true, false];
        assert!(!kept([0.0, 0.0, 38.0, 40.0], "a", &truths, &flags, 0.5));
        assert!(kept([20.0, 0.0, 58.0, 40.0], "a", &truths, &flags, 0.5));
        // overlapping both, the box to find more: a true or false prediction, not left out
        assert!(kept([12.0, 0.0, 52.0, 40.0], "a", &truths, &flags, 0.3));
        // on nothing: a false prediction
        assert!(kept(
            [100.0, 100.0, 140.0, 140.0],
            "a",
            &truths,
            &flags,
            0.5
        ));
        // the same box in another image
        assert!(kept([0.0, 0.0, 38.0, 40.0], "b", &truths, &flags, 0.5));
        // no don't-care box
        assert!(kept(
            [0.0, 0.0, 38.0, 40.0],
            "a",
            &truths,
            &[false, false],
            0.5
        ));
        let (_, to_find) = without_dont_care(Vec::new(), truths.to_vec(), &flags, 0.5);
        assert_eq!(to_find, vec![truths[1].clone()]);
    }

    #[test]
    fn a_box_is_faint_under_the_threshold_and_refused_without_a_peak() {
        let source = Path::new("truth.gpkg");
        assert!(is_faint(Some(1.99), Some(2.0), source).unwrap());
        assert!(!is_faint(Some(2.0), Some(2.0), source).unwrap());
        // no threshold: every box is one to find, with or without a visible peak
        assert!(!is_faint(Some(0.5), None, source).unwrap());
        assert!(!is_faint(None, None, source).unwrap());
        let refusal = is_faint(None, Some(2.0), source).unwrap_err().to_string();
        assert!(refusal.contains("visible_peak_rad"), "{refusal}");
        assert!(check_threshold(0.0).is_ok());
        for bad in [-0.5, f64::NAN, f64::INFINITY] {
            assert!(check_threshold(bad).is_err(), "{bad}");
        }
    }
}
