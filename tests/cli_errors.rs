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

/// `fringewatch isl` of `dem` on `coherence`'s grid into `out` (incidence 39°, heading −10.5°).
fn isl_command(dem: &Path, coherence: &Path, out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fringewatch"));
    command
        .args([
            "--quiet",
            "isl",
            "--incidence-deg",
            "39",
            "--heading",
            "-10.5",
        ])
        .arg("--dem")
        .arg(dem)
        .arg("--coherence")
        .arg(coherence)
        .arg("--out")
        .arg(out);
    command
}

/// Run `fringewatch isl` and check the failure contract; returns stderr.
fn isl_fails(scene: &Scene, dem: &Path, coherence: &Path, out: &Path, expect: &[&str]) -> String {
    let before = scene.files();
    let output = isl_command(dem, coherence, out).output().unwrap();
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

/// A GeoTIFF cut short (an interrupted download): one line naming the file and GDAL's reason,
/// none of GDAL's own "ERROR 1: …" lines (issue: bad input, messages).
#[test]
fn truncated_geotiff() {
    let s = Scene::new();
    let n = 700;
    write_tif(
        &s.p("big.tif"),
        &utm32n_grid(n, n, 15.0),
        &Array2::from_shape_fn((n, n), |(r, c)| {
            ((r * 31 + c * 17) % 101) as f32 + 0.37 * c as f32
        }),
    );
    let bytes = std::fs::read(s.p("big.tif")).unwrap();
    std::fs::write(s.p("cut.tif"), &bytes[..bytes.len() * 6 / 10]).unwrap();
    std::fs::remove_file(s.p("big.tif")).unwrap();
    write_tif(
        &s.p("coh_big.tif"),
        &utm32n_grid(n, n, 15.0),
        &Array2::from_elem((n, n), 0.7),
    );
    let err = isl_fails(
        &s,
        &s.p("cut.tif"),
        &s.p("coh_big.tif"),
        &s.p("isl.tif"),
        &["cut.tif", "GDAL: "],
    );
    assert!(
        !err.contains("ERROR 1") && !err.contains("CPL error"),
        "{err}"
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

/// A 60 × 50 Float32 GeoTIFF of 100s written with GDAL as given: any geotransform, and a CRS
/// only when `epsg` names one (the library's writer would refuse such files).
fn filled_gtiff(path: &Path, geo_transform: [f64; 6], epsg: Option<u32>) {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type::<f32, _>(path, 60, 50, 1)
        .unwrap();
    ds.set_geo_transform(&geo_transform).unwrap();
    if let Some(code) = epsg {
        ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(code).unwrap())
            .unwrap();
    }
    ds.rasterband(1).unwrap().fill(100.0, None).unwrap();
}

#[test]
fn raster_without_crs() {
    let s = Scene::new();
    filled_gtiff(
        &s.p("nocrs.tif"),
        [600000.0, 15.0, 0.0, 4900000.0, 0.0, -15.0],
        None,
    );
    isl_fails(
        &s,
        &s.p("nocrs.tif"),
        &s.p("coh.tif"),
        &s.p("isl.tif"),
        &["nocrs.tif", "no coordinate reference system"],
    );
}

/// A grid whose cells are not stored north-up is refused in one line, naming the way out, where
/// the outputs would be made on it (the coherence is ISL's grid): rows read as north first would
/// give mirrored aspect and ISL without a word. A DEM stored south first is warped onto the
/// coherence's grid by its geotransform like any other, and gives the ISL of the north-up DEM.
/// A rotated grid is refused when opened.
#[test]
fn a_grid_that_is_not_north_up_is_refused_where_outputs_are_made_on_it() {
    let s = Scene::new();
    let (rows, cols) = (50, 60);
    let dem = Array2::from_shape_fn((rows, cols), |(r, c)| (100 + r + 2 * c) as f32);
    let coherence = Array2::from_elem((rows, cols), 0.7f32);
    let north_up = utm32n_grid(cols, rows, 15.0);
    let south_first = fringewatch::raster::Grid {
        geo_transform: [
            600000.0,
            15.0,
            0.0,
            4900000.0 - 15.0 * rows as f64,
            0.0,
            15.0,
        ],
        ..north_up.clone()
    };
    let east_first = fringewatch::raster::Grid {
        geo_transform: [
            600000.0 + 15.0 * cols as f64,
            -15.0,
            0.0,
            4900000.0,
            0.0,
            -15.0,
        ],
        ..north_up.clone()
    };
    let flip_rows = |a: &Array2<f32>| a.slice(ndarray::s![..;-1, ..]).to_owned();
    let flip_cols = |a: &Array2<f32>| a.slice(ndarray::s![.., ..;-1]).to_owned();
    write_tif(&s.p("coh_south.tif"), &south_first, &flip_rows(&coherence));
    write_tif(&s.p("coh_east.tif"), &east_first, &flip_cols(&coherence));
    for (name, expect) in [
        ("coh_south.tif", "stored south first (pixel size 15 × 15)"),
        ("coh_east.tif", "stored east first (pixel size -15 × -15)"),
    ] {
        isl_fails(
            &s,
            &s.p("dem.tif"),
            &s.p(name),
            &s.p("isl.tif"),
            &[name, expect, "gdalwarp"],
        );
    }
    filled_gtiff(
        &s.p("rotated.tif"),
        [600000.0, 15.0, 2.0, 4900000.0, 2.0, -15.0],
        Some(32632),
    );
    isl_fails(
        &s,
        &s.p("rotated.tif"),
        &s.p("coh.tif"),
        &s.p("isl.tif"),
        &["rotated.tif", "rotated or sheared", "gdalwarp"],
    );
    // the DEM stored south first, warped onto the coherence's north-up grid
    write_tif(&s.p("dem_south.tif"), &south_first, &flip_rows(&dem));
    let isl_of = |dem: &str, out: &str| {
        let o = isl_command(&s.p(dem), &s.p("coh.tif"), &s.p(out))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        common::read(&s.p(out))
    };
    let (given, flipped) = (
        isl_of("dem.tif", "isl_a.tif"),
        isl_of("dem_south.tif", "isl_b.tif"),
    );
    let mut compared = 0;
    for (a, b) in given.iter().zip(flipped.iter()) {
        if a.is_finite() || b.is_finite() {
            assert!(
                (a - b).abs() <= 1e-5,
                "ISL {a} with the north-up DEM, {b} south first"
            );
            compared += 1;
        }
    }
    assert!(compared > rows * cols / 2, "{compared} cells compared");
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

/// Run the CLI with `args` (paths relative to the scene folder after "@") and check the failure
/// contract: non-zero exit, one line starting "error: " naming each of `expect`, nothing written.
fn cli_fails(scene: &Scene, args: &[&str], expect: &[&str]) {
    let before = scene.files();
    let args: Vec<std::ffi::OsString> = args
        .iter()
        .map(|a| match a.strip_prefix('@') {
            Some(name) => scene.p(name).into_os_string(),
            None => a.into(),
        })
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .arg("--quiet")
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert!(!output.status.success(), "{args:?} must fail: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?}: one-line error: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    for e in expect {
        assert!(
            stderr.contains(e),
            "{args:?}: '{stderr}' should mention '{e}'"
        );
    }
    assert_eq!(scene.files(), before, "{args:?}: nothing written");
}

/// Numbers outside their meaning are refused before anything is read or written (issue: bad
/// input): IoU in (0, 1], detection confidence in (0, 1), evaluation confidence in [0, 1],
/// batch ≥ 1, incidence in degrees; negative numbers reach these checks instead of clap's
/// "unexpected argument '-3'".
#[test]
fn numbers_outside_their_range_are_refused() {
    let s = Scene::new();
    write_tif(
        &s.p("incidence_rad.tif"),
        &utm32n_grid(60, 50, 15.0),
        &Array2::from_elem((50, 60), 0.68),
    );
    let detect = [
        "detect",
        "--stack",
        "@dem.tif",
        "--out",
        "@d.gpkg",
        "--backend",
        "cpu",
    ];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        detect
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };
    cli_fails(&s, &with(&["--confidence", "0"]), &["confidence", "(0, 1)"]);
    cli_fails(
        &s,
        &with(&["--confidence", "-0.5"]),
        &["confidence", "-0.5"],
    );
    cli_fails(&s, &with(&["--confidence", "1"]), &["confidence"]);
    cli_fails(&s, &with(&["--iou", "0"]), &["iou", "(0, 1]"]);
    cli_fails(&s, &with(&["--iou", "1.5"]), &["iou"]);
    cli_fails(&s, &with(&["--batch", "0"]), &["batch", "1 or more"]);
    let evaluate = |extra: &[&'static str]| -> Vec<&'static str> {
        ["evaluate", "--pred", "@p.gpkg", "--truth", "@t.gpkg"]
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };
    cli_fails(&s, &evaluate(&["--iou", "0"]), &["iou", "(0, 1]"]);
    cli_fails(
        &s,
        &evaluate(&["--confidence", "2"]),
        &["confidence", "[0, 1]"],
    );
    cli_fails(
        &s,
        &evaluate(&["--dont-care-below-rad", "-1"]),
        &["dont_care_below_rad", "0 rad or more"],
    );
    cli_fails(
        &s,
        &[
            "persistence",
            "--detections",
            "@a.gpkg",
            "--detections",
            "@b.gpkg",
            "--out",
            "@p.gpkg",
            "--iou",
            "0",
        ],
        &["iou", "every two boxes"],
    );
    let isl = |extra: &[&'static str]| -> Vec<&'static str> {
        [
            "isl",
            "--dem",
            "@dem.tif",
            "--coherence",
            "@coh.tif",
            "--heading",
            "-10.5",
            "--out",
            "@isl.tif",
        ]
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
    };
    cli_fails(&s, &isl(&["--incidence-deg", "-30"]), &["incidence", "-30"]);
    cli_fails(
        &s,
        &isl(&["--incidence-deg", "nan"]),
        &["incidence", "NaN is not an angle"],
    );
    cli_fails(
        &s,
        &isl(&["--incidence-deg", "0.68"]),
        &["looks like radians", "57.2958"],
    );
    cli_fails(
        &s,
        &isl(&["--incidence", "@incidence_rad.tif"]),
        &["incidence_rad.tif", "looks like radians"],
    );
    cli_fails(
        &s,
        &["model", "init", "--tile", "0", "--out", "@m.onnx"],
        &["tile", "multiple of 32"],
    );
    cli_fails(
        &s,
        &["model", "init", "--tile", "100", "--out", "@m.onnx"],
        &["tile", "100 px"],
    );
    // an unknown EPSG code, in words rather than GDAL's "returned error: '6'"
    std::fs::write(s.p("epsg.json"), r#"{"epsg": 99999, "size": 64}"#).unwrap();
    cli_fails(
        &s,
        &["simulate", "--settings", "@epsg.json", "--out", "@sims"],
        &["EPSG:99999", "not a coordinate reference system PROJ knows"],
    );
    // commands that would have left an empty folder or worked before failing on an input
    cli_fails(
        &s,
        &["simulate", "--size", "0", "--scenes", "1", "--out", "@sims"],
        &["size"],
    );
    cli_fails(
        &s,
        &["demo", "--data", "@missing", "--out", "@demo"],
        &["missing", "not a folder"],
    );
    // neither incidence: clap's usage error names both ways to give it
    let out = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args(["isl", "--heading", "-10.5", "--dem"])
        .arg(s.p("dem.tif"))
        .arg("--coherence")
        .arg(s.p("coh.tif"))
        .arg("--out")
        .arg(s.p("isl.tif"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--incidence ") && err.contains("--incidence-deg"),
        "{err}"
    );
    cli_fails(
        &s,
        &[
            "run",
            "--phase",
            "@coh.tif",
            "--coherence",
            "@coh.tif",
            "--dem",
            "@dem.tif",
            "--out",
            "@r.gpkg",
        ],
        &["--incidence", "--incidence-deg"],
    );
    assert!(!s.p("isl.tif").exists());
}

/// A GeoPackage `name` in the scene folder with one polygon layer `layer` in UTM 32N.
fn polygon_layer(scene: &Scene, name: &str, layer: &str) {
    let geojson = scene.p(&format!("{layer}.geojson"));
    std::fs::write(
        &geojson,
        r#"{"type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32632"}},
            "features": [{"type": "Feature", "properties": {"class": "CF", "score": 0.8},
              "geometry": {"type": "Polygon", "coordinates":
                [[[600000, 4900000], [600300, 4900000], [600300, 4899700], [600000, 4899700],
                  [600000, 4900000]]]}}]}"#,
    )
    .unwrap();
    let status = Command::new("ogr2ogr")
        .args(["-f", "GPKG", "-nln", layer])
        .arg(scene.p(name))
        .arg(&geojson)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(geojson).unwrap();
}

/// An output that is one of the inputs is refused before anything is read or written, whatever
/// the spelling of its path; a GeoPackage output must be named .gpkg (issue: bad input).
#[test]
fn an_output_that_is_an_input_or_misnamed_is_refused() {
    let s = Scene::new();
    std::fs::create_dir(s.p("sub")).unwrap();
    polygon_layer(&s, "det.gpkg", "detections");
    polygon_layer(&s, "det2.gpkg", "detections");
    polygon_layer(&s, "inventory.gpkg", "iffi");
    let sum = |path: &str| std::fs::read(s.p(path)).unwrap();
    let (dem, det) = (sum("dem.tif"), sum("det.gpkg"));
    // rasters: the output named as an input, also through another spelling of its path
    cli_fails(
        &s,
        &["pc1", "--dem", "@dem.tif", "--out", "@sub/../dem.tif"],
        &["dem.tif", "is also an input"],
    );
    cli_fails(
        &s,
        &[
            "isl",
            "--dem",
            "@dem.tif",
            "--coherence",
            "@coh.tif",
            "--incidence-deg",
            "39",
            "--heading",
            "-10.5",
            "--out",
            "@coh.tif",
        ],
        &["coh.tif", "is also an input"],
    );
    cli_fails(
        &s,
        &[
            "stack", "--phase", "@coh.tif", "--isl", "@coh.tif", "--pc1", "@dem.tif", "--out",
            "@dem.tif",
        ],
        &["dem.tif", "is also an input"],
    );
    // layers: the output layer named as an input layer, even with --overwrite
    cli_fails(
        &s,
        &[
            "overlay",
            "--detections",
            "@det.gpkg",
            "--inventory",
            "@inventory.gpkg",
            "--out",
            "@det.gpkg:DETECTIONS",
            "--overwrite",
        ],
        &["det.gpkg", "layer 'DETECTIONS' is also an input"],
    );
    cli_fails(
        &s,
        &[
            "persistence",
            "--detections",
            "@det.gpkg",
            "--detections",
            "@det2.gpkg",
            "--out",
            "@det2.gpkg:detections",
            "--overwrite",
        ],
        &["det2.gpkg", "is also an input"],
    );
    // a folder where nothing can be created (/proc, for root too): one line, GDAL's reason
    cli_fails(
        &s,
        &[
            "overlay",
            "--detections",
            "@det.gpkg",
            "--inventory",
            "@inventory.gpkg",
            "--out",
            "/proc/overlay.gpkg",
        ],
        &[
            "/proc/overlay.gpkg",
            "cannot create a GeoPackage in this folder",
            "GDAL: ",
        ],
    );
    // a GeoPackage under another format's name
    cli_fails(
        &s,
        &[
            "overlay",
            "--detections",
            "@det.gpkg",
            "--inventory",
            "@inventory.gpkg",
            "--out",
            "@overlay.geojson",
        ],
        &["overlay.geojson", ".gpkg"],
    );
    cli_fails(
        &s,
        &[
            "detect",
            "--stack",
            "@dem.tif",
            "--out",
            "@boxes.tif",
            "--backend",
            "cpu",
        ],
        &["boxes.tif", "'.tif' is not a GeoPackage extension"],
    );
    assert_eq!(sum("dem.tif"), dem, "the input is untouched");
    assert_eq!(sum("det.gpkg"), det, "the input layer's file is untouched");
}

/// Progress that, at "committing", marks that the GeoPackage is being written and then waits to
/// be killed.
struct HangAtCommit(PathBuf);

impl fringewatch::progress::Progress for HangAtCommit {
    fn report(&self, _fraction: f64, message: &str) -> bool {
        if message == "committing" {
            std::fs::write(&self.0, b"in write").unwrap();
            std::thread::sleep(std::time::Duration::from_secs(120));
        }
        true
    }
}

fn write_one_box(path: &Path, progress: &dyn fringewatch::progress::Progress) {
    use fringewatch::vector::gpkg::{write_layer, WriteOptions};
    use fringewatch::vector::{FieldKind, FieldSpec, LayerSpec, PolygonFeature, Value};
    let spec = LayerSpec {
        name: "detections".into(),
        crs: "EPSG:32632".into(),
        fields: vec![FieldSpec::new("score", FieldKind::Real)],
    };
    let boxes = [PolygonFeature::rectangle(
        600_000.0,
        4_899_700.0,
        600_300.0,
        4_900_000.0,
        vec![Value::Real(0.8)],
    )];
    write_layer(path, &spec, &boxes, &WriteOptions::default(), progress).unwrap();
}

/// kill -9 while a new GeoPackage is being written leaves nothing under the output's name (it is
/// made under a hidden partial name and linked into place when complete), and the rerun clears
/// the dead writer's partial file (issue: bad input, leftovers). The writer is this test binary
/// run again, stopped inside the write.
#[test]
fn a_geopackage_killed_while_created_leaves_no_file_and_the_rerun_clears_up() {
    if let Some(out) = std::env::var_os("FW_TEST_HANG_WRITING") {
        let out = PathBuf::from(out);
        write_one_box(&out, &HangAtCommit(out.with_extension("marker")));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("det.gpkg");
    let marker = out.with_extension("marker");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_geopackage_killed_while_created_leaves_no_file_and_the_rerun_clears_up",
            "--nocapture",
        ])
        .env("FW_TEST_HANG_WRITING", &out)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the writer never reached the commit"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".marker"))
            .collect();
        v.sort();
        v
    };
    let left = names(dir.path());
    assert!(!out.exists(), "no file under the output's name: {left:?}");
    assert!(
        left.iter().all(|n| n.starts_with(".det.gpkg.partial-")),
        "only the dead writer's hidden partial file: {left:?}"
    );
    assert!(!left.is_empty());
    // the rerun writes the file and removes what the killed writer left
    write_one_box(&out, &fringewatch::progress::Silent);
    assert_eq!(names(dir.path()), vec!["det.gpkg".to_string()]);
    let read = fringewatch::vector::gpkg::read_layer(&out, None).unwrap();
    assert_eq!(read.features.len(), 1);
}

/// Ctrl-C (SIGINT) or SIGTERM at any moment of `pc1` ends it through the cancel path: exit
/// 130/143, one line, and neither the output, its sidecar nor a partial file is left; a signal
/// that comes after the end finds the output complete (issue: bad input, interruptions).
#[test]
fn a_signal_at_any_moment_leaves_nothing_behind() {
    let s = Scene::new();
    let n = 1400;
    write_tif(
        &s.p("big_dem.tif"),
        &utm32n_grid(n, n, 15.0),
        &Array2::from_shape_fn((n, n), |(r, c)| {
            let (x, y) = (c as f32 / 90.0, r as f32 / 70.0);
            400.0 + 150.0 * x.sin() * y.cos() + 2.0 * r as f32 + 40.0 * (x * 0.37 + y).sin()
        }),
    );
    write_tif(
        &s.p("big_coh.tif"),
        &utm32n_grid(n, n, 15.0),
        &Array2::from_elem((n, n), 0.6),
    );
    write_tif(
        &s.p("big_phase.tif"),
        &utm32n_grid(n, n, 15.0),
        &Array2::from_shape_fn((n, n), |(r, c)| ((r * 3 + c) as f32 * 0.05).sin() * 3.0),
    );
    let before = s.files();
    let pc1 = ["pc1", "--dem", "@big_dem.tif", "--out", "@pc1.tif"];
    // `run` makes its layers in a hidden `.fringewatch-layers-*` folder beside the output
    let run = [
        "run",
        "--phase",
        "@big_phase.tif",
        "--coherence",
        "@big_coh.tif",
        "--dem",
        "@big_dem.tif",
        "--incidence-deg",
        "39",
        "--heading",
        "-10.5",
        "--backend",
        "cpu",
        "--out",
        "@run.gpkg",
    ];
    for (command, delay_ms, signal, code) in [
        (&pc1[..], 150, libc::SIGINT, 130),
        (&pc1[..], 400, libc::SIGINT, 130),
        (&pc1[..], 900, libc::SIGTERM, 143),
        (&pc1[..], 1600, libc::SIGINT, 130),
        (&pc1[..], 2600, libc::SIGINT, 130),
        (&run[..], 500, libc::SIGINT, 130),
        (&run[..], 2000, libc::SIGTERM, 143),
    ] {
        let args: Vec<std::ffi::OsString> = command
            .iter()
            .map(|a| match a.strip_prefix('@') {
                Some(name) => s.p(name).into_os_string(),
                None => a.into(),
            })
            .collect();
        let child = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
            .arg("--quiet")
            .args(&args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SAFETY: sends a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.status.success() {
            // it ended before the signal: the output is complete
            let made: &[&str] = if command[0] == "pc1" {
                &["pc1.tif", "pc1.json"]
            } else {
                &["run.gpkg"]
            };
            for file in made {
                assert!(s.p(file).exists(), "{file}");
                std::fs::remove_file(s.p(file)).unwrap();
            }
            eprintln!("{} {delay_ms} ms: finished before the signal", command[0]);
        } else {
            assert_eq!(out.status.code(), Some(code), "{delay_ms} ms: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.starts_with("error: interrupted"), "{stderr}");
            eprintln!("{} {delay_ms} ms: {stderr}", command[0]);
        }
        assert_eq!(
            s.files(),
            before,
            "{} {delay_ms} ms: nothing left behind",
            command[0]
        );
    }
}

/// A 3-band stack in the scene folder, with `names` as band descriptions and `bands` as values.
fn three_band_stack(scene: &Scene, file: &str, names: [&str; 3], bands: [Array2<f32>; 3]) {
    use fringewatch::raster::io::{Encoding, GeoTiffWriter};
    let grid = utm32n_grid(60, 50, 15.0);
    let mut w =
        GeoTiffWriter::create(&scene.p(file), &grid, &[Encoding::Float32; 3], &names).unwrap();
    for (i, b) in bands.iter().enumerate() {
        w.write_rows(i + 1, 0, b.view()).unwrap();
    }
    w.finish().unwrap();
}

/// `detect` refuses a stack that is not phase (rad), ISL (0..1), PC1 in that order, by the band
/// names it records and by its value ranges (issue: bad input, wrong silent success).
#[test]
fn detect_refuses_a_stack_that_is_not_phase_isl_pc1() {
    let s = Scene::new();
    let field = |f: fn(usize, usize) -> f32| Array2::from_shape_fn((50, 60), |(r, c)| f(r, c));
    let phase = || field(|r, c| ((r * 7 + c * 3) as f32 * 0.1).sin() * 3.0);
    let isl = || field(|r, c| ((r + c) % 10) as f32 / 10.0);
    let pc1 = || field(|r, c| (r as f32 - c as f32) / 20.0);
    let degrees = || field(|r, c| ((r * 7 + c * 3) as f32 * 0.1).sin() * 170.0);
    let dem = || field(|r, c| 400.0 + (r + 2 * c) as f32);
    three_band_stack(
        &s,
        "degrees.tif",
        ["phase", "isl", "pc1"],
        [degrees(), isl(), pc1()],
    );
    three_band_stack(
        &s,
        "dem_stack.tif",
        ["phase", "isl", "pc1"],
        [dem(), isl(), pc1()],
    );
    three_band_stack(
        &s,
        "reordered.tif",
        ["isl", "phase", "pc1"],
        [isl(), phase(), pc1()],
    );
    three_band_stack(&s, "unnamed_isl.tif", ["", "", ""], [phase(), pc1(), isl()]);
    three_band_stack(
        &s,
        "good.tif",
        ["phase", "isl", "pc1"],
        [phase(), isl(), pc1()],
    );
    let detect = |stack: &'static str| -> Vec<&'static str> {
        vec![
            "detect",
            "--stack",
            stack,
            "--out",
            "@d.gpkg",
            "--backend",
            "cpu",
        ]
    };
    cli_fails(
        &s,
        &detect("@degrees.tif"),
        &["degrees.tif", "band 1", "radians"],
    );
    cli_fails(
        &s,
        &detect("@dem_stack.tif"),
        &["dem_stack.tif", "band 1", "not a wrapped phase"],
    );
    cli_fails(
        &s,
        &detect("@reordered.tif"),
        &["reordered.tif", "isl, phase, pc1", "in that order"],
    );
    cli_fails(
        &s,
        &detect("@unnamed_isl.tif"),
        &["unnamed_isl.tif", "band 2", "not ISL"],
    );
    // the same checks pass a real stack; the GPU probe of `--backend auto` on a machine without
    // a display prints nothing of the Vulkan loader's (XDG_RUNTIME_DIR)
    let ok = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args(["--quiet", "detect", "--stack"])
        .arg(s.p("good.tif"))
        .arg("--out")
        .arg(s.p("d.gpkg"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}

/// A flat DEM: ISL is written but all 0 and warned about; fitting the PCA is refused, naming the
/// variables that do not vary (issue: bad input, wrong silent success).
#[test]
fn a_flat_dem_is_warned_about_and_refused_for_pca_fitting() {
    let s = Scene::new();
    write_tif(
        &s.p("flat.tif"),
        &utm32n_grid(60, 50, 15.0),
        &Array2::from_elem((50, 60), 250.0),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args([
            "--quiet",
            "isl",
            "--incidence-deg",
            "39",
            "--heading",
            "-10.5",
            "--dem",
        ])
        .arg(s.p("flat.tif"))
        .arg("--coherence")
        .arg(s.p("coh.tif"))
        .arg("--out")
        .arg(s.p("isl.tif"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: ISL is 0 on 100.0% of the valid pixels"),
        "{stderr}"
    );
    std::fs::remove_file(s.p("isl.tif")).unwrap();
    cli_fails(
        &s,
        &[
            "pc1",
            "--fit-pca",
            "--dem",
            "@flat.tif",
            "--out",
            "@pc1.tif",
        ],
        &["slope", "do not vary", "preprint's loadings"],
    );
}

/// A VRT declaring 10⁶ × 10⁶ pixels (of a 60 × 50 GeoTIFF): every command estimates what it
/// needs before it starts and refuses with the figures — memory for whole-raster work (PC1, the
/// baseline, reading a band to render it), disk for strip-wise outputs (ISL, the stack) — and a
/// `--max-memory` below a job's need refuses even a small raster (issue: bad input, crashes).
#[test]
fn a_huge_raster_is_refused_with_the_figures_before_any_work() {
    let s = Scene::new();
    let huge = |name: &str, source: &str| {
        std::fs::write(
            s.p(name),
            format!(
                r#"<VRTDataset rasterXSize="1000000" rasterYSize="1000000">
  <SRS>EPSG:32632</SRS>
  <GeoTransform>600000, 15, 0, 4900000, 0, -15</GeoTransform>
  <VRTRasterBand dataType="Float32" band="1">
    <SimpleSource>
      <SourceFilename relativeToVRT="1">{source}</SourceFilename><SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="60" ySize="50"/>
      <DstRect xOff="0" yOff="0" xSize="60" ySize="50"/>
    </SimpleSource>
  </VRTRasterBand>
</VRTDataset>"#
            ),
        )
        .unwrap();
    };
    huge("huge_dem.vrt", "dem.tif");
    huge("huge_coh.vrt", "coh.tif");
    cli_fails(
        &s,
        &["pc1", "--dem", "@huge_dem.vrt", "--out", "@pc1.tif"],
        &[
            "huge_dem.vrt",
            "1000000×1000000 cells",
            "PC1 would need about",
            "GiB",
            "is available",
        ],
    );
    cli_fails(
        &s,
        &[
            "isl",
            "--dem",
            "@huge_dem.vrt",
            "--coherence",
            "@huge_coh.vrt",
            "--incidence-deg",
            "39",
            "--heading",
            "-10.5",
            "--out",
            "@isl.tif",
        ],
        &["isl.tif", "of disk", "is free"],
    );
    cli_fails(
        &s,
        &[
            "stack",
            "--phase",
            "@huge_coh.vrt",
            "--isl",
            "@huge_coh.vrt",
            "--pc1",
            "@huge_dem.vrt",
            "--out",
            "@stack.tif",
        ],
        &["stack.tif", "of disk", "is free"],
    );
    cli_fails(
        &s,
        &["baseline", "--stack", "@huge_coh.vrt", "--out", "@b.gpkg"],
        &["huge_coh.vrt", "the baseline would need about"],
    );
    cli_fails(
        &s,
        &["render", "--raster", "@huge_dem.vrt", "--out", "@dem.png"],
        &["huge_dem.vrt", "reading it would need about"],
    );
    cli_fails(
        &s,
        &[
            "run",
            "--phase",
            "@huge_coh.vrt",
            "--coherence",
            "@huge_coh.vrt",
            "--dem",
            "@huge_dem.vrt",
            "--incidence-deg",
            "39",
            "--heading",
            "-10.5",
            "--out",
            "@r.gpkg",
            "--backend",
            "cpu",
        ],
        &[
            "huge_coh.vrt",
            "1000000×1000000 cells",
            "ISL and PC1 would need",
        ],
    );
    cli_fails(
        &s,
        &[
            "--max-memory",
            "0.00001",
            "pc1",
            "--dem",
            "@dem.tif",
            "--out",
            "@pc1.tif",
        ],
        &["dem.tif", "PC1 would need about", "is available"],
    );
    // a budget just below the need: both sides in MiB, so that the message shows which is larger
    cli_fails(
        &s,
        &[
            "--max-memory",
            "0.0001",
            "pc1",
            "--dem",
            "@dem.tif",
            "--out",
            "@pc1.tif",
        ],
        &["PC1 would need about", " MiB (", "0 MiB is available"],
    );
}

/// A dataset build that fails on its second scene leaves no folder and no partial files: it is
/// built in a hidden folder and renamed into place only when complete (issue: bad input,
/// leftovers).
#[test]
fn a_failing_dataset_leaves_nothing() {
    let s = Scene::new();
    let sim = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args([
            "--quiet", "simulate", "--size", "192", "--scenes", "1", "--seed", "4", "--out",
        ])
        .arg(s.p("scenes"))
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    std::fs::create_dir(s.p("scenes/scene_empty")).unwrap();
    cli_fails(
        &s,
        &[
            "dataset",
            "--scenes",
            "@scenes/scene_0000",
            "@scenes/scene_empty",
            "--out",
            "@dataset",
        ],
        &["scene_empty", "no truth.gpkg"],
    );
    // (other tests build datasets: tests/simulation.rs, tests/training.rs)
    assert!(
        !s.files().iter().any(|f| f.contains("partial")),
        "{:?}",
        s.files()
    );
}

/// A child of this process's memory control group with a limit, removed when dropped; `None`
/// where one cannot be made or joined (not root, cgroup file system read-only, or a v2
/// hierarchy whose memory controller is not delegated to the group).
struct LimitedGroup {
    dir: PathBuf,
}

impl LimitedGroup {
    fn create(limit: u64) -> Option<LimitedGroup> {
        let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let field = |line: &str, n: usize| line.splitn(3, ':').nth(n).map(str::to_string);
        let v1 = membership
            .lines()
            .find(|l| field(l, 1).is_some_and(|c| c.split(',').any(|c| c == "memory")));
        let (parent, limit_file) = match v1 {
            Some(line) => (
                PathBuf::from(format!("/sys/fs/cgroup/memory{}", field(line, 2)?)),
                "memory.limit_in_bytes",
            ),
            None => {
                let line = membership.lines().find(|l| l.starts_with("0::"))?;
                (
                    PathBuf::from(format!("/sys/fs/cgroup{}", field(line, 2)?)),
                    "memory.max",
                )
            }
        };
        let dir = parent.join(format!("fringewatch-test-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let group = LimitedGroup { dir };
        std::fs::write(group.dir.join(limit_file), limit.to_string()).ok()?;
        // a process can join it (delegation rules may refuse even root)
        let joined = Command::new("sh")
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs""#)
            .arg(&group.dir)
            .status()
            .ok()?;
        joined.success().then_some(group)
    }
}

impl Drop for LimitedGroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A container's or batch system's memory limit (a control group's, which `MemAvailable` does
/// not see) is the memory a job may plan for: inside a group limited to 300 MiB, PC1 of a
/// 30,000² raster (about 0.8 GiB) is refused with the group's room as what is available
/// instead of being started and killed by the kernel (issue: bad input, crashes).
#[test]
fn a_control_groups_memory_limit_is_what_a_job_may_use() {
    let s = Scene::new();
    std::fs::write(
        s.p("large_dem.vrt"),
        r#"<VRTDataset rasterXSize="30000" rasterYSize="30000">
  <SRS>EPSG:32632</SRS>
  <GeoTransform>600000, 15, 0, 4900000, 0, -15</GeoTransform>
  <VRTRasterBand dataType="Float32" band="1">
    <SimpleSource>
      <SourceFilename relativeToVRT="1">dem.tif</SourceFilename><SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="60" ySize="50"/>
      <DstRect xOff="0" yOff="0" xSize="60" ySize="50"/>
    </SimpleSource>
  </VRTRasterBand>
</VRTDataset>"#,
    )
    .unwrap();
    let limit = 300u64 << 20;
    let Some(group) = LimitedGroup::create(limit) else {
        println!("skipped: no memory control group can be made here (needs root and a writable cgroup memory controller)");
        return;
    };
    // the program joins the group before it starts (its children would inherit it)
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$0/cgroup.procs" && shift && exec "$@""#)
        .arg(&group.dir)
        .arg("-")
        .arg(env!("CARGO_BIN_EXE_fringewatch"))
        .args(["--quiet", "pc1", "--dem"])
        .arg(s.p("large_dem.vrt"))
        .arg("--out")
        .arg(s.p("pc1.tif"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("30000×30000 cells: PC1 would need about"),
        "{stderr}"
    );
    // "…, 283 MiB is available; …": the group's room, below its limit
    let available: f64 = stderr
        .split(" MiB is available")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no MiB figure available in: {stderr}"));
    assert!(
        available > 0.0 && available <= (limit >> 20) as f64,
        "{available} MiB available in a group of 300 MiB: {stderr}"
    );
    assert!(!s.p("pc1.tif").exists());
}
