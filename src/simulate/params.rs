//! Every parameter of the simulator, with its default range and where the range comes from.
//! All of it is recorded in each scene's `scene.json`, and any of it can be overridden by a JSON
//! file (`fringewatch simulate --settings FILE`).

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::domain::DomainSettings;
use super::geocoding::GeocodeResampling;
use crate::phase::adf::AdfSettings;
use crate::phase::goldstein::GoldsteinSettings;
use crate::phase::SENTINEL1_WAVELENGTH_M;

/// A closed interval a value is drawn from, uniformly (or log-uniformly where said).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub min: f64,
    pub max: f64,
}

impl Interval {
    pub const fn new(min: f64, max: f64) -> Interval {
        Interval { min, max }
    }

    /// Uniform draw in [min, max] (min when the interval is empty).
    pub fn draw(&self, rng: &mut impl Rng) -> f64 {
        if self.max > self.min {
            rng.random_range(self.min..=self.max)
        } else {
            self.min
        }
    }

    /// Log-uniform draw in [min, max] (both positive): for velocities spanning decades.
    pub fn draw_log(&self, rng: &mut impl Rng) -> f64 {
        if self.max > self.min && self.min > 0.0 {
            (rng.random_range(self.min.ln()..=self.max.ln())).exp()
        } else {
            self.min
        }
    }

    pub fn contains(&self, value: f64) -> bool {
        value >= self.min && value <= self.max
    }
}

/// Satellite pass direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orbit {
    Ascending,
    Descending,
}

impl Orbit {
    pub fn code(self) -> &'static str {
        match self {
            Orbit::Ascending => "ascending",
            Orbit::Descending => "descending",
        }
    }
}

/// Synthetic relief (see `relief.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReliefSettings {
    /// Exponent β of the elevation power spectrum P(k) ∝ k^−β; natural landscapes show
    /// 2H + 2 with Hurst exponent H ≈ 0.6–0.9 (Turcotte 1997), i.e. β ≈ 3.2–3.8.
    pub spectral_exponent: Interval,
    /// Depth of the carved valley network relative to the fractal relief (0 = none).
    pub valley_weight: Interval,
    /// Median terrain slope the relief is scaled to, degrees (Northern Apennines: 10–20°).
    pub median_slope_deg: Interval,
    /// Lowest elevation of the scene, metres.
    pub base_elevation_m: Interval,
}

/// Acquisition geometry (METHOD.md §2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeometrySettings {
    /// Effective heading in the target's frame, degrees (≈ −10.5 ascending at 44° N).
    pub heading_ascending_deg: f64,
    /// Effective heading, descending (≈ −169.5).
    pub heading_descending_deg: f64,
    /// Incidence at the scene centre, degrees (IW sub-swaths span ~29°–46°).
    pub incidence_centre_deg: Interval,
    /// Incidence change per km across the range direction: IW spans 17° over 250 km.
    pub incidence_per_km_deg: f64,
    /// Satellite altitude, metres (Sentinel-1: 693 km), for the slant range.
    pub altitude_m: f64,
    /// Slant-range resolution, metres (IW: ~2.7 m), for the critical baseline.
    pub slant_range_resolution_m: f64,
    /// Temporal baselines drawn when none is given, days (6-day repeat; the preprint: 6–30).
    pub temporal_baselines_days: Vec<u32>,
    /// Largest |perpendicular baseline|, metres (the preprint: < 200 m).
    pub max_perpendicular_baseline_m: f64,
    /// First and last year for the primary acquisition date.
    pub years: (i32, i32),
}

/// One landslide class: where it lives, its size and its speed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassSettings {
    /// Bodies (active and dormant) per km² of the scene.
    pub bodies_per_km2: f64,
    /// Terrain slope at the body's centre, degrees (smoothed DEM).
    pub slope_deg: Interval,
    /// Required sign of the smoothed Laplacian at the centre: Some(true) concave (hollows,
    /// earthflow source areas), Some(false) convex, None any.
    pub concave: Option<bool>,
    /// Length along the downslope direction, metres.
    pub length_m: Interval,
    /// Width / length.
    pub width_ratio: Interval,
    /// Velocity of active bodies, metres per year, drawn log-uniformly.
    pub velocity_m_per_yr: Interval,
    /// IFFI movement type (`nome_tipo`).
    pub iffi_type: String,
}

