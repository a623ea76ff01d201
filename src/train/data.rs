//! Training samples: dataset tiles read through GDAL, normalised with the dataset's channel
//! statistics, and the augmentation of the preprint (METHOD.md §5): horizontal and vertical
//! flips, random crops, and a random multiplicative scale and additive shift per channel — no
//! colour jitter (the channels are not colours).
//!
//! The random crop is taken as a translation: a tile-sized window is cut at a random offset of up
//! to ±`max_shift` pixels from a zero-padded tile (zero = the normalised nodata value), so the
//! pixel size — and with it the fringe spacing a given displacement makes — is never resampled.

use std::path::Path;

use ndarray::{s, Array3, Array4, Axis};
use rand::rngs::ChaCha8Rng;
use rand::RngExt;

use crate::dataset::{read_tile, ChannelNorm, TileLabel};
use crate::error::Result;

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
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation {
            flip_probability: 0.5,
            max_shift: 24,
            scale: 0.15,
            shift: 0.15,
            min_visible_fraction: 0.4,
        }
    }
}

/// Augment a sample in place.
pub fn augment(sample: &mut Sample, settings: &Augmentation, rng: &mut ChaCha8Rng) {
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
    for mut channel in sample.tile.axis_iter_mut(Axis(0)) {
        let scale = 1.0 + rng.random_range(-settings.scale..=settings.scale) as f32;
        let offset = rng.random_range(-settings.shift..=settings.shift) as f32;
        channel.mapv_inplace(|v| v * scale + offset);
    }
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
    use rand::SeedableRng;

    fn sample() -> Sample {
        let mut tile = Array3::<f32>::zeros((3, 32, 32));
        // A bright rectangle exactly where the label is.
        tile.slice_mut(s![.., 4..12, 6..20]).fill(1.0);
        Sample {
            tile,
            labels: vec![TileLabel {
                class: 1,
                bbox: [6.0, 4.0, 20.0, 12.0],
            }],
        }
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
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for _ in 0..50 {
            let mut s = sample();
            augment(&mut s, &settings, &mut rng);
            assert_eq!(s.labels.len(), 1);
            box_frames_content(&s);
        }
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
