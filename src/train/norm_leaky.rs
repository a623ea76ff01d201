//! Batch normalisation followed by the LeakyReLU, forward and backward in two passes over the
//! activation, for the trainer on the CPU.
//!
//! Per channel c, over the M = N·H·W values of a batch (Ioffe & Szegedy 2015):
//! x̂ = (x − μ)·r with r = 1/√(σ² + ε), z = γ·x̂ + β, y = z for z > 0 and s·z otherwise.
//! Backward, with ∂z = ∂y·(1 if z > 0 else s): ∂β = Σ∂z, ∂γ = Σ∂z·x̂, and
//! ∂x = γ·r·(∂z − ∂β/M − x̂·∂γ/M) where μ and σ² are the batch's own statistics (they depend on x),
//! ∂x = γ·r·∂z where they are constants (running statistics).
//!
//! Activations are `[N, C, L]` (L = H·W, each channel's plane contiguous); images run in
//! parallel (rayon).

use rayon::prelude::*;

/// Per-channel mean and biased variance of `x` `[N, C, L]`, accumulated in f64: `[μ₀ … μ_C,
/// σ²₀ … σ²_C]`.
///
/// ```
/// use fringewatch::train::norm_leaky::channel_moments;
/// // Two images of two channels of two values.
/// let x = [1.0, 3.0, 10.0, 10.0, 5.0, 7.0, 20.0, 20.0];
/// assert_eq!(channel_moments(&x, 2, 2), vec![4.0, 15.0, 5.0, 25.0]);
/// ```
pub fn channel_moments(x: &[f32], channels: usize, pixels: usize) -> Vec<f32> {
    assert_eq!(x.len() % (channels * pixels).max(1), 0);
    // (count, mean, M2) per channel, each plane's taken about its first value and the planes
    // merged by Chan et al.'s update (1979), so that a large mean costs no precision.
    let merged = x
        .par_chunks(channels * pixels)
        .map(|image| {
            image
                .chunks_exact(pixels)
                .map(plane_moments)
                .collect::<Vec<_>>()
        })
        .reduce(
            || vec![(0.0, 0.0, 0.0); channels],
            |a, b| {
                a.iter()
                    .zip(&b)
                    .map(|(a, b)| merge_moments(*a, *b))
                    .collect()
            },
        );
    let mut moments = vec![0.0f32; 2 * channels];
    for (c, (count, mean, m2)) in merged.into_iter().enumerate() {
        moments[c] = mean as f32;
        moments[channels + c] = if count > 0.0 {
            (m2 / count) as f32
        } else {
            0.0
        };
    }
    moments
}

/// Lanes of f32 partial sums: vectorised, each summing a sixteenth of a plane.
const LANES: usize = 16;

/// (count, mean, Σ(x − mean)²) of one plane: sums of x − K and (x − K)² about K = its first
/// value, in f32 lanes, finished in f64.
fn plane_moments(plane: &[f32]) -> (f64, f64, f64) {
    let Some(&shift) = plane.first() else {
        return (0.0, 0.0, 0.0);
    };
    let (mut s, mut q) = ([0.0f32; LANES], [0.0f32; LANES]);
    let chunks = plane.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            let d = chunk[i] - shift;
            s[i] += d;
            q[i] += d * d;
        }
    }
    for (i, &v) in tail.iter().enumerate() {
        let d = v - shift;
        s[i] += d;
        q[i] += d * d;
    }
    let count = plane.len() as f64;
    let sum: f64 = s.iter().map(|&v| f64::from(v)).sum();
    let squares: f64 = q.iter().map(|&v| f64::from(v)).sum();
    let mean = sum / count;
    (
        count,
        f64::from(shift) + mean,
        (squares - sum * mean).max(0.0),
    )
}

/// Two (count, mean, M2 = Σ(x − mean)²) merged, Chan et al.'s pairwise update (1979):
/// δ = mean_b − mean_a, mean = mean_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n.
pub(crate) fn merge_moments(a: (f64, f64, f64), b: (f64, f64, f64)) -> (f64, f64, f64) {
    let count = a.0 + b.0;
    if count == 0.0 {
        return a;
    }
    let delta = b.1 - a.1;
    (
        count,
        a.1 + delta * b.0 / count,
        a.2 + (b.2 + delta * delta * a.0 * b.0 / count),
    )
}