/// Landslide population. Ranges from Apennine studies: earthflows in clay shales move cm/yr to
/// m/yr and are 0.3–2 km long (Bertolini & Pizziolo 2008; Handwerger et al. 2013); earthslides
/// are compact and slower; rockslides in flysch are slow and sit on steep slopes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LandslideSettings {
    pub earthflow: ClassSettings,
    pub earthslide: ClassSettings,
    pub rockslide: ClassSettings,
    /// Share of bodies that are active in the interferogram's period.
    pub active_fraction: f64,
    /// Share of active bodies that the inventory already maps (the rest are "new").
    pub mapped_fraction: f64,
    /// Extra decorrelation at the centre of a moving body (0–1), drawn per body.
    pub body_decorrelation: Interval,
    /// Ranges of the displacement-profile shapes drawn per body (`landslides::Profile`); none:
    /// every body has the smooth (1 − s²)² profile.
    #[serde(default)]
    pub profiles: Option<ProfileSettings>,
    /// Decorrelate where a body's phase gradient approaches a fringe per pixel (the signal
    /// averaged over a pixel: γ × |sinc(gx/2)·sinc(gy/2)|). Off in settings files written before
    /// it existed, so they reproduce their scenes.
    #[serde(default)]
    pub gradient_decorrelation: bool,
}

/// Ranges of the displacement-profile shape m(s, u) = (1 − s^p)^q · (1 + k·u)/(1 + |k|).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSettings {
    /// Edge exponent p (2: smooth; ≥ 4: a plug with sharp margins; < 2: a cusp).
    pub edge_exponent: Interval,
    /// Peak exponent q.
    pub peak_exponent: Interval,
    /// Skew k towards the toe (> 0) or the head (< 0).
    pub skew: Interval,
}

impl Default for ProfileSettings {
    /// Plugs to cusps, peaks up to half-way towards the toe or the head.
    fn default() -> Self {
        ProfileSettings {
            edge_exponent: Interval::new(1.5, 8.0),
            peak_exponent: Interval::new(1.0, 3.0),
            skew: Interval::new(-0.6, 0.6),
        }
    }
}

/// Atmosphere and other artifacts (METHOD.md §7; Hanssen 2001).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AtmosphereSettings {
    /// Exponent β of the turbulent delay spectrum (−8/3 in 2-D: Kolmogorov turbulence).
    pub turbulence_exponent: f64,
    /// RMS of the turbulent differential delay over the scene, mm.
    pub turbulence_rms_mm: Interval,
    /// Stratified differential delay per km of elevation, mm/km.
    pub stratified_mm_per_km: Interval,
    /// Localised atmospheric blobs (convective cells) per 100 km².
    pub blobs_per_100km2: Interval,
    /// Blob radius (Gaussian σ), metres.
    pub blob_sigma_m: Interval,
    /// Blob peak delay, mm (sign drawn at random).
    pub blob_delay_mm: Interval,
    /// Topographic-residual patches (DEM errors on high ground) per 100 km².
    pub dem_errors_per_100km2: Interval,
    /// DEM error peak, metres (sign at random); phase = 4π·B⊥·Δh / (λ·R·sin θ).
    pub dem_error_m: Interval,
    /// DEM error patch radius (Gaussian σ), metres.
    pub dem_error_sigma_m: Interval,
    /// Residual orbital ramp (none by default).
    #[serde(default)]
    pub ramp: Option<RampSettings>,
    /// Long-wavelength ionospheric phase (none by default).
    #[serde(default)]
    pub ionosphere: Option<IonosphereSettings>,
}

/// A residual orbit error: a plane, slightly quadratic (`atmosphere::orbital_ramp`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RampSettings {
    /// Peak-to-peak phase over the scene, radians.
    pub amplitude_rad: f64,
    /// Direction of the ramp, degrees counter-clockwise from east.
    pub azimuth_deg: f64,
    /// Quadratic term as a share of the amplitude.
    pub quadratic: f64,
}

