//! Training samples: dataset tiles read through GDAL, normalised with the dataset's channel
//! statistics, and the augmentation of the preprint (METHOD.md §5): horizontal and vertical
//! flips, random crops, and a random multiplicative scale and additive shift per channel — no
//! colour jitter (the channels are not colours). The wrapped phase is not scaled or shifted like
//! the other channels but changed only in ways that leave it a valid interferogram of the same
//! ground: a constant reference offset wrapped back into (−π, π] (where the wrap falls carries no
//! information: the reference phase of an interferogram is arbitrary) and conjugation φ → −φ
//! (processors differ in their sign convention, and slopes facing and facing away from the
//! satellite give signals of both signs). Optionally (`weather_probability`) a fresh turbulent
//! screen is added to the phase: the same ground under another pair's atmosphere.
//!
//! The random crop is taken as a translation: a tile-sized window is cut at a random offset of up
//! to ±`max_shift` pixels from a zero-padded tile (zero = the normalised nodata value), so the
//! pixel size — and with it the fringe spacing a given displacement makes — is never resampled.

use std::path::Path;

use ndarray::{s, Array2, Array3, Array4, Axis};
use rand::rngs::ChaCha8Rng;
use rand::RngExt;

use crate::dataset::{read_tile, ChannelNorm, TileLabel};
use crate::error::Result;
use crate::model::phase_input::{add_phase_screen, rereference_phase};
use crate::simulate::domain::DomainSettings;
use crate::simulate::params::Interval;
use crate::simulate::relief::aperiodic_field;

/// A normalised tile `[3, T, T]` and its labels in tile pixels.
#[derive(Debug, Clone)]
pub struct Sample {
    pub tile: Array3<f32>,
    pub labels: Vec<TileLabel>,
}

/// Read dataset tile `name` normalised with `channels` (see [`crate::dataset::read_tile`]).
pub fn read_sample(
    dataset: &Path,
    name: &str,
    channels: &[ChannelNorm],
    size: usize,
) -> Result<Sample> {
    let (tile, labels) = read_tile(dataset, name, channels, size)?;
    Ok(Sample { tile, labels })
}

/// Augmentation settings (ranges are drawn uniformly).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augmentation {
    pub flip_probability: f64,
    /// Largest crop offset, pixels.
    pub max_shift: usize,
    /// Per-channel multiplicative scale in [1 − s, 1 + s].
    pub scale: f64,
    /// Per-channel additive shift in [−o, o] (normalised units).
    pub shift: f64,
    /// A label cut by the crop is kept when this share of its area is left.
    pub min_visible_fraction: f64,
    /// Add a constant drawn uniformly in [−π, π) to the wrapped phase and wrap it again; the phase
    /// then gets no scale or shift. Off in runs saved before it existed, so they resume unchanged.
    #[serde(default)]
    pub phase_offset: bool,
    /// Probability of conjugating the wrapped phase (φ → −φ).
    #[serde(default)]
    pub phase_conjugate_probability: f64,
    /// Probability of adding a fresh turbulent atmosphere to the wrapped phase, φ → W(φ + s):
    /// another acquisition pair's weather over the same ground, so that the network cannot learn
    /// the few screens of the training scenes as part of what a slide looks like (see
    /// [`weather_screen`]). 0 (off) in runs saved before it existed, so they resume unchanged.
    #[serde(default)]
    pub weather_probability: f64,
    /// Largest RMS (radians) of the added screen, drawn uniformly in [0, this].
    #[serde(default)]
    pub weather_rms_rad: f64,
}

impl Augmentation {
    /// Every augmentation off: tiles as they were read (for probes of a model's function).
    pub fn none() -> Self {
        Augmentation {
            flip_probability: 0.0,
            max_shift: 0,
            scale: 0.0,
            shift: 0.0,
            phase_offset: false,
            phase_conjugate_probability: 0.0,
            ..Augmentation::default()
        }
    }
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation {
            flip_probability: 0.5,
            max_shift: 24,
            scale: 0.15,
            shift: 0.15,
            min_visible_fraction: 0.4,
            phase_offset: true,
            phase_conjugate_probability: 0.5,
            weather_probability: 0.0,
            weather_rms_rad: 0.0,
        }
    }
}

