//! `fringewatch render`: a phase raster, with box layers, to PNG.

use std::path::PathBuf;

use clap::Args;
use fringewatch::raster::io::RasterFile;
use fringewatch::render::{class_colour, render_phase_png, DrawBox};
use fringewatch::vector::gpkg::read_layer;
use fringewatch::vector::LayerRef;
use fringewatch::{Error, Result};

#[derive(Args)]
pub(crate) struct RenderArgs {
    /// Wrapped phase raster, or a stack (band 1 is the phase).
    #[arg(long)]
    pub(crate) raster: PathBuf,
    /// Band to render.
    #[arg(long, default_value_t = 1)]
    pub(crate) band: usize,
    /// Box layers to draw (PATH[:LAYER]); boxes are coloured by their `class` field.
    #[arg(long, num_args = 1..)]
    pub(crate) boxes: Vec<String>,
    /// Output PNG.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

pub(crate) fn render(args: RenderArgs) -> Result<()> {
    let raster = RasterFile::open(&args.raster)?;
    if args.band == 0 || args.band > raster.band_count() {
        return Err(Error::parameter(
            "band",
            format!(
                "{} has {} band(s)",
                args.raster.display(),
                raster.band_count()
            ),
        ));
    }
    let values = raster.read_band(args.band)?;
    let grid = raster.grid();
    let mut boxes = Vec::new();
    for text in &args.boxes {
        let layer_ref = LayerRef::parse(text);
        let layer = read_layer(&layer_ref.path, layer_ref.layer.as_deref())?;
        for f in &layer.features {
            let Some((x0, y0, x1, y1)) = f.envelope else {
                continue;
            };
            let (c0, r0) = grid.map_to_pixel(x0, y1);
            let (c1, r1) = grid.map_to_pixel(x1, y0);
            let class = f
                .attribute("class")
                .and_then(|v| v.as_text())
                .unwrap_or_default();
            boxes.push(DrawBox {
                px: [c0.min(c1), r0.min(r1), c0.max(c1), r0.max(r1)],
                colour: class_colour(&class),
            });
        }
    }
    render_phase_png(values.view(), &boxes, &args.out)?;
    println!("{} ({} boxes)", args.out.display(), boxes.len());
    Ok(())
}
