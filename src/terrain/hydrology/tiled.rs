//! Depression filling and MFD catchment area over tiles: memory bounded by the tile size and
//! the raster width, not by the raster's area, with results equal to a single whole-raster tile
//! bit for bit.
//!
//! Both quantities are the unique solution of a local equation on the 8-neighbour graph:
//! - fill (Priority-Flood+ε, Barnes, Lehman & Mulla 2014): F(c) = z(c) on cells at the grid edge
//!   or next to nodata, elsewhere F(c) = max(z(c), next_up(min over neighbours n of F(n)));
//! - MFD catchment area (Freeman 1991): A(c) = a(c) + Σ over higher neighbours n of
//!   A(n)·w(n→c)/W(n), with w = (Δz/L)^p and W(n) the sum of n's weights.
//!
//! A tile is solved exactly given the values of the cells around it (for the area, what each
//! routed cell keeps: A/W, its area over its total outflow weight). Tiles exchange only their
//! edge cells (as Barnes' tiled Priority-Flood, 2016, and flow accumulation, 2017, do); instead
//! of a global graph of tile edges, a tile is solved again whenever a neighbour's edge it drains
//! from (or floods from) changed, lowest fill level / highest donor first. When no edge changes
//! any more, every tile agrees with its neighbours, which is the unique global solution; a last
//! pass solves each row of tiles once more (the area reads back each tile's kept result) and
//! hands it out as a strip.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};

use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::level_queue::LevelQueue;
use super::{neighbour_distance, next_up, ROUTING_CHECK_CELLS};
use crate::error::{Error, Result};
use crate::raster::scratch::{BlockStore, WindowSource};
use crate::raster::CellSpacing;
use crate::terrain::NEIGHBOURS;

/// A raster of `rows × cols` cut into tiles of at most `tile_rows × tile_cols` (the last row
/// and column of tiles take what is left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    pub rows: usize,
    pub cols: usize,
    pub tile_rows: usize,
    pub tile_cols: usize,
}

/// One tile: first row and column, height and width.
#[derive(Debug, Clone, Copy)]
struct Block {
    r0: usize,
    c0: usize,
    h: usize,
    w: usize,
}

impl Tiling {
    /// Square tiles of `tile` cells a side (at least 1).
    pub fn new(rows: usize, cols: usize, tile: usize) -> Self {
        let tile = tile.max(1);
        Tiling {
            rows,
            cols,
            tile_rows: tile,
            tile_cols: tile,
        }
    }

    /// The whole raster as one tile.
    pub fn whole(rows: usize, cols: usize) -> Self {
        Tiling {
            rows,
            cols,
            tile_rows: rows.max(1),
            tile_cols: cols.max(1),
        }
    }

    fn down(&self) -> usize {
        self.rows.div_ceil(self.tile_rows)
    }

    fn across(&self) -> usize {
        self.cols.div_ceil(self.tile_cols)
    }

    /// Number of tiles.
    pub fn count(&self) -> usize {
        self.down() * self.across()
    }

    fn block(&self, t: usize) -> Block {
        let (tr, tc) = (t / self.across(), t % self.across());
        let (r0, c0) = (tr * self.tile_rows, tc * self.tile_cols);
        Block {
            r0,
            c0,
            h: self.tile_rows.min(self.rows - r0),
            w: self.tile_cols.min(self.cols - c0),
        }
    }

    /// The tile holding cell (r, c), when it is inside the raster.
    fn tile_at(&self, r: isize, c: isize) -> Option<usize> {
        if r < 0 || c < 0 || r >= self.rows as isize || c >= self.cols as isize {
            return None;
        }
        Some(r as usize / self.tile_rows * self.across() + c as usize / self.tile_cols)
    }
}

/// How much work a tiled run took: tile solves until the edges agreed, and tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TiledWork {
    pub tiles: usize,
    /// Solves before the final pass (at least one a tile).
    pub solves: usize,
}

