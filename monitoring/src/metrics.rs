//! The metric catalogue: every metric the inference server exports, with its type, help text,
//! labels and bucket layout.
//!
//! Names are the names as exposed on `/metrics` (counters end in `_total`). Label values are
//! bounded: model names come from the configured model store, routes are route templates,
//! stages/phases/outcomes are the fixed enums documented on each metric. Never user ids or text.

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricKind {
    /// A monotonically increasing counter (`_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A histogram with the given bucket upper bounds.
    Histogram(&'static [f64]),
    /// An info-style gauge that is always 1 and carries its information in labels.
    Info,
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// Exposed name, including `_total` for counters.
    pub name: &'static str,
    /// Help text (`# HELP`).
    pub help: &'static str,
    /// Type and, for histograms, buckets.
    pub kind: MetricKind,
    /// Label names, in order.
    pub labels: &'static [&'static str],
}

impl MetricDef {
    /// The name to register with a client library that appends `_total` to counters itself.
    pub fn base_name(&self) -> &'static str {
        match self.kind {
            MetricKind::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            _ => self.name,
        }
    }
}

/// Latency buckets (seconds) for HTTP requests and predictions: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0];
/// Stage latency buckets (seconds): featurize / infer / postprocess are sub-millisecond work.
pub const STAGE_BUCKETS: &[f64] =
    &[0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];
/// Model load phase buckets (seconds).
pub const LOAD_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0];
/// Whole model load buckets (seconds): the team's KPI is a load under 30 s, an exact edge.
pub const LOAD_TOTAL_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];
/// The model-load KPI (seconds): a bucket edge of [`LOAD_TOTAL_BUCKETS`].
pub const MODEL_LOAD_KPI_SECONDS: f64 = 30.0;
/// Confidence / probability buckets.
pub const CONFIDENCE_BUCKETS: &[f64] = &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0];
/// Items per request or job.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Items per batch job.
pub const JOB_ITEM_BUCKETS: &[f64] = &[1.0, 10.0, 100.0, 1000.0, 5000.0, 10000.0, 50000.0];
/// Predicted rating buckets (1..5 stars).
pub const RATING_BUCKETS: &[f64] = &[1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0];
/// Absolute rating error buckets (stars).
pub const RATING_ERROR_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0];
/// Absolute percentage error buckets of forecasts (a ratio: 0.05 is 5%).
pub const PERCENTAGE_ERROR_BUCKETS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0];
/// Satisfaction score buckets (scores 1 to 5).
pub const SATISFACTION_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0];
/// Delay between a prediction and its feedback (seconds): a minute to two weeks.
pub const FEEDBACK_DELAY_BUCKETS: &[f64] =
    &[60.0, 300.0, 900.0, 3600.0, 14_400.0, 43_200.0, 86_400.0, 259_200.0, 604_800.0, 1_209_600.0];
/// Points per analysed series.
pub const SERIES_POINT_BUCKETS: &[f64] = &[4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];

const M: &[&str] = &["model", "version"];

macro_rules! metric {
    ($id:ident, $name:literal, $kind:expr, $labels:expr, $help:literal) => {
        #[doc = $help]
        pub const $id: MetricDef = MetricDef { name: $name, help: $help, kind: $kind, labels: $labels };
    };
}

// HTTP
metric!(
    HTTP_REQUESTS,
    "inferwatch_http_requests_total",
    MetricKind::Counter,
    &["route", "method", "status"],
    "HTTP requests served, by route template, method and status code."
);
metric!(
    HTTP_REQUEST_DURATION,
    "inferwatch_http_request_duration_seconds",
    MetricKind::Histogram(LATENCY_BUCKETS),
    &["route", "method"],
    "HTTP request latency from first byte read to response, by route template."
);
metric!(
    HTTP_IN_FLIGHT,
    "inferwatch_http_requests_in_flight",
    MetricKind::Gauge,
    &[],
    "HTTP requests currently being served."
);
metric!(
    HTTP_REJECTED,
    "inferwatch_http_requests_rejected_total",
    MetricKind::Counter,
    &["reason"],
    "Requests refused before reaching a handler: reason is overloaded (429, concurrency limit), body_memory (429, request body budget), timeout (504) or too_large (413)."
);

