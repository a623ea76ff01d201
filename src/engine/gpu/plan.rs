//! The operator list of a model-contract ONNX file for the GPU engine: the YOLOv3 operator set
//! (Conv with bias, LeakyRelu fused into the Conv before it, Add, Resize nearest ×2, Concat on
//! channels) and the cos/sin phase input (Slice on channels, Cos, Sin, Identity) as operations
//! on channel views of a few pooled buffers. Concatenations and channel slices cost nothing:
//! concatenation inputs are written straight into the channel slices of the concatenation's
//! buffer, and a slice is a view of its input's channels. Buffers are reused once their last
//! reader has run (liveness-based pool). Any other operator is refused with its name.

use std::collections::HashMap;

use tract_onnx::pb::{attribute_proto::AttributeType, ModelProto, NodeProto, TensorProto};

use crate::model::onnx::tensor_floats as floats;

/// Shape of one tile's tensor: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Shape {
    /// Values per tile.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// A tensor as a channel slice of a pooled buffer (NCHW, `buffer_channels` channels per item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub buffer: usize,
    pub channel_offset: usize,
    pub buffer_channels: usize,
    pub shape: Shape,
}

/// Convolution weights (OIHW) and bias of one Conv node.
#[derive(Debug, Clone)]
pub struct ConvWeights {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// One GPU operation on tensors `T`: [`View`]s in a plan (names while planning).
#[derive(Debug, Clone)]
pub enum Op<T = View> {
    /// y = conv(x, W, stride, pad) + b, then LeakyRelu(alpha) when fused.
    Conv {
        input: T,
        output: T,
        weights: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        leaky: Option<f32>,
    },
    Add {
        a: T,
        b: T,
        output: T,
    },
    /// Nearest-neighbour ×2 (ONNX Resize, nearest/asymmetric/floor, scales 1, 1, 2, 2).
    Upsample {
        input: T,
        output: T,
    },
    /// y = f(x) element by element.
    Unary {
        input: T,
        output: T,
        function: Unary,
    },
}

/// The element-wise functions of [`Op::Unary`]; the discriminant is the kernel's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    Identity = 0,
    Cos = 1,
    Sin = 2,
}

impl<T> Op<T> {
    /// The tensors read and the tensor written.
    fn reads_writes(&self) -> (Vec<&T>, &T) {
        match self {
            Op::Conv { input, output, .. }
            | Op::Upsample { input, output }
            | Op::Unary { input, output, .. } => (vec![input], output),
            Op::Add { a, b, output } => (vec![a, b], output),
        }
    }

    /// The same operation on other tensors.
    fn map<U, E>(&self, mut f: impl FnMut(&T) -> Result<U, E>) -> Result<Op<U>, E> {
        Ok(match self {
            Op::Conv {
                input,
                output,
                weights,
                kernel,
                stride,
                pad,
                leaky,
            } => Op::Conv {
                input: f(input)?,
                output: f(output)?,
                weights: *weights,
                kernel: *kernel,
                stride: *stride,
                pad: *pad,
                leaky: *leaky,
            },
            Op::Add { a, b, output } => Op::Add {
                a: f(a)?,
                b: f(b)?,
                output: f(output)?,
            },
            Op::Upsample { input, output } => Op::Upsample {
                input: f(input)?,
                output: f(output)?,
            },
            Op::Unary {
                input,
                output,
                function,
            } => Op::Unary {
                input: f(input)?,
                output: f(output)?,
                function: *function,
            },
        })
    }
}

/// The whole model for the GPU.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Floats per tile of each pooled buffer.
    pub buffers: Vec<usize>,
    pub ops: Vec<Op>,
    pub input: View,
    /// The three head outputs (strides 8, 16, 32), in the graph's output order.
    pub outputs: Vec<View>,
    pub weights: Vec<ConvWeights>,
}

impl Plan {
    /// Multiply–adds per tile, ×2 = FLOPs.
    pub fn flops(&self) -> f64 {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Conv {
                    input,
                    output,
                    kernel,
                    ..
                } => 2.0 * (output.shape.len() * input.shape.channels * kernel * kernel) as f64,
                _ => 0.0,
            })
            .sum()
    }
}

fn attribute_ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.ints.clone())
}

