//! Depression filling, MFD catchment area and the TWI computed over tiles equal the whole-raster
//! results bit for bit: on the real San Gabriel DEM with tile sizes that divide neither side, and
//! on a made-up DEM whose depression, flat and nodata hole span several tiles.

mod common;

use common::shared_data;
use fringewatch::error::Error;
use fringewatch::progress::Silent;
use fringewatch::raster::io::RasterFile;
use fringewatch::raster::scratch::{BlockStore, MemoryBlocks, ScratchFile, WindowSource};
use fringewatch::raster::CellSpacing;
use fringewatch::terrain::hydrology::tiled::{
    fill_depressions_tiled, mfd_catchment_area_tiled, TiledWork, Tiling,
};
use fringewatch::terrain::hydrology::{
    fill_depressions, mfd_catchment_area, twi_routed, Routing, DEFAULT_CONVERGENCE,
};
use ndarray::{s, Array2, ArrayView2};

fn tiled_fill(dem: ArrayView2<f32>, tiling: Tiling) -> (Array2<f32>, TiledWork) {
    let mut out = Array2::from_elem(dem.dim(), -1.0f32);
    let blocks = MemoryBlocks::new(tiling.count());
    let work = fill_depressions_tiled(&dem, tiling, &blocks, &|_| true, &mut |row0, strip| {
        out.slice_mut(s![row0..row0 + strip.nrows(), ..])
            .assign(&strip);
        Ok(())
    })
    .unwrap();
    (out, work)
}

fn tiled_area(
    filled: &dyn WindowSource,
    spacing: &CellSpacing,
    tiling: Tiling,
    store: &dyn BlockStore,
) -> (Array2<f32>, TiledWork) {
    let mut out = Array2::from_elem((tiling.rows, tiling.cols), -1.0f32);
    let work = mfd_catchment_area_tiled(
        filled,
        spacing,
        DEFAULT_CONVERGENCE,
        tiling,
        store,
        &|_| true,
        &mut |row0, strip| {
            out.slice_mut(s![row0..row0 + strip.nrows(), ..])
                .assign(&strip);
            Ok(())
        },
    )
    .unwrap();
    (out, work)
}

/// Cells whose bits differ (NaN = NaN).
fn differing(a: &Array2<f32>, b: &Array2<f32>) -> usize {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .filter(|(x, y)| x.to_bits() != y.to_bits() && !(x.is_nan() && y.is_nan()))
        .count()
}

/// The real San Gabriel DEM (None off CI when the shared data is missing; CI must have it).
fn san_gabriel() -> Option<RasterFile> {
    let Some(path) = shared_data("dem_sangabriel_30m_utm11.tif") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the shared DEMs"
        );
        return None;
    };
    Some(RasterFile::open(path).unwrap())
}

