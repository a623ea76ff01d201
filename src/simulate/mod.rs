//! Simulated labelled interferograms (METHOD.md §2, §4, §7): the paper's labelled data cannot be
//! downloaded, so the detector is trained and scored on scenes simulated here.
//!
//! One scene, in order: relief (synthetic or a given DEM) → geometry (heading, per-pixel
//! incidence) → landslide bodies per class where the class lives, moving downslope → coherence
//! (thermal, baseline, temporal with vegetation, terrain) → artifacts (atmospheric blobs, DEM
//! errors) → atmosphere (turbulent + stratified) → L-look noise with the exact interferometric
//! statistics → Gaussian and Goldstein filtering as GMTSAR does → wrapping. Signals a person could
//! see are labelled with boxes; every body goes to an IFFI-like inventory.
//!
//! # Known limits (what real interferograms have that these do not)
//! - No radar-coordinate processing: the scene is simulated directly on the geocoded grid, so
//!   there is no geocoding resampling, no sub-swath or burst seams, no azimuth ambiguities, no
//!   orbital ramps and no ionospheric streaks.
//! - No unwrapping errors or processing artifacts of a real chain (the topographic phase is
//!   removed perfectly except for the simulated DEM-error patches).
//! - Coherence is a parametric model (vegetation patches, slopes, baselines), not land cover; no
//!   seasonal effects such as snow, and no urban point scatterers.
//! - Landslide motion is a smooth profile along one downslope direction per body; real slides
//!   have heads, toes, internal blocks, accelerations and aliasing fast zones that decorrelate.
//! - Relief is fractal with carved valleys, not a drained river network; with `--dem` a real DEM
//!   is used instead (`../shared/data/real/`).
//! - Labels follow fixed visibility thresholds (signal left after filtering, fringe fidelity of
//!   the processed phase over the box, a coherence floor), not a person's judgement: borderline
//!   signals are labelled or not by a threshold, not by context. Real experts also use
//!   inventories, orthophotos and persistence.
//!   Figures on these scenes are not real-world accuracy.

pub mod atmosphere;
pub mod coherence;
pub mod geometry;
pub mod labels;
pub mod landslides;
pub mod output;
pub mod params;
pub mod relief;
pub mod smoothing;

use std::path::Path;

use chrono::{Duration, NaiveDate};
use ndarray::{Array2, Zip};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rustfft::num_complex::Complex32;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::phase::goldstein::goldstein;
use crate::progress::{Progress, Stage};
use crate::raster::align::{warp_band, Resampling};
use crate::raster::io::RasterFile;
use crate::raster::{CellSpacing, Crs, Grid};
use crate::terrain::{slope_aspect, GradientMethod};

pub use labels::TruthSignal;
pub use landslides::Body;
pub use params::{Orbit, SimulationSettings};

/// The four classes of METHOD.md §4, in the order used everywhere (class index = position).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum SignalClass {
    /// AR: artifacts that look like deformation.
    #[serde(rename = "AR")]
    Artifact,
    /// CF: earthflows in clay shales.
    #[serde(rename = "CF")]
    Earthflow,
    /// CS: earthslides in shales and marls.
    #[serde(rename = "CS")]
    Earthslide,
    /// FS: rockslides in flysch.
    #[serde(rename = "FS")]
    Rockslide,
}

impl SignalClass {
    pub const ALL: [SignalClass; 4] = [
        SignalClass::Artifact,
        SignalClass::Earthflow,
        SignalClass::Earthslide,
        SignalClass::Rockslide,
    ];

