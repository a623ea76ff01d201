//! The wgpu engine against tract on the same ONNX files (a benchmark, not a test): per-tile
//! latency and tiles/s at batch 1, 16 and 64 for each engine and for the compact model and the
//! full Darknet-53 YOLOv3 at 160×160, with the model's GFLOPs per tile and the GFLOP/s achieved.
//! The GPU rows: f32 and (where the adapter has SHADER_F16) f16 storage, each with the raw heads
//! read back and with the heads decoded on the GPU (only boxes at score ≥ 0.25 read back).
//! Runs on whatever adapter `--backend gpu` would take (lavapipe on GPU-less machines) and on a
//! real GPU unchanged.
//!
//! Run: `cargo bench --bench gpu_engine [-- compact|full|both [BATCHES...]]`

use std::time::Instant;

use fringewatch::engine::gpu::{
    find_adapter, plan, AdapterChoice, GpuEngine, GpuOptions, Precision,
};
use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::model::onnx::read_model;
use fringewatch::model::write_random_model;
use fringewatch::model::yolov3::Architecture;
use ndarray::Array4;
use rayon::prelude::*;

/// Seconds per call of `f`, after one warm-up call, over at least 2 s or 3 calls.
fn time(mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut calls = 0;
    while calls < 3 || (start.elapsed().as_secs_f64() < 2.0 && calls < 50) {
        f();
        calls += 1;
    }
    start.elapsed().as_secs_f64() / calls as f64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let which = args.first().map(String::as_str).unwrap_or("both");
    let batches: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    let batches = if batches.is_empty() {
        vec![1, 16, 64]
    } else {
        batches
    };
    let adapter = match find_adapter(AdapterChoice::Any) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("no GPU adapter: {e}");
            return;
        }
    };
    let info = adapter.get_info();
    println!(
        "adapter: {} ({:?}, {:?}); CPU threads: {}",
        info.name,
        info.backend,
        info.device_type,
        rayon::current_num_threads()
    );
    let archs: Vec<Architecture> = match which {
        "compact" => vec![Architecture::Compact],
        "full" => vec![Architecture::Full],
        _ => vec![Architecture::Compact, Architecture::Full],
    };
    let dir = tempfile::tempdir().unwrap();
    println!("| model | GFLOPs/tile | engine | batch | ms/tile | tiles/s | GFLOP/s |");
    println!("|---|---|---|---|---|---|---|");
    for arch in archs {
        let path = dir.path().join(format!("{arch:?}.onnx"));
        write_random_model(&path, arch, 160, 7).unwrap();
        let (proto, meta) = read_model(&path).unwrap();
        let plan = plan::plan(&proto, 160).unwrap();
        let gflops = plan.flops() / 1e9;
        let f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let precisions: &[Precision] = if f16 {
            &[Precision::F32, Precision::F16]
        } else {
            &[Precision::F32]
        };
        let engines: Vec<GpuEngine> = precisions
            .iter()
            .map(|&p| {
                let options = GpuOptions {
                    precision: Some(p),
                    chunk: None,
                };
                GpuEngine::with_adapter(adapter.clone(), meta.clone(), plan.clone(), options)
                    .unwrap()
            })
            .collect();
        let tract = TractEngine::load(&path, 1).unwrap();
        for &n in &batches {
            let x = Array4::<f32>::from_elem((n, 3, 160, 160), 0.3);
            // tract as detection runs it: one tile per call, calls in parallel on all cores,
            // decoded on the host.
            let t_tract = time(|| {
                (0..n).into_par_iter().for_each(|i| {
                    let one = x.slice(ndarray::s![i..i + 1, .., .., ..]);
                    tract.candidates(one, 0.25).unwrap();
                })
            });
            let mut rows = vec![("tract (CPU), host decode".to_string(), t_tract)];
            for gpu in &engines {
                let p = gpu.precision();
                rows.push((
                    format!("wgpu {p:?}, raw heads back"),
                    time(|| {
                        gpu.infer(x.view()).unwrap();
                    }),
                ));
                rows.push((
                    format!("wgpu {p:?}, GPU decode"),
                    time(|| {
                        gpu.candidates(x.view(), 0.25).unwrap();
                    }),
                ));
            }
            for (name, t) in &rows {
                println!(
                    "| {arch:?} | {gflops:.2} | {name} | {n} | {:.1} | {:.1} | {:.1} |",
                    1e3 * t / n as f64,
                    n as f64 / t,
                    gflops * n as f64 / t
                );
            }
            for (name, t) in rows.iter().skip(1) {
                println!("| | | {name} / tract time | {n} | {:.2} | | |", t / t_tract);
            }
        }
    }
}