#[test]
fn tiles_that_divide_neither_side_give_the_whole_raster_fill_area_and_twi_on_san_gabriel() {
    let Some(file) = san_gabriel() else {
        return;
    };
    let dem = file.read_band(1).unwrap();
    let spacing = file.grid().spacing();
    let (rows, cols) = dem.dim();
    assert_eq!((rows, cols), (643, 1197));
    let filled = fill_depressions(dem.view());
    let raised = filled.iter().zip(dem.iter()).filter(|(f, z)| f > z).count();
    assert!(
        raised > 1000,
        "the real DEM has depressions: {raised} cells"
    );
    let area = mfd_catchment_area(filled.view(), &spacing, DEFAULT_CONVERGENCE);

    let tilings = [
        Tiling {
            rows,
            cols,
            tile_rows: 97,
            tile_cols: 131,
        },
        Tiling::new(rows, cols, 200),
    ];
    for tiling in tilings {
        let (tiled, work) = tiled_fill(dem.view(), tiling);
        assert_eq!(differing(&tiled, &filled), 0, "fill over {tiling:?}");
        // tiles were solved again when their neighbours' edges changed
        assert!(work.solves > work.tiles, "{work:?}");

        let memory = MemoryBlocks::new(tiling.area_blocks());
        let (tiled, work) = tiled_area(&filled.view(), &spacing, tiling, &memory);
        assert_eq!(differing(&tiled, &area), 0, "area over {tiling:?}");
        assert!(work.solves > work.tiles, "{work:?}");
        // the outlets gather whole valleys across many tiles
        let largest = tiled.iter().copied().fold(0.0f32, f32::max) as f64;
        assert!(
            largest > 4.0 * (200.0 * 30.0) * (200.0 * 30.0),
            "{largest} m²"
        );
    }

    // the fill read back from a scratch raster and the areas kept in a scratch file
    let tiling = Tiling::new(rows, cols, 150);
    let scratch = fringewatch::raster::scratch::ScratchRaster::create(None, rows, cols).unwrap();
    scratch.write_rows(0, filled.view()).unwrap();
    let blocks = ScratchFile::create(None, tiling.framed_block_len()).unwrap();
    let (tiled, _) = tiled_area(&scratch, &spacing, tiling, &blocks);
    assert_eq!(differing(&tiled, &area), 0);

    // the TWI as PC1 computes it, whole and tiled
    let whole = twi_routed(dem.view(), &spacing, &Routing::Whole, &Silent).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tiled = twi_routed(
        dem.view(),
        &spacing,
        &Routing::Tiled {
            tile: 173,
            scratch: Some(dir.path().to_path_buf()),
        },
        &Silent,
    )
    .unwrap();
    assert_eq!(differing(&tiled, &whole), 0);
    assert!(whole.iter().filter(|v| v.is_finite()).count() > 700_000);
    // the scratch files had no names: nothing is left in the folder
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// MFD catchment area in f64 throughout, with exact total outflow weights: each cell, highest
/// first, passes its area to its lower neighbours in proportion to (Δz/L)^p (Freeman 1991).
fn mfd_area_in_f64(filled: &Array2<f32>, spacing: &CellSpacing, p: f64) -> Array2<f64> {
    let (h, w) = filled.dim();
    let mut order: Vec<(usize, usize)> = (0..h)
        .flat_map(|r| (0..w).map(move |c| (r, c)))
        .filter(|&rc| filled[rc].is_finite())
        .collect();
    order.sort_by(|&a, &b| filled[b].total_cmp(&filled[a]));
    let mut area = Array2::<f64>::zeros((h, w));
    for (r, c) in order {
        let (dx, dy) = (spacing.dx[r], spacing.dy[r]);
        area[(r, c)] += (dx * dy) as f32 as f64;
        let lower: Vec<((usize, usize), f64)> = (-1isize..=1)
            .flat_map(|dr| (-1isize..=1).map(move |dc| (dr, dc)))
            .filter(|&offset| offset != (0, 0))
            .filter_map(|(dr, dc)| {
                let (nr, nc) = (r as isize + dr, c as isize + dc);
                if nr < 0 || nc < 0 || nr >= h as isize || nc >= w as isize {
                    return None;
                }
                let n = (nr as usize, nc as usize);
                let drop = filled[(r, c)] as f64 - filled[n] as f64;
                let run = match (dr != 0, dc != 0) {
                    (true, true) => (dx * dx + dy * dy).sqrt(),
                    (true, false) => dy,
                    _ => dx,
                };
                (filled[n].is_finite() && drop > 0.0).then(|| (n, (drop / run).powf(p)))
            })
            .collect();
        let total: f64 = lower.iter().map(|(_, weight)| weight).sum();
        let given = area[(r, c)];
        for (n, weight) in lower {
            area[n] += given * weight / total;
        }
    }
    area
}

/// The routing keeps 4 bytes a cell (area over total outflow weight, as f32) and runs on several
/// threads: on San Gabriel its areas stay within 10⁻⁵ (relative) of an f64 routing, and the bits
/// do not depend on the number of threads.
#[test]
fn the_routing_in_f32_follows_an_f64_routing_and_does_not_depend_on_threads() {
    let Some(file) = san_gabriel() else {
        return;
    };
    let dem = file.read_band(1).unwrap();
    let spacing = file.grid().spacing();
    let filled = fill_depressions(dem.view());
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| mfd_catchment_area(filled.view(), &spacing, DEFAULT_CONVERGENCE))
    };
    let area = on(1);
    assert_eq!(differing(&on(4), &area), 0, "4 threads against 1");
    let exact = mfd_area_in_f64(&filled, &spacing, DEFAULT_CONVERGENCE);
    let mut worst = 0.0f64;
    let mut cells = 0usize;
    for (a, e) in area.iter().zip(exact.iter()) {
        if a.is_finite() {
            cells += 1;
            worst = worst.max((*a as f64 - e).abs() / e);
        }
    }
    assert!(cells > 700_000);
    println!("worst relative difference from the f64 routing: {worst:e}");
    assert!(worst < 1e-5, "worst relative difference {worst:e}");
    // the outlets gather long flow paths, where roundings could pile up
    let largest = area.iter().copied().fold(0.0f32, f32::max) as f64;
    assert!(largest > 1e8, "{largest} m²");
}

