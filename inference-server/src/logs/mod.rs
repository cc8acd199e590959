//! The server's three event logs, beside its ordinary diagnostics: an access line per request,
//! a prediction line per prediction, and audit events. Each is written to the `tracing` target
//! [`inferwatch_monitoring::log_classes`] names, the same table the generated log shipper
//! pipelines sort lines by, so every retention class gets the lines it is meant to keep
//! (`docs/logging.md`).
//!
//! Access and prediction lines are sampled and capped per second ([`LineBudget`]): their
//! cost is bounded before a request does any work, and what the cap holds back is counted in
//! `inferwatch_log_lines_total{outcome="rate_limited"}`, never silently lost.

pub mod access;
pub mod audit;
mod budget;
pub mod prediction;

pub use access::AccessLog;
pub use budget::LineBudget;
pub use prediction::PredictionLog;

/// What the access and prediction logs write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSettings {
    /// Share of requests with an access line (5xx answers always have one).
    pub access_sample: f64,
    /// Share of predictions with a prediction line.
    pub prediction_sample: f64,
    /// Most payload bytes in a prediction line; `None`: no payload.
    pub payload_bytes: Option<usize>,
    /// Most lines of each log per second (0: no cap).
    pub max_lines_per_second: u32,
}

impl LogSettings {
    /// The settings `config` asks for.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            access_sample: config.access_log_sample,
            prediction_sample: config.prediction_log_sample,
            payload_bytes: config
                .prediction_log_payload
                .then_some(inferwatch_monitoring::serving::defaults::PREDICTION_LOG_PAYLOAD_BYTES),
            max_lines_per_second: config.log_max_lines_per_second,
        }
    }
}
