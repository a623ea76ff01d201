//! Separable Gaussian smoothing with mirrored edges, for real and complex fields.

use std::ops::{Add, Mul};

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Gaussian kernel of standard deviation `sigma` (pixels), truncated at 3σ, normalised.
pub fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    let mut k: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k.into_iter().map(|v| v as f32).collect()
}

fn mirror(i: isize, n: usize) -> usize {
    let n = n as isize;
    let mut i = i;
    if i < 0 {
        i = -i - 1;
    }
    if i >= n {
        i = 2 * n - i - 1;
    }
    i.clamp(0, n - 1) as usize
}

fn convolve_rows<T>(field: ArrayView2<T>, kernel: &[f32]) -> Array2<T>
where
    T: Copy + Default + Send + Sync + Add<Output = T> + Mul<f32, Output = T>,
{
    let (rows, cols) = field.dim();
    let radius = (kernel.len() / 2) as isize;
    let mut out = Array2::<T>::from_elem((rows, cols), T::default());
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            for c in 0..cols {
                let mut acc = T::default();
                for (k, w) in kernel.iter().enumerate() {
                    let cc = mirror(c as isize + k as isize - radius, cols);
                    acc = acc + field[(r, cc)] * *w;
                }
                row[c] = acc;
            }
        });
    out
}

/// Gaussian smoothing of standard deviation `sigma` pixels (no-op for σ ≤ 0).
pub fn gaussian_smooth<T>(field: ArrayView2<T>, sigma: f64) -> Array2<T>
where
    T: Copy + Default + Send + Sync + Add<Output = T> + Mul<f32, Output = T>,
{
    if sigma <= 0.0 {
        return field.to_owned();
    }
    let kernel = gaussian_kernel(sigma);
    let along_rows = convolve_rows(field, &kernel);
    let transposed = convolve_rows(along_rows.t(), &kernel);
    transposed.t().as_standard_layout().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_preserves_a_constant_and_the_mean() {
        let field = Array2::from_shape_fn((20, 30), |(r, c)| ((r * 3 + c) % 7) as f32);
        let smooth = gaussian_smooth(field.view(), 2.0);
        let constant = gaussian_smooth(Array2::from_elem((9, 9), 4.0f32).view(), 1.5);
        assert!(constant.iter().all(|v| (v - 4.0).abs() < 1e-5));
        let m0 = field.mean().unwrap();
        let m1 = smooth.mean().unwrap();
        assert!((m0 - m1).abs() < 0.05, "{m0} {m1}");
        assert!(smooth.std(0.0) < field.std(0.0));
    }
}
