//! The ONNX writer and the tract engine against onnxruntime (issue: CPU detection).

mod common;

use std::path::Path;
use std::process::Command;

use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::model::phase_input::PhaseInput;
use fringewatch::model::write_random_network;
use fringewatch::model::yolov3::{Architecture, Yolov3Config};
use ndarray::Array4;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

pub use common::venv_python as ort_python;

fn compare_with_onnxruntime(architecture: Architecture, batch: usize) {
    compare_network_with_onnxruntime(Yolov3Config::of(architecture, 4), batch)
}

fn compare_network_with_onnxruntime(config: Yolov3Config, batch: usize) {
    let architecture = (config.width, config.phase_input);
    let Some(python) = ort_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    let metadata = write_random_network(&model, config, 160, 7).unwrap();
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

/// The cos/sin phase input as onnxruntime runs it: the prelude (Slice, Cos, Sin, Identity,
/// Concat) is standard ONNX, not a reading of it that only tract shares.
#[test]
fn cos_sin_phase_input_runs_the_same_in_tract_and_onnxruntime() {
    let config = Yolov3Config::of(Architecture::Compact, 4).with_phase_input(PhaseInput::CosSin);
    compare_network_with_onnxruntime(config, 2);
}

/// Where the wrap falls carries no information: with the cos/sin input, phases φ and φ ± 2π
/// (the same complex signal) give the same heads, while the scaled input sees them as
/// different images.
#[test]
fn the_cos_sin_input_does_not_see_the_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = rand::random();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let input = Array4::<f32>::from_shape_fn((1, 3, 160, 160), |_| rng.random_range(-3.1..3.1));
    // every other pixel's phase moved by a whole turn, up or down
    let mut turned = input.clone();
    for ((_, c, y, x), v) in turned.indexed_iter_mut() {
        if c == 0 && (x + y) % 2 == 0 {
            *v += if *v < 0.0 {
                std::f32::consts::TAU
            } else {
                -std::f32::consts::TAU
            };
        }
    }
    let heads_of = |phase_input, x: &Array4<f32>| {
        let model = dir.path().join(format!("{phase_input:?}.onnx"));
        let config = Yolov3Config::of(Architecture::Compact, 4).with_phase_input(phase_input);
        write_random_network(&model, config, 160, 11).unwrap();
        TractEngine::load(&model, 1)
            .unwrap()
            .infer(x.view())
            .unwrap()
    };
    let largest_change = |phase_input| {
        let (a, b) = (
            heads_of(phase_input, &input),
            heads_of(phase_input, &turned),
        );
        a.iter()
            .zip(&b)
            .flat_map(|(a, b)| a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()))
            .fold(0.0f32, f32::max)
    };
    let cos_sin = largest_change(PhaseInput::CosSin);
    let scaled = largest_change(PhaseInput::Scaled);
    println!("largest head change for a turn of the phase: cos/sin {cos_sin:.2e}, scaled {scaled:.2e} (seed {seed})");
    assert!(cos_sin < 1e-3, "{cos_sin}");
    assert!(scaled > 100.0 * cos_sin.max(1e-5), "{scaled}");
}

