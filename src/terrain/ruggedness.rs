//! Terrain Ruggedness Index.

use ndarray::{Array2, ArrayView2};

use super::{neighbour, NEIGHBOURS};

/// Which TRI definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriMethod {
    /// SAGA `ta_morphometry 16` defaults (circle, radius 1, no distance weighting):
    /// TRI = sqrt(Σ (z₀ − zᵢ)² / n) over the centre and its 4 orthogonal neighbours
    /// (n counts the valid cells, centre included).
    #[default]
    Saga,
    /// Riley et al. (1999), gdaldem's default: TRI = sqrt(Σ₈ (zᵢ − z₀)²).
    Riley,
}

/// TRI in elevation units (metres); NaN where the DEM is nodata.
pub fn tri(dem: ArrayView2<f32>, method: TriMethod) -> Array2<f32> {
    super::per_valid_cell(&dem, |r, c| {
        let z0 = dem[(r, c)];
        let mut sum = 0.0f64;
        let mut n = 1.0f64; // the centre, whose difference is 0
        for (i, &(dr, dc)) in NEIGHBOURS.iter().enumerate() {
            if method == TriMethod::Saga && i % 2 == 1 {
                continue; // diagonals lie outside the radius-1 circle
            }
            if let Some(z) = neighbour(&dem, r, c, dr, dc) {
                let d = (z - z0) as f64;
                sum += d * d;
                n += 1.0;
            }
        }
        match method {
            TriMethod::Saga => (sum / n).sqrt() as f32,
            TriMethod::Riley => sum.sqrt() as f32,
        }
    })
}
