//! Detections as a polygon layer in the interferogram's CRS: one axis-aligned box per detection
//! with class, score, objectness, the interferogram's acquisition facts, the model and its
//! SHA-256, the creation time, and the analyst's `review` (unreviewed / confirmed / rejected,
//! enforced by the GeoPackage itself), `reviewer` and `comment`. A GeoPackage layer carries its
//! QGIS style (`layer_styles`), so that it opens styled, with the review form, anywhere.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::DetectionRun;
use crate::error::Result;
use crate::progress::Progress;
use crate::vector::geojson_io::write_geojson;
use crate::vector::gpkg::{write_layer, WriteOptions};
use crate::vector::{
    is_geojson, FieldKind, FieldSpec, LayerSpec, PolygonFeature, QgisStyle, Value,
};

/// The values of a detection's `review` field; a new detection is "unreviewed".
pub const REVIEW_VALUES: [&str; 3] = ["unreviewed", "confirmed", "rejected"];

/// The QGIS style of a detection layer (`qgis_plugin/make_styles.py` writes it): boxes outlined
/// by class with "class score" labels; in the attribute form a drop-down on `review`, free text
/// in `reviewer` and `comment`, every other field read-only (it is the detector's provenance).
pub fn detection_style() -> QgisStyle {
    QgisStyle {
        name: "fringewatch detections".into(),
        qml: include_str!("../../qgis_plugin/fringewatch/styles/detections.qml").into(),
        description: "boxes by class, review form (written by fringewatch)".into(),
    }
}

/// The model fields of every feature.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub sha256: String,
}

/// Field names and types of a detection layer.
pub fn detection_fields() -> Vec<FieldSpec> {
    vec![
        FieldSpec::new("class", FieldKind::Text),
        FieldSpec::new("score", FieldKind::Real),
        FieldSpec::new("objectness", FieldKind::Real),
        FieldSpec::new("interferogram", FieldKind::Text),
        FieldSpec::new("primary_date", FieldKind::Text),
        FieldSpec::new("secondary_date", FieldKind::Text),
        FieldSpec::new("orbit", FieldKind::Text),
        FieldSpec::new("temporal_baseline_days", FieldKind::Integer),
        FieldSpec::new("model", FieldKind::Text),
        FieldSpec::new("model_sha256", FieldKind::Text),
        FieldSpec::new("created", FieldKind::DateTime),
        FieldSpec::one_of("review", &REVIEW_VALUES),
        FieldSpec::new("reviewer", FieldKind::Text),
        FieldSpec::new("comment", FieldKind::Text),
    ]
}

/// The features of a run (boxes in map coordinates, acquisition facts from `run.scene`).
pub fn detection_features(
    run: &DetectionRun,
    classes: &[String],
    model: &ModelInfo,
    created: DateTime<Utc>,
) -> Vec<PolygonFeature> {
    let info = &run.scene;
    let text_or_null = |v: Option<String>| v.map(Value::Text).unwrap_or(Value::Null);
    run.detections
        .iter()
        .map(|d| {
            let (x0, y0) = run.grid.pixel_to_map(d.bbox[0], d.bbox[3]);
            let (x1, y1) = run.grid.pixel_to_map(d.bbox[2], d.bbox[1]);
            PolygonFeature::rectangle(
                x0.min(x1),
                y0.min(y1),
                x0.max(x1),
                y0.max(y1),
                vec![
                    Value::Text(
                        classes
                            .get(d.class)
                            .cloned()
                            .unwrap_or_else(|| d.class.to_string()),
                    ),
                    Value::Real(f64::from(d.score)),
                    Value::Real(f64::from(d.objectness)),
                    Value::Text(info.interferogram.clone()),
                    text_or_null(info.primary_date.map(|d| d.to_string())),
                    text_or_null(info.secondary_date.map(|d| d.to_string())),
                    text_or_null(info.orbit.clone()),
                    info.temporal_baseline_days
                        .map(Value::Integer)
                        .unwrap_or(Value::Null),
                    Value::Text(model.name.clone()),
                    Value::Text(model.sha256.clone()),
                    Value::DateTime(created),
                    Value::Text(REVIEW_VALUES[0].into()),
                    Value::Null,
                    Value::Null,
                ],
            )
        })
        .collect()
}

/// Write detections to `out` (GeoPackage layer `layer`, or GeoJSON by extension).
pub fn write_detections(
    out: &Path,
    layer: &str,
    run: &DetectionRun,
    features: &[PolygonFeature],
    overwrite: bool,
    progress: &dyn Progress,
) -> Result<()> {
    let crs = run.grid.crs.wkt.clone();
    write_detections_in(out, layer, &crs, &run.grid, features, overwrite, progress)
}

/// [`write_detections`] with the features in CRS `crs` (e.g. a product's longitude/latitude,
/// see [`crate::vector::reproject_features`]); `grid` is the scene's, for the footprint.
pub fn write_detections_in(
    out: &Path,
    layer: &str,
    crs: &str,
    grid: &crate::raster::Grid,
    features: &[PolygonFeature],
    overwrite: bool,
    progress: &dyn Progress,
) -> Result<()> {
    let spec = LayerSpec {
        name: layer.to_string(),
        crs: crs.to_string(),
        fields: detection_fields(),
    };
    if is_geojson(out) {
        write_geojson(out, &spec, features, overwrite)
    } else {
        write_layer(
            out,
            &spec,
            features,
            &WriteOptions {
                overwrite,
                metadata: footprint_metadata(grid).into_iter().collect(),
                style: Some(detection_style()),
                ..Default::default()
            },
            progress,
        )
    }
}

/// Layer metadata item holding the scene footprint of a detection layer (read by persistence for
/// coverage): a WKT polygon in OGC:CRS84 lon/lat, so it survives reprojection of the layer.
pub const FOOTPRINT_KEY: &str = "FRINGEWATCH_FOOTPRINT_LONLAT";

/// The scene footprint as layer metadata ([`FOOTPRINT_KEY`]): the grid's outline,
/// 16 points per edge, in OGC:CRS84 lon/lat, so that it survives any reprojection of the layer.
/// `None` when PROJ cannot transform the grid's CRS (the layer is written without it).
pub fn footprint_metadata(grid: &crate::raster::Grid) -> Option<(String, String)> {
    let (x0, y0, x1, y1) = grid.bounds();
    let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
    let to_lonlat = proj::Proj::new_known_crs(&grid.crs.wkt, "OGC:CRS84", None).ok()?;
    let mut points = Vec::new();
    for pair in corners.windows(2) {
        for k in 0..16 {
            let t = k as f64 / 16.0;
            let p = (
                pair[0].0 + t * (pair[1].0 - pair[0].0),
                pair[0].1 + t * (pair[1].1 - pair[0].1),
            );
            points.push(to_lonlat.convert(p).ok()?);
        }
    }
    points.push(points[0]);
    let ring: Vec<String> = points.iter().map(|(x, y)| format!("{x} {y}")).collect();
    Some((
        FOOTPRINT_KEY.to_string(),
        format!("POLYGON (({}))", ring.join(",")),
    ))
}
