//! Persistence on files: read detection layers of several interferograms (any CRS; reprojected
//! with PROJ to the first layer's), cluster them, write one feature per persistent area.

use chrono::NaiveDate;
use geo::{Coord, LineString, Polygon};
use serde::Serialize;

use super::{persistent_areas, Interferogram, MatchRule, Observation};
use crate::detect::output::FOOTPRINT_KEY;
use crate::error::{Error, Result};
use crate::progress::{Progress, Stage};
use crate::raster::Crs;
use crate::vector::gpkg::{read_layer, write_layer, WriteOptions};
use crate::vector::{FieldKind, FieldSpec, LayerRef, LayerSpec, PolygonFeature, Value};

/// What a persistence run did.
#[derive(Debug, Clone, Serialize)]
pub struct PersistenceSummary {
    pub interferograms: usize,
    pub detections: usize,
    pub areas: usize,
    /// Areas seen in at least two interferograms.
    pub persistent_areas: usize,
    /// Inputs without a recorded footprint (they count as covering every area).
    pub without_footprint: Vec<String>,
    pub reprojected: Vec<String>,
    /// R-tree queries made (one per detection: no all-pairs comparison).
    pub index_queries: usize,
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_text).filter(|s| !s.is_empty())
}

fn date(v: Option<&Value>) -> Option<NaiveDate> {
    text(v).and_then(|s| NaiveDate::parse_from_str(&s[..s.len().min(10)], "%Y-%m-%d").ok())
}

fn polygon_of(points: &[(f64, f64)]) -> Polygon<f64> {
    Polygon::new(
        LineString::from(
            points
                .iter()
                .map(|&(x, y)| Coord { x, y })
                .collect::<Vec<_>>(),
        ),
        vec![],
    )
}

/// The footprint WKT's exterior ring (lon/lat).
fn footprint_ring(wkt: &str) -> Option<Vec<(f64, f64)>> {
    let geometry = gdal::vector::Geometry::from_wkt(wkt).ok()?;
    if geometry.geometry_count() == 0 {
        return None;
    }
    let mut points = Vec::new();
    geometry.get_geometry(0).get_points(&mut points);
    (points.len() >= 4).then(|| points.into_iter().map(|(x, y, _)| (x, y)).collect())
}

