//! Merging detections across tiles: a landslide cut by a tile edge is seen in pieces by the tiles
//! around the edge; pieces of one class that touch across an interior tile edge are united into
//! one box, then duplicates from overlapping tiles are removed (NMS, and boxes mostly inside a
//! better box of the same class).

use super::decode::{nms, Detection};
use crate::tiling::{area, intersection, PixelBox};

/// A detection placed in raster pixels, with the sides where its tile cut it (left, top, right,
/// bottom) — a side touching an interior tile edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedDetection {
    pub detection: Detection,
    pub cut: [bool; 4],
}

/// Pixels within which a box side counts as touching a tile edge, and two pieces as touching.
pub const EDGE_TOLERANCE_PX: f64 = 2.0;

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
            }
        })
        .collect()
}

fn expanded(b: &PixelBox, by: f64) -> PixelBox {
    [b[0] - by, b[1] - by, b[2] + by, b[3] + by]
}

fn union(a: &PixelBox, b: &PixelBox) -> PixelBox {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
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

/// Merge placed detections into final boxes (raster pixels): unite touching pieces of one class
/// where at least one was cut by a tile edge, then per-class NMS at `iou_threshold`, then drop
/// boxes lying ≥ 80 % inside a higher-scoring box of the same class.
pub fn merge(placed: &[PlacedDetection], iou_threshold: f64) -> Vec<Detection> {
    let n = placed.len();
    let mut parent: Vec<usize> = (0..n).collect();
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (&placed[i], &placed[j]);
            if a.detection.class != b.detection.class {
                continue;
            }
            if !(a.cut.iter().any(|c| *c) || b.cut.iter().any(|c| *c)) {
                continue;
            }
            let touch = intersection(
                &expanded(&a.detection.bbox, EDGE_TOLERANCE_PX),
                &b.detection.bbox,
            );
            if area(&touch) > 0.0 {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                if ri != rj {
                    parent[rj] = ri;
                }
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Detection> =
        std::collections::BTreeMap::new();
    for (i, p) in placed.iter().enumerate() {
        let root = find(&mut parent, i);
        let d = p.detection;
        groups
            .entry(root)
            .and_modify(|g| {
                g.bbox = union(&g.bbox, &d.bbox);
                g.score = g.score.max(d.score);
                g.objectness = g.objectness.max(d.objectness);
            })
            .or_insert(d);
    }
    let united: Vec<Detection> = groups.into_values().collect();
    let kept = nms(united, iou_threshold);
    let mut out: Vec<Detection> = Vec::with_capacity(kept.len());
    for d in kept {
        let inside = out.iter().any(|k| {
            k.class == d.class && area(&intersection(&k.bbox, &d.bbox)) >= 0.8 * area(&d.bbox)
        });
        if !inside {
            out.push(d);
        }
    }
    out
}
