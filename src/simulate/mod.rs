//! Simulated labelled interferograms (METHOD.md §2, §4, §7): the paper's labelled data cannot be
//! downloaded, so the detector is trained and scored on scenes simulated here.
//!
//! One scene, in order: relief (synthetic or a real DEM crop) → geometry (heading, per-pixel
//! incidence) → landslide bodies per class where the class lives, moving downslope → coherence
//! (thermal, baseline, temporal with vegetation, terrain, snow) → artifacts (atmospheric blobs, DEM
//! errors) → atmosphere (turbulent + stratified, orbital ramp, ionosphere) → L-look noise with the
//! exact interferometric statistics → the processing chain (`process`: Gaussian prefilter, phase
//! filter — Goldstein, coherence-adaptive Goldstein, adf-like, boxcar or none — and geocoding from
//! a coarser processor grid) → wrapping. Signals a person could see are labelled with boxes; every
//! body goes to an IFFI-like inventory. With `settings.domain` set (domain randomisation, the
//! `domain` module) each scene first draws its chain and physics from ranges.
//!
//! # Known limits (what real interferograms have that these do not)
//! - No radar-coordinate processing: the scene is simulated directly on the geocoded grid.
//!   Geocoding is emulated by averaging the processed product onto a coarser source grid and
//!   resampling it back (nearest or bilinear), so a source finer than 15 m is not emulated (only
//!   its look count is); there are no sub-swath or burst seams and no azimuth ambiguities;
//!   ramps and the ionosphere are smooth fields, not streaks.
//! - No unwrapping errors or processing artifacts of a real chain (the topographic phase is
//!   removed perfectly except for the simulated DEM-error patches).
//! - Coherence is a parametric model (vegetation patches, slopes, baselines, snow on the highest
//!   ground), not land cover; no urban point scatterers.
//! - Landslide motion is one displacement field per body along one downslope direction: a profile
//!   of drawn shape (smooth bowl, plug with sharp margins, cusp; peak towards the toe or the head)
//!   under domain randomisation, the smooth (1 − s²)² otherwise. Fast zones decorrelate where
//!   their phase gradient nears a fringe per pixel. Real slides also have internal blocks moving
//!   differently, lateral spreading, and accelerations within the interferogram's period.
//! - Relief is fractal with carved valleys, not a drained river network; with `--dem` a real DEM
//!   is used instead (`../shared/data/real/`).
//! - Labels follow fixed visibility thresholds (signal left after filtering, fringe fidelity of
//!   the processed phase over the box, a coherence floor), not a person's judgement: borderline
//!   signals are labelled or not by a threshold, not by context. Real experts also use
//!   inventories, orthophotos and persistence.
//!   Figures on these scenes are not real-world accuracy.

pub mod atmosphere;
pub mod coherence;
pub mod domain;
pub mod geocoding;
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
use crate::phase::goldstein::{goldstein, goldstein_adaptive};
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

    /// The class's code, the model contract's ([`crate::model::contract::CLASS_CODES`]).
    pub fn code(self) -> &'static str {
        crate::model::contract::CLASS_CODES[self as usize]
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
    /// The randomisation family the settings were drawn from (None: given settings).
    pub family: Option<String>,
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
fn dem_scene(
    path: &Path,
    settings: &SimulationSettings,
    offset: (f64, f64),
) -> Result<(Grid, Array2<f32>)> {
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
    // Half extents of the DEM in metres (local scale for degrees), and the room left around the
    // scene (90 %: a lat/lon DEM's footprint is slightly rotated in UTM).
    let (half_w, half_h) = if source.crs.geographic {
        let m_per_deg = 111_320.0;
        (
            (maxx - minx) / 2.0 * m_per_deg * cy.to_radians().cos(),
            (maxy - miny) / 2.0 * m_per_deg,
        )
    } else {
        ((maxx - minx) / 2.0, (maxy - miny) / 2.0)
    };
    let room = |half: f64| 0.9 * (half - side / 2.0).max(0.0);
    let (ux, uy) = (
        ux + offset.0.clamp(-1.0, 1.0) * room(half_w),
        uy + offset.1.clamp(-1.0, 1.0) * room(half_h),
    );
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
    let mut dem = warp_band(&file, &grid, Resampling::Bilinear)?;
    let missing = dem.iter().filter(|v| !v.is_finite()).count() as f64 / dem.len() as f64;
    if missing <= 0.1 {
        fill_voids(&mut dem);
    }
    if missing > 0.1 {
        return Err(Error::bad_input(
            path,
            format!(
                "the DEM leaves {:.0} % of a {} px scene at {} m without elevation; use a smaller `size`",
                missing * 100.0,
                settings.size,
                settings.pixel_m
            ),
        ));
    }
    Ok((grid, dem))
}

