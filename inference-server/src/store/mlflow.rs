//! Models from the MLflow model registry: `models:/<name>/<version>`, `models:/<name>/<stage>`
//! or `models:/<name>@<alias>` is resolved through MLflow's REST API to the version's artifact
//! location in S3-compatible storage, and the package is downloaded from there (through
//! `S3Store`, so it is disk-cached and checksum-verified the same way). The last resolution is
//! kept on disk too: with the registry down, a restart still loads the version it knew.
//! Registry requests are timed and counted under `dependency="registry"`.

use super::s3::{S3Config, S3Store};
use super::{BoxFuture, ModelStore, StoreError, StoreHealth};
use crate::package::PackageFiles;
use crate::telemetry::dependency::{Dependency, Outcome};
use crate::telemetry::Metrics;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// `models:/name/3`
    Version(String, String),
    /// `models:/name/Production`
    Stage(String, String),
    /// `models:/name@champion`
    Alias(String, String),
}

impl ModelRef {
    /// The registered model's name.
    pub fn name(&self) -> &str {
        match self {
            ModelRef::Version(n, _) | ModelRef::Stage(n, _) | ModelRef::Alias(n, _) => n,
        }
    }
}

/// Parse a `models:/` URI.
pub fn parse_model_uri(uri: &str) -> Option<ModelRef> {
    let rest = uri.strip_prefix("models:/")?;
    let ok = |s: &str| !s.is_empty() && !s.contains('/') && !s.contains('@');
    if let Some((name, alias)) = rest.split_once('@') {
        return (ok(name) && ok(alias)).then(|| ModelRef::Alias(name.into(), alias.into()));
    }
    let (name, which) = rest.split_once('/')?;
    if !ok(name) || !ok(which) {
        return None;
    }
    Some(if which.chars().all(|c| c.is_ascii_digit()) {
        ModelRef::Version(name.into(), which.into())
    } else {
        ModelRef::Stage(name.into(), which.into())
    })
}

/// `uri` with its version, stage or alias replaced by `version` (`3`, `Production` or
/// `@champion`): how `--model-version` pins an MLflow source. `None` when `uri` is not a
/// `models:/` URI or `version` is not one path segment.
pub fn pinned_uri(uri: &str, version: &str) -> Option<String> {
    let reference = parse_model_uri(uri)?;
    if !inferwatch_monitoring::serving::valid_model_version(version) {
        return None;
    }
    let name = reference.name();
    Some(match version.strip_prefix('@') {
        Some(alias) => format!("models:/{name}@{alias}"),
        None => format!("models:/{name}/{version}"),
    })
}

/// Register the package in the `s3://` folder `source` as a new version of the registered model
/// `name` (created when absent) and point `alias` at it: the packager's `--register`. Returns
/// the new version number.
pub async fn register_version(
    tracking_uri: &str,
    token: Option<&str>,
    name: &str,
    source: &str,
    alias: Option<&str>,
) -> Result<String, StoreError> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| err(tracking_uri, e))?;
    let api = |path: &str| format!("{}/api/2.0/mlflow/{path}", tracking_uri.trim_end_matches('/'));
    let post = |path: &str, body: serde_json::Value| {
        let req = http.post(api(path)).json(&body);
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        async move {
            let resp = req.send().await.map_err(|e| err(tracking_uri, format!("MLflow registry unreachable: {e}")))?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            Ok::<_, StoreError>((status, body))
        }
    };
    let (status, body) = post("registered-models/create", serde_json::json!({"name": name})).await?;
    if !status.is_success() && body["error_code"] != "RESOURCE_ALREADY_EXISTS" {
        return Err(err(tracking_uri, format!("creating registered model {name}: MLflow answered {status}: {body}")));
    }
    let (status, body) = post("model-versions/create", serde_json::json!({"name": name, "source": source})).await?;
    let version = body["model_version"]["version"].as_str().map(str::to_string).filter(|_| status.is_success());
    let version = version
        .ok_or_else(|| err(tracking_uri, format!("creating a version of {name}: MLflow answered {status}: {body}")))?;
    if let Some(alias) = alias {
        let (status, body) =
            post("registered-models/alias", serde_json::json!({"name": name, "alias": alias, "version": version}))
                .await?;
        if !status.is_success() {
            return Err(err(tracking_uri, format!("setting alias {alias}: MLflow answered {status}: {body}")));
        }
    }
    Ok(version)
}

/// A resolved registry reference: the lineage the server reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// Registered model name.
    pub name: String,
    /// Registered version.
    pub version: String,
    /// The MLflow run that produced it.
    pub run_id: String,
    /// Its stage in the registry.
    pub stage: String,
    /// The alias used to find it, if any.
    pub alias: Option<String>,
    /// Where its files are (`s3://...`).
    pub artifact_uri: String,
}

