//! Greedy suppression of duplicate boxes: non-maximum suppression (NMS) per class, optionally
//! also dropping boxes that lie mostly inside a better box of their class.
//!
//! Boxes are taken highest score first; a box is dropped when a kept box of its class overlaps
//! it with IoU > `iou`, or (with `inside`) covers at least that share of its area. A box can only
//! be dropped by a better one, so adding lower-scored boxes never changes the kept higher ones.
//! Kept boxes live in one R-tree per class (rstar), so a scene of millions of candidates is
//! suppressed in O(n log n) rather than by comparing every pair.

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::decode::Detection;
use crate::tiling::{area, intersection, iou, PixelBox};

/// When a box is a duplicate of a better box of its class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuppressionRule {
    /// IoU above which the lower box is dropped.
    pub iou: f64,
    /// Share of the lower box's area inside the better box at which it is dropped (`None`: IoU
    /// only, plain NMS).
    pub inside: Option<f64>,
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

fn envelope(b: &PixelBox) -> AABB<[f64; 2]> {
    AABB::from_corners([b[0], b[1]], [b[2], b[3]])
}

/// Apply `rule` to `detections`: the kept boxes, highest score first (ties keep input order).
///
/// ```
/// use fringewatch::detect::decode::Detection;
/// use fringewatch::detect::suppress::{suppress, SuppressionRule};
/// let d = |bbox, score| Detection { bbox, class: 1, score, objectness: score };
/// let kept = suppress(
///     vec![d([0.0, 0.0, 10.0, 10.0], 0.9), d([1.0, 1.0, 9.0, 9.0], 0.5)],
///     SuppressionRule { iou: 0.7, inside: Some(0.8) },
/// );
/// assert_eq!(kept.len(), 1, "the inner box lies wholly inside the better one");
/// ```
pub fn suppress(mut detections: Vec<Detection>, rule: SuppressionRule) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut trees: Vec<RTree<Entry>> = Vec::new();
    let mut kept: Vec<Detection> = Vec::with_capacity(detections.len().min(1 << 16));
    for d in detections {
        if d.class >= trees.len() {
            trees.resize_with(d.class + 1, RTree::new);
        }
        let tree = &mut trees[d.class];
        let own_area = area(&d.bbox);
        let duplicate = tree
            .locate_in_envelope_intersecting(&envelope(&d.bbox))
            .any(|e| {
                let k = &kept[e.data].bbox;
                iou(k, &d.bbox) > rule.iou
                    || rule
                        .inside
                        .is_some_and(|share| area(&intersection(k, &d.bbox)) >= share * own_area)
            });
        if !duplicate {
            tree.insert(GeomWithData::new(
                Rectangle::from_corners([d.bbox[0], d.bbox[1]], [d.bbox[2], d.bbox[3]]),
                kept.len(),
            ));
            kept.push(d);
        }
    }
    kept
}

/// Per-class non-maximum suppression: highest score first, a box is dropped when its IoU with a
/// kept box of the same class exceeds `iou_threshold`.
pub fn nms(detections: Vec<Detection>, iou_threshold: f64) -> Vec<Detection> {
    suppress(
        detections,
        SuppressionRule {
            iou: iou_threshold,
            inside: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(bbox: PixelBox, class: usize, score: f32) -> Detection {
        Detection {
            bbox,
            class,
            score,
            objectness: score,
        }
    }

    #[test]
    fn equals_the_pairwise_definition_on_random_boxes() {
        // The R-tree must not change what is kept: compare with the all-pairs loop.
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let boxes: Vec<Detection> = (0..600)
            .map(|_| {
                let (x, y) = (next() * 300.0, next() * 300.0);
                let (w, h) = (5.0 + next() * 40.0, 5.0 + next() * 40.0);
                det([x, y, x + w, y + h], (next() * 3.0) as usize, next() as f32)
            })
            .collect();
        for rule in [
            SuppressionRule {
                iou: 0.45,
                inside: None,
            },
            SuppressionRule {
                iou: 0.3,
                inside: Some(0.8),
            },
        ] {
            let mut sorted = boxes.clone();
            sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
            let mut expected: Vec<Detection> = Vec::new();
            for d in sorted {
                let dup = expected.iter().any(|k| {
                    k.class == d.class
                        && (iou(&k.bbox, &d.bbox) > rule.iou
                            || rule.inside.is_some_and(|s| {
                                area(&intersection(&k.bbox, &d.bbox)) >= s * area(&d.bbox)
                            }))
                });
                if !dup {
                    expected.push(d);
                }
            }
            let got = suppress(boxes.clone(), rule);
            assert!(got.len() > 100 && got.len() < 600, "{}", got.len());
            assert_eq!(got, expected);
        }
    }
}
