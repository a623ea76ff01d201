//! Geocoding from a processor grid of another spacing: the field on the output grid is multilooked
//! onto a coarser source grid (complex mean of the output cells whose centres fall in each source
//! cell), then sampled back at every output cell centre by nearest-neighbour or bilinear
//! interpolation of the complex values — the resampling a geocoding step applies (e.g. GMTSAR,
//! SNAP terrain correction), bilinear on complex values so that it respects the phase wrap.

use ndarray::{Array2, ArrayView2, Zip};
use rustfft::num_complex::{Complex32, Complex64};

/// Interpolation of the source grid at the output cell centres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeocodeResampling {
    /// The source cell that contains the output cell centre.
    Nearest,
    /// Bilinear between the four nearest source cell centres, on complex values.
    Bilinear,
}

/// Where the cells of one output axis fall on the source grid.
struct AxisMap {
    /// Number of source cells touched by the axis.
    count: usize,
    /// Source cell containing each output cell centre.
    cell: Vec<usize>,
    /// Bilinear neighbours (clamped to the source cells) and the weight of the upper one.
    lower: Vec<usize>,
    upper: Vec<usize>,
    fraction: Vec<f64>,
}

/// Map an axis of `len` output cells onto source cells of `ratio` output cells each, whose origin
/// is shifted by `offset` output cells (taken modulo one source cell).
fn axis_map(len: usize, ratio: f64, offset: f64) -> AxisMap {
    let offset = if offset.is_finite() {
        offset.rem_euclid(ratio)
    } else {
        0.0
    };
    // Output centre i + ½ in source cells; source cell k spans [k, k + 1) and has centre k + ½.
    let coordinate = |i: usize| (i as f64 + 0.5 - offset) / ratio;
    let first = coordinate(0).floor();
    let source_index = |k: f64| (k - first).max(0.0) as usize;
    let cell: Vec<usize> = (0..len)
        .map(|i| source_index(coordinate(i).floor()))
        .collect();
    let count = cell.last().map_or(0, |&k| k + 1);
    let top = count.saturating_sub(1) as f64;
    let (mut lower, mut upper, mut fraction) = (
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
    );
    for i in 0..len {
        let t = coordinate(i) - 0.5 - first;
        let k0 = t.floor();
        lower.push(k0.clamp(0.0, top) as usize);
        upper.push((k0 + 1.0).clamp(0.0, top) as usize);
        fraction.push(t - k0);
    }
    AxisMap {
        count,
        cell,
        lower,
        upper,
        fraction,
    }
}

/// Whether the source grid is coarser than the output grid (finite spacings, the only case
/// that can be emulated).
fn coarser(pixel_m: f64, source_pixel_m: f64) -> bool {
    pixel_m > 0.0 && source_pixel_m > pixel_m && (source_pixel_m / pixel_m).is_finite()
}

fn finite(z: &Complex32) -> bool {
    z.re.is_finite() && z.im.is_finite()
}

