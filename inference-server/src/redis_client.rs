//! The one way this server talks to Redis (the batch queue and the prediction store): a lazily
//! (re)connecting connection with bounded connect and response times, and what a Redis error
//! means for the dependency's health.
//!
//! `rediss://` URLs speak TLS (rustls): the server's certificate is checked against the
//! system's roots, or against the CA in `--redis-ca-file` (an in-cluster Redis's private CA).
//! There is no way to skip the check.

use crate::telemetry::dependency::Outcome;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

/// Where Redis is: its URL (`redis://` or `rediss://`) and, for TLS, the PEM of the CA that
/// signed its certificate when the system's roots do not hold it.
#[derive(Clone)]
pub struct RedisTarget {
    /// `redis://[user:password@]host:port/db` or `rediss://...`.
    pub url: String,
    /// PEM of the CA to trust instead of the system's roots.
    pub ca_pem: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL can hold a password.
        f.debug_struct("RedisTarget").field("tls", &self.url.starts_with("rediss:")).finish_non_exhaustive()
    }
}

/// A connection to `target` that connects on first use and reconnects by itself; the error is
/// the reason the URL is not usable.
pub fn connect(target: &RedisTarget) -> Result<ConnectionManager, String> {
    let client = match &target.ca_pem {
        Some(pem) => {
            if !target.url.starts_with("rediss:") {
                return Err("--redis-ca-file is set, but the Redis URL is not rediss:// (TLS)".into());
            }
            let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(pem.to_vec()) };
            redis::Client::build_with_tls(target.url.as_str(), certs)
        }
        None => redis::Client::open(target.url.as_str()),
    }
    .map_err(|e| format!("invalid Redis URL: {e}"))?;
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
