//! The bundled default model finds the labelled signals of a simulated scene it never saw
//! (issue: training and evaluation). Fixed seeds outside the training seeds; the floors fail for
//! an untrained model (it reports nothing at the recommended threshold).

mod common;

use fringewatch::detect::{detect_stack, DetectSettings};
use fringewatch::engine::augmented::TestTimeAugmentation;
use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::evaluate::{evaluate, Prediction, Threshold, Truth};
use fringewatch::model::default_model;
use fringewatch::model::phase_input::PhaseReference;
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

/// Class-agnostic scores of `predictions` against `truths` (localisation alone, every class one).
fn agnostic(
    predictions: &[Prediction],
    truths: &[Truth],
    iou: f64,
    threshold: Threshold,
) -> fringewatch::evaluate::Evaluation {
    let (mut p, mut t) = (predictions.to_vec(), truths.to_vec());
    fringewatch::evaluate::class_agnostic(&mut p, &mut t);
    evaluate(&p, &t, &["any".to_string()], iou, threshold)
}

/// Simulate `seeds` with `settings`, detect each scene's stack with `engine` at `confidence`:
/// (predictions, truths), image k being the k-th seed.
fn detect_scenes(
    engine: &TractEngine,
    settings: &SimulationSettings,
    seeds: &[u64],
    confidence: f32,
) -> (Vec<Prediction>, Vec<Truth>) {
    let detect = DetectSettings {
        confidence,
        ..DetectSettings::default()
    };
    detect_offset_scenes(engine, settings, seeds, &detect, 0.0)
}

/// [`detect_scenes`] with every scene's wrapped phase offset by `offset` radians and wrapped
/// again (another reference point: the same interferogram).
fn detect_offset_scenes(
    engine: &TractEngine,
    settings: &SimulationSettings,
    seeds: &[u64],
    detect: &DetectSettings,
    offset: f32,
) -> (Vec<Prediction>, Vec<Truth>) {
    let tmp = tempfile::tempdir().unwrap();
    let (stacks, truths) = offset_scene_stacks(settings, seeds, offset, tmp.path());
    (detect_stacks(engine, &stacks, detect), truths)
}

/// Simulate `seeds` with `settings`, offset each scene's wrapped phase by `offset` radians and
/// wrap it again, and build each scene's stack under `dir`: (stacks, truths), image k being the
/// k-th seed.
fn offset_scene_stacks(
    settings: &SimulationSettings,
    seeds: &[u64],
    offset: f32,
    dir: &std::path::Path,
) -> (Vec<std::path::PathBuf>, Vec<Truth>) {
    let (mut stacks, mut truths) = (Vec::new(), Vec::new());
    for (k, &seed) in seeds.iter().enumerate() {
        let mut scene =
            simulate_scene(settings, &format!("scene_{k:04}"), seed, None, &Silent).unwrap();
        if offset != 0.0 {
            let turn = std::f32::consts::TAU;
            scene.phase.mapv_inplace(|p| {
                (p + offset + std::f32::consts::PI).rem_euclid(turn) - std::f32::consts::PI
            });
        }
        truths.extend(labelled_boxes(&scene, k));
        let scene_dir = dir.join(format!("offset{offset}"));
        let written = write_scene(&scene, &scene_dir, k).unwrap();
        let stack = fringewatch::dataset::scene_stack(
            &written,
            &scene_dir.join(format!("layers{k}")),
            &Silent,
        )
        .unwrap();
        stacks.push(stack);
    }
    (stacks, truths)
}

/// Detections on each stack, image k being the k-th stack.
fn detect_stacks(
    engine: &TractEngine,
    stacks: &[std::path::PathBuf],
    detect: &DetectSettings,
) -> Vec<Prediction> {
    let mut predictions = Vec::new();
    for (k, stack) in stacks.iter().enumerate() {
        let run = detect_stack(stack, engine, detect, &Silent).unwrap();
        predictions.extend(run.detections.iter().map(|d| Prediction {
            image: k.to_string(),
            class: d.class,
            bbox: d.bbox,
            score: f64::from(d.score),
        }));
    }
    predictions
}

