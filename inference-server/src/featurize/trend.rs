//! Trend window features and analysis, the Rust twin of `training/trend.py`.
//!
//! Features (one row per forecast step h, scaled by the series scale s): naive, seasonal
//! naive, seasonal naive with drift, local linear trend, seasonal mean. The model combines them.

use serde::Deserialize;

/// Number of features per forecast step.
pub const N_FEATURES: usize = 5;

/// The featurizer section of the trend package's `model.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct TrendSettings {
    /// Season lengths tried by detection.
    pub candidate_season_lengths: Vec<usize>,
    /// Minimum autocorrelation of first differences to accept a season.
    pub acf_threshold: f64,
    /// Fewer points than this is invalid input.
    pub min_points: usize,
    /// Largest forecast horizon.
    pub max_horizon: usize,
}

/// The analysis section of `model.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct AnalysisSettings {
    /// Mann-Kendall p-value below which a trend is called up/down.
    pub p_value_threshold: f64,
    /// Robust z-score above which a point is an anomaly.
    pub anomaly_robust_z: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Season length with the largest autocorrelation of first differences among the candidates
/// that fit three times into the series; 1 when none exceeds the threshold.
pub fn detect_season(y: &[f64], settings: &TrendSettings) -> usize {
    if y.len() < 2 {
        return 1;
    }
    let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    let m = mean(&d);
    let c: Vec<f64> = d.iter().map(|v| v - m).collect();
    let denom: f64 = c.iter().map(|v| v * v).sum();
    if denom <= 0.0 {
        return 1;
    }
    let (mut best, mut best_acf) = (1, settings.acf_threshold);
    for &p in &settings.candidate_season_lengths {
        if p == 0 || y.len() < 3 * p {
            continue;
        }
        let acf = c[p..].iter().zip(&c[..c.len() - p]).map(|(a, b)| a * b).sum::<f64>() / denom;
        if acf > best_acf {
            best = p;
            best_acf = acf;
        }
    }
    best
}

/// Whether the model has enough history; otherwise the answer is the naive fallback.
pub fn model_applies(n: usize, p: usize) -> bool {
    p >= 2 && n >= 2 * p
}

/// Values the flat fallback level averages at least (one year of monthly data).
pub const LEVEL_WINDOW: usize = 12;

/// The forecast when the model does not apply, consistent with the trend analysis: the OLS
/// line continued when the trend is significant (`up`/`down`), else flat at the mean of the
/// last max(p, 12) values (or all of them).
pub fn trend_line(y: &[f64], p: usize, horizon: usize, direction: Direction) -> Vec<f64> {
    let n = y.len();
    if direction == Direction::Flat {
        let tail = &y[n - n.min(p.max(LEVEL_WINDOW))..];
        return vec![mean(tail); horizon];
    }
    let (slope, intercept) = ols(y);
    (1..=horizon).map(|h| intercept + slope * ((n - 1 + h) as f64)).collect()
}

/// Mean absolute value of the last max(p, 4) points (1 when that is ~0).
pub fn scale(y: &[f64], p: usize) -> f64 {
    let q = y.len().min(p.max(4));
    let s = mean(&y[y.len() - q..].iter().map(|v| v.abs()).collect::<Vec<_>>());
    if s > 1e-9 {
        s
    } else {
        1.0
    }
}

/// Least-squares line through `y` at x = 0..n: (slope, intercept).
pub fn ols(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let tm = (n - 1.0) / 2.0;
    let ym = mean(y);
    let (mut num, mut den) = (0.0, 0.0);
    for (t, v) in y.iter().enumerate() {
        let dt = t as f64 - tm;
        num += dt * (v - ym);
        den += dt * dt;
    }
    let slope = if den > 0.0 { num / den } else { 0.0 };
    (slope, ym - slope * tm)
}

