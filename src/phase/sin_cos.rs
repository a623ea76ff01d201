//! cos φ and sin φ of a whole slice of phases in one branch-free loop that the compiler
//! vectorises (the detector's cos/sin input on the CPU: tract's Sin and Cos call scalar libm per
//! cell, 0.37 ms of a 3.4 ms tile).
//!
//! Cody–Waite reduction by π/2 (three-part constant, exact for |φ| up to about 10⁴) and the
//! minimax polynomials of Cephes' `sinf`/`cosf` on [−π/4, π/4]; the quadrant picks and signs
//! the results. Absolute error below 3·10⁻⁷ for |φ| ≤ 100 (tests below).

/// 2/π.
const TWO_OVER_PI: f32 = std::f32::consts::FRAC_2_PI;
/// π/2 in three parts whose products with small integers are exact (Cephes).
const HALF_PI_1: f32 = 1.570_312_5;
const HALF_PI_2: f32 = 4.837_513e-4;
const HALF_PI_3: f32 = 7.549_79e-8;

/// `cos[i] = cos φᵢ`, `sin[i] = sin φᵢ` for every phase of `phase` (all three of one length).
///
/// ```
/// use fringewatch::phase::sin_cos::sin_cos_into;
/// let phase = [0.0f32, 1.0, -3.0];
/// let (mut cos, mut sin) = ([0.0f32; 3], [0.0f32; 3]);
/// sin_cos_into(&phase, &mut cos, &mut sin);
/// assert!((cos[1] - 1.0f32.cos()).abs() < 3e-7 && (sin[2] - (-3.0f32).sin()).abs() < 3e-7);
/// ```
pub fn sin_cos_into(phase: &[f32], cos: &mut [f32], sin: &mut [f32]) {
    for ((&x, c), s) in phase.iter().zip(cos.iter_mut()).zip(sin.iter_mut()) {
        (*c, *s) = cos_sin(x);
    }
}

/// (cos φ, sin φ) of one phase, branch-free.
#[inline(always)]
fn cos_sin(x: f32) -> (f32, f32) {
    let k = (x * TWO_OVER_PI).round();
    let r = ((x - k * HALF_PI_1) - k * HALF_PI_2) - k * HALF_PI_3;
    let r2 = r * r;
    let sin_r = r + r * r2 * (-1.666_665_5e-1 + r2 * (8.332_161e-3 + r2 * -1.951_529_6e-4));
    let cos_r =
        1.0 - 0.5 * r2 + r2 * r2 * (4.166_664_6e-2 + r2 * (-1.388_731_6e-3 + r2 * 2.443_315_7e-5));
    let quadrant = (k as i32) & 3;
    let odd = quadrant & 1 == 1;
    let (s, c) = if odd { (cos_r, sin_r) } else { (sin_r, cos_r) };
    // sin: + + − − over quadrants 0..3; cos: + − − +
    let s = if quadrant & 2 == 2 { -s } else { s };
    let c = if (quadrant + 1) & 2 == 2 { -c } else { c };
    (c, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_double_precision_within_3e_7() {
        let n = 200_001;
        let phase: Vec<f32> = (0..n)
            .map(|i| -100.0 + 200.0 * i as f32 / (n - 1) as f32)
            .chain([
                0.0,
                -0.0,
                std::f32::consts::PI,
                -std::f32::consts::PI,
                1e-30,
            ])
            .collect();
        let (mut cos, mut sin) = (vec![0.0; phase.len()], vec![0.0; phase.len()]);
        sin_cos_into(&phase, &mut cos, &mut sin);
        let mut worst = 0.0f64;
        for ((&x, &c), &s) in phase.iter().zip(&cos).zip(&sin) {
            let x = f64::from(x);
            worst = worst
                .max((f64::from(c) - x.cos()).abs())
                .max((f64::from(s) - x.sin()).abs());
        }
        assert!(worst < 3e-7, "worst absolute error {worst:e}");
        // the wraps: ±π give (−1, 0), 0 gives (1, 0)
        let (mut c, mut s) = ([0.0f32; 3], [0.0f32; 3]);
        sin_cos_into(
            &[0.0, std::f32::consts::PI, -std::f32::consts::PI],
            &mut c,
            &mut s,
        );
        assert_eq!(c[0], 1.0);
        assert!((c[1] + 1.0).abs() < 1e-7 && (c[2] + 1.0).abs() < 1e-7);
        assert!(s[0] == 0.0 && s[1].abs() < 1e-7 && s[2].abs() < 1e-7);
    }

    #[test]
    fn nan_stays_nan() {
        let (mut c, mut s) = ([0.0f32; 1], [0.0f32; 1]);
        sin_cos_into(&[f32::NAN], &mut c, &mut s);
        assert!(c[0].is_nan() && s[0].is_nan());
    }
}