metric!(
    HTTP_CONNECTIONS_OPEN,
    "inferwatch_http_connections_open",
    MetricKind::Gauge,
    &[],
    "Client connections open now (at most --max-connections)."
);
metric!(
    HTTP_CONNECTIONS_CLOSED,
    "inferwatch_http_connections_closed_total",
    MetricKind::Counter,
    &["reason"],
    "Client connections the server closed: reason is limit (over --max-connections, closed at accept), timeout (no complete request headers within --header-read-timeout-ms, also an idle keep-alive connection), error (not HTTP) or shutdown (still open at the --drain-timeout-ms deadline)."
);

// Per model
metric!(
    PREDICTIONS,
    "inferwatch_predictions_total",
    MetricKind::Counter,
    &["model", "version", "outcome"],
    "Predicted items, by outcome: success, invalid_input or error."
);
metric!(
    PREDICTION_DURATION,
    "inferwatch_prediction_duration_seconds",
    MetricKind::Histogram(LATENCY_BUCKETS),
    M,
    "End-to-end model time of one predict request (all stages, all items)."
);
metric!(
    PREDICTION_STAGE_DURATION,
    "inferwatch_prediction_stage_duration_seconds",
    MetricKind::Histogram(STAGE_BUCKETS),
    &["model", "version", "stage"],
    "Time per request spent in each stage: featurize, infer or postprocess."
);
metric!(
    PREDICTION_CONFIDENCE,
    "inferwatch_prediction_confidence",
    MetricKind::Histogram(CONFIDENCE_BUCKETS),
    M,
    "Confidence (top-class probability) of each classification."
);
metric!(
    PREDICTED_LABELS,
    "inferwatch_predicted_labels_total",
    MetricKind::Counter,
    &["model", "version", "label"],
    "Predicted labels of classification models (sentiment, topic, email spam/ham)."
);
metric!(BATCH_SIZE, "inferwatch_batch_size", MetricKind::Histogram(BATCH_BUCKETS), M, "Items per predict request.");
metric!(
    MODEL_RUN_ROWS,
    "inferwatch_model_run_rows",
    MetricKind::Histogram(BATCH_BUCKETS),
    M,
    "Rows per model run of a text classifier: requests that arrive together share one run (dynamic batching)."
);
metric!(
    MODEL_CPU_SECONDS,
    "inferwatch_model_cpu_seconds_total",
    MetricKind::Counter,
    M,
    "Thread CPU time spent featurizing, running and post-processing a model; at most one request (and one shared run) per model per millisecond is measured and stands for the items since the previous measurement."
);

// recsys
metric!(
    RECSYS_COLD_STARTS,
    "inferwatch_recsys_cold_starts_total",
    MetricKind::Counter,
    &["model", "version", "kind"],
    "Rating predictions that used a cold-start fallback: unknown_user, unknown_item or both."
);
metric!(
    RECSYS_PREDICTED_RATING,
    "inferwatch_recsys_predicted_rating",
    MetricKind::Histogram(RATING_BUCKETS),
    M,
    "Predicted ratings (1 to 5)."
);
metric!(
    RECSYS_ENCODER_LOOKUPS,
    "inferwatch_recsys_encoder_lookups_total",
    MetricKind::Counter,
    &["model", "version", "entity", "result"],
    "Id encoder lookups by entity (user, item) and result (known, unknown)."
);

// trend
metric!(TREND_SERIES, "inferwatch_trend_series_total", MetricKind::Counter, M, "Time series received for analysis.");
metric!(
    TREND_SERIES_POINTS,
    "inferwatch_trend_series_points",
    MetricKind::Histogram(SERIES_POINT_BUCKETS),
    M,
    "Points per analysed series."
);
metric!(
    TREND_ANALYSES,
    "inferwatch_trend_analyses_total",
    MetricKind::Counter,
    &["model", "version", "outcome"],
    "Trend analyses by outcome: completed or failed."
);
metric!(
    TREND_FALLBACKS,
    "inferwatch_trend_fallbacks_total",
    MetricKind::Counter,
    &["model", "version", "reason"],
    "Forecasts made without the trained model, by reason: no_season (none detected or given) or too_short (fewer than two seasons); they follow the trend analysis' line."
);

