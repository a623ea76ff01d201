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

/// One burn computation at a time in this test binary: two trainings run side by side in one
/// process change each other's losses (seen: a run whose loss did not fall, a probe at 99
/// against 40, a seeded run not reproducing itself), from state burn keeps per process (its
/// generator and more, not pinned down). `fringewatch train` is one run per process.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static BURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    BURN.lock().unwrap_or_else(|e| e.into_inner())
}

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
    let _burn = one_at_a_time();
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
        phase_input: engine.metadata().phase_input,
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
    // A run planned for 8 epochs and stopped after the 6th: one more epoch, at the learning
    // rate of the 8-epoch schedule, then the export.
    let cut = TrainSettings {
        epochs: 8,
        stop_after: Some(6),
        ..settings.clone()
    };
    let stopped = train(&dataset, &model, &cut, true, &Silent).unwrap();
    assert_eq!(stopped.history.len(), 6);
    // After 6 of 8 epochs the cosine stands near 0.2 of the peak; a 6-epoch schedule would have
    // ended on its 5 % floor.
    let lr = stopped.history[5].learning_rate / settings.learning_rate;
    assert!(
        lr > 0.15 && lr < 0.3,
        "learning rate {lr} of the peak after epoch 6 of 8"
    );
    // The first epochs are the saved ones (JSON round trip: equal to the last bit or two).
    assert!((resumed.history[0].train.total() - report.history[0].train.total()).abs() < 1e-12);

    // A fine-tuning run starts from the model's function in training mode too: at a learning
    // rate of 1e-9 the function is fixed for a whole epoch, and its training-mode loss on the
    // training tiles is that of the epoch that was exported (up to how far that epoch's
    // weights moved while it ran: within 4 % here). The calibration itself is tested by
    // `a_calibrated_start_keeps_the_models_function_in_training_mode`, and `train`'s call of it
    // by `fine_tuning_the_bundled_model_starts_from_its_function`; this tiny model's γ and β are
    // still near identity, so a start left uncalibrated would pass here too (the bundled model
    // gave +150 % that way, 62.1 against 24.7). The validation loss after the epoch is
    // not compared: it is the fixed weights with the running statistics of one epoch in place
    // of the exported ones, which come close only for a run that was not about to diverge (at
    // lr 2e-3 this run's next epoch often does; a change of the trainer's rounding gave 155
    // against 40 there, the same with burn's own operations in the probe as with the
    // trainer's).
    let still = TrainSettings {
        epochs: 1,
        learning_rate: 1e-9,
        init: Some(model.clone()),
        ..settings.clone()
    };
    let probe = train(
        &dataset,
        &tmp.path().join("probe.onnx"),
        &still,
        false,
        &Silent,
    )
    .unwrap();
    let own = stopped.history[stopped.best_epoch - 1].train.total();
    let started = probe.history[0].train.total();
    eprintln!("fine-tuning starts at training loss {started}, the exported epoch's is {own}");
    assert!(
        (started - own).abs() <= 0.25 * own,
        "fine-tuning starts at training loss {started}, the exported epoch's is {own}"
    );

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
    // class-balanced, on random 96 px crops of the 160 px tiles, half of them under another
    // atmosphere
    let balanced = TrainSettings {
        epochs: 1,
        class_balance: 0.5,
        crop: Some(96),
        init: Some(model.clone()),
        augmentation: Augmentation {
            weather_probability: 0.5,
            weather_rms_rad: 2.0,
            ..settings.augmentation
        },
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
    // The provenance names the initial model and the dataset by what identifies them (the
    // model's name, file names and the first 16 hex digits of their SHA-256), never by the
    // folders they lay in on the trainer's disk.
    let provenance = &tuned.metadata().provenance;
    let sha16 = |path: &Path| fringewatch::model::sha256_of(path).unwrap()[..16].to_string();
    assert!(
        provenance.source.contains(&format!(
            "fine-tuned from {} (model.onnx, sha256 {})",
            engine.metadata().name,
            sha16(&model)
        )),
        "{}",
        provenance.source
    );
    let dataset_identity = provenance.dataset.as_deref().unwrap();
    assert_eq!(
        dataset_identity,
        format!(
            "{} (dataset.json, sha256 {})",
            dataset.file_name().unwrap().to_string_lossy(),
            sha16(&manifest_path)
        )
    );
    let workdir = tmp.path().to_string_lossy();
    assert!(
        !provenance.source.contains(workdir.as_ref())
            && !dataset_identity.contains(workdir.as_ref()),
        "{provenance:?}"
    );
    // A wider run from the model: the export is of the wider graph; a narrower one is refused
    // before any step, nothing exported.
    let widened = TrainSettings {
        width: Some(0.33),
        steps_per_epoch: Some(1),
        ..balanced.clone()
    };
    let wide_path = tmp.path().join("wide.onnx");
    train(&dataset, &wide_path, &widened, false, &Silent).unwrap();
    let wide = TractEngine::load(&wide_path, 1).unwrap();
    assert_eq!(wide.metadata().width, 0.33);
    assert!(
        std::fs::metadata(&wide_path).unwrap().len()
            > 3 * std::fs::metadata(&model).unwrap().len() / 2
    );
    let narrower = TrainSettings {
        width: Some(0.125),
        ..widened.clone()
    };
    let narrow_path = tmp.path().join("narrow.onnx");
    let err = train(&dataset, &narrow_path, &narrower, false, &Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("width 0.25 cannot start a run of width 0.125"),
        "{err}"
    );
    assert!(!narrow_path.exists() && !tmp.path().join("narrow.onnx.train").exists());
    // With weights out of the new channels (`--widen-outgoing`) the export reads from them,
    // and says how it was widened; where nothing is widened the setting is refused.
    let grown = TrainSettings {
        widen_outgoing: 0.1,
        ..widened.clone()
    };
    let grown_path = tmp.path().join("grown.onnx");
    train(&dataset, &grown_path, &grown, false, &Silent).unwrap();
    let share_read_from_new = |path: &Path| {
        let (_, metadata) = fringewatch::model::onnx::read_model(path).unwrap();
        let wide = build_graph(metadata.config());
        let narrow = build_graph(metadata.config().with_width(0.25));
        let weights = read_conv_weights(path, &wide).unwrap();
        let growth = fringewatch::model::widen::growth(&narrow, &wide, &weights).unwrap();
        (growth.share_read_from_new(), metadata.provenance.source)
    };
    let (kept, _) = share_read_from_new(&wide_path);
    let (read, provenance) = share_read_from_new(&grown_path);
    assert!(read > 0.001 && read > 10.0 * kept, "{read} {kept}");
    assert!(
        provenance.contains("at width 0.33 (weights out of its new channels started at 0.1"),
        "{provenance}"
    );
    for (width, refusal) in [
        (None, "applies only when an initial model is widened"),
        (Some(0.25), "both are width 0.25"),
    ] {
        let unwidened = TrainSettings {
            width,
            ..grown.clone()
        };
        let err = train(&dataset, &narrow_path, &unwidened, false, &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(refusal) && err.contains("widen-outgoing"),
            "{err}"
        );
        assert!(!narrow_path.exists() && !tmp.path().join("narrow.onnx.train").exists());
    }
    // Settings out of range, refused by name before anything is written.
    for (wrong, name) in [
        (
            TrainSettings {
                width: Some(1.5),
                ..settings.clone()
            },
            "width",
        ),
        (
            TrainSettings {
                class_balance: 1.5,
                ..settings.clone()
            },
            "class-balance",
        ),
        (
            TrainSettings {
                widen_outgoing: 1.5,
                ..settings.clone()
            },
            "widen-outgoing",
        ),
        (
            TrainSettings {
                augmentation: Augmentation {
                    weather_probability: 1.5,
                    ..settings.augmentation
                },
                ..settings.clone()
            },
            "weather",
        ),
        (
            TrainSettings {
                augmentation: Augmentation {
                    weather_rms_rad: f64::NAN,
                    ..settings.augmentation
                },
                ..settings.clone()
            },
            "weather-rms",
        ),
        (
            TrainSettings {
                weight_decay: -1e-4,
                ..settings.clone()
            },
            "weight-decay",
        ),
        (
            TrainSettings {
                objectness_iou: -0.5,
                ..settings.clone()
            },
            "objectness-iou",
        ),
        (
            TrainSettings {
                class_gain: 0.0,
                ..settings.clone()
            },
            "class-gain",
        ),
    ] {
        let err = train(&dataset, &tmp.path().join("w.onnx"), &wrong, false, &Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{err}");
        assert!(!tmp.path().join("w.onnx").exists());
    }
    let odd_crop = TrainSettings {
        crop: Some(100),
        ..settings.clone()
    };
    let err = train(
        &dataset,
        &tmp.path().join("c.onnx"),
        &odd_crop,
        false,
        &Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("crop") && err.contains("multiple of 32"),
        "{err}"
    );
    assert!(!tmp.path().join("c.onnx").exists());
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
    let _burn = one_at_a_time();
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
        phase_input: Default::default(),
    });
    let err = read_conv_weights(&bad, &graph).unwrap_err().to_string();
    assert!(err.contains("not an ONNX model"), "{err}");
}

