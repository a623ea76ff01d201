//! ONNX writing (with tract-onnx's protobuf types, encoded by prost) and reading of fringewatch
//! models. Opset 13: Conv (batch-norm folded), LeakyRelu 0.1, Add, Resize (nearest, asymmetric,
//! floor, scale 2), Concat; the cos/sin phase input adds Slice, Cos, Sin and Identity.

use std::path::Path;

use prost::Message;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType,
    tensor_shape_proto::dimension::Value as Dim, tensor_shape_proto::Dimension, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use super::contract::{ModelMetadata, METADATA_KEY};
use super::yolov3::{ConvWeights, Graph, Node};
use crate::error::{Error, Result};

const OPSET: i64 = 13;
/// Slope of the LeakyReLU activations (Darknet).
pub const LEAKY_SLOPE: f32 = 0.1;

fn float_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    let mut raw = Vec::with_capacity(values.len() * 4);
    for v in values {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    TensorProto {
        name: name.to_string(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: raw,
        ..Default::default()
    }
}

fn int64_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: vec![values.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn float_attr(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}

fn string_attr(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attributes: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attributes,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => Dim::DimValue(*v),
                None => Dim::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn channel_axis() -> AttributeProto {
    AttributeProto {
        name: "axis".into(),
        r#type: AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    }
}

/// (φ, ISL, PC1) → (cos φ, sin φ, ISL, PC1): `Slice` channel 0 and channels 1–2, `Cos` and `Sin`
/// of the phase, `Identity` of the layers (a copy, so that every input of the `Concat` is
/// computed by a node), `Concat` on channels.
fn phase_cos_sin_nodes(
    input: &str,
    output: &str,
    nodes: &mut Vec<NodeProto>,
    initializers: &mut Vec<TensorProto>,
) {
    let name = |part: &str| format!("{output}_{part}");
    for (tensor, values) in [
        ("start_phase", 0),
        ("end_phase", 1),
        ("start_layers", 1),
        ("end_layers", 3),
        ("axis", 1),
    ] {
        initializers.push(int64_tensor(&name(tensor), &[values]));
    }
    let (phase, layers) = (name("phase"), name("layers"));
    for (slice, start, end) in [
        (&phase, "start_phase", "end_phase"),
        (&layers, "start_layers", "end_layers"),
    ] {
        nodes.push(node(
            "Slice",
            slice,
            &[input, &name(start), &name(end), &name("axis")],
            &[slice],
            vec![],
        ));
    }
    let (cos, sin, copy) = (name("cos"), name("sin"), name("layers_copy"));
    nodes.push(node("Cos", &cos, &[&phase], &[&cos], vec![]));
    nodes.push(node("Sin", &sin, &[&phase], &[&sin], vec![]));
    nodes.push(node("Identity", &copy, &[&layers], &[&copy], vec![]));
    nodes.push(node(
        "Concat",
        output,
        &[&cos, &sin, &copy],
        &[output],
        vec![channel_axis()],
    ));
}

/// Build the ONNX model of `graph` with `weights` (one per conv, in graph order) and `metadata`.
pub fn to_onnx(
    graph: &Graph,
    weights: &[ConvWeights],
    metadata: &ModelMetadata,
) -> Result<ModelProto> {
    metadata
        .validate()
        .map_err(|e| Error::parameter("model metadata", e))?;
    if metadata.config() != graph.config {
        return Err(Error::parameter(
            "model metadata",
            format!(
                "describes {:?}, the graph is {:?}",
                metadata.config(),
                graph.config
            ),
        ));
    }
    let convs: Vec<_> = graph.convs().collect();
    if convs.len() != weights.len() {
        return Err(Error::parameter(
            "weights",
            format!("{} convs but {} weight sets", convs.len(), weights.len()),
        ));
    }
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut conv_index = 0;
    for n in &graph.nodes {
        match n {
            Node::Conv(c) => {
                let w = &weights[conv_index];
                conv_index += 1;
                let expected = c.out_channels * c.in_channels * c.kernel * c.kernel;
                if w.weight.len() != expected {
                    return Err(Error::parameter(
                        "weights",
                        format!(
                            "{}: {} kernel values, expected {expected}",
                            c.name,
                            w.weight.len()
                        ),
                    ));
                }
                let (kernel, bias) = w.folded(c.out_channels);
                let (wn, bn) = (format!("{}.weight", c.name), format!("{}.bias", c.name));
                initializers.push(float_tensor(
                    &wn,
                    &[
                        c.out_channels as i64,
                        c.in_channels as i64,
                        c.kernel as i64,
                        c.kernel as i64,
                    ],
                    &kernel,
                ));
                initializers.push(float_tensor(&bn, &[c.out_channels as i64], &bias));
                let pad = (c.kernel / 2) as i64;
                let conv_out = if c.batch_norm {
                    format!("{}_conv", c.name)
                } else {
                    c.output.clone()
                };
                nodes.push(node(
                    "Conv",
                    &c.name,
                    &[&c.input, &wn, &bn],
                    &[&conv_out],
                    vec![
                        ints("kernel_shape", &[c.kernel as i64, c.kernel as i64]),
                        ints("strides", &[c.stride as i64, c.stride as i64]),
                        ints("pads", &[pad, pad, pad, pad]),
                    ],
                ));
                if c.batch_norm {
                    nodes.push(node(
                        "LeakyRelu",
                        &format!("{}_leaky", c.name),
                        &[&conv_out],
                        &[&c.output],
                        vec![float_attr("alpha", LEAKY_SLOPE)],
                    ));
                }
            }
            Node::Add { a, b, output } => {
                nodes.push(node("Add", output, &[a, b], &[output], vec![]))
            }
            Node::Upsample { input, output } => {
                let scales = format!("{output}_scales");
                initializers.push(float_tensor(&scales, &[4], &[1.0, 1.0, 2.0, 2.0]));
                nodes.push(node(
                    "Resize",
                    output,
                    &[input, "", &scales],
                    &[output],
                    vec![
                        string_attr("mode", "nearest"),
                        string_attr("coordinate_transformation_mode", "asymmetric"),
                        string_attr("nearest_mode", "floor"),
                    ],
                ));
            }
            Node::Concat { inputs, output } => {
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                nodes.push(node(
                    "Concat",
                    output,
                    &refs,
                    &[output],
                    vec![channel_axis()],
                ));
            }
            Node::PhaseCosSin { input, output } => {
                phase_cos_sin_nodes(input, output, &mut nodes, &mut initializers)
            }
        }
    }
    let tile = metadata.tile as i64;
    let head = graph.config.head_channels() as i64;
    let outputs = graph
        .outputs
        .iter()
        .zip(super::yolov3::STRIDES)
        .map(|(name, s)| {
            value_info(
                name,
                &[
                    None,
                    Some(head),
                    Some(tile / s as i64),
                    Some(tile / s as i64),
                ],
            )
        })
        .collect();
    let json = serde_json::to_string(metadata)
        .map_err(|e| Error::parameter("model metadata", e.to_string()))?;
    Ok(ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "fringewatch".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "YOLOv3 landslide detector for wrapped interferograms (phase, ISL, PC1)".into(),
        graph: Some(GraphProto {
            name: metadata.name.clone(),
            node: nodes,
            initializer: initializers,
            input: vec![value_info(
                &graph.input,
                &[None, Some(3), Some(tile), Some(tile)],
            )],
            output: outputs,
            ..Default::default()
        }),
        metadata_props: vec![StringStringEntryProto {
            key: METADATA_KEY.into(),
            value: json,
        }],
        ..Default::default()
    })
}

/// Write `model` to `path` atomically (temporary file renamed into place).
pub fn write_onnx(model: &ModelProto, path: &Path) -> Result<()> {
    crate::raster::io::check_output_path(path)?;
    let bytes = model.encode_to_vec();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    std::fs::write(&temp, &bytes)
        .and_then(|_| std::fs::rename(&temp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&temp);
            Error::io(path, source)
        })
}

/// Read and check an ONNX model file: protobuf, metadata, input and output shapes.
pub fn read_model(path: &Path) -> Result<(ModelProto, ModelMetadata)> {
    let bytes = std::fs::read(path).map_err(|source| Error::reading(path, source))?;
    let proto = ModelProto::decode(bytes.as_slice())
        .ok()
        .filter(|p| p.graph.is_some())
        .ok_or_else(|| {
            Error::bad_input(
                path,
                "not an ONNX model (the file does not decode as an ONNX protobuf)",
            )
        })?;
    let entry = proto.metadata_props.iter().find(|e| e.key == METADATA_KEY).ok_or_else(|| {
        Error::bad_input(
            path,
            format!("ONNX model without the '{METADATA_KEY}' metadata (classes, anchors, normalisation): not a fringewatch detector; see the model contract in the README"),
        )
    })?;
    let metadata: ModelMetadata = serde_json::from_str(&entry.value).map_err(|e| {
        Error::bad_input(path, format!("unreadable '{METADATA_KEY}' metadata: {e}"))
    })?;
    metadata
        .validate()
        .map_err(|e| Error::bad_input(path, format!("model metadata: {e}")))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| Error::bad_input(path, "ONNX model without a graph"))?;
    let dims = |v: &ValueInfoProto| -> Vec<Option<i64>> {
        match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(t)) => t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(Dim::DimValue(v)) => Some(v),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    };
    let initializer_names: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializer_names.contains(i.name.as_str()))
        .collect();
    if inputs.len() != 1 {
        return Err(Error::bad_input(
            path,
            format!(
                "{} graph inputs; the contract has one [N, 3, H, W] input",
                inputs.len()
            ),
        ));
    }
    let input = dims(inputs[0]);
    let tile = metadata.tile as i64;
    if input.len() != 4 || input[1] != Some(3) || input[2] != Some(tile) || input[3] != Some(tile) {
        return Err(Error::bad_input(
            path,
            format!("input shape {input:?} does not match [N, 3, {tile}, {tile}] (three channels: phase, ISL, PC1; tile {tile} from the metadata)"),
        ));
    }
    if graph.output.len() != 3 {
        return Err(Error::bad_input(
            path,
            format!(
                "{} outputs; the contract has the three YOLOv3 heads",
                graph.output.len()
            ),
        ));
    }
    let head = (3 * (5 + metadata.classes.len())) as i64;
    for (output, stride) in graph.output.iter().zip(super::yolov3::STRIDES) {
        let d = dims(output);
        let expected = [
            Some(head),
            Some(tile / stride as i64),
            Some(tile / stride as i64),
        ];
        if d.len() != 4 || d[1..] != expected {
            return Err(Error::bad_input(
                path,
                format!(
                    "output '{}' has shape {d:?}; {} classes and tile {tile} need [N, {head}, {}, {}]",
                    output.name,
                    metadata.classes.len(),
                    tile / stride as i64,
                    tile / stride as i64
                ),
            ));
        }
    }
    Ok((proto, metadata))
}

