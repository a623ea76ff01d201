//! `fringewatch batch` (issue: real interferogram products in): many simulated pairs into one
//! layer equal to separate runs, a `runs` table, resume after SIGKILL with no pair twice or
//! half, and a broken pair recorded as failed while the others land.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fringewatch::vector::gpkg::read_layer;
use fringewatch::vector::Value;

fn fw() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fringewatch"));
    c.arg("--quiet");
    c
}

fn simulate(dir: &Path, scenes: usize, seed: u64) -> Vec<PathBuf> {
    let status = fw()
        .args(["simulate", "--size", "320", "--scenes", &scenes.to_string()])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    let mut scenes: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("scene.json").is_file())
        .collect();
    scenes.sort();
    scenes
}

/// Features of a layer as comparable rows: interferogram, class, score and box corners
/// (rounded), sorted; the creation time is left out.
fn rows(path: &Path, layer: &str) -> Vec<String> {
    let layer = read_layer(path, Some(layer)).unwrap();
    let mut rows: Vec<String> = layer
        .features
        .iter()
        .map(|f| {
            let text = |k: &str| f.attribute(k).and_then(Value::as_text).unwrap_or_default();
            let (x0, y0, x1, y1) = f.envelope.unwrap();
            format!(
                "{} {} {} {:.4} {x0:.1} {y0:.1} {x1:.1} {y1:.1}",
                text("interferogram"),
                text("primary_date"),
                text("class"),
                f.attribute("score")
                    .and_then(Value::as_f64)
                    .unwrap_or(f64::NAN)
            )
        })
        .collect();
    rows.sort();
    rows
}

/// status per product of the `runs` table, in order of the rows.
fn runs(path: &Path) -> Vec<(String, String, String)> {
    read_layer(path, Some("runs"))
        .unwrap()
        .features
        .iter()
        .map(|f| {
            let text = |k: &str| f.attribute(k).and_then(Value::as_text).unwrap_or_default();
            (text("product"), text("status"), text("message"))
        })
        .collect()
}

fn batch(products: &[PathBuf], out: &Path) -> Command {
    let mut c = fw();
    c.args(["batch", "--backend", "cpu", "--confidence", "0.05", "--out"])
        .arg(out)
        .arg("--products")
        .args(products);
    c
}

#[test]
fn batch_equals_separate_runs_records_failures_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut scenes = simulate(&dir.path().join("scenes"), 6, 4100);
    // separate runs, one GeoPackage each
    let mut separate = Vec::new();
    for (k, scene) in scenes.iter().enumerate() {
        let out = dir.path().join(format!("run{k}.gpkg"));
        let status = fw()
            .args([
                "run",
                "--backend",
                "cpu",
                "--confidence",
                "0.05",
                "--product",
            ])
            .arg(scene)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        separate.extend(rows(&out, "detections"));
    }
    separate.sort();
    assert!(
        separate.len() >= 6,
        "too few detections to compare: {}",
        separate.len()
    );

    // a broken pair: its phase is not a raster
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for f in ["scene.json", "coherence.tif", "dem.tif", "incidence.tif"] {
        std::fs::copy(scenes[0].join(f), broken.join(f)).unwrap();
    }
    std::fs::write(broken.join("phase.tif"), b"not a GeoTIFF").unwrap();
    scenes.insert(3, broken.clone());

    let out = dir.path().join("batch.gpkg");
    let o = batch(&scenes, &out).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("7 pairs: 6 done") && stdout.contains("1 failed"),
        "{stdout}"
    );
    assert_eq!(rows(&out, "detections"), separate);
    let table = runs(&out);
    assert_eq!(table.len(), 7);
    let failed: Vec<_> = table.iter().filter(|r| r.1 == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].0.ends_with("broken") && failed[0].2.contains("phase.tif"),
        "{failed:?}"
    );

    // a second call does only what is not done: the broken pair again, nothing twice
    let o = batch(&scenes, &out).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("0 done") && stdout.contains("6 skipped"),
        "{stdout}"
    );
    assert_eq!(rows(&out, "detections"), separate);
    assert_eq!(runs(&out).len(), 14);
}

/// A batch killed with SIGKILL part-way and run again gives the layer of an uninterrupted
/// batch: every pair once, none half.
#[test]
fn a_batch_killed_and_resumed_has_every_pair_once() {
    let dir = tempfile::tempdir().unwrap();
    let scenes = simulate(&dir.path().join("scenes"), 6, 4200);
    let reference = dir.path().join("reference.gpkg");
    assert!(batch(&scenes, &reference).status().unwrap().success());
    let expected = rows(&reference, "detections");

    let out = dir.path().join("killed.gpkg");
    let mut child = batch(&scenes, &out).spawn().unwrap();
    // kill once two pairs are recorded (or at the end, if it finishes first)
    let started = std::time::Instant::now();
    loop {
        let done =
            out.exists() && read_layer(&out, Some("runs")).map_or(0, |l| l.features.len()) >= 2;
        if done || started.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let partial = runs(&out).len();
    println!("{partial} of 6 pairs recorded when the batch was killed");
    assert!(
        (2..6).contains(&partial),
        "{partial} pairs recorded before the kill"
    );
    let o = batch(&scenes, &out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(rows(&out, "detections"), expected);
    let table = runs(&out);
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    for (product, status, _) in &table {
        if status == "done" {
            *done.entry(product.clone()).or_default() += 1;
        }
    }
    assert_eq!(done.len(), 6);
    assert!(done.values().all(|&n| n == 1), "{done:?}");
}