// Model cache
metric!(
    CACHE_HITS,
    "inferwatch_model_cache_hits_total",
    MetricKind::Counter,
    &["model"],
    "Model cache lookups that found the model loaded."
);
metric!(
    CACHE_MISSES,
    "inferwatch_model_cache_misses_total",
    MetricKind::Counter,
    &["model"],
    "Model cache lookups that had to load the model."
);
metric!(
    CACHE_EVICTIONS,
    "inferwatch_model_cache_evictions_total",
    MetricKind::Counter,
    &["model"],
    "Models evicted from the cache to respect its count or byte limit."
);
metric!(CACHE_MODELS, "inferwatch_model_cache_models", MetricKind::Gauge, &[], "Models currently loaded.");
metric!(
    CACHE_BYTES,
    "inferwatch_model_cache_bytes",
    MetricKind::Gauge,
    &[],
    "Bytes of model packages currently loaded."
);
metric!(
    CACHE_CAPACITY_BYTES,
    "inferwatch_model_cache_capacity_bytes",
    MetricKind::Gauge,
    &[],
    "Byte limit of the model cache."
);
metric!(
    MODEL_LOAD_DURATION,
    "inferwatch_model_load_duration_seconds",
    MetricKind::Histogram(LOAD_BUCKETS),
    &["model", "phase"],
    "Model load time by phase: read (fetch + verify), optimize (parse + compile plan), warmup."
);
metric!(
    MODEL_LOAD_TIME,
    "inferwatch_model_load_seconds",
    MetricKind::Histogram(LOAD_TOTAL_BUCKETS),
    &["model"],
    "Whole time of each successful model load (read + optimize + warmup); the KPI is under 30 s."
);
metric!(
    MODEL_LOAD_FAILURES,
    "inferwatch_model_load_failures_total",
    MetricKind::Counter,
    &["model", "reason"],
    "Failed model loads by reason: not_found, checksum, invalid_package, runtime."
);
metric!(
    MODEL_READY,
    "inferwatch_model_ready",
    MetricKind::Gauge,
    &["model"],
    "1 when a configured model is loaded and answered its warm-up inference, else 0."
);

metric!(
    MODEL_REFERENCE_LABEL_RATIO,
    "inferwatch_model_reference_label_ratio",
    MetricKind::Gauge,
    &["model", "version", "label"],
    "Share of each label in the model's predictions on held-out data (model.json), the reference for drift."
);

// Drift: live distributions of watched input and prediction features, binned exactly as the
// held-out references in model.json (docs/drift.md). Bins are not cumulative: each observation
// adds to one bin, so shares need no differencing of `le` buckets.
metric!(
    DRIFT_OBSERVATIONS,
    "inferwatch_drift_observations_total",
    MetricKind::Counter,
    &["model", "version", "side", "feature", "bin"],
    "Observations of a drift feature per bin (side input or prediction; bin is the upper edge, +Inf for the last, or a category), created at zero for every bin when the model loads."
);
metric!(
    DRIFT_REFERENCE_RATIO,
    "inferwatch_drift_reference_ratio",
    MetricKind::Gauge,
    &["model", "version", "side", "feature", "bin"],
    "Share of each bin of a drift feature on the model's held-out data (model.json reference_distribution.features)."
);

