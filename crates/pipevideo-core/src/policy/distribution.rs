//! The expected duration of a generation: a lognormal distribution and the few pieces of
//! normal-distribution arithmetic the schedule and the fleet scheduler need.

use std::time::Duration;

/// Why a duration distribution could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionError {
    /// The median must be a positive duration.
    #[error("the median duration must be positive, got {0:?}")]
    ZeroMedian(Duration),
    /// Sigma (the spread of `ln(duration)`) must be finite and in `0.01..=3.0`.
    #[error("sigma must be a finite number in 0.01..=3.0, got {0}")]
    Sigma(f64),
}

/// A lognormal distribution of generation durations: `ln(duration)` is normal with mean
/// `ln(median)` and standard deviation `sigma`.
///
/// The SDK's prior is [`LogNormal::PIPEVIDEO`]: median 55 s, sigma 0.35, so that 90% of
/// generations take between about 31 s and 98 s, which matches the documented 52–58 s
/// examples with room for slow renders. [`DurationLearner`](crate::poll::DurationLearner) refines it
/// per flavour, model and engine from completed generations (the client does, by default).
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::policy::LogNormal;
///
/// let d = LogNormal::new(Duration::from_secs(55), 0.35).unwrap();
/// assert!((d.cdf(Duration::from_secs(55)) - 0.5).abs() < 1e-6);
/// let p95 = d.quantile(0.95);
/// assert!((97.0..99.0).contains(&p95.as_secs_f64()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogNormal {
    mu: f64,
    sigma: f64,
}

impl LogNormal {
    /// The SDK's default prior for one generation: median 55 s, sigma 0.35.
    pub const PIPEVIDEO: Self = Self {
        // ln(55)
        mu: 4.007_333_185_232_471,
        sigma: 0.35,
    };

    /// A distribution with the given median and sigma (the standard deviation of the
    /// logarithm of the duration in seconds).
    pub fn new(median: Duration, sigma: f64) -> Result<Self, DistributionError> {
        if median.is_zero() {
            return Err(DistributionError::ZeroMedian(median));
        }
        if !sigma.is_finite() || !(0.01..=3.0).contains(&sigma) {
            return Err(DistributionError::Sigma(sigma));
        }
        Ok(Self {
            mu: median.as_secs_f64().ln(),
            sigma,
        })
    }

    /// Builds from the mean and standard deviation of `ln(seconds)`, clamping sigma into the
    /// accepted range.
    pub(crate) fn from_log_params(mu: f64, sigma: f64) -> Self {
        Self {
            mu,
            sigma: sigma.clamp(0.01, 3.0),
        }
    }

    /// The median duration.
    pub fn median(&self) -> Duration {
        super::saturating_secs(self.mu.exp())
    }

    /// The standard deviation of `ln(seconds)`.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The most likely duration (the mode of the density): `exp(mu - sigma²)`.
    pub fn mode(&self) -> Duration {
        super::saturating_secs((self.mu - self.sigma * self.sigma).exp())
    }

    /// The probability that a generation is done within `t`.
    pub fn cdf(&self, t: Duration) -> f64 {
        self.cdf_secs(t.as_secs_f64())
    }

    /// The duration within which a fraction `p` of generations is done; `p` is clamped into
    /// `0.000_001..=0.999_999`.
    pub fn quantile(&self, p: f64) -> Duration {
        let p = if p.is_nan() {
            0.5
        } else {
            p.clamp(1e-6, 1.0 - 1e-6)
        };
        super::saturating_secs((self.mu + self.sigma * normal_quantile(p)).exp())
    }

    pub(crate) fn mu(&self) -> f64 {
        self.mu
    }

    pub(crate) fn cdf_secs(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        normal_cdf((t.ln() - self.mu) / self.sigma)
    }

    /// The completion hazard at `t` seconds: the density of finishing at `t` among the
    /// generations still running at `t`, per second.
    pub(crate) fn hazard(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let z = (t.ln() - self.mu) / self.sigma;
        let pdf = (-z * z / 2.0).exp() / (std::f64::consts::TAU.sqrt() * self.sigma * t);
        let survival = 0.5 * erfc(z / std::f64::consts::SQRT_2);
        if survival <= 0.0 {
            // Beyond f64 range the hazard of a lognormal tends to z / (sigma t).
            return z.max(0.0) / (self.sigma * t);
        }
        pdf / survival
    }

