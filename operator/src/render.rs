//! `render`: a pure function from a ModelService and the operator's configuration to the
//! objects that should exist. No client, no I/O; the reconciler applies what this returns.

use crate::crd::ModelService;
use crate::meta::{self, Decoration, MetaError};
use inferwatch_monitoring::serving::{arg, defaults, settings};
use inferwatch_monitoring::{alerts, dashboards};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction,
    Lifecycle, LifecycleHandler, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceFieldSelector,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext, Service, ServicePort,
    ServiceSpec, SleepAction, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Operator-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorConfig {
    /// Default inference server image.
    pub image: String,
    /// Base URL of the runbooks.
    pub runbook_base: String,
    /// Base URL of Grafana, for alert `dashboard_url`s.
    pub grafana_url: String,
    /// Labels and annotations on every ServiceMonitor, PrometheusRule and dashboard ConfigMap
    /// (the chart's `monitoring.labels`/`annotations`; for kube-prometheus-stack
    /// `release: <its release name>`, which its Prometheus selects by).
    pub monitoring: Decoration,
    /// Whether a ModelService that does not say gets a NetworkPolicy.
    pub network_policy_default: bool,
    /// Namespaces Prometheus scrapes from, for NetworkPolicies that do not name them.
    pub prometheus_namespaces: Vec<String>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            image: "ghcr.io/inferwatch/inference-server:0.1.0".into(),
            runbook_base: alerts::Scope::default().runbook_base,
            grafana_url: "http://grafana".into(),
            monitoring: Decoration::default(),
            network_policy_default: false,
            prometheus_namespaces: vec!["monitoring".into()],
        }
    }
}

/// `monitoring.coreos.com/v1` ServiceMonitor: the fields Inferwatch sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitor {
    /// Always `monitoring.coreos.com/v1`.
    pub api_version: String,
    /// Always `ServiceMonitor`.
    pub kind: String,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: ServiceMonitorSpec,
}

/// ServiceMonitor spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceMonitorSpec {
    /// Services to scrape.
    pub selector: LabelSelector,
    /// Endpoints.
    pub endpoints: Vec<MonitorEndpoint>,
}

/// One scraped port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorEndpoint {
    /// Service port name.
    pub port: String,
    /// Metrics path.
    pub path: String,
    /// Scrape interval.
    pub interval: String,
}

/// `monitoring.coreos.com/v1` PrometheusRule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRule {
    /// Always `monitoring.coreos.com/v1`.
    pub api_version: String,
    /// Always `PrometheusRule`.
    pub kind: String,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The rule groups.
    pub spec: alerts::RuleFile,
}

/// Everything one ModelService wants to exist.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The inference server.
    pub deployment: Deployment,
    /// Its Service.
    pub service: Service,
    /// When autoscaling is on.
    pub hpa: Option<HorizontalPodAutoscaler>,
    /// When more than one replica can run.
    pub pdb: Option<PodDisruptionBudget>,
    /// When the ServiceMonitor is enabled.
    pub service_monitor: Option<ServiceMonitor>,
    /// When alerts are enabled.
    pub prometheus_rule: Option<PrometheusRule>,
    /// When the dashboard is enabled.
    pub dashboard: Option<ConfigMap>,
    /// When `spec.networkPolicy` (or the operator's default) asks for one.
    pub network_policy: Option<NetworkPolicy>,
}

/// Why a ModelService cannot be rendered (the API server's CEL rules catch most of these).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The object has no namespace or uid yet.
    #[error("ModelService is missing metadata.{0}")]
    Metadata(&'static str),
    /// Serialising a generated document failed.
    #[error("cannot encode {0}")]
    Encode(String),
    /// A label or annotation Kubernetes or Prometheus would refuse.
    #[error(transparent)]
    Label(#[from] MetaError),
}

const PORT: i32 = defaults::PORT as i32;

/// Labels that select the server pods of one ModelService.
pub fn selector_labels(ms: &ModelService) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "inferwatch-inference".to_string()),
        ("app.kubernetes.io/instance".to_string(), ms.name_any()),
    ])
}

