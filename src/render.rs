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

/// The plots' font (DejaVu Sans, Bitstream Vera licence: `assets/fonts/`), registered with
/// plotters once, so plots need no system fonts.
const PLOT_FONT: &str = "fringewatch-sans";

fn register_plot_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
        // a font that cannot be read would leave text undrawn, never fail the plot
        let _ =
            plotters::style::register_font(PLOT_FONT, plotters::style::FontStyle::Normal, bytes);
    });
}

/// Draw with plotters into a white `width`×`height` RGB buffer and write it as a PNG.
fn plot_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(
        &plotters::drawing::DrawingArea<
            plotters::prelude::BitMapBackend<'_>,
            plotters::coord::Shift,
        >,
    ) -> std::result::Result<(), String>,
) -> Result<()> {
    use plotters::prelude::*;
    check_output_path(path)?;
    register_plot_font();
    let mut buffer = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        draw(&root)
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|problem| Error::Output {
                path: path.to_path_buf(),
                problem: format!("cannot draw the plot ({problem})"),
            })?;
    }
    let (w, h) = (width as usize, height as usize);
    let image = Array3::from_shape_fn((3, h, w), |(band, r, c)| buffer[(r * w + c) * 3 + band]);
    write_png(&image, path)
}

fn rgb(colour: [u8; 3]) -> plotters::style::RGBColor {
    plotters::style::RGBColor(colour[0], colour[1], colour[2])
}

/// A chart of the plots: f64 on both axes, drawn into a bitmap.
type Chart<'a, 'b> = plotters::chart::ChartContext<
    'a,
    plotters::prelude::BitMapBackend<'b>,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// One line of `colour` through `points`, named `name` in the legend.
fn draw_named_line(
    chart: &mut Chart<'_, '_>,
    points: impl IntoIterator<Item = (f64, f64)>,
    name: &str,
    colour: [u8; 3],
) -> std::result::Result<(), String> {
    use plotters::prelude::*;
    let colour = rgb(colour);
    chart
        .draw_series(LineSeries::new(points, colour.stroke_width(2)))
        .map_err(|e| e.to_string())?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    Ok(())
}