/// Two tiles of smooth deterministic patterns (phase-like fringes, ISL, PC1), `[2, 3, T, T]`.
fn pattern_tiles(tile: usize) -> TensorData {
    let values: Vec<f32> = (0..2 * 3 * tile * tile)
        .map(|i| {
            let (n, c, y, x) = (
                i / (3 * tile * tile),
                (i / (tile * tile)) % 3,
                (i / tile) % tile,
                i % tile,
            );
            let (x, y) = (x as f32, y as f32);
            match c {
                0 => (x * 0.21 + y * 0.07 + n as f32).sin() * 0.9,
                1 => (x - 80.0).hypot(y - 60.0) / 120.0 - 0.4,
                _ => (x * 0.03).cos() * (y * 0.05).sin(),
            }
        })
        .collect();
    TensorData::new(values, [2, 3, tile, tile])
}

/// Largest difference between two sets of heads, relative to the largest value of the first.
fn heads_difference(a: [Tensor<4>; 3], b: [Tensor<4>; 3]) -> f32 {
    let mut worst = 0.0f32;
    for (a, b) in a.into_iter().zip(b) {
        let (a, b) = (to_vec(a).unwrap(), to_vec(b).unwrap());
        let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max((x - y).abs() / scale);
        }
    }
    worst
}

