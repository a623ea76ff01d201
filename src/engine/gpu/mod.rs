//! The GPU engine: YOLOv3 from the same ONNX file on any GPU through wgpu (Vulkan, Metal, DX12)
//! with the project's own WGSL compute shaders (`kernels.wgsl`, `eltwise.wgsl`, `decode.wgsl`).
//!
//! Design:
//! - **Load**: [`plan::plan`] walks the ONNX graph (the YOLOv3 operator set and the cos/sin
//!   phase input only; anything else is refused with its name), fuses each LeakyRelu into its
//!   Conv, places concatenation inputs in the channel slices of the concatenation's buffer and
//!   channel slices as views of their source (no copies), and pools the buffers by liveness. Weights and per-op parameters go to the GPU once.
//! - **Precision**: on adapters with `SHADER_F16`, tensors and weights are stored as f16 (half
//!   the memory traffic) and every sum is accumulated in f32; elsewhere everything is f32
//!   ([`Precision`]; `FRINGEWATCH_GPU_PRECISION=f32` forces f32 where f16 would be chosen).
//! - **Convolution** is an implicit GEMM (M = output channels, N = output pixels, K = input
//!   channels × k²) walking K in steps of 16 through workgroup (shared) memory; the im2col
//!   gather, zero padding, bias and LeakyRelu happen in the kernel. Layers with 64 or more output
//!   channels run `conv_wide` (a 64-channel × 64-pixel tile per 16×16 workgroup, a 4 × 4
//!   register block per thread: 16 multiply–adds per pair of shared-memory loads); narrower
//!   ones run `conv` (16 × 64, 1 × 4 per thread) so that an 8- or 16-channel layer does not
//!   compute 64 channels. The batch is the third dispatch dimension, so several tiles run in
//!   one dispatch.
//! - **Head decoding on the GPU** ([`GpuEngine::run_decoded`]): a kernel per head applies the YOLOv3
//!   box formulas and the confidence threshold and appends the surviving boxes with an atomic
//!   counter; only the count and those records (at most [`CANDIDATES_PER_TILE`] per tile, 36
//!   bytes each) come back instead of the raw heads (about 57 kB per 160 px tile in f32). A
//!   chunk with more candidates than that is run again with its raw heads decoded on the host,
//!   so nothing is lost.
//! - **Buffers per batch size** are created once and reused for every later batch of that size;
//!   batches larger than the adapter's storage-binding limit (or [`GpuOptions::chunk`]) are cut
//!   into chunks.
//! - **Overlap**: a submission (input upload, every dispatch, copies into mappable read-back
//!   buffers) is queued under a short lock and waited for outside it. Read-back buffers come
//!   from a pool, so the next chunk — of the same call, or of another thread's call (detection
//!   calls the engine from every rayon thread) — is uploaded and computing while the previous
//!   one is mapped, read and decoded. The GPU queue orders submissions, so the activation
//!   buffers of one batch size are shared by all of them.

pub mod plan;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use ndarray::{Array4, ArrayView4};

use super::Engine;
use crate::error::{Error, Result};
use crate::model::contract::ModelMetadata;
use crate::model::decode::Detection;
use crate::model::onnx::read_model;
use plan::{Op, Plan, View};

/// Most decoded boxes one tile may send back from [`GpuEngine::run_decoded`] before its chunk is
/// decoded on the host instead (a 160 px tile has 1,575 anchor positions).
pub const CANDIDATES_PER_TILE: usize = 256;

/// Output channels from which a convolution runs the wide kernel (`conv_wide`: 64 channels ×
/// 64 pixels per workgroup, a 4 × 4 register block per thread) instead of `conv` (16 × 64, 1 × 4).
const WIDE_CHANNELS: usize = 64;

/// Words per decoded box record (see `decode.wgsl`).
const RECORD_WORDS: usize = 9;

/// How tensors and weights are stored on the GPU (arithmetic is f32 in both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// IEEE half precision storage; needs the adapter feature `SHADER_F16`.
    F16,
}

impl Precision {
    fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
        }
    }

    /// The declarations the WGSL sources expect in front of them.
    fn prelude(self) -> &'static str {
        match self {
            Precision::F32 => "alias store = f32;\nconst STORE_MAX: f32 = 3.4028235e38;\n",
            Precision::F16 => "enable f16;\nalias store = f16;\nconst STORE_MAX: f32 = 65504.0;\n",
        }
    }
}

/// Engine options.
#[derive(Debug, Clone, Copy, Default)]
pub struct GpuOptions {
    /// `None`: f16 where the adapter has `SHADER_F16`, else f32 (the environment variable
    /// `FRINGEWATCH_GPU_PRECISION=f32|f16` overrides this default in [`GpuEngine::load`]).
    pub precision: Option<Precision>,
    /// Most tiles per submission (`None`: as many as the storage-binding limit allows).
    pub chunk: Option<usize>,
}

/// Bytes rounded up to the 4-byte multiple that buffer copies and bindings need.
fn padded(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4) * 4
}

/// Which adapters may run the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterChoice {
    /// Hardware GPUs only (discrete, integrated or virtual).
    Hardware,
    /// Any adapter, software rasterisers (lavapipe, llvmpipe) included.
    Any,
}

