//! Detection: decoding, NMS, tiling and merging, GeoPackage/GeoJSON output, bad input
//! (issue: CPU detection).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use fringewatch::detect::decode::{decode, nms, Detection};
use fringewatch::detect::merge::{merge, place};
use fringewatch::detect::output::{detection_features, write_detections, ModelInfo};
use fringewatch::detect::scene_info::SceneInfo;
use fringewatch::detect::DetectionRun;
use fringewatch::model::contract::{
    default_anchors, default_channels, ModelMetadata, Provenance, FORMAT_VERSION,
};
use fringewatch::model::phase_input::PhaseInput;
use fringewatch::progress::{Progress, Silent};
use fringewatch::raster::{Crs, Grid};
use fringewatch::vector::gpkg::{read_layer, write_layer, WriteOptions};
use fringewatch::vector::{FieldKind, FieldSpec, LayerSpec, PolygonFeature, Value};
use ndarray::Array4;

fn metadata() -> ModelMetadata {
    ModelMetadata {
        format_version: FORMAT_VERSION,
        name: "test".into(),
        classes: vec!["AR".into(), "CF".into(), "CS".into(), "FS".into()],
        anchors: default_anchors(160),
        channels: default_channels(PhaseInput::Scaled),
        phase_input: PhaseInput::Scaled,
        tile: 160,
        width: 0.25,
        depth: 0.33,
        provenance: Provenance {
            trained: false,
            source: "test".into(),
            dataset: None,
            epochs: None,
            created: String::new(),
            note: String::new(),
        },
        recommended_confidence: None,
    }
}

#[test]
fn hand_built_heads_decode_to_the_expected_box() {
    let m = metadata();
    let per = 5 + 4;
    let mut heads = [20usize, 10, 5].map(|s| Array4::<f32>::from_elem((2, 3 * per, s, s), -20.0));
    // Item 1, stride-16 head, anchor 1, cell (row 3, col 5): tx = ty = 0, tw = ln 2, th = 0,
    // objectness and class CS certain.
    let (item, a, gy, gx) = (1, 1, 3, 5);
    let base = a * per;
    heads[1][(item, base, gy, gx)] = 0.0;
    heads[1][(item, base + 1, gy, gx)] = 0.0;
    heads[1][(item, base + 2, gy, gx)] = 2f32.ln();
    heads[1][(item, base + 3, gy, gx)] = 0.0;
    heads[1][(item, base + 4, gy, gx)] = 20.0;
    heads[1][(item, base + 5 + 2, gy, gx)] = 20.0;
    let views = [heads[0].view(), heads[1].view(), heads[2].view()];
    assert!(
        decode(&views, 0, &m, 0.5).is_empty(),
        "item 0 holds nothing"
    );
    let found = decode(&views, item, &m, 0.5);
    assert_eq!(found.len(), 1);
    let d = found[0];
    let anchor = m.anchors[3 + a];
    let (cx, cy) = ((0.5 + gx as f64) * 16.0, (0.5 + gy as f64) * 16.0);
    let (w, h) = (2.0 * anchor.width, anchor.height);
    let expected = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
    for k in 0..4 {
        assert!(
            (d.bbox[k] - expected[k]).abs() < 1e-4,
            "{:?} vs {expected:?}",
            d.bbox
        );
    }
    assert_eq!(d.class, 2);
    assert!(d.score > 0.999 && d.objectness > 0.999);
}

#[test]
fn nms_keeps_the_best_box_per_object_and_class() {
    let det = |b: [f64; 4], class, score| Detection {
        bbox: b,
        class,
        score,
        objectness: score,
    };
    let kept = nms(
        vec![
            det([1.0, 1.0, 11.0, 11.0], 1, 0.8),
            det([0.0, 0.0, 10.0, 10.0], 1, 0.9),
            det([0.0, 0.0, 10.0, 10.0], 2, 0.7),
            det([20.0, 20.0, 30.0, 30.0], 1, 0.6),
            det([5.0, 0.0, 15.0, 10.0], 1, 0.5), // IoU 1/3 with the best: kept at 0.45
        ],
        0.45,
    );
    let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
    assert_eq!(scores, vec![0.9, 0.7, 0.6, 0.5]);
}

#[test]
fn a_box_across_a_tile_corner_is_reported_once() {
    let truth: [f64; 4] = [140.0, 140.0, 180.0, 190.0];
    let raster = (320, 320);
    let mut placed = Vec::new();
    for (col0, row0) in [(0usize, 0usize), (160, 0), (0, 160), (160, 160)] {
        let t = [
            col0 as f64,
            row0 as f64,
            col0 as f64 + 160.0,
            row0 as f64 + 160.0,
        ];
        let piece = [
            truth[0].max(t[0]) - col0 as f64,
            truth[1].max(t[1]) - row0 as f64,
            truth[2].min(t[2]) - col0 as f64,
            truth[3].min(t[3]) - row0 as f64,
        ];
        let d = Detection {
            bbox: piece,
            class: 1,
            score: 0.7 + col0 as f32 / 1000.0,
            objectness: 0.9,
        };
        placed.extend(place(&[d], col0, row0, 160, raster));
    }
    // An unrelated box of another class touching the same corner stays separate.
    placed.extend(place(
        &[Detection {
            bbox: [150.0, 150.0, 160.0, 160.0],
            class: 0,
            score: 0.6,
            objectness: 0.6,
        }],
        0,
        0,
        160,
        raster,
    ));
    let merged = merge(&placed, 0, 0.45);
    let cf: Vec<_> = merged.iter().filter(|d| d.class == 1).collect();
    assert_eq!(cf.len(), 1, "{merged:?}");
    assert_eq!(cf[0].bbox, truth);
    assert!((cf[0].score - 0.86).abs() < 1e-6, "the best piece's score");
    assert_eq!(merged.len(), 2);
    // A box inside one tile, away from its edges, is not merged with a neighbour.
    let lone = place(
        &[Detection {
            bbox: [10.0, 10.0, 40.0, 40.0],
            class: 1,
            score: 0.9,
            objectness: 0.9,
        }],
        160,
        0,
        160,
        raster,
    );
    assert_eq!(lone[0].cut, [false; 4]);
}

/// What tiles of `tile` px laid with `overlap` over a `raster` would report for `objects` (class,
/// box in raster pixels, score): each tile reports the part of each object it sees, scored by
/// the share it sees (a whole view scores `score`, a piece less).
fn tiled_views(
    objects: &[(usize, [f64; 4], f32)],
    tile: usize,
    overlap: usize,
    raster: (usize, usize),
) -> Vec<fringewatch::detect::merge::PlacedDetection> {
    use fringewatch::tiling::{clip_to_tile, tile_origins};
    let mut placed = Vec::new();
    for &row0 in &tile_origins(raster.1, tile, overlap) {
        for &col0 in &tile_origins(raster.0, tile, overlap) {
            for &(class, b, score) in objects {
                if let Some((piece, share)) = clip_to_tile(&b, col0, row0, tile) {
                    let d = Detection {
                        bbox: piece,
                        class,
                        score: score * (0.5 + 0.5 * share as f32),
                        objectness: score,
                    };
                    placed.extend(place(&[d], col0, row0, tile, raster));
                }
            }
        }
    }
    placed
}

