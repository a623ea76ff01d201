//! PC1, the first principal component of standardised slope, TRI, TWI and convexity
//! (METHOD.md §3): PC1 = Σₖ lₖ·(xₖ − μₖ)/σₖ.

use ndarray::{s, Array2, ArrayView2, Zip};
use serde::Serialize;

use super::convexity::{ConvexityMeans, ConvexitySettings};
use super::gradient::{slope, GradientMethod};
use super::hydrology::{twi_tiled, twi_whole, Routing};
use super::rows_with_context;
use super::ruggedness::{tri, TriMethod};
use crate::error::{Error, Result};
use crate::progress::{Progress, Stage};
use crate::raster::scratch::{ScratchRaster, WindowSource};
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

/// Mean and standard deviation over finite cells (f64 accumulation).
pub fn stats(values: ArrayView2<f32>) -> VariableStats {
    let mut sums = StatsSums::default();
    sums.add(values);
    sums.stats()
}

/// The running sums of [`stats`], fed strip by strip in row order: the same additions in the same
/// order as over the whole raster, so the same bits.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatsSums {
    count: u64,
    sum: f64,
    sum_of_squares: f64,
}

impl StatsSums {
    /// Add the finite cells of `values`, row by row.
    pub fn add(&mut self, values: ArrayView2<f32>) {
        for &v in values.iter() {
            if v.is_finite() {
                self.count += 1;
                self.sum += v as f64;
                self.sum_of_squares += (v as f64) * (v as f64);
            }
        }
    }

    /// Mean and standard deviation so far (NaN with no finite cell).
    pub fn stats(&self) -> VariableStats {
        if self.count == 0 {
            return VariableStats {
                mean: f64::NAN,
                std: f64::NAN,
                count: 0,
            };
        }
        let n = self.count as f64;
        let mean = self.sum / n;
        let var = (self.sum_of_squares / n - mean * mean).max(0.0);
        VariableStats {
            mean,
            std: var.sqrt(),
            count: self.count,
        }
    }
}

/// The weights wₖ = lₖ/σₖ and constant Σ wₖμₖ that turn the variables into PC1 = Σ wₖxₖ − c (a
/// variable that does not vary weighs 0).
fn weights(loadings: &Loadings, stats: &[VariableStats; 4]) -> ([f32; 4], f32) {
    let mut constant = 0.0f64;
    let weights = std::array::from_fn(|k| {
        let s = stats[k];
        let w = if s.std > 0.0 {
            loadings.0[k] / s.std
        } else {
            0.0
        };
        constant += w * s.mean;
        w as f32
    });
    (weights, constant as f32)
}

/// PC1 of a DEM: [`pc1_strips`] assembled (PC1 and the routing's working set held: about 3 f32
/// arrays), with fixed or fitted loadings.
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
    let mut pc1 = Array2::<f32>::from_elem(dem.dim(), f32::NAN);
    let summary = pc1_strips(
        &dem,
        spacing,
        settings,
        routing,
        progress,
        &mut |row0, strip| {
            pc1.slice_mut(s![row0..row0 + strip.nrows(), ..])
                .assign(&strip);
            Ok(())
        },
    )?;
    Ok(Pc1Result {
        pc1,
        loadings: summary.loadings,
        stats: summary.stats,
        explained_variance: summary.explained_variance,
    })
}

/// What PC1 is made with: its loadings, the variables' statistics and, when the loadings were
/// fitted, the share of the variance each component explains (largest first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pc1Summary {
    pub loadings: Loadings,
    /// Statistics of slope (radians), TRI (m), TWI, convexity (%), in that order.
    pub stats: [VariableStats; 4],
    pub explained_variance: Option<[f64; 4]>,
}

/// Rows a strip of [`pc1_strips`] holds at a time: a few MB of work at frame widths.
pub const PC1_STRIP_ROWS: usize = 64;

