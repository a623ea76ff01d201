//! The GPU engine: YOLOv3 from the same ONNX file on any GPU through wgpu (Vulkan, Metal, DX12)
//! with the project's own WGSL compute shaders (`kernels.wgsl`, `eltwise.wgsl`).
//!
//! Design (f32 path):
//! - **Load**: [`plan::plan`] walks the ONNX graph (the YOLOv3 operator set only; anything else
//!   is refused with its name), fuses each LeakyRelu into its Conv, places concatenation inputs
//!   in the channel slices of the concatenation's buffer (no copies), and pools the buffers by
//!   liveness. Weights and per-op parameters go to the GPU once.
//! - **Convolution** is an implicit GEMM (M = output channels, N = output pixels, K = input
//!   channels × k²): a workgroup of 16×16 threads computes a 16-channel × 64-pixel tile, each
//!   thread 4 pixels, walking K in steps of 16 through workgroup (shared) memory; the im2col
//!   gather, zero padding, bias and LeakyRelu happen in the kernel. The batch is the third
//!   dispatch dimension, so several tiles run in one dispatch.
//! - **Per batch size** the buffers and bind groups are created once and reused for every
//!   later batch of that size; batches larger than the adapter's storage-binding limit allows
//!   are cut into chunks.
//! - One command buffer per chunk: upload, every dispatch, copies of the three heads into
//!   mappable buffers, one wait.
//!
//! Not yet: f16 storage on `SHADER_F16` adapters, head decoding on the GPU, overlapping uploads
//! with compute across chunks (see the README's GPU section).

pub mod plan;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use ndarray::{Array4, ArrayView4};

use super::Engine;
use crate::error::{Error, Result};
use crate::model::contract::ModelMetadata;
use crate::model::onnx::read_model;
use plan::{Op, Plan, View};

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

/// Per-op uniform parameters (16 × u32/f32, see `kernels.wgsl`).
fn conv_params(
    input: &View,
    output: &View,
    kernel: usize,
    stride: usize,
    pad: usize,
    leaky: Option<f32>,
) -> [u32; 16] {
    [
        input.shape.channels as u32,
        input.shape.height as u32,
        input.shape.width as u32,
        input.channel_offset as u32,
        input.buffer_channels as u32,
        output.shape.channels as u32,
        output.shape.height as u32,
        output.shape.width as u32,
        output.channel_offset as u32,
        output.buffer_channels as u32,
        kernel as u32,
        stride as u32,
        pad as u32,
        leaky.is_some() as u32,
        leaky.unwrap_or(0.0).to_bits(),
        0,
    ]
}

fn elt_params(a: &View, b: &View, output: &View) -> [u32; 12] {
    [
        output.shape.channels as u32,
        output.shape.height as u32,
        output.shape.width as u32,
        0,
        a.channel_offset as u32,
        a.buffer_channels as u32,
        b.channel_offset as u32,
        b.buffer_channels as u32,
        output.channel_offset as u32,
        output.buffer_channels as u32,
        0,
        0,
    ]
}

fn as_bytes<T: bytemuck::Pod>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// GPU resources for one batch size.
struct Batch {
    size: usize,
    buffers: Vec<wgpu::Buffer>,
    bind_groups: Vec<wgpu::BindGroup>,
    staging: Vec<wgpu::Buffer>,
}

/// YOLOv3 on a wgpu adapter.
pub struct GpuEngine {
    metadata: ModelMetadata,
    plan: Plan,
    adapter: wgpu::AdapterInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    conv: wgpu::ComputePipeline,
    add: wgpu::ComputePipeline,
    upsample: wgpu::ComputePipeline,
    conv_layout: wgpu::BindGroupLayout,
    elt_layout: wgpu::BindGroupLayout,
    weights: Vec<(wgpu::Buffer, wgpu::Buffer)>,
    params: Vec<wgpu::Buffer>,
    /// Largest number of tiles one dispatch chain takes (storage binding limit).
    max_batch: usize,
    batches: Mutex<HashMap<usize, Batch>>,
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

impl GpuEngine {
    /// Load `path` (model contract ONNX) on the adapter `choice` allows.
    /// The adapter is looked for first, so that without a GPU the model is not read twice
    /// (once here, once by the tract fallback).
    pub fn load(path: &Path, choice: AdapterChoice) -> Result<GpuEngine> {
        let adapter = find_adapter(choice).map_err(Error::Gpu)?;
        let (proto, metadata) = read_model(path)?;
        let plan = plan::plan(&proto, metadata.tile)
            .map_err(|e| Error::bad_input(path, format!("GPU engine: {e}")))?;
        Self::with_adapter(adapter, metadata, plan)
    }

