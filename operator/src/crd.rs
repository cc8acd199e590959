//! `ModelService` (`inferwatch.io/v1alpha1`): one model behind a monitored inference server.
//! Field docs become `kubectl explain` text; CEL rules reject invalid specs at the API server
//! with a message a person understands.

use inferwatch_monitoring::serving::defaults;
use k8s_openapi::api::core::v1::{Affinity, EnvVar, LocalObjectReference, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Desired state of a ModelService. `spec: {model: {kind: sentiment}}` is complete: every other
/// field has a default.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "inferwatch.io",
    version = "v1alpha1",
    kind = "ModelService",
    namespaced,
    shortname = "msvc",
    status = "ModelServiceStatus",
    scale = r#"{"specReplicasPath":".spec.replicas","statusReplicasPath":".status.replicas"}"#,
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".spec.model.kind"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.modelVersion"}"#,
    printcolumn = r#"{"name":"Ready Replicas","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("!(has(self.replicas) && has(self.autoscaling))").message("set either spec.replicas or spec.autoscaling, not both"))]
#[serde(rename_all = "camelCase")]
pub struct ModelServiceSpec {
    /// The model to serve.
    pub model: ModelSpec,
    /// Fixed number of server replicas (0 to 100). Leave unset when `autoscaling` is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 100").message("spec.replicas must be between 0 and 100"))]
    pub replicas: Option<i32>,
    /// Scale on CPU with a HorizontalPodAutoscaler instead of a fixed replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// CPU and memory requests and limits of the inference server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Inference server image; defaults to the operator's configured image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.size() > 0 && !self.contains(' ')").message("spec.image must be an image reference without spaces"))]
    pub image: Option<String>,
    /// Extra environment variables for the server container (at most 100), for settings the
    /// spec has no field for (e.g. `INFERWATCH_LOG`, `INFERWATCH_ACCESS_LOG_SAMPLE`). Variables
    /// of settings the operator renders from the spec are refused: set the spec field instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 100))]
    #[x_kube(validation = env_rule())]
    pub env: Vec<EnvVar>,
    /// Secrets in the ModelService's namespace holding registry credentials for the server
    /// image (the pod's `imagePullSecrets`), for an image in a private registry; at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 10))]
    #[x_kube(validation = Rule::new("self.all(s, has(s.name) && s.name.size() > 0 && s.name.size() <= 253)").message("spec.imagePullSecrets must name Secrets (1 to 253 characters)"))]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Node labels the server pods must carry (the pod's `nodeSelector`), e.g. to keep inference
    /// on a node pool of its own; at most 20 labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 20))]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the server pods tolerate (the pod's `tolerations`), e.g. a dedicated inference
    /// node pool's; at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 20))]
    pub tolerations: Vec<Toleration>,
    /// Node affinity and pod (anti-)affinity of the server pods (the pod's `affinity`), e.g.
    /// spreading replicas over zones. Unset: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Serving limits: cache, concurrency, batch queue.
    #[serde(default)]
    pub serving: ServingSpec,
    /// What watches the model: ServiceMonitor, alert rules, dashboard.
    #[serde(default)]
    pub monitoring: MonitoringSpec,
    /// Online model quality: prediction ids, ground-truth feedback and its targets.
    #[serde(default)]
    pub quality: QualitySpec,
    /// Bearer-token authentication of the API routes (predict, recommend, infer, jobs,
    /// feedback, model metadata). Probes, `/metrics` and dependency health stay open. Unset:
    /// no authentication (put a mesh or gateway in front, or use this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    /// A NetworkPolicy that admits traffic to the server's port only from the ModelService's
    /// own namespace, the namespaces listed here, and Prometheus's namespace.
    #[serde(default)]
    pub network_policy: NetworkPolicySpec,
}

/// Bearer tokens the server's API routes require. The Secret is mounted as a file and read
/// again every 10 s, so a rotation needs no restart: put the new token beside the old one,
/// move the clients, then remove the old one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// Secret in the ModelService's namespace holding the accepted tokens, one per line (blank
    /// lines and `#` comments are skipped). A missing Secret keeps the pod from starting.
    pub token_secret: SecretRef,
    /// The Secret's key that holds the tokens.
    #[serde(default = "tokens_key")]
    #[schemars(extend("maxLength" = 253))]
    #[x_kube(validation = Rule::new("self.size() <= 253 && self.matches('^[-._a-zA-Z0-9]+$')").message("spec.auth.key must be a Secret key: letters, digits, '-', '_' or '.', at most 253"))]
    pub key: String,
}