/// Ionospheric phase: a smooth screen plus a gradient (`atmosphere::ionospheric_screen`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IonosphereSettings {
    pub rms_rad: f64,
    pub gradient_rad_per_km: f64,
    /// Direction of the gradient, degrees counter-clockwise from east.
    pub azimuth_deg: f64,
}

/// Which phase filter the processing chain applies after the Gaussian prefilter.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FilterMethod {
    /// Goldstein with the fixed α and patch of `FilterSettings::goldstein` (GMTSAR, SNAP).
    #[default]
    Goldstein,
    /// Goldstein with α = 1 − γ̂ per patch (Baran et al. 2003), patch of `goldstein.patch`.
    GoldsteinAdaptive,
    /// GAMMA-adf-like: smoothed spectrum, α from coherence, finer patch steps.
    Adf(AdfSettings),
    /// Complex boxcar mean of `side` × `side` pixels (multilook-style smoothing).
    Boxcar { side: usize },
    /// No phase filter.
    None,
}

/// The product was processed on a grid of another spacing and geocoded onto the scene grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeocodingSettings {
    /// Spacing of the processor's grid, metres (≤ the scene pixel: no effect).
    pub source_pixel_m: f64,
    pub resampling: GeocodeResampling,
    /// Origin of the source grid relative to the scene grid, scene pixels.
    pub offset_px: (f64, f64),
}

/// A crop of a real DEM: the scene is centred at the DEM's centre moved by `offset` (each in
/// −1…1, a share of the room left between the scene and the DEM's edges).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemCrop {
    pub path: String,
    pub offset: (f64, f64),
}

/// Coherence (Zebker & Villasenor 1992; temporal model of Rocca 2007).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoherenceSettings {
    /// Equivalent number of looks of each 15 m pixel before filtering.
    pub looks: usize,
    /// Thermal-noise coherence.
    pub thermal: f64,
    /// Share of the scene covered by vegetation.
    pub vegetation_cover: Interval,
    /// Long-term coherence and decorrelation time (days) of bare/built ground.
    pub bare_long_term: f64,
    pub bare_tau_days: f64,
    /// Long-term coherence and decorrelation time (days) of vegetated ground.
    pub vegetation_long_term: f64,
    pub vegetation_tau_days: f64,
    /// Local incidence angle (degrees) below which foreshortening starts to decorrelate.
    pub foreshortening_deg: f64,
    /// Half-size of the coherence estimation window in pixels (1 → 3×3).
    pub estimation_radius: usize,
    /// Remove the sample-coherence bias at low γ from the written coherence (moment estimator,
    /// `coherence::debiased_coherence`); processors differ in this.
    #[serde(default)]
    pub debiased: bool,
    /// Share of the scene's highest ground under snow (decorrelated: γ × 0.1); 0 = none.
    #[serde(default)]
    pub snow_cover: f64,
}

/// Processing applied after noise, as GMTSAR does it (METHOD.md §1, §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FilterSettings {
    /// Gaussian filter wavelength (half gain), metres; 0 = none. The preprint: ~100 m.
    pub gaussian_wavelength_m: f64,
    pub goldstein: GoldsteinSettings,
    #[serde(default)]
    pub method: FilterMethod,
}

/// When a human labeller would see a signal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelSettings {
    /// Least visible |phase| of the signal after filtering, radians (1 rad ≈ 1/6 fringe, 4.4 mm).
    pub min_peak_phase_rad: f64,
    /// Least mean true coherence over the signal: below it the interferogram holds no information
    /// on the motion, whatever the filtered noise happens to look like.
    pub min_coherence: f64,
    /// Least fringe fidelity over the signal: |mean exp i(processed − noise-free processed phase)|
    /// over the boxed pixels (`labels` module; 0.7 ≈ 0.84 rad circular std of the phase error).
    pub min_fringe_fidelity: f64,
    /// The box encloses pixels whose |signal phase| ≥ this fraction of the peak.
    pub outline_fraction: f64,
    /// Least box side, pixels.
    pub min_box_px: usize,
    /// The box encloses only pixels whose |signal phase| also stands above this many local
    /// circular standard deviations of the processed phase's error (`labels` module); 0 = the
    /// outline alone (files written before this rule).
    #[serde(default)]
    pub noise_factor: f64,
}

