//! Goldstein–Werner adaptive filter of a complex interferogram, as GMTSAR's `phasefilt`
//! implements it (Goldstein & Werner 1998; METHOD.md §7): square patches of 32 px stepped by 16,
//! each patch's spectrum Z multiplied by |Z|^α (no smoothing of the magnitude), inverse FFT,
//! patches blended with separable triangular weights; the filtered phase is the argument of the
//! blended sum. The coherence-adaptive variant takes α = 1 − γ̄ per patch (Baran et al. 2003).

use std::ops::Range;

use ndarray::{s, Array2, ArrayView2, Zip};
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
/// w(i) = 1 − |i + ½ − n/2| / (n/2); two overlapping patches sum to exactly 1 (finer steps are
/// normalised by the accumulated weight, see [`PatchLoop::normalise`]).
fn triangle(i: usize, n: usize) -> f32 {
    let half = n as f32 / 2.0;
    1.0 - ((i as f32 + 0.5) - half).abs() / half
}

/// Exponent rule of the shared patch loop.
pub(crate) enum PatchAlpha<'a> {
    /// One exponent α for every patch.
    Fixed(f32),
    /// α = scale·(1 − γ̄) per patch, γ̄ the mean of the finite coherence values over the patch's
    /// cells inside the raster, clamped to [0, 1]; a patch without any counts as γ̄ = 0.
    Coherence {
        coherence: ArrayView2<'a, f32>,
        scale: f32,
    },
}

/// Geometry and spectral weighting of the shared patch loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PatchLoop {
    /// Patch side; made even and at least 4.
    pub patch: usize,
    /// Patch step; clamped to 1..=patch.
    pub step: usize,
    /// Side of the circular box that smooths |Z| before weighting (even → +1; ≤ 1: none).
    pub smoothing: usize,
    /// Divide the blended sum by the accumulated triangular weight (needed when the step is not
    /// half the patch; only the magnitude changes, never the phase).
    pub normalise: bool,
}

/// Summed-area table of the finite values of a real field and of their count.
struct FiniteSums {
    width: usize,
    sum: Vec<f64>,
    count: Vec<u64>,
}

impl FiniteSums {
    /// Table over `rows × cols`; cells outside `field` count as missing.
    fn new(field: ArrayView2<f32>, rows: usize, cols: usize) -> FiniteSums {
        let width = cols + 1;
        let mut sum = vec![0.0f64; (rows + 1) * width];
        let mut count = vec![0u64; (rows + 1) * width];
        for r in 0..rows {
            let (mut row_sum, mut row_count) = (0.0f64, 0u64);
            for c in 0..cols {
                if let Some(v) = field.get((r, c)).filter(|v| v.is_finite()) {
                    row_sum += f64::from(*v);
                    row_count += 1;
                }
                let (above, here) = (r * width + c + 1, (r + 1) * width + c + 1);
                sum[here] = sum[above] + row_sum;
                count[here] = count[above] + row_count;
            }
        }
        FiniteSums { width, sum, count }
    }

    /// Mean of the finite values over rows `r` and columns `c` (None when there are none).
    fn mean(&self, r: Range<usize>, c: Range<usize>) -> Option<f64> {
        if r.start >= r.end || c.start >= c.end {
            return None;
        }
        let at = |i: usize, j: usize| i * self.width + j;
        let (a, b, d, e) = (
            at(r.end, c.end),
            at(r.start, c.end),
            at(r.end, c.start),
            at(r.start, c.start),
        );
        let count = self.count[a] + self.count[e] - self.count[b] - self.count[d];
        if count == 0 {
            return None;
        }
        let sum = self.sum[a] - self.sum[b] - self.sum[d] + self.sum[e];
        Some(sum / count as f64)
    }
}

/// Per-patch exponent, resolved once before the loop.
enum AlphaRule {
    Fixed(f32),
    Coherence {
        sums: FiniteSums,
        scale: f32,
        lead: usize,
        rows: usize,
        cols: usize,
        patch: usize,
    },
}

impl AlphaRule {
    /// α of the patch whose top-left corner is (`r0`, `c0`) in padded coordinates.
    fn alpha(&self, r0: usize, c0: usize) -> f32 {
        match self {
            AlphaRule::Fixed(alpha) => *alpha,
            AlphaRule::Coherence {
                sums,
                scale,
                lead,
                rows,
                cols,
                patch,
            } => {
                let inside = |start: usize, len: usize| {
                    start.saturating_sub(*lead)..(start + patch).saturating_sub(*lead).min(len)
                };
                let mean = sums
                    .mean(inside(r0, *rows), inside(c0, *cols))
                    .unwrap_or(0.0)
                    .clamp(0.0, 1.0);
                let alpha = f64::from(*scale) * (1.0 - mean);
                if alpha.is_finite() {
                    alpha.max(0.0) as f32
                } else {
                    0.0
                }
            }
        }
    }
}

