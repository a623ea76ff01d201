//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use fringewatch::raster::io::{Encoding, GeoTiffWriter, RasterFile};
use fringewatch::raster::{Crs, Grid};
use ndarray::Array2;

/// A real raster from `../shared/data/real`, or `None` (with a message saying which file is
/// missing) when the shared folder is absent, so a plain clone still passes.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/real")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: shared test raster {} is missing", p.display());
        None
    }
}

/// Whether an external reference tool is on PATH; in CI (`CI` set) its absence is a failure,
/// since `.ci/run` installs it.
pub fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} must be installed in CI"
        );
        eprintln!("SKIP: {name} is not installed");
    }
    found
}

pub fn utm32n_grid(width: usize, height: usize, cell: f64) -> Grid {
    Grid {
        width,
        height,
        geo_transform: [600000.0, cell, 0.0, 4900000.0, 0.0, -cell],
        crs: Crs::from_definition("EPSG:32632").unwrap(),
    }
}

pub fn write_tif(path: &Path, grid: &Grid, values: &Array2<f32>) {
    let mut w = GeoTiffWriter::create(path, grid, &[Encoding::Float32], &["band"]).unwrap();
    w.write_rows(1, 0, values.view()).unwrap();
    w.finish().unwrap();
}

pub fn read(path: &Path) -> Array2<f32> {
    RasterFile::open(path).unwrap().read_band(1).unwrap()
}

/// Median and 99th percentile of |a − b| over cells finite in both, excluding `edge` cells
/// along every border. `circular` compares angles in degrees modulo 360.
pub fn abs_diff_stats(
    a: &Array2<f32>,
    b: &Array2<f32>,
    edge: usize,
    circular: bool,
) -> (f64, f64, usize) {
    let (rows, cols) = a.dim();
    let mut d = Vec::new();
    for r in edge..rows - edge {
        for c in edge..cols - edge {
            let (x, y) = (a[(r, c)] as f64, b[(r, c)] as f64);
            if x.is_finite() && y.is_finite() {
                let mut v = x - y;
                if circular {
                    v = (v + 180.0).rem_euclid(360.0) - 180.0;
                }
                d.push(v.abs());
            }
        }
    }
    d.sort_by(f64::total_cmp);
    let q = |p: f64| d[((d.len() - 1) as f64 * p).round() as usize];
    (q(0.5), q(0.99), d.len())
}

/// Python with onnxruntime, numpy and pycocotools: `FRINGEWATCH_PYTHON`, else the venv that
/// `.ci/setup` makes (`target/ci-venv`); in CI its absence is a failure.
pub fn venv_python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FRINGEWATCH_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must provide the Python venv (run .ci/setup)"
    );
    eprintln!("SKIP: no Python venv with onnxruntime/pycocotools (run .ci/setup)");
    None
}

/// A simulated scene folder multilooked `factor` × `factor` into `out` (pixels `factor` times
/// larger), as a processor that looks further writes it: the phase as the argument of the mean
/// complex signal, coherence, DEM and incidence as block means, each with its metadata (dates,
/// orbit, heading). `models/coarsen_scenes.py` does the same for whole families.
pub fn multilook_scene(scene_dir: &Path, out: &Path, factor: usize) {
    std::fs::create_dir_all(out).unwrap();
    for name in ["phase", "coherence", "dem", "incidence"] {
        let file = RasterFile::open(scene_dir.join(format!("{name}.tif"))).unwrap();
        let fine = file.read_band(1).unwrap();
        let (rows, cols) = (fine.nrows() / factor, fine.ncols() / factor);
        let coarse = Array2::from_shape_fn((rows, cols), |(r, c)| {
            let block = fine.slice(ndarray::s![
                factor * r..factor * (r + 1),
                factor * c..factor * (c + 1)
            ]);
            if name == "phase" {
                let (s, co) = block
                    .iter()
                    .fold((0.0, 0.0), |(s, co), v| (s + v.sin(), co + v.cos()));
                f32::atan2(s, co)
            } else {
                block.mean().unwrap()
            }
        });
        let mut grid = file.grid().clone();
        grid.width = cols;
        grid.height = rows;
        grid.geo_transform[1] *= factor as f64;
        grid.geo_transform[5] *= factor as f64;
        let items = file.metadata_items();
        let items: Vec<(&str, String)> =
            items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        fringewatch::raster::io::write_single_band(
            &out.join(format!("{name}.tif")),
            &grid,
            coarse.view(),
            name,
            &items,
        )
        .unwrap();
    }
    for name in ["scene.json", "truth.gpkg"] {
        if scene_dir.join(name).exists() {
            std::fs::copy(scene_dir.join(name), out.join(name)).unwrap();
        }
    }
}