    /// The engine on a given adapter (tests and benchmarks).
    pub fn with_adapter(
        adapter: wgpu::Adapter,
        metadata: ModelMetadata,
        plan: Plan,
    ) -> Result<GpuEngine> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("fringewatch"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("{}: cannot open the device: {e}", info.name)))?;
        let errors: std::sync::Arc<Mutex<Option<String>>> = Default::default();
        let sink = errors.clone();
        device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        let largest = plan.buffers.iter().copied().max().unwrap_or(1).max(1) * 4;
        let max_batch = ((limits.max_storage_buffer_binding_size as usize)
            .min(limits.max_buffer_size as usize)
            / largest)
            .max(1);
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("conv"),
            source: wgpu::ShaderSource::Wgsl(include_str!("kernels.wgsl").into()),
        });
        let eltwise = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("eltwise"),
            source: wgpu::ShaderSource::Wgsl(include_str!("eltwise.wgsl").into()),
        });
        let conv_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("conv"),
            entries: &[
                storage_entry(0, true),
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, false),
                uniform_entry(4),
            ],
        });
        let elt_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("eltwise"),
            entries: &[
                storage_entry(0, true),
                storage_entry(1, true),
                storage_entry(2, false),
                uniform_entry(3),
            ],
        });
        let pipeline =
            |module: &wgpu::ShaderModule, layout: &wgpu::BindGroupLayout, entry: &str| {
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
            };
        let conv = pipeline(&shader, &conv_layout, "conv");
        let add = pipeline(&eltwise, &elt_layout, "add");
        let upsample = pipeline(&eltwise, &elt_layout, "upsample");
        use wgpu::util::DeviceExt;
        let weights = plan
            .weights
            .iter()
            .map(|w| {
                let make = |data: &[f32], label: &str| {
                    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(label),
                        contents: as_bytes(data),
                        usage: wgpu::BufferUsages::STORAGE,
                    })
                };
                (make(&w.weight, "weight"), make(&w.bias, "bias"))
            })
            .collect();
        let params = plan
            .ops
            .iter()
            .map(|op| {
                let words: Vec<u32> = match op {
                    Op::Conv {
                        input,
                        output,
                        kernel,
                        stride,
                        pad,
                        leaky,
                        ..
                    } => conv_params(input, output, *kernel, *stride, *pad, *leaky).to_vec(),
                    Op::Add { a, b, output } => elt_params(a, b, output).to_vec(),
                    Op::Upsample { input, output } => elt_params(input, input, output).to_vec(),
                };
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("params"),
                    contents: as_bytes(&words),
                    usage: wgpu::BufferUsages::UNIFORM,
                })
            })
            .collect();
        Ok(GpuEngine {
            metadata,
            plan,
            adapter: info,
            device,
            queue,
            conv,
            add,
            upsample,
            conv_layout,
            elt_layout,
            weights,
            params,
            max_batch,
            batches: Mutex::new(HashMap::new()),
            errors,
        })
    }

    /// Whether the adapter is a software rasteriser (lavapipe, llvmpipe).
    pub fn is_software(&self) -> bool {
        self.adapter.device_type == wgpu::DeviceType::Cpu
    }

    fn make_batch(&self, size: usize) -> Batch {
        let buffers: Vec<wgpu::Buffer> = self
            .plan
            .buffers
            .iter()
            .map(|&floats| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("tensor"),
                    size: (floats * size * 4) as u64,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_DST
                        | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let bind_groups = self
            .plan
            .ops
            .iter()
            .zip(&self.params)
            .map(|(op, params)| {
                let buffer = |b: usize| buffers[b].as_entire_binding();
                match op {
                    Op::Conv {
                        input,
                        output,
                        weights,
                        ..
                    } => self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("conv"),
                        layout: &self.conv_layout,
                        entries: &[
                            wgpu::BindGroupEntry {
                                binding: 0,
                                resource: buffer(input.buffer),
                            },
                            wgpu::BindGroupEntry {
                                binding: 1,
                                resource: self.weights[*weights].0.as_entire_binding(),
                            },
                            wgpu::BindGroupEntry {
                                binding: 2,
                                resource: self.weights[*weights].1.as_entire_binding(),
                            },
                            wgpu::BindGroupEntry {
                                binding: 3,
                                resource: buffer(output.buffer),
                            },
                            wgpu::BindGroupEntry {
                                binding: 4,
                                resource: params.as_entire_binding(),
                            },
                        ],
                    }),
                    Op::Add { a, b, output } => self.elt_group(
                        buffer(a.buffer),
                        buffer(b.buffer),
                        buffer(output.buffer),
                        params,
                    ),
                    Op::Upsample { input, output } => self.elt_group(
                        buffer(input.buffer),
                        buffer(input.buffer),
                        buffer(output.buffer),
                        params,
                    ),
                }
            })
            .collect();
        let staging = self
            .plan
            .outputs
            .iter()
            .map(|v| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("head"),
                    size: (v.shape.len() * size * 4) as u64,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        Batch {
            size,
            buffers,
            bind_groups,
            staging,
        }
    }

    fn elt_group(
        &self,
        a: wgpu::BindingResource,
        b: wgpu::BindingResource,
        out: wgpu::BindingResource,
        params: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("eltwise"),
            layout: &self.elt_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: a,
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: b,
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: out,
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: params.as_entire_binding(),
                },
            ],
        })
    }

    fn run_chunk(&self, batch: &Batch, input: &[f32]) -> Result<Vec<Vec<f32>>> {
        let n = batch.size as u32;
        self.queue
            .write_buffer(&batch.buffers[self.plan.input.buffer], 0, as_bytes(input));
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("yolov3"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("yolov3"),
                timestamp_writes: None,
            });
            for (op, group) in self.plan.ops.iter().zip(&batch.bind_groups) {
                match op {
                    Op::Conv { output, .. } => {
                        pass.set_pipeline(&self.conv);
                        pass.set_bind_group(0, group, &[]);
                        let pixels = (output.shape.height * output.shape.width) as u32;
                        pass.dispatch_workgroups(
                            pixels.div_ceil(64),
                            (output.shape.channels as u32).div_ceil(16),
                            n,
                        );
                    }
                    Op::Add { output, .. } | Op::Upsample { output, .. } => {
                        pass.set_pipeline(if matches!(op, Op::Add { .. }) {
                            &self.add
                        } else {
                            &self.upsample
                        });
                        pass.set_bind_group(0, group, &[]);
                        let pixels = (output.shape.height * output.shape.width) as u32;
                        pass.dispatch_workgroups(
                            pixels.div_ceil(64),
                            (output.shape.channels as u32).div_ceil(4),
                            n,
                        );
                    }
                }
            }
        }
        for (view, staging) in self.plan.outputs.iter().zip(&batch.staging) {
            // heads are whole buffers of their own (offset 0, all channels)
            encoder.copy_buffer_to_buffer(
                &batch.buffers[view.buffer],
                0,
                staging,
                0,
                staging.size(),
            );
        }
        self.queue.submit([encoder.finish()]);
        for staging in &batch.staging {
            staging.map_async(wgpu::MapMode::Read, .., |_| {});
        }
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("{}: {e}", self.adapter.name)))?;
        if let Some(e) = self.errors.lock().ok().and_then(|mut slot| slot.take()) {
            for staging in &batch.staging {
                staging.unmap();
            }
            return Err(Error::Gpu(format!("{}: {e}", self.adapter.name)));
        }
        let mut heads = Vec::with_capacity(batch.staging.len());
        for staging in &batch.staging {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Gpu(format!("read-back: {e}")))?;
            heads.push(bytemuck::cast_slice::<u8, f32>(&view).to_vec());
            drop(view);
            staging.unmap();
        }
        Ok(heads)
    }
}