impl Resolved {
    /// The lineage as the `source` of the loaded model (model info metric, `/v2/models/{name}`).
    pub fn source(&self) -> String {
        let alias = self.alias.as_deref().map(|a| format!("&alias={a}")).unwrap_or_default();
        format!(
            "mlflow:models:/{}/{}?run_id={}&stage={}{alias}&artifacts={}",
            self.name, self.version, self.run_id, self.stage, self.artifact_uri
        )
    }
}

#[derive(Deserialize)]
struct VersionReply {
    model_version: RawVersion,
}

#[derive(Deserialize)]
struct LatestReply {
    #[serde(default)]
    model_versions: Vec<RawVersion>,
}

#[derive(Deserialize)]
struct RawVersion {
    version: String,
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    current_stage: String,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
struct DownloadUri {
    artifact_uri: String,
}

/// What `/mlflow/health` reports.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryHealth {
    /// `ok` or `down`.
    pub status: &'static str,
    /// The tracking server.
    pub tracking_uri: String,
    /// It answered `/health`.
    pub reachable: bool,
    /// Round-trip time.
    pub latency_ms: f64,
    /// The version last resolved, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Resolved>,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Settings of the registry store.
#[derive(Debug, Clone)]
pub struct MlflowConfig {
    /// MLflow tracking server URL.
    pub tracking_uri: String,
    /// `models:/...`.
    pub model_uri: String,
    /// Bearer token (`MLFLOW_TRACKING_TOKEN`), if the server wants one.
    pub token: Option<String>,
    /// S3 endpoint of the artifact store (path-style), `None` for AWS.
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: String,
    /// Disk cache.
    pub cache_dir: PathBuf,
    /// Largest package downloaded (the model cache's byte limit).
    pub max_package_bytes: u64,
}

/// The MLflow registry as a model store holding one model: the registered model's name.
pub struct MlflowStore {
    http: reqwest::Client,
    config: MlflowConfig,
    reference: ModelRef,
    metrics: Arc<Metrics>,
    health: Dependency,
    last: std::sync::Mutex<Option<Resolved>>,
    /// The artifact store client, made once per artifact location and version and reused (a new
    /// client per fetch would reset `inferwatch_dependency_up{dependency="storage"}`).
    artifacts: std::sync::Mutex<Option<(String, Arc<S3Store>)>>,
}

impl std::fmt::Debug for MlflowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowStore").field("model_uri", &self.config.model_uri).finish_non_exhaustive()
    }
}

fn err(path: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io { path: path.to_string(), reason: e.to_string() }
}

impl MlflowStore {
    /// A store for `config.model_uri`.
    pub fn new(config: MlflowConfig, metrics: Arc<Metrics>) -> Result<Self, StoreError> {
        let reference = parse_model_uri(&config.model_uri).ok_or_else(|| {
            err(
                &config.model_uri,
                "the MLflow model URI must be models:/<name>/<version|stage> or models:/<name>@<alias>",
            )
        })?;
        if !(config.tracking_uri.starts_with("http://") || config.tracking_uri.starts_with("https://")) {
            return Err(err(&config.tracking_uri, "the MLflow tracking URI must be an http(s) URL"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| err(&config.tracking_uri, e))?;
        let last = std::sync::Mutex::new(read_resolution(&config.cache_dir, reference.name()));
        let health = Dependency::new("registry", metrics.clone());
        Ok(Self { http, config, reference, metrics, health, last, artifacts: std::sync::Mutex::default() })
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, StoreError> {
        let req = match &self.config.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let start = Instant::now();
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.health.record(op, start, Outcome::Unreachable);
                return Err(err(&self.config.tracking_uri, format!("MLflow registry unreachable: {e}")));
            }
        };
        let status = resp.status();
        self.health.record(op, start, if status.is_success() { Outcome::Ok } else { Outcome::Failed });
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(StoreError::NotFound(self.config.model_uri.clone()));
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(err(&self.config.model_uri, format!("MLflow answered {status}: {body}")));
        }
        resp.json().await.map_err(|e| err(&self.config.model_uri, format!("unexpected MLflow reply: {e}")))
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/2.0/mlflow/{path}", self.config.tracking_uri.trim_end_matches('/'))
    }

