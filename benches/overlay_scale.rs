//! Overlay at IFFI scale (a benchmark, not a test): 100,000 detections on 500,000 inventory
//! polygons, generated here in ETRS89 / UTM 33N over 300 km × 300 km (Italy's regional IFFI
//! densities: up to ~5 landslides/km² where mapped). Runs `fringewatch overlay` as a child
//! process under GNU time and prints wall time, peak RSS, R-tree queries and exact polygon tests
//! against the 5·10¹⁰ pairs an all-pairs comparison would make.
//!
//! Run: `cargo bench --bench overlay_scale [-- DETECTIONS POLYGONS]`.

use std::process::Command;
use std::time::Instant;

use fringewatch::progress::Silent;
use fringewatch::vector::gpkg::{write_layer, WriteOptions};
use fringewatch::vector::{FieldKind, FieldSpec, LayerSpec, PolygonFeature, Value};
use rand::{RngExt, SeedableRng};

const CRS: &str = "EPSG:25833";
const SIDE_M: f64 = 300_000.0;
const X0: f64 = 300_000.0;
const Y0: f64 = 4_500_000.0;

/// An irregular 12-vertex landslide outline around (cx, cy), elongated along `angle`.
fn outline(rng: &mut rand::rngs::StdRng, cx: f64, cy: f64) -> Vec<(f64, f64)> {
    let length = rng.random_range(60.0..600.0);
    let width = length * rng.random_range(0.25..0.7);
    let angle: f64 = rng.random_range(0.0..std::f64::consts::PI);
    let mut ring: Vec<(f64, f64)> = (0..12)
        .map(|k| {
            let t = k as f64 / 12.0 * std::f64::consts::TAU;
            let wobble = rng.random_range(0.8..1.2);
            let (u, v) = (
                0.5 * length * t.cos() * wobble,
                0.5 * width * t.sin() * wobble,
            );
            (
                cx + u * angle.cos() - v * angle.sin(),
                cy + u * angle.sin() + v * angle.cos(),
            )
        })
        .collect();
    ring.push(ring[0]);
    ring
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let detections = args.first().copied().unwrap_or(100_000);
    let polygons = args.get(1).copied().unwrap_or(500_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);

    let start = Instant::now();
    let mut centres = Vec::with_capacity(polygons);
    let inventory: Vec<PolygonFeature> = (0..polygons)
        .map(|i| {
            let (cx, cy) = (
                X0 + rng.random_range(0.0..SIDE_M),
                Y0 + rng.random_range(0.0..SIDE_M),
            );
            centres.push((cx, cy));
            PolygonFeature {
                ring: outline(&mut rng, cx, cy),
                values: vec![
                    Value::Text(format!("IT{i:08}")),
                    Value::Text(
                        [
                            "Colamento lento",
                            "Scivolamento rotazionale/traslativo",
                            "Complesso",
                        ][i % 3]
                            .into(),
                    ),
                ],
            }
        })
        .collect();
    let inventory_path = dir.path().join("iffi.gpkg");
    write_layer(
        &inventory_path,
        &LayerSpec {
            name: "iffi".into(),
            crs: CRS.into(),
            fields: vec![
                FieldSpec::new("id_frana", FieldKind::Text),
                FieldSpec::new("nome_tipo", FieldKind::Text),
            ],
        },
        &inventory,
        &WriteOptions::default(),
        &Silent,
    )
    .expect("write inventory");
    drop(inventory);
    // Half of the detections on mapped landslides, half anywhere.
    let boxes: Vec<PolygonFeature> = (0..detections)
        .map(|i| {
            let (cx, cy) = if i % 2 == 0 {
                centres[rng.random_range(0..centres.len())]
            } else {
                (
                    X0 + rng.random_range(0.0..SIDE_M),
                    Y0 + rng.random_range(0.0..SIDE_M),
                )
            };
            let (w, h) = (
                rng.random_range(150.0..900.0),
                rng.random_range(150.0..900.0),
            );
            PolygonFeature::rectangle(
                cx - w / 2.0,
                cy - h / 2.0,
                cx + w / 2.0,
                cy + h / 2.0,
                vec![
                    Value::Text(["AR", "CF", "CS", "FS"][i % 4].into()),
                    Value::Real(0.5),
                ],
            )
        })
        .collect();
    let detections_path = dir.path().join("detections.gpkg");
    write_layer(
        &detections_path,
        &LayerSpec {
            name: "detections".into(),
            crs: CRS.into(),
            fields: vec![
                FieldSpec::new("class", FieldKind::Text),
                FieldSpec::new("score", FieldKind::Real),
            ],
        },
        &boxes,
        &WriteOptions::default(),
        &Silent,
    )
    .expect("write detections");
    println!(
        "generated {detections} detections and {polygons} inventory polygons in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let summary = dir.path().join("summary.json");
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_fringewatch"))
        .args(["--quiet", "overlay", "--detections"])
        .arg(format!("{}:detections", detections_path.display()))
        .arg("--inventory")
        .arg(format!("{}:iffi", inventory_path.display()))
        .arg("--out")
        .arg(format!("{}:overlay", dir.path().join("out.gpkg").display()))
        .arg("--summary")
        .arg(&summary)
        .output()
        .expect("GNU time and fringewatch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    println!(
        "fringewatch overlay: wall {} (h:mm:ss), peak RSS {} MB",
        field("Elapsed (wall clock) time (h:mm:ss or m:ss):"),
        field("Maximum resident set size (kbytes):")
            .parse::<f64>()
            .map(|kb| format!("{:.0}", kb / 1024.0))
            .unwrap_or_default()
    );
    let queries = s["index_queries"].as_u64().unwrap_or(0);
    let exact = s["exact_tests"].as_u64().unwrap_or(0);
    let pairs = detections as f64 * polygons as f64;
    println!(
        "R-tree queries {queries} (one per detection), exact polygon tests {exact} = {:.2e} of the {pairs:.1e} all-pairs comparisons",
        exact as f64 / pairs
    );
}
