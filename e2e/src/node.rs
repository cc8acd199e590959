//! The real node of the local cluster (`e2e/cluster/node.sh`): whether it runs, how a workload
//! is put on it, how the chart runs there with the images `e2e/cluster/images.sh` built, and
//! what its pods say when they do not come up.

use crate::{eventually, helm_chart_args, kubectl, model_services, repo_root, wait_ready};
use anyhow::{anyhow, bail, Context as _, Result};
use kube::api::{Api, ListParams};
use kube::Client;
use serde_json::{json, Value};
use std::time::Duration;

/// The real node's name, taint key and bridge address (as `e2e/cluster/node.sh` sets them).
pub const NODE_NAME: &str = "inferwatch-node";
/// Pods that must run for real tolerate this taint and select this label; the rest stay on kwok.
pub const NODE_TAINT_KEY: &str = "inferwatch.io/real-node";
/// The node's address on the pod bridge: pods reach the host (a webhook sink) here.
pub const NODE_IP: &str = "10.245.0.1";
/// The operator and server images `e2e/cluster/images.sh` imported into the node.
pub const OPERATOR_IMAGE: &str = "inferwatch.local/operator";
/// See [`OPERATOR_IMAGE`].
pub const SERVER_IMAGE: &str = "inferwatch.local/inference-server";
/// The tag of both.
pub const IMAGE_TAG: &str = "e2e";

/// Whether the cluster has its real node. `INFERWATCH_NODE=0` (a kwok-only cluster) makes the
/// real-pod tests say so and pass; any other cluster without the node fails them.
pub fn available() -> Result<bool> {
    if std::env::var("INFERWATCH_NODE").as_deref() == Ok("0") {
        eprintln!("INFERWATCH_NODE=0: the cluster has no real node; real-pod test not run");
        return Ok(false);
    }
    let flag = std::fs::read_to_string(repo_root().join(".cache/cluster-run/real-node")).unwrap_or_default();
    if flag.trim() != "1" {
        bail!("the local cluster has no real node (start it with e2e/cluster/up.sh, INFERWATCH_NODE unset)");
    }
    Ok(true)
}

/// The pod spec fields that put a workload on the real node.
pub fn placement() -> Value {
    json!({
        "nodeSelector": {NODE_TAINT_KEY: "true"},
        "tolerations": [{"key": NODE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
    })
}

/// A ModelService document moved onto the real node (`spec.nodeSelector`, `spec.tolerations`).
pub fn on_node(mut doc: Value) -> Value {
    let p = placement();
    doc["spec"]["nodeSelector"] = p["nodeSelector"].clone();
    doc["spec"]["tolerations"] = p["tolerations"].clone();
    doc
}

/// `helm upgrade --install` of the chart as a user with their own registry runs it: the images
/// `images.sh` built, the operator on the real node, then `extra` values (a second `--values`
/// file, which helm merges over the first).
pub fn install_chart(extra: &Value) -> Result<String> {
    let p = placement();
    let ours = json!({
        "operator": {
            "image": {"repository": OPERATOR_IMAGE, "tag": IMAGE_TAG, "pullPolicy": "IfNotPresent"},
            "nodeSelector": p["nodeSelector"],
            "tolerations": p["tolerations"],
        },
        "serverImage": {"repository": SERVER_IMAGE, "tag": IMAGE_TAG},
    });
    let mut files = Vec::new();
    for (name, values) in [("images", &ours), ("extra", extra)] {
        let file = std::env::temp_dir().join(format!("e2e-real-{name}-{}.yaml", std::process::id()));
        std::fs::write(&file, serde_yaml_ng::to_string(values)?)?;
        files.push(file.to_str().ok_or_else(|| anyhow!("temp path is not UTF-8"))?.to_string());
    }
    helm_chart_args(&["--values", &files[0], "--values", &files[1]], "180s")
}

/// One line per pod matching `selector` in `ns`: node, phase, and per container its state
/// (waiting reason and message, or last termination reason) and restart count. What a user
/// would read in `kubectl describe` to see why a workload is not up.
pub async fn pod_report(client: &Client, ns: &str, selector: &str) -> Result<String> {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), ns);
    let mut lines = Vec::new();
    for p in pods.list(&ListParams::default().labels(selector)).await? {
        let name = p.metadata.name.clone().unwrap_or_default();
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_else(|| "(unscheduled)".into());
        let status = p.status.unwrap_or_default();
        let mut line = format!("{name} on {node}: {}", status.phase.unwrap_or_default());
        for c in status.container_statuses.unwrap_or_default() {
            let state = c.state.unwrap_or_default();
            let now = if let Some(w) = state.waiting {
                format!("waiting {} {}", w.reason.unwrap_or_default(), w.message.unwrap_or_default())
            } else if let Some(t) = state.terminated {
                format!("terminated {}", t.reason.unwrap_or_default())
            } else {
                "running".to_string()
            };
            let last = c
                .last_state
                .and_then(|s| s.terminated)
                .map(|t| format!(", last terminated {} (exit {})", t.reason.unwrap_or_default(), t.exit_code))
                .unwrap_or_default();
            line.push_str(&format!("; {}: {now}, ready {}, restarts {}{last}", c.name, c.ready, c.restart_count));
        }
        lines.push(line);
    }
    Ok(if lines.is_empty() { format!("no pods match {selector}") } else { lines.join("\n") })
}