/// The adapter to use, or an explanation of why there is none.
pub fn find_adapter(choice: AdapterChoice) -> std::result::Result<wgpu::Adapter, String> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
        ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
    });
    let adapters =
        pollster::block_on(instance.enumerate_adapters(
            wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
        ));
    let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let mut usable: Vec<wgpu::Adapter> = adapters
        .into_iter()
        .filter(|a| choice == AdapterChoice::Any || rank(a) < 3)
        .collect();
    usable.sort_by_key(rank);
    usable.into_iter().next().ok_or_else(|| match choice {
        AdapterChoice::Hardware => "no hardware GPU found through Vulkan, Metal or DX12".into(),
        AdapterChoice::Any => {
            "no GPU adapter found (no Vulkan, Metal or DX12 driver; on Linux install a Vulkan driver, e.g. mesa-vulkan-drivers)".into()
        }
    })
}

/// Uniform parameters of a convolution: `ConvParams` of `kernels.wgsl`, field for field (16
/// words). A view's `offset` is its first channel in its buffer, `total` the buffer's channels.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
    in_channels: u32,
    in_height: u32,
    in_width: u32,
    in_offset: u32,
    in_total: u32,
    out_channels: u32,
    out_height: u32,
    out_width: u32,
    out_offset: u32,
    out_total: u32,
    kernel: u32,
    stride: u32,
    pad: u32,
    /// 1: LeakyRelu with slope `alpha` after the bias.
    leaky: u32,
    alpha: f32,
    unused: u32,
}

/// Uniform parameters of the element-wise kernels (`add`, `upsample`, `unary`): `EltParams` of
/// `eltwise.wgsl`, field for field (12 words). `channels`, `height`, `width` are the output's.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct EltParams {
    channels: u32,
    height: u32,
    width: u32,
    unused0: u32,
    a_offset: u32,
    a_total: u32,
    b_offset: u32,
    b_total: u32,
    out_offset: u32,
    out_total: u32,
    /// The unary function (`plan::Op::Unary`); 0 for the other kernels.
    function: u32,
    unused1: u32,
}

/// Uniform parameters of the head decoder: `DecodeParams` of `decode.wgsl`, field for field (20
/// words; the anchors are two `vec4<f32>` at a 16-byte aligned offset).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DecodeParams {
    channel_offset: u32,
    buffer_channels: u32,
    height: u32,
    width: u32,
    classes: u32,
    /// Order of the head's first anchor position among all heads' (the host decoder's order).
    order_base: u32,
    /// Most records the batch's buffer holds; per batch size.
    capacity: u32,
    stride: f32,
    tile: f32,
    /// Score threshold; per call.
    confidence: f32,
    unused0: u32,
    unused1: u32,
    /// (w0, h0, w1, h1), (w2, h2, 0, 0), pixels.
    anchors: [[f32; 4]; 2],
}

// The WGSL structs' sizes: 16, 12 and 20 words.
const _: () = assert!(std::mem::size_of::<ConvParams>() == 16 * 4);
const _: () = assert!(std::mem::size_of::<EltParams>() == 12 * 4);
const _: () = assert!(std::mem::size_of::<DecodeParams>() == 20 * 4);
const _: () = assert!(std::mem::offset_of!(DecodeParams, anchors) == 12 * 4);

/// The convolution parameters of one op (see [`ConvParams`]).
fn conv_params(
    input: &View,
    output: &View,
    kernel: usize,
    stride: usize,
    pad: usize,
    leaky: Option<f32>,
) -> ConvParams {
    ConvParams {
        in_channels: input.shape.channels as u32,
        in_height: input.shape.height as u32,
        in_width: input.shape.width as u32,
        in_offset: input.channel_offset as u32,
        in_total: input.buffer_channels as u32,
        out_channels: output.shape.channels as u32,
        out_height: output.shape.height as u32,
        out_width: output.shape.width as u32,
        out_offset: output.channel_offset as u32,
        out_total: output.buffer_channels as u32,
        kernel: kernel as u32,
        stride: stride as u32,
        pad: pad as u32,
        leaky: leaky.is_some() as u32,
        alpha: leaky.unwrap_or(0.0),
        unused: 0,
    }
}

/// The element-wise parameters of one op (see [`EltParams`]).
fn elt_params(a: &View, b: &View, output: &View, function: u32) -> EltParams {
    EltParams {
        channels: output.shape.channels as u32,
        height: output.shape.height as u32,
        width: output.shape.width as u32,
        unused0: 0,
        a_offset: a.channel_offset as u32,
        a_total: a.buffer_channels as u32,
        b_offset: b.channel_offset as u32,
        b_total: b.buffer_channels as u32,
        out_offset: output.channel_offset as u32,
        out_total: output.buffer_channels as u32,
        function,
        unused1: 0,
    }
}

/// The uniform parameter bytes of one op ([`ConvParams`] or [`EltParams`]).
fn op_params(op: &Op) -> Vec<u8> {
    match op {
        Op::Conv {
            input,
            output,
            kernel,
            stride,
            pad,
            leaky,
            ..
        } => {
            bytemuck::bytes_of(&conv_params(input, output, *kernel, *stride, *pad, *leaky)).to_vec()
        }
        Op::Add { a, b, output } => bytemuck::bytes_of(&elt_params(a, b, output, 0)).to_vec(),
        Op::Upsample { input, output } => {
            bytemuck::bytes_of(&elt_params(input, input, output, 0)).to_vec()
        }
        Op::Unary {
            input,
            output,
            function,
        } => bytemuck::bytes_of(&elt_params(input, input, output, *function as u32)).to_vec(),
    }
}