/// Emulate a complex product processed on a source grid of `source_pixel_m` and geocoded onto
/// this grid of `pixel_m`: multilook onto the source grid (its origin shifted by `offset_px`
/// output pixels, (row, col), taken modulo one source cell), then resample at the output cell
/// centres. NaN cells are skipped in the means; a source cell without finite cells is NaN, and
/// bilinear weights are renormalised over the finite neighbours (NaN when none has weight).
/// Edges repeat the outermost source cells. A source grid not coarser than the output grid
/// (`source_pixel_m ≤ pixel_m`) cannot be emulated on it: the field is returned unchanged.
pub fn geocode_from_source(
    field: ArrayView2<Complex32>,
    pixel_m: f64,
    source_pixel_m: f64,
    offset_px: (f64, f64),
    resampling: GeocodeResampling,
) -> Array2<Complex32> {
    if !coarser(pixel_m, source_pixel_m) {
        return field.to_owned();
    }
    let ratio = source_pixel_m / pixel_m;
    let (rows, cols) = field.dim();
    let row_map = axis_map(rows, ratio, offset_px.0);
    let col_map = axis_map(cols, ratio, offset_px.1);
    // Multilook onto the source grid.
    let mut sums = Array2::<(Complex64, usize)>::from_elem(
        (row_map.count, col_map.count),
        (Complex64::new(0.0, 0.0), 0),
    );
    for ((r, c), z) in field.indexed_iter() {
        if finite(z) {
            let cell = &mut sums[(row_map.cell[r], col_map.cell[c])];
            cell.0 += Complex64::new(f64::from(z.re), f64::from(z.im));
            cell.1 += 1;
        }
    }
    let source = sums.mapv(|(sum, n)| {
        if n == 0 {
            Complex64::new(f64::NAN, f64::NAN)
        } else {
            sum / n as f64
        }
    });
    let mut out = Array2::<Complex32>::zeros((rows, cols));
    Zip::indexed(&mut out).par_for_each(|(r, c), v| {
        let value = match resampling {
            GeocodeResampling::Nearest => source[(row_map.cell[r], col_map.cell[c])],
            GeocodeResampling::Bilinear => {
                let (fr, fc) = (row_map.fraction[r], col_map.fraction[c]);
                let corners = [
                    (row_map.lower[r], col_map.lower[c], (1.0 - fr) * (1.0 - fc)),
                    (row_map.lower[r], col_map.upper[c], (1.0 - fr) * fc),
                    (row_map.upper[r], col_map.lower[c], fr * (1.0 - fc)),
                    (row_map.upper[r], col_map.upper[c], fr * fc),
                ];
                let (mut sum, mut weight) = (Complex64::new(0.0, 0.0), 0.0f64);
                for (i, j, w) in corners {
                    let z = source[(i, j)];
                    if z.re.is_finite() && z.im.is_finite() {
                        sum += z * w;
                        weight += w;
                    }
                }
                if weight > 0.0 {
                    sum / weight
                } else {
                    Complex64::new(f64::NAN, f64::NAN)
                }
            }
        };
        *v = Complex32::new(value.re as f32, value.im as f32);
    });
    out
}

