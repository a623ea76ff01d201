//! Multi-temporal persistence: detections of several interferograms (dates, orbits) clustered
//! into persistent areas. Two detections belong together when their boxes overlap with
//! IoU ≥ `iou` or their centres lie within `distance` (ascending and descending boxes of one
//! slide differ in extent); clusters are the connected components of that relation, found with
//! an R-tree (rstar) so no all-pairs comparison happens. Each area counts the interferograms it
//! appears in against those whose footprint covers it — the persistence the paper's experts
//! checked by hand.

pub mod layer;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use geo::{Contains, Point, Polygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::tiling::iou;

/// One detection of one interferogram, in the common CRS.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Index of the interferogram (input layer).
    pub source: usize,
    /// Box: min x, min y, max x, max y.
    pub bbox: [f64; 4],
    pub class: String,
    pub score: f64,
}

/// When two detections are the same area.
#[derive(Debug, Clone, Copy)]
pub struct MatchRule {
    /// Least IoU of the two boxes.
    pub iou: f64,
    /// Or: largest distance between the box centres (CRS units, metres for projected CRSs).
    pub distance: f64,
}

impl Default for MatchRule {
    /// IoU 0.25 or centres within 150 m (10 pixels at 15 m).
    fn default() -> Self {
        MatchRule {
            iou: 0.25,
            distance: 150.0,
        }
    }
}

/// What is known of an interferogram (an input layer).
#[derive(Debug, Clone, Default)]
pub struct Interferogram {
    pub id: String,
    pub primary_date: Option<NaiveDate>,
    pub secondary_date: Option<NaiveDate>,
    pub orbit: Option<String>,
    /// Area the interferogram covers (its scene footprint), in the common CRS.
    pub footprint: Option<Polygon<f64>>,
}

/// A persistent area: a cluster of detections across interferograms.
#[derive(Debug, Clone)]
pub struct PersistentArea {
    /// Union box of the members.
    pub bbox: [f64; 4],
    /// Indices into the observations.
    pub members: Vec<usize>,
    /// Interferograms (sources) it appears in, sorted.
    pub sources: Vec<usize>,
    /// Interferograms whose footprint covers the area's centre.
    pub covering: Vec<usize>,
    /// Class with the most member votes (ties: the higher summed score).
    pub class: String,
    pub votes: BTreeMap<String, usize>,
    pub mean_score: f64,
    pub max_score: f64,
}

fn centre(b: &[f64; 4]) -> (f64, f64) {
    ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)
}

