//! A square-kernel convolution as matrix products over image columns (im2col), forward and
//! backward, for the trainer on the CPU.
//!
//! With the columns X̂ₙ[C·k·k, L] of an image xₙ (row (c·k + i)·k + j, column the output pixel
//! l = oy·W' + ox holding xₙ[c, s·oy + i − p, s·ox + j − p], 0 outside) and the weights W[O, C·k·k]:
//! yₙ = W·X̂ₙ, ∂W = Σₙ ∂yₙ·X̂ₙᵀ, ∂X̂ₙ = Wᵀ·∂yₙ, and ∂xₙ is ∂X̂ₙ added back to the pixels its
//! entries were copied from (col2im) — Chellapilla et al. 2006, "High performance convolutional
//! neural networks for document processing". Each product is one large SGEMM, where burn-flex
//! computes the weight gradient as a convolution of the batch by the output gradient (a skinny
//! product per input channel) and the input gradient as a transposed convolution.
//!
//! Images run in parallel (rayon), each product on one thread.

use rayon::prelude::*;

/// The sizes of one convolution: `[N, C, H, W]` in, `[O, C, k, k]` weights, stride and zero
/// padding on every side; no bias, no groups, no dilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    /// Output height, ⌊(H + 2p − k)/s⌋ + 1.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output width, ⌊(W + 2p − k)/s⌋ + 1.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Rows of the column matrix, C·k·k.
    fn rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Output pixels of one image, L = H'·W'.
    fn pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    fn image(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether the sizes make a convolution (a kernel no larger than the padded image).
    pub fn is_valid(&self) -> bool {
        self.kernel > 0
            && self.stride > 0
            && self.height + 2 * self.padding >= self.kernel
            && self.width + 2 * self.padding >= self.kernel
    }
}

/// The output pixels `ox` of a row whose input column `s·ox + j − p` lies inside `0..width`.
fn inside(out: usize, size: usize, stride: usize, offset: usize, padding: usize) -> (usize, usize) {
    // s·o + offset ≥ p  ⇔  o ≥ ⌈(p − offset)/s⌉;  s·o + offset − p < size  ⇔  o < ⌈(size + p − offset)/s⌉.
    let first = padding.saturating_sub(offset).div_ceil(stride);
    let end = (size + padding)
        .checked_sub(offset)
        .map_or(0, |room| room.div_ceil(stride))
        .min(out);
    (first.min(end), end)
}

/// The columns X̂[C·k·k, L] of one image `x` `[C, H, W]`.
fn im2col(x: &[f32], g: &ConvGeometry, cols: &mut [f32]) {
    let (oh, ow, k, s, p) = (g.out_height(), g.out_width(), g.kernel, g.stride, g.padding);
    for (row, out) in cols.chunks_exact_mut(oh * ow).enumerate() {
        let (c, i, j) = (row / (k * k), row / k % k, row % k);
        let plane = &x[c * g.height * g.width..(c + 1) * g.height * g.width];
        let (x0, x1) = inside(ow, g.width, s, j, p);
        for oy in 0..oh {
            let line = &mut out[oy * ow..(oy + 1) * ow];
            let iy = (s * oy + i).wrapping_sub(p);
            if iy >= g.height {
                line.fill(0.0);
                continue;
            }
            let src = &plane[iy * g.width..(iy + 1) * g.width];
            line[..x0].fill(0.0);
            line[x1..].fill(0.0);
            if x1 <= x0 {
                continue;
            }
            if s == 1 {
                let start = x0 + j - p;
                line[x0..x1].copy_from_slice(&src[start..start + (x1 - x0)]);
            } else {
                for (ox, v) in line.iter_mut().enumerate().take(x1).skip(x0) {
                    *v = src[s * ox + j - p];
                }
            }
        }
    }
}

/// Adds the columns' gradient ∂X̂[C·k·k, L] back onto the image gradient `dx` `[C, H, W]`.
fn col2im_add(cols: &[f32], g: &ConvGeometry, dx: &mut [f32]) {
    let (oh, ow, k, s, p) = (g.out_height(), g.out_width(), g.kernel, g.stride, g.padding);
    for (row, grad) in cols.chunks_exact(oh * ow).enumerate() {
        let (c, i, j) = (row / (k * k), row / k % k, row % k);
        let plane = &mut dx[c * g.height * g.width..(c + 1) * g.height * g.width];
        let (x0, x1) = inside(ow, g.width, s, j, p);
        for oy in 0..oh {
            let iy = (s * oy + i).wrapping_sub(p);
            if iy >= g.height {
                continue;
            }
            let line = &grad[oy * ow..(oy + 1) * ow];
            let dst = &mut plane[iy * g.width..(iy + 1) * g.width];
            if x1 <= x0 {
                continue;
            }
            if s == 1 {
                let start = x0 + j - p;
                let dst = &mut dst[start..start + (x1 - x0)];
                dst.iter_mut().zip(&line[x0..x1]).for_each(|(d, v)| *d += v);
            } else {
                for ox in x0..x1 {
                    dst[s * ox + j - p] += line[ox];
                }
            }
        }
    }
}