/// 150 × 190 cells at 10 m: a slope down to the south edge holding a round depression 45 cells
/// across, a flat terrace 70 cells wide and a nodata hole, each spanning several 23-cell tiles.
fn made_up_dem() -> Array2<f32> {
    Array2::from_shape_fn((150, 190), |(r, c)| {
        let (y, x) = (r as f64, c as f64);
        let mut z =
            500.0 - 0.3 * y + 3.0 * (x / 17.0).sin() + 0.01 * ((r * 31 + c * 17) % 7) as f64;
        let d = ((y - 60.0).powi(2) + (x - 60.0).powi(2)).sqrt();
        if d < 22.0 {
            z -= 40.0 * (1.0 - d / 22.0); // a bowl, spilling over its southern rim
        }
        if (100..125).contains(&r) && (100..170).contains(&c) {
            z = 466.0; // a terrace: exactly flat
        }
        if (20..40).contains(&r) && (120..150).contains(&c) {
            return f32::NAN; // a hole in the data
        }
        z as f32
    })
}

#[test]
fn a_depression_a_flat_and_a_hole_spanning_tiles_are_filled_and_routed_as_on_the_whole_raster() {
    let dem = made_up_dem();
    let spacing = CellSpacing::uniform(10.0, 150);
    let filled = fill_depressions(dem.view());
    // the bowl is filled to its spill level, over cells of 3 × 3 tiles or more
    let lake: Vec<(usize, usize)> = filled
        .indexed_iter()
        .filter(|(i, f)| **f > dem[*i] + 1.0)
        .map(|(i, _)| i)
        .collect();
    let tiles_of = |cells: &[(usize, usize)]| {
        let mut t: Vec<(usize, usize)> = cells.iter().map(|(r, c)| (r / 23, c / 23)).collect();
        t.sort();
        t.dedup();
        t.len()
    };
    assert!(
        tiles_of(&lake) >= 4,
        "the lake spans {} tiles",
        tiles_of(&lake)
    );
    // the terrace drains: ε raises its cells in steps towards its way out
    let terrace = filled.slice(s![100..125, 100..170]);
    assert!(terrace.iter().filter(|&&f| f > 466.0).count() > 1000);
    assert!(terrace.iter().all(|&f| (466.0..466.01).contains(&f)));

    let area = mfd_catchment_area(filled.view(), &spacing, DEFAULT_CONVERGENCE);
    for tile in [23, 40, 149] {
        let tiling = Tiling::new(150, 190, tile);
        let (tiled, _) = tiled_fill(dem.view(), tiling);
        assert_eq!(differing(&tiled, &filled), 0, "fill, tiles of {tile}");
        let (tiled, _) = tiled_area(
            &filled.view(),
            &spacing,
            tiling,
            &MemoryBlocks::new(tiling.area_blocks()),
        );
        assert_eq!(differing(&tiled, &area), 0, "area, tiles of {tile}");
    }
    // the hole stays nodata; everything that drains leaves through the south edge
    assert!(filled[(30, 130)].is_nan() && area[(30, 130)].is_nan());
    let cells = dem.iter().filter(|z| z.is_finite()).count() as f64;
    let south: f64 = area.row(149).iter().map(|&a| a as f64).sum();
    assert!(south > 0.5 * cells * 100.0, "{south} of {}", cells * 100.0);
}

/// A block store that refuses its `fail_at`-th write, as a full disk would.
struct FailingBlocks {
    blocks: MemoryBlocks,
    writes: std::sync::atomic::AtomicUsize,
    fail_at: usize,
}

impl BlockStore for FailingBlocks {
    fn write(&self, index: usize, values: &[f32]) -> fringewatch::error::Result<()> {
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if n == self.fail_at {
            return Err(Error::parameter("scratch", "no space left (test)"));
        }
        self.blocks.write(index, values)
    }