/// Depression filling (Priority-Flood+ε, as [`fill_depressions`](super::fill_depressions)) of
/// `dem` over `tiling`, handing the result to `emit(first_row, strip)` one row of tiles at a
/// time, top to bottom. Memory: a few tiles at a time, and one strip of tiles.
///
/// ```
/// use fringewatch::terrain::fill_depressions;
/// use fringewatch::terrain::hydrology::tiled::{fill_depressions_tiled, Tiling};
/// let mut dem = ndarray::Array2::from_shape_fn((30, 40), |(r, c)| (r + c) as f32);
/// dem[(12, 17)] = -5.0; // a pit
/// let mut filled = ndarray::Array2::zeros((30, 40));
/// fill_depressions_tiled(&dem.view(), Tiling::new(30, 40, 7), &|_| true, &mut |row0, strip| {
///     filled.slice_mut(ndarray::s![row0..row0 + strip.nrows(), ..]).assign(&strip);
///     Ok(())
/// })?;
/// assert_eq!(filled, fill_depressions(dem.view()));
/// # Ok::<(), fringewatch::error::Error>(())
/// ```
pub fn fill_depressions_tiled(
    dem: &dyn WindowSource,
    tiling: Tiling,
    keep_going: &(dyn Fn(f64) -> bool + Sync),
    emit: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
) -> Result<TiledWork> {
    let solve = |t: usize, edges: &[Edges], _: Option<&[f32]>| -> Result<Solved> {
        let b = tiling.block(t);
        let padded = dem.window(b.r0 as isize - 1, b.c0 as isize - 1, b.h + 2, b.w + 2)?;
        let halo = |pr: usize, pc: usize| {
            halo_value(&tiling, edges, b, pr as isize - 1, pc as isize - 1).unwrap_or(f32::NAN)
        };
        let cells = (b.h * b.w).max(1) as f64;
        let filled = fill_tile(padded, halo, &|n| {
            keep_going_in_tile(keep_going, &tiling, n, cells)
        })
        .ok_or(Error::Cancelled)?;
        let inner = filled.slice(s![1..b.h + 1, 1..b.w + 1]);
        // an edge cell's level can lower the fill of any neighbour outside the tile
        let (edge_levels, edge_reach): (Vec<f32>, Vec<u8>) = perimeter(b.h, b.w)
            .map(|(r, c)| {
                (
                    inner[(r, c)],
                    if inner[(r, c)].is_finite() { 0xff } else { 0 },
                )
            })
            .unzip();
        Ok(Solved {
            values: inner.to_owned(),
            edge_levels,
            edge_reach,
            seen: Vec::new(),
        })
    };
    // flooding spreads upwards: the tile with the lowest changed edge goes first
    let first = |_: usize| Ok(f32::NEG_INFINITY);
    run_tiles(
        tiling,
        f32::INFINITY,
        keep_going,
        emit,
        solve,
        first,
        |level| level,
    )
}

