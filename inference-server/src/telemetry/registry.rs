//! The registry: every metric family of the catalogue in `inferwatch_monitoring::metrics`,
//! registered once at start-up, and the encoders `/metrics` answers with.

use super::sharded::{Counter, Histogram};
use crate::package::ModelMeta;
use inferwatch_monitoring::metrics::{self as cat, MetricDef, MetricKind};
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Label values of a family, in catalogue order.
pub type Labels = Vec<(&'static str, String)>;
pub(super) type CounterF = prometheus_client::metrics::counter::Counter<f64, AtomicU64>;

/// Builds histograms with one catalogue bucket layout.
#[derive(Clone)]
pub struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A metric family plus the catalogue entry that defines it.
#[derive(Clone)]
pub struct Fam<M, C = fn() -> M> {
    def: MetricDef,
    family: Family<Labels, M, C>,
}

impl<M: Clone, C: MetricConstructor<M> + Clone> Fam<M, C> {
    /// The metric for these label values (in catalogue order).
    pub fn with(&self, values: &[&str]) -> M {
        debug_assert_eq!(values.len(), self.def.labels.len(), "{}", self.def.name);
        let labels: Labels = self.def.labels.iter().copied().zip(values.iter().map(|v| (*v).to_string())).collect();
        self.family.get_or_create(&labels).clone()
    }
}

/// prometheus-client ends every help text with a period itself.
fn help(def: MetricDef) -> &'static str {
    def.help.strip_suffix('.').unwrap_or(def.help)
}