    fn read(&self, index: usize, out: &mut [f32]) -> fringewatch::error::Result<()> {
        self.blocks.read(index, out)
    }
}

/// Tiles are solved by one worker a thread, each taking the first tile queued that no other is
/// solving as soon as it is free: the fill and the area do not depend on how many workers
/// there are, and a solve that fails stops them all with its error (no worker left waiting).
#[test]
fn tiles_solved_by_any_number_of_workers_agree_and_a_failed_solve_stops_them_all() {
    let dem = made_up_dem();
    let spacing = CellSpacing::uniform(10.0, 150);
    let filled = fill_depressions(dem.view());
    let area = mfd_catchment_area(filled.view(), &spacing, DEFAULT_CONVERGENCE);
    let tiling = Tiling::new(150, 190, 23);
    for threads in [1, 2, 5] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (tiled, work) = pool.install(|| tiled_fill(dem.view(), tiling));
        assert_eq!(differing(&tiled, &filled), 0, "fill, {threads} workers");
        assert!(work.solves >= tiling.count());
        let store = MemoryBlocks::new(tiling.area_blocks());
        let (tiled, _) = pool.install(|| tiled_area(&filled.view(), &spacing, tiling, &store));
        assert_eq!(differing(&tiled, &area), 0, "area, {threads} workers");
        // two blocks a tile are written before the first solve; the 30th write after them
        // falls in a worker's solve
        let failing = FailingBlocks {
            blocks: MemoryBlocks::new(tiling.area_blocks()),
            writes: std::sync::atomic::AtomicUsize::new(0),
            fail_at: 2 * tiling.count() + 30,
        };
        let result = pool.install(|| {
            mfd_catchment_area_tiled(
                &filled.view(),
                &spacing,
                DEFAULT_CONVERGENCE,
                tiling,
                &failing,
                &|_| true,
                &mut |_, _| Ok(()),
            )
        });
        match result {
            Err(e) => assert!(e.to_string().contains("no space left (test)"), "{e}"),
            Ok(_) => panic!("{threads} workers: the failed write was not reported"),
        }
    }
}

/// A tile can come up for its first pass before it has a cell to route: three tiles in a row,
/// a plateau at 1000 m and a ridge at 950 m draining into a valley at 500 m between them. The
/// plateau goes first; its edge then brings the valley up before the ridge, while the ridge
/// still waits above the valley's highest cell (more than the band above), so the valley's
/// first pass routes nothing. Its values must still be kept for its next pass (they were not:
/// the next pass read a block never written, which panicked in memory and read nothing or
/// zeros from a scratch file).
#[test]
fn a_tile_whose_first_pass_routes_nothing_keeps_its_values_for_the_next() {
    let dem = Array2::from_shape_fn((10, 30), |(r, c)| {
        let (r, c) = (r as f32, c as f32);
        match c as usize {
            0..=9 => 1000.0 - 0.1 * c + 0.01 * r,
            10..=19 => 500.0 - 0.2 * (c - 14.5).abs() - 0.05 * r,
            _ => 950.0 - 0.1 * (29.0 - c) + 0.01 * r,
        }
    });
    let filled = fill_depressions(dem.view());
    let spacing = CellSpacing::uniform(10.0, 10);
    let area = mfd_catchment_area(filled.view(), &spacing, DEFAULT_CONVERGENCE);
    let tiling = Tiling::new(10, 30, 10);
    // one worker: the order of the tiles above is the order they are solved in
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let store = MemoryBlocks::new(tiling.area_blocks());
    let (tiled, work) = pool.install(|| tiled_area(&filled.view(), &spacing, tiling, &store));
    assert_eq!(differing(&tiled, &area), 0);
    // the valley was solved twice or more before the final pass
    assert!(work.solves >= 4, "{} solves", work.solves);
}

/// The tiled routing's memory estimate counts a tile in flight for each worker, that is for
/// each thread: on a machine with many cores the tiles in flight are many.
#[test]
fn the_tiled_routing_estimate_counts_a_tile_for_each_thread() {
    use fringewatch::terrain::layer::tiled_routing_bytes;
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| tiled_routing_bytes(4000, 4000, 250))
    };
    // integers below 2⁵³: exact in f64
    assert_eq!(on(8) - on(1), 7.0 * 48.0 * 254.0f64.powi(2));
}

