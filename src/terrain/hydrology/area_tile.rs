//! MFD catchment area of one tile given the values of the cells around it (Freeman 1991, as
//! SAGA's `ta_hydrology 0` METHOD 4): a whole raster as one tile ([`AreaTile::solve`], on all
//! threads), or a tile of the tiled routing brought up to date pass by pass
//! ([`AreaTile::pass`]). Both sum each cell's donors in neighbour order, so a cell's value does
//! not depend on the order in which cells or tiles are visited.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::level_queue::level_key;
use super::{next_up, ROUTING_CHECK_CELLS};
use crate::raster::CellSpacing;
use crate::terrain::NEIGHBOURS;

/// MFD catchment area of one tile: the fill over the tile and a frame of two cells (NaN where
/// there is no cell), row-major, with what the routing needs of each row's spacing.
pub(super) struct AreaTile<'a> {
    z: &'a [f32],
    /// Height and width of the tile without its frame.
    h: usize,
    w: usize,
    /// Width of a framed row.
    pw: usize,
    /// Each framed row's cell area (m², rounded to f32 as SAGA's grid does).
    cell_area: Vec<f64>,
    /// Each framed row's distance to a neighbour: north–south, east–west, diagonal.
    runs: Vec<[f64; 3]>,
    /// The flat offset of each neighbour (clockwise from north).
    offsets: [isize; 8],
    exponent: f32,
    /// Each cell's total outflow weight when kept beside the tile ([`AreaTile::with_totals`]).
    totals: Option<ArrayView2<'a, f32>>,
}

impl<'a> AreaTile<'a> {
    /// The tile whose fill with its frame is `filled` (row-major, as every window the routing
    /// reads is made), `spacing` with one entry per framed row, routed with the flow-partition
    /// exponent `convergence`.
    pub(super) fn new(
        filled: ArrayView2<'a, f32>,
        spacing: &CellSpacing,
        convergence: f64,
    ) -> Self {
        let (ph, pw) = filled.dim();
        let z = match filled.to_slice() {
            Some(z) => z,
            None => unreachable!("the routing's windows are made row-major"),
        };
        let (dx, dy) = (&spacing.dx, &spacing.dy);
        AreaTile {
            z,
            h: ph - 4,
            w: pw - 4,
            pw,
            cell_area: (0..ph).map(|r| (dx[r] * dy[r]) as f32 as f64).collect(),
            runs: (0..ph)
                .map(|r| [dy[r], dx[r], (dx[r] * dx[r] + dy[r] * dy[r]).sqrt()])
                .collect(),
            offsets: NEIGHBOURS.map(|(dr, dc)| dr * pw as isize + dc),
            exponent: convergence as f32,
            totals: None,
        }
    }

    /// The tile whose cells' total outflow weights are `totals` ([`AreaTile::totals`]), so that
    /// its passes need not compute them again.
    pub(super) fn with_totals(self, totals: ArrayView2<'a, f32>) -> Self {
        AreaTile {
            totals: Some(totals),
            ..self
        }
    }
}

