// fringewatch GPU kernels. Tensors are NCHW channel views of pooled buffers: element
// (n, c, y, x) of a view lies at ((n * buffer_channels + channel_offset + c) * H + y) * W + x.
// `store` (tensors and weights in memory) and `STORE_MAX` are prepended by the engine: f16 on
// adapters with SHADER_F16, f32 otherwise. Arithmetic and accumulation are always f32.

struct ConvParams {
    in_channels: u32, in_height: u32, in_width: u32, in_offset: u32,
    in_total: u32, out_channels: u32, out_height: u32, out_width: u32,
    out_offset: u32, out_total: u32, kernel: u32, stride: u32,
    pad: u32, leaky: u32, alpha: f32, unused: u32,  // 16 words
};

@group(0) @binding(0) var<storage, read> conv_input: array<store>;
@group(0) @binding(1) var<storage, read> conv_weight: array<store>;
@group(0) @binding(2) var<storage, read> conv_bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> conv_output: array<store>;
@group(0) @binding(4) var<uniform> cp: ConvParams;

const TILE: u32 = 16u;
const WORK: u32 = 4u;          // outputs per thread along the pixel axis
const TILE_N: u32 = 64u;       // pixels per workgroup = TILE * WORK
var<workgroup> tile_w: array<array<f32, 16>, 16>;   // [out channel][k]
var<workgroup> tile_x: array<array<f32, 64>, 16>;   // [k][pixel]

// Element k (input channel, ky, kx) of output pixel n of the im2col matrix: the input value
// under that kernel tap, 0 in the zero padding and past the ends of K or of the pixels.
fn im2col(in_base: u32, k: u32, n: u32, k_total: u32, pixels: u32) -> f32 {
    if (k >= k_total || n >= pixels) {
        return 0.0;
    }
    let kk = cp.kernel * cp.kernel;
    let ci = k / kk;
    let r = k % kk;
    let iy = i32((n / cp.out_width) * cp.stride + r / cp.kernel) - i32(cp.pad);
    let ix = i32((n % cp.out_width) * cp.stride + r % cp.kernel) - i32(cp.pad);
    if (iy < 0 || ix < 0 || iy >= i32(cp.in_height) || ix >= i32(cp.in_width)) {
        return 0.0;
    }
    return f32(conv_input[in_base + (ci * cp.in_height + u32(iy)) * cp.in_width + u32(ix)]);
}

// LeakyRelu when fused, then the value clamped to the storage type's range and stored.
fn write_output(index: u32, value: f32) {
    var y = value;
    if (cp.leaky != 0u && y < 0.0) {
        y = y * cp.alpha;
    }
    conv_output[index] = store(clamp(y, -STORE_MAX, STORE_MAX));
}

// Implicit GEMM: C[m, n] = Σ_k W[m, k] · X[k, n], m = output channel, n = output pixel of item
// `wg.z`, k = (input channel, ky, kx). A 16×64 output tile per workgroup of 16×16 threads, each
// thread 4 pixels; K is walked in steps of 16 through shared memory.
@compute @workgroup_size(16, 16)
fn conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let kk = cp.kernel * cp.kernel;
    let k_total = cp.in_channels * kk;
    let pixels = cp.out_height * cp.out_width;
    let item = wg.z;
    let m = wg.y * TILE + lid.y;
    let n0 = wg.x * TILE_N;
    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    let in_base = (item * cp.in_total + cp.in_offset) * cp.in_height * cp.in_width;
    let steps = (k_total + TILE - 1u) / TILE;
    for (var t = 0u; t < steps; t = t + 1u) {
        let k_w = t * TILE + lid.x;
        var w = 0.0;
        if (m < cp.out_channels && k_w < k_total) {
            w = f32(conv_weight[m * k_total + k_w]);
        }
        tile_w[lid.y][lid.x] = w;
        let k_x = t * TILE + lid.y;
        for (var j = 0u; j < WORK; j = j + 1u) {
            let col = lid.x + j * TILE;
            tile_x[lid.y][col] = im2col(in_base, k_x, n0 + col, k_total, pixels);
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE; k = k + 1u) {
            let a = tile_w[lid.y][k];
            for (var j = 0u; j < WORK; j = j + 1u) {
                acc[j] = acc[j] + a * tile_x[k][lid.x + j * TILE];
            }
        }
        workgroupBarrier();
    }
    if (m >= cp.out_channels) {
        return;
    }
    let out_base = (item * cp.out_total + cp.out_offset + m) * pixels;
    for (var j = 0u; j < WORK; j = j + 1u) {
        let n = n0 + lid.x + j * TILE;
        if (n < pixels) {
            write_output(out_base + n, acc[j] + conv_bias[m]);
        }
    }
}


// The wide variant for layers with many output channels: a 64-channel × 64-pixel tile per
// workgroup of 16×16 threads, each thread a 4 × 4 register block (channels ly + 16i, pixels
// lx + 16j): four times the multiply–adds per shared-memory load and per barrier of `conv`.
var<workgroup> wide_w: array<array<f32, 16>, 64>;   // [out channel][k]
const WIDE_M: u32 = 64u;

@compute @workgroup_size(16, 16)
fn conv_wide(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let kk = cp.kernel * cp.kernel;
    let k_total = cp.in_channels * kk;
    let pixels = cp.out_height * cp.out_width;
    let item = wg.z;
    let m0 = wg.y * WIDE_M;
    let n0 = wg.x * TILE_N;
    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) {
            acc[i][j] = 0.0;
        }
    }
    let in_base = (item * cp.in_total + cp.in_offset) * cp.in_height * cp.in_width;
    let steps = (k_total + TILE - 1u) / TILE;
    for (var t = 0u; t < steps; t = t + 1u) {
        let k_w = t * TILE + lid.x;
        for (var i = 0u; i < 4u; i = i + 1u) {
            let row = lid.y + i * TILE;
            let m = m0 + row;
            var w = 0.0;
            if (m < cp.out_channels && k_w < k_total) {
                w = f32(conv_weight[m * k_total + k_w]);
            }
            wide_w[row][lid.x] = w;
        }
        let k_x = t * TILE + lid.y;
        for (var j = 0u; j < WORK; j = j + 1u) {
            let col = lid.x + j * TILE;
            tile_x[lid.y][col] = im2col(in_base, k_x, n0 + col, k_total, pixels);
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE; k = k + 1u) {
            var b: array<f32, 4>;
            for (var j = 0u; j < 4u; j = j + 1u) {
                b[j] = tile_x[k][lid.x + j * TILE];
            }
            for (var i = 0u; i < 4u; i = i + 1u) {
                let a = wide_w[lid.y + i * TILE][k];
                for (var j = 0u; j < 4u; j = j + 1u) {
                    acc[i][j] = acc[i][j] + a * b[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let m = m0 + lid.y + i * TILE;
        if (m >= cp.out_channels) {
            continue;
        }
        let out_base = (item * cp.out_total + cp.out_offset + m) * pixels;
        for (var j = 0u; j < WORK; j = j + 1u) {
            let n = n0 + lid.x + j * TILE;
            if (n < pixels) {
                write_output(out_base + n, acc[i][j] + conv_bias[m]);
            }
        }
    }
}
