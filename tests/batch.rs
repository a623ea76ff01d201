//! `fringewatch batch` (issue: real interferogram products in): many simulated pairs into one
//! layer equal to separate runs, a `runs` table, resume after SIGKILL with no pair twice or
//! half, and a broken pair recorded as failed while the others land. The same on Dask: the
//! Python package installed with pip, a real `LocalCluster` of 2 worker processes, equal to
//! `batch`, and a worker killed during a task.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use fringewatch::vector::gpkg::read_layer;
use fringewatch::vector::{ReadFeature, Value};

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

/// The features of `layer` in `path`, each made a comparable row by `row`, sorted.
fn layer_rows(path: &Path, layer: &str, row: impl Fn(&ReadFeature) -> String) -> Vec<String> {
    let layer = read_layer(path, Some(layer)).unwrap();
    let mut rows: Vec<String> = layer.features.iter().map(row).collect();
    rows.sort();
    rows
}

fn text(f: &ReadFeature, k: &str) -> String {
    f.attribute(k).and_then(Value::as_text).unwrap_or_default()
}

/// Features of a layer as comparable rows: interferogram, class, score and box corners (all
/// digits: equal rows are bit-equal), sorted; the creation time is left out.
fn rows(path: &Path, layer: &str) -> Vec<String> {
    layer_rows(path, layer, |f| {
        let (x0, y0, x1, y1) = f.envelope.unwrap();
        format!(
            "{} {} {} {:?} {x0:?} {y0:?} {x1:?} {y1:?}",
            text(f, "interferogram"),
            text(f, "primary_date"),
            text(f, "class"),
            f.attribute("score")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN)
        )
    })
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

