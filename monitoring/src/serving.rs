//! The serving contract between the operator and the inference server: the model kinds, the
//! serving defaults, and the names of the server's flags and environment variables.
//!
//! The server's `Config` declares its flags with these names and defaults; the operator renders
//! Deployments from them; a test on each side checks it uses only what this module lists. Both
//! binaries therefore agree by construction, not by copy.

use serde::{Deserialize, Serialize};

/// What a model does: the dashboards, alerts and API shape it gets. The five demo kinds, and
/// `tabular` for a team's own classifier of tabular rows. How a package computes its answer (the
/// family: hashed n-grams, a transformer, a tabular graph) is `model.json`'s `featurizer.type`,
/// not the kind (docs/model-package.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// negative / neutral / positive text classification.
    Sentiment,
    /// 20 Newsgroups topic classification.
    Topic,
    /// spam / ham email classification.
    Email,
    /// rating prediction and top-k recommendations.
    Recsys,
    /// time-series forecast and trend analysis.
    Trend,
    /// classification of tabular rows (named numeric and categorical features), e.g. a
    /// scikit-learn pipeline exported with skl2onnx.
    Tabular,
}

impl ModelKind {
    /// Every kind, in documentation order.
    pub const ALL: [ModelKind; 6] =
        [Self::Sentiment, Self::Topic, Self::Email, Self::Recsys, Self::Trend, Self::Tabular];

    /// The kinds with a built-in package in the server image (`models/<kind>/`).
    pub const BUILT_IN: [ModelKind; 5] = [Self::Sentiment, Self::Topic, Self::Email, Self::Recsys, Self::Trend];

    /// The lowercase name used in `model.json`, the CRD, metric labels and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sentiment => "sentiment",
            Self::Topic => "topic",
            Self::Email => "email",
            Self::Recsys => "recsys",
            Self::Trend => "trend",
            Self::Tabular => "tabular",
        }
    }

    /// The text classifiers (one implementation for the three).
    pub fn is_text(self) -> bool {
        matches!(self, Self::Sentiment | Self::Topic | Self::Email)
    }

    /// The classifiers: a label per item from a probability per label (accuracy, calibration,
    /// confusion and label feedback).
    pub fn is_classifier(self) -> bool {
        self.is_text() || self == Self::Tabular
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serving defaults: what the server uses when a flag is absent, and what the CRD documents.
pub mod defaults {
    /// HTTP port of the server (the container port the operator renders).
    pub const PORT: u16 = 8080;
    /// Most models kept loaded.
    pub const CACHE_MAX_MODELS: u64 = 16;
    /// Most model package bytes kept loaded (512 MiB).
    pub const CACHE_MAX_BYTES: u64 = 512 * 1024 * 1024;
    /// Largest accepted request body in bytes (2 MiB).
    pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
    /// Most items in one predict request.
    pub const MAX_BATCH_ITEMS: usize = 256;
    /// Longest accepted text in bytes.
    pub const MAX_TEXT_BYTES: usize = 100_000;
    /// Per-request timeout in milliseconds.
    pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
    /// Most inference requests in flight per replica.
    pub const CONCURRENCY_LIMIT: usize = 256;
    /// Bytes of request bodies read and decoded at once per replica (32 MiB: sixteen bodies of
    /// the largest size, or hundreds of thousands of ordinary ones).
    pub const BODY_MEMORY_BYTES: usize = 32 * 1024 * 1024;
    /// Most open client connections per replica; one more is closed at once.
    pub const MAX_CONNECTIONS: u32 = 1_024;
    /// Milliseconds a client has to send a request's headers, counted from the connection's
    /// start or the end of its previous answer (so also the keep-alive idle limit).
    pub const HEADER_READ_TIMEOUT_MS: u64 = 30_000;
    /// Longest wait, in milliseconds, for open connections to finish once the server is told
    /// to stop; the rest are then closed. Below Kubernetes' default 30 s grace period, so the
    /// batch workers' stop and the prediction-record flush that follow still end before SIGKILL.
    pub const DRAIN_TIMEOUT_MS: u64 = 20_000;
    /// S3 region when none is given.
    pub const S3_REGION: &str = "us-east-1";
    /// Batch jobs processed at once per replica.
    pub const JOB_WORKERS: u16 = 2;
    /// Most items in one batch job.
    pub const MAX_JOB_ITEMS: usize = 10_000;
    /// How long a job and its results are kept from submission, in seconds (one day).
    pub const JOB_RESULT_TTL_SECS: u64 = 86_400;
    /// Most unfinished jobs in the queue (all replicas together); more are refused 429.
    pub const MAX_QUEUED_JOBS: usize = 10_000;
    /// Runs of one job before it is dead-lettered (transient failures, or workers that stopped).
    pub const JOB_MAX_ATTEMPTS: u32 = 5;
    /// Idle time after which a taken job is reclaimed, in milliseconds.
    pub const JOB_CLAIM_IDLE_MS: u64 = 60_000;
    /// How long a prediction waits for its feedback, in seconds (seven days; Arize joins
    /// delayed actuals over 14).
    pub const PREDICTION_TTL_SECS: u64 = 7 * 86_400;
    /// Most prediction records the in-memory store keeps (the oldest go first).
    pub const PREDICTION_STORE_MAX_RECORDS: usize = 200_000;
    /// Most items in one feedback request.
    pub const MAX_FEEDBACK_ITEMS: usize = 1_000;
    /// Share of requests that get an access line (5xx answers always do).
    pub const ACCESS_LOG_SAMPLE: f64 = 1.0;
    /// Share of predictions that get a prediction line.
    pub const PREDICTION_LOG_SAMPLE: f64 = 0.1;
    /// Most access lines, and most prediction lines, written per second (each; 0: no cap).
    pub const LOG_MAX_LINES_PER_SECOND: u32 = 1_000;
    /// Most payload bytes in one prediction line (longer payloads are cut at a character edge).
    pub const PREDICTION_LOG_PAYLOAD_BYTES: usize = 2_048;
}

/// One server setting: its command-line flag (without `--`) and its environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// `--<flag>`.
    pub flag: &'static str,
    /// The environment fallback.
    pub env: &'static str,
    /// What it sets (its doc comment; `docs/server-settings.md` lists them).
    pub help: &'static str,
}

