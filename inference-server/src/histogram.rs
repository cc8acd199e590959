//! A lock-free Prometheus histogram.
//!
//! `prometheus_client`'s histogram takes a write lock on every observation; a request observes
//! seven histograms from whichever worker thread runs it, so the locks' cache lines bounced
//! between cores on every request. Here each bucket, the count and the sum are separate atomics:
//! an observation is two atomic adds and one compare-and-swap loop for the sum.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A histogram with fixed upper bounds; cheap to clone (clones share the counts).
#[derive(Debug, Clone)]
pub struct Histogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Upper bounds, ascending; the last is `f64::MAX` (the `+Inf` bucket).
    bounds: Vec<f64>,
    /// Observations per bucket (not cumulative).
    counts: Vec<AtomicU64>,
    /// Sum of observations, as `f64` bits.
    sum_bits: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds (a `+Inf` bucket is added).
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let mut bounds: Vec<f64> = bounds.into_iter().filter(|b| !b.is_nan()).collect();
        bounds.push(f64::MAX);
        let counts = bounds.iter().map(|_| AtomicU64::new(0)).collect();
        Self { inner: Arc::new(Inner { bounds, counts, sum_bits: AtomicU64::new(0f64.to_bits()) }) }
    }

    /// Record one value. NaN goes to the `+Inf` bucket and leaves the sum alone.
    pub fn observe(&self, v: f64) {
        let i = self.inner.bounds.iter().position(|b| v <= *b).unwrap_or(self.inner.bounds.len() - 1);
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        if v.is_nan() {
            return;
        }
        let mut cur = self.inner.sum_bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self.inner.sum_bits.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// (sum, count, per-bucket counts). The count is the sum of the buckets, so a scrape is
    /// always self-consistent even while observations land.
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> =
            self.inner.bounds.iter().zip(&self.inner.counts).map(|(b, c)| (*b, c.load(Ordering::Relaxed))).collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        (f64::from_bits(self.inner.sum_bits.load(Ordering::Relaxed)), count, buckets)
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let h = Histogram::new([0.1, 1.0]);
        for v in [0.05, 0.1, 0.5, 2.0, f64::INFINITY] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 5);
        assert_eq!(buckets.iter().map(|(_, c)| *c).collect::<Vec<_>>(), vec![2, 1, 2]);
        assert!(sum.is_infinite());
    }

    #[test]
    fn nan_is_counted_but_does_not_poison_the_sum() {
        let h = Histogram::new([1.0]);
        h.observe(f64::NAN);
        h.observe(0.5);
        let (sum, count, _) = h.snapshot();
        assert_eq!((sum, count), (0.5, 2));
    }

    #[test]
    fn concurrent_observations_are_all_kept() {
        let h = Histogram::new([1.0, 10.0]);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let h = h.clone();
                s.spawn(move || (0..10_000).for_each(|_| h.observe(2.0)));
            }
        });
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 40_000);
        assert_eq!(buckets[1].1, 40_000);
        assert_eq!(sum, 80_000.0);
    }

    #[test]
    fn encodes_like_a_prometheus_histogram() {
        let mut registry = prometheus_client::registry::Registry::default();
        let h = Histogram::new([0.5]);
        registry.register("x_seconds", "x", h.clone());
        h.observe(0.25);
        h.observe(3.0);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("# TYPE x_seconds histogram"), "{out}");
        assert!(out.contains("x_seconds_sum 3.25"), "{out}");
        assert!(out.contains("x_seconds_count 2"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.5\"} 1"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 2"), "{out}");
    }
}
