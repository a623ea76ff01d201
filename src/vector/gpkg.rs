//! GeoPackage layers through GDAL/OGR: transactional writing and reading any OGR layer.

use std::path::{Path, PathBuf};

use chrono::Utc;
use gdal::spatial_ref::SpatialRef;
use gdal::vector::{
    Feature, FieldValue, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType,
};
use gdal::{Dataset, DatasetOptions, DriverManager, GdalOpenFlags, Metadata};

use super::{
    check_layer_name, FieldKind, FieldSpec, LayerSpec, PolygonFeature, QgisStyle, ReadFeature,
    ReadLayer, Value,
};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::raster::io::check_output_path;

/// How to write a layer.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Replace a layer of the same name (otherwise that is an error).
    pub overwrite: bool,
    /// Fixed `last_change` timestamp (ISO 8601) for byte-reproducible files; None = now.
    pub timestamp: Option<String>,
    /// Layer metadata items (default domain; GeoPackage `gpkg_metadata`), e.g. the scene
    /// footprint of a detection layer.
    pub metadata: Vec<(String, String)>,
    /// The layer's default QGIS style, stored in `layer_styles` in the same transaction.
    pub style: Option<QgisStyle>,
}

/// QGIS's table of layer styles in a GeoPackage (the same name, columns and conventions as
/// QGIS's "Save style ▸ in database").
pub const STYLES_TABLE: &str = "layer_styles";

/// `"name"` as an SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Run one SQL statement of SQLite's dialect on a GeoPackage.
fn execute(dataset: &Dataset, path: &Path, sql: &str) -> Result<()> {
    dataset
        .execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT)
        .map(|_| ())
        .map_err(|e| Error::gdal(path, e))
}

/// SQLite triggers that refuse, on insert and on update, a value of a field outside its
/// `allowed` set (NULL included): QGIS's form, OGR and plain SQL then all get
/// "review must be one of: …" instead of storing it. They go with the table when it is dropped.
fn constrain_fields(
    dataset: &Dataset,
    path: &Path,
    layer: &str,
    fields: &[FieldSpec],
) -> Result<()> {
    for field in fields.iter().filter(|f| !f.allowed.is_empty()) {
        let values: Vec<String> = field.allowed.iter().map(|v| literal(v)).collect();
        let message = literal(&format!(
            "{} must be one of: {}",
            field.name,
            field.allowed.join(", ")
        ));
        let column = quoted(&field.name);
        for (when, event) in [
            ("insert", "INSERT".to_string()),
            ("update", format!("UPDATE OF {column}")),
        ] {
            let trigger = quoted(&format!("fringewatch_{layer}_{}_{when}", field.name));
            execute(
                dataset,
                path,
                &format!(
                    "CREATE TRIGGER {trigger} BEFORE {event} ON {table} FOR EACH ROW \
                     WHEN NEW.{column} IS NULL OR NEW.{column} NOT IN ({values}) \
                     BEGIN SELECT RAISE(ABORT, {message}); END",
                    table = quoted(layer),
                    values = values.join(", "),
                ),
            )?;
        }
    }
    Ok(())
}

