//! Domain randomisation: each scene draws its processing chain and its physics from wide,
//! physically plausible ranges, so that no single modelling choice (one filter, one noise level,
//! one relief) can be learnt as a shortcut (Tobin et al. 2017; ranges from
//! `../shared/docs/PROCESSING_RANGES.md`: GMTSAR, HyP3 GAMMA/ISCE, LiCSAR, ISCE2, SNAP).
//!
//! A draw turns [`DomainSettings`] into plain [`SimulationSettings`] for one scene (every drawn
//! value written into the settings, `domain` unset). The draw uses its own random stream, derived
//! from the scene seed, so the scene is then simulated from those settings exactly as a scene
//! without randomisation: the settings recorded in `scene.json` with the scene's seed reproduce
//! it bit for bit.
//!
//! Families ([`Family`]): `fixed` is the single GMTSAR-like chain of the defaults; `randomised`
//! is the training family; `outside` draws every processing choice from outside the training
//! ranges (boxcar filtering, coarse 50–80 m source grids, 1–2 looks, 9×9–11×11 coherence
//! windows, steeper and stronger turbulence), held out to measure generalisation to a processor
//! that training never saw. Relief held out by place (the SRTM3 Matese tile, `N41E014`) is
//! refused in the randomised family's DEM pool.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::geocoding::GeocodeResampling;
use super::params::{
    DemCrop, FilterMethod, GeocodingSettings, Interval, IonosphereSettings, ProfileSettings,
    RampSettings, SimulationSettings,
};
use crate::error::{Error, Result};
use crate::phase::adf::AdfSettings;
use crate::phase::SENTINEL1_WAVELENGTH_M;

/// Name fragment of the DEM reserved for held-out evaluation (SRTM3 tile N41E014, Matese).
pub const HELD_OUT_DEM: &str = "N41E014";

/// Relative weights of the phase filters a scene draws from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FilterWeights {
    pub none: f64,
    pub goldstein: f64,
    pub goldstein_adaptive: f64,
    pub adf: f64,
    pub boxcar: f64,
}

/// The ranges one family of scenes draws from. Phases in radians and velocities in mm/day, as
/// processors and papers quote them; converted to the simulator's units when drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainSettings {
    /// Family name, recorded with every scene.
    pub family: String,
    /// Equivalent number of looks, drawn log-uniformly and rounded.
    pub looks: Interval,
    /// Half-size of the coherence estimation window, pixels (1 → 3×3), uniform integer.
    pub coherence_radius: (usize, usize),
    /// Share of scenes whose coherence has the low-γ bias removed.
    pub debiased_share: f64,
    pub filters: FilterWeights,
    /// Goldstein exponent α (fixed-α filter).
    pub goldstein_alpha: Interval,
    /// FFT patch sizes of the Goldstein and adf filters (one drawn).
    pub patches: Vec<usize>,
    /// Side of the boxcar filter, pixels (odd), uniform integer.
    pub boxcar_side: (usize, usize),
    /// Share of scenes with the 100 m Gaussian prefilter.
    pub prefilter_share: f64,
    /// Processor grid spacing before geocoding, metres (≤ 15 m: none).
    pub source_pixel_m: Interval,
    /// Share of geocoded scenes resampled by nearest neighbour (else bilinear).
    pub nearest_share: f64,
    /// Exponent β of the turbulence spectrum (8/3: Kolmogorov in 2-D).
    pub turbulence_exponent: Interval,
    /// RMS of the turbulent phase over the scene, radians.
    pub turbulence_rms_rad: Interval,
    /// Stratified delay, mm per km of elevation.
    pub stratified_mm_per_km: Interval,
    /// Localised atmospheric blobs per 100 km².
    pub blobs_per_100km2: Interval,
    /// Blob radius (Gaussian σ), metres: 40–700 m boxes (±1.95σ) of about 160 m to 2.7 km.
    pub blob_sigma_m: Interval,
    /// Blob peak phase, radians.
    pub blob_rad: Interval,
    /// DEM-error patches on high ground per 100 km², and their peak error in metres.
    pub dem_errors_per_100km2: Interval,
    pub dem_error_m: Interval,
    /// Share of scenes with a residual orbital ramp, and its peak-to-peak phase (radians).
    pub ramp_share: f64,
    pub ramp_rad: Interval,
    /// Share of scenes with an ionospheric screen, its RMS (radians) and gradient (rad/km).
    pub ionosphere_share: f64,
    pub ionosphere_rms_rad: Interval,
    pub ionosphere_gradient_rad_per_km: Interval,
    /// Landslide velocities, mm/day: each class's range is rescaled into this one, log-wise.
    pub velocity_mm_per_day: Interval,
    /// Shapes of the displacement profiles, drawn per body (none: the smooth default). Absent in
    /// settings written before it existed, so they reproduce their scenes.
    #[serde(default)]
    pub profiles: Option<ProfileSettings>,
    /// Share of the scene covered by vegetation.
    pub vegetation_cover: Interval,
    /// Share of scenes with snow, and the share of the highest ground it covers.
    pub snow_share: f64,
    pub snow_cover: Interval,
    /// Largest |perpendicular baseline| (metres) and the temporal baselines (days) drawn from.
    pub max_perpendicular_baseline_m: Interval,
    pub temporal_baselines_days: Vec<u32>,
    /// Median slope of synthetic relief, degrees.
    pub median_slope_deg: Interval,
    /// Real DEMs a scene may be cut from (any GDAL raster), and the share of synthetic relief.
    pub dems: Vec<String>,
    pub synthetic_share: f64,
}

