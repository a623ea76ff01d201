//! The YOLOv3 loss (Redmon & Farhadi 2018), with the four terms the paper reports (METHOD.md §5,
//! Figure 5): box, objectness, no-object and class.
//!
//! Each truth box is assigned to the anchor (of nine) whose shape fits it best (IoU of centred
//! boxes) — and to every other anchor fitting it with IoU ≥ 0.35 — at the grid cell of its
//! centre at that anchor's stride. With head output
//! t = (tx, ty, tw, th, to, c₁…c_C) at that cell:
//! - box: (2 − wh/T²)·[(σ(tx) − x̂)² + (σ(ty) − ŷ)² + (tw − ln(w/w_a))² + (th − ln(h/h_a))²],
//!   x̂, ŷ the centre's offset in its cell (the decoder's inverse, [`crate::detect::decode`]);
//! - objectness: BCE(to, t_o), t_o = (1 − r) + r·IoU(decoded box, truth box) with the IoU taken
//!   as a constant (IoU-aware objectness: Wu, Li & Wang 2020, as YOLOv5 trains with r = 1);
//!   r = 0 is YOLOv3's t_o = 1 (the score then says whether something is there, not how well
//!   its box fits, so a poorly placed box can outrank a well placed one);
//! - class: Σ_k BCE(c_k, [k = class]) (independent sigmoids);
//! - no-object: BCE(to, 0) at every other anchor and cell, except those whose decoded box already
//!   overlaps a truth box with IoU > 0.5 (ignored, as in YOLOv3) and those whose decoded box
//!   overlaps a don't-care box ([`TileLabel::dont_care`]) with IoU > 0.5 or has its centre inside
//!   one (ignored as crowd and ignore regions are in pedestrian detection, Zhang et al. 2017,
//!   CityPersons §3): a don't-care box is never a positive, and no prediction on it is pushed
//!   towards background.
//!
//! Sums over cells, divided by the batch size. BCE(x, y) = max(x, 0) − x·y + ln(1 + e^−|x|).
//! The scalar minimised is box + objectness + no-object + g·class, g the class gain
//! ([`LossSettings::class_gain`], YOLOv5's `cls` hyper-parameter; 1 is YOLOv3's sum); the terms
//! are reported without it, so runs of any gain compare.

use burn::tensor::activation::sigmoid as sigmoid_t;
use burn::tensor::{Device, Tensor, TensorData};

use crate::dataset::TileLabel;
use crate::model::contract::Anchor;
use crate::model::decode::sigmoid;
use crate::model::yolov3::STRIDES;
use crate::tiling::{iou, PixelBox};

/// Predictions whose decoded box overlaps a truth box more than this are not pushed to "no
/// object".
pub const IGNORE_IOU: f64 = 0.5;

/// How the loss sets its objectness target and weighs its class term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossSettings {
    /// r of the objectness target (module doc), in [0, 1].
    pub objectness_iou: f64,
    /// g, the class term's weight in the scalar minimised (module doc), > 0.
    pub class_gain: f64,
}

impl Default for LossSettings {
    /// YOLOv3's loss: objectness target 1, the four terms summed.
    fn default() -> Self {
        LossSettings {
            objectness_iou: 0.0,
            class_gain: 1.0,
        }
    }
}

/// The four loss terms (per image).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossTerms {
    pub box_loss: f64,
    pub objectness: f64,
    pub no_object: f64,
    pub class: f64,
}

impl LossTerms {
    pub fn total(&self) -> f64 {
        self.box_loss + self.objectness + self.no_object + self.class
    }

    pub fn add(&mut self, other: &LossTerms, weight: f64) {
        self.box_loss += other.box_loss * weight;
        self.objectness += other.objectness * weight;
        self.no_object += other.no_object * weight;
        self.class += other.class * weight;
    }
}

/// An anchor whose shape overlaps a truth box at least this much (IoU of centred boxes) is also
/// responsible for it, besides the best-fitting one.
pub const MATCH_IOU: f64 = 0.35;

