//! Multi-temporal persistence: the same simulated slide detected in three of four interferograms
//! (different dates, both orbits) becomes one persistent area counted 3 of 4; a false alarm in
//! one interferogram stays an area of its own; a layer reprojected to EPSG:4326 gives the same
//! areas; the CLI refuses bad input and leaves other layers alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDate;
use fringewatch::detect::output::{detection_features, write_detections, ModelInfo};
use fringewatch::detect::scene_info::SceneInfo;
use fringewatch::detect::{Detection, DetectionRun};
use fringewatch::progress::Silent;
use fringewatch::raster::io::RasterFile;
use fringewatch::vector::gpkg::read_layer;
use fringewatch::vector::Value;

const CLASSES: [&str; 4] = ["AR", "CF", "CS", "FS"];

fn fw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fringewatch"))
}

fn simulate(dir: &Path) -> PathBuf {
    let status = fw()
        .args([
            "--quiet", "simulate", "--seed", "9", "--size", "480", "--out",
        ])
        .arg(dir.join("sim"))
        .status()
        .unwrap();
    assert!(status.success());
    dir.join("sim/scene_0000")
}

/// Truth boxes of the scene in raster pixels (x0, y0, x1, y1) with their class index.
fn truth_pixels(scene: &Path, grid: &fringewatch::raster::Grid) -> Vec<([f64; 4], usize)> {
    let truth = read_layer(&scene.join("truth.gpkg"), None).unwrap();
    truth
        .features
        .iter()
        .map(|f| {
            let (x0, y0, x1, y1) = f.envelope.unwrap();
            let (c0, r0) = grid.map_to_pixel(x0, y1);
            let (c1, r1) = grid.map_to_pixel(x1, y0);
            let class = f.attribute("class").and_then(Value::as_text).unwrap();
            let k = CLASSES.iter().position(|c| *c == class).unwrap();
            ([c0, r0, c1, r1], k)
        })
        .collect()
}

struct Pass {
    name: &'static str,
    orbit: &'static str,
    primary: (i32, u32, u32),
    secondary: (i32, u32, u32),
}

const PASSES: [Pass; 4] = [
    Pass {
        name: "asc_a",
        orbit: "ascending",
        primary: (2020, 1, 1),
        secondary: (2020, 1, 13),
    },
    Pass {
        name: "desc_a",
        orbit: "descending",
        primary: (2020, 1, 6),
        secondary: (2020, 1, 18),
    },
    Pass {
        name: "asc_b",
        orbit: "ascending",
        primary: (2020, 1, 13),
        secondary: (2020, 1, 25),
    },
    Pass {
        name: "desc_b",
        orbit: "descending",
        primary: (2020, 1, 18),
        secondary: (2020, 1, 30),
    },
];

