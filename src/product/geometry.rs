//! Line-of-sight geometry as processors store it, brought to the method's incidence θ (from the
//! vertical) and heading α (along-track azimuth, clockwise from north; METHOD.md §2).
//!
//! Every convention goes through the ground-to-satellite unit vector (E, N, U):
//! θ = acos U, and for a right-looking radar (Sentinel-1) α = b + 90°, with b = atan2(E, N) the
//! bearing of that vector: the radar looks to the right of its track, so seen from the ground
//! the satellite lies to the left of it, b = α − 90°.

use ndarray::{Array2, ArrayView2, Zip};

/// (θ, α) in degrees of a ground-to-satellite vector (E, N, U) of a right-looking radar; α in
/// (−180°, 180°]. The vector need not be unit length.
///
/// ```
/// use fringewatch::product::geometry::incidence_heading_from_enu;
/// // satellite due east, 45° up: a descending pass (heading south, looking west)
/// let (theta, alpha) = incidence_heading_from_enu(1.0, 0.0, 1.0);
/// assert!((theta - 45.0).abs() < 1e-9 && (alpha - 180.0).abs() < 1e-9);
/// ```
pub fn incidence_heading_from_enu(east: f64, north: f64, up: f64) -> (f64, f64) {
    let length = (east * east + north * north + up * up).sqrt();
    let incidence = (up / length).clamp(-1.0, 1.0).acos().to_degrees();
    (
        incidence,
        wrap_degrees(east.atan2(north).to_degrees() + 90.0),
    )
}

/// The ground-to-satellite unit vector of ASF HyP3's look-vector angles: `lv_theta`, the
/// elevation of the vector above the horizontal, and `lv_phi`, its horizontal direction from
/// east, counter-clockwise (north = π/2), both radians (HyP3 InSAR product guide):
/// (E, N, U) = (cos θe·cos φ, cos θe·sin φ, sin θe).
pub fn enu_from_hyp3(lv_theta: f64, lv_phi: f64) -> (f64, f64, f64) {
    (
        lv_theta.cos() * lv_phi.cos(),
        lv_theta.cos() * lv_phi.sin(),
        lv_theta.sin(),
    )
}

/// The ground-to-satellite unit vector of ISCE2's `los.rdr` angles, degrees: the incidence i
/// from the vertical and the azimuth a of the target-to-platform vector from north,
/// anticlockwise (ISCE2 `runTopo.py`): (E, N, U) = (−sin i·sin a, sin i·cos a, cos i).
pub fn enu_from_isce(incidence_deg: f64, azimuth_deg: f64) -> (f64, f64, f64) {
    let (i, a) = (incidence_deg.to_radians(), azimuth_deg.to_radians());
    (-i.sin() * a.sin(), i.sin() * a.cos(), i.cos())
}

/// An angle in degrees wrapped to (−180°, 180°].
pub fn wrap_degrees(angle: f64) -> f64 {
    let wrapped = (angle + 180.0).rem_euclid(360.0) - 180.0;
    if wrapped == -180.0 {
        180.0
    } else {
        wrapped
    }
}

/// The (E, N, U) fields of two per-pixel angle fields `a`, `b` under a convention `to_enu`
/// (e.g. [`enu_from_hyp3`], [`enu_from_isce`]).
pub fn enu_field(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    to_enu: impl Fn(f64, f64) -> (f64, f64, f64) + Sync,
) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let mut east = Array2::<f32>::zeros(a.dim());
    let (mut north, mut up) = (east.clone(), east.clone());
    Zip::from(&mut east)
        .and(&mut north)
        .and(&mut up)
        .and(a)
        .and(b)
        .for_each(|e, n, u, &x, &y| {
            let v = to_enu(f64::from(x), f64::from(y));
            (*e, *n, *u) = (v.0 as f32, v.1 as f32, v.2 as f32);
        });
    (east, north, up)
}