/// A scaled-phase model carried over to the cos/sin input (`train --init OLD --phase-input
/// cos-sin` starts there): for phases near the reference, where sin φ ≈ φ, its heads are the
/// old model's.
#[test]
fn a_scaled_model_carried_to_cos_sin_keeps_its_heads_near_the_reference() {
    use fringewatch::model::onnx::{read_conv_weights, read_model, to_onnx, write_onnx};
    use fringewatch::model::phase_input::cos_sin_first_conv;
    use fringewatch::model::yolov3::build_graph;

    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.onnx"), dir.path().join("new.onnx"));
    let config = Yolov3Config::of(Architecture::Compact, 4);
    write_random_network(&old, config, 160, 5).unwrap();
    let (_, mut metadata) = read_model(&old).unwrap();
    let phase_std = metadata.channels[0].std;
    let mut weights = read_conv_weights(&old, &build_graph(config)).unwrap();
    let cos_sin = build_graph(config.with_phase_input(PhaseInput::CosSin));
    let first = cos_sin.convs().next().unwrap().out_channels;
    weights[0] = cos_sin_first_conv(&weights[0], first, phase_std);
    metadata.phase_input = PhaseInput::CosSin;
    metadata.channels[0].std = 1.0;
    write_onnx(&to_onnx(&cos_sin, &weights, &metadata).unwrap(), &new).unwrap();

    let mut rng = ChaCha8Rng::seed_from_u64(rand::random());
    // phase in radians within ±0.01 of the reference; ISL and PC1 anywhere
    let radians = Array4::<f32>::from_shape_fn((1, 3, 160, 160), |(_, c, _, _)| match c {
        0 => rng.random_range(-0.01..0.01),
        _ => rng.random_range(-2.0..2.0),
    });
    let mut scaled = radians.clone();
    scaled
        .index_axis_mut(ndarray::Axis(1), 0)
        .mapv_inplace(|v| v / phase_std as f32);
    assert_same_heads((&old, scaled), (&new, radians));
}

/// The heads of two models, each on its input, agree within 1e-4 of the first's largest value.
fn assert_same_heads((a, input_a): (&Path, Array4<f32>), (b, input_b): (&Path, Array4<f32>)) {
    let batch = input_a.shape()[0];
    let a = TractEngine::load(a, batch)
        .unwrap()
        .infer(input_a.view())
        .unwrap();
    let b = TractEngine::load(b, batch)
        .unwrap()
        .infer(input_b.view())
        .unwrap();
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.shape(), b.shape());
        let scale = a.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y).abs() / scale)
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "relative head difference {worst}");
    }
}

/// A model widened (`train --init OLD --width W` starts there) computes what it computed: every
/// head output of the wider network equals the narrow one's, on any input.
#[test]
fn a_widened_model_keeps_its_heads() {
    use fringewatch::model::onnx::{read_conv_weights, read_model, to_onnx, write_onnx};
    use fringewatch::model::widen::widen;
    use fringewatch::model::yolov3::build_graph;

    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.onnx"), dir.path().join("new.onnx"));
    let config = Yolov3Config::of(Architecture::Compact, 4).with_phase_input(PhaseInput::CosSin);
    write_random_network(&old, config, 160, 6).unwrap();
    let (_, mut metadata) = read_model(&old).unwrap();
    let narrow = build_graph(config);
    let wide = build_graph(config.with_width(0.33));
    metadata.width = 0.33;
    let write_widened = |path: &Path, outgoing: f32| {
        let narrow_weights = read_conv_weights(&old, &narrow).unwrap();
        let weights = widen(&narrow, &wide, &narrow_weights, 7, outgoing).unwrap();
        write_onnx(&to_onnx(&wide, &weights, &metadata).unwrap(), path).unwrap();
    };
    write_widened(&new, 0.0);
    assert!(narrow.parameter_count() * 3 / 2 < wide.parameter_count());

    let mut rng = ChaCha8Rng::seed_from_u64(rand::random());
    let input = Array4::<f32>::from_shape_fn((2, 3, 160, 160), |_| rng.random_range(-3.0..3.0));
    assert_same_heads((&old, input.clone()), (&new, input));

    // `model growth` reads the file back: nothing read from the new channels yet; with a
    // share of a fresh draw out of them (`--widen-outgoing`), some
    let growth = |model: &Path, from: &str| {
        Command::new(env!("CARGO_BIN_EXE_fringewatch"))
            .args(["model", "growth"])
            .arg(model)
            .args(["--from-width", from])
            .output()
            .unwrap()
    };
    let out = growth(&new, "0.25");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("read 0.00 % of their squared weight"),
        "{text}"
    );
    assert!(text.contains("from the 1272 new ones"), "{text}");
    assert!(text.contains("(Σw² 0.0 of "), "{text}");
    let grown = dir.path().join("grown.onnx");
    write_widened(&grown, 0.25);
    let text = String::from_utf8_lossy(&growth(&grown, "0.25").stdout).into_owned();
    let share: f64 = text
        .split("read ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(share > 0.1 && share < 10.0, "{text}");
    for (from, refusal) in [
        ("0.33", "is not narrower than the model's width 0.33"),
        ("0.329", "gives the same channels as the model's width 0.33"),
    ] {
        let out = growth(&grown, from);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("from-width") && err.contains(refusal) && err.lines().count() == 1,
            "{err}"
        );
    }
}