// Model quality: ground truth fed back for predictions (POST /v1/models/{name}/feedback).
metric!(
    FEEDBACK,
    "inferwatch_feedback_total",
    MetricKind::Counter,
    &["model", "outcome"],
    "Feedback received, by outcome: matched, or rejected as unknown_prediction (unknown or expired id), duplicate, model_mismatch (items), or invalid (a refused request counts once)."
);
metric!(
    LABELLED_PREDICTIONS,
    "inferwatch_labelled_predictions_total",
    MetricKind::Counter,
    &["model", "version", "true_label"],
    "Classifications whose true label arrived as feedback, by true label."
);
metric!(
    CORRECT_PREDICTIONS,
    "inferwatch_correct_predictions_total",
    MetricKind::Counter,
    &["model", "version", "true_label"],
    "Labelled classifications whose predicted label was the true label, by true label."
);
metric!(
    EXPECTED_CORRECT,
    "inferwatch_labelled_predictions_expected_correct_total",
    MetricKind::Counter,
    M,
    "Sum of the confidence of labelled classifications: how many a calibrated model expects to be correct (confidence-based performance estimation)."
);
metric!(
    CONFUSION,
    "inferwatch_confusion_total",
    MetricKind::Counter,
    &["model", "version", "true_label", "predicted_label"],
    "Labelled classifications by true and predicted label, for models with at most 8 labels."
);
metric!(
    RATING_SQUARED_ERROR,
    "inferwatch_rating_squared_error_total",
    MetricKind::Counter,
    M,
    "Sum of squared errors of rating predictions whose observed rating arrived as feedback (RMSE = sqrt(this / inferwatch_rating_absolute_error_count))."
);
metric!(
    RATING_ABSOLUTE_ERROR,
    "inferwatch_rating_absolute_error",
    MetricKind::Histogram(RATING_ERROR_BUCKETS),
    M,
    "Absolute error of rating predictions whose observed rating arrived as feedback (stars)."
);
metric!(
    FORECAST_PERCENTAGE_ERROR,
    "inferwatch_forecast_absolute_percentage_error",
    MetricKind::Histogram(PERCENTAGE_ERROR_BUCKETS),
    M,
    "Absolute percentage error of each forecast point whose observed value arrived as feedback, as a ratio (MAPE = sum / count); observed zeros are skipped."
);
metric!(
    SATISFACTION,
    "inferwatch_satisfaction_score",
    MetricKind::Histogram(SATISFACTION_BUCKETS),
    M,
    "User satisfaction scores (1 to 5) fed back for predictions."
);
metric!(
    FEEDBACK_VOTES,
    "inferwatch_feedback_votes_total",
    MetricKind::Counter,
    &["model", "version", "vote"],
    "Thumbs fed back for predictions, by vote: up or down."
);
metric!(
    FEEDBACK_DELAY,
    "inferwatch_feedback_delay_seconds",
    MetricKind::Histogram(FEEDBACK_DELAY_BUCKETS),
    M,
    "Time from a prediction to the matched feedback for it."
);
metric!(
    PREDICTION_RECORDS,
    "inferwatch_prediction_records",
    MetricKind::Gauge,
    &["store"],
    "Prediction records kept for feedback matching by this process (the memory store; Redis keeps its own count)."
);
metric!(
    PREDICTION_RECORDS_DROPPED,
    "inferwatch_prediction_records_dropped_total",
    MetricKind::Counter,
    &["store", "reason"],
    "Prediction records lost before their age limit: capacity (memory store full, oldest dropped), backlog (Redis writes fell behind) or store_error (Redis refused or unreachable)."
);
metric!(
    LOG_LINES,
    "inferwatch_log_lines_total",
    MetricKind::Counter,
    &["log", "outcome"],
    "Access and prediction log lines by outcome: written, or rate_limited (over the per-second cap; sampled-out lines are not counted)."
);
metric!(
    MODEL_HELDOUT_QUALITY,
    "inferwatch_model_heldout_quality",
    MetricKind::Gauge,
    &["model", "version", "metric"],
    "Quality measured on held-out data when the model was trained (model.json): accuracy, macro_f1 and ece (expected calibration error) for classifiers, rmse for recsys, mape (a ratio) for trend."
);

// Dependencies and batch queue: registered always; series appear once a store, registry or queue is configured.
metric!(
    DEPENDENCY_UP,
    "inferwatch_dependency_up",
    MetricKind::Gauge,
    &["dependency", "required"],
    "1 when a dependency (storage, registry, queue) answered its last health check, else 0."
);
metric!(
    QUEUE_OLDEST_AGE,
    "inferwatch_batch_queue_oldest_job_age_seconds",
    MetricKind::Gauge,
    &[],
    "Age of the oldest pending batch job."
);

