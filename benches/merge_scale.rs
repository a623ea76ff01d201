//! Scene merging at full-frame scale (a benchmark, not a test): one million synthetic candidates
//! over a 16,000 × 11,000 px scene (a Sentinel-1 IW frame at 15 m) tiled as detection tiles it
//! (160 px, 32 px overlap), as a run at a very low confidence produces them: small and large
//! boxes, a fifth touching a tile edge. Prints the time of the edge pairing plus suppression
//! (`detect::merge::merge`) and how many boxes come out.
//!
//! Run: `cargo bench --bench merge_scale [-- CANDIDATES]`.

use std::time::Instant;

use fringewatch::detect::decode::Detection;
use fringewatch::detect::merge::{merge, place};
use fringewatch::tiling::tile_origins;
use rand::{RngExt, SeedableRng};

const WIDTH: usize = 16_000;
const HEIGHT: usize = 11_000;
const TILE: usize = 160;
const OVERLAP: usize = 32;

fn main() {
    let candidates = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000usize);
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let rows = tile_origins(HEIGHT, TILE, OVERLAP);
    let cols = tile_origins(WIDTH, TILE, OVERLAP);
    let tiles = rows.len() * cols.len();
    let per_tile = candidates.div_ceil(tiles);
    let start = Instant::now();
    let mut placed = Vec::with_capacity(per_tile * tiles);
    let t = TILE as f64;
    for &row0 in &rows {
        for &col0 in &cols {
            let boxes: Vec<Detection> = (0..per_tile)
                .map(|_| {
                    let w = if rng.random_bool(0.9) {
                        rng.random_range(4.0..50.0)
                    } else {
                        rng.random_range(50.0..t - 1.0)
                    };
                    let h = (w * rng.random_range(0.5..2.0f64)).min(t - 1.0);
                    let (mut x0, mut y0) =
                        (rng.random_range(0.0..t - w), rng.random_range(0.0..t - h));
                    // A fifth of the candidates touch a tile edge (pieces of cut objects).
                    match rng.random_range(0..20) {
                        0 => x0 = 0.0,
                        1 => y0 = 0.0,
                        2 => x0 = t - w,
                        3 => y0 = t - h,
                        _ => {}
                    }
                    let score: f32 = rng.random_range(0.001..1.0f32).powi(3);
                    Detection {
                        bbox: [x0, y0, x0 + w, y0 + h],
                        class: rng.random_range(0..4),
                        score,
                        objectness: score,
                    }
                })
                .collect();
            placed.extend(place(&boxes, col0, row0, TILE, (WIDTH, HEIGHT)));
        }
    }
    let generated = start.elapsed();
    let cut = placed.iter().filter(|p| p.cut.iter().any(|c| *c)).count();
    let start = Instant::now();
    let merged = merge(&placed, OVERLAP, 0.45);
    let took = start.elapsed();
    println!(
        "merge: {} candidates ({} cut by a tile edge) in {} tiles over {WIDTH}×{HEIGHT} px \
         → {} boxes in {:.2} s (generated in {:.2} s)",
        placed.len(),
        cut,
        tiles,
        merged.len(),
        took.as_secs_f64(),
        generated.as_secs_f64()
    );
}
