//! The YOLOv3 network (Redmon & Farhadi 2018; METHOD.md §5) as a graph of named layers, with
//! width and depth multipliers: 1.0/1.0 is the full Darknet-53 YOLOv3, smaller values give compact
//! variants. The graph is what the ONNX writer emits and what a trainer mirrors, layer by layer.
//!
//! Backbone: conv 32 (3×3) then five stride-2 stages of 64/128/256/512/1024 channels with 1, 2,
//! 8, 8, 4 residual blocks (1×1 c/2 → 3×3 c, added to the input). Heads at strides 32, 16, 8:
//! five alternating 1×1/3×3 convs, a 3×3 conv and a 1×1 linear conv to 3·(5 + C) channels; the
//! 1×1 branch of the coarser head is upsampled ×2 (nearest) and concatenated with the backbone
//! feature of the finer stride. Every conv but the three outputs has batch-norm and LeakyReLU 0.1.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

pub use super::phase_input::PhaseInput;

/// Size multipliers and class count of a YOLOv3 network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Yolov3Config {
    pub classes: usize,
    /// Channel multiplier (1.0 = Darknet-53).
    pub width: f64,
    /// Residual-block multiplier (1.0 = 1, 2, 8, 8, 4 blocks).
    pub depth: f64,
    /// What the first conv reads of the phase (models before v4: the scaled phase).
    #[serde(default)]
    pub phase_input: PhaseInput,
}

/// The YOLOv3 sizes fringewatch builds and trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Width 0.25, depth 0.33: ~2.4 M parameters, ~0.39 GFLOPs per 160×160 tile.
    Compact,
    /// The full Darknet-53 YOLOv3: ~61.5 M parameters, ~9.7 GFLOPs per 160×160 tile.
    Full,
}

impl Yolov3Config {
    pub fn of(architecture: Architecture, classes: usize) -> Yolov3Config {
        match architecture {
            Architecture::Full => Yolov3Config {
                classes,
                width: 1.0,
                depth: 1.0,
                phase_input: PhaseInput::Scaled,
            },
            Architecture::Compact => Yolov3Config {
                classes,
                width: 0.25,
                depth: 0.33,
                phase_input: PhaseInput::Scaled,
            },
        }
    }

    /// The same network with `width` as its channel multiplier.
    pub fn with_width(self, width: f64) -> Yolov3Config {
        Yolov3Config { width, ..self }
    }

    /// The same network reading the phase as `phase_input` says.
    pub fn with_phase_input(self, phase_input: PhaseInput) -> Yolov3Config {
        Yolov3Config {
            phase_input,
            ..self
        }
    }

    /// Channels of a layer of `c` channels in the full network (multiple of 8, at least 8).
    pub fn channels(&self, c: usize) -> usize {
        (((c as f64 * self.width) / 8.0).round() as usize * 8).max(8)
    }

    /// Residual blocks of a stage of `n` blocks in the full network (at least 1).
    pub fn repeats(&self, n: usize) -> usize {
        ((n as f64 * self.depth).round() as usize).max(1)
    }

    /// Output channels of each head: 3·(5 + C).
    pub fn head_channels(&self) -> usize {
        3 * (5 + self.classes)
    }
}

/// A convolution layer: input and output tensor names, shape, and whether batch-norm and
/// LeakyReLU follow (false for the linear output convs, which have a bias instead).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvLayer {
    pub name: String,
    pub input: String,
    pub output: String,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub batch_norm: bool,
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Conv(ConvLayer),
    /// Residual addition.
    Add {
        a: String,
        b: String,
        output: String,
    },
    /// Nearest-neighbour ×2 upsampling.
    Upsample {
        input: String,
        output: String,
    },
    /// Channel concatenation, in input order.
    Concat {
        inputs: Vec<String>,
        output: String,
    },
    /// The phase channel mapped to (cos φ, sin φ): `[N, 3, H, W]` (φ, ISL, PC1) →
    /// `[N, 4, H, W]` (cos φ, sin φ, ISL, PC1); see [`PhaseInput::CosSin`].
    PhaseCosSin {
        input: String,
        output: String,
    },
}

/// The network: nodes in execution order, input name, and the three head outputs ordered by
/// stride 8, 16, 32.
#[derive(Debug, Clone)]
pub struct Graph {
    pub config: Yolov3Config,
    pub input: String,
    pub nodes: Vec<Node>,
    pub outputs: [String; 3],
}