metric!(
    QUEUE_DEPTH,
    "inferwatch_batch_queue_depth",
    MetricKind::Gauge,
    &[],
    "Batch jobs accepted and not yet finished (entries in the Redis stream)."
);
metric!(
    BATCH_JOBS,
    "inferwatch_batch_jobs_total",
    MetricKind::Counter,
    &["model", "outcome"],
    "Batch jobs by outcome: accepted, rejected (queue unavailable or full), done, failed, reclaimed (taken over from a dead worker), retried (a transient failure, run again later), dead_lettered (given up after --job-max-attempts runs)."
);
metric!(
    BATCH_JOB_DURATION,
    "inferwatch_batch_job_duration_seconds",
    MetricKind::Histogram(LOAD_BUCKETS),
    &["model"],
    "Time from a worker taking a batch job to its results being stored."
);
metric!(
    BATCH_JOB_ITEMS,
    "inferwatch_batch_job_items",
    MetricKind::Histogram(JOB_ITEM_BUCKETS),
    &["model"],
    "Items per accepted batch job."
);
metric!(
    DEPENDENCY_REQUEST_DURATION,
    "inferwatch_dependency_request_duration_seconds",
    MetricKind::Histogram(LATENCY_BUCKETS),
    &["dependency", "operation"],
    "Latency of requests to a dependency (queue: Redis commands; storage: get/head/list; registry: REST calls)."
);
metric!(
    DEPENDENCY_ERRORS,
    "inferwatch_dependency_errors_total",
    MetricKind::Counter,
    &["dependency", "operation"],
    "Failed requests to a dependency by operation."
);

metric!(
    DEPENDENCY_BYTES,
    "inferwatch_dependency_bytes_total",
    MetricKind::Counter,
    &["dependency", "direction"],
    "Bytes transferred with a dependency (storage downloads: direction=\"in\")."
);

// Process limits
metric!(
    MEMORY_LIMIT,
    "inferwatch_memory_limit_bytes",
    MetricKind::Gauge,
    &[],
    "Memory limit of the server's cgroup (container limit); absent when unlimited."
);

metric!(
    CPU_LIMIT,
    "inferwatch_cpu_limit_cores",
    MetricKind::Gauge,
    &[],
    "CPU limit of the server's cgroup in cores (cpu.max quota / period); absent when unlimited."
);
metric!(
    CPU_REQUEST,
    "inferwatch_cpu_request_cores",
    MetricKind::Gauge,
    &[],
    "CPU request of the server's container in cores (the pod's requests.cpu, which the operator passes through the Downward API); absent when not set. Capacity rules use it where no CPU limit exists."
);
metric!(
    CONFIGURED_LIMIT,
    "inferwatch_configured_limit",
    MetricKind::Gauge,
    &["limit"],
    "A configured limit, to set beside its use: concurrency (inference requests at once), connections (open client connections), body_memory_bytes (request body bytes held at once), batch_items, body_bytes, cache_models, job_workers, job_items, queued_jobs (unfinished jobs the queue takes), max_replicas (the most replicas the deployment may run: the HPA maximum or the fixed count; absent when not given)."
);
metric!(
    CONCURRENCY_IN_USE,
    "inferwatch_concurrency_in_use",
    MetricKind::Gauge,
    &[],
    "Inference requests holding a concurrency permit at scrape time (at most inferwatch_configured_limit{limit=\"concurrency\"})."
);

// Info
metric!(
    BUILD_INFO,
    "inferwatch_build_info",
    MetricKind::Info,
    &["version", "rustc"],
    "Build information of the inference server."
);
metric!(
    MODEL_INFO,
    "inferwatch_model_info",
    MetricKind::Info,
    &["model", "kind", "version", "sha256", "source"],
    "Loaded model packages: kind, version, checksum and where they were loaded from."
);

// Process (standard names from the Prometheus client guidelines)
metric!(
    PROCESS_CPU,
    "process_cpu_seconds_total",
    MetricKind::Counter,
    &[],
    "Total user and system CPU time spent in seconds."
);
metric!(PROCESS_RSS, "process_resident_memory_bytes", MetricKind::Gauge, &[], "Resident memory size in bytes.");
metric!(PROCESS_VSZ, "process_virtual_memory_bytes", MetricKind::Gauge, &[], "Virtual memory size in bytes.");
metric!(PROCESS_OPEN_FDS, "process_open_fds", MetricKind::Gauge, &[], "Number of open file descriptors.");
metric!(PROCESS_MAX_FDS, "process_max_fds", MetricKind::Gauge, &[], "Maximum number of open file descriptors.");
metric!(PROCESS_THREADS, "process_threads", MetricKind::Gauge, &[], "Number of OS threads in the process.");
metric!(
    PROCESS_START_TIME,
    "process_start_time_seconds",
    MetricKind::Gauge,
    &[],
    "Start time of the process since unix epoch in seconds."
);

