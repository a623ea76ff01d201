//! How the detector sees the wrapped phase.
//!
//! - [`PhaseInput::Scaled`]: the first conv reads the normalised phase φ/σ itself, so a wrap
//!   (a jump from +π to −π) looks like the strongest edge in the scene although it carries no
//!   information (models v1–v3).
//! - [`PhaseInput::CosSin`]: the graph maps the phase to (cos φ, sin φ) before the first conv,
//!   a continuous function of the complex signal e^{iφ}: a wrap is not an edge and a constant
//!   offset of the reference is a rotation of the (cos, sin) pair. Users still give the method's
//!   three layers (phase in radians, ISL, PC1); the mapping is ONNX `Slice`, `Cos`, `Sin`,
//!   `Identity` and `Concat` nodes in front of the YOLOv3 graph, run by tract and the GPU engine.
//!
//! The cos/sin graph takes the phase in radians: its `phase` channel normalisation is mean 0,
//! std 1 (nodata becomes φ = 0, i.e. (1, 0), with ISL and PC1 at 0).

use serde::{Deserialize, Serialize};

use super::contract::ChannelNorm;
use super::yolov3::ConvWeights;

/// The first operation on the phase channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseInput {
    /// The normalised phase φ/σ is the first input channel (models before v4).
    #[default]
    Scaled,
    /// (cos φ, sin φ) computed inside the graph: four channels cos φ, sin φ, ISL, PC1.
    CosSin,
}

impl PhaseInput {
    /// Channels the first conv reads: 3 (phase, ISL, PC1) or 4 (cos φ, sin φ, ISL, PC1).
    pub fn conv_channels(self) -> usize {
        match self {
            PhaseInput::Scaled => 3,
            PhaseInput::CosSin => 4,
        }
    }
}

/// The first conv of a [`PhaseInput::Scaled`] model carried over to [`PhaseInput::CosSin`]:
/// the phase kernel w_φ, which saw φ/σ, becomes the sin φ kernel w_φ/σ (sin φ ≈ φ near the
/// reference), the cos φ kernel starts at 0, ISL and PC1 keep theirs; bias and batch-norm are
/// unchanged. The network's output is then unchanged for small phases, a warm start for
/// fine-tuning. `first` holds `[out, 3, k, k]` kernels; returns `[out, 4, k, k]`.
///
/// ```
/// use fringewatch::model::phase_input::cos_sin_first_conv;
/// use fringewatch::model::yolov3::ConvWeights;
/// // one output, 1×1 kernel: phase 2, ISL 3, PC1 4; phase normalised by σ = 2
/// let scaled = ConvWeights { weight: vec![2.0, 3.0, 4.0], bias: None, batch_norm: None };
/// let cos_sin = cos_sin_first_conv(&scaled, 1, 2.0);
/// assert_eq!(cos_sin.weight, vec![0.0, 1.0, 3.0, 4.0]);
/// ```
pub fn cos_sin_first_conv(first: &ConvWeights, out_channels: usize, phase_std: f64) -> ConvWeights {
    let per_channel = first.weight.len() / (3 * out_channels.max(1));
    let mut weight = Vec::with_capacity(4 * per_channel * out_channels);
    for kernel in first.weight.chunks_exact(3 * per_channel) {
        let (phase, layers) = kernel.split_at(per_channel);
        weight.extend(std::iter::repeat_n(0.0, per_channel));
        weight.extend(phase.iter().map(|w| (f64::from(*w) / phase_std) as f32));
        weight.extend_from_slice(layers);
    }
    ConvWeights {
        weight,
        bias: first.bias.clone(),
        batch_norm: first.batch_norm.clone(),
    }
}

/// Change the reference of a normalised wrapped phase: φ' = W(±φ + offset), with W wrapping into
/// (−π, π] and the sign negative when `conjugate`. Normalised 0 is the nodata value of the model
/// contract and stays 0.
pub fn rereference_phase(
    mut phase: ndarray::ArrayViewMut2<f32>,
    norm: &ChannelNorm,
    offset: f64,
    conjugate: bool,
) {
    let sign = if conjugate { -1.0 } else { 1.0 };
    phase.mapv_inplace(|v| rewrap(v, norm, |phi| sign * phi + offset));
}