/// MFD catchment area (as [`mfd_catchment_area`](super::mfd_catchment_area)) of a
/// depression-filled DEM over `tiling`, handed to `emit(first_row, strip)` one row of tiles at
/// a time, top to bottom. `spacing` has one entry per raster row. `store` keeps each tile's
/// routed values between its solves (room for `tiling.count()` blocks of a tile's cells): a tile
/// solved again recomputes only the cells downstream of the edge cells that changed.
///
/// ```
/// use fringewatch::raster::scratch::MemoryBlocks;
/// use fringewatch::raster::CellSpacing;
/// use fringewatch::terrain::hydrology::{mfd_catchment_area, DEFAULT_CONVERGENCE};
/// use fringewatch::terrain::hydrology::tiled::{mfd_catchment_area_tiled, Tiling};
/// let filled = ndarray::Array2::from_shape_fn((30, 40), |(r, c)| {
///     (r * 2 + c) as f32 + 0.1 * ((r * c) % 7) as f32
/// });
/// let spacing = CellSpacing::uniform(15.0, 30);
/// let tiling = Tiling::new(30, 40, 9);
/// let mut area = ndarray::Array2::zeros((30, 40));
/// let mut keep = |row0: usize, strip: ndarray::ArrayView2<f32>| {
///     area.slice_mut(ndarray::s![row0..row0 + strip.nrows(), ..]).assign(&strip);
///     Ok(())
/// };
/// let store = MemoryBlocks::new(tiling.count());
/// let (c, go) = (DEFAULT_CONVERGENCE, &|_| true);
/// mfd_catchment_area_tiled(&filled.view(), &spacing, c, tiling, &store, go, &mut keep)?;
/// assert_eq!(area, mfd_catchment_area(filled.view(), &spacing, c));
/// # Ok::<(), fringewatch::error::Error>(())
/// ```
pub fn mfd_catchment_area_tiled(
    filled: &dyn WindowSource,
    spacing: &CellSpacing,
    convergence: f64,
    tiling: Tiling,
    store: &dyn BlockStore,
    keep_going: &(dyn Fn(f64) -> bool + Sync),
    emit: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
) -> Result<TiledWork> {
    let solve = |t: usize, edges: &[Edges], seen: Option<&[f32]>| -> Result<Solved> {
        let b = tiling.block(t);
        let z = filled.window(b.r0 as isize - 2, b.c0 as isize - 2, b.h + 4, b.w + 4)?;
        let rows_spacing = spacing.rows_clamped(b.r0 as isize - 2, b.h + 4);
        // the areas of the ring around the tile, as the neighbours have them now
        let ring: Vec<f32> = perimeter(b.h + 2, b.w + 2)
            .map(|(r, c)| halo_value(&tiling, edges, b, r as isize - 1, c as isize - 1))
            .map(|v| v.unwrap_or(0.0))
            .collect();
        let mut halo = Array2::<f32>::zeros((b.h + 4, b.w + 4));
        for ((r, c), &v) in perimeter(b.h + 2, b.w + 2).zip(&ring) {
            halo[(r + 1, c + 1)] = v;
        }
        let tile = AreaTile {
            filled: z.view(),
            spacing: &rows_spacing,
            convergence,
        };
        let keep = |area: &Array2<f32>| store.write(t, &area.iter().copied().collect::<Vec<_>>());
        let area = match seen {
            None => {
                let cells = (b.h * b.w).max(1) as f64;
                let area = tile
                    .solve(|pr, pc| halo[(pr, pc)], &|n| {
                        keep_going_in_tile(keep_going, &tiling, n, cells)
                    })
                    .ok_or(Error::Cancelled)?;
                keep(&area)?;
                area
            }
            Some(seen) => {
                let mut flat = vec![0.0f32; b.h * b.w];
                store.read(t, &mut flat)?;
                let mut area = Array2::from_shape_vec((b.h, b.w), flat)
                    .map_err(|e| Error::parameter("tiling", e.to_string()))?;
                let changed: Vec<(usize, usize)> = perimeter(b.h + 2, b.w + 2)
                    .zip(ring.iter().zip(seen))
                    .filter(|(_, (now, was))| now.to_bits() != was.to_bits())
                    .map(|((r, c), _)| (r + 1, c + 1))
                    .collect();
                if !changed.is_empty() && tile.update(&mut area, |pr, pc| halo[(pr, pc)], &changed)
                {
                    keep(&area)?;
                }
                area
            }
        };
        // an edge cell's area reaches the neighbours outside the tile that are lower
        let inner = z.slice(s![2..b.h + 2, 2..b.w + 2]);
        let (edge_levels, edge_reach) = perimeter(b.h, b.w)
            .map(|(r, c)| {
                let level = inner[(r, c)];
                let mut reach = 0u8;
                for (k, &(dr, dc)) in NEIGHBOURS.iter().enumerate() {
                    let (rr, cc) = (r as isize + dr, c as isize + dc);
                    let outside = rr < 0 || cc < 0 || rr >= b.h as isize || cc >= b.w as isize;
                    let zn = z[((rr + 2) as usize, (cc + 2) as usize)];
                    if outside && zn.is_finite() && zn < level {
                        reach |= 1 << k;
                    }
                }
                (level, reach)
            })
            .unzip();
        Ok(Solved {
            values: area,
            edge_levels,
            edge_reach,
            seen: ring,
        })
    };
    // area flows downhill: the highest tiles go first, then the tile fed from the highest
    // changed edge
    let first = |t: usize| -> Result<f32> {
        let b = tiling.block(t);
        let z = filled.window(b.r0 as isize, b.c0 as isize, b.h, b.w)?;
        Ok(-z
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f32::NEG_INFINITY, f32::max))
    };
    // tiles exchange what their cells keep (A/W); the strips handed out are areas
    let mut emit_areas = |row0: usize, kept: ArrayView2<f32>| -> Result<()> {
        let (h, cols) = kept.dim();
        let z = filled.window(row0 as isize - 2, -2, h + 4, cols + 4)?;
        let strip = AreaTile {
            filled: z.view(),
            spacing: &spacing.rows_clamped(row0 as isize - 2, h + 4),
            convergence,
        };
        let mut areas = kept.to_owned();
        strip.areas_in_place(&mut areas);
        emit(row0, areas.view())
    };
    run_tiles(
        tiling,
        0.0,
        keep_going,
        &mut emit_areas,
        solve,
        first,
        |level| -level,
    )
}

/// What one tile solve gives: the tile's values, and for each edge cell (in [`perimeter`]
/// order) its fill level and the neighbours outside the tile it reaches (bit k = neighbour k).
struct Solved {
    values: Array2<f32>,
    edge_levels: Vec<f32>,
    edge_reach: Vec<u8>,
    /// The values around the tile the solve used (empty when a solve always starts afresh).
    seen: Vec<f32>,
}

/// `keep_going` checked inside a tile solve after `n` of its `cells`: asked only when the
/// raster is one tile (the fraction of its cells done); with several, the driver asks between
/// batches of tiles.
fn keep_going_in_tile(
    keep_going: &(dyn Fn(f64) -> bool + Sync),
    tiling: &Tiling,
    n: usize,
    cells: f64,
) -> bool {
    tiling.count() > 1 || keep_going((n as f64 / cells).min(1.0))
}

