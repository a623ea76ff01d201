//! The simulator's physics and the dataset builder (issue: simulated labelled interferograms).

mod common;

use std::f64::consts::PI;
use std::path::Path;

use fringewatch::phase::goldstein::{goldstein_phase, GoldsteinSettings};
use fringewatch::phase::{residue_count, wrap, SENTINEL1_WAVELENGTH_M};
use fringewatch::progress::Silent;
use fringewatch::simulate::coherence::{multilook_sample, phase_pdf};
use fringewatch::simulate::landslides::{body_footprint, Body, PlacementTerrain};
use fringewatch::simulate::output::write_scene;
use fringewatch::simulate::{simulate_scene, SignalClass, SimulationSettings};
use ndarray::Array2;
use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;

/// Circular standard deviation sqrt(−2 ln R), R the mean resultant length.
fn circular_std(mean_cos: f64, mean_sin: f64) -> f64 {
    (-2.0 * (mean_cos * mean_cos + mean_sin * mean_sin).sqrt().ln()).sqrt()
}

#[test]
fn phase_noise_follows_the_multilook_phase_statistics() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for looks in [1usize, 5] {
        for gamma in [0.3, 0.6, 0.9] {
            // Theory: integrate the PDF (also checks that it integrates to 1).
            let n = 20_000;
            let (mut total, mut c) = (0.0, 0.0);
            for k in 0..n {
                let psi = -PI + (k as f64 + 0.5) * 2.0 * PI / n as f64;
                let p = phase_pdf(psi, gamma, looks) * 2.0 * PI / n as f64;
                total += p;
                c += p * psi.cos();
            }
            assert!(
                (total - 1.0).abs() < 1e-3,
                "PDF integrates to {total} (γ {gamma}, L {looks})"
            );
            let theory = circular_std(c, 0.0);
            let samples = 200_000;
            let (mut sc, mut ss) = (0.0, 0.0);
            for _ in 0..samples {
                let z = multilook_sample(gamma, 0.0, looks, &mut rng);
                let a = f64::from(z.arg());
                sc += a.cos();
                ss += a.sin();
            }
            let simulated = circular_std(sc / samples as f64, ss / samples as f64);
            let rel = (simulated - theory).abs() / theory;
            println!("γ {gamma} L {looks}: circular std simulated {simulated:.4} theory {theory:.4} ({:.2} %)", rel * 100.0);
            assert!(
                rel < 0.02,
                "γ {gamma}, L {looks}: simulated {simulated} vs theory {theory}"
            );
        }
    }
}