/// Fill a DEM's voids (NaN cells: SRTM/ASTER holes, a crop's ragged edge) by diffusion from
/// their edges: each pass sets every void cell with a valid 4-neighbour to the mean of those, until
/// none is left. Small holes get the surrounding elevation; the scene then has no nodata.
fn fill_voids(dem: &mut Array2<f32>) {
    let (rows, cols) = dem.dim();
    loop {
        let mut updates = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                if dem[(r, c)].is_finite() {
                    continue;
                }
                let (mut sum, mut n) = (0.0f32, 0);
                let neighbours = [
                    (r.wrapping_sub(1), c),
                    (r + 1, c),
                    (r, c.wrapping_sub(1)),
                    (r, c + 1),
                ];
                for (i, j) in neighbours {
                    if let Some(v) = dem.get((i, j)).filter(|v| v.is_finite()) {
                        sum += v;
                        n += 1;
                    }
                }
                if n > 0 {
                    updates.push((r, c, sum / n as f32));
                }
            }
        }
        if updates.is_empty() {
            return;
        }
        for (r, c, v) in updates {
            dem[(r, c)] = v;
        }
    }
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
    // A DEM given here becomes the settings' DEM crop, so that the recorded settings name it.
    if let Some(path) = dem_path {
        let mut pinned = settings.clone();
        pinned.dem = Some(params::DemCrop {
            path: path.display().to_string(),
            offset: (0.0, 0.0),
        });
        return simulate_scene(&pinned, name, seed, None, progress);
    }
    if let Some(domain) = &settings.domain {
        let drawn = domain::draw_scene_settings(settings, seed)?;
        let mut scene = simulate_scene(&drawn, name, seed, None, progress)?;
        scene.description.family = Some(domain.family.clone());
        return Ok(scene);
    }
    validate(settings)?;
    simulate_fixed(settings, name, seed, progress)
}

/// The relief of a scene: its grid and DEM, with the draw of a synthetic relief.
struct SceneRelief {
    grid: Grid,
    dem: Array2<f32>,
    /// `None` for a real DEM crop.
    draw: Option<relief::ReliefDraw>,
    /// The DEM's path, or "synthetic".
    source: String,
}

/// The drawn acquisition: orbit, dates, baselines and incidence.
struct Acquisition {
    orbit: Orbit,
    heading_deg: f64,
    baseline_days: u32,
    perpendicular_baseline_m: f64,
    primary_date: NaiveDate,
    secondary_date: NaiveDate,
    incidence_centre_deg: f64,
    /// Per-pixel incidence, degrees.
    incidence_deg: Array2<f32>,
}

/// The true (noise-free, unwrapped) phase of a scene and the atmosphere's draws.
struct TruePhase {
    phase: Array2<f32>,
    turbulence_rms_mm: f64,
    stratified_mm_per_km: f64,
}

