//! Sharded, lock-free Prometheus metric types for the request path: [`Histogram`], [`Counter`]
//! and [`Gauge`].
//!
//! `prometheus_client`'s histogram takes a write lock on every observation, and its counter is one
//! atomic shared by every thread. A predict request touches about a dozen of these from whichever
//! worker thread runs it, so their cache lines bounced between cores on every request (measured:
//! most of the metrics-on overhead). Here each thread writes to one of [`SHARDS`] shards, each on
//! cache lines of its own, and a scrape adds the shards up.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Shards per metric: enough that the worker threads of a small pod rarely share one.
pub const SHARDS: usize = 4;

/// Unused slots after each shard's counters (128 bytes), so neighbouring shards never share a
/// cache line whatever the allocator places next to them.
const PAD: usize = 16;

/// The shard of the calling thread: threads are numbered in the order they first record.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// `SHARDS` rows of `width` atomics, each row padded.
#[derive(Debug)]
struct Cells {
    width: usize,
    cells: Box<[AtomicU64]>,
}

impl Cells {
    fn new(width: usize) -> Self {
        let stride = width + PAD;
        Self { width, cells: (0..PAD + SHARDS * stride).map(|_| AtomicU64::new(0)).collect() }
    }

    fn row(&self, shard: usize) -> &[AtomicU64] {
        let start = PAD + shard * (self.width + PAD);
        &self.cells[start..start + self.width]
    }

    /// This thread's row.
    fn mine(&self) -> &[AtomicU64] {
        self.row(shard_index())
    }

    /// Every row.
    fn rows(&self) -> impl Iterator<Item = &[AtomicU64]> {
        (0..SHARDS).map(|s| self.row(s))
    }
}

