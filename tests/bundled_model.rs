//! The bundled default model finds the labelled signals of a simulated scene it never saw
//! (issue: training and evaluation). Fixed seeds outside the training seeds; the floors fail for
//! an untrained model (it reports nothing at the recommended threshold).

use fringewatch::detect::{detect_stack, DetectSettings};
use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::evaluate::{evaluate, Prediction, Threshold, Truth};
use fringewatch::model::default_model;
use fringewatch::progress::Silent;
use fringewatch::simulate::output::write_scene;
use fringewatch::simulate::{simulate_scene, SignalClass, SimulationSettings};

/// The labelled (visible) signals of scene `k` as truth boxes in pixels.
fn labelled_boxes(scene: &fringewatch::simulate::Scene, k: usize) -> Vec<Truth> {
    scene
        .signals
        .iter()
        .filter(|s| s.visible)
        .map(|s| {
            let b = s.box_px;
            Truth {
                image: k.to_string(),
                class: s.class as usize,
                bbox: [b[0] as f64, b[1] as f64, b[2] as f64, b[3] as f64],
            }
        })
        .collect()
}

#[test]
fn the_bundled_model_finds_the_signals_of_an_unseen_scene() {
    let model =
        default_model().expect("models/fringewatch-default.onnx is part of the source tree");
    let engine = TractEngine::load(&model, 1).unwrap();
    assert!(engine.metadata().provenance.trained);
    let tmp = tempfile::tempdir().unwrap();
    let settings = SimulationSettings::default();
    let classes: Vec<String> = SignalClass::ALL
        .iter()
        .map(|c| c.code().to_string())
        .collect();
    let (mut predictions, mut truths) = (Vec::new(), Vec::new());
    // Four 960 px scenes (seeds outside the training run's), about 30 labelled signals.
    for (k, seed) in [90_001u64, 90_002, 90_003, 90_004].into_iter().enumerate() {
        let scene =
            simulate_scene(&settings, &format!("scene_{k:04}"), seed, None, &Silent).unwrap();
        truths.extend(labelled_boxes(&scene, k));
        let dir = write_scene(&scene, tmp.path(), k).unwrap();
        let stack = fringewatch::dataset::scene_stack(
            &dir,
            &tmp.path().join(format!("layers{k}")),
            &Silent,
        )
        .unwrap();
        let settings = DetectSettings {
            confidence: engine.metadata().default_confidence(),
            ..DetectSettings::default()
        };
        let run = detect_stack(&stack, &engine, &settings, &Silent).unwrap();
        predictions.extend(run.detections.iter().map(|d| Prediction {
            image: k.to_string(),
            class: d.class,
            bbox: d.bbox,
            score: f64::from(d.score),
        }));
    }
    assert!(
        truths.len() >= 8,
        "too few labelled signals: {}",
        truths.len()
    );
    // Class-agnostic localisation and the per-class scores at the model's recommended confidence
    // (what `detect` and `run` use by default).
    let confidence = f64::from(engine.metadata().default_confidence());
    let mut agnostic_p = predictions.clone();
    let mut agnostic_t = truths.clone();
    fringewatch::evaluate::class_agnostic(&mut agnostic_p, &mut agnostic_t);
    let found = evaluate(
        &agnostic_p,
        &agnostic_t,
        &["any".to_string()],
        0.5,
        Threshold::Fixed(confidence),
    );
    let per_class = evaluate(
        &predictions,
        &truths,
        &classes,
        0.5,
        Threshold::Fixed(confidence),
    );
    eprintln!(
        "{} truths, {} detections: agnostic P {:.2} R {:.2}; per class P {:.2} R {:.2} mAP {:.2}",
        truths.len(),
        predictions.len(),
        found.precision,
        found.recall,
        per_class.precision,
        per_class.recall,
        per_class.map_voc
    );
    // Measured with fringewatch-default-sim-v2 (39 labelled signals): agnostic P 0.41, R 0.41
    // (16 of 39); per class P 0.31, R 0.31, mAP 0.21 (v1 on the same scenes: 0.38 / 0.26 / 0.12).
    // An untrained model reports nothing at this threshold (objectness prior σ(−4.6) ≈ 0.01), so
    // every floor below fails for it; the mAP floor fails for v1 too. The floors are low because
    // the bundled model is undertrained (models/README.md); raise them with a better model.
    assert!(found.recall >= 0.33, "recall {:.2}", found.recall);
    assert!(found.precision >= 0.3, "precision {:.2}", found.precision);
    assert!(
        per_class.recall >= 0.2,
        "per-class recall {:.2}",
        per_class.recall
    );
    assert!(
        per_class.map_voc >= 0.15,
        "per-class mAP {:.2}",
        per_class.map_voc
    );
}