/// The legend of `chart`'s named lines, at `position`, in the plots' font of `size`.
fn draw_legend<'b>(
    chart: &mut Chart<'b, 'b>,
    position: plotters::chart::SeriesLabelPosition,
    size: u32,
) -> std::result::Result<(), String> {
    use plotters::prelude::*;
    chart
        .configure_series_labels()
        .position(position)
        .label_font((PLOT_FONT, size))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// Precision–recall curves: recall on x, precision on y (both 0…1, ticks at tenths), one line per
/// class in [`plot_colour`], titled and with a legend of the classes.
pub fn render_pr_curves(curves: &[(String, Vec<(f64, f64)>)], path: &Path) -> Result<()> {
    use plotters::prelude::*;
    plot_png(path, (640, 480), |root| {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption("Precision–recall per class", (PLOT_FONT, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0f64, 0.0..1.0f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("recall")
            .y_desc("precision")
            .x_labels(11)
            .y_labels(11)
            .max_light_lines(1)
            .label_style((PLOT_FONT, 13))
            .axis_desc_style((PLOT_FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        for (class, curve) in curves {
            let points = curve
                .iter()
                .map(|&(r, p)| (r.clamp(0.0, 1.0), p.clamp(0.0, 1.0)));
            draw_named_line(&mut chart, points, class, plot_colour(class))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft, 13)
    })
}

/// One line of a panel plot: its name (legend), its values at x = 1, 2, 3 … and its colour.
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
    pub colour: [u8; 3],
}

/// One panel: a title, the x axis's name, and its lines.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub series: Vec<Series>,
}

/// Panels of line plots in a grid of `columns` (e.g. the loss terms per epoch), each titled, with
/// ticks and axis names, scaled from 0 to its own maximum, and a legend of its lines.
pub fn render_panels(panels: &[Panel], columns: usize, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let size = ((columns * 360) as u32, (rows * 280) as u32);
    plot_png(path, size, |root| {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        for (panel, area) in panels.iter().zip(root.split_evenly((rows, columns))) {
            let n = panel
                .series
                .iter()
                .map(|s| s.values.len())
                .max()
                .unwrap_or(0)
                .max(2);
            let top = panel
                .series
                .iter()
                .flat_map(|s| s.values.iter().copied())
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::max);
            let top = if top > 0.0 { top * 1.05 } else { 1.0 };
            let mut chart = ChartBuilder::on(&area)
                .caption(&panel.title, (PLOT_FONT, 16))
                .margin(8)
                .x_label_area_size(32)
                .y_label_area_size(44)
                .build_cartesian_2d(1.0..n as f64, 0.0..top)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc(panel.x_label.as_str())
                .x_labels(n.min(10))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .max_light_lines(1)
                .y_labels(6)
                .label_style((PLOT_FONT, 11))
                .axis_desc_style((PLOT_FONT, 12))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(e)?;
            for series in &panel.series {
                let points = series
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, &v)| ((i + 1) as f64, v));
                draw_named_line(&mut chart, points, &series.name, series.colour)?;
            }
            draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 11)?;
        }
        Ok(())
    })
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

    /// The PNG at `path` as (rows, cols, rgb).
    fn read_png(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
        let dataset = gdal::Dataset::open(path).unwrap();
        let (cols, rows) = dataset.raster_size();
        let bands: Vec<Vec<u8>> = (1..=3)
            .map(|b| {
                dataset
                    .rasterband(b)
                    .unwrap()
                    .read_as::<u8>((0, 0), (cols, rows), (cols, rows), None)
                    .unwrap()
                    .data()
                    .to_vec()
            })
            .collect();
        let pixels = (0..rows * cols)
            .map(|i| [bands[0][i], bands[1][i], bands[2][i]])
            .collect();
        (rows, cols, pixels)
    }

    /// Dark (text or axis) pixels in rows `r0..r1` and columns `c0..c1`.
    fn dark(
        png: &(usize, usize, Vec<[u8; 3]>),
        r0: usize,
        r1: usize,
        c0: usize,
        c1: usize,
    ) -> usize {
        let (_, cols, pixels) = png;
        (r0..r1)
            .flat_map(|r| (c0..c1).map(move |c| (r, c)))
            .filter(|&(r, c)| pixels[r * cols + c].iter().all(|&v| v < 100))
            .count()
    }

    /// The PR plot has a title, tick labels and axis names (text drawn with the bundled font in
    /// the margins, where the old plot had only white), and a legend in each class's colour
    /// (issue: bad input, messages: plots without labels).
    #[test]
    fn plots_carry_titles_ticks_axis_names_and_legends() {
        let dir = tempfile::tempdir().unwrap();
        // FW_KEEP_PLOTS=DIR keeps the two plots there to look at
        let keep = std::env::var_os("FW_KEEP_PLOTS").map(std::path::PathBuf::from);
        let dir_path = keep.clone().unwrap_or_else(|| dir.path().to_path_buf());
        let pr = dir_path.join("pr.png");
        let curves = vec![
            ("CF".to_string(), vec![(0.0, 1.0), (0.5, 0.8), (0.9, 0.3)]),
            ("FS".to_string(), vec![(0.0, 0.9), (0.4, 0.5)]),
        ];
        render_pr_curves(&curves, &pr).unwrap();
        let png = read_png(&pr);
        let (rows, cols, pixels) = &png;
        assert_eq!((*rows, *cols), (480, 640));
        assert!(dark(&png, 0, 34, 0, *cols) > 150, "a title");
        assert!(
            dark(&png, rows - 45, *rows, 60, *cols) > 150,
            "x tick labels and 'recall'"
        );
        assert!(
            dark(&png, 0, *rows, 0, 45) > 150,
            "y tick labels and 'precision'"
        );
        let cf = pixels.iter().filter(|p| **p == plot_colour("CF")).count();
        let fs = pixels.iter().filter(|p| **p == plot_colour("FS")).count();
        assert!(
            cf > 100 && fs > 60,
            "both curves and their legend marks: {cf} {fs}"
        );
        // the loss panels: one title per panel, legends naming training and validation
        let losses = dir_path.join("losses.png");
        let panel = |title: &str| Panel {
            title: title.into(),
            x_label: "epoch".into(),
            series: vec![
                Series {
                    name: "training".into(),
                    values: vec![3.0, 2.0, 1.5],
                    colour: [31, 119, 180],
                },
                Series {
                    name: "validation".into(),
                    values: vec![3.5, 2.5, f64::NAN],
                    colour: [255, 127, 14],
                },
            ],
        };
        render_panels(&[panel("box loss"), panel("class loss")], 2, &losses).unwrap();
        let png = read_png(&losses);
        assert_eq!((png.0, png.1), (280, 720));
        for c0 in [0, 360] {
            assert!(
                dark(&png, 0, 28, c0, c0 + 360) > 80,
                "a title over panel at {c0}"
            );
            assert!(
                dark(&png, 240, 280, c0 + 44, c0 + 360) > 80,
                "ticks and 'epoch' at {c0}"
            );
        }
    }
}
