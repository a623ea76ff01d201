//! PC1, the first principal component of standardised slope, TRI, TWI and convexity
//! (METHOD.md §3): PC1 = Σₖ lₖ·(xₖ − μₖ)/σₖ.

use ndarray::{Array2, ArrayView2, Zip};
use serde::Serialize;

use super::convexity::{convexity, ConvexitySettings};
use super::gradient::{slope, GradientMethod};
use super::hydrology::{twi_routed, Routing};
use super::ruggedness::{tri, TriMethod};
use crate::error::{Error, Result};
use crate::progress::{Progress, Stage};
use crate::raster::CellSpacing;

/// The four terrain variables, in the order used for loadings everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TerrainVariable {
    Slope,
    Tri,
    Twi,
    Convexity,
}

impl TerrainVariable {
    pub const ALL: [TerrainVariable; 4] = [
        TerrainVariable::Slope,
        TerrainVariable::Tri,
        TerrainVariable::Twi,
        TerrainVariable::Convexity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TerrainVariable::Slope => "slope",
            TerrainVariable::Tri => "tri",
            TerrainVariable::Twi => "twi",
            TerrainVariable::Convexity => "convexity",
        }
    }
}

/// PC1 loadings on the standardised (slope, TRI, TWI, convexity).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Loadings(pub [f64; 4]);

impl Loadings {
    /// The preprint's loadings (Mondini et al. 2026): 0.580, 0.518, −0.543, 0.318.
    #[allow(clippy::approx_constant)] // 0.318 is the convexity loading, not 1/π
    pub const PAPER: Loadings = Loadings([0.580, 0.518, -0.543, 0.318]);
}

/// How PC1's loadings are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadingsChoice {
    /// Fixed loadings (default: [`Loadings::PAPER`]).
    Fixed(Loadings),
    /// Fit the PCA on the area: leading eigenvector of the 4×4 correlation matrix, sign chosen so
    /// that the slope loading is positive.
    Fit,
}

/// Settings of the terrain variables behind PC1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pc1Settings {
    pub loadings: LoadingsChoice,
    pub gradient: GradientMethod,
    pub tri: TriMethod,
    pub convexity: ConvexitySettings,
}

impl Default for Pc1Settings {
    fn default() -> Self {
        Pc1Settings {
            loadings: LoadingsChoice::Fixed(Loadings::PAPER),
            gradient: GradientMethod::ZevenbergenThorne,
            tri: TriMethod::Saga,
            convexity: ConvexitySettings::default(),
        }
    }
}

/// Mean and (population) standard deviation of a variable over its valid cells.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VariableStats {
    pub mean: f64,
    pub std: f64,
    pub count: u64,
}

/// PC1 with what went into it.
#[derive(Debug, Clone)]
pub struct Pc1Result {
    pub pc1: Array2<f32>,
    pub loadings: Loadings,
    /// Statistics of slope (radians), TRI (m), TWI, convexity (%), in that order.
    pub stats: [VariableStats; 4],
    /// Share of the total variance explained by each component (largest first), when fitted.
    pub explained_variance: Option<[f64; 4]>,
}

/// One terrain variable of a DEM. TWI, whose flow routing is partly sequential and the longest
/// step, reports its stages to `progress` (so a cancel is seen between them).
pub fn terrain_variable(
    variable: TerrainVariable,
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    settings: &Pc1Settings,
    routing: &Routing,
    progress: &dyn Progress,
) -> Result<Array2<f32>> {
    let stage = Stage::whole(progress);
    Ok(match variable {
        TerrainVariable::Slope => slope(dem, spacing, settings.gradient),
        TerrainVariable::Tri => tri(dem, settings.tri),
        TerrainVariable::Twi => twi_routed(dem, spacing, routing, &stage)?,
        TerrainVariable::Convexity => convexity(dem, spacing, settings.convexity),
    })
}

/// Mean and standard deviation over finite cells (f64 accumulation).
pub fn stats(values: ArrayView2<f32>) -> VariableStats {
    let (mut n, mut sum, mut sum2) = (0u64, 0.0f64, 0.0f64);
    for &v in values.iter() {
        if v.is_finite() {
            n += 1;
            sum += v as f64;
            sum2 += (v as f64) * (v as f64);
        }
    }
    if n == 0 {
        return VariableStats {
            mean: f64::NAN,
            std: f64::NAN,
            count: 0,
        };
    }
    let mean = sum / n as f64;
    let var = (sum2 / n as f64 - mean * mean).max(0.0);
    VariableStats {
        mean,
        std: var.sqrt(),
        count: n,
    }
}

/// PC1 of a DEM. With fixed loadings one variable is held at a time (≈ 3 f32 arrays plus the
/// TWI's working set); fitting holds all four.
pub fn pc1(
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    settings: &Pc1Settings,
    progress: &dyn Progress,
) -> Result<Pc1Result> {
    pc1_routed(dem, spacing, settings, &Routing::Whole, progress)
}

