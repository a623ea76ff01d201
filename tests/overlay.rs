//! Inventory overlay on a simulated scene (issue: inventory overlay and persistence).

mod common;

use std::path::Path;
use std::process::Command;

use fringewatch::overlay::layer::overlay_files;
use fringewatch::progress::Silent;
use fringewatch::simulate::output::write_scene;
use fringewatch::simulate::{simulate_scene, SimulationSettings};
use fringewatch::vector::gpkg::{read_layer, write_layer, WriteOptions};
use fringewatch::vector::{FieldKind, FieldSpec, LayerRef, LayerSpec, PolygonFeature, Value};

fn text(f: &fringewatch::vector::ReadFeature, name: &str) -> Option<String> {
    f.attribute(name).and_then(|v| v.as_text())
}

/// Overlay results keyed by detection id: (status, inventory ids, overlap fraction).
fn results(path: &Path, layer: &str) -> Vec<(String, String, Option<String>, f64)> {
    let l = read_layer(path, Some(layer)).unwrap();
    l.features
        .iter()
        .map(|f| {
            (
                text(f, "detection").unwrap(),
                text(f, "status").unwrap(),
                text(f, "inventory_ids"),
                f.attribute("overlap_fraction")
                    .and_then(|v| v.as_f64())
                    .unwrap(),
            )
        })
        .collect()
}

#[test]
fn detections_on_mapped_bodies_get_their_id_and_far_ones_are_new_in_any_crs() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = SimulationSettings {
        size: 640,
        ..SimulationSettings::default()
    };
    let scene = simulate_scene(&settings, "scene_0000", 77, None, &Silent).unwrap();
    let dir = write_scene(&scene, tmp.path(), 3).unwrap();
    let truth = read_layer(&dir.join("truth.gpkg"), Some("truth")).unwrap();
    let mapped: Vec<_> = truth
        .features
        .iter()
        .filter(|f| text(f, "id_frana").is_some())
        .collect();
    assert!(!mapped.is_empty(), "the scene needs labelled mapped slides");
    // Detections: every truth box, plus one 30 km away from the scene.
    let spec = LayerSpec {
        name: "detections".into(),
        crs: scene.grid.crs.wkt.clone(),
        fields: vec![
            FieldSpec::new("detection", FieldKind::Text),
            FieldSpec::new("class", FieldKind::Text),
            FieldSpec::new("score", FieldKind::Real),
        ],
    };
    let mut features: Vec<PolygonFeature> = truth
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (x0, y0, x1, y1) = f.envelope.unwrap();
            PolygonFeature::rectangle(
                x0,
                y0,
                x1,
                y1,
                vec![
                    Value::Text(format!("d{i}")),
                    f.attribute("class").unwrap().clone(),
                    Value::Real(0.9),
                ],
            )
        })
        .collect();
    let (_, _, maxx, maxy) = scene.grid.bounds();
    features.push(PolygonFeature::rectangle(
        maxx + 30_000.0,
        maxy - 500.0,
        maxx + 30_300.0,
        maxy - 200.0,
        vec![
            Value::Text("far".into()),
            Value::Text("CF".into()),
            Value::Real(0.8),
        ],
    ));
    let detections = tmp.path().join("detections.gpkg");
    write_layer(
        &detections,
        &spec,
        &features,
        &WriteOptions::default(),
        &Silent,
    )
    .unwrap();

    let det_ref = LayerRef {
        path: detections.clone(),
        layer: Some("detections".into()),
    };
    let inv_ref = LayerRef {
        path: dir.join("inventory.gpkg"),
        layer: Some("inventory".into()),
    };
    let out = LayerRef {
        path: detections.clone(),
        layer: Some("same_crs".into()),
    };
    let summary = overlay_files(&det_ref, &inv_ref, &out, 250.0, false, &Silent).unwrap();
    assert!(!summary.reprojected);
    // No all-pairs comparison: one R-tree query per detection (+1 nearest search for the far one).
    assert!(
        summary.exact_tests < features.len() * summary.inventory.polygons,
        "exact tests {}",
        summary.exact_tests
    );
    let base = results(&detections, "same_crs");
    // No all-pairs comparison: one R-tree query per detection, plus one nearest search for each
    // detection that overlaps no inventory polygon (the far one, artifacts away from bodies).
    let unmapped = base.iter().filter(|r| r.1 != "mapped").count();
    assert!(unmapped >= 1);
    assert!(
        summary.index_queries <= features.len() + unmapped,
        "{} queries for {} detections, {unmapped} not on a mapped body",
        summary.index_queries,
        features.len()
    );
    for (i, f) in truth.features.iter().enumerate() {
        if let Some(id) = text(f, "id_frana") {
            let (_, status, ids, _) = &base[i];
            assert_eq!(status, "mapped", "detection on mapped body {id}");
            assert!(
                ids.as_deref()
                    .unwrap_or_default()
                    .split(',')
                    .any(|x| x == id),
                "{id} not in {ids:?}"
            );
        }
    }
    let far = base.iter().find(|r| r.0 == "far").unwrap();
    assert_eq!((far.1.as_str(), far.2.as_deref()), ("new", None));
    assert_eq!(summary.without_geometry, 0);
    assert_eq!(base.len(), features.len());

    null_geometry_is_counted_not_overlaid(&detections, &inv_ref, &base);

    // The same inventory in EPSG:4326 GeoJSON and in ETRS89 / UTM 33N gives the same result.
    if !common::tool("ogr2ogr") {
        return;
    }
    for (name, args) in [
        (
            "inventory_4326.geojson",
            vec!["-t_srs", "EPSG:4326", "-f", "GeoJSON"],
        ),
        (
            "inventory_25833.gpkg",
            vec!["-t_srs", "EPSG:25833", "-f", "GPKG"],
        ),
    ] {
        let target = tmp.path().join(name);
        let status = Command::new("ogr2ogr")
            .args(&args)
            .arg(&target)
            .arg(dir.join("inventory.gpkg"))
            .arg("inventory")
            .status()
            .unwrap();
        assert!(status.success());
        let layer = name.split('.').next().unwrap().to_string();
        let out = LayerRef {
            path: detections.clone(),
            layer: Some(layer.clone()),
        };
        let s = overlay_files(
            &det_ref,
            &LayerRef {
                path: target,
                layer: None,
            },
            &out,
            250.0,
            false,
            &Silent,
        )
        .unwrap();
        assert!(s.reprojected, "{name}");
        let other = results(&detections, &layer);
        for (a, b) in base.iter().zip(&other) {
            assert_eq!((&a.0, &a.1, &a.2), (&b.0, &b.1, &b.2), "{name}");
            assert!(
                (a.3 - b.3).abs() < 2e-3,
                "{name}: overlap {} vs {}",
                a.3,
                b.3
            );
        }
    }
}

