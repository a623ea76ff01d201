//! `fringewatch isl`, `pc1` and `stack`: the method's two layers and the detector's input.

use std::path::PathBuf;

use clap::Args;
use fringewatch::sensitivity::layer::{compute_isl, IslJob, Look};
use fringewatch::sensitivity::CoherenceWeight;
use fringewatch::stack::{build_stack, StackJob};
use fringewatch::terrain::convexity::ConvexitySettings;
use fringewatch::terrain::layer::{compute_pc1, Pc1Report};
use fringewatch::terrain::pca::{Loadings, LoadingsChoice, Pc1Settings};
use fringewatch::{Error, Result};

use super::choices::{GradientArg, TriArg};
use super::geometry::IncidenceArgs;
use super::Bar;

#[derive(Args)]
// one of the two incidences, so that clap's message names both when neither is given
#[command(group(clap::ArgGroup::new("incidence_source").required(true).args(["incidence", "incidence_deg"])))]
pub(crate) struct IslArgs {
    /// DEM (metres), any GDAL raster; warped onto the output grid.
    #[arg(long)]
    dem: PathBuf,
    /// Coherence in [0, 1].
    #[arg(long)]
    coherence: PathBuf,
    #[command(flatten)]
    incidence: IncidenceArgs,
    /// Scene heading, degrees clockwise from north (S1 Apennines: −10.5 asc, −169.5 desc).
    #[arg(
        long,
        allow_negative_numbers = true,
        conflicts_with = "look_azimuth",
        required_unless_present = "look_azimuth"
    )]
    heading: Option<f64>,
    /// Per-pixel look azimuth raster (satellite → ground, degrees clockwise from north).
    #[arg(long)]
    look_azimuth: Option<PathBuf>,
    /// Output grid reference (default: the coherence grid).
    #[arg(long)]
    like: Option<PathBuf>,
    /// Coherence sigmoid steepness k.
    #[arg(long, default_value_t = 20.0)]
    sigmoid_k: f64,
    /// Coherence sigmoid midpoint γ_M.
    #[arg(long, default_value_t = 0.3)]
    gamma_m: f64,
    /// Slope and aspect from the DEM by this finite-difference method.
    #[arg(long, value_enum, default_value = "zt")]
    gradient: GradientArg,
    /// Output GeoTIFF.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub(crate) struct Pc1Args {
    /// DEM, metres, any GDAL raster (projected, or longitude/latitude on the ellipsoid).
    #[arg(long)]
    dem: PathBuf,
    /// Output grid reference (default: the DEM grid).
    #[arg(long)]
    like: Option<PathBuf>,
    /// Fit the PCA on this area instead of using the preprint's loadings.
    #[arg(long)]
    fit_pca: bool,
    #[command(flatten)]
    terrain: TerrainMethods,
    /// Output GeoTIFF (a JSON sidecar with loadings and statistics is written beside it).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub(crate) struct StackArgs {
    /// Wrapped phase, radians.
    #[arg(long)]
    phase: PathBuf,
    /// ISL raster (`fringewatch isl`), warped onto the phase grid when its grid differs.
    #[arg(long)]
    isl: PathBuf,
    /// PC1 raster (`fringewatch pc1`), warped onto the phase grid when its grid differs.
    #[arg(long)]
    pc1: PathBuf,
    /// Write UInt16 bands with scale/offset instead of Float32.
    #[arg(long)]
    uint16: bool,
    /// Output 3-band GeoTIFF (phase, ISL, PC1) on the phase grid.
    #[arg(long)]
    out: PathBuf,
}