fn tokens_key() -> String {
    "tokens".into()
}

/// The ModelService's NetworkPolicy (ingress only; the server's egress to its model store and
/// Redis is left alone). It needs a network plugin that enforces NetworkPolicies.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Render the NetworkPolicy. Unset: the operator's default (`networkPolicy.enabledByDefault`
    /// in the chart, on in its values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Namespaces, by name, whose pods may call the server besides the ModelService's own (an
    /// ingress controller's, a gateway's, a client team's); at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 50, "items" = {"type": "string", "maxLength": 63}))]
    #[x_kube(validation = Rule::new("self.size() <= 50 && self.all(n, n.size() <= 63 && n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("spec.networkPolicy.allowedNamespaces must be at most 50 namespace names"))]
    pub allowed_namespaces: Vec<String>,
    /// Namespaces, by name, from which Prometheus scrapes `/metrics`. Unset: the operator's
    /// (`networkPolicy.prometheusNamespaces` in the chart, `monitoring` in its values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxItems" = 50, "items" = {"type": "string", "maxLength": 63}))]
    #[x_kube(validation = Rule::new("self.size() <= 50 && self.all(n, n.size() <= 63 && n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("spec.networkPolicy.metricsNamespaces must be at most 50 namespace names"))]
    pub metrics_namespaces: Option<Vec<String>>,
}

/// Online model quality. Every prediction gets an id; clients send the truth later to
/// `POST /v1/models/{name}/feedback`. Records wait in the batch queue's Redis when
/// `spec.serving.batchQueue` is set (any replica matches feedback for any other, restarts lose
/// nothing), else in each replica's memory (feedback must then reach the replica that
/// predicted: use Redis with more than one replica). Targets left unset default to the model's
/// held-out figure from `model.json`, moved by the tolerance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct QualitySpec {
    /// Prediction ids, feedback and the quality alerts (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Online accuracy below which a warning fires (classifiers; 0 < x <= 1). Unset: held-out
    /// accuracy minus `accuracyTolerance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("spec.quality.accuracyTarget must be above 0 and at most 1"))]
    pub accuracy_target: Option<f64>,
    /// How far below its held-out accuracy a classifier may go (0 <= x < 1; default 0.05).
    #[serde(default = "accuracy_tolerance")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self < 1.0").message("spec.quality.accuracyTolerance must be at least 0 and below 1"))]
    pub accuracy_tolerance: f64,
    /// Online RMSE above which a warning fires (recsys; stars, 0 < x <= 4). Unset: held-out RMSE
    /// plus `rmseTolerance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 4.0").message("spec.quality.rmseTarget must be above 0 and at most 4"))]
    pub rmse_target: Option<f64>,
    /// How far above its held-out RMSE a recommender may go (stars, 0 <= x <= 4; default 0.1).
    #[serde(default = "rmse_tolerance")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 4.0").message("spec.quality.rmseTolerance must be between 0 and 4"))]
    pub rmse_tolerance: f64,
    /// Online MAPE above which a warning fires (trend; a ratio, 0.1 is 10%, 0 < x <= 10). Unset:
    /// held-out MAPE plus `mapeTolerance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 10.0").message("spec.quality.mapeTarget must be above 0 and at most 10"))]
    pub mape_target: Option<f64>,
    /// How far above its held-out MAPE a forecast may go (a ratio, 0 <= x <= 10; default 0.05).
    #[serde(default = "mape_tolerance")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 10.0").message("spec.quality.mapeTolerance must be between 0 and 10"))]
    pub mape_tolerance: f64,
    /// Fewest labelled predictions in an hour before a quality alert may fire (1 to 1000000;
    /// default 50): a handful of answers is not an accuracy.
    #[serde(default = "min_feedback")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 1000000").message("spec.quality.minFeedback must be between 1 and 1000000"))]
    pub min_feedback: i64,
    /// Traffic without any matched feedback for this long fires the info alert
    /// InferwatchFeedbackStarvation (a duration like 6h or 2d; default 24h).
    #[serde(default = "starvation")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(m|h|d)$')").message("spec.quality.feedbackStarvation must be a duration like 30m, 6h or 2d"))]
    pub feedback_starvation: String,
    /// How long a prediction waits for its feedback, in seconds (60 to 7776000, 90 days;
    /// default 604800, 7 days). In Redis each waiting prediction takes about 200 bytes.
    #[serde(default = "prediction_ttl")]
    #[x_kube(validation = Rule::new("self >= 60 && self <= 7776000").message("spec.quality.predictionTtlSeconds must be between 60 and 7776000"))]
    pub prediction_ttl_seconds: i64,
    /// Most predictions each replica keeps in memory when there is no Redis (1000 to 10000000;
    /// default 200000); the oldest go first, counted in inferwatch_prediction_records_dropped_total.
    #[serde(default = "memory_records")]
    #[x_kube(validation = Rule::new("self >= 1000 && self <= 10000000").message("spec.quality.memoryMaxRecords must be between 1000 and 10000000"))]
    pub memory_max_records: i64,
}

