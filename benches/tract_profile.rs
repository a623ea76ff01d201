//! Where tract spends a forward pass, node by node, next to onnxruntime's own profile of the same
//! file: the profile that item 3 of the full-frame issue asks for.
//!
//! tract runs its optimised plan with a timer around each node (`run_plan_with_eval`, as
//! tract's own command-line profiler does); onnxruntime runs with `enable_profiling` and its
//! per-node kernel times are summed by operator type. Both get one thread and the same batch.
//!
//! Run: `cargo bench --bench tract_profile -- [MODEL] [BATCH] [ITERATIONS]` (default: the
//! bundled model, batch 8, 20 iterations; onnxruntime needs the venv of `.ci/setup`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{eval, SimpleState};

fn main() -> TractResult<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let model_path = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/fringewatch-default.onnx"));
    let batch: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let iterations: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let tile = 160;

    let plan = tract_onnx::onnx()
        .model_for_path(&model_path)?
        .with_input_fact(0, f32::fact([batch, 3, tile, tile]).into())?
        .into_optimized()?
        .into_runnable()?;
    let input: Tensor =
        tract_ndarray::Array4::<f32>::from_shape_fn((batch, 3, tile, tile), |(n, c, y, x)| {
            ((n * 7 + c * 13 + y * 3 + x) % 17) as f32 / 8.0 - 1.0
        })
        .into();
    let mut state = SimpleState::new(&plan)?;
    state.run(tvec!(input.clone().into()))?; // warm-up

    let mut per_node: BTreeMap<usize, Duration> = BTreeMap::new();
    let start = Instant::now();
    for _ in 0..iterations {
        state.run_plan_with_eval(
            tvec!(input.clone().into()),
            |session, op_state, node, inputs| {
                let t = Instant::now();
                let out = eval(session, op_state, node, inputs);
                *per_node.entry(node.id).or_default() += t.elapsed();
                out
            },
        )?;
    }
    let total = start.elapsed().as_secs_f64() / iterations as f64;
    let model = plan.model();
    let per_tile_ms = |d: &Duration| d.as_secs_f64() * 1e3 / (iterations * batch) as f64;

    let mut by_op: BTreeMap<String, (Duration, usize)> = BTreeMap::new();
    for (&id, d) in &per_node {
        let e = by_op
            .entry(model.node(id).op().name().to_string())
            .or_default();
        e.0 += *d;
        e.1 += 1;
    }
    println!(
        "tract {}: batch {batch}, 1 thread: {:.2} ms a tile ({:.0} tiles/s)",
        model_path.display(),
        total * 1e3 / batch as f64,
        batch as f64 / total
    );
    println!("| tract op | nodes | ms a tile | share |");
    println!("|---|---|---|---|");
    let sum: Duration = per_node.values().sum();
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by_key(|(_, (d, _))| std::cmp::Reverse(*d));
    for (name, (d, n)) in &ops {
        println!(
            "| {name} | {n} | {:.3} | {:.1} % |",
            per_tile_ms(d),
            100.0 * d.as_secs_f64() / sum.as_secs_f64()
        );
    }
    println!("\nslowest tract nodes:");
    let mut nodes: Vec<_> = per_node.iter().collect();
    nodes.sort_by_key(|(_, d)| std::cmp::Reverse(**d));
    for (&id, d) in nodes.iter().take(15) {
        let node = model.node(id);
        let shape = model
            .outlet_fact(OutletId::new(id, 0))
            .map(|f| format!("{:?}", f.shape))
            .unwrap_or_default();
        println!(
            "  {:.3} ms  {} {} -> {shape}",
            per_tile_ms(d),
            node.op().name(),
            node.name
        );
    }

    let python = root.join("target/ci-venv/bin/python");
    if !python.exists() {
        println!("(onnxruntime not installed: run .ci/setup)");
        return Ok(());
    }
    let out = Command::new(&python)
        .arg(root.join("tests/python/ort_profile.py"))
        .args([
            model_path.to_str().unwrap_or_default(),
            &tile.to_string(),
            &batch.to_string(),
            &iterations.to_string(),
        ])
        .output()?;
    print!("\n{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}
