//! Test-time augmentation (`--augment`): the bundled model averaged over the symmetries it was
//! trained with (the phase's sign, mirrors of the tile). Averaging over a group is invariant
//! under the group: the averaged heads of a conjugated or mirrored tile, brought back, are the
//! averaged heads of the tile itself, which holds only when every head is mapped back onto the
//! original tile correctly (cells, offsets and sizes).

use fringewatch::engine::augmented::{Augmented, Symmetry, TestTimeAugmentation};
use fringewatch::engine::tract::TractEngine;
use fringewatch::engine::Engine;
use fringewatch::model::default_model;
use ndarray::{Array4, ArrayView4};
use rand::{RngExt, SeedableRng};

/// A batch of two tiles: a fringe pattern in radians (with its wraps) and smooth ISL and PC1,
/// some noise, and a nodata corner (0 in every channel).
fn tiles(tile: usize) -> Array4<f32> {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
    Array4::from_shape_fn((2, 3, tile, tile), |(n, c, y, x)| {
        if y < 12 && x < 20 {
            return 0.0;
        }
        let (xf, yf) = (x as f32, y as f32);
        let noise: f32 = rng.random_range(-0.2..0.2);
        match c {
            0 => {
                let r = (xf - 70.0 - 10.0 * n as f32).hypot(yf - 90.0);
                let phi = 6.0 * (-r * r / 900.0).exp() + 0.05 * xf + noise;
                (phi + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
                    - std::f32::consts::PI
            }
            1 => (xf * 0.02).sin() + 0.3 * (yf * 0.05).cos() + noise,
            _ => (xf - yf) / 160.0 + noise,
        }
    })
}

fn worst_relative_difference(a: &[Array4<f32>; 3], b: &[Array4<f32>; 3]) -> f32 {
    let mut worst = 0.0f32;
    for (a, b) in a.iter().zip(b) {
        let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(b) {
            worst = worst.max((x - y).abs() / scale);
        }
    }
    worst
}

fn bundled() -> TractEngine {
    TractEngine::load(&default_model().unwrap(), 2).unwrap()
}

/// The heads of `engine` on `g`·batch, brought back by g.
fn heads_of_transformed(
    engine: &Augmented,
    g: Symmetry,
    batch: ArrayView4<f32>,
) -> [Array4<f32>; 3] {
    let moved = g.apply(batch, engine.metadata());
    let classes = engine.metadata().classes.len();
    engine
        .infer(moved.view())
        .unwrap()
        .map(|h| g.restore(h, classes))
}

#[test]
fn averaged_heads_do_not_depend_on_the_sign_or_the_mirror_of_the_tile() {
    let tract = bundled();
    let engine = Augmented::new(&tract, TestTimeAugmentation::SignAndMirrors);
    let batch = tiles(engine.metadata().tile);
    let heads = engine.infer(batch.view()).unwrap();
    let symmetries = TestTimeAugmentation::SignAndMirrors.symmetries();
    assert_eq!(symmetries.len(), 8);
    for g in symmetries {
        let back = heads_of_transformed(&engine, g, batch.view());
        let d = worst_relative_difference(&heads, &back);
        assert!(d < 1e-4, "{g:?}: averaged heads differ by {d}");
    }

    // One pass is not invariant (the network is not equivariant by construction), so the
    // check above has something to catch: a mirror or sign that is not brought back right.
    let plain = Augmented::new(&tract, TestTimeAugmentation::Off);
    let mirrored = Symmetry {
        conjugate: true,
        mirror_columns: true,
        mirror_rows: false,
    };
    let d = worst_relative_difference(
        &plain.infer(batch.view()).unwrap(),
        &heads_of_transformed(&plain, mirrored, batch.view()),
    );
    assert!(d > 1e-3, "one pass already invariant ({d})");

    // Only the sign: invariant under conjugation, not under a mirror.
    let sign = Augmented::new(&tract, TestTimeAugmentation::Sign);
    let heads = sign.infer(batch.view()).unwrap();
    let conjugate = Symmetry {
        conjugate: true,
        mirror_columns: false,
        mirror_rows: false,
    };
    let d = worst_relative_difference(
        &heads,
        &heads_of_transformed(&sign, conjugate, batch.view()),
    );
    assert!(
        d < 1e-4,
        "sign-averaged heads differ under conjugation by {d}"
    );
    assert!(sign.name().contains("averaged over 2"), "{}", sign.name());
}

/// A mirrored head is the original's read the other way: a box at x is found at T − x.
#[test]
fn a_head_brought_back_from_a_mirror_puts_its_boxes_where_they_were() {
    use fringewatch::model::decode::decode_batch;
    let tract = bundled();
    let engine = Augmented::new(&tract, TestTimeAugmentation::Off);
    let metadata = engine.metadata().clone();
    let tile = metadata.tile as f64;
    let batch = tiles(metadata.tile);
    let heads = engine.infer(batch.view()).unwrap();
    let both_ways = Symmetry {
        conjugate: false,
        mirror_columns: true,
        mirror_rows: true,
    };
    // the heads of this very tile, mirrored as if they had come from the mirrored tile, then
    // brought back: the same boxes
    let as_if_mirrored = heads
        .clone()
        .map(|h| both_ways.restore(h, metadata.classes.len()));
    let back = as_if_mirrored
        .clone()
        .map(|h| both_ways.restore(h, metadata.classes.len()));
    assert!(worst_relative_difference(&heads, &back) < 1e-6);
    let original = decode_batch(&heads, &metadata, 0.01);
    let mirrored = decode_batch(&as_if_mirrored, &metadata, 0.01);
    assert!(!original[0].is_empty());
    assert_eq!(original[0].len(), mirrored[0].len());
    for d in &original[0] {
        let b = d.bbox;
        let want = [tile - b[2], tile - b[3], tile - b[0], tile - b[1]];
        assert!(
            mirrored[0].iter().any(|m| m.class == d.class
                && (m.score - d.score).abs() < 1e-5
                && m.bbox.iter().zip(&want).all(|(p, q)| (p - q).abs() < 1e-3)),
            "no mirrored box for {b:?}"
        );
    }
}
