//! A non-learning fringe detector, the baseline the network has to beat (class-agnostic).
//!
//! Two local phase statistics, both from unit phasors so that wrapping never matters:
//! - local phase anomaly: the phase of the small-window mean phasor against the wide-window mean,
//!   a = |arg(Σ_small e^{iφ} · conj Σ_wide e^{iφ})| (rad), weighted by the small window's
//!   consistency κ = |Σ_small e^{iφ}| / N: a slide's bowl of less than one fringe stands out of
//!   the smooth atmosphere, decorrelated noise has κ → 0;
//! - local fringe rate: S_x = Σ exp(i·W(φ[r, c+1] − φ[r, c])), f_x = arg S_x (rad/px), the same
//!   along rows, minus the mean rate over the wide window (atmosphere and orbit ramps are slow).
//!
//! The indicator I = κ · max(a / π, (|f| − f̄) / 0.3) (0 where κ < κ_min) is thresholded; 8-connected components of at
//! least `min_area` pixels become boxes scored by their mean indicator, 1 − exp(−Ī).

use ndarray::{Array2, ArrayView2};

use super::decode::Detection;

/// Settings of the baseline (pixels). The defaults were chosen by a small grid (threshold
/// 0.1–0.45, smallest area 40 or 100 px) on training scenes 0–19 of the seed-2026 set, scored
/// class-agnostic: the baseline gets the same chance to fit the data as the network.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BaselineSettings {
    /// Half side of the fringe-rate window.
    pub radius: usize,
    /// Half side of the background-rate window.
    pub background_radius: usize,
    /// Indicator threshold (dimensionless, see the module doc).
    pub threshold: f64,
    /// Smallest component kept, pixels.
    pub min_area: usize,
    /// Pixels whose small-window consistency κ is below this are noise (white noise over the
    /// default 9×9 window gives κ ≈ 1/9).
    pub min_consistency: f64,
}

impl Default for BaselineSettings {
    fn default() -> Self {
        BaselineSettings {
            radius: 4,
            background_radius: 40,
            threshold: 0.15,
            min_area: 100,
            min_consistency: 0.25,
        }
    }
}

/// Summed-area table of `values` (extra zero row and column first).
fn integral(values: &Array2<f64>) -> Array2<f64> {
    let (rows, cols) = values.dim();
    let mut s = Array2::<f64>::zeros((rows + 1, cols + 1));
    for r in 0..rows {
        let mut run = 0.0;
        for c in 0..cols {
            run += values[(r, c)];
            s[(r + 1, c + 1)] = s[(r, c + 1)] + run;
        }
    }
    s
}

/// Sum of the window of half side `k` around every cell (clipped at the edges).
fn box_sum(values: &Array2<f64>, k: usize) -> Array2<f64> {
    let (rows, cols) = values.dim();
    let s = integral(values);
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let (r0, r1) = (r.saturating_sub(k), (r + k + 1).min(rows));
        let (c0, c1) = (c.saturating_sub(k), (c + k + 1).min(cols));
        s[(r1, c1)] - s[(r0, c1)] - s[(r1, c0)] + s[(r0, c0)]
    })
}

/// The fringe indicator I of every pixel (0 where the phase is missing).
pub fn fringe_indicator(phase: ArrayView2<f32>, settings: &BaselineSettings) -> Array2<f64> {
    let (rows, cols) = phase.dim();
    let mut phasor: [Array2<f64>; 3] = std::array::from_fn(|_| Array2::zeros((rows, cols)));
    for ((r, c), p) in phase.indexed_iter() {
        if p.is_finite() {
            phasor[0][(r, c)] = f64::from(*p).cos();
            phasor[1][(r, c)] = f64::from(*p).sin();
            phasor[2][(r, c)] = 1.0;
        }
    }
    let small: Vec<Array2<f64>> = phasor.iter().map(|p| box_sum(p, settings.radius)).collect();
    let wide: Vec<Array2<f64>> = phasor
        .iter()
        .map(|p| box_sum(p, settings.background_radius))
        .collect();
    let mut parts: [Array2<f64>; 6] = std::array::from_fn(|_| Array2::zeros((rows, cols)));
    for r in 0..rows {
        for c in 0..cols {
            let p = phase[(r, c)];
            if !p.is_finite() {
                continue;
            }
            if c + 1 < cols && phase[(r, c + 1)].is_finite() {
                let d = f64::from(phase[(r, c + 1)] - p);
                parts[0][(r, c)] = d.cos();
                parts[1][(r, c)] = d.sin();
                parts[2][(r, c)] = 1.0;
            }
            if r + 1 < rows && phase[(r + 1, c)].is_finite() {
                let d = f64::from(phase[(r + 1, c)] - p);
                parts[3][(r, c)] = d.cos();
                parts[4][(r, c)] = d.sin();
                parts[5][(r, c)] = 1.0;
            }
        }
    }
    let k = settings.radius;
    let sums: Vec<Array2<f64>> = parts.iter().map(|p| box_sum(p, k)).collect();
    let mut rate = Array2::<f64>::zeros((rows, cols));
    let mut consistency = Array2::<f64>::zeros((rows, cols));
    let mut valid = Array2::<f64>::zeros((rows, cols));
    for r in 0..rows {
        for c in 0..cols {
            let (nx, ny) = (sums[2][(r, c)], sums[5][(r, c)]);
            if nx < 1.0 || ny < 1.0 || !phase[(r, c)].is_finite() {
                continue;
            }
            let (sxr, sxi) = (sums[0][(r, c)], sums[1][(r, c)]);
            let (syr, syi) = (sums[3][(r, c)], sums[4][(r, c)]);
            rate[(r, c)] = sxi.atan2(sxr).hypot(syi.atan2(syr));
            let n = small[2][(r, c)].max(1.0);
            consistency[(r, c)] = small[0][(r, c)].hypot(small[1][(r, c)]) / n;
            valid[(r, c)] = 1.0;
        }
    }
    let kb = settings.background_radius;
    let background_sum = box_sum(&rate, kb);
    let background_n = box_sum(&valid, kb);
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        if valid[(r, c)] == 0.0 || consistency[(r, c)] < settings.min_consistency {
            return 0.0;
        }
        let mean = background_sum[(r, c)] / background_n[(r, c)].max(1.0);
        let (ar, ai) = (small[0][(r, c)], small[1][(r, c)]);
        let (br, bi) = (wide[0][(r, c)], wide[1][(r, c)]);
        // arg(a · conj b)
        let anomaly = (ai * br - ar * bi).atan2(ar * br + ai * bi).abs();
        let fringe = (rate[(r, c)] - mean) / 0.3;
        consistency[(r, c)] * (anomaly / std::f64::consts::PI).max(fringe)
    })
}