#[test]
fn a_tiled_run_asked_to_stop_stops_with_cancelled() {
    let dem = made_up_dem();
    let tiling = Tiling::new(150, 190, 23);
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let stop_at_third = |_: f64| asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2;
    let blocks = MemoryBlocks::new(tiling.count());
    let result =
        fill_depressions_tiled(&dem.view(), tiling, &blocks, &stop_at_third, &mut |_, _| {
            Ok(())
        });
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    let filled = fill_depressions(dem.view());
    let spacing = CellSpacing::uniform(10.0, 150);
    asked.store(0, std::sync::atomic::Ordering::SeqCst);
    let mut emitted = 0;
    let result = mfd_catchment_area_tiled(
        &filled.view(),
        &spacing,
        DEFAULT_CONVERGENCE,
        tiling,
        &MemoryBlocks::new(tiling.area_blocks()),
        &stop_at_third,
        &mut |_, _| {
            emitted += 1;
            Ok(())
        },
    );
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(emitted, 0);
}

/// `run` on a 2400² simulated scene with `--max-memory` below what whole-raster flow routing
/// needs but above the tiled routing: PC1 is routed in tiles (its sidecar says so), its raster
/// is the same bit for bit, and so are the detections, with the layers kept or made on demand.
#[test]
fn a_run_capped_below_whole_raster_routing_routes_in_tiles_and_finds_the_same_boxes() {
    use fringewatch::simulate::output::write_scene;
    use fringewatch::simulate::{simulate_scene, SimulationSettings};
    use fringewatch::terrain::layer::{routing_tile, tiled_routing_bytes, whole_routing_bytes};
    use fringewatch::vector::gpkg::read_layer;

    let dir = tempfile::tempdir().unwrap();
    let settings = SimulationSettings {
        size: 2400,
        ..SimulationSettings::default()
    };
    let scene = simulate_scene(&settings, "scene_0000", 5, None, &Silent).unwrap();
    let scene_dir = write_scene(&scene, dir.path(), 0).unwrap();
    let p = |name: &str| scene_dir.join(name).display().to_string();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/fringewatch-default.onnx"
    );
    let tile = routing_tile(2400, 2400);
    assert_eq!(tile, 300);
    let tiled = tiled_routing_bytes(2400, 2400, tile);
    let whole = whole_routing_bytes(2400, 2400);
    assert!(tiled < 0.9 * whole, "{tiled} vs {whole}");
    let cap_gib = format!("{}", (tiled + whole) / 2.0 / (1u64 << 30) as f64);

    // the boxes of `run` (capped or not), with the layers kept in `keep` if given
    let run = |name: &str, cap: Option<&str>, keep: Option<&std::path::Path>| {
        let out = dir.path().join(format!("{name}.gpkg"));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fringewatch"));
        if let Some(cap) = cap {
            command.args(["--max-memory", cap]);
        }
        command
            .args([
                "run",
                "--phase",
                &p("phase.tif"),
                "--coherence",
                &p("coherence.tif"),
            ])
            .args(["--dem", &p("dem.tif"), "--incidence", &p("incidence.tif")])
            .args(["--heading", &scene.description.heading_deg.to_string()])
            .args(["--model", model, "--out", out.to_str().unwrap(), "--quiet"]);
        if let Some(layers) = keep {
            command.arg("--keep-layers").arg(layers);
        }
        let done = command.output().unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        let boxes: Vec<_> = read_layer(&out, None)
            .unwrap()
            .features
            .into_iter()
            .map(|f| {
                let kept = |k: &str| matches!(k, "class" | "score");
                let attributes: Vec<_> =
                    f.attributes.into_iter().filter(|(k, _)| kept(k)).collect();
                (f.rings, format!("{attributes:?}"))
            })
            .collect();
        boxes
    };
    // how the kept PC1 was routed, and its values
    let kept_pc1 = |layers: &std::path::Path| {
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layers.join("pc1.json")).unwrap()).unwrap();
        let pc1 = RasterFile::open(layers.join("pc1.tif"))
            .unwrap()
            .read_band(1)
            .unwrap();
        (report["flow_routing"].as_str().unwrap().to_string(), pc1)
    };
    let (free_layers, capped_layers) = (dir.path().join("free"), dir.path().join("capped"));
    let free_boxes = run("free", None, Some(&free_layers));
    let capped_boxes = run("capped", Some(&cap_gib), Some(&capped_layers));
    let (free_routing, free_pc1) = kept_pc1(&free_layers);
    let (capped_routing, capped_pc1) = kept_pc1(&capped_layers);
    assert_eq!(free_routing, "whole");
    assert_eq!(capped_routing, format!("tiles of {tile} cells"));
    assert_eq!(differing(&capped_pc1, &free_pc1), 0);
    // a cap below those tiles halves them (a row of tiles is most of the memory): the same PC1
    let halved = tiled_routing_bytes(2400, 2400, tile / 2);
    let tight_gib = format!("{}", (halved + tiled) / 2.0 / (1u64 << 30) as f64);
    let tight_dir = tempfile::tempdir().unwrap();
    let tight = tight_dir.path().join("pc1.tif");
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_fringewatch"))
        .args([
            "--quiet",
            "--max-memory",
            &tight_gib,
            "pc1",
            "--dem",
            &p("dem.tif"),
        ])
        .args(["--like", &p("phase.tif"), "--out", tight.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tight.with_extension("json")).unwrap()).unwrap();
    assert_eq!(
        report["flow_routing"].as_str(),
        Some(format!("tiles of {} cells", tile / 2).as_str())
    );
    let tight_pc1 = RasterFile::open(&tight).unwrap().read_band(1).unwrap();
    assert_eq!(differing(&tight_pc1, &free_pc1), 0);
    assert!(
        !free_boxes.is_empty(),
        "the bundled model finds landslides here"
    );
    assert_eq!(capped_boxes, free_boxes);
    // without kept layers ISL and PC1 are made as detection reads them, from the TWI in a
    // scratch file when capped: the same boxes, and nothing left beside the output
    assert_eq!(run("capped_on_demand", Some(&cap_gib), None), free_boxes);
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "capped",
            "capped.gpkg",
            "capped_on_demand.gpkg",
            "free",
            "free.gpkg",
            "scene_0000"
        ]
    );
}

