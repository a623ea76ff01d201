// fringewatch element-wise kernels on channel views (see kernels.wgsl for the layout and `store`).

struct EltParams {
    channels: u32, height: u32, width: u32, unused0: u32,
    a_offset: u32, a_total: u32, b_offset: u32, b_total: u32,
    out_offset: u32, out_total: u32, function: u32, unused1: u32,  // 12 words
};

@group(0) @binding(0) var<storage, read> elt_a: array<store>;
@group(0) @binding(1) var<storage, read> elt_b: array<store>;
@group(0) @binding(2) var<storage, read_write> elt_out: array<store>;
@group(0) @binding(3) var<uniform> ep: EltParams;

// out = a + b over one output element per thread (x: pixel, y: channel, z: item).
@compute @workgroup_size(64, 4)
fn add(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pixels = ep.height * ep.width;
    if (gid.x >= pixels || gid.y >= ep.channels) {
        return;
    }
    let a = elt_a[((gid.z * ep.a_total + ep.a_offset + gid.y) * pixels) + gid.x];
    let b = elt_b[((gid.z * ep.b_total + ep.b_offset + gid.y) * pixels) + gid.x];
    elt_out[((gid.z * ep.out_total + ep.out_offset + gid.y) * pixels) + gid.x] = store(f32(a) + f32(b));
}

// Nearest ×2: out (y, x) = a (y / 2, x / 2); `height`, `width` are the output's.
@compute @workgroup_size(64, 4)
fn upsample(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pixels = ep.height * ep.width;
    if (gid.x >= pixels || gid.y >= ep.channels) {
        return;
    }
    let y = gid.x / ep.width;
    let x = gid.x % ep.width;
    let in_w = ep.width / 2u;
    let in_pixels = (ep.height / 2u) * in_w;
    let v = elt_a[((gid.z * ep.a_total + ep.a_offset + gid.y) * in_pixels) + (y / 2u) * in_w + x / 2u];
    elt_out[((gid.z * ep.out_total + ep.out_offset + gid.y) * pixels) + gid.x] = v;
}

// out = f(a), f by `function`: 0 identity (a copy), 1 cos, 2 sin; `b` is not read.
@compute @workgroup_size(64, 4)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pixels = ep.height * ep.width;
    if (gid.x >= pixels || gid.y >= ep.channels) {
        return;
    }
    let a = f32(elt_a[((gid.z * ep.a_total + ep.a_offset + gid.y) * pixels) + gid.x]);
    var v = a;
    if (ep.function == 1u) {
        v = cos(a);
    } else if (ep.function == 2u) {
        v = sin(a);
    }
    elt_out[((gid.z * ep.out_total + ep.out_offset + gid.y) * pixels) + gid.x] = store(v);
}