    pub fn code(self) -> &'static str {
        match self {
            SignalClass::Artifact => "AR",
            SignalClass::Earthflow => "CF",
            SignalClass::Earthslide => "CS",
            SignalClass::Rockslide => "FS",
        }
    }

    pub fn from_code(code: &str) -> Option<SignalClass> {
        SignalClass::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// The phase one signal adds to the scene, on a window of the grid.
#[derive(Debug, Clone)]
pub struct Footprint {
    pub class: SignalClass,
    pub body_id: Option<u32>,
    pub velocity_m_per_yr: Option<f64>,
    pub row0: usize,
    pub col0: usize,
    /// Signal phase, radians (unwrapped).
    pub phase: Array2<f32>,
    /// Displacement profile m(s) ∈ [0, 1] (0 for artifacts), for body decorrelation.
    pub weight: Array2<f32>,
    /// Coherence loss where the weight is 1 (moving bodies decorrelate).
    pub decorrelation: f64,
}

/// What `scene.json` records: acquisition, every draw and every setting.
#[derive(Debug, Clone, Serialize)]
pub struct SceneDescription {
    pub name: String,
    pub seed: u64,
    pub orbit: Orbit,
    pub heading_deg: f64,
    pub primary_date: NaiveDate,
    pub secondary_date: NaiveDate,
    pub temporal_baseline_days: u32,
    pub perpendicular_baseline_m: f64,
    pub wavelength_m: f64,
    pub incidence_centre_deg: f64,
    pub dem_source: String,
    pub relief: Option<relief::ReliefDraw>,
    pub turbulence_rms_mm: f64,
    pub stratified_mm_per_km: f64,
    pub vegetation_cover: f64,
    pub bodies: usize,
    pub active_bodies: usize,
    pub labelled_signals: usize,
    pub settings: SimulationSettings,
}

/// A simulated scene in memory.
pub struct Scene {
    pub grid: Grid,
    pub dem: Array2<f32>,
    /// Wrapped, filtered phase, radians.
    pub phase: Array2<f32>,
    /// Estimated coherence (what a processor writes).
    pub coherence: Array2<f32>,
    /// True coherence of the model (before estimation).
    pub true_coherence: Array2<f32>,
    pub incidence_deg: Array2<f32>,
    pub bodies: Vec<Body>,
    /// Every signal, labelled or not (`visible`).
    pub signals: Vec<TruthSignal>,
    pub description: SceneDescription,
}

/// Seed of scene `index` of a run seeded with `seed` (SplitMix64 mixing).
pub fn scene_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(index + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn scene_grid(settings: &SimulationSettings) -> Result<Grid> {
    let crs = Crs::from_definition(&format!("EPSG:{}", settings.epsg))
        .map_err(|e| Error::parameter("epsg", e))?;
    if crs.geographic {
        return Err(Error::parameter(
            "epsg",
            "the scene CRS must be projected (metres)",
        ));
    }
    Ok(Grid {
        width: settings.size,
        height: settings.size,
        geo_transform: [
            settings.origin.0,
            settings.pixel_m,
            0.0,
            settings.origin.1,
            0.0,
            -settings.pixel_m,
        ],
        crs,
    })
}

/// A given DEM on a scene grid centred on it, in its own CRS when projected, else in the UTM zone
/// of its centre.
fn dem_scene(path: &Path, settings: &SimulationSettings) -> Result<(Grid, Array2<f32>)> {
    let file = RasterFile::open(path)?;
    let source = file.grid();
    let (minx, miny, maxx, maxy) = source.bounds();
    let (cx, cy) = ((minx + maxx) / 2.0, (miny + maxy) / 2.0);
    let crs = if source.crs.geographic {
        let zone = ((cx + 180.0) / 6.0).floor() as i32 + 1;
        let epsg = if cy >= 0.0 {
            32600 + zone
        } else {
            32700 + zone
        };
        Crs::from_definition(&format!("EPSG:{epsg}")).map_err(|e| Error::bad_input(path, e))?
    } else {
        source.crs.clone()
    };
    let side = settings.size as f64 * settings.pixel_m;
    let (ux, uy) = if source.crs.geographic {
        let t = proj::Proj::new_known_crs("EPSG:4326", &crs.wkt, None)
            .map_err(|e| Error::Proj(e.to_string()))?;
        t.convert((cx, cy))
            .map_err(|e| Error::Proj(e.to_string()))?
    } else {
        (cx, cy)
    };
    let grid = Grid {
        width: settings.size,
        height: settings.size,
        geo_transform: [
            ux - side / 2.0,
            settings.pixel_m,
            0.0,
            uy + side / 2.0,
            0.0,
            -settings.pixel_m,
        ],
        crs,
    };
    let dem = warp_band(&file, &grid, Resampling::Bilinear)?;
    let missing = dem.iter().filter(|v| !v.is_finite()).count() as f64 / dem.len() as f64;
    if missing > 0.02 {
        return Err(Error::bad_input(
            path,
            format!(
                "the DEM leaves {:.0} % of a {} px scene at {} m without elevation; use a smaller --size",
                missing * 100.0,
                settings.size,
                settings.pixel_m
            ),
        ));
    }
    Ok((grid, dem))
}

/// Laplacian of a field on a square grid (positive in hollows), mirrored at the edges.
fn laplacian(field: &Array2<f32>, pixel_m: f64) -> Array2<f32> {
    let (rows, cols) = field.dim();
    let at = |r: isize, c: isize| {
        field[(
            r.clamp(0, rows as isize - 1) as usize,
            c.clamp(0, cols as isize - 1) as usize,
        )]
    };
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let (r, c) = (r as isize, c as isize);
        (at(r - 1, c) + at(r + 1, c) + at(r, c - 1) + at(r, c + 1) - 4.0 * at(r, c))
            / (pixel_m * pixel_m) as f32
    })
}

