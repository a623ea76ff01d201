//! YOLO anchors: k-means on the boxes' (width, height) with the distance 1 − IoU of boxes aligned
//! at a common centre (Redmon & Farhadi 2017; METHOD.md §5), sorted by area (small → stride 8).

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// IoU of two boxes of sizes `a` and `b` sharing a centre.
pub fn centred_iou(a: (f64, f64), b: (f64, f64)) -> f64 {
    let inter = a.0.min(b.0) * a.1.min(b.1);
    let union = a.0 * a.1 + b.0 * b.1 - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// k anchors (width, height) from `boxes` by k-means with d = 1 − IoU; k-means++ seeding with
/// `seed`; an emptied cluster is re-seeded with the box farthest from its centre, so every anchor
/// is used. Anchors are the clusters' median sizes, sorted by area. Fewer distinct boxes than k
/// is an error for the caller to report (None).
pub fn kmeans_anchors(boxes: &[(f64, f64)], k: usize, seed: u64) -> Option<Vec<(f64, f64)>> {
    let valid: Vec<(f64, f64)> = boxes
        .iter()
        .copied()
        .filter(|b| b.0 > 0.0 && b.1 > 0.0)
        .collect();
    let mut distinct = valid.clone();
    distinct.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    distinct.dedup();
    if k == 0 || distinct.len() < k {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let distance = |a: (f64, f64), b: (f64, f64)| 1.0 - centred_iou(a, b);
    let mut centres = vec![valid[rng.random_range(0..valid.len())]];
    while centres.len() < k {
        let weights: Vec<f64> = valid
            .iter()
            .map(|&b| {
                centres
                    .iter()
                    .map(|&c| distance(b, c))
                    .fold(f64::MAX, f64::min)
                    .powi(2)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            let next = distinct.iter().find(|d| !centres.contains(d)).copied()?;
            centres.push(next);
            continue;
        }
        let mut pick = rng.random_range(0.0..total);
        let mut chosen = valid[valid.len() - 1];
        for (b, w) in valid.iter().zip(&weights) {
            if pick < *w {
                chosen = *b;
                break;
            }
            pick -= w;
        }
        centres.push(chosen);
    }
    let mut assignment = vec![0usize; valid.len()];
    for _ in 0..300 {
        let mut changed = false;
        for (i, &b) in valid.iter().enumerate() {
            let best = (0..k)
                .min_by(|&x, &y| distance(b, centres[x]).total_cmp(&distance(b, centres[y])))
                .unwrap_or(0);
            if assignment[i] != best {
                assignment[i] = best;
                changed = true;
            }
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<(f64, f64)> = valid
                .iter()
                .zip(&assignment)
                .filter(|(_, a)| **a == c)
                .map(|(b, _)| *b)
                .collect();
            if members.is_empty() {
                continue;
            }
            *centre = (
                median(members.iter().map(|m| m.0)),
                median(members.iter().map(|m| m.1)),
            );
        }
        // Re-seed empty clusters with the worst-served box.
        for c in 0..k {
            if assignment.contains(&c) {
                continue;
            }
            let worst = (0..valid.len())
                .max_by(|&x, &y| {
                    distance(valid[x], centres[assignment[x]])
                        .total_cmp(&distance(valid[y], centres[assignment[y]]))
                })
                .unwrap_or(0);
            centres[c] = valid[worst];
            assignment[worst] = c;
            changed = true;
        }
        if !changed {
            break;
        }
    }
    centres.sort_by(|a, b| (a.0 * a.1).total_cmp(&(b.0 * b.1)));
    Some(centres)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_known_clusters_and_uses_every_anchor() {
        // Nine well separated size families, 20 jittered boxes each.
        let families = [
            (6.0, 6.0),
            (10.0, 20.0),
            (20.0, 10.0),
            (16.0, 16.0),
            (30.0, 60.0),
            (60.0, 30.0),
            (45.0, 45.0),
            (90.0, 90.0),
            (140.0, 70.0),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut boxes = Vec::new();
        for f in families {
            for _ in 0..20 {
                boxes.push((
                    f.0 * rng.random_range(0.95..1.05),
                    f.1 * rng.random_range(0.95..1.05),
                ));
            }
        }
        let anchors = kmeans_anchors(&boxes, 9, 1).expect("anchors");
        let mut expected = families.to_vec();
        expected.sort_by(|a, b| (a.0 * a.1).total_cmp(&(b.0 * b.1)));
        for (a, e) in anchors.iter().zip(&expected) {
            assert!(centred_iou(*a, *e) > 0.9, "anchor {a:?} vs family {e:?}");
        }
        // Every anchor is the best match of at least one box.
        for (i, a) in anchors.iter().enumerate() {
            let used = boxes.iter().any(|&b| {
                (0..9).max_by(|&x, &y| {
                    centred_iou(b, anchors[x]).total_cmp(&centred_iou(b, anchors[y]))
                }) == Some(i)
            });
            assert!(used, "anchor {a:?} unused");
        }
    }

    #[test]
    fn too_few_boxes_is_reported() {
        assert!(kmeans_anchors(&[(1.0, 1.0), (2.0, 2.0)], 9, 0).is_none());
    }
}
