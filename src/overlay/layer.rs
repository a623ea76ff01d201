//! The overlay on files: read the detections and any OGR inventory, reproject the inventory to
//! the detections' CRS, overlay, write the detections with the overlay fields to a GeoPackage
//! layer, and summarise counts by class × status.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{inventory_polygons, summary, InventoryIndex, InventoryStats};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::raster::Crs;
use crate::vector::gpkg::{read_layer, write_layer, WriteOptions};
use crate::vector::{FieldKind, FieldSpec, LayerRef, LayerSpec, PolygonFeature, Value};

/// What an overlay run did.
#[derive(Debug, Clone, Serialize)]
pub struct OverlaySummary {
    pub detections: usize,
    /// Detections without a geometry (NULL or empty, e.g. a row added by hand in an attribute
    /// table): nothing to overlay, so not in the output layer nor in `counts`.
    pub without_geometry: usize,
    pub inventory: InventoryStats,
    /// Whether the inventory was reprojected to the detections' CRS.
    pub reprojected: bool,
    /// Counts by class, then status.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// R-tree queries and exact polygon tests made (no all-pairs comparison).
    pub index_queries: usize,
    pub exact_tests: usize,
    pub new_distance: f64,
}

fn kind_of(values: &[&Value]) -> FieldKind {
    match values.iter().find(|v| !matches!(v, Value::Null)) {
        Some(Value::Integer(_)) => FieldKind::Integer,
        Some(Value::Real(_)) => FieldKind::Real,
        Some(Value::DateTime(_)) => FieldKind::DateTime,
        _ => FieldKind::Text,
    }
}

/// Overlay `detections` with `inventory` and write the result to `out` (GeoPackage layer;
/// default layer name `<detections layer>_overlay`).
pub fn overlay_files(
    detections: &LayerRef,
    inventory: &LayerRef,
    out: &LayerRef,
    new_distance: f64,
    overwrite: bool,
    progress: &dyn Progress,
) -> Result<OverlaySummary> {
    if new_distance.is_nan() || new_distance < 0.0 {
        return Err(Error::parameter("new-distance", "must be ≥ 0"));
    }
    crate::vector::check_geopackage_name(&out.path)?;
    let det = read_layer(&detections.path, detections.layer.as_deref())?;
    let inv = read_layer(&inventory.path, inventory.layer.as_deref())?;
    if let Some(layer) = &out.layer {
        crate::vector::check_layer_not_an_input(
            &out.path,
            layer,
            &[(&detections.path, &det.name), (&inventory.path, &inv.name)],
        )?;
    }
    if det.crs_wkt.is_empty() {
        return Err(Error::bad_input(
            &detections.path,
            "the detection layer has no CRS",
        ));
    }
    if inv.crs_wkt.is_empty() {
        return Err(Error::bad_input(
            &inventory.path,
            "the inventory layer has no CRS; assign one (ogr2ogr -a_srs)",
        ));
    }
    let det_crs =
        Crs::from_definition(&det.crs_wkt).map_err(|e| Error::bad_input(&detections.path, e))?;
    let inv_crs =
        Crs::from_definition(&inv.crs_wkt).map_err(|e| Error::bad_input(&inventory.path, e))?;
    let reprojected = !det_crs.same_as(&inv_crs);
    let transform = if reprojected {
        Some(
            proj::Proj::new_known_crs(&inv.crs_wkt, &det.crs_wkt, None)
                .map_err(|e| Error::Proj(format!("inventory to detections CRS: {e}")))?,
        )
    } else {
        None
    };
    let (polygons, stats) = inventory_polygons(&inv, transform.as_ref())?;
    let index = InventoryIndex::new(polygons);
    // Output fields: the detection's own, then the overlay's.
    let names: Vec<String> = det
        .features
        .first()
        .map(|f| f.attributes.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let mut fields: Vec<FieldSpec> = names
        .iter()
        .map(|n| {
            let values: Vec<&Value> = det.features.iter().filter_map(|f| f.attribute(n)).collect();
            FieldSpec::new(n, kind_of(&values))
        })
        .collect();
    for (name, kind) in [
        ("inventory_ids", FieldKind::Text),
        ("inventory_type", FieldKind::Text),
        ("overlap_fraction", FieldKind::Real),
        ("distance_m", FieldKind::Real),
        ("status", FieldKind::Text),
    ] {
        fields.push(FieldSpec::new(name, kind));
    }
    let mut features = Vec::with_capacity(det.features.len());
    let mut rows = Vec::with_capacity(det.features.len());
    let every = (det.features.len() / 100).max(1);
    let mut without_geometry = 0;
    for (i, f) in det.features.iter().enumerate() {
        if i % every == 0
            && !progress.report(0.9 * i as f64 / det.features.len().max(1) as f64, "overlay")
        {
            return Err(Error::Cancelled);
        }
        let Some((x0, y0, x1, y1)) = f.envelope else {
            without_geometry += 1;
            continue;
        };
        let r = index.overlay_box([x0, y0, x1, y1], new_distance);
        let mut values: Vec<Value> = names
            .iter()
            .map(|n| f.attribute(n).cloned().unwrap_or(Value::Null))
            .collect();
        values.push(if r.ids.is_empty() {
            Value::Null
        } else {
            Value::Text(r.ids.join(","))
        });
        values.push(
            r.best_movement_type
                .clone()
                .map(Value::Text)
                .unwrap_or(Value::Null),
        );
        values.push(Value::Real(r.overlap_fraction));
        values.push(r.distance.map(Value::Real).unwrap_or(Value::Null));
        values.push(Value::Text(r.status.code().into()));
        let class = f
            .attribute("class")
            .and_then(Value::as_text)
            .unwrap_or_default();
        rows.push((class, r.status));
        let ring = f
            .rings
            .first()
            .cloned()
            .unwrap_or_else(|| vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]);
        features.push(PolygonFeature { ring, values });
    }
    let layer_name = out
        .layer
        .clone()
        .unwrap_or_else(|| format!("{}_overlay", det.name));
    let spec = LayerSpec {
        name: layer_name,
        crs: det.crs_wkt.clone(),
        fields,
    };
    write_layer(
        &out.path,
        &spec,
        &features,
        &WriteOptions {
            overwrite,
            style: Some(overlay_style()),
            ..Default::default()
        },
        progress,
    )?;
    Ok(OverlaySummary {
        detections: det.features.len(),
        without_geometry,
        inventory: stats,
        reprojected,
        counts: summary(&rows),
        index_queries: index.queries.get(),
        exact_tests: index.exact_tests.get(),
        new_distance,
    })
}

/// The QGIS style stored with an overlay layer (`qgis_plugin/make_styles.py`): outlines by
/// `status`, new ones boldest.
pub fn overlay_style() -> crate::vector::QgisStyle {
    crate::vector::QgisStyle {
        name: "fringewatch overlay".into(),
        qml: include_str!("../../qgis_plugin/fringewatch/styles/overlay.qml").into(),
        description: "detections by inventory status (written by fringewatch)".into(),
    }
}