/// Simulate one scene. `seed` fixes everything: the same seed gives the same scene.
pub fn simulate_scene(
    settings: &SimulationSettings,
    name: &str,
    seed: u64,
    dem_path: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Scene> {
    validate(settings)?;
    let stage = Stage {
        parent: progress,
        start: 0.0,
        span: 1.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let size = settings.size;
    let px = settings.pixel_m;
    let g = &settings.geometry;

    stage.step(0.0, "relief")?;
    let (grid, dem, relief_draw, dem_source) = match dem_path {
        Some(path) => {
            let (grid, dem) = dem_scene(path, settings)?;
            (grid, dem, None, path.display().to_string())
        }
        None => {
            let r = &settings.relief;
            let draw = relief::ReliefDraw {
                spectral_exponent: r.spectral_exponent.draw(&mut rng),
                valley_weight: r.valley_weight.draw(&mut rng),
                median_slope_deg: r.median_slope_deg.draw(&mut rng),
                base_elevation_m: r.base_elevation_m.draw(&mut rng),
            };
            let dem = relief::synthetic_dem(size, px, &draw, &mut rng);
            (
                scene_grid(settings)?,
                dem,
                Some(draw),
                "synthetic".to_string(),
            )
        }
    };

    // Acquisition.
    let orbit = settings.orbit.unwrap_or(if rng.random_bool(0.5) {
        Orbit::Ascending
    } else {
        Orbit::Descending
    });
    let heading_deg = match orbit {
        Orbit::Ascending => g.heading_ascending_deg,
        Orbit::Descending => g.heading_descending_deg,
    };
    let baseline_days = match settings.baseline_days {
        Some(d) => d,
        None => {
            let choices = &g.temporal_baselines_days;
            if choices.is_empty() {
                return Err(Error::parameter(
                    "geometry.temporal_baselines_days",
                    "is empty",
                ));
            }
            choices[rng.random_range(0..choices.len())]
        }
    };
    let perpendicular_baseline_m =
        rng.random_range(-g.max_perpendicular_baseline_m..=g.max_perpendicular_baseline_m);
    let first = NaiveDate::from_ymd_opt(g.years.0, 1, 1).unwrap_or_default();
    let last = NaiveDate::from_ymd_opt(g.years.1, 12, 31).unwrap_or(first);
    let span = (last - first).num_days().max(1);
    let primary_date = first + Duration::days(rng.random_range(0..span));
    let secondary_date = primary_date + Duration::days(i64::from(baseline_days));
    let incidence_centre_deg = g.incidence_centre_deg.draw(&mut rng);
    let incidence_deg = geometry::incidence_field(
        size,
        px,
        heading_deg,
        incidence_centre_deg,
        g.incidence_per_km_deg,
    );

    stage.step(0.15, "landslide bodies")?;
    let spacing = CellSpacing::uniform(px, size);
    let smooth = smoothing::gaussian_smooth(dem.view(), 4.0);
    let (smooth_slope, smooth_aspect) =
        slope_aspect(smooth.view(), &spacing, GradientMethod::ZevenbergenThorne);
    let hollows = laplacian(&smoothing::gaussian_smooth(dem.view(), 6.0), px);
    let origin = (grid.geo_transform[0], grid.geo_transform[3]);
    let placement = landslides::PlacementTerrain {
        slope: smooth_slope.view(),
        aspect: smooth_aspect.view(),
        laplacian: hollows.view(),
        pixel_m: px,
        origin,
    };
    let bodies = landslides::place_bodies(&placement, &settings.landslides, &mut rng);
    let mut footprints: Vec<Footprint> = bodies
        .iter()
        .filter_map(|b| {
            landslides::body_footprint(
                b,
                &placement,
                incidence_deg.view(),
                heading_deg,
                f64::from(baseline_days),
                settings.wavelength_m,
            )
        })
        .collect();

    stage.step(0.3, "coherence")?;
    let c = &settings.coherence;
    let vegetation_cover = c.vegetation_cover.draw(&mut rng);
    let vegetation = vegetation_share(size, vegetation_cover, &mut rng);
    let texture = relief::aperiodic_field(size, size, 2.0, &mut rng);
    let (slope, aspect) = slope_aspect(dem.view(), &spacing, GradientMethod::ZevenbergenThorne);
    let heading = heading_deg.to_radians();
    let centre_theta = incidence_centre_deg.to_radians();
    let critical = geometry::critical_baseline(
        settings.wavelength_m,
        geometry::slant_range(g.altitude_m, centre_theta),
        centre_theta,
        g.slant_range_resolution_m,
    );
    let base = c.thermal * coherence::geometric_coherence(perpendicular_baseline_m, critical);
    let bare_t =
        coherence::temporal_coherence(c.bare_long_term, c.bare_tau_days, f64::from(baseline_days));
    let veg_t = coherence::temporal_coherence(
        c.vegetation_long_term,
        c.vegetation_tau_days,
        f64::from(baseline_days),
    );
    let mut true_coherence = Array2::<f32>::zeros((size, size));
    Zip::indexed(&mut true_coherence).par_for_each(|(r, col), gamma| {
        let z = dem[(r, col)];
        if !z.is_finite() {
            *gamma = f32::NAN;
            return;
        }
        let v = f64::from(vegetation[(r, col)]);
        let temporal = (1.0 - v) * bare_t + v * veg_t;
        let beta = f64::from(slope[(r, col)]);
        let delta = f64::from(aspect[(r, col)]);
        let range_slope = if beta.is_finite() && delta.is_finite() {
            (beta.tan() * (delta - heading).sin()).atan()
        } else {
            0.0
        };
        let local = f64::from(incidence_deg[(r, col)]) - range_slope.to_degrees();
        let terrain = coherence::terrain_coherence(local, c.foreshortening_deg);
        let tex = 1.0 + 0.06 * f64::from(texture[(r, col)]);
        *gamma = (base * temporal * terrain * tex).clamp(0.02, 0.98) as f32;
    });
    for fp in &footprints {
        for ((i, j), w) in fp.weight.indexed_iter() {
            let gamma = &mut true_coherence[(fp.row0 + i, fp.col0 + j)];
            *gamma =
                (f64::from(*gamma) * (1.0 - fp.decorrelation * f64::from(*w))).max(0.02) as f32;
        }
    }

    stage.step(0.4, "artifacts and atmosphere")?;
    let a = &settings.atmosphere;
    let area_100km2 = (size as f64 * px).powi(2) / 1e8;
    let n_blobs = (a.blobs_per_100km2.draw(&mut rng) * area_100km2).round() as usize;
    let blobs = atmosphere::atmospheric_blobs(
        n_blobs,
        size,
        px,
        (a.blob_sigma_m.min, a.blob_sigma_m.max),
        (a.blob_delay_mm.min, a.blob_delay_mm.max),
        settings.wavelength_m,
        &mut rng,
    );
    let n_dem_errors = (a.dem_errors_per_100km2.draw(&mut rng) * area_100km2).round() as usize;
    let dem_errors = atmosphere::dem_error_residuals(
        n_dem_errors,
        dem.view(),
        incidence_deg.view(),
        px,
        (a.dem_error_m.min, a.dem_error_m.max),
        (a.dem_error_sigma_m.min, a.dem_error_sigma_m.max),
        perpendicular_baseline_m,
        settings.wavelength_m,
        g.altitude_m,
        &mut rng,
    );
    footprints.extend(
        blobs
            .iter()
            .chain(dem_errors.iter())
            .filter_map(|b| b.footprint(size, size)),
    );
    let turbulence_rms_mm = a.turbulence_rms_mm.draw(&mut rng);
    let stratified_mm_per_km = a.stratified_mm_per_km.draw(&mut rng);
    let turbulence =
        atmosphere::turbulent_delay(size, a.turbulence_exponent, turbulence_rms_mm, &mut rng);
    let stratified = atmosphere::stratified_delay(dem.view(), stratified_mm_per_km);
    let mm_to_rad = atmosphere::delay_phase(1.0, settings.wavelength_m) as f32;
    let mut true_phase = (&turbulence + &stratified) * mm_to_rad;
    for fp in &footprints {
        let mut window = true_phase.slice_mut(ndarray::s![
            fp.row0..fp.row0 + fp.phase.nrows(),
            fp.col0..fp.col0 + fp.phase.ncols()
        ]);
        window += &fp.phase;
    }
    Zip::from(&mut true_phase).and(&dem).for_each(|p, z| {
        if !z.is_finite() {
            *p = f32::NAN;
        }
    });

    stage.step(0.55, "phase noise")?;
    let noise_seed: u64 = rng.random();
    let raw = coherence::noisy_interferogram(
        true_coherence.view(),
        true_phase.view(),
        c.looks,
        noise_seed,
    );
    let estimated = coherence::estimated_coherence(raw.view(), c.estimation_radius);

    stage.step(0.7, "filtering")?;
    let sigma_px = 0.265 * settings.filter.gaussian_wavelength_m / px;
    let smoothed: Array2<Complex32> = smoothing::gaussian_smooth(raw.view(), sigma_px);
    let filtered = goldstein(smoothed.view(), settings.filter.goldstein);
    let phase = filtered.mapv(|z| if z.re.is_finite() { z.arg() } else { f32::NAN });

    stage.step(0.85, "labels")?;
    let clean = Zip::from(&true_coherence)
        .and(&true_phase)
        .map_collect(|g, p| {
            if g.is_finite() && p.is_finite() {
                Complex32::from_polar(*g, *p)
            } else {
                Complex32::new(f32::NAN, f32::NAN)
            }
        });
    let clean_filtered = goldstein(
        smoothing::gaussian_smooth(clean.view(), sigma_px).view(),
        settings.filter.goldstein,
    )
    .mapv(|z| if z.re.is_finite() { z.arg() } else { f32::NAN });
    let signals: Vec<TruthSignal> = footprints
        .iter()
        .filter_map(|fp| {
            labels::label(
                fp,
                labels::LabelEvidence {
                    coherence: true_coherence.view(),
                    clean_filtered: clean_filtered.view(),
                    processed: phase.view(),
                    true_phase: true_phase.view(),
                },
                &settings.labels,
            )
        })
        .collect();
    let description = SceneDescription {
        name: name.to_string(),
        seed,
        orbit,
        heading_deg,
        primary_date,
        secondary_date,
        temporal_baseline_days: baseline_days,
        perpendicular_baseline_m,
        wavelength_m: settings.wavelength_m,
        incidence_centre_deg,
        dem_source,
        relief: relief_draw,
        turbulence_rms_mm,
        stratified_mm_per_km,
        vegetation_cover,
        bodies: bodies.len(),
        active_bodies: bodies.iter().filter(|b| b.active).count(),
        labelled_signals: signals.iter().filter(|s| s.visible).count(),
        settings: settings.clone(),
    };
    stage.step(1.0, "done")?;
    Ok(Scene {
        grid,
        dem,
        phase,
        coherence: estimated,
        true_coherence,
        incidence_deg,
        bodies,
        signals,
        description,
    })
}

/// Vegetation share in [0, 1]: a smooth random field passed through a logistic so that about
/// `cover` of the scene is vegetated.
fn vegetation_share(size: usize, cover: f64, rng: &mut ChaCha8Rng) -> Array2<f32> {
    let field = relief::aperiodic_field(size, size, 3.0, rng);
    let mut sorted: Vec<f32> = field.iter().copied().collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let q = ((1.0 - cover).clamp(0.0, 1.0) * (sorted.len() - 1) as f64) as usize;
    let cut = sorted[q];
    field.mapv(|v| 1.0 / (1.0 + (-(v - cut) / 0.25).exp()))
}

fn validate(settings: &SimulationSettings) -> Result<()> {
    if settings.size < 64 || settings.size > 20_000 {
        return Err(Error::parameter(
            "size",
            format!("{} px: use 64 to 20000", settings.size),
        ));
    }
    if settings.pixel_m.is_nan() || settings.pixel_m <= 0.0 {
        return Err(Error::parameter("pixel_m", "must be positive"));
    }
    if settings.coherence.looks == 0 {
        return Err(Error::parameter("coherence.looks", "must be at least 1"));
    }
    if settings.filter.goldstein.patch < 4 || !settings.filter.goldstein.patch.is_power_of_two() {
        return Err(Error::parameter(
            "filter.goldstein.patch",
            "must be a power of two ≥ 4",
        ));
    }
    if let Some(d) = settings.baseline_days {
        if d == 0 || d > 400 {
            return Err(Error::parameter(
                "baseline-days",
                format!("{d}: use 1 to 400 days"),
            ));
        }
    }
    Ok(())
}