/// Add a phase screen (radians, one value per pixel) to a normalised wrapped phase:
/// φ' = W(φ + s), W wrapping into (−π, π]; nodata (normalised 0) stays nodata. What a second
/// atmosphere over the same ground does to an interferogram (Hanssen 2001 §4.7).
///
/// ```
/// use fringewatch::model::contract::ChannelNorm;
/// use fringewatch::model::phase_input::add_phase_screen;
/// let norm = ChannelNorm { name: "phase".into(), mean: 0.0, std: 1.0 };
/// let mut phase = ndarray::array![[3.0f32, 0.0, -1.0]];
/// add_phase_screen(phase.view_mut(), &norm, ndarray::array![[1.0f32, 5.0, 0.5]].view());
/// // 3 + 1 wraps to 4 − 2π; the nodata pixel stays 0
/// assert!((phase[[0, 0]] - (4.0 - 2.0 * std::f32::consts::PI)).abs() < 1e-6);
/// assert_eq!(phase[[0, 1]], 0.0);
/// assert!((phase[[0, 2]] + 0.5).abs() < 1e-6);
/// ```
pub fn add_phase_screen(
    mut phase: ndarray::ArrayViewMut2<f32>,
    norm: &ChannelNorm,
    screen: ndarray::ArrayView2<f32>,
) {
    ndarray::Zip::from(&mut phase)
        .and(&screen)
        .for_each(|v, &s| *v = rewrap(*v, norm, |phi| phi + f64::from(s)));
}

/// One normalised phase value changed in radians by `change` and wrapped again; 0 (nodata) stays
/// 0, and a value that lands exactly on the nodata code moves off it by one ulp.
fn rewrap(v: f32, norm: &ChannelNorm, change: impl Fn(f64) -> f64) -> f32 {
    if v == 0.0 {
        return 0.0;
    }
    let phi = change(f64::from(v) * norm.std + norm.mean);
    let normalised = ((crate::phase::wrap(phi) - norm.mean) / norm.std) as f32;
    if normalised == 0.0 {
        f32::MIN_POSITIVE
    } else {
        normalised
    }
}

/// The circular mean of a normalised wrapped phase, arg Σ e^{iφ} over its valid pixels
/// (φ = v·σ + μ; normalised 0 is nodata), in radians; `None` when no pixel is valid or the resultant
/// length |Σ e^{iφ}| / n is below 10⁻⁶ (no direction to take: f32 rounding of the phase alone
/// moves it). A constant offset c of the phase moves it by c (mod 2π); how exactly depends on
/// that length: rounding errors of the inputs are divided by it, so a tile whose phase is
/// spread evenly round the circle (many fringes, little stable ground) has a loose reference.
///
/// ```
/// use fringewatch::model::contract::ChannelNorm;
/// use fringewatch::model::phase_input::circular_mean_phase;
/// let norm = ChannelNorm { name: "phase".into(), mean: 0.0, std: 1.0 };
/// // 3.0 and −3.0 rad sit on either side of the wrap: their mean is π, not 0
/// let phase = ndarray::array![[3.0f32, -3.0]];
/// let mean = circular_mean_phase(phase.view(), &norm).unwrap();
/// assert!((mean.abs() - std::f64::consts::PI).abs() < 1e-6);
/// ```
pub fn circular_mean_phase(phase: ndarray::ArrayView2<f32>, norm: &ChannelNorm) -> Option<f64> {
    let (mut re, mut im, mut count) = (0.0f64, 0.0f64, 0usize);
    for &v in phase.iter().filter(|v| **v != 0.0 && v.is_finite()) {
        let phi = f64::from(v) * norm.std + norm.mean;
        re += phi.cos();
        im += phi.sin();
        count += 1;
    }
    let length = re.hypot(im);
    (count > 0 && length > 1e-6 * count as f64).then(|| im.atan2(re))
}

/// Which reference the detector sees the wrapped phase in. An interferogram's reference (the
/// phase's zero) is arbitrary: processors reference to a point, to the scene's mean, or not at
/// all, and the same scene offset by a constant carries the same information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseReference {
    /// The phase as the interferogram gives it.
    AsGiven,
    /// Each tile referenced to its own circular mean ([`circular_mean_phase`]) before the
    /// network: φ' = W(φ − φ̄). The tile the network sees, and so its boxes, no longer depend
    /// on a constant offset of the scene's phase.
    #[default]
    TileMean,
}

impl PhaseReference {
    /// [`PhaseReference::AsGiven`] (how training runs saved before the choice existed read).
    pub fn as_given() -> PhaseReference {
        PhaseReference::AsGiven
    }