/// Store `style` as the default style of `layer` (geometry column `geom`) in `layer_styles`,
/// creating the table as QGIS does (an attribute table) when missing. Only this layer's row of
/// the same style name is replaced, and only this layer's other rows stop being the default:
/// the styles of other layers are never touched.
fn store_style(dataset: &mut Dataset, path: &Path, layer: &str, style: &QgisStyle) -> Result<()> {
    // sqlite_master rather than OGR's layer list: a table made by hand with SQL is not
    // registered in gpkg_contents, so OGR would not list it, yet it exists.
    let exists = dataset
        .execute_sql(
            format!(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = {}",
                literal(STYLES_TABLE)
            ),
            None,
            gdal::vector::sql::Dialect::DEFAULT,
        )
        .map_err(|e| Error::gdal(path, e))?
        .is_some_and(|mut rows| rows.features().next().is_some());
    if !exists {
        let table = dataset
            .create_layer(LayerOptions {
                name: STYLES_TABLE,
                srs: None,
                ty: OGRwkbGeometryType::wkbNone,
                options: Some(&["FID=id"]),
            })
            .map_err(|e| Error::gdal(path, e))?;
        for (name, kind, width) in [
            ("f_table_catalog", OGRFieldType::OFTString, 256),
            ("f_table_schema", OGRFieldType::OFTString, 256),
            ("f_table_name", OGRFieldType::OFTString, 256),
            ("f_geometry_column", OGRFieldType::OFTString, 256),
            ("styleName", OGRFieldType::OFTString, 30),
            ("styleQML", OGRFieldType::OFTString, 0),
            ("styleSLD", OGRFieldType::OFTString, 0),
            ("useAsDefault", OGRFieldType::OFTInteger, 0),
            ("description", OGRFieldType::OFTString, 0),
            ("owner", OGRFieldType::OFTString, 30),
            ("ui", OGRFieldType::OFTString, 30),
            ("update_time", OGRFieldType::OFTDateTime, 0),
        ] {
            let field =
                gdal::vector::FieldDefn::new(name, kind).map_err(|e| Error::gdal(path, e))?;
            if width > 0 {
                field.set_width(width);
            }
            field
                .add_to_layer(&table)
                .map_err(|e| Error::gdal(path, e))?;
        }
    }
    let table = quoted(STYLES_TABLE);
    let name = literal(layer);
    execute(
        dataset,
        path,
        &format!(
            "DELETE FROM {table} WHERE f_table_name = {name} AND styleName = {}",
            literal(&style.name)
        ),
    )?;
    execute(
        dataset,
        path,
        &format!("UPDATE {table} SET useAsDefault = 0 WHERE f_table_name = {name}"),
    )?;
    execute(
        dataset,
        path,
        &format!(
            "INSERT INTO {table} (f_table_catalog, f_table_schema, f_table_name, \
             f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, \
             ui, update_time) VALUES ('', '', {name}, 'geom', {}, {}, '', 1, {}, '', NULL, \
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            literal(&style.name),
            literal(&style.qml),
            literal(&style.description)
        ),
    )
}

/// What a newly created layer gets beside its features: field constraints and its style.
fn finish_new_layer(
    dataset: &mut Dataset,
    path: &Path,
    spec: &LayerSpec,
    style: Option<&QgisStyle>,
) -> Result<()> {
    constrain_fields(dataset, path, &spec.name, &spec.fields)?;
    match style {
        Some(style) => store_style(dataset, path, &spec.name, style),
        None => Ok(()),
    }
}

fn ogr_type(kind: FieldKind) -> OGRFieldType::Type {
    match kind {
        FieldKind::Text => OGRFieldType::OFTString,
        FieldKind::Integer => OGRFieldType::OFTInteger64,
        FieldKind::Real => OGRFieldType::OFTReal,
        FieldKind::DateTime => OGRFieldType::OFTDateTime,
    }
}

fn polygon(ring: &[(f64, f64)]) -> std::result::Result<Geometry, gdal::errors::GdalError> {
    let mut linear = Geometry::empty(OGRwkbGeometryType::wkbLinearRing)?;
    for &p in ring {
        linear.add_point_2d(p);
    }
    let mut poly = Geometry::empty(OGRwkbGeometryType::wkbPolygon)?;
    poly.add_geometry(linear)?;
    Ok(poly)
}

/// Open an existing GeoPackage for update, refusing files that are not GeoPackages.
fn open_for_update(path: &Path) -> Result<Dataset> {
    let dataset = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_UPDATE,
            allowed_drivers: Some(&["GPKG"]),
            ..Default::default()
        },
    )
    .map_err(|e| Error::Output {
        path: path.to_path_buf(),
        problem: format!("exists but cannot be opened as a GeoPackage for writing ({e})"),
    })?;
    Ok(dataset)
}