macro_rules! settings {
    ($($(#[doc = $doc:literal])* $name:ident = $flag:literal, $env:literal;)*) => {
        /// The server's settings, one constant each.
        pub mod settings {
            use super::Setting;
            $($(#[doc = $doc])* pub const $name: Setting =
                Setting { flag: $flag, env: $env, help: concat!($($doc),*) };)*
        }
        /// Every setting the server accepts.
        pub const SETTINGS: &[Setting] = &[$(settings::$name),*];
    };
}

settings! {
    /// Address to listen on.
    HOST = "host", "INFERWATCH_HOST";
    /// Port to listen on.
    PORT = "port", "INFERWATCH_PORT";
    /// Directory of model packages.
    MODEL_DIR = "model-dir", "INFERWATCH_MODEL_DIR";
    /// Models loaded at start (`/ready` waits for them).
    PRELOAD = "preload", "INFERWATCH_PRELOAD";
    /// Most models kept loaded.
    CACHE_MAX_MODELS = "cache-max-models", "INFERWATCH_CACHE_MAX_MODELS";
    /// Most package bytes kept loaded.
    CACHE_MAX_BYTES = "cache-max-bytes", "INFERWATCH_CACHE_MAX_BYTES";
    /// Largest request body.
    MAX_BODY_BYTES = "max-body-bytes", "INFERWATCH_MAX_BODY_BYTES";
    /// Most items per predict request.
    MAX_BATCH_ITEMS = "max-batch-items", "INFERWATCH_MAX_BATCH_ITEMS";
    /// Longest text.
    MAX_TEXT_BYTES = "max-text-bytes", "INFERWATCH_MAX_TEXT_BYTES";
    /// Per-request timeout.
    REQUEST_TIMEOUT_MS = "request-timeout-ms", "INFERWATCH_REQUEST_TIMEOUT_MS";
    /// Most inference requests in flight.
    CONCURRENCY_LIMIT = "concurrency-limit", "INFERWATCH_CONCURRENCY_LIMIT";
    /// Bytes of request bodies read at once.
    BODY_MEMORY_BYTES = "body-memory-bytes", "INFERWATCH_BODY_MEMORY_BYTES";
    /// Most open client connections.
    MAX_CONNECTIONS = "max-connections", "INFERWATCH_MAX_CONNECTIONS";
    /// Time to send request headers, and the keep-alive idle limit.
    HEADER_READ_TIMEOUT_MS = "header-read-timeout-ms", "INFERWATCH_HEADER_READ_TIMEOUT_MS";
    /// A file of bearer tokens the API routes require (one per line).
    AUTH_TOKEN_FILE = "auth-token-file", "INFERWATCH_AUTH_TOKEN_FILE";
    /// Longest wait for open connections at shutdown.
    DRAIN_TIMEOUT_MS = "drain-timeout-ms", "INFERWATCH_DRAIN_TIMEOUT_MS";
    /// Dynamic batching of text models.
    DYNAMIC_BATCHING = "dynamic-batching", "INFERWATCH_DYNAMIC_BATCHING";
    /// Request and per-model metrics on or off.
    METRICS = "metrics", "INFERWATCH_METRICS";
    /// local, s3 or mlflow.
    MODEL_SOURCE = "model-source", "INFERWATCH_MODEL_SOURCE";
    /// `s3://bucket/prefix` of the packages.
    S3_URI = "s3-uri", "INFERWATCH_S3_URI";
    /// S3-compatible endpoint.
    S3_ENDPOINT = "s3-endpoint", "INFERWATCH_S3_ENDPOINT";
    /// S3 region.
    S3_REGION = "s3-region", "INFERWATCH_S3_REGION";
    /// Disk cache of downloaded packages.
    MODEL_CACHE_DIR = "model-cache-dir", "INFERWATCH_MODEL_CACHE_DIR";
    /// MLflow tracking server.
    MLFLOW_TRACKING_URI = "mlflow-tracking-uri", "INFERWATCH_MLFLOW_TRACKING_URI";
    /// The registered model to serve.
    MLFLOW_MODEL_URI = "mlflow-model-uri", "INFERWATCH_MLFLOW_MODEL_URI";
    /// The package version to serve (pinned; loading anything else fails).
    MODEL_VERSION = "model-version", "INFERWATCH_MODEL_VERSION";
    /// Bearer token for MLflow (MLflow's own variable name).
    MLFLOW_TOKEN = "mlflow-token", "MLFLOW_TRACKING_TOKEN";
    /// Redis URL of the batch queue.
    REDIS_URL = "redis-url", "INFERWATCH_REDIS_URL";
    /// CA of Redis's TLS certificate (`rediss://`).
    REDIS_CA_FILE = "redis-ca-file", "INFERWATCH_REDIS_CA_FILE";
    /// Batch workers per replica.
    JOB_WORKERS = "job-workers", "INFERWATCH_JOB_WORKERS";
    /// Most items per batch job.
    MAX_JOB_ITEMS = "max-job-items", "INFERWATCH_MAX_JOB_ITEMS";
    /// How long finished jobs are kept.
    JOB_RESULT_TTL_SECS = "job-result-ttl-secs", "INFERWATCH_JOB_RESULT_TTL_SECS";
    /// Most unfinished jobs in the queue.
    MAX_QUEUED_JOBS = "max-queued-jobs", "INFERWATCH_MAX_QUEUED_JOBS";
    /// Runs of one job before it is dead-lettered.
    JOB_MAX_ATTEMPTS = "job-max-attempts", "INFERWATCH_JOB_MAX_ATTEMPTS";
    /// Idle time before a taken job is reclaimed.
    JOB_CLAIM_IDLE_MS = "job-claim-idle-ms", "INFERWATCH_JOB_CLAIM_IDLE_MS";
    /// Prediction ids and records for feedback on or off.
    PREDICTION_IDS = "prediction-ids", "INFERWATCH_PREDICTION_IDS";
    /// Where prediction records wait for feedback: auto (Redis when `--redis-url` is set),
    /// memory or redis.
    PREDICTION_STORE = "prediction-store", "INFERWATCH_PREDICTION_STORE";
    /// How long a prediction record waits for feedback.
    PREDICTION_TTL_SECS = "prediction-ttl-secs", "INFERWATCH_PREDICTION_TTL_SECS";
    /// Most records the memory store keeps.
    PREDICTION_STORE_MAX_RECORDS = "prediction-store-max-records", "INFERWATCH_PREDICTION_STORE_MAX_RECORDS";
    /// Drift metrics (live feature bins beside the held-out references) on or off.
    DRIFT_METRICS = "drift-metrics", "INFERWATCH_DRIFT_METRICS";
    /// The container's CPU request in millicores (the operator sets it from the pod spec;
    /// exported for capacity where no CPU limit is set).
    CPU_REQUEST_MILLICORES = "cpu-request-millicores", "INFERWATCH_CPU_REQUEST_MILLICORES";
    /// The most replicas the deployment may run (exported for capacity headroom).
    MAX_REPLICAS = "max-replicas", "INFERWATCH_MAX_REPLICAS";
    /// Most items per feedback request.
    MAX_FEEDBACK_ITEMS = "max-feedback-items", "INFERWATCH_MAX_FEEDBACK_ITEMS";
    /// Share of requests that get an access line (0 to 1; 5xx answers always do).
    ACCESS_LOG_SAMPLE = "access-log-sample", "INFERWATCH_ACCESS_LOG_SAMPLE";
    /// Share of predictions that get a prediction line (0 to 1).
    PREDICTION_LOG_SAMPLE = "prediction-log-sample", "INFERWATCH_PREDICTION_LOG_SAMPLE";
    /// Whether prediction lines carry the input (text, email, series, user and item).
    PREDICTION_LOG_PAYLOAD = "prediction-log-payload", "INFERWATCH_PREDICTION_LOG_PAYLOAD";
    /// Most access lines, and most prediction lines, per second (0: no cap).
    LOG_MAX_LINES_PER_SECOND = "log-max-lines-per-second", "INFERWATCH_LOG_MAX_LINES_PER_SECOND";
    /// json or pretty.
    LOG_FORMAT = "log-format", "INFERWATCH_LOG_FORMAT";
    /// tracing env-filter.
    LOG = "log", "INFERWATCH_LOG";
}

/// The settings the operator renders from a ModelService's spec (as flags, or as variables from
/// the spec's sources and Secrets). A ModelService's `spec.env` may not set them: a flag wins
/// over its variable, so the entry would be silently ignored, and a variable the operator sets
/// from the spec would be replaced behind the spec's back. The CRD refuses such an entry (a CEL
/// rule built from this list); the operator's tests check the list covers what it renders.
pub const OPERATOR_RENDERED: &[Setting] = &[
    settings::PORT,
    settings::MODEL_DIR,
    settings::PRELOAD,
    settings::CACHE_MAX_MODELS,
    settings::CACHE_MAX_BYTES,
    settings::CONCURRENCY_LIMIT,
    settings::REQUEST_TIMEOUT_MS,
    settings::LOG_FORMAT,
    settings::PREDICTION_IDS,
    settings::PREDICTION_TTL_SECS,
    settings::PREDICTION_STORE_MAX_RECORDS,
    settings::DRIFT_METRICS,
    settings::MAX_REPLICAS,
    settings::CPU_REQUEST_MILLICORES,
    settings::MODEL_VERSION,
    settings::AUTH_TOKEN_FILE,
    settings::REDIS_CA_FILE,
    settings::REDIS_URL,
    settings::MODEL_SOURCE,
    settings::S3_URI,
    settings::S3_ENDPOINT,
    settings::S3_REGION,
    settings::MLFLOW_TRACKING_URI,
    settings::MLFLOW_MODEL_URI,
    settings::MLFLOW_TOKEN,
];

/// Environment variables the server reads that are not flags: S3 credentials, read by the
/// S3 client (`object_store`'s `AmazonS3Builder::from_env`).
pub const CREDENTIAL_ENV: &[&str] = &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// Whether the server reads `name` from its environment (a setting or a credential).
pub fn server_reads_env(name: &str) -> bool {
    SETTINGS.iter().any(|s| s.env == name) || CREDENTIAL_ENV.contains(&name)
}

/// The setting whose flag is `flag` (without `--`).
pub fn setting_for_flag(flag: &str) -> Option<Setting> {
    SETTINGS.iter().copied().find(|s| s.flag == flag)
}

/// What a model version may be (`spec.model.version`, `--model-version`): a package version
/// (`1.2.0`), an MLflow registry version or stage (`3`, `Production`), or, for an MLflow source
/// only, an alias (`@champion`). The CRD's CEL rule and the server check the same pattern.
pub const MODEL_VERSION_PATTERN: &str = "^@?[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$";

/// Whether `v` matches [`MODEL_VERSION_PATTERN`] (a path segment: no `/`, no `..` prefix).
pub fn valid_model_version(v: &str) -> bool {
    let body = v.strip_prefix('@').unwrap_or(v);
    let mut chars = body.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && body.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
}

/// `--<flag>=<value>`, the form the operator renders.
pub fn arg(setting: Setting, value: impl std::fmt::Display) -> String {
    format!("--{}={value}", setting.flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_versions_are_single_path_segments() {
        for good in ["1.0.0", "3", "Production", "@champion", "2026-12-07+build.1", "v1_rc-2"] {
            assert!(valid_model_version(good), "{good}");
        }
        for bad in ["", "@", "../1", "1/2", ".hidden", "-1", "a b", "@@x", &"9".repeat(65)] {
            assert!(!valid_model_version(bad), "{bad:?}");
        }
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in ModelKind::ALL {
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, k.as_str());
            assert_eq!(serde_json::from_value::<ModelKind>(json).unwrap(), k);
        }
    }

    #[test]
    fn settings_have_distinct_flags_and_env_names() {
        let flags: std::collections::BTreeSet<_> = SETTINGS.iter().map(|s| s.flag).collect();
        let envs: std::collections::BTreeSet<_> = SETTINGS.iter().map(|s| s.env).collect();
        assert_eq!(flags.len(), SETTINGS.len());
        assert_eq!(envs.len(), SETTINGS.len());
        assert_eq!(arg(settings::PORT, 8080), "--port=8080");
        assert!(server_reads_env("AWS_ACCESS_KEY_ID") && !server_reads_env("INFERWATCH_NOPE"));
    }
}