fn counter(reg: &mut Registry, def: MetricDef) -> Fam<Counter> {
    let family = Family::<Labels, Counter>::default();
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

fn counter_f(reg: &mut Registry, def: MetricDef) -> Fam<CounterF> {
    let family = Family::<Labels, CounterF>::default();
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

fn gauge(reg: &mut Registry, def: MetricDef) -> Fam<Gauge> {
    let family = Family::<Labels, Gauge>::default();
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

fn gauge_f(reg: &mut Registry, def: MetricDef) -> Fam<Gauge<f64, AtomicU64>> {
    let family = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

fn histogram(reg: &mut Registry, def: MetricDef) -> Fam<Histogram, Buckets> {
    let MetricKind::Histogram(buckets) = def.kind else {
        unreachable!("{} is not a histogram in the catalogue", def.name)
    };
    let family = Family::new_with_constructor(Buckets(buckets));
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

/// Every metric family the server exports.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// HTTP requests.
    pub http_requests: Fam<Counter>,
    /// HTTP latency.
    pub http_duration: Fam<Histogram, Buckets>,
    /// In-flight requests.
    pub http_in_flight: super::sharded::Gauge,
    /// Requests refused by the load limits.
    pub http_rejected: Fam<Counter>,
    /// Open client connections.
    pub connections_open: Gauge,
    /// Connections the server closed, by reason.
    pub connections_closed: Fam<Counter>,
    pub(super) predictions: Fam<Counter>,
    pub(super) prediction_duration: Fam<Histogram, Buckets>,
    pub(super) stage_duration: Fam<Histogram, Buckets>,
    pub(super) confidence: Fam<Histogram, Buckets>,
    pub(super) labels: Fam<Counter>,
    pub(super) batch_size: Fam<Histogram, Buckets>,
    pub(super) run_rows: Fam<Histogram, Buckets>,
    pub(super) cpu: Fam<CounterF>,
    pub(super) cold_starts: Fam<Counter>,
    pub(super) rating: Fam<Histogram, Buckets>,
    pub(super) lookups: Fam<Counter>,
    pub(super) trend_series: Fam<Counter>,
    pub(super) trend_points: Fam<Histogram, Buckets>,
    pub(super) trend_analyses: Fam<Counter>,
    pub(super) trend_fallbacks: Fam<Counter>,
    /// Cache hits by model.
    pub cache_hits: Fam<Counter>,
    /// Cache misses by model.
    pub cache_misses: Fam<Counter>,
    /// Evictions by model.
    pub cache_evictions: Fam<Counter>,
    /// Loaded models.
    pub cache_models: Gauge,
    /// Loaded bytes.
    pub cache_bytes: Gauge,
    /// Byte limit.
    pub cache_capacity: Gauge,
    /// Load phases.
    pub load_duration: Fam<Histogram, Buckets>,
    /// Whole load time of each successful load.
    pub load_time: Fam<Histogram, Buckets>,
    /// Configured limits (`inferwatch_configured_limit`).
    configured_limit: Fam<Gauge<f64, AtomicU64>>,
    /// The container's CPU request (`inferwatch_cpu_request_cores`), when given.
    cpu_request: Fam<Gauge<f64, AtomicU64>>,
    /// The concurrency semaphore, read at scrape time.
    permits: super::capacity::Permits,
    /// Load failures by reason.
    pub load_failures: Fam<Counter>,
    /// Model readiness.
    pub model_ready: Fam<Gauge>,
    /// Model info (value 1).
    pub model_info: Fam<Gauge>,
    /// Reference label shares from model.json.
    pub reference_label_ratio: Fam<Gauge<f64, AtomicU64>>,
    pub(super) drift_observations: Fam<Counter>,
    pub(super) drift_reference: Fam<Gauge<f64, AtomicU64>>,
    /// Dependency health (storage, registry, queue).
    pub dependency_up: Fam<Gauge>,
    /// Request latency to dependencies by operation.
    pub dependency_duration: Fam<Histogram, Buckets>,
    /// Failed dependency requests by operation.
    pub dependency_errors: Fam<Counter>,
    /// Bytes transferred with dependencies.
    pub dependency_bytes: Fam<Counter>,
    /// Feedback items by model and outcome.
    pub feedback: Fam<Counter>,
    pub(super) labelled: Fam<Counter>,
    pub(super) correct: Fam<Counter>,
    pub(super) expected_correct: Fam<CounterF>,
    pub(super) confusion: Fam<Counter>,
    pub(super) rating_squared_error: Fam<CounterF>,
    pub(super) rating_absolute_error: Fam<Histogram, Buckets>,
    pub(super) forecast_error: Fam<Histogram, Buckets>,
    pub(super) satisfaction: Fam<Histogram, Buckets>,
    pub(super) votes: Fam<Counter>,
    pub(super) feedback_delay: Fam<Histogram, Buckets>,
    /// Records the memory prediction store keeps.
    pub prediction_records: Fam<Gauge>,
    /// Prediction records lost before their age limit.
    pub prediction_records_dropped: Fam<Counter>,
    /// `inferwatch_log_lines_total`.
    pub log_lines: Fam<Counter>,
    pub(super) heldout_quality: Fam<Gauge<f64, AtomicU64>>,
    /// Batch jobs not yet finished.
    pub queue_depth: Gauge,
    /// Age of the oldest unfinished batch job, seconds.
    pub queue_oldest_age: Gauge,
    /// Batch jobs by model and outcome.
    pub batch_jobs: Fam<Counter>,
    /// Batch job processing time.
    pub batch_job_duration: Fam<Histogram, Buckets>,
    /// Items per batch job.
    pub batch_job_items: Fam<Histogram, Buckets>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every catalogue metric.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let in_flight = super::sharded::Gauge::default();
        r.register(cat::HTTP_IN_FLIGHT.name, help(cat::HTTP_IN_FLIGHT), in_flight.clone());
        let single = |r: &mut Registry, def: MetricDef| {
            let g = Gauge::default();
            r.register(def.name, help(def), g.clone());
            g
        };
        let m = Self {
            http_requests: counter(&mut r, cat::HTTP_REQUESTS),
            http_duration: histogram(&mut r, cat::HTTP_REQUEST_DURATION),
            http_in_flight: in_flight,
            http_rejected: counter(&mut r, cat::HTTP_REJECTED),
            connections_open: single(&mut r, cat::HTTP_CONNECTIONS_OPEN),
            connections_closed: counter(&mut r, cat::HTTP_CONNECTIONS_CLOSED),
            predictions: counter(&mut r, cat::PREDICTIONS),
            prediction_duration: histogram(&mut r, cat::PREDICTION_DURATION),
            stage_duration: histogram(&mut r, cat::PREDICTION_STAGE_DURATION),
            confidence: histogram(&mut r, cat::PREDICTION_CONFIDENCE),
            labels: counter(&mut r, cat::PREDICTED_LABELS),
            batch_size: histogram(&mut r, cat::BATCH_SIZE),
            run_rows: histogram(&mut r, cat::MODEL_RUN_ROWS),
            cpu: counter_f(&mut r, cat::MODEL_CPU_SECONDS),
            cold_starts: counter(&mut r, cat::RECSYS_COLD_STARTS),
            rating: histogram(&mut r, cat::RECSYS_PREDICTED_RATING),
            lookups: counter(&mut r, cat::RECSYS_ENCODER_LOOKUPS),
            trend_series: counter(&mut r, cat::TREND_SERIES),
            trend_points: histogram(&mut r, cat::TREND_SERIES_POINTS),
            trend_analyses: counter(&mut r, cat::TREND_ANALYSES),
            trend_fallbacks: counter(&mut r, cat::TREND_FALLBACKS),
            cache_hits: counter(&mut r, cat::CACHE_HITS),
            cache_misses: counter(&mut r, cat::CACHE_MISSES),
            cache_evictions: counter(&mut r, cat::CACHE_EVICTIONS),
            cache_models: single(&mut r, cat::CACHE_MODELS),
            cache_bytes: single(&mut r, cat::CACHE_BYTES),
            cache_capacity: single(&mut r, cat::CACHE_CAPACITY_BYTES),
            load_duration: histogram(&mut r, cat::MODEL_LOAD_DURATION),
            load_time: histogram(&mut r, cat::MODEL_LOAD_TIME),
            configured_limit: gauge_f(&mut r, cat::CONFIGURED_LIMIT),
            cpu_request: gauge_f(&mut r, cat::CPU_REQUEST),
            permits: super::capacity::Permits::default(),
            load_failures: counter(&mut r, cat::MODEL_LOAD_FAILURES),
            model_ready: gauge(&mut r, cat::MODEL_READY),
            model_info: gauge(&mut r, cat::MODEL_INFO),
            reference_label_ratio: gauge_f(&mut r, cat::MODEL_REFERENCE_LABEL_RATIO),
            drift_observations: counter(&mut r, cat::DRIFT_OBSERVATIONS),
            drift_reference: gauge_f(&mut r, cat::DRIFT_REFERENCE_RATIO),
            feedback: counter(&mut r, cat::FEEDBACK),
            labelled: counter(&mut r, cat::LABELLED_PREDICTIONS),
            correct: counter(&mut r, cat::CORRECT_PREDICTIONS),
            expected_correct: counter_f(&mut r, cat::EXPECTED_CORRECT),
            confusion: counter(&mut r, cat::CONFUSION),
            rating_squared_error: counter_f(&mut r, cat::RATING_SQUARED_ERROR),
            rating_absolute_error: histogram(&mut r, cat::RATING_ABSOLUTE_ERROR),
            forecast_error: histogram(&mut r, cat::FORECAST_PERCENTAGE_ERROR),
            satisfaction: histogram(&mut r, cat::SATISFACTION),
            votes: counter(&mut r, cat::FEEDBACK_VOTES),
            feedback_delay: histogram(&mut r, cat::FEEDBACK_DELAY),
            prediction_records: gauge(&mut r, cat::PREDICTION_RECORDS),
            prediction_records_dropped: counter(&mut r, cat::PREDICTION_RECORDS_DROPPED),
            log_lines: counter(&mut r, cat::LOG_LINES),
            heldout_quality: gauge_f(&mut r, cat::MODEL_HELDOUT_QUALITY),
            // Registered always so the families exist (HELP/TYPE) for dashboards and alerts;
            // their series appear once a dependency or the batch queue is configured.
            dependency_up: gauge(&mut r, cat::DEPENDENCY_UP),
            dependency_duration: histogram(&mut r, cat::DEPENDENCY_REQUEST_DURATION),
            dependency_errors: counter(&mut r, cat::DEPENDENCY_ERRORS),
            dependency_bytes: counter(&mut r, cat::DEPENDENCY_BYTES),
            queue_depth: single(&mut r, cat::QUEUE_DEPTH),
            queue_oldest_age: single(&mut r, cat::QUEUE_OLDEST_AGE),
            batch_jobs: counter(&mut r, cat::BATCH_JOBS),
            batch_job_duration: histogram(&mut r, cat::BATCH_JOB_DURATION),
            batch_job_items: histogram(&mut r, cat::BATCH_JOB_ITEMS),
            registry: Registry::default(),
        };
        let build = gauge(&mut r, cat::BUILD_INFO);
        build.with(&[env!("CARGO_PKG_VERSION"), option_env!("INFERWATCH_RUSTC").unwrap_or("unknown")]).set(1);
        r.register_collector(Box::new(super::process::ProcessCollector::new()));
        r.register_collector(Box::new(super::capacity::PermitsCollector(m.permits.clone())));
        Self { registry: r, ..m }
    }

    /// Export the configured limits and watch the concurrency semaphore (its permits in use are
    /// read at scrape time). A second call keeps the first semaphore.
    pub fn capacity(
        &self,
        limits: &super::capacity::ConfiguredLimits,
        permits: &std::sync::Arc<tokio::sync::Semaphore>,
    ) {
        for (limit, value) in limits.pairs() {
            self.configured_limit.with(&[limit]).set(value);
        }
        if let Some(cores) = limits.cpu_request_cores {
            self.cpu_request.with(&[]).set(cores);
        }
        let _ = self.permits.set((permits.clone(), limits.concurrency));
    }

    /// Encode the registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(64 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Encode in the classic Prometheus text format (0.0.4), for scrapers that do not ask for
    /// OpenMetrics (curl, `promtool check metrics`, older agents).
    pub fn encode_prometheus_text(&self) -> Result<String, std::fmt::Error> {
        Ok(super::text_format::openmetrics_to_prometheus_text(&self.encode()?))
    }
}

/// Set the info gauge, the reference label shares and the held-out quality of a freshly loaded
/// model.
pub fn model_loaded(metrics: &Metrics, meta: &ModelMeta, source: &str) {
    metrics.model_info.with(&[&meta.name, meta.kind.as_str(), &meta.version, &meta.sha256, source]).set(1);
    for (metric, value) in heldout(meta) {
        metrics.heldout_quality.with(&[&meta.name, &meta.version, metric]).set(value);
    }
    let shares = meta.reference_distribution.get("predicted_label_frequencies").and_then(|v| v.as_object());
    for (label, share) in shares.into_iter().flatten() {
        if let Some(share) = share.as_f64() {
            metrics.reference_label_ratio.with(&[&meta.name, &meta.version, label]).set(share);
        }
    }
}

/// The held-out figures of `model.json` as (metric, value): accuracy, macro_f1 and ece for
/// classifiers, rmse for recsys, mape (mean over the held-out series, as a ratio) for trend.
fn heldout(meta: &ModelMeta) -> Vec<(&'static str, f64)> {
    let m = &meta.metrics;
    let mut out = Vec::new();
    for key in ["accuracy", "macro_f1", "ece", "rmse"] {
        if let Some(v) = m.get(key).and_then(serde_json::Value::as_f64) {
            out.push((key, v));
        }
    }
    if meta.kind == crate::package::ModelKind::Trend {
        let mapes: Vec<f64> = m
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.get("mape_percent").and_then(serde_json::Value::as_f64))
            .collect();
        if !mapes.is_empty() {
            out.push(("mape", mapes.iter().sum::<f64>() / mapes.len() as f64 / 100.0));
        }
    }
    out
}
