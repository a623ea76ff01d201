//! Raster I/O, grid alignment and the ISL / PC1 / stack layers on real and synthetic rasters.

mod common;

use std::path::Path;
use std::process::Command;

use common::{read, shared_data, tool, utm32n_grid, write_tif};
use fringewatch::progress::Silent;
use fringewatch::raster::io::RasterFile;
use fringewatch::sensitivity::layer::{compute_isl, Incidence, IslJob, Look};
use fringewatch::sensitivity::{isl, AngleField, CoherenceWeight};
use fringewatch::stack::{build_stack, read_stack, StackJob};
use fringewatch::terrain::layer::compute_pc1;
use fringewatch::terrain::pca::{LoadingsChoice, Pc1Settings};
use fringewatch::terrain::{slope_aspect, GradientMethod};
use ndarray::Array2;

fn hills(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let (x, y) = (c as f64, r as f64);
        (400.0 + 120.0 * (x / 23.0).sin() * (y / 31.0).cos() + 0.4 * x) as f32
    })
}

#[test]
fn gmt_netcdf_grid_is_read_with_its_georeferencing() {
    if !tool("gmt") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let grd = dir.path().join("phase_ll.grd");
    // GMT writes gmt.history into its working directory: keep it in the temporary one.
    let status = Command::new("gmt")
        .current_dir(dir.path())
        .args([
            "grdmath",
            "-R14/14.5/41/41.5",
            "-I0.01",
            "-fg",
            "X",
            "Y",
            "MUL",
            "=",
        ])
        .arg(&grd)
        .status()
        .unwrap();
    assert!(status.success());
    let f = RasterFile::open(&grd).unwrap();
    let g = f.grid();
    assert_eq!((g.width, g.height), (51, 51));
    // gridline-registered nodes 14.00…14.50 → cell edges start half a cell west/north
    let gt = g.geo_transform;
    assert!(
        (gt[0] - 13.995).abs() < 1e-9 && (gt[3] - 41.505).abs() < 1e-9,
        "{gt:?}"
    );
    assert!((gt[1] - 0.01).abs() < 1e-12 && (gt[5] + 0.01).abs() < 1e-12);
    assert!(g.crs.geographic, "CF lon/lat grid is taken as WGS 84");
    let v = f.read_band(1).unwrap();
    assert!(
        (v[(0, 0)] - 14.0 * 41.5).abs() < 1e-3,
        "north-west node value {}",
        v[(0, 0)]
    );
    assert!((v[(50, 50)] - 14.5 * 41.0).abs() < 1e-3);

    // a Cartesian GMT grid has no CRS: refused with an actionable message
    let cart = dir.path().join("xy.grd");
    Command::new("gmt")
        .current_dir(dir.path())
        .args(["grdmath", "-R0/10/0/10", "-I1", "X", "="])
        .arg(&cart)
        .status()
        .unwrap();
    let err = RasterFile::open(&cart).unwrap_err().to_string();
    assert!(
        err.contains("no coordinate reference system") && err.contains("xy.grd"),
        "{err}"
    );
}

