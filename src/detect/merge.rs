//! Merging detections across tiles.
//!
//! A landslide cut by an interior tile edge is seen in pieces by the tiles on either side. Two
//! pieces are joined only when they are the two halves of one object across one edge:
//! - they have the same class and come from the two tiles that share the edge, one cut on the
//!   side facing the other (right/left, bottom/top) — a box seen whole by the overlapping
//!   neighbour is not cut there, so it is never joined;
//! - they lie across the edge: the first piece reaches past the second tile's near edge and the
//!   second past the first tile's far edge (the object started before one tile and ended after
//!   the other, which is why both cut it);
//! - they have a comparable extent along the edge (1-D IoU ≥ [`ALONG_EDGE_IOU`]);
//! - each cut side is joined at most once (best along-edge match first), and a united box is
//!   never wider or taller than a tile plus the overlap, the largest object two neighbouring
//!   tiles can see between them.
//!
//! Pieces across a tile corner are joined through the four edges around it. Duplicates seen by
//! overlapping tiles are then resolved by suppression, never by union ([`super::suppress`]):
//! per-class NMS, and a box lying ≥ [`INSIDE_SHARE`] inside a better box of its class is dropped.
//!
//! Monotone in the confidence: only pieces scoring ≥ [`COMPLETION_FLOOR`] are joined, and
//! [`super::detect_stack`] always decodes down to that floor, so the boxes above any threshold s
//! are the same whatever lower threshold a run uses; predictions below s change a box above s
//! only by completing it with the other piece of the same object, and never suppress it.
//!
//! Work is linear in the candidates for the pairing (pieces are bucketed by tile edge) and
//! O(n log n) for the suppression (R-trees).

use std::collections::HashMap;

use super::decode::Detection;
use super::suppress::{suppress, SuppressionRule};
use crate::tiling::PixelBox;

/// A detection placed in raster pixels, with the sides where its tile cut it (left, top, right,
/// bottom) — a side touching an interior tile edge — and the tile it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedDetection {
    pub detection: Detection,
    pub cut: [bool; 4],
    /// Column and row of the tile's origin in the raster (pixels).
    pub tile_origin: (usize, usize),
    /// Side of the tile (pixels).
    pub tile: usize,
}

/// Pixels within which a box side counts as touching a tile edge.
pub const EDGE_TOLERANCE_PX: f64 = 2.0;

/// Least 1-D IoU, along the shared edge, of two pieces joined into one object.
pub const ALONG_EDGE_IOU: f64 = 0.5;

/// Share of a box's area inside a better box of its class at which it is dropped as a duplicate.
pub const INSIDE_SHARE: f64 = 0.8;

/// Least score of a piece that may be joined to another; detection always decodes down to it.
pub const COMPLETION_FLOOR: f32 = 0.05;

/// Place tile detections in raster pixels and mark their cut sides. `raster` is (width, height).
pub fn place(
    tile_detections: &[Detection],
    col0: usize,
    row0: usize,
    tile: usize,
    raster: (usize, usize),
) -> Vec<PlacedDetection> {
    let (c0, r0) = (col0 as f64, row0 as f64);
    let t = tile as f64;
    tile_detections
        .iter()
        .map(|d| {
            let b = d.bbox;
            let placed = [b[0] + c0, b[1] + r0, b[2] + c0, b[3] + r0];
            let cut = [
                b[0] <= EDGE_TOLERANCE_PX && col0 > 0,
                b[1] <= EDGE_TOLERANCE_PX && row0 > 0,
                b[2] >= t - EDGE_TOLERANCE_PX && col0 + tile < raster.0,
                b[3] >= t - EDGE_TOLERANCE_PX && row0 + tile < raster.1,
            ];
            PlacedDetection {
                detection: Detection { bbox: placed, ..*d },
                cut,
                tile_origin: (col0, row0),
                tile,
            }
        })
        .collect()
}