/// The scene families of the project (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Fixed,
    Randomised,
    Outside,
}

impl Family {
    pub fn parse(name: &str) -> Option<Family> {
        match name {
            "fixed" => Some(Family::Fixed),
            "randomised" => Some(Family::Randomised),
            "outside" => Some(Family::Outside),
            _ => None,
        }
    }

    /// Settings of the family: the defaults with its domain ranges (none for `fixed`), drawing
    /// relief from `dems` (and synthetic relief) where the family uses real DEMs.
    pub fn settings(self, dems: &[String]) -> SimulationSettings {
        SimulationSettings {
            domain: match self {
                Family::Fixed => None,
                Family::Randomised => Some(DomainSettings::randomised(dems)),
                Family::Outside => Some(DomainSettings::outside(dems)),
            },
            ..SimulationSettings::default()
        }
    }
}

impl DomainSettings {
    /// The training family: every range the issue and PROCESSING_RANGES.md name.
    pub fn randomised(dems: &[String]) -> DomainSettings {
        DomainSettings {
            family: "randomised".into(),
            looks: Interval::new(3.0, 50.0),
            coherence_radius: (1, 3),
            debiased_share: 0.3,
            filters: FilterWeights {
                none: 0.1,
                goldstein: 0.35,
                goldstein_adaptive: 0.25,
                adf: 0.3,
                boxcar: 0.0,
            },
            goldstein_alpha: Interval::new(0.2, 1.0),
            patches: vec![32, 64],
            boxcar_side: (3, 5),
            prefilter_share: 0.5,
            source_pixel_m: Interval::new(5.0, 40.0),
            nearest_share: 0.5,
            turbulence_exponent: Interval::new(5.0 / 3.0, 3.2),
            turbulence_rms_rad: Interval::new(0.2, 3.0),
            stratified_mm_per_km: Interval::new(-12.0, 12.0),
            blobs_per_100km2: Interval::new(0.2, 2.5),
            blob_sigma_m: Interval::new(40.0, 700.0),
            blob_rad: Interval::new(0.5, 4.0),
            dem_errors_per_100km2: Interval::new(0.0, 1.5),
            dem_error_m: Interval::new(5.0, 40.0),
            ramp_share: 0.5,
            ramp_rad: Interval::new(0.5, 6.0),
            ionosphere_share: 0.3,
            ionosphere_rms_rad: Interval::new(0.2, 2.0),
            ionosphere_gradient_rad_per_km: Interval::new(0.0, 0.1),
            velocity_mm_per_day: Interval::new(0.1, 30.0),
            profiles: Some(ProfileSettings::default()),
            vegetation_cover: Interval::new(0.05, 0.85),
            snow_share: 0.2,
            snow_cover: Interval::new(0.05, 0.4),
            max_perpendicular_baseline_m: Interval::new(50.0, 300.0),
            temporal_baselines_days: vec![6, 12, 12, 18, 24, 30, 36, 48],
            median_slope_deg: Interval::new(8.0, 28.0),
            dems: dems.to_vec(),
            synthetic_share: if dems.is_empty() { 1.0 } else { 0.4 },
        }
    }

