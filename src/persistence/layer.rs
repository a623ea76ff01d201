//! Persistence on files: read detection layers of several interferograms (any CRS; reprojected
//! with PROJ to the first layer's), cluster them, write one feature per persistent area.

use chrono::NaiveDate;
use geo::{Coord, LineString, Polygon};
use serde::Serialize;

use super::{persistent_areas, Interferogram, MatchRule, Observation, PersistentArea};
use crate::detect::output::{FOOTPRINT_KEY, REVIEW_VALUES};
use crate::error::{Error, Result};
use crate::progress::{Progress, Stage};
use crate::raster::Crs;
use crate::vector::gpkg::{read_layer, write_layer, WriteOptions};
use crate::vector::{
    FieldKind, FieldSpec, LayerRef, LayerSpec, PolygonFeature, ReadFeature, ReadLayer, Value,
};

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

/// A field's date: its first ten bytes as `YYYY-MM-DD` (a date or a date-time written as
/// text); `None` when they are not one, also where the tenth byte falls inside a character.
fn date(v: Option<&Value>) -> Option<NaiveDate> {
    text(v).and_then(|s| NaiveDate::parse_from_str(s.get(..10).unwrap_or(&s), "%Y-%m-%d").ok())
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

/// An interferogram's footprint (a lon/lat WKT polygon, as [`FOOTPRINT_KEY`] holds it) in CRS
/// `target_wkt`; `None` when there is none.
fn footprint_in(
    lonlat_wkt: Option<&str>,
    target_wkt: &str,
    label: &str,
) -> Result<Option<Polygon<f64>>> {
    let Some(ring) = lonlat_wkt.and_then(footprint_ring) else {
        return Ok(None);
    };
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
    Ok(Some(polygon_of(&points)))
}

/// Points of an input layer into the common CRS.
type Projection<'a> = dyn Fn(&[(f64, f64)]) -> Result<Vec<(f64, f64)>> + 'a;

/// A detection feature as an observation of interferogram `source` (its box after `project`);
/// `None` for a feature without an area.
fn observation_of(
    feature: &ReadFeature,
    source: usize,
    project: &Projection,
) -> Result<Option<Observation>> {
    let points: Vec<(f64, f64)> = match feature.rings.first() {
        Some(ring) => ring.clone(),
        None => match feature.envelope {
            Some((x0, y0, x1, y1)) => vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
            None => return Ok(None),
        },
    };
    let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for (x, y) in project(&points)? {
        bbox = [
            bbox[0].min(x),
            bbox[1].min(y),
            bbox[2].max(x),
            bbox[3].max(y),
        ];
    }
    if !(bbox[2] > bbox[0] && bbox[3] > bbox[1]) {
        return Ok(None);
    }
    Ok(Some(Observation {
        source,
        bbox,
        class: text(feature.attribute("class")).unwrap_or_else(|| "?".into()),
        score: match feature.attribute("score") {
            Some(Value::Real(v)) => *v,
            Some(Value::Integer(v)) => *v as f64,
            _ => f64::NAN,
        },
    }))
}

/// Persistence over one layer holding the detections of many interferograms (a batch's layer,
/// features told apart by their `interferogram` field) into `out`. `interferograms` lists every
/// interferogram that was run, with or without detections, and its footprint (lon/lat WKT):
/// footprints decide which interferograms could have seen an area.
pub fn persistence_of_layer(
    detections: &LayerRef,
    interferograms: &[(String, Option<String>)],
    out: &LayerRef,
    rule: &MatchRule,
    overwrite: bool,
    progress: &dyn Progress,
) -> Result<PersistenceSummary> {
    let mut summary = empty_summary(interferograms.len(), rule)?;
    let stage = Stage::whole(progress);
    stage.step(0.0, "reading detections")?;
    let layer = read_layer(&detections.path, detections.layer.as_deref())?;
    let label = format!("{}:{}", detections.path.display(), layer.name);
    let mut listed = Vec::new();
    for (id, footprint) in interferograms {
        let first = layer
            .features
            .iter()
            .find(|f| text(f.attribute("interferogram")).as_deref() == Some(id.as_str()));
        let footprint = footprint_in(footprint.as_deref(), &layer.crs_wkt, &label)?;
        if footprint.is_none() {
            summary.without_footprint.push(id.clone());
        }
        listed.push(interferogram(id.clone(), first, footprint));
    }
    let same = |points: &[(f64, f64)]| -> Result<Vec<(f64, f64)>> { Ok(points.to_vec()) };
    let mut observations = Vec::new();
    for feature in &layer.features {
        let id = text(feature.attribute("interferogram"));
        let Some(source) = listed.iter().position(|i| Some(&i.id) == id.as_ref()) else {
            continue;
        };
        if let Some(observation) = observation_of(feature, source, &same)? {
            observations.push(observation);
        }
    }
    write_areas(
        &observations,
        &listed,
        &layer.crs_wkt,
        out,
        rule,
        overwrite,
        &stage,
        summary,
    )
}

/// The summary before any input is read, once the inputs' count and `rule` are checked.
fn empty_summary(interferograms: usize, rule: &MatchRule) -> Result<PersistenceSummary> {
    if interferograms < 2 {
        return Err(Error::parameter(
            "detections",
            "persistence needs the detections of at least two interferograms",
        ));
    }
    if !(rule.iou > 0.0 && rule.iou <= 1.0) {
        return Err(Error::parameter(
            "iou",
            format!(
                "{}: give an IoU in (0, 1]; 0 would make every two boxes one area",
                rule.iou
            ),
        ));
    }
    if rule.distance.is_nan() || rule.distance < 0.0 {
        return Err(Error::parameter(
            "distance",
            format!("{}: give a distance ≥ 0 (CRS units)", rule.distance),
        ));
    }
    Ok(PersistenceSummary {
        interferograms,
        detections: 0,
        areas: 0,
        persistent_areas: 0,
        without_footprint: Vec::new(),
        reprojected: Vec::new(),
        index_queries: 0,
    })
}

/// The output layer when none is named.
const DEFAULT_LAYER: &str = "persistence";

/// Cluster the detections of `inputs` (one layer per interferogram) into persistent areas and
/// write them to `out` (GeoPackage; default layer `persistence`).
pub fn persistence_files(
    inputs: &[LayerRef],
    out: &LayerRef,
    rule: &MatchRule,
    overwrite: bool,
    progress: &dyn Progress,
) -> Result<PersistenceSummary> {
    let mut summary = empty_summary(inputs.len(), rule)?;
    crate::vector::check_geopackage_name(&out.path)?;
    let out_layer = out.layer.clone().unwrap_or_else(|| DEFAULT_LAYER.into());
    let mut target: Option<(String, Crs)> = None;
    let mut observations = Vec::new();
    let mut interferograms = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let stage = Stage::whole(progress);
    for (source, input) in inputs.iter().enumerate() {
        stage.step(
            0.6 * source as f64 / inputs.len() as f64,
            "reading detections",
        )?;
        let (layer, label) = read_detection_layer(input, out, &out_layer, &mut seen)?;
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
        let project = |points: &[(f64, f64)]| project_points(transform.as_ref(), points, &label);
        let footprint = footprint_in(layer.metadata_item(FOOTPRINT_KEY), target_wkt, &label)?;
        if footprint.is_none() {
            summary.without_footprint.push(label.clone());
        }
        let first = layer.features.first();
        let id = first
            .and_then(|f| text(f.attribute("interferogram")))
            .unwrap_or_else(|| label.clone());
        interferograms.push(interferogram(id, first, footprint));
        for feature in &layer.features {
            if let Some(observation) = observation_of(feature, source, &project)? {
                observations.push(observation);
            }
        }
    }
    let target_wkt = target.map(|(wkt, _)| wkt).unwrap_or_default();
    write_areas(
        &observations,
        &interferograms,
        &target_wkt,
        out,
        rule,
        overwrite,
        &stage,
        summary,
    )
}

/// Read one input's detection layer, with its label (`path:layer`), once it is known to be
/// neither the output layer nor an input already read (`seen`), and to have a CRS.
fn read_detection_layer(
    input: &LayerRef,
    out: &LayerRef,
    out_layer: &str,
    seen: &mut std::collections::HashSet<(std::path::PathBuf, String)>,
) -> Result<(ReadLayer, String)> {
    let layer = read_layer(&input.path, input.layer.as_deref())?;
    let label = format!("{}:{}", input.path.display(), layer.name);
    // the same layer twice would count each of its detections as seen twice
    let identity = (
        crate::raster::io::resolved_path(&input.path),
        layer.name.clone(),
    );
    crate::vector::check_layer_not_an_input(&out.path, out_layer, &[(&input.path, &layer.name)])?;
    if !seen.insert(identity) {
        return Err(Error::parameter(
            "detections",
            format!("{label} is given twice: give each interferogram's detection layer once"),
        ));
    }
    if layer.crs_wkt.is_empty() {
        return Err(Error::bad_input(
            &input.path,
            "the detection layer has no CRS",
        ));
    }
    Ok((layer, label))
}

/// `points` of the input `label` in the common CRS: through `transform`, or as they are.
fn project_points(
    transform: Option<&proj::Proj>,
    points: &[(f64, f64)],
    label: &str,
) -> Result<Vec<(f64, f64)>> {
    match transform {
        None => Ok(points.to_vec()),
        Some(t) => points
            .iter()
            .map(|&p| {
                t.convert(p)
                    .map_err(|e| Error::Proj(format!("{label}: {e}")))
            })
            .collect(),
    }
}

/// Interferogram `id`, with its dates and orbit from one of its detections (`first`), if any.
fn interferogram(
    id: String,
    first: Option<&ReadFeature>,
    footprint: Option<Polygon<f64>>,
) -> Interferogram {
    Interferogram {
        id,
        primary_date: first.and_then(|f| date(f.attribute("primary_date"))),
        secondary_date: first.and_then(|f| date(f.attribute("secondary_date"))),
        orbit: first.and_then(|f| text(f.attribute("orbit"))),
        footprint,
    }
}

/// Cluster `observations` of `interferograms` (in CRS `crs`) and write the areas to `out`.
#[allow(clippy::too_many_arguments)]
fn write_areas(
    observations: &[Observation],
    interferograms: &[Interferogram],
    crs: &str,
    out: &LayerRef,
    rule: &MatchRule,
    overwrite: bool,
    stage: &Stage,
    mut summary: PersistenceSummary,
) -> Result<PersistenceSummary> {
    summary.detections = observations.len();
    stage.step(0.6, "clustering")?;
    let (areas, queries) = persistent_areas(observations, interferograms, rule);
    summary.index_queries = queries;
    summary.areas = areas.len();
    summary.persistent_areas = areas.iter().filter(|a| a.sources.len() >= 2).count();

    let features: Vec<PolygonFeature> = areas
        .iter()
        .map(|a| area_feature(a, interferograms))
        .collect();
    let spec = LayerSpec {
        name: out.layer.clone().unwrap_or_else(|| DEFAULT_LAYER.into()),
        crs: crs.to_string(),
        fields: area_fields(),
    };
    write_layer(
        &out.path,
        &spec,
        &features,
        &WriteOptions {
            overwrite,
            style: Some(persistence_style()),
            ..Default::default()
        },
        &Stage {
            parent: stage,
            start: 0.7,
            span: 0.3,
        },
    )?;
    Ok(summary)
}

/// The fields of a persistence layer (the last, `review`, a choice of [`REVIEW_VALUES`]).
fn area_fields() -> Vec<FieldSpec> {
    [
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
    ]
    .map(|(n, k)| FieldSpec::new(n, k))
    .into_iter()
    .chain([FieldSpec::one_of("review", &REVIEW_VALUES)])
    .collect()
}

/// The feature of area `a`: its box with class, votes, counts, dates, orbits, interferograms and
/// scores, unreviewed.
fn area_feature(a: &PersistentArea, interferograms: &[Interferogram]) -> PolygonFeature {
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
            Value::Text(REVIEW_VALUES[0].into()),
        ],
    )
}

/// The QGIS style stored with a persistence layer (`qgis_plugin/make_styles.py`): the more
/// interferograms saw an area, the heavier its outline.
pub fn persistence_style() -> crate::vector::QgisStyle {
    crate::vector::QgisStyle {
        name: "fringewatch persistence".into(),
        qml: include_str!("../../qgis_plugin/fringewatch/styles/persistence.qml").into(),
        description: "areas by the number of interferograms (written by fringewatch)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_field_is_read_from_its_first_ten_bytes_and_never_panics() {
        let of = |s: &str| date(Some(&Value::Text(s.into())));
        let day = NaiveDate::from_ymd_opt(2020, 1, 15);
        assert_eq!(of("2020-01-15"), day);
        assert_eq!(of("2020-01-15T05:17:40Z"), day);
        assert_eq!(of("2020-1-15"), day);
        assert_eq!(of("15/01/2020"), None);
        // the tenth byte inside a character: unknown, not a panic
        assert_eq!(of("2020年1月15日"), None);
        assert_eq!(of("2020\u{2011}01\u{2011}15"), None);
        assert_eq!(of(""), None);
    }
}
