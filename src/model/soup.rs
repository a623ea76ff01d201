//! Weight averaging of models fine-tuned from one start, a "model soup" (Wortsman et al. 2022,
//! ICML, "Model soups: averaging weights of multiple fine-tuned models improves accuracy without
//! increasing inference time"): θ = Σᵢ sᵢ·θᵢ with Σᵢ sᵢ = 1, on every kernel and bias. Networks
//! fine-tuned from the same start stay in one basin of the loss, so their average is a working
//! network of the same size and speed, and it often holds better on data none of them was
//! trained on than any one of them. Members from different starts do not average into a network
//! (their channels need not correspond): nothing here can tell, the held-out scores do.
//!
//! The average is taken over the folded kernels and biases (batch-norm folded in, as the model
//! files hold them).

use std::path::{Path, PathBuf};

use super::contract::ModelMetadata;
use super::onnx::{read_conv_weights, read_model, to_onnx, write_onnx};
use super::yolov3::{build_graph, ConvWeights, Graph};
use crate::error::{Error, Result};

/// The members' kernels and biases (one weight set per conv of `graph` each, folded or not)
/// averaged with `shares`: θ = Σᵢ sᵢ·θᵢ / Σᵢ sᵢ, folded (no batch-norm). Shares must be positive
/// and finite, one per member; they need not sum to 1.
///
/// ```
/// use fringewatch::model::soup::average;
/// use fringewatch::model::yolov3::{build_graph, random_weights, Architecture, Yolov3Config};
///
/// let graph = build_graph(Yolov3Config::of(Architecture::Compact, 4));
/// let (a, b) = (random_weights(&graph, 1), random_weights(&graph, 2));
/// let soup = average(&graph, &[a.clone(), b.clone()], &[1.0, 1.0]).unwrap();
/// let c = graph.convs().next().unwrap().out_channels;
/// let (ka, kb) = (a[0].folded(c).0, b[0].folded(c).0);
/// assert!((soup[0].weight[0] - 0.5 * (ka[0] + kb[0])).abs() < 1e-6);
/// ```
pub fn average(
    graph: &Graph,
    members: &[Vec<ConvWeights>],
    shares: &[f64],
) -> Result<Vec<ConvWeights>> {
    let shares = normalised_shares(members.len(), shares)?;
    let convs: Vec<_> = graph.convs().collect();
    for (i, m) in members.iter().enumerate() {
        if m.len() != convs.len() {
            return Err(Error::parameter(
                "models",
                format!(
                    "model {} has {} weight sets for {} convs",
                    i + 1,
                    m.len(),
                    convs.len()
                ),
            ));
        }
    }
    convs
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let expected = c.out_channels * c.in_channels * c.kernel * c.kernel;
            let mut weight = vec![0.0f64; expected];
            let mut bias = vec![0.0f64; c.out_channels];
            for (i, (m, share)) in members.iter().zip(&shares).enumerate() {
                let (w, b) = m[k].folded(c.out_channels);
                if w.len() != expected || b.len() != c.out_channels {
                    return Err(Error::parameter(
                        "models",
                        format!(
                            "{}: model {} has {} kernel values and {} biases, the graph {expected} and {}",
                            c.name,
                            i + 1,
                            w.len(),
                            b.len(),
                            c.out_channels
                        ),
                    ));
                }
                let s = *share;
                for (acc, v) in weight.iter_mut().zip(&w) {
                    *acc += s * f64::from(*v);
                }
                for (acc, v) in bias.iter_mut().zip(&b) {
                    *acc += s * f64::from(*v);
                }
            }
            Ok(ConvWeights {
                weight: weight.into_iter().map(|v| v as f32).collect(),
                bias: Some(bias.into_iter().map(|v| v as f32).collect()),
                batch_norm: None,
            })
        })
        .collect()
}

/// `shares` of `members` models checked (two or more models, one positive, finite share each)
/// and normalised to sum 1.
///
/// ```
/// use fringewatch::model::soup::normalised_shares;
/// assert_eq!(normalised_shares(2, &[3.0, 1.0]).unwrap(), vec![0.75, 0.25]);
/// assert!(normalised_shares(2, &[1.0, 0.0]).is_err());
/// ```
pub fn normalised_shares(members: usize, shares: &[f64]) -> Result<Vec<f64>> {
    if members < 2 {
        return Err(Error::parameter(
            "models",
            format!("{members} model(s); a soup averages two or more"),
        ));
    }
    if shares.len() != members {
        return Err(Error::parameter(
            "shares",
            format!("{} shares for {members} models", shares.len()),
        ));
    }
    if let Some(s) = shares.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(Error::parameter(
            "shares",
            format!("{s} is not a positive share"),
        ));
    }
    let total: f64 = shares.iter().sum();
    Ok(shares.iter().map(|s| s / total).collect())
}

/// Why two models' weights do not mean the same thing, so that averaging them makes no
/// network: a different graph (width, depth, classes, phase input, tile), anchors or input
/// normalisation. `None` when they agree.
pub fn disagreement(a: &ModelMetadata, b: &ModelMetadata) -> Option<String> {
    if a.config() != b.config() {
        let (x, y) = (a.config(), b.config());
        return Some(format!(
            "different networks (width {} depth {}, {} classes, {:?} phase input against width {} depth {}, {} classes, {:?} phase input)",
            x.width, x.depth, x.classes, x.phase_input, y.width, y.depth, y.classes, y.phase_input
        ));
    }
    if a.classes != b.classes {
        return Some(format!("classes {:?} against {:?}", a.classes, b.classes));
    }
    if a.tile != b.tile {
        return Some(format!("tiles of {} px against {} px", a.tile, b.tile));
    }
    if a.anchors != b.anchors {
        return Some("other anchors (a soup needs members fine-tuned from one start)".into());
    }
    if a.channels != b.channels {
        return Some(
            "another input normalisation (a soup needs members fine-tuned from one start)".into(),
        );
    }
    None
}