    /// The held-out processing family: every processing choice outside the training ranges.
    pub fn outside(dems: &[String]) -> DomainSettings {
        DomainSettings {
            family: "outside".into(),
            looks: Interval::new(1.0, 2.0),
            coherence_radius: (4, 5),
            debiased_share: 0.0,
            filters: FilterWeights {
                none: 0.0,
                goldstein: 0.0,
                goldstein_adaptive: 0.0,
                adf: 0.0,
                boxcar: 1.0,
            },
            boxcar_side: (3, 5),
            source_pixel_m: Interval::new(50.0, 80.0),
            nearest_share: 0.0,
            turbulence_exponent: Interval::new(3.3, 3.6),
            turbulence_rms_rad: Interval::new(3.0, 4.0),
            blob_rad: Interval::new(4.0, 5.0),
            prefilter_share: 0.0,
            ..DomainSettings::randomised(dems)
        }
    }

    fn check(&self) -> Result<()> {
        let weights = self.filters;
        let total = weights.none
            + weights.goldstein
            + weights.goldstein_adaptive
            + weights.adf
            + weights.boxcar;
        if total.is_nan()
            || total <= 0.0
            || [
                weights.none,
                weights.goldstein,
                weights.goldstein_adaptive,
                weights.adf,
                weights.boxcar,
            ]
            .iter()
            .any(|w| *w < 0.0)
        {
            return Err(Error::parameter(
                "domain.filters",
                "weights must be ≥ 0 with a positive sum",
            ));
        }
        if self.looks.min < 1.0 {
            return Err(Error::parameter("domain.looks", "must be at least 1"));
        }
        if self.patches.iter().any(|p| *p < 4 || !p.is_power_of_two()) || self.patches.is_empty() {
            return Err(Error::parameter(
                "domain.patches",
                "powers of two ≥ 4, at least one",
            ));
        }
        if self.temporal_baselines_days.is_empty() {
            return Err(Error::parameter(
                "domain.temporal_baselines_days",
                "is empty",
            ));
        }
        if self.family == "randomised" {
            if let Some(d) = self.dems.iter().find(|d| d.contains(HELD_OUT_DEM)) {
                return Err(Error::parameter(
                    "domain.dems",
                    format!("{d} is the held-out Matese tile: keep it out of training scenes"),
                ));
            }
        }
        if self.dems.is_empty() && self.synthetic_share <= 0.0 {
            return Err(Error::parameter(
                "domain.dems",
                "no DEM and no synthetic relief to draw from",
            ));
        }
        Ok(())
    }
}

/// The delay in millimetres whose phase is `rad` radians: the inverse of
/// [`super::atmosphere::delay_phase`] (φ = 4π·d/λ, linear in d).
fn mm_of_rad(rad: f64, wavelength_m: f64) -> f64 {
    rad / super::atmosphere::delay_phase(1.0, wavelength_m)
}

/// Uniform integer in [lo, hi].
fn integer(range: (usize, usize), rng: &mut impl Rng) -> usize {
    let (lo, hi) = (range.0.min(range.1), range.0.max(range.1));
    rng.random_range(lo..=hi)
}

fn odd(side: usize) -> usize {
    side | 1
}

