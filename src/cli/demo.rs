//! `fringewatch demo`: the main job on built-in inputs. It uses the real Sentinel-1 crop shipped
//! in `../shared/data/real` (PyRate's Mexico City pair) when present, else a synthetic scene
//! made here, and runs ISL → PC1 → stack. Later steps (simulation, detection, scoring) extend it.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use clap::Args;
use fringewatch::raster::io::{Encoding, GeoTiffWriter, RasterFile};
use fringewatch::raster::{Crs, Grid};
use fringewatch::sensitivity::layer::{compute_isl, Incidence, IslJob, Look};
use fringewatch::sensitivity::CoherenceWeight;
use fringewatch::stack::{build_stack, StackJob};
use fringewatch::terrain::layer::compute_pc1;
use fringewatch::terrain::pca::Pc1Settings;
use fringewatch::terrain::GradientMethod;
use fringewatch::{Error, Result};
use ndarray::Array2;

use super::{print_pc1_report, Bar};

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Output directory (created if missing).
    #[arg(long, default_value = "demo_out")]
    out: PathBuf,
    /// Folder with the real test rasters (default: ../shared/data/real if it exists).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Use the synthetic scene even when real data is available.
    #[arg(long)]
    synthetic: bool,
}

/// Inputs of one demo scene.
struct Scene {
    name: &'static str,
    phase: PathBuf,
    coherence: PathBuf,
    dem: PathBuf,
    incidence_deg: f64,
    heading_deg: f64,
}

pub(crate) fn run(args: DemoArgs, quiet: bool) -> Result<()> {
    std::fs::create_dir_all(&args.out).map_err(|e| Error::Io {
        path: args.out.clone(),
        source: e,
    })?;
    let data = args.data.clone().or_else(|| {
        let p = PathBuf::from("../shared/data/real");
        p.is_dir().then_some(p)
    });
    let scene = match data {
        Some(dir) if !args.synthetic => real_scene(&dir, &args.out)?,
        _ => synthetic_scene(&args.out)?,
    };
    println!("demo scene: {}", scene.name);
    let isl = args.out.join("isl.tif");
    let bar = Bar::new(quiet, "ISL");
    let summary = compute_isl(
        &IslJob {
            dem: scene.dem.clone(),
            coherence: scene.coherence.clone(),
            incidence: Incidence::Degrees(scene.incidence_deg),
            look: Look::Heading(scene.heading_deg),
            like: Some(scene.phase.clone()),
            out: isl.clone(),
            weight: CoherenceWeight::default(),
            gradient: GradientMethod::ZevenbergenThorne,
        },
        &bar,
    )?;
    bar.done();
    println!(
        "ISL: {} ({} valid pixels, mean {:.3}, {:.1}% zero)",
        isl.display(),
        summary.valid_pixels,
        summary.mean_isl,
        100.0 * summary.zero_fraction
    );
    let pc1 = args.out.join("pc1.tif");
    let bar = Bar::new(quiet, "PC1");
    let report = compute_pc1(
        &scene.dem,
        Some(&scene.phase),
        &pc1,
        &Pc1Settings::default(),
        &bar,
    )?;
    bar.done();
    print_pc1_report(&report);
    let stack = args.out.join("stack.tif");
    let bar = Bar::new(quiet, "stack");
    build_stack(
        &StackJob {
            phase: scene.phase.clone(),
            isl,
            pc1,
            out: stack.clone(),
            uint16: false,
        },
        &bar,
    )?;
    bar.done();
    println!("stack: {} (phase, ISL, PC1)", stack.display());
    Ok(())
}

/// The PyRate crop: its phase is unwrapped, so it is wrapped here with atan2(sin φ, cos φ).
fn real_scene(dir: &Path, out: &Path) -> Result<Scene> {
    let unwrapped = dir.join("s1_pyrate_cropA_20180106_20180130_unwrapped.tif");
    let file = RasterFile::open(&unwrapped)?;
    let phase = file.read_band(1)?.mapv(|p| p.sin().atan2(p.cos()));
    let wrapped = out.join("phase_wrapped.tif");
    let mut w = GeoTiffWriter::create(&wrapped, file.grid(), &[Encoding::Float32], &["phase"])?;
    w.write_rows(1, 0, phase.view())?;
    w.finish()?;
    Ok(Scene {
        name: "real Sentinel-1 crop, T005A 2018-01-06/2018-01-30 (PyRate test data, EPSG:4326)",
        phase: wrapped,
        coherence: dir.join("s1_pyrate_cropA_20180106_20180130_coherence.tif"),
        dem: dir.join("s1_pyrate_cropA_dem.tif"),
        incidence_deg: 39.0,
        heading_deg: -10.5,
    })
}

/// A small synthetic scene on UTM 32N (15 m): Gaussian hills on a tilted plane, coherence
/// falling with slope, and a wrapped phase ramp. A stand-in until the simulator lands.
fn synthetic_scene(out: &Path) -> Result<Scene> {
    let n = 320;
    let crs = Crs::from_definition("EPSG:32632").map_err(|p| Error::parameter("crs", p))?;
    let grid = Grid {
        width: n,
        height: n,
        geo_transform: [600000.0, 15.0, 0.0, 4900000.0, 0.0, -15.0],
        crs,
    };
    let hills = [
        (80.0, 90.0, 300.0, 40.0),
        (220.0, 160.0, 450.0, 55.0),
        (150.0, 260.0, 250.0, 35.0),
    ];
    let dem = Array2::from_shape_fn((n, n), |(r, c)| {
        let (x, y) = (c as f64, r as f64);
        let base = 200.0 + 0.8 * x + 0.3 * y;
        let h: f64 = hills
            .iter()
            .map(|&(cx, cy, hgt, s)| {
                hgt * (-((x - cx).powi(2) + (y - cy).powi(2)) / (2.0 * s * s)).exp()
            })
            .sum();
        (base + h) as f32
    });
    let coherence = Array2::from_shape_fn((n, n), |(r, c)| {
        (0.85 - 0.4 * ((r as f64 / 40.0).sin() * (c as f64 / 55.0).cos()).abs()) as f32
    });
    let phase = Array2::from_shape_fn((n, n), |(r, c)| {
        let p = 2.0 * PI * (c as f64 / 70.0 + r as f64 / 160.0);
        p.sin().atan2(p.cos()) as f32
    });
    let write = |name: &str, values: &Array2<f32>| -> Result<PathBuf> {
        let path = out.join(format!("{name}.tif"));
        let mut w = GeoTiffWriter::create(&path, &grid, &[Encoding::Float32], &[name])?;
        w.write_rows(1, 0, values.view())?;
        w.finish()?;
        Ok(path)
    };
    Ok(Scene {
        name: "synthetic hills, UTM 32N 15 m (no real data found)",
        dem: write("dem", &dem)?,
        coherence: write("coherence", &coherence)?,
        phase: write("phase", &phase)?,
        incidence_deg: 39.0,
        heading_deg: -10.5,
    })
}
