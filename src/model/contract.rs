//! The model contract: what an ONNX file must hold to be a fringewatch detector.
//!
//! - one float32 input `images` `[N, 3, H, W]` (H, W multiples of 32, the tile size; 160 by
//!   default), channels in the order phase, ISL, PC1, each normalised as (x − mean)/std with
//!   nodata set to 0 after normalisation; a model with the cos/sin phase input
//!   ([`PhaseInput::CosSin`], metadata `phase_input: "cos-sin"`) maps the phase to (cos φ, sin φ)
//!   inside the graph and takes it in radians (phase mean 0, std 1);
//! - three raw YOLOv3 head outputs `head_s8`, `head_s16`, `head_s32` of shape
//!   `[N, 3·(5 + C), H/s, W/s]`, channel `a·(5+C) + k` holding for anchor a: tx, ty, tw, th,
//!   objectness, then C class logits;
//! - `metadata_props` entry `fringewatch` holding [`ModelMetadata`] as JSON.

use serde::{Deserialize, Serialize};

use super::phase_input::PhaseInput;
use super::yolov3::Yolov3Config;
use crate::stack::CHANNELS;

/// The classes of the method (METHOD.md §5), in the order of a model's class outputs: artefacts,
/// earthflows, earthslides, rock/debris slides. The simulator's `SignalClass` follows it.
pub const CLASS_CODES: [&str; 4] = ["AR", "CF", "CS", "FS"];

/// Mean and standard deviation of a channel; the model input is (x − mean) / std, nodata → 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelNorm {
    pub name: String,
    pub mean: f64,
    pub std: f64,
}

/// Key of the metadata entry in the ONNX file.
pub const METADATA_KEY: &str = "fringewatch";
/// Version of the metadata format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// One anchor: size in input pixels and the stride of the head it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub width: f64,
    pub height: f64,
    pub stride: usize,
}

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// False for randomly initialised (untrained) weights.
    pub trained: bool,
    /// What produced the weights (e.g. "random init, seed 0" or the training command).
    pub source: String,
    /// Training dataset manifest, when trained.
    pub dataset: Option<String>,
    pub epochs: Option<usize>,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Anything a user should know (e.g. "trained on simulated scenes only").
    pub note: String,
}

/// Everything inference needs, stored as JSON in the ONNX `metadata_props`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub format_version: u32,
    pub name: String,
    pub classes: Vec<String>,
    /// Nine anchors: three per head, strides 8, 8, 8, 16, 16, 16, 32, 32, 32.
    pub anchors: Vec<Anchor>,
    /// Input channels in order with their normalisation.
    pub channels: Vec<ChannelNorm>,
    /// Tile side in pixels (input H = W).
    pub tile: usize,
    /// Width and depth multipliers of the YOLOv3 graph.
    pub width: f64,
    pub depth: f64,
    /// How the graph's first conv sees the phase (absent in models before v4: scaled).
    #[serde(default)]
    pub phase_input: PhaseInput,
    pub provenance: Provenance,
    /// The score threshold the trainer recommends (best F1 on the validation split); detection
    /// uses it when no confidence is given, else 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_confidence: Option<f64>,
}

impl ModelMetadata {
    /// Check the contract's rules; the message says what is wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.format_version != FORMAT_VERSION {
            return Err(format!(
                "metadata format version {} (this build reads version {FORMAT_VERSION})",
                self.format_version
            ));
        }
        if self.classes.is_empty() {
            return Err("no class names".into());
        }
        if self.anchors.len() != 9 {
            return Err(format!("{} anchors (YOLOv3 needs 9)", self.anchors.len()));
        }
        for (i, a) in self.anchors.iter().enumerate() {
            let stride = super::yolov3::STRIDES[i / 3];
            if a.stride != stride || !(a.width > 0.0 && a.height > 0.0) {
                return Err(format!(
                    "anchor {i} must have a positive size and stride {stride}"
                ));
            }
        }
        let names: Vec<&str> = self.channels.iter().map(|c| c.name.as_str()).collect();
        if names != CHANNELS {
            return Err(format!(
                "input channels {names:?}; the detector input is {CHANNELS:?}"
            ));
        }
        if self
            .channels
            .iter()
            .any(|c| c.std.is_nan() || c.std <= 0.0 || !c.mean.is_finite())
        {
            return Err(
                "a channel normalisation has a non-positive std or a non-finite mean".into(),
            );
        }
        if self.phase_input == PhaseInput::CosSin
            && (self.channels[0].mean != 0.0 || self.channels[0].std != 1.0)
        {
            return Err(format!(
                "the cos/sin phase input takes the phase in radians (channel 'phase' mean 0, std 1), not mean {} std {}",
                self.channels[0].mean, self.channels[0].std
            ));
        }
        if self.tile < 32 || self.tile % 32 != 0 {
            return Err(format!("tile {} is not a multiple of 32", self.tile));
        }
        Ok(())
    }

    /// The YOLOv3 network this metadata describes.
    pub fn config(&self) -> Yolov3Config {
        Yolov3Config {
            classes: self.classes.len(),
            width: self.width,
            depth: self.depth,
            phase_input: self.phase_input,
        }
    }

    /// Confidence threshold to use when the user gives none: the model's recommendation, else 0.5.
    pub fn default_confidence(&self) -> f32 {
        self.recommended_confidence
            .filter(|c| (0.0..=1.0).contains(c))
            .unwrap_or(0.5) as f32
    }

    /// The anchors of head `h` (0: stride 8, 1: 16, 2: 32).
    pub fn head_anchors(&self, h: usize) -> &[Anchor] {
        &self.anchors[3 * h..3 * h + 3]
    }
}

/// Default channel normalisation before any training: phase/π (radians for the cos/sin input),
/// ISL centred on 0.5, PC1 as is (it is a sum of standardised variables).
pub fn default_channels(phase_input: PhaseInput) -> Vec<ChannelNorm> {
    vec![
        ChannelNorm {
            name: "phase".into(),
            mean: 0.0,
            std: match phase_input {
                PhaseInput::Scaled => std::f64::consts::PI,
                PhaseInput::CosSin => 1.0,
            },
        },
        ChannelNorm {
            name: "isl".into(),
            mean: 0.5,
            std: 0.5,
        },
        ChannelNorm {
            name: "pc1".into(),
            mean: 0.0,
            std: 1.5,
        },
    ]
}

/// Anchors of the original YOLOv3 (COCO, 416 px) scaled to a tile: a neutral default before a
/// dataset provides its own k-means anchors.
pub fn default_anchors(tile: usize) -> Vec<Anchor> {
    let coco = [
        (10.0, 13.0),
        (16.0, 30.0),
        (33.0, 23.0),
        (30.0, 61.0),
        (62.0, 45.0),
        (59.0, 119.0),
        (116.0, 90.0),
        (156.0, 198.0),
        (373.0, 326.0),
    ];
    let scale = tile as f64 / 416.0;
    coco.iter()
        .enumerate()
        .map(|(i, (w, h))| Anchor {
            width: w * scale,
            height: h * scale,
            stride: super::yolov3::STRIDES[i / 3],
        })
        .collect()
}
