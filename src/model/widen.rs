//! A trained network carried onto a wider graph of the same depth with its function kept: every
//! old channel keeps its place and weights, each new channel gets fresh random input weights
//! and (by default) a zero weight into every later conv, so the wider network computes exactly
//! what the narrow one did and training grows the new channels from there (function-preserving
//! widening, as Chen, Goodfellow & Shlens 2016, "Net2Net", with zero outgoing weights in place
//! of their replicated channels: copies stay copies under Adam, whose step does not see a
//! gradient's scale).
//!
//! The weights out of the new channels may instead start at a fraction of a fresh random draw
//! (`outgoing` > 0): the function then changes, more as `outgoing` grows, and the new channels'
//! input weights get a gradient from the first step. With zero outgoing weights that gradient is
//! near zero for a long time, and Adam's weight decay (an L2 term added to the gradient, which
//! Adam normalises into steps of about the learning rate) shrinks them instead: measured on v16
//! and v16b (models/README.md).

use std::collections::HashMap;

use super::yolov3::{random_weights, ConvWeights, Graph, Node};
use crate::error::{Error, Result};

/// The weights of `narrow` (folded or not, one per conv of `narrow`) carried onto `wide`, folded
/// (kernel and bias, no batch-norm); `seed` draws the new channels' input weights as
/// [`random_weights`] does. What an old channel reads from a new one is `outgoing` times such a
/// draw (N(0, 1/fan-in) of the wide conv, times its random batch-norm's γ/√(σ² + ε) once
/// folded): 0 keeps `narrow`'s function exactly, and the start moves further from it as
/// `outgoing` grows (on v10 at width 0.33, validation loss 27.3 at 0, 29.9 at 0.1, 39.0 at
/// 0.25: models/README.md). `outgoing` must lie in [0, 1].
///
/// `wide` must be `narrow`'s graph with every tensor at least as wide: the same depth, classes
/// and phase input.
///
/// ```
/// use fringewatch::model::widen::widen;
/// use fringewatch::model::yolov3::{build_graph, random_weights, Architecture, Yolov3Config};
///
/// let compact = Yolov3Config::of(Architecture::Compact, 4);
/// let narrow = build_graph(compact);
/// let wide = build_graph(compact.with_width(0.33));
/// let weights = widen(&narrow, &wide, &random_weights(&narrow, 1), 2, 0.0).unwrap();
/// assert_eq!(weights.len(), wide.convs().count());
/// ```
pub fn widen(
    narrow: &Graph,
    wide: &Graph,
    weights: &[ConvWeights],
    seed: u64,
    outgoing: f32,
) -> Result<Vec<ConvWeights>> {
    if !(0.0..=1.0).contains(&outgoing) {
        return Err(Error::parameter(
            "widen-outgoing",
            format!("{outgoing} is not a share of a fresh draw in [0, 1]"),
        ));
    }
    check_widening(narrow, wide)?;
    let narrow_convs: Vec<_> = narrow.convs().collect();
    let wide_convs: Vec<_> = wide.convs().collect();
    if narrow_convs.len() != weights.len() {
        return Err(Error::parameter(
            "width",
            format!("{} weights for {} convs", weights.len(), narrow_convs.len()),
        ));
    }
    let places = old_channel_places(narrow, wide)?;

    let fresh = random_weights(wide, seed);
    narrow_convs
        .iter()
        .zip(&wide_convs)
        .zip(weights.iter().zip(fresh))
        .map(|((old, new), (old_weights, fresh))| {
            let (old_kernel, old_bias) = old_weights.folded(old.out_channels);
            let (mut kernel, mut bias) = fresh.folded(new.out_channels);
            let taps = old.kernel * old.kernel;
            let inputs = place_of(&places, &old.input)?;
            for o in 0..old.out_channels {
                let row = &mut kernel[o * new.in_channels * taps..][..new.in_channels * taps];
                // the fresh draw, scaled, where the row reads new channels; old ones below
                row.iter_mut().for_each(|v| *v *= outgoing);
                for (i, &place) in inputs.iter().enumerate() {
                    row[place * taps..][..taps]
                        .copy_from_slice(&old_kernel[(o * old.in_channels + i) * taps..][..taps]);
                }
                bias[o] = old_bias[o];
            }
            Ok(ConvWeights {
                weight: kernel,
                bias: Some(bias),
                batch_norm: None,
            })
        })
        .collect()
}

