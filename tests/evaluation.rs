//! The evaluator against pycocotools (AP50, COCO 101-point) and a hand-worked VOC example
//! (issue: training and evaluation).

mod common;

use std::process::Command;

use fringewatch::evaluate::{evaluate, Prediction, Threshold, Truth};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

fn random_case(seed: u64) -> (Vec<Prediction>, Vec<Truth>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut truths = Vec::new();
    let mut predictions = Vec::new();
    for image in 0..25 {
        let name = format!("tile{image}");
        for _ in 0..rng.random_range(0..7) {
            let (x, y) = (rng.random_range(0.0..140.0), rng.random_range(0.0..140.0));
            let (w, h) = (rng.random_range(6.0..60.0), rng.random_range(6.0..60.0));
            let class = rng.random_range(0..3usize);
            truths.push(Truth {
                image: name.clone(),
                class,
                bbox: [x, y, x + w, y + h],
            });
            // Found most of the time, with jitter (IoU spread around 0.5) and sometimes the
            // wrong class; sometimes found twice.
            for _ in 0..rng.random_range(0..3) {
                let j = |rng: &mut ChaCha8Rng, s: f64| rng.random_range(-0.25..0.25) * s;
                let (dx, dy, dw, dh) = (
                    j(&mut rng, w),
                    j(&mut rng, h),
                    j(&mut rng, w),
                    j(&mut rng, h),
                );
                let class = if rng.random_bool(0.8) {
                    class
                } else {
                    rng.random_range(0..3)
                };
                predictions.push(Prediction {
                    image: name.clone(),
                    class,
                    bbox: [
                        x + dx,
                        y + dy,
                        x + dx + (w + dw).max(2.0),
                        y + dy + (h + dh).max(2.0),
                    ],
                    score: rng.random_range(0.0..1.0),
                });
            }
        }
        for _ in 0..rng.random_range(0..4) {
            let (x, y) = (rng.random_range(0.0..140.0), rng.random_range(0.0..140.0));
            predictions.push(Prediction {
                image: name.clone(),
                class: rng.random_range(0..3),
                bbox: [
                    x,
                    y,
                    x + rng.random_range(5.0..50.0),
                    y + rng.random_range(5.0..50.0),
                ],
                score: rng.random_range(0.0..1.0),
            });
        }
    }
    (predictions, truths)
}

#[test]
fn ap50_agrees_with_pycocotools_on_random_cases() {
    let Some(python) = common::venv_python() else {
        return;
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/coco_ap.py");
    let classes: Vec<String> = ["AR", "CF", "CS"].iter().map(|s| s.to_string()).collect();
    // Fresh cases every run, plus a fixed one.
    let seeds = [2026u64, rand::random(), rand::random()];
    for seed in seeds {
        let (predictions, truths) = random_case(seed);
        let ours = evaluate(&predictions, &truths, &classes, 0.5, Threshold::Fixed(0.5));
        let dir = tempfile::tempdir().unwrap();
        let input = serde_json::json!({
            "classes": 3,
            "truths": truths.iter().map(|t| serde_json::json!([t.image, t.class, t.bbox[0], t.bbox[1], t.bbox[2], t.bbox[3]])).collect::<Vec<_>>(),
            "predictions": predictions.iter().map(|p| serde_json::json!([p.image, p.class, p.bbox[0], p.bbox[1], p.bbox[2], p.bbox[3], p.score])).collect::<Vec<_>>(),
        });
        let (i, o) = (dir.path().join("in.json"), dir.path().join("out.json"));
        std::fs::write(&i, input.to_string()).unwrap();
        let status = Command::new(&python)
            .arg(&script)
            .arg(&i)
            .arg(&o)
            .status()
            .unwrap();
        assert!(status.success(), "pycocotools script failed");
        let theirs: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&o).unwrap()).unwrap();
        for (c, row) in ours.classes.iter().enumerate() {
            let reference = theirs["per_class"][c].as_f64();
            if row.n_truth == 0 {
                continue;
            }
            let reference = reference.expect("pycocotools AP for a class with truth");
            assert!(
                (row.ap_coco - reference).abs() < 1e-6,
                "seed {seed} class {}: ours {} pycocotools {reference}",
                row.class,
                row.ap_coco
            );
        }
        let map = theirs["map50"].as_f64().unwrap();
        assert!(
            (ours.map_coco - map).abs() < 1e-6,
            "seed {seed}: mAP ours {} pycocotools {map}",
            ours.map_coco
        );
        // The case is not degenerate: AP strictly between 0 and 1.
        assert!(
            ours.map_coco > 0.1 && ours.map_coco < 0.95,
            "{}",
            ours.map_coco
        );
    }
}

