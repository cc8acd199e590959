//! Harness for the end-to-end suite. The suite runs against the real local control plane that
//! `e2e/cluster/up.sh` starts (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
//! kwok); `make test-e2e` starts it, runs the tests one at a time and stops it.
//!
//! Most tests run the operator as a local process with a kubeconfig that impersonates the chart's
//! ServiceAccount, so a missing RBAC rule in the chart fails the suite; `tests/real_pods.rs` runs
//! it as the chart's pod on the cluster's real node (see [`node`]).

pub mod node;
pub mod proxy;

use anyhow::{anyhow, bail, Context as _, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use kube::{Client, Config};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod http;

/// The chart's namespace and ServiceAccount the operator impersonates.
pub const SYSTEM_NAMESPACE: &str = "inferwatch-system";
/// The operator's ServiceAccount name (from the chart).
pub const SERVICE_ACCOUNT: &str = "inferwatch-operator";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The admin kubeconfig of the running local cluster.
pub fn admin_kubeconfig() -> Result<PathBuf> {
    let p = std::env::var("INFERWATCH_E2E_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".cache/cluster-run/admin.kubeconfig"));
    if !p.exists() {
        bail!("no local cluster at {} — run the suite with `make test-e2e`", p.display());
    }
    Ok(p)
}

/// The directory of the pinned upstream binaries (kubectl, helm, the prometheus-operator CRDs).
pub fn tools_dir() -> Result<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let out = Command::new(repo_root().join("e2e/cluster/build.sh")).stderr(Stdio::null()).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    dir.clone().ok_or_else(|| anyhow!("e2e/cluster/build.sh failed"))
}

/// A client for `kubeconfig`.
pub async fn client_for(kubeconfig: &Path) -> Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig)?;
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(cfg)?)
}

/// An admin client.
pub async fn admin() -> Result<Client> {
    client_for(&admin_kubeconfig()?).await
}

/// Run a command with the admin kubeconfig; `Ok(stdout)` on success, the stderr in the error.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .env("KUBECONFIG", admin_kubeconfig()?)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{program} {}: {stderr}", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// kubectl (the pinned build, same version as the API server) with the admin kubeconfig.
pub fn kubectl(args: &[&str]) -> Result<String> {
    let kubectl = tools_dir()?.join("kubectl");
    run(kubectl.to_str().ok_or_else(|| anyhow!("kubectl path is not UTF-8"))?, args)
}

/// helm (the pinned build) with the admin kubeconfig.
pub fn helm(args: &[&str]) -> Result<String> {
    let helm = tools_dir()?.join("helm");
    run(helm.to_str().ok_or_else(|| anyhow!("helm path is not UTF-8"))?, args)
}

/// `helm upgrade --install` the chart into the system namespace (idempotent) and wait for the CRD.
pub fn install_chart() -> Result<String> {
    install_chart_with(&[])
}

/// The same with `--set` values (every call starts from the chart's defaults again).
pub fn install_chart_with(set: &[&str]) -> Result<String> {
    let mut args = Vec::new();
    for v in set {
        args.extend(["--set", *v]);
    }
    helm_chart_args(&args, "120s")
}

/// `helm upgrade --install` of the chart into the system namespace with `extra` arguments
/// (values), waiting up to `timeout` for its workloads, then for the CRD.
pub fn helm_chart_args(extra: &[&str], timeout: &str) -> Result<String> {
    let chart = repo_root().join("charts/inferwatch");
    let mut args = vec![
        "upgrade",
        "--install",
        "inferwatch",
        chart.to_str().unwrap_or("charts/inferwatch"),
        "--namespace",
        SYSTEM_NAMESPACE,
        "--create-namespace",
        // Without any value given, `helm upgrade` reuses the last release's values (another
        // test's): every install starts from the chart's defaults instead.
        "--reset-values",
        "--wait",
        "--timeout",
        timeout,
    ];
    args.extend(extra);
    let out = helm(&args)?;
    kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd/modelservices.inferwatch.io"])?;
    Ok(out)
}

/// Install the prometheus-operator CRDs (ServiceMonitor, PrometheusRule, PodMonitor).
pub fn install_monitoring_crds() -> Result<()> {
    let dir = tools_dir()?.join("prometheus-operator-crds");
    kubectl(&["apply", "--server-side", "-f", dir.to_str().unwrap_or_default()])?;
    for crd in ["servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"] {
        kubectl(&["wait", "--for=condition=Established", "--timeout=60s", &format!("crd/{crd}")])?;
    }
    Ok(())
}