fn attribute_float(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute
        .iter()
        .find(|a| a.name == name && a.r#type == AttributeType::Float as i32)
        .map(|a| a.f)
}

fn attribute_string(node: &NodeProto, name: &str) -> Option<String> {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

/// Build the plan of `proto` for `tile`×`tile` inputs of 3 channels.
pub fn plan(proto: &ModelProto, tile: usize) -> std::result::Result<Plan, String> {
    let graph = proto.graph.as_ref().ok_or("no graph")?;
    let initializers: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let input_name = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .find(|n| !initializers.contains_key(n))
        .ok_or("no graph input")?
        .to_string();
    let mut shapes: HashMap<String, Shape> = HashMap::new();
    shapes.insert(
        input_name.clone(),
        Shape {
            channels: 3,
            height: tile,
            width: tile,
        },
    );
    // consumers of each tensor, to fuse LeakyRelu into the Conv it follows
    let mut consumers: HashMap<&str, usize> = HashMap::new();
    for node in &graph.node {
        for i in &node.input {
            *consumers.entry(i.as_str()).or_default() += 1;
        }
    }
    let mut logical = Vec::new();
    let mut weights = Vec::new();
    let mut concats: Vec<(String, Vec<String>)> = Vec::new();
    let mut slices: HashMap<String, (String, usize)> = HashMap::new(); // slice → (source, first channel)
    let mut renamed: HashMap<String, String> = HashMap::new(); // fused conv output → leaky output
    let shape_of = |shapes: &HashMap<String, Shape>, name: &str| {
        shapes
            .get(name)
            .copied()
            .ok_or_else(|| format!("tensor '{name}' used before it is computed"))
    };
    for node in &graph.node {
        let input = |k: usize| node.input.get(k).cloned().unwrap_or_default();
        let output = node.output.first().cloned().unwrap_or_default();
        match node.op_type.as_str() {
            "Conv" => {
                let w = initializers
                    .get(input(1).as_str())
                    .ok_or_else(|| format!("Conv '{}': weight is not an initializer", node.name))?;
                if w.dims.len() != 4 || w.dims[2] != w.dims[3] {
                    return Err(format!("Conv '{}': weight shape {:?}", node.name, w.dims));
                }
                let (out_c, in_c, k) = (w.dims[0] as usize, w.dims[1] as usize, w.dims[2] as usize);
                let bias = match node.input.get(2).filter(|s| !s.is_empty()) {
                    Some(b) => floats(
                        initializers
                            .get(b.as_str())
                            .ok_or_else(|| format!("Conv '{}': bias is not an initializer", node.name))?,
                    ),
                    None => vec![0.0; out_c],
                };
                let stride = attribute_ints(node, "strides").unwrap_or(vec![1, 1]);
                let pads = attribute_ints(node, "pads").unwrap_or(vec![0; 4]);
                if stride.len() != 2 || stride[0] != stride[1] || pads.len() != 4 || pads.iter().any(|&p| p != pads[0]) {
                    return Err(format!("Conv '{}': only square strides and equal pads are supported", node.name));
                }
                if attribute_ints(node, "group").is_some_and(|g| g != [1]) || attribute_ints(node, "dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
                    return Err(format!("Conv '{}': groups and dilations are not supported", node.name));
                }
                let x = shape_of(&shapes, &input(0))?;
                if x.channels != in_c {
                    return Err(format!("Conv '{}': {} input channels, weight expects {in_c}", node.name, x.channels));
                }
                let (s, p) = (stride[0] as usize, pads[0] as usize);
                let out = Shape {
                    channels: out_c,
                    height: (x.height + 2 * p - k) / s + 1,
                    width: (x.width + 2 * p - k) / s + 1,
                };
                weights.push(ConvWeights {
                    weight: floats(w),
                    bias,
                });
                shapes.insert(output.clone(), out);
                logical.push(Op::Conv {
                    input: input(0),
                    output,
                    weights: weights.len() - 1,
                    kernel: k,
                    stride: s,
                    pad: p,
                    leaky: None,
                });
            }
            "LeakyRelu" => {
                let alpha = attribute_float(node, "alpha").unwrap_or(0.01);
                let source = input(0);
                let fused = match logical.last_mut() {
                    Some(Op::Conv { output: o, leaky, .. })
                        if *o == source && leaky.is_none() && consumers.get(source.as_str()) == Some(&1) =>
                    {
                        *leaky = Some(alpha);
                        *o = output.clone();
                        true
                    }
                    _ => false,
                };
                if !fused {
                    return Err(format!(
                        "LeakyRelu '{}' does not follow a Conv it can be fused into",
                        node.name
                    ));
                }
                let s = shape_of(&shapes, &source)?;
                shapes.insert(output.clone(), s);
                renamed.insert(source, output);
            }
            "Add" => {
                let (a, b) = (shape_of(&shapes, &input(0))?, shape_of(&shapes, &input(1))?);
                if a != b {
                    return Err(format!("Add '{}': shapes differ (no broadcasting)", node.name));
                }
                shapes.insert(output.clone(), a);
                logical.push(Op::Add {
                    a: input(0),
                    b: input(1),
                    output,
                });
            }
            "Resize" | "Upsample" => {
                let scales = node
                    .input
                    .iter()
                    .skip(1)
                    .filter(|s| !s.is_empty())
                    .find_map(|s| initializers.get(s.as_str()).map(|t| floats(t)));
                let nearest = attribute_string(node, "mode").is_none_or(|m| m == "nearest");
                if scales.as_deref() != Some(&[1.0, 1.0, 2.0, 2.0][..]) || !nearest {
                    return Err(format!(
                        "Resize '{}': only nearest ×2 upsampling is supported",
                        node.name
                    ));
                }
                let x = shape_of(&shapes, &input(0))?;
                shapes.insert(
                    output.clone(),
                    Shape {
                        channels: x.channels,
                        height: 2 * x.height,
                        width: 2 * x.width,
                    },
                );
                logical.push(Op::Upsample {
                    input: input(0),
                    output,
                });
            }
            "Slice" => {
                let int_input = |k: usize| -> std::result::Result<Vec<i64>, String> {
                    let name = node.input.get(k).filter(|s| !s.is_empty()).ok_or_else(|| {
                        format!("Slice '{}': input {k} is missing", node.name)
                    })?;
                    initializers
                        .get(name.as_str())
                        .map(|t| int64s(t))
                        .ok_or_else(|| format!("Slice '{}': '{name}' is not an initializer", node.name))
                };
                let (starts, ends, axes) = (int_input(1)?, int_input(2)?, int_input(3)?);
                let steps = node.input.get(4).filter(|s| !s.is_empty()).map(|_| int_input(4)).transpose()?;
                let x = shape_of(&shapes, &input(0))?;
                let start = starts.first().copied().unwrap_or(0).clamp(0, x.channels as i64) as usize;
                let end = ends.first().copied().unwrap_or(0).clamp(0, x.channels as i64) as usize;
                if starts.len() != 1 || ends.len() != 1 || axes != [1] || steps.is_some_and(|s| s != [1]) || end <= start {
                    return Err(format!(
                        "Slice '{}': only a range of channels (one axis, 1, step 1) is supported",
                        node.name
                    ));
                }
                shapes.insert(
                    output.clone(),
                    Shape {
                        channels: end - start,
                        ..x
                    },
                );
                slices.insert(output, (input(0), start));
            }
            "Cos" | "Sin" | "Identity" => {
                let function = match node.op_type.as_str() {
                    "Cos" => Unary::Cos,
                    "Sin" => Unary::Sin,
                    _ => Unary::Identity,
                };
                let x = shape_of(&shapes, &input(0))?;
                shapes.insert(output.clone(), x);
                logical.push(Op::Unary {
                    input: input(0),
                    output,
                    function,
                });
            }
            "Concat" => {
                let axis = node
                    .attribute
                    .iter()
                    .find(|a| a.name == "axis")
                    .map(|a| a.i)
                    .unwrap_or(1);
                if axis != 1 {
                    return Err(format!("Concat '{}': only channel concatenation (axis 1)", node.name));
                }
                let mut channels = 0;
                let mut hw = None;
                for i in &node.input {
                    let s = shape_of(&shapes, i)?;
                    if hw.is_some_and(|v| v != (s.height, s.width)) {
                        return Err(format!("Concat '{}': spatial sizes differ", node.name));
                    }
                    hw = Some((s.height, s.width));
                    channels += s.channels;
                }
                let (height, width) = hw.ok_or("Concat without inputs")?;
                shapes.insert(
                    output.clone(),
                    Shape {
                        channels,
                        height,
                        width,
                    },
                );
                concats.push((output, node.input.clone()));
            }
            other => {
                return Err(format!(
                    "operator {other} (node '{}') is outside the GPU engine's set (Conv, LeakyRelu, Add, Resize, Concat, and Slice, Cos, Sin, Identity of the cos/sin phase input); use the CPU backend",
                    node.name
                ))
            }
        }
    }
    let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    allocate(
        logical,
        concats,
        slices,
        shapes,
        &input_name,
        &outputs,
        weights,
    )
}

fn int64s(t: &TensorProto) -> Vec<i64> {
    if !t.int64_data.is_empty() {
        return t.int64_data.clone();
    }
    t.raw_data
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect()
}

/// Give every tensor a view: concatenation inputs are slices of the concatenation's buffer,
/// channel slices are views of their source; other tensors get pooled buffers, reused after
/// their last reader.
fn allocate(
    logical: Vec<Op<String>>,
    concats: Vec<(String, Vec<String>)>,
    slices: HashMap<String, (String, usize)>,
    shapes: HashMap<String, Shape>,
    input_name: &str,
    outputs: &[String],
    weights: Vec<ConvWeights>,
) -> std::result::Result<Plan, String> {
    // tensor → (parent concat, channel offset)
    let mut parent: HashMap<String, (String, usize)> = HashMap::new();
    for (out, inputs) in &concats {
        let mut offset = 0;
        for i in inputs {
            if i == input_name || slices.contains_key(i) {
                return Err(format!(
                    "'{i}' (the graph input or a channel slice) feeds a Concat: not supported (copy it with Identity first)"
                ));
            }
            if parent.insert(i.clone(), (out.clone(), offset)).is_some() {
                return Err(format!(
                    "tensor '{i}' feeds two Concat nodes: not supported"
                ));
            }
            offset += shapes[i].channels;
        }
    }
    // a slice is a view of its source's channels, as a concatenation input is of its output's
    parent.extend(slices);
    let root_of = |name: &str| -> (String, usize) {
        let (mut name, mut offset) = (name.to_string(), 0);
        while let Some((p, o)) = parent.get(&name) {
            offset += o;
            name = p.clone();
        }
        (name, offset)
    };
    // order of use: op index where each root is first written and last read
    let mut last_read: HashMap<String, usize> = HashMap::new();
    let mut first_write: HashMap<String, usize> = HashMap::new();
    for (k, op) in logical.iter().enumerate() {
        let (reads, write) = op.reads_writes();
        for r in reads {
            last_read.insert(root_of(r).0, k);
        }
        first_write.entry(root_of(write).0).or_insert(k);
    }
    for o in outputs {
        last_read.insert(root_of(o).0, usize::MAX);
    }
    let (input_root, _) = root_of(input_name);
    first_write.insert(input_root.clone(), 0);
    // pool: (floats per tile, free from op index)
    let mut buffers: Vec<usize> = Vec::new();
    let mut free_at: Vec<usize> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    let mut roots: Vec<(usize, String)> =
        first_write.iter().map(|(r, &k)| (k, r.clone())).collect();
    // by first write; the input (written before op 0) first, then by name for determinism
    roots.sort_by(|a, b| (a.0, a.1 != input_root, &a.1).cmp(&(b.0, b.1 != input_root, &b.1)));
    for (start, root) in roots {
        let need = shapes[&root].len();
        let end = last_read.get(&root).copied().unwrap_or(start);
        let choice = (0..buffers.len())
            .filter(|&b| free_at[b] < start)
            .min_by_key(|&b| (buffers[b] < need, buffers[b].abs_diff(need)));
        let b = match choice {
            Some(b) => {
                buffers[b] = buffers[b].max(need);
                b
            }
            None => {
                buffers.push(need);
                free_at.push(0);
                buffers.len() - 1
            }
        };
        free_at[b] = end;
        slot.insert(root, b);
    }
    let view = |name: &str| -> std::result::Result<View, String> {
        let (root, offset) = root_of(name);
        Ok(View {
            buffer: *slot
                .get(&root)
                .ok_or_else(|| format!("tensor '{name}' never written"))?,
            channel_offset: offset,
            buffer_channels: shapes[&root].channels,
            shape: shapes[name],
        })
    };
    let ops = logical
        .iter()
        .map(|op| op.map(|name| view(name)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Plan {
        buffers,
        ops,
        input: view(input_name)?,
        outputs: outputs
            .iter()
            .map(|o| view(o))
            .collect::<std::result::Result<_, _>>()?,
        weights,
    })
}
