//! Vector output and input: polygon layers in GeoPackage (through GDAL/OGR) and GeoJSON (through
//! the `geojson` crate), and reading any OGR layer back.
//!
//! Writing into a GeoPackage never touches its other layers: the new layer is created inside one
//! SQLite transaction that is committed only when every feature is written, so an error or a
//! cancel leaves the file exactly as it was (a file created for the purpose is removed). An
//! existing layer of the same name is replaced only when asked to (`overwrite`).

pub mod geojson_io;
pub mod gpkg;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Attribute type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Integer,
    Real,
    DateTime,
}

/// A field of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub kind: FieldKind,
    /// The only values the field may take (empty: any). In a GeoPackage the writer enforces
    /// them with SQLite triggers, so that no client (QGIS's attribute form, OGR, SQL) can store
    /// another value.
    pub allowed: Vec<String>,
}

impl FieldSpec {
    pub fn new(name: &str, kind: FieldKind) -> FieldSpec {
        FieldSpec {
            name: name.to_string(),
            kind,
            allowed: Vec::new(),
        }
    }

    /// A text field that takes only `values` (never NULL).
    pub fn one_of(name: &str, values: &[&str]) -> FieldSpec {
        FieldSpec {
            allowed: values.iter().map(|v| v.to_string()).collect(),
            ..FieldSpec::new(name, FieldKind::Text)
        }
    }
}

/// A QGIS layer style (QML) stored with a GeoPackage layer in the `layer_styles` table, the
/// table QGIS itself writes with "Save style ▸ in database" and reads when it opens the layer:
/// the layer then looks the same wherever it is opened, with or without the plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct QgisStyle {
    /// `styleName` of the row; a later write of the same layer replaces the row of this name.
    pub name: String,
    /// The QML document.
    pub qml: String,
    /// `description` of the row.
    pub description: String,
}

/// An attribute value (Null: empty field). Serialised as `{"Text": "…"}`, `{"Real": 1.5}`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Text(String),
    Integer(i64),
    Real(f64),
    DateTime(DateTime<Utc>),
    Null,
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Real(v) => Some(*v),
            Value::Integer(v) => Some(*v as f64),
            Value::Text(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.clone()),
            Value::Integer(v) => Some(v.to_string()),
            Value::Real(v) => Some(v.to_string()),
            Value::DateTime(d) => Some(d.to_rfc3339()),
            Value::Null => None,
        }
    }
}

/// A polygon feature: exterior ring (closed) and one value per field of the layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolygonFeature {
    pub ring: Vec<(f64, f64)>,
    pub values: Vec<Value>,
}

impl PolygonFeature {
    /// An axis-aligned box polygon (counter-clockwise, closed).
    pub fn rectangle(
        min_x: f64,
        min_y: f64,
        max_x: f64,
        max_y: f64,
        values: Vec<Value>,
    ) -> PolygonFeature {
        PolygonFeature {
            ring: vec![
                (min_x, min_y),
                (max_x, min_y),
                (max_x, max_y),
                (min_x, max_y),
                (min_x, min_y),
            ],
            values,
        }
    }
}

/// Name, CRS and fields of a polygon layer.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    pub name: String,
    /// CRS as WKT (or any definition OGR's SetFromUserInput takes).
    pub crs: String,
    pub fields: Vec<FieldSpec>,
}

/// A vector dataset path with an optional layer name, written `PATH[:LAYER]` on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRef {
    pub path: PathBuf,
    pub layer: Option<String>,
}

impl LayerRef {
    /// Parse `PATH[:LAYER]`; the part after the last ':' is a layer name only when the part before
    /// ends in a vector extension (so Windows drive letters and plain paths stay intact).
    pub fn parse(text: &str) -> LayerRef {
        if let Some((path, layer)) = text.rsplit_once(':') {
            let lower = path.to_ascii_lowercase();
            let vector_ext = [
                ".gpkg", ".geojson", ".json", ".shp", ".sqlite", ".fgb", ".gml", ".kml",
            ];
            if !layer.is_empty() && vector_ext.iter().any(|e| lower.ends_with(e)) {
                return LayerRef {
                    path: PathBuf::from(path),
                    layer: Some(layer.to_string()),
                };
            }
        }
        LayerRef {
            path: PathBuf::from(text),
            layer: None,
        }
    }
}

/// A feature read back from any OGR layer.
#[derive(Debug, Clone)]
pub struct ReadFeature {
    pub fid: Option<u64>,
    /// Exterior rings of every polygon part (empty for non-polygon geometries).
    pub rings: Vec<Vec<(f64, f64)>>,
    /// Envelope (min x, min y, max x, max y) of the geometry.
    pub envelope: Option<(f64, f64, f64, f64)>,
    pub attributes: Vec<(String, Value)>,
}