/// VOC all-point AP worked by hand: 3 truths, 5 predictions in score order TP, FP, TP, FP, TP.
/// Recall/precision after each: (1/3, 1), (1/3, 1/2), (2/3, 2/3), (2/3, 1/2), (1, 3/5).
/// Envelope: 1 up to r = 1/3, then 2/3 up to 2/3, then 3/5 up to 1:
/// AP = 1/3·1 + 1/3·2/3 + 1/3·3/5 = 0.755 555…
#[test]
fn voc_all_point_worked_example() {
    let t = |x: f64| Truth {
        image: "a".into(),
        class: 0,
        bbox: [x, 0.0, x + 10.0, 10.0],
    };
    let p = |x: f64, score: f64| Prediction {
        image: "a".into(),
        class: 0,
        bbox: [x, 0.0, x + 10.0, 10.0],
        score,
    };
    let truths = vec![t(0.0), t(100.0), t(200.0)];
    let predictions = vec![
        p(0.0, 0.9),
        p(50.0, 0.8),
        p(100.0, 0.7),
        p(300.0, 0.6),
        p(200.0, 0.5),
    ];
    let e = evaluate(
        &predictions,
        &truths,
        &["CF".to_string()],
        0.5,
        Threshold::Fixed(0.0),
    );
    let expected = 1.0 / 3.0 + (1.0 / 3.0) * (2.0 / 3.0) + (1.0 / 3.0) * 0.6;
    assert!((e.map_voc - expected).abs() < 1e-12, "{}", e.map_voc);
    assert_eq!((e.tp, e.fp, e.false_negatives), (3, 2, 0));
    assert!((e.precision - 0.6).abs() < 1e-12 && (e.recall - 1.0).abs() < 1e-12);
}

/// `fringewatch evaluate --dataset`: a model scored on a dataset split straight from its tiles,
/// through the same CLI a user runs; every labelled box of the split is counted once.
#[test]
fn evaluate_dataset_from_the_cli_counts_every_label_of_the_split() {
    let tmp = tempfile::tempdir().unwrap();
    let fw = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_fringewatch"))
            .arg("--quiet")
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let scenes = tmp.path().join("scenes");
    let dataset = tmp.path().join("dataset");
    let (ok, _, err) = fw(&[
        "simulate",
        "--out",
        scenes.to_str().unwrap(),
        "--seed",
        "41",
        "--scenes",
        "4",
        "--size",
        "480",
    ]);
    assert!(ok, "{err}");
    let scene_dirs: Vec<String> = (0..4)
        .map(|k| scenes.join(format!("scene_{k:04}")).display().to_string())
        .collect();
    let mut args = vec!["dataset", "--out", dataset.to_str().unwrap(), "--scenes"];
    args.extend(scene_dirs.iter().map(String::as_str));
    let (ok, _, err) = fw(&args);
    assert!(ok, "{err}");

    let model = fringewatch::model::default_model().unwrap();
    let json = tmp.path().join("train.json");
    let (ok, stdout, err) = fw(&[
        "evaluate",
        "--dataset",
        dataset.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--split",
        "train",
        "--confidence",
        "best",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        stdout.contains("VOC") && stdout.contains("COCO"),
        "{stdout}"
    );
    let manifest = fringewatch::dataset::read_manifest(&dataset).unwrap();
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(e["confidence_is_best_f1"], true);
    let classes = e["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 4);
    let mut labels = 0;
    for (k, c) in classes.iter().enumerate() {
        let n_truth = c["n_truth"].as_u64().unwrap() as usize;
        assert_eq!(n_truth, manifest.class_counts[0][k], "{}", c["class"]);
        let (tp, false_negatives) = (c["tp"].as_u64().unwrap(), c["fn"].as_u64().unwrap());
        assert_eq!((tp + false_negatives) as usize, n_truth);
        labels += n_truth;
    }
    assert!(labels > 0, "the simulated split holds labels");
    // The confusion matrix: each row holds one class's truth boxes (found under some class, or
    // missed); each column one class's predictions at the confidence (finding some truth box, or
    // nothing), as many as the per-class table's TP + FP.
    let confusion = &e["confusion"];
    let cell = |t: usize, p: usize| confusion["found"][t][p].as_u64().unwrap();
    for (k, c) in classes.iter().enumerate() {
        let row: u64 = (0..4).map(|p| cell(k, p)).sum();
        let missed = confusion["missed"][k].as_u64().unwrap();
        assert_eq!(
            row + missed,
            c["n_truth"].as_u64().unwrap(),
            "{}",
            c["class"]
        );
        let column: u64 = (0..4).map(|t| cell(t, k)).sum();
        let alarms = confusion["false_alarms"][k].as_u64().unwrap();
        let kept = c["tp"].as_u64().unwrap() + c["fp"].as_u64().unwrap();
        assert_eq!(column + alarms, kept, "{}", c["class"]);
    }
    assert!(
        stdout.contains("| truth \\ called | AR | CF | CS | FS | missed |"),
        "{stdout}"
    );
    let map = e["map_voc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&map));

    // A dataset without a model is a parameter error.
    let (ok, _, err) = fw(&["evaluate", "--dataset", dataset.to_str().unwrap()]);
    assert!(!ok && err.contains("--model"), "{err}");
}
