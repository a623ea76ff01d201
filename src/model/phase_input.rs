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
    let (mean, std) = (norm.mean, norm.std);
    let sign = if conjugate { -1.0 } else { 1.0 };
    phase.mapv_inplace(|v| {
        if v == 0.0 {
            return 0.0;
        }
        let phi = sign * (f64::from(v) * std + mean) + offset;
        let normalised = ((crate::phase::wrap(phi) - mean) / std) as f32;
        // A value that lands exactly on the nodata code moves off it by one ulp.
        if normalised == 0.0 {
            f32::MIN_POSITIVE
        } else {
            normalised
        }
    });
}
