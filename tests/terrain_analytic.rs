//! Terrain kernels on analytic surfaces with known answers.

use fringewatch::progress::Silent;
use fringewatch::raster::CellSpacing;
use fringewatch::terrain::convexity::{convexity, ConvexitySettings};
use fringewatch::terrain::hydrology::{fill_depressions, mfd_catchment_area, DEFAULT_CONVERGENCE};
use fringewatch::terrain::pca::{jacobi_eigen, pc1, LoadingsChoice, Pc1Settings};
use fringewatch::terrain::{slope_aspect, tri, GradientMethod, TriMethod};
use ndarray::Array2;

const CELL: f64 = 10.0;

/// z = a·x_east + b·y_north on a grid (row 0 = north).
fn plane(a: f64, b: f64) -> Array2<f32> {
    Array2::from_shape_fn((21, 21), |(r, c)| {
        let x = c as f64 * CELL;
        let y = (20 - r) as f64 * CELL;
        (500.0 + a * x + b * y) as f32
    })
}

#[test]
fn tilted_planes_give_exact_slope_and_aspect_in_all_quadrants() {
    let spacing = CellSpacing::uniform(CELL, 21);
    // (∂z/∂east, ∂z/∂north, expected aspect in degrees = downslope azimuth)
    let cases = [
        (-0.3, -0.4, 36.869_897_6), // falls to the NE
        (-0.3, 0.4, 143.130_102_4), // falls to the SE
        (0.3, 0.4, 216.869_897_6),  // falls to the SW
        (0.3, -0.4, 323.130_102_4), // falls to the NW
        (-0.5, 0.0, 90.0),          // east-facing
        (0.0, 0.5, 180.0),          // south-facing
    ];
    for method in [GradientMethod::ZevenbergenThorne, GradientMethod::Horn] {
        for &(a, b, aspect_deg) in &cases {
            let dem = plane(a, b);
            let (slope, aspect) = slope_aspect(dem.view(), &spacing, method);
            let expected_slope = (a * a + b * b).sqrt().atan();
            // every cell, edges included (mirrored neighbours keep a plane a plane), except
            // Horn's four corners where both diagonals of a pair are missing
            for ((idx, &s), &asp) in slope.indexed_iter().zip(aspect.iter()) {
                let corner = (idx.0 == 0 || idx.0 == 20) && (idx.1 == 0 || idx.1 == 20);
                if corner && method == GradientMethod::Horn {
                    continue;
                }
                assert!(
                    (s as f64 - expected_slope).abs() < 1e-5,
                    "{method:?} slope {s} vs {expected_slope}"
                );
                let d = ((asp as f64).to_degrees() - aspect_deg + 180.0).rem_euclid(360.0) - 180.0;
                assert!(
                    d.abs() < 1e-3,
                    "{method:?} plane ({a},{b}): aspect {} vs {aspect_deg}",
                    (asp as f64).to_degrees()
                );
            }
        }
    }
}

#[test]
fn flat_ground_has_zero_slope_and_no_aspect() {
    let dem = Array2::from_elem((5, 5), 100.0f32);
    let (slope, aspect) = slope_aspect(
        dem.view(),
        &CellSpacing::uniform(CELL, 5),
        GradientMethod::ZevenbergenThorne,
    );
    assert!(slope.iter().all(|&s| s == 0.0));
    assert!(aspect.iter().all(|a| a.is_nan()));
}

#[test]
fn bowl_and_dome_have_opposite_convexity() {
    let n = 61;
    let spacing = CellSpacing::uniform(CELL, n);
    let paraboloid = |k: f64| {
        Array2::from_shape_fn((n, n), |(r, c)| {
            let (x, y) = (c as f64 - 30.0, r as f64 - 30.0);
            (1000.0 + k * (x * x + y * y)) as f32
        })
    };
    let settings = ConvexitySettings::default();
    let dome = convexity(paraboloid(-0.5).view(), &spacing, settings);
    let bowl = convexity(paraboloid(0.5).view(), &spacing, settings);
    let centre = |a: &Array2<f32>| a[(30, 30)];
    assert!(centre(&dome) > 95.0, "dome convexity {}", centre(&dome));
    assert!(centre(&bowl) < 5.0, "bowl convexity {}", centre(&bowl));
}

#[test]
fn cone_drains_to_its_outlet_with_the_whole_catchment() {
    // an inverted cone (funnel) with its lowest point at the south edge's middle cell
    let n = 41;
    let spacing = CellSpacing::uniform(CELL, n);
    let dem = Array2::from_shape_fn((n, n), |(r, c)| {
        let (dx, dy) = (c as f64 - 20.0, r as f64 - 40.0);
        (100.0 + (dx * dx + dy * dy).sqrt()) as f32
    });
    let filled = fill_depressions(dem.view());
    assert_eq!(filled, dem, "a cone draining to the edge has no depression");
    let area = mfd_catchment_area(filled.view(), &spacing, DEFAULT_CONVERGENCE);
    let outlet = area[(40, 20)] as f64;
    let total = (n * n) as f64 * CELL * CELL;
    // all cells drain inward to the outlet except the edge cells that spill out of the grid
    assert!(outlet > 0.5 * total, "outlet area {outlet} of {total}");
    assert!(outlet <= total + 1e-3);
    // catchment area grows monotonically down the centre line towards the outlet
    for r in 1..40 {
        assert!(area[(r + 1, 20)] > area[(r, 20)], "row {r}");
    }
    // the highest cells (the far corners) receive nothing but themselves
    assert!((area[(0, 0)] as f64 - CELL * CELL).abs() < 1e-3);
    assert!((area[(0, 40)] as f64 - CELL * CELL).abs() < 1e-3);
}