/// A network started from folded (ONNX) weights computes, in training mode, what the model
/// computes once its batch-norm is calibrated on the data (γ = √(σ² + ε), β = b + μ); without it,
/// training mode normalises every conv by its batch statistics and is another network.
#[test]
fn a_calibrated_start_keeps_the_models_function_in_training_mode() {
    let _burn = one_at_a_time();
    use burn::module::Module;
    use fringewatch::model::yolov3::{random_weights, Architecture};

    let graph = build_graph(Yolov3Config::of(Architecture::Compact, 4));
    let device = Device::flex().autodiff();
    let inner = device.clone().inner();
    let data = pattern_tiles(160);
    let start = || Yolov3Net::from_weights(&graph, &random_weights(&graph, 11), &device).unwrap();
    let in_inference_mode = |net: &Yolov3Net| {
        net.valid()
            .forward(&graph, Tensor::<4>::from_data(data.clone(), &inner))
    };
    // (a forward in training mode also moves the running statistics: each start is fresh)
    let in_training_mode =
        |net: &Yolov3Net| net.forward(&graph, Tensor::<4>::from_data(data.clone(), &device));
    let uncalibrated = heads_difference(in_inference_mode(&start()), in_training_mode(&start()));
    assert!(
        uncalibrated > 0.05,
        "identity batch-norm differs by only {uncalibrated}"
    );

    let mut net = start();
    let folded = in_inference_mode(&net);
    let statistics = net
        .valid()
        .conv_output_statistics(&graph, [Ok(Tensor::<4>::from_data(data.clone(), &inner))])
        .unwrap();
    // the three output convs have no batch-norm
    assert_eq!(statistics.iter().filter(|s| s.is_none()).count(), 3);
    net.calibrate_batch_norm(&statistics, &device).unwrap();
    let in_inference = heads_difference(folded.clone(), in_inference_mode(&net));
    let in_training = heads_difference(folded, in_training_mode(&net));
    assert!(
        in_inference < 1e-5,
        "inference mode differs by {in_inference}"
    );
    assert!(
        in_training < 1e-5,
        "training mode differs by {in_training} (uncalibrated: {uncalibrated})"
    );
}