/// Whether the upper halves of YMM0–15 or ZMM0–15 are in use on this thread (XINUSE bits 2
/// and 6, from XGETBV with ECX = 1); `None` where the CPU cannot say.
#[cfg(target_arch = "x86_64")]
fn upper_vector_state_in_use() -> Option<bool> {
    use std::arch::x86_64::{__cpuid_count, _xgetbv};
    if !std::arch::is_x86_feature_detected!("xsave") {
        return None;
    }
    // CPUID.(EAX=0Dh, ECX=1):EAX bit 2: XGETBV with ECX = 1 is supported
    #[allow(unused_unsafe)]
    let leaf = unsafe { __cpuid_count(0xd, 1) };
    if leaf.eax & (1 << 2) == 0 {
        return None;
    }
    // SAFETY: the CPU has XSAVE (so XGETBV) and reports XGETBV's ECX = 1 form
    let in_use = unsafe { _xgetbv(1) };
    Some(in_use & ((1 << 2) | (1 << 6)) != 0)
}

/// tract's assembly kernels return with the upper halves of the vector registers in use (no
/// `vzeroupper`); on some Intel cores every legacy-SSE instruction after that pays a penalty
/// (`sinf` 117 ns a call against 2.5 ns, detection at 2400² 2.3× slower). The engine clears
/// that state after each call, so the code after it (decoding, the next tile's phase
/// reference, tract's own Sin and Cos at the start of the next call) runs at full speed.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_tract_engine_leaves_the_vector_registers_clean_after_a_call() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fringewatch-default.onnx");
    let engine = TractEngine::load(&model, 1).unwrap();
    let tile = engine.metadata().tile;
    let input = Array4::<f32>::from_shape_fn((1, 3, tile, tile), |(_, c, r, k)| {
        ((c * 7 + r * 3 + k) % 11) as f32 * 0.3 - 1.5
    });
    // on a thread of its own, so that nothing but the call runs on it before the check
    let after_call = std::thread::spawn(move || {
        let heads = engine.infer(input.view()).unwrap();
        let state = upper_vector_state_in_use();
        (heads[0].len(), state)
    })
    .join()
    .unwrap();
    match after_call {
        (n, Some(in_use)) => {
            assert!(n > 0);
            assert!(
                !in_use,
                "the upper vector state is still in use after a tract call"
            );
        }
        (_, None) => println!("this CPU cannot report the upper vector state (XGETBV 1): skipped"),
    }
}

