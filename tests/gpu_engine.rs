//! The wgpu engine on a real Vulkan driver (Mesa's lavapipe in CI): each kernel against a plain
//! CPU reference at awkward shapes, and the compact and full YOLOv3 against tract on fresh
//! random inputs at batch 1 and at a batch that is not a multiple of the tiling. Outside CI a
//! machine without any Vulkan driver skips with a message.

use fringewatch::engine::gpu::plan::Unary;
use fringewatch::engine::gpu::plan::{ConvWeights, Op, Plan, Shape, View};
use fringewatch::engine::gpu::{
    find_adapter, AdapterChoice, GpuEngine, GpuOptions, Precision, CANDIDATES_PER_TILE,
};
use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::model::onnx::read_model;
use fringewatch::model::phase_input::PhaseInput;
use fringewatch::model::yolov3::{Architecture, Yolov3Config};
use fringewatch::model::{write_random_model, write_random_network};
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

/// The storage precisions the adapter runs: f32 always, f16 where it has `SHADER_F16`.
fn precisions(adapter: &wgpu::Adapter) -> Vec<Precision> {
    let mut all = vec![Precision::F32];
    if adapter.features().contains(wgpu::Features::SHADER_F16) {
        all.push(Precision::F16);
    } else {
        eprintln!("note: no SHADER_F16 on this adapter; the f16 path is not tested");
    }
    all
}

fn options(precision: Precision) -> GpuOptions {
    GpuOptions {
        precision: Some(precision),
        chunk: None,
    }
}