/// Name of the graph's input tensor.
pub const INPUT: &str = "images";
/// Name of the (cos φ, sin φ, ISL, PC1) tensor of a [`PhaseInput::CosSin`] graph.
pub const PHASE_COS_SIN: &str = "phase_cos_sin";
/// Names of the three head outputs, by stride 8, 16, 32.
pub const OUTPUTS: [&str; 3] = ["head_s8", "head_s16", "head_s32"];
/// The strides of the heads, in output order.
pub const STRIDES: [usize; 3] = [8, 16, 32];

struct Builder {
    nodes: Vec<Node>,
    count: usize,
}

impl Builder {
    fn conv(
        &mut self,
        input: &str,
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        stride: usize,
    ) -> String {
        self.count += 1;
        let name = format!("conv{:03}", self.count);
        let output = format!("{name}_out");
        self.nodes.push(Node::Conv(ConvLayer {
            name,
            input: input.to_string(),
            output: output.clone(),
            in_channels: in_ch,
            out_channels: out_ch,
            kernel,
            stride,
            batch_norm: true,
        }));
        output
    }

    fn output_conv(&mut self, input: &str, in_ch: usize, out_ch: usize, output: &str) {
        self.count += 1;
        self.nodes.push(Node::Conv(ConvLayer {
            name: format!("conv{:03}", self.count),
            input: input.to_string(),
            output: output.to_string(),
            in_channels: in_ch,
            out_channels: out_ch,
            kernel: 1,
            stride: 1,
            batch_norm: false,
        }));
    }

    fn residual(&mut self, input: &str, ch: usize) -> String {
        let a = self.conv(input, ch, ch / 2, 1, 1);
        let b = self.conv(&a, ch / 2, ch, 3, 1);
        let output = format!("add{:03}", self.count);
        self.nodes.push(Node::Add {
            a: input.to_string(),
            b,
            output: output.clone(),
        });
        output
    }

    /// Five alternating 1×1 (c) / 3×3 (2c) convs; returns the last 1×1 output.
    fn conv_set(&mut self, input: &str, in_ch: usize, c: usize) -> String {
        let mut x = self.conv(input, in_ch, c, 1, 1);
        x = self.conv(&x, c, 2 * c, 3, 1);
        x = self.conv(&x, 2 * c, c, 1, 1);
        x = self.conv(&x, c, 2 * c, 3, 1);
        self.conv(&x, 2 * c, c, 1, 1)
    }
}

/// Refuses a tile side the network cannot read: every head must see whole cells, so a side is a
/// multiple of the coarsest stride (32), and at least two such cells (64). `what` names the
/// setting in the message.
pub fn check_tile_size(what: &str, px: usize) -> crate::error::Result<()> {
    if px >= 64 && px % STRIDES[2] == 0 {
        Ok(())
    } else {
        Err(crate::error::Error::parameter(
            what,
            format!("{px} px: give a multiple of 32 (the coarsest stride), at least 64"),
        ))
    }
}

/// Build the YOLOv3 graph for `config`.
pub fn build_graph(config: Yolov3Config) -> Graph {
    let ch = |c| config.channels(c);
    let mut b = Builder {
        nodes: Vec::new(),
        count: 0,
    };
    let first_input = match config.phase_input {
        PhaseInput::Scaled => INPUT,
        PhaseInput::CosSin => {
            b.nodes.push(Node::PhaseCosSin {
                input: INPUT.to_string(),
                output: PHASE_COS_SIN.to_string(),
            });
            PHASE_COS_SIN
        }
    };
    let mut x = b.conv(
        first_input,
        config.phase_input.conv_channels(),
        ch(32),
        3,
        1,
    );
    let mut skips = Vec::new();
    let mut in_ch = ch(32);
    for (stage, (c, n)) in [(64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)]
        .into_iter()
        .enumerate()
    {
        x = b.conv(&x, in_ch, ch(c), 3, 2);
        for _ in 0..config.repeats(n) {
            x = b.residual(&x, ch(c));
        }
        in_ch = ch(c);
        if stage >= 2 {
            skips.push((x.clone(), ch(c)));
        }
    }
    let head = config.head_channels();
    // Stride 32.
    let (s32, s32_ch) = skips[2].clone();
    let set32 = b.conv_set(&s32, s32_ch, ch(512));
    let pre32 = b.conv(&set32, ch(512), ch(1024), 3, 1);
    b.output_conv(&pre32, ch(1024), head, OUTPUTS[2]);
    // Stride 16.
    let lateral = b.conv(&set32, ch(512), ch(256), 1, 1);
    let up16 = "upsample16".to_string();
    b.nodes.push(Node::Upsample {
        input: lateral,
        output: up16.clone(),
    });
    let (s16, s16_ch) = skips[1].clone();
    let cat16 = "concat16".to_string();
    b.nodes.push(Node::Concat {
        inputs: vec![up16, s16],
        output: cat16.clone(),
    });
    let set16 = b.conv_set(&cat16, ch(256) + s16_ch, ch(256));
    let pre16 = b.conv(&set16, ch(256), ch(512), 3, 1);
    b.output_conv(&pre16, ch(512), head, OUTPUTS[1]);
    // Stride 8.
    let lateral = b.conv(&set16, ch(256), ch(128), 1, 1);
    let up8 = "upsample8".to_string();
    b.nodes.push(Node::Upsample {
        input: lateral,
        output: up8.clone(),
    });
    let (s8, s8_ch) = skips[0].clone();
    let cat8 = "concat8".to_string();
    b.nodes.push(Node::Concat {
        inputs: vec![up8, s8],
        output: cat8.clone(),
    });
    let set8 = b.conv_set(&cat8, ch(128) + s8_ch, ch(128));
    let pre8 = b.conv(&set8, ch(128), ch(256), 3, 1);
    b.output_conv(&pre8, ch(256), head, OUTPUTS[0]);
    Graph {
        config,
        input: INPUT.to_string(),
        nodes: b.nodes,
        outputs: OUTPUTS.map(String::from),
    }
}

