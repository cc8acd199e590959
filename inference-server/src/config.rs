//! Server configuration: flags with environment fallbacks. Names and defaults come from the
//! serving contract (`inferwatch_monitoring::serving`), which the operator renders from too.

use clap::{Parser, ValueEnum};
pub use inferwatch_monitoring::logging::LogFormat;
use inferwatch_monitoring::serving::{defaults, settings as s};
use std::path::PathBuf;

/// Where model packages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelSource {
    /// A local directory (the built-in models).
    Local,
    /// S3-compatible object storage.
    S3,
    /// The MLflow model registry (artifacts in S3-compatible storage).
    Mlflow,
}

/// Inferwatch inference server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "inference-server",
    version,
    about = "Inferwatch inference server: built-in models behind instrumented HTTP"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long = s::HOST.flag, env = s::HOST.env, default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on.
    #[arg(long = s::PORT.flag, env = s::PORT.env, default_value_t = defaults::PORT)]
    pub port: u16,
    /// Directory of model packages (one sub-directory per model).
    #[arg(long = s::MODEL_DIR.flag, env = s::MODEL_DIR.env, default_value = "models")]
    pub model_dir: PathBuf,
    /// Models to load at start-up, comma-separated, or `all`; `/ready` waits for them.
    #[arg(long = s::PRELOAD.flag, env = s::PRELOAD.env, default_value = "all", value_delimiter = ',')]
    pub preload: Vec<String>,
    /// Most models kept loaded.
    #[arg(long = s::CACHE_MAX_MODELS.flag, env = s::CACHE_MAX_MODELS.env, default_value_t = defaults::CACHE_MAX_MODELS, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_max_models: u64,
    /// Most model package bytes kept loaded.
    #[arg(long = s::CACHE_MAX_BYTES.flag, env = s::CACHE_MAX_BYTES.env, default_value_t = defaults::CACHE_MAX_BYTES)]
    pub cache_max_bytes: u64,
    /// Largest accepted request body in bytes.
    #[arg(long = s::MAX_BODY_BYTES.flag, env = s::MAX_BODY_BYTES.env, default_value_t = defaults::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Most items in one batch request.
    #[arg(long = s::MAX_BATCH_ITEMS.flag, env = s::MAX_BATCH_ITEMS.env, default_value_t = defaults::MAX_BATCH_ITEMS)]
    pub max_batch_items: usize,
    /// Longest accepted text in bytes.
    #[arg(long = s::MAX_TEXT_BYTES.flag, env = s::MAX_TEXT_BYTES.env, default_value_t = defaults::MAX_TEXT_BYTES)]
    pub max_text_bytes: usize,
    /// Per-request timeout in milliseconds (504 beyond it).
    #[arg(long = s::REQUEST_TIMEOUT_MS.flag, env = s::REQUEST_TIMEOUT_MS.env, default_value_t = defaults::REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,
    /// Bytes of request bodies that inference requests may hold at once, reserved from the
    /// announced length (or the body limit) before the body is read; 429 beyond it.
    #[arg(long = s::BODY_MEMORY_BYTES.flag, env = s::BODY_MEMORY_BYTES.env, default_value_t = defaults::BODY_MEMORY_BYTES, value_parser = body_memory)]
    pub body_memory_bytes: usize,
    /// Most open client connections; one more is closed at once (counted as refused).
    #[arg(long = s::MAX_CONNECTIONS.flag, env = s::MAX_CONNECTIONS.env, default_value_t = defaults::MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Milliseconds a client has to send a request's headers, from the connection's start or
    /// the end of its previous answer (so also how long an idle keep-alive connection stays).
    #[arg(long = s::HEADER_READ_TIMEOUT_MS.flag, env = s::HEADER_READ_TIMEOUT_MS.env, default_value_t = defaults::HEADER_READ_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(100..))]
    pub header_read_timeout_ms: u64,
    /// Milliseconds open connections get to finish their requests once SIGTERM arrives; the
    /// ones still open are then closed. Keep it below the pod's termination grace period.
    #[arg(long = s::DRAIN_TIMEOUT_MS.flag, env = s::DRAIN_TIMEOUT_MS.env, default_value_t = defaults::DRAIN_TIMEOUT_MS)]
    pub drain_timeout_ms: u64,
    /// A file of bearer tokens, one per line (a mounted Secret): when set, the API routes
    /// (predict, recommend, infer, jobs, feedback, model metadata) answer 401 without
    /// `Authorization: Bearer <token>`; probes, `/metrics` and dependency health stay open. Read
    /// again every 10 s, so a rotated Secret needs no restart.
    #[arg(long = s::AUTH_TOKEN_FILE.flag, env = s::AUTH_TOKEN_FILE.env)]
    pub auth_token_file: Option<PathBuf>,
    /// Most inference requests in flight at once (429 beyond it).
    #[arg(long = s::CONCURRENCY_LIMIT.flag, env = s::CONCURRENCY_LIMIT.env, default_value_t = defaults::CONCURRENCY_LIMIT)]
    pub concurrency_limit: usize,
    /// Let concurrent requests to a text model (sentiment, topic, email) share one model run.
    /// Opportunistic: adds no waiting, only batches requests that are already in.
    #[arg(long = s::DYNAMIC_BATCHING.flag, env = s::DYNAMIC_BATCHING.env, default_value_t = true, action = clap::ArgAction::Set)]
    pub dynamic_batching: bool,
    /// Record request and per-model metrics (the `/metrics` endpoint stays up either way).
    #[arg(long = s::METRICS.flag, env = s::METRICS.env, default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,
    /// Where model packages come from: the local directory (`--model-dir`) or S3.
    #[arg(long = s::MODEL_SOURCE.flag, env = s::MODEL_SOURCE.env, value_enum, default_value_t = ModelSource::Local)]
    pub model_source: ModelSource,
    /// S3 location of the packages, `s3://bucket/prefix` (one folder per package).
    #[arg(long = s::S3_URI.flag, env = s::S3_URI.env, required_if_eq("model_source", "s3"))]
    pub s3_uri: Option<String>,
    /// Endpoint of an S3-compatible server such as MinIO (path-style addressing; http allowed).
    #[arg(long = s::S3_ENDPOINT.flag, env = s::S3_ENDPOINT.env)]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long = s::S3_REGION.flag, env = s::S3_REGION.env, default_value = defaults::S3_REGION)]
    pub s3_region: String,
    /// Local directory where downloaded packages are cached (a restart loads from it when the
    /// store is down).
    #[arg(long = s::MODEL_CACHE_DIR.flag, env = s::MODEL_CACHE_DIR.env, default_value = "/tmp/inferwatch-model-cache")]
    pub model_cache_dir: PathBuf,
    /// MLflow tracking server URL (`--model-source mlflow`).
    #[arg(long = s::MLFLOW_TRACKING_URI.flag, env = s::MLFLOW_TRACKING_URI.env, required_if_eq("model_source", "mlflow"))]
    pub mlflow_tracking_uri: Option<String>,
    /// The registered model to serve: `models:/<name>/<version|stage>` or `models:/<name>@<alias>`.
    #[arg(long = s::MLFLOW_MODEL_URI.flag, env = s::MLFLOW_MODEL_URI.env, required_if_eq("model_source", "mlflow"))]
    pub mlflow_model_uri: Option<String>,
    /// The package version to serve, pinned: from a local directory or S3 prefix, the package in
    /// `<name>/<version>/` (or in `<name>/` when its `model.json` names that version); from
    /// MLflow, the registry version, stage or `@alias` that replaces the one in
    /// `--mlflow-model-uri`. A package whose `model.json` names another version is refused.
    #[arg(long = s::MODEL_VERSION.flag, env = s::MODEL_VERSION.env, value_parser = model_version)]
    pub model_version: Option<String>,
    /// Bearer token for the MLflow server.
    #[arg(long = s::MLFLOW_TOKEN.flag, env = s::MLFLOW_TOKEN.env, hide_env_values = true)]
    pub mlflow_token: Option<String>,
    /// Redis URL of the batch queue (redis://[user:password@]host:port/db, or rediss:// for
    /// TLS); turns the batch job endpoints on. `/ready` reports Redis but does not depend on it:
    /// single predictions go on when it is down.
    #[arg(long = s::REDIS_URL.flag, env = s::REDIS_URL.env, hide_env_values = true)]
    pub redis_url: Option<String>,
    /// PEM file of the CA that signed Redis's certificate, for a `rediss://` URL whose server
    /// the system's roots do not vouch for (a private in-cluster CA).
    #[arg(long = s::REDIS_CA_FILE.flag, env = s::REDIS_CA_FILE.env)]
    pub redis_ca_file: Option<PathBuf>,
    /// Batch jobs processed at once by this server; 0 makes an API-only replica that accepts
    /// jobs for other replicas to process.
    #[arg(long = s::JOB_WORKERS.flag, env = s::JOB_WORKERS.env, default_value_t = defaults::JOB_WORKERS, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub job_workers: u16,
    /// Most items in one batch job.
    #[arg(long = s::MAX_JOB_ITEMS.flag, env = s::MAX_JOB_ITEMS.env, default_value_t = defaults::MAX_JOB_ITEMS)]
    pub max_job_items: usize,
    /// Most unfinished jobs in the queue (all replicas together); a submission beyond it is
    /// refused 429 `queue_full`.
    #[arg(long = s::MAX_QUEUED_JOBS.flag, env = s::MAX_QUEUED_JOBS.env, default_value_t = defaults::MAX_QUEUED_JOBS)]
    pub max_queued_jobs: usize,
    /// Runs of one job before it is dead-lettered: transient failures (the model store down)
    /// are retried until then, and a job whose runs stop their worker is given up after it.
    #[arg(long = s::JOB_MAX_ATTEMPTS.flag, env = s::JOB_MAX_ATTEMPTS.env, default_value_t = defaults::JOB_MAX_ATTEMPTS, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub job_max_attempts: u32,
    /// How long a job and its results are kept, in seconds, counted from submission.
    #[arg(long = s::JOB_RESULT_TTL_SECS.flag, env = s::JOB_RESULT_TTL_SECS.env, default_value_t = defaults::JOB_RESULT_TTL_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub job_result_ttl_secs: u64,
    /// A job taken by a worker that has not finished it for this long (milliseconds) is
    /// reclaimed by another worker (the first one is presumed dead).
    #[arg(long = s::JOB_CLAIM_IDLE_MS.flag, env = s::JOB_CLAIM_IDLE_MS.env, default_value_t = defaults::JOB_CLAIM_IDLE_MS, value_parser = clap::value_parser!(u64).range(100..))]
    pub job_claim_idle_ms: u64,
    /// Give every prediction an id and keep its record for feedback (`POST
    /// /v1/models/{name}/feedback`).
    #[arg(long = s::PREDICTION_IDS.flag, env = s::PREDICTION_IDS.env, default_value_t = true, action = clap::ArgAction::Set)]
    pub prediction_ids: bool,
    /// Count the drift features of every prediction into bins beside the package's held-out
    /// references (`inferwatch_drift_observations_total`; docs/drift.md).
    #[arg(long = s::DRIFT_METRICS.flag, env = s::DRIFT_METRICS.env, default_value_t = true, action = clap::ArgAction::Set)]
    pub drift_metrics: bool,
    /// The most replicas this server's deployment may run (its HPA maximum or fixed replica
    /// count), exported as `inferwatch_configured_limit{limit="max_replicas"}` for capacity
    /// headroom; the operator sets it.
    #[arg(long = s::MAX_REPLICAS.flag, env = s::MAX_REPLICAS.env)]
    pub max_replicas: Option<u32>,
    /// This container's CPU request in millicores, exported as `inferwatch_cpu_request_cores`:
    /// the capacity rules use it where the container has no CPU limit. The operator sets it from
    /// the pod's `requests.cpu` (Downward API).
    #[arg(long = s::CPU_REQUEST_MILLICORES.flag, env = s::CPU_REQUEST_MILLICORES.env, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpu_request_millicores: Option<u32>,
    /// Where prediction records wait for feedback: auto (Redis when --redis-url is set, so any
    /// replica matches feedback for any other), memory (this process only) or redis.
    #[arg(long = s::PREDICTION_STORE.flag, env = s::PREDICTION_STORE.env, value_enum, default_value_t = crate::quality::StoreKind::Auto)]
    pub prediction_store: crate::quality::StoreKind,
    /// How long a prediction waits for its feedback, in seconds.
    #[arg(long = s::PREDICTION_TTL_SECS.flag, env = s::PREDICTION_TTL_SECS.env, default_value_t = defaults::PREDICTION_TTL_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub prediction_ttl_secs: u64,
    /// Most records the memory store keeps (the oldest go first).
    #[arg(long = s::PREDICTION_STORE_MAX_RECORDS.flag, env = s::PREDICTION_STORE_MAX_RECORDS.env, default_value_t = defaults::PREDICTION_STORE_MAX_RECORDS)]
    pub prediction_store_max_records: usize,
    /// Most items per feedback request.
    #[arg(long = s::MAX_FEEDBACK_ITEMS.flag, env = s::MAX_FEEDBACK_ITEMS.env, default_value_t = defaults::MAX_FEEDBACK_ITEMS)]
    pub max_feedback_items: usize,
    /// Share of requests that get an access line, 0 to 1 (5xx answers always do; probes and
    /// scrapes never).
    #[arg(long = s::ACCESS_LOG_SAMPLE.flag, env = s::ACCESS_LOG_SAMPLE.env, default_value_t = defaults::ACCESS_LOG_SAMPLE, value_parser = ratio)]
    pub access_log_sample: f64,
    /// Share of predictions that get a prediction line, 0 to 1.
    #[arg(long = s::PREDICTION_LOG_SAMPLE.flag, env = s::PREDICTION_LOG_SAMPLE.env, default_value_t = defaults::PREDICTION_LOG_SAMPLE, value_parser = ratio)]
    pub prediction_log_sample: f64,
    /// Whether prediction lines carry the input (at most 2 KiB of it). Off by default: inputs
    /// can be personal data.
    #[arg(long = s::PREDICTION_LOG_PAYLOAD.flag, env = s::PREDICTION_LOG_PAYLOAD.env, default_value_t = false, action = clap::ArgAction::Set)]
    pub prediction_log_payload: bool,
    /// Most access lines, and most prediction lines, per second (0: no cap); the rest are
    /// counted in `inferwatch_log_lines_total{outcome="rate_limited"}`.
    #[arg(long = s::LOG_MAX_LINES_PER_SECOND.flag, env = s::LOG_MAX_LINES_PER_SECOND.env, default_value_t = defaults::LOG_MAX_LINES_PER_SECOND)]
    pub log_max_lines_per_second: u32,
    /// Log format.
    #[arg(long = s::LOG_FORMAT.flag, env = s::LOG_FORMAT.env, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// Log filter (tracing env-filter syntax).
    #[arg(long = s::LOG.flag, env = s::LOG.env, default_value = "info")]
    pub log: String,
}

