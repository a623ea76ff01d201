//! `fringewatch terrain`: the terrain variables behind PC1 as GeoTIFFs.

use std::path::PathBuf;

use clap::Args;
use fringewatch::Result;

use super::layers::TerrainMethods;
use super::Bar;

#[derive(Args)]
pub(crate) struct TerrainArgs {
    /// DEM, metres, any GDAL raster.
    #[arg(long)]
    dem: PathBuf,
    /// Output grid reference (default: the DEM grid).
    #[arg(long)]
    like: Option<PathBuf>,
    #[command(flatten)]
    terrain: TerrainMethods,
    /// Directory for slope.tif (degrees), aspect.tif (degrees), tri.tif, twi.tif, convexity.tif.
    #[arg(long)]
    out_dir: PathBuf,
}

/// `fringewatch terrain`.
pub(crate) fn terrain(a: TerrainArgs, quiet: bool) -> Result<()> {
    let settings = a.terrain.pc1_settings(false);
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