fn as_bytes<T: bytemuck::Pod>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// GPU tensors of one batch size, shared by every submission of that size (the queue orders
/// them), and the pool of read-back buffers of the submissions in flight.
struct Resources {
    size: usize,
    buffers: Vec<wgpu::Buffer>,
    bind_groups: Vec<wgpu::BindGroup>,
    /// Decoded box records and their counter (`decode.wgsl`).
    records: wgpu::Buffer,
    count: wgpu::Buffer,
    /// One per decodable head: (head index, bind group).
    decode_groups: Vec<(usize, wgpu::BindGroup)>,
    free: Vec<Readback>,
}

/// Mappable buffers one submission copies its results into.
struct Readback {
    heads: Vec<wgpu::Buffer>,
    /// Count (one word), then the records.
    records: wgpu::Buffer,
}

/// What a submission brings back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Heads,
    Boxes { confidence: f32 },
}

/// A queued submission.
struct Pending {
    size: usize,
    want: Want,
    readback: Readback,
    index: wgpu::SubmissionIndex,
}

/// What a collected submission brought back.
enum Collected {
    Heads(Vec<Vec<f32>>),
    /// Per item of the chunk; `None` when a tile had more than [`CANDIDATES_PER_TILE`].
    Boxes(Option<Vec<Vec<Detection>>>),
}

/// YOLOv3 on a wgpu adapter.
pub struct GpuEngine {
    metadata: ModelMetadata,
    plan: Plan,
    precision: Precision,
    adapter: wgpu::AdapterInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    kernels: Kernels,
    weights: Vec<(wgpu::Buffer, wgpu::Buffer)>,
    params: Vec<wgpu::Buffer>,
    /// Per head: the decoding parameters (capacity and confidence are rewritten per call).
    decode_params: Vec<Option<(wgpu::Buffer, DecodeParams)>>,
    /// Largest number of tiles one submission takes.
    max_batch: usize,
    /// Per batch size; locked only while a submission is queued or a read-back returned.
    resources: Mutex<HashMap<usize, Resources>>,
    /// First device error (validation, out of memory, lost device) reported by wgpu.
    errors: std::sync::Arc<Mutex<Option<String>>>,
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn entries<'a>(resources: &[wgpu::BindingResource<'a>]) -> Vec<wgpu::BindGroupEntry<'a>> {
    resources
        .iter()
        .enumerate()
        .map(|(binding, resource)| wgpu::BindGroupEntry {
            binding: binding as u32,
            resource: resource.clone(),
        })
        .collect()
}

/// The precision asked for in `FRINGEWATCH_GPU_PRECISION` (f32 or f16), if any.
fn precision_from_env() -> Result<Option<Precision>> {
    match std::env::var("FRINGEWATCH_GPU_PRECISION") {
        Err(_) => Ok(None),
        Ok(v) => match v.to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(None),
            "f32" => Ok(Some(Precision::F32)),
            "f16" => Ok(Some(Precision::F16)),
            other => Err(Error::parameter(
                "FRINGEWATCH_GPU_PRECISION",
                format!("'{other}': use f32, f16 or auto"),
            )),
        },
    }
}

/// Decoding parameters of head `h` (see [`DecodeParams`]; capacity and confidence are set per
/// submission), or `None` when the head does not have the 3 × (5 + classes) channels of the model
/// contract.
fn decode_params(
    metadata: &ModelMetadata,
    h: usize,
    head: &View,
    order_base: usize,
) -> Option<DecodeParams> {
    let classes = metadata.classes.len();
    if head.shape.channels != 3 * (5 + classes) || metadata.anchors.len() < 3 * h + 3 {
        return None;
    }
    let anchors = metadata.head_anchors(h);
    let f = |v: f64| v as f32;
    Some(DecodeParams {
        channel_offset: head.channel_offset as u32,
        buffer_channels: head.buffer_channels as u32,
        height: head.shape.height as u32,
        width: head.shape.width as u32,
        classes: classes as u32,
        order_base: order_base as u32,
        capacity: 0,
        stride: anchors[0].stride as f32,
        tile: metadata.tile as f32,
        confidence: 0.0,
        unused0: 0,
        unused1: 0,
        anchors: [
            [
                f(anchors[0].width),
                f(anchors[0].height),
                f(anchors[1].width),
                f(anchors[1].height),
            ],
            [f(anchors[2].width), f(anchors[2].height), 0.0, 0.0],
        ],
    })
}

/// The storage precision: the one asked for (f16 only where the adapter has `SHADER_F16`), else
/// f16 where the adapter has it and f32 elsewhere.
fn choose_precision(
    adapter: &wgpu::Adapter,
    info: &wgpu::AdapterInfo,
    asked: Option<Precision>,
) -> Result<Precision> {
    let has_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
    Ok(match asked {
        Some(Precision::F16) if !has_f16 => {
            return Err(Error::Gpu(format!(
                "{}: f16 storage asked for, but the adapter has no SHADER_F16",
                info.name
            )))
        }
        Some(p) => p,
        None if has_f16 => Precision::F16,
        None => Precision::F32,
    })
}

