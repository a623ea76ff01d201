//! tract vs onnxruntime on the same ONNX files, on this machine, in one run: per-tile latency at
//! batch 1 and throughput at batch 16, for the compact model and the full Darknet-53 YOLOv3.
//! tract runs a batch as detection does: calls of the engine's preferred batch (one tile) in
//! parallel on the rayon pool, one thread per core (tract's plan for several tiles a call is
//! slower a tile: `cargo bench --bench tract_profile` shows why); onnxruntime gets the same
//! number of intra-op threads.
//!
//! Run: `cargo bench --bench inference_vs_onnxruntime` (needs the venv of `.ci/setup`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::model::write_random_model;
use fringewatch::model::yolov3::Architecture;
use ndarray::{s, Array4};
use rayon::prelude::*;

fn tract_latency_ms(engine: &TractEngine, tile: usize, iterations: usize) -> f64 {
    let x = Array4::<f32>::from_elem((1, 3, tile, tile), 0.3);
    engine.infer(x.view()).expect("warm-up");
    let start = Instant::now();
    for _ in 0..iterations {
        engine.infer(x.view()).expect("inference");
    }
    start.elapsed().as_secs_f64() * 1e3 / iterations as f64
}

/// Tiles a second over a batch of `batch` tiles cut into calls of `chunk` tiles run in parallel.
fn tract_throughput(
    engine: &TractEngine,
    tile: usize,
    batch: usize,
    chunk: usize,
    iterations: usize,
) -> f64 {
    let x = Array4::<f32>::from_elem((batch, 3, tile, tile), 0.3);
    let run = || {
        (0..batch)
            .step_by(chunk)
            .collect::<Vec<_>>()
            .par_iter()
            .for_each(|&k| {
                let end = (k + chunk).min(batch);
                engine
                    .infer(x.slice(s![k..end, .., .., ..]))
                    .expect("inference");
            })
    };
    run();
    let start = Instant::now();
    for _ in 0..iterations {
        run();
    }
    (batch * iterations) as f64 / start.elapsed().as_secs_f64()
}

/// The rows of one model file: tract as detection runs it and in one call of 16, then
/// onnxruntime on 1 and all threads.
fn bench_model(label: &str, path: &Path, engine: &TractEngine, iterations: usize) {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ort_bench.py");
    let threads = rayon::current_num_threads();
    let tile = engine.metadata().tile;
    let latency = tract_latency_ms(engine, tile, iterations);
    let chunk = engine.preferred_batch();
    let throughput = tract_throughput(engine, tile, 16, chunk, (iterations / 8).max(2));
    println!(
        "| {label} | tract, calls of {chunk} tile(s) on {threads} threads (as detect) | {latency:.1} | {throughput:.1} |"
    );
    // tract's own intra-op threading (tract-linalg `multithread-mm`), one call per batch.
    tract_linalg::multithread::set_default_executor(
        tract_linalg::multithread::Executor::multithread(threads),
    );
    let latency_mt = tract_latency_ms(engine, tile, iterations);
    let throughput_mt = tract_throughput(engine, tile, 16, 16, (iterations / 8).max(2));
    tract_linalg::multithread::set_default_executor(
        tract_linalg::multithread::Executor::SingleThread,
    );
    println!("| {label} | tract, one call of 16, {threads} intra-op threads | {latency_mt:.1} | {throughput_mt:.1} |");
    if !python.exists() {
        println!("(onnxruntime not installed: run .ci/setup)");
        return;
    }
    for ort_threads in [1, threads] {
        let out = Command::new(&python)
            .arg(&script)
            .args([
                path.to_str().unwrap_or_default(),
                "160",
                "16",
                &ort_threads.to_string(),
                &iterations.to_string(),
            ])
            .output()
            .expect("python");
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_default();
        println!(
            "| {label} | onnxruntime {ort_threads} thread(s) | {:.1} | {:.1} |",
            v["latency_ms"].as_f64().unwrap_or(f64::NAN),
            v["throughput_tiles_s"].as_f64().unwrap_or(f64::NAN)
        );
    }
}

fn main() {
    let threads = rayon::current_num_threads();
    let dir = tempfile::tempdir().expect("temp dir");
    println!("threads: {threads} (tract: parallel chunks; onnxruntime: intra-op threads)");
    println!("| model | engine | latency ms/tile (batch 1) | tiles/s (batch 16) |");
    println!("|---|---|---|---|");
    for (architecture, iterations) in [(Architecture::Compact, 40), (Architecture::Full, 6)] {
        let path = dir.path().join(format!("{architecture:?}.onnx"));
        write_random_model(&path, architecture, 160, 0).expect("model");
        let engine = TractEngine::load(&path, 1).expect("load");
        bench_model(&format!("{architecture:?}"), &path, &engine, iterations);
    }
    // the bundled model (compact, cos/sin input: Slice, Cos, Sin, Identity, Concat in front)
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fringewatch-default.onnx");
    let engine = TractEngine::load(&bundled, 1).expect("load");
    bench_model("bundled (cos/sin input)", &bundled, &engine, 40);
}
