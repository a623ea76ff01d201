//! The trainer's own operations on burn's flex CPU backend, each with its autodiff step: the
//! k×k convolutions as the column products of [`super::im2col`], and batch-norm with the
//! LeakyReLU in two passes ([`super::norm_leaky`]). A burn backend extension for `Flex`; other
//! backends (the GPU trainer) keep burn's own operations.
//!
//! burn 0.22 computes a convolution's weight gradient on flex as a convolution of the batch by
//! the output gradient (`conv2d_weight_grad_no_groups`) and its input gradient as a transposed
//! convolution; here each is one SGEMM per image over the image's columns. Its batch-norm takes
//! the statistics through transposed copies and, with the activation, makes a dozen passes over
//! the tensor each way; here the forward makes two and the backward two.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Dispatch, DispatchDevice, Flex};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};

use super::im2col::{conv_backward, conv_forward, ConvGeometry};
use super::norm_leaky::{channel_moments, norm_leaky_backward, norm_leaky_forward, NormLeaky};

/// The trainer's operations on flex.
#[backend_extension(Flex, Autodiff)]
pub trait TrainerOps: burn::backend::Backend {
    /// A convolution without bias, groups or dilation, with the same zero padding on every
    /// side: y `[N, O, H', W']` of x `[N, C, H, W]` and weights `[O, C, k, k]`.
    fn column_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// Per-channel mean and biased variance of x `[N, C, H, W]`, `[2·C]` (means first); no
    /// gradient flows through them.
    fn channel_moments(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Batch-norm with `moments` (`[2·C]`, as [`TrainerOps::channel_moments`] gives them),
    /// γ, β and ε, then the LeakyReLU of the given slope. `batch_statistics`: the moments are
    /// x's own, so that the gradient accounts for them.
    #[allow(clippy::too_many_arguments)]
    fn norm_leaky(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
        batch_statistics: bool,
    ) -> FloatTensor<Self>;
}

/// The convolution's sizes, read off the tensors.
fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: usize) -> ConvGeometry {
    let [batch, channels, height, width] = x.layout().shape().dims();
    let [out_channels, _, kernel, _] = weight.layout().shape().dims();
    ConvGeometry {
        batch,
        channels,
        height,
        width,
        out_channels,
        kernel,
        stride,
        padding,
    }
}

/// The f32 values of a contiguous tensor ([`FlexTensor::to_contiguous`]), row-major.
fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("the trainer's tensors are contiguous f32 here")
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Whether the column products apply: f32, a square kernel that fits the padded image, and
/// as many input channels as the kernel reads.
fn applies(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: usize) -> bool {
    let [_, c, _, _] = x.layout().shape().dims();
    let [_, wc, kh, kw] = weight.layout().shape().dims();
    x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && kh == kw
        && wc == c
        && geometry(x, weight, stride, padding).is_valid()
}

/// Channels and pixels per channel of an `[N, C, H, W]` activation.
fn planes(x: &FlexTensor) -> (usize, usize) {
    let [_, channels, height, width] = x.layout().shape().dims();
    (channels, height * width)
}

impl TrainerOps for Flex {
    fn column_conv(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        if !applies(&x, &weight, stride, padding) {
            let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
            return Flex::conv2d(x, weight, None, options);
        }
        let g = geometry(&x, &weight, stride, padding);
        let y = with_slices(&x, &weight, |x, w| conv_forward(x, w, &g));
        tensor(y, [g.batch, g.out_channels, g.out_height(), g.out_width()])
    }

    fn channel_moments(x: FlexTensor) -> FlexTensor {
        let (channels, pixels) = planes(&x);
        let x = x.to_contiguous();
        tensor(channel_moments(slice(&x), channels, pixels), [2 * channels])
    }

    fn norm_leaky(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        moments: FlexTensor,
        epsilon: f64,
        slope: f64,
        _batch_statistics: bool,
    ) -> FlexTensor {
        let (_, pixels) = planes(&x);
        let shape = x.layout().shape().dims::<4>();
        let [x, gamma, beta, moments] =
            [&x, &gamma, &beta, &moments].map(FlexTensor::to_contiguous);
        let norm = NormLeaky {
            gamma: slice(&gamma),
            beta: slice(&beta),
            moments: slice(&moments),
            epsilon,
            slope: slope as f32,
        };
        tensor(norm_leaky_forward(slice(&x), &norm, pixels), shape)
    }
}

/// `f` on the f32 values of two tensors.
fn with_slices<R>(a: &FlexTensor, b: &FlexTensor, f: impl FnOnce(&[f32], &[f32]) -> R) -> R {
    let (a, b) = (a.to_contiguous(), b.to_contiguous());
    f(slice(&a), slice(&b))
}

#[derive(Debug)]
struct ColumnConvBackward;