/// `fringewatch model soup`: the weights are the share-weighted average of the members' (folded)
/// weights, the recommended confidence is the soup's own best-F1 threshold on the dataset's
/// validation split (as `evaluate --dataset` finds it), the provenance names the members; and
/// members that do not average, bad shares or an output that is a member are refused in one
/// line with nothing written.
#[test]
fn a_model_soup_averages_its_members_and_measures_its_threshold() {
    use fringewatch::model::onnx::{read_conv_weights, read_model};
    use fringewatch::model::yolov3::build_graph;

    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let fw = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fringewatch"))
            .arg("--quiet")
            .args(args)
            .output()
            .unwrap()
    };
    let config = Yolov3Config::of(Architecture::Compact, 4).with_phase_input(PhaseInput::CosSin);
    for (name, seed) in [("a.onnx", 11), ("b.onnx", 12)] {
        write_random_network(&dir.path().join(name), config, 160, seed).unwrap();
    }
    let out = fw(&["simulate", "--out", &path("scenes"), "--seed", "44"]
        .into_iter()
        .chain(["--scenes", "4", "--size", "480"])
        .collect::<Vec<_>>());
    assert!(out.status.success(), "{out:?}");
    let mut args = vec!["dataset".to_string(), "--out".into(), path("dataset")];
    args.push("--scenes".into());
    args.extend((0..4).map(|k| path(&format!("scenes/scene_{k:04}"))));
    let out = fw(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{out:?}");

    let dataset = path("dataset");
    let soup = |members: &[&str], extra: &[&str], out: &str| {
        let mut args = vec!["model", "soup"];
        args.extend(members);
        args.extend(["--dataset", &dataset]);
        args.extend(extra);
        args.extend(["--out", out]);
        fw(&args)
    };
    let (a, b, s) = (path("a.onnx"), path("b.onnx"), path("soup.onnx"));
    let out = soup(&[&a, &b], &["--shares", "3,1"], &s);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();

    let graph = build_graph(config);
    let read = |p: &str| read_conv_weights(Path::new(p), &graph).unwrap();
    let (wa, wb, ws) = (read(&a), read(&b), read(&s));
    let mut worst = 0.0f32;
    let mut spread = 0.0f32;
    for ((x, y), z) in wa.iter().zip(&wb).zip(&ws) {
        let pairs = x.weight.iter().zip(&y.weight).zip(&z.weight);
        let biases = x.bias.iter().flatten().zip(y.bias.iter().flatten());
        for ((p, q), r) in pairs.chain(biases.zip(z.bias.iter().flatten())) {
            worst = worst.max((0.75 * p + 0.25 * q - r).abs());
            spread = spread.max((p - q).abs());
        }
    }
    assert!(worst < 1e-6 && spread > 0.1, "{worst} {spread}");

    let (_, metadata) = read_model(Path::new(&s)).unwrap();
    assert_eq!(metadata.name, "fringewatch-soup");
    let source = &metadata.provenance.source;
    let sha = |p: &str| fringewatch::model::sha256_of(Path::new(p)).unwrap();
    assert!(
        source.contains(&sha(&a)) && source.contains(&sha(&b)) && source.contains("0.750, 0.250"),
        "{source}"
    );
    let json = path("validation.json");
    let out = fw(&[
        "evaluate",
        "--dataset",
        &dataset,
        "--model",
        &s,
        "--split",
        "validation",
        "--confidence",
        "best",
        "--json",
        &json,
    ]);
    assert!(out.status.success(), "{out:?}");
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let best = e["confidence"].as_f64().unwrap();
    assert_eq!(metadata.recommended_confidence, Some(best));
    let map = e["map_voc"].as_f64().unwrap();
    assert!(
        said.contains(&format!("mAP@0.5 {map:.3} per class")) && said.contains("0.750 × "),
        "{said}"
    );

    // Refusals: one line, no output, no partial file, the members untouched.
    let full = path("full.onnx");
    write_random_network(
        Path::new(&full),
        Yolov3Config::of(Architecture::Full, 4).with_phase_input(PhaseInput::CosSin),
        160,
        13,
    )
    .unwrap();
    let bundled = fringewatch::model::default_model().unwrap();
    let bundled = bundled.to_str().unwrap();
    let before = std::fs::read(&a).unwrap();
    let refused = path("refused.onnx");
    for (members, extra, out, refusal) in [
        (
            vec![&a[..], &full[..]],
            vec![],
            &refused[..],
            "width 0.25 depth 0.33",
        ),
        (vec![&a[..], bundled], vec![], &refused[..], "other anchors"),
        (
            vec![&a[..], &b[..]],
            vec!["--shares", "1,0"],
            &refused[..],
            "0 is not a positive share",
        ),
        (
            vec![&a[..], &b[..]],
            vec!["--shares", "1"],
            &refused[..],
            "1 shares for 2 models",
        ),
        (vec![&a[..], &b[..]], vec![], &a[..], "is also an input"),
    ] {
        let out = soup(&members, &extra, out);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(refusal) && err.trim().lines().count() == 1,
            "{refusal}: {err}"
        );
    }
    assert!(!Path::new(&refused).exists());
    assert_eq!(std::fs::read(&a).unwrap(), before);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