/// The two sums of f(a, b) over pairs of `a` and `b`, in f32 lanes finished in f64.
fn lane_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    let (mut s, mut t) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tails = chunks_a.remainder().iter().zip(chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            let (u, v) = f(ca[i], cb[i]);
            s[i] += u;
            t[i] += v;
        }
    }
    for (i, (&x, &y)) in tails.enumerate() {
        let (u, v) = f(x, y);
        s[i] += u;
        t[i] += v;
    }
    (
        s.iter().map(|&v| f64::from(v)).sum(),
        t.iter().map(|&v| f64::from(v)).sum(),
    )
}

fn add(mut a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
    a
}

/// LeakyReLU, z for z > 0 and s·z otherwise, as a select of both (branch-free, vectorised).
#[inline(always)]
fn leaky(z: f32, slope: f32) -> f32 {
    let negative = slope * z;
    if z > 0.0 {
        z
    } else {
        negative
    }
}

/// One batch-norm and its LeakyReLU: per channel γ, β, the moments ([`channel_moments`]'
/// layout) and ε, and the slope s.
#[derive(Clone, Copy, Debug)]
pub struct NormLeaky<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub moments: &'a [f32],
    pub epsilon: f64,
    pub slope: f32,
}

impl NormLeaky<'_> {
    fn channels(&self) -> usize {
        self.gamma.len()
    }

    /// 1/√(σ² + ε) per channel.
    fn inv_std(&self) -> Vec<f64> {
        let channels = self.channels();
        (0..channels)
            .map(|c| 1.0 / (f64::from(self.moments[channels + c]) + self.epsilon).sqrt())
            .collect()
    }

    /// Per channel, the scale γ·r and the shift β − γ·r·μ that map x to z.
    fn affine(&self) -> Vec<(f32, f32)> {
        self.inv_std()
            .into_iter()
            .enumerate()
            .map(|(c, r)| {
                let scale = f64::from(self.gamma[c]) * r;
                let shift = f64::from(self.beta[c]) - scale * f64::from(self.moments[c]);
                (scale as f32, shift as f32)
            })
            .collect()
    }
}

/// y `[N, C, L]` of x (`pixels` = L).
///
/// ```
/// use fringewatch::train::norm_leaky::{channel_moments, norm_leaky_forward, NormLeaky};
/// let x = [1.0, 3.0, 5.0, 7.0]; // one channel: μ 4, σ² 5
/// let moments = channel_moments(&x, 1, 4);
/// let norm = NormLeaky { gamma: &[1.0], beta: &[0.0], moments: &moments, epsilon: 0.0, slope: 0.1 };
/// let y = norm_leaky_forward(&x, &norm, 4);
/// let r = 1.0 / 5.0f32.sqrt();
/// let expected = [-0.3 * r, -0.1 * r, r, 3.0 * r];
/// assert!(y.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6));
/// ```
pub fn norm_leaky_forward(x: &[f32], norm: &NormLeaky, pixels: usize) -> Vec<f32> {
    let (channels, slope) = (norm.channels(), norm.slope);
    let coefficients = norm.affine();
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(channels * pixels)
        .zip(x.par_chunks(channels * pixels))
        .for_each(|(yn, xn)| {
            for ((yp, xp), &(scale, shift)) in yn
                .chunks_exact_mut(pixels)
                .zip(xn.chunks_exact(pixels))
                .zip(&coefficients)
            {
                for (y, &x) in yp.iter_mut().zip(xp) {
                    *y = leaky(scale * x + shift, slope);
                }
            }
        });
    y
}