/// Open `path` for update, or create it as a hidden partial file (see [`finish`]); the second
/// value is the partial file when this call creates the GeoPackage.
fn create_or_open(path: &Path) -> Result<(Dataset, Option<PathBuf>)> {
    if path.exists() {
        return Ok((open_for_update(path)?, None));
    }
    crate::raster::io::remove_stale_partials(path, "gpkg");
    let partial = crate::raster::io::partial_path(path, "gpkg");
    let driver = DriverManager::get_driver_by_name("GPKG").map_err(|e| Error::gdal(path, e))?;
    let dataset = driver
        .create_vector_only(&partial)
        .map_err(|e| Error::Output {
            path: path.to_path_buf(),
            problem: format!(
                "cannot create a GeoPackage in this folder; is it writable? (GDAL: {})",
                crate::error::gdal_message(&e)
            ),
        })?;
    Ok((dataset, Some(partial)))
}

/// Close `dataset` after a write that gave `result`. A GeoPackage this write created lives under
/// a hidden partial name until now: it takes its name only when everything succeeded (a hard
/// link, so a file another process created there meanwhile is never replaced), and is removed
/// otherwise, so a killed run never leaves a half-made file under the output's name.
fn finish(
    dataset: Dataset,
    path: &Path,
    created: Option<PathBuf>,
    result: Result<()>,
) -> Result<()> {
    let closed = dataset.close().map_err(|e| Error::gdal(path, e));
    let mut result = result.and(closed);
    if let Some(partial) = created {
        if result.is_ok() {
            // a file system without hard links: a rename, still never over an existing file
            let placed = std::fs::hard_link(&partial, path).or_else(|e| {
                if path.exists() {
                    Err(e)
                } else {
                    std::fs::rename(&partial, path)
                }
            });
            result = placed.map_err(|e| Error::Output {
                path: path.to_path_buf(),
                problem: format!("cannot put the new GeoPackage in place ({e})"),
            });
        }
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn layer_index(dataset: &Dataset, name: &str) -> Option<usize> {
    (0..dataset.layer_count()).find(|&i| {
        dataset
            .layer(i)
            .map(|l| l.name().eq_ignore_ascii_case(name))
            .unwrap_or(false)
    })
}

/// Write `features` as polygon layer `spec` into the GeoPackage `path` (created when missing).
/// Other layers of an existing file are never modified; on any error or cancel the file is left
/// as it was, and a file created by this call is removed.
pub fn write_layer(
    path: &Path,
    spec: &LayerSpec,
    features: &[PolygonFeature],
    options: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    check_output_path(path)?;
    check_layer_name(&spec.name)?;
    for f in features {
        if f.values.len() != spec.fields.len() {
            return Err(Error::parameter(
                "features",
                format!("{} values for {} fields", f.values.len(), spec.fields.len()),
            ));
        }
    }
    let srs = SpatialRef::from_definition(&spec.crs).map_err(|e| Error::gdal(path, e))?;
    let (mut dataset, created) = create_or_open(path)?;
    if let Some(ts) = &options.timestamp {
        gdal::config::set_thread_local_config_option("OGR_CURRENT_DATE", ts)
            .map_err(|e| Error::gdal(path, e))?;
    }
    let result = write_in_transaction(&mut dataset, path, spec, &srs, features, options, progress);
    if options.timestamp.is_some() {
        let _ = gdal::config::clear_thread_local_config_option("OGR_CURRENT_DATE");
    }
    finish(dataset, path, created, result)
}

fn write_in_transaction(
    dataset: &mut Dataset,
    path: &Path,
    spec: &LayerSpec,
    srs: &SpatialRef,
    features: &[PolygonFeature],
    options: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let existing = layer_index(dataset, &spec.name);
    if existing.is_some() && !options.overwrite {
        return Err(Error::Output {
            path: path.to_path_buf(),
            problem: format!(
                "layer '{}' already exists; choose another layer name or allow overwriting it (`overwrite`)",
                spec.name
            ),
        });
    }
    let mut txn = dataset
        .start_transaction()
        .map_err(|e| Error::gdal(path, e))?;
    if let Some(index) = existing {
        txn.delete_layer(index).map_err(|e| Error::gdal(path, e))?;
    }
    let mut layer_handle = std::ptr::null_mut();
    let outcome = (|| -> Result<()> {
        {
            let mut layer = txn
                .create_layer(LayerOptions {
                    name: &spec.name,
                    srs: Some(srs),
                    ty: OGRwkbGeometryType::wkbPolygon,
                    options: Some(&["FID=fid", "GEOMETRY_NAME=geom"]),
                })
                .map_err(|e| Error::gdal(path, e))?;
            for (key, value) in &options.metadata {
                layer
                    .set_metadata_item(key, value, "")
                    .map_err(|e| Error::gdal(path, e))?;
            }
            let defs: Vec<(&str, OGRFieldType::Type)> = spec
                .fields
                .iter()
                .map(|f| (f.name.as_str(), ogr_type(f.kind)))
                .collect();
            layer
                .create_defn_fields(&defs)
                .map_err(|e| Error::gdal(path, e))?;
        }
        finish_new_layer(&mut txn, path, spec, options.style.as_ref())?;
        let layer = txn
            .layer_by_name(&spec.name)
            .map_err(|e| Error::gdal(path, e))?;
        layer_handle = unsafe { layer.c_layer() };
        let every = (features.len() / 100).max(1);
        for (i, f) in features.iter().enumerate() {
            if i % every == 0
                && !progress.report(i as f64 / features.len().max(1) as f64, "writing features")
            {
                return Err(Error::Cancelled);
            }
            let mut feature = Feature::new(layer.defn()).map_err(|e| Error::gdal(path, e))?;
            set_values(&mut feature, &f.values, 0..f.values.len(), path)?;
            feature
                .set_geometry(polygon(&f.ring).map_err(|e| Error::gdal(path, e))?)
                .map_err(|e| Error::gdal(path, e))?;
            feature.create(&layer).map_err(|e| Error::gdal(path, e))?;
        }
        if !progress.report(1.0, "committing") {
            return Err(Error::Cancelled);
        }
        Ok(())
    })();
    // Let the driver finish the layer (deferred triggers, spatial index) inside the transaction,
    // so that a rollback also undoes it and closing the file does not touch it again.
    if !layer_handle.is_null() {
        unsafe {
            gdal_sys::OGR_L_SyncToDisk(layer_handle);
        }
    }
    match outcome {
        Ok(()) => txn.commit().map_err(|e| Error::gdal(path, e)),
        Err(e) => {
            let _ = txn.rollback();
            Err(e)
        }
    }
}

/// Set `values` on the fields at `indices` of `feature`.
fn set_values(
    feature: &mut Feature,
    values: &[Value],
    indices: impl Iterator<Item = usize>,
    path: &Path,
) -> Result<()> {
    for (value, idx) in values.iter().zip(indices) {
        let set = match value {
            Value::Text(s) => feature.set_field_string(idx, s),
            Value::Integer(v) => feature.set_field_integer64(idx, *v),
            Value::Real(v) if v.is_finite() => feature.set_field_double(idx, *v),
            Value::Real(_) | Value::Null => feature.set_field_null(idx),
            Value::DateTime(d) => feature.set_field_datetime(idx, d.fixed_offset()),
        };
        set.map_err(|e| Error::gdal(path, e))?;
    }
    Ok(())
}

fn convert(value: FieldValue) -> Value {
    match value {
        FieldValue::StringValue(s) => Value::Text(s),
        FieldValue::IntegerValue(v) => Value::Integer(i64::from(v)),
        FieldValue::Integer64Value(v) => Value::Integer(v),
        FieldValue::RealValue(v) => Value::Real(v),
        FieldValue::DateTimeValue(d) => Value::DateTime(d.with_timezone(&Utc)),
        FieldValue::DateValue(d) => Value::Text(d.to_string()),
        other => other.into_string().map(Value::Text).unwrap_or(Value::Null),
    }
}

fn exterior_rings(geometry: &Geometry, rings: &mut Vec<Vec<(f64, f64)>>) {
    let flat = gdal::vector::geometry_type_flatten(geometry.geometry_type());
    if flat == OGRwkbGeometryType::wkbPolygon {
        if geometry.geometry_count() > 0 {
            let ring = geometry.get_geometry(0);
            let mut points = Vec::new();
            ring.get_points(&mut points);
            rings.push(points.into_iter().map(|p| (p.0, p.1)).collect());
        }
    } else if flat == OGRwkbGeometryType::wkbMultiPolygon
        || flat == OGRwkbGeometryType::wkbGeometryCollection
    {
        for i in 0..geometry.geometry_count() {
            let part = geometry.get_geometry(i);
            exterior_rings(&part, rings);
        }
    }
}

/// Open any OGR vector dataset read-only.
fn open_vector(path: &Path) -> Result<Dataset> {
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            ..Default::default()
        },
    )
    .map_err(|e| Error::bad_input(path, format!("not a vector dataset OGR can read ({e})")))
}