#[test]
fn isl_in_strips_equals_the_whole_raster_and_lies_on_the_coherence_grid() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (600, 140); // more than two strips
    let grid = utm32n_grid(cols, rows, 15.0);
    let z = hills(rows, cols);
    let coh = Array2::from_shape_fn((rows, cols), |(r, c)| {
        0.2 + 0.7 * ((r * 7 + c * 3) % 100) as f32 / 100.0
    });
    let (dem_p, coh_p, out) = (
        dir.path().join("dem.tif"),
        dir.path().join("coh.tif"),
        dir.path().join("isl.tif"),
    );
    write_tif(&dem_p, &grid, &z);
    write_tif(&coh_p, &grid, &coh);
    let job = IslJob {
        dem: dem_p,
        coherence: coh_p.clone(),
        incidence: Incidence::Degrees(39.0),
        look: Look::Heading(-10.5),
        like: None,
        out: out.clone(),
        weight: CoherenceWeight::default(),
        gradient: GradientMethod::ZevenbergenThorne,
    };
    compute_isl(&job, &Silent).unwrap();
    let written = RasterFile::open(&out).unwrap();
    assert!(written
        .grid()
        .same_as(RasterFile::open(&coh_p).unwrap().grid()));
    assert_eq!(written.grid().geo_transform, grid.geo_transform);
    // whole-raster reference with a NaN halo (grid edge)
    let mut halo = Array2::from_elem((rows + 2, cols + 2), f32::NAN);
    halo.slice_mut(ndarray::s![1..rows + 1, 1..cols + 1])
        .assign(&z);
    let expected = isl(
        halo.view(),
        &fringewatch::raster::CellSpacing::uniform(15.0, rows + 2),
        coh.view(),
        AngleField::Constant(39f64.to_radians()),
        AngleField::Constant((-10.5f64).to_radians()),
        &CoherenceWeight::default(),
        GradientMethod::ZevenbergenThorne,
    );
    let got = read(&out);
    let max = got
        .iter()
        .zip(expected.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max < 1e-6,
        "strip processing differs from whole-raster by {max}"
    );
    assert!(got.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn dem_in_another_crs_is_warped_onto_the_reference_grid() {
    if !tool("gdalwarp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let grid = utm32n_grid(200, 200, 15.0);
    let z = hills(200, 200);
    let dem_utm = dir.path().join("dem_utm.tif");
    write_tif(&dem_utm, &grid, &z);
    let dem_ll = dir.path().join("dem_ll.tif");
    let st = Command::new("gdalwarp")
        .args(["-q", "-t_srs", "EPSG:4326", "-r", "bilinear"])
        .arg(&dem_utm)
        .arg(&dem_ll)
        .status()
        .unwrap();
    assert!(st.success());
    let out = dir.path().join("pc1.tif");
    compute_pc1(
        &dem_ll,
        Some(&dem_utm),
        &out,
        &Pc1Settings::default(),
        &Silent,
    )
    .unwrap();
    let f = RasterFile::open(&out).unwrap();
    assert!(
        f.grid().same_as(&grid),
        "PC1 lies exactly on the --like grid"
    );
    // slope of the warped-back DEM matches the original's in the interior
    let back = fringewatch::raster::align::warp_band(
        &RasterFile::open(&dem_ll).unwrap(),
        &grid,
        fringewatch::raster::align::Resampling::Bilinear,
    )
    .unwrap();
    let (s0, _) = slope_aspect(z.view(), &grid.spacing(), GradientMethod::ZevenbergenThorne);
    let (s1, _) = slope_aspect(
        back.view(),
        &grid.spacing(),
        GradientMethod::ZevenbergenThorne,
    );
    let (med, _, _) = common::abs_diff_stats(
        &s0.mapv(f32::to_degrees),
        &s1.mapv(f32::to_degrees),
        10,
        false,
    );
    assert!(
        med < 0.5,
        "median slope change after a round trip through EPSG:4326: {med}°"
    );
}

#[test]
fn real_geographic_crop_gives_sane_isl_and_pc1() {
    let (Some(dem), Some(coh), Some(unw)) = (
        shared_data("s1_pyrate_cropA_dem.tif"),
        shared_data("s1_pyrate_cropA_20180106_20180130_coherence.tif"),
        shared_data("s1_pyrate_cropA_20180106_20180130_unwrapped.tif"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let f = RasterFile::open(&dem).unwrap();
    assert!(f.grid().crs.geographic);
    let z = f.read_band(1).unwrap();
    let (slope, _) = slope_aspect(
        z.view(),
        &f.grid().spacing(),
        GradientMethod::ZevenbergenThorne,
    );
    let deg: Vec<f32> = slope
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| v.to_degrees())
        .collect();
    let max = deg.iter().cloned().fold(0.0, f32::max);
    let mean = deg.iter().sum::<f32>() / deg.len() as f32;
    // ~150 m cells over Mexico City and its hills: gentle to moderate slopes. Treating degrees as
    // metres would give slopes of ~89°.
    assert!(
        max > 1.0 && max < 45.0 && mean < 10.0,
        "slope mean {mean}°, max {max}°"
    );

    let isl_out = dir.path().join("isl.tif");
    let s = compute_isl(
        &IslJob {
            dem: dem.clone(),
            coherence: coh.clone(),
            incidence: Incidence::Degrees(39.0),
            look: Look::Heading(-10.5),
            like: None,
            out: isl_out.clone(),
            weight: CoherenceWeight::default(),
            gradient: GradientMethod::ZevenbergenThorne,
        },
        &Silent,
    )
    .unwrap();
    assert!(
        s.valid_pixels > 5000 && s.mean_isl > 0.05 && s.mean_isl < 0.9,
        "{s:?}"
    );
    let pc1_out = dir.path().join("pc1.tif");
    let report = compute_pc1(
        &dem,
        None,
        &pc1_out,
        &Pc1Settings {
            loadings: LoadingsChoice::Fit,
            ..Default::default()
        },
        &Silent,
    )
    .unwrap();
    let ev = report.explained_variance.unwrap();
    assert!(ev[0] > 0.25 && ev[0] <= 1.0);
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("pc1.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["fitted"], true);

    // stack: wrap the real unwrapped phase first
    let uf = RasterFile::open(&unw).unwrap();
    let wrapped = uf.read_band(1).unwrap().mapv(|p| p.sin().atan2(p.cos()));
    let phase = dir.path().join("phase.tif");
    let mut w = fringewatch::raster::io::GeoTiffWriter::create(
        &phase,
        uf.grid(),
        &[fringewatch::raster::io::Encoding::Float32],
        &["phase"],
    )
    .unwrap();
    w.write_rows(1, 0, wrapped.view()).unwrap();
    w.finish().unwrap();
    for uint16 in [false, true] {
        let out = dir.path().join(format!("stack_{uint16}.tif"));
        build_stack(
            &StackJob {
                phase: phase.clone(),
                isl: isl_out.clone(),
                pc1: pc1_out.clone(),
                out: out.clone(),
                uint16,
            },
            &Silent,
        )
        .unwrap();
        let (file, bands) = read_stack(&out).unwrap();
        assert!(file.grid().same_as(uf.grid()));
        let step = if uint16 {
            2.0 * std::f32::consts::PI / 65534.0
        } else {
            1e-6
        };
        for (a, b) in bands[0].iter().zip(wrapped.iter()) {
            assert_eq!(a.is_finite(), b.is_finite());
            if a.is_finite() {
                assert!((a - b).abs() <= step, "phase {a} vs {b}");
            }
        }
        let isl_ref = read(&isl_out);
        for (a, b) in bands[1].iter().zip(isl_ref.iter()) {
            assert_eq!(a.is_finite(), b.is_finite(), "nodata propagated");
        }
    }
}

#[test]
fn uint16_stack_records_scale_and_offset() {
    if !tool("gdalinfo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let grid = utm32n_grid(50, 40, 15.0);
    let phase = Array2::from_shape_fn((40, 50), |(r, c)| {
        (r as f32 * 0.3 + c as f32 * 0.2).sin() * 3.0
    });
    let isl_v = Array2::from_shape_fn((40, 50), |(r, _)| r as f32 / 40.0);
    let pc1_v = Array2::from_shape_fn((40, 50), |(_, c)| c as f32 * 0.1 - 2.0);
    let p = |n: &str| dir.path().join(n);
    write_tif(&p("phase.tif"), &grid, &phase);
    write_tif(&p("isl.tif"), &grid, &isl_v);
    write_tif(&p("pc1.tif"), &grid, &pc1_v);
    build_stack(
        &StackJob {
            phase: p("phase.tif"),
            isl: p("isl.tif"),
            pc1: p("pc1.tif"),
            out: p("s.tif"),
            uint16: true,
        },
        &Silent,
    )
    .unwrap();
    let info = Command::new("gdalinfo").arg(p("s.tif")).output().unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("Type=UInt16"), "{text}");
    assert_eq!(text.matches("Offset: ").count(), 3, "{text}");
    assert!(text.contains("FRINGEWATCH_CHANNELS=phase,isl,pc1"));
    let (_, bands) = read_stack(&p("s.tif")).unwrap();
    let pc1_step = 4.9 / 65534.0 + 1e-6;
    for (a, b) in bands[2].iter().zip(pc1_v.iter()) {
        assert!((a - b).abs() <= pc1_step as f32, "{a} vs {b}");
    }
}

#[test]
fn writer_leaves_nothing_when_dropped_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.tif");
    {
        let mut w = fringewatch::raster::io::GeoTiffWriter::create(
            &out,
            &utm32n_grid(10, 10, 15.0),
            &[fringewatch::raster::io::Encoding::Float32],
            &["x"],
        )
        .unwrap();
        w.write_rows(1, 0, Array2::<f32>::zeros((5, 10)).view())
            .unwrap();
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file, no temporary left"
    );
    assert!(!Path::new(&out).exists());
}

/// The writer writes each complete row of tiles to the file at once: GDAL's cache never holds
/// the raster, so a cancelled write drops its file without first compressing the cache into it
/// (a cancel in "stacking" took 2.9 s before; `benches/cancel_latency.py` measures it).
#[test]
fn the_writer_writes_each_complete_row_of_tiles_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.tif");
    let grid = utm32n_grid(1024, 700, 15.0);
    let mut w = fringewatch::raster::io::GeoTiffWriter::create(
        &out,
        &grid,
        &[fringewatch::raster::io::Encoding::Float32; 2],
        &["a", "b"],
    )
    .unwrap();
    // values that DEFLATE cannot shrink much: 256 rows × 1024 × 2 bands ≈ 2 MiB raw
    let noise = Array2::from_shape_fn((256, 1024), |(r, c)| {
        ((r * 7919 + c * 104_729) % 65_521) as f32 * 1.37e-3
    });
    let partial = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    w.write_rows(1, 0, noise.view()).unwrap();
    let one_band = partial();
    w.write_rows(2, 0, noise.view()).unwrap();
    let first_row_of_tiles = partial();
    assert!(
        first_row_of_tiles > one_band + 256 * 1024,
        "the first 256 rows of both bands are in the file: {one_band} → {first_row_of_tiles} bytes"
    );
    w.write_rows(1, 256, noise.slice(ndarray::s![..100, ..]).view())
        .unwrap();
    w.write_rows(2, 256, noise.slice(ndarray::s![..100, ..]).view())
        .unwrap();
    assert_eq!(
        partial(),
        first_row_of_tiles,
        "an incomplete row of tiles stays cached"
    );
    w.finish().unwrap();
    let back = RasterFile::open(&out).unwrap();
    assert_eq!(back.read_rows(2, 0, 256).unwrap(), noise);
}

/// ISL and PC1 run side by side; their progress reaches the caller as one fraction that never
/// runs backwards (issue: the QGIS plugin as analysts use it all day, defect 4: it went
/// 16.5 → 0 → 19.8 → 26.4 → 4.4 %).
#[test]
fn the_layer_chain_reports_one_monotone_progress() {
    use fringewatch::progress::Progress;
    use fringewatch::simulate::{output::write_scene, simulate_scene, SimulationSettings};
    struct Recorder(std::sync::Mutex<Vec<f64>>);
    impl Progress for Recorder {
        fn report(&self, fraction: f64, _message: &str) -> bool {
            self.0.lock().unwrap().push(fraction);
            true
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let settings = SimulationSettings {
        size: 400,
        ..SimulationSettings::default()
    };
    let scene = simulate_scene(&settings, "scene_0000", 5, None, &Silent).unwrap();
    let dir = write_scene(&scene, tmp.path(), 0).unwrap();
    let recorder = Recorder(std::sync::Mutex::new(Vec::new()));
    fringewatch::dataset::scene_stack(&dir, &tmp.path().join("layers"), &recorder).unwrap();
    let seen = recorder.0.into_inner().unwrap();
    assert!(seen.len() >= 10, "{} reports", seen.len());
    for w in seen.windows(2) {
        assert!(w[1] >= w[0], "progress ran back: {} → {}", w[0], w[1]);
    }
    assert!(seen.iter().all(|f| (0.0..=1.0).contains(f)));
    assert!(
        *seen.last().unwrap() > 0.99,
        "ends at {}",
        seen.last().unwrap()
    );
}

/// A cancel that arrives with a layer's last report, once the file is in place, comes too late
/// to undo anything: the call succeeds and its output stays (the CLI said "interrupted … removed"
/// while the file existed).
#[test]
fn a_cancel_at_the_last_report_keeps_the_finished_output() {
    use fringewatch::progress::Progress;
    struct CancelAtTheEnd;
    impl Progress for CancelAtTheEnd {
        fn report(&self, fraction: f64, _message: &str) -> bool {
            fraction < 1.0
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let grid = utm32n_grid(120, 90, 15.0);
    write_tif(&p("dem.tif"), &grid, &hills(90, 120));
    write_tif(&p("coh.tif"), &grid, &Array2::from_elem((90, 120), 0.8));
    write_tif(&p("phase.tif"), &grid, &Array2::from_elem((90, 120), 0.5));
    let pc1 = compute_pc1(
        &p("dem.tif"),
        None,
        &p("pc1.tif"),
        &Pc1Settings::default(),
        &CancelAtTheEnd,
    );
    assert!(pc1.is_ok() && p("pc1.tif").exists() && p("pc1.json").exists());
    let job = IslJob {
        dem: p("dem.tif"),
        coherence: p("coh.tif"),
        incidence: Incidence::Degrees(38.0),
        look: Look::Heading(-10.5),
        like: None,
        out: p("isl.tif"),
        weight: CoherenceWeight::default(),
        gradient: GradientMethod::ZevenbergenThorne,
    };
    assert!(compute_isl(&job, &CancelAtTheEnd).is_ok() && p("isl.tif").exists());
    let stack = StackJob {
        phase: p("phase.tif"),
        isl: p("isl.tif"),
        pc1: p("pc1.tif"),
        out: p("stack.tif"),
        uint16: false,
    };
    assert!(build_stack(&stack, &CancelAtTheEnd).is_ok() && p("stack.tif").exists());
    // a cancel before the end still leaves nothing
    struct CancelAtOnce;
    impl Progress for CancelAtOnce {
        fn report(&self, _fraction: f64, _message: &str) -> bool {
            false
        }
    }
    std::fs::remove_file(p("stack.tif")).unwrap();
    assert!(matches!(
        build_stack(&stack, &CancelAtOnce),
        Err(fringewatch::Error::Cancelled)
    ));
    assert!(!p("stack.tif").exists());
}

/// A phase brought to the detector's 15 m grid (`run` on rasters of other pixel sizes) is
/// computed in strips, never whole: the same values, to the bit, as one whole warp of cos φ and
/// sin φ and their angle, for a projected 30 m phase and a longitude/latitude one (through the
/// UTM zone of its centre), over several strips; no scratch file is left.
#[test]
fn the_phase_on_the_detector_grid_in_strips_is_one_whole_warp() {
    use fringewatch::raster::align::{warp_band, Resampling};
    use fringewatch::raster::detector_grid::phase_on_model_grid;
    use fringewatch::raster::{Crs, Grid};
    let dir = tempfile::tempdir().unwrap();
    let lon_lat = Grid {
        width: 260,
        height: 240,
        geo_transform: [14.2, 0.0003, 0.0, 41.6, 0.0, -0.0003],
        crs: Crs::from_definition("EPSG:4326").unwrap(),
    };
    for (name, grid) in [
        ("utm", common::utm32n_grid(210, 330, 30.0)),
        ("lonlat", lon_lat),
    ] {
        let phase = Array2::from_shape_fn((grid.height, grid.width), |(r, c)| {
            if (100..112).contains(&r) && (40..60).contains(&c) {
                return f32::NAN;
            }
            let (x, y) = (c as f32, r as f32);
            let phi = 0.21 * x + 0.05 * y + 3.0 * ((x - 90.0).hypot(y - 120.0) / 25.0).sin();
            (phi + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI
        });
        let source = dir.path().join(format!("{name}_phase.tif"));
        common::write_tif(&source, &grid, &phase);
        let scratch = dir.path().join(format!("{name}_scratch"));
        std::fs::create_dir_all(&scratch).unwrap();
        let out = dir.path().join(format!("{name}_15m.tif"));
        let on_grid =
            phase_on_model_grid(&RasterFile::open(&source).unwrap(), &out, &scratch).unwrap();
        assert!(
            on_grid.grid.height > 2 * fringewatch::raster::STRIP_ROWS,
            "{name}: {} rows, fewer than three strips",
            on_grid.grid.height
        );
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "{name}");
        let whole = |values: Array2<f32>, band: &str| {
            let path = dir.path().join(format!("{name}_{band}.tif"));
            common::write_tif(&path, &grid, &values);
            warp_band(
                &RasterFile::open(&path).unwrap(),
                &on_grid.grid,
                Resampling::Bilinear,
            )
            .unwrap()
        };
        let (cos, sin) = (
            whole(phase.mapv(f32::cos), "cos"),
            whole(phase.mapv(f32::sin), "sin"),
        );
        let strips = common::read(&out);
        let mut compared = 0;
        for ((p, c), s) in strips.iter().zip(&cos).zip(&sin) {
            let want = s.atan2(*c);
            assert!(
                p.to_bits() == want.to_bits() || (p.is_nan() && want.is_nan()),
                "{name}: {p} in strips against {want} whole"
            );
            compared += usize::from(p.is_finite());
        }
        assert!(compared > strips.len() / 2, "{name}: {compared} values");
    }
}