/// Row-major `[horizon, N_FEATURES]` float32 features and the scale. Requires `model_applies`.
pub fn features(y: &[f64], p: usize, horizon: usize) -> (Vec<f32>, f64) {
    let n = y.len();
    let s = scale(y, p);
    let z: Vec<f64> = y.iter().map(|v| v / s).collect();
    let last_season = mean(&z[n - p..]);
    let d = (last_season - mean(&z[n - 2 * p..n - p])) / p as f64;
    let window = n.min((2 * p).max(8));
    let (slope, intercept) = ols(&z[n - window..]);
    let mut out = Vec::with_capacity(horizon * N_FEATURES);
    for h in 1..=horizon {
        let sn = z[n - p + (h - 1) % p];
        let row = [
            z[n - 1],
            sn,
            sn + p as f64 * d * (((h - 1) / p + 1) as f64),
            intercept + slope * ((window - 1 + h) as f64),
            last_season,
        ];
        out.extend(row.iter().map(|&v| v as f32));
    }
    (out, s)
}

/// Mann-Kendall trend test without tie correction: (z, two-sided p-value). O(n log n) by
/// Knight's method: S = concordant - discordant pairs, where the discordant pairs are the
/// strict inversions a merge sort counts and the concordant ones are what remains of the
/// n(n-1)/2 pairs after them and the ties. The same S as the pairwise double loop (a property
/// test holds the two equal), without its O(n²) time on a long series.
pub fn mann_kendall(y: &[f64]) -> (f64, f64) {
    let n = y.len();
    let s = mann_kendall_s(y);
    let nf = n as f64;
    let var = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    let z = match s {
        0 => 0.0,
        s if s > 0 => (s as f64 - 1.0) / var.sqrt(),
        s => (s as f64 + 1.0) / var.sqrt(),
    };
    (z, libm::erfc(z.abs() / std::f64::consts::SQRT_2))
}

/// The Mann-Kendall S statistic, sum over i < j of sign(y[j] - y[i]).
fn mann_kendall_s(y: &[f64]) -> i64 {
    let n = y.len() as i64;
    let pairs = n * (n - 1) / 2;
    let mut work = y.to_vec();
    let mut buffer = vec![0.0; y.len()];
    let discordant = inversions(&mut work, &mut buffer);
    // `work` is now sorted: equal values sit in runs.
    let mut ties = 0i64;
    let mut run = 1i64;
    for w in work.windows(2) {
        if w[0] == w[1] {
            run += 1;
        } else {
            ties += run * (run - 1) / 2;
            run = 1;
        }
    }
    ties += run * (run - 1) / 2;
    let concordant = pairs - discordant - ties;
    concordant - discordant
}

/// Sorts `v` ascending and returns the pairs i < j with v[i] > v[j] (equal values are not
/// inversions). Bottom-up merge sort over `buffer`, no recursion.
fn inversions(v: &mut [f64], buffer: &mut [f64]) -> i64 {
    let n = v.len();
    let mut count = 0i64;
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j, mut k) = (start, mid, start);
            while i < mid && j < end {
                if v[j] < v[i] {
                    count += (mid - i) as i64;
                    buffer[k] = v[j];
                    j += 1;
                } else {
                    buffer[k] = v[i];
                    i += 1;
                }
                k += 1;
            }
            buffer[k..k + (mid - i)].copy_from_slice(&v[i..mid]);
            k += mid - i;
            buffer[k..k + (end - j)].copy_from_slice(&v[j..end]);
            start = end;
        }
        v.copy_from_slice(buffer);
        width *= 2;
    }
    count
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One anomalous point.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Anomaly {
    /// Position in the input series.
    pub index: usize,
    /// The observed value.
    pub value: f64,
    /// What the trend + seasonal fit expected.
    pub expected: f64,
    /// Robust z-score of the residual.
    pub score: f64,
}

/// Direction of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Significant increase.
    Up,
    /// Significant decrease.
    Down,
    /// No significant trend.
    Flat,
}

/// Slope, significance and anomalies of a series.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Analysis {
    /// OLS slope per step.
    pub slope: f64,
    /// Mann-Kendall z statistic.
    pub mann_kendall_z: f64,
    /// Two-sided p-value of the Mann-Kendall test.
    pub p_value: f64,
    /// up / down when significant, else flat.
    pub direction: Direction,
    /// Points whose residual from trend + season is extreme.
    pub anomalies: Vec<Anomaly>,
}

