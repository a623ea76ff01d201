//! The PC1 layer from files: the DEM brought onto the reference grid, the four terrain
//! variables, PC1, and a JSON sidecar with loadings and statistics.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, ArrayView2, Axis};
use serde::Serialize;

use super::convexity::ConvexityMeans;
use super::hydrology::{twi_tiled, twi_whole, Routing, DEFAULT_ROUTING_TILE};
use super::pca::{
    pc1_strips, LoadingsChoice, Pc1Settings, Pc1Summary, TerrainVariable, VariableStats,
    PC1_STRIP_ROWS,
};
use super::{rows_with_context, slope_aspect, tri};
use crate::error::{Error, Result};
use crate::progress::{Progress, Silent, Stage};
use crate::raster::align::{require_overlap_grid, warp_band, Resampling};
use crate::raster::io::{
    check_not_an_input, check_output_path, require_north_up, Encoding, GeoTiffWriter, RasterFile,
};
use crate::raster::scratch::ScratchRaster;
use crate::raster::{strips, Grid, Raster, STRIP_HALO, STRIP_ROWS};

/// What PC1 was computed from and with, as written to the JSON sidecar and printed.
#[derive(Debug, Clone, Serialize)]
pub struct Pc1Report {
    pub dem: PathBuf,
    pub output: PathBuf,
    pub width: usize,
    pub height: usize,
    pub fitted: bool,
    /// Loadings on standardised slope, TRI, TWI, convexity.
    pub loadings: PerVariable<f64>,
    /// Share of variance of each principal component (largest first), when fitted.
    pub explained_variance: Option<[f64; 4]>,
    pub variable_stats: PerVariable<VariableStats>,
    pub gradient: String,
    pub tri: String,
    pub convexity_scale_cells: usize,
    /// How the TWI's flow routing held the raster: "whole", or "tiles of N cells".
    pub flow_routing: String,
}

/// One value per terrain variable, named (serialises as a JSON object).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PerVariable<T> {
    pub slope: T,
    pub tri: T,
    pub twi: T,
    pub convexity: T,
}

impl<T: Copy> PerVariable<T> {
    /// From values in [`TerrainVariable::ALL`] order.
    pub fn from_array(v: [T; 4]) -> Self {
        PerVariable {
            slope: v[0],
            tri: v[1],
            twi: v[2],
            convexity: v[3],
        }
    }

    /// Values with their variable, in [`TerrainVariable::ALL`] order.
    pub fn entries(&self) -> [(TerrainVariable, T); 4] {
        [
            (TerrainVariable::Slope, self.slope),
            (TerrainVariable::Tri, self.tri),
            (TerrainVariable::Twi, self.twi),
            (TerrainVariable::Convexity, self.convexity),
        ]
    }
}

/// Read band 1 of the DEM onto `grid` (bilinear when it must be warped), refusing a DEM with no
/// valid cell there. It is warped in strips of [`STRIP_ROWS`] rows, as
/// [`dem_on_grid_in_strips`] warps it, so that both hold the same values to the bit. Onto a grid
/// of the DEM's CRS that equals one warp of the whole grid; through a reprojection that also
/// shrinks cells, GDAL scales its bilinear kernel to each strip's source window, and one whole
/// warp differs a little (San Gabriel onto a geographic grid: up to 0.76 m).
pub fn dem_on_grid(dem: &RasterFile, grid: &Grid, grid_path: &Path) -> Result<Raster> {
    let mut values = Array2::<f32>::from_elem((grid.height, grid.width), f32::NAN);
    dem_strips(dem, grid, grid_path, &Silent, &mut |row0, strip| {
        values
            .slice_mut(s![row0..row0 + strip.nrows(), ..])
            .assign(&strip);
        Ok(())
    })?;
    Ok(Raster {
        grid: grid.clone(),
        values,
    })
}

/// [`dem_on_grid`] into an unnamed scratch file in `scratch` (the system's temporary folder when
/// `None`), so that the DEM is never held whole; the same values to the bit.
pub fn dem_on_grid_in_strips(
    dem: &RasterFile,
    grid: &Grid,
    grid_path: &Path,
    scratch: Option<&Path>,
    progress: &dyn Progress,
) -> Result<ScratchRaster> {
    let file = ScratchRaster::create(scratch, grid.height, grid.width)?;
    dem_strips(dem, grid, grid_path, progress, &mut |row0, strip| {
        file.write_rows(row0, strip)
    })?;
    Ok(file)
}

