//! Inference engines behind one trait: they take a batch of normalised tiles `[N, 3, T, T]` and
//! return the three raw YOLOv3 head tensors. [`tract::TractEngine`] runs the ONNX file on the CPU.

pub mod tract;

use ndarray::{Array4, ArrayView4};

use crate::error::Result;
use crate::model::contract::ModelMetadata;

/// A loaded detector model that runs batches of tiles.
pub trait Engine: Send + Sync {
    /// Short name for reports ("tract (CPU)").
    fn name(&self) -> String;
    /// The model's contract metadata.
    fn metadata(&self) -> &ModelMetadata;
    /// Raw head outputs for stride 8, 16, 32 of a normalised batch `[N, 3, T, T]`.
    fn infer(&self, batch: ArrayView4<f32>) -> Result<[Array4<f32>; 3]>;
}

/// Backend choice on the CLI and in the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// tract on the CPU.
    Cpu,
}