/// Whether `wide` is `narrow` with every tensor at least as wide: the same depth, classes,
/// phase input and convs, each conv reading and making at least the channels it did (the
/// heads, without batch-norm, exactly as many).
fn check_widening(narrow: &Graph, wide: &Graph) -> Result<()> {
    let (from, to) = (&narrow.config, &wide.config);
    if from.depth != to.depth || from.classes != to.classes || from.phase_input != to.phase_input {
        return Err(Error::parameter(
            "width",
            format!(
                "only the width can grow: depth {} → {}, {} → {} classes, {:?} → {:?} phase input",
                from.depth, to.depth, from.classes, to.classes, from.phase_input, to.phase_input
            ),
        ));
    }
    if narrow.convs().count() != wide.convs().count() {
        return Err(Error::parameter(
            "width",
            format!(
                "{} convs cannot become {}",
                narrow.convs().count(),
                wide.convs().count()
            ),
        ));
    }
    for (old, new) in narrow.convs().zip(wide.convs()) {
        let grows = new.out_channels >= old.out_channels
            && new.in_channels >= old.in_channels
            && new.kernel == old.kernel
            && new.stride == old.stride
            && new.batch_norm == old.batch_norm;
        if !grows || (!old.batch_norm && new.out_channels != old.out_channels) {
            return Err(Error::parameter(
                "width",
                format!(
                    "{}: {}→{} channels cannot become {}→{}",
                    old.name, old.in_channels, old.out_channels, new.in_channels, new.out_channels
                ),
            ));
        }
    }
    Ok(())
}

/// How much a widened network uses its new channels: squared folded weights (Σ w², kernels
/// only) split by who reads whom. `narrow` is the network it was widened from (its old
/// channels are the first ones of each conv's output, as [`widen`] places them).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Growth {
    /// What old channels read from old channels.
    pub old_from_old: f64,
    /// What old channels read from new channels: 0 after [`widen`] with `outgoing` 0.
    pub old_from_new: f64,
    /// What new channels read (from any channel).
    pub new_reads: f64,
    /// Old output channels over all convs.
    pub old_channels: usize,
    /// New output channels over all convs.
    pub new_channels: usize,
}

impl Growth {
    /// Share of the old channels' squared weight that they read from new channels.
    pub fn share_read_from_new(&self) -> f64 {
        self.old_from_new / (self.old_from_old + self.old_from_new).max(f64::MIN_POSITIVE)
    }
}

/// [`Growth`] of `weights` (one per conv of `wide`, folded or not), `wide` being `narrow`
/// widened.
///
/// ```
/// use fringewatch::model::widen::{growth, widen};
/// use fringewatch::model::yolov3::{build_graph, random_weights, Architecture, Yolov3Config};
///
/// let compact = Yolov3Config::of(Architecture::Compact, 4);
/// let (narrow, wide) = (build_graph(compact), build_graph(compact.with_width(0.33)));
/// let weights = widen(&narrow, &wide, &random_weights(&narrow, 1), 2, 0.0).unwrap();
/// assert_eq!(growth(&narrow, &wide, &weights).unwrap().share_read_from_new(), 0.0);
/// ```
pub fn growth(narrow: &Graph, wide: &Graph, weights: &[ConvWeights]) -> Result<Growth> {
    check_widening(narrow, wide)?;
    let places = old_channel_places(narrow, wide)?;
    let wide_convs: Vec<_> = wide.convs().collect();
    if wide_convs.len() != weights.len() {
        return Err(Error::parameter(
            "width",
            format!("{} weights for {} convs", weights.len(), wide_convs.len()),
        ));
    }
    let mut g = Growth::default();
    for ((old, new), w) in narrow.convs().zip(&wide_convs).zip(weights) {
        let (kernel, _) = w.folded(new.out_channels);
        let taps = new.kernel * new.kernel;
        if kernel.len() != new.out_channels * new.in_channels * taps {
            return Err(Error::parameter(
                "width",
                format!(
                    "{}: weights do not fit {} channels",
                    new.name, new.in_channels
                ),
            ));
        }
        let mut reads_old = vec![false; new.in_channels];
        for &i in &place_of(&places, &old.input)? {
            reads_old[i] = true;
        }
        for (o, row) in kernel.chunks_exact(new.in_channels * taps).enumerate() {
            for (i, column) in row.chunks_exact(taps).enumerate() {
                let energy: f64 = column.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
                match (o < old.out_channels, reads_old[i]) {
                    (true, true) => g.old_from_old += energy,
                    (true, false) => g.old_from_new += energy,
                    (false, _) => g.new_reads += energy,
                }
            }
        }
        g.old_channels += old.out_channels;
        g.new_channels += new.out_channels - old.out_channels;
    }
    Ok(g)
}

