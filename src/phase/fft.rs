//! Two-dimensional FFTs over ndarray arrays with `rustfft` (rows, then columns), and power-law
//! random fields by spectral synthesis.

use ndarray::{Array2, Axis};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftDirection, FftPlanner};
use std::sync::Arc;

/// Plans for one 2-D size, reusable across many transforms of that size.
pub struct Fft2 {
    rows: usize,
    cols: usize,
    row_fft: Arc<dyn Fft<f32>>,
    col_fft: Arc<dyn Fft<f32>>,
}

impl Fft2 {
    pub fn new(rows: usize, cols: usize, direction: FftDirection) -> Fft2 {
        let mut planner = FftPlanner::<f32>::new();
        Fft2 {
            rows,
            cols,
            row_fft: planner.plan_fft(cols, direction),
            col_fft: planner.plan_fft(rows, direction),
        }
    }

    /// Transform in place (unnormalised, as rustfft: forward then inverse multiplies by rows·cols).
    pub fn process(&self, data: &mut Array2<Complex32>) {
        assert_eq!(data.dim(), (self.rows, self.cols), "FFT plan size mismatch");
        let mut scratch = vec![Complex32::default(); self.row_fft.get_inplace_scratch_len()];
        for mut row in data.axis_iter_mut(Axis(0)) {
            if let Some(slice) = row.as_slice_mut() {
                self.row_fft.process_with_scratch(slice, &mut scratch);
            } else {
                let mut buffer: Vec<Complex32> = row.to_vec();
                self.row_fft.process_with_scratch(&mut buffer, &mut scratch);
                row.assign(&ndarray::ArrayView1::from(&buffer));
            }
        }
        let mut column = vec![Complex32::default(); self.rows];
        let mut scratch = vec![Complex32::default(); self.col_fft.get_inplace_scratch_len()];
        for c in 0..self.cols {
            for (r, v) in column.iter_mut().enumerate() {
                *v = data[(r, c)];
            }
            self.col_fft.process_with_scratch(&mut column, &mut scratch);
            for (r, v) in column.iter().enumerate() {
                data[(r, c)] = *v;
            }
        }
    }

    /// The same transform with rows processed in parallel (for large fields).
    pub fn process_parallel(&self, data: &mut Array2<Complex32>) {
        assert_eq!(data.dim(), (self.rows, self.cols), "FFT plan size mismatch");
        let row_fft = &self.row_fft;
        data.axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut row| {
                let mut buffer: Vec<Complex32> = row.to_vec();
                row_fft.process(&mut buffer);
                row.assign(&ndarray::ArrayView1::from(&buffer));
            });
        let mut transposed = data.t().to_owned();
        let col_fft = &self.col_fft;
        transposed
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut col| {
                let mut buffer: Vec<Complex32> = col.to_vec();
                col_fft.process(&mut buffer);
                col.assign(&ndarray::ArrayView1::from(&buffer));
            });
        data.assign(&transposed.t());
    }
}

/// Signed spatial frequency (cycles per sample) of FFT bin `k` of `n`.
pub fn frequency(k: usize, n: usize) -> f64 {
    let k = k as f64;
    let n_f = n as f64;
    if k <= n_f / 2.0 {
        k / n_f
    } else {
        (k - n_f) / n_f
    }
}

/// Gaussian random field with a power-law spectrum P(k) ∝ k^(−β) (k radial frequency), zero mean
/// and unit standard deviation, periodic over the array. Spectral synthesis: white Gaussian noise
/// filtered by k^(−β/2) (e.g. Hanssen 2001, §4.7, for atmospheric screens with β = 8/3).
pub fn power_law_field(rows: usize, cols: usize, beta: f64, rng: &mut impl Rng) -> Array2<f32> {
    let mut spectrum = Array2::<Complex32>::zeros((rows, cols));
    for v in spectrum.iter_mut() {
        let re: f64 = StandardNormal.sample(rng);
        *v = Complex32::new(re as f32, 0.0);
    }
    let forward = Fft2::new(rows, cols, FftDirection::Forward);
    forward.process_parallel(&mut spectrum);
    for ((r, c), v) in spectrum.indexed_iter_mut() {
        let fy = frequency(r, rows);
        let fx = frequency(c, cols);
        let k = (fx * fx + fy * fy).sqrt();
        if k == 0.0 {
            *v = Complex32::new(0.0, 0.0);
        } else {
            *v *= k.powf(-beta / 2.0) as f32;
        }
    }
    let inverse = Fft2::new(rows, cols, FftDirection::Inverse);
    inverse.process_parallel(&mut spectrum);
    let mut field = spectrum.mapv(|v| v.re);
    standardise(&mut field);
    field
}

/// Scale a field to zero mean and unit standard deviation (sequential sums: deterministic).
pub fn standardise(field: &mut Array2<f32>) {
    let n = field.len().max(1) as f64;
    let mean = field.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = field
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt().max(1e-30);
    field.mapv_inplace(|v| ((f64::from(v) - mean) / std) as f32);
}

/// Radially averaged power spectrum of a real field: (frequency in cycles/sample, mean power) for
/// each integer radius bin of the (square-normalised) frequency plane, DC excluded. A 2-D Hann
/// window is applied first, so that a non-periodic field does not leak power to high frequencies.
pub fn radial_power_spectrum(field: &Array2<f32>) -> Vec<(f64, f64)> {
    let (rows, cols) = field.dim();
    let hann = |i: usize, n: usize| {
        0.5 - 0.5 * (2.0 * std::f64::consts::PI * (i as f64 + 0.5) / n as f64).cos()
    };
    let mut spectrum = Array2::from_shape_fn((rows, cols), |(r, c)| {
        Complex32::new(
            (f64::from(field[(r, c)]) * hann(r, rows) * hann(c, cols)) as f32,
            0.0,
        )
    });
    Fft2::new(rows, cols, FftDirection::Forward).process_parallel(&mut spectrum);
    let n = rows.min(cols);
    let bins = n / 2;
    let mut sums = vec![0.0f64; bins + 1];
    let mut counts = vec![0usize; bins + 1];
    for ((r, c), v) in spectrum.indexed_iter() {
        let fy = frequency(r, rows);
        let fx = frequency(c, cols);
        let k = (fx * fx + fy * fy).sqrt();
        let bin = (k * n as f64).round() as usize;
        if bin == 0 || bin > bins {
            continue;
        }
        sums[bin] += f64::from(v.norm_sqr());
        counts[bin] += 1;
    }
    (1..=bins)
        .filter(|&b| counts[b] > 0)
        .map(|b| (b as f64 / n as f64, sums[b] / counts[b] as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_then_inverse_is_identity_times_n() {
        let (rows, cols) = (6, 10);
        let original = Array2::from_shape_fn((rows, cols), |(r, c)| {
            Complex32::new((r * 7 + c) as f32 * 0.1, (r as f32 - c as f32) * 0.05)
        });
        let mut data = original.clone();
        Fft2::new(rows, cols, FftDirection::Forward).process(&mut data);
        Fft2::new(rows, cols, FftDirection::Inverse).process_parallel(&mut data);
        let n = (rows * cols) as f32;
        for (a, b) in data.iter().zip(original.iter()) {
            assert!((a / n - b).norm() < 1e-4);
        }
    }
}
