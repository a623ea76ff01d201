//! Detections against a landslide inventory (IFFI or any polygon layer): which mapped landslides
//! each detection overlaps, the best match's movement type, the overlapped share of the box, the
//! distance to the nearest mapped landslide, and a status — `mapped` (overlaps one), `near`
//! (within the distance, not overlapping) or `new` (none within the distance).
//!
//! The inventory is reprojected to the detections' CRS with PROJ when they differ, indexed with
//! an R-tree (rstar) of polygon envelopes, and intersections, areas and distances are computed
//! with geo. Only R-tree candidates are tested exactly: no all-pairs comparison.

pub mod layer;

use std::collections::BTreeMap;

use geo::{Area, BooleanOps, BoundingRect, Distance, Euclidean, LineString, Polygon, Validation};
use rstar::{primitives::GeomWithData, RTree, RTreeObject, AABB};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::vector::{ReadLayer, Value};

/// One inventory polygon ready for overlay.
#[derive(Debug, Clone)]
pub struct InventoryPolygon {
    /// `id_frana` when present, else the feature id.
    pub id: String,
    /// `nome_tipo` when present.
    pub movement_type: Option<String>,
    pub polygon: Polygon<f64>,
}

/// What an overlay found for one detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverlayResult {
    /// Ids of every overlapped inventory polygon, best match first.
    pub ids: Vec<String>,
    pub best_movement_type: Option<String>,
    /// Share of the detection box covered by inventory polygons (0–1).
    pub overlap_fraction: f64,
    /// Distance to the nearest inventory polygon in CRS units (0 when overlapping; None when
    /// the inventory is empty).
    pub distance: Option<f64>,
    pub status: Status,
}

/// Detection status against the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Mapped,
    Near,
    New,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::Mapped => "mapped",
            Status::Near => "near",
            Status::New => "new",
        }
    }
}

/// Counts of what went into the index.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InventoryStats {
    pub features: usize,
    pub polygons: usize,
    /// Polygons skipped: invalid (self-intersecting…) or degenerate (fewer than 3 distinct
    /// vertices, zero area), or without geometry.
    pub skipped_invalid: usize,
}