/// [`geocode_from_source`] for a real field (e.g. coherence): the same means and interpolation,
/// on real values.
pub fn geocode_real_from_source(
    field: ArrayView2<f32>,
    pixel_m: f64,
    source_pixel_m: f64,
    offset_px: (f64, f64),
    resampling: GeocodeResampling,
) -> Array2<f32> {
    if !coarser(pixel_m, source_pixel_m) {
        return field.to_owned();
    }
    let complex = field.mapv(|v| {
        if v.is_finite() {
            Complex32::new(v, 0.0)
        } else {
            Complex32::new(f32::NAN, f32::NAN)
        }
    });
    geocode_from_source(
        complex.view(),
        pixel_m,
        source_pixel_m,
        offset_px,
        resampling,
    )
    .mapv(|z| z.re)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn random_field(rows: usize, cols: usize, seed: u64) -> Array2<Complex32> {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((rows, cols), |_| {
            Complex32::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0))
        })
    }

    #[test]
    fn a_constant_field_stays_constant() {
        let value = Complex32::new(0.3, -0.4);
        let field = Array2::from_elem((30, 31), value);
        let real = Array2::from_elem((30, 31), 0.7f32);
        for (source, offset) in [
            (45.0, (0.0, 0.0)),
            (45.0, (1.2, 2.7)),
            (20.0, (0.4, 0.9)),
            (100.0, (3.0, -5.0)),
        ] {
            for resampling in [GeocodeResampling::Nearest, GeocodeResampling::Bilinear] {
                let out = geocode_from_source(field.view(), 15.0, source, offset, resampling);
                assert!(
                    out.iter().all(|z| (z - value).norm() < 1e-6),
                    "{source} m {offset:?} {resampling:?}"
                );
                let out = geocode_real_from_source(real.view(), 15.0, source, offset, resampling);
                assert!(out.iter().all(|v| (v - 0.7).abs() < 1e-6));
            }
        }
    }

    #[test]
    fn nearest_from_45_m_gives_3_by_3_blocks_of_the_block_means() {
        let field = random_field(12, 15, 3);
        let out = geocode_from_source(
            field.view(),
            15.0,
            45.0,
            (0.0, 0.0),
            GeocodeResampling::Nearest,
        );
        for ((r, c), z) in out.indexed_iter() {
            let (r0, c0) = (3 * (r / 3), 3 * (c / 3));
            assert_eq!(*z, out[(r0, c0)], "({r}, {c})");
            let mean = field
                .slice(ndarray::s![r0..r0 + 3, c0..c0 + 3])
                .iter()
                .fold(Complex32::new(0.0, 0.0), |a, b| a + b)
                / 9.0;
            assert!((z - mean).norm() < 1e-6, "({r}, {c}): {z} vs {mean}");
        }
        assert_ne!(out[(0, 0)], out[(0, 3)]);
        assert_ne!(out[(0, 0)], out[(3, 0)]);
    }

    #[test]
    fn bilinear_follows_a_smooth_complex_ramp() {
        let (rows, cols) = (60, 90);
        let (kx, ky) = (
            2.0 * std::f64::consts::PI / 60.0,
            2.0 * std::f64::consts::PI / 90.0,
        );
        let phase = |r: usize, c: usize| kx * c as f64 + ky * r as f64;
        let ramp = Array2::from_shape_fn((rows, cols), |(r, c)| {
            Complex32::from_polar(1.0, phase(r, c) as f32)
        });
        // (source spacing, offset, bound in the interior, bound everywhere); measured on a
        // replica: ≈ 8e-4 / 0.18 for 45 m, ≈ 0.03 in the interior for 20 m (the centroid of the
        // output centres in a source cell is not its centre when 15 m does not divide 20 m).
        for (source, offset, interior, everywhere) in [
            (45.0, (0.0, 0.0), 0.005, 0.2),
            (20.0, (0.4, 0.4), 0.05, 0.2),
        ] {
            let out = geocode_from_source(
                ramp.view(),
                15.0,
                source,
                offset,
                GeocodeResampling::Bilinear,
            );
            for ((r, c), z) in out.indexed_iter() {
                let error = (f64::from(z.arg()) - phase(r, c)).rem_euclid(std::f64::consts::TAU);
                let error = error.min(std::f64::consts::TAU - error);
                let inside = (6..rows - 6).contains(&r) && (6..cols - 6).contains(&c);
                let bound = if inside { interior } else { everywhere };
                assert!(error < bound, "{source} m ({r}, {c}): {error}");
                assert!(
                    (z.norm() - 1.0).abs() < 0.05,
                    "{source} m ({r}, {c}): |z| {}",
                    z.norm()
                );
            }
        }
    }

    #[test]
    fn a_source_grid_not_coarser_is_the_identity() {
        let field = random_field(10, 14, 9);
        let real = field.mapv(|z| z.re);
        for source in [15.0, 10.0] {
            for resampling in [GeocodeResampling::Nearest, GeocodeResampling::Bilinear] {
                let out = geocode_from_source(field.view(), 15.0, source, (0.5, 0.5), resampling);
                assert_eq!(out, field);
                let out =
                    geocode_real_from_source(real.view(), 15.0, source, (0.5, 0.5), resampling);
                assert_eq!(out, real);
            }
        }
    }

    #[test]
    fn nan_cells_are_skipped_and_empty_source_cells_are_nan() {
        let mut field = Array2::from_elem((9, 9), Complex32::new(1.0, 0.0));
        let nan = Complex32::new(f32::NAN, f32::NAN);
        // Source cell (0, 0) loses one of its nine cells; source cell (1, 1) loses all.
        field[(0, 0)] = nan;
        field[(0, 1)] = Complex32::new(9.0, 0.0);
        for r in 3..6 {
            for c in 3..6 {
                field[(r, c)] = nan;
            }
        }
        let out = geocode_from_source(
            field.view(),
            15.0,
            45.0,
            (0.0, 0.0),
            GeocodeResampling::Nearest,
        );
        // (9 + 7·1) / 8 = 2.
        assert!((out[(2, 2)] - Complex32::new(2.0, 0.0)).norm() < 1e-6);
        for ((r, c), z) in out.indexed_iter() {
            let hole = (3..6).contains(&r) && (3..6).contains(&c);
            assert_eq!(z.re.is_nan(), hole, "({r}, {c})");
        }
        // Bilinear renormalises over the finite neighbours: only the hole's centre, which sits
        // on the empty source cell's centre, stays NaN.
        let out = geocode_from_source(
            field.view(),
            15.0,
            45.0,
            (0.0, 0.0),
            GeocodeResampling::Bilinear,
        );
        for ((r, c), z) in out.indexed_iter() {
            assert_eq!(z.re.is_nan(), (r, c) == (4, 4), "({r}, {c})");
        }
        assert!((out[(4, 3)] - Complex32::new(1.0, 0.0)).norm() < 1e-6);
    }
}