fn add_f64(cell: &AtomicU64, v: f64) {
    let mut cur = cell.load(Ordering::Relaxed);
    loop {
        let next = (f64::from_bits(cur) + v).to_bits();
        match cell.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// A histogram with fixed upper bounds; cheap to clone (clones share the counts).
#[derive(Debug, Clone)]
pub struct Histogram {
    /// Upper bounds, ascending; the last is `f64::MAX` (the `+Inf` bucket).
    bounds: Arc<[f64]>,
    /// Per shard: one count per bucket (not cumulative), then the sum as `f64` bits.
    cells: Arc<Cells>,
}

impl Histogram {
    /// A histogram with these upper bounds (a `+Inf` bucket is added).
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let mut bounds: Vec<f64> = bounds.into_iter().filter(|b| !b.is_nan()).collect();
        bounds.push(f64::MAX);
        let cells = Arc::new(Cells::new(bounds.len() + 1));
        Self { bounds: bounds.into(), cells }
    }

    /// Record one value. NaN goes to the `+Inf` bucket and leaves the sum alone.
    pub fn observe(&self, v: f64) {
        let row = self.cells.mine();
        let n = self.bounds.len();
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(n - 1);
        row[i].fetch_add(1, Ordering::Relaxed);
        if !v.is_nan() {
            add_f64(&row[n], v);
        }
    }

    /// (sum, count, per-bucket counts) over all shards. The count is the sum of the buckets, so
    /// a scrape is self-consistent even while observations land.
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let n = self.bounds.len();
        let mut buckets: Vec<(f64, u64)> = self.bounds.iter().map(|b| (*b, 0)).collect();
        let mut sum = 0.0;
        for row in self.cells.rows() {
            for (b, c) in buckets.iter_mut().zip(&row[..n]) {
                b.1 += c.load(Ordering::Relaxed);
            }
            sum += f64::from_bits(row[n].load(Ordering::Relaxed));
        }
        let count = buckets.iter().map(|(_, c)| c).sum();
        (sum, count, buckets)
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

/// One sharded integer, the storage of [`Counter`] and [`Gauge`]. Additions wrap, so a shard
/// that only ever saw decrements holds a two's-complement negative and the total is still right.
#[derive(Debug, Clone)]
struct Single(Arc<Cells>);

impl Default for Single {
    fn default() -> Self {
        Self(Arc::new(Cells::new(1)))
    }
}

impl Single {
    fn add(&self, v: u64) {
        self.0.mine()[0].fetch_add(v, Ordering::Relaxed);
    }

    fn total(&self) -> u64 {
        self.0.rows().fold(0u64, |acc, r| acc.wrapping_add(r[0].load(Ordering::Relaxed)))
    }

    fn take(&self) -> u64 {
        self.0.rows().fold(0u64, |acc, r| acc.wrapping_add(r[0].swap(0, Ordering::Relaxed)))
    }
}

/// A monotonic integer counter; cheap to clone (clones share the count).
#[derive(Debug, Clone, Default)]
pub struct Counter(Single);

impl Counter {
    /// Add one.
    pub fn inc(&self) {
        self.0.add(1);
    }

    /// Add `v`.
    pub fn inc_by(&self, v: u64) {
        self.0.add(v);
    }

    /// The total over all shards.
    pub fn get(&self) -> u64 {
        self.0.total()
    }
}

impl TypedMetric for Counter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Counter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// An integer gauge moved up and down by many threads (requests in flight); a request may end on
/// another thread than it began, so single shards can go negative while the total cannot.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Single);

impl Gauge {
    /// Add one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtract one.
    pub fn dec(&self) {
        self.add(-1);
    }

    /// Add `v` (may be negative).
    pub fn add(&self, v: i64) {
        self.0.add(v as u64);
    }

    /// The total over all shards.
    pub fn get(&self) -> i64 {
        self.0.total() as i64
    }

    /// Read the total and reset it to zero; what other threads add meanwhile is kept for the
    /// next call.
    pub fn take(&self) -> i64 {
        self.0.take() as i64
    }
}

impl TypedMetric for Gauge {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Gauge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.get())
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
    fn concurrent_records_from_many_threads_are_all_kept() {
        let h = Histogram::new([1.0, 10.0]);
        let c = Counter::default();
        std::thread::scope(|s| {
            for _ in 0..(SHARDS * 2 + 1) {
                let (h, c) = (h.clone(), c.clone());
                s.spawn(move || {
                    for _ in 0..10_000 {
                        h.observe(2.0);
                        c.inc();
                    }
                });
            }
        });
        let threads = (SHARDS * 2 + 1) as u64;
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, threads * 10_000);
        assert_eq!(buckets[1].1, threads * 10_000);
        assert_eq!(sum, 2.0 * (threads * 10_000) as f64);
        assert_eq!(c.get(), threads * 10_000);
    }

    #[test]
    fn a_gauge_raised_on_one_thread_and_lowered_on_another_sums_to_zero() {
        let g = Gauge::default();
        std::thread::scope(|s| {
            for _ in 0..3 {
                let g = g.clone();
                s.spawn(move || (0..1000).for_each(|_| g.inc()));
            }
        });
        assert_eq!(g.get(), 3000);
        (0..3000).for_each(|_| g.dec());
        assert_eq!(g.get(), 0);
        g.dec();
        assert_eq!(g.get(), -1);
    }

    #[test]
    fn encodes_like_prometheus_histograms_and_counters() {
        let mut registry = prometheus_client::registry::Registry::default();
        let h = Histogram::new([0.5]);
        let c = Counter::default();
        registry.register("x_seconds", "x", h.clone());
        registry.register("y", "y", c.clone());
        h.observe(0.25);
        h.observe(3.0);
        c.inc_by(7);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        for line in [
            "# TYPE x_seconds histogram",
            "x_seconds_sum 3.25",
            "x_seconds_count 2",
            "x_seconds_bucket{le=\"0.5\"} 1",
            "x_seconds_bucket{le=\"+Inf\"} 2",
            "# TYPE y counter",
            "y_total 7",
        ] {
            assert!(out.contains(line), "{line} missing from\n{out}");
        }
    }
}
