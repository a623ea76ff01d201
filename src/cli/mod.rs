//! Command-line interface: argument parsing (clap), progress bars (indicatif) and one-line error
//! messages with a non-zero exit code.

mod batch;
mod demo;
mod detect;
mod evaluate;
mod interrupt;
mod native_stderr;
mod overlay;
mod simulate;
mod train;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fringewatch::progress::Progress;
use fringewatch::sensitivity::layer::{compute_isl, Incidence, IslJob, Look};
use fringewatch::sensitivity::CoherenceWeight;
use fringewatch::stack::{build_stack, StackJob};
use fringewatch::terrain::convexity::ConvexitySettings;
use fringewatch::terrain::layer::compute_pc1;
use fringewatch::terrain::pca::{Loadings, LoadingsChoice, Pc1Settings};
use fringewatch::terrain::{GradientMethod, TriMethod};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "fringewatch",
    version,
    about = "Find active slow landslides in Sentinel-1 wrapped interferograms"
)]
struct Cli {
    /// Hide progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    /// Refuse a job that would need more memory than this, GiB (default: the memory the system
    /// has available).
    #[arg(long, global = true, value_name = "GIB")]
    max_memory: Option<f64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute the InSAR Sensitivity Layer (ISL) on the coherence grid (or --like).
    Isl(IslArgs),
    /// Compute PC1, the terrain principal component, on the DEM grid (or --like).
    Pc1(Pc1Args),
    /// Build the detector's 3-band input (phase, ISL, PC1) on the phase grid.
    Stack(StackArgs),
    /// Write the terrain variables behind PC1 (slope, aspect, TRI, TWI, convexity) as GeoTIFFs.
    Terrain(TerrainArgs),
    /// Simulate labelled interferograms (phase, coherence, DEM, incidence, truth, inventory).
    Simulate(simulate::SimulateArgs),
    /// Build a training dataset (tiles, YOLO labels, split, anchors) from labelled scenes.
    Dataset(simulate::DatasetArgs),
    /// Detect landslides on a stack and write boxes to a GeoPackage layer (or GeoJSON).
    Detect(detect::DetectArgs),
    /// End to end: ISL and PC1 on the phase grid, stack, detect, write the layer.
    Run(detect::RunArgs),
    /// Many product folders into one GeoPackage layer with a `runs` table; a second call does
    /// only what is not done.
    Batch(batch::BatchArgs),
    /// Model files: write an untrained model, show a model's metadata.
    #[command(subcommand)]
    Model(detect::ModelCommand),
    /// The non-learning baseline: boxes around fast, consistent local fringes (class-agnostic).
    Baseline(detect::BaselineArgs),
    /// Train or fine-tune the detector on a dataset (build with --features train).
    Train(train::TrainArgs),
    /// Score detections against truth: mAP (VOC and COCO), P/R/F1, per-class table, PR curves.
    Evaluate(evaluate::EvaluateArgs),
    /// Overlay detections with a landslide inventory: mapped / near / new, ids, types.
    Overlay(overlay::OverlayArgs),
    /// Cluster detections of several interferograms into persistent areas (count of
    /// interferograms seen in / covering, dates, orbits, class vote).
    Persistence(overlay::PersistenceArgs),
    /// Render a phase raster (with optional box layers) to PNG.
    Render(simulate::RenderArgs),
    /// The main job on built-in inputs: ISL, PC1 and the stack for a real or synthetic scene.
    Demo(demo::DemoArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum GradientArg {
    /// Zevenbergen & Thorne 1987 (SAGA's default)
    Zt,
    /// Horn 1981 (gdaldem's default)
    Horn,
}

impl From<GradientArg> for GradientMethod {
    fn from(g: GradientArg) -> Self {
        match g {
            GradientArg::Zt => GradientMethod::ZevenbergenThorne,
            GradientArg::Horn => GradientMethod::Horn,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum TriArg {
    /// SAGA ta_morphometry 16 defaults
    Saga,
    /// Riley et al. 1999 (gdaldem)
    Riley,
}

impl From<TriArg> for TriMethod {
    fn from(t: TriArg) -> Self {
        match t {
            TriArg::Saga => TriMethod::Saga,
            TriArg::Riley => TriMethod::Riley,
        }
    }
}

#[derive(Args)]
// one of the two incidences, so that clap's message names both when neither is given
#[command(group(clap::ArgGroup::new("incidence_source").required(true).args(["incidence", "incidence_deg"])))]
struct IslArgs {
    /// DEM (metres), any GDAL raster; warped onto the output grid.
    #[arg(long)]
    dem: PathBuf,
    /// Coherence in [0, 1].
    #[arg(long)]
    coherence: PathBuf,
    /// Per-pixel incidence angle raster, degrees.
    #[arg(long, conflicts_with = "incidence_deg")]
    incidence: Option<PathBuf>,
    /// Constant incidence angle, degrees (Sentinel-1 IW: 29–46).
    #[arg(long)]
    incidence_deg: Option<f64>,
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
struct Pc1Args {
    /// DEM, metres, any GDAL raster (projected, or longitude/latitude on the ellipsoid).
    #[arg(long)]
    dem: PathBuf,
    /// Output grid reference (default: the DEM grid).
    #[arg(long)]
    like: Option<PathBuf>,
    /// Fit the PCA on this area instead of using the preprint's loadings.
    #[arg(long)]
    fit_pca: bool,
    /// Slope and aspect from the DEM by this finite-difference method.
    #[arg(long, value_enum, default_value = "zt")]
    gradient: GradientArg,
    /// Terrain ruggedness index definition.
    #[arg(long, value_enum, default_value = "saga")]
    tri: TriArg,
    /// Convexity averaging scale, cells.
    #[arg(long, default_value_t = 10)]
    convexity_scale: usize,
    /// Output GeoTIFF (a JSON sidecar with loadings and statistics is written beside it).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct StackArgs {
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

#[derive(Args)]
struct TerrainArgs {
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

/// indicatif progress bar as a library progress sink.
pub(crate) struct Bar(pub(crate) ProgressBar);

impl Bar {
    pub(crate) fn new(quiet: bool, title: &str) -> Bar {
        if quiet {
            return Bar(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:40}] {percent:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(title.to_string());
        Bar(bar)
    }

    pub(crate) fn done(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn report(&self, fraction: f64, message: &str) -> bool {
        // Stages may run concurrently (ISL beside PC1): the bar only moves forward.
        let position = (fraction * 1000.0) as u64;
        if position > self.0.position() {
            self.0.set_position(position);
        }
        self.0.set_message(message.to_string());
        // Ctrl-C or SIGTERM: stop through the library's cancel path
        interrupt::received().is_none()
    }
}

/// Parse, run, print errors; returns the process exit code.
pub fn run() -> i32 {
    let cli = parse_args();
    interrupt::install();
    match dispatch(cli) {
        Ok(()) => 0,
        Err(fringewatch::Error::Cancelled) if interrupt::received().is_some() => {
            let signal = interrupt::received().unwrap_or(libc::SIGINT);
            eprintln!("error: interrupted (signal {signal}); the output being written was removed");
            128 + signal
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The command line, with negative numbers taken as values everywhere (`--heading -10.5`,
/// `--incidence-deg -30` reach the range check instead of "unexpected argument '-3'").
fn parse_args() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    fn negatives(command: clap::Command) -> clap::Command {
        command
            .allow_negative_numbers(true)
            .mut_subcommands(negatives)
    }
    let matches = negatives(Cli::command()).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn pc1_settings(fit: bool, gradient: GradientArg, tri: TriArg, scale: usize) -> Pc1Settings {
    Pc1Settings {
        loadings: if fit {
            LoadingsChoice::Fit
        } else {
            LoadingsChoice::Fixed(Loadings::PAPER)
        },
        gradient: gradient.into(),
        tri: tri.into(),
        convexity: ConvexitySettings {
            scale_cells: scale,
            ..Default::default()
        },
    }
}

fn dispatch(cli: Cli) -> fringewatch::Result<()> {
    let quiet = cli.quiet;
    if let Some(gib) = cli.max_memory {
        if !(gib.is_finite() && gib > 0.0) {
            return Err(fringewatch::Error::parameter(
                "max-memory",
                format!("{gib}: give a size in GiB above 0"),
            ));
        }
        let bytes = ((gib * (1u64 << 30) as f64) as u64).max(1);
        fringewatch::raster::budget::set_memory_limit(Some(bytes));
    }
    match cli.command {
        Command::Isl(a) => {
            let job = IslJob {
                dem: a.dem,
                coherence: a.coherence,
                incidence: match (a.incidence, a.incidence_deg) {
                    (Some(p), _) => Incidence::Raster(p),
                    (None, Some(d)) => Incidence::Degrees(d),
                    (None, None) => unreachable_args(),
                },
                look: match (a.heading, a.look_azimuth) {
                    (Some(h), _) => Look::Heading(h),
                    (None, Some(p)) => Look::LookAzimuthRaster(p),
                    (None, None) => unreachable_args(),
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
        Command::Pc1(a) => {
            let settings = pc1_settings(a.fit_pca, a.gradient, a.tri, a.convexity_scale);
            let bar = Bar::new(quiet, "PC1");
            let report = compute_pc1(&a.dem, a.like.as_deref(), &a.out, &settings, &bar)?;
            bar.done();
            print_pc1_report(&report);
            Ok(())
        }
        Command::Stack(a) => {
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
        Command::Terrain(a) => {
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
        Command::Demo(a) => demo::run(a, quiet),
        Command::Simulate(a) => simulate::simulate(a, quiet),
        Command::Render(a) => simulate::render(a),
        Command::Dataset(a) => simulate::dataset(a, quiet),
        Command::Detect(a) => detect::detect(a, quiet),
        Command::Run(a) => detect::run(a, quiet),
        Command::Batch(a) => batch::run(a, quiet),
        Command::Model(c) => detect::model(c),
        Command::Evaluate(a) => evaluate::run(a, quiet),
        Command::Train(a) => train::run(a, quiet),
        Command::Baseline(a) => detect::baseline(a),
        Command::Overlay(a) => overlay::run(a, quiet),
        Command::Persistence(a) => overlay::persistence(a, quiet),
    }
}

/// clap's `required_unless_present` guarantees one of the pair.
fn unreachable_args() -> ! {
    eprintln!("error: internal argument check failed");
    std::process::exit(2)
}

pub(crate) fn print_pc1_report(report: &fringewatch::terrain::layer::Pc1Report) {
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every command says what it is in `--help` (issue: bad input, empty
    /// help lines).
    #[test]
    fn every_argument_has_help() {
        fn missing(command: &clap::Command, path: &str, out: &mut Vec<String>) {
            let here = format!("{path} {}", command.get_name());
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    out.push(format!("{here} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                missing(sub, &here, out);
            }
        }
        let mut out = Vec::new();
        missing(&super::Cli::command(), "", &mut out);
        assert!(out.is_empty(), "arguments without help: {out:?}");
    }
}