impl ReadFeature {
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// A layer read back: its name, CRS (WKT, empty when unknown) and features.
#[derive(Debug, Clone)]
pub struct ReadLayer {
    pub name: String,
    pub crs_wkt: String,
    pub features: Vec<ReadFeature>,
    /// Layer metadata items of the default domain.
    pub metadata: Vec<(String, String)>,
}

impl ReadLayer {
    /// The value of layer metadata item `key`.
    pub fn metadata_item(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Validate a layer name for GeoPackage (non-empty, no control characters, not a GeoPackage
/// system table).
pub fn check_layer_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::parameter("layer", "the layer name is empty"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(Error::parameter(
            "layer",
            "the layer name holds control characters",
        ));
    }
    if name.to_ascii_lowercase().starts_with("gpkg_")
        || name.to_ascii_lowercase().starts_with("rtree_")
    {
        return Err(Error::parameter(
            "layer",
            format!("'{name}' is reserved by GeoPackage"),
        ));
    }
    if name.eq_ignore_ascii_case(gpkg::STYLES_TABLE) {
        return Err(Error::parameter(
            "layer",
            format!("'{name}' is the table of QGIS's layer styles"),
        ));
    }
    Ok(())
}

/// Refuses a GeoPackage output whose name says another format (`x.geojson`, `x.tif`, `x.shp`):
/// GDAL and QGIS choose the driver from the extension, so such a file would be misread by both.
pub fn check_geopackage_name(path: &Path) -> Result<()> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    if extension.as_deref() == Some("gpkg") {
        return Ok(());
    }
    Err(Error::Output {
        path: path.to_path_buf(),
        problem: format!(
            "{}: this output is a GeoPackage; give a name ending in .gpkg",
            match extension {
                Some(e) => format!("'.{e}' is not a GeoPackage extension"),
                None => "no extension".to_string(),
            }
        ),
    })
}

/// Refuses writing layer `layer` of `out` when it is one of `inputs` (path and layer name, the
/// path resolved, the name compared as GeoPackage does: without case).
pub fn check_layer_not_an_input(out: &Path, layer: &str, inputs: &[(&Path, &str)]) -> Result<()> {
    let target = crate::raster::io::resolved_path(out);
    for (path, name) in inputs {
        if name.eq_ignore_ascii_case(layer) && crate::raster::io::resolved_path(path) == target {
            return Err(Error::Output {
                path: out.to_path_buf(),
                problem: format!(
                    "layer '{layer}' is also an input: give the output another layer name"
                ),
            });
        }
    }
    Ok(())
}

/// Output format chosen from the extension.
pub fn is_geojson(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("geojson") | Some("json")
    )
}

/// `features` from CRS `from` to CRS `to` (any PROJ definition or WKT): unchanged when the two
/// are the same CRS, else every ring edge densified to 8 points and transformed with PROJ, so
/// that an axis-aligned box stays close to its true outline in the other CRS.
pub fn reproject_features(
    features: Vec<PolygonFeature>,
    from: &str,
    to: &str,
) -> Result<Vec<PolygonFeature>> {
    let same = crate::raster::Crs::from_definition(from)
        .ok()
        .zip(crate::raster::Crs::from_definition(to).ok())
        .is_some_and(|(a, b)| a.same_as(&b));
    if same {
        return Ok(features);
    }
    let transform =
        proj::Proj::new_known_crs(from, to, None).map_err(|e| Error::Proj(e.to_string()))?;
    features
        .into_iter()
        .map(|f| {
            let mut ring = Vec::new();
            for edge in f.ring.windows(2) {
                for s in 0..8 {
                    let t = s as f64 / 8.0;
                    let p = (
                        edge[0].0 + t * (edge[1].0 - edge[0].0),
                        edge[0].1 + t * (edge[1].1 - edge[0].1),
                    );
                    ring.push(
                        transform
                            .convert(p)
                            .map_err(|e| Error::Proj(e.to_string()))?,
                    );
                }
            }
            if let Some(&first) = ring.first() {
                ring.push(first);
            }
            Ok(PolygonFeature {
                ring,
                values: f.values,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_references() {
        assert_eq!(
            LayerRef::parse("out/det.gpkg:run_1"),
            LayerRef {
                path: "out/det.gpkg".into(),
                layer: Some("run_1".into())
            }
        );
        assert_eq!(LayerRef::parse("C:/data/inv.gpkg").layer, None);
        assert_eq!(LayerRef::parse("frane.geojson").layer, None);
        assert!(check_layer_name("gpkg_contents").is_err());
        assert!(check_layer_name("detections").is_ok());
    }
}