#[test]
fn the_bundled_model_finds_the_signals_of_an_unseen_scene() {
    let model =
        default_model().expect("models/fringewatch-default.onnx is part of the source tree");
    let engine = TractEngine::load(&model, 1).unwrap();
    assert!(engine.metadata().provenance.trained);
    let classes: Vec<String> = SignalClass::ALL
        .iter()
        .map(|c| c.code().to_string())
        .collect();
    // Four 960 px scenes (seeds outside the training run's), about 30 labelled signals.
    let (predictions, truths) = detect_scenes(
        &engine,
        &SimulationSettings::default(),
        &[90_001, 90_002, 90_003, 90_004],
        engine.metadata().default_confidence(),
    );
    assert!(
        truths.len() >= 8,
        "too few labelled signals: {}",
        truths.len()
    );
    // Class-agnostic localisation and the per-class scores at the model's recommended confidence
    // (what `detect` and `run` use by default).
    let confidence = f64::from(engine.metadata().default_confidence());
    let found = agnostic(&predictions, &truths, 0.5, Threshold::Fixed(confidence));
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
    // Measured with fringewatch-default-sim-v10 at its recommended 0.242 (40 labelled signals
    // of the fixed GMTSAR-like chain), each tile referenced to its mean (the default): agnostic
    // P 0.36, R 0.45; per class P 0.30, R 0.38, mAP 0.22; with the phase as given, as every
    // figure after this one: agnostic P 0.36, R 0.38; per class P 0.31, R 0.33, mAP 0.22 (v8
    // at its 0.241: 0.28 / 0.33; 0.26 / 0.30 / 0.21, so the agnostic floors fail for
    // it; v4 at its 0.204: 0.33 / 0.33; 0.31 / 0.30 / 0.21; v3: 0.34 / 0.40; 0.23 / 0.28 /
    // 0.13; v2, trained on this chain alone: 0.38 / 0.40; 0.29 / 0.30 / 0.20). One scene's
    // precision at one threshold: the held-out families below, scored over all thresholds,
    // decide between models. An untrained model reports nothing at this threshold (objectness
    // prior σ(−4.6) ≈ 0.01), so every floor below fails for it.
    assert!(found.recall >= 0.35, "recall {:.2}", found.recall);
    assert!(found.precision >= 0.32, "precision {:.2}", found.precision);
    assert!(
        per_class.recall >= 0.28,
        "per-class recall {:.2}",
        per_class.recall
    );
    assert!(
        per_class.map_voc >= 0.2,
        "per-class mAP {:.2}",
        per_class.map_voc
    );
}

/// Per-class mAP@0.5 and class-agnostic AP@0.5 and @0.3 of the bundled model on fresh scenes of
/// a family, detections decoded down to 0.01 (the PR curve complete, as `score_heldout.sh` runs).
fn family_scores(
    settings: &SimulationSettings,
    seeds: &[u64],
    augmentation: TestTimeAugmentation,
) -> (usize, f64, f64, f64) {
    let engine = TractEngine::load(&default_model().unwrap(), 1).unwrap();
    let classes: Vec<String> = SignalClass::ALL
        .iter()
        .map(|c| c.code().to_string())
        .collect();
    let detect = DetectSettings {
        confidence: 0.01,
        augmentation,
        ..DetectSettings::default()
    };
    let (predictions, truths) = detect_offset_scenes(&engine, settings, seeds, &detect, 0.0);
    let per_class = evaluate(&predictions, &truths, &classes, 0.5, Threshold::BestF1).map_voc;
    let at = |iou| agnostic(&predictions, &truths, iou, Threshold::BestF1).map_voc;
    (truths.len(), per_class, at(0.5), at(0.3))
}

