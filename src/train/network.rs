//! The YOLOv3 network of [`crate::model::yolov3`] as a burn module: one conv (+ batch-norm +
//! LeakyReLU 0.1) per graph conv, executed in graph order, so that what is trained is exactly
//! what the ONNX writer emits. Export folds batch-norm (W' = s·W, b' = β − s·μ, s = γ/√(σ²+ε)).

use std::collections::HashMap;

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{DType, Device, Tensor, TensorData};

use super::flex_ops;
use super::norm_leaky::merge_moments;
use crate::error::{Error, Result};
use crate::model::onnx::LEAKY_SLOPE;
use crate::model::yolov3::{self, ConvWeights, Graph, Node};

/// One graph conv: kernel (bias only on the linear output convs) and its batch-norm.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: Conv2d,
    pub norm: Option<BatchNorm>,
}

/// Every conv of the graph, in graph order.
#[derive(Module, Debug)]
pub struct Yolov3Net {
    pub blocks: Vec<ConvBlock>,
}

/// Per-channel statistics of a conv's output, for [`Yolov3Net::calibrate_batch_norm`].
#[derive(Debug, Clone)]
pub struct ChannelStatistics {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

/// Per-channel count, mean and Σ(y − mean)² of values seen in batches, each batch's sum
/// centred on its own mean (E[y²] − μ² in f32 cancels) and merged by Chan et al.'s pairwise
/// update.
#[derive(Debug, Clone)]
struct Moments {
    count: f64,
    mean: Vec<f64>,
    squares: Vec<f64>,
}

impl Moments {
    fn new(channels: usize) -> Moments {
        Moments {
            count: 0.0,
            mean: vec![0.0; channels],
            squares: vec![0.0; channels],
        }
    }

    /// Add a batch of `count` values per channel, given its per-channel means and sums of squares
    /// about them.
    fn merge(&mut self, count: f64, mean: &[f32], squares: &[f32]) {
        for c in 0..self.mean.len() {
            let batch = (count, f64::from(mean[c]), f64::from(squares[c]));
            let (_, mean, squares) =
                merge_moments((self.count, self.mean[c], self.squares[c]), batch);
            (self.mean[c], self.squares[c]) = (mean, squares);
        }
        self.count += count;
    }