/// Everything the simulator uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimulationSettings {
    /// Scene side, pixels.
    pub size: usize,
    /// Pixel size, metres (the preprint's geocoding: 15 m).
    pub pixel_m: f64,
    /// EPSG code of the projected CRS (UTM 32N by default).
    pub epsg: u32,
    /// Upper-left corner (easting, northing), metres: near 44.2° N, 10.3° E.
    pub origin: (f64, f64),
    /// None: ascending or descending at random per scene.
    pub orbit: Option<Orbit>,
    /// None: drawn from `geometry.temporal_baselines_days`.
    pub baseline_days: Option<u32>,
    pub wavelength_m: f64,
    pub relief: ReliefSettings,
    pub geometry: GeometrySettings,
    pub landslides: LandslideSettings,
    pub atmosphere: AtmosphereSettings,
    pub coherence: CoherenceSettings,
    pub filter: FilterSettings,
    pub labels: LabelSettings,
    /// Geocoding from a processor grid of another spacing (none by default).
    #[serde(default)]
    pub geocoding: Option<GeocodingSettings>,
    /// A real DEM crop for the relief (used when no DEM is passed to `simulate_scene`).
    #[serde(default)]
    pub dem: Option<DemCrop>,
    /// Domain randomisation: when set, each scene draws its processing chain and physics from
    /// these ranges (`domain` module) and records the drawn settings, with this unset.
    #[serde(default)]
    pub domain: Option<DomainSettings>,
}

impl SimulationSettings {
    /// These settings with the values of a JSON object laid over them, at any depth: a file
    /// holding `{"size": 640, "atmosphere": {"turbulence_rms_mm": {"min": 0, "max": 2}}}` changes
    /// those two values and keeps everything else. A key these settings do not have is refused by
    /// its path (a misspelt key must not be silently ignored). Returns the problem in words.
    ///
    /// ```
    /// use fringewatch::simulate::SimulationSettings;
    /// let s = SimulationSettings::default().overridden_by(r#"{"size": 640}"#).unwrap();
    /// assert_eq!((s.size, s.pixel_m), (640, 15.0));
    /// let typo = SimulationSettings::default().overridden_by(r#"{"szie": 640}"#).unwrap_err();
    /// assert!(typo.contains("szie"));
    /// ```
    pub fn overridden_by(&self, json: &str) -> std::result::Result<SimulationSettings, String> {
        let user: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if !user.is_object() {
            return Err("the settings must be a JSON object".into());
        }
        let mut merged = serde_json::to_value(self).map_err(|e| e.to_string())?;
        lay_over(&mut merged, user, "")?;
        serde_json::from_value(merged).map_err(|e| e.to_string())
    }
}

/// Lay `over` onto `base`: objects key by key (a key absent from a non-null `base` object is
/// refused by its dotted path), anything else replaced.
fn lay_over(
    base: &mut serde_json::Value,
    over: serde_json::Value,
    path: &str,
) -> std::result::Result<(), String> {
    match (base, over) {
        // a tagged choice switched to another kind (e.g. the filter's method): the new object
        // replaces the old one whole, its own fields checked when it is read
        (serde_json::Value::Object(b), serde_json::Value::Object(o))
            if o.get("kind").is_some_and(|k| b.get("kind") != Some(k)) =>
        {
            *b = o;
            Ok(())
        }
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match base.get_mut(&key) {
                    Some(slot) => lay_over(slot, value, &here)?,
                    None => return Err(format!("unknown setting '{here}'")),
                }
            }
            Ok(())
        }
        (base, over) => {
            *base = over;
            Ok(())
        }
    }
}