/// PC1 from the whole-raster kernels, as the preprint writes it: PC1 = Σ wₖxₖ − c with
/// wₖ = lₖ/σₖ and c = Σ wₖμₖ over slope, TRI, TWI and convexity (summed in that order), with
/// the loadings given or fitted (the leading eigenvector of the correlation matrix of the
/// standardised variables over the cells where all four are valid, its slope loading
/// positive); and the four variables' statistics and the loadings.
fn pc1_of_whole_kernels(
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    settings: &fringewatch::terrain::pca::Pc1Settings,
) -> (
    Array2<f32>,
    Vec<fringewatch::terrain::pca::VariableStats>,
    [f64; 4],
) {
    use fringewatch::terrain::gradient::slope;
    use fringewatch::terrain::pca::{jacobi_eigen, stats, LoadingsChoice};
    use fringewatch::terrain::{convexity, tri};
    let variables = [
        slope(dem, spacing, settings.gradient),
        tri(dem, settings.tri),
        twi_routed(dem, spacing, &Routing::Whole, &Silent).unwrap(),
        convexity(dem, spacing, settings.convexity),
    ];
    let all: Vec<_> = variables.iter().map(|v| stats(v.view())).collect();
    let loadings = match settings.loadings {
        LoadingsChoice::Fixed(loadings) => loadings.0,
        LoadingsChoice::Fit => {
            let [v0, v1, v2, v3] = variables.each_ref().map(|v| v.as_slice().unwrap());
            let mut products = [[0.0f64; 4]; 4];
            let mut valid = 0.0f64;
            let cells = v0.iter().zip(v1).zip(v2).zip(v3);
            for (((&x0, &x1), &x2), &x3) in cells {
                let x = [x0, x1, x2, x3];
                let z: [f64; 4] = std::array::from_fn(|k| {
                    let scale = if all[k].std > 0.0 { all[k].std } else { 1.0 };
                    (x[k] as f64 - all[k].mean) / scale
                });
                if z.iter().any(|v| !v.is_finite()) {
                    continue;
                }
                valid += 1.0;
                for (a, row) in products.iter_mut().enumerate() {
                    for (b, p) in row.iter_mut().enumerate() {
                        *p += z[a] * z[b];
                    }
                }
            }
            let (values, vectors) = jacobi_eigen(products.map(|row| row.map(|p| p / valid)));
            let lead = (0..4)
                .max_by(|&a, &b| values[a].total_cmp(&values[b]))
                .unwrap();
            let sign = vectors[0][lead].signum();
            std::array::from_fn(|k| sign * vectors[k][lead])
        }
    };
    let mut constant = 0.0f64;
    let mut pc1 = Array2::<f32>::zeros(dem.dim());
    for (k, values) in variables.iter().enumerate() {
        let w = if all[k].std > 0.0 {
            loadings[k] / all[k].std
        } else {
            0.0
        };
        constant += w * all[k].mean;
        let w = w as f32;
        pc1.zip_mut_with(values, |a, &x| *a += w * x);
    }
    let constant = constant as f32;
    pc1.mapv_inplace(|a| a - constant);
    (pc1, all, loadings)
}

