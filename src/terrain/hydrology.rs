//! Hydrological terrain variables: depression filling, multiple-flow-direction catchment area,
//! specific catchment area and the Topographic Wetness Index, as SAGA's `ta_preprocessor`,
//! `ta_hydrology 0/19/20` compute them.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::gradient::{aspect_of, gradient_at, slope_of, GradientMethod};
use super::NEIGHBOURS;
use crate::raster::CellSpacing;

/// Freeman (1991) flow-partition exponent used by SAGA's MFD (`-CONVERGENCE 1.1`).
pub const DEFAULT_CONVERGENCE: f64 = 1.1;

/// Lower bound of tan β in the TWI (SAGA's `M_ALMOST_ZERO`), so flats give a finite TWI.
pub const MIN_TAN_SLOPE: f64 = 0.001;

#[derive(PartialEq)]
struct Cell(f32, u32);

impl Eq for Cell {}

impl Ord for Cell {
    fn cmp(&self, other: &Self) -> Ordering {
        // min-heap on elevation, then on index for determinism
        other
            .0
            .total_cmp(&self.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

impl PartialOrd for Cell {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Depression filling by Priority-Flood+ε (Barnes, Lehman & Mulla 2014, Alg. 3): flooding
/// inwards from the grid edge and nodata holes, every cell is raised to at least the next
/// representable value above the cell it was reached from, so that every filled cell drains.
pub fn fill_depressions(dem: ArrayView2<f32>) -> Array2<f32> {
    match fill_depressions_until(dem, &|_| true) {
        Some(filled) => filled,
        None => unreachable!("filling that is never asked to stop finishes"),
    }
}

/// [`fill_depressions`] that asks `keep_going(fraction of cells settled)` every
/// [`ROUTING_CHECK_CELLS`] cells and returns `None` as soon as it answers `false` (the fill is
/// sequential: at 2400² it runs for about a second, too long to run deaf to a cancel).
pub fn fill_depressions_until(
    dem: ArrayView2<f32>,
    keep_going: &dyn Fn(f64) -> bool,
) -> Option<Array2<f32>> {
    let (rows, cols) = dem.dim();
    let total = (rows * cols).max(1) as f64;
    let mut settled = 0usize;
    let mut filled = dem.to_owned();
    let mut closed = vec![false; rows * cols];
    let mut open = BinaryHeap::new();
    let mut pit = VecDeque::new();
    let idx = |r: usize, c: usize| (r * cols + c) as u32;
    for r in 0..rows {
        for c in 0..cols {
            let z = dem[(r, c)];
            if !z.is_finite() {
                closed[r * cols + c] = true;
                continue;
            }
            let on_edge = r == 0 || c == 0 || r + 1 == rows || c + 1 == cols;
            let by_hole = !on_edge
                && NEIGHBOURS.iter().any(|&(dr, dc)| {
                    !dem[((r as isize + dr) as usize, (c as isize + dc) as usize)].is_finite()
                });
            if on_edge || by_hole {
                closed[r * cols + c] = true;
                open.push(Cell(z, idx(r, c)));
            }
        }
    }
    loop {
        let i = if let Some(i) = pit.pop_front() {
            i
        } else if let Some(Cell(_, i)) = open.pop() {
            i
        } else {
            break;
        };
        settled += 1;
        if settled % ROUTING_CHECK_CELLS == 0 && !keep_going(settled as f64 / total) {
            return None;
        }
        let (r, c) = ((i as usize) / cols, (i as usize) % cols);
        let spill = next_up(filled[(r, c)]);
        for &(dr, dc) in NEIGHBOURS.iter() {
            let rr = r as isize + dr;
            let cc = c as isize + dc;
            if rr < 0 || cc < 0 || rr >= rows as isize || cc >= cols as isize {
                continue;
            }
            let (rr, cc) = (rr as usize, cc as usize);
            let j = rr * cols + cc;
            if closed[j] {
                continue;
            }
            closed[j] = true;
            if filled[(rr, cc)] <= spill {
                filled[(rr, cc)] = spill;
                pit.push_back(j as u32);
            } else {
                open.push(Cell(filled[(rr, cc)], j as u32));
            }
        }
    }
    Some(filled)
}

/// The smallest f32 greater than `z`.
fn next_up(z: f32) -> f32 {
    if z.is_nan() || z == f32::INFINITY {
        return z;
    }
    let bits = z.to_bits();
    let next = if z == 0.0 {
        1
    } else if z > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

/// Distance to neighbour `i` (clockwise from north) for row spacing (dx, dy).
#[inline]
fn neighbour_distance(i: usize, dx: f64, dy: f64) -> f64 {
    match i {
        0 | 4 => dy,
        2 | 6 => dx,
        _ => (dx * dx + dy * dy).sqrt(),
    }
}

/// Total catchment area (m²) by multiple flow direction routing (Freeman 1991, as SAGA
/// `ta_hydrology 0` METHOD 4): each cell passes its area plus inflow to every lower neighbour i
/// in proportion to (Δzᵢ / Lᵢ)^p. Run it on a depression-filled DEM.
///
/// Cells are processed in topological order (Kahn: a cell goes once all its higher neighbours
/// have given their share), which needs one byte per cell besides the output.
pub fn mfd_catchment_area(
    filled: ArrayView2<f32>,
    spacing: &CellSpacing,
    convergence: f64,
) -> Array2<f32> {
    match mfd_catchment_area_until(filled, spacing, convergence, &|_| true) {
        Some(area) => area,
        None => unreachable!("routing that is never asked to stop finishes"),
    }
}

/// Cells routed between two calls of the `keep_going` check (about 50 ms on one core).
const ROUTING_CHECK_CELLS: usize = 1 << 18;

/// [`mfd_catchment_area`] that asks `keep_going(fraction of cells routed)` every
/// [`ROUTING_CHECK_CELLS`] cells and returns `None` as soon as it answers `false` (cancellation
/// of long runs).
pub fn mfd_catchment_area_until(
    filled: ArrayView2<f32>,
    spacing: &CellSpacing,
    convergence: f64,
    keep_going: &dyn Fn(f64) -> bool,
) -> Option<Array2<f32>> {
    let (rows, cols) = filled.dim();
    let mut area = Array2::<f32>::from_elem((rows, cols), f32::NAN);
    // number of higher (donor) neighbours of each cell
    let mut donors = vec![0u8; rows * cols];
    donors
        .par_chunks_mut(cols)
        .zip(area.axis_iter_mut(Axis(0)).into_par_iter())
        .enumerate()
        .for_each(|(r, (drow, mut arow))| {
            let cell_area = (spacing.dx[r] * spacing.dy[r]) as f32;
            for c in 0..cols {
                let z = filled[(r, c)];
                if !z.is_finite() {
                    continue;
                }
                arow[c] = cell_area;
                drow[c] = NEIGHBOURS
                    .iter()
                    .filter(|&&(dr, dc)| {
                        super::neighbour(&filled, r, c, dr, dc).is_some_and(|zn| zn > z)
                    })
                    .count() as u8;
            }
        });
    let mut ready: Vec<u32> = (0..rows * cols)
        .filter(|&i| donors[i] == 0 && filled[(i / cols, i % cols)].is_finite())
        .map(|i| i as u32)
        .collect();
    let mut weights = [0.0f64; 8];
    let cells = (rows * cols).max(1) as f64;
    let mut routed = 0usize;
    while let Some(i) = ready.pop() {
        routed += 1;
        if routed % ROUTING_CHECK_CELLS == 0 && !keep_going(routed as f64 / cells) {
            return None;
        }
        let (r, c) = ((i as usize) / cols, (i as usize) % cols);
        let z = filled[(r, c)] as f64;
        let mut total = 0.0;
        for (k, &(dr, dc)) in NEIGHBOURS.iter().enumerate() {
            weights[k] = 0.0;
            if let Some(zn) = super::neighbour(&filled, r, c, dr, dc) {
                let drop = z - zn as f64;
                if drop > 0.0 {
                    let w = (drop / neighbour_distance(k, spacing.dx[r], spacing.dy[r]))
                        .powf(convergence);
                    weights[k] = w;
                    total += w;
                }
            }
        }
        if total <= 0.0 {
            continue;
        }
        let out = area[(r, c)] as f64;
        for (k, &(dr, dc)) in NEIGHBOURS.iter().enumerate() {
            if weights[k] > 0.0 {
                let (rr, cc) = ((r as isize + dr) as usize, (c as isize + dc) as usize);
                area[(rr, cc)] += (out * weights[k] / total) as f32;
                let j = rr * cols + cc;
                donors[j] -= 1;
                if donors[j] == 0 {
                    ready.push(j as u32);
                }
            }
        }
    }
    Some(area)
}

/// Specific catchment area (m²/m) = catchment area / flow width, with SAGA's default
/// (`ta_hydrology 19`, "Aspect") width w = |cos δ|·Δx + |sin δ|·Δy, δ the aspect of the
/// (filled) DEM; on flat cells w = Δx. Computed in place on `area`.
pub fn specific_catchment_area(
    filled: ArrayView2<f32>,
    spacing: &CellSpacing,
    area: &mut Array2<f32>,
) {
    let cols = filled.ncols();
    area.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            let (dx, dy) = (spacing.dx[r], spacing.dy[r]);
            for c in 0..cols {
                if !row[c].is_finite() {
                    continue;
                }
                let (gx, gy) =
                    gradient_at(&filled, r, c, dx, dy, GradientMethod::ZevenbergenThorne);
                let aspect = aspect_of(gx, gy);
                let width = if aspect.is_finite() {
                    aspect.cos().abs() * dx + aspect.sin().abs() * dy
                } else {
                    dx
                };
                row[c] = (row[c] as f64 / width) as f32;
            }
        });
}

/// Topographic Wetness Index TWI = ln(SCA / tan β) (Beven & Kirkby 1979; SAGA `ta_hydrology 20`,
/// standard method), β the Zevenbergen–Thorne slope of the unfilled DEM, tan β ≥
/// [`MIN_TAN_SLOPE`]; SCA from depression filling, MFD routing (convergence 1.1) and
/// aspect-based flow width.
pub fn twi(dem: ArrayView2<f32>, spacing: &CellSpacing) -> Array2<f32> {
    let filled = fill_depressions(dem);
    let mut sca = mfd_catchment_area(filled.view(), spacing, DEFAULT_CONVERGENCE);
    specific_catchment_area(filled.view(), spacing, &mut sca);
    drop(filled);
    twi_from_sca(dem, spacing, sca)
}

/// SCA of a depression-filled DEM: MFD catchment area (convergence 1.1) over the aspect-based
/// flow width (the middle stage of [`twi`]).
/// `keep_going` as in [`mfd_catchment_area_until`]; `None` when it stopped the routing.
pub fn specific_catchment_area_of_filled(
    filled: ArrayView2<f32>,
    spacing: &CellSpacing,
    keep_going: &dyn Fn(f64) -> bool,
) -> Option<Array2<f32>> {
    let mut sca = mfd_catchment_area_until(filled, spacing, DEFAULT_CONVERGENCE, keep_going)?;
    specific_catchment_area(filled, spacing, &mut sca);
    Some(sca)
}

/// TWI = ln(SCA / tan β) from the SCA, computed in place (the last stage of [`twi`]).
pub fn twi_from_sca(
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    mut sca: Array2<f32>,
) -> Array2<f32> {
    let cols = dem.ncols();
    sca.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            for c in 0..cols {
                if !row[c].is_finite() || !dem[(r, c)].is_finite() {
                    row[c] = f32::NAN;
                    continue;
                }
                let (gx, gy) = gradient_at(
                    &dem,
                    r,
                    c,
                    spacing.dx[r],
                    spacing.dy[r],
                    GradientMethod::ZevenbergenThorne,
                );
                let tan_b = slope_of(gx, gy).tan().max(MIN_TAN_SLOPE);
                row[c] = (row[c] as f64 / tan_b).ln() as f32;
            }
        });
    sca
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_asked_to_stop_stops_and_one_left_alone_equals_the_plain_fill() {
        // 600 × 600 cells: more than one check interval, with pits everywhere
        let dem = Array2::from_shape_fn((600, 600), |(r, c)| {
            ((r * 7919 + c * 104_729) % 1000) as f32 + 0.01 * (r + c) as f32
        });
        let asked = std::cell::Cell::new(Vec::new());
        let stopped = fill_depressions_until(dem.view(), &|f| {
            let mut seen = asked.take();
            seen.push(f);
            asked.set(seen);
            false
        });
        assert!(stopped.is_none());
        let seen = asked.take();
        assert_eq!(seen.len(), 1);
        assert!((seen[0] - (1 << 18) as f64 / 360_000.0).abs() < 1e-12);
        let left_alone = fill_depressions_until(dem.view(), &|_| true).unwrap();
        assert_eq!(left_alone, fill_depressions(dem.view()));
        assert!(left_alone.iter().zip(dem.iter()).all(|(f, z)| f >= z));
    }
}
