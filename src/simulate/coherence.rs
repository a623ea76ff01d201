//! Coherence and interferometric phase noise.
//!
//! True coherence (Zebker & Villasenor 1992): γ = γ_thermal · γ_geometric · γ_temporal · γ_terrain
//! - γ_geometric = 1 − |B⊥|/B⊥c;
//! - γ_temporal = γ∞ + (1 − γ∞)·exp(−Bt/τ), mixed between bare and vegetated ground by the
//!   vegetation share (exponential decorrelation towards a long-term value; Rocca 2007);
//! - γ_terrain: foreshortened slopes (local incidence below a threshold) decorrelate, layover and
//!   shadow carry no signal.
//!
//! - γ_gradient: a signal whose phase changes by g radians across a pixel averages to
//!   |sinc(g/2)| of its magnitude over the pixel, per axis (the deformation-gradient limit of one
//!   fringe per pixel; Baran et al. 2005, Hanssen 2001 §4.6): fast bodies decorrelate where their
//!   fringes would alias.
//!
//! Phase noise is not additive Gaussian noise: each pixel's L looks are drawn as pairs of circular
//! complex Gaussian samples with correlation γ, s₁ = a, s₂ = (γ·a + √(1−γ²)·b)·e^(−iφ), and the
//! pixel's interferogram is Σ s₁·s₂* — so its phase follows exactly the L-look phase PDF of
//! Lee et al. (1994) / Tough et al. (1995) around φ, and its magnitude the matching amplitude.

use ndarray::{Array2, ArrayView2, Axis, Zip};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use rustfft::num_complex::Complex32;

/// Coherence left where an unwrapped signal phase (radians, on the pixel grid) varies within a
/// pixel: |sinc(gx/2)| · |sinc(gy/2)|, g the central-difference gradient in radians per pixel
/// (one-sided on the edges); 1 where the phase is flat, 0 at a fringe per pixel.
pub fn gradient_coherence(phase: ArrayView2<f32>) -> Array2<f32> {
    let (rows, cols) = phase.dim();
    let sinc = |g: f64| {
        let h = g / 2.0;
        if h.abs() < 1e-9 {
            1.0
        } else {
            (h.sin() / h).abs()
        }
    };
    let gradient = |a: f32, b: f32, span: usize| f64::from(b - a) / span as f64;
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let (c0, c1) = (c.saturating_sub(1), (c + 1).min(cols - 1));
        let (r0, r1) = (r.saturating_sub(1), (r + 1).min(rows - 1));
        let gx = if c1 > c0 {
            gradient(phase[(r, c0)], phase[(r, c1)], c1 - c0)
        } else {
            0.0
        };
        let gy = if r1 > r0 {
            gradient(phase[(r0, c)], phase[(r1, c)], r1 - r0)
        } else {
            0.0
        };
        (sinc(gx) * sinc(gy)) as f32
    })
}

/// Temporal coherence γ∞ + (1 − γ∞)·exp(−Bt/τ).
pub fn temporal_coherence(long_term: f64, tau_days: f64, baseline_days: f64) -> f64 {
    long_term + (1.0 - long_term) * (-baseline_days / tau_days).exp()
}

/// Geometric coherence 1 − |B⊥|/B⊥c (0 beyond the critical baseline).
pub fn geometric_coherence(perpendicular_baseline_m: f64, critical_m: f64) -> f64 {
    (1.0 - perpendicular_baseline_m.abs() / critical_m).max(0.0)
}

/// Terrain factor from the local incidence angle θ_loc = θ − β_r (degrees): 1 above the
/// foreshortening threshold, falling linearly to 0.15 at 0°, 0.05 in layover (θ_loc ≤ 0) and
/// shadow (θ_loc ≥ 90°).
pub fn terrain_coherence(local_incidence_deg: f64, foreshortening_deg: f64) -> f64 {
    if local_incidence_deg <= 0.0 || local_incidence_deg >= 90.0 {
        0.05
    } else if local_incidence_deg >= foreshortening_deg {
        1.0
    } else {
        0.15 + 0.85 * local_incidence_deg / foreshortening_deg
    }
}

