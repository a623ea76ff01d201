// YOLOv3 head decoding on the GPU (METHOD.md §5, same formulas as src/detect/decode.rs): for
// head stride s, cell (gx, gy), anchor (w_a, h_a): x = (σ(tx) + gx)·s, y = (σ(ty) + gy)·s,
// w = w_a·e^tw, h = h_a·e^th, objectness σ(to), class probabilities σ(c_k), score =
// objectness × best class probability. Boxes with objectness and score ≥ confidence, clipped to
// the tile and not empty, are appended (atomic counter) as 9 words:
// item, order (head, anchor, row, column: the host's decoding order), class, score,
// objectness, x0, y0, x1, y1. Only `count` and those records are read back.

struct DecodeParams {
    channel_offset: u32, buffer_channels: u32, height: u32, width: u32,
    classes: u32, order_base: u32, capacity: u32, stride: f32,
    tile: f32, confidence: f32, unused0: u32, unused1: u32,
    anchors: array<vec4<f32>, 2>,  // (w0, h0, w1, h1), (w2, h2, -, -)
};

@group(0) @binding(0) var<storage, read> head: array<store>;
@group(0) @binding(1) var<storage, read_write> records: array<u32>;
@group(0) @binding(2) var<storage, read_write> count: atomic<u32>;
@group(0) @binding(3) var<uniform> dp: DecodeParams;

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// x: cell, y: anchor (0..3), z: batch item.
@compute @workgroup_size(64)
fn decode(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cells = dp.height * dp.width;
    if (gid.x >= cells || gid.y >= 3u) {
        return;
    }
    let per_anchor = 5u + dp.classes;
    let base = (gid.z * dp.buffer_channels + dp.channel_offset + gid.y * per_anchor) * cells + gid.x;
    let objectness = sigmoid(f32(head[base + 4u * cells]));
    if (objectness < dp.confidence) {
        return;
    }
    var best = 0u;
    var best_p = 0.0;
    for (var k = 0u; k < dp.classes; k = k + 1u) {
        let p = sigmoid(f32(head[base + (5u + k) * cells]));
        if (p > best_p) {
            best = k;
            best_p = p;
        }
    }
    let score = objectness * best_p;
    if (score < dp.confidence) {
        return;
    }
    let gy = gid.x / dp.width;
    let gx = gid.x % dp.width;
    let pair = dp.anchors[gid.y / 2u];
    var anchor = pair.xy;
    if (gid.y % 2u == 1u) {
        anchor = pair.zw;
    }
    let x = (sigmoid(f32(head[base])) + f32(gx)) * dp.stride;
    let y = (sigmoid(f32(head[base + cells])) + f32(gy)) * dp.stride;
    let w = anchor.x * exp(f32(head[base + 2u * cells]));
    let h = anchor.y * exp(f32(head[base + 3u * cells]));
    let x0 = max(x - w / 2.0, 0.0);
    let y0 = max(y - h / 2.0, 0.0);
    let x1 = min(x + w / 2.0, dp.tile);
    let y1 = min(y + h / 2.0, dp.tile);
    if (!(x1 > x0 && y1 > y0)) {
        return;
    }
    let slot = atomicAdd(&count, 1u);
    if (slot >= dp.capacity) {
        return;
    }
    let r = slot * 9u;
    records[r] = gid.z;
    records[r + 1u] = dp.order_base + gid.y * cells + gid.x;
    records[r + 2u] = best;
    records[r + 3u] = bitcast<u32>(score);
    records[r + 4u] = bitcast<u32>(objectness);
    records[r + 5u] = bitcast<u32>(x0);
    records[r + 6u] = bitcast<u32>(y0);
    records[r + 7u] = bitcast<u32>(x1);
    records[r + 8u] = bitcast<u32>(y1);
}
