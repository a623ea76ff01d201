//! Inference engines behind one trait: they take a batch of normalised tiles `[N, 3, T, T]` and
//! return the three raw YOLOv3 head tensors. [`tract::TractEngine`] runs the ONNX file on the CPU,
//! [`gpu::GpuEngine`] on any GPU through wgpu; [`open_engine`] chooses between them and falls
//! back to tract when the GPU is missing or fails.

pub mod augmented;
pub mod gpu;
pub mod tract;

use ndarray::{Array4, ArrayView4};

use crate::error::Result;
use crate::model::contract::ModelMetadata;
use crate::model::decode::{decode_batch, Detection};

/// A loaded detector model that runs batches of tiles.
pub trait Engine: Send + Sync {
    /// Short name for reports ("tract (CPU)").
    fn name(&self) -> String;
    /// The model's contract metadata.
    fn metadata(&self) -> &ModelMetadata;
    /// Raw head outputs for stride 8, 16, 32 of a normalised batch `[N, 3, T, T]`.
    fn infer(&self, batch: ArrayView4<f32>) -> Result<[Array4<f32>; 3]>;
    /// Decoded boxes (score ≥ `confidence`, clipped to the tile, before NMS) of each item of a
    /// normalised batch, in the host decoder's order ([`crate::model::decode::decode`]). The
    /// GPU engine decodes on the GPU and reads back only these boxes.
    fn candidates(&self, batch: ArrayView4<f32>, confidence: f32) -> Result<Vec<Vec<Detection>>> {
        Ok(decode_batch(
            &self.infer(batch)?,
            self.metadata(),
            confidence,
        ))
    }
    /// Tiles per call that suit the engine (tract: 1, calls run in parallel; GPU: 16).
    fn preferred_batch(&self) -> usize {
        1
    }
}

/// Backend choice on the CLI, in the library and in the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A hardware GPU when there is one, else tract on the CPU (software Vulkan adapters such as
    /// lavapipe are slower than tract and are not taken).
    Auto,
    /// The GPU engine on any adapter, software ones included; tract when there is none.
    Gpu,
    /// tract on the CPU.
    Cpu,
}

/// An engine with what the choice of it should tell the user.
pub struct OpenedEngine {
    pub engine: Box<dyn Engine>,
    /// One line each: which engine runs and why (printed by the CLI, returned by the C ABI).
    pub notes: Vec<String>,
}

/// Open `model` on `backend`. A missing GPU, or one that cannot load the model, falls back to
/// tract with a note; a GPU that fails later (lost device, out of memory) falls back to tract
/// for the rest of the run ([`Fallback`]).
pub fn open_engine(
    model: &std::path::Path,
    backend: Backend,
    batch: usize,
) -> Result<OpenedEngine> {
    use gpu::{AdapterChoice, GpuEngine};
    let choice = match backend {
        Backend::Cpu => None,
        Backend::Auto => Some(AdapterChoice::Hardware),
        Backend::Gpu => Some(AdapterChoice::Any),
    };
    let mut notes = Vec::new();
    if let Some(choice) = choice {
        match GpuEngine::load(model, choice) {
            Ok(gpu) => {
                notes.push(format!("engine: {}", gpu.name()));
                if gpu.is_software() {
                    notes.push(
                        "note: this is a software Vulkan adapter (CPU); the CPU backend (tract) is faster here"
                            .into(),
                    );
                }
                return Ok(OpenedEngine {
                    engine: Box::new(Fallback::new(Box::new(gpu), model.to_path_buf(), batch)),
                    notes,
                });
            }
            Err(crate::Error::Gpu(why)) => {
                notes.push(format!("{why}: using tract on the CPU"));
            }
            Err(e @ crate::Error::BadInput { .. }) if backend == Backend::Auto => {
                notes.push(format!("{e}: using tract on the CPU"));
            }
            Err(e) => return Err(e),
        }
    }
    let engine = tract::TractEngine::load(model, batch)?;
    notes.push(format!("engine: {}", engine.name()));
    Ok(OpenedEngine {
        engine: Box::new(engine),
        notes,
    })
}

/// A GPU engine that hands over to tract (loaded on first need) when the GPU fails, with a
/// warning on standard error: a run never dies of a lost device or an out-of-memory error.
pub struct Fallback {
    primary: Box<dyn Engine>,
    model: std::path::PathBuf,
    batch: usize,
    /// After the first GPU failure: why it failed, and tract loaded in its place.
    failed: std::sync::OnceLock<(String, std::result::Result<tract::TractEngine, String>)>,
}

impl Fallback {
    pub fn new(primary: Box<dyn Engine>, model: std::path::PathBuf, batch: usize) -> Fallback {
        Fallback {
            primary,
            model,
            batch,
            failed: std::sync::OnceLock::new(),
        }
    }

    /// `call` on the GPU engine; on a GPU error, and from then on, on tract.
    fn call<T>(&self, call: impl Fn(&dyn Engine) -> Result<T>) -> Result<T> {
        if self.failed.get().is_none() {
            match call(self.primary.as_ref()) {
                Err(crate::Error::Gpu(why)) => return call(self.tract(&why)?),
                done => return done,
            }
        }
        call(self.tract("")?)
    }

    fn tract(&self, why: &str) -> Result<&tract::TractEngine> {
        // the library never prints: the failure is told by the engine's name (the CLI, the C
        // ABI's summary and the plugin report the engine that ran)
        let (_, loaded) = self.failed.get_or_init(|| {
            (
                why.to_string(),
                tract::TractEngine::load(&self.model, self.batch).map_err(|e| e.to_string()),
            )
        });
        loaded
            .as_ref()
            .map_err(|e| crate::Error::Gpu(format!("GPU failed and tract could not load: {e}")))
    }
}

impl Engine for Fallback {
    fn name(&self) -> String {
        match self.failed.get() {
            Some((why, Ok(t))) => format!("{} (after a GPU failure: {why})", t.name()),
            _ => self.primary.name(),
        }
    }

    fn metadata(&self) -> &ModelMetadata {
        self.primary.metadata()
    }

    fn infer(&self, batch: ArrayView4<f32>) -> Result<[Array4<f32>; 3]> {
        self.call(|engine| engine.infer(batch))
    }

    fn candidates(&self, batch: ArrayView4<f32>, confidence: f32) -> Result<Vec<Vec<Detection>>> {
        self.call(|engine| engine.candidates(batch, confidence))
    }

    fn preferred_batch(&self) -> usize {
        match self.failed.get() {
            Some(_) => 1,
            None => self.primary.preferred_batch(),
        }
    }
}