/// A detection whose geometry is NULL (a row added by hand in QGIS's attribute table) has
/// nothing to overlay: it is counted as such, the others come out as before.
/// (On a copy of the detections' file: the caller goes on with the original.)
fn null_geometry_is_counted_not_overlaid(
    original: &Path,
    inv_ref: &LayerRef,
    base: &[(String, String, Option<String>, f64)],
) {
    let detections = &original.with_file_name("detections_null.gpkg");
    std::fs::copy(original, detections).unwrap();
    let det_ref = &LayerRef {
        path: detections.to_path_buf(),
        layer: Some("detections".into()),
    };
    let count = base.len();
    {
        let dataset = gdal::Dataset::open_ex(
            detections,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_VECTOR
                    | gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap();
        dataset
            .execute_sql(
                "UPDATE detections SET geom = NULL WHERE detection = 'far'",
                None,
                gdal::vector::sql::Dialect::DEFAULT,
            )
            .unwrap();
    }
    let out_null = LayerRef {
        path: detections.to_path_buf(),
        layer: Some("with_null".into()),
    };
    let summary = overlay_files(det_ref, inv_ref, &out_null, 250.0, false, &Silent).unwrap();
    assert_eq!(summary.detections, count);
    assert_eq!(summary.without_geometry, 1);
    let counted: usize = summary.counts.values().flat_map(|c| c.values()).sum();
    assert_eq!(counted, count - 1);
    let with_null = results(detections, "with_null");
    assert_eq!(with_null.len(), count - 1);
    assert!(with_null.iter().all(|r| r.0 != "far"));
    assert_eq!(with_null[..], base[..base.len() - 1]);
}