/// Circular box mean of side `side` (odd) over a square spectrum magnitude, separable.
fn circular_box(magnitude: &Array2<f32>, side: usize) -> Array2<f32> {
    let n = magnitude.nrows() as isize;
    let half = (side / 2) as isize;
    let scale = 1.0 / side as f32;
    let wrap = |i: isize| i.rem_euclid(n) as usize;
    let along_cols = Array2::from_shape_fn(magnitude.dim(), |(i, j)| {
        (-half..=half)
            .map(|d| magnitude[(i, wrap(j as isize + d))])
            .sum::<f32>()
            * scale
    });
    Array2::from_shape_fn(magnitude.dim(), |(i, j)| {
        (-half..=half)
            .map(|d| along_cols[(wrap(i as isize + d), j)])
            .sum::<f32>()
            * scale
    })
}

/// Multiply a patch spectrum Z by S(|Z|)^α, S the circular box of side `smoothing` (none ≤ 1).
fn weight_spectrum(spectrum: &mut Array2<Complex32>, alpha: f32, smoothing: usize) {
    if alpha == 0.0 {
        return;
    }
    if smoothing <= 1 {
        spectrum.mapv_inplace(|z| z * z.norm().powf(alpha));
        return;
    }
    let side = smoothing | 1;
    let smoothed = circular_box(&spectrum.mapv(|z| z.norm()), side);
    Zip::from(spectrum)
        .and(&smoothed)
        .for_each(|z, &m| *z *= m.powf(alpha));
}

/// Padded length of one axis: `lead` cells before the raster, and after it enough to cover it
/// with whole patches stepped by `step`, at least `lead` again.
fn padded_len(len: usize, n: usize, step: usize, lead: usize) -> usize {
    let base = (len + 2 * lead).max(n);
    base + (step - (base - n) % step) % step
}

/// Sum of the triangular weights of all patches over each cell of a padded axis.
fn coverage(len: usize, n: usize, step: usize, weights: &[f32]) -> Vec<f32> {
    let mut cover = vec![0.0f32; len];
    for p0 in (0..=len - n).step_by(step) {
        for (c, w) in cover[p0..p0 + n].iter_mut().zip(weights) {
            *c += w;
        }
    }
    cover
}

/// The patch loop shared by the Goldstein-type filters: pad, filter each patch's spectrum by
/// S(|Z|)^α, blend the inverse transforms with separable triangular weights, crop. NaN cells are
/// zero signal and stay NaN in the output.
pub(crate) fn filter_patches(
    interferogram: ArrayView2<Complex32>,
    plan: PatchLoop,
    alpha: PatchAlpha,
) -> Array2<Complex32> {
    let n = plan.patch.max(4) & !1;
    let step = plan.step.clamp(1, n);
    // Pad by `lead` on every side so that every pixel is covered by n/step patches per axis.
    let lead = n - step;
    let (rows, cols) = interferogram.dim();
    let pad_rows = padded_len(rows, n, step, lead);
    let pad_cols = padded_len(cols, n, step, lead);
    let mut padded = Array2::<Complex32>::zeros((pad_rows, pad_cols));
    for ((r, c), v) in interferogram.indexed_iter() {
        if v.re.is_finite() && v.im.is_finite() {
            padded[(r + lead, c + lead)] = *v;
        }
    }
    let rule = match alpha {
        PatchAlpha::Fixed(alpha) => AlphaRule::Fixed(alpha),
        PatchAlpha::Coherence { coherence, scale } => AlphaRule::Coherence {
            sums: FiniteSums::new(coherence, rows, cols),
            scale,
            lead,
            rows,
            cols,
            patch: n,
        },
    };
    let forward = Fft2::new(n, n, FftDirection::Forward);
    let inverse = Fft2::new(n, n, FftDirection::Inverse);
    let weights: Vec<f32> = (0..n).map(|i| triangle(i, n)).collect();
    let patch_rows: Vec<usize> = (0..=pad_rows - n).step_by(step).collect();
    let filter_band = |r0: usize| {
        let mut band = Array2::<Complex32>::zeros((n, pad_cols));
        let mut patch = Array2::<Complex32>::zeros((n, n));
        for c0 in (0..=pad_cols - n).step_by(step) {
            patch.assign(&padded.slice(s![r0..r0 + n, c0..c0 + n]));
            if patch.iter().all(|v| v.re == 0.0 && v.im == 0.0) {
                continue;
            }
            forward.process(&mut patch);
            weight_spectrum(&mut patch, rule.alpha(r0, c0), plan.smoothing);
            inverse.process(&mut patch);
            for (i, &wi) in weights.iter().enumerate() {
                for (j, &wj) in weights.iter().enumerate() {
                    band[(i, c0 + j)] += patch[(i, j)] * (wi * wj);
                }
            }
        }
        band
    };
    // Each patch row is filtered independently into its own band, a group of bands at a time
    // (bounded memory); bands are then added in order, so the result does not depend on thread
    // scheduling.
    let group = 2 * rayon::current_num_threads().max(1);
    let mut blended = Array2::<Complex32>::zeros((pad_rows, pad_cols));
    for chunk in patch_rows.chunks(group) {
        let bands: Vec<Array2<Complex32>> = chunk.par_iter().map(|&r0| filter_band(r0)).collect();
        for (band, &r0) in bands.iter().zip(chunk) {
            let mut target = blended.slice_mut(s![r0..r0 + n, ..]);
            target += band;
        }
    }
    let mut out = blended
        .slice(s![lead..lead + rows, lead..lead + cols])
        .to_owned();
    if plan.normalise {
        let row_cover = coverage(pad_rows, n, step, &weights);
        let col_cover = coverage(pad_cols, n, step, &weights);
        for ((r, c), v) in out.indexed_iter_mut() {
            let cover = row_cover[r + lead] * col_cover[c + lead];
            if cover > 0.0 {
                *v /= cover;
            }
        }
    }
    for ((r, c), v) in interferogram.indexed_iter() {
        if !(v.re.is_finite() && v.im.is_finite()) {
            out[(r, c)] = Complex32::new(f32::NAN, f32::NAN);
        }
    }
    out
}