impl Backward<Flex, 2> for ColumnConvBackward {
    /// The input, the weights, the stride and the padding.
    type State = (FlexTensor, FlexTensor, usize, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, stride, padding) = ops.state;
        if !applies(&x, &weight, stride, padding) {
            let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
            if let Some(node) = node_x {
                let dx = Flex::conv2d_x_backward(
                    x.clone(),
                    weight.clone(),
                    grad.clone(),
                    options.clone(),
                );
                grads.register::<Flex>(node.id, dx);
            }
            if let Some(node) = node_weight {
                let dw = Flex::conv2d_weight_backward(x, weight, grad, options);
                grads.register::<Flex>(node.id, dw);
            }
            return;
        }
        let g = geometry(&x, &weight, stride, padding);
        let grad = grad.to_contiguous();
        let (dx, dw) = with_slices(&x, &weight, |x, w| conv_backward(x, w, slice(&grad), &g));
        if let Some(node) = node_x {
            grads.register::<Flex>(
                node.id,
                tensor(dx, [g.batch, g.channels, g.height, g.width]),
            );
        }
        if let Some(node) = node_weight {
            let shape = [g.out_channels, g.channels, g.kernel, g.kernel];
            grads.register::<Flex>(node.id, tensor(dw, shape));
        }
    }
}

#[derive(Debug)]
struct NormLeakyBackward;

impl Backward<Flex, 3> for NormLeakyBackward {
    /// x, γ, β, the moments, ε, the slope and whether the moments are x's own.
    type State = (
        FlexTensor,
        FlexTensor,
        FlexTensor,
        FlexTensor,
        f64,
        f64,
        bool,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, beta, moments, epsilon, slope, batch_statistics) = ops.state;
        let (_, pixels) = planes(&x);
        let shape = x.layout().shape().dims::<4>();
        let channels = shape[1];
        let [x, gamma, beta, moments, grad] =
            [&x, &gamma, &beta, &moments, &grad].map(FlexTensor::to_contiguous);
        let norm = NormLeaky {
            gamma: slice(&gamma),
            beta: slice(&beta),
            moments: slice(&moments),
            epsilon,
            slope: slope as f32,
        };
        let (dx, dgamma, dbeta) =
            norm_leaky_backward(slice(&x), slice(&grad), &norm, pixels, batch_statistics);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, [channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, [channels]));
        }
    }
}

impl<C: CheckpointStrategy> TrainerOps for Autodiff<Flex, C> {
    fn column_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        match ColumnConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let y = Flex::column_conv(x.clone(), weight.clone(), stride, padding);
                prep.finish((x, weight, stride, padding), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::column_conv(
                x.into_primitive(),
                weight.into_primitive(),
                stride,
                padding,
            )),
        }
    }

    fn channel_moments(x: FloatTensor<Self>) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(Flex::channel_moments(x.into_primitive()))
    }

    fn norm_leaky(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
        batch_statistics: bool,
    ) -> FloatTensor<Self> {
        let moments = moments.into_primitive();
        match NormLeakyBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, gamma, beta) = (
                    x.primitive().clone(),
                    gamma.primitive().clone(),
                    beta.primitive().clone(),
                );
                let y = Flex::norm_leaky(
                    x.clone(),
                    gamma.clone(),
                    beta.clone(),
                    moments.clone(),
                    epsilon,
                    slope,
                    batch_statistics,
                );
                let state = (x, gamma, beta, moments, epsilon, slope, batch_statistics);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::norm_leaky(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                moments,
                epsilon,
                slope,
                batch_statistics,
            )),
        }
    }
}

/// Whether tensors on `device` run on flex, with or without autodiff.
pub fn on_flex(device: &burn::tensor::Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// The convolution of `x` `[N, C, H, W]` by `weight` `[O, C, k, k]` (stride, zero padding on
/// every side) through [`TrainerOps::column_conv`]; only for tensors [`on_flex`].
pub fn conv(x: Tensor<4>, weight: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as TrainerOps>::column_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        padding,
    ))
}

/// Per-channel mean and biased variance of x `[N, C, H, W]`, `[2·C]` (means first), without
/// gradient ([`TrainerOps::channel_moments`]); only for tensors [`on_flex`].
pub fn moments(x: Tensor<4>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as TrainerOps>::channel_moments(x.into_dispatch()))
}