#[test]
fn known_displacement_gives_the_expected_fringes_and_sign() {
    // A flat-topped profile is not needed: count fringes on the unwrapped footprint peak.
    // East-facing 25° slope seen ascending (α = −10.5°, θ = 39°): S2L = +0.889 (motion away).
    let lambda = SENTINEL1_WAVELENGTH_M;
    let s2l = 0.889;
    let fringes = 3.0;
    // Displacement D such that the range increase at the centre is 3 fringes = 3·λ/2.
    let velocity = fringes * lambda / 2.0 / s2l; // m per year, baseline one year
    let body = Body {
        id: 1,
        class: SignalClass::Earthflow,
        centre: (1005.0, 995.0),
        downslope_azimuth: 90f64.to_radians(),
        slope: 25f64.to_radians(),
        length_m: 800.0,
        width_m: 400.0,
        harmonics: vec![],
        active: true,
        mapped: true,
        velocity_m_per_yr: velocity,
        decorrelation: 0.0,
        profile: Default::default(),
    };
    let size = 200;
    let zeros = Array2::<f32>::zeros((size, size));
    let terrain = PlacementTerrain {
        slope: zeros.view(),
        aspect: zeros.view(),
        laplacian: zeros.view(),
        pixel_m: 10.0,
        origin: (0.0, 2000.0),
    };
    let incidence = Array2::<f32>::from_elem((size, size), 39.0);
    let fp = body_footprint(&body, &terrain, incidence.view(), -10.5, 365.25, lambda).unwrap();
    let peak = fp.phase.iter().cloned().fold(f32::MIN, f32::max);
    // d_LOS / (λ/2) fringes; positive phase = range increase = away from the satellite.
    assert!(
        (f64::from(peak) / (2.0 * PI) - fringes * 0.889 / s2l).abs() < 0.01,
        "peak {peak}"
    );
    // Count the wraps along the centre row of the wrapped footprint: 3 on each side of the peak.
    let row = (995.0f64 / 10.0).floor() as usize - fp.row0; // centre row in the window
    let wrapped: Vec<f64> = fp
        .phase
        .row(row)
        .iter()
        .map(|&p| wrap(f64::from(p)))
        .collect();
    let jumps = wrapped
        .windows(2)
        .filter(|w| (w[1] - w[0]).abs() > PI)
        .count();
    assert_eq!(jumps, 6, "wraps along the profile");
    // The same motion seen descending (α = −169.5°) on the east-facing slope: S2L = −0.232 < 0.
    let fp = body_footprint(&body, &terrain, incidence.view(), -169.5, 365.25, lambda).unwrap();
    let trough = fp.phase.iter().cloned().fold(f32::MAX, f32::min);
    assert!(trough < 0.0, "towards the satellite gives negative phase");
}

fn noisy_fringes(seed: u64, size: usize, cycles_per_px: f64, gamma: f64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((size, size), |(_, c)| {
        let phase = 2.0 * PI * cycles_per_px * c as f64;
        multilook_sample(gamma, phase, 1, &mut rng).arg()
    })
}

/// Dominant horizontal frequency (cycles/px) of a wrapped phase: the peak of the mean row
/// spectrum of e^{iφ}.
fn dominant_frequency(phase: &Array2<f32>) -> f64 {
    let (rows, cols) = phase.dim();
    let mut best = (0.0, 0usize);
    for k in 0..cols {
        let mut power = 0.0;
        for r in 0..rows {
            let (mut re, mut im) = (0.0, 0.0);
            for c in 0..cols {
                let a = f64::from(phase[(r, c)]) - 2.0 * PI * k as f64 * c as f64 / cols as f64;
                re += a.cos();
                im += a.sin();
            }
            power += re * re + im * im;
        }
        if power > best.0 {
            best = (power, k);
        }
    }
    best.1 as f64 / cols as f64
}

#[test]
fn goldstein_filter_alpha_zero_is_identity_and_alpha_one_removes_residues() {
    let noisy = noisy_fringes(3, 128, 1.0 / 16.0, 0.5);
    let unchanged = goldstein_phase(
        noisy.view(),
        GoldsteinSettings {
            alpha: 0.0,
            patch: 32,
        },
    );
    let max_diff = noisy
        .iter()
        .zip(unchanged.iter())
        .map(|(a, b)| wrap(f64::from(*a) - f64::from(*b)).abs())
        .fold(0.0, f64::max);
    assert!(max_diff < 1e-4, "α = 0 changed the phase by {max_diff}");
    let filtered = goldstein_phase(noisy.view(), GoldsteinSettings::default());
    let (before, after) = (residue_count(noisy.view()), residue_count(filtered.view()));
    println!("residues: {before} before, {after} after α = 1");
    assert!(
        after * 5 < before,
        "α = 1 should remove most residues: {before} → {after}"
    );
    let (f0, f1) = (dominant_frequency(&noisy), dominant_frequency(&filtered));
    assert!(
        (f0 - 1.0 / 16.0).abs() < 1e-9 && (f1 - f0).abs() < 1e-9,
        "fringe frequency {f0} → {f1}"
    );
}