    /// The largest hazard (the lognormal hazard rises, peaks and falls), by golden-section
    /// search over `z` in `-1..8`.
    pub(crate) fn peak_hazard(&self) -> f64 {
        let h = |z: f64| self.hazard((self.mu + self.sigma * z).exp());
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (-1.0_f64, 8.0_f64);
        let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
        let (mut hc, mut hd) = (h(c), h(d));
        for _ in 0..60 {
            if hc > hd {
                b = d;
                d = c;
                hd = hc;
                c = b - g * (b - a);
                hc = h(c);
            } else {
                a = c;
                c = d;
                hc = hd;
                d = a + g * (b - a);
                hd = h(d);
            }
        }
        hc.max(hd)
    }

    /// `E[(b - T)⁺ ; a < T ≤ b] / P(T > a)`: the detection delay a generation last seen
    /// running at `a` has accrued by `b`, in expectation. The fleet scheduler's urgency.
    pub(crate) fn expected_accrued_delay(&self, a: f64, b: f64) -> f64 {
        if b <= a {
            return 0.0;
        }
        let (fa, fb) = (self.cdf_secs(a), self.cdf_secs(b));
        let s = self.sigma;
        let shifted = |t: f64| {
            if t <= 0.0 {
                0.0
            } else {
                normal_cdf((t.ln() - self.mu - s * s) / s)
            }
        };
        let partial_mean = (self.mu + s * s / 2.0).exp() * (shifted(b) - shifted(a));
        let accrued = (b * (fb - fa) - partial_mean).max(0.0);
        accrued / (1.0 - fa).max(1e-12)
    }

    /// Draws a duration, in seconds, by inverting the distribution function. (For the unit
    /// tests; the poll simulator beside the `poll-simulation` example samples through
    /// [`LogNormal::quantile`] the same way.)
    #[cfg(test)]
    pub(crate) fn sample_secs(&self, rng: &mut impl rand_core::RngCore) -> f64 {
        let u = crate::random::between(rng, 1e-12, 1.0 - 1e-12);
        (self.mu + self.sigma * normal_quantile(u)).exp()
    }
}

impl Default for LogNormal {
    fn default() -> Self {
        Self::PIPEVIDEO
    }
}

/// The standard normal distribution function, from the complementary error function
/// (Chebyshev fit of Numerical Recipes `erfcc`, relative error below 1.2e-7).
pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// The standard normal quantile function (Acklam's rational approximation, relative error
/// below 1.2e-9), for `p` in `(0, 1)`.
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_functions_agree_with_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.644_853_6) - 0.95).abs() < 1e-6);
        assert!((normal_cdf(-1.959_964) - 0.025).abs() < 1e-6);
        for p in [0.001, 0.01, 0.2, 0.5, 0.9, 0.999] {
            assert!((normal_cdf(normal_quantile(p)) - p).abs() < 1e-6, "p = {p}");
        }
    }

    #[test]
    fn default_prior_matches_the_documented_spread() {
        let d = LogNormal::PIPEVIDEO;
        assert!((d.median().as_secs_f64() - 55.0).abs() < 1e-6);
        let p05 = d.quantile(0.05).as_secs_f64();
        let p95 = d.quantile(0.95).as_secs_f64();
        assert!((30.0..32.0).contains(&p05), "{p05}");
        assert!((97.0..99.0).contains(&p95), "{p95}");
        let peak = d.peak_hazard();
        for t in [20.0, 40.0, 55.0, 80.0, 100.0, 150.0, 400.0] {
            assert!(d.hazard(t) <= peak + 1e-12, "t = {t}");
        }
        assert!((0.05..0.07).contains(&peak), "{peak}");
    }

    #[test]
    fn accrued_delay_is_monotone_and_bounded() {
        let d = LogNormal::PIPEVIDEO;
        let mut prev = 0.0;
        for b in (41..120).map(f64::from) {
            let x = d.expected_accrued_delay(40.0, b);
            assert!(x >= prev - 1e-9 && x <= b - 40.0);
            prev = x;
        }
        assert_eq!(d.expected_accrued_delay(50.0, 50.0), 0.0);
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        assert_eq!(
            LogNormal::new(Duration::ZERO, 0.3),
            Err(DistributionError::ZeroMedian(Duration::ZERO))
        );
        assert!(matches!(
            LogNormal::new(Duration::from_secs(1), f64::NAN),
            Err(DistributionError::Sigma(_))
        ));
    }
}
