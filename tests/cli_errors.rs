//! Bad input through the CLI: one-line error naming the file and the problem, non-zero exit,
//! and no output (nor temporary) file left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{utm32n_grid, write_tif};
use gdal::DriverManager;
use ndarray::Array2;

struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let s = Scene {
            dir: tempfile::tempdir().unwrap(),
        };
        let grid = utm32n_grid(60, 50, 15.0);
        write_tif(
            &s.p("dem.tif"),
            &grid,
            &Array2::from_shape_fn((50, 60), |(r, c)| (100 + r + 2 * c) as f32),
        );
        write_tif(&s.p("coh.tif"), &grid, &Array2::from_elem((50, 60), 0.7));
        s
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// Run `fringewatch isl` and check the failure contract; returns stderr.
fn isl_fails(scene: &Scene, dem: &Path, coherence: &Path, out: &Path, expect: &[&str]) -> String {
    let before = scene.files();
    let output = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args([
            "--quiet",
            "isl",
            "--incidence-deg",
            "39",
            "--heading",
            "-10.5",
            "--dem",
        ])
        .arg(dem)
        .arg("--coherence")
        .arg(coherence)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert!(!output.status.success(), "must fail: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one-line error: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for e in expect {
        assert!(stderr.contains(e), "'{stderr}' should mention '{e}'");
    }
    assert!(!out.exists(), "no output left behind");
    assert_eq!(scene.files(), before, "no temporary file left behind");
    stderr
}

#[test]
fn missing_file() {
    let s = Scene::new();
    isl_fails(
        &s,
        &s.p("nope.tif"),
        &s.p("coh.tif"),
        &s.p("isl.tif"),
        &["nope.tif", "file not found"],
    );
}

#[test]
fn not_a_raster() {
    let s = Scene::new();
    std::fs::write(s.p("notes.txt"), "this is not a raster\n").unwrap();
    isl_fails(
        &s,
        &s.p("notes.txt"),
        &s.p("coh.tif"),
        &s.p("isl.tif"),
        &["notes.txt", "not a raster"],
    );
}

#[test]
fn dem_that_does_not_overlap() {
    let s = Scene::new();
    let mut far = utm32n_grid(60, 50, 15.0);
    far.geo_transform[0] += 100_000.0;
    write_tif(&s.p("far.tif"), &far, &Array2::from_elem((50, 60), 300.0));
    isl_fails(
        &s,
        &s.p("far.tif"),
        &s.p("coh.tif"),
        &s.p("isl.tif"),
        &["far.tif", "coh.tif", "do not overlap"],
    );
}

#[test]
fn coherence_outside_unit_interval() {
    let s = Scene::new();
    write_tif(
        &s.p("coh255.tif"),
        &utm32n_grid(60, 50, 15.0),
        &Array2::from_elem((50, 60), 200.0),
    );
    isl_fails(
        &s,
        &s.p("dem.tif"),
        &s.p("coh255.tif"),
        &s.p("isl.tif"),
        &["coh255.tif", "[0, 1]"],
    );
}

#[test]
fn all_nodata_dem() {
    let s = Scene::new();
    write_tif(
        &s.p("empty.tif"),
        &utm32n_grid(60, 50, 15.0),
        &Array2::from_elem((50, 60), f32::NAN),
    );
    isl_fails(
        &s,
        &s.p("empty.tif"),
        &s.p("coh.tif"),
        &s.p("isl.tif"),
        &["empty.tif", "all nodata"],
    );
}

#[test]
fn raster_without_crs() {
    let s = Scene::new();
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type::<f32, _>(s.p("nocrs.tif"), 60, 50, 1)
        .unwrap();
    ds.set_geo_transform(&[600000.0, 15.0, 0.0, 4900000.0, 0.0, -15.0])
        .unwrap();
    ds.rasterband(1).unwrap().fill(100.0, None).unwrap();
    drop(ds);
    isl_fails(
        &s,
        &s.p("nocrs.tif"),
        &s.p("coh.tif"),
        &s.p("isl.tif"),
        &["nocrs.tif", "no coordinate reference system"],
    );
}

#[test]
fn output_directory_missing() {
    let s = Scene::new();
    let out = s.p("missing_dir/isl.tif");
    isl_fails(
        &s,
        &s.p("dem.tif"),
        &s.p("coh.tif"),
        &out,
        &["missing_dir", "does not exist"],
    );
}

#[test]
fn stack_refuses_unwrapped_phase_and_pc1_fails_cleanly() {
    let s = Scene::new();
    write_tif(
        &s.p("unwrapped.tif"),
        &utm32n_grid(60, 50, 15.0),
        &Array2::from_elem((50, 60), 25.0),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args(["--quiet", "stack", "--phase"])
        .arg(s.p("unwrapped.tif"))
        .arg("--isl")
        .arg(s.p("coh.tif"))
        .arg("--pc1")
        .arg(s.p("dem.tif"))
        .arg("--out")
        .arg(s.p("stack.tif"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unwrapped.tif") && err.contains("wrapped"),
        "{err}"
    );
    assert!(!s.p("stack.tif").exists());
    // and a successful pc1 run for contrast: output and sidecar appear
    let ok = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args(["--quiet", "pc1", "--dem"])
        .arg(s.p("dem.tif"))
        .arg("--out")
        .arg(s.p("pc1.tif"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(s.p("pc1.tif").exists() && s.p("pc1.json").exists());
}