fn union(a: &PixelBox, b: &PixelBox) -> PixelBox {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

/// 1-D IoU of the intervals [a0, a1] and [b0, b1].
fn interval_iou(a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    let inter = (a1.min(b1) - a0.max(b0)).max(0.0);
    let union = (a1.max(b1) - a0.min(b0)).max(0.0);
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// An interior tile edge: between the tile at `first` and its neighbour to the right
/// (`vertical`) or below, for one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EdgeKey {
    vertical: bool,
    first: (usize, usize),
    class: usize,
}

/// Pieces cut on either side of one edge: `first` from the left/upper tile, `second` from the
/// right/lower one.
#[derive(Default)]
struct EdgePieces {
    first: Vec<usize>,
    second: Vec<usize>,
}

/// A join of two pieces across an edge, with its along-edge agreement.
struct Join {
    quality: f64,
    score: f32,
    first: usize,
    second: usize,
}

fn bucket_by_edge(placed: &[PlacedDetection], step: usize) -> HashMap<EdgeKey, EdgePieces> {
    let mut edges: HashMap<EdgeKey, EdgePieces> = HashMap::new();
    for (i, p) in placed.iter().enumerate() {
        if p.detection.score < COMPLETION_FLOOR {
            continue;
        }
        let (c0, r0) = p.tile_origin;
        let class = p.detection.class;
        let mut add = |vertical: bool, first: (usize, usize), is_first: bool| {
            let e = edges.entry(EdgeKey {
                vertical,
                first,
                class,
            });
            let pieces = e.or_default();
            if is_first {
                pieces.first.push(i);
            } else {
                pieces.second.push(i);
            }
        };
        if p.cut[2] {
            add(true, (c0, r0), true);
        }
        if p.cut[0] {
            if let Some(c) = c0.checked_sub(step) {
                add(true, (c, r0), false);
            }
        }
        if p.cut[3] {
            add(false, (c0, r0), true);
        }
        if p.cut[1] {
            if let Some(r) = r0.checked_sub(step) {
                add(false, (c0, r), false);
            }
        }
    }
    edges
}

/// Joins across one edge: every valid pair, then the best along-edge matches one to one.
fn joins_across(
    key: &EdgeKey,
    pieces: &EdgePieces,
    placed: &[PlacedDetection],
    step: usize,
) -> Vec<Join> {
    let mut candidates = Vec::new();
    for &i in &pieces.first {
        let a = &placed[i];
        // The edge's two sides: where the second tile starts and where the first one ends.
        let (near, far) = if key.vertical {
            ((key.first.0 + step) as f64, (key.first.0 + a.tile) as f64)
        } else {
            ((key.first.1 + step) as f64, (key.first.1 + a.tile) as f64)
        };
        let (ab, ax) = (a.detection.bbox, if key.vertical { 0 } else { 1 });
        for &j in &pieces.second {
            let bb = placed[j].detection.bbox;
            let across = ab[ax] < near && bb[ax + 2] > far;
            if !across {
                continue;
            }
            let along = 1 - ax;
            let quality = interval_iou(ab[along], ab[along + 2], bb[along], bb[along + 2]);
            if quality >= ALONG_EDGE_IOU {
                candidates.push(Join {
                    quality,
                    score: a.detection.score.max(placed[j].detection.score),
                    first: i,
                    second: j,
                });
            }
        }
    }
    candidates.sort_by(|x, y| {
        y.quality
            .total_cmp(&x.quality)
            .then(y.score.total_cmp(&x.score))
            .then((x.first, x.second).cmp(&(y.first, y.second)))
    });
    let mut used_first = std::collections::HashSet::new();
    let mut used_second = std::collections::HashSet::new();
    candidates
        .into_iter()
        .filter(|j| {
            if used_first.contains(&j.first) || used_second.contains(&j.second) {
                return false;
            }
            used_first.insert(j.first);
            used_second.insert(j.second);
            true
        })
        .collect()
}

fn find(parent: &mut [usize], i: usize) -> usize {
    let mut r = i;
    while parent[r] != r {
        r = parent[r];
    }
    let mut j = i;
    while parent[j] != r {
        let next = parent[j];
        parent[j] = r;
        j = next;
    }
    r
}

/// Merge placed detections (tiles laid with `overlap` px between neighbours) into final boxes in
/// raster pixels: join the pieces of objects cut by tile edges, then suppress duplicates (per-class
/// NMS at `iou_threshold`, and boxes ≥ [`INSIDE_SHARE`] inside a better box of their class).
/// The output is sorted by score, highest first.
pub fn merge(placed: &[PlacedDetection], overlap: usize, iou_threshold: f64) -> Vec<Detection> {
    let n = placed.len();
    let Some(tile) = placed.first().map(|p| p.tile) else {
        return Vec::new();
    };
    let step = tile.saturating_sub(overlap).max(1);
    let largest = (tile + overlap) as f64 + EDGE_TOLERANCE_PX;
    let mut joins: Vec<Join> = Vec::new();
    for (key, pieces) in bucket_by_edge(placed, step) {
        if !pieces.first.is_empty() && !pieces.second.is_empty() {
            joins.extend(joins_across(&key, &pieces, placed, step));
        }
    }
    // Best joins first, so that the size cap keeps the most certain ones.
    joins.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then(y.quality.total_cmp(&x.quality))
            .then((x.first, x.second).cmp(&(y.first, y.second)))
    });
    let mut parent: Vec<usize> = (0..n).collect();
    let mut group: Vec<Detection> = placed.iter().map(|p| p.detection).collect();
    for j in &joins {
        let (ri, rj) = (find(&mut parent, j.first), find(&mut parent, j.second));
        if ri == rj {
            continue;
        }
        let b = union(&group[ri].bbox, &group[rj].bbox);
        if b[2] - b[0] > largest || b[3] - b[1] > largest {
            continue;
        }
        parent[rj] = ri;
        let other = group[rj];
        let g = &mut group[ri];
        g.bbox = b;
        g.score = g.score.max(other.score);
        g.objectness = g.objectness.max(other.objectness);
    }
    let united: Vec<Detection> = (0..n)
        .filter(|&i| find(&mut parent, i) == i)
        .map(|i| group[i])
        .collect();
    suppress(
        united,
        SuppressionRule {
            iou: iou_threshold,
            inside: Some(INSIDE_SHARE),
        },
    )
}