fn quality_defaults() -> inferwatch_monitoring::alerts::Quality {
    inferwatch_monitoring::alerts::Quality::default()
}
fn accuracy_tolerance() -> f64 {
    quality_defaults().accuracy.tolerance
}
fn rmse_tolerance() -> f64 {
    quality_defaults().rmse.tolerance
}
fn mape_tolerance() -> f64 {
    quality_defaults().mape.tolerance
}
fn min_feedback() -> i64 {
    i64::try_from(quality_defaults().min_feedback).unwrap_or(i64::MAX)
}
fn starvation() -> String {
    quality_defaults().feedback_starvation
}
fn prediction_ttl() -> i64 {
    i64::try_from(defaults::PREDICTION_TTL_SECS).unwrap_or(i64::MAX)
}
fn memory_records() -> i64 {
    i64::try_from(defaults::PREDICTION_STORE_MAX_RECORDS).unwrap_or(i64::MAX)
}

impl Default for QualitySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            accuracy_target: None,
            accuracy_tolerance: accuracy_tolerance(),
            rmse_target: None,
            rmse_tolerance: rmse_tolerance(),
            mape_target: None,
            mape_tolerance: mape_tolerance(),
            min_feedback: min_feedback(),
            feedback_starvation: starvation(),
            prediction_ttl_seconds: prediction_ttl(),
            memory_max_records: memory_records(),
        }
    }
}

/// The CEL rule that keeps `spec.env` off the settings the operator renders from the spec
/// (`inferwatch_monitoring::serving::OPERATOR_RENDERED`).
fn env_rule() -> kube::core::Rule {
    let names: Vec<&str> = inferwatch_monitoring::serving::OPERATOR_RENDERED.iter().map(|s| s.env).collect();
    let list = names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    let message = format!(
        "spec.env must not set a variable the operator renders from the spec ({}): set the spec field instead (docs/operations.md, \"Settings and spec.env\")",
        names.join(", ")
    );
    kube::core::Rule::new(format!("self.all(e, !(e.name in [{list}]))")).message(message.as_str())
}

/// The model kinds (the serving contract's one definition).
pub use inferwatch_monitoring::serving::ModelKind;

/// Which model, and where its package comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.version) || !self.version.startsWith('@') || (has(self.source) && has(self.source.mlflow))").message("spec.model.version may name an alias (@...) only with an MLflow source"))]
#[x_kube(validation = Rule::new("self.kind != 'tabular' || (has(self.source) && !has(self.source.builtin))").message("spec.model.source must name s3 or mlflow for a tabular model (a team's own package, never built in)"))]
pub struct ModelSpec {
    /// Model kind: sentiment, topic, email, recsys, trend, or tabular (a team's classifier of
    /// tabular rows, from an s3 or mlflow source; docs/model-package.md).
    pub kind: ModelKind,
    /// Package name in the source; defaults to the kind (the built-in package names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9_.]{0,62}[a-z0-9])?$')").message("spec.model.name must be 1-64 lowercase letters, digits, '-', '_' or '.'"))]
    pub name: Option<String>,
    /// The version to serve, pinned. From a built-in or S3 source: the package in
    /// `<name>/<version>/` (or in `<name>/` when its model.json names this version); a package of
    /// another version is refused and the pods do not become Ready. From MLflow: the registry
    /// version (`3`), stage (`Production`) or alias (`@champion`), replacing the one in
    /// `source.mlflow.modelUri`. Changing it rolls the pods; `status.modelVersion` (the VERSION
    /// column) names it once every available pod serves it. Unset: whatever the source holds,
    /// and no version in status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^@?[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$')").message("spec.model.version must be 1-64 letters, digits, '.', '_', '+' or '-' (an MLflow alias starts with '@')"))]
    pub version: Option<String>,
    /// Where the package comes from; built-in when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ModelSource>,
}