impl Default for SimulationSettings {
    fn default() -> Self {
        SimulationSettings {
            size: 960,
            pixel_m: 15.0,
            epsg: 32632,
            origin: (600_000.0, 4_900_000.0),
            orbit: None,
            baseline_days: None,
            wavelength_m: SENTINEL1_WAVELENGTH_M,
            relief: ReliefSettings {
                spectral_exponent: Interval::new(3.2, 3.8),
                valley_weight: Interval::new(0.3, 0.7),
                median_slope_deg: Interval::new(10.0, 20.0),
                base_elevation_m: Interval::new(100.0, 600.0),
            },
            geometry: GeometrySettings {
                heading_ascending_deg: -10.5,
                heading_descending_deg: -169.5,
                incidence_centre_deg: Interval::new(31.0, 44.0),
                incidence_per_km_deg: 17.0 / 250.0,
                altitude_m: 693_000.0,
                slant_range_resolution_m: 2.7,
                temporal_baselines_days: vec![6, 12, 12, 18, 24, 30],
                max_perpendicular_baseline_m: 200.0,
                years: (2017, 2023),
            },
            landslides: LandslideSettings {
                earthflow: ClassSettings {
                    bodies_per_km2: 0.16,
                    slope_deg: Interval::new(6.0, 20.0),
                    concave: Some(true),
                    length_m: Interval::new(350.0, 1600.0),
                    width_ratio: Interval::new(0.2, 0.45),
                    velocity_m_per_yr: Interval::new(0.1, 4.0),
                    iffi_type: "Colamento lento".into(),
                },
                earthslide: ClassSettings {
                    bodies_per_km2: 0.14,
                    slope_deg: Interval::new(12.0, 28.0),
                    concave: None,
                    length_m: Interval::new(200.0, 700.0),
                    width_ratio: Interval::new(0.6, 1.1),
                    velocity_m_per_yr: Interval::new(0.1, 2.0),
                    iffi_type: "Scivolamento rotazionale/traslativo".into(),
                },
                rockslide: ClassSettings {
                    bodies_per_km2: 0.08,
                    slope_deg: Interval::new(22.0, 50.0),
                    concave: None,
                    length_m: Interval::new(250.0, 900.0),
                    width_ratio: Interval::new(0.5, 1.0),
                    velocity_m_per_yr: Interval::new(0.05, 1.0),
                    iffi_type: "Complesso".into(),
                },
                active_fraction: 0.6,
                mapped_fraction: 0.85,
                body_decorrelation: Interval::new(0.0, 0.3),
                profiles: None,
                gradient_decorrelation: true,
            },
            atmosphere: AtmosphereSettings {
                turbulence_exponent: 8.0 / 3.0,
                turbulence_rms_mm: Interval::new(1.0, 6.0),
                stratified_mm_per_km: Interval::new(-8.0, 8.0),
                blobs_per_100km2: Interval::new(0.3, 1.5),
                blob_sigma_m: Interval::new(120.0, 450.0),
                blob_delay_mm: Interval::new(4.0, 14.0),
                dem_errors_per_100km2: Interval::new(0.2, 1.0),
                dem_error_m: Interval::new(10.0, 40.0),
                dem_error_sigma_m: Interval::new(90.0, 300.0),
                ramp: None,
                ionosphere: None,
            },
            coherence: CoherenceSettings {
                looks: 5,
                thermal: 0.95,
                vegetation_cover: Interval::new(0.3, 0.7),
                bare_long_term: 0.55,
                bare_tau_days: 60.0,
                vegetation_long_term: 0.0,
                vegetation_tau_days: 4.0,
                foreshortening_deg: 20.0,
                estimation_radius: 1,
                debiased: false,
                snow_cover: 0.0,
            },
            filter: FilterSettings {
                gaussian_wavelength_m: 100.0,
                goldstein: GoldsteinSettings::default(),
                method: FilterMethod::Goldstein,
            },
            labels: LabelSettings {
                min_peak_phase_rad: 1.0,
                min_coherence: 0.1,
                min_fringe_fidelity: 0.7,
                outline_fraction: 0.15,
                min_box_px: 8,
                noise_factor: 1.0,
            },
            geocoding: None,
            dem: None,
            domain: None,
        }
    }
}