/// PC1, handed to `sink` one strip of rows at a time, top to bottom, so that neither PC1 nor any
/// variable is ever held whole: memory is the flow routing's working set and a few strips, with
/// the DEM read by windows from `dem` (a scratch file, or an array). The values are those of the
/// whole-raster kernels bit for bit: every kernel reads its rows with the context it needs, and
/// the sums behind the statistics and the correlations see the cells in row order.
///
/// Passes ([`Pc1Rows::prepare`]): the TWI (routed as `routing` says: [`Routing::Whole`] holds
/// the fill and one f32 a cell, then the TWI; with [`Routing::Tiled`] its strips go to an
/// unnamed scratch file of 4 bytes a cell beside the routing's) and, beside it on the other
/// threads, the convexity's block means and the statistics of slope, TRI and convexity; then
/// the TWI's statistics; with [`LoadingsChoice::Fit`] the correlations of the standardised
/// variables; then PC1 = Σ wₖxₖ − c per strip. Slope, TRI and convexity are computed again in
/// each pass that needs them (cheap beside the routing).
///
/// ```
/// use fringewatch::progress::Silent;
/// use fringewatch::raster::CellSpacing;
/// use fringewatch::terrain::hydrology::Routing;
/// use fringewatch::terrain::pca::{pc1_routed, pc1_strips, Pc1Settings};
/// let dem = ndarray::Array2::from_shape_fn((150, 90), |(r, c)| {
///     300.0 + 40.0 * (c as f32 / 11.0).sin() * (r as f32 / 13.0).cos() + 2.0 * r as f32
/// });
/// let spacing = CellSpacing::uniform(30.0, 150);
/// let settings = Pc1Settings::default();
/// let tiles = Routing::Tiled { tile: 40, scratch: None };
/// let mut pc1 = ndarray::Array2::<f32>::zeros((150, 90));
/// pc1_strips(&dem.view(), &spacing, &settings, &tiles, &Silent, &mut |row0, strip| {
///     pc1.slice_mut(ndarray::s![row0..row0 + strip.nrows(), ..]).assign(&strip);
///     Ok(())
/// })?;
/// let whole = pc1_routed(dem.view(), &spacing, &settings, &Routing::Whole, &Silent)?;
/// assert!(pc1.iter().zip(whole.pc1.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
/// # Ok::<(), fringewatch::Error>(())
/// ```
pub fn pc1_strips(
    dem: &dyn WindowSource,
    spacing: &CellSpacing,
    settings: &Pc1Settings,
    routing: &Routing,
    progress: &dyn Progress,
    sink: &mut dyn FnMut(usize, ArrayView2<f32>) -> Result<()>,
) -> Result<Pc1Summary> {
    let stage = Stage::whole(progress);
    let prepare = Stage {
        parent: &stage,
        start: 0.0,
        span: 0.85,
    };
    let pc1 = Pc1Rows::prepare(dem, spacing, settings, routing, &prepare)?;
    let rows = pc1.shape().0;
    for (row0, h) in crate::raster::strips(rows, PC1_STRIP_ROWS) {
        stage.step(0.85 + 0.15 * row0 as f64 / rows as f64, "writing PC1")?;
        sink(row0, pc1.rows(row0, h)?.view())?;
    }
    stage.step(1.0, "pc1")?;
    Ok(pc1.summary)
}

/// PC1 made on demand, any rows at a time, once what needs the whole DEM is done: the TWI
/// (held, or in a scratch file with tiled routing), the convexity's block means, the four
/// variables' statistics and, when fitted, the loadings. [`pc1_strips`] writes its strips;
/// detection reads its rows as it goes ([`crate::stack::StackSource`]). The values do not
/// depend on the rows asked for: each kernel reads its rows with the context it needs.
///
/// ```
/// use fringewatch::progress::Silent;
/// use fringewatch::raster::CellSpacing;
/// use fringewatch::terrain::hydrology::Routing;
/// use fringewatch::terrain::pca::{pc1, Pc1Rows, Pc1Settings};
/// let dem = ndarray::Array2::from_shape_fn((120, 80), |(r, c)| {
///     200.0 + 30.0 * (c as f32 / 9.0).sin() * (r as f32 / 7.0).cos() + r as f32
/// });
/// let spacing = CellSpacing::uniform(30.0, 120);
/// let settings = Pc1Settings::default();
/// let rows = Pc1Rows::prepare(dem.view(), &spacing, &settings, &Routing::Whole, &Silent)?;
/// let whole = pc1(dem.view(), &spacing, &settings, &Silent)?;
/// let some = rows.rows(37, 11)?;
/// assert!(some.iter().zip(whole.pc1.slice(ndarray::s![37..48, ..]).iter())
///     .all(|(a, b)| a.to_bits() == b.to_bits()));
/// # Ok::<(), fringewatch::Error>(())
/// ```
pub struct Pc1Rows<D> {
    dem: D,
    spacing: CellSpacing,
    settings: Pc1Settings,
    twi: Box<dyn WindowSource + Send>,
    means: ConvexityMeans,
    weights: [f32; 4],
    constant: f32,
    /// The loadings and statistics PC1 is made with.
    pub summary: Pc1Summary,
}

