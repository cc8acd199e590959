//! One dependency's health and request metrics (storage, registry, queue): every request to it
//! goes through `record`, which times it, counts failures and keeps the up/down state that
//! `/ready`, the health endpoints and `inferwatch_dependency_up` report.

use crate::telemetry::Metrics;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How one request to a dependency ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It answered as hoped (a "not found" that is an answer counts here).
    Ok,
    /// It answered with an error: counted, but the dependency is up.
    Failed,
    /// It could not be reached: counted, and the dependency is down.
    Unreachable,
}

/// Health and metrics of one dependency.
pub struct Dependency {
    name: &'static str,
    /// `required` label value: "true" when the service cannot do its job without it.
    required: &'static str,
    metrics: Arc<Metrics>,
    up: AtomicBool,
}

impl std::fmt::Debug for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependency").field("name", &self.name).field("up", &self.is_up()).finish()
    }
}

impl Dependency {
    /// A required dependency called `name`, down until its first answer.
    pub fn new(name: &'static str, metrics: Arc<Metrics>) -> Self {
        Self::with_required(name, "true", metrics)
    }

    /// A dependency the service answers without (`required="false"`: no page when it is down),
    /// down until its first answer.
    pub fn optional(name: &'static str, metrics: Arc<Metrics>) -> Self {
        Self::with_required(name, "false", metrics)
    }

    fn with_required(name: &'static str, required: &'static str, metrics: Arc<Metrics>) -> Self {
        metrics.dependency_up.with(&[name, required]).set(0);
        Self { name, required, metrics, up: AtomicBool::new(false) }
    }

    /// Whether the last request reached it.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Record a request for `operation` that started at `start`.
    pub fn record(&self, operation: &str, start: Instant, outcome: Outcome) {
        self.metrics.dependency_duration.with(&[self.name, operation]).observe(start.elapsed().as_secs_f64());
        if outcome != Outcome::Ok {
            self.metrics.dependency_errors.with(&[self.name, operation]).inc();
        }
        let up = outcome != Outcome::Unreachable;
        self.up.store(up, Ordering::Relaxed);
        self.metrics.dependency_up.with(&[self.name, self.required]).set(i64::from(up));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_and_only_unreachable_marks_it_down() {
        let m = Arc::new(Metrics::new());
        let d = Dependency::new("queue", m.clone());
        assert!(!d.is_up());
        d.record("get", Instant::now(), Outcome::Ok);
        assert!(d.is_up());
        d.record("get", Instant::now(), Outcome::Failed);
        assert!(d.is_up());
        d.record("get", Instant::now(), Outcome::Unreachable);
        assert!(!d.is_up());
        let text = m.encode().unwrap();
        assert!(text.contains(r#"inferwatch_dependency_errors_total{dependency="queue",operation="get"} 2"#), "{text}");
        assert!(text.contains(r#"inferwatch_dependency_up{dependency="queue",required="true"} 0"#), "{text}");
    }
}
