//! YOLOv3 decoding (METHOD.md §5) and non-maximum suppression.
//!
//! For head stride s, grid cell (cx, cy) and anchor (w_a, h_a): x = (σ(tx) + cx)·s,
//! y = (σ(ty) + cy)·s, w = w_a·e^tw, h = h_a·e^th, objectness σ(to), class probabilities
//! independent sigmoids σ(c_k). Score = objectness × best class probability.

use ndarray::ArrayView4;

use crate::model::contract::ModelMetadata;
use crate::tiling::PixelBox;

/// One detection in pixel coordinates of its tile (or, after placement, of the raster).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: PixelBox,
    pub class: usize,
    /// objectness × class probability.
    pub score: f32,
    pub objectness: f32,
}

/// σ(x) = 1 / (1 + e^−x).
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decode the three heads of batch item `item` into detections with score ≥ `confidence`,
/// boxes clipped to the tile.
pub fn decode(
    heads: &[ArrayView4<f32>; 3],
    item: usize,
    metadata: &ModelMetadata,
    confidence: f32,
) -> Vec<Detection> {
    let classes = metadata.classes.len();
    let per_anchor = 5 + classes;
    let tile = metadata.tile as f32;
    let mut out = Vec::new();
    for (h, head) in heads.iter().enumerate() {
        let anchors = metadata.head_anchors(h);
        let stride = anchors[0].stride as f32;
        let (_, channels, rows, cols) = head.dim();
        if channels != 3 * per_anchor {
            continue;
        }
        for (a, anchor) in anchors.iter().enumerate() {
            let base = a * per_anchor;
            for gy in 0..rows {
                for gx in 0..cols {
                    let objectness = sigmoid(head[(item, base + 4, gy, gx)]);
                    if objectness < confidence {
                        continue;
                    }
                    let (mut best, mut best_p) = (0, 0.0f32);
                    for k in 0..classes {
                        let p = sigmoid(head[(item, base + 5 + k, gy, gx)]);
                        if p > best_p {
                            best = k;
                            best_p = p;
                        }
                    }
                    let score = objectness * best_p;
                    if score < confidence {
                        continue;
                    }
                    let x = (sigmoid(head[(item, base, gy, gx)]) + gx as f32) * stride;
                    let y = (sigmoid(head[(item, base + 1, gy, gx)]) + gy as f32) * stride;
                    let w = anchor.width as f32 * head[(item, base + 2, gy, gx)].exp();
                    let hh = anchor.height as f32 * head[(item, base + 3, gy, gx)].exp();
                    let bbox = [
                        f64::from((x - w / 2.0).max(0.0)),
                        f64::from((y - hh / 2.0).max(0.0)),
                        f64::from((x + w / 2.0).min(tile)),
                        f64::from((y + hh / 2.0).min(tile)),
                    ];
                    if bbox[2] > bbox[0] && bbox[3] > bbox[1] {
                        out.push(Detection {
                            bbox,
                            class: best,
                            score,
                            objectness,
                        });
                    }
                }
            }
        }
    }
    out
}

/// [`decode`] for every item of a batch of heads `[N, C, H, W]`.
pub fn decode_batch(
    heads: &[ndarray::Array4<f32>; 3],
    metadata: &ModelMetadata,
    confidence: f32,
) -> Vec<Vec<Detection>> {
    let views = [heads[0].view(), heads[1].view(), heads[2].view()];
    (0..heads[0].dim().0)
        .map(|k| decode(&views, k, metadata, confidence))
        .collect()
}
