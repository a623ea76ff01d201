//! The CPU engine: tract's optimised plan of the ONNX file, one plan per batch size (compiled on
//! first use and kept).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ndarray::{s, Array4, ArrayView4, Axis};
use tract_onnx::prelude::*;

use super::Engine;
use crate::error::{Error, Result};
use crate::model::contract::ModelMetadata;
use crate::model::onnx::read_model;
use crate::model::phase_input::PhaseInput;
use crate::phase::sin_cos::sin_cos_into;

type Plan = Arc<TypedRunnableModel>;

/// tract engine for one model file.
pub struct TractEngine {
    path: PathBuf,
    proto: tract_onnx::pb::ModelProto,
    metadata: ModelMetadata,
    /// The graph's cos/sin prefix was cut off: the host computes (cos φ, sin φ, ISL, PC1).
    host_cos_sin: bool,
    plans: Mutex<HashMap<usize, Plan>>,
}

impl TractEngine {
    /// Load and check the model (contract, shapes), and compile the plan for `batch` tiles.
    ///
    /// A cos/sin model's `Slice`, `Cos`, `Sin`, `Identity` and `Concat` prefix
    /// ([`crate::model::phase_input::PhaseInput::CosSin`]) is cut off and computed on the host
    /// in one vectorised loop ([`crate::phase::sin_cos::sin_cos_into`]): tract calls scalar libm
    /// for each cell (0.37 ms of a 3.4 ms tile).
    pub fn load(path: &Path, batch: usize) -> Result<TractEngine> {
        Self::load_with(path, batch, true)
    }

    /// [`Self::load`] running the graph as written, its cos/sin prefix included (for
    /// comparisons).
    pub fn load_whole_graph(path: &Path, batch: usize) -> Result<TractEngine> {
        Self::load_with(path, batch, false)
    }

    /// Whether (cos φ, sin φ) are computed on the host, the graph's prefix cut off.
    pub fn cos_sin_on_host(&self) -> bool {
        self.host_cos_sin
    }

    fn load_with(path: &Path, batch: usize, cut_prefix: bool) -> Result<TractEngine> {
        let (proto, metadata) = read_model(path)?;
        let cut = match metadata.phase_input {
            PhaseInput::CosSin if cut_prefix => without_cos_sin_prefix(&proto),
            _ => None,
        };
        let engine = TractEngine {
            path: path.to_path_buf(),
            host_cos_sin: cut.is_some(),
            proto: cut.unwrap_or(proto),
            metadata,
            plans: Mutex::new(HashMap::new()),
        };
        engine.plan(batch.max(1))?;
        Ok(engine)
    }

    /// Channels of the compiled graph's input: 4 when the host computes cos φ and sin φ.
    fn input_channels(&self) -> usize {
        if self.host_cos_sin {
            4
        } else {
            3
        }
    }

    fn plan(&self, batch: usize) -> Result<Plan> {
        if let Some(p) = self.plans.lock().map_err(|_| self.poisoned())?.get(&batch) {
            return Ok(p.clone());
        }
        let tile = self.metadata.tile;
        let plan = tract_onnx::onnx()
            .model_for_proto_model(&self.proto)
            .and_then(|m| {
                m.with_input_fact(
                    0,
                    f32::fact([batch, self.input_channels(), tile, tile]).into(),
                )
            })
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| {
                Error::bad_input(&self.path, format!("tract cannot run this model: {e}"))
            })?;
        self.plans
            .lock()
            .map_err(|_| self.poisoned())?
            .insert(batch, plan.clone());
        Ok(plan)
    }

    fn poisoned(&self) -> Error {
        Error::bad_input(&self.path, "engine state poisoned by an earlier failure")
    }
}