/// `train --init` starts from the initial model's function: before the first step it calibrates
/// the batch-norm on training tiles. From the bundled model at a learning rate of 1e-9 (the
/// function held fixed) and without augmentation, the first epoch's training-mode loss (batch
/// statistics) is the loss the model itself gives on the same tiles (its folded weights, in
/// inference mode), within 10 %. A start left uncalibrated normalises every folded conv by its
/// batch statistics instead: +150 % on the bundled model (model card, fine-tuning section).
#[test]
fn fine_tuning_the_bundled_model_starts_from_its_function() {
    let _burn = one_at_a_time();
    use burn::module::Module;
    use fringewatch::model::phase_input::PhaseInput;
    use fringewatch::model::yolov3::Architecture;
    use fringewatch::train::data::{batch_of, read_sample};
    use fringewatch::train::loss::{yolo_loss, LossSettings};

    let tmp = tempfile::tempdir().unwrap();
    let dataset = tiny_dataset(tmp.path());
    let manifest = fringewatch::dataset::read_manifest(&dataset).unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fringewatch-default.onnx");
    let metadata = TractEngine::load(&bundled, 1).unwrap().metadata().clone();
    assert_eq!(metadata.phase_input, PhaseInput::CosSin);

    // The model's own loss on the training tiles: its folded weights in inference mode, the
    // tiles normalised as the trainer normalises them (the phase in radians for a cos/sin input).
    let graph = build_graph(
        Yolov3Config::of(Architecture::Compact, 4).with_phase_input(PhaseInput::CosSin),
    );
    let device = Device::flex().autodiff();
    let inner = device.clone().inner();
    let weights = read_conv_weights(&bundled, &graph).unwrap();
    let net = Yolov3Net::from_weights(&graph, &weights, &device)
        .unwrap()
        .valid();
    let mut channels = metadata.channels.clone();
    channels[0].mean = 0.0;
    channels[0].std = 1.0;
    let (mut sum, mut tiles) = (0.0, 0usize);
    for chunk in manifest.train.chunks(8) {
        let samples: Vec<_> = chunk
            .iter()
            .map(|e| read_sample(&dataset, &e.name, &channels, manifest.tile).unwrap())
            .collect();
        let labels: Vec<_> = samples.iter().map(|s| s.labels.clone()).collect();
        let (values, _) = batch_of(&samples).into_raw_vec_and_offset();
        let input = TensorData::new(values, [samples.len(), 3, manifest.tile, manifest.tile]);
        let heads = net.forward(&graph, Tensor::<4>::from_data(input, &inner));
        let (_, terms) = yolo_loss(
            &heads,
            &labels,
            &metadata.anchors,
            4,
            manifest.tile,
            LossSettings::default(),
        );
        sum += terms.total() * samples.len() as f64;
        tiles += samples.len();
    }
    let own = sum / tiles as f64;

    let still = TrainSettings {
        epochs: 1,
        batch: 8,
        steps_per_epoch: None,
        learning_rate: 1e-9,
        init: Some(bundled),
        augmentation: Augmentation::none(),
        ..TrainSettings::default()
    };
    let probe = train(
        &dataset,
        &tmp.path().join("still.onnx"),
        &still,
        false,
        &Silent,
    )
    .unwrap();
    let started = probe.history[0].train.total();
    eprintln!("the bundled model's loss {own}, fine-tuning's first epoch {started}");
    assert!(
        (started - own).abs() <= 0.1 * own,
        "fine-tuning the bundled model starts at training loss {started}, the model's own is {own}"
    );
}