/// The device and queue of `adapter` with all its limits, and `SHADER_F16` for f16 storage.
fn open_device(
    adapter: &wgpu::Adapter,
    info: &wgpu::AdapterInfo,
    limits: &wgpu::Limits,
    precision: Precision,
) -> Result<(wgpu::Device, wgpu::Queue)> {
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("fringewatch"),
        required_limits: limits.clone(),
        required_features: if precision == Precision::F16 {
            wgpu::Features::SHADER_F16
        } else {
            wgpu::Features::empty()
        },
        ..Default::default()
    }))
    .map_err(|e| Error::Gpu(format!("{}: cannot open the device: {e}", info.name)))
}

/// The slot that keeps the first device error (validation, out of memory, lost device) wgpu
/// reports on `device`.
fn capture_errors(device: &wgpu::Device) -> std::sync::Arc<Mutex<Option<String>>> {
    let errors: std::sync::Arc<Mutex<Option<String>>> = Default::default();
    let sink = errors.clone();
    device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
        if let Ok(mut slot) = sink.lock() {
            slot.get_or_insert_with(|| e.to_string());
        }
    }));
    errors
}

/// Most tiles one submission takes: as many as the largest buffer allows within the storage
/// binding and buffer size limits, at most `chunk`, at least 1.
fn max_batch(
    plan: &Plan,
    precision: Precision,
    limits: &wgpu::Limits,
    chunk: Option<usize>,
) -> usize {
    let largest = plan.buffers.iter().copied().max().unwrap_or(1).max(1) * precision.bytes();
    let binding_limit = (limits.max_storage_buffer_binding_size as usize)
        .min(limits.max_buffer_size as usize)
        / largest;
    binding_limit.min(chunk.unwrap_or(usize::MAX)).max(1)
}

/// The compute pipelines of the engine and their bind group layouts.
struct Kernels {
    conv: wgpu::ComputePipeline,
    conv_wide: wgpu::ComputePipeline,
    add: wgpu::ComputePipeline,
    upsample: wgpu::ComputePipeline,
    unary: wgpu::ComputePipeline,
    decode: wgpu::ComputePipeline,
    conv_layout: wgpu::BindGroupLayout,
    elt_layout: wgpu::BindGroupLayout,
    decode_layout: wgpu::BindGroupLayout,
}

impl Kernels {
    /// Compile the WGSL sources for `precision` and make every pipeline.
    fn compile(device: &wgpu::Device, precision: Precision) -> Kernels {
        let module = |label: &str, source: &str| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(format!("{}{source}", precision.prelude()).into()),
            })
        };
        let kernels = module("conv", include_str!("kernels.wgsl"));
        let eltwise = module("eltwise", include_str!("eltwise.wgsl"));
        let decoding = module("decode", include_str!("decode.wgsl"));
        let (conv_layout, elt_layout, decode_layout) = bind_group_layouts(device);
        let pipeline =
            |module: &wgpu::ShaderModule, layout: &wgpu::BindGroupLayout, entry: &str| {
                compute_pipeline(device, module, layout, entry)
            };
        Kernels {
            conv: pipeline(&kernels, &conv_layout, "conv"),
            conv_wide: pipeline(&kernels, &conv_layout, "conv_wide"),
            add: pipeline(&eltwise, &elt_layout, "add"),
            upsample: pipeline(&eltwise, &elt_layout, "upsample"),
            unary: pipeline(&eltwise, &elt_layout, "unary"),
            decode: pipeline(&decoding, &decode_layout, "decode"),
            conv_layout,
            elt_layout,
            decode_layout,
        }
    }
}

/// The bind group layouts of the convolutions (input, weight, bias, output, parameters), of the
/// element-wise kernels (a, b, output, parameters) and of the decoder (head, records, count,
/// parameters).
fn bind_group_layouts(
    device: &wgpu::Device,
) -> (
    wgpu::BindGroupLayout,
    wgpu::BindGroupLayout,
    wgpu::BindGroupLayout,
) {
    let layout = |label: &str, entries: &[wgpu::BindGroupLayoutEntry]| {
        device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries,
        })
    };
    let conv_layout = layout(
        "conv",
        &[
            storage_entry(0, true),
            storage_entry(1, true),
            storage_entry(2, true),
            storage_entry(3, false),
            uniform_entry(4),
        ],
    );
    let elt_layout = layout(
        "eltwise",
        &[
            storage_entry(0, true),
            storage_entry(1, true),
            storage_entry(2, false),
            uniform_entry(3),
        ],
    );
    let decode_layout = layout(
        "decode",
        &[
            storage_entry(0, true),
            storage_entry(1, false),
            storage_entry(2, false),
            uniform_entry(3),
        ],
    );
    (conv_layout, elt_layout, decode_layout)
}

/// The compute pipeline of WGSL entry point `entry` with one bind group of `layout`.
fn compute_pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    layout: &wgpu::BindGroupLayout,
    entry: &str,
) -> wgpu::ComputePipeline {
    let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(entry),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: Some(&pl),
        module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// A buffer created holding `contents`.
fn buffer_init(
    device: &wgpu::Device,
    label: &str,
    contents: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents,
        usage,
    })
}