impl Graph {
    pub fn convs(&self) -> impl Iterator<Item = &ConvLayer> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Conv(c) => Some(c),
            _ => None,
        })
    }

    /// Number of parameters after batch-norm folding (weights + biases).
    pub fn parameter_count(&self) -> usize {
        self.convs()
            .map(|c| c.out_channels * c.in_channels * c.kernel * c.kernel + c.out_channels)
            .sum()
    }

    /// Multiply-accumulate count ×2 (FLOPs) of one `size`×`size` tile.
    pub fn flops(&self, size: usize) -> f64 {
        let mut spatial = std::collections::HashMap::new();
        spatial.insert(self.input.clone(), size);
        let mut total = 0.0;
        for node in &self.nodes {
            match node {
                Node::Conv(c) => {
                    let s_in = spatial.get(&c.input).copied().unwrap_or(size);
                    let s_out = s_in / c.stride;
                    total += 2.0
                        * (c.out_channels * c.in_channels * c.kernel * c.kernel * s_out * s_out)
                            as f64;
                    spatial.insert(c.output.clone(), s_out);
                }
                Node::Add { a, output, .. } => {
                    let s = spatial.get(a).copied().unwrap_or(size);
                    spatial.insert(output.clone(), s);
                }
                Node::Upsample { input, output } => {
                    let s = spatial.get(input).copied().unwrap_or(size) * 2;
                    spatial.insert(output.clone(), s);
                }
                Node::PhaseCosSin { output, .. } => {
                    spatial.insert(output.clone(), size);
                }
                Node::Concat { inputs, output } => {
                    let s = spatial.get(&inputs[0]).copied().unwrap_or(size);
                    spatial.insert(output.clone(), s);
                }
            }
        }
        total
    }
}

/// Batch-norm statistics and affine parameters of a conv (inference form).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub eps: f32,
}

/// Weights of one conv: kernel [out, in, k, k] row-major, optional bias and batch-norm.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvWeights {
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub batch_norm: Option<BatchNorm>,
}

impl ConvWeights {
    /// Fold batch-norm into kernel and bias: s = γ/√(σ²+ε), W' = s·W, b' = β + s·(b − μ).
    pub fn folded(&self, out_channels: usize) -> (Vec<f32>, Vec<f32>) {
        let per_out = self.weight.len() / out_channels.max(1);
        let bias = self.bias.clone().unwrap_or_else(|| vec![0.0; out_channels]);
        match &self.batch_norm {
            None => (self.weight.clone(), bias),
            Some(bn) => {
                let mut w = self.weight.clone();
                let mut b = vec![0.0; out_channels];
                for o in 0..out_channels {
                    let s = bn.gamma[o] / (bn.var[o] + bn.eps).sqrt();
                    for v in &mut w[o * per_out..(o + 1) * per_out] {
                        *v *= s;
                    }
                    b[o] = bn.beta[o] + s * (bias[o] - bn.mean[o]);
                }
                (w, b)
            }
        }
    }
}

