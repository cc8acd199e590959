//! The one way this server talks to Redis (the batch queue and the prediction store): a lazily
//! (re)connecting connection with bounded connect and response times, and what a Redis error
//! means for the dependency's health.

use crate::telemetry::dependency::Outcome;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// A connection to `url` that connects on first use and reconnects by itself; the error is
/// the reason the URL is not usable.
pub fn connect(url: &str) -> Result<ConnectionManager, String> {
    let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())
}

/// A Redis error that means the connection is gone marks the dependency down; any other error
/// is an answer from a live server.
pub fn outcome(err: Option<&redis::RedisError>) -> Outcome {
    match err {
        None => Outcome::Ok,
        Some(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal() => {
            Outcome::Unreachable
        }
        Some(_) => Outcome::Failed,
    }
}