/// Read a layer of any OGR vector dataset: the one named, or, when `layer` is None, the only
/// layer with geometry (attribute tables such as a batch's `runs` do not count). A dataset with
/// several is refused, naming them: taking the first would silently read the wrong one.
pub fn read_layer(path: &Path, layer: Option<&str>) -> Result<ReadLayer> {
    let dataset = open_vector(path)?;
    let names: Vec<String> = dataset.layers().map(|l| l.name()).collect();
    let mut ogr_layer = match layer {
        Some(name) => dataset.layer_by_name(name).map_err(|_| {
            Error::bad_input(
                path,
                format!("no layer '{name}' (layers: {})", names.join(", ")),
            )
        })?,
        None => {
            let spatial: Vec<String> = dataset
                .layers()
                .filter(|l| l.defn().geom_fields().count() > 0)
                .map(|l| l.name())
                .collect();
            match spatial.as_slice() {
                [only] => dataset
                    .layer_by_name(only)
                    .map_err(|e| Error::bad_input(path, format!("layer '{only}': {e}")))?,
                [] => {
                    return Err(Error::bad_input(
                        path,
                        "holds no vector layer with geometry",
                    ))
                }
                several => {
                    return Err(Error::bad_input(
                        path,
                        format!(
                            "holds {} layers with geometry ({}): name the one to read",
                            several.len(),
                            several.join(", ")
                        ),
                    ))
                }
            }
        }
    };
    let name = ogr_layer.name();
    let metadata = ogr_layer
        .metadata()
        .filter(|entry| entry.domain.is_empty())
        .map(|entry| (entry.key, entry.value))
        .collect();
    let crs_wkt = ogr_layer
        .spatial_ref()
        .and_then(|s| s.to_wkt().ok())
        .unwrap_or_default();
    let mut features = Vec::new();
    for feature in ogr_layer.features() {
        let mut rings = Vec::new();
        let mut envelope = None;
        if let Some(geometry) = feature.geometry() {
            exterior_rings(geometry, &mut rings);
            if !geometry.is_empty() {
                let e = geometry.envelope();
                envelope = Some((e.MinX, e.MinY, e.MaxX, e.MaxY));
            }
        }
        let attributes = feature
            .fields()
            .map(|(n, v)| (n, v.map(convert).unwrap_or(Value::Null)))
            .collect();
        features.push(ReadFeature {
            fid: feature.fid(),
            rings,
            envelope,
            attributes,
        });
    }
    Ok(ReadLayer {
        name,
        crs_wkt,
        features,
        metadata,
    })
}