/// A pair whose phase is not a raster (the rest copied from `like`).
fn broken_pair(dir: &Path, like: &Path) -> PathBuf {
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for f in ["scene.json", "coherence.tif", "dem.tif", "incidence.tif"] {
        std::fs::copy(like.join(f), broken.join(f)).unwrap();
    }
    std::fs::write(broken.join("phase.tif"), b"not a GeoTIFF").unwrap();
    broken
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

    scenes.insert(3, broken_pair(dir.path(), &scenes[0]));

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

    // a second call does only what is not done: the broken pair again, nothing twice; and the
    // persistence layer over the batch's layer equals `persistence` over the separate runs
    let o = batch(&scenes, &out).arg("--persistence").output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("0 done") && stdout.contains("6 skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("of 6 interferograms"), "{stdout}");
    assert_eq!(rows(&out, "detections"), separate);
    assert_eq!(runs(&out).len(), 14);
    let reference = dir.path().join("persistence.gpkg");
    let mut persistence = fw();
    persistence.arg("persistence").arg("--out").arg(&reference);
    for k in 0..6 {
        persistence
            .arg("--detections")
            .arg(dir.path().join(format!("run{k}.gpkg")));
    }
    assert!(persistence.status().unwrap().success());
    let areas = area_rows(&out, "detections_persistence");
    assert!(
        areas.iter().any(|a| a.contains(" 2 6 ")),
        "no area seen twice: {areas:?}"
    );
    assert_eq!(areas, area_rows(&reference, "persistence"));
}

/// Persistent areas as comparable rows: class, votes, interferograms seen in and covering,
/// detections, box, sorted (interferograms without detections have no id in a layer of
/// their own, so ids are left out).
fn area_rows(path: &Path, layer: &str) -> Vec<String> {
    layer_rows(path, layer, |f| {
        let (x0, y0, x1, y1) = f.envelope.unwrap();
        let fields = [
            "class",
            "class_votes",
            "interferograms",
            "covering",
            "detections",
        ];
        let values: Vec<String> = fields.iter().map(|k| text(f, k)).collect();
        format!("{} {x0:.3} {y0:.3} {x1:.3} {y1:.3}", values.join(" "))
    })
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

/// The venv's Python with Dask, and a folder where the `fringewatch` package from `python/` was
/// installed with pip (its library and model inside it, as a user gets them); None outside CI
/// when the venv lacks Dask.
fn dask_python(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let python = common::venv_python()?;
    let has_dask = Command::new(&python)
        .args(["-c", "import dask.distributed"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_dask {
        assert!(
            std::env::var_os("CI").is_none(),
            "Dask missing from the CI venv: .ci/setup installs it"
        );
        eprintln!("SKIP: the venv has no dask.distributed (run .ci/setup)");
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let site = dir.join("site");
    // the library of this build (the README's test command builds it first), not a new cargo run
    let o = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args(["--no-build-isolation", "--target"])
        .arg(&site)
        .arg(root.join("python"))
        .env("FRINGEWATCH_NO_CARGO", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pip install ./python: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(site.join("fringewatch/lib/libfringewatch.so").is_file());
    assert!(site
        .join("fringewatch/models/fringewatch-default.onnx")
        .is_file());
    Some((python, site))
}

/// `python -m fringewatch.distributed` (or `script`) with the pip-installed package only: no
/// FRINGEWATCH_LIBRARY, so the library inside the package is the one loaded.
fn dask(
    python: &Path,
    site: &Path,
    script: Option<&Path>,
    products: &[PathBuf],
    out: &Path,
) -> Command {
    let mut c = Command::new(python);
    match script {
        Some(script) => c.arg(script),
        None => c.args(["-m", "fringewatch.distributed", "--workers", "2"]),
    };
    c.args(["--backend", "cpu", "--confidence", "0.05", "--out"])
        .arg(out)
        .arg("--products")
        .args(products)
        .env("PYTHONPATH", site)
        .env_remove("FRINGEWATCH_LIBRARY");
    c
}

/// Dask's `LocalCluster` with 2 worker processes gives `batch`'s layer bit for bit, records a
/// broken pair as failed, resumes, and lands every pair once when a worker is killed (SIGKILL)
/// during a task.
#[test]
fn dask_equals_batch_and_survives_a_killed_worker() {
    let dir = tempfile::tempdir().unwrap();
    let Some((python, site)) = dask_python(dir.path()) else {
        return;
    };
    let scenes = simulate(&dir.path().join("scenes"), 6, 4300);
    let reference = dir.path().join("batch.gpkg");
    assert!(batch(&scenes, &reference).status().unwrap().success());
    let expected = rows(&reference, "detections");
    assert!(
        expected.len() >= 6,
        "too few detections: {}",
        expected.len()
    );

    let mut products = scenes.clone();
    products.insert(2, broken_pair(dir.path(), &scenes[0]));
    let out = dir.path().join("dask.gpkg");
    let o = dask(&python, &site, None, &products, &out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("7 pairs: 6 done") && stdout.contains("1 failed"),
        "{stdout}"
    );
    assert_eq!(rows(&out, "detections"), expected);
    let table = runs(&out);
    assert_eq!(table.len(), 7);
    let failed: Vec<_> = table.iter().filter(|r| r.1 == "failed").collect();
    assert!(
        failed.len() == 1 && failed[0].0.ends_with("broken") && failed[0].2.contains("phase.tif"),
        "{failed:?}"
    );

    // resume: only the broken pair again, nothing twice; the persistence layer as batch's
    let o = dask(&python, &site, None, &products, &out)
        .arg("--persistence")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("0 done") && stdout.contains("6 skipped"),
        "{stdout}"
    );
    assert!(batch(&scenes, &reference)
        .arg("--persistence")
        .status()
        .unwrap()
        .success());
    assert_eq!(
        area_rows(&out, "detections_persistence"),
        area_rows(&reference, "detections_persistence")
    );
    assert_eq!(rows(&out, "detections"), expected);
    assert_eq!(runs(&out).len(), 14);

    // test-time augmentation on the workers is batch's, and other than one pass's
    let augmented_reference = dir.path().join("batch_mirrors.gpkg");
    assert!(batch(&scenes[..2], &augmented_reference)
        .args(["--augment", "mirrors"])
        .status()
        .unwrap()
        .success());
    let augmented = dir.path().join("dask_mirrors.gpkg");
    let o = dask(&python, &site, None, &scenes[..2], &augmented)
        .args(["--augment", "mirrors"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mirrored = rows(&augmented, "detections");
    assert_eq!(mirrored, rows(&augmented_reference, "detections"));
    assert!(
        !mirrored.is_empty() && mirrored.iter().any(|m| !expected.contains(m)),
        "four mirrors gave one pass's detections"
    );

    // a worker killed during a task: its pair is run again elsewhere, every pair lands once
    let killed = dir.path().join("killed.gpkg");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/dask_kill_worker.py");
    let o = dask(&python, &site, Some(&script), &scenes, &killed)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("killed worker"), "{stderr}");
    println!(
        "{}",
        stderr
            .lines()
            .filter(|l| l.contains("killed"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(rows(&killed, "detections"), expected);
    let table = runs(&killed);
    assert_eq!(table.len(), 6, "{table:?}");
    assert!(table.iter().all(|r| r.1 == "done"), "{table:?}");

    // An error that is not the product's fault is retried by Dask, then recorded as failed:
    // here the workers' TMPDIR does not exist, so the library cannot make its scratch folder
    // (FW_IO_ERROR; Python and Dask fall back to /tmp). A product's own error would be recorded
    // at once, with the library's message alone; a retried one carries the exception's class.
    let io = dir.path().join("io.gpkg");
    let missing = dir.path().join("no_such_tmp");
    let o = dask(&python, &site, None, &scenes[..1], &io)
        .env("TMPDIR", &missing)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("1 failed"), "{stdout}");
    let table = runs(&io);
    assert_eq!(table.len(), 1, "{table:?}");
    assert_eq!(table[0].1, "failed");
    assert!(
        table[0].2.starts_with("FringewatchError: ")
            && table[0].2.contains(&missing.display().to_string()),
        "{table:?}"
    );
    let layers = fringewatch::vector::gpkg::layer_names(&io).unwrap();
    assert!(!layers.iter().any(|l| l == "detections"), "{layers:?}");
}