/// Where each tensor's old channels lie among its channels in `wide` (`narrow` widened; the
/// input is never widened): concatenations place each part's old channels at that part's
/// offset in the wide tensor.
fn old_channel_places(narrow: &Graph, wide: &Graph) -> Result<HashMap<String, Vec<usize>>> {
    let mut places: HashMap<String, Vec<usize>> = HashMap::new();
    let input_channels = narrow.convs().next().map_or(0, |c| c.in_channels);
    places.insert(narrow.input.clone(), (0..input_channels).collect());
    for node in &narrow.nodes {
        let (output, place) = match node {
            Node::Conv(c) => (&c.output, (0..c.out_channels).collect()),
            Node::PhaseCosSin { output, .. } => (output, (0..4).collect()),
            Node::Upsample { input, output } => (output, place_of(&places, input)?),
            Node::Add { a, b, output } => {
                let place = place_of(&places, a)?;
                if place != place_of(&places, b)? {
                    return Err(Error::parameter(
                        "width",
                        format!("{a} and {b} are added but widen differently"),
                    ));
                }
                (output, place)
            }
            Node::Concat { inputs, output } => {
                let mut place = Vec::new();
                let mut offset = 0;
                for input in inputs {
                    place.extend(place_of(&places, input)?.iter().map(|p| p + offset));
                    offset += channels_of(wide, input)?;
                }
                (output, place)
            }
        };
        places.insert(output.clone(), place);
    }
    Ok(places)
}

fn place_of(places: &HashMap<String, Vec<usize>>, tensor: &str) -> Result<Vec<usize>> {
    places
        .get(tensor)
        .cloned()
        .ok_or_else(|| Error::parameter("width", format!("{tensor} is used before it is made")))
}