/// What [`write_soup`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Soup {
    /// The soup's metadata as written (its recommended confidence measured by the caller).
    pub metadata: ModelMetadata,
    /// The members' shares, normalised to sum 1, in the members' order.
    pub shares: Vec<f64>,
}

/// Average the model files `members` with `shares` (see [`average`]; `None`: equal shares) and
/// write the soup to `out` atomically. `operating_point` is given the soup, written to a hidden
/// file beside `out`, and returns the confidence to recommend with it (e.g. the best-F1 threshold
/// on a validation split, measured with an inference engine, which this layer does not know);
/// the members' own thresholds say nothing of the soup's. Refused before anything is written:
/// fewer than two members, members whose weights mean different things ([`disagreement`]), a
/// bad share, an `out` that is one of the members.
pub fn write_soup(
    members: &[PathBuf],
    shares: Option<&[f64]>,
    out: &Path,
    name: &str,
    operating_point: &dyn Fn(&Path) -> Result<f64>,
) -> Result<Soup> {
    let inputs: Vec<&Path> = members.iter().map(PathBuf::as_path).collect();
    crate::raster::io::check_not_an_input(out, &inputs)?;
    crate::raster::io::check_output_path(out)?;
    let equal = vec![1.0; members.len()];
    let shares = normalised_shares(members.len(), shares.unwrap_or(&equal))?;
    let mut metadata: Vec<ModelMetadata> = Vec::with_capacity(members.len());
    for path in members {
        let (_, m) = read_model(path)?;
        if let Some(problem) = metadata.first().and_then(|first| disagreement(first, &m)) {
            return Err(Error::Incompatible {
                first: members[0].clone(),
                second: path.clone(),
                problem,
            });
        }
        metadata.push(m);
    }
    let graph = build_graph(metadata[0].config());
    let weights = members
        .iter()
        .map(|p| read_conv_weights(p, &graph))
        .collect::<Result<Vec<_>>>()?;
    let soup = average(&graph, &weights, &shares)?;

    let mut named = Vec::with_capacity(members.len());
    for (path, m) in members.iter().zip(&metadata) {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        named.push(format!(
            "{} ({file}, SHA-256 {})",
            m.name,
            super::sha256_of(path)?
        ));
    }
    let mut soup_metadata = metadata[0].clone();
    soup_metadata.name = name.to_string();
    soup_metadata.recommended_confidence = None;
    soup_metadata.provenance.trained = true;
    soup_metadata.provenance.source = format!(
        "weight average (model soup) of {} with shares {}",
        named.join(", "),
        shares
            .iter()
            .map(|s| format!("{s:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut datasets: Vec<String> = Vec::new();
    for d in metadata.iter().filter_map(|m| m.provenance.dataset.clone()) {
        if !datasets.contains(&d) {
            datasets.push(d);
        }
    }
    soup_metadata.provenance.dataset = (!datasets.is_empty()).then(|| datasets.join("; "));
    soup_metadata.provenance.epochs = None;
    soup_metadata.provenance.created = chrono::Utc::now().to_rfc3339();

    crate::raster::io::remove_stale_partials(out, "onnx");
    let candidate = crate::raster::io::partial_path(out, "onnx");
    write_onnx(&to_onnx(&graph, &soup, &soup_metadata)?, &candidate)?;
    let written = operating_point(&candidate).and_then(|confidence| {
        soup_metadata.recommended_confidence = Some(confidence);
        write_onnx(&to_onnx(&graph, &soup, &soup_metadata)?, out)
    });
    let _ = std::fs::remove_file(&candidate);
    written?;
    Ok(Soup {
        metadata: soup_metadata,
        shares,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::yolov3::{random_weights, Architecture, Yolov3Config};

    /// A soup of one network with itself is that network, folded (the random weights carry
    /// batch-norm, so the folding is exercised), whatever the shares.
    #[test]
    fn a_network_averaged_with_itself_is_itself_folded() {
        let graph = build_graph(Yolov3Config::of(Architecture::Compact, 4));
        let w = random_weights(&graph, 5);
        assert!(w.iter().any(|c| c.batch_norm.is_some()));
        let soup = average(&graph, &[w.clone(), w.clone()], &[1.0, 3.0]).unwrap();
        for ((c, original), averaged) in graph.convs().zip(&w).zip(&soup) {
            let (kernel, bias) = original.folded(c.out_channels);
            assert!(averaged.batch_norm.is_none());
            let pairs = kernel.iter().zip(&averaged.weight);
            for (x, y) in pairs.chain(bias.iter().zip(averaged.bias.iter().flatten())) {
                assert!(
                    (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                    "{}: {x} {y}",
                    c.name
                );
            }
        }
        for (shares, refusal) in [
            (vec![1.0, f64::NAN], "NaN is not a positive share"),
            (vec![1.0], "1 shares for 2 models"),
        ] {
            let err = average(&graph, &[w.clone(), w.clone()], &shares).unwrap_err();
            assert!(err.to_string().contains(refusal), "{err}");
        }
        let err = average(&graph, std::slice::from_ref(&w), &[1.0]).unwrap_err();
        assert!(
            err.to_string().contains("a soup averages two or more"),
            "{err}"
        );
    }
}