/// One scene of validated settings without a DEM argument or randomisation, step by step in the
/// order of the module documentation.
fn simulate_fixed(
    settings: &SimulationSettings,
    name: &str,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Scene> {
    let stage = Stage::whole(progress);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    stage.step(0.0, "relief")?;
    let relief = scene_relief(settings, &mut rng)?;
    let acquisition = draw_acquisition(settings, &mut rng)?;

    stage.step(0.15, "landslide bodies")?;
    let (bodies, mut footprints) = place_landslides(settings, &relief, &acquisition, &mut rng);

    stage.step(0.3, "coherence")?;
    let (vegetation_cover, true_coherence) =
        true_coherence(settings, &relief.dem, &acquisition, &footprints, &mut rng);

    stage.step(0.4, "artifacts and atmosphere")?;
    add_artifacts(
        settings,
        &relief.dem,
        &acquisition,
        &mut footprints,
        &mut rng,
    );
    let true_phase = true_phase(settings, seed, &relief.dem, &footprints, &mut rng);

    stage.step(0.55, "phase noise")?;
    let (raw, estimated) = observe(settings, &true_coherence, &true_phase.phase, &mut rng);

    stage.step(0.7, "filtering")?;
    let phase = wrapped(process(raw.view(), estimated.view(), settings));
    let written_coherence = written_coherence(&estimated, settings);

    stage.step(0.85, "labels")?;
    let signals = label_signals(
        settings,
        &footprints,
        &true_coherence,
        &true_phase.phase,
        &estimated,
        &phase,
    );
    let description = SceneDescription {
        name: name.to_string(),
        seed,
        orbit: acquisition.orbit,
        heading_deg: acquisition.heading_deg,
        primary_date: acquisition.primary_date,
        secondary_date: acquisition.secondary_date,
        temporal_baseline_days: acquisition.baseline_days,
        perpendicular_baseline_m: acquisition.perpendicular_baseline_m,
        wavelength_m: settings.wavelength_m,
        incidence_centre_deg: acquisition.incidence_centre_deg,
        dem_source: relief.source,
        relief: relief.draw,
        turbulence_rms_mm: true_phase.turbulence_rms_mm,
        stratified_mm_per_km: true_phase.stratified_mm_per_km,
        vegetation_cover,
        family: None,
        bodies: bodies.len(),
        active_bodies: bodies.iter().filter(|b| b.active).count(),
        labelled_signals: signals.iter().filter(|s| s.visible).count(),
        settings: settings.clone(),
    };
    stage.step(1.0, "done")?;
    Ok(Scene {
        grid: relief.grid,
        dem: relief.dem,
        phase,
        coherence: written_coherence,
        true_coherence,
        incidence_deg: acquisition.incidence_deg,
        bodies,
        signals,
        description,
    })
}

/// The relief: the settings' DEM crop, else a synthetic DEM of drawn character.
fn scene_relief(settings: &SimulationSettings, rng: &mut ChaCha8Rng) -> Result<SceneRelief> {
    let crop = settings
        .dem
        .as_ref()
        .map(|c| (std::path::PathBuf::from(&c.path), c.offset));
    Ok(match crop {
        Some((path, offset)) => {
            let (grid, dem) = dem_scene(&path, settings, offset)?;
            SceneRelief {
                grid,
                dem,
                draw: None,
                source: path.display().to_string(),
            }
        }
        None => {
            let r = &settings.relief;
            let draw = relief::ReliefDraw {
                spectral_exponent: r.spectral_exponent.draw(rng),
                valley_weight: r.valley_weight.draw(rng),
                median_slope_deg: r.median_slope_deg.draw(rng),
                base_elevation_m: r.base_elevation_m.draw(rng),
            };
            let dem = relief::synthetic_dem(settings.size, settings.pixel_m, &draw, rng);
            SceneRelief {
                grid: scene_grid(settings)?,
                dem,
                draw: Some(draw),
                source: "synthetic".to_string(),
            }
        }
    })
}

/// Draw the acquisition: orbit (unless fixed), temporal baseline (unless fixed), perpendicular
/// baseline, dates and the incidence at the scene centre, and the per-pixel incidence.
fn draw_acquisition(settings: &SimulationSettings, rng: &mut ChaCha8Rng) -> Result<Acquisition> {
    let g = &settings.geometry;
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
    let incidence_centre_deg = g.incidence_centre_deg.draw(rng);
    let incidence_deg = geometry::incidence_field(
        settings.size,
        settings.pixel_m,
        heading_deg,
        incidence_centre_deg,
        g.incidence_per_km_deg,
    );
    Ok(Acquisition {
        orbit,
        heading_deg,
        baseline_days,
        perpendicular_baseline_m,
        primary_date,
        secondary_date,
        incidence_centre_deg,
        incidence_deg,
    })
}

/// Place the landslide bodies on the smoothed terrain; returns them with the footprints of those
/// that move.
fn place_landslides(
    settings: &SimulationSettings,
    relief: &SceneRelief,
    acquisition: &Acquisition,
    rng: &mut ChaCha8Rng,
) -> (Vec<Body>, Vec<Footprint>) {
    let px = settings.pixel_m;
    let dem = &relief.dem;
    let spacing = CellSpacing::uniform(px, settings.size);
    let smooth = smoothing::gaussian_smooth(dem.view(), 4.0);
    let (smooth_slope, smooth_aspect) =
        slope_aspect(smooth.view(), &spacing, GradientMethod::ZevenbergenThorne);
    let hollows = laplacian(&smoothing::gaussian_smooth(dem.view(), 6.0), px);
    let origin = (relief.grid.geo_transform[0], relief.grid.geo_transform[3]);
    let placement = landslides::PlacementTerrain {
        slope: smooth_slope.view(),
        aspect: smooth_aspect.view(),
        laplacian: hollows.view(),
        pixel_m: px,
        origin,
    };
    let bodies = landslides::place_bodies(&placement, &settings.landslides, rng);
    let footprints = bodies
        .iter()
        .filter_map(|b| {
            landslides::body_footprint(
                b,
                &placement,
                acquisition.incidence_deg.view(),
                acquisition.heading_deg,
                f64::from(acquisition.baseline_days),
                settings.wavelength_m,
            )
        })
        .collect();
    (bodies, footprints)
}

/// The model's true coherence: the ground's (vegetation drawn here), then lowered on the moving
/// bodies. Returns the drawn vegetation cover with it.
fn true_coherence(
    settings: &SimulationSettings,
    dem: &Array2<f32>,
    acquisition: &Acquisition,
    footprints: &[Footprint],
    rng: &mut ChaCha8Rng,
) -> (f64, Array2<f32>) {
    let size = settings.size;
    let vegetation_cover = settings.coherence.vegetation_cover.draw(rng);
    let vegetation = vegetation_share(size, vegetation_cover, rng);
    let texture = relief::aperiodic_field(size, size, 2.0, rng);
    let mut gamma = ground_coherence(settings, dem, acquisition, &vegetation, &texture);
    decorrelate_bodies(&mut gamma, footprints, settings);
    (vegetation_cover, gamma)
}

/// Coherence of the ground: thermal × geometric (baseline) × temporal (bare or vegetated) ×
/// terrain (local incidence) × texture × snow; NaN where the DEM has no value.
fn ground_coherence(
    settings: &SimulationSettings,
    dem: &Array2<f32>,
    acquisition: &Acquisition,
    vegetation: &Array2<f32>,
    texture: &Array2<f32>,
) -> Array2<f32> {
    let c = &settings.coherence;
    let g = &settings.geometry;
    let size = settings.size;
    let spacing = CellSpacing::uniform(settings.pixel_m, size);
    let (slope, aspect) = slope_aspect(dem.view(), &spacing, GradientMethod::ZevenbergenThorne);
    let heading = acquisition.heading_deg.to_radians();
    let centre_theta = acquisition.incidence_centre_deg.to_radians();
    let critical = geometry::critical_baseline(
        settings.wavelength_m,
        geometry::slant_range(g.altitude_m, centre_theta),
        centre_theta,
        g.slant_range_resolution_m,
    );
    let base =
        c.thermal * coherence::geometric_coherence(acquisition.perpendicular_baseline_m, critical);
    let days = f64::from(acquisition.baseline_days);
    let bare_t = coherence::temporal_coherence(c.bare_long_term, c.bare_tau_days, days);
    let veg_t = coherence::temporal_coherence(c.vegetation_long_term, c.vegetation_tau_days, days);
    let snow_line = snow_line(dem, c.snow_cover);
    let incidence_deg = &acquisition.incidence_deg;
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
        let snow = if z > snow_line { 0.1 } else { 1.0 };
        *gamma = (base * temporal * terrain * tex * snow).clamp(0.02, 0.98) as f32;
    });
    true_coherence
}