    /// Re-reference one normalised phase tile in place (nodata stays 0).
    ///
    /// ```
    /// use fringewatch::model::contract::ChannelNorm;
    /// use fringewatch::model::phase_input::PhaseReference;
    /// let norm = ChannelNorm { name: "phase".into(), mean: 0.0, std: 1.0 };
    /// let mut a = ndarray::array![[0.5f32, 1.0, 0.0]];
    /// let mut b = ndarray::array![[2.5f32, 3.0, 0.0]]; // a + 2 rad; 0 is nodata in both
    /// PhaseReference::TileMean.apply(a.view_mut(), &norm);
    /// PhaseReference::TileMean.apply(b.view_mut(), &norm);
    /// assert!((a[[0, 0]] - b[[0, 0]]).abs() < 1e-6 && (a[[0, 1]] - b[[0, 1]]).abs() < 1e-6);
    /// assert_eq!(b[[0, 2]], 0.0);
    /// ```
    pub fn apply(self, phase: ndarray::ArrayViewMut2<f32>, norm: &ChannelNorm) {
        if self == PhaseReference::AsGiven {
            return;
        }
        if let Some(mean) = circular_mean_phase(phase.view(), norm) {
            rereference_phase(phase, norm, -mean, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn norm(mean: f64, std: f64) -> ChannelNorm {
        ChannelNorm {
            name: "phase".into(),
            mean,
            std,
        }
    }

    /// Stable ground with a gentle ramp, a slide's bowl of fringes (up to 9 rad) and a strip of
    /// nodata, normalised with `norm`, its phase offset by `c`.
    fn tile(c: f64, norm: &ChannelNorm) -> Array2<f32> {
        Array2::from_shape_fn((40, 40), |(r, k)| {
            if (10..14).contains(&r) && (5..30).contains(&k) {
                return 0.0;
            }
            let d2 = ((r as f64 - 28.0).powi(2) + (k as f64 - 25.0).powi(2)) / 100.0;
            let slide = if d2 < 1.0 { 9.0 * (1.0 - d2) } else { 0.0 };
            let phi = crate::phase::wrap(0.02 * k as f64 - 0.01 * r as f64 + slide + 0.8 + c);
            ((phi - norm.mean) / norm.std) as f32
        })
    }

    #[test]
    fn a_tile_referenced_to_its_mean_does_not_depend_on_a_constant_offset() {
        for n in [norm(0.0, 1.0), norm(0.1, 1.8)] {
            let mut reference = tile(0.0, &n);
            PhaseReference::TileMean.apply(reference.view_mut(), &n);
            for c in [1.3, -2.4, 3.1] {
                let mut moved = tile(c, &n);
                let before = moved.clone();
                PhaseReference::TileMean.apply(moved.view_mut(), &n);
                assert_ne!(before, moved);
                for (a, b) in reference.iter().zip(moved.iter()) {
                    assert_eq!(*a == 0.0, *b == 0.0, "nodata stays nodata");
                    // the same angle: compare on the circle (a value at ±π may come out either way)
                    let (pa, pb) = (
                        f64::from(*a) * n.std + n.mean,
                        f64::from(*b) * n.std + n.mean,
                    );
                    assert!(
                        crate::phase::wrap(pa - pb).abs() < 1e-5,
                        "{pa} vs {pb} at c = {c}"
                    );
                }
            }
            // its circular mean is then 0
            let mean = circular_mean_phase(reference.view(), &n).unwrap();
            assert!(mean.abs() < 1e-6, "{mean}");
        }
    }

    #[test]
    fn the_phase_as_given_is_left_alone_and_an_empty_tile_has_no_mean() {
        let n = norm(0.0, 1.0);
        let mut given = tile(0.7, &n);
        let before = given.clone();
        PhaseReference::AsGiven.apply(given.view_mut(), &n);
        assert_eq!(given, before);
        let mut empty = Array2::<f32>::zeros((8, 8));
        assert_eq!(circular_mean_phase(empty.view(), &n), None);
        PhaseReference::TileMean.apply(empty.view_mut(), &n);
        assert!(empty.iter().all(|v| *v == 0.0));
        // two opposite phases cancel: no direction to reference to
        let opposite = ndarray::array![[1.0f32, 1.0 - std::f32::consts::PI]];
        assert_eq!(circular_mean_phase(opposite.view(), &n), None);
    }
}
