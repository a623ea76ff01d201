//! The trainer (feature `train`): a few steps lower the loss, the exported ONNX equals the
//! trainer's forward pass in tract, fine-tuning starts from the exported weights
//! (issue: training and evaluation).
#![cfg(feature = "train")]

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use fringewatch::dataset::{build_dataset, DatasetSettings};
use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::model::onnx::read_conv_weights;
use fringewatch::model::yolov3::{build_graph, Yolov3Config};
use fringewatch::progress::Silent;
use fringewatch::simulate::output::write_scene;
use fringewatch::simulate::{simulate_scene, SimulationSettings};
use fringewatch::train::data::Augmentation;
use fringewatch::train::network::{to_vec, Yolov3Net};
use fringewatch::train::{train, TrainSettings};
use ndarray::Array4;
use rand::{RngExt, SeedableRng};

fn tiny_dataset(dir: &Path) -> PathBuf {
    let settings = SimulationSettings {
        size: 640,
        ..SimulationSettings::default()
    };
    let scenes: Vec<PathBuf> = (0..5u64)
        .map(|k| {
            let scene = simulate_scene(&settings, &format!("scene_{k:04}"), 500 + k, None, &Silent)
                .unwrap();
            write_scene(&scene, &dir.join("scenes"), k as usize).unwrap()
        })
        .collect();
    let out = dir.join("dataset");
    build_dataset(&scenes, &out, &DatasetSettings::default(), &Silent).unwrap();
    out
}

