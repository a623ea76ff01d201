//! Landslide bodies: placed where their class lives, outlined as irregular ellipses elongated
//! downslope, and moving along the downslope direction with a displacement profile.
//!
//! Displacement: D = v·Bt (velocity × temporal baseline) times the profile m(s) = (1 − s²)², s the
//! normalised distance from the body's centre to its outline, or, when the settings draw profile
//! shapes ([`Profile`]), m(s, u) = (1 − s^p)^q · (1 + k·u)/(1 + |k|): plugs with sharp margins
//! (large p, block sliding), cusps (small p), and a peak moved towards the toe or the head (skew
//! k, u the position along the slope from −1 at the head to 1 at the toe). The 3-D motion is the
//! body's downslope unit vector (its mean slope β and aspect δ), so the range increase is
//! Δr = D·m·S2L(β, δ, α, θ) (METHOD.md §2) and the phase φ = 4π·Δr/λ (§7).

use std::f64::consts::PI;

use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};

use super::params::{ClassSettings, LandslideSettings};
use super::{Footprint, SignalClass};
use crate::phase::phase_of_range_change;
use crate::sensitivity::s2l;

/// Number of outline vertices of a body.
const OUTLINE_VERTICES: usize = 48;

/// One landslide body (active or dormant).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Body {
    pub id: u32,
    pub class: SignalClass,
    /// Centre, map coordinates (metres).
    pub centre: (f64, f64),
    /// Downslope azimuth δ, radians clockwise from north.
    pub downslope_azimuth: f64,
    /// Slope β at the centre (smoothed terrain), radians.
    pub slope: f64,
    pub length_m: f64,
    pub width_m: f64,
    /// Outline radius harmonics (order m, amplitude, phase): r(ψ) = 1 + Σ a_m cos(mψ + p_m).
    pub harmonics: Vec<(u32, f64, f64)>,
    pub active: bool,
    /// Whether the inventory maps this body.
    pub mapped: bool,
    /// Velocity, m/yr (0 when dormant).
    pub velocity_m_per_yr: f64,
    /// Coherence loss at the centre of the moving body (0–1).
    pub decorrelation: f64,
    /// Shape of the displacement profile.
    pub profile: Profile,
}

/// Shape of a body's displacement profile m(s, u) = (1 − s^p)^q · (1 + k·u)/(1 + |k|), with s the
/// normalised radius (0 centre, 1 outline) and u the downslope position (−1 head, 1 toe). The
/// default (p 2, q 2, k 0) is the smooth (1 − s²)² of [`displacement_profile`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Edge exponent p: large values make a plug moving as a block with sharp margins.
    pub edge_exponent: f64,
    /// Peak exponent q: large values concentrate the motion at the centre.
    pub peak_exponent: f64,
    /// Skew k in (−1, 1): positive moves the fastest part towards the toe, negative the head.
    pub skew: f64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            edge_exponent: 2.0,
            peak_exponent: 2.0,
            skew: 0.0,
        }
    }
}

impl Profile {
    /// m(s, u) ∈ [0, 1]: 0 on and outside the outline (s ≥ 1).
    pub fn value(&self, s: f64, u: f64) -> f64 {
        if s >= 1.0 {
            return 0.0;
        }
        if *self == Profile::default() {
            return displacement_profile(s);
        }
        let radial = (1.0 - s.powf(self.edge_exponent)).powf(self.peak_exponent);
        let k = self.skew.clamp(-0.95, 0.95);
        radial * (1.0 + k * u.clamp(-1.0, 1.0)) / (1.0 + k.abs())
    }
}

impl Body {
    fn axes(&self) -> ((f64, f64), (f64, f64)) {
        let d = (self.downslope_azimuth.sin(), self.downslope_azimuth.cos());
        let across = (d.1, -d.0);
        (d, across)
    }

    fn radius_factor(&self, psi: f64) -> f64 {
        1.0 + self
            .harmonics
            .iter()
            .map(|&(m, a, p)| a * (f64::from(m) * psi + p).cos())
            .sum::<f64>()
    }

    /// Normalised position s (0 at the centre, 1 on the outline) of a map point.
    pub fn normalised_radius(&self, x: f64, y: f64) -> f64 {
        let (d, across) = self.axes();
        let (dx, dy) = (x - self.centre.0, y - self.centre.1);
        let u = (dx * d.0 + dy * d.1) / (self.length_m / 2.0);
        let v = (dx * across.0 + dy * across.1) / (self.width_m / 2.0);
        let rho = (u * u + v * v).sqrt();
        rho / self.radius_factor(v.atan2(u))
    }