fn labels(ms: &ModelService) -> BTreeMap<String, String> {
    let mut l = selector_labels(ms);
    l.insert("app.kubernetes.io/component".into(), "inference-server".into());
    l.insert("app.kubernetes.io/part-of".into(), "inferwatch".into());
    l.insert("app.kubernetes.io/managed-by".into(), "inferwatch-operator".into());
    l.insert("inferwatch.io/model-kind".into(), ms.spec.model.kind.as_str().into());
    l
}

fn meta(ms: &ModelService, name: String, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: ms.namespace(),
        labels: Some(labels(ms)),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// Metadata of a monitoring object: the operator-wide labels and annotations, then the
/// ModelService's `spec.monitoring` ones, then the object's own `labels` (each layer winning over
/// the one before), with the operator's labels plus `fixed` winning over all.
fn monitoring_meta(
    ms: &ModelService,
    cfg: &OperatorConfig,
    name: String,
    owner: &OwnerReference,
    object_labels: &BTreeMap<String, String>,
    fixed: Decoration,
) -> ObjectMeta {
    let mon = &ms.spec.monitoring;
    let mut own = labels(ms);
    own.extend(fixed.labels);
    let labels = meta::merge(&[&cfg.monitoring.labels, &mon.labels, object_labels], own);
    let annotations = meta::merge(&[&cfg.monitoring.annotations, &mon.annotations], fixed.annotations);
    ObjectMeta {
        name: Some(name),
        namespace: ms.namespace(),
        labels: Some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// Every label and annotation a ModelService sets, checked before anything is rendered.
fn check_metadata(ms: &ModelService) -> Result<(), MetaError> {
    let mon = &ms.spec.monitoring;
    meta::check_labels("spec.monitoring.labels", &mon.labels)?;
    meta::check_annotations("spec.monitoring.annotations", &mon.annotations)?;
    meta::check_labels("spec.monitoring.serviceMonitor.labels", &mon.service_monitor.labels)?;
    meta::check_labels("spec.monitoring.dashboard.labels", &mon.dashboard.labels)?;
    meta::check_alert_labels("spec.monitoring.alerts.labels", &mon.alerts.labels)
}

fn secret_env(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: secret.into(), key: key.into(), optional: Some(optional) }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..EnvVar::default() }
}

/// The container's CPU request in millicores through the Downward API, when it has one: the
/// server exports it (`inferwatch_cpu_request_cores`) and the capacity rules use it where no
/// CPU limit is set (the default resources set none).
fn cpu_request_env(resources: &ResourceRequirements) -> Option<EnvVar> {
    let request = resources.requests.as_ref()?.get("cpu")?;
    if request.0.trim_start_matches(['0', '.']).trim_end_matches('m').is_empty() {
        return None;
    }
    Some(EnvVar {
        name: settings::CPU_REQUEST_MILLICORES.env.into(),
        value_from: Some(EnvVarSource {
            resource_field_ref: Some(ResourceFieldSelector {
                container_name: Some(CONTAINER.into()),
                resource: "requests.cpu".into(),
                divisor: Some(Quantity("1m".into())),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    })
}

/// Environment for the model source and batch queue (read by the server's S3, MLflow and
/// Redis support).
fn source_env(ms: &ModelService) -> Vec<EnvVar> {
    let mut env = Vec::new();
    if let Some(src) = &ms.spec.model.source {
        if let Some(s3) = &src.s3 {
            env.push(plain_env(settings::MODEL_SOURCE.env, "s3"));
            env.push(plain_env(settings::S3_URI.env, &s3.uri));
            if let Some(e) = &s3.endpoint {
                env.push(plain_env(settings::S3_ENDPOINT.env, e));
            }
            env.push(plain_env(settings::S3_REGION.env, s3.region.as_deref().unwrap_or(defaults::S3_REGION)));
            env.push(secret_env("AWS_ACCESS_KEY_ID", &s3.credentials_secret.name, "AWS_ACCESS_KEY_ID", false));
            env.push(secret_env("AWS_SECRET_ACCESS_KEY", &s3.credentials_secret.name, "AWS_SECRET_ACCESS_KEY", false));
        }
        if let Some(ml) = &src.mlflow {
            env.push(plain_env(settings::MODEL_SOURCE.env, "mlflow"));
            env.push(plain_env(settings::MLFLOW_TRACKING_URI.env, &ml.tracking_uri));
            env.push(plain_env(settings::MLFLOW_MODEL_URI.env, &ml.model_uri));
            if let Some(e) = &ml.artifact_endpoint {
                env.push(plain_env(settings::S3_ENDPOINT.env, e));
            }
            if let Some(s) = &ml.credentials_secret {
                env.push(secret_env(settings::MLFLOW_TOKEN.env, &s.name, "MLFLOW_TRACKING_TOKEN", true));
                env.push(secret_env("AWS_ACCESS_KEY_ID", &s.name, "AWS_ACCESS_KEY_ID", true));
                env.push(secret_env("AWS_SECRET_ACCESS_KEY", &s.name, "AWS_SECRET_ACCESS_KEY", true));
            }
        }
    }
    if let Some(q) = &ms.spec.serving.batch_queue {
        env.push(secret_env(settings::REDIS_URL.env, &q.redis_secret.name, "REDIS_URL", false));
    }
    env
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

/// The server container's name.
const CONTAINER: &str = "inference-server";

fn default_resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_string());
    ResourceRequirements {
        requests: Some(BTreeMap::from([("cpu".into(), q("100m")), ("memory".into(), q("128Mi"))])),
        limits: Some(BTreeMap::from([("memory".into(), q("256Mi"))])),
        ..ResourceRequirements::default()
    }
}

/// The most replicas the Deployment may run: the HPA maximum, else the fixed count (default 1).
fn max_replicas(ms: &ModelService) -> i32 {
    ms.spec.autoscaling.as_ref().map_or(ms.spec.replicas.unwrap_or(1), |a| a.max_replicas).max(1)
}

fn container(ms: &ModelService, cfg: &OperatorConfig) -> Container {
    let s = &ms.spec.serving;
    let q = &ms.spec.quality;
    let model = ms.spec.model.name.clone().unwrap_or_else(|| ms.spec.model.kind.as_str().to_string());
    let resources = ms.spec.resources.clone().unwrap_or_else(default_resources);
    let mut env = source_env(ms);
    env.extend(cpu_request_env(&resources));
    env.extend(ms.spec.env.iter().cloned());
    let mut args = vec![
        arg(settings::PORT, PORT),
        arg(settings::MODEL_DIR, "/models"),
        arg(settings::PRELOAD, model),
        arg(settings::CACHE_MAX_MODELS, s.cache_max_models),
        arg(settings::CACHE_MAX_BYTES, s.cache_max_bytes),
        arg(settings::CONCURRENCY_LIMIT, s.concurrency_limit),
        arg(settings::REQUEST_TIMEOUT_MS, s.request_timeout_ms),
        arg(settings::LOG_FORMAT, "json"),
        arg(settings::PREDICTION_IDS, q.enabled),
        arg(settings::PREDICTION_TTL_SECS, q.prediction_ttl_seconds),
        arg(settings::PREDICTION_STORE_MAX_RECORDS, q.memory_max_records),
        arg(settings::DRIFT_METRICS, ms.spec.monitoring.drift.enabled),
        arg(settings::MAX_REPLICAS, max_replicas(ms)),
    ];
    let mut mounts = vec![VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..VolumeMount::default() }];
    let read_only = |name: &str, dir: &str| VolumeMount {
        name: name.into(),
        mount_path: dir.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    if let Some(v) = &ms.spec.model.version {
        args.push(arg(settings::MODEL_VERSION, v));
    }
    if ms.spec.auth.is_some() {
        args.push(arg(settings::AUTH_TOKEN_FILE, format!("{AUTH_DIR}/tokens")));
        mounts.push(read_only(AUTH_VOLUME, AUTH_DIR));
    }
    if s.batch_queue.as_ref().is_some_and(|q| q.ca_secret.is_some()) {
        args.push(arg(settings::REDIS_CA_FILE, format!("{REDIS_CA_DIR}/ca.crt")));
        mounts.push(read_only(REDIS_CA_VOLUME, REDIS_CA_DIR));
    }
    Container {
        name: CONTAINER.into(),
        image: Some(ms.spec.image.clone().unwrap_or_else(|| cfg.image.clone())),
        args: Some(args),
        env: (!env.is_empty()).then_some(env),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: PORT,
            ..ContainerPort::default()
        }]),
        startup_probe: Some(http_probe("/ready", 2, 60)),
        readiness_probe: Some(http_probe("/ready", 5, 3)),
        liveness_probe: Some(http_probe("/health", 10, 3)),
        resources: Some(resources),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Capabilities::default() }),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds: PRE_STOP_SLEEP_SECONDS }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        ..Container::default()
    }
}