/// Exactly one package source.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.builtin), has(self.s3), has(self.mlflow)].filter(x, x).size() == 1").message("spec.model.source must set exactly one of builtin, s3 or mlflow"))]
pub struct ModelSource {
    /// The packages baked into the server image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<BuiltinSource>,
    /// An S3-compatible bucket (MinIO, SeaweedFS, AWS S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Source>,
    /// The MLflow model registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlflow: Option<MlflowSource>,
}

/// The built-in packages (no settings).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
pub struct BuiltinSource {}

/// A package under an S3 prefix.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Source {
    /// `s3://bucket/prefix` of the package directory.
    #[x_kube(validation = Rule::new("self.startsWith('s3://') && self.size() > 5").message("spec.model.source.s3.uri must look like s3://bucket/prefix"))]
    pub uri: String,
    /// Endpoint URL of an S3-compatible server (path-style addressing), e.g. http://minio.minio:9000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("spec.model.source.s3.endpoint must be an http(s) URL"))]
    pub endpoint: Option<String>,
    /// Region (default us-east-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    pub credentials_secret: SecretRef,
}

/// A registered model in MLflow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MlflowSource {
    /// MLflow tracking server URL.
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("spec.model.source.mlflow.trackingUri must be an http(s) URL"))]
    pub tracking_uri: String,
    /// `models:/<name>/<version|stage>` or `models:/<name>@<alias>`.
    #[x_kube(validation = Rule::new("self.matches('^models:/[^/@]+(/[^/]+|@[^/]+)$')").message("spec.model.source.mlflow.modelUri must be models:/<name>/<version|stage> or models:/<name>@<alias>"))]
    pub model_uri: String,
    /// Endpoint of the S3-compatible artifact store the registry's versions live in (MinIO,
    /// SeaweedFS), path-style; leave empty for AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("spec.model.source.mlflow.artifactEndpoint must be an http(s) URL"))]
    pub artifact_endpoint: Option<String>,
    /// Secret with MLFLOW_TRACKING_TOKEN (optional) and the artifact store credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<SecretRef>,
}

/// A Secret in the ModelService's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
pub struct SecretRef {
    /// Secret name.
    pub name: String,
}

/// HorizontalPodAutoscaler settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("spec.autoscaling.minReplicas must not exceed maxReplicas"))]
pub struct Autoscaling {
    /// Fewest replicas (at least 1).
    #[serde(default = "one")]
    #[x_kube(validation = Rule::new("self >= 1").message("spec.autoscaling.minReplicas must be at least 1"))]
    pub min_replicas: i32,
    /// Most replicas (at most 100).
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("spec.autoscaling.maxReplicas must be between 1 and 100"))]
    pub max_replicas: i32,
    /// Average CPU utilisation to aim for, in percent of the request (1 to 100).
    #[serde(default = "cpu_target")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("spec.autoscaling.targetCPUUtilizationPercentage must be between 1 and 100"))]
    #[serde(rename = "targetCPUUtilizationPercentage")]
    pub target_cpu_utilization_percentage: i32,
}

fn one() -> i32 {
    1
}
fn cpu_target() -> i32 {
    70
}