fn small_settings() -> SimulationSettings {
    SimulationSettings {
        size: 320,
        ..SimulationSettings::default()
    }
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn same_seed_gives_byte_identical_scenes_and_labels_match_visible_signals() {
    let settings = small_settings();
    let tmp = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    for run in ["a", "b"] {
        let out = tmp.path().join(run);
        std::fs::create_dir_all(&out).unwrap();
        let scene = simulate_scene(&settings, "scene_0000", 42, None, &Silent).unwrap();
        written.push(write_scene(&scene, &out, 0).unwrap());
    }
    let (a, b) = (files_of(&written[0]), files_of(&written[1]));
    assert_eq!(
        a.len(),
        7,
        "phase, coherence, dem, incidence, scene.json, truth, inventory: {:?}",
        a.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (fa, fb) in a.iter().zip(&b) {
        assert_eq!(fa.0, fb.0);
        assert!(
            fa.1 == fb.1,
            "{} differs between two runs with the same seed",
            fa.0
        );
    }
    let other = simulate_scene(&settings, "scene_0000", 43, None, &Silent).unwrap();
    let scene = simulate_scene(&settings, "scene_0000", 42, None, &Silent).unwrap();
    assert_ne!(scene.phase, other.phase, "another seed gives another scene");

    // Labels: inside the scene, one per visible signal, and visible means seen.
    let truth =
        fringewatch::vector::gpkg::read_layer(&written[0].join("truth.gpkg"), Some("truth"))
            .unwrap();
    let visible: Vec<_> = scene.signals.iter().filter(|s| s.visible).collect();
    assert_eq!(truth.features.len(), visible.len());
    let (minx, miny, maxx, maxy) = scene.grid.bounds();
    for f in &truth.features {
        let (x0, y0, x1, y1) = f.envelope.unwrap();
        assert!(
            x0 >= minx && y0 >= miny && x1 <= maxx && y1 <= maxy,
            "box outside the scene"
        );
    }
    for s in &scene.signals {
        if s.visible {
            assert!(s.visible_peak_rad >= settings.labels.min_peak_phase_rad);
            assert!(s.mean_coherence >= settings.labels.min_coherence);
            assert!(s.fringe_fidelity >= settings.labels.min_fringe_fidelity);
        }
        assert!(s.box_px[2] <= settings.size && s.box_px[3] <= settings.size);
    }
    // The inventory holds every mapped body, active and dormant, as outlines.
    let inventory = fringewatch::vector::gpkg::read_layer(
        &written[0].join("inventory.gpkg"),
        Some("inventory"),
    )
    .unwrap();
    assert_eq!(
        inventory.features.len(),
        scene.bodies.iter().filter(|b| b.mapped).count()
    );
    assert!(inventory.features.iter().all(|f| f.rings[0].len() > 20));
    assert!(inventory.features.iter().any(|f| f
        .attribute("stato")
        .and_then(|v| v.as_text())
        .as_deref()
        == Some("quiescente")));
}

/// Six 320 px scenes written under `dir/scenes`, their directories.
fn six_small_scenes(dir: &Path) -> Vec<std::path::PathBuf> {
    let scenes_dir = dir.join("scenes");
    std::fs::create_dir_all(&scenes_dir).unwrap();
    let settings = small_settings();
    let mut scene_dirs = Vec::new();
    let mut total_visible = 0;
    for k in 0..6u64 {
        let scene =
            simulate_scene(&settings, &format!("scene_{k:04}"), 100 + k, None, &Silent).unwrap();
        total_visible += scene.signals.iter().filter(|s| s.visible).count();
        scene_dirs.push(write_scene(&scene, &scenes_dir, k as usize).unwrap());
    }
    assert!(
        total_visible >= 3,
        "too few labels to test with: {total_visible}"
    );
    scene_dirs
}

/// The dataset settings of the tests below: every tile kept, two anchors (few boxes).
fn every_tile(dont_care_below_rad: Option<f64>) -> fringewatch::dataset::DatasetSettings {
    fringewatch::dataset::DatasetSettings {
        empty_tile_fraction: 1.0,
        anchors: 2,
        dont_care_below_rad,
        ..fringewatch::dataset::DatasetSettings::default()
    }
}

/// Every tile of a dataset: its name, its scene, and its labels as read back.
fn tiles_and_labels(
    dataset: &Path,
    manifest: &fringewatch::dataset::Manifest,
) -> Vec<(String, String, Vec<fringewatch::dataset::TileLabel>)> {
    let entries = manifest.train.iter().chain(&manifest.validation);
    entries
        .chain(&manifest.test)
        .map(|e| {
            let labels = fringewatch::dataset::read_tile_labels(dataset, &e.name, 160).unwrap();
            (e.name.clone(), e.scene.clone(), labels)
        })
        .collect()
}

/// The feature of `truth` that a tile label (of the tile `tile_grid`) was cut from: its box
/// clipped to the tile is the label's, to a centimetre.
fn truth_of<'a>(
    label: &fringewatch::dataset::TileLabel,
    tile_grid: &fringewatch::raster::Grid,
    truth: &'a fringewatch::vector::ReadLayer,
) -> Option<&'a fringewatch::vector::ReadFeature> {
    let (x0, y1) = tile_grid.pixel_to_map(label.bbox[0], label.bbox[1]);
    let (x1, y0) = tile_grid.pixel_to_map(label.bbox[2], label.bbox[3]);
    let (tx0, ty0, tx1, ty1) = tile_grid.bounds();
    truth.features.iter().find(|f| {
        let (a0, b0, a1, b1) = f.envelope.unwrap();
        let clipped = (a0.max(tx0), b0.max(ty0), a1.min(tx1), b1.min(ty1));
        (clipped.0 - x0).abs() < 0.01
            && (clipped.1 - y0).abs() < 0.01
            && (clipped.2 - x1).abs() < 0.01
            && (clipped.3 - y1).abs() < 0.01
    })
}

