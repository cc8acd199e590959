//! The chain a kube-prometheus-stack user gets, end to end: ModelService -> Inferwatch operator
//! -> prometheus-operator -> Prometheus -> Alertmanager -> receiver, in real pods.
//!
//! Real parts: the local control plane and its real node (kubelet, containerd, kube-proxy);
//! prometheus-operator (pinned, built from its Go module by `e2e/cluster/build.sh`, image made by
//! `e2e/cluster/images.sh`) as a pod with its ServiceAccount, reconciling a `Prometheus` and an
//! `Alertmanager` that carry kube-prometheus-stack's default selectors
//! (`e2e/fixtures/kube-prometheus-stack.yaml` says where they come from and what differs) into
//! StatefulSets whose pods run Prometheus, Alertmanager and prometheus-config-reloader; our
//! chart installed with the values the README documents; the Inferwatch operator with exactly
//! the flags the chart rendered into its Deployment; promtool and amtool on the generated files;
//! the ModelService's inference-server pod, scraped by the Prometheus pod through the generated
//! Kubernetes service discovery; the receiver is this test's webhook sink on the node's bridge
//! address, which the Alertmanager pod posts to.
//!
//! The fault: the server's container is killed whenever it starts (a crash loop) until the page
//! arrives; then its pod is deleted and the resolution follows from the replacement.

use anyhow::{anyhow, bail, Context as _, Result};
use e2e::http::{prometheus_query, WebhookSink};
use e2e::node::{self, on_node};
use e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const NS: &str = "e2e-kps";
const MONITORING: &str = "monitoring";
const RELEASE: &str = "kube-prometheus-stack";
const PROMETHEUS: &str = "kube-prometheus-stack-prometheus";
const ALERTMANAGER: &str = "kube-prometheus-stack-alertmanager";