/// Serving limits of the inference server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServingSpec {
    /// Most models kept loaded (1 to 1000).
    #[serde(default = "cache_models")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 1000").message("spec.serving.cacheMaxModels must be between 1 and 1000"))]
    pub cache_max_models: i32,
    /// Most model package bytes kept loaded (at least 1 MiB).
    #[serde(default = "cache_bytes")]
    #[x_kube(validation = Rule::new("self >= 1048576").message("spec.serving.cacheMaxBytes must be at least 1048576 (1 MiB)"))]
    pub cache_max_bytes: i64,
    /// Most inference requests in flight per replica; more get 429 (1 to 100000).
    #[serde(default = "concurrency")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100000").message("spec.serving.concurrencyLimit must be between 1 and 100000"))]
    pub concurrency_limit: i32,
    /// Per-request timeout in milliseconds (100 to 600000).
    #[serde(default = "timeout_ms")]
    #[x_kube(validation = Rule::new("self >= 100 && self <= 600000").message("spec.serving.requestTimeoutMs must be between 100 and 600000"))]
    pub request_timeout_ms: i32,
    /// Optional Redis batch queue for large jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_queue: Option<BatchQueue>,
}

// The serving contract's defaults, in the CRD's integer types (all fit).
fn cache_models() -> i32 {
    i32::try_from(defaults::CACHE_MAX_MODELS).unwrap_or(i32::MAX)
}
fn cache_bytes() -> i64 {
    i64::try_from(defaults::CACHE_MAX_BYTES).unwrap_or(i64::MAX)
}
fn concurrency() -> i32 {
    i32::try_from(defaults::CONCURRENCY_LIMIT).unwrap_or(i32::MAX)
}
fn timeout_ms() -> i32 {
    i32::try_from(defaults::REQUEST_TIMEOUT_MS).unwrap_or(i32::MAX)
}

impl Default for ServingSpec {
    fn default() -> Self {
        Self {
            cache_max_models: cache_models(),
            cache_max_bytes: cache_bytes(),
            concurrency_limit: concurrency(),
            request_timeout_ms: timeout_ms(),
            batch_queue: None,
        }
    }
}

/// The Redis batch queue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchQueue {
    /// Secret with key REDIS_URL (redis://[user:password@]host:port/db, or rediss://... for
    /// TLS).
    pub redis_secret: SecretRef,
    /// For a `rediss://` URL whose certificate a private CA signed: a Secret with that CA's
    /// PEM under `ca.crt` (cert-manager's key). Unset: the image's system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretRef>,
}

/// Everything that watches the model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Labels on every monitoring object of this ModelService: the ServiceMonitor, the
    /// PrometheusRule and the dashboard ConfigMap (at most 32). They merge over the operator-wide
    /// `monitoring.labels` of the Helm chart (for kube-prometheus-stack, `release: <its release>`)
    /// and under the per-object `serviceMonitor.labels` and `dashboard.labels`. The operator's own
    /// `app.kubernetes.io/*` labels cannot be overridden. Keys and values follow the Kubernetes
    /// label syntax; a bad one sets Degraded=True naming it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub labels: BTreeMap<String, String>,
    /// Annotations on the same three objects (at most 32), merged over the operator-wide
    /// `monitoring.annotations`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub annotations: BTreeMap<String, String>,
    /// The ServiceMonitor for prometheus-operator.
    #[serde(default)]
    pub service_monitor: ServiceMonitorSpec,
    /// The PrometheusRule with recording rules and alerts at three severities.
    #[serde(default)]
    pub alerts: AlertsSpec,
    /// The Grafana dashboard ConfigMap (for the Grafana sidecar).
    #[serde(default)]
    pub dashboard: DashboardSpec,
    /// Drift of inputs and predictions against the model's held-out references.
    #[serde(default)]
    pub drift: DriftSpec,
    /// Service level objectives with error budgets and burn-rate alerts.
    #[serde(default)]
    pub slo: SloSpec,
}