#[test]
fn training_lowers_the_loss_exports_exactly_and_fine_tunes_from_the_export() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tiny_dataset(tmp.path());
    let model = tmp.path().join("model.onnx");
    let settings = TrainSettings {
        epochs: 4,
        batch: 4,
        // Whole epochs: every epoch's mean loss is over the same training tiles.
        steps_per_epoch: None,
        warmup_steps: 2,
        learning_rate: 2e-3,
        augmentation: Augmentation {
            flip_probability: 0.0,
            max_shift: 0,
            scale: 0.0,
            shift: 0.0,
            ..Augmentation::default()
        },
        ..TrainSettings::default()
    };
    let report = train(&dataset, &model, &settings, false, &Silent).unwrap();
    assert_eq!(report.history.len(), 4);
    let first = report.history[0].train.total();
    let last = report.history[3].train.total();
    assert!(last < 0.8 * first, "training loss {first} → {last}");
    for r in &report.history {
        for v in [
            r.train.box_loss,
            r.train.objectness,
            r.train.no_object,
            r.train.class,
        ] {
            assert!(v.is_finite() && v >= 0.0);
        }
    }
    assert!(report.export_max_relative_error <= 1e-4);
    let ckpt = report.checkpoint_dir.clone();
    let csv = std::fs::read_to_string(ckpt.join("losses.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(ckpt.join("losses.png").exists() && ckpt.join("best.bpk").exists());

    // The export is a valid model of the contract, marked trained, with the dataset's anchors.
    let engine = TractEngine::load(&model, 2).unwrap();
    assert!(engine.metadata().provenance.trained);
    let manifest = fringewatch::dataset::read_manifest(&dataset).unwrap();
    assert_eq!(engine.metadata().anchors[4].width, manifest.anchors[4].0);

    // Fine-tuning starts from the exported weights: the network built from the ONNX gives
    // tract's output on a fresh random input.
    let graph = build_graph(Yolov3Config {
        classes: 4,
        width: engine.metadata().width,
        depth: engine.metadata().depth,
    });
    let weights = read_conv_weights(&model, &graph).unwrap();
    let device = Device::flex();
    let net = Yolov3Net::from_weights(&graph, &weights, &device).unwrap();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(rand::random());
    let input = Array4::<f32>::from_shape_fn((2, 3, 160, 160), |_| rng.random_range(-2.0..2.0));
    let theirs = engine.infer(input.view()).unwrap();
    let tensor = Tensor::<4>::from_data(
        TensorData::new(
            input.iter().copied().collect::<Vec<f32>>(),
            [2, 3, 160, 160],
        ),
        &device,
    );
    let ours = net.forward(&graph, tensor);
    for (a, b) in ours.into_iter().zip(theirs.iter()) {
        let a = to_vec(a).unwrap();
        let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y).abs() / scale)
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "fine-tuning start differs from the model by {worst}"
        );
    }

    // Resume: two more epochs continue the history.
    let more = TrainSettings {
        epochs: 5,
        ..settings.clone()
    };
    let resumed = train(&dataset, &model, &more, true, &Silent).unwrap();
    assert_eq!(resumed.history.len(), 5);
    // The first epochs are the saved ones (JSON round trip: equal to the last bit or two).
    assert!((resumed.history[0].train.total() - report.history[0].train.total()).abs() < 1e-12);

    // Fine-tuning (--init) with class-balanced sampling on a dataset whose manifest now holds
    // other anchors: the run reads every training tile's labels, trains, and keeps the initial
    // model's anchors and channel normalisation (what its heads and filters were trained for).
    let manifest_path = dataset.join("dataset.json");
    let mut manifest_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for anchor in manifest_json["anchors"].as_array_mut().unwrap() {
        let scaled: Vec<f64> = anchor
            .as_array()
            .unwrap()
            .iter()
            .map(|v| 1.5 * v.as_f64().unwrap())
            .collect();
        *anchor = serde_json::json!(scaled);
    }
    std::fs::write(&manifest_path, manifest_json.to_string()).unwrap();
    let balanced = TrainSettings {
        epochs: 1,
        class_balance: 0.5,
        init: Some(model.clone()),
        ..settings.clone()
    };
    let tuned_path = tmp.path().join("balanced.onnx");
    let one = train(&dataset, &tuned_path, &balanced, false, &Silent).unwrap();
    assert_eq!(one.history.len(), 1);
    assert!(one.history[0].train.total().is_finite());
    let tuned = TractEngine::load(&tuned_path, 1).unwrap();
    assert_eq!(tuned.metadata().anchors, engine.metadata().anchors);
    assert_eq!(tuned.metadata().channels, engine.metadata().channels);
    let changed = fringewatch::dataset::read_manifest(&dataset).unwrap();
    assert!((tuned.metadata().anchors[4].width - changed.anchors[4].0).abs() > 1.0);
    let wrong = TrainSettings {
        class_balance: 1.5,
        ..settings.clone()
    };
    let err = train(&dataset, &tmp.path().join("w.onnx"), &wrong, false, &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("class-balance"), "{err}");
    // A model made for other tiles is refused by name before any step, nothing exported.
    let other_tile = tmp.path().join("tile128.onnx");
    fringewatch::model::write_random_model(
        &other_tile,
        fringewatch::model::yolov3::Architecture::Compact,
        128,
        3,
    )
    .unwrap();
    let mismatched = TrainSettings {
        init: Some(other_tile),
        ..balanced.clone()
    };
    let refused = tmp.path().join("refused.onnx");
    let err = train(&dataset, &refused, &mismatched, false, &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("128 px") && err.contains("160 px"), "{err}");
    assert!(!refused.exists());
}

#[test]
fn a_broken_dataset_or_init_model_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = train(
        tmp.path(),
        &tmp.path().join("m.onnx"),
        &TrainSettings::default(),
        false,
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("dataset.json"), "{err}");
    let bad = tmp.path().join("bad.onnx");
    std::fs::write(&bad, b"not a model").unwrap();
    let graph = build_graph(Yolov3Config {
        classes: 4,
        width: 0.25,
        depth: 0.33,
    });
    let err = read_conv_weights(&bad, &graph).unwrap_err().to_string();
    assert!(err.contains("not an ONNX model"), "{err}");
}