    /// Resolve the reference now.
    pub async fn resolve(&self) -> Result<Resolved, StoreError> {
        let (raw, alias) = match &self.reference {
            ModelRef::Version(n, v) => {
                let q = [("name", n.as_str()), ("version", v.as_str())];
                let r: VersionReply =
                    self.call("get_version", self.http.get(self.api("model-versions/get")).query(&q)).await?;
                (r.model_version, None)
            }
            ModelRef::Alias(n, a) => {
                let q = [("name", n.as_str()), ("alias", a.as_str())];
                let r: VersionReply =
                    self.call("get_alias", self.http.get(self.api("registered-models/alias")).query(&q)).await?;
                (r.model_version, Some(a.clone()))
            }
            ModelRef::Stage(n, s) => {
                let body = serde_json::json!({"name": n, "stages": [s]});
                let r: LatestReply = self
                    .call("get_latest", self.http.post(self.api("registered-models/get-latest-versions")).json(&body))
                    .await?;
                let v = r
                    .model_versions
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::NotFound(self.config.model_uri.clone()))?;
                (v, None)
            }
        };
        let q = [("name", self.reference.name()), ("version", raw.version.as_str())];
        let artifact_uri = match self
            .call::<DownloadUri>(
                "get_download_uri",
                self.http.get(self.api("model-versions/get-download-uri")).query(&q),
            )
            .await
        {
            Ok(d) if d.artifact_uri.starts_with("s3://") => d.artifact_uri,
            _ => raw.source.clone(),
        };
        if !artifact_uri.starts_with("s3://") {
            return Err(err(
                &self.config.model_uri,
                format!("artifacts at '{artifact_uri}' are not in S3-compatible storage"),
            ));
        }
        if !path_safe(self.reference.name(), &raw.version) {
            return Err(err(
                &self.config.model_uri,
                format!(
                    "registry answered version '{}' (a version is a number)",
                    raw.version.chars().take(40).collect::<String>()
                ),
            ));
        }
        Ok(Resolved {
            name: self.reference.name().to_string(),
            version: raw.version,
            run_id: raw.run_id,
            stage: raw.current_stage,
            alias,
            artifact_uri,
        })
    }

    /// Check the tracking server.
    pub async fn check(&self) -> RegistryHealth {
        let start = Instant::now();
        let url = format!("{}/health", self.config.tracking_uri.trim_end_matches('/'));
        let (reachable, error) = match self.http.get(url).send().await {
            Ok(resp) if resp.status().is_success() => (true, None),
            Ok(resp) => (false, Some(format!("MLflow /health answered {}", resp.status()))),
            Err(e) => (false, Some(e.to_string())),
        };
        self.health.record("health", start, if reachable { Outcome::Ok } else { Outcome::Unreachable });
        RegistryHealth {
            status: if reachable { "ok" } else { "down" },
            tracking_uri: self.config.tracking_uri.clone(),
            reachable,
            latency_ms: start.elapsed().as_secs_f64() * 1000.0,
            resolved: self.last.lock().ok().and_then(|l| l.clone()),
            error,
        }
    }

    /// Resolve, falling back to the last known resolution while the registry is down.
    async fn resolve_or_last(&self) -> Result<Resolved, StoreError> {
        match self.resolve().await {
            Ok(r) => {
                if let Ok(mut l) = self.last.lock() {
                    *l = Some(r.clone());
                }
                write_resolution(&self.config.cache_dir, &r);
                Ok(r)
            }
            Err(StoreError::NotFound(n)) => Err(StoreError::NotFound(n)),
            Err(e) => {
                let last = self.last.lock().ok().and_then(|l| l.clone());
                match last {
                    Some(r) => {
                        tracing::warn!(model_uri = %self.config.model_uri, error = %e, version = %r.version,
                            "MLflow registry unavailable; using the last resolved version");
                        Ok(r)
                    }
                    None => Err(e),
                }
            }
        }
    }
}

/// Whether a registered model name and version can name cache paths: the name a package name
/// (`valid_name`), the version the whole number MLflow gives (the registry's answer is input,
/// and `../` in it would write outside the cache).
fn path_safe(name: &str, version: &str) -> bool {
    super::valid_name(name) && !version.is_empty() && version.len() <= 20 && version.bytes().all(|b| b.is_ascii_digit())
}

fn resolution_file(cache_dir: &std::path::Path, name: &str) -> PathBuf {
    cache_dir.join(format!("mlflow-{name}.json"))
}

fn read_resolution(cache_dir: &std::path::Path, name: &str) -> Option<Resolved> {
    let text = std::fs::read_to_string(resolution_file(cache_dir, name)).ok()?;
    let r: Resolved = serde_json::from_str(&text).ok()?;
    path_safe(&r.name, &r.version).then_some(r)
}