/// Boxes of the 8-connected components where the indicator exceeds the threshold.
pub fn detect_fringes(phase: ArrayView2<f32>, settings: &BaselineSettings) -> Vec<Detection> {
    let indicator = fringe_indicator(phase, settings);
    let (rows, cols) = indicator.dim();
    let mut seen = Array2::<bool>::from_elem((rows, cols), false);
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            if seen[(r, c)] || indicator[(r, c)] <= settings.threshold {
                continue;
            }
            seen[(r, c)] = true;
            stack.push((r, c));
            let (mut r0, mut r1, mut c0, mut c1) = (r, r, c, c);
            let (mut area, mut sum) = (0usize, 0.0);
            while let Some((y, x)) = stack.pop() {
                area += 1;
                sum += indicator[(y, x)];
                r0 = r0.min(y);
                r1 = r1.max(y);
                c0 = c0.min(x);
                c1 = c1.max(x);
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                        if ny < 0 || nx < 0 || ny >= rows as i64 || nx >= cols as i64 {
                            continue;
                        }
                        let (ny, nx) = (ny as usize, nx as usize);
                        if !seen[(ny, nx)] && indicator[(ny, nx)] > settings.threshold {
                            seen[(ny, nx)] = true;
                            stack.push((ny, nx));
                        }
                    }
                }
            }
            if area < settings.min_area {
                continue;
            }
            let score = (1.0 - (-(sum / area as f64)).exp()) as f32;
            out.push(Detection {
                bbox: [c0 as f64, r0 as f64, (c1 + 1) as f64, (r1 + 1) as f64],
                class: 0,
                score,
                objectness: score,
            });
        }
    }
    // A component nested in a larger one (the centre of a bowl inside its ring) is the same
    // signal: keep the larger box when ≥ 80 % of the smaller lies inside it.
    let area = |b: &[f64; 4]| (b[2] - b[0]) * (b[3] - b[1]);
    out.sort_by(|a, b| area(&b.bbox).total_cmp(&area(&a.bbox)));
    let mut kept: Vec<Detection> = Vec::new();
    for d in out {
        let nested = kept.iter().any(|k| {
            let w = (k.bbox[2].min(d.bbox[2]) - k.bbox[0].max(d.bbox[0])).max(0.0);
            let h = (k.bbox[3].min(d.bbox[3]) - k.bbox[1].max(d.bbox[1])).max(0.0);
            w * h >= 0.8 * area(&d.bbox)
        });
        if !nested {
            kept.push(d);
        }
    }
    kept.sort_by(|a, b| b.score.total_cmp(&a.score));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_local_fringe_pattern_and_ignores_noise_and_ramps() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
        let n = 200;
        // Noise everywhere plus a gentle ramp (atmosphere), and a clean 40×40 px bowl of 3 fringes.
        let phase = Array2::from_shape_fn((n, n), |(r, c)| {
            let ramp = 0.02 * c as f64;
            let (dy, dx) = (r as f64 - 100.0, c as f64 - 60.0);
            let inside = dy.abs() < 20.0 && dx.abs() < 20.0;
            let value = if inside {
                ramp + 6.0 * std::f64::consts::PI * (1.0 - (dx * dx + dy * dy) / 800.0).max(0.0)
            } else if c > 120 {
                rng.random_range(-std::f64::consts::PI..std::f64::consts::PI)
            } else {
                ramp
            };
            crate::phase::wrap(value) as f32
        });
        let found = detect_fringes(phase.view(), &BaselineSettings::default());
        assert_eq!(found.len(), 1, "{found:?}");
        let b = found[0].bbox;
        let truth = [40.0, 80.0, 80.0, 120.0];
        assert!(crate::tiling::iou(&b, &truth) > 0.5, "{b:?}");
    }
}