/// Deterministic random weights (seeded): kernels N(0, 1/fan_in), batch-norm statistics drawn
/// around identity so that folding is exercised, output biases set for an objectness prior of
/// ~1 % (b = −4.6), as YOLO implementations initialise them.
pub fn random_weights(graph: &Graph, seed: u64) -> Vec<ConvWeights> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    graph
        .convs()
        .map(|c| {
            let fan_in = (c.in_channels * c.kernel * c.kernel) as f64;
            let std = (1.0 / fan_in).sqrt();
            let weight: Vec<f32> = (0..c.out_channels * c.in_channels * c.kernel * c.kernel)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    (z * std) as f32
                })
                .collect();
            if c.batch_norm {
                let n = c.out_channels;
                ConvWeights {
                    weight,
                    bias: None,
                    batch_norm: Some(BatchNorm {
                        gamma: (0..n).map(|_| rng.random_range(0.8..1.2)).collect(),
                        beta: (0..n).map(|_| rng.random_range(-0.1..0.1)).collect(),
                        mean: (0..n).map(|_| rng.random_range(-0.1..0.1)).collect(),
                        var: (0..n).map(|_| rng.random_range(0.8..1.2)).collect(),
                        eps: 1e-5,
                    }),
                }
            } else {
                let per_anchor = c.out_channels / 3;
                let bias = (0..c.out_channels)
                    .map(|o| if o % per_anchor == 4 { -4.6 } else { 0.0 })
                    .collect();
                ConvWeights {
                    weight,
                    bias: Some(bias),
                    batch_norm: None,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_yolov3_has_the_published_size() {
        // METHOD.md §5: ~61.5 M parameters and 65.3 GFLOPs at 416×416 for 80 classes.
        let graph = build_graph(Yolov3Config::of(Architecture::Full, 80));
        let params = graph.parameter_count() as f64 / 1e6;
        assert!((params - 61.5).abs() < 0.5, "{params} M parameters");
        let gflops = graph.flops(416) / 1e9;
        assert!((gflops - 65.3).abs() < 1.5, "{gflops} GFLOPs");
        assert_eq!(graph.convs().count(), 75);
        // The sizes `--arch`'s help gives, for our 4 classes at 160×160 tiles.
        let ours = |a| build_graph(Yolov3Config::of(a, 4));
        let (full, compact) = (ours(Architecture::Full), ours(Architecture::Compact));
        let params = full.parameter_count() as f64 / 1e6;
        assert!((params - 61.5).abs() < 0.5, "full: {params} M parameters");
        let gflops = full.flops(160) / 1e9;
        assert!((gflops - 9.7).abs() < 0.1, "full: {gflops} GFLOPs");
        let params = compact.parameter_count() as f64 / 1e6;
        assert!(
            (params - 2.4).abs() < 0.05,
            "compact: {params} M parameters"
        );
        let gflops = compact.flops(160) / 1e9;
        assert!((gflops - 0.39).abs() < 0.01, "compact: {gflops} GFLOPs");
    }

    #[test]
    fn the_cos_sin_input_adds_a_prelude_and_one_input_channel() {
        let compact = Yolov3Config::of(Architecture::Compact, 4);
        let scaled = build_graph(compact);
        let cos_sin = build_graph(compact.with_phase_input(PhaseInput::CosSin));
        assert!(matches!(
            &cos_sin.nodes[0],
            Node::PhaseCosSin { input, output } if input == INPUT && output == PHASE_COS_SIN
        ));
        let first = cos_sin.convs().next().unwrap();
        assert_eq!(
            (first.input.as_str(), first.in_channels),
            (PHASE_COS_SIN, 4)
        );
        assert_eq!(
            cos_sin.parameter_count() - scaled.parameter_count(),
            first.out_channels * 9
        );
        assert_eq!(scaled.convs().next().unwrap().in_channels, 3);
    }

    #[test]
    fn folding_matches_batch_norm() {
        let w = ConvWeights {
            weight: vec![1.0, 2.0],
            bias: None,
            batch_norm: Some(BatchNorm {
                gamma: vec![2.0, 1.0],
                beta: vec![0.5, 0.0],
                mean: vec![1.0, -1.0],
                var: vec![4.0, 1.0],
                eps: 0.0,
            }),
        };
        let (k, b) = w.folded(2);
        // out0: 2/2 = 1 → W 1, b = 0.5 − 1 = −0.5; out1: s = 1 → W 2, b = 0 + 1 = 1.
        assert_eq!(k, vec![1.0, 2.0]);
        assert_eq!(b, vec![-0.5, 1.0]);
    }
}
