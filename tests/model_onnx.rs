//! The ONNX writer and the tract engine against onnxruntime (issue: CPU detection).

mod common;

use std::path::Path;
use std::process::Command;

use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::model::write_random_model;
use fringewatch::model::yolov3::Architecture;
use ndarray::Array4;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

pub use common::venv_python as ort_python;

fn compare_with_onnxruntime(architecture: Architecture, batch: usize) {
    let Some(python) = ort_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    let metadata = write_random_model(&model, architecture, 160, 7).unwrap();
    let tile = metadata.tile;
    // Fresh random input in every run.
    let seed: u64 = rand::random();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let input =
        Array4::<f32>::from_shape_fn((batch, 3, tile, tile), |_| rng.random_range(-2.0..2.0));
    let raw: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
    let input_path = dir.path().join("input.f32");
    std::fs::write(&input_path, raw).unwrap();
    let prefix = dir.path().join("ort");
    let status = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ort_run.py"))
        .args([
            model.to_str().unwrap(),
            input_path.to_str().unwrap(),
            &batch.to_string(),
            &tile.to_string(),
            prefix.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "onnxruntime failed");
    let engine = TractEngine::load(&model, batch).unwrap();
    let heads = engine.infer(input.view()).unwrap();
    for (head, name) in heads.iter().zip(fringewatch::model::yolov3::OUTPUTS) {
        let bytes = std::fs::read(format!("{}.{name}.f32", prefix.display())).unwrap();
        let ort: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(ort.len(), head.len(), "{name}: element count");
        let scale = ort.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let max_abs = head
            .iter()
            .zip(&ort)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let rel = max_abs / scale;
        println!("{architecture:?} batch {batch} {name} {:?}: max |tract − ort| = {max_abs:.3e}, relative to max |output| {scale:.3}: {rel:.3e} (input seed {seed})", head.shape());
        assert!(rel <= 1e-4, "{name}: relative difference {rel}");
        assert!(head.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn compact_model_runs_the_same_in_tract_and_onnxruntime() {
    compare_with_onnxruntime(Architecture::Compact, 3);
}

#[test]
fn full_darknet53_yolov3_runs_the_same_in_tract_and_onnxruntime() {
    compare_with_onnxruntime(Architecture::Full, 1);
}
