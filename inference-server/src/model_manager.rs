//! The model cache: an LRU of loaded models bounded by count and bytes. A miss loads through the
//! [`ModelStore`]; concurrent misses of one model load it once.

use crate::logs::audit;
use crate::models::{LoadError, LoadedModel};
use crate::store::{ModelStore, StoreError};
use crate::telemetry::{self, Metrics};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Cache bounds.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Most models loaded at once.
    pub max_models: usize,
    /// Most package bytes loaded at once.
    pub max_bytes: u64,
}

/// A model could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// No such model in the store.
    #[error("model '{0}' not found")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The package failed to load.
    #[error("model '{model}' failed to load: {source}")]
    Load {
        /// Which model.
        model: String,
        /// Why.
        source: LoadError,
    },
    /// The last load failed moments ago: not retried before the backoff ends.
    #[error("{last} (not retried for {retry_in_ms} ms after {failures} failed loads)")]
    Backoff {
        /// The last load's error.
        last: String,
        /// Failed loads in a row.
        failures: u32,
        /// When the next load may be tried.
        retry_in_ms: u64,
    },
    /// The package is larger than the whole cache.
    #[error("model '{model}' is {bytes} bytes, larger than the model cache ({limit} bytes)")]
    TooLarge {
        /// Which model.
        model: String,
        /// Its size.
        bytes: u64,
        /// The cache limit.
        limit: u64,
    },
}

impl ManagerError {
    /// The `reason` label of `inferwatch_model_load_failures_total` this failure counts under.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Store(_) => "store",
            Self::Load { source, .. } => source.reason(),
            Self::TooLarge { .. } => "too_large",
            Self::Backoff { .. } => "backoff",
        }
    }
}

struct Entry {
    model: Arc<LoadedModel>,
    last_used: AtomicU64,
    /// This model's `inferwatch_model_cache_hits_total` series, resolved once at insert so a
    /// hit never hashes label values.
    hits: crate::telemetry::sharded::Counter,
}

/// State of one model, as `/ready` reports it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModelStatus {
    /// Loaded, warmed up and in the cache.
    pub loaded: bool,
    /// Loaded version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The last load error, if the model is not loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The cache of loaded models.
pub struct ModelManager {
    store: Arc<dyn ModelStore>,
    limits: CacheLimits,
    metrics: Arc<Metrics>,
    per_model_metrics: bool,
    drift_metrics: bool,
    pinned_version: Option<String>,
    known: RwLock<Vec<String>>,
    cache: RwLock<HashMap<String, Entry>>,
    tick: AtomicU64,
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    last_error: Mutex<HashMap<String, String>>,
    failures: Mutex<HashMap<String, Failed>>,
}

/// A model's failed loads in a row and when the last one ended.
#[derive(Debug, Clone)]
struct Failed {
    count: u32,
    at: Instant,
    error: String,
}

/// How long after its `failures`-th failed load in a row a model is not loaded again: 1 s,
/// doubling, at most 10 s. Requests in that time are answered with the last error at once
/// instead of each downloading the package again. Pure.
pub fn load_backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(1u64 << (failures - 1).min(4)).min(Duration::from_secs(10))
}

impl std::fmt::Debug for ModelManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelManager").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// Which entries to evict so that `incoming` fits: least recently used first, never `keep`.
/// Pure, so the policy is tested without loading anything.
pub fn plan_evictions(entries: &[(String, u64, u64)], keep: &str, limits: CacheLimits) -> Vec<String> {
    let mut order: Vec<&(String, u64, u64)> = entries.iter().filter(|e| e.0 != keep).collect();
    order.sort_by_key(|e| e.2);
    let mut count = entries.len();
    let mut bytes: u64 = entries.iter().map(|e| e.1).sum();
    let mut out = Vec::new();
    for (name, size, _) in order {
        if count <= limits.max_models && bytes <= limits.max_bytes {
            break;
        }
        count -= 1;
        bytes -= size;
        out.push(name.clone());
    }
    out
}

impl ModelManager {
    /// Whether loaded models count their drift features (default true; needs per-model metrics).
    pub fn with_drift_metrics(mut self, on: bool) -> Self {
        self.drift_metrics = on;
        self
    }

    /// Serve only `version` of every model (`--model-version`): fetched as the store pins it,
    /// and, from a directory store, refused when its `model.json` names another version.
    pub fn with_pinned_version(mut self, version: Option<String>) -> Self {
        self.pinned_version = version;
        self
    }

