//! `fringewatch terrain`: the terrain variables behind PC1 as GeoTIFFs.

use std::path::PathBuf;

use clap::Args;
use fringewatch::Result;

use super::choices::{GradientArg, TriArg};
use super::layers::pc1_settings;
use super::Bar;

#[derive(Args)]
pub(crate) struct TerrainArgs {
    /// DEM, metres, any GDAL raster.
    #[arg(long)]
    dem: PathBuf,
    /// Output grid reference (default: the DEM grid).
    #[arg(long)]
    like: Option<PathBuf>,
    /// Slope and aspect from the DEM by this finite-difference method.
    #[arg(long, value_enum, default_value = "zt")]
    gradient: GradientArg,
    /// Terrain ruggedness index definition.
    #[arg(long, value_enum, default_value = "saga")]
    tri: TriArg,
    /// Convexity averaging scale, cells.
    #[arg(long, default_value_t = 10)]
    convexity_scale: usize,
    /// Directory for slope.tif (degrees), aspect.tif (degrees), tri.tif, twi.tif, convexity.tif.
    #[arg(long)]
    out_dir: PathBuf,
}

/// `fringewatch terrain`.
pub(crate) fn terrain(a: TerrainArgs, quiet: bool) -> Result<()> {
    let settings = pc1_settings(false, a.gradient, a.tri, a.convexity_scale);
    let bar = Bar::new(quiet, "terrain");
    let written = fringewatch::terrain::layer::write_terrain_variables(
        &a.dem,
        a.like.as_deref(),
        &a.out_dir,
        &settings,
        &bar,
    )?;
    bar.done();
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}