/// [`pc1`] with the TWI's flow routing held as `routing` says (the result is the same).
pub fn pc1_routed(
    dem: ArrayView2<f32>,
    spacing: &CellSpacing,
    settings: &Pc1Settings,
    routing: &Routing,
    progress: &dyn Progress,
) -> Result<Pc1Result> {
    let stage = Stage::whole(progress);
    let dim = dem.dim();
    let mut all_stats = [VariableStats {
        mean: 0.0,
        std: 0.0,
        count: 0,
    }; 4];
    match settings.loadings {
        LoadingsChoice::Fixed(loadings) => {
            let mut acc = Array2::<f32>::zeros(dim);
            let mut constant = 0.0f64;
            for (k, var) in TerrainVariable::ALL.iter().enumerate() {
                stage.step(k as f64 / 4.0, var.name())?;
                let part = Stage {
                    parent: &stage,
                    start: k as f64 / 4.0,
                    span: 0.25,
                };
                let values = terrain_variable(*var, dem, spacing, settings, routing, &part)?;
                let s = stats(values.view());
                all_stats[k] = s;
                let w = if s.std > 0.0 {
                    loadings.0[k] / s.std
                } else {
                    0.0
                };
                constant += w * s.mean;
                let w = w as f32;
                Zip::from(&mut acc)
                    .and(&values)
                    .par_for_each(|a, &v| *a += w * v);
            }
            let c = constant as f32;
            acc.par_mapv_inplace(|a| a - c);
            stage.step(1.0, "pc1")?;
            Ok(Pc1Result {
                pc1: acc,
                loadings,
                stats: all_stats,
                explained_variance: None,
            })
        }
        LoadingsChoice::Fit => {
            let mut vars = Vec::with_capacity(4);
            for (k, var) in TerrainVariable::ALL.iter().enumerate() {
                stage.step(k as f64 / 5.0, var.name())?;
                let part = Stage {
                    parent: &stage,
                    start: k as f64 / 5.0,
                    span: 0.2,
                };
                let v = terrain_variable(*var, dem, spacing, settings, routing, &part)?;
                all_stats[k] = stats(v.view());
                vars.push(v);
            }
            stage.step(0.8, "fitting PCA")?;
            // a variable that does not vary (a flat DEM: slope, TRI, convexity all 0) leaves the
            // correlation matrix singular and its leading eigenvector meaningless
            let constant: Vec<&str> = TerrainVariable::ALL
                .iter()
                .zip(&all_stats)
                .filter(|(_, s)| s.std.is_nan() || s.std <= 1e-9 * s.mean.abs().max(1.0))
                .map(|(v, _)| v.name())
                .collect();
            if !constant.is_empty() {
                return Err(Error::parameter(
                    "fit-pca",
                    format!(
                        "{} do not vary over this DEM (flat or constant?): a PCA cannot be fitted; use the preprint's loadings",
                        constant.join(", ")
                    ),
                ));
            }
            let corr = correlation(&vars, &all_stats);
            let (values, vectors) = jacobi_eigen(corr);
            let mut order = [0usize, 1, 2, 3];
            order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
            let total: f64 = values.iter().sum();
            let explained = order.map(|i| values[i] / total);
            let lead = order[0];
            let mut l = [0.0; 4];
            for (k, lk) in l.iter_mut().enumerate() {
                *lk = vectors[k][lead];
            }
            if l[0] < 0.0 {
                l.iter_mut().for_each(|v| *v = -*v);
            }
            let loadings = Loadings(l);
            let mut acc = Array2::<f32>::zeros(dim);
            for (k, v) in vars.iter().enumerate() {
                let s = all_stats[k];
                let w = if s.std > 0.0 { l[k] / s.std } else { 0.0 };
                let (w, m) = (w as f32, s.mean as f32);
                Zip::from(&mut acc)
                    .and(v)
                    .par_for_each(|a, &x| *a += w * (x - m));
            }
            stage.step(1.0, "pc1")?;
            Ok(Pc1Result {
                pc1: acc,
                loadings,
                stats: all_stats,
                explained_variance: Some(explained),
            })
        }
    }
}

/// Correlation matrix of the variables over the cells where all are valid.
#[allow(clippy::needless_range_loop)] // four parallel slices indexed together
fn correlation(vars: &[Array2<f32>], stats: &[VariableStats; 4]) -> [[f64; 4]; 4] {
    let mut sums = [[0.0f64; 4]; 4];
    let mut n = 0u64;
    let slices: Vec<&[f32]> = vars.iter().map(|v| v.as_slice().unwrap_or(&[])).collect();
    let len = slices.iter().map(|s| s.len()).min().unwrap_or(0);
    for i in 0..len {
        let z: [f64; 4] = std::array::from_fn(|k| {
            let s = stats[k];
            (slices[k][i] as f64 - s.mean) / if s.std > 0.0 { s.std } else { 1.0 }
        });
        if z.iter().all(|v| v.is_finite()) {
            n += 1;
            for a in 0..4 {
                for b in a..4 {
                    sums[a][b] += z[a] * z[b];
                }
            }
        }
    }
    let mut corr = [[0.0; 4]; 4];
    for a in 0..4 {
        for b in a..4 {
            let v = if n > 0 { sums[a][b] / n as f64 } else { 0.0 };
            corr[a][b] = v;
            corr[b][a] = v;
        }
    }
    corr
}

/// Eigenvalues and eigenvectors (columns) of a symmetric 4×4 matrix by cyclic Jacobi rotations.
#[allow(clippy::needless_range_loop)] // rotations address rows p and q of the same matrix
pub fn jacobi_eigen(mut a: [[f64; 4]; 4]) -> ([f64; 4], [[f64; 4]; 4]) {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..4)
            .flat_map(|p| ((p + 1)..4).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..4 {
            for q in (p + 1)..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..4 {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..4 {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2], a[3][3]], v)
}