    /// A manager over `store`. `per_model_metrics` false turns off per-prediction metrics.
    pub fn new(
        store: Arc<dyn ModelStore>,
        limits: CacheLimits,
        metrics: Arc<Metrics>,
        per_model_metrics: bool,
    ) -> Self {
        metrics.cache_capacity.set(i64::try_from(limits.max_bytes).unwrap_or(i64::MAX));
        Self {
            store,
            limits,
            metrics,
            per_model_metrics,
            drift_metrics: true,
            pinned_version: None,
            known: RwLock::new(Vec::new()),
            cache: RwLock::new(HashMap::new()),
            tick: AtomicU64::new(0),
            loading: Mutex::new(HashMap::new()),
            last_error: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Refresh the list of model names the store holds.
    pub async fn refresh(&self) -> Result<Vec<String>, StoreError> {
        let names = self.store.list().await?;
        if let Ok(mut k) = self.known.write() {
            k.clone_from(&names);
        }
        Ok(names)
    }

    /// Names the store holds (as of the last refresh).
    pub fn known(&self) -> Vec<String> {
        self.known.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// The loaded model, if it is in the cache; marks it recently used (not counted as a hit).
    pub fn cached(&self, name: &str) -> Option<Arc<LoadedModel>> {
        self.lookup(name, false)
    }

    fn lookup(&self, name: &str, count_hit: bool) -> Option<Arc<LoadedModel>> {
        let cache = self.cache.read().ok()?;
        let entry = cache.get(name)?;
        entry.last_used.store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        if count_hit {
            entry.hits.inc();
        }
        Some(entry.model.clone())
    }

    /// The model, loading it on a miss.
    pub async fn get(&self, name: &str) -> Result<Arc<LoadedModel>, ManagerError> {
        if let Some(m) = self.lookup(name, true) {
            return Ok(m);
        }
        if !self.known.read().map(|k| k.iter().any(|n| n == name)).unwrap_or(false) {
            return Err(ManagerError::NotFound(name.to_string()));
        }
        let lock = {
            let mut loading = self.loading.lock().unwrap_or_else(|p| p.into_inner());
            loading.entry(name.to_string()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if let Some(m) = self.lookup(name, true) {
            // Another request loaded it while this one waited: one load, one miss.
            return Ok(m);
        }
        let recent = self.failures.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned();
        if let Some(f) = recent {
            let wait = load_backoff(f.count).saturating_sub(f.at.elapsed());
            if !wait.is_zero() {
                let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                return Err(ManagerError::Backoff { last: f.error, failures: f.count, retry_in_ms });
            }
        }
        self.metrics.cache_misses.with(&[name]).inc();
        match self.load(name).await {
            Ok(m) => {
                self.last_error.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
                self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
                Ok(m)
            }
            Err(e) => {
                audit::model_failed(name, e.reason(), &e.to_string());
                self.last_error.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), e.to_string());
                // "Not found" costs one listing, not a download, and keeps its 404: no backoff.
                if !matches!(e, ManagerError::NotFound(_)) {
                    let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
                    let count = failures.get(name).map_or(0, |f| f.count).saturating_add(1);
                    failures.insert(name.to_string(), Failed { count, at: Instant::now(), error: e.to_string() });
                }
                self.metrics.model_ready.with(&[name]).set(0);
                Err(e)
            }
        }
    }

    async fn load(&self, name: &str) -> Result<Arc<LoadedModel>, ManagerError> {
        let fail = |reason: &str| self.metrics.load_failures.with(&[name, reason]).inc();
        let start = Instant::now();
        let fetched = match &self.pinned_version {
            Some(v) => self.store.fetch_version(name, v).await,
            None => self.store.fetch(name).await,
        };
        let (files, source) = fetched.map_err(|e| {
            let e = match e {
                StoreError::NotFound(n) => ManagerError::NotFound(n),
                e => ManagerError::Store(e),
            };
            fail(e.reason());
            e
        })?;
        let bytes = files.bytes();
        if bytes > self.limits.max_bytes {
            fail("too_large");
            return Err(ManagerError::TooLarge { model: name.into(), bytes, limit: self.limits.max_bytes });
        }
        let meta = files.verified_meta().map_err(|e| {
            let e = LoadError::from(e);
            fail(e.reason());
            ManagerError::Load { model: name.into(), source: e }
        })?;
        if let Some(pinned) = self.pinned_version.as_ref().filter(|_| self.store.version_is_package_version()) {
            if meta.version != *pinned {
                let e = LoadError::Invalid(format!(
                    "version {pinned} is pinned (--model-version), but the package at {source} is version {}; put version {pinned} in {name}/{pinned}/",
                    meta.version
                ));
                fail(e.reason());
                return Err(ManagerError::Load { model: name.into(), source: e });
            }
        }
        let references = crate::reference::complete_features(&meta).map_err(|e| {
            let e = LoadError::Invalid(e);
            fail(e.reason());
            ManagerError::Load { model: name.into(), source: e }
        })?;
        let read = start.elapsed();
        let model_metrics = self.per_model_metrics.then(|| {
            self.metrics.quality_series(&meta);
            let drift = if self.drift_metrics { references.as_slice() } else { &[] };
            telemetry::ModelMetrics::new(&self.metrics, &meta, drift)
        });
        // Parsing, optimizing and the warm-up run are CPU work: keep them off the async workers.
        let built = tokio::task::spawn_blocking(move || LoadedModel::build(meta, &files, source, model_metrics))
            .await
            .map_err(|e| LoadError::Invalid(format!("load task failed: {e}")))
            .and_then(|r| r)
            .map_err(|e| {
                fail(e.reason());
                ManagerError::Load { model: name.into(), source: e }
            })?;
        let (model, timings) = built;
        let phase =
            |p: &str, d: std::time::Duration| self.metrics.load_duration.with(&[name, p]).observe(d.as_secs_f64());
        phase("read", read);
        phase("optimize", timings.optimize);
        phase("warmup", timings.warmup);
        self.metrics.load_time.with(&[name]).observe((read + timings.optimize + timings.warmup).as_secs_f64());
        telemetry::model_loaded(&self.metrics, &model.meta, &model.source);
        let model = Arc::new(model);
        self.insert(name, model.clone());
        tracing::info!(
            model = name,
            version = %model.meta.version,
            bytes = model.bytes,
            read_ms = read.as_secs_f64() * 1e3,
            optimize_ms = timings.optimize.as_secs_f64() * 1e3,
            warmup_ms = timings.warmup.as_secs_f64() * 1e3,
            "model load phases"
        );
        let load_ms = (read + timings.optimize + timings.warmup).as_secs_f64() * 1e3;
        audit::model_loaded(name, &model.meta.version, &model.source, model.bytes, load_ms);
        Ok(model)
    }

    fn insert(&self, name: &str, model: Arc<LoadedModel>) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let hits = self.metrics.cache_hits.with(&[name]);
        cache.insert(name.to_string(), Entry { model, last_used: AtomicU64::new(tick), hits });
        let entries: Vec<(String, u64, u64)> =
            cache.iter().map(|(k, e)| (k.clone(), e.model.bytes, e.last_used.load(Ordering::Relaxed))).collect();
        for evicted in plan_evictions(&entries, name, self.limits) {
            if let Some(e) = cache.remove(&evicted) {
                audit::model_evicted(&evicted, &e.model.meta.version);
            }
            self.metrics.cache_evictions.with(&[&evicted]).inc();
            self.metrics.model_ready.with(&[&evicted]).set(0);
        }
        self.metrics.model_ready.with(&[name]).set(1);
        self.metrics.cache_models.set(cache.len() as i64);
        self.metrics.cache_bytes.set(cache.values().map(|e| e.model.bytes as i64).sum());
    }

    /// Status of each of `names`: loaded or why not.
    pub fn status(&self, names: &[String]) -> BTreeMap<String, ModelStatus> {
        let errors = self.last_error.lock().map(|e| e.clone()).unwrap_or_default();
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .map(|n| {
                let entry = cache.get(n);
                let status = ModelStatus {
                    loaded: entry.is_some(),
                    version: entry.map(|e| e.model.meta.version.clone()),
                    error: if entry.is_some() {
                        None
                    } else {
                        Some(errors.get(n).cloned().unwrap_or_else(|| "not loaded".to_string()))
                    },
                };
                (n.clone(), status)
            })
            .collect()
    }

    /// The cache limits.
    pub fn limits(&self) -> CacheLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, bytes: u64, used: u64) -> (String, u64, u64) {
        (name.to_string(), bytes, used)
    }

    #[test]
    fn failed_loads_back_off_from_one_second_doubling_to_ten() {
        let secs: Vec<u64> = (0..8).map(|n| load_backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![0, 1, 2, 4, 8, 10, 10, 10]);
        assert_eq!(load_backoff(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn nothing_is_evicted_within_limits() {
        let limits = CacheLimits { max_models: 3, max_bytes: 100 };
        assert!(plan_evictions(&[e("a", 10, 1), e("b", 10, 2)], "b", limits).is_empty());
    }

    #[test]
    fn least_recently_used_is_evicted_first_when_count_is_exceeded() {
        let limits = CacheLimits { max_models: 2, max_bytes: 1000 };
        let plan = plan_evictions(&[e("a", 10, 5), e("b", 10, 1), e("c", 10, 9)], "c", limits);
        assert_eq!(plan, vec!["b".to_string()]);
    }

    #[test]
    fn byte_limit_evicts_until_the_new_model_fits_and_never_evicts_it() {
        let limits = CacheLimits { max_models: 10, max_bytes: 100 };
        let plan = plan_evictions(&[e("a", 40, 1), e("b", 40, 2), e("new", 70, 0)], "new", limits);
        assert_eq!(plan, vec!["a".to_string(), "b".to_string()]);
    }
}