/// Six 960 px scenes of the held-out `outside` family (89 labels).
const OUTSIDE_SEEDS: [u64; 6] = [93_001, 93_002, 93_003, 93_004, 93_005, 93_006];

/// The bundled model on a held-out family it was never trained on (issue: retraining for
/// robustness): the `outside` family, whose processing choices (boxcar filter, 50–80 m source
/// grids, 1–2 looks, 9×9–11×11 coherence windows, strong turbulence) lie outside every training
/// range. Floors sit just below the measured figures, so a model worse off its training domain
/// cannot be bundled unnoticed.
#[test]
fn the_bundled_model_holds_on_a_held_out_processing_family() {
    let settings = fringewatch::simulate::domain::Family::Outside.settings(&[]);
    let (labels, per_class, agnostic50, agnostic30) =
        family_scores(&settings, &OUTSIDE_SEEDS, TestTimeAugmentation::Off);
    eprintln!(
        "outside family: {labels} labels; per-class mAP@0.5 {per_class:.3}, class-agnostic AP@0.5 \
         {agnostic50:.3}, AP@0.3 {agnostic30:.3}"
    );
    assert!(labels >= 15, "too few labelled signals: {labels}");
    // Six 960 px scenes, 89 labels. Measured with fringewatch-default-sim-v10, each tile
    // referenced to its mean (the default): per class 0.280, class-agnostic 0.413 and 0.448 at
    // IoU 0.3; with the phase as given, as every figure after this one: 0.270, 0.400 and 0.461;
    // v8 scored 0.242, 0.331 and 0.394 here (it
    // fails all three floors), v4 0.192, 0.305 and 0.376, v3 0.173, 0.252 and 0.311, v2 0.052,
    // 0.037 and 0.095. (On the 40 `outside` scenes of models/recipe-v10.sh: v10 0.193 / 0.305,
    // v8 0.170 / 0.245.)
    assert!(per_class >= 0.25, "per-class mAP {per_class:.3}");
    assert!(agnostic50 >= 0.38, "class-agnostic AP@0.5 {agnostic50:.3}");
    assert!(agnostic30 >= 0.44, "class-agnostic AP@0.3 {agnostic30:.3}");
}

