//! Start-up: build the state, preload models, serve until SIGTERM/SIGINT, drain.

use crate::config::{Config, ModelSource};
use crate::http::{self, AppState};
use crate::jobs::{worker, Queue, QueueConfig};
use crate::logs::{AccessLog, LineBudget, PredictionLog};
use crate::model_manager::{CacheLimits, ModelManager};
use crate::predict::Limits;
use crate::quality::{Quality, QualityConfig};
use crate::redis_client::RedisTarget;
use crate::store::mlflow::{MlflowConfig, MlflowStore};
use crate::store::s3::{S3Config, S3Store};
use crate::store::{LocalStore, ModelStore};
use crate::telemetry::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The model directory cannot be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The port cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// The MLflow model URI to resolve: `--mlflow-model-uri`, its version replaced by
/// `--model-version` when one is pinned.
fn mlflow_model_uri(config: &Config) -> Result<String, StartError> {
    let uri = config.mlflow_model_uri.clone().unwrap_or_default();
    match &config.model_version {
        None => Ok(uri),
        Some(v) => crate::store::mlflow::pinned_uri(&uri, v).ok_or_else(|| {
            StartError::Config(format!(
                "--model-version {v} cannot pin {uri}: it must be models:/<name>/<version|stage> or models:/<name>@<alias>"
            ))
        }),
    }
}

/// Build the application state and the models `/ready` waits for.
pub async fn build(config: &Config) -> Result<AppState, StartError> {
    let metrics = Arc::new(Metrics::new());
    let store: Arc<dyn ModelStore> = match config.model_source {
        ModelSource::Local => Arc::new(LocalStore::new(config.model_dir.clone())),
        ModelSource::Mlflow => Arc::new(
            MlflowStore::new(
                MlflowConfig {
                    tracking_uri: config.mlflow_tracking_uri.clone().unwrap_or_default(),
                    model_uri: mlflow_model_uri(config)?,
                    token: config.mlflow_token.clone(),
                    s3_endpoint: config.s3_endpoint.clone(),
                    s3_region: config.s3_region.clone(),
                    cache_dir: config.model_cache_dir.clone(),
                    max_package_bytes: config.cache_max_bytes,
                },
                metrics.clone(),
            )
            .map_err(|e| StartError::Config(e.to_string()))?,
        ),
        ModelSource::S3 => Arc::new(
            S3Store::new(
                S3Config {
                    uri: config.s3_uri.clone().unwrap_or_default(),
                    endpoint: config.s3_endpoint.clone(),
                    region: config.s3_region.clone(),
                    cache_dir: config.model_cache_dir.clone(),
                    max_package_bytes: config.cache_max_bytes,
                },
                metrics.clone(),
            )
            .map_err(|e| StartError::Config(e.to_string()))?,
        ),
    };
    let limits = CacheLimits {
        max_models: usize::try_from(config.cache_max_models).unwrap_or(usize::MAX),
        max_bytes: config.cache_max_bytes,
    };
    let manager = Arc::new(
        ModelManager::new(store.clone(), limits, metrics.clone(), config.metrics)
            .with_drift_metrics(config.drift_metrics)
            .with_pinned_version(config.model_version.clone()),
    );
    let known = manager.refresh().await?;
    let required: Vec<String> = if config.preload.iter().any(|p| p == "all") {
        known.clone()
    } else {
        config.preload.iter().filter(|p| !p.is_empty()).cloned().collect()
    };
    if let Some(unknown) = required.iter().find(|r| !known.contains(r)) {
        return Err(StartError::Config(format!(
            "preload model '{unknown}' is not in {} (found: {known:?})",
            match config.model_source {
                ModelSource::Local => config.model_dir.display().to_string(),
                ModelSource::S3 => config.s3_uri.clone().unwrap_or_default(),
                ModelSource::Mlflow => config.mlflow_model_uri.clone().unwrap_or_default(),
            }
        )));
    }
    if required.len() > limits.max_models {
        return Err(StartError::Config(format!(
            "{} models to preload but the cache holds {}; raise --cache-max-models",
            required.len(),
            limits.max_models
        )));
    }
    let redis = redis_target(config)?;
    let queue = queue(config, redis.clone(), &metrics)?;
    let quality = Quality::new(
        &QualityConfig {
            enabled: config.prediction_ids,
            store: config.prediction_store,
            redis,
            ttl: Duration::from_secs(config.prediction_ttl_secs),
            max_records: config.prediction_store_max_records,
            max_feedback_items: config.max_feedback_items,
        },
        metrics.clone(),
    )
    .map_err(|e| StartError::Config(e.to_string()))?;
    let auth = match &config.auth_token_file {
        Some(path) => Some(Arc::new(http::auth::Auth::from_file(path).map_err(|e| StartError::Config(e.to_string()))?)),
        None => None,
    };
    let permits = Arc::new(Semaphore::new(config.concurrency_limit));
    let configured = crate::telemetry::capacity::ConfiguredLimits {
        concurrency: config.concurrency_limit,
        connections: config.max_connections as usize,
        body_memory_bytes: config.body_memory_bytes,
        batch_items: config.max_batch_items,
        body_bytes: config.max_body_bytes,
        cache_models: config.cache_max_models,
        job_workers: if queue.is_some() { config.job_workers } else { 0 },
        job_items: config.max_job_items,
        queued_jobs: if queue.is_some() { config.max_queued_jobs } else { 0 },
        max_replicas: config.max_replicas,
        cpu_request_cores: config.cpu_request_millicores.map(|m| f64::from(m) / 1000.0),
    };
    metrics.capacity(&configured, &permits);
    // The load-time series exist before the first load, so `increase()` sees that load.
    for name in &known {
        let _ = metrics.load_time.with(&[name]);
    }
    let logs = crate::logs::LogSettings::of(config);
    let budget = |log: &str, ratio: f64| LineBudget::new(&metrics, log, ratio, logs.max_lines_per_second);
    let access_log = Arc::new(AccessLog::new(budget("access", logs.access_sample)));
    let prediction_log = Arc::new(PredictionLog::new(budget("prediction", logs.prediction_sample), logs.payload_bytes));
    Ok(Arc::new(http::ServerState {
        manager,
        metrics,
        required_models: Arc::new(required),
        limits: Limits {
            max_batch_items: config.max_batch_items,
            max_text_bytes: config.max_text_bytes,
            dynamic_batching: config.dynamic_batching,
        },
        max_body_bytes: config.max_body_bytes,
        timeout: Duration::from_millis(config.request_timeout_ms),
        permits,
        concurrency_limit: config.concurrency_limit,
        body_budget: Arc::new(Semaphore::new(config.body_memory_bytes)),
        body_budget_bytes: config.body_memory_bytes,
        record_metrics: config.metrics,
        queue,
        store,
        store_health: crate::store::HealthCache::new(http::ops::HEALTH_CACHE),
        quality: Arc::new(quality),
        access_log,
        prediction_log,
        auth,
    }))
}