/// Augment a sample in place; `phase` is the normalisation of channel 0, the wrapped phase.
pub fn augment(
    sample: &mut Sample,
    settings: &Augmentation,
    phase: &ChannelNorm,
    rng: &mut ChaCha8Rng,
) {
    let (_, rows, cols) = sample.tile.dim();
    let (w, h) = (cols as f64, rows as f64);
    if rng.random_bool(settings.flip_probability) {
        sample.tile.invert_axis(Axis(2));
        for l in &mut sample.labels {
            l.bbox = [w - l.bbox[2], l.bbox[1], w - l.bbox[0], l.bbox[3]];
        }
    }
    if rng.random_bool(settings.flip_probability) {
        sample.tile.invert_axis(Axis(1));
        for l in &mut sample.labels {
            l.bbox = [l.bbox[0], h - l.bbox[3], l.bbox[2], h - l.bbox[1]];
        }
    }
    if settings.max_shift > 0 {
        let m = settings.max_shift as i64;
        let (dx, dy) = (rng.random_range(-m..=m), rng.random_range(-m..=m));
        shift_tile(sample, dx, dy, settings.min_visible_fraction);
    }
    let weather = settings.weather_probability > 0.0 && settings.weather_rms_rad > 0.0;
    let physical_phase =
        settings.phase_offset || settings.phase_conjugate_probability > 0.0 || weather;
    if physical_phase {
        let offset = if settings.phase_offset {
            rng.random_range(-std::f64::consts::PI..std::f64::consts::PI)
        } else {
            0.0
        };
        let conjugate = rng.random_bool(settings.phase_conjugate_probability.clamp(0.0, 1.0));
        rereference_phase(
            sample.tile.index_axis_mut(Axis(0), 0),
            phase,
            offset,
            conjugate,
        );
    }
    if weather && rng.random_bool(settings.weather_probability.clamp(0.0, 1.0)) {
        let rms = rng.random_range(0.0..=settings.weather_rms_rad);
        let screen = weather_screen(rows, cols, rms, rng);
        add_phase_screen(sample.tile.index_axis_mut(Axis(0), 0), phase, screen.view());
    }
    let first = usize::from(physical_phase);
    for mut channel in sample.tile.axis_iter_mut(Axis(0)).skip(first) {
        let scale = 1.0 + rng.random_range(-settings.scale..=settings.scale) as f32;
        let offset = rng.random_range(-settings.shift..=settings.shift) as f32;
        channel.mapv_inplace(|v| v * scale + offset);
    }
}

/// A turbulent phase screen (radians) for a `rows × cols` tile: a Gaussian field with power
/// spectrum P(k) ∝ k^−β (Hanssen 2001 §4.7), made on a field of twice the tile's side whose RMS is
/// `rms` and cut at a random place, so that a tile sees the longer wavelengths as a gradient and
/// its RMS varies from tile to tile as over a scene. β is drawn in [7/3, 3.2]: at a tile's scales
/// (0.1–2 km) Hanssen gives 8/3, and β > 2 keeps the screen continuous (a fractional Brownian
/// surface of Hurst exponent (β − 2)/2, not pixel noise); the top is the training family's
/// ([`DomainSettings::randomised`]), so the screen stays inside the training ranges.
pub fn weather_screen(rows: usize, cols: usize, rms: f64, rng: &mut ChaCha8Rng) -> Array2<f32> {
    let steepest = DomainSettings::randomised(&[]).turbulence_exponent.max;
    let beta = Interval::new(7.0 / 3.0, steepest).draw(rng);
    let (field_rows, field_cols) = (2 * rows.max(1), 2 * cols.max(1));
    let field = aperiodic_field(field_rows, field_cols, beta, rng);
    let (r0, c0) = (rng.random_range(0..=rows), rng.random_range(0..=cols));
    field
        .slice(s![r0..r0 + rows, c0..c0 + cols])
        .mapv(|v| v * rms as f32)
}

