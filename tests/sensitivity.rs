//! ISL building blocks against METHOD.md §2's check values.

use fringewatch::raster::CellSpacing;
use fringewatch::sensitivity::{
    isl, isl_value, layover_or_shadow, s2l, AngleField, CoherenceWeight,
};
use fringewatch::terrain::GradientMethod;
use ndarray::Array2;

const BETA: f64 = 25.0;
const THETA: f64 = 39.0;

fn s2l_deg(aspect: f64, heading: f64) -> f64 {
    s2l(
        BETA.to_radians(),
        aspect.to_radians(),
        heading.to_radians(),
        THETA.to_radians(),
    )
}

#[test]
fn s2l_reproduces_the_eight_check_values() {
    let asc = -10.5;
    let desc = -169.5;
    let cases = [
        (asc, 90.0, 0.889),
        (asc, 270.0, -0.232),
        (asc, 0.0, 0.432),
        (asc, 180.0, 0.224),
        (desc, 270.0, 0.889),
        (desc, 90.0, -0.232),
        (desc, 0.0, 0.432),
        (desc, 180.0, 0.224),
    ];
    for (heading, aspect, expected) in cases {
        let v = s2l_deg(aspect, heading);
        assert!(
            (v - expected).abs() < 1e-3,
            "heading {heading}, aspect {aspect}: {v} vs {expected}"
        );
    }
}

#[test]
fn coherence_weight_is_one_half_at_its_midpoint_and_monotone() {
    let w = CoherenceWeight::default();
    assert!((w.weight(0.3) - 0.5).abs() < 1e-12);
    let custom = CoherenceWeight {
        k: 8.0,
        gamma_m: 0.45,
    };
    assert!((custom.weight(0.45) - 0.5).abs() < 1e-12);
    assert!(w.weight(0.1) < 0.05 && w.weight(0.6) > 0.99);
}

#[test]
fn layover_and_shadow_are_masked() {
    let (theta, asc) = (39f64.to_radians(), (-10.5f64).to_radians());
    // a 60° slope facing the sensor (west-facing, ascending looks east) is in layover
    assert!(layover_or_shadow(
        60f64.to_radians(),
        270f64.to_radians(),
        asc,
        theta
    ));
    // a 60° slope facing away is in shadow (β_r > 90° − θ = 51°)
    assert!(layover_or_shadow(
        60f64.to_radians(),
        90f64.to_radians(),
        asc,
        theta
    ));
    // 25° slopes either way are visible
    assert!(!layover_or_shadow(
        25f64.to_radians(),
        270f64.to_radians(),
        asc,
        theta
    ));
    assert!(!layover_or_shadow(
        25f64.to_radians(),
        90f64.to_radians(),
        asc,
        theta
    ));
    let w = CoherenceWeight::default();
    assert_eq!(
        isl_value(60f64.to_radians(), 270f64.to_radians(), asc, theta, 0.9, &w),
        0.0
    );
    let v = isl_value(BETA.to_radians(), 270f64.to_radians(), asc, theta, 0.9, &w);
    assert!(
        (v - 0.232 * 0.9 * w.weight(0.9)).abs() < 1e-3,
        "|S2L| is used: {v}"
    );
}

#[test]
fn isl_block_on_an_east_facing_plane() {
    // 25° east-facing plane, 10 m cells; DEM block carries a one-cell halo
    let n = 12;
    let tan = 25f64.to_radians().tan();
    let dem = Array2::from_shape_fn((n + 2, n + 2), |(_, c)| {
        (1000.0 - tan * 10.0 * c as f64) as f32
    });
    let mut coherence = Array2::from_elem((n, n), 0.8f32);
    coherence[(3, 3)] = f32::NAN;
    let out = isl(
        dem.view(),
        &CellSpacing::uniform(10.0, n + 2),
        coherence.view(),
        AngleField::Constant(THETA.to_radians()),
        AngleField::Constant((-10.5f64).to_radians()),
        &CoherenceWeight::default(),
        GradientMethod::ZevenbergenThorne,
    );
    let w = CoherenceWeight::default().weight(0.8);
    let expected = 0.889 * 0.8 * w;
    assert!(
        (out[(0, 0)] as f64 - expected).abs() < 1e-3,
        "{} vs {expected}",
        out[(0, 0)]
    );
    assert!(out[(3, 3)].is_nan(), "nodata coherence gives nodata");
}
