//! The access log: one line per request, written when the answer is sent.
//!
//! Fields: `method`, `route` (the template, never the raw path, so a line names no user
//! data), `status`, `latency_ms`, `request_id`. 5xx answers are written at WARN and are never
//! sampled out (they still count against the per-second cap). Probe and scrape routes get no
//! lines: the kubelet and Prometheus call them every few seconds and their outcome is in the
//! metrics already.

use super::LineBudget;
use inferwatch_monitoring::log_classes::ACCESS;
use std::time::Duration;

/// Routes with no access lines: probes and the scrape endpoint.
pub const QUIET_ROUTES: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/{name}/ready",
    "/v2/models/{name}/versions/{version}/ready",
];

/// The access log of the server.
#[derive(Debug)]
pub struct AccessLog {
    budget: LineBudget,
}

impl AccessLog {
    /// An access log with `budget`.
    pub fn new(budget: LineBudget) -> Self {
        Self { budget }
    }

    /// Whether `route` gets access lines at all.
    pub fn logs(&self, route: &str) -> bool {
        self.budget.enabled() && !QUIET_ROUTES.contains(&route)
    }

    /// Write the line of one answered request (when sampled in and within the cap).
    pub fn write(&self, method: &str, route: &str, status: u16, latency: Duration, request_id: Option<&str>) {
        let error = status >= 500;
        if !(error || self.budget.sampled()) || !self.budget.admit() {
            return;
        }
        let latency_ms = latency.as_secs_f64() * 1e3;
        if error {
            tracing::warn!(target: ACCESS, method, route, status, latency_ms, request_id, "request failed");
        } else {
            tracing::info!(target: ACCESS, method, route, status, latency_ms, request_id, "request");
        }
    }
}
