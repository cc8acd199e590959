//! Per-model CPU accounting for `inferwatch_model_cpu_seconds_total`.
//!
//! The thread CPU clock is the honest measure (it ignores time the thread spends preempted or
//! throttled by a CPU limit), but reading it is a system call: two per request cost about 1 µs
//! idle and several µs under load, which was most of the metrics-on overhead of a 30 µs
//! request. So the clock is read around at most one request per model per [`SAMPLE_EVERY`];
//! that request's CPU time per item stands for every item since the previous measurement.
//! Below about a thousand requests per second per model nearly every request is measured;
//! above it the counter is an estimate whose error averages out over a scrape interval.
//! Work sent to the blocking pool (large inputs) is always measured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shortest time between two measured requests of one model.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(1);

/// CPU time consumed by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// Decides which requests of one model are measured and scales the measurement up to the items
/// that were not. Shared by every thread serving the model.
#[derive(Debug)]
pub struct CpuSampler {
    epoch: Instant,
    /// Nanoseconds since `epoch` before which no new measurement starts.
    next_ns: AtomicU64,
    /// Items served without measurement since the last measurement ended (sharded: every
    /// unmeasured request adds to it).
    unmeasured_items: crate::telemetry::sharded::Gauge,
}

/// A started measurement: the thread CPU clock when the request began.
#[derive(Debug, Clone, Copy)]
pub struct Measurement(Duration);

impl Default for CpuSampler {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            next_ns: AtomicU64::new(0),
            unmeasured_items: crate::telemetry::sharded::Gauge::default(),
        }
    }
}

impl CpuSampler {
    /// Call before the work. `always` forces a measurement (long work, where the clock is cheap
    /// by comparison). `None` means this request is not measured; pass it on to [`Self::finish`].
    pub fn start(&self, always: bool) -> Option<Measurement> {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        (always || self.claim(now)).then(|| Measurement(thread_cpu_time()))
    }

    /// Call after the work with what [`Self::start`] returned and the request's item count.
    /// Returns the CPU seconds to add to the counter (0 for an unmeasured request).
    pub fn finish(&self, started: Option<Measurement>, items: usize) -> f64 {
        let items = items.max(1) as u64;
        match started {
            None => {
                self.unmeasured_items.add(i64::try_from(items).unwrap_or(i64::MAX));
                0.0
            }
            Some(Measurement(cpu0)) => {
                let cpu = thread_cpu_time().saturating_sub(cpu0);
                let stood_for = u64::try_from(self.unmeasured_items.take()).unwrap_or(0);
                scaled(cpu, items, stood_for)
            }
        }
    }

    /// Whether the request starting at `now_ns` is the one measured in its interval.
    fn claim(&self, now_ns: u64) -> bool {
        let next = self.next_ns.load(Ordering::Relaxed);
        let step = u64::try_from(SAMPLE_EVERY.as_nanos()).unwrap_or(u64::MAX);
        now_ns >= next
            && self
                .next_ns
                .compare_exchange(next, now_ns.saturating_add(step), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// CPU seconds charged for a measured request of `items` items that also stands for
/// `unmeasured` items: its CPU time per item times all of them.
fn scaled(cpu: Duration, items: u64, unmeasured: u64) -> f64 {
    cpu.as_secs_f64() * (items + unmeasured) as f64 / items as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_request_stands_for_the_unmeasured_items_before_it() {
        assert_eq!(scaled(Duration::from_micros(10), 1, 0), 10e-6);
        assert!((scaled(Duration::from_micros(10), 1, 9) - 100e-6).abs() < 1e-12);
        // A batch of 4 measured at 40 µs is 10 µs an item; 6 more items make 100 µs.
        assert!((scaled(Duration::from_micros(40), 4, 6) - 100e-6).abs() < 1e-12);
    }

    #[test]
    fn only_one_request_per_interval_is_measured() {
        let s = CpuSampler::default();
        assert!(s.claim(0));
        assert!(!s.claim(1_000));
        assert!(!s.claim(999_999));
        assert!(s.claim(1_000_000));
        assert!(!s.claim(1_500_000));
        assert!(s.claim(5_000_000), "a quiet model is measured on its next request");
    }

    #[test]
    fn forced_measurements_ignore_the_interval() {
        let s = CpuSampler::default();
        assert!(s.start(false).is_some());
        assert!(s.start(false).is_none());
        assert!(s.start(true).is_some());
    }

    /// The estimate follows the real thread CPU time of a busy loop: every request is real work
    /// of known cost, most are not measured, and the total charged must match what the clock says.
    #[test]
    fn sampled_total_matches_the_thread_clock_for_uniform_work() {
        let s = CpuSampler::default();
        let spin = || {
            let t = thread_cpu_time();
            while thread_cpu_time().saturating_sub(t) < Duration::from_micros(50) {}
        };
        let cpu0 = thread_cpu_time();
        let mut charged = 0.0;
        let mut measured = 0;
        for _ in 0..400 {
            let m = s.start(false);
            measured += usize::from(m.is_some());
            spin();
            charged += s.finish(m, 1);
        }
        // Close the books: the last unmeasured items are charged by one more measured request.
        std::thread::sleep(SAMPLE_EVERY);
        let m = s.start(false);
        assert!(m.is_some());
        spin();
        charged += s.finish(m, 1);
        let real = thread_cpu_time().saturating_sub(cpu0).as_secs_f64();
        assert!(measured < 400, "some requests must go unmeasured ({measured} measured)");
        assert!((charged - real).abs() / real < 0.25, "charged {charged:.6} s, the clock says {real:.6} s");
    }
}