/// PC1 strip by strip (`pc1_strips`, what `compute_pc1` and `pc1` do) against PC1 from the
/// whole-raster kernels, with the preprint's loadings and with fitted ones: San Gabriel, as it
/// is and with a nodata hole across a strip boundary; strips of 64 rows cut the convexity's
/// 10-cell blocks and the routing tiles.
#[test]
fn pc1_in_strips_equals_the_whole_raster_pc1_bit_for_bit() {
    use fringewatch::terrain::pca::{pc1_strips, LoadingsChoice, Pc1Settings, PC1_STRIP_ROWS};
    let Some(file) = san_gabriel() else {
        return;
    };
    let spacing = file.grid().spacing();
    let mut holed = file.read_band(1).unwrap();
    assert_eq!(
        PC1_STRIP_ROWS, 64,
        "the hole below is placed across a strip boundary"
    );
    holed.slice_mut(s![58..71, 400..460]).fill(f32::NAN);
    let fitted = Pc1Settings {
        loadings: LoadingsChoice::Fit,
        ..Pc1Settings::default()
    };
    for dem in [file.read_band(1).unwrap(), holed] {
        for settings in [Pc1Settings::default(), fitted] {
            let (whole, whole_stats, whole_loadings) =
                pc1_of_whole_kernels(dem.view(), &spacing, &settings);
            for routing in [
                Routing::Whole,
                Routing::Tiled {
                    tile: 150,
                    scratch: None,
                },
            ] {
                let mut strips = Array2::from_elem(dem.dim(), -1.0f32);
                let mut next_row = 0;
                let summary = pc1_strips(
                    &dem.view(),
                    &spacing,
                    &settings,
                    &routing,
                    &Silent,
                    &mut |row0, strip| {
                        assert_eq!(row0, next_row, "strips come top to bottom, each once");
                        assert!(strip.nrows() <= PC1_STRIP_ROWS);
                        next_row += strip.nrows();
                        strips
                            .slice_mut(s![row0..row0 + strip.nrows(), ..])
                            .assign(&strip);
                        Ok(())
                    },
                )
                .unwrap();
                assert_eq!(next_row, dem.nrows());
                let case = format!("{:?} {routing:?}", settings.loadings);
                assert_eq!(differing(&strips, &whole), 0, "{case}");
                assert_eq!(
                    summary.loadings.0.map(f64::to_bits),
                    whole_loadings.map(f64::to_bits)
                );
                assert_eq!(
                    summary.explained_variance.is_some(),
                    settings.loadings == LoadingsChoice::Fit
                );
                for (a, b) in summary.stats.iter().zip(&whole_stats) {
                    assert_eq!(
                        (a.mean.to_bits(), a.std.to_bits(), a.count),
                        (b.mean.to_bits(), b.std.to_bits(), b.count)
                    );
                }
            }
            let valid = whole.iter().filter(|v| v.is_finite()).count();
            assert!(
                valid > dem.len() * 9 / 10,
                "PC1 is defined almost everywhere"
            );
        }
    }
}