    /// Displacement profile m at a map point (0 outside the body).
    pub fn profile_at(&self, x: f64, y: f64) -> f64 {
        let s = self.normalised_radius(x, y);
        if s >= 1.0 {
            return 0.0;
        }
        let (d, _) = self.axes();
        let u = ((x - self.centre.0) * d.0 + (y - self.centre.1) * d.1) / (self.length_m / 2.0);
        self.profile.value(s, u)
    }

    /// Outline polygon in map coordinates (closed: first vertex repeated last).
    pub fn outline(&self) -> Vec<(f64, f64)> {
        let (d, across) = self.axes();
        let mut ring: Vec<(f64, f64)> = (0..OUTLINE_VERTICES)
            .map(|k| {
                let psi = 2.0 * PI * k as f64 / OUTLINE_VERTICES as f64;
                let r = self.radius_factor(psi);
                let u = r * psi.cos() * self.length_m / 2.0;
                let v = r * psi.sin() * self.width_m / 2.0;
                (
                    self.centre.0 + u * d.0 + v * across.0,
                    self.centre.1 + u * d.1 + v * across.1,
                )
            })
            .collect();
        ring.push(ring[0]);
        ring
    }

    /// Largest distance of the outline from the centre, metres.
    pub fn reach_m(&self) -> f64 {
        let worst = 1.0 + self.harmonics.iter().map(|h| h.1.abs()).sum::<f64>();
        worst * self.length_m.max(self.width_m) / 2.0
    }
}

/// Displacement profile m(s) = (1 − s²)² inside the body, 0 outside: smooth, zero with zero slope
/// on the outline.
pub fn displacement_profile(s: f64) -> f64 {
    if s >= 1.0 {
        0.0
    } else {
        let t = 1.0 - s * s;
        t * t
    }
}

/// Terrain the placement looks at: smoothed slope (rad), downslope azimuth (rad) and Laplacian.
pub struct PlacementTerrain<'a> {
    pub slope: ArrayView2<'a, f32>,
    pub aspect: ArrayView2<'a, f32>,
    /// Laplacian of the smoothed DEM: positive in hollows (concave), negative on noses.
    pub laplacian: ArrayView2<'a, f32>,
    pub pixel_m: f64,
    /// Upper-left corner of the scene, map coordinates.
    pub origin: (f64, f64),
}

impl PlacementTerrain<'_> {
    fn to_map(&self, row: f64, col: f64) -> (f64, f64) {
        (
            self.origin.0 + (col + 0.5) * self.pixel_m,
            self.origin.1 - (row + 0.5) * self.pixel_m,
        )
    }
}

/// Place the bodies of every class: for each, random centres are tried until one satisfies the
/// class habitat (slope range, concavity), the body lies inside the scene and overlaps no other
/// body. Classes that find no room get fewer bodies.
pub fn place_bodies(
    terrain: &PlacementTerrain,
    settings: &LandslideSettings,
    rng: &mut impl Rng,
) -> Vec<Body> {
    let (rows, cols) = terrain.slope.dim();
    let area_km2 = rows as f64 * cols as f64 * terrain.pixel_m * terrain.pixel_m / 1e6;
    let mut occupied = Array2::<bool>::from_elem((rows, cols), false);
    let mut bodies = Vec::new();
    let classes: [(SignalClass, &ClassSettings); 3] = [
        (SignalClass::Earthflow, &settings.earthflow),
        (SignalClass::Earthslide, &settings.earthslide),
        (SignalClass::Rockslide, &settings.rockslide),
    ];
    for (class, cls) in classes {
        let expected = cls.bodies_per_km2 * area_km2 * rng.random_range(0.7..=1.3);
        let count = expected.round() as usize;
        for _ in 0..count {
            let Some(body) = try_place(
                terrain,
                class,
                cls,
                settings,
                &occupied,
                bodies.len() as u32 + 1,
                rng,
            ) else {
                continue;
            };
            mark(&mut occupied, terrain, &body);
            bodies.push(body);
        }
    }
    bodies
}

fn body_window(terrain: &PlacementTerrain, body: &Body) -> Option<(usize, usize, usize, usize)> {
    let (rows, cols) = terrain.slope.dim();
    let reach = body.reach_m() / terrain.pixel_m + 2.0;
    let col = (body.centre.0 - terrain.origin.0) / terrain.pixel_m - 0.5;
    let row = (terrain.origin.1 - body.centre.1) / terrain.pixel_m - 0.5;
    let (r0, r1) = ((row - reach).floor(), (row + reach).ceil());
    let (c0, c1) = ((col - reach).floor(), (col + reach).ceil());
    if r0 < 0.0 || c0 < 0.0 || r1 >= rows as f64 || c1 >= cols as f64 {
        return None;
    }
    Some((r0 as usize, r1 as usize, c0 as usize, c1 as usize))
}

