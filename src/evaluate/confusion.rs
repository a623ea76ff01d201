//! Confusion between classes: which class each found box was given, which truth boxes nothing
//! found, and which predictions found nothing.
//!
//! Matching ignores the class (the greedy rule of [`super::evaluate`]: predictions at or above
//! the confidence, highest score first, each takes the still-unmatched truth box of its image it
//! overlaps most with IoU ≥ the threshold); the classes of each matched pair then fill the
//! matrix. Off the diagonal a box was found but misnamed, which the per-class table counts twice
//! (a FN of the truth class and a FP of the predicted one); the diagonal is close to the table's
//! true positives, not always equal, since there a box can only take a truth box of its class.

use serde::Serialize;

use super::{greedy_match, Prediction, Truth};

/// Counts of one confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub classes: Vec<String>,
    /// `found[t][p]`: truth boxes of class t matched by a prediction of class p.
    pub found: Vec<Vec<usize>>,
    /// `missed[t]`: truth boxes of class t that no prediction matched.
    pub missed: Vec<usize>,
    /// `false_alarms[p]`: predictions of class p that matched no truth box.
    pub false_alarms: Vec<usize>,
}

/// The confusion matrix of `predictions` against `truths` at `confidence` and `iou_threshold`.
///
/// ```
/// use fringewatch::evaluate::{confusion::confusion, Prediction, Truth};
/// let classes = vec!["CS".to_string(), "FS".to_string()];
/// let truth = |class, bbox| Truth { image: "a".into(), class, bbox };
/// let truths = vec![truth(1, [0.0, 0.0, 10.0, 10.0]), truth(0, [20.0, 0.0, 30.0, 10.0])];
/// // The rockslide (FS) is found but called an earthslide (CS); the earthslide is missed.
/// let bbox = [0.0, 0.0, 10.0, 9.0];
/// let called_cs = Prediction { image: "a".into(), class: 0, bbox, score: 0.8 };
/// let c = confusion(&[called_cs], &truths, &classes, 0.5, 0.5);
/// assert_eq!(c.found, vec![vec![0, 0], vec![1, 0]]);
/// assert_eq!((c.missed.clone(), c.false_alarms.clone()), (vec![1, 0], vec![0, 0]));
/// ```
pub fn confusion(
    predictions: &[Prediction],
    truths: &[Truth],
    classes: &[String],
    iou_threshold: f64,
    confidence: f64,
) -> Confusion {
    let n = classes.len();
    let mut kept: Vec<&Prediction> = predictions
        .iter()
        .filter(|p| p.score >= confidence && p.class < n)
        .collect();
    kept.sort_by(|a, b| b.score.total_cmp(&a.score));
    let truths: Vec<&Truth> = truths.iter().filter(|t| t.class < n).collect();
    let matches = greedy_match(&kept, &truths, iou_threshold);
    let mut found = vec![vec![0; n]; n];
    let mut missed: Vec<usize> = (0..n)
        .map(|c| truths.iter().filter(|t| t.class == c).count())
        .collect();
    let mut false_alarms = vec![0; n];
    for (p, m) in kept.iter().zip(&matches) {
        match m {
            Some(k) => {
                let t = truths[*k].class;
                found[t][p.class] += 1;
                missed[t] -= 1;
            }
            None => false_alarms[p.class] += 1,
        }
    }
    Confusion {
        classes: classes.to_vec(),
        found,
        missed,
        false_alarms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(image: &str, class: usize, b: [f64; 4], score: f64) -> Prediction {
        Prediction {
            image: image.into(),
            class,
            bbox: b,
            score,
        }
    }

    fn t(image: &str, class: usize, b: [f64; 4]) -> Truth {
        Truth {
            image: image.into(),
            class,
            bbox: b,
        }
    }

    #[test]
    fn counts_add_up_to_the_truths_and_the_kept_predictions() {
        let classes: Vec<String> = ["AR", "CF", "CS"].iter().map(|s| s.to_string()).collect();
        let truths = vec![
            t("a", 1, [0.0, 0.0, 10.0, 10.0]),
            t("a", 2, [20.0, 0.0, 30.0, 10.0]),
            t("b", 2, [0.0, 0.0, 10.0, 10.0]),
            t("b", 0, [40.0, 40.0, 50.0, 50.0]),
        ];
        let preds = vec![
            p("a", 1, [0.0, 0.0, 10.0, 10.0], 0.9),  // CF found as CF
            p("a", 2, [0.0, 0.0, 10.0, 10.0], 0.8),  // duplicate: its truth is taken
            p("a", 1, [20.0, 0.0, 30.0, 10.0], 0.7), // CS found as CF
            p("b", 2, [20.0, 0.0, 30.0, 10.0], 0.6), // nothing there in image b
            p("b", 2, [0.0, 0.0, 10.0, 10.0], 0.3),  // below the confidence
        ];
        let c = confusion(&preds, &truths, &classes, 0.5, 0.5);
        assert_eq!(c.found, vec![vec![0, 0, 0], vec![0, 1, 0], vec![0, 1, 0]]);
        assert_eq!(c.missed, vec![1, 0, 1]);
        assert_eq!(c.false_alarms, vec![0, 0, 2]);
        let found: usize = c.found.iter().flatten().sum();
        assert_eq!(found + c.missed.iter().sum::<usize>(), truths.len());
        assert_eq!(found + c.false_alarms.iter().sum::<usize>(), 4);
        // Lowering the confidence lets the last box find image b's CS.
        let low = confusion(&preds, &truths, &classes, 0.5, 0.2);
        assert_eq!((low.found[2][2], low.missed[2]), (1, 0));
    }
}