/// IoU of a `w`×`h` box and an anchor, both centred.
fn shape_iou(anchor: &Anchor, w: f64, h: f64) -> f64 {
    let inter = w.min(anchor.width) * h.min(anchor.height);
    inter / (w * h + anchor.width * anchor.height - inter)
}

/// Index of the anchor (of all nine) that best fits a `w`×`h` box, by IoU of centred boxes.
pub fn best_anchor(anchors: &[Anchor], w: f64, h: f64) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (k, a) in anchors.iter().enumerate() {
        let overlap = shape_iou(a, w, h);
        if overlap > best.1 {
            best = (k, overlap);
        }
    }
    best.0
}

/// The anchors (indices of all nine) responsible for a `w`×`h` box: the best-fitting one and
/// every other with shape IoU ≥ [`MATCH_IOU`] (several positives per box, as later YOLO versions
/// do, give the objectness term more to learn from than YOLOv3's single one).
pub fn responsible_anchors(anchors: &[Anchor], w: f64, h: f64) -> Vec<usize> {
    let best = best_anchor(anchors, w, h);
    (0..anchors.len())
        .filter(|&k| k == best || shape_iou(&anchors[k], w, h) >= MATCH_IOU)
        .collect()
}

/// Host-side targets of one head, each `[B, 3, G, G]` (class: `[B, 3, C, G, G]`).
struct HeadTargets {
    positive: Vec<f32>,
    no_object: Vec<f32>,
    x: Vec<f32>,
    y: Vec<f32>,
    w: Vec<f32>,
    h: Vec<f32>,
    scale: Vec<f32>,
    /// The objectness target t_o at responsible anchors (1 elsewhere, where it is not used).
    objectness: Vec<f32>,
    class: Vec<f32>,
}

/// Build the targets of head `head` from the labels and the current raw output (`raw`, the
/// head tensor's values `[B, 3·(5+C), G, G]`, used for the ignore rule).
/// Which head and its sizes.
#[derive(Clone, Copy)]
struct HeadShape {
    head: usize,
    batch: usize,
    grid: usize,
    classes: usize,
    tile: usize,
}

fn head_targets(
    shape: &HeadShape,
    raw: &[f32],
    anchors: &[Anchor],
    labels: &[Vec<TileLabel>],
    objectness_iou: f64,
) -> HeadTargets {
    let HeadShape {
        head,
        batch,
        grid,
        classes,
        tile,
    } = *shape;
    let cells = grid * grid;
    let n = batch * 3 * cells;
    let stride = STRIDES[head] as f64;
    let per_anchor = 5 + classes;
    let mut t = HeadTargets {
        positive: vec![0.0; n],
        no_object: vec![1.0; n],
        x: vec![0.0; n],
        y: vec![0.0; n],
        w: vec![0.0; n],
        h: vec![0.0; n],
        scale: vec![0.0; n],
        objectness: vec![1.0; n],
        class: vec![0.0; n * classes],
    };
    let at = |b: usize, a: usize, gy: usize, gx: usize| ((b * 3 + a) * grid + gy) * grid + gx;
    let raw_at = |b: usize, a: usize, k: usize, gy: usize, gx: usize| {
        raw[((b * 3 * per_anchor + a * per_anchor + k) * grid + gy) * grid + gx]
    };
    // The box the current output decodes to at image b, anchor a of this head, cell (gx, gy).
    let decoded = |b: usize, a: usize, gy: usize, gx: usize| {
        let anchor = &anchors[3 * head + a];
        let x = (f64::from(sigmoid(raw_at(b, a, 0, gy, gx))) + gx as f64) * stride;
        let y = (f64::from(sigmoid(raw_at(b, a, 1, gy, gx))) + gy as f64) * stride;
        let w = anchor.width * f64::from(raw_at(b, a, 2, gy, gx).clamp(-8.0, 8.0)).exp();
        let h = anchor.height * f64::from(raw_at(b, a, 3, gy, gx).clamp(-8.0, 8.0)).exp();
        [x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0]
    };
    for (b, image_labels) in labels.iter().enumerate().take(batch) {
        // Ignore rule: decoded boxes that already fit a truth box well, or point at a
        // don't-care box.
        if !image_labels.is_empty() {
            for a in 0..3 {
                for gy in 0..grid {
                    for gx in 0..grid {
                        let pred = decoded(b, a, gy, gx);
                        if image_labels.iter().any(|l| ignored_near(&pred, l)) {
                            t.no_object[at(b, a, gy, gx)] = 0.0;
                        }
                    }
                }
            }
        }
        for label in image_labels.iter().filter(|l| !l.dont_care) {
            let [x0, y0, x1, y1] = label.bbox;
            let (w, h) = ((x1 - x0).max(1.0), (y1 - y0).max(1.0));
            for k in responsible_anchors(anchors, w, h) {
                if k / 3 != head {
                    continue;
                }
                let a = k % 3;
                let (cx, cy) = ((x0 + x1) / 2.0 / stride, (y0 + y1) / 2.0 / stride);
                let gx = (cx.floor().max(0.0) as usize).min(grid - 1);
                let gy = (cy.floor().max(0.0) as usize).min(grid - 1);
                let i = at(b, a, gy, gx);
                t.positive[i] = 1.0;
                t.no_object[i] = 0.0;
                t.x[i] = (cx - gx as f64).clamp(0.0, 1.0) as f32;
                t.y[i] = (cy - gy as f64).clamp(0.0, 1.0) as f32;
                t.w[i] = (w / anchors[k].width).ln() as f32;
                t.h[i] = (h / anchors[k].height).ln() as f32;
                t.scale[i] = (2.0 - w * h / (tile * tile) as f64) as f32;
                if objectness_iou > 0.0 {
                    let fit = iou(&decoded(b, a, gy, gx), &label.bbox).clamp(0.0, 1.0);
                    t.objectness[i] = (1.0 - objectness_iou + objectness_iou * fit) as f32;
                }
                let class_at = |c: usize| (((b * 3 + a) * classes + c) * grid + gy) * grid + gx;
                for c in 0..classes {
                    t.class[class_at(c)] = if c == label.class { 1.0 } else { 0.0 };
                }
            }
        }
    }
    t
}