fn assert_boxes(merged: &[Detection], expected: &[[f64; 4]]) {
    let mut got: Vec<[f64; 4]> = merged.iter().map(|d| d.bbox).collect();
    let mut want = expected.to_vec();
    let key = |b: &[f64; 4]| (b[0] as i64, b[1] as i64);
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want, "merged boxes");
}

#[test]
fn an_object_cut_by_an_overlapping_tile_edge_is_rejoined_but_close_neighbours_stay_apart() {
    let raster = (416, 416); // tiles at 0, 128, 256 with 32 px overlap
                             // 100 px wide: cut by the edges of both tiles around x = 128..160, so seen whole by none.
    let long = [100.0, 40.0, 200.0, 80.0];
    // Two objects of one class 1 px apart across the overlap strip of the same edge.
    let left = [90.0, 200.0, 140.0, 240.0];
    let right = [141.0, 200.0, 200.0, 240.0];
    let placed = tiled_views(
        &[(1, long, 0.8), (1, left, 0.7), (1, right, 0.6)],
        160,
        32,
        raster,
    );
    let merged = merge(&placed, 32, 0.45);
    assert_boxes(&merged, &[long, left, right]);
    // The piece scores never exceed the whole object's, so the rejoined box has the best one.
    assert!(merged.iter().all(|d| d.score <= 0.8 + 1e-6));
}

#[test]
fn a_chain_of_low_score_boxes_across_tile_edges_is_not_united() {
    let raster = (672, 672); // tiles at 0, 128, …, 512
                             // 20 boxes of 40 px, each overlapping the next, marching diagonally over several tile
                             // edges and corners: the old union-find merge made one box of ~520 px of them.
    let chain: Vec<(usize, [f64; 4], f32)> = (0..20)
        .map(|k| {
            let o = 100.0 + 24.0 * k as f64;
            (2, [o, o, o + 40.0, o + 40.0], 0.1 + 0.004 * k as f32)
        })
        .collect();
    let placed = tiled_views(&chain, 160, 32, raster);
    let merged = merge(&placed, 32, 0.45);
    let expected: Vec<[f64; 4]> = chain.iter().map(|c| c.1).collect();
    assert_boxes(&merged, &expected);
    let largest = merged
        .iter()
        .map(|d| (d.bbox[2] - d.bbox[0]).max(d.bbox[3] - d.bbox[1]))
        .fold(0.0, f64::max);
    assert!(largest <= 40.0, "largest merged box {largest} px");
}

#[test]
fn a_united_box_is_never_larger_than_a_tile_plus_the_overlap() {
    // An object larger than two tiles can see is left in pieces rather than grown without bound.
    let raster = (800, 200);
    let huge = [20.0, 20.0, 700.0, 60.0];
    let placed = tiled_views(&[(0, huge, 0.9)], 160, 32, raster);
    let merged = merge(&placed, 32, 0.45);
    assert!(merged.len() > 1);
    for d in &merged {
        assert!(d.bbox[2] - d.bbox[0] <= 160.0 + 32.0 + 2.0, "{:?}", d.bbox);
    }
}

#[test]
fn lower_scored_candidates_never_change_higher_boxes_except_by_completing_them() {
    let raster = (416, 416);
    let objects = [
        (1, [100.0, 40.0, 200.0, 80.0], 0.8),
        (3, [20.0, 300.0, 60.0, 340.0], 0.6),
    ];
    let alone = merge(&tiled_views(&objects, 160, 32, raster), 32, 0.45);
    // Noise: many low-score boxes of the same classes, everywhere, overlapping the objects.
    let mut noisy = tiled_views(&objects, 160, 32, raster);
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for _ in 0..400 {
        // Under 32 px, so never across the overlap strip: they can only duplicate or enlarge.
        let (x, y) = (next() * 380.0, next() * 380.0);
        let (w, h) = (5.0 + next() * 25.0, 5.0 + next() * 25.0);
        let class = if next() < 0.5 { 1 } else { 3 };
        noisy.extend(tiled_views(
            &[(
                class,
                [x, y, (x + w).min(416.0), (y + h).min(416.0)],
                0.04 + 0.2 * next() as f32,
            )],
            160,
            32,
            raster,
        ));
    }
    let merged = merge(&noisy, 32, 0.45);
    let above: Vec<[f64; 4]> = merged
        .iter()
        .filter(|d| d.score >= 0.5)
        .map(|d| d.bbox)
        .collect();
    let before: Vec<[f64; 4]> = alone.iter().map(|d| d.bbox).collect();
    assert_eq!(above, before);
}

fn run_on(grid: Grid, boxes: Vec<[f64; 4]>) -> DetectionRun {
    DetectionRun {
        grid,
        detections: boxes
            .into_iter()
            .enumerate()
            .map(|(i, b)| Detection {
                bbox: b,
                class: i % 4,
                score: 0.9,
                objectness: 0.95,
            })
            .collect(),
        tiles_run: 1,
        tiles_skipped: 0,
        scene: info(),
    }
}

fn info() -> SceneInfo {
    SceneInfo {
        interferogram: "S1_20180106_20180130".into(),
        primary_date: chrono::NaiveDate::from_ymd_opt(2018, 1, 6),
        secondary_date: chrono::NaiveDate::from_ymd_opt(2018, 1, 30),
        orbit: Some("ascending".into()),
        temporal_baseline_days: Some(24),
    }
}

fn model_info() -> ModelInfo {
    ModelInfo {
        name: "test-model".into(),
        sha256: "ab".repeat(32),
    }
}