/// Per-pixel incidence (degrees; NaN where any component is missing or the vector is zero) and
/// the circular mean heading of the valid pixels (None when there is none) of a field of
/// ground-to-satellite vectors.
pub fn incidence_and_mean_heading(
    east: ArrayView2<f32>,
    north: ArrayView2<f32>,
    up: ArrayView2<f32>,
) -> (Array2<f32>, Option<f64>) {
    let mut incidence = Array2::<f32>::from_elem(east.dim(), f32::NAN);
    let (mut sum_sin, mut sum_cos) = (0.0f64, 0.0f64);
    Zip::from(&mut incidence)
        .and(east)
        .and(north)
        .and(up)
        .for_each(|out, &e, &n, &u| {
            let (e, n, u) = (f64::from(e), f64::from(n), f64::from(u));
            if e.is_finite() && n.is_finite() && u.is_finite() && (e != 0.0 || n != 0.0 || u != 0.0)
            {
                let (theta, alpha) = incidence_heading_from_enu(e, n, u);
                *out = theta as f32;
                sum_sin += alpha.to_radians().sin();
                sum_cos += alpha.to_radians().cos();
            }
        });
    let heading = (sum_sin != 0.0 || sum_cos != 0.0).then(|| sum_sin.atan2(sum_cos).to_degrees());
    (incidence, heading)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real HyP3-GAMMA crop in tests/data/hyp3 (lv_theta 0.818 rad, lv_phi −0.169 rad), by
    /// hand: θ = 90° − 46.87° = 43.13°; α = 180° − φ° = 189.69° ≡ −170.31° (descending).
    #[test]
    fn hyp3_angles_by_hand() {
        let (e, n, u) = enu_from_hyp3(0.818, -0.169);
        let (theta, alpha) = incidence_heading_from_enu(e, n, u);
        assert!((theta - (90.0 - 0.818f64.to_degrees())).abs() < 1e-9);
        assert!((theta - 43.132).abs() < 1e-3, "{theta}");
        assert!((alpha - (180.0 + 0.169f64.to_degrees() - 360.0)).abs() < 1e-9);
        assert!((alpha + 170.317).abs() < 1e-3, "{alpha}");
    }

    /// An ascending pass like LiCSAR's frame 106A (metadata heading −12.0°, incidence ≈ 41.6°):
    /// the satellite flies north-north-west and looks east, so the vector to the satellite
    /// points west-south-west, b = α − 90° = −102°.
    #[test]
    fn an_ascending_unit_vector() {
        let (theta, b) = (41.6f64.to_radians(), (-102.0f64).to_radians());
        let (e, n, u) = (theta.sin() * b.sin(), theta.sin() * b.cos(), theta.cos());
        let (incidence, heading) = incidence_heading_from_enu(e, n, u);
        assert!((incidence - 41.6).abs() < 1e-9 && (heading + 12.0).abs() < 1e-9);
    }

    /// MintPy's check values for ISCE2's band 2: ascending heading −12° ↔ azimuth 102°,
    /// descending −168° ↔ −102°; ISCE's unwrapped −258° is 102°.
    #[test]
    fn isce_angles_by_hand() {
        for (azimuth, heading) in [(102.0, -12.0), (-102.0, -168.0), (-258.0, -12.0)] {
            let (e, n, u) = enu_from_isce(38.0, azimuth);
            let (theta, alpha) = incidence_heading_from_enu(e, n, u);
            assert!(
                (theta - 38.0).abs() < 1e-9 && (alpha - heading).abs() < 1e-9,
                "{alpha}"
            );
        }
    }

    #[test]
    fn mean_heading_crosses_the_date_line_of_angles() {
        let e = ndarray::arr2(&[[1.0f32, 1.0, f32::NAN]]);
        let n = ndarray::arr2(&[[0.05f32, -0.05, 0.0]]);
        let u = ndarray::arr2(&[[1.0f32, 1.0, 1.0]]);
        let (incidence, heading) = incidence_and_mean_heading(e.view(), n.view(), u.view());
        // headings 177.1° and −177.1°: the mean is 180°, not 0°
        let heading = heading.unwrap();
        assert!((heading.abs() - 180.0).abs() < 1e-6, "{heading}");
        // acos(1 / √2.0025) = 45.036°
        assert!(incidence[[0, 2]].is_nan() && (incidence[[0, 0]] - 45.036).abs() < 1e-3);
        assert_eq!(wrap_degrees(-180.0), 180.0);
        assert_eq!(wrap_degrees(370.0), 10.0);
    }
}