/// Content moves by (dx, dy) pixels; uncovered pixels become 0; labels follow and are clipped.
pub fn shift_tile(sample: &mut Sample, dx: i64, dy: i64, min_visible_fraction: f64) {
    let (bands, rows, cols) = sample.tile.dim();
    let mut out = Array3::<f32>::zeros((bands, rows, cols));
    let range = |d: i64, n: usize| -> (usize, usize, usize) {
        // (source start, destination start, length)
        if d >= 0 {
            let d = (d as usize).min(n);
            (0, d, n - d)
        } else {
            let d = ((-d) as usize).min(n);
            (d, 0, n - d)
        }
    };
    let (sx, tx, nx) = range(dx, cols);
    let (sy, ty, ny) = range(dy, rows);
    out.slice_mut(s![.., ty..ty + ny, tx..tx + nx])
        .assign(&sample.tile.slice(s![.., sy..sy + ny, sx..sx + nx]));
    sample.tile = out;
    let (w, h) = (cols as f64, rows as f64);
    sample.labels.retain_mut(|l| {
        let b = l.bbox;
        let area = (b[2] - b[0]) * (b[3] - b[1]);
        let moved = [
            (b[0] + dx as f64).clamp(0.0, w),
            (b[1] + dy as f64).clamp(0.0, h),
            (b[2] + dx as f64).clamp(0.0, w),
            (b[3] + dy as f64).clamp(0.0, h),
        ];
        let left = (moved[2] - moved[0]).max(0.0) * (moved[3] - moved[1]).max(0.0);
        l.bbox = moved;
        area > 0.0 && left / area >= min_visible_fraction
    });
}

/// Cut the `size`×`size` window whose top-left corner is (`x0`, `y0`) out of the sample; labels
/// move with it and are clipped, and one left with less than `min_visible_fraction` of its area
/// is dropped. Training on such crops costs (size / tile)² of a whole tile's FLOPs, and the
/// network, being fully convolutional, is the same network at any multiple of its stride.
pub fn crop_tile(
    sample: &mut Sample,
    x0: usize,
    y0: usize,
    size: usize,
    min_visible_fraction: f64,
) {
    let (_, rows, cols) = sample.tile.dim();
    let (x0, y0) = (
        x0.min(cols.saturating_sub(size)),
        y0.min(rows.saturating_sub(size)),
    );
    let (x1, y1) = ((x0 + size).min(cols), (y0 + size).min(rows));
    sample.tile = sample.tile.slice(s![.., y0..y1, x0..x1]).to_owned();
    let (w, h) = ((x1 - x0) as f64, (y1 - y0) as f64);
    let (dx, dy) = (x0 as f64, y0 as f64);
    sample.labels.retain_mut(|l| {
        let b = l.bbox;
        let area = (b[2] - b[0]) * (b[3] - b[1]);
        let cut = [
            (b[0] - dx).clamp(0.0, w),
            (b[1] - dy).clamp(0.0, h),
            (b[2] - dx).clamp(0.0, w),
            (b[3] - dy).clamp(0.0, h),
        ];
        let left = (cut[2] - cut[0]).max(0.0) * (cut[3] - cut[1]).max(0.0);
        l.bbox = cut;
        area > 0.0 && left / area >= min_visible_fraction
    });
}

/// Repeat factor of each tile for class-balanced sampling (Gupta et al. 2019, LVIS, §3.2):
/// r_c = max(1, √(t / f_c)) with f_c the share of tiles holding class c, and a tile's factor is
/// the largest r_c of its classes (1 for a tile without labels). `threshold` t = 0 turns it off.
pub fn repeat_factors(tile_classes: &[Vec<usize>], classes: usize, threshold: f64) -> Vec<f64> {
    let tiles = tile_classes.len().max(1) as f64;
    let mut holding = vec![0usize; classes];
    for present in tile_classes {
        let mut seen = vec![false; classes];
        for &c in present.iter().filter(|&&c| c < classes) {
            if !std::mem::replace(&mut seen[c], true) {
                holding[c] += 1;
            }
        }
    }
    let per_class: Vec<f64> = holding
        .iter()
        .map(|&n| {
            let share = n as f64 / tiles;
            if threshold > 0.0 && share > 0.0 {
                (threshold / share).sqrt().max(1.0)
            } else {
                1.0
            }
        })
        .collect();
    tile_classes
        .iter()
        .map(|present| {
            present
                .iter()
                .filter_map(|&c| per_class.get(c).copied())
                .fold(1.0, f64::max)
        })
        .collect()
}