/// Redis, when `--redis-url` is set, with the CA of `--redis-ca-file` read.
fn redis_target(config: &Config) -> Result<Option<RedisTarget>, StartError> {
    let Some(url) = &config.redis_url else {
        return match &config.redis_ca_file {
            Some(_) => Err(StartError::Config("--redis-ca-file needs --redis-url".into())),
            None => Ok(None),
        };
    };
    let ca_pem = match &config.redis_ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| StartError::Config(format!("cannot read the Redis CA file {}: {e}", path.display())))?;
            // Checked here: the TLS client would only fail at the first connection.
            use rustls::pki_types::{pem::PemObject, CertificateDer};
            let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
            if !certs.is_ok_and(|c| !c.is_empty()) {
                return Err(StartError::Config(format!(
                    "the Redis CA file {} holds no PEM certificate",
                    path.display()
                )));
            }
            Some(Arc::from(pem))
        }
        None => None,
    };
    Ok(Some(RedisTarget { url: url.clone(), ca_pem }))
}

/// The batch queue when `--redis-url` is set.
fn queue(
    config: &Config,
    redis: Option<RedisTarget>,
    metrics: &Arc<Metrics>,
) -> Result<Option<Arc<Queue>>, StartError> {
    let Some(redis) = redis else { return Ok(None) };
    let consumer =
        format!("{}-{}", std::env::var("HOSTNAME").unwrap_or_else(|_| "inferwatch".into()), std::process::id());
    let qc = QueueConfig {
        redis,
        stream: "inferwatch:jobs".into(),
        group: "inferwatch-workers".into(),
        consumer,
        result_ttl: Duration::from_secs(config.job_result_ttl_secs),
        max_queued: config.max_queued_jobs,
        max_attempts: config.job_max_attempts,
        claim_idle: Duration::from_millis(config.job_claim_idle_ms),
        max_items: config.max_job_items,
        workers: usize::from(config.job_workers),
    };
    let q = Queue::new(qc, metrics.clone()).map_err(|e| StartError::Config(e.to_string()))?;
    Ok(Some(Arc::new(q)))
}

