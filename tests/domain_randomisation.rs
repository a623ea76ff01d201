//! Domain randomisation of the simulator and the held-out families (issue: training data that
//! does not teach one simulator): every randomised setting changes the scene the way it should,
//! the recorded settings reproduce a scene bit for bit, the held-out family lies outside the
//! training ranges, and `models/score_heldout.sh` prints its per-family table.

mod common;

use fringewatch::phase::wrap;
use fringewatch::progress::Silent;
use fringewatch::simulate::domain::{draw_scene_settings, DomainSettings, Family};
use fringewatch::simulate::geocoding::GeocodeResampling;
use fringewatch::simulate::params::{FilterMethod, GeocodingSettings, RampSettings};
use fringewatch::simulate::{simulate_scene, Scene, SimulationSettings};
use ndarray::Array2;

/// A small fixed-chain scene without filters, so the phase is the noisy phase itself.
fn unfiltered(size: usize) -> SimulationSettings {
    let mut s = SimulationSettings {
        size,
        ..SimulationSettings::default()
    };
    s.filter.method = FilterMethod::None;
    s.filter.gaussian_wavelength_m = 0.0;
    s
}

fn scene(settings: &SimulationSettings, seed: u64) -> Scene {
    simulate_scene(settings, "scene_0000", seed, None, &Silent).unwrap()
}

/// Mean |wrapped difference| between horizontal neighbours: phase roughness, dominated by noise.
fn roughness(phase: &Array2<f32>) -> f64 {
    let (rows, cols) = phase.dim();
    let (mut sum, mut n) = (0.0, 0usize);
    for r in 0..rows {
        for c in 1..cols {
            let d = wrap(f64::from(phase[(r, c)] - phase[(r, c - 1)])).abs();
            if d.is_finite() {
                sum += d;
                n += 1;
            }
        }
    }
    sum / n as f64
}