/// Filter a complex interferogram (NaN cells are treated as zero signal and stay NaN in the
/// output). Returns the blended complex result; take its argument for the filtered phase.
pub fn goldstein(
    interferogram: ArrayView2<Complex32>,
    settings: GoldsteinSettings,
) -> Array2<Complex32> {
    let n = settings.patch.max(4) & !1;
    let plan = PatchLoop {
        patch: n,
        step: n / 2,
        smoothing: 0,
        normalise: false,
    };
    filter_patches(interferogram, plan, PatchAlpha::Fixed(settings.alpha))
}

/// Coherence-adaptive Goldstein filter (Baran et al. 2003): as [`goldstein`] with patches of
/// `patch` px stepped by half a patch, but each patch's α = 1 − γ̄, γ̄ the mean of the finite
/// `coherence` values over the patch (clamped to [0, 1]; a patch with none is filtered with
/// α = 1). Coherent patches keep their phase, incoherent ones are filtered hardest.
pub fn goldstein_adaptive(
    interferogram: ArrayView2<Complex32>,
    coherence: ArrayView2<f32>,
    patch: usize,
) -> Array2<Complex32> {
    let n = patch.max(4) & !1;
    let plan = PatchLoop {
        patch: n,
        step: n / 2,
        smoothing: 0,
        normalise: false,
    };
    filter_patches(
        interferogram,
        plan,
        PatchAlpha::Coherence {
            coherence,
            scale: 1.0,
        },
    )
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
    use rand::{RngExt, SeedableRng};
    use std::f32::consts::PI;

    /// A random complex field of unit-order magnitude and uniform phase.
    fn random_field(rows: usize, cols: usize, seed: u64) -> Array2<Complex32> {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((rows, cols), |_| {
            Complex32::from_polar(rng.random_range(0.2f32..1.5), rng.random_range(-PI..PI))
        })
    }

    /// Largest wrapped phase difference between two fields.
    fn max_phase_difference(a: &Array2<Complex32>, b: &Array2<Complex32>) -> f32 {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| (x * y.conj()).arg().abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn adaptive_filter_with_full_coherence_keeps_the_phase() {
        let field = random_field(50, 70, 1);
        let coherence = Array2::<f32>::ones((50, 70));
        let out = goldstein_adaptive(field.view(), coherence.view(), 32);
        let worst = max_phase_difference(&out, &field);
        assert!(worst < 1e-4, "phase changed by {worst}");
    }

    #[test]
    fn adaptive_filter_with_zero_coherence_is_goldstein_with_alpha_one() {
        let field = random_field(45, 60, 2);
        let coherence = Array2::<f32>::zeros((45, 60));
        let adaptive = goldstein_adaptive(field.view(), coherence.view(), 32);
        let fixed = goldstein(
            field.view(),
            GoldsteinSettings {
                alpha: 1.0,
                patch: 32,
            },
        );
        let worst = max_phase_difference(&adaptive, &fixed);
        assert!(worst < 1e-6, "phase differs by {worst}");
        // And the filter did act: α = 1 changes a random phase field.
        assert!(max_phase_difference(&fixed, &field) > 0.5);
    }

    #[test]
    fn triangular_weights_of_overlapping_patches_sum_to_one() {
        let n = 32;
        for i in 0..n / 2 {
            let sum = triangle(i, n) + triangle(i + n / 2, n);
            assert!((sum - 1.0).abs() < 1e-6, "{i}: {sum}");
        }
    }
}