/// One epoch's tile order: tile i appears ⌊rᵢ⌋ times plus once more with probability rᵢ − ⌊rᵢ⌋
/// (stochastic rounding, so the expected count is rᵢ), shuffled.
pub fn epoch_order<T: Clone>(tiles: &[T], factors: &[f64], rng: &mut ChaCha8Rng) -> Vec<T> {
    use rand::seq::SliceRandom;
    let mut order = Vec::with_capacity(tiles.len());
    for (tile, &r) in tiles.iter().zip(factors) {
        let whole = r.floor();
        let extra = r > whole && rng.random_bool((r - whole).min(1.0));
        let copies = whole as usize + usize::from(extra);
        order.extend(std::iter::repeat_n(tile, copies).cloned());
    }
    order.shuffle(rng);
    order
}

/// Stack samples into a batch `[N, 3, T, T]`.
pub fn batch_of(samples: &[Sample]) -> Array4<f32> {
    let (c, h, w) = samples[0].tile.dim();
    let mut out = Array4::<f32>::zeros((samples.len(), c, h, w));
    for (mut slot, s) in out.outer_iter_mut().zip(samples) {
        slot.assign(&s.tile);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_cuts_the_window_and_its_labels() {
        let tile = Array3::from_shape_fn((3, 160, 160), |(c, r, x)| {
            (c * 100_000 + r * 1000 + x) as f32
        });
        let mut sample = Sample {
            tile,
            labels: vec![
                TileLabel::new(1, [40.0, 50.0, 60.0, 70.0]),
                // half of it inside the crop: kept at 0.4, clipped
                TileLabel::new(2, [10.0, 30.0, 30.0, 40.0]),
                // outside
                TileLabel::new(3, [150.0, 150.0, 159.0, 159.0]),
            ],
        };
        crop_tile(&mut sample, 20, 16, 128, 0.4);
        assert_eq!(sample.tile.dim(), (3, 128, 128));
        assert_eq!(sample.tile[[2, 0, 0]], (200_000 + 16 * 1000 + 20) as f32);
        assert_eq!(sample.tile[[0, 127, 127]], (143 * 1000 + 147) as f32);
        let boxes: Vec<_> = sample.labels.iter().map(|l| (l.class, l.bbox)).collect();
        assert_eq!(
            boxes,
            vec![(1, [20.0, 34.0, 40.0, 54.0]), (2, [0.0, 14.0, 10.0, 24.0])]
        );
    }
    use rand::SeedableRng;

    fn sample() -> Sample {
        let mut tile = Array3::<f32>::zeros((3, 32, 32));
        // A bright rectangle exactly where the label is.
        tile.slice_mut(s![.., 4..12, 6..20]).fill(1.0);
        Sample {
            tile,
            labels: vec![TileLabel::new(1, [6.0, 4.0, 20.0, 12.0])],
        }
    }

    fn phase_norm() -> ChannelNorm {
        ChannelNorm {
            name: "phase".into(),
            mean: 0.05,
            std: 1.8,
        }
    }

    #[test]
    fn rereferencing_keeps_a_wrapped_phase_of_the_same_fringes() {
        use std::f64::consts::PI;
        let norm = phase_norm();
        // A fringe ramp of 2.5 turns over 32 px, normalised, with one nodata pixel.
        let truth: Vec<f64> = (0..32)
            .map(|i| crate::phase::wrap(i as f64 * 0.49))
            .collect();
        let mut tile = Array3::<f32>::zeros((3, 1, 32));
        for (i, &phi) in truth.iter().enumerate() {
            tile[[0, 0, i]] = ((phi - norm.mean) / norm.std) as f32;
            tile[[1, 0, i]] = 0.7;
        }
        tile[[0, 0, 5]] = 0.0;
        for (offset, conjugate) in [(1.3, false), (-2.9, true), (PI, false)] {
            let mut t = tile.clone();
            rereference_phase(t.index_axis_mut(Axis(0), 0), &norm, offset, conjugate);
            let sign = if conjugate { -1.0 } else { 1.0 };
            for (i, &phi) in truth.iter().enumerate() {
                let got = f64::from(t[[0, 0, i]]) * norm.std + norm.mean;
                if i == 5 {
                    assert_eq!(t[[0, 0, i]], 0.0, "nodata stays nodata");
                    continue;
                }
                assert!(got > -PI - 1e-5 && got <= PI + 1e-5, "{got} not wrapped");
                // Same fringes: the difference to ±φ + offset is a whole number of turns.
                let turns = (got - (sign * phi + offset)) / (2.0 * PI);
                assert!((turns - turns.round()).abs() < 1e-5, "pixel {i}: {turns}");
            }
            assert_eq!(t.index_axis(Axis(0), 1), tile.index_axis(Axis(0), 1));
        }
    }

    #[test]
    fn the_phase_is_rereferenced_not_scaled_and_the_other_channels_are_jittered() {
        let norm = phase_norm();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (mut offsets, mut conjugated) = (Vec::new(), 0);
        for _ in 0..200 {
            let mut s = Sample {
                tile: Array3::<f32>::from_elem((3, 2, 2), 0.3),
                labels: Vec::new(),
            };
            s.tile[[0, 0, 1]] = 0.6;
            let settings = Augmentation {
                max_shift: 0,
                flip_probability: 0.0,
                ..Augmentation::default()
            };
            augment(&mut s, &settings, &norm, &mut rng);
            let phase = |v: f32| f64::from(v) * norm.std + norm.mean;
            let (a, b) = (phase(s.tile[[0, 0, 0]]), phase(s.tile[[0, 0, 1]]));
            // The difference of two pixels is kept up to sign and wrapping: 0.3 · 1.8 = 0.54 rad.
            let d = crate::phase::wrap(b - a);
            assert!((d.abs() - 0.54).abs() < 1e-5, "{d}");
            conjugated += usize::from(d < 0.0);
            offsets.push(a);
            // ISL and PC1 get the per-channel scale and shift, within their ranges.
            let other = s.tile[[1, 0, 0]];
            assert!((other - 0.3).abs() <= 0.3 * 0.15 + 0.15 + 1e-6);
        }
        assert!(
            (60..140).contains(&conjugated),
            "{conjugated} of 200 conjugated"
        );
        let spread = offsets.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))
            - offsets.iter().fold(f64::INFINITY, |m, &v| m.min(v));
        assert!(spread > 5.5, "offsets span {spread} rad");
    }

    #[test]
    fn another_atmosphere_adds_a_smooth_screen_and_keeps_the_labels_and_layers() {
        let norm = phase_norm();
        let phase = |v: f32| f64::from(v) * norm.std + norm.mean;
        let quiet = Augmentation::none();
        let weather = Augmentation {
            weather_probability: 1.0,
            weather_rms_rad: 2.0,
            ..quiet
        };
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let mut rms_seen = Vec::new();
        for _ in 0..20 {
            let mut s = sample();
            s.tile.index_axis_mut(Axis(0), 0).fill(0.4);
            s.tile[[0, 10, 10]] = 0.0;
            let before = s.clone();
            augment(&mut s, &weather, &norm, &mut rng);
            assert_eq!(s.labels, before.labels);
            for band in 1..3 {
                assert_eq!(
                    s.tile.index_axis(Axis(0), band),
                    before.tile.index_axis(Axis(0), band)
                );
            }
            assert_eq!(s.tile[[0, 10, 10]], 0.0, "nodata stays nodata");
            // The change, unwrapped along each row, is a smooth screen: neighbours differ little.
            let change = |r: usize, c: usize| {
                crate::phase::wrap(phase(s.tile[[0, r, c]]) - phase(before.tile[[0, r, c]]))
            };
            let mut steps = Vec::new();
            let mut values = Vec::new();
            for r in 0..32 {
                for c in 0..31 {
                    if (r, c) == (10, 10) || (r, c + 1) == (10, 10) {
                        continue;
                    }
                    steps.push(crate::phase::wrap(change(r, c + 1) - change(r, c)).abs());
                    values.push(change(r, c));
                }
            }
            let mean_step = steps.iter().sum::<f64>() / steps.len() as f64;
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let rms = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                / values.len() as f64)
                .sqrt();
            // Pixel noise of that RMS would differ by 2/√π ≈ 1.13 RMS between neighbours.
            assert!(
                mean_step < 0.6 * rms + 1e-3,
                "neighbours differ by {mean_step} rad on average, the change's RMS is {rms}"
            );
            rms_seen.push(rms);
        }
        // Each tile draws its RMS in [0, 2] over a field twice its side, so tiles vary and none
        // exceeds what the field allows by much.
        let largest = rms_seen.iter().fold(0.0f64, |m, &v| m.max(v));
        let smallest = rms_seen.iter().fold(f64::INFINITY, |m, &v| m.min(v));
        assert!(largest > 0.3 && largest < 4.0, "{rms_seen:?}");
        assert!(smallest < largest / 2.0, "{rms_seen:?}");

        // Off (probability 0), the random stream and the result are those of a run without it.
        let off = Augmentation {
            weather_probability: 0.0,
            weather_rms_rad: 3.0,
            ..Augmentation::default()
        };
        let (mut a, mut b) = (sample(), sample());
        let (mut rng_a, mut rng_b) = (ChaCha8Rng::seed_from_u64(5), ChaCha8Rng::seed_from_u64(5));
        augment(&mut a, &off, &norm, &mut rng_a);
        augment(&mut b, &Augmentation::default(), &norm, &mut rng_b);
        assert_eq!(a.tile, b.tile);
        assert_eq!(rng_a.random::<u64>(), rng_b.random::<u64>());
    }

    /// The labelled box must still frame the bright pixels after any augmentation.
    fn box_frames_content(s: &Sample) {
        let b = s.labels[0].bbox;
        let band = s.tile.index_axis(Axis(0), 0);
        let mean_inside = band
            .slice(s![
                b[1] as usize..b[3] as usize,
                b[0] as usize..b[2] as usize
            ])
            .mean()
            .unwrap();
        let total: f32 = band.iter().sum();
        let inside: f32 = band
            .slice(s![
                b[1] as usize..b[3] as usize,
                b[0] as usize..b[2] as usize
            ])
            .iter()
            .sum();
        assert!(mean_inside > 0.5, "box {b:?} misses the content");
        assert!(
            (total - inside).abs() < 1e-3,
            "content outside the box {b:?}"
        );
    }

    #[test]
    fn flips_and_shifts_move_labels_with_the_content() {
        let settings = Augmentation {
            scale: 0.0,
            shift: 0.0,
            max_shift: 3,
            phase_offset: false,
            phase_conjugate_probability: 0.0,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for _ in 0..50 {
            let mut s = sample();
            augment(&mut s, &settings, &phase_norm(), &mut rng);
            assert_eq!(s.labels.len(), 1);
            box_frames_content(&s);
        }
    }

    #[test]
    fn rare_classes_are_repeated_as_lvis_prescribes() {
        use rand::SeedableRng;
        // Class 0 on 8 of 10 tiles, class 1 on 1 tile, one tile empty; t = 0.4.
        let mut tiles: Vec<Vec<usize>> = (0..8).map(|_| vec![0]).collect();
        tiles.push(vec![1, 0]);
        tiles.push(vec![]);
        let r = repeat_factors(&tiles, 2, 0.4);
        // f₀ = 0.9 → 1; f₁ = 0.1 → √4 = 2.
        assert_eq!(r[..8], [1.0; 8]);
        assert!((r[8] - 2.0).abs() < 1e-12);
        assert_eq!(r[9], 1.0);
        assert_eq!(repeat_factors(&tiles, 2, 0.0), vec![1.0; 10]);
        let names: Vec<usize> = (0..10).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let order = epoch_order(&names, &r, &mut rng);
        assert_eq!(order.len(), 11);
        assert_eq!(order.iter().filter(|&&i| i == 8).count(), 2);
        // Fractional factors are honoured on average.
        let half = vec![1.5; 10];
        let total: usize = (0..200)
            .map(|_| epoch_order(&names, &half, &mut rng).len())
            .sum();
        let mean = total as f64 / 200.0;
        assert!((mean - 15.0).abs() < 0.5, "{mean}");
    }

    #[test]
    fn a_label_shifted_mostly_out_is_dropped() {
        let mut s = sample();
        shift_tile(&mut s, -16, 0, 0.4); // 14 px wide box at x 6..20 → −10..4: 4/14 left
        assert!(s.labels.is_empty());
        let mut s = sample();
        shift_tile(&mut s, -8, 0, 0.4); // → −2..12: 12/14 left, clipped to 0..12
        assert_eq!(s.labels[0].bbox, [0.0, 4.0, 12.0, 12.0]);
        box_frames_content(&s);
    }
}
