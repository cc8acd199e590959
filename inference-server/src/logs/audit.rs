//! Audit events: what changed in what the server serves and what it was told to do. One
//! function per event, so each event's name and fields are defined once. Every event has an
//! `event` field (its name) and is written to the audit target, which the log pipelines keep a
//! year whatever the level.

use crate::config::Config;
use inferwatch_monitoring::log_classes::AUDIT;

/// The settings the server started with (secrets left out: the MLflow token and any password
/// in the Redis URL).
pub fn started(config: &Config) {
    let redis = config.redis_url.as_deref().map(redact_url);
    tracing::info!(
        target: AUDIT,
        event = "config",
        version = env!("CARGO_PKG_VERSION"),
        host = %config.host,
        port = config.port,
        model_source = ?config.model_source,
        model_dir = %config.model_dir.display(),
        s3_uri = config.s3_uri.as_deref(),
        s3_endpoint = config.s3_endpoint.as_deref(),
        mlflow_tracking_uri = config.mlflow_tracking_uri.as_deref(),
        mlflow_model_uri = config.mlflow_model_uri.as_deref(),
        mlflow_token = config.mlflow_token.as_ref().map(|_| "<set>"),
        redis_url = redis.as_deref(),
        preload = ?config.preload,
        cache_max_models = config.cache_max_models,
        cache_max_bytes = config.cache_max_bytes,
        max_body_bytes = config.max_body_bytes,
        max_batch_items = config.max_batch_items,
        max_text_bytes = config.max_text_bytes,
        request_timeout_ms = config.request_timeout_ms,
        concurrency_limit = config.concurrency_limit,
        dynamic_batching = config.dynamic_batching,
        metrics = config.metrics,
        job_workers = config.job_workers,
        max_job_items = config.max_job_items,
        prediction_ids = config.prediction_ids,
        prediction_store = ?config.prediction_store,
        drift_metrics = config.drift_metrics,
        access_log_sample = config.access_log_sample,
        prediction_log_sample = config.prediction_log_sample,
        prediction_log_payload = config.prediction_log_payload,
        log_max_lines_per_second = config.log_max_lines_per_second,
        "configuration at start"
    );
}

/// A model was loaded and serves.
pub fn model_loaded(model: &str, version: &str, source: &str, bytes: u64, load_ms: f64) {
    tracing::info!(target: AUDIT, event = "model_loaded", model, version, source, bytes, load_ms, "model loaded");
}

/// A model left the cache to make room.
pub fn model_evicted(model: &str, version: &str) {
    tracing::info!(target: AUDIT, event = "model_evicted", model, version, "model evicted from cache");
}

/// A model could not be loaded.
pub fn model_failed(model: &str, reason: &str, error: &str) {
    tracing::warn!(target: AUDIT, event = "model_failed", model, reason, error, "model load failed");
}

/// A batch job was accepted.
pub fn job_accepted(job: &str, model: &str, items: usize, request_id: Option<&str>) {
    tracing::info!(target: AUDIT, event = "job_accepted", job, model, items, request_id, "batch job accepted");
}

/// A batch job finished (`state`: done or failed).
pub fn job_finished(job: &str, model: &str, items: usize, state: &str, duration_ms: u64, error: Option<&str>) {
    tracing::info!(target: AUDIT, event = "job_finished", job, model, items, state, duration_ms, error,
        "batch job finished");
}

/// `url` with any password replaced by `<redacted>`.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("<redacted>"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparsable>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_password_never_reaches_the_log() {
        assert_eq!(redact_url("redis://:hunter2@redis:6379/0"), "redis://:%3Credacted%3E@redis:6379/0");
        assert_eq!(redact_url("redis://user:hunter2@redis:6379"), "redis://user:%3Credacted%3E@redis:6379");
        assert_eq!(redact_url("redis://redis:6379"), "redis://redis:6379");
        assert_eq!(redact_url("not a url :hunter2@"), "<unparsable>");
    }
}