/// How long a stopping pod keeps serving before its SIGTERM: the time the endpoint controller and
/// every node's kube-proxy (or a mesh) take to stop sending it new connections. Without it, a
/// rolling update refuses the requests that race the endpoint removal.
const PRE_STOP_SLEEP_SECONDS: i64 = 5;
/// The pre-stop sleep, then the server's drain deadline (`--drain-timeout-ms`, 20 s by default),
/// then a margin: the kubelet's SIGKILL never cuts a drain short.
const TERMINATION_GRACE_SECONDS: i64 = PRE_STOP_SLEEP_SECONDS + (defaults::DRAIN_TIMEOUT_MS / 1000) as i64 + 10;

/// `Some(v)` unless `v` is empty (an empty list is left out of the rendered object).
fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// The token Secret's volume and where it is mounted. A whole-volume mount (not `subPath`),
/// so the kubelet updates the file when the Secret changes and the server's reload sees it.
const AUTH_VOLUME: &str = "auth-tokens";
const AUTH_DIR: &str = "/etc/inferwatch/auth";
/// The Redis CA Secret's volume and where it is mounted.
const REDIS_CA_VOLUME: &str = "redis-ca";
const REDIS_CA_DIR: &str = "/etc/inferwatch/redis-ca";

/// A volume of one key of a Secret, as the file `path`, readable by the server's group only.
fn secret_volume(volume: &str, secret: &str, key: &str, path: &str) -> Volume {
    Volume {
        name: volume.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            items: Some(vec![k8s_openapi::api::core::v1::KeyToPath {
                key: key.into(),
                path: path.into(),
                ..Default::default()
            }]),
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The pod's volumes: a scratch `/tmp`, the token Secret when `spec.auth` is set, the Redis
/// CA when `spec.serving.batchQueue.caSecret` is.
fn volumes(ms: &ModelService) -> Vec<Volume> {
    let mut v =
        vec![Volume { name: "tmp".into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Volume::default() }];
    if let Some(auth) = &ms.spec.auth {
        v.push(secret_volume(AUTH_VOLUME, &auth.token_secret.name, &auth.key, "tokens"));
    }
    if let Some(ca) = ms.spec.serving.batch_queue.as_ref().and_then(|q| q.ca_secret.as_ref()) {
        v.push(secret_volume(REDIS_CA_VOLUME, &ca.name, "ca.crt", "ca.crt"));
    }
    v
}

/// The NetworkPolicy: ingress to the `http` port from the ModelService's namespace, the
/// allowed namespaces, and Prometheus's; nothing else (probes come from the kubelet on the
/// node, which NetworkPolicies do not cover).
fn network_policy(
    ms: &ModelService,
    cfg: &OperatorConfig,
    selector: &LabelSelector,
    metadata: ObjectMeta,
) -> Option<NetworkPolicy> {
    let np = &ms.spec.network_policy;
    if !np.enabled.unwrap_or(cfg.network_policy_default) {
        return None;
    }
    let namespace = |name: &str| NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([("kubernetes.io/metadata.name".into(), name.into())])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    };
    let http = || {
        Some(vec![NetworkPolicyPort {
            port: Some(IntOrString::String("http".into())),
            protocol: Some("TCP".into()),
            ..NetworkPolicyPort::default()
        }])
    };
    // The ModelService's own namespace: a pod selector without a namespace selector.
    let mut clients =
        vec![NetworkPolicyPeer { pod_selector: Some(LabelSelector::default()), ..NetworkPolicyPeer::default() }];
    clients.extend(np.allowed_namespaces.iter().map(|n| namespace(n)));
    let mut ingress = vec![NetworkPolicyIngressRule { from: Some(clients), ports: http() }];
    let scrapers = np.metrics_namespaces.as_ref().unwrap_or(&cfg.prometheus_namespaces);
    if !scrapers.is_empty() {
        ingress.push(NetworkPolicyIngressRule {
            from: Some(scrapers.iter().map(|n| namespace(n)).collect()),
            ports: http(),
        });
    }
    Some(NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector.clone()),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(ingress),
            ..NetworkPolicySpec::default()
        }),
    })
}