/// dst[m, n] (+)= a[m, k]·b[k, n] on one thread; each matrix given by its row and column
/// strides, so a transpose is a swap of strides.
#[allow(clippy::too_many_arguments)]
fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= m * n);
    assert!(k == 0 || a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
    assert!(k == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    // SAFETY: the asserts above keep every element gemm reads or writes inside its slice; dst
    // is row-major [m, n] and does not alias a or b (a &mut borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// y `[N, O, H', W']` of x `[N, C, H, W]` and weights `[O, C, k, k]`: yₙ = W·X̂ₙ.
///
/// ```
/// use fringewatch::train::im2col::{conv_forward, ConvGeometry};
/// // A 3×3 kernel of ones over a 3×3 image of ones, padding 1: each output counts its
/// // neighbours inside the image.
/// let g = ConvGeometry { batch: 1, channels: 1, height: 3, width: 3, out_channels: 1,
///                        kernel: 3, stride: 1, padding: 1 };
/// let y = conv_forward(&[1.0; 9], &[1.0; 9], &g);
/// assert_eq!(y, vec![4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0]);
/// ```
pub fn conv_forward(x: &[f32], weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (rows, pixels, o) = (g.rows(), g.pixels(), g.out_channels);
    assert_eq!(x.len(), g.batch * g.image());
    assert_eq!(weight.len(), o * rows);
    let mut y = vec![0.0f32; g.batch * o * pixels];
    y.par_chunks_mut(o * pixels)
        .zip(x.par_chunks(g.image()))
        .for_each_init(
            || vec![0.0f32; rows * pixels],
            |cols, (yn, xn)| {
                im2col(xn, g, cols);
                product(
                    o,
                    pixels,
                    rows,
                    yn,
                    false,
                    weight,
                    (rows, 1),
                    cols,
                    (pixels, 1),
                );
            },
        );
    y
}

/// The gradients (∂x `[N, C, H, W]`, ∂W `[O, C, k, k]`) of a loss whose gradient at y is `dy`.
pub fn conv_backward(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
) -> (Vec<f32>, Vec<f32>) {
    let (rows, pixels, o) = (g.rows(), g.pixels(), g.out_channels);
    assert_eq!(x.len(), g.batch * g.image());
    assert_eq!(weight.len(), o * rows);
    assert_eq!(dy.len(), g.batch * o * pixels);
    let mut dx = vec![0.0f32; x.len()];
    let dw = dx
        .par_chunks_mut(g.image())
        .zip(x.par_chunks(g.image()))
        .zip(dy.par_chunks(o * pixels))
        .fold(
            || (vec![0.0f32; rows * pixels], vec![0.0f32; o * rows], false),
            |(mut cols, mut dw, started), ((dxn, xn), dyn_)| {
                im2col(xn, g, &mut cols);
                // ∂W += ∂yₙ[O, L]·X̂ₙᵀ[L, C·k·k]
                product(
                    o,
                    rows,
                    pixels,
                    &mut dw,
                    started,
                    dyn_,
                    (pixels, 1),
                    &cols,
                    (1, pixels),
                );
                // ∂X̂ₙ = Wᵀ[C·k·k, O]·∂yₙ[O, L], then back onto the pixels.
                product(
                    rows,
                    pixels,
                    o,
                    &mut cols,
                    false,
                    weight,
                    (1, rows),
                    dyn_,
                    (pixels, 1),
                );
                col2im_add(&cols, g, dxn);
                (cols, dw, true)
            },
        )
        .map(|(_, dw, _)| dw)
        .reduce(
            || vec![0.0f32; o * rows],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        );
    (dx, dw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by its definition, in f64.
    fn direct(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f64> {
        let (oh, ow, k) = (g.out_height(), g.out_width(), g.kernel);
        let mut y = vec![0.0f64; g.batch * g.out_channels * oh * ow];
        for n in 0..g.batch {
            for o in 0..g.out_channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut sum = 0.0f64;
                        for c in 0..g.channels {
                            for i in 0..k {
                                for j in 0..k {
                                    let iy = (g.stride * oy + i) as isize - g.padding as isize;
                                    let ix = (g.stride * ox + j) as isize - g.padding as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= g.height as isize
                                        || ix >= g.width as isize
                                    {
                                        continue;
                                    }
                                    let xv = x[((n * g.channels + c) * g.height + iy as usize)
                                        * g.width
                                        + ix as usize];
                                    let wv = w[((o * g.channels + c) * k + i) * k + j];
                                    sum += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        y[((n * g.out_channels + o) * oh + oy) * ow + ox] = sum;
                    }
                }
            }
        }
        y
    }

    fn pattern(len: usize, seed: f32) -> Vec<f32> {
        (0..len).map(|i| ((i as f32) * 0.37 + seed).sin()).collect()
    }

    /// Awkward shapes: odd sizes, stride 2 with an odd image, a 1-pixel image, a 1×1 kernel
    /// with padding, more output rows than input.
    fn geometries() -> Vec<ConvGeometry> {
        let g =
            |batch, channels, height, width, out_channels, kernel, stride, padding| ConvGeometry {
                batch,
                channels,
                height,
                width,
                out_channels,
                kernel,
                stride,
                padding,
            };
        vec![
            g(2, 3, 7, 5, 4, 3, 1, 1),
            g(3, 2, 9, 6, 5, 3, 2, 1),
            g(1, 4, 1, 1, 3, 3, 1, 1),
            g(2, 1, 4, 3, 2, 1, 1, 1),
            g(1, 2, 5, 5, 1, 5, 1, 2),
            g(4, 5, 8, 8, 6, 3, 2, 0),
        ]
    }

    #[test]
    fn the_forward_equals_the_convolution_by_definition() {
        for g in geometries() {
            let x = pattern(g.batch * g.image(), 0.1);
            let w = pattern(g.out_channels * g.rows(), 0.7);
            let y = conv_forward(&x, &w, &g);
            let reference = direct(&x, &w, &g);
            assert_eq!(y.len(), reference.len(), "{g:?}");
            for (a, b) in y.iter().zip(&reference) {
                assert!((f64::from(*a) - b).abs() < 1e-4, "{g:?}: {a} against {b}");
            }
        }
    }

    /// ⟨∂y, conv(x + εe)⟩ − ⟨∂y, conv(x)⟩ = ε⟨∂x, e⟩ exactly (the convolution is linear in x
    /// and in W), so the gradients are checked against the definition at every element.
    #[test]
    fn the_gradients_are_the_adjoints_of_the_forward() {
        for g in geometries() {
            let x = pattern(g.batch * g.image(), 0.3);
            let w = pattern(g.out_channels * g.rows(), 1.1);
            let dy = pattern(g.batch * g.out_channels * g.pixels(), 2.3);
            let (dx, dw) = conv_backward(&x, &w, &dy, &g);
            let inner = |x: &[f32], w: &[f32]| -> f64 {
                direct(x, w, &g)
                    .iter()
                    .zip(&dy)
                    .map(|(y, d)| y * f64::from(*d))
                    .sum()
            };
            for e in 0..x.len() {
                let mut unit = vec![0.0f32; x.len()];
                unit[e] = 1.0;
                let expected = inner(&unit, &w);
                assert!((f64::from(dx[e]) - expected).abs() < 1e-4, "{g:?} dx[{e}]");
            }
            for e in 0..w.len() {
                let mut unit = vec![0.0f32; w.len()];
                unit[e] = 1.0;
                let expected = inner(&x, &unit);
                assert!((f64::from(dw[e]) - expected).abs() < 1e-3, "{g:?} dw[{e}]");
            }
        }
    }

    #[test]
    fn output_sizes_follow_the_convolution_arithmetic() {
        let g = ConvGeometry {
            batch: 1,
            channels: 1,
            height: 160,
            width: 161,
            out_channels: 1,
            kernel: 3,
            stride: 2,
            padding: 1,
        };
        assert_eq!((g.out_height(), g.out_width()), (80, 81));
        assert!(g.is_valid());
        assert!(!ConvGeometry {
            kernel: 5,
            padding: 0,
            height: 4,
            ..g
        }
        .is_valid());
    }
}