/// The elevation above which the highest `snow_cover` of the ground lies under snow (γ × 0.1);
/// infinite without snow.
fn snow_line(dem: &Array2<f32>, snow_cover: f64) -> f32 {
    if snow_cover > 0.0 {
        let mut heights: Vec<f32> = dem.iter().copied().filter(|z| z.is_finite()).collect();
        heights.sort_by(|a, b| a.total_cmp(b));
        let q =
            ((1.0 - snow_cover.clamp(0.0, 1.0)) * heights.len().saturating_sub(1) as f64) as usize;
        heights.get(q).copied().unwrap_or(f32::INFINITY)
    } else {
        f32::INFINITY
    }
}

/// Lower the coherence on every footprint: moving bodies decorrelate by their weight, and (with
/// `gradient_decorrelation`) where their phase gradient nears a fringe per pixel.
fn decorrelate_bodies(
    true_coherence: &mut Array2<f32>,
    footprints: &[Footprint],
    settings: &SimulationSettings,
) {
    for fp in footprints {
        let aliasing = settings
            .landslides
            .gradient_decorrelation
            .then(|| coherence::gradient_coherence(fp.phase.view()));
        for ((i, j), w) in fp.weight.indexed_iter() {
            let gamma = &mut true_coherence[(fp.row0 + i, fp.col0 + j)];
            let left = aliasing.as_ref().map_or(1.0, |a| f64::from(a[(i, j)]));
            *gamma = (f64::from(*gamma) * (1.0 - fp.decorrelation * f64::from(*w)) * left).max(0.02)
                as f32;
        }
    }
}