/// Channels of a tensor of `graph`: its producer's output channels (the concatenations' and
/// the cos/sin map's are never concatenated again).
fn channels_of(graph: &Graph, tensor: &str) -> Result<usize> {
    for node in &graph.nodes {
        match node {
            Node::Conv(c) if c.output == tensor => return Ok(c.out_channels),
            Node::Upsample { input, output } if output == tensor => {
                return channels_of(graph, input)
            }
            Node::Add { a, output, .. } if output == tensor => return channels_of(graph, a),
            _ => {}
        }
    }
    Err(Error::parameter(
        "width",
        format!("{tensor}: no conv, upsample or addition makes it"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::yolov3::{build_graph, Architecture, PhaseInput, Yolov3Config};

    fn compact() -> Yolov3Config {
        Yolov3Config::of(Architecture::Compact, 4).with_phase_input(PhaseInput::CosSin)
    }

    #[test]
    fn old_channels_keep_their_weights_and_new_inputs_weigh_nothing() {
        let narrow = build_graph(compact());
        let wide = build_graph(compact().with_width(0.33));
        // 4 bytes a parameter: the file stays under the model card's 20 MB
        assert!(
            wide.parameter_count() * 4 < 20_000_000,
            "{}",
            wide.parameter_count()
        );
        let old = random_weights(&narrow, 3);
        let new = widen(&narrow, &wide, &old, 4, 0.0).unwrap();
        for ((n, w), (o, nw)) in narrow.convs().zip(wide.convs()).zip(old.iter().zip(&new)) {
            let (old_kernel, old_bias) = o.folded(n.out_channels);
            let taps = n.kernel * n.kernel;
            // the first conv's input and every conv's first old output keep their weights
            assert_eq!(nw.bias.as_ref().unwrap()[0], old_bias[0], "{}", n.name);
            assert_eq!(nw.weight[..taps], old_kernel[..taps], "{}", n.name);
            assert_eq!(nw.weight.len(), w.out_channels * w.in_channels * taps);
            // what an old output reads of a new input channel is zero
            if w.in_channels > n.in_channels {
                let last_input = (w.in_channels - 1) * taps;
                assert!(nw.weight[last_input..][..taps].iter().all(|&v| v == 0.0));
            }
            // a new output channel has fresh, non-zero input weights
            if w.out_channels > n.out_channels {
                let last_row = (w.out_channels - 1) * w.in_channels * taps;
                assert!(nw.weight[last_row..].iter().any(|&v| v != 0.0));
            }
        }
    }

    #[test]
    fn only_the_width_may_grow() {
        let narrow = build_graph(compact());
        let weights = random_weights(&narrow, 3);
        let deeper = build_graph(Yolov3Config {
            depth: 0.5,
            ..compact()
        });
        let err = widen(&narrow, &deeper, &weights, 1, 0.0).unwrap_err();
        assert!(err.to_string().contains("only the width can grow"), "{err}");
        let narrower = build_graph(compact().with_width(0.125));
        let err = widen(&narrow, &narrower, &weights, 1, 0.0).unwrap_err();
        assert!(err.to_string().contains("cannot become"), "{err}");
    }

    #[test]
    fn outgoing_weights_are_a_share_of_the_fresh_draw() {
        let narrow = build_graph(compact());
        let wide = build_graph(compact().with_width(0.33));
        let old = random_weights(&narrow, 3);
        let kept = widen(&narrow, &wide, &old, 4, 0.0).unwrap();
        let grown = widen(&narrow, &wide, &old, 4, 0.25).unwrap();
        let fresh = random_weights(&wide, 4);
        let mut compared = 0;
        for ((n, w), ((k, g), f)) in narrow
            .convs()
            .zip(wide.convs())
            .zip(kept.iter().zip(&grown).zip(&fresh))
        {
            let taps = n.kernel * n.kernel;
            let (fresh_kernel, _) = f.folded(w.out_channels);
            // old output 0 reading the last (new) input channel
            if w.in_channels > n.in_channels {
                let at = (w.in_channels - 1) * taps;
                let share: Vec<f32> = fresh_kernel[at..][..taps]
                    .iter()
                    .map(|v| v * 0.25)
                    .collect();
                assert_eq!(g.weight[at..][..taps], share[..], "{}", n.name);
                assert!(share.iter().any(|&v| v != 0.0), "{}", n.name);
                compared += 1;
            }
            // old inputs of old outputs and every new output row are the same either way
            assert_eq!(g.weight[..taps], k.weight[..taps], "{}", n.name);
            if w.out_channels > n.out_channels {
                let last_row = (w.out_channels - 1) * w.in_channels * taps;
                assert_eq!(g.weight[last_row..], k.weight[last_row..], "{}", n.name);
            }
        }
        // 45 of the compact network's 47 convs read a widened input
        assert_eq!((compared, narrow.convs().count()), (45, 47));
        assert_eq!(
            growth(&narrow, &wide, &kept).unwrap().share_read_from_new(),
            0.0
        );
        let g = growth(&narrow, &wide, &grown).unwrap();
        // a fresh draw at a quarter, read over about a quarter of the inputs
        let share = g.share_read_from_new();
        assert!(share > 0.001 && share < 0.1, "{share}");
        assert!(g.new_reads > 0.0 && g.new_channels > 0 && g.old_channels > g.new_channels);
        assert_eq!(
            g.old_channels,
            narrow.convs().map(|c| c.out_channels).sum::<usize>()
        );
        let err = widen(&narrow, &wide, &old, 4, 1.5).unwrap_err();
        assert!(err.to_string().contains("[0, 1]"), "{err}");
    }
}