impl AreaTile<'_> {
    /// Tile size (without the frame).
    fn size(&self) -> (usize, usize) {
        (self.h, self.w)
    }

    fn at(pr: usize, pc: usize, k: usize) -> (usize, usize) {
        let (dr, dc) = NEIGHBOURS[k];
        ((pr as isize + dr) as usize, (pc as isize + dc) as usize)
    }

    fn inside(&self, pr: usize, pc: usize) -> bool {
        pr.wrapping_sub(2) < self.h && pc.wrapping_sub(2) < self.w
    }

    /// The fill at framed cell (pr, pc).
    fn level(&self, pr: usize, pc: usize) -> f32 {
        self.z[pr * self.pw + pc]
    }

    /// Whether (nr, nc) is a cell higher than (pr, pc) (so gives it a share).
    fn higher(&self, nr: usize, nc: usize, pr: usize, pc: usize) -> bool {
        let zn = self.level(nr, nc);
        zn.is_finite() && zn > self.level(pr, pc)
    }

    /// The weight w = (Δz/L)^p of the flow from (pr, pc) to its neighbour k, 0 unless lower;
    /// the power in f32 (within 3·10⁻⁷ of f64, below the rounding of what each cell keeps, at
    /// half the cost, which is most of the routing's).
    fn weight(&self, pr: usize, pc: usize, k: usize) -> f64 {
        let p = pr * self.pw + pc;
        let (z0, zn) = (self.z[p], self.z[(p as isize + self.offsets[k]) as usize]);
        if zn.is_finite() && zn < z0 {
            let run = self.runs[pr][[0, 2, 1, 2, 0, 2, 1, 2][k]];
            (((z0 as f64 - zn as f64) / run) as f32).powf(self.exponent) as f64
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

    /// Each cell's total outflow weight ([`AreaTile::total_f32`]; NaN where there is no
    /// cell), which the tiled routing computes once per tile and keeps beside its values.
    pub(super) fn totals(&self) -> Array2<f32> {
        Array2::from_shape_fn((self.h, self.w), |(r, c)| {
            if self.level(r + 2, c + 2).is_finite() {
                self.total_f32(r + 2, c + 2)
            } else {
                f32::NAN
            }
        })
    }

    /// The area of (pr, pc): its own plus each higher neighbour's share, in neighbour order. A
    /// routed neighbour keeps its area over its total outflow weight ([`stored_value`]),
    /// `kept(nr, nc)` (from the tile or the ring), so its share is that times one weight.
    fn pull(&self, pr: usize, pc: usize, kept: &impl Fn(usize, usize) -> f32) -> f32 {
        let mut sum = self.cell_area[pr];
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
            self.level(pr, pc).is_finite()
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

    /// One pass of the tiled routing over this tile: the cells still to do (`pending`, those
    /// never routed ([`Unrouted`]), and those downstream of the ring cells `changed`
    /// since the last pass, which took the values `halo` gives) are routed into `stored`,
    /// highest first, down to `floor`; a routed cell whose value changed sends its lower
    /// neighbours after it. Cells below `floor` are left for a later pass, so that a cell is
    /// routed once its donors in other tiles are, as far as the tiles waiting allow. Each cell
    /// is summed as in [`AreaTile::solve`], so the routing ends equal to a whole-raster solve
    /// bit for bit.
    pub(super) fn pass(
        &self,
        stored: &mut Array2<f32>,
        halo: impl Fn(usize, usize) -> f32,
        changed: &[(usize, usize)],
        pending: &[u32],
        unrouted: Unrouted,
        floor: f32,
    ) -> PassDone {
        let (h, w) = self.size();
        let level = |i: usize| self.level(i / w + 2, i % w + 2);
        let mut queued = vec![false; h * w];
        let mut queue = CellQueue::default();
        let mut push = |i: usize, queue: &mut CellQueue| {
            if !queued[i] {
                queued[i] = true;
                queue.push(level_key(level(i)), i as u32);
            }
        };
        let push_lower = |pr: usize,
                          pc: usize,
                          queue: &mut CellQueue,
                          push: &mut dyn FnMut(usize, &mut CellQueue)| {
            for k in 0..8 {
                let (nr, nc) = Self::at(pr, pc, k);
                if self.inside(nr, nc) && self.higher(pr, pc, nr, nc) {
                    push((nr - 2) * w + (nc - 2), queue);
                }
            }
        };
        // cells never routed: those from `floor` up are routed now, the highest of the rest
        // gives the level of the tile's next pass
        let fresh_below = unrouted.below;
        let mut fresh_left = f32::NEG_INFINITY;
        if unrouted.top >= floor {
            let mut now = Vec::new();
            for r in 0..h {
                let row = (r + 2) * self.pw + 2;
                let top = split_row(&self.z[row..row + w], fresh_below, floor, &mut now);
                fresh_left = fresh_left.max(top);
                for c in now.drain(..) {
                    push(r * w + c as usize, &mut queue);
                }
            }
        } else {
            // none is routed now: the highest of them stays the highest
            fresh_left = unrouted.top;
        }
        for &i in pending {
            push(i as usize, &mut queue);
        }
        for &(pr, pc) in changed {
            push_lower(pr, pc, &mut queue, &mut push);
        }
        let mut any = false;
        let floor_key = level_key(floor);
        queue.start();
        while let Some((key, i)) = queue.peek() {
            if key < floor_key {
                break;
            }
            queue.pop();
            let z = level(i as usize);
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
            let total = match &self.totals {
                Some(totals) => totals[(r, c)],
                None => self.total_f32(pr, pc),
            };
            let value = stored_value(area, total);
            if value.to_bits() != stored[(r, c)].to_bits() {
                stored[(r, c)] = value;
                any = true;
                push_lower(pr, pc, &mut queue, &mut push);
            } else if z < fresh_below {
                // a first routing that happens to equal what the slot held still counts
                any = true;
            }
        }
        let fresh_below = fresh_below.min(floor);
        // what is left and was routed before waits for the next pass; cells never routed are
        // found again by their level
        let left: Vec<u32> = queue
            .into_cells()
            .filter(|&i| level(i as usize) >= fresh_below)
            .collect();
        let left_top = left
            .iter()
            .map(|&i| level(i as usize))
            .fold(fresh_left, f32::max);
        PassDone {
            changed: any,
            left,
            left_top: (left_top > f32::NEG_INFINITY).then_some(left_top),
            unrouted: Unrouted {
                below: fresh_below,
                top: fresh_left,
            },
        }
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

/// The cells of `row` below `below` (never routed): the columns of those at or above `floor`
/// go to `now`; returns the highest of the others (−∞ when none). NaN (no cell) is neither.
fn split_row(row: &[f32], below: f32, floor: f32, now: &mut Vec<u32>) -> f32 {
    let mut top = f32::NEG_INFINITY;
    for (c, &z) in row.iter().enumerate() {
        if z < below {
            if z >= floor {
                now.push(c as u32);
            } else if z > top {
                top = z;
            }
        }
    }
    top
}

/// Cells of a tile by level ([`level_key`]), highest first: those queued before the routing
/// starts are sorted once, those queued while it runs go to a binary heap.
#[derive(Default)]
struct CellQueue {
    sorted: Vec<(u32, u32)>,
    heap: std::collections::BinaryHeap<(u32, u32)>,
    started: bool,
}

impl CellQueue {
    fn push(&mut self, key: u32, cell: u32) {
        if self.started {
            self.heap.push((key, cell));
        } else {
            self.sorted.push((key, cell));
        }
    }

    /// Sort what was queued so far; what is queued from now on goes to the heap.
    fn start(&mut self) {
        self.sorted.sort_unstable();
        self.started = true;
    }

    /// The highest cell queued, with its key.
    fn peek(&self) -> Option<(u32, u32)> {
        match (self.sorted.last(), self.heap.peek()) {
            (Some(a), Some(b)) => Some(*a.max(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    fn pop(&mut self) {
        if self.sorted.last() >= self.heap.peek() {
            self.sorted.pop();
        } else {
            self.heap.pop();
        }
    }

    /// The cells still queued, in no order.
    fn into_cells(self) -> impl Iterator<Item = u32> {
        let sorted = self.sorted.into_iter();
        sorted.chain(self.heap).map(|(_, cell)| cell)
    }
}

/// What [`AreaTile::pass`] did: whether any kept value changed, the cells it reached below its
/// floor and the highest of all the cells left (with those never routed), and the level below
/// which no cell has been routed yet.
pub(super) struct PassDone {
    pub changed: bool,
    pub left: Vec<u32>,
    pub left_top: Option<f32>,
    pub unrouted: Unrouted,
}

/// The cells of a tile the tiled routing has not routed yet: all those below `below`, the
/// highest of them at `top` (−∞ when none is left).
#[derive(Debug, Clone, Copy)]
pub(super) struct Unrouted {
    pub below: f32,
    pub top: f32,
}

impl Unrouted {
    /// A tile before its first pass: every cell.
    pub(super) const ALL: Unrouted = Unrouted {
        below: f32::INFINITY,
        top: f32::INFINITY,
    };
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

/// The areas of cells from what they keep and their total outflow weights ([`area_of_stored`]),
/// in place.
pub(super) fn areas_from_totals(stored: ArrayViewMut2<f32>, totals: ArrayView2<f32>) {
    ndarray::Zip::from(stored)
        .and(totals)
        .for_each(|v, &total| {
            if v.is_finite() {
                *v = area_of_stored(*v, total);
            }
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A filled-looking tile of 20 × 27 cells with its frame of two: a tilted, wavy surface
    /// (every cell drains), a hole, and no cell in the frame's outer ring on the left.
    fn tile() -> Array2<f32> {
        Array2::from_shape_fn((24, 31), |(r, c)| {
            if (r, c) == (9, 14) || c == 0 {
                return f32::NAN;
            }
            let (x, y) = (c as f32, r as f32);
            500.0 - 3.0 * y - 1.5 * x + 4.0 * (x / 3.0).sin() * (y / 4.0).cos()
        })
    }

    /// The areas of the ring around the tile: what its neighbours keep.
    fn ring(seed: usize) -> impl Fn(usize, usize) -> f32 + Sync {
        move |r, c| ((r * 31 + c * 17 + seed) % 13) as f32 * 40.0
    }

    fn same(a: &Array2<f32>, b: &Array2<f32>) -> bool {
        a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn a_tile_routed_in_passes_down_to_floors_equals_one_solve() {
        let z = tile();
        let spacing = CellSpacing::uniform(10.0, z.nrows());
        let tile = AreaTile::new(z.view(), &spacing, 1.1);
        let whole = tile.solve(ring(0), &|_| true).unwrap();
        let totals = tile.totals();
        let tile = tile.with_totals(totals.view());
        let nodata = |(r, c): (usize, usize)| z[(r + 2, c + 2)].is_nan();
        let mut stored =
            Array2::from_shape_fn((20, 27), |i| if nodata(i) { f32::NAN } else { 0.0 });
        // four passes with floors that fall through the tile's levels (about 380 to 500 m)
        let (mut unrouted, mut pending, mut passes) = (Unrouted::ALL, Vec::new(), 0);
        for floor in [470.0, 455.0, 420.0, f32::NEG_INFINITY] {
            let done = tile.pass(&mut stored, ring(0), &[], &pending, unrouted, floor);
            passes += 1;
            assert!(done.changed);
            (unrouted, pending) = (done.unrouted, done.left);
            if floor.is_finite() {
                // cells are left below the floor and the tile asks to come back for them
                assert!(done.left_top.is_some_and(|top| top < floor));
            } else {
                assert_eq!(done.left_top, None);
            }
        }
        assert_eq!(passes, 4);
        assert!(same(&stored, &whole), "four passes differ from one solve");
        // the ring changes: a pass from what is kept equals a fresh solve with the new ring
        let changed: Vec<(usize, usize)> = (1..23)
            .map(|r| (r, 1))
            .chain((1..30).map(|c| (1, c)))
            .collect();
        let new_ring = |r: usize, c: usize| {
            if c == 1 || r == 1 {
                ring(5)(r, c)
            } else {
                ring(0)(r, c)
            }
        };
        let done = tile.pass(
            &mut stored,
            new_ring,
            &changed,
            &[],
            unrouted,
            f32::NEG_INFINITY,
        );
        assert!(done.changed);
        let again = tile.solve(new_ring, &|_| true).unwrap();
        assert!(
            same(&stored, &again),
            "a pass after the ring changed differs from a solve"
        );
        assert!(!same(&again, &whole));
    }

    #[test]
    fn a_weight_follows_the_f64_power_within_its_f32_rounding() {
        let z = tile();
        let spacing = CellSpacing::uniform(10.0, z.nrows());
        let tile = AreaTile::new(z.view(), &spacing, 1.1);
        let mut seen = 0;
        for (pr, pc) in [(5, 6), (12, 20), (18, 3)] {
            for k in 0..8 {
                let (nr, nc) = AreaTile::at(pr, pc, k);
                let drop = z[(pr, pc)] as f64 - z[(nr, nc)] as f64;
                let run = if k % 2 == 1 { 200f64.sqrt() } else { 10.0 };
                let exact = if drop > 0.0 {
                    (drop / run).powf(1.1)
                } else {
                    0.0
                };
                let weight = tile.weight(pr, pc, k);
                assert!(
                    (weight - exact).abs() <= 3e-7 * exact,
                    "{weight} against {exact}"
                );
                seen += usize::from(exact > 0.0);
            }
        }
        assert!(seen >= 9, "{seen} downhill neighbours");
    }
}