fn date((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Detection layers of four passes over the scene: the slide in passes 0–2 (the descending box
/// wider and shifted, as its other geometry shows it), missed in pass 3; a false alarm in pass 1.
fn write_passes(scene: &Path, dir: &Path) -> ([f64; 4], Vec<PathBuf>) {
    let grid = RasterFile::open(scene.join("phase.tif"))
        .unwrap()
        .grid()
        .clone();
    let truths = truth_pixels(scene, &grid);
    assert!(!truths.is_empty(), "the scene has labelled signals");
    let (slide, class) = truths[0];
    // A 30 px false alarm at least 40 px away from every truth box.
    let clear = |b: &[f64; 4]| {
        truths.iter().all(|(t, _)| {
            t[2] + 40.0 < b[0] || b[2] + 40.0 < t[0] || t[3] + 40.0 < b[1] || b[3] + 40.0 < t[1]
        })
    };
    let false_alarm = (0..14)
        .flat_map(|i| (0..14).map(move |j| (i, j)))
        .map(|(i, j)| {
            let (x, y) = (5.0 + 32.0 * i as f64, 5.0 + 32.0 * j as f64);
            [x, y, x + 30.0, y + 30.0]
        })
        .find(clear)
        .expect("room for a false alarm");
    let mut paths = Vec::new();
    for (k, pass) in PASSES.iter().enumerate() {
        let mut detections = Vec::new();
        if k < 3 {
            let b = if pass.orbit == "descending" {
                let w = slide[2] - slide[0];
                [
                    slide[0] - 0.4 * w,
                    slide[1] + 3.0,
                    slide[2] + 0.4 * w,
                    slide[3] + 3.0,
                ]
            } else {
                [
                    slide[0] + k as f64,
                    slide[1] - 1.0,
                    slide[2] + k as f64,
                    slide[3] - 1.0,
                ]
            };
            // The class vote: two of three say the truth's class.
            let c = if k == 1 { (class + 1) % 4 } else { class };
            detections.push(Detection {
                bbox: b,
                class: c,
                score: 0.6 + 0.1 * k as f32,
                objectness: 0.9,
            });
        }
        if k == 1 {
            detections.push(Detection {
                bbox: false_alarm,
                class: 0,
                score: 0.3,
                objectness: 0.5,
            });
        }
        let run = DetectionRun {
            grid: grid.clone(),
            detections,
            tiles_run: 1,
            tiles_skipped: 0,
            scene: SceneInfo {
                interferogram: format!("sim_{}", pass.name),
                primary_date: Some(date(pass.primary)),
                secondary_date: Some(date(pass.secondary)),
                orbit: Some(pass.orbit.into()),
                temporal_baseline_days: Some(12),
            },
        };
        let classes: Vec<String> = CLASSES.iter().map(|c| c.to_string()).collect();
        let model = ModelInfo {
            name: "test".into(),
            sha256: String::new(),
        };
        let features = detection_features(&run, &classes, &model, chrono::Utc::now());
        let path = dir.join(format!("{}.gpkg", pass.name));
        write_detections(&path, "detections", &run, &features, false, &Silent).unwrap();
        paths.push(path);
    }
    // A fifth interferogram over another area (its grid 2000 px east): it covers neither area.
    let elsewhere = DetectionRun {
        grid: grid.window(2000, 0, grid.width, grid.height),
        detections: vec![],
        tiles_run: 1,
        tiles_skipped: 0,
        scene: SceneInfo {
            interferogram: "sim_elsewhere".into(),
            ..Default::default()
        },
    };
    let path = dir.join("elsewhere.gpkg");
    write_detections(&path, "detections", &elsewhere, &[], false, &Silent).unwrap();
    paths.push(path);
    let (x0, y1) = grid.pixel_to_map(slide[0], slide[1]);
    let (x1, y0) = grid.pixel_to_map(slide[2], slide[3]);
    ([x0, y0, x1, y1], paths)
}

fn persistence(inputs: &[String], out: &str) -> std::process::Output {
    persistence_in(Path::new("."), inputs, out)
}

/// `fringewatch persistence` run in the folder `cwd` (relative inputs are relative to it).
fn persistence_in(cwd: &Path, inputs: &[String], out: &str) -> std::process::Output {
    let mut cmd = fw();
    cmd.current_dir(cwd).arg("persistence");
    for i in inputs {
        cmd.args(["--detections", i]);
    }
    cmd.args(["--out", out]).output().unwrap()
}

fn areas(path: &Path) -> Vec<fringewatch::vector::ReadFeature> {
    read_layer(path, Some("persistence")).unwrap().features
}

fn int(f: &fringewatch::vector::ReadFeature, name: &str) -> i64 {
    match f.attribute(name) {
        Some(Value::Integer(v)) => *v,
        other => panic!("{name}: {other:?}"),
    }
}

fn txt(f: &fringewatch::vector::ReadFeature, name: &str) -> String {
    f.attribute(name)
        .and_then(Value::as_text)
        .unwrap_or_default()
}

fn contains(f: &fringewatch::vector::ReadFeature, x: f64, y: f64) -> bool {
    let (x0, y0, x1, y1) = f.envelope.unwrap();
    x0 <= x && x <= x1 && y0 <= y && y <= y1
}

#[test]
fn slide_in_three_of_four_interferograms_is_one_area_counted_3_of_4() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = simulate(tmp.path());
    let (slide, paths) = write_passes(&scene, tmp.path());
    let inputs: Vec<String> = paths
        .iter()
        .map(|p| format!("{}:detections", p.display()))
        .collect();
    let out = tmp.path().join("persistence.gpkg");
    let run = persistence(&inputs, &format!("{}:persistence", out.display()));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    println!("{stdout}");

    let found = areas(&out);
    assert_eq!(found.len(), 2, "the slide and the false alarm");
    let (cx, cy) = ((slide[0] + slide[2]) / 2.0, (slide[1] + slide[3]) / 2.0);
    let area = found
        .iter()
        .find(|f| contains(f, cx, cy))
        .expect("an area on the slide");
    assert_eq!(int(area, "interferograms"), 3);
    assert_eq!(int(area, "covering"), 4);
    assert_eq!(int(area, "detections"), 3);
    assert!(
        matches!(area.attribute("persistence"), Some(Value::Real(p)) if (p - 0.75).abs() < 1e-12)
    );
    assert_eq!(txt(area, "first_date"), "2020-01-01");
    assert_eq!(txt(area, "last_date"), "2020-01-25");
    assert_eq!(txt(area, "orbits"), "ascending,descending");
    assert_eq!(
        txt(area, "interferogram_ids"),
        "sim_asc_a,sim_desc_a,sim_asc_b"
    );
    let other = found.iter().find(|f| !contains(f, cx, cy)).unwrap();
    assert_eq!(int(other, "interferograms"), 1);
    assert_eq!(int(other, "covering"), 4);
    assert_eq!(txt(other, "class"), "AR");
    // The union box holds every member box (the wider descending one included).
    let (x0, _, x1, _) = area.envelope.unwrap();
    let w = slide[2] - slide[0];
    assert!(x0 <= slide[0] - 0.39 * w && x1 >= slide[2] + 0.39 * w);

    // One interferogram's layer reprojected to EPSG:4326 (footprint metadata travels in lon/lat):
    // the same areas, counts and dates.
    let geographic = tmp.path().join("asc_b_4326.gpkg");
    let status = Command::new("ogr2ogr")
        .args(["-t_srs", "EPSG:4326"])
        .arg(&geographic)
        .arg(&paths[2])
        .status()
        .unwrap();
    assert!(status.success());
    let mut mixed = inputs.clone();
    mixed[2] = format!("{}:detections", geographic.display());
    let out2 = tmp.path().join("persistence_mixed.gpkg");
    let run = persistence(&mixed, &format!("{}:persistence", out2.display()));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let found2 = areas(&out2);
    assert_eq!(found2.len(), 2);
    let area2 = found2.iter().find(|f| contains(f, cx, cy)).unwrap();
    for field in ["interferograms", "covering", "detections"] {
        assert_eq!(int(area2, field), int(area, field), "{field}");
    }
    assert_eq!(
        txt(area2, "interferogram_ids"),
        txt(area, "interferogram_ids")
    );
}

#[test]
fn persistence_refuses_bad_input_and_keeps_other_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = simulate(tmp.path());
    let (_, paths) = write_passes(&scene, tmp.path());
    let one = [format!("{}:detections", paths[0].display())];
    let run = persistence(&one, &format!("{}:p", tmp.path().join("p.gpkg").display()));
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("at least two"));
    assert!(!tmp.path().join("p.gpkg").exists());

    let missing = [
        one[0].clone(),
        format!("{}:detections", tmp.path().join("nope.gpkg").display()),
    ];
    let run = persistence(
        &missing,
        &format!("{}:p", tmp.path().join("p.gpkg").display()),
    );
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("not found"));

    // The same layer twice (here once through a relative path) would make every area
    // "persistent": refused, nothing written.
    let relative = paths[0].strip_prefix(tmp.path()).unwrap();
    let twice = [one[0].clone(), format!("{}:detections", relative.display())];
    let run = persistence_in(
        tmp.path(),
        &twice,
        &format!("{}:p", tmp.path().join("p.gpkg").display()),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is given twice"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!tmp.path().join("p.gpkg").exists());

    // Written beside the detections of pass 0: its layer stays as it was; a second run refuses
    // the existing layer.
    let before = read_layer(&paths[0], Some("detections"))
        .unwrap()
        .features
        .len();
    let two = [one[0].clone(), format!("{}:detections", paths[1].display())];
    let target = format!("{}:persistence", paths[0].display());
    assert!(persistence(&two, &target).status.success());
    assert_eq!(
        read_layer(&paths[0], Some("detections"))
            .unwrap()
            .features
            .len(),
        before
    );
    let again = persistence(&two, &target);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