/// One pixel's L-look interferogram Σ s₁·s₂* for coherence γ and signal phase φ.
pub fn multilook_sample(gamma: f64, phase: f64, looks: usize, rng: &mut impl Rng) -> Complex32 {
    let gamma = gamma.clamp(0.0, 1.0);
    let rest = (1.0 - gamma * gamma).sqrt();
    let rotation = num_complex_polar(-phase);
    let mut sum = (0.0f64, 0.0f64);
    let scale = std::f64::consts::FRAC_1_SQRT_2;
    for _ in 0..looks.max(1) {
        let a = draw_complex(rng, scale);
        let b = draw_complex(rng, scale);
        let s2 = complex_mul(
            (gamma * a.0 + rest * b.0, gamma * a.1 + rest * b.1),
            rotation,
        );
        // s1 · conj(s2)
        sum.0 += a.0 * s2.0 + a.1 * s2.1;
        sum.1 += a.1 * s2.0 - a.0 * s2.1;
    }
    let l = looks.max(1) as f64;
    Complex32::new((sum.0 / l) as f32, (sum.1 / l) as f32)
}

fn draw_complex(rng: &mut impl Rng, scale: f64) -> (f64, f64) {
    let re: f64 = StandardNormal.sample(rng);
    let im: f64 = StandardNormal.sample(rng);
    (re * scale, im * scale)
}

fn num_complex_polar(angle: f64) -> (f64, f64) {
    (angle.cos(), angle.sin())
}

fn complex_mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// Noisy L-look interferogram for a whole scene: row r uses ChaCha8 stream r of `seed`, so the
/// result is the same for any number of threads. NaN coherence or phase gives NaN.
pub fn noisy_interferogram(
    coherence: ArrayView2<f32>,
    phase: ArrayView2<f32>,
    looks: usize,
    seed: u64,
) -> Array2<Complex32> {
    let mut out = Array2::<Complex32>::zeros(coherence.dim());
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(r as u64);
            for (c, v) in row.iter_mut().enumerate() {
                let (g, p) = (coherence[(r, c)], phase[(r, c)]);
                *v = if g.is_finite() && p.is_finite() {
                    multilook_sample(f64::from(g), f64::from(p), looks, &mut rng)
                } else {
                    Complex32::new(f32::NAN, f32::NAN)
                };
            }
        });
    out
}

/// Sample coherence over a (2·radius+1)² window, |Σ s₁s₂*| / Σ (|s₁|²+|s₂|²)/2 with unit-power
/// looks: the estimate a processor writes, biased upwards at low coherence as real maps are.
/// Uses the pixel interferograms and the known unit power of the simulated looks.
pub fn estimated_coherence(interferogram: ArrayView2<Complex32>, radius: usize) -> Array2<f32> {
    let (rows, cols) = interferogram.dim();
    let r = radius as isize;
    let mut out = Array2::<f32>::zeros((rows, cols));
    Zip::indexed(&mut out).par_for_each(|(i, j), v| {
        let mut sum = Complex32::new(0.0, 0.0);
        let mut n = 0usize;
        for di in -r..=r {
            for dj in -r..=r {
                let (ii, jj) = (i as isize + di, j as isize + dj);
                if ii < 0 || jj < 0 || ii >= rows as isize || jj >= cols as isize {
                    continue;
                }
                let z = interferogram[(ii as usize, jj as usize)];
                if z.re.is_finite() {
                    sum += z;
                    n += 1;
                }
            }
        }
        *v = if n == 0 {
            f32::NAN
        } else {
            (sum.norm() / n as f32).min(1.0)
        };
    });
    out
}

/// Remove the sample-coherence bias at low γ with the moment estimator
/// γ² ≈ (N·γ̂² − 1)/(N − 1), clamped at 0, from E[γ̂²] ≈ γ² + (1 − γ²)/N for N independent
/// samples (e.g. Touzi et al. 1999); N is the number of independent samples in the estimation
/// window (window cells × looks). Estimates are clamped to [0, 1] first; NaN stays NaN; with
/// N ≤ 1 no correction is defined and the estimate is returned unchanged.
pub fn debiased_coherence(estimated: ArrayView2<f32>, samples: usize) -> Array2<f32> {
    if samples <= 1 {
        return estimated.to_owned();
    }
    let n = samples as f64;
    estimated.mapv(|g| {
        if g.is_finite() {
            let g = f64::from(g).clamp(0.0, 1.0);
            ((n * g * g - 1.0) / (n - 1.0)).max(0.0).sqrt() as f32
        } else {
            f32::NAN
        }
    })
}

