//! The wgpu engine on a real Vulkan driver (Mesa's lavapipe in CI): each kernel against a plain
//! CPU reference at awkward shapes, and the compact and full YOLOv3 against tract on fresh
//! random inputs at batch 1 and at a batch that is not a multiple of the tiling. Outside CI a
//! machine without any Vulkan driver skips with a message.

use fringewatch::engine::gpu::plan::{ConvWeights, Op, Plan, Shape, View};
use fringewatch::engine::gpu::{find_adapter, AdapterChoice, GpuEngine};
use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::model::onnx::read_model;
use fringewatch::model::write_random_model;
use fringewatch::model::yolov3::Architecture;
use ndarray::Array4;
use rand::{RngExt, SeedableRng};

fn adapter() -> Option<wgpu::Adapter> {
    match find_adapter(AdapterChoice::Any) {
        Ok(a) => Some(a),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must provide Vulkan (lavapipe): {e}"
            );
            eprintln!("SKIP: {e}");
            None
        }
    }
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

fn view(buffer: usize, offset: usize, total: usize, shape: Shape) -> View {
    View {
        buffer,
        channel_offset: offset,
        buffer_channels: total,
        shape,
    }
}

/// Plain CPU convolution on NCHW views (the reference).
#[allow(clippy::too_many_arguments)]
fn conv_reference(
    x: &[f32],
    xs: Shape,
    w: &[f32],
    b: &[f32],
    out_c: usize,
    k: usize,
    stride: usize,
    pad: usize,
    leaky: Option<f32>,
    n: usize,
) -> (Vec<f32>, Shape) {
    let os = Shape {
        channels: out_c,
        height: (xs.height + 2 * pad - k) / stride + 1,
        width: (xs.width + 2 * pad - k) / stride + 1,
    };
    let mut y = vec![0.0f32; n * os.len()];
    for item in 0..n {
        for m in 0..out_c {
            for oy in 0..os.height {
                for ox in 0..os.width {
                    let mut acc = b[m] as f64;
                    for c in 0..xs.channels {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * stride + ky) as isize - pad as isize;
                                let ix = (ox * stride + kx) as isize - pad as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= xs.height as isize
                                    || ix >= xs.width as isize
                                {
                                    continue;
                                }
                                let xv = x[((item * xs.channels + c) * xs.height + iy as usize)
                                    * xs.width
                                    + ix as usize];
                                acc +=
                                    xv as f64 * w[((m * xs.channels + c) * k + ky) * k + kx] as f64;
                            }
                        }
                    }
                    let mut v = acc as f32;
                    if let Some(a) = leaky {
                        if v < 0.0 {
                            v *= a;
                        }
                    }
                    y[((item * out_c + m) * os.height + oy) * os.width + ox] = v;
                }
            }
        }
    }
    (y, os)
}

fn max_rel(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs() as f64))
        .max(1e-6);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs() as f64))
        / scale
}

fn metadata() -> fringewatch::model::contract::ModelMetadata {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    write_random_model(&path, Architecture::Compact, 160, 1).unwrap();
    read_model(&path).unwrap().1
}

#[test]
fn conv_kernel_matches_cpu_at_awkward_shapes() {
    let Some(adapter) = adapter() else { return };
    let seed = fresh_seed();
    // (in channels, height, width, out channels, kernel, stride, leaky, batch)
    let cases = [
        (5, 13, 11, 7, 3, 1, Some(0.1), 3),
        (3, 17, 9, 19, 3, 2, None, 2),
        (37, 6, 7, 5, 1, 1, Some(0.1), 1),
        (6, 9, 9, 33, 3, 2, Some(0.1), 5),
    ];
    let meta = metadata();
    for (i, &(cin, h, w, cout, k, stride, leaky, n)) in cases.iter().enumerate() {
        let xs = Shape {
            channels: cin,
            height: h,
            width: w,
        };
        let pad = k / 2;
        let weight = random(cout * cin * k * k, seed + i as u64);
        let bias = random(cout, seed + 100 + i as u64);
        let x = random(n * xs.len(), seed + 200 + i as u64);
        let (expected, os) = conv_reference(&x, xs, &weight, &bias, cout, k, stride, pad, leaky, n);
        // The output is written into channels [2, 2 + cout) of a wider buffer, as concatenation
        // inputs are; a second conv reads it back from that slice (1×1 identity).
        let total = cout + 4;
        let slice = view(1, 2, total, os);
        let mut identity = vec![0.0f32; cout * cout];
        for c in 0..cout {
            identity[c * cout + c] = 1.0;
        }
        let plan = Plan {
            buffers: vec![xs.len(), total * os.height * os.width, os.len()],
            ops: vec![
                Op::Conv {
                    input: view(0, 0, cin, xs),
                    output: slice,
                    weights: 0,
                    kernel: k,
                    stride,
                    pad,
                    leaky,
                },
                Op::Conv {
                    input: slice,
                    output: view(2, 0, cout, os),
                    weights: 1,
                    kernel: 1,
                    stride: 1,
                    pad: 0,
                    leaky: None,
                },
            ],
            input: view(0, 0, cin, xs),
            outputs: vec![view(2, 0, cout, os)],
            weights: vec![
                ConvWeights { weight, bias },
                ConvWeights {
                    weight: identity,
                    bias: vec![0.0; cout],
                },
            ],
        };
        let engine = GpuEngine::with_adapter(adapter.clone(), meta.clone(), plan).unwrap();
        let got = engine.run(&x, n).unwrap();
        let err = max_rel(&got[0], &expected);
        assert!(err < 1e-5, "case {i}: relative error {err}");
    }
}