fn try_place(
    terrain: &PlacementTerrain,
    class: SignalClass,
    cls: &ClassSettings,
    settings: &LandslideSettings,
    occupied: &Array2<bool>,
    id: u32,
    rng: &mut impl Rng,
) -> Option<Body> {
    let (rows, cols) = terrain.slope.dim();
    for _ in 0..400 {
        let row = rng.random_range(0..rows);
        let col = rng.random_range(0..cols);
        let slope = f64::from(terrain.slope[(row, col)]);
        let aspect = f64::from(terrain.aspect[(row, col)]);
        if !slope.is_finite() || !aspect.is_finite() || !cls.slope_deg.contains(slope.to_degrees())
        {
            continue;
        }
        if let Some(concave) = cls.concave {
            if (terrain.laplacian[(row, col)] > 0.0) != concave {
                continue;
            }
        }
        let length_m = cls.length_m.draw(rng);
        let width_m = length_m * cls.width_ratio.draw(rng);
        let mut harmonics = vec![(
            1,
            rng.random_range(0.0..0.12),
            rng.random_range(0.0..2.0 * PI),
        )];
        for m in 2..=5 {
            harmonics.push((
                m,
                rng.random_range(0.0..0.07),
                rng.random_range(0.0..2.0 * PI),
            ));
        }
        let active = rng.random_bool(settings.active_fraction.clamp(0.0, 1.0));
        let mapped = !active || rng.random_bool(settings.mapped_fraction.clamp(0.0, 1.0));
        let velocity = if active {
            cls.velocity_m_per_yr.draw_log(rng)
        } else {
            0.0
        };
        let decorrelation = if active {
            settings.body_decorrelation.draw(rng)
        } else {
            0.0
        };
        // Drawn last and only when asked for, so settings without profiles keep their stream.
        let profile = settings
            .profiles
            .as_ref()
            .map_or_else(Profile::default, |p| Profile {
                edge_exponent: p.edge_exponent.draw(rng),
                peak_exponent: p.peak_exponent.draw(rng),
                skew: p.skew.draw(rng),
            });
        let body = Body {
            id,
            class,
            centre: terrain.to_map(row as f64, col as f64),
            downslope_azimuth: aspect,
            slope,
            length_m,
            width_m,
            harmonics,
            active,
            mapped,
            velocity_m_per_yr: velocity,
            decorrelation,
            profile,
        };
        let Some((r0, r1, c0, c1)) = body_window(terrain, &body) else {
            continue;
        };
        let mut free = true;
        'scan: for r in r0..=r1 {
            for c in c0..=c1 {
                let (x, y) = terrain.to_map(r as f64, c as f64);
                if occupied[(r, c)] && body.normalised_radius(x, y) < 1.15 {
                    free = false;
                    break 'scan;
                }
            }
        }
        if free {
            return Some(body);
        }
    }
    None
}

fn mark(occupied: &mut Array2<bool>, terrain: &PlacementTerrain, body: &Body) {
    if let Some((r0, r1, c0, c1)) = body_window(terrain, body) {
        for r in r0..=r1 {
            for c in c0..=c1 {
                let (x, y) = terrain.to_map(r as f64, c as f64);
                if body.normalised_radius(x, y) < 1.15 {
                    occupied[(r, c)] = true;
                }
            }
        }
    }
}