/// The DEM on `grid`, warped and handed to `put` one strip of [`STRIP_ROWS`] rows at a time;
/// refused when it does not overlap the grid or has no valid cell on it.
fn dem_strips(
    dem: &RasterFile,
    grid: &Grid,
    grid_path: &Path,
    progress: &dyn Progress,
    put: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
) -> Result<()> {
    require_overlap_grid(dem, grid, grid_path)?;
    let stage = Stage::whole(progress);
    let mut valid = false;
    for (row0, rows) in strips(grid.height, STRIP_ROWS) {
        stage.step(row0 as f64 / grid.height as f64, "reading DEM")?;
        // warped with STRIP_HALO rows more on each side, then cut (as ISL's blocks are), so that a
        // strip's edge rows are warped as inner rows
        let strip = grid.window(
            0,
            row0 as isize - STRIP_HALO as isize,
            grid.width,
            rows + 2 * STRIP_HALO,
        );
        let values = warp_band(dem, &strip, Resampling::Bilinear)?;
        let values = values.slice(s![STRIP_HALO..STRIP_HALO + rows, ..]);
        valid |= values.iter().any(|v| v.is_finite());
        put(row0, values)?;
    }
    if !valid {
        return Err(Error::bad_input(
            dem.path(),
            "no valid elevation over the output grid (all nodata)",
        ));
    }
    Ok(())
}

/// Peak memory of [`compute_pc1`] per output cell with whole-raster flow routing, the DEM
/// waiting on disk and PC1 going to its file in strips: the fill and what each cell keeps while
/// the routing runs (4 bytes each), plus a margin (8.4 a cell more from 6000² to a frame, 9.1 in
/// all on the frame, README *Benchmarks*). Fitted loadings take one more pass, no more memory.
pub const PC1_WHOLE_STRIPS_BYTES_PER_CELL: f64 = 9.0;

/// Peak memory of [`compute_pc1`] per output cell with tiled flow routing, the DEM, the routing
/// and the TWI waiting on disk and PC1 going to its file in strips: a margin only (0.4 measured
/// at 6000², 205 MiB in all, where [`tiled_routing_bytes`]' tiles, strips and GDAL's cache are
/// the rest).
pub const PC1_STRIPS_BYTES_PER_CELL: f64 = 1.0;

/// Memory of PC1 with tiled routing on a `width × height` grid: a margin per cell, a tile in
/// flight on each thread (one routing worker a thread; about 48 bytes a cell of a tile with its
/// ring, its values included), the strips of one row of tiles and GDAL's block cache.
pub fn tiled_routing_bytes(width: usize, height: usize, tile: usize) -> f64 {
    let (w, h, t) = (width as f64, height as f64, tile as f64);
    let workers = rayon::current_num_threads().max(1) as f64;
    w * h * PC1_STRIPS_BYTES_PER_CELL
        + workers * 48.0 * (t + 4.0).powi(2)
        + 24.0 * t.min(h) * w
        + gdal_cache_bytes()
}

/// Memory of PC1 with whole-raster routing on a `width × height` grid: the routing's bytes a
/// cell plus GDAL's block cache.
pub fn whole_routing_bytes(width: usize, height: usize) -> f64 {
    width as f64 * height as f64 * PC1_WHOLE_STRIPS_BYTES_PER_CELL + gdal_cache_bytes()
}

/// GDAL's block cache, which every estimate of PC1 counts.
fn gdal_cache_bytes() -> f64 {
    (crate::raster::io::DEFAULT_CACHE_MIB as f64) * 1024.0 * 1024.0
}

/// The smallest side of routing tiles [`pc1_routing`] takes to fit a memory budget.
pub const MIN_ROUTING_TILE: usize = 128;

/// The side of routing tiles for a `width × height` grid: an eighth of the shorter side, from
/// 128 up to [`DEFAULT_ROUTING_TILE`], so that the tiles in flight stay small beside the grid.
pub fn routing_tile(width: usize, height: usize) -> usize {
    (width.min(height) / 8).clamp(MIN_ROUTING_TILE, DEFAULT_ROUTING_TILE)
}

