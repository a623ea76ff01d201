//! PNG previews for people to look at: wrapped phase in a cyclic colour wheel (one full hue
//! turn per fringe, as InSAR figures show it, e.g. the preprint's Figure 6) with boxes drawn in
//! class colours. PNG encoding is GDAL's.

use std::f32::consts::PI;
use std::path::Path;

use gdal::raster::Buffer;
use gdal::DriverManager;
use ndarray::{Array3, ArrayView2};

use crate::error::{Error, Result};
use crate::raster::io::check_output_path;

/// A box to draw: first column, first row, end column, end row (pixels, ends exclusive), and its
/// colour.
#[derive(Debug, Clone, Copy)]
pub struct DrawBox {
    pub px: [f64; 4],
    pub colour: [u8; 3],
}

/// Box colours by class code: AR white, CF black, CS magenta, FS dark red; anything else yellow.
pub fn class_colour(class: &str) -> [u8; 3] {
    match class {
        "AR" => [255, 255, 255],
        "CF" => [0, 0, 0],
        "CS" => [200, 0, 200],
        "FS" => [120, 0, 0],
        _ => [255, 230, 0],
    }
}

/// Cyclic colour of a wrapped phase: the hue wheel, φ = −π → red, going through yellow, green,
/// cyan, blue, magenta back to red at +π (continuous across the wrap).
pub fn cyclic_colour(phase: f32) -> [u8; 3] {
    if !phase.is_finite() {
        return [0, 0, 0];
    }
    let h = (phase + PI) / (2.0 * PI) * 6.0;
    let x = 1.0 - ((h % 2.0) - 1.0).abs();
    let (r, g, b) = match h as i32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let scale = |v: f32| (40.0 + 215.0 * v) as u8;
    [scale(r), scale(g), scale(b)]
}

/// Write a 3×rows×cols RGB image as PNG (GDAL's PNG driver through a MEM dataset).
fn write_png(image: &Array3<u8>, path: &Path) -> Result<()> {
    let (_, rows, cols) = image.dim();
    let mem = DriverManager::get_driver_by_name("MEM").map_err(|e| Error::gdal(path, e))?;
    let dataset = mem
        .create_with_band_type::<u8, _>("", cols, rows, 3)
        .map_err(|e| Error::gdal(path, e))?;
    for band in 0..3 {
        let data: Vec<u8> = image
            .index_axis(ndarray::Axis(0), band)
            .iter()
            .copied()
            .collect();
        let mut buffer = Buffer::new((cols, rows), data);
        dataset
            .rasterband(band + 1)
            .and_then(|mut rb| rb.write((0, 0), (cols, rows), &mut buffer))
            .map_err(|e| Error::gdal(path, e))?;
    }
    let png = DriverManager::get_driver_by_name("PNG").map_err(|e| Error::gdal(path, e))?;
    dataset
        .create_copy(&png, path, &gdal::raster::RasterCreationOptions::new())
        .map_err(|e| Error::gdal(path, e))?;
    // GDAL writes a georeferencing side file for PNG; a preview does not need it.
    let _ = std::fs::remove_file(path.with_extension("png.aux.xml"));
    Ok(())
}

/// Curve colours of a plot, by class code (on white).
pub fn plot_colour(class: &str) -> [u8; 3] {
    match class {
        "AR" => [120, 120, 120],
        "CF" => [230, 120, 0],
        "CS" => [200, 0, 200],
        "FS" => [150, 0, 0],
        _ => [0, 90, 200],
    }
}

fn draw_line(image: &mut Array3<u8>, a: (f64, f64), b: (f64, f64), colour: [u8; 3]) {
    let (_, height, width) = image.dim();
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for k in 0..=steps {
        let t = k as f64 / steps as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        if x < 0.0 || y < 0.0 {
            continue;
        }
        let (c, r) = (x.round() as usize, y.round() as usize);
        if r < height && c < width {
            for (band, v) in colour.iter().enumerate() {
                image[(band, r, c)] = *v;
            }
        }
    }
}

/// Precision–recall curves (recall on x, precision on y, both 0…1) on a white 480×360 canvas
/// with a frame and 0.1 grid lines; one polyline per class in [`plot_colour`].
pub fn render_pr_curves(curves: &[(String, Vec<(f64, f64)>)], path: &Path) -> Result<()> {
    check_output_path(path)?;
    let (width, height, margin) = (480usize, 360usize, 30usize);
    let mut image = Array3::<u8>::from_elem((3, height, width), 255);
    let to_px = |r: f64, p: f64| -> (f64, f64) {
        let x = margin as f64 + r.clamp(0.0, 1.0) * (width - 2 * margin) as f64;
        let y = (height - margin) as f64 - p.clamp(0.0, 1.0) * (height - 2 * margin) as f64;
        (x, y)
    };
    for k in 0..=10 {
        let v = k as f64 / 10.0;
        let grey = if k == 0 || k == 10 {
            [0, 0, 0]
        } else {
            [225, 225, 225]
        };
        draw_line(&mut image, to_px(v, 0.0), to_px(v, 1.0), grey);
        draw_line(&mut image, to_px(0.0, v), to_px(1.0, v), grey);
    }
    for (class, curve) in curves {
        let colour = plot_colour(class);
        for pair in curve.windows(2) {
            let (a, b) = (to_px(pair[0].0, pair[0].1), to_px(pair[1].0, pair[1].1));
            draw_line(&mut image, a, b, colour);
            draw_line(&mut image, (a.0, a.1 + 1.0), (b.0, b.1 + 1.0), colour);
        }
    }
    write_png(&image, path)
}