/// Draw the artifacts (atmospheric blobs, DEM-error residuals) and add their footprints.
fn add_artifacts(
    settings: &SimulationSettings,
    dem: &Array2<f32>,
    acquisition: &Acquisition,
    footprints: &mut Vec<Footprint>,
    rng: &mut ChaCha8Rng,
) {
    let a = &settings.atmosphere;
    let (size, px) = (settings.size, settings.pixel_m);
    let area_100km2 = (size as f64 * px).powi(2) / 1e8;
    let n_blobs = (a.blobs_per_100km2.draw(rng) * area_100km2).round() as usize;
    let blobs = atmosphere::atmospheric_blobs(
        n_blobs,
        size,
        px,
        (a.blob_sigma_m.min, a.blob_sigma_m.max),
        (a.blob_delay_mm.min, a.blob_delay_mm.max),
        settings.wavelength_m,
        rng,
    );
    let n_dem_errors = (a.dem_errors_per_100km2.draw(rng) * area_100km2).round() as usize;
    let dem_errors = atmosphere::dem_error_residuals(
        n_dem_errors,
        dem.view(),
        acquisition.incidence_deg.view(),
        px,
        (a.dem_error_m.min, a.dem_error_m.max),
        (a.dem_error_sigma_m.min, a.dem_error_sigma_m.max),
        acquisition.perpendicular_baseline_m,
        settings.wavelength_m,
        settings.geometry.altitude_m,
        rng,
    );
    footprints.extend(
        blobs
            .iter()
            .chain(dem_errors.iter())
            .filter_map(|b| b.footprint(size, size)),
    );
}

/// The true phase: the atmosphere (turbulent and stratified delay, orbital ramp, ionosphere)
/// plus every footprint's signal; NaN where the DEM has no value.
fn true_phase(
    settings: &SimulationSettings,
    seed: u64,
    dem: &Array2<f32>,
    footprints: &[Footprint],
    rng: &mut ChaCha8Rng,
) -> TruePhase {
    let (turbulence_rms_mm, stratified_mm_per_km, mut phase) =
        atmospheric_phase(settings, seed, dem, rng);
    for fp in footprints {
        let mut window = phase.slice_mut(ndarray::s![
            fp.row0..fp.row0 + fp.phase.nrows(),
            fp.col0..fp.col0 + fp.phase.ncols()
        ]);
        window += &fp.phase;
    }
    Zip::from(&mut phase).and(dem).for_each(|p, z| {
        if !z.is_finite() {
            *p = f32::NAN;
        }
    });
    TruePhase {
        phase,
        turbulence_rms_mm,
        stratified_mm_per_km,
    }
}