#[test]
fn boxes_round_trip_between_pixels_and_map_in_projected_and_geographic_grids() {
    let dir = tempfile::tempdir().unwrap();
    let classes = metadata().classes;
    let boxes = vec![
        [10.0, 20.0, 50.0, 35.0],
        [0.0, 0.0, 320.0, 320.0],
        [123.5, 7.25, 130.75, 99.0],
    ];
    let utm = common::utm32n_grid(320, 320, 15.0);
    let geographic = Grid {
        width: 320,
        height: 320,
        geo_transform: [
            10.25,
            0.0001388888888889,
            0.0,
            44.5,
            0.0,
            -0.0001388888888889,
        ],
        crs: Crs::from_definition("EPSG:4326").unwrap(),
    };
    for (name, grid) in [("utm", utm), ("wgs84", geographic)] {
        let run = run_on(grid.clone(), boxes.clone());
        let features = detection_features(&run, &classes, &model_info(), chrono::Utc::now());
        let out = dir.path().join(format!("{name}.gpkg"));
        write_detections(&out, "detections", &run, &features, false, &Silent).unwrap();
        let layer = read_layer(&out, Some("detections")).unwrap();
        assert_eq!(layer.features.len(), boxes.len());
        for (f, b) in layer.features.iter().zip(&boxes) {
            let (x0, y0, x1, y1) = f.envelope.unwrap();
            let (c0, r0) = grid.map_to_pixel(x0, y1);
            let (c1, r1) = grid.map_to_pixel(x1, y0);
            for (got, want) in [c0, r0, c1, r1].iter().zip(b) {
                assert!((got - want).abs() < 1e-6, "{name}: {got} vs {want}");
            }
        }
        // The layer's CRS is the grid's.
        let crs = Crs::from_definition(&layer.crs_wkt).unwrap();
        assert!(crs.same_as(&grid.crs), "{name}: CRS changed");
    }
    // GeoJSON: RFC 7946 longitude/latitude, the UTM box corners near 44° N, 9° E.
    let run = run_on(common::utm32n_grid(320, 320, 15.0), boxes.clone());
    let features = detection_features(&run, &classes, &model_info(), chrono::Utc::now());
    let out = dir.path().join("det.geojson");
    write_detections(&out, "detections", &run, &features, false, &Silent).unwrap();
    let layer = read_layer(&out, None).unwrap();
    assert_eq!(layer.features.len(), 3);
    let (x0, y0, _, _) = layer.features[0].envelope.unwrap();
    assert!(
        (5.0..15.0).contains(&x0) && (40.0..50.0).contains(&y0),
        "lon/lat expected, got {x0} {y0}"
    );
}

fn ogrinfo(path: &Path, layer: &str) -> String {
    let out = Command::new("ogrinfo")
        .args(["-so", path.to_str().unwrap(), layer])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Cancels after a number of progress reports: an error injected in the middle of writing.
struct CancelAfter(std::sync::atomic::AtomicUsize);

impl Progress for CancelAfter {
    fn report(&self, _: f64, _: &str) -> bool {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) > 1
    }
}

