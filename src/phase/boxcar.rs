//! Complex boxcar (multilook-style) filter: z̄(r, c) = Σ z / n over the finite cells of the
//! side × side window centred on (r, c), clipped to the raster; computed from summed-area tables
//! of the complex values and of the finite-cell count (Crow 1984), so it costs O(cells).

use ndarray::{Array2, ArrayView2, Zip};
use rustfft::num_complex::{Complex32, Complex64};

/// Complex mean over a `side × side` window (odd; an even side is raised by one), skipping NaN
/// cells; a cell whose window holds no finite value is NaN. Edges use the part of the window
/// inside the raster.
pub fn boxcar(interferogram: ArrayView2<Complex32>, side: usize) -> Array2<Complex32> {
    let half = side / 2;
    let (rows, cols) = interferogram.dim();
    let width = cols + 1;
    let mut sum = vec![Complex64::new(0.0, 0.0); (rows + 1) * width];
    let mut count = vec![0usize; (rows + 1) * width];
    for ((r, c), z) in interferogram.indexed_iter() {
        // Row-major traversal: the running row sums restart at each row's first column.
        let (left, above, diagonal, here) = (
            (r + 1) * width + c,
            r * width + c + 1,
            r * width + c,
            (r + 1) * width + c + 1,
        );
        let (value, finite) = if z.re.is_finite() && z.im.is_finite() {
            (Complex64::new(f64::from(z.re), f64::from(z.im)), 1)
        } else {
            (Complex64::new(0.0, 0.0), 0)
        };
        sum[here] = value + sum[left] + sum[above] - sum[diagonal];
        count[here] = finite + count[left] + count[above] - count[diagonal];
    }
    let mut out = Array2::<Complex32>::zeros((rows, cols));
    Zip::indexed(&mut out).par_for_each(|(r, c), v| {
        let (r0, r1) = (r.saturating_sub(half), (r + half + 1).min(rows));
        let (c0, c1) = (c.saturating_sub(half), (c + half + 1).min(cols));
        let (a, b, d, e) = (
            r1 * width + c1,
            r0 * width + c1,
            r1 * width + c0,
            r0 * width + c0,
        );
        let n = count[a] + count[e] - count[b] - count[d];
        *v = if n == 0 {
            Complex32::new(f32::NAN, f32::NAN)
        } else {
            let total = sum[a] - sum[b] - sum[d] + sum[e];
            Complex32::new((total.re / n as f64) as f32, (total.im / n as f64) as f32)
        };
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn random_field(rows: usize, cols: usize, seed: u64) -> Array2<Complex32> {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((rows, cols), |_| {
            Complex32::new(rng.random_range(-2.0..2.0), rng.random_range(-2.0..2.0))
        })
    }

    /// The window mean by a direct loop.
    fn direct(field: &Array2<Complex32>, side: usize) -> Array2<Complex32> {
        let half = (side / 2) as isize;
        let (rows, cols) = field.dim();
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            let mut sum = Complex64::new(0.0, 0.0);
            let mut n = 0usize;
            for i in r as isize - half..=r as isize + half {
                for j in c as isize - half..=c as isize + half {
                    if i < 0 || j < 0 || i >= rows as isize || j >= cols as isize {
                        continue;
                    }
                    let z = field[(i as usize, j as usize)];
                    if z.re.is_finite() && z.im.is_finite() {
                        sum += Complex64::new(f64::from(z.re), f64::from(z.im));
                        n += 1;
                    }
                }
            }
            if n == 0 {
                Complex32::new(f32::NAN, f32::NAN)
            } else {
                Complex32::new((sum.re / n as f64) as f32, (sum.im / n as f64) as f32)
            }
        })
    }

    #[test]
    fn matches_a_direct_loop_with_nan_cells() {
        let mut field = random_field(9, 13, 4);
        let nan = Complex32::new(f32::NAN, f32::NAN);
        // A 3 × 3 NaN corner: the windows of side 3 at (0, 0), (0, 1), (1, 0), (1, 1) are empty.
        for r in 0..3 {
            for c in 0..3 {
                field[(r, c)] = nan;
            }
        }
        field[(6, 8)] = nan;
        for side in [3, 4, 7] {
            let fast = boxcar(field.view(), side);
            let slow = direct(&field, side);
            for (((r, c), a), b) in fast.indexed_iter().zip(slow.iter()) {
                assert_eq!(a.re.is_nan(), b.re.is_nan(), "side {side} ({r}, {c})");
                if b.re.is_finite() {
                    assert!((a - b).norm() < 1e-5, "side {side} ({r}, {c}): {a} vs {b}");
                }
            }
        }
        let three = boxcar(field.view(), 3);
        assert!(three[(1, 1)].re.is_nan() && three[(0, 1)].re.is_nan());
        assert!(three[(1, 2)].re.is_finite());
        // Side 4 is side 5: the window reaches two cells, so (0, 1) sees (0, 3), (0, 0) nothing.
        let four = boxcar(field.view(), 4);
        assert!(four[(0, 1)].re.is_finite() && four[(0, 0)].re.is_nan());
    }

    #[test]
    fn side_one_is_the_identity() {
        let field = random_field(7, 11, 8);
        for side in [0, 1] {
            let out = boxcar(field.view(), side);
            for (a, b) in out.iter().zip(field.iter()) {
                assert!((a - b).norm() < 1e-6, "side {side}: {a} vs {b}");
            }
        }
    }
}