/// Install every CRD prometheus-operator itself watches (Prometheus, Alertmanager,
/// AlertmanagerConfig, ...), for the test that runs prometheus-operator.
pub fn install_all_prometheus_operator_crds() -> Result<()> {
    let dir = tools_dir()?.join("prometheus-operator-all-crds");
    kubectl(&["apply", "--server-side", "-f", dir.to_str().unwrap_or_default()])?;
    for crd in ["prometheuses", "alertmanagers", "alertmanagerconfigs", "servicemonitors", "prometheusrules"] {
        kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/{crd}.monitoring.coreos.com"),
        ])?;
    }
    Ok(())
}

/// The flags the installed chart gives the operator in its Deployment, without the ones the
/// suite sets itself (HTTP address, leader election, log filter), so a local operator process
/// runs as the chart configures it.
pub fn chart_operator_args() -> Result<Vec<String>> {
    let out = kubectl(&["-n", SYSTEM_NAMESPACE, "get", "deployment", "inferwatch-operator", "-o", "json"])?;
    let d: Value = serde_json::from_str(&out)?;
    let args = d["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .ok_or_else(|| anyhow!("the operator Deployment has no args"))?;
    Ok(args
        .iter()
        .filter_map(Value::as_str)
        .filter(|a| !["--http-addr=", "--leader-elect=", "--log="].iter().any(|p| a.starts_with(p)))
        .map(String::from)
        .collect())
}

/// Remove the prometheus-operator CRDs (and with them every ServiceMonitor/PrometheusRule).
pub fn remove_monitoring_crds() -> Result<()> {
    let dir = tools_dir()?.join("prometheus-operator-crds");
    kubectl(&["delete", "--ignore-not-found", "--wait=true", "-f", dir.to_str().unwrap_or_default()])?;
    Ok(())
}

/// Whether a scenario runs with the prometheus-operator CRDs installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitoringCrds {
    /// ServiceMonitor and PrometheusRule are served.
    Installed,
    /// They are not (and any left from earlier tests are removed).
    Removed,
}

/// The common start of a scenario: the chart installed, the monitoring CRDs as asked, a fresh
/// namespace `ns`, and an admin client.
pub async fn scenario(ns: &str, crds: MonitoringCrds) -> Result<Client> {
    install_chart()?;
    match crds {
        MonitoringCrds::Installed => install_monitoring_crds()?,
        MonitoringCrds::Removed => remove_monitoring_crds()?,
    }
    fresh_namespace(ns)?;
    admin().await
}

/// A fresh namespace for one test (deleted first if a previous run left it).
pub fn fresh_namespace(name: &str) -> Result<()> {
    kubectl(&["delete", "namespace", name, "--ignore-not-found", "--wait=true", "--timeout=120s"])?;
    kubectl(&["create", "namespace", name])?;
    Ok(())
}

/// Poll `check` until it returns `Ok(Some(v))`, for at most `timeout`; the last error or
/// "still None" explains a timeout.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last = String::from("condition not met");
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if start.elapsed() > timeout {
            bail!("{what}: not true after {timeout:?} ({last})");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A dynamic API for `group/version` `kind` (`plural`) in `ns`.
pub fn dynamic(client: &Client, ns: &str, group: &str, version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, plural))
}

/// The ModelService API in `ns`.
pub fn model_services(client: &Client, ns: &str) -> Api<DynamicObject> {
    dynamic(client, ns, "inferwatch.io", "v1alpha1", "ModelService", "modelservices")
}

/// Server-side apply a ModelService from YAML/JSON `doc` (as the admin, field manager `e2e`).
pub async fn apply_model_service(client: &Client, ns: &str, doc: &Value) -> Result<DynamicObject> {
    let name = doc["metadata"]["name"].as_str().ok_or_else(|| anyhow!("ModelService without a name"))?;
    let mut doc = doc.clone();
    doc["metadata"]["namespace"] = Value::from(ns);
    Ok(model_services(client, ns).patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(&doc)).await?)
}

/// Read an example under manifests/examples as JSON.
pub fn example(file: &str) -> Result<Value> {
    let text = std::fs::read_to_string(repo_root().join("manifests/examples").join(file))?;
    Ok(serde_yaml_ng::from_str(&text)?)
}

/// The condition `type_` of a ModelService (status, reason, observedGeneration).
pub fn condition(ms: &DynamicObject, type_: &str) -> Option<(String, String, i64)> {
    let c = ms.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)?;
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str().unwrap_or_default().to_string(),
        c["observedGeneration"].as_i64().unwrap_or(-1),
    ))
}

/// Wait until the ModelService `name` is Ready=True for its current generation.
pub async fn wait_ready(client: &Client, ns: &str, name: &str, timeout: Duration) -> Result<DynamicObject> {
    let api = model_services(client, ns);
    eventually(&format!("{ns}/{name} Ready"), timeout, || async {
        let ms = api.get(name).await?;
        let generation = ms.metadata.generation.unwrap_or(0);
        let ready = condition(&ms, "Ready");
        let observed = ms.data["status"]["observedGeneration"].as_i64();
        Ok((matches!(&ready, Some((s, _, _)) if s == "True") && observed == Some(generation)).then_some(ms))
    })
    .await
}