fn bits(a: &Array2<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn recorded_settings_reproduce_a_randomised_scene_bit_for_bit() {
    let mut family = Family::Randomised.settings(&[]);
    family.size = 256;
    for seed in [11u64, 12] {
        let first = scene(&family, seed);
        assert_eq!(first.description.family.as_deref(), Some("randomised"));
        let recorded = &first.description.settings;
        assert!(
            recorded.domain.is_none(),
            "scene.json records the drawn settings"
        );
        // Through JSON, as scene.json holds them.
        let text = serde_json::to_string(recorded).unwrap();
        let replayed: SimulationSettings = serde_json::from_str(&text).unwrap();
        let again = scene(&replayed, seed);
        assert_eq!(
            bits(&first.phase),
            bits(&again.phase),
            "phase of seed {seed}"
        );
        assert_eq!(bits(&first.coherence), bits(&again.coherence));
        assert_eq!(bits(&first.dem), bits(&again.dem));
        let boxes = |s: &Scene| -> Vec<([usize; 4], bool)> {
            s.signals.iter().map(|t| (t.box_px, t.visible)).collect()
        };
        assert_eq!(boxes(&first), boxes(&again));
    }
}

#[test]
fn draws_span_the_training_ranges_and_the_outside_family_lies_beyond_them() {
    let train = Family::Randomised.settings(&[]);
    let outside = Family::Outside.settings(&[]);
    let (mut looks, mut methods, mut sources, mut nearest, mut ramps, mut debiased) = (
        Vec::new(),
        std::collections::BTreeSet::new(),
        Vec::new(),
        0,
        0,
        0,
    );
    for seed in 0..60u64 {
        let s = draw_scene_settings(&train, seed).unwrap();
        looks.push(s.coherence.looks);
        methods.insert(
            format!("{:?}", s.filter.method)
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string(),
        );
        if let Some(g) = s.geocoding {
            sources.push(g.source_pixel_m);
            nearest += usize::from(g.resampling == GeocodeResampling::Nearest);
        }
        ramps += usize::from(s.atmosphere.ramp.is_some());
        debiased += usize::from(s.coherence.debiased);
        let rms_rad = s.atmosphere.turbulence_rms_mm.min * 4.0 * std::f64::consts::PI
            / (s.wavelength_m * 1000.0);
        assert!(
            (0.2 - 1e-9..=3.0 + 1e-9).contains(&rms_rad),
            "turbulence {rms_rad} rad"
        );
        let o = draw_scene_settings(&outside, seed).unwrap();
        assert!(
            o.coherence.looks <= 2,
            "outside looks {}",
            o.coherence.looks
        );
        assert!(matches!(o.filter.method, FilterMethod::Boxcar { .. }));
        assert!(o.coherence.estimation_radius >= 4);
        assert!(o.geocoding.is_some_and(|g| g.source_pixel_m >= 50.0));
        assert!(o.atmosphere.turbulence_exponent > 3.2);
    }
    assert!(looks.iter().all(|l| (3..=50).contains(l)));
    assert!(
        looks.iter().any(|l| *l <= 6) && looks.iter().any(|l| *l >= 25),
        "{looks:?}"
    );
    assert_eq!(
        methods.len(),
        4,
        "none, Goldstein, adaptive Goldstein and adf all drawn: {methods:?}"
    );
    assert!(sources.iter().all(|p| (15.0..=40.0).contains(p)));
    assert!(
        !sources.is_empty() && sources.len() < 60,
        "finer sources are left as they are"
    );
    assert!(nearest > 0 && nearest < sources.len());
    assert!(ramps > 10 && ramps < 50 && debiased > 5 && debiased < 40);
}

#[test]
fn more_looks_give_less_phase_noise_at_equal_coherence() {
    let mut few = unfiltered(192);
    few.coherence.looks = 3;
    let mut many = few.clone();
    many.coherence.looks = 30;
    let (a, b) = (scene(&few, 5), scene(&many, 5));
    assert_eq!(
        bits(&a.true_coherence),
        bits(&b.true_coherence),
        "same coherence"
    );
    let (ra, rb) = (roughness(&a.phase), roughness(&b.phase));
    assert!(rb < 0.75 * ra, "3 looks {ra:.3} rad, 30 looks {rb:.3} rad");
}

#[test]
fn alpha_zero_leaves_the_phase_unfiltered_and_alpha_one_filters_it() {
    let none = unfiltered(192);
    let mut alpha0 = none.clone();
    alpha0.filter.method = FilterMethod::Goldstein;
    alpha0.filter.goldstein.alpha = 0.0;
    let mut alpha1 = alpha0.clone();
    alpha1.filter.goldstein.alpha = 1.0;
    let (p0, pa0, pa1) = (
        scene(&none, 8).phase,
        scene(&alpha0, 8).phase,
        scene(&alpha1, 8).phase,
    );
    let largest = p0
        .iter()
        .zip(pa0.iter())
        .map(|(a, b)| wrap(f64::from(a - b)).abs())
        .fold(0.0, f64::max);
    assert!(largest < 1e-3, "α = 0 moved the phase by {largest} rad");
    assert!(roughness(&pa1) < 0.5 * roughness(&p0));
}

#[test]
fn a_ramp_adds_a_plane_to_the_phase() {
    let flat = unfiltered(160);
    let mut ramped = flat.clone();
    let ramp = RampSettings {
        amplitude_rad: 9.0,
        azimuth_deg: 30.0,
        quadratic: 0.0,
    };
    ramped.atmosphere.ramp = Some(ramp);
    let (a, b) = (scene(&flat, 3).phase, scene(&ramped, 3).phase);
    let plane =
        fringewatch::simulate::atmosphere::orbital_ramp(160, 160, 9.0, 30f64.to_radians(), 0.0);
    let mut worst = 0.0f64;
    for ((pa, pb), q) in a.iter().zip(b.iter()).zip(plane.iter()) {
        worst = worst.max(wrap(f64::from(pb - pa - q)).abs());
    }
    assert!(
        worst < 2e-3,
        "phase difference departs from the plane by {worst} rad"
    );
    let (lo, hi) = plane
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    assert!((f64::from(hi - lo) - 9.0).abs() < 0.05);
}

#[test]
fn a_coarse_source_grid_geocoded_by_nearest_neighbour_makes_blocks() {
    let mut s = unfiltered(150);
    s.geocoding = Some(GeocodingSettings {
        source_pixel_m: 45.0,
        resampling: GeocodeResampling::Nearest,
        offset_px: (0.0, 0.0),
    });
    let blocky = scene(&s, 4);
    let plain = scene(&unfiltered(150), 4);
    // 45 m cells over 15 m pixels: 3 × 3 blocks of equal phase and coherence.
    let (mut inside, mut equal) = (0, 0);
    for r in 0..150 {
        for c in 0..149 {
            if c % 3 != 2 {
                inside += 1;
                equal += usize::from(blocky.phase[(r, c)] == blocky.phase[(r, c + 1)]);
            }
        }
    }
    assert!(equal as f64 > 0.99 * inside as f64, "{equal} of {inside}");
    assert!(roughness(&blocky.phase) < roughness(&plain.phase));
    assert_eq!(blocky.coherence[(0, 0)], blocky.coherence[(1, 1)]);
}

#[test]
fn snow_decorrelates_the_highest_ground() {
    let bare = unfiltered(160);
    let mut snowy = bare.clone();
    snowy.coherence.snow_cover = 0.3;
    let (a, b) = (scene(&bare, 6), scene(&snowy, 6));
    let mut heights: Vec<f32> = a.dem.iter().copied().collect();
    heights.sort_by(|x, y| x.total_cmp(y));
    let line = heights[(0.7 * (heights.len() - 1) as f64) as usize];
    for ((z, ga), gb) in a
        .dem
        .iter()
        .zip(a.true_coherence.iter())
        .zip(b.true_coherence.iter())
    {
        if *z > line {
            assert!(*gb <= (0.1 * ga).max(0.02) + 1e-6);
        } else {
            assert_eq!(ga, gb);
        }
    }
}

#[test]
fn a_real_dem_gives_the_scene_its_relief_at_a_drawn_crop() {
    let Some(dem) = common::shared_data("dems/massifcentral_cevennes_srtm30_utm31.tif") else {
        return;
    };
    let mut family = Family::Randomised.settings(&[dem.display().to_string()]);
    family.size = 200;
    family.domain.as_mut().unwrap().synthetic_share = 0.0;
    let (a, b) = (scene(&family, 21), scene(&family, 22));
    assert_eq!(a.description.dem_source, dem.display().to_string());
    assert!(a.description.relief.is_none());
    let utm31 = fringewatch::raster::Crs::from_definition("EPSG:32631").unwrap();
    assert!(a.grid.crs.same_as(&utm31));
    assert_ne!(
        a.grid.geo_transform, b.grid.geo_transform,
        "two scenes, two crops"
    );
    // The scene's relief is the DEM warped onto the scene grid.
    let file = fringewatch::raster::io::RasterFile::open(&dem).unwrap();
    let warped = fringewatch::raster::align::warp_band(
        &file,
        &a.grid,
        fringewatch::raster::align::Resampling::Bilinear,
    )
    .unwrap();
    assert_eq!(bits(&warped), bits(&a.dem));
    let (lo, hi) = a
        .dem
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    assert!(hi - lo > 100.0, "Cévennes relief {lo}..{hi} m");
}

#[test]
fn the_held_out_matese_tile_is_refused_for_training_scenes() {
    let family =
        Family::Randomised.settings(&["../shared/data/real/srtm3_matese/N41E014.hgt".to_string()]);
    let err = draw_scene_settings(&family, 1).unwrap_err().to_string();
    assert!(err.contains("held-out Matese"), "{err}");
    // The held-out processing family may use it (it never trains).
    let outside = DomainSettings::outside(&["N41E014.hgt".to_string()]);
    let s = SimulationSettings {
        domain: Some(outside),
        ..SimulationSettings::default()
    };
    assert!(draw_scene_settings(&s, 1).is_ok());
}

#[test]
fn score_heldout_prints_one_row_per_family() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_fringewatch");
    let heldout = tmp.path().join("heldout");
    let mut families = vec![
        ("randomised", vec!["--family", "randomised"]),
        ("outside", vec!["--family", "outside"]),
    ];
    let matese = common::shared_data("srtm3_matese/N41E014.hgt");
    let matese_arg = matese.as_ref().map(|p| p.display().to_string());
    if let Some(m) = &matese_arg {
        families.push((
            "matese",
            vec!["--family", "randomised", "--dem", m.as_str()],
        ));
    }
    for (name, args) in &families {
        let out = std::process::Command::new(bin)
            .args(["--quiet", "simulate", "--out"])
            .arg(heldout.join(name))
            .args(["--seed", "77", "--scenes", "2", "--size", "320"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(heldout.join(name).join("scene_0000/scene.json")).unwrap(),
        )
        .unwrap();
        let expected = if *name == "outside" {
            "outside"
        } else {
            "randomised"
        };
        assert_eq!(json["family"], expected);
    }
    let model = fringewatch::model::default_model().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/score_heldout.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .args([
            std::path::Path::new(bin),
            &model,
            &heldout,
            &tmp.path().join("scores"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The family table closes the output (evaluate's own tables come before it).
    let start = stdout.find("| family |").expect("the family table");
    let lines: Vec<&str> = stdout[start..]
        .lines()
        .filter(|l| l.starts_with('|'))
        .collect();
    assert_eq!(
        lines[0],
        "| family | scenes | labels | mAP@0.5 per class | AP@0.5 agnostic | AP@0.3 agnostic | recall at best F1 (agnostic) | baseline AP@0.5 | baseline AP@0.3 |"
    );
    let rows = &lines[2..];
    assert_eq!(rows.len(), families.len(), "{stdout}");
    // The script takes the family folders in name order.
    let mut names: Vec<&str> = families.iter().map(|f| f.0).collect();
    names.sort();
    for (row, name) in rows.iter().zip(names) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 9, "{row}");
        assert_eq!(cells[0], name);
        assert_eq!(cells[1], "2");
        for value in &cells[3..] {
            let v: f64 = value.parse().unwrap_or_else(|_| panic!("{value} in {row}"));
            assert!((0.0..=1.0).contains(&v), "{row}");
        }
    }
    // Scored again on the first run's stacks (STACKS_FROM): `detect` instead of `run`, the same
    // table.
    let again = std::process::Command::new("bash")
        .arg(&script)
        .args([
            std::path::Path::new(bin),
            &model,
            &heldout,
            &tmp.path().join("scores-again"),
        ])
        .env("STACKS_FROM", tmp.path().join("scores"))
        .output()
        .unwrap();
    let again_stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{again_stdout}");
    assert!(!tmp
        .path()
        .join("scores-again/layers_outside_scene_0000")
        .exists());
    let table = |text: &str| text[text.find("| family |").unwrap()..].to_string();
    assert_eq!(table(&again_stdout), table(&stdout));

    // models/compare_heldout.py scores the two runs as `evaluate` did (its full-family figures
    // are the table's per-class and class-agnostic AP@0.5), and finds no difference between
    // the same detections on any draw of scenes.
    let compare =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/compare_heldout.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(&compare)
        .arg(&heldout)
        .arg(tmp.path().join("scores"))
        .arg(tmp.path().join("scores-again"))
        .arg("50")
        .output()
        .unwrap();
    let compared = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{compared}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compared_rows: Vec<&str> = compared
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| family"))
        .collect();
    assert_eq!(compared_rows.len(), rows.len(), "{compared}");
    for (row, compared_row) in rows.iter().zip(&compared_rows) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let theirs: Vec<&str> = compared_row
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        assert_eq!(theirs[0], cells[0]);
        assert_eq!(
            theirs[2],
            format!("{} → {}", cells[3], cells[3]),
            "{compared_row}"
        );
        assert_eq!(
            theirs[5],
            format!("{} → {}", cells[4], cells[4]),
            "{compared_row}"
        );
        for k in [3, 6] {
            assert_eq!(theirs[k], "+0.000 [+0.000, +0.000]", "{compared_row}");
        }
    }
}

#[test]
fn fast_bodies_decorrelate_where_their_fringes_would_alias_and_nowhere_else() {
    // Fast earthflows (30–60 m/yr over 12 days: several fringes across a few pixels).
    let mut without = unfiltered(320);
    without.baseline_days = Some(12);
    without.landslides.earthflow.bodies_per_km2 = 1.5;
    without.landslides.earthflow.velocity_m_per_yr =
        fringewatch::simulate::params::Interval::new(30.0, 60.0);
    without.landslides.active_fraction = 1.0;
    without.landslides.gradient_decorrelation = false;
    let mut with = without.clone();
    with.landslides.gradient_decorrelation = true;
    let (a, b) = (scene(&without, 21), scene(&with, 21));
    assert!(a.bodies.iter().any(|body| body.active), "no active body");
    // Pixels of moving bodies; the gradient of a pixel also reads its 4 neighbours.
    let in_body = Array2::from_shape_fn(a.true_coherence.dim(), |(r, c)| {
        let (x, y) = a.grid.pixel_to_map(c as f64 + 0.5, r as f64 + 0.5);
        a.bodies
            .iter()
            .any(|body| body.active && body.normalised_radius(x, y) < 1.0)
    });
    let (rows, cols) = in_body.dim();
    let near_body = |r: usize, c: usize| {
        (r.saturating_sub(1)..(r + 2).min(rows))
            .any(|i| (c.saturating_sub(1)..(c + 2).min(cols)).any(|j| in_body[(i, j)]))
    };
    let (mut lowered, mut inside) = (0usize, 0usize);
    for ((r, c), ga) in a.true_coherence.indexed_iter() {
        let gb = b.true_coherence[(r, c)];
        assert!(gb <= *ga + 1e-6);
        if in_body[(r, c)] {
            inside += 1;
            if gb < 0.5 * *ga {
                lowered += 1;
            }
        } else if !near_body(r, c) {
            assert_eq!(*ga, gb, "away from the bodies at ({r}, {c})");
        }
    }
    assert!(inside > 100, "{inside} body pixels");
    assert!(
        lowered * 10 >= inside,
        "aliasing decorrelated {lowered} of {inside} body pixels"
    );
}

#[test]
fn randomised_bodies_draw_varied_profiles_and_the_fixed_family_keeps_the_smooth_one() {
    let mut family = Family::Randomised.settings(&[]);
    family.size = 320;
    let mut profiles = Vec::new();
    for seed in [31u64, 32, 33] {
        let s = scene(&family, seed);
        assert!(s.description.settings.landslides.profiles.is_some());
        profiles.extend(s.bodies.iter().map(|b| b.profile));
    }
    assert!(profiles.len() >= 6, "{} bodies", profiles.len());
    let edges: Vec<f64> = profiles.iter().map(|p| p.edge_exponent).collect();
    let skews: Vec<f64> = profiles.iter().map(|p| p.skew).collect();
    assert!(edges.iter().any(|&p| p > 4.0) && edges.iter().any(|&p| p < 3.0));
    assert!(skews.iter().any(|&k| k > 0.2) && skews.iter().any(|&k| k < -0.2));
    let mut fixed = Family::Fixed.settings(&[]);
    fixed.size = 320;
    let s = scene(&fixed, 31);
    assert!(s
        .bodies
        .iter()
        .all(|b| b.profile == fringewatch::simulate::landslides::Profile::default()));
}