/// LeakyReLU(batch-norm(x)) ([`TrainerOps::norm_leaky`]); only for tensors [`on_flex`].
pub fn norm_leaky(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    moments: Tensor<1>,
    (epsilon, slope): (f64, f64),
    batch_statistics: bool,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as TrainerOps>::norm_leaky(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        moments.into_dispatch(),
        epsilon,
        slope,
        batch_statistics,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::activation::leaky_relu;
    use burn::tensor::module::{batch_norm, batch_norm_train, conv2d};
    use burn::tensor::{Device, Distribution};

    use super::*;

    fn close(a: Tensor<4>, b: Tensor<4>, tolerance: f32, what: &str) {
        let (a, b) = (
            a.into_data().try_to_vec::<f32>(),
            b.into_data().try_to_vec::<f32>(),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tolerance * (1.0 + y.abs()),
                "{what}[{i}]: {x} against {y}"
            );
        }
    }

    fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.3, 1.2), device)
    }

    /// The column convolution against burn's, value and both gradients, at awkward shapes.
    #[test]
    fn the_column_convolution_equals_burns_forward_and_backward() {
        let device = Device::flex().autodiff();
        assert!(on_flex(&device) && on_flex(&Device::flex()));
        for (shape, out, kernel, stride) in [
            ([2, 3, 9, 7], 4, 3, 1),
            ([3, 5, 11, 6], 2, 3, 2),
            ([1, 2, 1, 1], 3, 3, 1),
            ([2, 4, 5, 5], 3, 1, 1),
        ] {
            let x = random(shape, &device);
            let w = random([out, shape[1], kernel, kernel], &device);
            let padding = kernel / 2;
            let probe = conv(x.clone(), w.clone(), stride, padding);
            let weights = random(probe.dims(), &device);
            let run = |ours: bool| {
                let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
                let y = if ours {
                    conv(x.clone(), w.clone(), stride, padding)
                } else {
                    let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
                    conv2d(x.clone(), w.clone(), None, options)
                };
                let grads = (y.clone() * weights.clone()).sum().backward();
                let (dx, dw) = (x.grad(&grads).unwrap(), w.grad(&grads).unwrap());
                (y.inner(), dx, dw)
            };
            let (ours, burns) = (run(true), run(false));
            let what = format!("{shape:?} k{kernel} s{stride}");
            close(ours.0, burns.0, 1e-4, &format!("y {what}"));
            close(ours.1, burns.1, 1e-4, &format!("dx {what}"));
            close(ours.2, burns.2, 1e-4, &format!("dw {what}"));
        }
    }

    /// Batch-norm with the LeakyReLU against burn's two, with the batch's statistics (training)
    /// and with held ones: value, the statistics and the gradients of x, γ and β.
    #[test]
    fn norm_leaky_equals_burns_batch_norm_and_leaky_relu() {
        let device = Device::flex().autodiff();
        let (shape, epsilon, slope) = ([3, 4, 6, 5], 1e-5, 0.1);
        let x = random(shape, &device);
        let gamma = random([4], &device);
        let beta = random([4], &device);
        let held = Tensor::cat(
            vec![random([4], &device), random([4], &device).abs() + 0.5],
            0,
        );
        let weights = random(shape, &device);
        for batch_statistics in [true, false] {
            let run = |ours: bool| {
                let (x, gamma, beta) = (
                    x.clone().require_grad(),
                    gamma.clone().require_grad(),
                    beta.clone().require_grad(),
                );
                let (y, moments) = match (ours, batch_statistics) {
                    (true, _) => {
                        let moments = if batch_statistics {
                            moments(x.clone())
                        } else {
                            held.clone()
                        };
                        let y = norm_leaky(
                            x.clone(),
                            gamma.clone(),
                            beta.clone(),
                            moments.clone(),
                            (epsilon, slope),
                            batch_statistics,
                        );
                        (y, moments)
                    }
                    (false, true) => {
                        let out = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), epsilon);
                        let moments = Tensor::cat(vec![out.mean, out.variance], 0);
                        (leaky_relu(out.output, slope), moments)
                    }
                    (false, false) => {
                        let (mean, var) =
                            (held.clone().narrow(0, 0, 4), held.clone().narrow(0, 4, 4));
                        let y =
                            batch_norm(x.clone(), gamma.clone(), beta.clone(), mean, var, epsilon);
                        (leaky_relu(y, slope), held.clone())
                    }
                };
                let grads = (y.clone() * weights.clone()).sum().backward();
                (
                    y.inner(),
                    moments.inner().reshape([1, 1, 1, 8]),
                    x.grad(&grads).unwrap(),
                    gamma.grad(&grads).unwrap().reshape([1, 1, 1, 4]),
                    beta.grad(&grads).unwrap().reshape([1, 1, 1, 4]),
                )
            };
            let (ours, burns) = (run(true), run(false));
            let what = |part: &str| format!("{part}, batch statistics {batch_statistics}");
            close(ours.0, burns.0, 1e-4, &what("y"));
            close(ours.1, burns.1, 1e-4, &what("moments"));
            close(ours.2, burns.2, 1e-3, &what("dx"));
            close(ours.3, burns.3, 1e-3, &what("dγ"));
            close(ours.4, burns.4, 1e-3, &what("dβ"));
        }
    }
}