/// Load every required model in the background; `/ready` turns 200 when all are in.
pub fn preload(state: &AppState) {
    for name in state.required_models.iter() {
        let name = name.clone();
        let manager = state.manager.clone();
        tokio::spawn(async move {
            if let Err(e) = manager.get(&name).await {
                tracing::error!(model = %name, error = %e, "preload failed");
            }
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received; draining in-flight requests");
}

/// Check the model store every 5 s (health gauge) and, for a store whose list can change,
/// refresh the model list when it is reachable, so packages added later and a store that comes
/// back are picked up without a restart.
async fn watch_store(store: Arc<dyn ModelStore>, manager: Arc<ModelManager>) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let healthy = store.health().await.is_some_and(|h| h.healthy);
        if healthy && store.lists_can_change() {
            if let Err(e) = manager.refresh().await {
                tracing::warn!(error = %e, "cannot refresh the model list");
            }
        }
    }
}

/// Keeps one timer pending that fires sooner than any request's timeout.
///
/// Every inference request arms a timeout (`--request-timeout-ms`). tokio wakes its timer driver
/// (an eventfd write, often waking a parked worker) whenever a new timer fires earlier than the
/// driver's next wake-up, and with no other timer pending that is every request: perf showed
/// this at about 4% of the server's CPU under load. With this timer always due within half the
/// request timeout (at most a second), request timeouts never move the wake-up earlier.
async fn keep_timer_wheel_armed(request_timeout: Duration) {
    let period = (request_timeout / 2).clamp(Duration::from_millis(1), Duration::from_secs(1));
    loop {
        tokio::time::sleep(period).await;
    }
}

/// Run the server until a shutdown signal, then drain.
pub async fn run(config: Config) -> Result<(), StartError> {
    let state = build(&config).await?;
    preload(&state);
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr).await.map_err(|source| StartError::Bind { addr: addr.clone(), source })?;
    tracing::info!(addr = %addr, models = ?state.required_models, batch_queue = state.queue.is_some(), "listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_rx_server = stop_rx.clone();
    tokio::spawn(keep_timer_wheel_armed(state.timeout));
    if let Some(auth) = &state.auth {
        tokio::spawn(http::auth::keep_reloading(auth.clone()));
    }
    if state.store.dependency().is_some() {
        tokio::spawn(watch_store(state.store.clone(), state.manager.clone()));
    }
    let context = worker::Context {
        manager: state.manager.clone(),
        metrics: state.metrics.clone(),
        limits: state.limits,
        quality: state.quality.clone(),
        prediction_log: state.prediction_log.clone(),
    };
    let quality = state.quality.clone();
    let workers = match &state.queue {
        Some(q) => worker::spawn(q.clone(), context, stop_rx),
        None => Vec::new(),
    };
    let drain_timeout = Duration::from_millis(config.drain_timeout_ms);
    let limits = http::serve::ConnectionLimits {
        max_connections: config.max_connections as usize,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        drain_timeout,
    };
    let metrics = state.metrics.clone();
    // One signal stops the listener and the workers together.
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut stopped = stop_rx_server;
    let until_stopped = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    http::serve::serve(listener, http::router(state), limits, metrics, until_stopped).await;
    // Workers finish the job in hand within the drain deadline; one stopped past it stays
    // pending in the stream and another replica reclaims it (nothing is lost).
    let deadline = tokio::time::Instant::now() + drain_timeout;
    for mut w in workers {
        if tokio::time::timeout_at(deadline, &mut w).await.is_err() {
            tracing::warn!("a batch worker outlived the drain deadline; its job is left for another replica");
            w.abort();
        }
    }
    // Records still on their way to Redis are written before the process exits.
    quality.flush().await;
    tracing::info!("stopped");
    Ok(())
}