fn config_hash(c: &Container) -> Result<String, RenderError> {
    let bytes = serde_json::to_vec(c).map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(hex::encode(&Sha256::digest(bytes)[..8]))
}

/// The pod template annotation naming the pinned model version the pods serve (what
/// `status.modelVersion` reports once the rollout is complete).
pub const MODEL_VERSION_ANNOTATION: &str = "inferwatch.io/model-version";

fn pod_annotations(ms: &ModelService, config_hash: String) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([("inferwatch.io/config-hash".to_string(), config_hash)]);
    if let Some(v) = &ms.spec.model.version {
        a.insert(MODEL_VERSION_ANNOTATION.into(), v.clone());
    }
    a
}

/// Render everything a ModelService wants.
pub fn render(ms: &ModelService, cfg: &OperatorConfig) -> Result<Desired, RenderError> {
    let ns = ms.namespace().ok_or(RenderError::Metadata("namespace"))?;
    let owner = ms.controller_owner_ref(&()).ok_or(RenderError::Metadata("uid"))?;
    let name = ms.name_any();
    check_metadata(ms)?;
    let selector = LabelSelector { match_labels: Some(selector_labels(ms)), ..LabelSelector::default() };
    let container = container(ms, cfg);
    let mut pod_labels = labels(ms);
    pod_labels.retain(|k, _| k != "app.kubernetes.io/managed-by");
    let autoscaling = ms.spec.autoscaling.as_ref();
    let deployment = Deployment {
        metadata: meta(ms, name.clone(), &owner),
        spec: Some(DeploymentSpec {
            replicas: if autoscaling.is_some() { None } else { Some(ms.spec.replicas.unwrap_or(1)) },
            selector: selector.clone(),
            // A new pod takes traffic only once Ready (the pinned version loaded); no old pod goes
            // before it. So a version that cannot load stalls the rollout at full capacity
            // instead of taking a pod away (the default would at 4 replicas and up).
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::String("25%".into())),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations(ms, config_hash(&container)?)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    automount_service_account_token: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        fs_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    volumes: Some(volumes(ms)),
                    image_pull_secrets: non_empty(ms.spec.image_pull_secrets.clone()),
                    node_selector: (!ms.spec.node_selector.is_empty()).then(|| ms.spec.node_selector.clone()),
                    tolerations: non_empty(ms.spec.tolerations.clone()),
                    affinity: ms.spec.affinity.clone(),
                    termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    let service = Service {
        metadata: meta(ms, name.clone(), &owner),
        spec: Some(ServiceSpec {
            selector: Some(selector_labels(ms)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(IntOrString::String("http".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let hpa = autoscaling.map(|a| HorizontalPodAutoscaler {
        metadata: meta(ms, name.clone(), &owner),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: name.clone(),
            },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(a.target_cpu_utilization_percentage),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    });
    let most = autoscaling.map_or(ms.spec.replicas.unwrap_or(1), |a| a.max_replicas);
    let pdb = (most > 1).then(|| PodDisruptionBudget {
        metadata: meta(ms, name.clone(), &owner),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector.clone()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    });
    let mon = &ms.spec.monitoring;
    let service_monitor = mon.service_monitor.enabled.then(|| ServiceMonitor {
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "ServiceMonitor".into(),
        metadata: monitoring_meta(ms, cfg, name.clone(), &owner, &mon.service_monitor.labels, Decoration::default()),
        spec: ServiceMonitorSpec {
            selector: selector.clone(),
            endpoints: vec![MonitorEndpoint {
                port: "http".into(),
                path: "/metrics".into(),
                interval: mon.service_monitor.interval.clone(),
            }],
        },
    });
    let kind = ms.spec.model.kind.as_str();
    let uid = dashboard_uid(kind, &ns, &name);
    let prometheus_rule = mon.alerts.enabled.then(|| {
        let a = &mon.alerts;
        let slo = alerts::Slo {
            objectives: objectives(&mon.slo),
            error_ratio_warning: a.error_ratio_warning,
            memory_ratio: a.memory_ratio,
            cache_hit_ratio_floor: a.cache_hit_ratio_floor,
            quality: quality_targets(&ms.spec.quality),
            drift: drift_settings(&mon.drift),
            ..alerts::Slo::default()
        };
        let scope = alerts::Scope {
            name: format!("inferwatch-{ns}-{name}"),
            selector: format!("namespace=\"{ns}\",job=\"{name}\""),
            runbook_base: cfg.runbook_base.clone(),
            dashboard_url: format!("{}/d/{uid}", cfg.grafana_url),
            extra_labels: a.labels.clone(),
        };
        PrometheusRule {
            api_version: "monitoring.coreos.com/v1".into(),
            kind: "PrometheusRule".into(),
            metadata: monitoring_meta(ms, cfg, name.clone(), &owner, &BTreeMap::new(), Decoration::default()),
            spec: alerts::rule_file(&slo, &scope, &alerts::Timing::default()),
        }
    });
    let dashboard = if mon.dashboard.enabled {
        let mut d = dashboards::model_kind(ms.spec.model.kind);
        d.uid = uid.clone();
        d.title = format!("Inferwatch / {ns}/{name} ({kind})");
        let json =
            serde_json::to_string_pretty(&dashboards::render(&d)).map_err(|e| RenderError::Encode(e.to_string()))?;
        let fixed = Decoration {
            labels: BTreeMap::from([("grafana_dashboard".into(), "1".into())]),
            annotations: BTreeMap::from([("grafana_folder".into(), mon.dashboard.folder.clone())]),
        };
        let m = monitoring_meta(ms, cfg, format!("{name}-dashboard"), &owner, &mon.dashboard.labels, fixed);
        Some(ConfigMap {
            metadata: m,
            data: Some(BTreeMap::from([(format!("{uid}.json"), json)])),
            ..ConfigMap::default()
        })
    } else {
        None
    };
    let network_policy = network_policy(ms, cfg, &selector, meta(ms, name.clone(), &owner));
    Ok(Desired { deployment, service, hpa, pdb, service_monitor, prometheus_rule, dashboard, network_policy })
}

/// The SLO rules' objectives from `spec.monitoring.slo` (the CRD has validated the window).
fn objectives(o: &crate::crd::SloSpec) -> inferwatch_monitoring::slo::Objectives {
    let default = inferwatch_monitoring::slo::Objectives::default();
    inferwatch_monitoring::slo::Objectives {
        availability: o.availability,
        latency: o.latency,
        latency_threshold_seconds: o.latency_threshold_seconds,
        window_days: o.window.trim_end_matches('d').parse().unwrap_or(default.window_days),
    }
}

/// The drift rules' settings from `spec.monitoring.drift`.
fn drift_settings(d: &crate::crd::DriftSpec) -> inferwatch_monitoring::drift::Drift {
    inferwatch_monitoring::drift::Drift {
        enabled: d.enabled,
        window: d.window.clone(),
        input_psi: d.input_threshold,
        prediction_psi: d.prediction_threshold,
        min_observations: u64::try_from(d.min_observations).unwrap_or(1),
    }
}

/// The quality alerts' settings from `spec.quality`.
fn quality_targets(q: &crate::crd::QualitySpec) -> alerts::Quality {
    alerts::Quality {
        enabled: q.enabled,
        accuracy: alerts::Target { target: q.accuracy_target, tolerance: q.accuracy_tolerance },
        rmse: alerts::Target { target: q.rmse_target, tolerance: q.rmse_tolerance },
        mape: alerts::Target { target: q.mape_target, tolerance: q.mape_tolerance },
        min_feedback: u64::try_from(q.min_feedback).unwrap_or(1),
        feedback_starvation: q.feedback_starvation.clone(),
    }
}

impl Desired {
    /// Every object as JSON with apiVersion and kind, in apply order.
    pub fn objects(&self) -> Result<Vec<serde_json::Value>, RenderError> {
        fn typed<K: Resource<DynamicType = ()> + Serialize>(o: &K) -> Result<serde_json::Value, RenderError> {
            let mut v = serde_json::to_value(o).map_err(|e| RenderError::Encode(e.to_string()))?;
            v["apiVersion"] = K::api_version(&()).into();
            v["kind"] = K::kind(&()).into();
            Ok(v)
        }
        let enc = |v: serde_json::Result<serde_json::Value>| v.map_err(|e| RenderError::Encode(e.to_string()));
        let mut out = vec![typed(&self.deployment)?, typed(&self.service)?];
        if let Some(h) = &self.hpa {
            out.push(typed(h)?);
        }
        if let Some(p) = &self.pdb {
            out.push(typed(p)?);
        }
        if let Some(s) = &self.service_monitor {
            out.push(enc(serde_json::to_value(s))?);
        }
        if let Some(r) = &self.prometheus_rule {
            out.push(enc(serde_json::to_value(r))?);
        }
        if let Some(c) = &self.dashboard {
            out.push(typed(c)?);
        }
        if let Some(n) = &self.network_policy {
            out.push(typed(n)?);
        }
        Ok(out)
    }
}

/// Grafana's dashboard uid (at most 40 characters): `iw-<kind>-<namespace>-<name>` when that
/// fits; otherwise its first 29 characters, `-`, and 10 hex digits of its SHA-256, so two long
/// names that share a prefix never share a dashboard. (Kubernetes names are ASCII, so the cut
/// is on a character boundary.)
pub fn dashboard_uid(kind: &str, namespace: &str, name: &str) -> String {
    use sha2::Digest;
    let full = format!("iw-{kind}-{namespace}-{name}");
    if full.len() <= 40 || !full.is_ascii() {
        return full.chars().take(40).collect();
    }
    let digest = hex::encode(sha2::Sha256::digest(full.as_bytes()));
    format!("{}-{}", &full[..29], &digest[..10])
}

#[cfg(test)]
mod tests {
    use super::dashboard_uid;

    #[test]
    fn short_uids_are_kept_and_long_ones_that_share_a_prefix_differ() {
        assert_eq!(dashboard_uid("sentiment", "ml", "reviews"), "iw-sentiment-ml-reviews");
        let a = dashboard_uid("sentiment", "team-recommendations", "reviews-classifier-a");
        let b = dashboard_uid("sentiment", "team-recommendations", "reviews-classifier-b");
        assert_ne!(a, b);
        assert!(a.len() == 40 && b.len() == 40, "{a} {b}");
        assert!(a.starts_with("iw-sentiment-team-recommendat"), "{a}");
    }
}

#[cfg(test)]
mod cpu_request_tests {
    use super::*;

    fn requesting(cpu: Option<&str>) -> ResourceRequirements {
        ResourceRequirements {
            requests: cpu.map(|c| BTreeMap::from([("cpu".to_string(), Quantity(c.into()))])),
            ..ResourceRequirements::default()
        }
    }

    #[test]
    fn the_cpu_request_reaches_the_server_in_millicores_only_when_there_is_one() {
        let env = cpu_request_env(&default_resources()).unwrap();
        assert_eq!(env.name, settings::CPU_REQUEST_MILLICORES.env);
        let field = env.value_from.and_then(|v| v.resource_field_ref).unwrap();
        assert_eq!((field.resource.as_str(), field.divisor), ("requests.cpu", Some(Quantity("1m".into()))));
        assert_eq!(field.container_name.as_deref(), Some(CONTAINER));
        assert!(cpu_request_env(&requesting(Some("0.5"))).is_some());
        for none in [None, Some("0"), Some("0m"), Some("0.0")] {
            assert!(cpu_request_env(&requesting(none)).is_none(), "{none:?}");
        }
    }
}