/// Flow routing for PC1 on a `width × height` grid: the whole raster at once when that fits in
/// the memory available (the fastest), else tiles of [`routing_tile`] cells with their scratch
/// files in `scratch` (28 bytes a cell of disk: the DEM, the fill, the fill's tiles, the
/// tiles' fill with their frames, their cells' total outflow weights, their areas, and the
/// TWI) — halved, down to [`MIN_ROUTING_TILE`], while they do not fit (a row of tiles is most
/// of the memory; smaller tiles exchange more edges) — else refused with the figures. All give
/// the same PC1 bit for bit; `--max-memory` is how a user trades time for memory.
pub fn pc1_routing(input: &Path, width: usize, height: usize, scratch: &Path) -> Result<Routing> {
    let cells = width as f64 * height as f64;
    if crate::raster::budget::fits(whole_routing_bytes(width, height)) {
        // the DEM waits in a scratch file
        crate::raster::budget::check_disk(&scratch.join("scratch"), cells * 4.0)?;
        return Ok(Routing::Whole);
    }
    let mut tile = routing_tile(width, height);
    while tile > MIN_ROUTING_TILE
        && !crate::raster::budget::fits(tiled_routing_bytes(width, height, tile))
    {
        tile = (tile / 2).max(MIN_ROUTING_TILE);
    }
    let bytes = tiled_routing_bytes(width, height, tile);
    crate::raster::budget::check_memory("PC1", input, width, height, bytes / cells.max(1.0))?;
    crate::raster::budget::check_disk(&scratch.join("scratch"), cells * 28.0)?;
    Ok(Routing::Tiled {
        tile,
        scratch: Some(scratch.to_path_buf()),
    })
}

/// Compute PC1 of `dem_path` on the grid of `like` (default: the DEM's own grid) into `out`
/// (Float32 GeoTIFF) and its sidecar `out` with extension `.json`.
///
/// ```
/// use fringewatch::progress::Silent;
/// use fringewatch::raster::io::{Encoding, GeoTiffWriter};
/// use fringewatch::raster::{Crs, Grid};
/// use fringewatch::terrain::layer::compute_pc1;
/// use fringewatch::terrain::pca::Pc1Settings;
/// let dir = tempfile::tempdir()?;
/// let grid = Grid {
///     width: 64,
///     height: 48,
///     geo_transform: [600_000.0, 15.0, 0.0, 4_900_000.0, 0.0, -15.0],
///     crs: Crs::from_definition("EPSG:32632").map_err(std::io::Error::other)?,
/// };
/// let hills = ndarray::Array2::from_shape_fn((48, 64), |(r, c)| {
///     400.0 + 60.0 * (c as f32 / 9.0).sin() * (r as f32 / 7.0).cos() + 3.0 * r as f32
/// });
/// let dem = dir.path().join("dem.tif");
/// let mut w = GeoTiffWriter::create(&dem, &grid, &[Encoding::Float32], &["DEM"])?;
/// w.write_rows(1, 0, hills.view())?;
/// w.finish()?;
///
/// let out = dir.path().join("pc1.tif");
/// let report = compute_pc1(&dem, None, &out, &Pc1Settings::default(), &Silent)?;
/// assert_eq!((report.width, report.height), (64, 48));
/// assert!(out.exists() && out.with_extension("json").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compute_pc1(
    dem_path: &Path,
    like: Option<&Path>,
    out: &Path,
    settings: &Pc1Settings,
    progress: &dyn Progress,
) -> Result<Pc1Report> {
    check_output_path(out)?;
    let sidecar = out.with_extension("json");
    let mut inputs = vec![dem_path];
    inputs.extend(like);
    check_not_an_input(out, &inputs)?;
    check_not_an_input(&sidecar, &inputs)?;
    let dem_file = RasterFile::open(dem_path)?;
    let like_file = like.map(RasterFile::open).transpose()?;
    let (grid, grid_path) = match &like_file {
        Some(l) => (l.grid().clone(), l.path()),
        None => (dem_file.grid().clone(), dem_file.path()),
    };
    require_north_up(&grid, grid_path)?;
    let stage = Stage {
        parent: progress,
        start: 0.0,
        span: 0.1,
    };
    // whole-raster flow routing when it fits, else tiles (README, Memory); then the output
    let scratch = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let routing = pc1_routing(dem_path, grid.width, grid.height, scratch)?;
    crate::raster::budget::check_disk(out, grid.width as f64 * grid.height as f64 * 4.0)?;
    stage.step(0.0, "reading DEM")?;
    let spacing = grid.spacing();
    let mut writer = GeoTiffWriter::create(out, &grid, &[Encoding::Float32], &["PC1"])?;
    // PC1 goes to the file strip by strip, the DEM waiting on disk: only the routing (whole,
    // or tiles when memory is short) holds rasters
    let dem = dem_on_grid_in_strips(&dem_file, &grid, grid_path, Some(scratch), &stage)?;
    // up to 0.95: the last report (1) comes once the file is in place
    let compute_and_write = Stage {
        parent: progress,
        start: 0.1,
        span: 0.85,
    };
    let Pc1Summary {
        loadings,
        stats,
        explained_variance,
    } = pc1_strips(
        &dem,
        &spacing,
        settings,
        &routing,
        &compute_and_write,
        &mut |row0, strip| writer.write_rows(1, row0, strip),
    )?;
    let l = loadings.0;
    let report = Pc1Report {
        dem: dem_path.to_path_buf(),
        output: out.to_path_buf(),
        width: grid.width,
        height: grid.height,
        fitted: settings.loadings == LoadingsChoice::Fit,
        loadings: PerVariable::from_array(l),
        explained_variance,
        variable_stats: PerVariable::from_array(stats),
        gradient: format!("{:?}", settings.gradient),
        tri: format!("{:?}", settings.tri),
        convexity_scale_cells: settings.convexity.scale_cells,
        flow_routing: match &routing {
            Routing::Whole => "whole".into(),
            Routing::Tiled { tile, .. } => format!("tiles of {tile} cells"),
        },
    };
    writer.set_metadata("FRINGEWATCH_LAYER", "PC1")?;
    writer.set_metadata(
        "FRINGEWATCH_PC1_LOADINGS",
        &format!(
            "slope={} tri={} twi={} convexity={}",
            l[0], l[1], l[2], l[3]
        ),
    )?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Output {
        path: out.to_path_buf(),
        problem: e.to_string(),
    })?;
    let sidecar = sidecar_path(out);
    let temp = sidecar.with_extension("json.partial");
    std::fs::write(&temp, json).map_err(|e| Error::io(&temp, e))?;
    if let Err(e) = writer.finish() {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    std::fs::rename(&temp, &sidecar).map_err(|e| Error::io(sidecar, e))?;
    // the last report, once the file and its sidecar are in place
    let _ = progress.report(1.0, "PC1 written");
    Ok(report)
}