#[test]
fn geopackage_layer_is_added_without_touching_other_layers_and_rolled_back_on_error() {
    if !common::tool("ogrinfo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("inventory_and_detections.gpkg");
    // The analyst's inventory already lives in the file.
    let grid = common::utm32n_grid(320, 320, 15.0);
    let inventory = LayerSpec {
        name: "inventory".into(),
        crs: grid.crs.wkt.clone(),
        fields: vec![
            FieldSpec::new("id_frana", FieldKind::Text),
            FieldSpec::new("nome_tipo", FieldKind::Text),
        ],
    };
    let polygons: Vec<PolygonFeature> = (0..50)
        .map(|i| {
            let x = 600_000.0 + 50.0 * f64::from(i);
            PolygonFeature::rectangle(
                x,
                4_890_000.0,
                x + 40.0,
                4_890_040.0,
                vec![
                    Value::Text(format!("{i:010}")),
                    Value::Text("Colamento lento".into()),
                ],
            )
        })
        .collect();
    write_layer(
        &gpkg,
        &inventory,
        &polygons,
        &WriteOptions::default(),
        &Silent,
    )
    .unwrap();
    let inventory_dump = |p: &Path| {
        let out = Command::new("ogrinfo")
            .args(["-al", "-q", p.to_str().unwrap(), "inventory"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = inventory_dump(&gpkg);
    let bytes_before = std::fs::read(&gpkg).unwrap();

    // An error in the middle of writing 300 detections leaves the file byte for byte as it was.
    let boxes: Vec<[f64; 4]> = (0..300)
        .map(|i| [f64::from(i % 300), 10.0, f64::from(i % 300) + 8.0, 30.0])
        .collect();
    let run = run_on(grid.clone(), boxes);
    let features = detection_features(&run, &metadata().classes, &model_info(), chrono::Utc::now());
    let failing = CancelAfter(std::sync::atomic::AtomicUsize::new(20));
    let err = write_detections(&gpkg, "detections", &run, &features, false, &failing).unwrap_err();
    assert!(matches!(err, fringewatch::Error::Cancelled));
    assert!(
        std::fs::read(&gpkg).unwrap() == bytes_before,
        "the GeoPackage changed after a failed write"
    );

    // A successful write adds the layer; the inventory layer is unchanged.
    write_detections(&gpkg, "detections", &run, &features, false, &Silent).unwrap();
    assert_eq!(inventory_dump(&gpkg), before);
    let info_text = ogrinfo(&gpkg, "detections");
    assert!(info_text.contains("Feature Count: 300"), "{info_text}");
    assert!(info_text.contains("UTM zone 32N"), "{info_text}");
    for field in [
        "class: String",
        "score: Real",
        "objectness: Real",
        "interferogram: String",
        "primary_date: String",
        "secondary_date: String",
        "orbit: String",
        "temporal_baseline_days: Integer64",
        "model: String",
        "model_sha256: String",
        "created: DateTime",
        "review: String",
        "reviewer: String",
        "comment: String",
    ] {
        assert!(
            info_text.contains(field),
            "missing field {field}: {info_text}"
        );
    }
    // Writing the same layer again is refused unless overwriting; the file keeps its layers.
    let again = write_detections(&gpkg, "detections", &run, &features, false, &Silent).unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    write_detections(&gpkg, "detections", &run, &features[..10], true, &Silent).unwrap();
    assert!(ogrinfo(&gpkg, "detections").contains("Feature Count: 10"));
    assert_eq!(inventory_dump(&gpkg), before);
    // A new file that fails is removed.
    let fresh = dir.path().join("fresh.gpkg");
    let failing = CancelAfter(std::sync::atomic::AtomicUsize::new(5));
    assert!(write_detections(&fresh, "detections", &run, &features, false, &failing).is_err());
    assert!(!fresh.exists());
}

/// Run one SQL statement (SQLite's dialect) on a GeoPackage; the rows of a query as text.
fn sql(path: &Path, statement: &str) -> Result<Vec<Vec<String>>, String> {
    use gdal::vector::LayerAccess;
    let dataset = gdal::Dataset::open_ex(
        path,
        gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_VECTOR | gdal::GdalOpenFlags::GDAL_OF_UPDATE,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let result = dataset
        .execute_sql(statement, None, gdal::vector::sql::Dialect::DEFAULT)
        .map_err(|e| e.to_string())?;
    Ok(match result {
        Some(mut rows) => rows
            .features()
            .map(|f| {
                (0..f.field_count())
                    .map(|i| f.field_as_string(i).ok().flatten().unwrap_or_default())
                    .collect()
            })
            .collect(),
        None => Vec::new(),
    })
}

#[test]
fn detection_layers_carry_their_qgis_style_and_refuse_an_invalid_review() {
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("inventory.gpkg");
    let grid = common::utm32n_grid(320, 320, 15.0);
    let inventory = LayerSpec {
        name: "inventory".into(),
        crs: grid.crs.wkt.clone(),
        fields: vec![FieldSpec::new("id_frana", FieldKind::Text)],
    };
    let polygon = PolygonFeature::rectangle(
        600_000.0,
        4_890_000.0,
        600_040.0,
        4_890_040.0,
        vec![Value::Text("0001".into())],
    );
    write_layer(
        &gpkg,
        &inventory,
        &[polygon],
        &WriteOptions::default(),
        &Silent,
    )
    .unwrap();
    // The analyst already saved a style of the inventory in the file (QGIS's table).
    sql(
        &gpkg,
        "CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT, \
         f_table_schema TEXT, f_table_name TEXT, f_geometry_column TEXT, styleName TEXT, \
         styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT, \
         ui TEXT, update_time DATETIME)",
    )
    .unwrap();
    sql(
        &gpkg,
        "INSERT INTO layer_styles (f_table_schema, f_table_name, f_geometry_column, styleName, \
         styleQML, useAsDefault) VALUES ('', 'inventory', 'geom', 'mine', '<qgis/>', 1)",
    )
    .unwrap();
    let styles = "SELECT f_table_name, f_table_schema, f_geometry_column, styleName, \
                  useAsDefault, styleQML LIKE '%ValueMap%' FROM layer_styles ORDER BY id";

    let run = run_on(
        grid,
        vec![[10.0, 10.0, 50.0, 40.0], [100.0, 100.0, 150.0, 160.0]],
    );
    let features = detection_features(&run, &metadata().classes, &model_info(), chrono::Utc::now());
    write_detections(&gpkg, "detections", &run, &features, false, &Silent).unwrap();
    let rows = sql(&gpkg, styles).unwrap();
    assert_eq!(
        rows,
        [
            ["inventory", "", "geom", "mine", "1", "0"],
            ["detections", "", "geom", "fringewatch detections", "1", "1"],
        ]
    );

    // The review takes only its three values, through any client (here plain SQL).
    for bad in ["'maybe?'", "NULL"] {
        let err = sql(
            &gpkg,
            &format!("UPDATE detections SET review = {bad} WHERE fid = 1"),
        )
        .unwrap_err();
        assert!(
            err.contains("review must be one of: unreviewed, confirmed, rejected"),
            "{err}"
        );
    }
    let err = sql(
        &gpkg,
        "INSERT INTO detections (class, review) VALUES ('CF', 'perhaps')",
    )
    .unwrap_err();
    assert!(err.contains("review must be one of"), "{err}");
    sql(
        &gpkg,
        "UPDATE detections SET review = 'confirmed', reviewer = 'A. Analyst', \
         comment = 'fresh scarp' WHERE fid = 1",
    )
    .unwrap();
    assert_eq!(
        sql(
            &gpkg,
            "SELECT review, reviewer, comment FROM detections ORDER BY fid"
        )
        .unwrap(),
        [
            ["confirmed", "A. Analyst", "fresh scarp"],
            ["unreviewed", "", ""],
        ]
    );

    // Replacing the layer replaces its own style row; the inventory's is untouched.
    write_detections(&gpkg, "detections", &run, &features[..1], true, &Silent).unwrap();
    assert_eq!(sql(&gpkg, styles).unwrap(), rows);
    let err = sql(&gpkg, "UPDATE detections SET review = 'x'").unwrap_err();
    assert!(err.contains("review must be one of"), "{err}");
}

fn fringewatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fringewatch"))
}

fn expect_failure(args: &[&str], needle: &str, must_not_exist: &Path) {
    let out = fringewatch().args(args).arg("--quiet").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected '{needle}' in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !must_not_exist.exists(),
        "{} was written",
        must_not_exist.display()
    );
}

fn small_stack(dir: &Path) -> PathBuf {
    let grid = common::utm32n_grid(200, 180, 15.0);
    let phase =
        ndarray::Array2::from_shape_fn((180, 200), |(r, c)| ((r + c) as f32 * 0.1).sin() * 3.0);
    let isl = ndarray::Array2::from_elem((180, 200), 0.5f32);
    let pc1 = ndarray::Array2::from_shape_fn((180, 200), |(r, _)| r as f32 / 90.0 - 1.0);
    for (name, values) in [("phase", &phase), ("isl", &isl), ("pc1", &pc1)] {
        common::write_tif(&dir.join(format!("{name}.tif")), &grid, values);
    }
    let stack = dir.join("stack.tif");
    fringewatch::stack::build_stack(
        &fringewatch::stack::StackJob {
            phase: dir.join("phase.tif"),
            isl: dir.join("isl.tif"),
            pc1: dir.join("pc1.tif"),
            out: stack.clone(),
            uint16: false,
        },
        &Silent,
    )
    .unwrap();
    stack
}

#[test]
fn detect_cli_runs_and_refuses_bad_input_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stack = small_stack(d);
    let model = d.join("compact.onnx");
    fringewatch::model::write_random_model(
        &model,
        fringewatch::model::yolov3::Architecture::Compact,
        160,
        1,
    )
    .unwrap();
    let out = d.join("out.gpkg");
    let s = |p: &Path| p.to_str().unwrap().to_string();

    // A real run: a very low confidence makes the untrained model report boxes.
    let ok = fringewatch()
        .args([
            "detect",
            "--stack",
            &s(&stack),
            "--model",
            &s(&model),
            "--out",
            &s(&out),
            "--confidence",
            "0.001",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let layer = read_layer(&out, Some("detections")).unwrap();
    assert!(!layer.features.is_empty());
    let (minx, miny, maxx, maxy) = common::utm32n_grid(200, 180, 15.0).bounds();
    for f in &layer.features {
        let (x0, y0, x1, y1) = f.envelope.unwrap();
        assert!(x0 >= minx - 1e-6 && y0 >= miny - 1e-6 && x1 <= maxx + 1e-6 && y1 <= maxy + 1e-6);
        assert!(f.attribute("score").and_then(|v| v.as_f64()).unwrap() >= 0.001);
    }
    let other = d.join("other.gpkg");
    // Not an ONNX file.
    let junk = d.join("junk.onnx");
    std::fs::write(&junk, b"this is not a model").unwrap();
    expect_failure(
        &[
            "detect",
            "--stack",
            &s(&stack),
            "--model",
            &s(&junk),
            "--out",
            &s(&other),
        ],
        "not an ONNX model",
        &other,
    );
    // ONNX without the fringewatch metadata.
    let (mut proto, _) = fringewatch::model::onnx::read_model(&model).unwrap();
    proto.metadata_props.clear();
    let bare = d.join("bare.onnx");
    fringewatch::model::onnx::write_onnx(&proto, &bare).unwrap();
    expect_failure(
        &[
            "detect",
            "--stack",
            &s(&stack),
            "--model",
            &s(&bare),
            "--out",
            &s(&other),
        ],
        "without the 'fringewatch' metadata",
        &other,
    );
    // A model whose input has another channel count than the stack.
    let (mut proto, _) = fringewatch::model::onnx::read_model(&model).unwrap();
    if let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
        proto.graph.as_mut().unwrap().input[0]
            .r#type
            .as_mut()
            .unwrap()
            .value
            .as_mut()
    {
        t.shape.as_mut().unwrap().dim[1].value =
            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(4));
    }
    let four = d.join("four.onnx");
    fringewatch::model::onnx::write_onnx(&proto, &four).unwrap();
    expect_failure(
        &[
            "detect",
            "--stack",
            &s(&stack),
            "--model",
            &s(&four),
            "--out",
            &s(&other),
        ],
        "three channels",
        &other,
    );
    // A stack with two bands.
    let two = d.join("two.tif");
    let grid = common::utm32n_grid(200, 180, 15.0);
    let mut w = fringewatch::raster::io::GeoTiffWriter::create(
        &two,
        &grid,
        &[fringewatch::raster::io::Encoding::Float32; 2],
        &["phase", "isl"],
    )
    .unwrap();
    w.write_rows(1, 0, ndarray::Array2::<f32>::zeros((180, 200)).view())
        .unwrap();
    w.write_rows(2, 0, ndarray::Array2::<f32>::zeros((180, 200)).view())
        .unwrap();
    w.finish().unwrap();
    expect_failure(
        &[
            "detect",
            "--stack",
            &s(&two),
            "--model",
            &s(&model),
            "--out",
            &s(&other),
        ],
        "2 band(s)",
        &other,
    );
    // An output in a missing directory.
    let missing = d.join("no/such/dir/out.gpkg");
    expect_failure(
        &[
            "detect",
            "--stack",
            &s(&stack),
            "--model",
            &s(&model),
            "--out",
            &s(&missing),
        ],
        "does not exist",
        &missing,
    );
    // The existing layer is refused without --overwrite, and the file is unchanged.
    let before = std::fs::read(&out).unwrap();
    let o = fringewatch()
        .args([
            "detect",
            "--stack",
            &s(&stack),
            "--model",
            &s(&model),
            "--out",
            &s(&out),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert!(std::fs::read(&out).unwrap() == before);
}

#[test]
fn evaluate_cli_scores_detections_against_truth() {
    let dir = tempfile::tempdir().unwrap();
    let grid = common::utm32n_grid(320, 320, 15.0);
    let truth_path = dir.path().join("truth.gpkg");
    let truth_spec = LayerSpec {
        name: "truth".into(),
        crs: grid.crs.wkt.clone(),
        fields: vec![FieldSpec::new("class", FieldKind::Text)],
    };
    let boxes = [("CF", 0.0), ("CF", 600.0), ("CS", 1200.0), ("AR", 1800.0)];
    let truth: Vec<PolygonFeature> = boxes
        .iter()
        .map(|(c, dx)| {
            let x = 600_000.0 + dx;
            PolygonFeature::rectangle(
                x,
                4_897_000.0,
                x + 300.0,
                4_897_300.0,
                vec![Value::Text((*c).into())],
            )
        })
        .collect();
    write_layer(
        &truth_path,
        &truth_spec,
        &truth,
        &WriteOptions::default(),
        &Silent,
    )
    .unwrap();
    // Detections: every truth box found (one CF slightly shifted, IoU ≈ 0.82), plus one false
    // alarm of low score and one detection of the wrong class.
    let pred_path = dir.path().join("pred.gpkg");
    let pred_spec = LayerSpec {
        name: "detections".into(),
        crs: grid.crs.wkt.clone(),
        fields: vec![
            FieldSpec::new("class", FieldKind::Text),
            FieldSpec::new("score", FieldKind::Real),
        ],
    };
    let mut preds: Vec<PolygonFeature> = boxes
        .iter()
        .enumerate()
        .map(|(i, (c, dx))| {
            let x = 600_000.0 + dx + if i == 1 { 30.0 } else { 0.0 };
            PolygonFeature::rectangle(
                x,
                4_897_000.0,
                x + 300.0,
                4_897_300.0,
                vec![Value::Text((*c).into()), Value::Real(0.9 - 0.1 * i as f64)],
            )
        })
        .collect();
    preds.push(PolygonFeature::rectangle(
        603_000.0,
        4_890_000.0,
        603_300.0,
        4_890_300.0,
        vec![Value::Text("CF".into()), Value::Real(0.3)],
    ));
    preds.push(PolygonFeature::rectangle(
        600_000.0,
        4_897_000.0,
        600_300.0,
        4_897_300.0,
        vec![Value::Text("FS".into()), Value::Real(0.55)],
    ));
    write_layer(
        &pred_path,
        &pred_spec,
        &preds,
        &WriteOptions::default(),
        &Silent,
    )
    .unwrap();
    let json = dir.path().join("eval.json");
    let plot = dir.path().join("pr.png");
    let out = fringewatch()
        .args([
            "evaluate",
            "--pred",
            &format!("{}:detections", pred_path.display()),
            "--truth",
            &format!("{}:truth", truth_path.display()),
        ])
        .args([
            "--confidence",
            "0.5",
            "--json",
            json.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // AP: CF, CS, AR all found before any false alarm of their class → 1; FS has no truth.
    assert_eq!(e["map_voc"].as_f64().unwrap(), 1.0, "{stdout}");
    assert_eq!(e["map_coco"].as_f64().unwrap(), 1.0);
    // At 0.5: 4 TP, the FS false alarm (0.55) counts, the CF one (0.3) does not.
    assert_eq!(
        (e["tp"].as_u64(), e["fp"].as_u64(), e["fn"].as_u64()),
        (Some(4), Some(1), Some(0))
    );
    let cf = &e["classes"][1];
    assert_eq!(
        (
            cf["class"].as_str(),
            cf["n_truth"].as_u64(),
            cf["n_predictions"].as_u64()
        ),
        (Some("CF"), Some(2), Some(3))
    );
    assert!(stdout.contains("(VOC all-point)") && stdout.contains("(COCO 101-point)"));
    assert!(
        stdout.contains("| FS | 0.000 | 0.000 | 0 | 1 | 0 |"),
        "{stdout}"
    );
    let png = gdal::Dataset::open(&plot).unwrap();
    assert_eq!(png.raster_size(), (640, 480)); // room for the title, ticks and axis names
                                               // `best` picks the threshold that maximises F1 and says so.
    let best = fringewatch()
        .args([
            "evaluate",
            "--pred",
            pred_path.to_str().unwrap(),
            "--truth",
            truth_path.to_str().unwrap(),
            "--confidence",
            "best",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&best.stdout);
    assert!(
        text.contains("chosen to maximise F1") && text.contains("F1 1.000"),
        "{text}"
    );
}

/// `evaluate --dont-care-below-rad`: truth boxes whose visible peak phase lies under the
/// threshold leave the scoring with the detection that fits one best (whatever its class), as
/// PASCAL VOC's "difficult" boxes; a truth layer without the field is refused.
#[test]
fn evaluate_cli_leaves_faint_truth_boxes_out_as_dont_care() {
    let dir = tempfile::tempdir().unwrap();
    let crs = common::utm32n_grid(320, 320, 15.0).crs.wkt;
    let square = |dx: f64, values: Vec<Value>| {
        let x = 600_000.0 + dx;
        PolygonFeature::rectangle(x, 4_897_000.0, x + 300.0, 4_897_300.0, values)
    };
    let write = |name: &str, fields: Vec<FieldSpec>, features: &[PolygonFeature]| {
        let path = dir.path().join(format!("{name}.gpkg"));
        let spec = LayerSpec {
            name: name.into(),
            crs: crs.clone(),
            fields,
        };
        write_layer(&path, &spec, features, &WriteOptions::default(), &Silent).unwrap();
        path.display().to_string()
    };
    let text = |c: &str| Value::Text(c.into());
    // Two earthflows: a faint one (0.5 rad) and a visible one (2.5 rad).
    let truth = write(
        "truth",
        vec![
            FieldSpec::new("class", FieldKind::Text),
            FieldSpec::new("visible_peak_rad", FieldKind::Real),
        ],
        &[
            square(0.0, vec![text("CF"), Value::Real(0.5)]),
            square(600.0, vec![text("CF"), Value::Real(2.5)]),
        ],
    );
    let unmarked = write(
        "unmarked",
        vec![FieldSpec::new("class", FieldKind::Text)],
        &[square(0.0, vec![text("CF")])],
    );
    // On the faint one, called CS (0.9); on the visible one (0.8); on nothing (0.7).
    let detections = write(
        "detections",
        vec![
            FieldSpec::new("class", FieldKind::Text),
            FieldSpec::new("score", FieldKind::Real),
        ],
        &[
            square(0.0, vec![text("CS"), Value::Real(0.9)]),
            square(600.0, vec![text("CF"), Value::Real(0.8)]),
            square(3000.0, vec![text("CF"), Value::Real(0.7)]),
        ],
    );
    let score = |truth: &str, extra: &[&str]| {
        let json = dir.path().join("eval.json");
        let out = fringewatch()
            .args(["evaluate", "--pred", &detections, "--truth", truth])
            .args(["--confidence", "0.5", "--json", json.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let e: Option<serde_json::Value> = out
            .status
            .success()
            .then(|| serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap());
        (e, stderr)
    };
    let counts = |e: &serde_json::Value| {
        let cf = &e["classes"][1];
        (
            e["tp"].as_u64().unwrap(),
            e["fp"].as_u64().unwrap(),
            e["fn"].as_u64().unwrap(),
            cf["n_truth"].as_u64().unwrap(),
            e["classes"][2]["n_predictions"].as_u64().unwrap(),
        )
    };
    // As labelled: CF's curve (1/2, 1), (1/2, 1/2) → AP 0.5; the CS box is a false alarm.
    let (all, err) = score(&truth, &[]);
    let all = all.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(all["map_voc"].as_f64().unwrap(), 0.5);
    assert_eq!(counts(&all), (1, 2, 1, 2, 1));
    // Under 1 rad as don't-care: the faint box and the CS detection on it leave; AP 1.
    let (faint_out, err) = score(&truth, &["--dont-care-below-rad", "1"]);
    let faint_out = faint_out.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(faint_out["map_voc"].as_f64().unwrap(), 1.0);
    assert_eq!(counts(&faint_out), (1, 1, 0, 1, 0));
    // Under 3 rad both are don't-care: nothing left to find, the alarm on nothing stays false.
    let (both_out, err) = score(&truth, &["--dont-care-below-rad", "3"]);
    let both_out = both_out.unwrap_or_else(|| panic!("{err}"));
    assert_eq!(counts(&both_out), (0, 1, 0, 0, 0));
    let (refused, err) = score(&unmarked, &["--dont-care-below-rad", "1"]);
    assert!(
        refused.is_none() && err.contains("visible_peak_rad"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// The rings and scores of a detection layer, to compare two runs box for box.
fn layer_boxes(gpkg: &Path, layer: &str) -> Vec<String> {
    read_layer(gpkg, Some(layer))
        .unwrap()
        .features
        .iter()
        .map(|f| format!("{:?} {:?}", f.rings, f.attribute("score")))
        .collect()
}

/// A simulated 320 px scene (default chain, seed `seed`) written in `dir`, and an untrained
/// compact model (`compact.onnx`): many boxes at a low confidence, to compare runs box for box.
fn scene_and_random_model(
    dir: &Path,
    seed: u64,
) -> (fringewatch::simulate::Scene, PathBuf, PathBuf) {
    use fringewatch::simulate::output::write_scene;
    use fringewatch::simulate::{simulate_scene, SimulationSettings};
    let settings = SimulationSettings {
        size: 320,
        ..SimulationSettings::default()
    };
    let scene = simulate_scene(&settings, "scene_0000", seed, None, &Silent).unwrap();
    let scene_dir = write_scene(&scene, dir, 0).unwrap();
    let model = dir.join("compact.onnx");
    fringewatch::model::write_random_model(
        &model,
        fringewatch::model::yolov3::Architecture::Compact,
        160,
        2,
    )
    .unwrap();
    (scene, scene_dir, model)
}

#[test]
fn run_cli_goes_from_raw_layers_to_a_geopackage_layer() {
    let dir = tempfile::tempdir().unwrap();
    let (scene, scene_dir, model) = scene_and_random_model(dir.path(), 21);
    let out = dir.path().join("out").join("detections.gpkg");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let p = |name: &str| scene_dir.join(name).display().to_string();
    let heading = scene.description.heading_deg.to_string();
    let status = fringewatch()
        .args([
            "run",
            "--phase",
            &p("phase.tif"),
            "--coherence",
            &p("coherence.tif"),
            "--dem",
            &p("dem.tif"),
        ])
        .args([
            "--incidence",
            &p("incidence.tif"),
            "--heading",
            &heading,
            "--model",
            model.to_str().unwrap(),
        ])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--layer",
            "run1",
            "--confidence",
            "0.001",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let layer = read_layer(&out, Some("run1")).unwrap();
    assert!(!layer.features.is_empty());
    // The acquisition facts of the simulated phase reach the features.
    let f = &layer.features[0];
    let d = &scene.description;
    assert_eq!(
        f.attribute("primary_date").and_then(|v| v.as_text()),
        Some(d.primary_date.to_string())
    );
    assert_eq!(
        f.attribute("orbit").and_then(|v| v.as_text()).as_deref(),
        Some(d.orbit.code())
    );
    assert_eq!(
        f.attribute("temporal_baseline_days")
            .and_then(|v| v.as_f64()),
        Some(f64::from(d.temporal_baseline_days))
    );
    // Only the GeoPackage is left in the output directory (no layer is written).
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("detections.gpkg")]);

    // Without --heading the heading the phase records is used: the same boxes as run1.
    let run = |layer: &str, phase: &str, heading: Option<&str>, more: &[&std::ffi::OsStr]| {
        let mut command = fringewatch();
        command.args([
            "run",
            "--phase",
            phase,
            "--coherence",
            &p("coherence.tif"),
            "--dem",
            &p("dem.tif"),
            "--incidence",
            &p("incidence.tif"),
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--layer",
            layer,
            "--confidence",
            "0.001",
        ]);
        if let Some(h) = heading {
            command.arg(format!("--heading={h}"));
        }
        command.args(more).output().unwrap()
    };
    let boxes = |layer: &str| layer_boxes(&out, layer);
    let from_data = run("run2", &p("phase.tif"), None, &[]);
    let stderr = String::from_utf8_lossy(&from_data.stderr);
    assert!(from_data.status.success(), "{stderr}");
    assert!(stderr.contains("from the phase's metadata"), "{stderr}");
    assert_eq!(boxes("run2"), boxes("run1"));
    // Without --keep-layers detection reads the stack's bands straight from the phase, ISL and
    // PC1 (run1); with it, the stack is written and read back: the same boxes.
    let kept_dir = dir.path().join("kept");
    let kept = run(
        "kept",
        &p("phase.tif"),
        Some(&heading),
        &["--keep-layers".as_ref(), kept_dir.as_os_str()],
    );
    assert!(
        kept.status.success(),
        "{}",
        String::from_utf8_lossy(&kept.stderr)
    );
    assert_eq!(boxes("kept"), boxes("run1"));
    let mut files: Vec<_> = std::fs::read_dir(&kept_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["isl.tif", "pc1.json", "pc1.tif", "stack.tif"]);
    // The library's end-to-end detection without kept layers writes nothing in its layer
    // folder (ISL and PC1 are made as detection reads them), and finds what detection on the
    // written stack finds.
    {
        use fringewatch::detect::job::Detector;
        use fringewatch::detect::DetectSettings;
        use fringewatch::engine::Backend;
        use fringewatch::layers::RawLayers;
        use fringewatch::sensitivity::layer::Incidence;
        let detector = Detector::open(Some(&model), Backend::Cpu, 1).unwrap();
        let raw = RawLayers {
            phase: scene_dir.join("phase.tif"),
            coherence: scene_dir.join("coherence.tif"),
            dem: scene_dir.join("dem.tif"),
            incidence: Incidence::Raster(scene_dir.join("incidence.tif")),
            heading_deg: scene.description.heading_deg,
        };
        let settings = DetectSettings {
            confidence: 0.001,
            ..detector.default_settings()
        };
        let streamed_dir = dir.path().join("streamed");
        let streamed = detector
            .detect_raw(&raw, &streamed_dir, false, &settings, &Silent)
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(&streamed_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(files.is_empty(), "{files:?}");
        let stack_dir = dir.path().join("with_stack");
        let from_file = detector
            .detect_raw(&raw, &stack_dir, true, &settings, &Silent)
            .unwrap();
        assert!(stack_dir.join("stack.tif").exists());
        assert!(!streamed.detections.is_empty());
        assert_eq!(
            format!("{:?}", streamed.detections),
            format!("{:?}", from_file.detections)
        );
        assert_eq!(streamed.scene, from_file.scene);
        // The bands made on demand are the written stack's, bit for bit, whatever rows are
        // asked for: detection's overlapping rows of tiles, across ISL's 256-row and PC1's
        // 64-row strips, then rows above those already read, and the last rows.
        let on_demand =
            fringewatch::layers::layers_on_demand(&raw, &dir.path().join("scratch"), &Silent)
                .unwrap();
        let written = fringewatch::stack::StackSource::File(
            fringewatch::raster::io::RasterFile::open(stack_dir.join("stack.tif")).unwrap(),
        );
        for (row0, rows) in [
            (0, 160),
            (128, 160),
            (250, 70),
            (30, 201),
            (63, 2),
            (319, 1),
        ] {
            let made = on_demand.read_rows(row0, rows).unwrap();
            let read = written.read_rows(row0, rows).unwrap();
            for (band, (m, r)) in made.iter().zip(&read).enumerate() {
                assert_eq!(m.dim(), (rows, 320));
                let differing = m
                    .iter()
                    .zip(r.iter())
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
                assert_eq!(differing, 0, "band {band}, rows {row0} + {rows}");
            }
        }
        on_demand.finish().unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("scratch"))
                .unwrap()
                .count(),
            0
        );
    }
    // A heading on the other side of the orbit is used, with a warning naming both.
    let opposite = (scene.description.heading_deg + 180.0).to_string();
    let contradicted = run("run3", &p("phase.tif"), Some(&opposite), &[]);
    let stderr = String::from_utf8_lossy(&contradicted.stderr);
    assert!(contradicted.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("warning: the heading {opposite}° contradicts"))
            && stderr.contains(&format!("recorded heading {heading}°")),
        "{stderr}"
    );
    // A phase that records no heading, without --heading: refused, nothing written.
    // the same phase values and grid, written without any metadata
    let bare = dir.path().join("bare_phase.tif");
    {
        use fringewatch::raster::io::{Encoding, GeoTiffWriter, RasterFile};
        let phase = RasterFile::open(scene_dir.join("phase.tif")).unwrap();
        let values = phase.read_band(1).unwrap();
        let mut writer =
            GeoTiffWriter::create(&bare, phase.grid(), &[Encoding::Float32], &["phase"]).unwrap();
        writer.write_rows(1, 0, values.view()).unwrap();
        writer.finish().unwrap();
    }
    // Without metadata the interferogram is named after the phase file and dated from its
    // name (not "stack", the intermediate file's name).
    let dated = dir.path().join("20200101_20200113_phase.tif");
    std::fs::copy(&bare, &dated).unwrap();
    let named = run("run5", dated.to_str().unwrap(), Some(&heading), &[]);
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    let layer = read_layer(&out, Some("run5")).unwrap();
    let f = &layer.features[0];
    let text = |name: &str| f.attribute(name).and_then(|v| v.as_text());
    assert_eq!(
        text("interferogram").as_deref(),
        Some("20200101_20200113_phase")
    );
    assert_eq!(text("primary_date").as_deref(), Some("2020-01-01"));
    assert_eq!(text("secondary_date").as_deref(), Some("2020-01-13"));
    assert_eq!(text("orbit"), None);
    let refused = run("run4", bare.to_str().unwrap(), None, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: invalid parameter heading: the phase records no heading \
         (FRINGEWATCH_HEADING_DEG): give --heading"
    );
    let mut names: Vec<String> = gdal::Dataset::open(&out)
        .unwrap()
        .layers()
        .map(|l| gdal::vector::LayerAccess::name(&l))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["kept", "layer_styles", "run1", "run2", "run3", "run5"]
    );
}

/// A phase on 30 m pixels (the simulated scene multilooked 2 × 2, as a processor that looks
/// further writes it) is brought to the detector's 15 m grid before ISL, PC1 and detection, and
/// its detections come back in its own CRS: the same boxes as a run on the resampled phase that
/// `--keep-layers` keeps, nothing left beside the output, the acquisition facts of the user's
/// phase. A phase in longitude/latitude goes through the UTM zone of its centre and its boxes
/// come back in longitude/latitude, inside its bounds.
#[test]
fn a_phase_off_the_detectors_pixel_size_is_brought_to_15_m_and_its_boxes_come_back() {
    use fringewatch::raster::io::RasterFile;
    let dir = tempfile::tempdir().unwrap();
    let (scene, scene_dir, model) = scene_and_random_model(dir.path(), 23);
    let coarse_dir = dir.path().join("coarse");
    common::multilook_scene(&scene_dir, &coarse_dir, 2);
    let out = dir.path().join("out").join("detections.gpkg");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let run = |layer: &str, phase: &Path, more: &[&std::ffi::OsStr]| {
        let c = |name: &str| coarse_dir.join(name).display().to_string();
        let output = fringewatch()
            .args(["run", "--phase", phase.to_str().unwrap()])
            .args(["--coherence", &c("coherence.tif"), "--dem", &c("dem.tif")])
            .args(["--incidence", &c("incidence.tif"), "--model"])
            .args([model.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .args(["--layer", layer, "--confidence", "0.001"])
            .args(more)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        stderr
    };
    let kept = dir.path().join("kept");
    let stderr = run(
        "coarse",
        &coarse_dir.join("phase.tif"),
        &["--keep-layers".as_ref(), kept.as_os_str()],
    );
    assert!(
        stderr.contains("the phase's pixels are 30.0 m: it is resampled"),
        "{stderr}"
    );
    // the kept phase and stack are on 15 m pixels over the same ground, with the facts
    let resampled = RasterFile::open(kept.join("phase_15m.tif")).unwrap();
    assert_eq!(resampled.grid().geo_transform[1], 15.0);
    assert_eq!(
        (resampled.grid().width, resampled.grid().height),
        (320, 320)
    );
    assert!(resampled.metadata_items().contains(&(
        "FRINGEWATCH_PRIMARY_DATE".into(),
        scene.description.primary_date.to_string()
    )));
    let stack = RasterFile::open(kept.join("stack.tif")).unwrap();
    assert!(stack.grid().same_as(resampled.grid()));
    // the same boxes as detection on the kept 15 m phase, which needs no resampling
    let native = run("native", &kept.join("phase_15m.tif"), &["--quiet".as_ref()]);
    assert!(!native.contains("resampled"), "{native}");
    let boxes = |layer: &str| layer_boxes(&out, layer);
    assert!(!boxes("coarse").is_empty());
    assert_eq!(boxes("coarse"), boxes("native"));
    let layer = read_layer(&out, Some("coarse")).unwrap();
    assert_eq!(
        layer.features[0]
            .attribute("primary_date")
            .and_then(|v| v.as_text()),
        Some(scene.description.primary_date.to_string())
    );
    // without --keep-layers the scratch folder beside the output is gone, and so is one that a
    // killed run left (its process no longer runs)
    let dead = {
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    };
    let stale = out.with_file_name(format!(".detections.gpkg.partial-{dead}.grid"));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("phase.tif"), b"half").unwrap();
    run(
        "scratch",
        &coarse_dir.join("phase.tif"),
        &["--quiet".as_ref()],
    );
    assert_eq!(boxes("scratch"), boxes("coarse"));
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("detections.gpkg")]);

    // longitude/latitude: through UTM, back in degrees, inside the phase's bounds
    if !common::tool("gdalwarp") {
        assert!(std::env::var_os("CI").is_none(), "gdalwarp missing in CI");
        return;
    }
    let geographic = dir.path().join("phase_lonlat.tif");
    let status = Command::new("gdalwarp")
        .args([
            "-q",
            "-t_srs",
            "EPSG:4326",
            "-r",
            "near",
            "-tr",
            "0.0004",
            "0.0004",
        ])
        .arg(coarse_dir.join("phase.tif"))
        .arg(&geographic)
        .status()
        .unwrap();
    assert!(status.success());
    run("lonlat", &geographic, &["--quiet".as_ref()]);
    let layer = read_layer(&out, Some("lonlat")).unwrap();
    assert!(Crs::from_definition(&layer.crs_wkt).unwrap().geographic);
    let (x0, y0, x1, y1) = RasterFile::open(&geographic).unwrap().grid().bounds();
    assert!(!layer.features.is_empty());
    for f in &layer.features {
        let (a, b, c, d) = f.envelope.unwrap();
        // the UTM grid's corners reach a little past the rotated lon/lat bounds: 5 % slack
        let slack = 0.05 * (x1 - x0);
        assert!(
            a >= x0 - slack && b >= y0 - slack && c <= x1 + slack && d <= y1 + slack,
            "{:?} outside {:?}",
            f.envelope,
            (x0, y0, x1, y1)
        );
    }
}

/// A phase at the detector's 15 m stored south first (positive pixel height) is warped onto the
/// detector's north-up grid by its geotransform, not read as if north-up: `run` gives the boxes
/// of the same phase stored north-up (the same classes, places to a metre and scores to 1e-3).
#[test]
fn a_phase_stored_south_first_gives_the_boxes_of_the_north_up_phase() {
    use fringewatch::raster::io::{Encoding, GeoTiffWriter, RasterFile};
    use fringewatch::simulate::output::write_scene;
    use fringewatch::simulate::{simulate_scene, SimulationSettings};
    let dir = tempfile::tempdir().unwrap();
    let settings = SimulationSettings {
        size: 480,
        ..SimulationSettings::default()
    };
    let scene = simulate_scene(&settings, "scene_0000", 33, None, &Silent).unwrap();
    let scene_dir = write_scene(&scene, dir.path(), 0).unwrap();
    let phase = RasterFile::open(scene_dir.join("phase.tif")).unwrap();
    let mut south_first = phase.grid().clone();
    let gt = &mut south_first.geo_transform;
    gt[3] += gt[5] * south_first.height as f64;
    gt[5] = -gt[5];
    let flipped = dir.path().join("phase_south_first.tif");
    let mut writer =
        GeoTiffWriter::create(&flipped, &south_first, &[Encoding::Float32], &["phase"]).unwrap();
    for (key, value) in phase.metadata_items() {
        writer.set_metadata(&key, &value).unwrap();
    }
    let values = phase.read_band(1).unwrap();
    writer
        .write_rows(1, 0, values.slice(ndarray::s![..;-1, ..]))
        .unwrap();
    writer.finish().unwrap();
    let boxes = |phase: &Path, out: &str| -> Vec<String> {
        let out = dir.path().join(out);
        let o = fringewatch()
            .args(["--quiet", "run", "--phase"])
            .arg(phase)
            .arg("--coherence")
            .arg(scene_dir.join("coherence.tif"))
            .arg("--dem")
            .arg(scene_dir.join("dem.tif"))
            .arg("--incidence")
            .arg(scene_dir.join("incidence.tif"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut boxes: Vec<String> = read_layer(&out, Some("detections"))
            .unwrap()
            .features
            .iter()
            .map(|f| {
                let (x0, y0, x1, y1) = f.envelope.unwrap();
                format!(
                    "{:?} {x0:.0} {y0:.0} {x1:.0} {y1:.0} {:.3}",
                    f.attribute("class"),
                    f.attribute("score").and_then(|v| v.as_f64()).unwrap()
                )
            })
            .collect();
        boxes.sort();
        boxes
    };
    let given = boxes(&scene_dir.join("phase.tif"), "given.gpkg");
    assert!(!given.is_empty(), "no boxes to compare");
    assert_eq!(boxes(&flipped, "south_first.gpkg"), given);
}