/// The gradients (∂x, ∂γ, ∂β) of a loss whose gradient at y is `dy`; `batch_statistics` says
/// whether the moments are x's own (then they carry gradient to x) or constants.
pub fn norm_leaky_backward(
    x: &[f32],
    dy: &[f32],
    norm: &NormLeaky,
    pixels: usize,
    batch_statistics: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (channels, slope, gamma, moments) = (norm.channels(), norm.slope, norm.gamma, norm.moments);
    let coefficients = norm.affine();
    let inv_std = norm.inv_std();
    let dz = |x: f32, dy: f32, (scale, shift): (f32, f32)| -> f32 {
        // Both sides computed, then selected: a branch-free loop the compiler vectorises.
        let (positive, negative) = (dy, slope * dy);
        if scale * x + shift > 0.0 {
            positive
        } else {
            negative
        }
    };
    // Pass 1: Σ∂z and Σ∂z·(x − μ) per channel.
    let sums = x
        .par_chunks(channels * pixels)
        .zip(dy.par_chunks(channels * pixels))
        .map(|(xn, dyn_)| {
            let mut sums = vec![0.0f64; 2 * channels];
            for (c, (xp, dp)) in xn
                .chunks_exact(pixels)
                .zip(dyn_.chunks_exact(pixels))
                .enumerate()
            {
                let (mean, k) = (moments[c], coefficients[c]);
                let (s, t) = lane_sums(xp, dp, |x, d| {
                    let g = dz(x, d, k);
                    (g, g * (x - mean))
                });
                sums[c] += s;
                sums[channels + c] += t;
            }
            sums
        })
        .reduce(|| vec![0.0f64; 2 * channels], add);
    let count = (x.len() / channels.max(1)) as f64;
    let dbeta: Vec<f32> = sums[..channels].iter().map(|&s| s as f32).collect();
    let dgamma: Vec<f32> = (0..channels)
        .map(|c| (sums[channels + c] * inv_std[c]) as f32)
        .collect();
    // Pass 2: ∂x = γr·∂z − γr/M·(Σ∂z + x̂·Σ∂z·x̂), as a·∂z + b + c·x per channel.
    let per_channel: Vec<(f32, f32, f32)> = (0..channels)
        .map(|c| {
            let gr = f64::from(gamma[c]) * inv_std[c];
            if !batch_statistics {
                return (gr as f32, 0.0, 0.0);
            }
            // x̂·Σ∂z·x̂ = (x − μ)·r²·Σ∂z·(x − μ)
            let slope_x = -gr / count * inv_std[c] * inv_std[c] * sums[channels + c];
            let offset = -gr / count * sums[c] - slope_x * f64::from(moments[c]);
            (gr as f32, offset as f32, slope_x as f32)
        })
        .collect();
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(channels * pixels)
        .zip(x.par_chunks(channels * pixels))
        .zip(dy.par_chunks(channels * pixels))
        .for_each(|((dxn, xn), dyn_)| {
            for (c, ((gp, xp), dp)) in dxn
                .chunks_exact_mut(pixels)
                .zip(xn.chunks_exact(pixels))
                .zip(dyn_.chunks_exact(pixels))
                .enumerate()
            {
                let (a, b, s) = per_channel[c];
                let k = coefficients[c];
                for ((g, &x), &d) in gp.iter_mut().zip(xp).zip(dp) {
                    *g = a * dz(x, d, k) + b + s * x;
                }
            }
        });
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32) * 0.61 + seed).sin() * 2.0 + 0.3)
            .collect()
    }

    /// The loss ⟨∂y, f(x, γ, β)⟩ with the statistics taken from x (or held), in f64.
    #[allow(clippy::too_many_arguments)]
    fn loss(
        x: &[f64],
        gamma: &[f64],
        beta: &[f64],
        held: Option<&[f64]>,
        dy: &[f32],
        channels: usize,
        pixels: usize,
        slope: f64,
    ) -> f64 {
        let images = x.len() / (channels * pixels);
        let mut total = 0.0;
        for c in 0..channels {
            let values: Vec<(usize, f64)> = (0..images)
                .flat_map(|n| (0..pixels).map(move |l| (n * channels + c) * pixels + l))
                .map(|i| (i, x[i]))
                .collect();
            let (mean, var) = match held {
                Some(m) => (m[c], m[channels + c]),
                None => {
                    let mean = values.iter().map(|v| v.1).sum::<f64>() / values.len() as f64;
                    let var = values.iter().map(|v| (v.1 - mean).powi(2)).sum::<f64>()
                        / values.len() as f64;
                    (mean, var)
                }
            };
            for (i, v) in values {
                let z = gamma[c] * (v - mean) / (var + 1e-5).sqrt() + beta[c];
                let y = if z > 0.0 { z } else { slope * z };
                total += y * f64::from(dy[i]);
            }
        }
        total
    }

    /// Central differences of the f64 loss at every input, γ and β, for batch statistics and
    /// for held ones.
    #[test]
    fn the_gradients_match_central_differences() {
        let (images, channels, pixels) = (3, 4, 7);
        let x = pattern(images * channels * pixels, 0.2);
        let dy = pattern(x.len(), 1.7);
        let gamma = [0.8f32, 1.3, -0.6, 1.0];
        let beta = [0.1f32, -0.4, 0.2, 0.0];
        let held_moments = [0.2f32, -0.1, 0.5, 0.0, 1.5, 0.7, 2.0, 1.1];
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let g64: Vec<f64> = gamma.iter().map(|&v| f64::from(v)).collect();
        let b64: Vec<f64> = beta.iter().map(|&v| f64::from(v)).collect();
        let h64: Vec<f64> = held_moments.iter().map(|&v| f64::from(v)).collect();
        for batch_statistics in [true, false] {
            let moments = if batch_statistics {
                channel_moments(&x, channels, pixels)
            } else {
                held_moments.to_vec()
            };
            let held = (!batch_statistics).then_some(h64.as_slice());
            let norm = NormLeaky {
                gamma: &gamma,
                beta: &beta,
                moments: &moments,
                epsilon: 1e-5,
                slope: 0.1,
            };
            let (dx, dgamma, dbeta) = norm_leaky_backward(&x, &dy, &norm, pixels, batch_statistics);
            let h = 1e-5;
            let check = |what: &str, analytic: &[f32], loss_at: &dyn Fn(usize, f64) -> f64| {
                for (i, a) in analytic.iter().enumerate() {
                    let d = (loss_at(i, h) - loss_at(i, -h)) / (2.0 * h);
                    assert!(
                        (f64::from(*a) - d).abs() < 2e-3,
                        "{what}[{i}], batch statistics {batch_statistics}: {a} against {d}"
                    );
                }
            };
            let at =
                |x: &[f64], g: &[f64], b: &[f64]| loss(x, g, b, held, &dy, channels, pixels, 0.1);
            let moved = |v: &[f64], i: usize, e: f64| {
                let mut v = v.to_vec();
                v[i] += e;
                v
            };
            check("dx", &dx, &|i, e| at(&moved(&x64, i, e), &g64, &b64));
            check("dγ", &dgamma, &|c, e| at(&x64, &moved(&g64, c, e), &b64));
            check("dβ", &dbeta, &|c, e| at(&x64, &g64, &moved(&b64, c, e)));
        }
    }

    #[test]
    fn the_forward_normalises_each_channel_over_the_batch() {
        let (channels, pixels) = (3, 5);
        let x = pattern(2 * channels * pixels, 0.9);
        let moments = channel_moments(&x, channels, pixels);
        // Slope 1: a plain batch-norm with γ = 1, β = 0 gives mean 0 and variance 1 per channel.
        let norm = NormLeaky {
            gamma: &[1.0; 3],
            beta: &[0.0; 3],
            moments: &moments,
            epsilon: 0.0,
            slope: 1.0,
        };
        let y = norm_leaky_forward(&x, &norm, pixels);
        let normalised = channel_moments(&y, channels, pixels);
        for c in 0..channels {
            assert!(normalised[c].abs() < 1e-5, "{normalised:?}");
            assert!(
                (normalised[channels + c] - 1.0).abs() < 1e-4,
                "{normalised:?}"
            );
        }
    }
}
