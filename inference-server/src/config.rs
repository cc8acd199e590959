//! Server configuration: flags with environment fallbacks.

use clap::{Parser, ValueEnum};
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

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (containers).
    Json,
    /// Human-readable (terminals).
    Pretty,
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
    #[arg(long, env = "INFERWATCH_HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on.
    #[arg(long, env = "INFERWATCH_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Directory of model packages (one sub-directory per model).
    #[arg(long, env = "INFERWATCH_MODEL_DIR", default_value = "models")]
    pub model_dir: PathBuf,
    /// Models to load at start-up, comma-separated, or `all`; `/ready` waits for them.
    #[arg(long, env = "INFERWATCH_PRELOAD", default_value = "all", value_delimiter = ',')]
    pub preload: Vec<String>,
    /// Most models kept loaded.
    #[arg(long, env = "INFERWATCH_CACHE_MAX_MODELS", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_max_models: u64,
    /// Most model package bytes kept loaded.
    #[arg(long, env = "INFERWATCH_CACHE_MAX_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub cache_max_bytes: u64,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "INFERWATCH_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most items in one batch request.
    #[arg(long, env = "INFERWATCH_MAX_BATCH_ITEMS", default_value_t = 256)]
    pub max_batch_items: usize,
    /// Longest accepted text in bytes.
    #[arg(long, env = "INFERWATCH_MAX_TEXT_BYTES", default_value_t = 100_000)]
    pub max_text_bytes: usize,
    /// Per-request timeout in milliseconds (504 beyond it).
    #[arg(long, env = "INFERWATCH_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Most inference requests in flight at once (429 beyond it).
    #[arg(long, env = "INFERWATCH_CONCURRENCY_LIMIT", default_value_t = 256)]
    pub concurrency_limit: usize,
    /// Let concurrent requests to a text model (sentiment, topic, email) share one model run.
    /// Opportunistic: adds no waiting, only batches requests that are already in.
    #[arg(long, env = "INFERWATCH_DYNAMIC_BATCHING", default_value_t = true, action = clap::ArgAction::Set)]
    pub dynamic_batching: bool,
    /// Record request and per-model metrics (the `/metrics` endpoint stays up either way).
    #[arg(long, env = "INFERWATCH_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,
    /// Where model packages come from: the local directory (`--model-dir`) or S3.
    #[arg(long, env = "INFERWATCH_MODEL_SOURCE", value_enum, default_value_t = ModelSource::Local)]
    pub model_source: ModelSource,
    /// S3 location of the packages, `s3://bucket/prefix` (one folder per package).
    #[arg(long, env = "INFERWATCH_S3_URI", required_if_eq("model_source", "s3"))]
    pub s3_uri: Option<String>,
    /// Endpoint of an S3-compatible server such as MinIO (path-style addressing; http allowed).
    #[arg(long, env = "INFERWATCH_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "INFERWATCH_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Local directory where downloaded packages are cached (a restart loads from it when the
    /// store is down).
    #[arg(long, env = "INFERWATCH_MODEL_CACHE_DIR", default_value = "/tmp/inferwatch-model-cache")]
    pub model_cache_dir: PathBuf,
    /// MLflow tracking server URL (`--model-source mlflow`).
    #[arg(long, env = "INFERWATCH_MLFLOW_TRACKING_URI", required_if_eq("model_source", "mlflow"))]
    pub mlflow_tracking_uri: Option<String>,
    /// The registered model to serve: `models:/<name>/<version|stage>` or `models:/<name>@<alias>`.
    #[arg(long, env = "INFERWATCH_MLFLOW_MODEL_URI", required_if_eq("model_source", "mlflow"))]
    pub mlflow_model_uri: Option<String>,
    /// Bearer token for the MLflow server.
    #[arg(long, env = "MLFLOW_TRACKING_TOKEN", hide_env_values = true)]
    pub mlflow_token: Option<String>,
    /// Redis URL of the batch queue (redis://[user:password@]host:port/db); turns the batch
    /// job endpoints on and makes Redis a required dependency of `/ready`.
    #[arg(long, env = "INFERWATCH_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Batch jobs processed at once by this server; 0 makes an API-only replica that accepts
    /// jobs for other replicas to process.
    #[arg(long, env = "INFERWATCH_JOB_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub job_workers: u16,
    /// Most items in one batch job.
    #[arg(long, env = "INFERWATCH_MAX_JOB_ITEMS", default_value_t = 10_000)]
    pub max_job_items: usize,
    /// How long finished jobs and their results are kept, in seconds.
    #[arg(long, env = "INFERWATCH_JOB_RESULT_TTL_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    pub job_result_ttl_secs: u64,
    /// A job taken by a worker that has not finished it for this long (milliseconds) is
    /// reclaimed by another worker (the first one is presumed dead).
    #[arg(long, env = "INFERWATCH_JOB_CLAIM_IDLE_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub job_claim_idle_ms: u64,
    /// Log format.
    #[arg(long, env = "INFERWATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// Log filter (tracing env-filter syntax).
    #[arg(long, env = "INFERWATCH_LOG", default_value = "info")]
    pub log: String,
}