/// The DEM that PC1 in strips reads from disk (`dem_on_grid_in_strips`) and the one whole-raster
/// routing holds (`dem_on_grid`) are the same to the bit, also where GDAL warps it: San Gabriel
/// (UTM 11N) onto a grid of 20 m cells offset by a fraction of a cell, and onto a geographic grid
/// (EPSG:4326). Both warp in the same strips. One warp of the whole grid gives the same bits on
/// the UTM grid; through the reprojection GDAL scales its bilinear kernel to each strip's source
/// window, so there the difference is bounded instead (0.76 m measured, of 2 km of relief).
#[test]
fn a_dem_warped_in_strips_is_the_same_on_disk_and_in_memory() {
    use fringewatch::raster::align::{warp_band, Resampling};
    use fringewatch::raster::{Crs, Grid};
    use fringewatch::terrain::layer::{dem_on_grid, dem_on_grid_in_strips};
    use std::path::Path;
    let Some(file) = san_gabriel() else {
        return;
    };
    let source = file.grid().clone();
    let [x0, dx, _, y0, _, dy] = source.geo_transform;
    let finer = Grid {
        width: 1500,
        height: 700,
        geo_transform: [x0 + 0.37 * dx, 20.0, 0.0, y0 + 0.61 * dy, 0.0, -20.0],
        crs: source.crs.clone(),
    };
    // the same area in degrees (San Gabriel Mountains, 34.24–34.40° N, 118.35–117.95° W)
    let geographic = Grid {
        width: 900,
        height: 500,
        geo_transform: [-118.30, 0.0004, 0.0, 34.40, 0.0, -0.0003],
        crs: Crs::from_definition("EPSG:4326").unwrap(),
    };
    for (grid, bound) in [(finer, 0.0), (geographic, 1.0)] {
        let in_memory = dem_on_grid(&file, &grid, Path::new("grid")).unwrap();
        let on_disk =
            dem_on_grid_in_strips(&file, &grid, Path::new("grid"), None, &Silent).unwrap();
        let read = on_disk.window(0, 0, grid.height, grid.width).unwrap();
        let valid = in_memory.values.iter().filter(|v| v.is_finite()).count();
        assert!(valid > grid.width * grid.height / 3, "{valid} valid cells");
        assert_eq!(differing(&read, &in_memory.values), 0);
        let one_warp = warp_band(&file, &grid, Resampling::Bilinear).unwrap();
        let worst = one_warp
            .iter()
            .zip(read.iter())
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= bound, "strips and one warp differ by {worst} m");
    }
}

/// `terrain`'s five files on San Gabriel routed whole and in tiles of 97 cells (which divide
/// neither side), the other variables made in strips of 64 rows either way: the same bits in
/// both, and those of the whole-raster kernels on the DEM.
#[test]
fn terrain_variables_in_strips_equal_the_whole_raster_kernels_whatever_the_routing() {
    use fringewatch::terrain::layer::{
        dem_on_grid, write_terrain_variables_routed, TERRAIN_VARIABLES,
    };
    use fringewatch::terrain::pca::Pc1Settings;
    use fringewatch::terrain::{convexity, slope_aspect, tri};

    let Some(file) = san_gabriel() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = Pc1Settings::default();
    let write = |name: &str, routing: Routing| {
        let out = dir.path().join(name);
        std::fs::create_dir(&out).unwrap();
        let written =
            write_terrain_variables_routed(file.path(), None, &out, &settings, &routing, &Silent)
                .unwrap();
        assert_eq!(written.len(), 5);
        written
            .iter()
            .map(|path| RasterFile::open(path).unwrap().read_band(1).unwrap())
            .collect::<Vec<_>>()
    };
    let whole = write("whole", Routing::Whole);
    let tiles = Routing::Tiled {
        tile: 97,
        scratch: None,
    };
    let tiled = write("tiled", tiles);
    let dem = dem_on_grid(&file, file.grid(), file.path()).unwrap().values;
    let spacing = file.grid().spacing();
    let (slope, aspect) = slope_aspect(dem.view(), &spacing, settings.gradient);
    let kernels = [
        slope.mapv(f32::to_degrees),
        aspect.mapv(f32::to_degrees),
        tri(dem.view(), settings.tri),
        twi_routed(dem.view(), &spacing, &Routing::Whole, &Silent).unwrap(),
        convexity(dem.view(), &spacing, settings.convexity),
    ];
    for (k, name) in TERRAIN_VARIABLES.iter().enumerate() {
        assert!(kernels[k].iter().any(|v| v.is_finite()), "{name}");
        assert_eq!(
            differing(&whole[k], &kernels[k]),
            0,
            "{name}, whole routing"
        );
        assert_eq!(differing(&tiled[k], &kernels[k]), 0, "{name}, tiles");
    }
}
