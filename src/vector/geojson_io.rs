//! GeoJSON output (RFC 7946: WGS 84 longitude/latitude), reprojected with PROJ and written
//! atomically (temporary file renamed into place).

use std::io::Write;
use std::path::Path;

use geojson::{Feature, FeatureCollection, Geometry, GeometryValue, JsonObject, JsonValue};

use super::{LayerSpec, PolygonFeature, Value};
use crate::error::{Error, Result};
use crate::raster::io::check_output_path;

/// Vertices added along each box edge so that the reprojected polygon follows the curved edge.
const DENSIFY: usize = 8;

fn densify(ring: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(ring.len() * DENSIFY);
    for pair in ring.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        for k in 0..DENSIFY {
            let t = k as f64 / DENSIFY as f64;
            out.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
        }
    }
    if let Some(last) = ring.last() {
        out.push(*last);
    }
    out
}

fn json_value(value: &Value) -> JsonValue {
    match value {
        Value::Text(s) => JsonValue::from(s.clone()),
        Value::Integer(v) => JsonValue::from(*v),
        Value::Real(v) if v.is_finite() => JsonValue::from(*v),
        Value::Real(_) | Value::Null => JsonValue::Null,
        Value::DateTime(d) => JsonValue::from(d.to_rfc3339()),
    }
}

/// Write the features of `spec` (coordinates in `spec.crs`) as a GeoJSON FeatureCollection in
/// EPSG:4326. Refuses to replace an existing file unless `overwrite`.
pub fn write_geojson(
    path: &Path,
    spec: &LayerSpec,
    features: &[PolygonFeature],
    overwrite: bool,
) -> Result<()> {
    check_output_path(path)?;
    if path.exists() && !overwrite {
        return Err(Error::Output {
            path: path.to_path_buf(),
            problem: "already exists; allow overwriting it (`overwrite`)".into(),
        });
    }
    let to_wgs84 = proj::Proj::new_known_crs(&spec.crs, "EPSG:4326", None)
        .map_err(|e| Error::Proj(format!("{} to EPSG:4326: {e}", spec.name)))?;
    let mut collection = Vec::with_capacity(features.len());
    for f in features {
        let mut ring = Vec::new();
        for (x, y) in densify(&f.ring) {
            let (lon, lat) = to_wgs84
                .convert((x, y))
                .map_err(|e| Error::Proj(e.to_string()))?;
            ring.push([lon, lat]);
        }
        let mut properties = JsonObject::new();
        for (field, value) in spec.fields.iter().zip(&f.values) {
            properties.insert(field.name.clone(), json_value(value));
        }
        collection.push(Feature {
            bbox: None,
            geometry: Some(Geometry::new(GeometryValue::new_polygon(vec![ring]))),
            id: None,
            properties: Some(properties),
            foreign_members: None,
        });
    }
    let mut foreign = JsonObject::new();
    foreign.insert("name".into(), JsonValue::from(spec.name.clone()));
    let document = FeatureCollection {
        bbox: None,
        features: collection,
        foreign_members: Some(foreign),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.partial-{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(document.to_string().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    written.map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        Error::io(path, source)
    })
}