/// Service level objectives over user traffic (predict, recommend, v2 infer, batch job
/// submission and finished batch jobs; never probes, scrapes or metadata). The PrometheusRule
/// records each SLI's error ratio over 5m to 3d and over `window`, the error budget remaining
/// and burn rates, and alerts by multi-window, multi-burn-rate: a page
/// (InferwatchErrorBudgetFastBurn) when 2% of the budget burns in 1h or 5% in 6h, a ticket
/// (InferwatchErrorBudgetSlowBurn) when 10% burns in 1d or 3d. See docs/slo.md.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SloSpec {
    /// Share of user requests answered without a 5xx and of batch jobs finished without
    /// failing (0.5 <= x < 1; default 0.995, the team's 99.5% uptime).
    #[serde(default = "availability_objective")]
    #[x_kube(validation = Rule::new("self >= 0.5 && self < 1.0").message("spec.monitoring.slo.availability must be at least 0.5 and below 1"))]
    pub availability: f64,
    /// Share of user requests answered within `latencyThresholdSeconds` (0.5 <= x < 1;
    /// default 0.95: with the 2 s threshold, the team's "P95 < 2 s").
    #[serde(default = "latency_objective")]
    #[x_kube(validation = Rule::new("self >= 0.5 && self < 1.0").message("spec.monitoring.slo.latency must be at least 0.5 and below 1"))]
    pub latency: f64,
    /// The latency threshold in seconds. It must be a bucket edge of the server's latency
    /// histogram (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    /// 0.5, 1, 2, 5 or 10; default 2): a share under a value between edges cannot be counted.
    #[serde(default = "latency_threshold")]
    #[x_kube(validation = Rule::new("self in [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0]").message("spec.monitoring.slo.latencyThresholdSeconds must be a latency bucket edge: 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5 or 10"))]
    pub latency_threshold_seconds: f64,
    /// The SLO window in whole days, 1d to 90d (default 30d); the burn-rate factors follow
    /// from it (14.4, 6, 3 and 1 for 30d).
    #[serde(default = "slo_window")]
    #[x_kube(validation = Rule::new("self.matches('^([1-9]|[1-8][0-9]|90)d$')").message("spec.monitoring.slo.window must be whole days from 1d to 90d, like 30d"))]
    pub window: String,
}

fn slo_defaults() -> inferwatch_monitoring::slo::Objectives {
    inferwatch_monitoring::slo::Objectives::default()
}
fn availability_objective() -> f64 {
    slo_defaults().availability
}
fn latency_objective() -> f64 {
    slo_defaults().latency
}
fn latency_threshold() -> f64 {
    slo_defaults().latency_threshold_seconds
}
fn slo_window() -> String {
    slo_defaults().window()
}

impl Default for SloSpec {
    fn default() -> Self {
        Self {
            availability: availability_objective(),
            latency: latency_objective(),
            latency_threshold_seconds: latency_threshold(),
            window: slo_window(),
        }
    }
}

/// Drift detection. The server counts each prediction's watched features (text length,
/// unknown-token share, predicted label, confidence, unknown users and items, predicted rating,
/// series length and volatility, forecast error) into the bins of the references in
/// `model.json`; recording rules compute the Population Stability Index per feature over
/// `window`, summed across replicas. PSI reads: below 0.1 stable, 0.1 to 0.25 moderate, above
/// 0.25 significant (the default thresholds). See docs/drift.md.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftSpec {
    /// Drift metrics in the server and the drift rules and alerts (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Window the live distribution is taken over (a duration like 30m, 1h or 1d; default 1h).
    /// Longer windows are steadier and slower to notice a shift.
    #[serde(default = "drift_window")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(m|h|d)$')").message("spec.monitoring.drift.window must be a duration like 30m, 1h or 1d"))]
    pub window: String,
    /// PSI of an input feature above which the info alert InferwatchInputDrift fires
    /// (0 < x <= 10; default 0.25).
    #[serde(default = "psi_significant")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 10.0").message("spec.monitoring.drift.inputThreshold must be above 0 and at most 10"))]
    pub input_threshold: f64,
    /// PSI of a prediction feature above which the info alert InferwatchPredictionDrift fires
    /// (0 < x <= 10; default 0.25).
    #[serde(default = "psi_significant")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 10.0").message("spec.monitoring.drift.predictionThreshold must be above 0 and at most 10"))]
    pub prediction_threshold: f64,
    /// Fewest observations of a feature in the window before its PSI is computed (1 to
    /// 10000000; default 200): a quiet model does not alert on noise.
    #[serde(default = "drift_min_observations")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 10000000").message("spec.monitoring.drift.minObservations must be between 1 and 10000000"))]
    pub min_observations: i64,
}

