//! `fringewatch model`: write an untrained model, show a model's metadata, show how much a
//! widened model uses its new channels, average models fine-tuned from one start.

use std::path::PathBuf;

use clap::Subcommand;
use fringewatch::model::write_random_network;
use fringewatch::Result;

use super::choices::{ArchitectureArg, PhaseInputArg};

#[derive(Subcommand)]
pub(crate) enum ModelCommand {
    /// Write an untrained YOLOv3 model (seeded random weights) following the model contract.
    Init {
        /// Network size.
        #[arg(long, value_enum, default_value = "compact")]
        arch: ArchitectureArg,
        /// Tile side the model reads, pixels (a multiple of 32).
        #[arg(long, default_value_t = 160)]
        tile: usize,
        /// Seed of the random weights: the same seed gives the same file.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How the graph reads the phase (cos-sin: (cos φ, sin φ) inside the graph).
        #[arg(long, value_enum, default_value = "cos-sin")]
        phase_input: PhaseInputArg,
        /// Output ONNX file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a model's contract metadata.
    Info {
        /// The ONNX model.
        model: PathBuf,
    },
    /// How much a model trained after `train --width` uses the channels the widening added:
    /// the share of its old channels' squared weight read from them, and what they read.
    Growth {
        /// The widened (and trained) ONNX model.
        model: PathBuf,
        /// The width it was widened from (0.25: the compact network).
        #[arg(long)]
        from_width: f64,
    },
    /// Average the weights of models fine-tuned from one start (a "model soup"): a model of the
    /// same size and speed, often better on data none of them saw. Its recommended confidence
    /// is measured afresh: the best-F1 threshold on the dataset's validation split.
    Soup {
        /// The models (two or more ONNX files with the same graph, anchors and normalisation).
        #[arg(required = true, num_args = 2..)]
        models: Vec<PathBuf>,
        /// Each model's share of the average, in the models' order (default: equal shares).
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        shares: Option<Vec<f64>>,
        /// A dataset (`fringewatch dataset`) whose validation split sets the recommended
        /// confidence.
        #[arg(long)]
        dataset: PathBuf,
        /// Name written in the soup's metadata.
        #[arg(long, default_value = "fringewatch-soup")]
        name: String,
        /// Output ONNX file.
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn model(command: ModelCommand, quiet: bool) -> Result<()> {
    match command {
        ModelCommand::Init {
            arch,
            tile,
            seed,
            phase_input,
            out,
        } => {
            let config = fringewatch::model::yolov3::Yolov3Config::of(
                arch.into(),
                fringewatch::simulate::SignalClass::ALL.len(),
            )
            .with_phase_input(phase_input.into());
            let metadata = write_random_network(&out, config, tile, seed)?;
            let graph = fringewatch::model::yolov3::build_graph(config);
            println!(
                "{}: {} ({:.1} M parameters, {:.2} GFLOPs per {tile}×{tile} tile), untrained",
                out.display(),
                metadata.name,
                graph.parameter_count() as f64 / 1e6,
                graph.flops(tile) / 1e9
            );
            Ok(())
        }
        ModelCommand::Info { model } => {
            let (_, metadata) = fringewatch::model::onnx::read_model(&model)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&metadata).unwrap_or_default()
            );
            Ok(())
        }
        ModelCommand::Growth { model, from_width } => {
            use fringewatch::model::{onnx, widen, yolov3};

            let (_, metadata) = onnx::read_model(&model)?;
            if !(from_width > 0.0 && from_width < metadata.width) {
                return Err(fringewatch::Error::parameter(
                    "from-width",
                    format!(
                        "{from_width} is not narrower than the model's width {}",
                        metadata.width
                    ),
                ));
            }
            let wide = yolov3::build_graph(metadata.config());
            let narrow = yolov3::build_graph(metadata.config().with_width(from_width));
            let weights = onnx::read_conv_weights(&model, &wide)?;
            let g = widen::growth(&narrow, &wide, &weights)
                .map_err(|e| fringewatch::Error::bad_input(&model, e.to_string()))?;
            if g.new_channels == 0 {
                return Err(fringewatch::Error::parameter(
                    "from-width",
                    format!(
                        "{from_width} gives the same channels as the model's width {}",
                        metadata.width
                    ),
                ));
            }
            println!(
                "{}: width {from_width} → {}: the {} old channels read {:.2} % of their squared weight \
                 from the {} new ones (Σw² {:.1} of {:.1}); the new channels read Σw² {:.1}",
                model.display(),
                metadata.width,
                g.old_channels,
                100.0 * g.share_read_from_new(),
                g.new_channels,
                g.old_from_new,
                g.old_from_old + g.old_from_new,
                g.new_reads
            );
            Ok(())
        }
        ModelCommand::Soup {
            models,
            shares,
            dataset,
            name,
            out,
        } => {
            use fringewatch::dataset::evaluate::{evaluate_split, Split, SplitScoring};
            use fringewatch::engine::tract::TractEngine;

            let bar = super::Bar::new(quiet, "validate");
            let validation = std::cell::Cell::new(None);
            let soup = fringewatch::model::soup::write_soup(
                &models,
                shares.as_deref(),
                &out,
                &name,
                &|candidate| {
                    let engine = TractEngine::load(candidate, 8)?;
                    let e = evaluate_split(
                        &dataset,
                        Split::Validation,
                        &engine,
                        &SplitScoring::default(),
                        &bar,
                    )?;
                    validation.set(Some(e.map_voc));
                    Ok(e.confidence)
                },
            )?;
            bar.done();
            println!(
                "{}: {} = {}; on {}'s validation split mAP@0.5 {:.3} per class, recommended \
                 confidence {:.3} (best F1)",
                out.display(),
                soup.metadata.name,
                models
                    .iter()
                    .zip(&soup.shares)
                    .map(|(m, s)| format!("{s:.3} × {}", m.display()))
                    .collect::<Vec<_>>()
                    .join(" + "),
                dataset.display(),
                validation.get().unwrap_or_default(),
                soup.metadata.recommended_confidence.unwrap_or_default(),
            );
            Ok(())
        }
    }
}