/// Names of the layers of a vector dataset.
pub fn layer_names(path: &Path) -> Result<Vec<String>> {
    let dataset = open_vector(path)?;
    Ok(dataset.layers().map(|l| l.name()).collect())
}

/// The CRS (WKT) of layer `name` of a vector dataset, `None` when the file or the layer does not
/// exist or has no CRS.
pub fn layer_crs(path: &Path, name: &str) -> Option<String> {
    let dataset = open_vector(path).ok()?;
    let layer = dataset.layer_by_name(name).ok()?;
    layer.spatial_ref().and_then(|s| s.to_wkt().ok())
}

/// One unit of a batch in one transaction: `features` appended to polygon layer `spec` (when
/// given; created with its field constraints and `style` when missing) and `rows` appended to the non-spatial table `table` (each created when missing). Both land or
/// neither does — also when the process is killed, since GeoPackage is SQLite and an
/// uncommitted transaction is rolled back by its journal. Other layers are never touched; a
/// file created by this call is removed again on error. Features must be in `spec.crs` (an
/// existing layer keeps its CRS and fields).
pub fn append_in_transaction(
    path: &Path,
    layer: Option<(&LayerSpec, &[PolygonFeature])>,
    style: Option<&QgisStyle>,
    table: &LayerSpec,
    rows: &[Vec<Value>],
) -> Result<()> {
    check_output_path(path)?;
    if let Some((spec, _)) = layer {
        check_layer_name(&spec.name)?;
    }
    check_layer_name(&table.name)?;
    let (mut dataset, created) = create_or_open(path)?;
    let result = append_both(&mut dataset, path, layer, style, table, rows);
    finish(dataset, path, created, result)
}