/// A body budget: 1 byte to 4 GiB (the semaphore counts in `u32` units).
fn body_memory(s: &str) -> Result<usize, String> {
    let v: usize = s.parse().map_err(|e| format!("{e}"))?;
    if v == 0 || v > u32::MAX as usize {
        return Err(format!("must be between 1 and {}", u32::MAX));
    }
    Ok(v)
}

/// A model version: one path segment (see `serving::MODEL_VERSION_PATTERN`).
fn model_version(s: &str) -> Result<String, String> {
    if inferwatch_monitoring::serving::valid_model_version(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{}' is not a model version: 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit (an MLflow alias starts with '@')",
            s.chars().take(80).collect::<String>()
        ))
    }
}

/// A sampling ratio: a number from 0 to 1.
fn ratio(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        Ok(r) => Err(format!("{r} is not a ratio from 0 to 1")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use inferwatch_monitoring::serving::SETTINGS;

    /// Every flag the server takes is in the serving contract with the same environment name,
    /// and every setting of the contract is a flag here: the operator renders only names from
    /// the contract (`operator/tests/render.rs`), so it renders only what this server accepts.
    #[test]
    fn flags_and_env_names_are_exactly_the_serving_contract() {
        let cmd = Config::command();
        let mut ours: Vec<(String, String)> = cmd
            .get_arguments()
            .filter_map(|a| Some((a.get_long()?.to_string(), a.get_env()?.to_string_lossy().into_owned())))
            .collect();
        ours.sort();
        let mut contract: Vec<(String, String)> =
            SETTINGS.iter().map(|s| (s.flag.to_string(), s.env.to_string())).collect();
        contract.sort();
        assert_eq!(ours, contract);
        let without_env: Vec<_> = cmd
            .get_arguments()
            .filter(|a| a.get_long().is_some_and(|l| l != "help" && l != "version") && a.get_env().is_none())
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(without_env.is_empty(), "flags outside the contract: {without_env:?}");
    }

    #[test]
    fn a_sampling_ratio_outside_zero_to_one_is_refused_at_start() {
        for bad in ["1.5", "-0.1", "NaN", "half", ""] {
            let e = Config::try_parse_from(["inference-server", "--access-log-sample", bad]);
            assert!(e.is_err(), "{bad} accepted");
        }
        let c = Config::try_parse_from(["inference-server", "--prediction-log-sample", "0.25"]);
        assert_eq!(c.map(|c| c.prediction_log_sample).ok(), Some(0.25));
    }
}