/// Turn an OGR layer into inventory polygons (exterior rings; every part of a multipolygon),
/// transforming coordinates with `transform` when given.
pub fn inventory_polygons(
    layer: &ReadLayer,
    transform: Option<&proj::Proj>,
) -> Result<(Vec<InventoryPolygon>, InventoryStats)> {
    let mut stats = InventoryStats {
        features: layer.features.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    for f in &layer.features {
        let id = f
            .attribute("id_frana")
            .and_then(Value::as_text)
            .or_else(|| f.fid.map(|fid| fid.to_string()))
            .unwrap_or_default();
        let movement_type = f.attribute("nome_tipo").and_then(Value::as_text);
        if f.rings.is_empty() {
            stats.skipped_invalid += 1;
            continue;
        }
        for ring in &f.rings {
            let mut coords = Vec::with_capacity(ring.len());
            for &(x, y) in ring {
                let p = match transform {
                    Some(t) => t.convert((x, y)).map_err(|e| Error::Proj(e.to_string()))?,
                    None => (x, y),
                };
                coords.push(p);
            }
            let polygon = Polygon::new(LineString::from(coords), vec![]);
            if polygon.unsigned_area() <= 0.0 || !polygon.is_valid() {
                stats.skipped_invalid += 1;
                continue;
            }
            out.push(InventoryPolygon {
                id: id.clone(),
                movement_type: movement_type.clone(),
                polygon,
            });
            stats.polygons += 1;
        }
    }
    Ok((out, stats))
}

type Entry = GeomWithData<rstar::primitives::Rectangle<[f64; 2]>, usize>;

/// An R-tree over inventory polygons.
pub struct InventoryIndex {
    polygons: Vec<InventoryPolygon>,
    tree: RTree<Entry>,
    /// Number of R-tree queries made (for the no-all-pairs check).
    pub queries: std::cell::Cell<usize>,
    /// Number of exact polygon tests made.
    pub exact_tests: std::cell::Cell<usize>,
}

impl InventoryIndex {
    /// Bulk-load the index.
    pub fn new(polygons: Vec<InventoryPolygon>) -> InventoryIndex {
        let entries: Vec<Entry> = polygons
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.polygon.bounding_rect().map(|r| {
                    GeomWithData::new(
                        rstar::primitives::Rectangle::from_corners(
                            [r.min().x, r.min().y],
                            [r.max().x, r.max().y],
                        ),
                        i,
                    )
                })
            })
            .collect();
        InventoryIndex {
            polygons,
            tree: RTree::bulk_load(entries),
            queries: std::cell::Cell::new(0),
            exact_tests: std::cell::Cell::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.polygons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.polygons.is_empty()
    }

    /// Overlay one detection box (min x, min y, max x, max y); `new_distance` in CRS units.
    pub fn overlay_box(&self, bbox: [f64; 4], new_distance: f64) -> OverlayResult {
        let detection = Polygon::new(
            LineString::from(vec![
                (bbox[0], bbox[1]),
                (bbox[2], bbox[1]),
                (bbox[2], bbox[3]),
                (bbox[0], bbox[3]),
                (bbox[0], bbox[1]),
            ]),
            vec![],
        );
        let box_area = detection.unsigned_area();
        self.queries.set(self.queries.get() + 1);
        let search = AABB::from_corners(
            [bbox[0] - new_distance, bbox[1] - new_distance],
            [bbox[2] + new_distance, bbox[3] + new_distance],
        );
        let mut overlaps: Vec<(f64, usize)> = Vec::new();
        let mut nearest: Option<f64> = None;
        let mut covered = 0.0;
        for entry in self.tree.locate_in_envelope_intersecting(&search) {
            let i = entry.data;
            self.exact_tests.set(self.exact_tests.get() + 1);
            let polygon = &self.polygons[i].polygon;
            let area = detection.intersection(polygon).unsigned_area();
            if area > 0.0 {
                overlaps.push((area, i));
                covered += area;
                nearest = Some(0.0);
            } else {
                let d = Euclidean.distance(&detection, polygon);
                nearest = Some(nearest.map_or(d, |n: f64| n.min(d)));
            }
        }
        if nearest.is_none() && self.tree.size() > 0 {
            // Nothing within the search distance: the nearest envelope gives the distance.
            self.queries.set(self.queries.get() + 1);
            let centre = [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0];
            let mut best: Option<f64> = None;
            for entry in self.tree.nearest_neighbor_iter(&centre) {
                let envelope_distance = entry.envelope().distance_2(&centre).sqrt();
                if let Some(b) = best {
                    // Every further envelope is farther from the centre than this one.
                    if envelope_distance - (bbox[2] - bbox[0]).hypot(bbox[3] - bbox[1]) > b {
                        break;
                    }
                }
                self.exact_tests.set(self.exact_tests.get() + 1);
                let d = Euclidean.distance(&detection, &self.polygons[entry.data].polygon);
                best = Some(best.map_or(d, |b: f64| b.min(d)));
            }
            nearest = best;
        }
        overlaps.sort_by(|a, b| b.0.total_cmp(&a.0));
        let status = if !overlaps.is_empty() {
            Status::Mapped
        } else if nearest.is_some_and(|d| d <= new_distance) {
            Status::Near
        } else {
            Status::New
        };
        let mut ids: Vec<String> = Vec::new();
        for (_, i) in &overlaps {
            let id = &self.polygons[*i].id;
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        OverlayResult {
            ids,
            best_movement_type: overlaps
                .first()
                .and_then(|(_, i)| self.polygons[*i].movement_type.clone()),
            overlap_fraction: if box_area > 0.0 {
                (covered / box_area).min(1.0)
            } else {
                0.0
            },
            distance: nearest,
            status,
        }
    }
}

/// Counts by class × status.
pub fn summary(rows: &[(String, Status)]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut table: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (class, status) in rows {
        *table
            .entry(class.clone())
            .or_default()
            .entry(status.code().to_string())
            .or_default() += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(id: &str, x: f64, y: f64, side: f64) -> InventoryPolygon {
        InventoryPolygon {
            id: id.into(),
            movement_type: Some("Colamento lento".into()),
            polygon: Polygon::new(
                LineString::from(vec![
                    (x, y),
                    (x + side, y),
                    (x + side, y + side),
                    (x, y + side),
                    (x, y),
                ]),
                vec![],
            ),
        }
    }

    #[test]
    fn mapped_near_and_new() {
        let index = InventoryIndex::new(vec![
            square("a", 0.0, 0.0, 100.0),
            square("b", 1000.0, 0.0, 100.0),
        ]);
        let r = index.overlay_box([50.0, 50.0, 150.0, 150.0], 200.0);
        assert_eq!(r.status, Status::Mapped);
        assert_eq!(r.ids, vec!["a".to_string()]);
        assert!((r.overlap_fraction - 0.25).abs() < 1e-9);
        let r = index.overlay_box([250.0, 0.0, 300.0, 50.0], 200.0);
        assert_eq!((r.status, r.distance), (Status::Near, Some(150.0)));
        let r = index.overlay_box([500.0, 500.0, 520.0, 520.0], 200.0);
        assert_eq!(r.status, Status::New);
        let d = r.distance.unwrap();
        assert!((d - (400.0f64.hypot(400.0))).abs() < 1e-6, "{d}");
    }
}