/// Whether the no-object term skips a prediction decoded to `pred` near `label`: its IoU with the
/// box exceeds [`IGNORE_IOU`], or the box is don't-care and holds the prediction's centre.
fn ignored_near(pred: &PixelBox, label: &TileLabel) -> bool {
    if iou(pred, &label.bbox) > IGNORE_IOU {
        return true;
    }
    let (x, y) = ((pred[0] + pred[2]) / 2.0, (pred[1] + pred[3]) / 2.0);
    let [x0, y0, x1, y1] = label.bbox;
    label.dont_care && (x0..=x1).contains(&x) && (y0..=y1).contains(&y)
}

/// BCE with logits, elementwise: max(x, 0) − x·y + ln(1 + e^−|x|).
fn bce_with_logits<const D: usize>(x: Tensor<D>, y: Tensor<D>) -> Tensor<D> {
    x.clone().clamp_min(0.0) - x.clone() * y + x.abs().neg().exp().log1p()
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The loss of a batch: the scalar to minimise (the terms summed, the class term times
/// `settings.class_gain`) and the terms' values.
pub fn yolo_loss(
    heads: &[Tensor<4>; 3],
    labels: &[Vec<TileLabel>],
    anchors: &[Anchor],
    classes: usize,
    tile: usize,
    settings: LossSettings,
) -> (Tensor<1>, LossTerms) {
    let device = heads[0].device();
    let batch = heads[0].dims()[0];
    let mut terms: [Option<Tensor<1>>; 4] = [None, None, None, None];
    for (h, head) in heads.iter().enumerate() {
        let [b, _, grid, _] = head.dims();
        let raw = super::network::to_vec(head.clone().detach()).unwrap_or_default();
        let shape = HeadShape {
            head: h,
            batch: b,
            grid,
            classes,
            tile,
        };
        let t = head_targets(&shape, &raw, anchors, labels, settings.objectness_iou);
        let p = head.clone().reshape([b, 3, 5 + classes, grid, grid]);
        let channel = |k: usize| p.clone().narrow(2, k, 1).reshape([b, 3, grid, grid]);
        let shape = [b, 3, grid, grid];
        let positive = tensor(t.positive, shape, &device);
        let scale = tensor(t.scale, shape, &device) * positive.clone();
        let square = |x: Tensor<4>, target: Vec<f32>| {
            let d = x - tensor(target, shape, &device);
            d.clone() * d
        };
        let box_sum = (square(sigmoid_t(channel(0)), t.x)
            + square(sigmoid_t(channel(1)), t.y)
            + square(channel(2), t.w)
            + square(channel(3), t.h))
            * scale;
        let objectness = channel(4);
        let zeros = Tensor::<4>::zeros(shape, &device);
        let obj_target = tensor(t.objectness, shape, &device);
        let obj = bce_with_logits(objectness.clone(), obj_target) * positive.clone();
        let noobj = bce_with_logits(objectness, zeros) * tensor(t.no_object, shape, &device);
        let class_logits = p.narrow(2, 5, classes);
        let class_target = tensor(t.class, [b, 3, classes, grid, grid], &device);
        let class_mask = positive.reshape([b, 3, 1, grid, grid]);
        let cls = bce_with_logits(class_logits, class_target) * class_mask;
        for (slot, value) in
            terms
                .iter_mut()
                .zip([box_sum.sum(), obj.sum(), noobj.sum(), cls.sum()])
        {
            *slot = Some(match slot.take() {
                Some(s) => s + value,
                None => value,
            });
        }
    }
    let norm = 1.0 / batch.max(1) as f64;
    let [box_loss, obj, noobj, cls] = terms.map(|t| t.expect("three heads").mul_scalar(norm));
    let value = |t: &Tensor<1>| f64::from(t.clone().detach().into_scalar::<f32>());
    let values = LossTerms {
        box_loss: value(&box_loss),
        objectness: value(&obj),
        no_object: value(&noobj),
        class: value(&cls),
    };
    (
        box_loss + obj + noobj + cls.mul_scalar(settings.class_gain),
        values,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::decode::decode;
    use crate::model::contract::{default_anchors, default_channels, ModelMetadata, Provenance};
    use crate::model::phase_input::PhaseInput;

    fn logit(p: f32) -> f32 {
        (p / (1.0 - p)).ln()
    }

    /// Head outputs built from the targets (the loss's zero point) decode to the labelled box,
    /// and the loss there is ~0: targets and decoder agree on layout and parametrisation.
    #[test]
    fn the_loss_zero_point_decodes_to_the_labelled_box() {
        let tile = 160;
        let anchors = default_anchors(tile);
        let classes = 4;
        let label = TileLabel::new(2, [50.0, 61.0, 80.0, 83.0]);
        let labels = vec![vec![], vec![label]];
        let device = Device::flex();
        let per_anchor = 5 + classes;
        let mut heads = Vec::new();
        for (h, stride) in STRIDES.iter().enumerate() {
            let grid = tile / stride;
            let shape = HeadShape {
                head: h,
                batch: 2,
                grid,
                classes,
                tile,
            };
            let n = 2 * 3 * per_anchor * grid * grid;
            let raw = vec![0.0f32; n];
            let t = head_targets(&shape, &raw, &anchors, &labels, 0.0);
            let mut values = vec![0.0f32; n];
            for b in 0..2 {
                for a in 0..3 {
                    for gy in 0..grid {
                        for gx in 0..grid {
                            let i = ((b * 3 + a) * grid + gy) * grid + gx;
                            let at = |k: usize| {
                                ((b * 3 * per_anchor + a * per_anchor + k) * grid + gy) * grid + gx
                            };
                            if t.positive[i] > 0.0 {
                                values[at(0)] = logit(t.x[i].clamp(1e-4, 1.0 - 1e-4));
                                values[at(1)] = logit(t.y[i].clamp(1e-4, 1.0 - 1e-4));
                                values[at(2)] = t.w[i];
                                values[at(3)] = t.h[i];
                                values[at(4)] = 30.0;
                                for c in 0..classes {
                                    values[at(5 + c)] = if c == 2 { 30.0 } else { -30.0 };
                                }
                            } else {
                                values[at(4)] = -30.0;
                                for c in 0..classes {
                                    values[at(5 + c)] = -30.0;
                                }
                            }
                        }
                    }
                }
            }
            heads.push(Tensor::<4>::from_data(
                TensorData::new(values, [2, 3 * per_anchor, grid, grid]),
                &device,
            ));
        }
        let heads: [Tensor<4>; 3] = [heads[0].clone(), heads[1].clone(), heads[2].clone()];
        let (_, terms) = yolo_loss(
            &heads,
            &labels,
            &anchors,
            classes,
            tile,
            LossSettings::default(),
        );
        assert!(terms.total() < 1e-6, "{terms:?}");
        // Decode with the production decoder.
        let metadata = ModelMetadata {
            format_version: crate::model::contract::FORMAT_VERSION,
            name: "test".into(),
            classes: ["AR", "CF", "CS", "FS"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            anchors: anchors.clone(),
            channels: default_channels(PhaseInput::Scaled),
            phase_input: PhaseInput::Scaled,
            tile,
            width: 0.25,
            depth: 0.33,
            provenance: Provenance {
                trained: false,
                source: String::new(),
                dataset: None,
                epochs: None,
                created: String::new(),
                note: String::new(),
            },
            recommended_confidence: None,
        };
        let arrays: Vec<ndarray::Array4<f32>> = heads
            .iter()
            .map(|h| {
                let d = h.dims();
                ndarray::Array4::from_shape_vec(
                    (d[0], d[1], d[2], d[3]),
                    crate::train::network::to_vec(h.clone()).unwrap(),
                )
                .unwrap()
            })
            .collect();
        let views = [arrays[0].view(), arrays[1].view(), arrays[2].view()];
        assert!(decode(&views, 0, &metadata, 0.5).is_empty());
        let found = decode(&views, 1, &metadata, 0.5);
        assert!(!found.is_empty());
        for d in &found {
            assert_eq!(d.class, 2);
            for k in 0..4 {
                assert!((d.bbox[k] - label.bbox[k]).abs() < 0.05, "{:?}", d.bbox);
            }
        }
        // A second anchor shares the box (IoU ≥ MATCH_IOU) for this shape.
        assert_eq!(found.len(), responsible_anchors(&anchors, 30.0, 22.0).len());
    }

    /// The targets of head `head` for one image of four classes whose output is all zero: every
    /// prediction its anchor's own shape, centred on its cell.
    fn targets_at_rest(
        head: usize,
        tile: usize,
        anchors: &[Anchor],
        labels: &[Vec<TileLabel>],
        objectness_iou: f64,
    ) -> HeadTargets {
        let (classes, grid) = (4, tile / STRIDES[head]);
        let shape = HeadShape {
            head,
            batch: 1,
            grid,
            classes,
            tile,
        };
        let raw = vec![0.0f32; 3 * (5 + classes) * grid * grid];
        head_targets(&shape, &raw, anchors, labels, objectness_iou)
    }

    /// The class gain weighs the class term in the scalar minimised and nothing else: the
    /// terms reported stay the same.
    #[test]
    fn the_class_gain_weighs_only_the_class_term_of_the_scalar() {
        let (tile, classes) = (160, 4);
        let anchors = default_anchors(tile);
        let labels = vec![vec![TileLabel::new(3, [50.0, 61.0, 80.0, 83.0])]];
        let device = Device::flex();
        let heads = STRIDES.map(|stride| {
            let grid = tile / stride;
            Tensor::<4>::zeros([1, 3 * (5 + classes), grid, grid], &device)
        });
        let scalar = |t: Tensor<1>| f64::from(t.into_scalar::<f32>());
        let loss = |settings| yolo_loss(&heads, &labels, &anchors, classes, tile, settings);
        let (plain, terms) = loss(LossSettings::default());
        let (weighted, weighted_terms) = loss(LossSettings {
            class_gain: 3.0,
            ..LossSettings::default()
        });
        assert_eq!(terms, weighted_terms);
        // every class logit 0 at a responsible anchor: each BCE is ln 2
        assert!(terms.class > 1.0, "{terms:?}");
        let (plain, weighted) = (scalar(plain), scalar(weighted));
        assert!(
            (plain - terms.total()).abs() < 1e-3 * plain,
            "{plain} {terms:?}"
        );
        let expected = terms.total() + 2.0 * terms.class;
        assert!(
            (weighted - expected).abs() < 1e-3 * expected,
            "{weighted} {expected}"
        );
    }

    /// A don't-care box is never a positive and frees every prediction centred in it from the
    /// no-object term; the same box as a label to find is a positive and leaves most of those
    /// predictions to the no-object term.
    #[test]
    fn a_dont_care_box_is_neither_to_find_nor_background() {
        let tile = 160;
        let anchors = default_anchors(tile);
        let bbox = [40.0, 40.0, 104.0, 88.0];
        for dont_care in [false, true] {
            let labels = vec![vec![TileLabel {
                dont_care,
                ..TileLabel::new(1, bbox)
            }]];
            let (mut positives, mut inside, mut free_inside) = (0.0, 0, 0);
            for (head, stride) in STRIDES.iter().enumerate() {
                let grid = tile / stride;
                let t = targets_at_rest(head, tile, &anchors, &labels, 0.0);
                positives += t.positive.iter().sum::<f32>();
                for (i, free) in t.no_object.iter().map(|&v| v == 0.0).enumerate() {
                    let (gx, gy) = (i % grid, (i / grid) % grid);
                    let x = (gx as f64 + 0.5) * *stride as f64;
                    let y = (gy as f64 + 0.5) * *stride as f64;
                    if (bbox[0]..=bbox[2]).contains(&x) && (bbox[1]..=bbox[3]).contains(&y) {
                        inside += 1;
                        free_inside += usize::from(free);
                    }
                }
            }
            assert!(inside > 100, "{inside}");
            if dont_care {
                assert_eq!(positives, 0.0);
                assert_eq!(free_inside, inside);
            } else {
                assert!(positives >= 1.0);
                assert!(free_inside * 4 < inside, "{free_inside} of {inside}");
            }
        }
    }

    /// IoU-aware objectness: at each responsible anchor the target is (1 − r) + r·IoU of the
    /// box the current output decodes to (here, all-zero raw output: the anchor's own shape at
    /// the cell's centre) with the labelled box; elsewhere, and with r = 0, YOLOv3's 1.
    #[test]
    fn the_objectness_target_follows_the_iou_of_the_decoded_box() {
        let tile = 160;
        let anchors = default_anchors(tile);
        let label = TileLabel::new(1, [50.0, 61.0, 80.0, 83.0]);
        let labels = vec![vec![label]];
        let mut responsible = 0;
        for (h, &stride) in STRIDES.iter().enumerate() {
            let grid = tile / stride;
            let plain = targets_at_rest(h, tile, &anchors, &labels, 0.0);
            assert!(plain.objectness.iter().all(|&t| t == 1.0));
            for r in [0.5, 1.0] {
                let t = targets_at_rest(h, tile, &anchors, &labels, r);
                for a in 0..3 {
                    for gy in 0..grid {
                        for gx in 0..grid {
                            let i = (a * grid + gy) * grid + gx;
                            if t.positive[i] == 0.0 {
                                assert_eq!(t.objectness[i], 1.0);
                                continue;
                            }
                            let anchor = &anchors[3 * h + a];
                            let (x, y) = (
                                (gx as f64 + 0.5) * stride as f64,
                                (gy as f64 + 0.5) * stride as f64,
                            );
                            let (w, hh) = (anchor.width / 2.0, anchor.height / 2.0);
                            let fit = iou(&[x - w, y - hh, x + w, y + hh], &label.bbox);
                            assert!(fit > 0.0 && fit < 1.0, "{fit}");
                            let want = (1.0 - r + r * fit) as f32;
                            assert!(
                                (t.objectness[i] - want).abs() < 1e-6,
                                "{} {want}",
                                t.objectness[i]
                            );
                            responsible += 1;
                        }
                    }
                }
            }
        }
        // Every responsible anchor was checked at both shares.
        assert_eq!(
            responsible,
            2 * responsible_anchors(&anchors, 30.0, 22.0).len()
        );
    }
}
