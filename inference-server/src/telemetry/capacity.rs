//! Configured limits beside their use, for capacity planning: the concurrency permits in use
//! (read from the semaphore at scrape time, so a request pays nothing for it) and the configured
//! limits as `inferwatch_configured_limit{limit}`.

use inferwatch_monitoring::metrics as cat;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// The inference concurrency semaphore and its size, once the server state exists.
pub(super) type Permits = Arc<OnceLock<(Arc<Semaphore>, usize)>>;

/// Encodes `inferwatch_concurrency_in_use` at scrape time.
#[derive(Debug)]
pub(super) struct PermitsCollector(pub(super) Permits);

impl prometheus_client::collector::Collector for PermitsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some((permits, limit)) = self.0.get() else { return Ok(()) };
        let in_use = limit.saturating_sub(permits.available_permits());
        let g = ConstGauge::new(in_use as i64);
        let def = cat::CONCURRENCY_IN_USE;
        g.encode(encoder.encode_descriptor(def.name, def.help.trim_end_matches('.'), None, g.metric_type())?)
    }
}

/// The limits exported as `inferwatch_configured_limit`, by `limit` label.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredLimits {
    /// Inference requests at once.
    pub concurrency: usize,
    /// Open client connections.
    pub connections: usize,
    /// Bytes of request bodies held at once.
    pub body_memory_bytes: usize,
    /// Items per batch request.
    pub batch_items: usize,
    /// Request body bytes.
    pub body_bytes: usize,
    /// Models kept loaded.
    pub cache_models: u64,
    /// Batch jobs processed at once (0 without a queue).
    pub job_workers: u16,
    /// Items per batch job.
    pub job_items: usize,
    /// Unfinished jobs in the queue (0 without a queue).
    pub queued_jobs: usize,
    /// Most replicas of the deployment, when given.
    pub max_replicas: Option<u32>,
    /// The container's CPU request in cores, when given (`inferwatch_cpu_request_cores`).
    pub cpu_request_cores: Option<f64>,
}

impl ConfiguredLimits {
    /// `(limit label, value)` pairs.
    pub fn pairs(&self) -> Vec<(&'static str, f64)> {
        let mut v = vec![
            ("concurrency", self.concurrency as f64),
            ("connections", self.connections as f64),
            ("body_memory_bytes", self.body_memory_bytes as f64),
            ("batch_items", self.batch_items as f64),
            ("body_bytes", self.body_bytes as f64),
            ("cache_models", self.cache_models as f64),
            ("job_workers", f64::from(self.job_workers)),
            ("job_items", self.job_items as f64),
            ("queued_jobs", self.queued_jobs as f64),
        ];
        if let Some(r) = self.max_replicas {
            v.push(("max_replicas", f64::from(r)));
        }
        v
    }
}

/// The cgroup CPU limit in cores (v2 `cpu.max`, else v1 `cpu.cfs_quota_us / cpu.cfs_period_us`);
/// `None` when unlimited or not in a cgroup.
pub(super) fn cpu_limit() -> Option<f64> {
    if let Ok(s) = std::fs::read_to_string("/sys/fs/cgroup/cpu.max") {
        return parse_cpu_max(&s);
    }
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<f64>().ok();
    let (quota, period) = (read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")?, read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")?);
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// `"<quota> <period>"` or `"max <period>"` (unlimited).
fn parse_cpu_max(s: &str) -> Option<f64> {
    let mut it = s.split_whitespace();
    let quota: f64 = it.next()?.parse().ok()?;
    let period: f64 = it.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_is_quota_over_period_and_max_is_unlimited() {
        assert_eq!(parse_cpu_max("50000 100000\n"), Some(0.5));
        assert_eq!(parse_cpu_max("200000 100000"), Some(2.0));
        assert_eq!(parse_cpu_max("max 100000"), None);
        assert_eq!(parse_cpu_max(""), None);
    }

    #[test]
    fn max_replicas_is_exported_only_when_given() {
        let l = ConfiguredLimits { concurrency: 64, ..ConfiguredLimits::default() };
        assert!(l.pairs().iter().all(|(k, _)| *k != "max_replicas"));
        assert!(l.pairs().contains(&("concurrency", 64.0)));
        let l = ConfiguredLimits { max_replicas: Some(4), ..l };
        assert!(l.pairs().contains(&("max_replicas", 4.0)));
    }
}