    fn statistics(self) -> ChannelStatistics {
        ChannelStatistics {
            var: self.squares.iter().map(|s| s / self.count).collect(),
            mean: self.mean,
        }
    }
}

/// Initial bias of the objectness outputs: σ(−4.6) ≈ 1 % (as YOLO implementations do).
const OBJECTNESS_PRIOR_BIAS: f32 = -4.6;

impl Yolov3Net {
    /// Fresh network for `graph` (Kaiming-uniform kernels, identity batch-norm, objectness prior).
    pub fn new(graph: &Graph, device: &Device) -> Yolov3Net {
        let blocks = graph
            .convs()
            .map(|c| {
                let pad = c.kernel / 2;
                let mut conv = Conv2dConfig::new([c.in_channels, c.out_channels], [c.kernel; 2])
                    .with_stride([c.stride; 2])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .with_bias(!c.batch_norm)
                    .init(device);
                if !c.batch_norm {
                    let per_anchor = c.out_channels / 3;
                    let bias: Vec<f32> = (0..c.out_channels)
                        .map(|o| {
                            if o % per_anchor == 4 {
                                OBJECTNESS_PRIOR_BIAS
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    conv.bias = Some(Param::from_tensor(Tensor::from_data(
                        TensorData::new(bias, [c.out_channels]),
                        device,
                    )));
                }
                ConvBlock {
                    conv,
                    norm: c
                        .batch_norm
                        .then(|| BatchNormConfig::new(c.out_channels).init(device)),
                }
            })
            .collect();
        Yolov3Net { blocks }
    }

    /// Network whose inference output equals the given (folded) weights: kernels and biases are
    /// loaded, batch-norm starts as identity (γ = √(1+ε), β = bias, μ = 0, σ² = 1).
    pub fn from_weights(graph: &Graph, weights: &[ConvWeights], device: &Device) -> Result<Self> {
        let mut net = Yolov3Net::new(graph, device);
        let convs: Vec<_> = graph.convs().collect();
        if convs.len() != weights.len() {
            return Err(Error::parameter(
                "init",
                format!(
                    "the model has {} convs, the architecture {}",
                    weights.len(),
                    convs.len()
                ),
            ));
        }
        for ((block, c), w) in net.blocks.iter_mut().zip(&convs).zip(weights) {
            let (kernel, bias) = w.folded(c.out_channels);
            let shape = [c.out_channels, c.in_channels, c.kernel, c.kernel];
            if kernel.len() != shape.iter().product::<usize>() {
                return Err(Error::parameter(
                    "init",
                    format!(
                        "{}: kernel of {} values, expected {shape:?}",
                        c.name,
                        kernel.len()
                    ),
                ));
            }
            block.conv.weight =
                Param::from_tensor(Tensor::from_data(TensorData::new(kernel, shape), device));
            let bias_tensor = |values: Vec<f32>| {
                Param::from_tensor(Tensor::<1>::from_data(
                    TensorData::new(values, [c.out_channels]),
                    device,
                ))
            };
            match block.norm.as_mut() {
                Some(norm) => {
                    let eps = norm.epsilon as f32;
                    norm.gamma = bias_tensor(vec![(1.0 + eps).sqrt(); c.out_channels]);
                    norm.beta = bias_tensor(bias);
                }
                None => block.conv.bias = Some(bias_tensor(bias)),
            }
        }
        Ok(net)
    }

    /// Raw head outputs (stride 8, 16, 32) of a normalised batch `[N, 3, T, T]`.
    pub fn forward(&self, graph: &Graph, input: Tensor<4>) -> [Tensor<4>; 3] {
        self.forward_observed(graph, input, &mut |_, _| {})
    }

    /// [`Self::forward`] that shows `observe(block, output)` each conv's output before its
    /// batch-norm.
    pub fn forward_observed(
        &self,
        graph: &Graph,
        input: Tensor<4>,
        observe: &mut dyn FnMut(usize, &Tensor<4>),
    ) -> [Tensor<4>; 3] {
        let mut values: HashMap<&str, Tensor<4>> = HashMap::new();
        values.insert(graph.input.as_str(), input);
        let mut remaining_uses = uses(graph);
        let mut take = |values: &mut HashMap<&str, Tensor<4>>, name: &str| -> Tensor<4> {
            let left = remaining_uses.get_mut(name).expect("graph input");
            *left -= 1;
            if *left == 0 {
                values.remove(name).expect("computed before use")
            } else {
                values.get(name).expect("computed before use").clone()
            }
        };
        let mut block = 0;
        for node in &graph.nodes {
            match node {
                Node::Conv(c) => {
                    let b = &self.blocks[block];
                    block += 1;
                    let x = take(&mut values, &c.input);
                    let mut y = conv_forward(&b.conv, x);
                    observe(block - 1, &y);
                    if let Some(norm) = &b.norm {
                        y = norm_leaky(norm, y);
                    }
                    values.insert(c.output.as_str(), y);
                }
                Node::Add { a, b, output } => {
                    let x = take(&mut values, a);
                    let y = take(&mut values, b);
                    values.insert(output.as_str(), x + y);
                }
                Node::Upsample { input, output } => {
                    let x = take(&mut values, input);
                    values.insert(output.as_str(), upsample_nearest_2x(x));
                }
                Node::Concat { inputs, output } => {
                    let parts: Vec<Tensor<4>> =
                        inputs.iter().map(|i| take(&mut values, i)).collect();
                    values.insert(output.as_str(), Tensor::cat(parts, 1));
                }
                Node::PhaseCosSin { input, output } => {
                    let x = take(&mut values, input);
                    values.insert(output.as_str(), phase_cos_sin(x));
                }
            }
        }
        yolov3::OUTPUTS.map(|name| values.remove(name).expect("graph output"))
    }

    /// Per-channel mean and variance (biased, as batch-norm takes them) of each batch-normalised
    /// conv's output before its batch-norm, over all `batches`; `None` for the output convs.
    pub fn conv_output_statistics(
        &self,
        graph: &Graph,
        batches: impl IntoIterator<Item = Result<Tensor<4>>>,
    ) -> Result<Vec<Option<ChannelStatistics>>> {
        let mut merged: Vec<Option<Moments>> = vec![None; self.blocks.len()];
        for batch in batches {
            let mut failure = None;
            self.forward_observed(graph, batch?, &mut |k, y| {
                if self.blocks[k].norm.is_none() || failure.is_some() {
                    return;
                }
                let [n, _, h, w] = y.dims();
                let mean = y.clone().mean_dim(0).mean_dim(2).mean_dim(3);
                let centred = y.clone() - mean.clone();
                let squares = (centred.clone() * centred).sum_dim(0).sum_dim(2).sum_dim(3);
                match (to_vec(mean), to_vec(squares)) {
                    (Ok(mean), Ok(squares)) => merged[k]
                        .get_or_insert_with(|| Moments::new(mean.len()))
                        .merge((n * h * w) as f64, &mean, &squares),
                    (Err(e), _) | (_, Err(e)) => failure = Some(e),
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(merged
            .into_iter()
            .map(|m| m.map(Moments::statistics))
            .collect())
    }

    /// Batch-norm that keeps, in training mode too, the function of a network made by
    /// [`Self::from_weights`] (whose identity batch-norm reproduces the folded weights only in
    /// inference mode: training normalises each channel by its batch statistics, so a
    /// fine-tuning run would start from another network). With each conv output's statistics
    /// (μ, σ²) on the data, γ = √(σ² + ε), β = b + μ and running statistics (μ, σ²) give
    /// γ·(y − μ)/√(σ² + ε) + β = y + b, the folded output, whichever the mode.
    pub fn calibrate_batch_norm(
        &mut self,
        statistics: &[Option<ChannelStatistics>],
        device: &Device,
    ) -> Result<()> {
        let tensor = |values: Vec<f64>| {
            let n = values.len();
            Tensor::<1>::from_data(
                TensorData::new(values.into_iter().map(|v| v as f32).collect(), [n]),
                device,
            )
        };
        for (block, stats) in self.blocks.iter_mut().zip(statistics) {
            let (Some(norm), Some(stats)) = (block.norm.as_mut(), stats) else {
                continue;
            };
            let bias = to_vec(norm.beta.val())?;
            let eps = norm.epsilon;
            norm.gamma =
                Param::from_tensor(tensor(stats.var.iter().map(|v| (v + eps).sqrt()).collect()));
            norm.beta = Param::from_tensor(tensor(
                bias.iter()
                    .zip(&stats.mean)
                    .map(|(b, m)| f64::from(*b) + m)
                    .collect(),
            ));
            norm.running_mean = RunningState::new(tensor(stats.mean.clone()));
            norm.running_var = RunningState::new(tensor(stats.var.clone()));
        }
        Ok(())
    }

    /// Weights in the ONNX writer's form (one per conv, graph order), batch-norm unfolded.
    pub fn conv_weights(&self) -> Result<Vec<ConvWeights>> {
        self.blocks
            .iter()
            .map(|b| {
                let weight = to_vec(b.conv.weight.val())?;
                let bias = match &b.conv.bias {
                    Some(p) => Some(to_vec(p.val())?),
                    None => None,
                };
                let batch_norm = match &b.norm {
                    Some(n) => Some(yolov3::BatchNorm {
                        gamma: to_vec(n.gamma.val())?,
                        beta: to_vec(n.beta.val())?,
                        mean: to_vec(n.running_mean.value())?,
                        var: to_vec(n.running_var.value())?,
                        eps: n.epsilon as f32,
                    }),
                    None => None,
                };
                Ok(ConvWeights {
                    weight,
                    bias,
                    batch_norm,
                })
            })
            .collect()
    }
}

/// How many nodes read each tensor (outputs count once, so they stay to the end).
fn uses(graph: &Graph) -> HashMap<&str, usize> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for node in &graph.nodes {
        let inputs: Vec<&str> = match node {
            Node::Conv(c) => vec![c.input.as_str()],
            Node::Add { a, b, .. } => vec![a.as_str(), b.as_str()],
            Node::Upsample { input, .. } => vec![input.as_str()],
            Node::Concat { inputs, .. } => inputs.iter().map(String::as_str).collect(),
            Node::PhaseCosSin { input, .. } => vec![input.as_str()],
        };
        for i in inputs {
            *count.entry(i).or_default() += 1;
        }
    }
    for o in &graph.outputs {
        *count.entry(o.as_str()).or_default() += 1;
    }
    count
}

/// (φ, ISL, PC1) → (cos φ, sin φ, ISL, PC1) on channels, as the ONNX writer emits it
/// ([`crate::model::phase_input::PhaseInput::CosSin`]).
pub fn phase_cos_sin(x: Tensor<4>) -> Tensor<4> {
    let phase = x.clone().narrow(1, 0, 1);
    let layers = x.narrow(1, 1, 2);
    Tensor::cat(vec![phase.clone().cos(), phase.sin(), layers], 1)
}

/// Nearest-neighbour ×2 upsampling, out[y, x] = in[⌊y/2⌋, ⌊x/2⌋] (ONNX Resize nearest,
/// asymmetric, floor).
pub fn upsample_nearest_2x(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([n, c, 2 * h, 2 * w])
}

/// The values of a tensor, row-major.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Error::parameter("tensor", format!("{e:?}")))
}

/// LeakyReLU with the model contract's slope s, as s·x + (1 − s)·relu(x): burn's own
/// `leaky_relu` has no backward of its own on the autodiff backend and runs as a comparison, a
/// scaling and a masked select forward and back; `relu` and scalings have single-pass kernels.
fn leaky_relu(x: Tensor<4>) -> Tensor<4> {
    let slope = f64::from(LEAKY_SLOPE);
    x.clone().mul_scalar(slope) + relu(x).mul_scalar(1.0 - slope)
}

/// LeakyReLU(batch-norm(y)). As burn's `BatchNorm::forward`: on a device with autodiff and
/// a layer in training, with the batch's statistics, which move the running ones by the
/// momentum; else with the running ones. On flex by the trainer's own operation
/// ([`flex_ops::norm_leaky`]), elsewhere by burn's.
fn norm_leaky(norm: &BatchNorm, y: Tensor<4>) -> Tensor<4> {
    let device = y.device();
    if !flex_ops::on_flex(&device) || y.dtype() != DType::F32 {
        return leaky_relu(norm.forward(y));
    }
    let training = device.is_autodiff() && norm.training.is_enabled();
    let moments = if training {
        let moments = flex_ops::moments(y.clone());
        let [channels] = norm.gamma.dims();
        let update = |running: &RunningState<Tensor<1>>, start: usize| {
            let batch = moments.clone().narrow(0, start, channels);
            let value = running
                .value_sync()
                .to_device(&device)
                .mul_scalar(1.0 - norm.momentum)
                .add(batch.mul_scalar(norm.momentum));
            running.update(value.detach());
        };
        update(&norm.running_mean, 0);
        update(&norm.running_var, channels);
        moments
    } else {
        Tensor::cat(vec![norm.running_mean.value(), norm.running_var.value()], 0).to_device(&device)
    };
    flex_ops::norm_leaky(
        y,
        norm.gamma.val(),
        norm.beta.val(),
        moments,
        (norm.epsilon, f64::from(LEAKY_SLOPE)),
        training,
    )
}

/// A conv's output. A 1×1 kernel is one batched matrix product, y[n] = W[O, C] · x[n][C, H·W],
/// read from the NCHW tensor as it lies (burn-flex's convolution copies it to NHWC and builds
/// columns even for 1×1; its backward passes through two more convolutions): a step 4–5 %
/// faster. Other kernels on flex by the trainer's column convolution ([`flex_ops::conv`]),
/// elsewhere (the GPU trainer) by burn's.
fn conv_forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [o, c, kh, kw] = conv.weight.dims();
    if kh != 1 || kw != 1 || conv.stride != [1, 1] {
        return match (&conv.padding, conv.bias.is_none() && kh == kw) {
            (&PaddingConfig2d::Explicit(top, left, bottom, right), true)
                if [left, bottom, right] == [top; 3]
                    && conv.stride[0] == conv.stride[1]
                    && conv.dilation == [1, 1]
                    && conv.groups == 1
                    && flex_ops::on_flex(&x.device()) =>
            {
                flex_ops::conv(x, conv.weight.val(), conv.stride[0], top)
            }
            _ => conv.forward(x),
        };
    }
    let [n, _, h, w] = x.dims();
    let y = conv
        .weight
        .val()
        .reshape([1, o, c])
        .matmul(x.reshape([n, c, h * w]));
    let y = match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, o, 1]),
        None => y,
    };
    y.reshape([n, o, h, w])
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// On flex the trainer's batch-norm moves the running statistics as burn's does, and
    /// gives burn's output, in training and in inference.
    #[test]
    fn the_trainers_batch_norm_keeps_burns_running_statistics() {
        let device = Device::flex().autodiff();
        let norm = BatchNormConfig::new(5).init(&device);
        let burns = BatchNormConfig::new(5).init(&device);
        let values = |t: Tensor<1>| to_vec(t).unwrap();
        for step in 0..3 {
            let x = Tensor::<4>::random(
                [2, 5, 4, 3],
                Distribution::Normal(step as f64, 2.0),
                &device,
            );
            let ours = norm_leaky(&norm, x.clone());
            let reference = leaky_relu(burns.forward(x));
            let (a, b) = (to_vec(ours).unwrap(), to_vec(reference).unwrap());
            assert!(
                a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-4),
                "step {step}"
            );
            for (a, b) in [
                (
                    values(norm.running_mean.value_sync()),
                    values(burns.running_mean.value_sync()),
                ),
                (
                    values(norm.running_var.value_sync()),
                    values(burns.running_var.value_sync()),
                ),
            ] {
                assert!(
                    a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-5),
                    "{a:?} {b:?}"
                );
                assert!(a.iter().any(|v| *v != 0.0 && *v != 1.0), "not moved: {a:?}");
            }
        }
        let plain = Device::flex();
        let (norm, burns) = (norm.valid(), burns.valid());
        let x = Tensor::<4>::random([2, 5, 4, 3], Distribution::Normal(1.0, 2.0), &plain);
        let (a, b) = (
            to_vec(norm_leaky(&norm, x.clone())).unwrap(),
            to_vec(leaky_relu(burns.forward(x))).unwrap(),
        );
        assert!(a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-4));
    }
}