/// Scene merging is monotone in the confidence (issue: scene-level merging): `fringewatch run`
/// at `--confidence 0.01` and at `--confidence 0.3` on the same simulated scenes give the same
/// boxes above 0.3 (one to one, IoU ≥ 0.9), so the low-threshold run's AP@0.5 is never lower.
#[test]
fn a_lower_confidence_run_keeps_the_higher_boxes_and_never_lowers_ap() {
    use fringewatch::tiling::iou;
    use fringewatch::vector::gpkg::read_layer;
    let tmp = tempfile::tempdir().unwrap();
    let settings = SimulationSettings {
        size: 640,
        ..SimulationSettings::default()
    };
    let classes: Vec<String> = SignalClass::ALL
        .iter()
        .map(|c| c.code().to_string())
        .collect();
    let (mut low, mut high, mut truths) = (Vec::new(), Vec::new(), Vec::new());
    let (mut matched, mut compared) = (0, 0);
    for (k, seed) in [91_001u64, 91_002, 91_003].into_iter().enumerate() {
        let scene =
            simulate_scene(&settings, &format!("scene_{k:04}"), seed, None, &Silent).unwrap();
        truths.extend(labelled_boxes(&scene, k));
        let dir = write_scene(&scene, tmp.path(), k).unwrap();
        let out = tmp.path().join(format!("scene{k}.gpkg"));
        let p = |name: &str| dir.join(name).display().to_string();
        let mut boxes = Vec::new();
        for (layer, confidence) in [("low", "0.01"), ("high", "0.3")] {
            let heading = format!("--heading={}", scene.description.heading_deg);
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_fringewatch"))
                .args(["--quiet", "run", "--phase", &p("phase.tif")])
                .args(["--coherence", &p("coherence.tif"), "--dem", &p("dem.tif")])
                .args(["--incidence", &p("incidence.tif"), &heading])
                .args(["--backend", "cpu", "--confidence", confidence])
                .args(["--out", out.to_str().unwrap(), "--layer", layer])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let features = read_layer(&out, Some(layer)).unwrap().features;
            let found: Vec<Prediction> = features
                .iter()
                .map(|f| {
                    let class = f.attribute("class").and_then(|v| v.as_text()).unwrap();
                    let (x0, y0, x1, y1) = f.envelope.unwrap();
                    // Map boxes to pixels of the scene grid (15 m, north up).
                    let g = &scene.grid.geo_transform;
                    Prediction {
                        image: k.to_string(),
                        class: classes.iter().position(|c| *c == class).unwrap(),
                        bbox: [
                            (x0 - g[0]) / g[1],
                            (y1 - g[3]) / g[5],
                            (x1 - g[0]) / g[1],
                            (y0 - g[3]) / g[5],
                        ],
                        score: f.attribute("score").and_then(|v| v.as_f64()).unwrap(),
                    }
                })
                .collect();
            boxes.push(found);
        }
        let above = |v: &[Prediction]| -> Vec<Prediction> {
            v.iter().filter(|p| p.score >= 0.3).cloned().collect()
        };
        let (a, b) = (above(&boxes[0]), above(&boxes[1]));
        assert_eq!(a.len(), b.len(), "boxes ≥ 0.3 in the two runs of scene {k}");
        for x in &a {
            compared += 1;
            if b.iter()
                .any(|y| y.class == x.class && iou(&x.bbox, &y.bbox) >= 0.9)
            {
                matched += 1;
            }
        }
        low.extend(boxes[0].iter().cloned());
        high.extend(boxes[1].iter().cloned());
    }
    assert!(compared >= 3, "too few boxes ≥ 0.3 to compare: {compared}");
    assert_eq!(matched, compared, "boxes ≥ 0.3 matched one to one");
    let score =
        |p: &[Prediction]| evaluate(p, &truths, &classes, 0.5, Threshold::Fixed(0.3)).map_voc;
    let (ap_low, ap_high) = (score(&low), score(&high));
    eprintln!("AP@0.5 at confidence 0.01: {ap_low:.3}, at 0.3: {ap_high:.3}");
    assert!(ap_low >= ap_high - 1e-9, "{ap_low} < {ap_high}");
    assert!(low.len() > high.len());
}