fn tile_grid(dataset: &Path, name: &str) -> fringewatch::raster::Grid {
    let tile = fringewatch::raster::io::RasterFile::open(
        dataset.join("tiles").join(format!("{name}.tif")),
    )
    .unwrap();
    assert_eq!(
        (tile.grid().width, tile.grid().height, tile.band_count()),
        (160, 160, 3)
    );
    tile.grid().clone()
}

fn truth_layer(scene: &Path) -> fringewatch::vector::ReadLayer {
    fringewatch::vector::gpkg::read_layer(&scene.join("truth.gpkg"), None).unwrap()
}

#[test]
fn dataset_tiles_and_labels_round_trip_to_map_coordinates() {
    use fringewatch::dataset::build_dataset;
    let tmp = tempfile::tempdir().unwrap();
    let scene_dirs = six_small_scenes(tmp.path());
    let out = tmp.path().join("dataset");
    let manifest = build_dataset(&scene_dirs, &out, &every_tile(None), &Silent).unwrap();
    // 320 px scenes → 2×2 tiles each, all kept (empty fraction 1); split 80/10/10.
    let tiles = manifest.train.len() + manifest.validation.len() + manifest.test.len();
    assert_eq!(tiles, 24);
    assert_eq!((manifest.train.len(), manifest.validation.len()), (19, 2));
    assert_eq!(manifest.anchors.len(), 2);
    assert_eq!(manifest.classes, vec!["AR", "CF", "CS", "FS"]);
    // Every label maps back onto a truth box of its scene (clipped by the tile when cut).
    let mut checked = 0;
    for (name, scene, labels) in tiles_and_labels(&out, &manifest) {
        let truth = truth_layer(&tmp.path().join("scenes").join(&scene));
        let grid = tile_grid(&out, &name);
        for label in labels {
            assert!(!label.dont_care);
            let found = truth_of(&label, &grid, &truth);
            assert!(
                found.is_some(),
                "label {label:?} of {name} matches no truth box"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} labels checked");
}

/// A don't-care threshold changes which labels are to be found, never the tiles nor the boxes:
/// a label is flagged exactly when the visible peak phase of the truth box it was cut from lies
/// under the threshold, and the manifest's class counts leave the flagged ones out. A truth
/// layer without visible peaks is refused by name, and so is a negative threshold.
#[test]
fn faint_labels_become_dont_care_boxes_and_nothing_else_changes() {
    use fringewatch::dataset::build_dataset;
    let tmp = tempfile::tempdir().unwrap();
    let scene_dirs = six_small_scenes(tmp.path());
    let mut peaks: Vec<f64> = scene_dirs
        .iter()
        .flat_map(|d| truth_layer(d).features)
        .map(|f| f.attribute("visible_peak_rad").unwrap().as_f64().unwrap())
        .collect();
    peaks.sort_by(f64::total_cmp);
    assert!(
        peaks[0] >= 1.0 && peaks[peaks.len() - 1] <= PI + 1e-6,
        "{peaks:?}"
    );
    let below = peaks[peaks.len() / 2];
    let (plain_dir, faint_dir) = (tmp.path().join("plain"), tmp.path().join("faint"));
    let plain = build_dataset(&scene_dirs, &plain_dir, &every_tile(None), &Silent).unwrap();
    let faint = build_dataset(&scene_dirs, &faint_dir, &every_tile(Some(below)), &Silent).unwrap();
    let (plain_tiles, faint_tiles) = (
        tiles_and_labels(&plain_dir, &plain),
        tiles_and_labels(&faint_dir, &faint),
    );
    assert_eq!(plain_tiles.len(), faint_tiles.len());
    let mut flagged = [0, 0];
    for ((name, scene, was), (other, _, now)) in plain_tiles.iter().zip(&faint_tiles) {
        assert_eq!(name, other);
        assert_eq!(was.len(), now.len(), "{name}");
        let truth = truth_layer(&tmp.path().join("scenes").join(scene));
        let grid = tile_grid(&faint_dir, name);
        for (a, b) in was.iter().zip(now) {
            assert_eq!((a.class, a.bbox, a.dont_care), (b.class, b.bbox, false));
            let source = truth_of(b, &grid, &truth).unwrap();
            let peak = source
                .attribute("visible_peak_rad")
                .unwrap()
                .as_f64()
                .unwrap();
            assert_eq!(b.dont_care, peak < below, "{name}: {peak} rad");
            flagged[usize::from(b.dont_care)] += 1;
        }
    }
    assert!(flagged[0] >= 1 && flagged[1] >= 1, "{flagged:?}");
    let counted =
        |m: &fringewatch::dataset::Manifest| m.class_counts.iter().flatten().sum::<usize>();
    assert_eq!(counted(&plain), counted(&faint) + flagged[1]);
    assert_eq!(counted(&faint), flagged[0]);

    // A scene whose truth has no visible peaks (as a hand-made truth.gpkg would not).
    let labelled = scene_dirs
        .iter()
        .find(|d| !truth_layer(d).features.is_empty())
        .unwrap();
    let bare = tmp.path().join("bare").join("scene_0000");
    std::fs::create_dir_all(&bare).unwrap();
    for entry in std::fs::read_dir(labelled).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "truth.gpkg" {
            std::fs::copy(&path, bare.join(path.file_name().unwrap())).unwrap();
        }
    }
    let copied = std::process::Command::new("ogr2ogr")
        .args(["-f", "GPKG", "-select", "class"])
        .arg(bare.join("truth.gpkg"))
        .arg(labelled.join("truth.gpkg"))
        .arg("truth")
        .status()
        .unwrap();
    assert!(copied.success());
    let out = tmp.path().join("refused");
    let err = build_dataset(
        std::slice::from_ref(&bare),
        &out,
        &every_tile(Some(2.0)),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("visible_peak_rad"), "{err}");
    assert!(!out.exists(), "nothing written");
    let err = build_dataset(&[bare], &out, &every_tile(Some(-1.0)), &Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dont_care_below_rad") && err.contains("-1 rad"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn bodies_live_where_their_class_lives_and_render_to_png() {
    let settings = SimulationSettings {
        size: 480,
        ..SimulationSettings::default()
    };
    let scene = simulate_scene(&settings, "scene_0000", 9, None, &Silent).unwrap();
    let l = &settings.landslides;
    assert!(scene.bodies.len() >= 10, "{} bodies", scene.bodies.len());
    for b in &scene.bodies {
        let (range, elongation) = match b.class {
            SignalClass::Earthflow => (&l.earthflow.slope_deg, &l.earthflow.width_ratio),
            SignalClass::Earthslide => (&l.earthslide.slope_deg, &l.earthslide.width_ratio),
            SignalClass::Rockslide => (&l.rockslide.slope_deg, &l.rockslide.width_ratio),
            SignalClass::Artifact => panic!("an artifact is not a body"),
        };
        let slope = b.slope.to_degrees();
        assert!(
            range.contains(slope),
            "{:?} on a {slope:.1}° slope",
            b.class
        );
        assert!(
            elongation.contains(b.width_m / b.length_m),
            "{:?} shape",
            b.class
        );
        if !b.active {
            assert_eq!(b.velocity_m_per_yr, 0.0);
        }
    }
    // Earthflows are elongated downslope (width/length ≤ 0.45): their outline is longer along
    // the downslope azimuth than across it.
    for b in scene
        .bodies
        .iter()
        .filter(|b| b.class == SignalClass::Earthflow)
    {
        let (d, across) = (
            (b.downslope_azimuth.sin(), b.downslope_azimuth.cos()),
            (b.downslope_azimuth.cos(), -b.downslope_azimuth.sin()),
        );
        let ring = b.outline();
        let extent = |axis: (f64, f64)| {
            let p: Vec<f64> = ring
                .iter()
                .map(|q| (q.0 - b.centre.0) * axis.0 + (q.1 - b.centre.1) * axis.1)
                .collect();
            p.iter().cloned().fold(f64::MIN, f64::max) - p.iter().cloned().fold(f64::MAX, f64::min)
        };
        assert!(
            extent(d) > 1.8 * extent(across),
            "earthflow {} not elongated downslope",
            b.id
        );
    }
    // The preview renders at the scene's size, three 8-bit bands.
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("preview.png");
    let boxes: Vec<fringewatch::render::DrawBox> = scene
        .signals
        .iter()
        .filter(|s| s.visible)
        .map(|s| fringewatch::render::DrawBox {
            px: s.box_px.map(|v| v as f64),
            colour: fringewatch::render::class_colour(s.class.code()),
        })
        .collect();
    fringewatch::render::render_phase_png(scene.phase.view(), &boxes, &png).unwrap();
    let ds = gdal::Dataset::open(&png).unwrap();
    assert_eq!((ds.raster_size(), ds.raster_count()), ((480, 480), 3));
    assert_eq!(ds.driver().short_name(), "PNG");
}

#[test]
fn a_real_apennine_dem_drives_the_simulation_in_its_utm_zone() {
    // SRTM3 tile N41E014 (Matese, Southern Apennines), geographic: the scene is laid out in
    // UTM 33N around the tile's centre and its relief is the real one.
    let Some(dem) = common::shared_data("srtm3_matese/N41E014.hgt") else {
        return;
    };
    let settings = SimulationSettings {
        size: 400,
        ..SimulationSettings::default()
    };
    let scene = simulate_scene(&settings, "scene_0000", 5, Some(&dem), &Silent).unwrap();
    let utm33 = fringewatch::raster::Crs::from_definition("EPSG:32633").unwrap();
    assert!(
        scene.grid.crs.same_as(&utm33),
        "scene CRS {}",
        scene.grid.crs.wkt
    );
    let valid: Vec<f32> = scene
        .dem
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    assert!(valid.len() as f64 > 0.95 * scene.dem.len() as f64);
    let (lo, hi) = valid
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    // The Matese massif: valleys around 100–600 m, summits near 2000 m.
    assert!(
        lo > -10.0 && hi < 2100.0 && hi - lo > 200.0,
        "elevations {lo}..{hi}"
    );
    assert_eq!(scene.description.dem_source, dem.display().to_string());
    assert!(scene.description.relief.is_none());
}

#[test]
fn printed_settings_are_a_settings_file_the_simulator_takes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_fringewatch");
    let printed = std::process::Command::new(bin)
        .args(["simulate", "--print-settings"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    let mut json: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    json["size"] = serde_json::json!(128);
    json["landslides"]["active_fraction"] = serde_json::json!(0.0);
    let path = tmp.path().join("settings.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let out = tmp.path().join("sim");
    let run = std::process::Command::new(bin)
        .args([
            "simulate",
            "--out",
            out.to_str().unwrap(),
            "--seed",
            "3",
            "--settings",
            path.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let scene: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scene_0000/scene.json")).unwrap())
            .unwrap();
    assert_eq!(scene["settings"]["size"], 128);
    assert_eq!(
        scene["active_bodies"], 0,
        "no body is active with active_fraction 0"
    );
    // A broken settings file is refused with the file named.
    std::fs::write(&path, "{\"size\": \"big\"}").unwrap();
    let bad = std::process::Command::new(bin)
        .args([
            "simulate",
            "--out",
            tmp.path().join("x").to_str().unwrap(),
            "--settings",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not valid simulation settings"));
    // Any subset overrides, at any depth; the rest keeps its defaults (issue: bad input).
    let print = |settings: &str| {
        std::fs::write(&path, settings).unwrap();
        let out = std::process::Command::new(bin)
            .args(["simulate", "--print-settings", "--settings"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        (out.status.success(), out.stdout, stderr)
    };
    let (ok, stdout, stderr) =
        print(r#"{"size": 640, "atmosphere": {"turbulence_rms_mm": {"min": 0.5}}}"#);
    assert!(ok, "{stderr}");
    let merged: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let defaults: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(merged["size"], 640);
    assert_eq!(merged["atmosphere"]["turbulence_rms_mm"]["min"], 0.5);
    assert_eq!(
        merged["atmosphere"]["turbulence_rms_mm"]["max"],
        defaults["atmosphere"]["turbulence_rms_mm"]["max"]
    );
    assert_eq!(merged["landslides"], defaults["landslides"]);
    // switching a tagged choice (the filter's method) takes the new kind's own fields
    let (ok, stdout, stderr) = print(r#"{"filter": {"method": {"kind": "boxcar", "side": 5}}}"#);
    assert!(ok, "{stderr}");
    let merged: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(merged["filter"]["method"]["kind"], "boxcar");
    // a misspelt key is refused by its path, in one line, and nothing is written
    let (ok, _, stderr) = print(r#"{"atmosphere": {"turbulence_rms": 2}}"#);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("unknown setting 'atmosphere.turbulence_rms'")
            && stderr.contains("settings.json"),
        "{stderr}"
    );
}

#[test]
fn two_scene_folders_of_one_name_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = SimulationSettings {
        size: 128,
        ..SimulationSettings::default()
    };
    let scene = simulate_scene(&settings, "scene_0000", 3, None, &Silent).unwrap();
    let a = write_scene(&scene, &tmp.path().join("a"), 0).unwrap();
    let b = write_scene(&scene, &tmp.path().join("b"), 0).unwrap();
    let out = tmp.path().join("dataset");
    let err = fringewatch::dataset::build_dataset(
        &[a, b],
        &out,
        &fringewatch::dataset::DatasetSettings::default(),
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("same folder name 'scene_0000'"), "{err}");
    assert!(!out.exists(), "nothing written");
}