/// One line of a panel plot: its values at x = 0, 1, 2 … and its colour.
pub struct Series {
    pub values: Vec<f64>,
    pub colour: [u8; 3],
}

/// Panels of line plots side by side in a grid of `columns` (e.g. the loss terms per epoch), each
/// panel scaled from 0 to its own maximum, with grey grid lines at tenths.
pub fn render_panels(panels: &[Vec<Series>], columns: usize, path: &Path) -> Result<()> {
    check_output_path(path)?;
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let (panel_w, panel_h, margin) = (320usize, 240usize, 20usize);
    let mut image = Array3::<u8>::from_elem((3, rows * panel_h, columns * panel_w), 255);
    for (k, panel) in panels.iter().enumerate() {
        let (x0, y0) = ((k % columns) * panel_w, (k / columns) * panel_h);
        let n = panel.iter().map(|s| s.values.len()).max().unwrap_or(0);
        let top = panel
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let top = if top > 0.0 { top } else { 1.0 };
        let to_px = |i: f64, v: f64| -> (f64, f64) {
            let span = (n.max(2) - 1) as f64;
            let x = (x0 + margin) as f64 + i / span * (panel_w - 2 * margin) as f64;
            let y = (y0 + panel_h - margin) as f64
                - (v / top).clamp(0.0, 1.0) * (panel_h - 2 * margin) as f64;
            (x, y)
        };
        let last = (n.max(2) - 1) as f64;
        for t in 0..=10 {
            let v = top * t as f64 / 10.0;
            let grey = if t == 0 { [0, 0, 0] } else { [225, 225, 225] };
            draw_line(&mut image, to_px(0.0, v), to_px(last, v), grey);
        }
        draw_line(&mut image, to_px(0.0, 0.0), to_px(0.0, top), [0, 0, 0]);
        for series in panel {
            for (i, pair) in series.values.windows(2).enumerate() {
                let (a, b) = (to_px(i as f64, pair[0]), to_px(i as f64 + 1.0, pair[1]));
                draw_line(&mut image, a, b, series.colour);
                draw_line(
                    &mut image,
                    (a.0, a.1 + 1.0),
                    (b.0, b.1 + 1.0),
                    series.colour,
                );
            }
        }
    }
    write_png(&image, path)
}

/// Render `phase` with `boxes` into an RGB PNG at `path`.
pub fn render_phase_png(phase: ArrayView2<f32>, boxes: &[DrawBox], path: &Path) -> Result<()> {
    check_output_path(path)?;
    let (rows, cols) = phase.dim();
    let mut image = Array3::<u8>::zeros((3, rows, cols));
    for ((r, c), v) in phase.indexed_iter() {
        let colour = cyclic_colour(*v);
        for band in 0..3 {
            image[(band, r, c)] = colour[band];
        }
    }
    for b in boxes {
        draw_rectangle(&mut image, b);
    }
    write_png(&image, path)
}

/// Two-pixel rectangle outline in the box colour, with a one-pixel dark halo outside for contrast.
fn draw_rectangle(image: &mut Array3<u8>, b: &DrawBox) {
    let (_, rows, cols) = image.dim();
    let c0 = b.px[0].floor() as isize;
    let r0 = b.px[1].floor() as isize;
    let c1 = b.px[2].ceil() as isize - 1;
    let r1 = b.px[3].ceil() as isize - 1;
    let mut put = |r: isize, c: isize, colour: [u8; 3]| {
        if r >= 0 && c >= 0 && (r as usize) < rows && (c as usize) < cols {
            for band in 0..3 {
                image[(band, r as usize, c as usize)] = colour[band];
            }
        }
    };
    for (inset, colour) in [(-1isize, [30u8, 30, 30]), (0, b.colour), (1, b.colour)] {
        let (top, bottom, left, right) = (r0 + inset, r1 - inset, c0 + inset, c1 - inset);
        for c in left..=right {
            put(top, c, colour);
            put(bottom, c, colour);
        }
        for r in top..=bottom {
            put(r, left, colour);
            put(r, right, colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_wheel_is_continuous_across_the_wrap() {
        let a = cyclic_colour(PI - 1e-4);
        let b = cyclic_colour(-PI + 1e-4);
        for k in 0..3 {
            assert!(
                (i32::from(a[k]) - i32::from(b[k])).abs() <= 2,
                "{a:?} {b:?}"
            );
        }
        assert_ne!(cyclic_colour(0.0), cyclic_colour(2.0));
    }
}