impl<D: WindowSource> Pc1Rows<D> {
    /// The passes over the whole DEM of [`pc1_strips`], all but the last.
    pub fn prepare(
        dem: D,
        spacing: &CellSpacing,
        settings: &Pc1Settings,
        routing: &Routing,
        progress: &dyn Progress,
    ) -> Result<Self> {
        let stage = Stage::whole(progress);
        let (rows, cols) = dem.shape();
        let strips = || crate::raster::strips(rows, PC1_STRIP_ROWS);
        let terrain = Terrain {
            dem: &dem,
            spacing,
            settings,
        };
        // the passes' shares of the progress: the routing and its company, the TWI's
        // statistics, then the correlations when fitting
        let until = match settings.loadings {
            LoadingsChoice::Fixed(_) => 0.94,
            LoadingsChoice::Fit => 0.8,
        };
        // The TWI, whose routing is partly sequential, runs beside the convexity's block means
        // and the statistics of slope, TRI and convexity, which need no TWI.
        let parts = crate::progress::Concurrent::new(&stage, 0.0, until, &[3.0, 1.0]);
        let routed = || -> Result<Box<dyn WindowSource + Send>> {
            let twi_part = parts.part(0);
            Ok(match routing {
                Routing::Whole => Box::new(twi_whole(&dem, spacing, &twi_part)?),
                Routing::Tiled { tile, scratch } => {
                    let file = ScratchRaster::create(scratch.as_deref(), rows, cols)?;
                    twi_tiled(
                        &dem,
                        spacing,
                        *tile,
                        scratch.as_deref(),
                        &twi_part,
                        &mut |r, strip| file.write_rows(r, strip),
                    )?;
                    Box::new(file)
                }
            })
        };
        let beside = || -> Result<(ConvexityMeans, [StatsSums; 4])> {
            let part = parts.part(1);
            let means_part = Stage {
                parent: &part,
                start: 0.0,
                span: 0.3,
            };
            let means = ConvexityMeans::of_strips(
                &dem,
                spacing,
                settings.convexity,
                PC1_STRIP_ROWS,
                &means_part,
            )?;
            let mut sums = [StatsSums::default(); 4];
            for (row0, h) in strips() {
                if !part.report(0.3 + 0.7 * row0 as f64 / rows as f64, "statistics") {
                    return Err(Error::Cancelled);
                }
                sums[0].add(terrain.slope_rows(row0, h)?.view());
                sums[1].add(terrain.tri_rows(row0, h)?.view());
                sums[3].add(means.convexity_rows(&dem, spacing, row0, h)?.view());
            }
            Ok((means, sums))
        };
        let (twi, beside) = rayon::join(routed, beside);
        let (twi, (means, mut sums)) = (twi?, beside?);
        for (row0, h) in strips() {
            stage.step(until + 0.06 * row0 as f64 / rows as f64, "statistics")?;
            sums[2].add(twi.window(row0 as isize, 0, h, cols)?.view());
        }
        let stats = sums.map(|s| s.stats());
        let variables = |row0, h| {
            Variables {
                terrain,
                twi: twi.as_ref(),
                means: &means,
            }
            .rows(row0, h)
        };
        let (loadings, explained_variance) = match settings.loadings {
            LoadingsChoice::Fixed(loadings) => (loadings, None),
            LoadingsChoice::Fit => {
                check_all_vary(&stats)?;
                let mut sums = CorrelationSums::default();
                for (row0, h) in strips() {
                    let f = row0 as f64 / rows as f64;
                    stage.step(until + 0.06 + (0.94 - until) * f, "fitting PCA")?;
                    sums.add(&variables(row0, h)?, &stats);
                }
                let (loadings, explained) = leading_component(sums.correlation());
                (loadings, Some(explained))
            }
        };
        let (weights, constant) = weights(&loadings, &stats);
        stage.step(1.0, "statistics")?;
        Ok(Pc1Rows {
            dem,
            spacing: spacing.clone(),
            settings: *settings,
            twi,
            means,
            weights,
            constant,
            summary: Pc1Summary {
                loadings,
                stats,
                explained_variance,
            },
        })
    }

    /// (rows, columns) of PC1 (the DEM's).
    pub fn shape(&self) -> (usize, usize) {
        self.dem.shape()
    }

    /// PC1 = Σ wₖxₖ − c of rows `row0 .. row0 + h` (within the raster).
    pub fn rows(&self, row0: usize, h: usize) -> Result<Array2<f32>> {
        let variables = Variables {
            terrain: Terrain {
                dem: &self.dem,
                spacing: &self.spacing,
                settings: &self.settings,
            },
            twi: self.twi.as_ref(),
            means: &self.means,
        }
        .rows(row0, h)?;
        let mut acc = Array2::<f32>::zeros((h, self.shape().1));
        for (w, values) in self.weights.iter().zip(variables) {
            Zip::from(&mut acc)
                .and(&values)
                .par_for_each(|a, &v| *a += w * v);
        }
        acc.par_mapv_inplace(|a| a - self.constant);
        Ok(acc)
    }
}

/// The DEM with what the per-strip kernels of slope and TRI need.
#[derive(Clone, Copy)]
struct Terrain<'a> {
    dem: &'a dyn WindowSource,
    spacing: &'a CellSpacing,
    settings: &'a Pc1Settings,
}