/// Classifiers with at most this many labels get the confusion counters (sentiment 3, email 2;
/// topic's 20 labels would make 400 series).
pub const CONFUSION_MAX_LABELS: usize = 8;

/// Every metric the server exports, in exposition order.
pub const CATALOGUE: &[MetricDef] = &[
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    HTTP_IN_FLIGHT,
    HTTP_REJECTED,
    HTTP_CONNECTIONS_OPEN,
    HTTP_CONNECTIONS_CLOSED,
    PREDICTIONS,
    PREDICTION_DURATION,
    PREDICTION_STAGE_DURATION,
    PREDICTION_CONFIDENCE,
    PREDICTED_LABELS,
    BATCH_SIZE,
    MODEL_RUN_ROWS,
    MODEL_CPU_SECONDS,
    RECSYS_COLD_STARTS,
    RECSYS_PREDICTED_RATING,
    RECSYS_ENCODER_LOOKUPS,
    TREND_SERIES,
    TREND_SERIES_POINTS,
    TREND_ANALYSES,
    TREND_FALLBACKS,
    CACHE_HITS,
    CACHE_MISSES,
    CACHE_EVICTIONS,
    CACHE_MODELS,
    CACHE_BYTES,
    CACHE_CAPACITY_BYTES,
    MODEL_LOAD_DURATION,
    MODEL_LOAD_TIME,
    MODEL_LOAD_FAILURES,
    MODEL_READY,
    MODEL_REFERENCE_LABEL_RATIO,
    DRIFT_OBSERVATIONS,
    DRIFT_REFERENCE_RATIO,
    FEEDBACK,
    LABELLED_PREDICTIONS,
    CORRECT_PREDICTIONS,
    EXPECTED_CORRECT,
    CONFUSION,
    RATING_SQUARED_ERROR,
    RATING_ABSOLUTE_ERROR,
    FORECAST_PERCENTAGE_ERROR,
    SATISFACTION,
    FEEDBACK_VOTES,
    FEEDBACK_DELAY,
    PREDICTION_RECORDS,
    PREDICTION_RECORDS_DROPPED,
    LOG_LINES,
    MODEL_HELDOUT_QUALITY,
    DEPENDENCY_UP,
    QUEUE_OLDEST_AGE,
    QUEUE_DEPTH,
    BATCH_JOBS,
    BATCH_JOB_DURATION,
    BATCH_JOB_ITEMS,
    DEPENDENCY_REQUEST_DURATION,
    DEPENDENCY_ERRORS,
    DEPENDENCY_BYTES,
    MEMORY_LIMIT,
    CPU_LIMIT,
    CPU_REQUEST,
    CONFIGURED_LIMIT,
    CONCURRENCY_IN_USE,
    BUILD_INFO,
    MODEL_INFO,
    PROCESS_CPU,
    PROCESS_RSS,
    PROCESS_VSZ,
    PROCESS_OPEN_FDS,
    PROCESS_MAX_FDS,
    PROCESS_THREADS,
    PROCESS_START_TIME,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn metric_names_are_unique_and_follow_prometheus_conventions() {
        let mut seen = HashSet::new();
        for m in CATALOGUE {
            assert!(seen.insert(m.name), "duplicate metric {}", m.name);
            assert!(m.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{}", m.name);
            assert_eq!(
                m.kind == MetricKind::Counter,
                m.name.ends_with("_total"),
                "{}: only counters end in _total",
                m.name
            );
            assert!(!m.help.is_empty() && m.help.ends_with('.'), "{}: help must be a sentence", m.name);
            assert!(!m.labels.contains(&"user_id") && !m.labels.contains(&"text"), "{}: unbounded label", m.name);
        }
    }

    #[test]
    fn histogram_buckets_are_strictly_increasing() {
        for m in CATALOGUE {
            if let MetricKind::Histogram(b) = m.kind {
                assert!(b.windows(2).all(|w| w[0] < w[1]), "{}", m.name);
            }
        }
    }
}