fn append_both(
    dataset: &mut Dataset,
    path: &Path,
    layer: Option<(&LayerSpec, &[PolygonFeature])>,
    style: Option<&QgisStyle>,
    table: &LayerSpec,
    rows: &[Vec<Value>],
) -> Result<()> {
    let srs = match layer {
        Some((spec, _)) => {
            Some(SpatialRef::from_definition(&spec.crs).map_err(|e| Error::gdal(path, e))?)
        }
        None => None,
    };
    let features = layer.map_or(&[][..], |(_, f)| f);
    let mut parts = Vec::new();
    if let Some((spec, _)) = layer {
        parts.push((
            spec,
            true,
            features.iter().map(|f| &f.values).collect::<Vec<_>>(),
        ));
    }
    parts.push((table, false, rows.iter().collect::<Vec<_>>()));
    let mut txn = dataset
        .start_transaction()
        .map_err(|e| Error::gdal(path, e))?;
    let mut handles = Vec::new();
    let outcome = (|| -> Result<()> {
        for (layer_spec, geometry, values) in parts {
            if txn.layer_by_name(&layer_spec.name).is_err() {
                {
                    let layer = txn
                        .create_layer(LayerOptions {
                            name: &layer_spec.name,
                            srs: if geometry { srs.as_ref() } else { None },
                            ty: if geometry {
                                OGRwkbGeometryType::wkbPolygon
                            } else {
                                OGRwkbGeometryType::wkbNone
                            },
                            options: Some(&["FID=fid", "GEOMETRY_NAME=geom"]),
                        })
                        .map_err(|e| Error::gdal(path, e))?;
                    let defs: Vec<(&str, OGRFieldType::Type)> = layer_spec
                        .fields
                        .iter()
                        .map(|f| (f.name.as_str(), ogr_type(f.kind)))
                        .collect();
                    layer
                        .create_defn_fields(&defs)
                        .map_err(|e| Error::gdal(path, e))?;
                }
                finish_new_layer(&mut txn, path, layer_spec, style.filter(|_| geometry))?;
            }
            let layer = txn
                .layer_by_name(&layer_spec.name)
                .map_err(|e| Error::gdal(path, e))?;
            handles.push(unsafe { layer.c_layer() });
            let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
            let order: Vec<usize> = layer_spec
                .fields
                .iter()
                .map(|f| {
                    names.iter().position(|n| n.eq_ignore_ascii_case(&f.name)).ok_or_else(|| {
                        Error::Output {
                            path: path.to_path_buf(),
                            problem: format!(
                                "layer '{}' has no field '{}': not a layer this batch wrote; choose another layer name",
                                layer_spec.name, f.name
                            ),
                        }
                    })
                })
                .collect::<Result<_>>()?;
            for (k, values) in values.iter().enumerate() {
                let mut feature = Feature::new(layer.defn()).map_err(|e| Error::gdal(path, e))?;
                set_values(&mut feature, values, order.iter().copied(), path)?;
                if geometry {
                    feature
                        .set_geometry(polygon(&features[k].ring).map_err(|e| Error::gdal(path, e))?)
                        .map_err(|e| Error::gdal(path, e))?;
                }
                feature.create(&layer).map_err(|e| Error::gdal(path, e))?;
            }
        }
        Ok(())
    })();
    for handle in handles {
        unsafe {
            gdal_sys::OGR_L_SyncToDisk(handle);
        }
    }
    match outcome {
        Ok(()) => txn.commit().map_err(|e| Error::gdal(path, e)),
        Err(e) => {
            let _ = txn.rollback();
            Err(e)
        }
    }
}