/// The atmosphere's phase (turbulent and stratified delay, orbital ramp, ionosphere), with the
/// drawn turbulence RMS (mm) and stratification (mm per km).
fn atmospheric_phase(
    settings: &SimulationSettings,
    seed: u64,
    dem: &Array2<f32>,
    rng: &mut ChaCha8Rng,
) -> (f64, f64, Array2<f32>) {
    let a = &settings.atmosphere;
    let (size, px) = (settings.size, settings.pixel_m);
    let turbulence_rms_mm = a.turbulence_rms_mm.draw(rng);
    let stratified_mm_per_km = a.stratified_mm_per_km.draw(rng);
    let turbulence =
        atmosphere::turbulent_delay(size, a.turbulence_exponent, turbulence_rms_mm, rng);
    let stratified = atmosphere::stratified_delay(dem.view(), stratified_mm_per_km);
    let mm_to_rad = atmosphere::delay_phase(1.0, settings.wavelength_m) as f32;
    let mut phase = (&turbulence + &stratified) * mm_to_rad;
    if let Some(r) = a.ramp {
        phase += &atmosphere::orbital_ramp(
            size,
            size,
            r.amplitude_rad,
            r.azimuth_deg.to_radians(),
            r.quadratic,
        );
    }
    if let Some(i) = a.ionosphere {
        // Its own stream, so that adding it moves no other draw.
        let mut iono_rng = ChaCha8Rng::seed_from_u64(seed);
        iono_rng.set_stream(0x10_05);
        phase += &atmosphere::ionospheric_screen(
            size,
            size,
            px,
            i.rms_rad,
            i.gradient_rad_per_km,
            i.azimuth_deg.to_radians(),
            &mut iono_rng,
        );
    }
    (turbulence_rms_mm, stratified_mm_per_km, phase)
}

/// The interferogram as observed: L-look noise of the true coherence on the true phase (its seed
/// drawn here), and the coherence estimated from it.
fn observe(
    settings: &SimulationSettings,
    true_coherence: &Array2<f32>,
    true_phase: &Array2<f32>,
    rng: &mut ChaCha8Rng,
) -> (Array2<Complex32>, Array2<f32>) {
    let c = &settings.coherence;
    let noise_seed: u64 = rng.random();
    let raw = coherence::noisy_interferogram(
        true_coherence.view(),
        true_phase.view(),
        c.looks,
        noise_seed,
    );
    let estimated = coherence::estimated_coherence(raw.view(), c.estimation_radius);
    (raw, estimated)
}

/// The wrapped phase of a complex interferogram, radians (NaN where it has no value).
fn wrapped(interferogram: Array2<Complex32>) -> Array2<f32> {
    interferogram.mapv(|z| if z.re.is_finite() { z.arg() } else { f32::NAN })
}

/// The coherence a processor writes: the estimate (debiased if asked), geocoded from the
/// processor's grid when the settings emulate it.
fn written_coherence(estimated: &Array2<f32>, settings: &SimulationSettings) -> Array2<f32> {
    let c = &settings.coherence;
    let window = (2 * c.estimation_radius + 1).pow(2) * c.looks;
    let coherence = if c.debiased {
        coherence::debiased_coherence(estimated.view(), window)
    } else {
        estimated.clone()
    };
    match settings.geocoding {
        Some(g) => geocoding::geocode_real_from_source(
            coherence.view(),
            settings.pixel_m,
            g.source_pixel_m,
            g.offset_px,
            g.resampling,
        ),
        None => coherence,
    }
}

/// Every footprint's truth signal, labelled visible or not from the evidence: the noise-free
/// scene through the same processing chain, the processed phase and the true coherence.
fn label_signals(
    settings: &SimulationSettings,
    footprints: &[Footprint],
    true_coherence: &Array2<f32>,
    true_phase: &Array2<f32>,
    estimated: &Array2<f32>,
    phase: &Array2<f32>,
) -> Vec<TruthSignal> {
    let clean = Zip::from(true_coherence)
        .and(true_phase)
        .map_collect(|g, p| {
            if g.is_finite() && p.is_finite() {
                Complex32::from_polar(*g, *p)
            } else {
                Complex32::new(f32::NAN, f32::NAN)
            }
        });
    let clean_filtered = wrapped(process(clean.view(), estimated.view(), settings));
    let noise_std = if settings.labels.noise_factor > 0.0 {
        labels::local_noise(phase.view(), clean_filtered.view(), 7)
    } else {
        Array2::zeros(phase.dim())
    };
    footprints
        .iter()
        .filter_map(|fp| {
            labels::label(
                fp,
                labels::LabelEvidence {
                    coherence: true_coherence.view(),
                    clean_filtered: clean_filtered.view(),
                    processed: phase.view(),
                    true_phase: true_phase.view(),
                    noise_std: noise_std.view(),
                },
                &settings.labels,
            )
        })
        .collect()
}

