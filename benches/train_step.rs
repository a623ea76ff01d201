//! One training step of the compact detector, timed by phase (forward, loss, backward, Adam), and
//! its achieved GFLOP/s: a step costs ≈ 3× the forward FLOPs (forward, input gradient, weight
//! gradient), `Graph::flops` counts the forward.
//!
//! `cargo bench --features train --bench train_step -- [BATCH] [TILE] [STEPS]` (defaults 8 160 6).
//! Run it under `perf record -g` to see where a step goes. The peak to compare with is a large
//! f32 SGEMM on the same cores.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use fringewatch::dataset::TileLabel;
use fringewatch::model::contract::default_anchors;
use fringewatch::model::phase_input::PhaseInput;
use fringewatch::model::yolov3::{build_graph, random_weights, Architecture, Yolov3Config};
use fringewatch::train::loss::{yolo_loss, LossSettings};
use fringewatch::train::network::Yolov3Net;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(8);
    let tile = args.get(1).copied().unwrap_or(160);
    let steps = args.get(2).copied().unwrap_or(6);

    let graph = build_graph(
        Yolov3Config::of(Architecture::Compact, 4).with_phase_input(PhaseInput::CosSin),
    );
    let device = Device::flex().autodiff();
    let mut net = Yolov3Net::from_weights(&graph, &random_weights(&graph, 7), &device)
        .expect("random weights fit their own graph");
    let values: Vec<f32> = (0..batch * 3 * tile * tile)
        .map(|i| ((i as f32) * 0.013).sin())
        .collect();
    let data = TensorData::new(values, [batch, 3, tile, tile]);
    let labels: Vec<Vec<TileLabel>> = (0..batch)
        .map(|n| {
            let o = (n * 7 % 40) as f64;
            vec![
                TileLabel::new(n % 4, [10.0 + o, 20.0, 60.0 + o, 64.0]),
                TileLabel::new((n + 1) % 4, [90.0, 80.0 + o / 2.0, 130.0, 150.0]),
            ]
        })
        .collect();
    let anchors = default_anchors(tile);
    let mut optimizer = AdamConfig::new().init();

    let mut totals = [0.0f64; 4];
    for step in 0..=steps {
        let t0 = Instant::now();
        let heads = net.forward(&graph, Tensor::<4>::from_data(data.clone(), &device));
        // Force the forward to finish before timing the loss (burn's flex backend is eager).
        let t1 = Instant::now();
        let (loss, _) = yolo_loss(&heads, &labels, &anchors, 4, tile, LossSettings::default());
        let t2 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        let t3 = Instant::now();
        net = optimizer.step(1e-4, net, grads);
        let t4 = Instant::now();
        if step > 0 {
            for (total, (a, b)) in totals
                .iter_mut()
                .zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)])
            {
                *total += (b - a).as_secs_f64();
            }
        }
    }
    let _ = net.valid();
    let per = |s: f64| s / steps as f64;
    let step_s: f64 = totals.iter().sum::<f64>() / steps as f64;
    let forward_flops = graph.flops(tile) * batch as f64;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "train step: compact cos/sin, batch {batch}, tile {tile}, {steps} steps, {threads} threads"
    );
    println!(
        "  forward {:.3} s, loss {:.3} s, backward {:.3} s, Adam {:.3} s → {:.3} s a step",
        per(totals[0]),
        per(totals[1]),
        per(totals[2]),
        per(totals[3]),
        step_s
    );
    println!(
        "  forward {:.1} GFLOP/s ({:.2} GFLOP); whole step {:.1} GFLOP/s (3 × forward FLOPs)",
        forward_flops / per(totals[0]) / 1e9,
        forward_flops / 1e9,
        3.0 * forward_flops / step_s / 1e9
    );
}
