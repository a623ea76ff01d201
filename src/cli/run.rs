//! `fringewatch run`: ISL and PC1 on the phase grid, the stack, detection and the layer, from
//! rasters or from a processor's product folder.

use std::path::PathBuf;

use clap::Args;
use fringewatch::layers::RawLayers;
use fringewatch::product::prepare;
use fringewatch::raster::detector_grid;
use fringewatch::{Error, Result};

use super::detect::{report, DetectOptions};
use super::geometry::{heading_of, IncidenceArgs};
use super::Bar;

#[derive(Args)]
pub(crate) struct RunArgs {
    /// A processor's product folder (HyP3 product; LiCSAR pair folder or frame folder with one
    /// pair; GMTSAR interferogram folder; ISCE2 run folder or merged/): phase, coherence, DEM,
    /// geometry, dates and orbit are read from it and brought to the detector's 15 m grid; the
    /// flags below replace what it says.
    #[arg(long, conflicts_with_all = ["phase", "coherence"])]
    product: Option<PathBuf>,
    /// Wrapped phase, radians. Its grid is the output grid when its pixels are 13.5–16.5 m;
    /// otherwise it is resampled (as cos φ, sin φ) to the detector's 15 m grid first.
    #[arg(long, required_unless_present = "product")]
    phase: Option<PathBuf>,
    /// Coherence in [0, 1].
    #[arg(long, required_unless_present = "product")]
    coherence: Option<PathBuf>,
    /// DEM, metres.
    #[arg(long, required_unless_present = "product")]
    dem: Option<PathBuf>,
    #[command(flatten)]
    incidence: IncidenceArgs,
    /// Scene heading, degrees clockwise from north (S1 Apennines: −10.5 asc, −169.5 desc);
    /// default: the heading the phase or product records.
    #[arg(long, allow_negative_numbers = true)]
    heading: Option<f64>,
    /// ONNX model (default: the bundled model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output GeoPackage or .geojson.
    #[arg(long)]
    out: PathBuf,
    /// Keep the ISL, PC1 and stack rasters in this directory (default: temporary, removed).
    #[arg(long)]
    keep_layers: Option<PathBuf>,
    #[command(flatten)]
    options: DetectOptions,
}

pub(crate) fn run(args: RunArgs, quiet: bool) -> Result<()> {
    let output = args.options.output(&args.out);
    output.check()?;
    let o = &args.options;
    // a product is first brought to the detector's grid, in the layer folder (kept with
    // --keep-layers, else temporary)
    let mut scratch = None;
    let layer_dir = match (&args.keep_layers, &args.product) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(_)) => {
            let dir =
                tempfile::tempdir().map_err(|source| Error::io(std::env::temp_dir(), source))?;
            let path = dir.path().to_path_buf();
            scratch = Some(dir);
            Some(path)
        }
        (None, None) => None,
    };
    let mut product_crs = None;
    let raw = match (&args.product, &args.phase, &args.coherence) {
        (Some(folder), _, _) => {
            let product = fringewatch::product::open_product(folder)?;
            let overrides = prepare::Overrides {
                dem: args.dem.clone(),
                incidence: args.incidence.optional()?,
                heading_deg: args.heading,
            };
            let dir = layer_dir.clone().unwrap_or_else(std::env::temp_dir);
            let bar = Bar::new(quiet, "product");
            let prepared = prepare::prepare(&product, &overrides, &dir, &bar)?;
            bar.done();
            if !quiet {
                eprintln!(
                    "{} product {}: {:.0} m pixels → {} × {} px at {:.0} m ({}), heading {:.1}°",
                    product.processor.name(),
                    product.name,
                    prepared.product_spacing_m,
                    prepared.grid.width,
                    prepared.grid.height,
                    detector_grid::MODEL_SPACING_M,
                    product.orbit.map_or("orbit unknown", |o| o.name()),
                    prepared.raw.heading_deg
                );
            }
            for note in &prepared.notes {
                eprintln!("warning: {}", super::with_flags(note));
            }
            product_crs = Some(prepared.product_crs.clone());
            prepared.raw
        }
        (None, Some(phase), Some(coherence)) => RawLayers {
            phase: phase.clone(),
            coherence: coherence.clone(),
            dem: args
                .dem
                .clone()
                .ok_or_else(|| Error::parameter("dem", "give `dem`"))?,
            incidence: args.incidence.required()?,
            heading_deg: heading_of(phase, args.heading, quiet)?,
        },
        _ => {
            return Err(Error::parameter(
                "phase",
                "give `product` (a folder), or `phase` and `coherence`",
            ))
        }
    };
    if product_crs.is_none() && !quiet {
        let grid = fringewatch::raster::io::RasterFile::open(&raw.phase)?
            .grid()
            .clone();
        if detector_grid::off_model_spacing(&grid) {
            eprintln!(
                "note: the phase's pixels are {:.1} m: it is resampled (as cos φ, sin φ) to the detector's {:.0} m grid{}, and the detections are mapped back to its CRS",
                detector_grid::spacing_m(&grid),
                detector_grid::MODEL_SPACING_M,
                if args.keep_layers.is_some() { " (phase_15m.tif among the kept layers)" } else { "" }
            );
        }
    }
    let detector = o.open_detector(args.model.as_deref(), quiet)?;
    let bar = Bar::new(quiet, "run");
    let result = match (&product_crs, &layer_dir) {
        // a product's detections go back to its own CRS (longitude/latitude for LiCSAR)
        (Some(crs), Some(dir)) => {
            let run = detector.detect_raw(
                &raw,
                dir,
                args.keep_layers.is_some(),
                &o.settings(&detector),
                &bar,
            )?;
            let features = fringewatch::vector::reproject_features(
                detector.features(&run),
                &run.grid.crs.wkt,
                &crs.wkt,
            )?;
            fringewatch::detect::output::write_detections_in(
                &output.path,
                &output.layer,
                &crs.wkt,
                &run.grid,
                &features,
                output.overwrite,
                &fringewatch::progress::Silent,
            )?;
            run
        }
        _ => detector.detect_raw_to_output(
            &raw,
            layer_dir.as_deref(),
            &output,
            &o.settings(&detector),
            &bar,
        )?,
    };
    bar.done();
    drop(scratch);
    report(&result, &args.out, &o.layer, &o.engine_as_run(&detector));
    Ok(())
}