/// The processing chain of the settings on a complex interferogram, as a processor runs it:
/// Gaussian prefilter → phase filter (`filter.method`; the adaptive ones take α from
/// `coherence`) → geocoding from the processor's grid. The noise-free scene goes through the same
/// chain for the labels.
fn process(
    interferogram: ndarray::ArrayView2<Complex32>,
    coherence: ndarray::ArrayView2<f32>,
    settings: &SimulationSettings,
) -> Array2<Complex32> {
    use params::FilterMethod;
    let f = &settings.filter;
    let sigma_px = 0.265 * f.gaussian_wavelength_m / settings.pixel_m;
    let smoothed: Array2<Complex32> = if sigma_px > 0.0 {
        smoothing::gaussian_smooth(interferogram, sigma_px)
    } else {
        interferogram.to_owned()
    };
    let filtered = match f.method {
        FilterMethod::Goldstein => goldstein(smoothed.view(), f.goldstein),
        FilterMethod::GoldsteinAdaptive => {
            goldstein_adaptive(smoothed.view(), coherence, f.goldstein.patch)
        }
        FilterMethod::Adf(a) => crate::phase::adf::adf(smoothed.view(), coherence, a),
        FilterMethod::Boxcar { side } => crate::phase::boxcar::boxcar(smoothed.view(), side),
        FilterMethod::None => smoothed,
    };
    match settings.geocoding {
        Some(g) => geocoding::geocode_from_source(
            filtered.view(),
            settings.pixel_m,
            g.source_pixel_m,
            g.offset_px,
            g.resampling,
        ),
        None => filtered,
    }
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
    if let Some(p) = &settings.landslides.profiles {
        let positive = |i: &params::Interval| i.min > 0.0 && i.max >= i.min && i.max.is_finite();
        if !positive(&p.edge_exponent) || !positive(&p.peak_exponent) {
            return Err(Error::parameter(
                "landslides.profiles",
                "edge and peak exponents must be positive intervals (min ≤ max)",
            ));
        }
        if !(p.skew.min > -1.0 && p.skew.max < 1.0 && p.skew.min <= p.skew.max) {
            return Err(Error::parameter(
                "landslides.profiles.skew",
                "must lie in (−1, 1) with min ≤ max",
            ));
        }
    }
    if settings.filter.goldstein.patch < 4 || !settings.filter.goldstein.patch.is_power_of_two() {
        return Err(Error::parameter(
            "filter.goldstein.patch",
            "must be a power of two ≥ 4",
        ));
    }
    match settings.filter.method {
        params::FilterMethod::Boxcar { side } if side == 0 || side > 63 => {
            return Err(Error::parameter(
                "filter.method.side",
                format!("{side} px: use 1 to 63"),
            ));
        }
        params::FilterMethod::Adf(a)
            if a.patch < 4 || !a.patch.is_power_of_two() || a.step == 0 || a.step > a.patch =>
        {
            return Err(Error::parameter(
                "filter.method",
                "adf patch must be a power of two ≥ 4 and its step in 1..=patch",
            ));
        }
        _ => {}
    }
    if let Some(g) = settings.geocoding {
        if !(g.source_pixel_m > 0.0 && g.source_pixel_m <= 1000.0) {
            return Err(Error::parameter(
                "geocoding.source_pixel_m",
                "must lie in (0, 1000] m",
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dem_voids_are_filled_from_their_edges() {
        // A tilted plane with a 3 × 3 hole and a missing corner: filled cells lie between their
        // neighbours, and nothing is left void.
        let mut dem = Array2::from_shape_fn((8, 8), |(r, c)| (10 * r + c) as f32);
        for r in 3..6 {
            for c in 3..6 {
                dem[(r, c)] = f32::NAN;
            }
        }
        dem[(0, 0)] = f32::NAN;
        fill_voids(&mut dem);
        assert!(dem.iter().all(|v| v.is_finite()));
        assert_eq!(dem[(0, 0)], 5.5, "mean of (0,1) = 1 and (1,0) = 10");
        assert!(dem[(4, 4)] > 30.0 && dem[(4, 4)] < 60.0, "{}", dem[(4, 4)]);
        assert_eq!(dem[(2, 2)], 22.0, "valid cells untouched");
    }
}