impl Engine for TractEngine {
    fn name(&self) -> String {
        "tract (CPU)".into()
    }

    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn infer(&self, batch: ArrayView4<f32>) -> Result<[Array4<f32>; 3]> {
        let n = batch.shape()[0];
        let plan = self.plan(n)?;
        let input: Tensor = if self.host_cos_sin {
            with_cos_sin(batch).into()
        } else {
            batch.to_owned().into()
        };
        let outputs = plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::bad_input(&self.path, format!("inference failed: {e}")))?;
        if outputs.len() != 3 {
            return Err(Error::bad_input(
                &self.path,
                format!("{} outputs instead of 3", outputs.len()),
            ));
        }
        let mut heads = Vec::with_capacity(3);
        for o in outputs.iter() {
            let view = o
                .to_plain_array_view::<f32>()
                .map_err(|e| Error::bad_input(&self.path, format!("output is not float32: {e}")))?;
            let array = view
                .into_dimensionality::<ndarray::Ix4>()
                .map_err(|e| Error::bad_input(&self.path, format!("output is not 4-D: {e}")))?
                .to_owned();
            heads.push(array);
        }
        let [a, b, c]: [Array4<f32>; 3] = heads.try_into().map_err(|_| self.poisoned())?;
        Ok([a, b, c])
    }
}

/// `[N, 3, T, T]` (φ, ISL, PC1) → `[N, 4, T, T]` (cos φ, sin φ, ISL, PC1), as the graph's prefix
/// computes it.
fn with_cos_sin(batch: ArrayView4<f32>) -> Array4<f32> {
    let (n, _, rows, cols) = batch.dim();
    let mut out = Array4::<f32>::zeros((n, 4, rows, cols));
    for (item, mut target) in batch.outer_iter().zip(out.outer_iter_mut()) {
        let phase = item
            .index_axis(Axis(0), 0)
            .as_standard_layout()
            .into_owned();
        let Some(phase) = phase.as_slice() else {
            continue;
        };
        let (mut cos_sin, mut layers) = target.view_mut().split_at(Axis(0), 2);
        let (mut cos, mut sin) = cos_sin.view_mut().split_at(Axis(0), 1);
        if let (Some(cos), Some(sin)) = (cos.as_slice_mut(), sin.as_slice_mut()) {
            sin_cos_into(phase, cos, sin);
        }
        layers.assign(&item.slice(s![1..3, .., ..]));
    }
    out
}

/// The model without its cos/sin prefix, its input the prefix's `Concat` output (cos φ, sin φ,
/// ISL, PC1); `None` unless the graph starts exactly as the ONNX writer makes it: two `Slice`s
/// of the input (channel 0; channels 1–2), `Cos` and `Sin` of the first, `Identity` of the
/// second, `Concat` of the three, and nothing else reading the input.
fn without_cos_sin_prefix(
    proto: &tract_onnx::pb::ModelProto,
) -> Option<tract_onnx::pb::ModelProto> {
    let graph = proto.graph.as_ref()?;
    let input = graph.input.first()?.name.clone();
    let producer = |name: &str| {
        graph
            .node
            .iter()
            .position(|n| n.output.iter().any(|o| o == name))
    };
    let concat = graph.node.iter().position(|n| {
        n.op_type == "Concat" && n.input.len() == 3 && {
            let ops: Vec<_> = n
                .input
                .iter()
                .map(|i| producer(i).map(|k| graph.node[k].op_type.as_str()))
                .collect();
            ops == [Some("Cos"), Some("Sin"), Some("Identity")]
        }
    })?;
    let mut cut = vec![concat];
    for name in &graph.node[concat].input {
        let k = producer(name)?;
        let slice = producer(graph.node[k].input.first()?)?;
        let s = &graph.node[slice];
        if s.op_type != "Slice" || s.input.first() != Some(&input) {
            return None;
        }
        cut.extend([k, slice]);
    }
    cut.sort_unstable();
    cut.dedup();
    if cut.len() != 6 {
        return None;
    }
    let readers = graph
        .node
        .iter()
        .filter(|n| n.input.contains(&input))
        .count();
    if readers != 2 {
        return None;
    }
    let mut proto = proto.clone();
    let graph = proto.graph.as_mut()?;
    let concat_output = graph.node[concat].output.first()?.clone();
    for k in cut.into_iter().rev() {
        graph.node.remove(k);
    }
    graph.input[0].name = concat_output;
    Some(proto)
}