/// The newest Events of `ns` with their reasons and messages (Forbidden, FailedCreate, ...).
pub fn recent_events(ns: &str) -> String {
    kubectl(&[
        "-n",
        ns,
        "get",
        "events",
        "--sort-by=.lastTimestamp",
        "-o",
        "custom-columns=KIND:.involvedObject.kind,NAME:.involvedObject.name,REASON:.reason,MESSAGE:.message",
    ])
    .map(|t| t.lines().rev().take(15).collect::<Vec<_>>().join("\n"))
    .unwrap_or_else(|e| format!("(no events: {e:#})"))
}

/// Wait until the ModelService `name` is Ready with real pods; on timeout the error carries the
/// ModelService's conditions, its pods' states and the namespace's newest Events, so a missing
/// image reads as ImagePullBackOff and a missing RBAC verb as Forbidden.
pub async fn wait_ready_explained(client: &Client, ns: &str, name: &str, timeout: Duration) -> Result<()> {
    if let Err(e) = wait_ready(client, ns, name, timeout).await {
        let ms = model_services(client, ns).get_opt(name).await.ok().flatten();
        let conditions = ms.map(|m| m.data["status"]["conditions"].to_string()).unwrap_or_default();
        let pods = pod_report(client, ns, &format!("app.kubernetes.io/instance={name}"))
            .await
            .unwrap_or_else(|e| format!("{e:#}"));
        bail!("{e:#}\nconditions: {conditions}\npods:\n{pods}\nevents:\n{}", recent_events(ns));
    }
    Ok(())
}

/// `ClusterIP:port` of the Service `name` (reachable from the host through kube-proxy).
pub fn service_addr(ns: &str, name: &str) -> Result<String> {
    let out = kubectl(&["-n", ns, "get", "service", name, "-o", "json"])?;
    let svc: Value = serde_json::from_str(&out)?;
    let ip = svc["spec"]["clusterIP"].as_str().ok_or_else(|| anyhow!("service {ns}/{name} has no clusterIP"))?;
    let port = svc["spec"]["ports"][0]["port"].as_i64().ok_or_else(|| anyhow!("service {ns}/{name} has no port"))?;
    Ok(format!("{ip}:{port}"))
}

/// Wait until `GET path` through `addr` answers 200.
pub async fn wait_answering(addr: &str, path: &str, timeout: Duration) -> Result<()> {
    eventually(&format!("{addr}{path} answers"), timeout, || async {
        Ok(crate::http::get(addr, path).ok().map(|_| ()))
    })
    .await
    .context("through the Service")
}
