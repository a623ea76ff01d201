//! The CPU engine: tract's optimised plan of the ONNX file, one plan per batch size (compiled on
//! first use and kept).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ndarray::{Array4, ArrayView4};
use tract_onnx::prelude::*;

use super::Engine;
use crate::error::{Error, Result};
use crate::model::contract::ModelMetadata;
use crate::model::onnx::read_model;

type Plan = Arc<TypedRunnableModel>;

/// tract engine for one model file.
pub struct TractEngine {
    path: PathBuf,
    proto: tract_onnx::pb::ModelProto,
    metadata: ModelMetadata,
    plans: Mutex<HashMap<usize, Plan>>,
}

impl TractEngine {
    /// Load and check the model (contract, shapes), and compile the plan for `batch` tiles.
    pub fn load(path: &Path, batch: usize) -> Result<TractEngine> {
        let (proto, metadata) = read_model(path)?;
        let engine = TractEngine {
            path: path.to_path_buf(),
            proto,
            metadata,
            plans: Mutex::new(HashMap::new()),
        };
        engine.plan(batch.max(1))?;
        Ok(engine)
    }

    fn plan(&self, batch: usize) -> Result<Plan> {
        if let Some(p) = self.plans.lock().map_err(|_| self.poisoned())?.get(&batch) {
            return Ok(p.clone());
        }
        let tile = self.metadata.tile;
        let plan = tract_onnx::onnx()
            .model_for_proto_model(&self.proto)
            .and_then(|m| m.with_input_fact(0, f32::fact([batch, 3, tile, tile]).into()))
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
        let input: Tensor = batch.to_owned().into();
        let outputs = plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::bad_input(&self.path, format!("inference failed: {e}")));
        clear_upper_vector_state();
        let outputs = outputs?;
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

/// Mark the upper halves of the vector registers clean (`vzeroupper`). tract's assembly kernels
/// return with them in use, and on some Intel cores every legacy-SSE instruction run after that
/// on the thread pays a penalty (measured on one such machine: `sinf` 117 ns a call against
/// 2.5 ns, `detect` on a 2400² stack 3.29 s against 1.42 s with this call).
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, which vzeroupper needs; the compiler knows what the
        // intrinsic clobbers
        unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
}