/// Solve tiles until their edges agree, then solve each row of tiles once more (for the area,
/// a read of its kept result) and emit it.
/// `unknown` is what an edge holds before its tile was solved; tiles are solved first in the
/// order of `first(tile)`, then queued again by `priority(level)` (lowest first) of the changed
/// edge cell that reaches them.
fn run_tiles(
    tiling: Tiling,
    unknown: f32,
    keep_going: &(dyn Fn(f64) -> bool + Sync),
    emit: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
    solve: impl Fn(usize, &[Edges], Option<&[f32]>) -> Result<Solved> + Sync,
    first: impl Fn(usize) -> Result<f32> + Sync,
    priority: impl Fn(f32) -> f32,
) -> Result<TiledWork> {
    let count = tiling.count();
    let mut edges: Vec<Edges> = (0..count)
        .map(|t| {
            let b = tiling.block(t);
            Edges::constant(b.h, b.w, unknown)
        })
        .collect();
    let mut seen: Vec<Option<Vec<f32>>> = vec![None; count];
    let mut solves = 0usize;
    if count > 1 {
        let order: Vec<f32> = (0..count)
            .into_par_iter()
            .map(&first)
            .collect::<Result<_>>()?;
        let mut queue = TileQueue::new(&order);
        let threads = rayon::current_num_threads().max(1);
        let mut reported = 0.0f64;
        while let Some(batch) = queue.pop_batch(threads) {
            let estimate = solves as f64 / (solves + queue.len() + count) as f64;
            reported = reported.max(0.5 * estimate);
            if !keep_going(reported) {
                return Err(Error::Cancelled);
            }
            let solved: Vec<Solved> = batch
                .par_iter()
                .map(|&t| solve(t, &edges, seen[t].as_deref()))
                .collect::<Result<_>>()?;
            solves += batch.len();
            for (&t, s) in batch.iter().zip(solved) {
                let b = tiling.block(t);
                let new = Edges::of(s.values.view());
                for (i, (r, c)) in perimeter(b.h, b.w).enumerate() {
                    let old = edges[t].at(r, c, b.h, b.w);
                    let now = new.at(r, c, b.h, b.w);
                    if old.to_bits() == now.to_bits() {
                        continue;
                    }
                    for (k, &(dr, dc)) in NEIGHBOURS.iter().enumerate() {
                        if s.edge_reach[i] & (1 << k) == 0 {
                            continue;
                        }
                        let (rr, cc) = ((b.r0 + r) as isize + dr, (b.c0 + c) as isize + dc);
                        match tiling.tile_at(rr, cc) {
                            Some(u) if u != t => queue.push(u, priority(s.edge_levels[i])),
                            _ => {}
                        }
                    }
                }
                edges[t] = new;
                if !s.seen.is_empty() {
                    seen[t] = Some(s.seen);
                }
            }
        }
    }
    // the final pass: one row of tiles at a time
    let across = tiling.across();
    for tr in 0..tiling.down() {
        if count > 1 && !keep_going(0.5 + 0.5 * tr as f64 / tiling.down() as f64) {
            return Err(Error::Cancelled);
        }
        let row_tiles: Vec<usize> = (tr * across..(tr + 1) * across).collect();
        let solved: Vec<Solved> = row_tiles
            .par_iter()
            .map(|&t| solve(t, &edges, seen[t].as_deref()))
            .collect::<Result<_>>()?;
        let b0 = tiling.block(row_tiles[0]);
        let mut strip = Array2::<f32>::zeros((b0.h, tiling.cols));
        for (&t, s) in row_tiles.iter().zip(&solved) {
            let b = tiling.block(t);
            strip.slice_mut(s![.., b.c0..b.c0 + b.w]).assign(&s.values);
        }
        drop(solved);
        emit(b0.r0, strip.view())?;
    }
    Ok(TiledWork {
        tiles: count,
        solves: solves.max(count),
    })
}

/// Tiles waiting for a solve, by priority (lowest first); a tile is queued once, at its
/// lowest priority so far.
struct TileQueue {
    heap: BinaryHeap<Reverse<(OrderedF32, usize)>>,
    queued: Vec<Option<f32>>,
    len: usize,
}

impl TileQueue {
    /// Every tile queued, tile t at priority `first[t]`.
    fn new(first: &[f32]) -> Self {
        TileQueue {
            heap: first
                .iter()
                .enumerate()
                .map(|(t, &p)| Reverse((OrderedF32(p), t)))
                .collect(),
            queued: first.iter().map(|&p| Some(p)).collect(),
            len: first.len(),
        }
    }