/// Values as the f16 path stores them (round to nearest half).
fn stored(values: &[f32], precision: Precision) -> Vec<f32> {
    match precision {
        Precision::F32 => values.to_vec(),
        Precision::F16 => values
            .iter()
            .map(|&v| half::f16::from_f32(v).to_f32())
            .collect(),
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
        // 64 channels and more: the wide kernel (4 × 4 per thread), partial channel tiles
        (7, 11, 13, 67, 3, 2, Some(0.1), 2),
        (19, 5, 9, 130, 1, 1, None, 3),
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
        for precision in precisions(&adapter) {
            // The f16 path stores the input, the weights and every output in f16 (bias and sums in
            // f32): the reference takes the rounded input and weights, and the result may differ by
            // the rounding of the intermediate and the final output (2^-11 relative each).
            let (expected, os) = conv_reference(
                &stored(&x, precision),
                xs,
                &stored(&weight, precision),
                &bias,
                cout,
                k,
                stride,
                pad,
                leaky,
                n,
            );
            // The output is written into channels [2, 2 + cout) of a wider buffer, as concatenation
            // inputs are; a second conv reads it back from that slice (1×1 identity).
            let total = cout + 4;
            let slice = view(1, 2, total, os);
            let mut identity = vec![0.0f32; cout * cout];
            for c in 0..cout {
                identity[c * cout + c] = 1.0;
            }
            let (weight, bias) = (weight.clone(), bias.clone());
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
            let engine =
                GpuEngine::with_adapter(adapter.clone(), meta.clone(), plan, options(precision))
                    .unwrap();
            assert_eq!(engine.precision(), precision);
            let got = engine.run(&x, n).unwrap();
            let err = max_rel(&got[0], &expected);
            let tolerance = match precision {
                Precision::F32 => 1e-5,
                Precision::F16 => 2e-3,
            };
            println!("conv case {i} {precision:?}: relative error {err:.2e}");
            assert!(
                err < tolerance,
                "case {i} {precision:?}: relative error {err}"
            );
        }
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
    for precision in precisions(&adapter) {
        let engine = GpuEngine::with_adapter(
            adapter.clone(),
            metadata(),
            plan.clone(),
            options(precision),
        )
        .unwrap();
        // 2·x and its copies are exact in either storage once x is stored.
        let x = stored(&random(n * s.len(), seed), precision);
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
}

/// The cos/sin input's kernels against `f32::cos`/`sin` and a copy at an awkward shape (5 × 7,
/// batch 3): channel slices of the input read in place, results written into the channel
/// slices of a 4-channel buffer, as the planner lays out the graph's prelude.
#[test]
fn unary_kernels_on_channel_slices_match_cpu() {
    let Some(adapter) = adapter() else { return };
    let seed = fresh_seed();
    let shape = |channels| Shape {
        channels,
        height: 5,
        width: 7,
    };
    let unary = |input, output, function| Op::Unary {
        input,
        output,
        function,
    };
    let plan = Plan {
        buffers: vec![shape(3).len(), shape(4).len()],
        ops: vec![
            unary(view(0, 0, 3, shape(1)), view(1, 0, 4, shape(1)), Unary::Cos),
            unary(view(0, 0, 3, shape(1)), view(1, 1, 4, shape(1)), Unary::Sin),
            unary(
                view(0, 1, 3, shape(2)),
                view(1, 2, 4, shape(2)),
                Unary::Identity,
            ),
        ],
        input: view(0, 0, 3, shape(3)),
        outputs: vec![view(1, 0, 4, shape(4))],
        weights: vec![],
    };
    let n = 3;
    let pixels = 35;
    let engine =
        GpuEngine::with_adapter(adapter, metadata(), plan, options(Precision::F32)).unwrap();
    // phases over ±2 turns
    let x: Vec<f32> = random(n * 3 * pixels, seed)
        .into_iter()
        .map(|v| 4.0 * std::f32::consts::PI * v)
        .collect();
    let got = &engine.run(&x, n).unwrap()[0];
    for item in 0..n {
        for p in 0..pixels {
            let at = |c: usize| x[(item * 3 + c) * pixels + p];
            let out = |c: usize| got[(item * 4 + c) * pixels + p];
            assert!(
                (out(0) - at(0).cos()).abs() < 1e-5,
                "cos {} {}",
                at(0),
                out(0)
            );
            assert!(
                (out(1) - at(0).sin()).abs() < 1e-5,
                "sin {} {}",
                at(0),
                out(1)
            );
            assert_eq!((out(2), out(3)), (at(1), at(2)));
        }
    }
}

/// The planner lays out the cos/sin prelude without copies of the input: the phase and layer
/// slices are views of the input buffer, the three element-wise ops write into the channel
/// slices of the first conv's input, and that conv reads all four channels.
#[test]
fn the_cos_sin_prelude_is_planned_on_views() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    let config = Yolov3Config::of(Architecture::Compact, 4).with_phase_input(PhaseInput::CosSin);
    write_random_network(&path, config, 160, 3).unwrap();
    let (proto, meta) = read_model(&path).unwrap();
    assert_eq!(meta.phase_input, PhaseInput::CosSin);
    assert_eq!((meta.channels[0].mean, meta.channels[0].std), (0.0, 1.0));
    let plan = fringewatch::engine::gpu::plan::plan(&proto, 160).unwrap();
    let prelude: Vec<(Unary, View, View)> = plan.ops[..3]
        .iter()
        .map(|op| match op {
            Op::Unary {
                input,
                output,
                function,
            } => (*function, *input, *output),
            other => panic!("expected the cos/sin prelude, got {other:?}"),
        })
        .collect();
    let functions: Vec<Unary> = prelude.iter().map(|p| p.0).collect();
    assert_eq!(functions, [Unary::Cos, Unary::Sin, Unary::Identity]);
    for (_, input, _) in &prelude {
        assert_eq!(
            (input.buffer, input.buffer_channels),
            (plan.input.buffer, 3)
        );
    }
    let offsets: Vec<(usize, usize)> = prelude
        .iter()
        .map(|(_, i, o)| (i.channel_offset, o.channel_offset))
        .collect();
    assert_eq!(offsets, [(0, 0), (0, 1), (1, 2)]);
    let Op::Conv { input, .. } = &plan.ops[3] else {
        panic!("the first conv follows the prelude")
    };
    assert_eq!(
        (input.buffer, input.channel_offset, input.shape.channels),
        (prelude[0].2.buffer, 0, 4)
    );
}

/// Raw heads of the GPU engine against tract on fresh random inputs. f32: within 1e-4 of the
/// largest head value. f16 storage: each of the ~75 layers rounds its output to 11 bits, so the
/// error grows with depth; the bound is the one measured on lavapipe with a margin.
fn compare_with_tract(
    arch: Architecture,
    batches: &[usize],
    precision: Precision,
    chunk: Option<usize>,
) {
    compare_network_with_tract(Yolov3Config::of(arch, 4), batches, precision, chunk)
}

fn compare_network_with_tract(
    config: Yolov3Config,
    batches: &[usize],
    precision: Precision,
    chunk: Option<usize>,
) {
    let arch = (config.width, config.phase_input);
    let Some(adapter) = adapter() else { return };
    if !precisions(&adapter).contains(&precision) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    let seed = fresh_seed();
    write_random_network(&path, config, 160, seed % 1000).unwrap();
    let (proto, meta) = read_model(&path).unwrap();
    let plan = fringewatch::engine::gpu::plan::plan(&proto, 160).unwrap();
    let gpu = GpuEngine::with_adapter(
        adapter,
        meta,
        plan,
        GpuOptions {
            precision: Some(precision),
            chunk,
        },
    )
    .unwrap();
    let tract = TractEngine::load(&path, 1).unwrap();
    let tolerance = match precision {
        Precision::F32 => 1e-4,
        Precision::F16 => 5e-3,
    };
    for &n in batches {
        // the cos/sin input: phases in [−4, 4), beyond ±π; the others: normalised values in [−1, 1)
        let scale = match config.phase_input {
            PhaseInput::CosSin => 4.0,
            PhaseInput::Scaled => 1.0,
        };
        let x = Array4::from_shape_vec(
            (n, 3, 160, 160),
            random(n * 3 * 160 * 160, seed + n as u64)
                .into_iter()
                .map(|v| scale * v)
                .collect(),
        )
        .unwrap();
        let want = tract.infer(x.view()).unwrap();
        let got = gpu.infer(x.view()).unwrap();
        for h in 0..3 {
            assert_eq!(got[h].dim(), want[h].dim());
            let err = max_rel(got[h].as_slice().unwrap(), want[h].as_slice().unwrap());
            println!(
                "{arch:?} {precision:?} chunk {chunk:?} batch {n} head {h}: max |gpu − tract| / max |tract| = {err:.2e}"
            );
            assert!(
                err < tolerance,
                "{arch:?} {precision:?} batch {n} head {h}: {err}"
            );
        }
    }
}

#[test]
fn compact_model_equals_tract() {
    compare_with_tract(Architecture::Compact, &[1, 3], Precision::F32, None);
}

/// The cos/sin phase input (Slice, Cos, Sin, Identity, Concat in front of the first conv) on
/// phases over several turns, so that wraps and both signs are crossed.
#[test]
fn cos_sin_phase_input_model_equals_tract() {
    let config = Yolov3Config::of(Architecture::Compact, 4).with_phase_input(PhaseInput::CosSin);
    compare_network_with_tract(config, &[1, 3], Precision::F32, None);
    compare_network_with_tract(config, &[5], Precision::F32, Some(2));
}

#[test]
fn full_yolov3_equals_tract() {
    compare_with_tract(Architecture::Full, &[1], Precision::F32, None);
}

/// Batch 5 in chunks of 2 (2, 2, 1): two submissions in flight, read-back buffers reused.
#[test]
fn pipelined_chunks_equal_tract() {
    compare_with_tract(Architecture::Compact, &[5], Precision::F32, Some(2));
}

#[test]
fn f16_storage_is_close_to_tract() {
    compare_with_tract(Architecture::Compact, &[1, 3], Precision::F16, None);
}

/// Boxes decoded on the GPU (only they come back) against the host decoder on the same
/// engine's raw heads: normal path, chunked, and the overflow path (confidence 0 makes every
/// one of the 1,575 anchor positions of a tile a candidate, more than the read-back holds).
#[test]
fn gpu_head_decoding_equals_host_decoding() {
    let Some(adapter) = adapter() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    let seed = fresh_seed();
    write_random_model(&path, Architecture::Compact, 160, seed % 1000).unwrap();
    let (proto, meta) = read_model(&path).unwrap();
    let plan = fringewatch::engine::gpu::plan::plan(&proto, 160).unwrap();
    for precision in precisions(&adapter) {
        let gpu = GpuEngine::with_adapter(
            adapter.clone(),
            meta.clone(),
            plan.clone(),
            GpuOptions {
                precision: Some(precision),
                chunk: Some(2),
            },
        )
        .unwrap();
        let n = 3;
        let x = Array4::from_shape_vec((n, 3, 160, 160), random(n * 3 * 160 * 160, seed)).unwrap();
        let heads = gpu.infer(x.view()).unwrap();
        let views = [heads[0].view(), heads[1].view(), heads[2].view()];
        // A threshold that leaves about 100 boxes in all: the GPU read-back path.
        let mut scores: Vec<f32> = (0..n)
            .flat_map(|k| fringewatch::detect::decode::decode(&views, k, &meta, 0.0))
            .map(|d| d.score)
            .collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        // midway in a gap of the scores, so that no box sits on the threshold (where the last
        // bit of a GPU `exp` may decide)
        let gap = (100..scores.len() - 1)
            .find(|&i| scores[i] - scores[i + 1] > 1e-5 * scores[i])
            .expect("a gap in the scores");
        let few = (scores[gap] + scores[gap + 1]) / 2.0;
        let mut checked = 0;
        for confidence in [0.0f32, few] {
            let on_gpu = gpu.candidates(x.view(), confidence).unwrap();
            assert_eq!(on_gpu.len(), n);
            for (k, got) in on_gpu.iter().enumerate() {
                let want = fringewatch::detect::decode::decode(&views, k, &meta, confidence);
                if confidence == 0.0 {
                    assert!(
                        want.len() > CANDIDATES_PER_TILE,
                        "the overflow path is exercised"
                    );
                }
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{precision:?} conf {confidence} item {k}"
                );
                for (a, b) in got.iter().zip(&want) {
                    assert_eq!(a.class, b.class);
                    assert!(
                        (a.score - b.score).abs() < 1e-5,
                        "{} vs {}",
                        a.score,
                        b.score
                    );
                    assert!((a.objectness - b.objectness).abs() < 1e-5);
                    for c in 0..4 {
                        assert!(
                            (a.bbox[c] - b.bbox[c]).abs() < 1e-3,
                            "{:?} vs {:?}",
                            a.bbox,
                            b.bbox
                        );
                    }
                }
                checked += got.len();
            }
        }
        println!("{precision:?}: {checked} boxes decoded on the GPU equal the host's");
        assert!(checked > 0);
    }
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

/// A simulated scene's stack (seed 8, 320 px: the bundled model finds its slides at 0.05).
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
    // A low confidence: the comparison needs boxes, and the 320 px scene has few signals.
    cmd.args(["detect", "--confidence", "0.05"])
        .args(["--backend", backend, "--stack"])
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

/// `--backend cpu` and `--backend gpu` on the same stack: in f32 the same detections to 1e-4 in
/// score; with f16 storage (the default where the adapter has SHADER_F16) the same boxes and
/// classes, scores within 5e-3 and corners within 1.5 m (a tenth of a 15 m pixel).
#[test]
fn cpu_and_gpu_backends_give_the_same_detections() {
    let Some(adapter) = adapter() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let stack = stack(tmp.path());
    let (cpu, _) = detect(&stack, &tmp.path().join("cpu.geojson"), "cpu", &[]);
    assert!(!cpu.is_empty(), "the bundled model finds the slide");
    let mut runs = vec![("f32", 1e-4, 0.01)];
    if adapter.features().contains(wgpu::Features::SHADER_F16) {
        runs.push(("f16", 5e-3, 1.5));
    }
    for (precision, score_tolerance, corner_tolerance) in runs {
        let out = tmp.path().join(format!("gpu_{precision}.geojson"));
        let env = [("FRINGEWATCH_GPU_PRECISION", precision)];
        let (gpu, stderr) = detect(&stack, &out, "gpu", &env);
        assert!(stderr.contains("engine: wgpu"), "{stderr}");
        let storage = if precision == "f16" {
            "f16 storage"
        } else {
            "f32"
        };
        assert!(stderr.contains(storage), "{stderr}");
        assert_eq!(cpu.len(), gpu.len(), "{precision}");
        let (mut worst_score, mut worst_corner) = (0.0f64, 0.0f64);
        for (a, b) in cpu.iter().zip(&gpu) {
            assert_eq!(a.0, b.0);
            worst_score = worst_score.max((a.1 - b.1).abs());
            for (x, y) in a.2.iter().zip(&b.2) {
                worst_corner = worst_corner.max((x - y).abs());
            }
        }
        println!(
            "{precision}: {} detections, largest score difference {worst_score:.2e}, corner {worst_corner:.3} m",
            cpu.len()
        );
        assert!(
            worst_score < score_tolerance,
            "{precision}: scores differ by {worst_score}"
        );
        assert!(
            worst_corner < corner_tolerance,
            "{precision}: corners differ by {worst_corner} m"
        );
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