/// Cluster the detections of `inputs` (one layer per interferogram) into persistent areas and
/// write them to `out` (GeoPackage; default layer `persistence`).
pub fn persistence_files(
    inputs: &[LayerRef],
    out: &LayerRef,
    rule: &MatchRule,
    overwrite: bool,
    progress: &dyn Progress,
) -> Result<PersistenceSummary> {
    if inputs.len() < 2 {
        return Err(Error::parameter(
            "detections",
            "give the detection layers of at least two interferograms",
        ));
    }
    if !(0.0..=1.0).contains(&rule.iou) || rule.distance.is_nan() || rule.distance < 0.0 {
        return Err(Error::parameter(
            "iou/distance",
            "IoU must lie in [0, 1] and the distance be ≥ 0",
        ));
    }
    let mut target: Option<(String, Crs)> = None;
    let mut observations = Vec::new();
    let mut interferograms = Vec::new();
    let mut summary = PersistenceSummary {
        interferograms: inputs.len(),
        detections: 0,
        areas: 0,
        persistent_areas: 0,
        without_footprint: Vec::new(),
        reprojected: Vec::new(),
        index_queries: 0,
    };
    let stage = Stage {
        parent: progress,
        start: 0.0,
        span: 1.0,
    };
    for (source, input) in inputs.iter().enumerate() {
        stage.step(
            0.6 * source as f64 / inputs.len() as f64,
            "reading detections",
        )?;
        let layer = read_layer(&input.path, input.layer.as_deref())?;
        let label = format!("{}:{}", input.path.display(), layer.name);
        if layer.crs_wkt.is_empty() {
            return Err(Error::bad_input(
                &input.path,
                "the detection layer has no CRS",
            ));
        }
        let crs =
            Crs::from_definition(&layer.crs_wkt).map_err(|e| Error::bad_input(&input.path, e))?;
        let (target_wkt, target_crs) =
            target.get_or_insert_with(|| (layer.crs_wkt.clone(), crs.clone()));
        let transform = if crs.same_as(target_crs) {
            None
        } else {
            summary.reprojected.push(label.clone());
            Some(
                proj::Proj::new_known_crs(&layer.crs_wkt, target_wkt, None)
                    .map_err(|e| Error::Proj(format!("{label} to the first layer's CRS: {e}")))?,
            )
        };
        let project = |points: &[(f64, f64)]| -> Result<Vec<(f64, f64)>> {
            match &transform {
                None => Ok(points.to_vec()),
                Some(t) => points
                    .iter()
                    .map(|&p| {
                        t.convert(p)
                            .map_err(|e| Error::Proj(format!("{label}: {e}")))
                    })
                    .collect(),
            }
        };
        let first = layer.features.first();
        let footprint = match layer.metadata_item(FOOTPRINT_KEY).and_then(footprint_ring) {
            Some(ring) => {
                let from_lonlat = proj::Proj::new_known_crs("OGC:CRS84", target_wkt, None)
                    .map_err(|e| Error::Proj(format!("{label} footprint: {e}")))?;
                let points = ring
                    .iter()
                    .map(|&p| {
                        from_lonlat
                            .convert(p)
                            .map_err(|e| Error::Proj(format!("{label} footprint: {e}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some(polygon_of(&points))
            }
            None => {
                summary.without_footprint.push(label.clone());
                None
            }
        };
        interferograms.push(Interferogram {
            id: first
                .and_then(|f| text(f.attribute("interferogram")))
                .unwrap_or_else(|| label.clone()),
            primary_date: first.and_then(|f| date(f.attribute("primary_date"))),
            secondary_date: first.and_then(|f| date(f.attribute("secondary_date"))),
            orbit: first.and_then(|f| text(f.attribute("orbit"))),
            footprint,
        });
        for feature in &layer.features {
            let points: Vec<(f64, f64)> = match feature.rings.first() {
                Some(ring) => ring.clone(),
                None => match feature.envelope {
                    Some((x0, y0, x1, y1)) => vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
                    None => continue,
                },
            };
            let points = project(&points)?;
            let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            for (x, y) in points {
                bbox = [
                    bbox[0].min(x),
                    bbox[1].min(y),
                    bbox[2].max(x),
                    bbox[3].max(y),
                ];
            }
            if !(bbox[2] > bbox[0] && bbox[3] > bbox[1]) {
                continue;
            }
            observations.push(Observation {
                source,
                bbox,
                class: text(feature.attribute("class")).unwrap_or_else(|| "?".into()),
                score: match feature.attribute("score") {
                    Some(Value::Real(v)) => *v,
                    Some(Value::Integer(v)) => *v as f64,
                    _ => f64::NAN,
                },
            });
        }
    }
    summary.detections = observations.len();
    stage.step(0.6, "clustering")?;
    let (areas, queries) = persistent_areas(&observations, &interferograms, rule);
    summary.index_queries = queries;
    summary.areas = areas.len();
    summary.persistent_areas = areas.iter().filter(|a| a.sources.len() >= 2).count();

    let fields = [
        ("class", FieldKind::Text),
        ("class_votes", FieldKind::Text),
        ("interferograms", FieldKind::Integer),
        ("covering", FieldKind::Integer),
        ("persistence", FieldKind::Real),
        ("detections", FieldKind::Integer),
        ("first_date", FieldKind::Text),
        ("last_date", FieldKind::Text),
        ("orbits", FieldKind::Text),
        ("interferogram_ids", FieldKind::Text),
        ("mean_score", FieldKind::Real),
        ("max_score", FieldKind::Real),
        ("review", FieldKind::Text),
    ]
    .map(|(n, k)| FieldSpec::new(n, k))
    .to_vec();
    let features: Vec<PolygonFeature> = areas
        .iter()
        .map(|a| {
            let ifgs: Vec<&Interferogram> = a.sources.iter().map(|&s| &interferograms[s]).collect();
            let first = ifgs.iter().filter_map(|i| i.primary_date).min();
            let last = ifgs.iter().filter_map(|i| i.secondary_date).max();
            let orbits: std::collections::BTreeSet<&str> =
                ifgs.iter().filter_map(|i| i.orbit.as_deref()).collect();
            let date_value =
                |d: Option<NaiveDate>| d.map(|d| Value::Text(d.to_string())).unwrap_or(Value::Null);
            let b = a.bbox;
            PolygonFeature::rectangle(
                b[0],
                b[1],
                b[2],
                b[3],
                vec![
                    Value::Text(a.class.clone()),
                    Value::Text(
                        a.votes
                            .iter()
                            .map(|(c, n)| format!("{c}:{n}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    Value::Integer(a.sources.len() as i64),
                    Value::Integer(a.covering.len() as i64),
                    Value::Real(a.sources.len() as f64 / a.covering.len().max(1) as f64),
                    Value::Integer(a.members.len() as i64),
                    date_value(first),
                    date_value(last),
                    Value::Text(orbits.into_iter().collect::<Vec<_>>().join(",")),
                    Value::Text(
                        ifgs.iter()
                            .map(|i| i.id.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    Value::Real(a.mean_score),
                    Value::Real(a.max_score),
                    Value::Text("unreviewed".into()),
                ],
            )
        })
        .collect();
    let spec = LayerSpec {
        name: out.layer.clone().unwrap_or_else(|| "persistence".into()),
        crs: target.map(|(wkt, _)| wkt).unwrap_or_default(),
        fields,
    };
    write_layer(
        &out.path,
        &spec,
        &features,
        &WriteOptions {
            overwrite,
            ..Default::default()
        },
        &Stage {
            parent: progress,
            start: 0.7,
            span: 0.3,
        },
    )?;
    Ok(summary)
}
