//! Goldstein–Werner adaptive filter of a complex interferogram, as GMTSAR's `phasefilt`
//! implements it (Goldstein & Werner 1998; METHOD.md §7): square patches of 32 px stepped by 16,
//! each patch's spectrum Z multiplied by |Z|^α (no smoothing of the magnitude), inverse FFT,
//! patches blended with separable triangular weights; the filtered phase is the argument of the
//! blended sum.

use ndarray::{s, Array2, ArrayView2};
use rayon::prelude::*;
use rustfft::num_complex::Complex32;
use rustfft::FftDirection;

use super::fft::Fft2;

/// Filter settings; the preprint used α = 1 with 32 px patches (GMTSAR's own default α is 0.5).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GoldsteinSettings {
    /// Exponent α of the spectral weighting |Z|^α; 0 leaves the phase unchanged.
    pub alpha: f32,
    /// Patch size in pixels (a power of two is fastest).
    pub patch: usize,
}

impl Default for GoldsteinSettings {
    fn default() -> Self {
        GoldsteinSettings {
            alpha: 1.0,
            patch: 32,
        }
    }
}

/// Triangular blending weight of row/column `i` of a patch of size `n` stepped by `n/2`:
/// w(i) = 1 − |i + ½ − n/2| / (n/2); two overlapping patches sum to exactly 1.
fn triangle(i: usize, n: usize) -> f32 {
    let half = n as f32 / 2.0;
    1.0 - ((i as f32 + 0.5) - half).abs() / half
}

/// Filter a complex interferogram (NaN cells are treated as zero signal and stay NaN in the
/// output). Returns the blended complex result; take its argument for the filtered phase.
pub fn goldstein(
    interferogram: ArrayView2<Complex32>,
    settings: GoldsteinSettings,
) -> Array2<Complex32> {
    let n = settings.patch.max(4) & !1;
    let step = n / 2;
    let (rows, cols) = interferogram.dim();
    // Pad by one step on every side so that every pixel is covered by four patches.
    let pad_rows = rows + 2 * step + (step - rows % step) % step;
    let pad_cols = cols + 2 * step + (step - cols % step) % step;
    let mut padded = Array2::<Complex32>::zeros((pad_rows, pad_cols));
    for ((r, c), v) in interferogram.indexed_iter() {
        if v.re.is_finite() && v.im.is_finite() {
            padded[(r + step, c + step)] = *v;
        }
    }
    let forward = Fft2::new(n, n, FftDirection::Forward);
    let inverse = Fft2::new(n, n, FftDirection::Inverse);
    let weights: Vec<f32> = (0..n).map(|i| triangle(i, n)).collect();
    let patch_rows: Vec<usize> = (0..=pad_rows - n).step_by(step).collect();
    let alpha = settings.alpha;
    // Each patch row is filtered independently into its own band; bands are then added in order,
    // so the result does not depend on thread scheduling.
    let bands: Vec<Array2<Complex32>> = patch_rows
        .par_iter()
        .map(|&r0| {
            let mut band = Array2::<Complex32>::zeros((n, pad_cols));
            let mut patch = Array2::<Complex32>::zeros((n, n));
            for c0 in (0..=pad_cols - n).step_by(step) {
                patch.assign(&padded.slice(s![r0..r0 + n, c0..c0 + n]));
                if patch.iter().all(|v| v.re == 0.0 && v.im == 0.0) {
                    continue;
                }
                forward.process(&mut patch);
                if alpha != 0.0 {
                    patch.mapv_inplace(|z| z * z.norm().powf(alpha));
                }
                inverse.process(&mut patch);
                for i in 0..n {
                    for j in 0..n {
                        band[(i, c0 + j)] += patch[(i, j)] * (weights[i] * weights[j]);
                    }
                }
            }
            band
        })
        .collect();
    let mut blended = Array2::<Complex32>::zeros((pad_rows, pad_cols));
    for (band, &r0) in bands.iter().zip(&patch_rows) {
        let mut target = blended.slice_mut(s![r0..r0 + n, ..]);
        target += band;
    }
    let mut out = blended
        .slice(s![step..step + rows, step..step + cols])
        .to_owned();
    for ((r, c), v) in interferogram.indexed_iter() {
        if !(v.re.is_finite() && v.im.is_finite()) {
            out[(r, c)] = Complex32::new(f32::NAN, f32::NAN);
        }
    }
    out
}

/// Filter a wrapped phase (unit amplitude) and return the filtered wrapped phase.
pub fn goldstein_phase(phase: ArrayView2<f32>, settings: GoldsteinSettings) -> Array2<f32> {
    let complex = phase.mapv(|p| {
        if p.is_finite() {
            Complex32::from_polar(1.0, p)
        } else {
            Complex32::new(f32::NAN, f32::NAN)
        }
    });
    goldstein(complex.view(), settings).mapv(|z| if z.re.is_finite() { z.arg() } else { f32::NAN })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triangular_weights_of_overlapping_patches_sum_to_one() {
        let n = 32;
        for i in 0..n / 2 {
            let sum = triangle(i, n) + triangle(i + n / 2, n);
            assert!((sum - 1.0).abs() < 1e-6, "{i}: {sum}");
        }
    }
}