#[test]
fn add_and_upsample_kernels_match_cpu() {
    let Some(adapter) = adapter() else { return };
    let seed = fresh_seed();
    let s = Shape {
        channels: 6,
        height: 5,
        width: 7,
    };
    let up = Shape {
        channels: 6,
        height: 10,
        width: 14,
    };
    let n = 3;
    // a = conv identity of the input (1×1), b = input; sum = 2·input; then upsample.
    let mut identity = vec![0.0f32; 36];
    for c in 0..6 {
        identity[c * 6 + c] = 1.0;
    }
    let plan = Plan {
        buffers: vec![s.len(), s.len(), s.len(), up.len()],
        ops: vec![
            Op::Conv {
                input: view(0, 0, 6, s),
                output: view(1, 0, 6, s),
                weights: 0,
                kernel: 1,
                stride: 1,
                pad: 0,
                leaky: None,
            },
            Op::Add {
                a: view(0, 0, 6, s),
                b: view(1, 0, 6, s),
                output: view(2, 0, 6, s),
            },
            Op::Upsample {
                input: view(2, 0, 6, s),
                output: view(3, 0, 6, up),
            },
        ],
        input: view(0, 0, 6, s),
        outputs: vec![view(3, 0, 6, up), view(2, 0, 6, s)],
        weights: vec![ConvWeights {
            weight: identity,
            bias: vec![0.0; 6],
        }],
    };
    let engine = GpuEngine::with_adapter(adapter, metadata(), plan).unwrap();
    let x = random(n * s.len(), seed);
    let got = engine.run(&x, n).unwrap();
    for (i, v) in got[1].iter().enumerate() {
        assert!((v - 2.0 * x[i]).abs() < 1e-6);
    }
    for item in 0..n {
        for c in 0..6 {
            for y in 0..10 {
                for xx in 0..14 {
                    let want = 2.0 * x[((item * 6 + c) * 5 + y / 2) * 7 + xx / 2];
                    let have = got[0][((item * 6 + c) * 10 + y) * 14 + xx];
                    assert!((have - want).abs() < 1e-6);
                }
            }
        }
    }
}

fn compare_with_tract(arch: Architecture, batches: &[usize]) {
    let Some(adapter) = adapter() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    let seed = fresh_seed();
    write_random_model(&path, arch, 160, seed % 1000).unwrap();
    let (proto, meta) = read_model(&path).unwrap();
    let plan = fringewatch::engine::gpu::plan::plan(&proto, 160).unwrap();
    let gpu = GpuEngine::with_adapter(adapter, meta, plan).unwrap();
    let tract = TractEngine::load(&path, 1).unwrap();
    for &n in batches {
        let x =
            Array4::from_shape_vec((n, 3, 160, 160), random(n * 3 * 160 * 160, seed + n as u64))
                .unwrap();
        let want = tract.infer(x.view()).unwrap();
        let got = gpu.infer(x.view()).unwrap();
        for h in 0..3 {
            assert_eq!(got[h].dim(), want[h].dim());
            let err = max_rel(got[h].as_slice().unwrap(), want[h].as_slice().unwrap());
            println!("{arch:?} batch {n} head {h}: max |gpu − tract| / max |tract| = {err:.2e}");
            assert!(err < 1e-4, "{arch:?} batch {n} head {h}: {err}");
        }
    }
}

#[test]
fn compact_model_equals_tract() {
    compare_with_tract(Architecture::Compact, &[1, 3]);
}

#[test]
fn full_yolov3_equals_tract() {
    compare_with_tract(Architecture::Full, &[1]);
}