/// Whether two observations are the same area under `rule`.
pub fn same_area(a: &[f64; 4], b: &[f64; 4], rule: &MatchRule) -> bool {
    let (ca, cb) = (centre(a), centre(b));
    iou(a, b) >= rule.iou || (ca.0 - cb.0).hypot(ca.1 - cb.1) <= rule.distance
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Connected components of [`same_area`] over `observations`; returns the clusters (member
/// indices, ascending) and the number of R-tree queries made (one per observation).
pub fn cluster(observations: &[Observation], rule: &MatchRule) -> (Vec<Vec<usize>>, usize) {
    let tree = RTree::bulk_load(
        observations
            .iter()
            .enumerate()
            .map(|(i, o)| {
                GeomWithData::new(
                    Rectangle::from_corners([o.bbox[0], o.bbox[1]], [o.bbox[2], o.bbox[3]]),
                    i,
                )
            })
            .collect(),
    );
    let mut parent: Vec<usize> = (0..observations.len()).collect();
    let reach = rule.distance.max(0.0);
    for (i, o) in observations.iter().enumerate() {
        // Boxes whose centre lies within `distance` of this centre, or that overlap this box,
        // all intersect this box grown by `distance`.
        let b = o.bbox;
        let query = AABB::from_corners([b[0] - reach, b[1] - reach], [b[2] + reach, b[3] + reach]);
        for candidate in tree.locate_in_envelope_intersecting(&query) {
            let j = candidate.data;
            if j > i && same_area(&o.bbox, &observations[j].bbox, rule) {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                if ri != rj {
                    parent[ri.max(rj)] = ri.min(rj);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..observations.len() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    (groups.into_values().collect(), observations.len())
}

/// Persistent areas of `observations` from `interferograms` (indexed by `Observation::source`).
/// An interferogram without a footprint counts as covering every area.
pub fn persistent_areas(
    observations: &[Observation],
    interferograms: &[Interferogram],
    rule: &MatchRule,
) -> (Vec<PersistentArea>, usize) {
    let (clusters, queries) = cluster(observations, rule);
    let areas = clusters
        .into_iter()
        .map(|members| {
            let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            let mut votes: BTreeMap<String, usize> = BTreeMap::new();
            let mut class_score: BTreeMap<String, f64> = BTreeMap::new();
            let mut sources = BTreeSet::new();
            let (mut sum, mut max) = (0.0, f64::MIN);
            for &m in &members {
                let o = &observations[m];
                bbox = [
                    bbox[0].min(o.bbox[0]),
                    bbox[1].min(o.bbox[1]),
                    bbox[2].max(o.bbox[2]),
                    bbox[3].max(o.bbox[3]),
                ];
                *votes.entry(o.class.clone()).or_default() += 1;
                *class_score.entry(o.class.clone()).or_default() += o.score;
                sources.insert(o.source);
                sum += o.score;
                max = max.max(o.score);
            }
            let class = votes
                .iter()
                .max_by(|a, b| {
                    a.1.cmp(b.1)
                        .then(class_score[a.0].total_cmp(&class_score[b.0]))
                })
                .map(|(c, _)| c.clone())
                .unwrap_or_default();
            let (cx, cy) = centre(&bbox);
            let covering = interferograms
                .iter()
                .enumerate()
                .filter(|(k, ifg)| {
                    sources.contains(k)
                        || ifg
                            .footprint
                            .as_ref()
                            .is_none_or(|f| f.contains(&Point::new(cx, cy)))
                })
                .map(|(k, _)| k)
                .collect();
            PersistentArea {
                bbox,
                mean_score: sum / members.len() as f64,
                max_score: max,
                members,
                sources: sources.into_iter().collect(),
                covering,
                class,
                votes,
            }
        })
        .collect();
    (areas, queries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(source: usize, b: [f64; 4], class: &str) -> Observation {
        Observation {
            source,
            bbox: b,
            class: class.into(),
            score: 0.5,
        }
    }

    fn rectangle(b: [f64; 4]) -> Polygon<f64> {
        geo::Rect::new((b[0], b[1]), (b[2], b[3])).to_polygon()
    }

    #[test]
    fn chains_join_and_strangers_stay_apart() {
        let rule = MatchRule {
            iou: 0.3,
            distance: 0.0,
        };
        let o = vec![
            obs(0, [0.0, 0.0, 10.0, 10.0], "CF"),
            obs(1, [1.0, 1.0, 11.0, 11.0], "CF"),
            obs(2, [2.0, 2.0, 12.0, 12.0], "CS"),
            obs(3, [100.0, 100.0, 110.0, 110.0], "FS"),
        ];
        let (clusters, queries) = cluster(&o, &rule);
        assert_eq!(clusters, vec![vec![0, 1, 2], vec![3]]);
        assert_eq!(queries, 4);
        let (areas, _) = persistent_areas(&o, &vec![Interferogram::default(); 4], &rule);
        assert_eq!(areas[0].bbox, [0.0, 0.0, 12.0, 12.0]);
        assert_eq!(areas[0].class, "CF");
        assert_eq!(areas[0].sources, vec![0, 1, 2]);
        assert_eq!(areas[0].covering, vec![0, 1, 2, 3]);
    }

    #[test]
    fn centre_distance_joins_boxes_of_other_extent() {
        // An ascending and a descending box of one slide: small IoU, close centres.
        let a = [0.0, 0.0, 300.0, 100.0];
        let b = [100.0, -100.0, 200.0, 200.0];
        assert!(iou(&a, &b) < 0.25);
        assert!(same_area(&a, &b, &MatchRule::default()));
        assert!(!same_area(
            &a,
            &[1000.0, 0.0, 1300.0, 100.0],
            &MatchRule::default()
        ));
    }

    #[test]
    fn footprints_decide_coverage() {
        let o = vec![obs(0, [0.0, 0.0, 10.0, 10.0], "CF")];
        let inside = Interferogram {
            footprint: Some(rectangle([-50.0, -50.0, 50.0, 50.0])),
            ..Default::default()
        };
        let outside = Interferogram {
            footprint: Some(rectangle([500.0, 500.0, 600.0, 600.0])),
            ..Default::default()
        };
        let (areas, _) = persistent_areas(
            &o,
            &[inside.clone(), inside, outside],
            &MatchRule::default(),
        );
        assert_eq!(areas[0].covering, vec![0, 1]);
    }
}