/// A widened start (`train --init NARROW --width W`) computes, in training mode once calibrated,
/// what the narrow model computes: the run starts from the model, not from a perturbed one.
#[test]
fn a_widened_start_keeps_the_models_function_in_training_mode() {
    let _burn = one_at_a_time();
    use burn::module::Module;
    use fringewatch::model::widen::widen;
    use fringewatch::model::yolov3::{random_weights, Architecture};

    let config = Yolov3Config::of(Architecture::Compact, 4);
    let (narrow, wide) = (build_graph(config), build_graph(config.with_width(0.33)));
    let device = Device::flex().autodiff();
    let inner = device.clone().inner();
    let data = pattern_tiles(160);
    let narrow_weights = random_weights(&narrow, 12);
    let model = Yolov3Net::from_weights(&narrow, &narrow_weights, &inner).unwrap();
    let heads = model.forward(&narrow, Tensor::<4>::from_data(data.clone(), &inner));

    let weights = widen(&narrow, &wide, &narrow_weights, 13, 0.0).unwrap();
    let mut net = Yolov3Net::from_weights(&wide, &weights, &device).unwrap();
    let statistics = net
        .valid()
        .conv_output_statistics(&wide, [Ok(Tensor::<4>::from_data(data.clone(), &inner))])
        .unwrap();
    net.calibrate_batch_norm(&statistics, &device).unwrap();
    let in_training = net.forward(&wide, Tensor::<4>::from_data(data, &device));
    let difference = heads_difference(heads, in_training);
    assert!(
        difference < 1e-5,
        "the widened network differs by {difference}"
    );
}

/// The loss of one fixed batch before and after one Adam step, from seeded weights: pinned, so
/// that work on the trainer's speed (layout, fusion, threads) cannot change what is learnt
/// (issue: retraining for robustness). Recorded with the trainer as of this test's writing;
/// the tolerance covers the order of floating-point sums across thread counts.
#[test]
fn one_step_on_a_fixed_batch_keeps_its_loss() {
    let _burn = one_at_a_time();
    use burn::module::Module;
    use burn::optim::{AdamConfig, GradientsParams};
    use fringewatch::dataset::TileLabel;
    use fringewatch::model::contract::default_anchors;
    use fringewatch::model::yolov3::{random_weights, Architecture};
    use fringewatch::train::loss::{yolo_loss, LossSettings};

    let graph = build_graph(Yolov3Config::of(Architecture::Compact, 4));
    let device = Device::flex().autodiff();
    let net = Yolov3Net::from_weights(&graph, &random_weights(&graph, 7), &device).unwrap();
    let tile = 160;
    // Two tiles of smooth deterministic patterns and four boxes.
    let data = pattern_tiles(tile);
    let input = Tensor::<4>::from_data(data.clone(), &device);
    let label = TileLabel::new;
    let labels = vec![
        vec![
            label(1, [20.0, 30.0, 64.0, 58.0]),
            label(3, [100.0, 90.0, 118.0, 140.0]),
        ],
        vec![
            label(0, [5.0, 5.0, 45.0, 35.0]),
            label(2, [70.0, 80.0, 150.0, 150.0]),
        ],
    ];
    let anchors = default_anchors(tile);
    let heads = net.forward(&graph, input);
    let (loss, before) = yolo_loss(&heads, &labels, &anchors, 4, tile, LossSettings::default());
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    let mut optimizer = AdamConfig::new().init();
    let net = optimizer.step(1e-3, net, grads);
    let plain = Tensor::<4>::from_data(data, &device.clone().inner());
    let heads = net.valid().forward(&graph, plain);
    let (_, after) = yolo_loss(&heads, &labels, &anchors, 4, tile, LossSettings::default());
    eprintln!(
        "loss before {:.6}, after one step {:.6}",
        before.total(),
        after.total()
    );
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-4 * want.abs();
    assert!(close(before.total(), 60.156338), "{}", before.total());
    assert!(close(after.total(), 40.166376), "{}", after.total());
}