#[test]
fn unknown_operator_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    write_random_model(&path, Architecture::Compact, 160, 1).unwrap();
    let (mut proto, _) = read_model(&path).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let mut node = graph.node[1].clone();
    node.op_type = "Softplus".into();
    node.name = "odd".into();
    graph.node[1] = node;
    let err = fringewatch::engine::gpu::plan::plan(&proto, 160).unwrap_err();
    assert!(err.contains("Softplus") && err.contains("odd"), "{err}");
}

fn fw() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_fringewatch"))
}

/// A simulated scene's stack (seed 8, 320 px: the bundled model finds its slide).
fn stack(dir: &std::path::Path) -> std::path::PathBuf {
    assert!(fw()
        .args(["--quiet", "simulate", "--seed", "8", "--size", "320", "--out"])
        .arg(dir.join("sim"))
        .status()
        .unwrap()
        .success());
    let scene = dir.join("sim/scene_0000");
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scene.join("scene.json")).unwrap()).unwrap();
    let layers = dir.join("layers");
    let out = fw()
        .args(["--quiet", "run", "--backend", "cpu", "--phase"])
        .arg(scene.join("phase.tif"))
        .arg("--coherence")
        .arg(scene.join("coherence.tif"))
        .arg("--dem")
        .arg(scene.join("dem.tif"))
        .arg("--incidence")
        .arg(scene.join("incidence.tif"))
        .arg("--heading")
        .arg(facts["heading_deg"].to_string())
        .arg("--keep-layers")
        .arg(&layers)
        .arg("--out")
        .arg(dir.join("run.geojson"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    layers.join("stack.tif")
}

fn detect(
    stack: &std::path::Path,
    out: &std::path::Path,
    backend: &str,
    env: &[(&str, &str)],
) -> (Vec<(String, f64, Vec<f64>)>, String) {
    let mut cmd = fw();
    cmd.args(["detect", "--backend", backend, "--stack"])
        .arg(stack)
        .arg("--out")
        .arg(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let features = json["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let ring: Vec<f64> = f["geometry"]["coordinates"][0]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
                .collect();
            (
                f["properties"]["class"].as_str().unwrap().to_string(),
                f["properties"]["score"].as_f64().unwrap(),
                ring,
            )
        })
        .collect();
    (features, stderr)
}

#[test]
fn cpu_and_gpu_backends_give_the_same_detections() {
    if adapter().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stack = stack(tmp.path());
    let (cpu, _) = detect(&stack, &tmp.path().join("cpu.geojson"), "cpu", &[]);
    let (gpu, stderr) = detect(&stack, &tmp.path().join("gpu.geojson"), "gpu", &[]);
    assert!(stderr.contains("engine: wgpu"), "{stderr}");
    assert!(!cpu.is_empty(), "the bundled model finds the slide");
    assert_eq!(cpu.len(), gpu.len());
    for (a, b) in cpu.iter().zip(&gpu) {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() < 1e-4, "scores {} vs {}", a.1, b.1);
        for (x, y) in a.2.iter().zip(&b.2) {
            assert!((x - y).abs() < 0.01, "box corner {x} vs {y} (map units)");
        }
    }
}

#[test]
fn auto_without_hardware_gpu_takes_tract_and_says_so() {
    if find_adapter(AdapterChoice::Hardware).is_ok() {
        eprintln!("SKIP: this machine has a hardware GPU (auto takes it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stack = stack(tmp.path());
    let (found, stderr) = detect(&stack, &tmp.path().join("auto.geojson"), "auto", &[]);
    assert!(
        stderr.contains("no hardware GPU") && stderr.contains("using tract"),
        "{stderr}"
    );
    assert!(stderr.contains("engine: tract"), "{stderr}");
    let (cpu, _) = detect(&stack, &tmp.path().join("cpu.geojson"), "cpu", &[]);
    assert_eq!(found, cpu);
}

#[test]
fn missing_vulkan_driver_falls_back_to_tract() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = stack(tmp.path());
    let nowhere = tmp.path().join("no_icd.json");
    let nowhere = nowhere.to_str().unwrap();
    let env = [("VK_ICD_FILENAMES", nowhere), ("VK_DRIVER_FILES", nowhere)];
    let (found, stderr) = detect(&stack, &tmp.path().join("gpu.geojson"), "gpu", &env);
    assert!(stderr.contains("using tract"), "{stderr}");
    let (cpu, _) = detect(&stack, &tmp.path().join("cpu.geojson"), "cpu", &[]);
    assert_eq!(found, cpu);
}