impl Terrain<'_> {
    /// Slope (radians) of rows `row0 .. row0 + h`, read with a row of context on each side.
    fn slope_rows(&self, row0: usize, h: usize) -> Result<Array2<f32>> {
        let gradient = self.settings.gradient;
        rows_with_context(self.dem, self.spacing, row0, h, 1, |d, sp| {
            slope(d, sp, gradient)
        })
    }

    /// TRI (m) of rows `row0 .. row0 + h`, read with a row of context on each side.
    fn tri_rows(&self, row0: usize, h: usize) -> Result<Array2<f32>> {
        let method = self.settings.tri;
        rows_with_context(self.dem, self.spacing, row0, h, 1, |d, _| tri(d, method))
    }
}

/// What the four variables of any rows are made from, once the passes over the whole DEM are
/// done.
struct Variables<'a> {
    terrain: Terrain<'a>,
    twi: &'a dyn WindowSource,
    means: &'a ConvexityMeans,
}

impl Variables<'_> {
    /// Slope, TRI, TWI and convexity of rows `row0 .. row0 + h`.
    fn rows(&self, row0: usize, h: usize) -> Result<[Array2<f32>; 4]> {
        let Terrain { dem, spacing, .. } = self.terrain;
        Ok([
            self.terrain.slope_rows(row0, h)?,
            self.terrain.tri_rows(row0, h)?,
            self.twi.window(row0 as isize, 0, h, dem.shape().1)?,
            self.means.convexity_rows(dem, spacing, row0, h)?,
        ])
    }
}

/// Refuse a fit where a variable does not vary (a flat DEM: slope, TRI, convexity all 0): the
/// correlation matrix would be singular and its leading eigenvector meaningless.
fn check_all_vary(stats: &[VariableStats; 4]) -> Result<()> {
    let constant: Vec<&str> = TerrainVariable::ALL
        .iter()
        .zip(stats)
        .filter(|(_, s)| s.std.is_nan() || s.std <= 1e-9 * s.mean.abs().max(1.0))
        .map(|(v, _)| v.name())
        .collect();
    if constant.is_empty() {
        return Ok(());
    }
    Err(Error::parameter(
        "fit-pca",
        format!(
            "{} do not vary over this DEM (flat or constant?): a PCA cannot be fitted; use the preprint's loadings",
            constant.join(", ")
        ),
    ))
}

/// The sums behind the correlation matrix of the standardised variables over the cells where
/// all four are valid, fed strip by strip in row order.
#[derive(Debug, Default)]
struct CorrelationSums {
    products: [[f64; 4]; 4],
    count: u64,
}

impl CorrelationSums {
    /// Add the cells of a strip's four variables, standardised with `stats`.
    #[allow(clippy::needless_range_loop)] // the upper triangle of a 4×4 matrix
    fn add(&mut self, variables: &[Array2<f32>; 4], stats: &[VariableStats; 4]) {
        let scale = stats.map(|s| if s.std > 0.0 { s.std } else { 1.0 });
        let [slope, tri, twi, convexity] = variables;
        Zip::from(slope)
            .and(tri)
            .and(twi)
            .and(convexity)
            .for_each(|&x0, &x1, &x2, &x3| {
                let x = [x0, x1, x2, x3];
                let z: [f64; 4] = std::array::from_fn(|k| (x[k] as f64 - stats[k].mean) / scale[k]);
                if z.iter().all(|v| v.is_finite()) {
                    self.count += 1;
                    for a in 0..4 {
                        for b in a..4 {
                            self.products[a][b] += z[a] * z[b];
                        }
                    }
                }
            });
    }

    /// The correlation matrix (zero without any cell).
    #[allow(clippy::needless_range_loop)] // the upper triangle, mirrored
    fn correlation(&self) -> [[f64; 4]; 4] {
        let mut corr = [[0.0; 4]; 4];
        for a in 0..4 {
            for b in a..4 {
                let v = if self.count > 0 {
                    self.products[a][b] / self.count as f64
                } else {
                    0.0
                };
                corr[a][b] = v;
                corr[b][a] = v;
            }
        }
        corr
    }
}

/// The leading eigenvector of a correlation matrix as loadings (the slope's made positive), and
/// the share of the variance each component explains, largest first.
fn leading_component(corr: [[f64; 4]; 4]) -> (Loadings, [f64; 4]) {
    let (values, vectors) = jacobi_eigen(corr);
    let mut order = [0usize, 1, 2, 3];
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let total: f64 = values.iter().sum();
    let explained = order.map(|i| values[i] / total);
    let mut l: [f64; 4] = std::array::from_fn(|k| vectors[k][order[0]]);
    if l[0] < 0.0 {
        l.iter_mut().for_each(|v| *v = -*v);
    }
    (Loadings(l), explained)
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