fn drift_defaults() -> inferwatch_monitoring::drift::Drift {
    inferwatch_monitoring::drift::Drift::default()
}
fn drift_window() -> String {
    drift_defaults().window
}
fn psi_significant() -> f64 {
    inferwatch_monitoring::drift::PSI_SIGNIFICANT
}
fn drift_min_observations() -> i64 {
    i64::try_from(drift_defaults().min_observations).unwrap_or(i64::MAX)
}

impl Default for DriftSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            window: drift_window(),
            input_threshold: psi_significant(),
            prediction_threshold: psi_significant(),
            min_observations: drift_min_observations(),
        }
    }
}

/// ServiceMonitor settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// Create a ServiceMonitor (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Scrape interval, e.g. 30s or 1m.
    #[serde(default = "interval")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(ms|s|m|h)$')").message("spec.monitoring.serviceMonitor.interval must be a duration like 15s, 1m"))]
    pub interval: String,
    /// Extra labels on the ServiceMonitor only (at most 32), merged over `spec.monitoring.labels`.
    /// For the `release` label kube-prometheus-stack selects by, prefer the chart's operator-wide
    /// `monitoring.labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub labels: BTreeMap<String, String>,
}

/// Alert SLOs; defaults are the monitoring contract's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertsSpec {
    /// Create the PrometheusRule (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// 5xx ratio of user requests over 5m above which a warning fires (0 < x < 1; default
    /// 0.01, the team's "error rate < 1%"). Pages come from the availability SLO's burn rate
    /// (`spec.monitoring.slo`).
    #[serde(default = "err_warn")]
    #[x_kube(validation = Rule::new("self > 0.0 && self < 1.0").message("spec.monitoring.alerts.errorRatioWarning must be between 0 and 1"))]
    pub error_ratio_warning: f64,
    /// Resident memory / container limit above which a warning fires (0 < x <= 1).
    #[serde(default = "mem")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("spec.monitoring.alerts.memoryRatio must be above 0 and at most 1"))]
    pub memory_ratio: f64,
    /// Cache hit ratio below which a warning fires under real traffic (0 <= x <= 1).
    #[serde(default = "hit")]
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 1.0").message("spec.monitoring.alerts.cacheHitRatioFloor must be between 0 and 1"))]
    pub cache_hit_ratio_floor: f64,
    /// Extra labels on every alert (team, service, ...), at most 32; names follow Prometheus'
    /// label-name syntax. These go on each alert, not on the PrometheusRule object: labels that a
    /// Prometheus' `ruleSelector` matches belong in `spec.monitoring.labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub labels: BTreeMap<String, String>,
}

/// Grafana dashboard settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSpec {
    /// Create the dashboard ConfigMap (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Grafana folder (the sidecar's folder annotation).
    #[serde(default = "folder")]
    pub folder: String,
    /// Extra labels on the dashboard ConfigMap only (at most 32), merged over
    /// `spec.monitoring.labels`; the Grafana sidecar's default `grafana_dashboard: "1"` is always set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub labels: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}
fn interval() -> String {
    "30s".into()
}
fn folder() -> String {
    "Inferwatch".into()
}
fn err_warn() -> f64 {
    inferwatch_monitoring::alerts::Slo::default().error_ratio_warning
}
fn mem() -> f64 {
    inferwatch_monitoring::alerts::Slo::default().memory_ratio
}
fn hit() -> f64 {
    inferwatch_monitoring::alerts::Slo::default().cache_hit_ratio_floor
}

impl Default for ServiceMonitorSpec {
    fn default() -> Self {
        Self { enabled: true, interval: interval(), labels: BTreeMap::new() }
    }
}

impl Default for AlertsSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            error_ratio_warning: err_warn(),
            memory_ratio: mem(),
            cache_hit_ratio_floor: hit(),
            labels: BTreeMap::new(),
        }
    }
}

impl Default for DashboardSpec {
    fn default() -> Self {
        Self { enabled: true, folder: folder(), labels: BTreeMap::new() }
    }
}

/// Observed state, written by the operator only when it changes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelServiceStatus {
    /// Ready, Progressing, Degraded and MonitoringReady, with transition times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Server replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Replicas that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// In-cluster URL of the inference endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The pinned model version every available pod serves (pods become Ready only with the
    /// pinned version loaded). During a rollout it names the version being replaced until every
    /// pod serves the new one; empty when no version is pinned or no pod is available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
}