/// `pc1.tif` → `pc1.json`.
pub fn sidecar_path(out: &Path) -> PathBuf {
    out.with_extension("json")
}

/// The files of [`write_terrain_variables`], in the order written: slope (degrees), aspect
/// (degrees clockwise from north), TRI (m), TWI, convexity (%).
pub const TERRAIN_VARIABLES: [&str; 5] = ["slope", "aspect", "tri", "twi", "convexity"];

/// Write slope (degrees), aspect (degrees clockwise from north), TRI (m), TWI and convexity (%)
/// of the DEM (on `like`'s grid when given) into `dir` as `NAME.tif`; returns the files
/// written. Routed as PC1 is ([`pc1_routing`]): the whole raster when it fits in memory, else
/// tiles with the DEM and the TWI on disk; see [`write_terrain_variables_routed`].
pub fn write_terrain_variables(
    dem_path: &Path,
    like: Option<&Path>,
    dir: &Path,
    settings: &Pc1Settings,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::Output {
            path: dir.to_path_buf(),
            problem: "output directory does not exist".into(),
        });
    }
    let grid_path = like.unwrap_or(dem_path);
    let grid = RasterFile::open(grid_path)?.grid().clone();
    require_north_up(&grid, grid_path)?;
    // the variables in strips need what PC1 needs: one row of routing tiles, strips
    let routing = pc1_routing(dem_path, grid.width, grid.height, dir)?;
    write_terrain_variables_routed(dem_path, like, dir, settings, &routing, progress)
}