/// The bundled model on phases with 45 m pixels (fresh randomised scenes multilooked 3 × 3, as a
/// processor that exports at 45 m writes them): end to end as `run` and the C ABI detect, the
/// phase brought to the detector's 15 m grid first, it keeps its class-agnostic AP@0.5; on the
/// 45 m grid as it is (what `run` did before), where every slide covers a ninth of the pixels
/// it learnt, it loses most of it.
#[test]
fn the_bundled_model_holds_on_45_m_pixels_once_resampled() {
    use fringewatch::detect::job::{DetectionOutput, Detector};
    use fringewatch::engine::Backend;
    use fringewatch::layers::RawLayers;
    use fringewatch::sensitivity::layer::Incidence;
    let settings = fringewatch::simulate::domain::Family::Randomised.settings(&[]);
    let detector = Detector::open(None, Backend::Cpu, 1).unwrap();
    let detect = DetectSettings {
        confidence: 0.01,
        ..detector.default_settings()
    };
    let tmp = tempfile::tempdir().unwrap();
    let (mut as_is, mut resampled, mut truths) = (Vec::new(), Vec::new(), Vec::new());
    for (k, seed) in [94_001u64, 94_002, 94_003, 94_004].into_iter().enumerate() {
        let scene =
            simulate_scene(&settings, &format!("scene_{k:04}"), seed, None, &Silent).unwrap();
        truths.extend(labelled_boxes(&scene, k));
        let fine = write_scene(&scene, tmp.path(), k).unwrap();
        let coarse = tmp.path().join(format!("coarse_{k}"));
        common::multilook_scene(&fine, &coarse, 3);
        let raw = RawLayers {
            phase: coarse.join("phase.tif"),
            coherence: coarse.join("coherence.tif"),
            dem: coarse.join("dem.tif"),
            incidence: Incidence::Raster(coarse.join("incidence.tif")),
            heading_deg: scene.description.heading_deg,
        };
        let prediction = |d: &fringewatch::detect::decode::Detection, scale: f64| Prediction {
            image: k.to_string(),
            class: d.class,
            bbox: d.bbox.map(|v| v * scale),
            score: f64::from(d.score),
        };
        // the 45 m grid as it is: its pixels are three times the scene's
        let layers = tmp.path().join(format!("layers_{k}"));
        let run = detector
            .detect_raw(&raw, &layers, false, &detect, &Silent)
            .unwrap();
        as_is.extend(run.detections.iter().map(|d| prediction(d, 3.0)));
        // end to end: on the detector's grid, which is the scene's own 15 m grid again
        let output = DetectionOutput {
            path: tmp.path().join(format!("detections_{k}.gpkg")),
            layer: "detections".into(),
            overwrite: false,
        };
        let run = detector
            .detect_raw_to_output(&raw, None, &output, &detect, &Silent)
            .unwrap();
        assert_eq!(run.grid.geo_transform, scene.grid.geo_transform);
        resampled.extend(run.detections.iter().map(|d| prediction(d, 1.0)));
    }
    let ap = |predictions: Vec<Prediction>| {
        agnostic(&predictions, &truths, 0.5, Threshold::BestF1).map_voc
    };
    let (as_is, resampled) = (ap(as_is), ap(resampled));
    eprintln!(
        "45 m pixels, {} labels: class-agnostic AP@0.5 {as_is:.3} on the grid as it is, \
         {resampled:.3} resampled to 15 m",
        truths.len()
    );
    assert!(
        truths.len() >= 30,
        "too few labelled signals: {}",
        truths.len()
    );
    // Measured with fringewatch-default-sim-v10: 0.097 as it is, 0.261 resampled (87 labels;
    // v8: 0.046 and 0.262).
    assert!(resampled >= 0.22, "resampled AP {resampled:.3}");
    assert!(
        resampled >= as_is + 0.15,
        "{resampled:.3} resampled against {as_is:.3} as it is"
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

/// Where the wrap falls carries no information (issue: retraining for robustness): the same
/// scenes with the phase offset by a constant and wrapped again — another reference point of
/// the same interferogram — give the same boxes. With each tile referenced to its circular mean
/// (the default, [`PhaseReference::TileMean`]) the network sees the same tiles up to rounding:
/// nearly every box at the model's threshold has one of the same class at IoU ≥ 0.9 in the other
/// run, both ways. With the phase as given, only what the network learnt holds them (asserted
/// at IoU ≥ 0.5 for most boxes; the share at IoU ≥ 0.9 is printed).
#[test]
fn a_constant_phase_offset_keeps_the_boxes() {
    let engine = TractEngine::load(&default_model().unwrap(), 1).unwrap();
    let tile_mean = DetectSettings {
        confidence: engine.metadata().default_confidence(),
        ..DetectSettings::default()
    };
    assert_eq!(tile_mean.reference, PhaseReference::TileMean);
    let as_given = DetectSettings {
        reference: PhaseReference::AsGiven,
        ..tile_mean.clone()
    };
    let settings = SimulationSettings {
        size: 640,
        ..SimulationSettings::default()
    };
    let seeds = [94_001, 94_002, 94_003];
    let tmp = tempfile::tempdir().unwrap();
    let (stacks, _) = offset_scene_stacks(&settings, &seeds, 0.0, tmp.path());
    let reference = [&tile_mean, &as_given].map(|d| detect_stacks(&engine, &stacks, d));
    let kept_at = |from: &[Prediction], to: &[Prediction], overlap: f64| {
        let hit = from
            .iter()
            .filter(|a| {
                to.iter().any(|b| {
                    a.image == b.image
                        && a.class == b.class
                        && fringewatch::tiling::iou(&a.bbox, &b.bbox) >= overlap
                })
            })
            .count();
        hit as f64 / from.len().max(1) as f64
    };
    let (mut worst_tile_mean, mut worst_as_given) = (1.0f64, 1.0f64);
    for offset in [1.3f32, -2.4] {
        let (stacks, _) = offset_scene_stacks(&settings, &seeds, offset, tmp.path());
        for (k, detect) in [&tile_mean, &as_given].into_iter().enumerate() {
            let moved = detect_stacks(&engine, &stacks, detect);
            let there = |overlap| kept_at(&reference[k], &moved, overlap);
            let back = |overlap| kept_at(&moved, &reference[k], overlap);
            eprintln!(
                "{:?}, offset {offset:+.1} rad: {} and {} boxes; kept at IoU ≥ 0.9: {:.2} and \
                 {:.2}; at IoU ≥ 0.5: {:.2} and {:.2}",
                detect.reference,
                reference[k].len(),
                moved.len(),
                there(0.9),
                back(0.9),
                there(0.5),
                back(0.5)
            );
            if k == 0 {
                worst_tile_mean = worst_tile_mean.min(there(0.9)).min(back(0.9));
            } else {
                worst_as_given = worst_as_given.min(there(0.5)).min(back(0.5));
            }
        }
    }
    assert!(
        reference[0].len() >= 5,
        "too few boxes: {}",
        reference[0].len()
    );
    // Measured with v10 (17 boxes on the three scenes): referenced to each tile's mean, kept at
    // IoU ≥ 0.9 1.00 both ways for both offsets; as given, 0.06–0.09 at IoU ≥ 0.9 and
    // 0.69 / 0.79 (+1.3 rad), 0.56 / 0.82 (−2.4 rad) at IoU ≥ 0.5.
    assert!(
        worst_tile_mean >= 0.95,
        "share of boxes kept at IoU ≥ 0.9 with tiles referenced to their mean: {worst_tile_mean:.2}"
    );
    assert!(
        worst_as_given >= 0.55,
        "share of boxes kept at IoU ≥ 0.5 with the phase as given: {worst_as_given:.2}"
    );
}

/// The bundled model under test-time augmentation (`--augment sign-and-mirrors`: the phase's
/// two signs, each mirrored three ways) on the held-out `outside` scenes. On the 112 scenes of
/// the larger held-out families (`models/score_heldout.sh`) it gained on every family with v8
/// (model card, *Test-time augmentation*); on these six, fewer, v10 measured per class 0.270
/// (one pass 0.280), class-agnostic 0.421 (0.413) and 0.454 at IoU 0.3 (0.448), each tile
/// referenced to its mean (the default); with the phase as given 0.274, 0.427 and 0.461 (v8:
/// 0.230, 0.337, 0.394): the floors sit just below, so an averaging that maps a head back wrong, and blurs
/// the boxes, fails them (v8 with the offsets not flipped back: 0.204 and 0.301).
#[test]
fn the_bundled_model_holds_on_a_held_out_family_with_test_time_augmentation() {
    let settings = fringewatch::simulate::domain::Family::Outside.settings(&[]);
    let (labels, per_class, agnostic50, agnostic30) = family_scores(
        &settings,
        &OUTSIDE_SEEDS,
        TestTimeAugmentation::SignAndMirrors,
    );
    eprintln!(
        "outside family, 8 symmetries: {labels} labels; per-class mAP@0.5 {per_class:.3}, \
         class-agnostic AP@0.5 {agnostic50:.3}, AP@0.3 {agnostic30:.3}"
    );
    assert!(per_class >= 0.25, "per-class mAP {per_class:.3}");
    assert!(agnostic50 >= 0.40, "class-agnostic AP@0.5 {agnostic50:.3}");
    assert!(agnostic30 >= 0.44, "class-agnostic AP@0.3 {agnostic30:.3}");
}