/// Phase footprint of a moving body: φ = 4π·D·m(s)·S2L/λ on its window (METHOD.md §2, §7).
/// `incidence_deg` and `heading_deg` give the geometry; returns None for dormant bodies.
pub fn body_footprint(
    body: &Body,
    terrain: &PlacementTerrain,
    incidence_deg: ArrayView2<f32>,
    heading_deg: f64,
    baseline_days: f64,
    wavelength_m: f64,
) -> Option<Footprint> {
    if !body.active {
        return None;
    }
    let (r0, r1, c0, c1) = body_window(terrain, body)?;
    let displacement = body.velocity_m_per_yr * baseline_days / 365.25;
    let heading = heading_deg.to_radians();
    let mut phase = Array2::<f32>::zeros((r1 - r0 + 1, c1 - c0 + 1));
    let mut weight = Array2::<f32>::zeros(phase.dim());
    for r in r0..=r1 {
        for c in c0..=c1 {
            let (x, y) = terrain.to_map(r as f64, c as f64);
            let m = body.profile_at(x, y);
            if m == 0.0 {
                continue;
            }
            let theta = f64::from(incidence_deg[(r, c)]).to_radians();
            let sensitivity = s2l(body.slope, body.downslope_azimuth, heading, theta);
            let range_change = displacement * m * sensitivity;
            phase[(r - r0, c - c0)] = phase_of_range_change(range_change, wavelength_m) as f32;
            weight[(r - r0, c - c0)] = m as f32;
        }
    }
    Some(Footprint {
        class: body.class,
        body_id: Some(body.id),
        velocity_m_per_yr: Some(body.velocity_m_per_yr),
        row0: r0,
        col0: c0,
        phase,
        weight,
        decorrelation: body.decorrelation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Body {
        Body {
            id: 1,
            class: SignalClass::Earthflow,
            centre: (1005.0, 995.0),
            downslope_azimuth: 90f64.to_radians(),
            slope: 25f64.to_radians(),
            length_m: 600.0,
            width_m: 200.0,
            harmonics: vec![],
            active: true,
            mapped: true,
            velocity_m_per_yr: 1.0,
            decorrelation: 0.0,
            profile: Profile::default(),
        }
    }

    #[test]
    fn profile_shapes_are_plugs_cusps_and_skewed_peaks() {
        let smooth = Profile::default();
        for s in [0.0, 0.3, 0.7, 0.99, 1.0, 1.5] {
            assert_eq!(smooth.value(s, 0.2), displacement_profile(s));
        }
        let plug = Profile {
            edge_exponent: 8.0,
            peak_exponent: 1.0,
            skew: 0.0,
        };
        // A plug moves as a block: 99 % of the peak at 60 % of the radius (smooth: 41 %).
        assert!(plug.value(0.6, 0.0) > 0.98 && smooth.value(0.6, 0.0) < 0.42);
        assert_eq!(plug.value(1.0, 0.0), 0.0);
        let toe = Profile {
            skew: 0.5,
            ..Profile::default()
        };
        // Faster towards the toe (u > 0) than at the same distance towards the head.
        assert!(toe.value(0.4, 0.4) > toe.value(0.4, -0.4));
        assert!(toe.value(0.0, 0.0) <= 1.0 && toe.value(0.3, 1.0) <= 1.0);
        let mut b = body();
        b.profile = toe;
        // 150 m downslope (east) of the centre moves more than 150 m upslope.
        assert!(b.profile_at(1155.0, 995.0) > b.profile_at(855.0, 995.0));
        assert_eq!(b.profile_at(1400.0, 995.0), 0.0);
    }

    #[test]
    fn outline_is_elongated_downslope() {
        let b = body();
        let ring = b.outline();
        let xs: Vec<f64> = ring.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = ring.iter().map(|p| p.1).collect();
        let width_x = xs.iter().cloned().fold(f64::MIN, f64::max)
            - xs.iter().cloned().fold(f64::MAX, f64::min);
        let height_y = ys.iter().cloned().fold(f64::MIN, f64::max)
            - ys.iter().cloned().fold(f64::MAX, f64::min);
        assert!((width_x - 600.0).abs() < 1.0 && (height_y - 200.0).abs() < 1.0);
        assert!((b.normalised_radius(1305.0, 995.0) - 1.0).abs() < 1e-9);
        assert!(b.normalised_radius(1005.0, 995.0) == 0.0);
    }

    #[test]
    fn displacement_is_velocity_times_baseline_projected_on_the_los() {
        // East-facing 25° slope seen ascending (α = −10.5°, θ = 39°): S2L = 0.889 (METHOD.md §2).
        let b = body();
        let size = 200;
        let zeros = Array2::<f32>::zeros((size, size));
        let terrain = PlacementTerrain {
            slope: zeros.view(),
            aspect: zeros.view(),
            laplacian: zeros.view(),
            pixel_m: 10.0,
            origin: (0.0, 2000.0),
        };
        let incidence = Array2::<f32>::from_elem((size, size), 39.0);
        let fp = body_footprint(&b, &terrain, incidence.view(), -10.5, 365.25, 0.055466).unwrap();
        let peak = fp.phase.iter().cloned().fold(0.0f32, f32::max);
        // 1 m of downslope motion at the centre → Δr = 0.889 m → φ = 4π·0.889/λ.
        let expected = 4.0 * PI * 0.889 / 0.055466;
        assert!(
            (f64::from(peak) - expected).abs() / expected < 2e-3,
            "{peak} vs {expected}"
        );
    }
}