/// Velocity range of one class mapped log-wise into `target` (mm/day), in m/yr.
fn rescaled_velocity(class: Interval, default_span: Interval, target: Interval) -> Interval {
    let to_m_per_yr = 365.25 / 1000.0;
    let (lo, hi) = (default_span.min.ln(), default_span.max.ln());
    let (t_lo, t_hi) = (
        (target.min * to_m_per_yr).ln(),
        (target.max * to_m_per_yr).ln(),
    );
    let map = |v: f64| {
        let share = if hi > lo {
            (v.ln() - lo) / (hi - lo)
        } else {
            0.0
        };
        (t_lo + share * (t_hi - t_lo)).exp()
    };
    Interval::new(map(class.min), map(class.max))
}

/// The settings of one scene drawn from `base.domain` (module docs); `base` itself when it has
/// no domain. The draw is a function of `seed` alone.
///
/// ```
/// use fringewatch::simulate::domain::{draw_scene_settings, Family};
/// let family = Family::Randomised.settings(&[]);
/// let a = draw_scene_settings(&family, 7).unwrap();
/// assert!(a.domain.is_none(), "a drawn scene is plain settings");
/// assert!((3..=50).contains(&a.coherence.looks));
/// assert_eq!(a.coherence.looks, draw_scene_settings(&family, 7).unwrap().coherence.looks);
/// ```
pub fn draw_scene_settings(base: &SimulationSettings, seed: u64) -> Result<SimulationSettings> {
    let Some(domain) = &base.domain else {
        return Ok(base.clone());
    };
    domain.check()?;
    // Its own stream: the scene's main stream (relief, bodies, noise) is untouched by the draw.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(0xD0_3A11);
    let mut s = base.clone();
    s.domain = None;
    let wavelength = if s.wavelength_m > 0.0 {
        s.wavelength_m
    } else {
        SENTINEL1_WAVELENGTH_M
    };

    // Noise and coherence estimation.
    s.coherence.looks = domain.looks.draw_log(&mut rng).round().max(1.0) as usize;
    s.coherence.estimation_radius = integer(domain.coherence_radius, &mut rng);
    s.coherence.debiased = rng.random_bool(domain.debiased_share.clamp(0.0, 1.0));

    // Filtering.
    let w = domain.filters;
    let choice =
        rng.random_range(0.0..(w.none + w.goldstein + w.goldstein_adaptive + w.adf + w.boxcar));
    let patch = domain.patches[rng.random_range(0..domain.patches.len())];
    let alpha = domain.goldstein_alpha.draw(&mut rng) as f32;
    let side = odd(integer(domain.boxcar_side, &mut rng));
    s.filter.goldstein.patch = patch;
    s.filter.goldstein.alpha = alpha;
    s.filter.method = if choice < w.none {
        FilterMethod::None
    } else if choice < w.none + w.goldstein {
        FilterMethod::Goldstein
    } else if choice < w.none + w.goldstein + w.goldstein_adaptive {
        FilterMethod::GoldsteinAdaptive
    } else if choice < w.none + w.goldstein + w.goldstein_adaptive + w.adf {
        FilterMethod::Adf(AdfSettings {
            patch,
            step: patch / 4,
            ..AdfSettings::default()
        })
    } else {
        FilterMethod::Boxcar { side }
    };
    s.filter.gaussian_wavelength_m = if rng.random_bool(domain.prefilter_share.clamp(0.0, 1.0)) {
        100.0
    } else {
        0.0
    };

    // Geocoding from the processor's grid.
    let source = domain.source_pixel_m.draw(&mut rng);
    let nearest = rng.random_bool(domain.nearest_share.clamp(0.0, 1.0));
    let offset = (rng.random_range(0.0..1.0), rng.random_range(0.0..1.0));
    s.geocoding = (source > s.pixel_m).then_some(GeocodingSettings {
        source_pixel_m: source,
        resampling: if nearest {
            GeocodeResampling::Nearest
        } else {
            GeocodeResampling::Bilinear
        },
        offset_px: offset,
    });

    // Atmosphere and artifacts.
    let a = &mut s.atmosphere;
    a.turbulence_exponent = domain.turbulence_exponent.draw(&mut rng);
    let rms = mm_of_rad(domain.turbulence_rms_rad.draw_log(&mut rng), wavelength);
    a.turbulence_rms_mm = Interval::new(rms, rms);
    let stratified = domain.stratified_mm_per_km.draw(&mut rng);
    a.stratified_mm_per_km = Interval::new(stratified, stratified);
    let blobs = domain.blobs_per_100km2.draw(&mut rng);
    a.blobs_per_100km2 = Interval::new(blobs, blobs);
    a.blob_sigma_m = domain.blob_sigma_m;
    a.blob_delay_mm = Interval::new(
        mm_of_rad(domain.blob_rad.min, wavelength),
        mm_of_rad(domain.blob_rad.max, wavelength),
    );
    let dem_errors = domain.dem_errors_per_100km2.draw(&mut rng);
    a.dem_errors_per_100km2 = Interval::new(dem_errors, dem_errors);
    a.dem_error_m = domain.dem_error_m;
    let ramp = RampSettings {
        amplitude_rad: domain.ramp_rad.draw(&mut rng),
        azimuth_deg: rng.random_range(0.0..360.0),
        quadratic: rng.random_range(0.0..0.3),
    };
    a.ramp = rng
        .random_bool(domain.ramp_share.clamp(0.0, 1.0))
        .then_some(ramp);
    let ionosphere = IonosphereSettings {
        rms_rad: domain.ionosphere_rms_rad.draw(&mut rng),
        gradient_rad_per_km: domain.ionosphere_gradient_rad_per_km.draw(&mut rng),
        azimuth_deg: rng.random_range(0.0..360.0),
    };
    a.ionosphere = rng
        .random_bool(domain.ionosphere_share.clamp(0.0, 1.0))
        .then_some(ionosphere);

    // Kinematics: each class keeps its place in the default velocity order, rescaled.
    let l = &mut s.landslides;
    let defaults = SimulationSettings::default().landslides;
    let span = Interval::new(
        defaults.rockslide.velocity_m_per_yr.min,
        defaults.earthflow.velocity_m_per_yr.max,
    );
    for class in [&mut l.earthflow, &mut l.earthslide, &mut l.rockslide] {
        class.velocity_m_per_yr =
            rescaled_velocity(class.velocity_m_per_yr, span, domain.velocity_mm_per_day);
    }
    if domain.profiles.is_some() {
        l.profiles = domain.profiles.clone();
    }

    // Decorrelation and baselines.
    let vegetation = domain.vegetation_cover.draw(&mut rng);
    s.coherence.vegetation_cover = Interval::new(vegetation, vegetation);
    let snow = domain.snow_cover.draw(&mut rng);
    s.coherence.snow_cover = if rng.random_bool(domain.snow_share.clamp(0.0, 1.0)) {
        snow
    } else {
        0.0
    };
    s.geometry.max_perpendicular_baseline_m = domain.max_perpendicular_baseline_m.draw(&mut rng);
    s.geometry.temporal_baselines_days = domain.temporal_baselines_days.clone();

    // Terrain.
    let slope = domain.median_slope_deg.draw(&mut rng);
    s.relief.median_slope_deg = Interval::new(slope, slope);
    let dem_offset = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
    let synthetic =
        domain.dems.is_empty() || rng.random_bool(domain.synthetic_share.clamp(0.0, 1.0));
    let pick = rng.random_range(0..domain.dems.len().max(1));
    // A DEM pinned in the base settings (`--dem`) keeps its path and gets a drawn crop.
    s.dem = match &base.dem {
        Some(pinned) => Some(DemCrop {
            path: pinned.path.clone(),
            offset: dem_offset,
        }),
        None if synthetic => None,
        None => Some(DemCrop {
            path: domain.dems[pick].clone(),
            offset: dem_offset,
        }),
    };
    Ok(s)
}
