//! Which lines of one log are written: a sampled share, at most so many a second.

use crate::telemetry::sharded::Counter;
use crate::telemetry::Metrics;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// The sampling ratio and per-second cap of one log, with its counters.
#[derive(Debug)]
pub struct LineBudget {
    ratio: f64,
    per_second: u32,
    start: Instant,
    /// The second (since `start`) the count is for.
    second: AtomicU64,
    used: AtomicU32,
    written: Counter,
    limited: Counter,
}

impl LineBudget {
    /// The budget of the log named `log` (the `log` label of its counters).
    pub fn new(metrics: &Metrics, log: &str, ratio: f64, per_second: u32) -> Self {
        Self {
            ratio: if ratio.is_finite() { ratio.clamp(0.0, 1.0) } else { 0.0 },
            per_second,
            start: Instant::now(),
            second: AtomicU64::new(0),
            used: AtomicU32::new(0),
            written: metrics.log_lines.with(&[log, "written"]),
            limited: metrics.log_lines.with(&[log, "rate_limited"]),
        }
    }

    /// Whether any line can be written (a ratio of 0 turns the log off).
    pub fn enabled(&self) -> bool {
        self.ratio > 0.0
    }

    /// Whether a line is sampled in (a fair coin of the ratio).
    pub fn sampled(&self) -> bool {
        self.ratio >= 1.0 || (self.ratio > 0.0 && fastrand::f64() < self.ratio)
    }

    /// Take one line from this second's allowance; counts it written or rate limited.
    pub fn admit(&self) -> bool {
        if self.per_second == 0 {
            self.written.inc();
            return true;
        }
        let now = self.start.elapsed().as_secs();
        let seen = self.second.load(Ordering::Relaxed);
        if now != seen && self.second.compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            self.used.store(0, Ordering::Relaxed);
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.per_second {
            self.written.inc();
            true
        } else {
            self.limited.inc();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_admits_its_cap_and_counts_the_rest_rate_limited() {
        let metrics = Metrics::new();
        let b = LineBudget::new(&metrics, "access", 1.0, 3);
        let admitted = (0..10).filter(|_| b.admit()).count();
        assert_eq!(admitted, 3);
        let text = metrics.encode().unwrap_or_default();
        assert!(text.contains(r#"inferwatch_log_lines_total{log="access",outcome="written"} 3"#), "{text}");
        assert!(text.contains(r#"inferwatch_log_lines_total{log="access",outcome="rate_limited"} 7"#), "{text}");
    }

    #[test]
    fn ratios_outside_zero_to_one_are_clamped_and_zero_turns_the_log_off() {
        let metrics = Metrics::new();
        assert!(!LineBudget::new(&metrics, "prediction", 0.0, 0).enabled());
        assert!(!LineBudget::new(&metrics, "prediction", f64::NAN, 0).sampled());
        assert!((0..100).all(|_| LineBudget::new(&metrics, "prediction", 7.0, 0).sampled()));
        let half = LineBudget::new(&metrics, "prediction", 0.5, 0);
        let n = (0..10_000).filter(|_| half.sampled()).count();
        assert!((4_500..5_500).contains(&n), "{n} of 10000 at 0.5");
    }
}
