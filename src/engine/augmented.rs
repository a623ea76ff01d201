//! Test-time augmentation: an engine that runs each batch under the symmetries the detector was
//! trained with and averages the heads, mapped back onto the original tile.
//!
//! Nothing in an interferogram fixes the sign of the phase (processors differ in which
//! acquisition is the reference: φ and −φ show the same slide), and the trainer mirrors tiles
//! both ways ([`crate::model::phase_input::rereference_phase`], `train::data`). A head computed on
//! a transformed tile is brought back before averaging: mirroring the columns maps grid cell gx
//! to G − 1 − gx and the cell offset σ(tx) to 1 − σ(tx) (so x → T − x); rows likewise with ty.
//! Offsets, objectness and class scores are averaged as probabilities, the log-sizes tw, th as
//! they are; the mean goes back to logits so that decoding is unchanged. Each symmetry costs one
//! more pass of the network.

use ndarray::{s, Array4, ArrayView4, Axis};

use super::Engine;
use crate::error::Result;
use crate::model::contract::ModelMetadata;
use crate::model::decode::{decode_batch, sigmoid, Detection};
use crate::model::phase_input::rereference_phase;

/// Which transformed copies of each tile the detector also sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestTimeAugmentation {
    /// The tile as it is (one pass).
    #[default]
    Off,
    /// The tile and its conjugate φ → −φ (two passes).
    Sign,
    /// The tile mirrored left–right, top–bottom and both ways (four passes).
    Mirrors,
    /// Both signs, each mirrored left–right, top–bottom and both ways (eight passes).
    SignAndMirrors,
}

impl TestTimeAugmentation {
    /// The symmetries averaged, the identity first.
    pub fn symmetries(self) -> Vec<Symmetry> {
        use TestTimeAugmentation::*;
        let signs: &[bool] = match self {
            Off | Mirrors => &[false],
            Sign | SignAndMirrors => &[false, true],
        };
        let mirrors: &[(bool, bool)] = match self {
            Off | Sign => &[(false, false)],
            Mirrors | SignAndMirrors => {
                &[(false, false), (true, false), (false, true), (true, true)]
            }
        };
        signs
            .iter()
            .flat_map(|&conjugate| {
                mirrors
                    .iter()
                    .map(move |&(mirror_columns, mirror_rows)| Symmetry {
                        conjugate,
                        mirror_columns,
                        mirror_rows,
                    })
            })
            .collect()
    }
}

/// One symmetry of a tile: the phase's sign and mirrors of its two axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symmetry {
    pub conjugate: bool,
    pub mirror_columns: bool,
    pub mirror_rows: bool,
}

impl Symmetry {
    /// The transformed copy of a normalised batch `[N, 3, T, T]` (channel 0 the phase).
    pub fn apply(&self, batch: ArrayView4<f32>, metadata: &ModelMetadata) -> Array4<f32> {
        let mut out = batch.to_owned();
        if self.conjugate {
            if let Some(norm) = metadata.channels.first() {
                for mut tile in out.axis_iter_mut(Axis(0)) {
                    rereference_phase(tile.index_axis_mut(Axis(0), 0), norm, 0.0, true);
                }
            }
        }
        mirror(&mut out, self.mirror_columns, self.mirror_rows);
        out.as_standard_layout().into_owned()
    }

    /// A head `[N, 3 (5 + C), G, G]` computed on the transformed tile, brought back onto the
    /// original tile (the sign needs nothing: the geometry is the same).
    pub fn restore(&self, mut head: Array4<f32>, classes: usize) -> Array4<f32> {
        mirror(&mut head, self.mirror_columns, self.mirror_rows);
        let per_anchor = 5 + classes;
        let anchors = head.dim().1 / per_anchor;
        for a in 0..anchors {
            if self.mirror_columns {
                head.slice_mut(s![.., a * per_anchor, .., ..])
                    .mapv_inplace(|tx| -tx);
            }
            if self.mirror_rows {
                head.slice_mut(s![.., a * per_anchor + 1, .., ..])
                    .mapv_inplace(|ty| -ty);
            }
        }
        head.as_standard_layout().into_owned()
    }
}

/// Mirror the last axis (columns) and the one before it (rows) of a 4-D array in place.
fn mirror(array: &mut Array4<f32>, columns: bool, rows: bool) {
    if columns {
        array.invert_axis(Axis(3));
    }
    if rows {
        array.invert_axis(Axis(2));
    }
}

/// An engine that averages another engine's heads over [`TestTimeAugmentation`]'s symmetries
/// ([`TestTimeAugmentation::Off`]: the engine itself, its own decoding included).
pub struct Augmented<'a> {
    inner: &'a dyn Engine,
    symmetries: Vec<Symmetry>,
}

impl<'a> Augmented<'a> {
    pub fn new(inner: &'a dyn Engine, augmentation: TestTimeAugmentation) -> Augmented<'a> {
        Augmented {
            inner,
            symmetries: augmentation.symmetries(),
        }
    }
}

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

impl Engine for Augmented<'_> {
    fn name(&self) -> String {
        match self.symmetries.len() {
            1 => self.inner.name(),
            n => format!(
                "{}, averaged over {n} symmetries of each tile",
                self.inner.name()
            ),
        }
    }

    fn metadata(&self) -> &ModelMetadata {
        self.inner.metadata()
    }

    fn infer(&self, batch: ArrayView4<f32>) -> Result<[Array4<f32>; 3]> {
        if self.symmetries.len() == 1 {
            return self.inner.infer(batch);
        }
        let metadata = self.inner.metadata();
        let classes = metadata.classes.len();
        let per_anchor = 5 + classes;
        let mut sums: Option<[Array4<f32>; 3]> = None;
        for symmetry in &self.symmetries {
            let heads = self.inner.infer(symmetry.apply(batch, metadata).view())?;
            let mut restored = heads.map(|h| symmetry.restore(h, classes));
            // offsets, objectness and classes are averaged as probabilities
            for head in restored.iter_mut() {
                for (c, mut channel) in head.axis_iter_mut(Axis(1)).enumerate() {
                    if !matches!(c % per_anchor, 2 | 3) {
                        channel.mapv_inplace(sigmoid);
                    }
                }
            }
            match sums.as_mut() {
                None => sums = Some(restored),
                Some(sums) => {
                    for (sum, head) in sums.iter_mut().zip(restored.iter()) {
                        *sum += head;
                    }
                }
            }
        }
        let n = self.symmetries.len() as f32;
        let Some(mut means) = sums else {
            return self.inner.infer(batch);
        };
        for head in means.iter_mut() {
            for (c, mut channel) in head.axis_iter_mut(Axis(1)).enumerate() {
                if matches!(c % per_anchor, 2 | 3) {
                    channel.mapv_inplace(|v| v / n);
                } else {
                    channel.mapv_inplace(|v| logit(v / n));
                }
            }
        }
        Ok(means)
    }

    fn candidates(&self, batch: ArrayView4<f32>, confidence: f32) -> Result<Vec<Vec<Detection>>> {
        if self.symmetries.len() == 1 {
            return self.inner.candidates(batch, confidence);
        }
        Ok(decode_batch(
            &self.infer(batch)?,
            self.metadata(),
            confidence,
        ))
    }

    fn preferred_batch(&self) -> usize {
        self.inner.preferred_batch()
    }
}