/// Probability density of the L-look interferometric phase ψ for coherence γ around φ₀ = 0
/// (Lee et al. 1994, eq. 21; Tough et al. 1995), with β = γ·cos ψ:
/// p(ψ) = Γ(L+½)(1−γ²)^L β / (2√π Γ(L)(1−β²)^(L+½)) + (1−γ²)^L / (2π) · ₂F₁(L, 1; ½; β²).
pub fn phase_pdf(psi: f64, gamma: f64, looks: usize) -> f64 {
    let l = looks.max(1) as f64;
    let beta = gamma * psi.cos();
    let one_minus = (1.0 - gamma * gamma).powf(l);
    // Γ(L+½)/Γ(L) for integer L: Γ(½)·Π(k+½) / (L−1)!.
    let mut ratio = std::f64::consts::PI.sqrt();
    for k in 0..looks.max(1) {
        ratio *= k as f64 + 0.5;
    }
    for k in 1..looks.max(1) {
        ratio /= k as f64;
    }
    let first = ratio * one_minus * beta
        / (2.0 * std::f64::consts::PI.sqrt() * (1.0 - beta * beta).powf(l + 0.5));
    // ₂F₁(L, 1; ½; z) = Σ (L)_n / (½)_n · zⁿ.
    let z = beta * beta;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for n in 0..100_000 {
        let n = n as f64;
        term *= (l + n) / (0.5 + n) * z;
        sum += term;
        if term < 1e-16 * sum {
            break;
        }
    }
    first + one_minus / (2.0 * std::f64::consts::PI) * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fringe_per_pixel_decorrelates_and_a_flat_phase_does_not() {
        use std::f32::consts::PI;
        // Ramps of 0, π/2, π and 2π radians per pixel along x.
        for (g, expected) in [
            (0.0f32, 1.0f64),
            // sinc(π/4) = 4·sin(π/4)/π and sinc(π/2) = 2/π.
            (
                PI / 2.0,
                2.0 * std::f64::consts::SQRT_2 / std::f64::consts::PI,
            ),
            (PI, std::f64::consts::FRAC_2_PI),
            (2.0 * PI, 0.0),
        ] {
            let phase = Array2::from_shape_fn((5, 9), |(_, c)| g * c as f32);
            let gamma = gradient_coherence(phase.view());
            for v in gamma.iter() {
                assert!((f64::from(*v) - expected).abs() < 1e-3, "g {g}: {v}");
            }
        }
        // Along y as well, and the two axes multiply.
        let phase = Array2::from_shape_fn((6, 6), |(r, c)| PI * (r + c) as f32);
        let gamma = gradient_coherence(phase.view());
        assert!((f64::from(gamma[(3, 3)]) - std::f64::consts::FRAC_2_PI.powi(2)).abs() < 1e-3);
    }

    #[test]
    fn debiasing_removes_the_noise_floor() {
        for samples in [9usize, 45] {
            let floor = (1.0 / (samples as f64).sqrt()) as f32;
            let input = ndarray::array![[floor, 1.0, 0.0, f32::NAN]];
            let out = debiased_coherence(input.view(), samples);
            assert!(out[(0, 0)] < 1e-3, "{samples}: {}", out[(0, 0)]);
            assert!((out[(0, 1)] - 1.0).abs() < 1e-6);
            assert_eq!(out[(0, 2)], 0.0);
            assert!(out[(0, 3)].is_nan());
        }
        // The expected estimate of a true γ = 0.6 from 9 samples comes back to 0.6.
        let biased = (0.36f64 + 0.64 / 9.0).sqrt() as f32;
        let out = debiased_coherence(ndarray::array![[biased]].view(), 9);
        assert!((out[(0, 0)] - 0.6).abs() < 1e-5, "{}", out[(0, 0)]);
        let grid = Array2::from_shape_fn((1, 101), |(_, i)| i as f32 / 100.0);
        let out = debiased_coherence(grid.view(), 15);
        for (&g, &d) in grid.iter().zip(out.iter()) {
            assert!(d <= g, "{g} → {d}");
            if g > 0.0 && g < 1.0 {
                assert!(d < g, "{g} → {d}");
            }
        }
    }

    #[test]
    fn temporal_and_geometric_limits() {
        assert!((temporal_coherence(0.2, 10.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((temporal_coherence(0.2, 10.0, 1e6) - 0.2).abs() < 1e-12);
        assert_eq!(geometric_coherence(9000.0, 8000.0), 0.0);
        assert!((geometric_coherence(-400.0, 8000.0) - 0.95).abs() < 1e-12);
        assert_eq!(terrain_coherence(-5.0, 20.0), 0.05);
        assert_eq!(terrain_coherence(35.0, 20.0), 1.0);
    }
}