#[test]
fn depression_is_filled_and_drains() {
    let mut dem = Array2::from_shape_fn((9, 9), |(r, _)| (100.0 + r as f64) as f32);
    dem[(4, 4)] = 50.0; // a pit
    let filled = fill_depressions(dem.view());
    assert!(
        filled[(4, 4)] > 103.0 && filled[(4, 4)] < 104.0,
        "pit raised to its spill level: {}",
        filled[(4, 4)]
    );
    let area = mfd_catchment_area(
        filled.view(),
        &CellSpacing::uniform(CELL, 9),
        DEFAULT_CONVERGENCE,
    );
    // conservation: everything leaves through the north edge (lowest), sum of edge-row inflow
    let north_edge: f64 = (0..9).map(|c| area[(0, c)] as f64).sum();
    assert!(
        (north_edge - 81.0 * CELL * CELL).abs() < 1.0,
        "{north_edge}"
    );
}

#[test]
fn tri_definitions() {
    let dem = plane(0.3, 0.0); // rise of 3 m per 10 m cell eastwards
    let saga = tri(dem.view(), TriMethod::Saga);
    let riley = tri(dem.view(), TriMethod::Riley);
    // SAGA: centre + 4 orthogonal: sqrt((3² + 3² + 0 + 0) / 5)
    assert!((saga[(10, 10)] as f64 - (18.0f64 / 5.0).sqrt()).abs() < 1e-4);
    // Riley: sqrt(6 · 3²) (E, W and the four diagonals differ by 3 m)
    assert!((riley[(10, 10)] as f64 - (54.0f64).sqrt()).abs() < 1e-4);
}

#[test]
fn nodata_propagates_and_stays_local() {
    let mut dem = plane(0.1, 0.2);
    dem[(10, 10)] = f32::NAN;
    let spacing = CellSpacing::uniform(CELL, 21);
    let (slope, _) = slope_aspect(dem.view(), &spacing, GradientMethod::ZevenbergenThorne);
    assert!(slope[(10, 10)].is_nan());
    let expected = (0.1f64.hypot(0.2)).atan();
    assert!(
        (slope[(10, 11)] as f64 - expected).abs() < 1e-5,
        "neighbour of a hole uses the mirrored value"
    );
    let result = pc1(dem.view(), &spacing, &Pc1Settings::default(), &Silent).unwrap();
    assert!(result.pc1[(10, 10)].is_nan());
    assert!(result.pc1[(3, 3)].is_finite());
}

#[test]
fn pc1_fixed_loadings_are_standardised_and_fit_recovers_a_unit_eigenvector() {
    let n = 80;
    let dem = Array2::from_shape_fn((n, n), |(r, c)| {
        let (x, y) = (c as f64, r as f64);
        (300.0 + 40.0 * (x / 9.0).sin() * (y / 13.0).cos() + 0.5 * x + 0.02 * y * y) as f32
    });
    let spacing = CellSpacing::uniform(30.0, n);
    let fixed = pc1(dem.view(), &spacing, &Pc1Settings::default(), &Silent).unwrap();
    let mean: f64 = fixed.pc1.iter().map(|&v| v as f64).sum::<f64>() / (n * n) as f64;
    assert!(
        mean.abs() < 1e-3,
        "PC1 of standardised variables has zero mean, got {mean}"
    );
    let fit = pc1(
        dem.view(),
        &spacing,
        &Pc1Settings {
            loadings: LoadingsChoice::Fit,
            ..Default::default()
        },
        &Silent,
    )
    .unwrap();
    let l = fit.loadings.0;
    let norm: f64 = l.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-9);
    assert!(l[0] > 0.0, "slope loading made positive");
    let ev = fit.explained_variance.unwrap();
    assert!((ev.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(ev[0] >= ev[1] && ev[1] >= ev[2] && ev[2] >= ev[3]);
}

#[test]
fn jacobi_diagonalises_a_known_matrix() {
    let a = [
        [4.0, 1.0, 0.0, 0.0],
        [1.0, 3.0, 0.0, 0.0],
        [0.0, 0.0, 2.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let (values, vectors) = jacobi_eigen(a);
    let mut v = values;
    v.sort_by(|a, b| b.total_cmp(a));
    let top = (7.0 + 5.0f64.sqrt()) / 2.0;
    assert!((v[0] - top).abs() < 1e-12);
    // A·v = λ·v for every column
    for k in 0..4 {
        for i in 0..4 {
            let av: f64 = (0..4).map(|j| a[i][j] * vectors[j][k]).sum();
            assert!((av - values[k] * vectors[i][k]).abs() < 1e-10);
        }
    }
}

#[test]
fn geographic_spacing_matches_the_ellipsoid() {
    use fringewatch::raster::{Crs, Grid};
    let grid = Grid {
        width: 10,
        height: 3,
        geo_transform: [
            14.0,
            1.0 / 1200.0,
            0.0,
            44.0 + 1.5 / 1200.0,
            0.0,
            -1.0 / 1200.0,
        ],
        crs: Crs::from_definition("EPSG:4326").unwrap(),
    };
    let s = grid.spacing();
    // at 44° N: one arc-second of 3″ … here 3″ cells: dx = N cos φ Δλ ≈ 66.8 m, dy = M Δφ ≈ 92.6 m
    assert!((s.dx[1] - 66.83).abs() < 0.05, "dx {}", s.dx[1]);
    assert!((s.dy[1] - 92.61).abs() < 0.05, "dy {}", s.dy[1]);
}