fn write_resolution(cache_dir: &std::path::Path, r: &Resolved) {
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(cache_dir)?;
        let json = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        std::fs::write(resolution_file(cache_dir, &r.name), json)
    };
    if let Err(e) = write() {
        tracing::warn!(error = %e, "cannot cache the MLflow resolution on disk");
    }
}

impl MlflowStore {
    /// The S3 client of `parent` for version `r`, reused while they stay the same.
    fn artifact_store(&self, parent: &str, r: &Resolved) -> Result<Arc<S3Store>, StoreError> {
        let key = format!("{parent}#{}", r.version);
        let mut slot = self.artifacts.lock().map_err(|_| err(parent, "artifact client lock poisoned"))?;
        if let Some((k, s3)) = slot.as_ref() {
            if *k == key {
                return Ok(s3.clone());
            }
        }
        let s3 = Arc::new(S3Store::new(
            S3Config {
                uri: parent.to_string(),
                endpoint: self.config.s3_endpoint.clone(),
                region: self.config.s3_region.clone(),
                cache_dir: self.config.cache_dir.join(format!("mlflow-{}-v{}", r.name, r.version)),
                max_package_bytes: self.config.max_package_bytes,
            },
            self.metrics.clone(),
        )?);
        *slot = Some((key, s3.clone()));
        Ok(s3)
    }
}

impl ModelStore for MlflowStore {
    fn dependency(&self) -> Option<&'static str> {
        Some("registry")
    }

    fn is_up(&self) -> bool {
        self.health.is_up()
    }

    fn health(&self) -> BoxFuture<'_, Option<StoreHealth>> {
        Box::pin(async move {
            let h = self.check().await;
            Some(StoreHealth { healthy: h.reachable, report: serde_json::to_value(&h).unwrap_or_default() })
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move { Ok(vec![self.reference.name().to_string()]) })
    }

    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(PackageFiles, String), StoreError>> {
        Box::pin(async move {
            if name != self.reference.name() {
                return Err(StoreError::NotFound(name.to_string()));
            }
            let r = self.resolve_or_last().await?;
            let (parent, folder) = r
                .artifact_uri
                .trim_end_matches('/')
                .rsplit_once('/')
                .ok_or_else(|| err(&r.artifact_uri, "artifact location has no folder"))?;
            let s3 = self.artifact_store(parent, &r)?;
            let (files, _) = s3.fetch(folder).await?;
            Ok((files, r.source()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_and_numeric_versions_name_cache_paths() {
        assert!(path_safe("sentiment", "3"));
        for (name, version) in
            [("sentiment", "../../etc"), ("sentiment", ""), ("sentiment", "3a"), ("../x", "1"), ("a b", "1")]
        {
            assert!(!path_safe(name, version), "{name} {version}");
        }
    }

    #[test]
    fn a_pinned_version_replaces_the_uris_version_stage_or_alias() {
        assert_eq!(pinned_uri("models:/sentiment/3", "5").as_deref(), Some("models:/sentiment/5"));
        assert_eq!(pinned_uri("models:/sentiment@champion", "2").as_deref(), Some("models:/sentiment/2"));
        assert_eq!(pinned_uri("models:/sentiment/3", "@canary").as_deref(), Some("models:/sentiment@canary"));
        assert_eq!(pinned_uri("models:/sentiment/3", "Production").as_deref(), Some("models:/sentiment/Production"));
        assert_eq!(pinned_uri("models:/sentiment/3", "../4"), None);
        assert_eq!(pinned_uri("s3://bucket/x", "4"), None);
    }

    #[test]
    fn model_uris_name_a_version_a_stage_or_an_alias() {
        assert_eq!(parse_model_uri("models:/sentiment/3"), Some(ModelRef::Version("sentiment".into(), "3".into())));
        assert_eq!(
            parse_model_uri("models:/sentiment/Production"),
            Some(ModelRef::Stage("sentiment".into(), "Production".into()))
        );
        assert_eq!(
            parse_model_uri("models:/sentiment@champion"),
            Some(ModelRef::Alias("sentiment".into(), "champion".into()))
        );
        for bad in ["runs:/abc/model", "models:/", "models:/x", "models:/x/", "models:/x/y/z", "models:/@a"] {
            assert_eq!(parse_model_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn lineage_names_version_run_stage_alias_and_artifacts() {
        let r = Resolved {
            name: "sentiment".into(),
            version: "2".into(),
            run_id: "abc".into(),
            stage: "None".into(),
            alias: Some("champion".into()),
            artifact_uri: "s3://mlflow/1/abc/artifacts/model".into(),
        };
        assert_eq!(
            r.source(),
            "mlflow:models:/sentiment/2?run_id=abc&stage=None&alias=champion&artifacts=s3://mlflow/1/abc/artifacts/model"
        );
    }
}