    fn push(&mut self, t: usize, priority: f32) {
        match self.queued[t] {
            Some(p) if p <= priority => {}
            was => {
                if was.is_none() {
                    self.len += 1;
                }
                self.queued[t] = Some(priority);
                self.heap.push(Reverse((OrderedF32(priority), t)));
            }
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Up to `n` tiles, lowest priority first (stale entries skipped).
    fn pop_batch(&mut self, n: usize) -> Option<Vec<usize>> {
        let mut batch = Vec::with_capacity(n);
        while batch.len() < n {
            let Some(Reverse((OrderedF32(p), t))) = self.heap.pop() else {
                break;
            };
            if self.queued[t] == Some(p) {
                self.queued[t] = None;
                self.len -= 1;
                batch.push(t);
            }
        }
        (!batch.is_empty()).then_some(batch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedF32(f32);

impl Eq for OrderedF32 {}

impl PartialOrd for OrderedF32 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedF32 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The values of a tile's edge cells: its first and last row, first and last column.
#[derive(Debug, Clone)]
struct Edges {
    top: Vec<f32>,
    bottom: Vec<f32>,
    left: Vec<f32>,
    right: Vec<f32>,
}

impl Edges {
    fn constant(h: usize, w: usize, value: f32) -> Self {
        Edges {
            top: vec![value; w],
            bottom: vec![value; w],
            left: vec![value; h],
            right: vec![value; h],
        }
    }

    fn of(values: ArrayView2<f32>) -> Self {
        let (h, w) = values.dim();
        Edges {
            top: values.row(0).to_vec(),
            bottom: values.row(h - 1).to_vec(),
            left: values.column(0).to_vec(),
            right: values.column(w - 1).to_vec(),
        }
    }

    /// The value at the edge cell (r, c) of an `h × w` tile.
    fn at(&self, r: usize, c: usize, h: usize, w: usize) -> f32 {
        if r == 0 {
            self.top[c]
        } else if r + 1 == h {
            self.bottom[c]
        } else if c == 0 {
            self.left[r]
        } else {
            debug_assert_eq!(c + 1, w);
            self.right[r]
        }
    }
}

/// The edge cells of an `h × w` tile, each once: first row, last row, then the columns.
fn perimeter(h: usize, w: usize) -> impl Iterator<Item = (usize, usize)> {
    let top = (0..w).map(|c| (0, c));
    let bottom = (0..if h > 1 { w } else { 0 }).map(move |c| (h - 1, c));
    let inner_rows = 1..h.saturating_sub(1);
    let left = inner_rows.clone().map(|r| (r, 0));
    let right = inner_rows.filter(move |_| w > 1).map(move |r| (r, w - 1));
    top.chain(bottom).chain(left).chain(right)
}

/// The current value of the cell at (dr, dc) relative to tile `b`'s top-left cell, a cell of a
/// neighbouring tile (so on that tile's edge); `None` outside the raster or inside `b`.
fn halo_value(tiling: &Tiling, edges: &[Edges], b: Block, dr: isize, dc: isize) -> Option<f32> {
    if dr >= 0 && dc >= 0 && (dr as usize) < b.h && (dc as usize) < b.w {
        return None;
    }
    let (r, c) = (b.r0 as isize + dr, b.c0 as isize + dc);
    let u = tiling.tile_at(r, c)?;
    let n = tiling.block(u);
    Some(edges[u].at(r as usize - n.r0, c as usize - n.c0, n.h, n.w))
}

/// Priority-Flood+ε on one tile. `padded` holds the DEM over the tile and a ring of one cell
/// (NaN where there is no cell); `halo(pr, pc)` is the current fill level of a ring cell
/// (+∞ while unknown, NaN where none). The ring floods the tile like an outer edge at those
/// levels; cells at the raster's edge or next to nodata keep their elevation. Returns `padded`
/// with the tile filled, `None` when `check(cells settled)` said stop.
pub(super) fn fill_tile(
    mut padded: Array2<f32>,
    halo: impl Fn(usize, usize) -> f32,
    check: &dyn Fn(usize) -> bool,
) -> Option<Array2<f32>> {
    let (ph, pw) = padded.dim();
    let mut closed = vec![false; ph * pw];
    let mut open = LevelQueue::new();
    let mut pit = VecDeque::new();
    // seeds: cells with a neighbour that is no cell (outside the raster or nodata)
    for pr in 1..ph - 1 {
        for pc in 1..pw - 1 {
            let z = padded[(pr, pc)];
            let i = pr * pw + pc;
            if !z.is_finite() {
                closed[i] = true;
            } else if NEIGHBOURS.iter().any(|&(dr, dc)| {
                !padded[((pr as isize + dr) as usize, (pc as isize + dc) as usize)].is_finite()
            }) {
                closed[i] = true;
                open.push(z, i as u32);
            }
        }
    }
    // the ring: neighbours' current levels, flooding inwards
    for (pr, pc) in perimeter(ph, pw) {
        let i = pr * pw + pc;
        closed[i] = true;
        if padded[(pr, pc)].is_finite() {
            let level = halo(pr, pc);
            padded[(pr, pc)] = level;
            if level.is_finite() {
                open.push(level, i as u32);
            }
        }
    }
    let mut settled = 0usize;
    loop {
        // pit cells were queued in rising order: take them while they are not above the queue
        let i = match (pit.front(), open.peek_level()) {
            (Some(&p), Some(level)) if padded[(p as usize / pw, p as usize % pw)] > level => {
                open.pop()?
            }
            (Some(_), _) => pit.pop_front()?,
            (None, Some(_)) => open.pop()?,
            (None, None) => break,
        } as usize;
        settled += 1;
        if settled % ROUTING_CHECK_CELLS == 0 && !check(settled) {
            return None;
        }
        let (r, c) = (i / pw, i % pw);
        let spill = next_up(padded[(r, c)]);
        for &(dr, dc) in NEIGHBOURS.iter() {
            let (rr, cc) = (r as isize + dr, c as isize + dc);
            if rr < 0 || cc < 0 || rr >= ph as isize || cc >= pw as isize {
                continue;
            }
            let j = rr as usize * pw + cc as usize;
            if closed[j] {
                continue;
            }
            closed[j] = true;
            let z = &mut padded[(rr as usize, cc as usize)];
            if *z <= spill {
                *z = spill;
                pit.push_back(j as u32);
            } else {
                open.push(*z, j as u32);
            }
        }
    }
    Some(padded)
}

/// MFD catchment area of one tile. `filled` holds the fill over the tile and a ring of two
/// cells (NaN where there is no cell), `spacing` that of its rows. Each cell's area is
/// its own plus its donors' shares, summed in neighbour order, so the result does not depend on
/// the order in which cells or tiles are visited.
pub(super) struct AreaTile<'a> {
    pub filled: ArrayView2<'a, f32>,
    pub spacing: &'a CellSpacing,
    pub convergence: f64,
}

impl AreaTile<'_> {
    /// Tile size (without the ring).
    fn size(&self) -> (usize, usize) {
        let (ph, pw) = self.filled.dim();
        (ph - 4, pw - 4)
    }

    fn at(pr: usize, pc: usize, k: usize) -> (usize, usize) {
        let (dr, dc) = NEIGHBOURS[k];
        ((pr as isize + dr) as usize, (pc as isize + dc) as usize)
    }

    fn inside(&self, pr: usize, pc: usize) -> bool {
        let (h, w) = self.size();
        (2..h + 2).contains(&pr) && (2..w + 2).contains(&pc)
    }

    /// Whether (nr, nc) is a cell higher than (pr, pc) (so gives it a share).
    fn higher(&self, nr: usize, nc: usize, pr: usize, pc: usize) -> bool {
        let zn = self.filled[(nr, nc)];
        zn.is_finite() && zn > self.filled[(pr, pc)]
    }

    /// The weight (Δz/L)^p of the flow from (pr, pc) to its neighbour k, 0 unless lower.
    fn weight(&self, pr: usize, pc: usize, k: usize) -> f64 {
        let (nr, nc) = Self::at(pr, pc, k);
        let (z0, zn) = (self.filled[(pr, pc)], self.filled[(nr, nc)]);
        if zn.is_finite() && zn < z0 {
            let run = neighbour_distance(k, self.spacing.dx[pr], self.spacing.dy[pr]);
            ((z0 as f64 - zn as f64) / run).powf(self.convergence)
        } else {
            0.0
        }
    }

    /// The total outflow weight of (pr, pc).
    fn total(&self, pr: usize, pc: usize) -> f64 {
        (0..8).map(|k| self.weight(pr, pc, k)).sum()
    }

    /// [`AreaTile::total`] as the nearest f32 (the smallest positive one rather than 0 when
    /// there is any outflow). Rounded to nearest as what each cell keeps is, so that the
    /// roundings along a flow path do not all lean one way.
    fn total_f32(&self, pr: usize, pc: usize) -> f32 {
        let total = self.total(pr, pc);
        let nearest = total as f32;
        if nearest == 0.0 && total > 0.0 {
            next_up(0.0)
        } else {
            nearest
        }
    }

    /// The area of (pr, pc): its own plus each higher neighbour's share, in neighbour order. A
    /// routed neighbour keeps its area over its total outflow weight ([`stored_value`]),
    /// `kept(nr, nc)` (from the tile or the ring), so its share is that times one weight.
    fn pull(&self, pr: usize, pc: usize, kept: &impl Fn(usize, usize) -> f32) -> f32 {
        let mut sum = (self.spacing.dx[pr] * self.spacing.dy[pr]) as f32 as f64;
        for k in 0..8 {
            let (nr, nc) = Self::at(pr, pc, k);
            if self.higher(nr, nc, pr, pc) {
                // the donor's weight towards this cell: its neighbour (k + 4) mod 8
                sum += kept(nr, nc) as f64 * self.weight(nr, nc, (k + 4) % 8);
            }
        }
        sum as f32
    }

    /// The stored values ([`stored_value`]) of the tile, `halo(pr, pc)` giving those of the
    /// inner ring (0 while unknown); `None` when `check(cells routed)` said stop.
    ///
    /// A cell is routed once all its higher neighbours in the tile are (a topological order),
    /// on all threads: each starts from cells with no donor and follows the flow down, routing
    /// a lower neighbour as soon as it sees all of that neighbour's donors routed. As a cell's
    /// value depends only on its donors' values, summed in neighbour order, it does not depend
    /// on which thread routes what. Memory: 4 bytes a cell, a slot holding the cell's total
    /// outflow weight with the sign bit set until the cell is routed, then what it keeps (> 0).
    pub(super) fn solve(
        &self,
        halo: impl Fn(usize, usize) -> f32 + Sync,
        check: &(dyn Fn(usize) -> bool + Sync),
    ) -> Option<Array2<f32>> {
        let (h, w) = self.size();
        let position = |i: usize| (i / w + 2, i % w + 2);
        let index = |pr: usize, pc: usize| (pr - 2) * w + (pc - 2);
        let is_cell = |i: usize| {
            let (pr, pc) = position(i);
            self.filled[(pr, pc)].is_finite()
        };
        let slots: Vec<AtomicU32> = (0..h * w)
            .into_par_iter()
            .map(|i| {
                let (pr, pc) = position(i);
                let slot = if is_cell(i) {
                    -self.total_f32(pr, pc)
                } else {
                    f32::NAN
                };
                AtomicU32::new(slot.to_bits())
            })
            .collect();
        let donors_in_tile = |pr: usize, pc: usize| {
            (0..8)
                .map(move |k| Self::at(pr, pc, k))
                .filter(move |&(nr, nc)| self.inside(nr, nc) && self.higher(nr, nc, pr, pc))
        };
        let seeds: Vec<u32> = (0..h * w)
            .into_par_iter()
            .filter(|&i| {
                let (pr, pc) = position(i);
                is_cell(i) && donors_in_tile(pr, pc).next().is_none()
            })
            .map(|i| i as u32)
            .collect();
        let kept = |nr: usize, nc: usize| {
            if self.inside(nr, nc) {
                f32::from_bits(slots[index(nr, nc)].load(Relaxed))
            } else {
                halo(nr, nc)
            }
        };
        // SeqCst: of two donors routed at once, the thread of the later store sees both
        let routed_now = |pr: usize, pc: usize| !unrouted(slots[index(pr, pc)].load(SeqCst));
        let routed = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        seeds.par_chunks(SEEDS_PER_TASK).for_each(|chunk| {
            // cells this thread routes next, with their total outflow weight
            let mut down: Vec<(usize, f32)> = Vec::new();
            let mut since_check = 0usize;
            for &seed in chunk {
                let seed = seed as usize;
                down.push((seed, -f32::from_bits(slots[seed].load(Relaxed))));
                while let Some((i, total)) = down.pop() {
                    let (pr, pc) = position(i);
                    let area = self.pull(pr, pc, &kept);
                    slots[i].store(stored_value(area, total).to_bits(), SeqCst);
                    for k in 0..8 {
                        let (nr, nc) = Self::at(pr, pc, k);
                        if !(self.inside(nr, nc) && self.higher(pr, pc, nr, nc)) {
                            continue;
                        }
                        if donors_in_tile(nr, nc).all(|(dr, dc)| routed_now(dr, dc)) {
                            // ready: whichever thread claims it routes it
                            let j = index(nr, nc);
                            let seen = slots[j].load(SeqCst);
                            if unrouted(seen)
                                && seen != CLAIMED
                                && slots[j]
                                    .compare_exchange(seen, CLAIMED, SeqCst, Relaxed)
                                    .is_ok()
                            {
                                down.push((j, -f32::from_bits(seen)));
                            }
                        }
                    }
                    since_check += 1;
                    if since_check == ROUTING_CHECK_CELLS {
                        let n = routed.fetch_add(since_check, Relaxed) + since_check;
                        since_check = 0;
                        if stop.load(Relaxed) || !check(n) {
                            stop.store(true, Relaxed);
                            return;
                        }
                    }
                }
            }
            routed.fetch_add(since_check, Relaxed);
        });
        if stop.load(Relaxed) {
            return None;
        }
        // the slots become the result in place (same size and alignment)
        let values: Vec<f32> = slots
            .into_iter()
            .map(|v| f32::from_bits(v.into_inner()))
            .collect();
        debug_assert!(values.iter().all(|v| !unrouted(v.to_bits())));
        Array2::from_shape_vec((h, w), values).ok()
    }

    /// Bring `stored` (this tile's last solve) up to date after the ring cells `changed` took
    /// the values `halo` gives: only the cells downstream of them are computed again, highest
    /// first, with the same sums as [`AreaTile::solve`], so the result equals a fresh solve bit
    /// for bit. Returns whether any value changed.
    pub(super) fn update(
        &self,
        stored: &mut Array2<f32>,
        halo: impl Fn(usize, usize) -> f32,
        changed: &[(usize, usize)],
    ) -> bool {
        let (h, w) = self.size();
        let mut queued = vec![false; h * w];
        let mut heap = BinaryHeap::new();
        let mut push_lower = |pr: usize, pc: usize, heap: &mut BinaryHeap<(OrderedF32, u32)>| {
            for k in 0..8 {
                let (nr, nc) = Self::at(pr, pc, k);
                if self.inside(nr, nc) && self.higher(pr, pc, nr, nc) {
                    let j = (nr - 2) * w + (nc - 2);
                    if !queued[j] {
                        queued[j] = true;
                        heap.push((OrderedF32(self.filled[(nr, nc)]), j as u32));
                    }
                }
            }
        };
        for &(pr, pc) in changed {
            push_lower(pr, pc, &mut heap);
        }
        let mut any = false;
        while let Some((_, i)) = heap.pop() {
            let (r, c) = (i as usize / w, i as usize % w);
            let (pr, pc) = (r + 2, c + 2);
            let kept = |nr: usize, nc: usize| {
                if self.inside(nr, nc) {
                    stored[(nr - 2, nc - 2)]
                } else {
                    halo(nr, nc)
                }
            };
            let area = self.pull(pr, pc, &kept);
            let value = stored_value(area, self.total_f32(pr, pc));
            if value.to_bits() != stored[(r, c)].to_bits() {
                stored[(r, c)] = value;
                any = true;
                push_lower(pr, pc, &mut heap);
            }
        }
        any
    }

    /// The areas of the tile from its stored values ([`area_of_stored`]), in place.
    pub(super) fn areas_in_place(&self, stored: &mut Array2<f32>) {
        stored
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(r, mut row)| {
                for (c, v) in row.iter_mut().enumerate() {
                    if v.is_finite() {
                        *v = area_of_stored(*v, self.total_f32(r + 2, c + 2));
                    }
                }
            });
    }
}

/// Cells with no donor a task of [`AreaTile::solve`] starts from (the flow below them comes
/// with them).
const SEEDS_PER_TASK: usize = 4096;

/// The slot of a cell that a thread of [`AreaTile::solve`] is routing (a NaN with the sign bit
/// set: not yet routed, and no total).
const CLAIMED: u32 = 0xffc0_0000;

/// Whether a slot of [`AreaTile::solve`] holds a cell not yet routed (sign bit set).
fn unrouted(bits: u32) -> bool {
    bits & 0x8000_0000 != 0
}

/// Smallest total outflow weight a routed cell's area is divided by, 2⁻⁸⁰: what a cell keeps
/// stays finite (below 10³⁶ for a catchment of 10¹² m²). Only a filled flat within 10⁻¹⁴ m of
/// zero elevation has weights that small.
const MIN_TOTAL: f64 = 8.271_806_125_530_277e-25;

/// What a routed cell keeps for its receivers: its `area` over its `total` outflow weight W
/// (the sum of (Δz/L)^p as the nearest f32), as the nearest f32; a receiver's share is then
/// `kept·w`. A cell with no outflow (W = 0) keeps its area. Keeping A/W instead of A and W
/// halves what the routing holds per cell; [`area_of_stored`] gives the area back within an
/// f32 rounding, and the areas stay within 10⁻⁵ of an f64 routing (tests/tiled_hydrology.rs).
fn stored_value(area: f32, total: f32) -> f32 {
    if total > 0.0 {
        (area as f64 / (total as f64).max(MIN_TOTAL)) as f32
    } else {
        area
    }
}

/// The area of a routed cell from what it keeps ([`stored_value`]) and its total outflow
/// weight: A = kept·max(W, 2⁻⁸⁰), or the kept value itself when W = 0.
fn area_of_stored(kept: f32, total: f32) -> f32 {
    if total > 0.0 {
        (kept as f64 * (total as f64).max(MIN_TOTAL)) as f32
    } else {
        kept
    }
}