/// Every convolution's weights (in the storage precision) and biases (f32), on the GPU.
fn upload_weights(
    device: &wgpu::Device,
    plan: &Plan,
    precision: Precision,
) -> Vec<(wgpu::Buffer, wgpu::Buffer)> {
    plan.weights
        .iter()
        .map(|w| {
            let stored = GpuEngine::encode(precision, &w.weight);
            (
                buffer_init(device, "weight", &stored, wgpu::BufferUsages::STORAGE),
                buffer_init(
                    device,
                    "bias",
                    as_bytes(&w.bias),
                    wgpu::BufferUsages::STORAGE,
                ),
            )
        })
        .collect()
}

/// Every op's uniform parameters, on the GPU.
fn upload_op_params(device: &wgpu::Device, plan: &Plan) -> Vec<wgpu::Buffer> {
    plan.ops
        .iter()
        .map(|op| {
            buffer_init(
                device,
                "params",
                &op_params(op),
                wgpu::BufferUsages::UNIFORM,
            )
        })
        .collect()
}

/// Per head, the decoding parameters on the GPU (rewritten per call) and on the host; `None` for
/// a head the decoder cannot read (see [`decode_params`]).
fn upload_decode_params(
    device: &wgpu::Device,
    metadata: &ModelMetadata,
    plan: &Plan,
) -> Vec<Option<(wgpu::Buffer, DecodeParams)>> {
    let mut order_base = 0;
    plan.outputs
        .iter()
        .enumerate()
        .map(|(h, head)| {
            let params = decode_params(metadata, h, head, order_base);
            order_base += 3 * head.shape.height * head.shape.width;
            params.map(|params| {
                let buffer = buffer_init(
                    device,
                    "decode params",
                    bytemuck::bytes_of(&params),
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                );
                (buffer, params)
            })
        })
        .collect()
}

impl GpuEngine {
    /// Load `path` (model contract ONNX) on the adapter `choice` allows, f16 storage where the
    /// adapter has `SHADER_F16` (unless `FRINGEWATCH_GPU_PRECISION=f32`).
    /// The adapter is looked for first, so that without a GPU the model is not read twice
    /// (once here, once by the tract fallback).
    pub fn load(path: &Path, choice: AdapterChoice) -> Result<GpuEngine> {
        let precision = precision_from_env()?;
        let adapter = find_adapter(choice).map_err(Error::Gpu)?;
        let (proto, metadata) = read_model(path)?;
        let plan = plan::plan(&proto, metadata.tile)
            .map_err(|e| Error::bad_input(path, format!("GPU engine: {e}")))?;
        Self::with_adapter(
            adapter,
            metadata,
            plan,
            GpuOptions {
                precision,
                chunk: None,
            },
        )
    }

    /// The engine on a given adapter (tests and benchmarks).
    pub fn with_adapter(
        adapter: wgpu::Adapter,
        metadata: ModelMetadata,
        plan: Plan,
        options: GpuOptions,
    ) -> Result<GpuEngine> {
        let info = adapter.get_info();
        let precision = choose_precision(&adapter, &info, options.precision)?;
        let limits = adapter.limits();
        let (device, queue) = open_device(&adapter, &info, &limits, precision)?;
        let errors = capture_errors(&device);
        let max_batch = max_batch(&plan, precision, &limits, options.chunk);
        let kernels = Kernels::compile(&device, precision);
        let weights = upload_weights(&device, &plan, precision);
        let params = upload_op_params(&device, &plan);
        let decode_params = upload_decode_params(&device, &metadata, &plan);
        Ok(GpuEngine {
            metadata,
            plan,
            precision,
            adapter: info,
            device,
            queue,
            kernels,
            weights,
            params,
            decode_params,
            max_batch,
            resources: Mutex::new(HashMap::new()),
            errors,
        })
    }

    /// Whether the adapter is a software rasteriser (lavapipe, llvmpipe).
    pub fn is_software(&self) -> bool {
        self.adapter.device_type == wgpu::DeviceType::Cpu
    }

    /// How tensors are stored on this engine.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// f32 values as the bytes of the storage type, zero-padded to a multiple of 4 bytes.
    fn encode(precision: Precision, values: &[f32]) -> Vec<u8> {
        let mut bytes = match precision {
            Precision::F32 => as_bytes(values).to_vec(),
            Precision::F16 => {
                let mut half = vec![half::f16::ZERO; values.len()];
                half.convert_from_f32_slice(values);
                as_bytes(half.reinterpret_cast()).to_vec()
            }
        };
        bytes.resize(padded(bytes.len()) as usize, 0);
        bytes
    }

    /// Stored values back to f32 (`len` values; the bytes may carry padding).
    fn decode_values(&self, bytes: &[u8], len: usize) -> Vec<f32> {
        match self.precision {
            Precision::F32 => bytemuck::cast_slice::<u8, f32>(&bytes[..len * 4]).to_vec(),
            Precision::F16 => {
                let bits: &[u16] = bytemuck::cast_slice(&bytes[..len * 2]);
                let mut out = vec![0.0f32; len];
                bits.reinterpret_cast::<half::f16>()
                    .convert_to_f32_slice(&mut out);
                out
            }
        }
    }