fn work_dir() -> Result<PathBuf> {
    let d = repo_root().join(".cache/cluster-run/kps");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// `v3.5.0` from `prometheus, version 3.5.0 (...)` (and `v0.25.0` from Debian's `0.25.0+ds`).
fn installed_version(program: &Path) -> Result<String> {
    let out =
        Command::new(program).arg("--version").output().with_context(|| format!("cannot run {}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let v = text.split_whitespace().nth(2).ok_or_else(|| anyhow!("no version in {text:?}"))?;
    Ok(format!("v{}", v.split('+').next().unwrap_or(v)))
}

fn apply_stdin(doc: &str) -> Result<()> {
    let path = std::env::temp_dir().join(format!("e2e-kps-{}.yaml", std::process::id()));
    std::fs::write(&path, doc)?;
    kubectl(&["apply", "--server-side", "--force-conflicts", "-f", path.to_str().unwrap_or_default()])?;
    Ok(())
}

/// The data of a Secret key, base64-decoded and, for `.gz` keys, gunzipped.
fn secret_file(ns: &str, name: &str, key: &str) -> Result<Option<String>> {
    let Ok(out) = kubectl(&["-n", ns, "get", "secret", name, "-o", "json"]) else { return Ok(None) };
    let s: Value = serde_json::from_str(&out)?;
    let Some(b64) = s["data"][key].as_str() else { return Ok(None) };
    let mut cmd = format!("printf %s '{b64}' | base64 -d");
    if key.ends_with(".gz") {
        cmd.push_str(" | gzip -dc");
    }
    let out = Command::new("sh").args(["-c", &cmd]).output()?;
    if !out.status.success() {
        bail!("cannot decode {ns}/{name} {key}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(Some(String::from_utf8(out.stdout)?))
}

/// The generated Prometheus configuration (`prometheus-<name>` Secret).
fn prometheus_config() -> Result<Option<Value>> {
    let text = secret_file(MONITORING, &format!("prometheus-{PROMETHEUS}"), "prometheus.yaml.gz")?;
    text.map(|t| serde_yaml_ng::from_str(&t).map_err(Into::into)).transpose()
}

fn scrape_job_names(cfg: &Value) -> Vec<String> {
    cfg["scrape_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["job_name"].as_str().map(String::from))
        .collect()
}

/// The generated rule files (`prometheus-<name>-rulefiles-0` ConfigMap): file name -> content.
fn rule_files() -> Result<Vec<(String, String)>> {
    let Ok(out) =
        kubectl(&["-n", MONITORING, "get", "configmap", &format!("prometheus-{PROMETHEUS}-rulefiles-0"), "-o", "json"])
    else {
        return Ok(Vec::new());
    };
    let cm: Value = serde_json::from_str(&out)?;
    Ok(cm["data"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect())
}

/// A ServiceMonitor and a PrometheusRule that carry the release label, created after the
/// ModelService's: once prometheus-operator shows them, it has seen the namespace, so whatever of
/// the ModelService is missing was not selected (rather than not reconciled yet).
fn apply_selected_controls() -> Result<()> {
    apply_stdin(&format!(
        r#"apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {{name: control, namespace: {NS}, labels: {{release: {RELEASE}}}}}
spec:
  selector: {{matchLabels: {{app: control}}}}
  endpoints: [{{port: http}}]
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {{name: control, namespace: {NS}, labels: {{release: {RELEASE}}}}}
spec:
  groups: [{{name: control, rules: [{{record: "control:up", expr: "vector(1)"}}]}}]
"#
    ))
}

fn generated_state() -> Result<(Vec<String>, Vec<String>)> {
    let jobs = prometheus_config()?.map(|c| scrape_job_names(&c)).unwrap_or_default();
    let rules = rule_files()?.into_iter().map(|(k, _)| k).collect();
    Ok((jobs, rules))
}

/// The pinned Prometheus build (`prometheus` or `promtool`): Debian's leaves out Kubernetes
/// service discovery, which is all the generated configuration uses.
fn pinned(tool: &str) -> Result<PathBuf> {
    Ok(tools_dir()?.join(tool))
}

/// The receiver `amtool config routes test` picks for an alert with these labels (stdout only:
/// amtool warns on stderr that --config.file overrides --alertmanager.url).
fn routed_to(am_config: &Path, labels: &[&str]) -> Result<String> {
    let file = format!("--config.file={}", am_config.display());
    let mut args = vec!["config", "routes", "test", file.as_str()];
    args.extend(labels);
    Ok(run("amtool", &args)?.trim().to_string())
}

/// A pinned tool's path as `run` takes it.
fn tool(name: &str) -> Result<String> {
    pinned(name)?.to_str().map(String::from).ok_or_else(|| anyhow!("{name} path is not UTF-8"))
}

async fn wait_for_alert(sink: &WebhookSink, path: &str, status: &str, timeout: Duration) -> Result<Value> {
    eventually(&format!("{status} InferwatchTargetDown on {path}"), timeout, || async {
        Ok(sink.alerts(path, "InferwatchTargetDown", status).into_iter().find(|a| a["labels"]["namespace"] == NS))
    })
    .await
    .with_context(|| format!("the sink saw {:?}", sink.seen()))
}

/// A pinned version from `e2e/cluster/versions.env`.
fn pinned_version(key: &str) -> Result<String> {
    let text = std::fs::read_to_string(repo_root().join("e2e/cluster/versions.env"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(|v| v.trim().to_string()))
        .ok_or_else(|| anyhow!("{key} is not in versions.env"))
}

/// The IP of pod `name` in the monitoring namespace (reachable from the host over the bridge).
fn pod_ip(name: &str) -> Result<String> {
    let ip = kubectl(&["-n", MONITORING, "get", "pod", name, "-o", "jsonpath={.status.podIP}"])?;
    if ip.trim().is_empty() {
        bail!("pod {name} has no IP yet");
    }
    Ok(ip.trim().to_string())
}

/// The UID of the one pod matching `selector` in `ns`.
fn pod_uid(ns: &str, selector: &str) -> Result<String> {
    let uid = kubectl(&["-n", ns, "get", "pod", "-l", selector, "-o", "jsonpath={.items[0].metadata.uid}"])?;
    Ok(uid.trim().to_string())
}

/// SIGKILL every process named `comm` in the pod's cgroups on the real node (kubelet's cgroup
/// root `/inferwatch`, cgroup v1): a crash, as the kubelet sees one.
fn kill_container_processes(pod_uid: &str, comm: &str) {
    let base = "/sys/fs/cgroup/pids/inferwatch/kubepods";
    for qos in ["", "burstable/", "besteffort/"] {
        let Ok(dirs) = std::fs::read_dir(format!("{base}/{qos}pod{pod_uid}")) else { continue };
        for dir in dirs.flatten() {
            let procs = std::fs::read_to_string(dir.path().join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines() {
                let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if name.trim() == comm {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
        }
    }
}

#[tokio::test]
async fn a_stock_kube_prometheus_stack_scrapes_evaluates_and_routes_a_model_service_in_another_namespace() {
    let work = work_dir().unwrap();
    install_all_prometheus_operator_crds().unwrap();
    if !node::available().unwrap() {
        return;
    }
    let prometheus_version = installed_version(&pinned("prometheus").unwrap()).unwrap();
    let alertmanager_version = installed_version(Path::new("prometheus-alertmanager")).unwrap();
    let po_version = pinned_version("PROMETHEUS_OPERATOR_VERSION").unwrap();
    let fixture = std::fs::read_to_string(repo_root().join("e2e/fixtures/kube-prometheus-stack.yaml"))
        .unwrap()
        .replace("IMAGE_PROMETHEUS_OPERATOR", &format!("inferwatch.local/prometheus-operator:{po_version}"))
        .replace("IMAGE_CONFIG_RELOADER", &format!("inferwatch.local/prometheus-config-reloader:{po_version}"))
        .replace("IMAGE_PROMETHEUS", &format!("inferwatch.local/prometheus:{prometheus_version}"))
        .replace("IMAGE_ALERTMANAGER", &format!("inferwatch.local/alertmanager:{alertmanager_version}"))
        .replace("PROMETHEUS_VERSION", &prometheus_version)
        .replace("ALERTMANAGER_VERSION", &alertmanager_version);
    apply_stdin(&fixture).unwrap();
    // The Alertmanager pod posts to the node's bridge address.
    let sink = WebhookSink::start_on(node::NODE_IP).unwrap();

    // 1. The chart as a user installs it before reading the README: no monitoring labels.
    let routing = [
        "alertmanager.enabled=true".to_string(),
        format!("alertmanager.namespace={MONITORING}"),
        format!("alertmanager.receivers.page.url={}/page", sink.url),
        format!("alertmanager.receivers.team.url={}/team", sink.url),
        format!("alertmanager.receivers.digest.url={}/digest", sink.url),
        "alertmanager.groupWait=1s".to_string(),
        "alertmanager.groupInterval=5s".to_string(),
    ];
    let routing: Vec<&str> = routing.iter().map(String::as_str).collect();
    install_chart_with(&routing).unwrap();
    let client = admin().await.unwrap();
    fresh_namespace(NS).unwrap();
    // A real server pod on the real node, running the image the chart names by default here.
    let ms = on_node(json!({
        "apiVersion": "inferwatch.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": "sentiment"},
        "spec": {
            "model": {"kind": "sentiment"},
            "image": format!("{}:{}", node::SERVER_IMAGE, node::IMAGE_TAG),
            "monitoring": {"serviceMonitor": {"interval": "5s"}},
        },
    }));
    let job = format!("serviceMonitor/{NS}/sentiment/0");
    {
        let _op = Operator::start_with(NS, "e2e-kps", "kps-0", &chart_operator_args().unwrap()).await.unwrap();
        apply_model_service(&client, NS, &ms).await.unwrap();
        node::wait_ready_explained(&client, NS, "sentiment", Duration::from_secs(180)).await.unwrap();
        let sm = dynamic(&client, NS, "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors");
        eventually("the ServiceMonitor exists", Duration::from_secs(30), || async {
            Ok(sm.get_opt("sentiment").await?.map(|_| ()))
        })
        .await
        .unwrap();
        apply_selected_controls().unwrap();
        let (jobs, rules) =
            eventually("prometheus-operator shows the control objects", Duration::from_secs(90), || async {
                let (jobs, rules) = generated_state()?;
                let seen = jobs.iter().any(|j| j == &format!("serviceMonitor/{NS}/control/0"))
                    && rules.iter().any(|r| r.starts_with(&format!("{NS}-control-")));
                Ok(seen.then_some((jobs, rules)))
            })
            .await
            .unwrap();
        // What a user would see: no target and no rule for their ModelService.
        assert!(!jobs.contains(&job), "an unlabelled ServiceMonitor must not be selected: {jobs:?}");
        assert!(
            !rules.iter().any(|r| r.starts_with(&format!("{NS}-sentiment-"))),
            "an unlabelled PrometheusRule must not be selected: {rules:?}"
        );
    }

    // 2. The documented value; the operator restarts with the flags the upgraded chart renders,
    //    as its Deployment would roll.
    let release = format!("monitoring.labels.release={RELEASE}");
    let mut documented = routing.clone();
    documented.push(&release);
    install_chart_with(&documented).unwrap();
    let args = chart_operator_args().unwrap();
    assert!(args.iter().any(|a| a == &format!(r#"--monitoring-labels={{"release":"{RELEASE}"}}"#)), "{args:?}");
    let _op = Operator::start_with(NS, "e2e-kps-upgraded", "kps-1", &args).await.unwrap();
    let (cfg, rules) = eventually("prometheus-operator selects the ModelService", Duration::from_secs(120), || async {
        let Some(cfg) = prometheus_config()? else { return Ok(None) };
        let rules: Vec<(String, String)> =
            rule_files()?.into_iter().filter(|(k, _)| k.starts_with(&format!("{NS}-sentiment-"))).collect();
        Ok((scrape_job_names(&cfg).contains(&job) && !rules.is_empty()).then_some((cfg, rules)))
    })
    .await
    .unwrap();

    // promtool accepts both generated files. The config refers to in-pod paths (the rule
    // directory), hence --syntax-only for it.
    let raw_cfg = work.join("prometheus-generated.yaml");
    std::fs::write(&raw_cfg, serde_yaml_ng::to_string(&cfg).unwrap()).unwrap();
    run(&tool("promtool").unwrap(), &["check", "config", "--syntax-only", raw_cfg.to_str().unwrap()]).unwrap();
    let rules_dir = work.join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    for (name, text) in &rules {
        std::fs::write(rules_dir.join(name), text).unwrap();
    }
    let rule_text: String = rules.iter().map(|(_, t)| t.as_str()).collect();
    assert!(rule_text.contains("InferwatchTargetDown") && rule_text.contains(&format!("namespace=\"{NS}\"")));
    let rule_paths: Vec<String> = rules.iter().map(|(n, _)| rules_dir.join(n).display().to_string()).collect();
    let mut check = vec!["check", "rules"];
    check.extend(rule_paths.iter().map(String::as_str));
    run(&tool("promtool").unwrap(), &check).unwrap();

    // The generated Alertmanager configuration routes each severity of an Inferwatch alert from
    // the ModelService's namespace to its receiver, and leaves other alerts to the stock routes.
    let am_text = eventually("the generated Alertmanager configuration", Duration::from_secs(90), || async {
        let text = secret_file(MONITORING, &format!("alertmanager-{ALERTMANAGER}-generated"), "alertmanager.yaml.gz")?;
        Ok(text.filter(|t| t.contains("inferwatch-page")))
    })
    .await
    .unwrap();
    let am_templates = work.join("am-templates");
    std::fs::create_dir_all(&am_templates).unwrap();
    let am_cfg = work.join("alertmanager.yaml");
    let am_text = am_text.replace("/etc/alertmanager/config/", &format!("{}/", am_templates.display()));
    std::fs::write(&am_cfg, &am_text).unwrap();
    run("amtool", &["check-config", am_cfg.to_str().unwrap()]).unwrap();
    let ns_label = format!("namespace={NS}");
    for (severity, receiver) in
        [("critical", "inferwatch-page"), ("warning", "inferwatch-team"), ("info", "inferwatch-digest")]
    {
        let sev = format!("severity={severity}");
        let got = routed_to(&am_cfg, &["alertname=InferwatchTargetDown", &sev, &ns_label]).unwrap();
        assert_eq!(got, format!("{MONITORING}/inferwatch-routing/{receiver}"), "{severity}");
    }
    let other = routed_to(&am_cfg, &["alertname=KubePodCrashLooping", "severity=critical", &ns_label]).unwrap();
    assert_eq!(other, "null", "only Inferwatch alerts are routed by the chart");

    // 3. The generated files in the Prometheus and Alertmanager pods prometheus-operator runs,
    //    scraping the real server pod.
    let prom = eventually("the Prometheus pod answers", Duration::from_secs(180), || async {
        let addr = format!("{}:9090", pod_ip(&format!("prometheus-{PROMETHEUS}-0"))?);
        Ok(e2e::http::get(&addr, "/-/ready").ok().map(|_| addr))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", node::recent_events(MONITORING)));
    eventually("the Alertmanager pod answers", Duration::from_secs(180), || async {
        let addr = format!("{}:9093", pod_ip(&format!("alertmanager-{ALERTMANAGER}-0"))?);
        Ok(e2e::http::get(&addr, "/-/ready").ok().map(|_| ()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", node::recent_events(MONITORING)));
    // The target carries the labels prometheus-operator's relabelling gives it.
    let up = eventually("Prometheus scrapes the ModelService's pod", Duration::from_secs(120), || async {
        let r = prometheus_query(&prom, &format!("up{{namespace=\"{NS}\",job=\"sentiment\"}} == 1"))?;
        Ok(r.into_iter().next())
    })
    .await
    .unwrap();
    assert_eq!(up["metric"]["service"], "sentiment", "{up}");
    assert_eq!(up["metric"]["endpoint"], "http", "{up}");
    // The rule groups the config-reloader put in place are loaded.
    let groups = eventually("Prometheus loaded the ModelService's rule groups", Duration::from_secs(120), || async {
        let body: Value = serde_json::from_str(&e2e::http::get(&prom, "/api/v1/rules")?)?;
        let groups: Vec<String> = body["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["file"].as_str().is_some_and(|f| f.contains(&format!("{NS}-sentiment-"))))
            .filter_map(|g| g["name"].as_str().map(String::from))
            .collect();
        Ok((!groups.is_empty()).then_some(groups))
    })
    .await
    .unwrap();
    eprintln!("Prometheus pod evaluates {} rule groups of the ModelService", groups.len());

    // The fault: the server crashes whenever it starts. The page receiver gets
    // InferwatchTargetDown for the namespace after the rule's production `for: 2m`.
    let killing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let killer = {
        let killing = killing.clone();
        let uid = pod_uid(NS, "app.kubernetes.io/instance=sentiment").unwrap();
        std::thread::spawn(move || {
            while killing.load(std::sync::atomic::Ordering::Relaxed) {
                kill_container_processes(&uid, "inference-serve");
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let broken = std::time::Instant::now();
    let fired = wait_for_alert(&sink, "/page", "firing", Duration::from_secs(300)).await.unwrap();
    eprintln!("the page arrived {:?} after the server began to crash", broken.elapsed());
    assert_eq!(fired["labels"]["severity"], "critical", "{fired}");
    assert_eq!(fired["labels"]["job"], "sentiment", "{fired}");
    killing.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = killer.join();
    // Mend it: a fresh pod (the crashed one would wait out its back-off); the resolution follows.
    kubectl(&["-n", NS, "delete", "pod", "-l", "app.kubernetes.io/instance=sentiment", "--wait=false"]).unwrap();
    let mended = std::time::Instant::now();
    wait_for_alert(&sink, "/page", "resolved", Duration::from_secs(240)).await.unwrap();
    eprintln!("the resolution arrived {:?} after the pod was replaced", mended.elapsed());
    assert!(sink.alerts("/digest", "InferwatchTargetDown", "firing").is_empty(), "a page is not also a digest");

    // Leave the cluster as the other tests expect it.
    install_chart().unwrap();
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
    kubectl(&["delete", "prometheus,alertmanager", "--all", "-n", MONITORING, "--wait=false"]).unwrap();
    kubectl(&["-n", MONITORING, "scale", "deployment", "kube-prometheus-stack-operator", "--replicas=0"]).unwrap();
}