impl GpuEngine {
    /// Run the plan on `n` items laid out as the plan's input (NCHW); returns every output,
    /// NCHW. Batches beyond the storage-binding limit run in chunks.
    pub fn run(&self, input: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        let per_item = self.plan.input.shape.len();
        if input.len() != n * per_item {
            return Err(Error::parameter(
                "input",
                format!("{} values for {n} items of {per_item}", input.len()),
            ));
        }
        let mut outputs: Vec<Vec<f32>> = vec![Vec::new(); self.plan.outputs.len()];
        let mut batches = self
            .batches
            .lock()
            .map_err(|_| Error::Gpu("engine poisoned".into()))?;
        let mut start = 0;
        while start < n {
            let size = (n - start).min(self.max_batch);
            let resources = batches.entry(size).or_insert_with(|| self.make_batch(size));
            let out = self.run_chunk(
                resources,
                &input[start * per_item..(start + size) * per_item],
            )?;
            for (all, part) in outputs.iter_mut().zip(out) {
                all.extend(part);
            }
            start += size;
        }
        Ok(outputs)
    }
}

impl Engine for GpuEngine {
    fn name(&self) -> String {
        format!("wgpu ({}, {:?})", self.adapter.name, self.adapter.backend)
    }

    fn preferred_batch(&self) -> usize {
        16
    }

    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn infer(&self, batch: ArrayView4<f32>) -> Result<[Array4<f32>; 3]> {
        let (n, c, h, w) = batch.dim();
        let tile = self.metadata.tile;
        if c != 3 || h != tile || w != tile {
            return Err(Error::parameter(
                "batch",
                format!("expected [N, 3, {tile}, {tile}], got [{n}, {c}, {h}, {w}]"),
            ));
        }
        let heads = match batch.as_slice() {
            Some(data) => self.run(data, n)?,
            None => self.run(&batch.iter().copied().collect::<Vec<f32>>(), n)?,
        };
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
}
