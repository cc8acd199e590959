//! Where model packages come from: one [`ModelStore`] trait, with its health on the trait, and
//! three sources behind it: [`local`] (the built-in directory), [`s3`] (S3-compatible storage)
//! and [`mlflow`] (the MLflow registry, artifacts in S3).

pub mod local;
pub mod mlflow;
pub mod s3;

pub use local::LocalStore;

use crate::package::PackageFiles;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so stores can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store could not deliver a package.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store has no package of that name.
    #[error("model '{0}' not found in the model store")]
    NotFound(String),
    /// The name cannot be a package name.
    #[error("invalid model name '{0}': use letters, digits, '-', '_' and '.'")]
    InvalidName(String),
    /// The package is larger than the largest one the server loads (from the listing, before
    /// any download).
    #[error("model '{name}' is {bytes} bytes in the store, larger than the limit of {limit} bytes")]
    TooLarge {
        /// The package.
        name: String,
        /// Its files' sizes added up.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The store failed.
    #[error("model store error while reading {path}: {reason}")]
    Io {
        /// What was being read.
        path: String,
        /// Why it failed.
        reason: String,
    },
}

/// A store's answer to a health check (`/storage/health`, `/mlflow/health`).
#[derive(Debug, Clone)]
pub struct StoreHealth {
    /// Whether the store can deliver packages now.
    pub healthy: bool,
    /// The report the health endpoint answers with.
    pub report: serde_json::Value,
}

/// A source of model packages (local directory, S3, MLflow), with its health.
pub trait ModelStore: Send + Sync + std::fmt::Debug {
    /// Names of the packages this store holds.
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
    /// All files of one package and a description of where they came from.
    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(PackageFiles, String), StoreError>>;
    /// One package at a pinned version (`--model-version`). The default ignores the pin: a store
    /// whose reference already names the version (MLflow: the pin is part of its model URI).
    fn fetch_version<'a>(
        &'a self,
        name: &'a str,
        _version: &'a str,
    ) -> BoxFuture<'a, Result<(PackageFiles, String), StoreError>> {
        self.fetch(name)
    }
    /// Whether a pinned package's `model.json` must name the pinned version: true for the
    /// directory stores (local, S3), false for MLflow, whose versions are the registry's.
    fn version_is_package_version(&self) -> bool {
        false
    }
    /// The dependency this store is reported as (`storage`, `registry`); `None` for a store
    /// that is not a remote dependency (the local directory).
    fn dependency(&self) -> Option<&'static str> {
        None
    }
    /// Whether the store's last request succeeded (always true without a dependency).
    fn is_up(&self) -> bool {
        true
    }
    /// Check the store now; `None` when there is nothing to check.
    fn health(&self) -> BoxFuture<'_, Option<StoreHealth>> {
        Box::pin(async { None })
    }
    /// Whether the package list can change while the server runs (re-listed after a healthy check).
    fn lists_can_change(&self) -> bool {
        false
    }
}

/// A store's health, checked at most once per interval: `/storage/health` and `/mlflow/health`
/// each cost an outbound call, and a client polling them (or many at once) must not turn into
/// as many calls to the store. Concurrent askers wait for the one check in flight. The report
/// leaves the process only through [`crate::redact`].
#[derive(Debug)]
pub struct HealthCache {
    interval: std::time::Duration,
    last: tokio::sync::Mutex<Option<(std::time::Instant, Option<StoreHealth>)>>,
}

impl HealthCache {
    /// A cache that keeps a check for `interval`.
    pub fn new(interval: std::time::Duration) -> Self {
        Self { interval, last: tokio::sync::Mutex::new(None) }
    }

    /// The store's health, checked now unless a check younger than the interval exists.
    pub async fn get(&self, store: &dyn ModelStore) -> Option<StoreHealth> {
        let mut last = self.last.lock().await;
        if let Some((at, health)) = &*last {
            if at.elapsed() < self.interval {
                return health.clone();
            }
        }
        let health = store.health().await.map(|mut h| {
            crate::redact::json(&mut h.report);
            h
        });
        *last = Some((std::time::Instant::now(), health.clone()));
        health
    }
}

/// A pinned package's name and version are both single path segments.
pub fn check_pinned(name: &str, version: &str) -> Result<(), StoreError> {
    if !valid_name(name) {
        return Err(StoreError::InvalidName(name.to_string()));
    }
    if !inferwatch_monitoring::serving::valid_model_version(version) {
        return Err(StoreError::InvalidName(format!("{name}/{version}")));
    }
    Ok(())
}

/// Package names are path segments: keep them boring.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_directory_are_invalid() {
        for bad in ["", "..", "../etc", "a/b", ".hidden", "a b", "x\0"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name("sentiment-v2.1_b"));
    }
}