/// Analyse a series with season length `p` (see `model.json` `analysis`).
pub fn analyse(y: &[f64], p: usize, settings: &AnalysisSettings) -> Analysis {
    let (slope, intercept) = ols(y);
    let (z, p_value) = mann_kendall(y);
    let direction = match (p_value < settings.p_value_threshold, slope > 0.0) {
        (false, _) => Direction::Flat,
        (true, true) => Direction::Up,
        (true, false) => Direction::Down,
    };
    let mut fitted: Vec<f64> = (0..y.len()).map(|t| intercept + slope * t as f64).collect();
    if p > 1 {
        let mut sums = vec![(0.0, 0usize); p];
        for (t, (v, f)) in y.iter().zip(&fitted).enumerate() {
            sums[t % p].0 += v - f;
            sums[t % p].1 += 1;
        }
        for (t, f) in fitted.iter_mut().enumerate() {
            let (sum, count) = sums[t % p];
            *f += sum / count as f64;
        }
    }
    let r: Vec<f64> = y.iter().zip(&fitted).map(|(v, f)| v - f).collect();
    let med = median(&mut r.clone());
    let mad = median(&mut r.iter().map(|v| (v - med).abs()).collect::<Vec<_>>());
    let mut anomalies = Vec::new();
    if mad > 1e-12 {
        for (k, rk) in r.iter().enumerate() {
            let score = 0.6745 * (rk - med) / mad;
            if score.abs() > settings.anomaly_robust_z {
                anomalies.push(Anomaly { index: k, value: y[k], expected: fitted[k] + med, score });
            }
        }
    }
    Analysis { slope, mann_kendall_z: z, p_value, direction, anomalies }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairwise_s(y: &[f64]) -> i64 {
        let mut s = 0;
        for i in 0..y.len() {
            for j in i + 1..y.len() {
                s += i64::from(y[j] > y[i]) - i64::from(y[j] < y[i]);
            }
        }
        s
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]
        /// Small integer values give many ties; floats give none.
        #[test]
        fn knights_s_equals_the_pairwise_s(ints in prop::collection::vec(-4i8..4, 0..300), floats in prop::collection::vec(-1e6f64..1e6, 0..300)) {
            let ints: Vec<f64> = ints.into_iter().map(f64::from).collect();
            prop_assert_eq!(mann_kendall_s(&ints), pairwise_s(&ints));
            prop_assert_eq!(mann_kendall_s(&floats), pairwise_s(&floats));
        }
    }

    #[test]
    fn mann_kendall_of_the_longest_series_is_linear_logarithmic() {
        // 10,000 points: 5e7 pairs for the double loop; here a merge sort. Checked for value,
        // not time (benchmarks measure time): a rising series with a dip has S = pairs - 2 * dips.
        let mut y: Vec<f64> = (0..10_000).map(f64::from).collect();
        y.swap(10, 11);
        let pairs = 10_000i64 * 9_999 / 2;
        assert_eq!(mann_kendall_s(&y), pairs - 2);
    }

    #[test]
    fn ols_recovers_a_line() {
        let y: Vec<f64> = (0..10).map(|t| 3.0 + 2.0 * t as f64).collect();
        let (s, i) = ols(&y);
        assert!((s - 2.0).abs() < 1e-12 && (i - 3.0).abs() < 1e-12);
    }

    #[test]
    fn strictly_increasing_series_is_significant() {
        let y: Vec<f64> = (0..30).map(f64::from).collect();
        let (z, p) = mann_kendall(&y);
        assert!(z > 5.0 && p < 1e-6, "z={z} p={p}");
    }

    #[test]
    fn constant_series_has_no_trend_and_no_anomalies() {
        let a = analyse(&[5.0; 12], 1, &AnalysisSettings { p_value_threshold: 0.05, anomaly_robust_z: 3.5 });
        assert_eq!(a.direction, Direction::Flat);
        assert!(a.anomalies.is_empty());
    }
}