/// The (folded) kernels and biases of a model file of the contract, one per conv of `graph` — the
/// inverse of [`to_onnx`]; fails when the file's architecture is not `graph`'s.
pub fn read_conv_weights(path: &Path, graph: &Graph) -> Result<Vec<ConvWeights>> {
    let (proto, metadata) = read_model(path)?;
    let config = metadata.config();
    if config != graph.config {
        return Err(Error::bad_input(
            path,
            format!(
                "model of width {} depth {}, {} classes and {:?} phase input; the run trains width {} depth {} with {} classes and {:?} phase input",
                config.width, config.depth, config.classes, config.phase_input, graph.config.width, graph.config.depth, graph.config.classes, graph.config.phase_input
            ),
        ));
    }
    let graph_proto = proto
        .graph
        .as_ref()
        .ok_or_else(|| Error::bad_input(path, "no graph"))?;
    let find = |name: &str| -> Result<Vec<f32>> {
        let t = graph_proto
            .initializer
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::bad_input(path, format!("no initializer '{name}'")))?;
        Ok(tensor_floats(t))
    };
    graph
        .convs()
        .map(|c| {
            Ok(ConvWeights {
                weight: find(&format!("{}.weight", c.name))?,
                bias: Some(find(&format!("{}.bias", c.name))?),
                batch_norm: None,
            })
        })
        .collect()
}

/// The values of a float tensor (`float_data`, or little-endian `raw_data`).
pub fn tensor_floats(t: &TensorProto) -> Vec<f32> {
    if !t.float_data.is_empty() {
        return t.float_data.clone();
    }
    t.raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
