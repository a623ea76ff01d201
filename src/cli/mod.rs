//! Command-line interface: argument parsing (clap), progress bars (indicatif) and one-line error
//! messages with a non-zero exit code.

mod baseline;
mod batch;
mod choices;
mod dataset;
mod demo;
mod detect;
mod evaluate;
mod geometry;
mod interrupt;
mod layers;
mod model;
mod native_stderr;
mod overlay;
mod persistence;
mod render;
mod run;
mod simulate;
mod terrain;
mod train;

use clap::{Parser, Subcommand};
use fringewatch::progress::Progress;
use fringewatch::{Error, Result};
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
    /// has available, within its container's limit).
    #[arg(long, global = true, value_name = "GIB")]
    max_memory: Option<f64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute the InSAR Sensitivity Layer (ISL) on the coherence grid (or --like).
    Isl(layers::IslArgs),
    /// Compute PC1, the terrain principal component, on the DEM grid (or --like).
    Pc1(layers::Pc1Args),
    /// Build the detector's 3-band input (phase, ISL, PC1) on the phase grid.
    Stack(layers::StackArgs),
    /// Write the terrain variables behind PC1 (slope, aspect, TRI, TWI, convexity) as GeoTIFFs.
    Terrain(terrain::TerrainArgs),
    /// Simulate labelled interferograms (phase, coherence, DEM, incidence, truth, inventory).
    Simulate(simulate::SimulateArgs),
    /// Build a training dataset (tiles, YOLO labels, split, anchors) from labelled scenes.
    Dataset(dataset::DatasetArgs),
    /// Detect landslides on a stack and write boxes to a GeoPackage layer (or GeoJSON).
    Detect(detect::DetectArgs),
    /// End to end: ISL and PC1 on the phase grid, stack, detect, write the layer.
    Run(run::RunArgs),
    /// Many product folders into one GeoPackage layer with a `runs` table; a second call does
    /// only what is not done.
    Batch(batch::BatchArgs),
    /// Model files: write an untrained model, show a model's metadata.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// The non-learning baseline: boxes around fast, consistent local fringes (class-agnostic).
    Baseline(baseline::BaselineArgs),
    /// Train or fine-tune the detector on a dataset (build with --features train).
    Train(train::TrainArgs),
    /// Score detections against truth: mAP (VOC and COCO), P/R/F1, per-class table, PR curves.
    Evaluate(evaluate::EvaluateArgs),
    /// Overlay detections with a landslide inventory: mapped / near / new, ids, types.
    Overlay(overlay::OverlayArgs),
    /// Cluster detections of several interferograms into persistent areas (count of
    /// interferograms seen in / covering, dates, orbits, class vote).
    Persistence(persistence::PersistenceArgs),
    /// Render a phase raster (with optional box layers) to PNG.
    Render(render::RenderArgs),
    /// The main job on built-in inputs: ISL, PC1 and the stack for a real or synthetic scene.
    Demo(demo::DemoArgs),
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
            eprintln!("error: {}", with_flags(&e.to_string()));
            1
        }
    }
}

/// A library message worded for the command line: each parameter the library names in backticks
/// (`` `incidence_deg` ``, see `fringewatch::error`) becomes its flag (`--incidence-deg`); other
/// backticked text (`` `fringewatch stack` ``) stays as it is.
pub(crate) fn with_flags(message: &str) -> String {
    let parts: Vec<&str> = message.split('`').collect();
    if parts.len() % 2 == 0 {
        return message.to_string(); // an unpaired backtick: nothing is quoted
    }
    let is_parameter = |text: &str| {
        text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let mut worded = String::with_capacity(message.len() + 8);
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 0 {
            worded.push_str(part);
        } else if is_parameter(part) {
            worded.push_str("--");
            worded.push_str(&part.replace('_', "-"));
        } else {
            worded.push('`');
            worded.push_str(part);
            worded.push('`');
        }
    }
    worded
}

/// Write a command's summary as pretty JSON when a path was given.
pub(crate) fn write_summary(
    path: Option<&std::path::Path>,
    summary: &impl serde::Serialize,
) -> Result<()> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(summary)
            .map_err(|e| Error::parameter("summary", e.to_string()))?;
        std::fs::write(path, text).map_err(|source| Error::io(path.to_path_buf(), source))?;
    }
    Ok(())
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
        // GDAL's block cache is memory too: a share of the budget
        fringewatch::raster::io::set_gdal_cache_mib(
            fringewatch::raster::io::gdal_cache_mib_for_budget(bytes),
        );
    }
    match cli.command {
        Command::Isl(a) => layers::isl(a, quiet),
        Command::Pc1(a) => layers::pc1(a, quiet),
        Command::Stack(a) => layers::stack(a, quiet),
        Command::Terrain(a) => terrain::terrain(a, quiet),
        Command::Demo(a) => demo::run(a, quiet),
        Command::Simulate(a) => simulate::simulate(a, quiet),
        Command::Render(a) => render::render(a),
        Command::Dataset(a) => dataset::dataset(a, quiet),
        Command::Detect(a) => detect::detect(a, quiet),
        Command::Run(a) => run::run(a, quiet),
        Command::Batch(a) => batch::run(a, quiet),
        Command::Model(c) => model::model(c, quiet),
        Command::Evaluate(a) => evaluate::run(a, quiet),
        Command::Train(a) => train::run(a, quiet),
        Command::Baseline(a) => baseline::baseline(a),
        Command::Overlay(a) => overlay::run(a, quiet),
        Command::Persistence(a) => persistence::persistence(a, quiet),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn library_parameters_become_flags() {
        use super::with_flags;
        assert_eq!(
            with_flags("give `incidence` or `incidence_deg`; allow overwriting it (`overwrite`)"),
            "give --incidence or --incidence-deg; allow overwriting it (--overwrite)"
        );
        assert_eq!(
            with_flags("build the stack with `fringewatch stack`"),
            "build the stack with `fringewatch stack`"
        );
        assert_eq!(with_flags("a lone ` stays"), "a lone ` stays");
    }

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