/// `fringewatch isl`.
pub(crate) fn isl(a: IslArgs, quiet: bool) -> Result<()> {
    let job = IslJob {
        dem: a.dem,
        coherence: a.coherence,
        incidence: a.incidence.required()?,
        look: match (a.heading, a.look_azimuth) {
            (Some(h), _) => Look::Heading(h),
            (None, Some(p)) => Look::LookAzimuthRaster(p),
            (None, None) => {
                return Err(Error::parameter(
                    "heading",
                    "give `heading` or `look_azimuth`",
                ))
            }
        },
        like: a.like,
        out: a.out,
        weight: CoherenceWeight {
            k: a.sigmoid_k,
            gamma_m: a.gamma_m,
        },
        gradient: a.gradient.into(),
    };
    let bar = Bar::new(quiet, "ISL");
    let summary = compute_isl(&job, &bar)?;
    bar.done();
    println!(
        "ISL written to {} ({}x{}, {} valid pixels, mean {:.3}, {:.1}% zero: layover/shadow/flat)",
        job.out.display(),
        summary.width,
        summary.height,
        summary.valid_pixels,
        summary.mean_isl,
        100.0 * summary.zero_fraction
    );
    if summary.valid_pixels > 0 && summary.zero_fraction >= 0.99 {
        eprintln!(
                "warning: ISL is 0 on {:.1}% of the valid pixels: a flat DEM, a DEM in other units than metres, or slopes that the satellite cannot see; detections here will find nothing",
                100.0 * summary.zero_fraction
            );
    }
    Ok(())
}

/// `fringewatch pc1`.
pub(crate) fn pc1(a: Pc1Args, quiet: bool) -> Result<()> {
    let settings = a.terrain.pc1_settings(a.fit_pca);
    let bar = Bar::new(quiet, "PC1");
    let report = compute_pc1(&a.dem, a.like.as_deref(), &a.out, &settings, &bar)?;
    bar.done();
    print_pc1_report(&report);
    Ok(())
}

/// `fringewatch stack`.
pub(crate) fn stack(a: StackArgs, quiet: bool) -> Result<()> {
    let job = StackJob {
        phase: a.phase,
        isl: a.isl,
        pc1: a.pc1,
        out: a.out,
        uint16: a.uint16,
    };
    let bar = Bar::new(quiet, "stack");
    build_stack(&job, &bar)?;
    bar.done();
    println!(
        "stack written to {} (bands: phase, ISL, PC1; {})",
        job.out.display(),
        if job.uint16 {
            "UInt16 with scale/offset"
        } else {
            "Float32"
        }
    );
    Ok(())
}

/// How the terrain variables are computed (`pc1` and `terrain`).
#[derive(Args)]
pub(crate) struct TerrainMethods {
    /// Slope and aspect from the DEM by this finite-difference method.
    #[arg(long, value_enum, default_value = "zt")]
    gradient: GradientArg,
    /// Terrain ruggedness index definition.
    #[arg(long, value_enum, default_value = "saga")]
    tri: TriArg,
    /// Convexity averaging scale, cells.
    #[arg(long, default_value_t = 10)]
    convexity_scale: usize,
}

impl TerrainMethods {
    /// PC1 settings from these choices: the preprint's loadings unless `fit`.
    pub(crate) fn pc1_settings(&self, fit: bool) -> Pc1Settings {
        Pc1Settings {
            loadings: if fit {
                LoadingsChoice::Fit
            } else {
                LoadingsChoice::Fixed(Loadings::PAPER)
            },
            gradient: self.gradient.into(),
            tri: self.tri.into(),
            convexity: ConvexitySettings {
                scale_cells: self.convexity_scale,
                ..Default::default()
            },
        }
    }
}

pub(crate) fn print_pc1_report(report: &Pc1Report) {
    println!(
        "PC1 written to {} ({}x{}); sidecar {}",
        report.output.display(),
        report.width,
        report.height,
        fringewatch::terrain::layer::sidecar_path(&report.output).display()
    );
    let kind = if report.fitted {
        "fitted on this area"
    } else {
        "preprint's fixed loadings"
    };
    println!("loadings ({kind}):");
    for (var, l) in report.loadings.entries() {
        println!("  {:<10} {:+.3}", var.name(), l);
    }
    if let Some(ev) = report.explained_variance {
        println!(
            "explained variance: PC1 {:.1}%, PC2 {:.1}%, PC3 {:.1}%, PC4 {:.1}%",
            100.0 * ev[0],
            100.0 * ev[1],
            100.0 * ev[2],
            100.0 * ev[3]
        );
    }
}