/// The operator as a local process, impersonating the chart's ServiceAccount. Killed on drop.
pub struct Operator {
    child: Child,
    /// Its /metrics, /healthz, /readyz address.
    pub http: String,
    /// Its identity in the leader Lease.
    pub identity: String,
}

/// A free loopback port.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A kubeconfig that is the admin's, impersonating the operator's ServiceAccount.
pub fn impersonating_kubeconfig() -> Result<PathBuf> {
    let admin = admin_kubeconfig()?;
    let mut kc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&admin)?)?;
    let user = format!("system:serviceaccount:{SYSTEM_NAMESPACE}:{SERVICE_ACCOUNT}");
    for u in kc["users"].as_array_mut().into_iter().flatten() {
        u["user"]["as"] = Value::from(user.clone());
    }
    let path = admin.with_file_name("operator.kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&kc)?)?;
    Ok(path)
}

/// The API server's `host:port`, from the admin kubeconfig.
pub fn api_server_addr() -> Result<String> {
    let kc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(admin_kubeconfig()?)?)?;
    let server = kc["clusters"][0]["cluster"]["server"].as_str().ok_or_else(|| anyhow!("no cluster server"))?;
    Ok(server.trim_start_matches("https://").trim_end_matches('/').to_string())
}

/// The operator's kubeconfig with the API server reached through `addr` (`host:port`).
pub fn kubeconfig_through(addr: &str, tag: &str) -> Result<PathBuf> {
    let own = impersonating_kubeconfig()?;
    let mut kc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&own)?)?;
    for c in kc["clusters"].as_array_mut().into_iter().flatten() {
        c["cluster"]["server"] = Value::from(format!("https://{addr}"));
    }
    let path = own.with_file_name(format!("operator-{tag}.kubeconfig"));
    std::fs::write(&path, serde_yaml_ng::to_string(&kc)?)?;
    Ok(path)
}

impl Operator {
    /// Start an operator watching `namespace`, electing through the Lease `lease`.
    pub async fn start(namespace: &str, lease: &str, identity: &str) -> Result<Self> {
        Self::start_with(namespace, lease, identity, &[]).await
    }

    /// The same with more flags (e.g. [`chart_operator_args`]; later flags win).
    pub async fn start_with(namespace: &str, lease: &str, identity: &str, extra: &[String]) -> Result<Self> {
        Self::start_through(namespace, lease, identity, extra, &impersonating_kubeconfig()?).await
    }

    /// The same, reaching the API server through `kubeconfig` (e.g. [`kubeconfig_through`]).
    pub async fn start_through(
        namespace: &str,
        lease: &str,
        identity: &str,
        extra: &[String],
        kubeconfig: &Path,
    ) -> Result<Self> {
        let bin = std::env::var("OPERATOR_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join("target/debug/inferwatch-operator"));
        if !bin.exists() {
            bail!("{} is missing: build it with `cargo build -p inferwatch-operator`", bin.display());
        }
        let port = free_port()?;
        let log_dir = repo_root().join(".cache/cluster-run/logs");
        std::fs::create_dir_all(&log_dir)?;
        let log = std::fs::File::create(log_dir.join(format!("operator-{identity}.log")))?;
        // An empty namespace: watch all namespaces.
        let scope = if namespace.is_empty() { Vec::new() } else { vec!["--namespace", namespace] };
        let child = Command::new(bin)
            .args(scope)
            .args(["--lease-name", lease, "--lease-namespace", SYSTEM_NAMESPACE])
            .args(["--identity", identity, "--http-addr", &format!("127.0.0.1:{port}"), "--log", "info"])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let op = Operator { child, http: format!("127.0.0.1:{port}"), identity: identity.into() };
        eventually("operator /healthz", Duration::from_secs(30), || async { Ok(op.get("/healthz").ok()) }).await?;
        Ok(op)
    }

    /// The operator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET a path of the operator's HTTP endpoints (plain HTTP/1.0 over loopback).
    pub fn get(&self, path: &str) -> Result<String> {
        http::get(&self.http, path)
    }

    /// The value of an unlabelled or labelled sample in /metrics (0 when absent).
    pub fn metric(&self, series: &str) -> Result<f64> {
        let text = self.get("/metrics")?;
        Ok(text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0))
    }

    /// Total writes of this operator (apply, delete, status, events).
    pub fn writes(&self) -> Result<f64> {
        let text = self.get("/metrics")?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("inferwatch_operator_writes_total{"))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum())
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL (a crash, no lease release).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (graceful: in-flight reconciles finish, the lease is released).
    pub fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The holder of the Lease `name` in the system namespace.
pub async fn lease_holder(client: &Client, name: &str) -> Result<Option<String>> {
    let api: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    Ok(api.get_opt(name).await?.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}