    /// The GPU tensors, bind groups and box buffers of batch size `size`.
    fn make_resources(&self, size: usize) -> Resources {
        let bytes = self.precision.bytes();
        let buffers: Vec<wgpu::Buffer> = self
            .plan
            .buffers
            .iter()
            .map(|&floats| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("tensor"),
                    size: padded(floats * size * bytes),
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_DST
                        | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let bind_groups = self.op_bind_groups(&buffers);
        let records = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("boxes"),
            size: (size * CANDIDATES_PER_TILE * RECORD_WORDS * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let count = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("box count"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let decode_groups = self.decode_bind_groups(&buffers, &records, &count);
        Resources {
            size,
            buffers,
            bind_groups,
            records,
            count,
            decode_groups,
            free: Vec::new(),
        }
    }

    /// One bind group per op of the plan over the tensors `buffers` of one batch size.
    fn op_bind_groups(&self, buffers: &[wgpu::Buffer]) -> Vec<wgpu::BindGroup> {
        let buffer = |b: usize| buffers[b].as_entire_binding();
        self.plan
            .ops
            .iter()
            .zip(&self.params)
            .map(|(op, params)| {
                let (layout, resources) = match op {
                    Op::Conv {
                        input,
                        output,
                        weights,
                        ..
                    } => (
                        &self.kernels.conv_layout,
                        vec![
                            buffer(input.buffer),
                            self.weights[*weights].0.as_entire_binding(),
                            self.weights[*weights].1.as_entire_binding(),
                            buffer(output.buffer),
                            params.as_entire_binding(),
                        ],
                    ),
                    Op::Add { a, b, output } => (
                        &self.kernels.elt_layout,
                        vec![
                            buffer(a.buffer),
                            buffer(b.buffer),
                            buffer(output.buffer),
                            params.as_entire_binding(),
                        ],
                    ),
                    Op::Upsample { input, output } | Op::Unary { input, output, .. } => (
                        &self.kernels.elt_layout,
                        vec![
                            buffer(input.buffer),
                            buffer(input.buffer),
                            buffer(output.buffer),
                            params.as_entire_binding(),
                        ],
                    ),
                };
                self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("op"),
                    layout,
                    entries: &entries(&resources),
                })
            })
            .collect()
    }

    /// One decoder bind group per decodable head: (head index, bind group).
    fn decode_bind_groups(
        &self,
        buffers: &[wgpu::Buffer],
        records: &wgpu::Buffer,
        count: &wgpu::Buffer,
    ) -> Vec<(usize, wgpu::BindGroup)> {
        self.decode_params
            .iter()
            .enumerate()
            .filter_map(|(h, p)| p.as_ref().map(|(params, _)| (h, params)))
            .map(|(h, params)| {
                let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("decode"),
                    layout: &self.kernels.decode_layout,
                    entries: &entries(&[
                        buffers[self.plan.outputs[h].buffer].as_entire_binding(),
                        records.as_entire_binding(),
                        count.as_entire_binding(),
                        params.as_entire_binding(),
                    ]),
                });
                (h, group)
            })
            .collect()
    }

    fn make_readback(&self, size: usize) -> Readback {
        let mappable = |label: &str, bytes: u64| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        Readback {
            heads: self
                .plan
                .outputs
                .iter()
                .map(|v| {
                    mappable(
                        "head",
                        padded(v.shape.len() * size * self.precision.bytes()),
                    )
                })
                .collect(),
            records: mappable(
                "boxes",
                4 + (size * CANDIDATES_PER_TILE * RECORD_WORDS * 4) as u64,
            ),
        }
    }

    fn encode_ops(&self, pass: &mut wgpu::ComputePass<'_>, resources: &Resources) {
        let n = resources.size as u32;
        for (op, group) in self.plan.ops.iter().zip(&resources.bind_groups) {
            let (pipeline, output, channels_per_group) = match op {
                Op::Conv { output, .. } if output.shape.channels >= WIDE_CHANNELS => {
                    (&self.kernels.conv_wide, output, 64)
                }
                Op::Conv { output, .. } => (&self.kernels.conv, output, 16),
                Op::Add { output, .. } => (&self.kernels.add, output, 4),
                Op::Upsample { output, .. } => (&self.kernels.upsample, output, 4),
                Op::Unary { output, .. } => (&self.kernels.unary, output, 4),
            };
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, group, &[]);
            let pixels = (output.shape.height * output.shape.width) as u32;
            pass.dispatch_workgroups(
                pixels.div_ceil(64),
                (output.shape.channels as u32).div_ceil(channels_per_group),
                n,
            );
        }
    }

    /// Queue one chunk: upload, every dispatch, (decoding,) copies into a read-back buffer.
    fn submit(&self, input: &[f32], size: usize, want: Want) -> Result<Pending> {
        let mut all = self
            .resources
            .lock()
            .map_err(|_| Error::Gpu("engine poisoned".into()))?;
        let resources = all.entry(size).or_insert_with(|| self.make_resources(size));
        let readback = match resources.free.pop() {
            Some(r) => r,
            None => self.make_readback(size),
        };
        self.queue.write_buffer(
            &resources.buffers[self.plan.input.buffer],
            0,
            &Self::encode(self.precision, input),
        );
        if let Want::Boxes { confidence } = want {
            for (buffer, params) in self.decode_params.iter().flatten() {
                let params = DecodeParams {
                    capacity: (size * CANDIDATES_PER_TILE) as u32,
                    confidence,
                    ..*params
                };
                self.queue
                    .write_buffer(buffer, 0, bytemuck::bytes_of(&params));
            }
        }
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("yolov3"),
            });
        if matches!(want, Want::Boxes { .. }) {
            encoder.clear_buffer(&resources.count, 0, None);
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("yolov3"),
                timestamp_writes: None,
            });
            self.encode_ops(&mut pass, resources);
            if matches!(want, Want::Boxes { .. }) {
                pass.set_pipeline(&self.kernels.decode);
                for (h, group) in &resources.decode_groups {
                    let head = &self.plan.outputs[*h].shape;
                    pass.set_bind_group(0, group, &[]);
                    pass.dispatch_workgroups(
                        ((head.height * head.width) as u32).div_ceil(64),
                        3,
                        size as u32,
                    );
                }
            }
        }
        self.copy_results(&mut encoder, resources, &readback, want);
        let index = self.queue.submit([encoder.finish()]);
        Ok(Pending {
            size,
            want,
            readback,
            index,
        })
    }

    /// Copy what `want` asks for (the heads, or the box count and records) into the read-back
    /// buffers.
    fn copy_results(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        resources: &Resources,
        readback: &Readback,
        want: Want,
    ) {
        match want {
            Want::Heads => {
                // heads are whole buffers of their own (offset 0, all channels)
                for (view, staging) in self.plan.outputs.iter().zip(&readback.heads) {
                    encoder.copy_buffer_to_buffer(
                        &resources.buffers[view.buffer],
                        0,
                        staging,
                        0,
                        staging.size(),
                    );
                }
            }
            Want::Boxes { .. } => {
                encoder.copy_buffer_to_buffer(&resources.count, 0, &readback.records, 0, 4);
                encoder.copy_buffer_to_buffer(
                    &resources.records,
                    0,
                    &readback.records,
                    4,
                    resources.records.size(),
                );
            }
        }
    }

    /// Wait for a submission and read its results; the read-back buffers go back to the pool.
    fn collect(&self, pending: Pending) -> Result<Collected> {
        let Pending {
            size,
            want,
            readback,
            index,
        } = pending;
        let mapped: Vec<&wgpu::Buffer> = match want {
            Want::Heads => readback.heads.iter().collect(),
            Want::Boxes { .. } => vec![&readback.records],
        };
        for buffer in &mapped {
            buffer.map_async(wgpu::MapMode::Read, .., |_| {});
        }
        let waited = self
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| Error::Gpu(format!("{}: {e}", self.adapter.name)));
        let failed = self.errors.lock().ok().and_then(|mut slot| slot.take());
        let result = match (waited, failed) {
            (Err(e), _) => Err(e),
            (_, Some(e)) => Err(Error::Gpu(format!("{}: {e}", self.adapter.name))),
            _ => self.read(&mapped, size, want),
        };
        for buffer in &mapped {
            buffer.unmap();
        }
        if let Ok(mut all) = self.resources.lock() {
            if let Some(resources) = all.get_mut(&size) {
                resources.free.push(readback);
            }
        }
        result
    }

    fn read(&self, mapped: &[&wgpu::Buffer], size: usize, want: Want) -> Result<Collected> {
        let bytes = |buffer: &wgpu::Buffer| {
            buffer
                .get_mapped_range(..)
                .map_err(|e| Error::Gpu(format!("read-back: {e}")))
        };
        match want {
            Want::Heads => {
                let mut heads = Vec::with_capacity(mapped.len());
                for (buffer, view) in mapped.iter().zip(&self.plan.outputs) {
                    let range = bytes(buffer)?;
                    heads.push(self.decode_values(&range, view.shape.len() * size));
                }
                Ok(Collected::Heads(heads))
            }
            Want::Boxes { .. } => {
                let range = bytes(mapped[0])?;
                let words: &[u32] = bytemuck::cast_slice(&range);
                let count = words[0] as usize;
                if count > size * CANDIDATES_PER_TILE {
                    return Ok(Collected::Boxes(None));
                }
                let mut records: Vec<&[u32]> = words[1..1 + count * RECORD_WORDS]
                    .chunks(RECORD_WORDS)
                    .collect();
                // The atomic counter hands out slots in no fixed order: sort into the host
                // decoder's order (item, head, anchor, row, column).
                records.sort_by_key(|r| (r[0], r[1]));
                let mut per_item = vec![Vec::new(); size];
                for r in records {
                    let f = |k: usize| f32::from_bits(r[k]);
                    if let Some(item) = per_item.get_mut(r[0] as usize) {
                        item.push(Detection {
                            bbox: [f(5), f(6), f(7), f(8)].map(f64::from),
                            class: r[2] as usize,
                            score: f(3),
                            objectness: f(4),
                        });
                    }
                }
                Ok(Collected::Boxes(Some(per_item)))
            }
        }
    }

    /// Run `n` items (NCHW, as the plan's input) in chunks of at most the engine's batch limit,
    /// keeping two chunks in flight, and hand each chunk's result with its first item's index
    /// to `take`.
    fn pipelined(
        &self,
        input: &[f32],
        n: usize,
        want: Want,
        mut take: impl FnMut(usize, Collected) -> Result<()>,
    ) -> Result<()> {
        let per_item = self.plan.input.shape.len();
        if input.len() != n * per_item {
            return Err(Error::parameter(
                "input",
                format!("{} values for {n} items of {per_item}", input.len()),
            ));
        }
        let mut in_flight: VecDeque<(usize, Pending)> = VecDeque::new();
        let mut start = 0;
        while start < n || !in_flight.is_empty() {
            if start < n && in_flight.len() < 2 {
                let size = (n - start).min(self.max_batch);
                let chunk = &input[start * per_item..(start + size) * per_item];
                in_flight.push_back((start, self.submit(chunk, size, want)?));
                start += size;
                continue;
            }
            if let Some((first, pending)) = in_flight.pop_front() {
                take(first, self.collect(pending)?)?;
            }
        }
        Ok(())
    }

    /// Run the plan on `n` items laid out as the plan's input (NCHW); returns every output,
    /// NCHW, as f32.
    pub fn run(&self, input: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        let mut outputs: Vec<Vec<f32>> = vec![Vec::new(); self.plan.outputs.len()];
        self.pipelined(input, n, Want::Heads, |_, collected| {
            if let Collected::Heads(parts) = collected {
                for (all, part) in outputs.iter_mut().zip(parts) {
                    all.extend(part);
                }
            }
            Ok(())
        })?;
        Ok(outputs)
    }

    /// Decoded boxes (score ≥ `confidence`, before NMS) of `n` items, decoded on the GPU; a
    /// chunk with more than [`CANDIDATES_PER_TILE`] boxes in a tile is decoded on the host.
    pub fn run_decoded(
        &self,
        input: &[f32],
        n: usize,
        confidence: f32,
    ) -> Result<Vec<Vec<Detection>>> {
        let per_item = self.plan.input.shape.len();
        let mut found: Vec<Vec<Detection>> = vec![Vec::new(); n];
        self.pipelined(input, n, Want::Boxes { confidence }, |first, collected| {
            let boxes = match collected {
                Collected::Boxes(Some(boxes)) => boxes,
                _ => {
                    let size = (n - first).min(self.max_batch);
                    let chunk = &input[first * per_item..(first + size) * per_item];
                    self.host_decode(chunk, size, confidence)?
                }
            };
            for (k, item) in boxes.into_iter().enumerate() {
                found[first + k] = item;
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Raw heads of one chunk decoded on the host (the overflow path of [`Self::run_decoded`]).
    fn host_decode(
        &self,
        chunk: &[f32],
        size: usize,
        confidence: f32,
    ) -> Result<Vec<Vec<Detection>>> {
        let heads = self.heads_as_arrays(self.run(chunk, size)?, size)?;
        Ok(crate::model::decode::decode_batch(
            &heads,
            &self.metadata,
            confidence,
        ))
    }

    fn heads_as_arrays(&self, heads: Vec<Vec<f32>>, n: usize) -> Result<[Array4<f32>; 3]> {
        let shape = |k: usize| {
            let s = self.plan.outputs[k].shape;
            (n, s.channels, s.height, s.width)
        };
        let mut arrays = heads.into_iter().enumerate().map(|(k, v)| {
            Array4::from_shape_vec(shape(k), v).map_err(|e| Error::Gpu(format!("head shape: {e}")))
        });
        let mut next = || {
            arrays
                .next()
                .unwrap_or_else(|| Err(Error::Gpu("missing head".into())))
        };
        Ok([next()?, next()?, next()?])
    }

    /// The batch as contiguous NCHW values (borrowed when it already is), after checking its
    /// shape against the model's tile.
    fn batch_values<'a>(&self, batch: &'a ArrayView4<f32>) -> Result<std::borrow::Cow<'a, [f32]>> {
        let (n, c, h, w) = batch.dim();
        let tile = self.metadata.tile;
        if c != 3 || h != tile || w != tile {
            return Err(Error::parameter(
                "batch",
                format!("expected [N, 3, {tile}, {tile}], got [{n}, {c}, {h}, {w}]"),
            ));
        }
        Ok(match batch.as_slice() {
            Some(values) => std::borrow::Cow::Borrowed(values),
            None => std::borrow::Cow::Owned(batch.iter().copied().collect()),
        })
    }
}

impl Engine for GpuEngine {
    fn name(&self) -> String {
        let storage = match self.precision {
            Precision::F32 => "f32",
            Precision::F16 => "f16 storage",
        };
        format!(
            "wgpu ({}, {:?}, {storage})",
            self.adapter.name, self.adapter.backend
        )
    }

    fn preferred_batch(&self) -> usize {
        16
    }

    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn infer(&self, batch: ArrayView4<f32>) -> Result<[Array4<f32>; 3]> {
        let n = batch.dim().0;
        let heads = self.run(&self.batch_values(&batch)?, n)?;
        self.heads_as_arrays(heads, n)
    }

    fn candidates(&self, batch: ArrayView4<f32>, confidence: f32) -> Result<Vec<Vec<Detection>>> {
        self.run_decoded(&self.batch_values(&batch)?, batch.dim().0, confidence)
    }
}