/// A copy of `dataset` at `to` with every tile's phase (band 1) offset by `offset` radians and
/// wrapped again: the same interferograms in another reference.
fn offset_dataset(dataset: &Path, to: &Path, offset: f32) {
    for entry in walk(dataset) {
        let target = to.join(entry.strip_prefix(dataset).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
    for tile in std::fs::read_dir(to.join("tiles")).unwrap() {
        let path = tile.unwrap().path();
        let file = gdal::Dataset::open_ex(
            &path,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_RASTER
                    | gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap();
        let mut band = file.rasterband(1).unwrap();
        let size = band.size();
        let mut buffer = band.read_as::<f32>((0, 0), size, size, None).unwrap();
        let turn = std::f32::consts::TAU;
        for v in buffer.data_mut() {
            if v.is_finite() {
                *v = (*v + offset + std::f32::consts::PI).rem_euclid(turn) - std::f32::consts::PI;
            }
        }
        band.write((0, 0), size, &mut buffer).unwrap();
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The trainer sees each tile's phase in the reference detection sees it in (issue: retraining
/// for robustness): referenced to each tile's circular mean, a dataset and the same dataset
/// with its phase offset by a constant give the same training loss (augmented tiles, the
/// augmentation's random reference offsets included) and validation loss; with the phase as
/// given they do not. The learning rate is negligible: Adam's first steps are ±lr on every
/// weight whatever the gradient's size, so rounding-level differences of the inputs (6e-7 rad
/// here) would move the weights by the learning rate where a gradient is near zero.
#[test]
fn the_trainer_sees_the_phase_in_the_reference_detection_sees_it_in() {
    let _burn = one_at_a_time();
    use fringewatch::model::phase_input::PhaseReference;
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tiny_dataset(tmp.path());
    let moved = tmp.path().join("moved");
    offset_dataset(&dataset, &moved, 1.3);
    let settings = |reference| TrainSettings {
        epochs: 1,
        batch: 4,
        steps_per_epoch: Some(4),
        warmup_steps: 2,
        learning_rate: 1e-9,
        phase_reference: reference,
        ..TrainSettings::default()
    };
    let losses = |data: &Path, reference, name: &str| {
        let report = train(
            data,
            &tmp.path().join(name),
            &settings(reference),
            false,
            &Silent,
        )
        .unwrap();
        let r = &report.history[0];
        (r.train.total(), r.validation.total())
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
    let tile_mean = losses(&dataset, PhaseReference::TileMean, "a.onnx");
    let tile_mean_moved = losses(&moved, PhaseReference::TileMean, "b.onnx");
    eprintln!("referenced to the tile mean: {tile_mean:?} and offset {tile_mean_moved:?}");
    assert!(
        close(tile_mean.0, tile_mean_moved.0),
        "{tile_mean:?} {tile_mean_moved:?}"
    );
    assert!(
        close(tile_mean.1, tile_mean_moved.1),
        "{tile_mean:?} {tile_mean_moved:?}"
    );
    let as_given = losses(&dataset, PhaseReference::AsGiven, "c.onnx");
    let as_given_moved = losses(&moved, PhaseReference::AsGiven, "d.onnx");
    eprintln!("as given: {as_given:?} and offset {as_given_moved:?}");
    // Measured: referenced, 51.000807 and 51.000816 (training), 46.586555 both (validation); as
    // given 51.142 and 51.505 (training; the random-init network's validation loss barely
    // depends on the phase: 46.59022 and 46.59033).
    assert!(
        (as_given.0 - as_given_moved.0).abs() > 1e-3 * as_given.0,
        "{as_given:?} {as_given_moved:?}"
    );
}