/// [`write_terrain_variables`] with the flow routing given. The DEM, warped strip by strip,
/// waits in a scratch file either way. With [`Routing::Whole`] the routing and then the TWI are
/// held whole; with [`Routing::Tiled`] the routing waits in scratch files too and the TWI goes
/// to its file as the routing finishes it. Slope, aspect, TRI and convexity are made strip by
/// strip (their kernels read one row around a strip; convexity's block means in a first pass),
/// so every file holds the values of the whole-raster kernels bit for bit, whatever the routing.
pub fn write_terrain_variables_routed(
    dem_path: &Path,
    like: Option<&Path>,
    dir: &Path,
    settings: &Pc1Settings,
    routing: &Routing,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>> {
    let dem_file = RasterFile::open(dem_path)?;
    let like_file = like.map(RasterFile::open).transpose()?;
    let (grid, grid_path) = match &like_file {
        Some(l) => (l.grid().clone(), l.path()),
        None => (dem_file.grid().clone(), dem_file.path()),
    };
    require_north_up(&grid, grid_path)?;
    let (rows, cols) = (grid.height, grid.width);
    let paths = TERRAIN_VARIABLES.map(|name| dir.join(format!("{name}.tif")));
    let mut inputs = vec![dem_path];
    inputs.extend(like);
    for path in &paths {
        check_output_path(path)?;
        check_not_an_input(path, &inputs)?;
    }
    crate::raster::budget::check_disk(&paths[0], rows as f64 * cols as f64 * 4.0 * 5.0)?;
    let create = |k: usize| {
        GeoTiffWriter::create(
            &paths[k],
            &grid,
            &[Encoding::Float32],
            &[TERRAIN_VARIABLES[k]],
        )
    };
    let (mut slope_out, mut aspect_out, mut tri_out, mut twi_out, mut convexity_out) =
        (create(0)?, create(1)?, create(2)?, create(3)?, create(4)?);
    let stage = Stage::whole(progress);
    let part = |start, span| Stage {
        parent: &stage,
        start,
        span,
    };
    let spacing = grid.spacing();
    stage.step(0.0, "reading DEM")?;
    // the DEM waits on disk (in the routing's scratch folder, else beside the outputs); the
    // TWI first, written as it comes
    let scratch = match routing {
        Routing::Tiled { scratch, .. } => scratch.as_deref(),
        Routing::Whole => Some(dir),
    };
    let dem = dem_on_grid_in_strips(&dem_file, &grid, grid_path, scratch, &part(0.0, 0.1))?;
    match routing {
        Routing::Whole => {
            let twi = twi_whole(&dem, &spacing, &part(0.1, 0.5))?;
            for (row0, h) in strips(rows, STRIP_ROWS) {
                twi_out.write_rows(1, row0, twi.slice(s![row0..row0 + h, ..]))?;
            }
        }
        Routing::Tiled { tile, .. } => {
            let mut sink = |row0, strip: ArrayView2<f32>| twi_out.write_rows(1, row0, strip);
            twi_tiled(&dem, &spacing, *tile, scratch, &part(0.1, 0.5), &mut sink)?;
        }
    }
    let dem = &dem;
    let strips = || crate::raster::strips(rows, PC1_STRIP_ROWS);
    let means = ConvexityMeans::of_strips(
        dem,
        &spacing,
        settings.convexity,
        PC1_STRIP_ROWS,
        &part(0.6, 0.1),
    )?;
    for (row0, h) in strips() {
        stage.step(
            0.7 + 0.3 * row0 as f64 / rows as f64,
            "slope, aspect, TRI, convexity",
        )?;
        // slope and aspect side by side from one gradient
        let both = rows_with_context(dem, &spacing, row0, h, 1, |d, sp| {
            let (slope, aspect) = slope_aspect(d, sp, settings.gradient);
            ndarray::concatenate![Axis(1), slope, aspect]
        })?;
        let degrees = |values: ArrayView2<f32>| values.mapv(f32::to_degrees);
        slope_out.write_rows(1, row0, degrees(both.slice(s![.., ..cols])).view())?;
        aspect_out.write_rows(1, row0, degrees(both.slice(s![.., cols..])).view())?;
        let tri = rows_with_context(dem, &spacing, row0, h, 1, |d, _| tri(d, settings.tri))?;
        tri_out.write_rows(1, row0, tri.view())?;
        let convexity = means.convexity_rows(dem, &spacing, row0, h)?;
        convexity_out.write_rows(1, row0, convexity.view())?;
    }
    for writer in [slope_out, aspect_out, tri_out, twi_out, convexity_out] {
        writer.finish()?;
    }
    stage.done("done");
    Ok(paths.to_vec())
}
