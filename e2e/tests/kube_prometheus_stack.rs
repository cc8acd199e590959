//! The chain a kube-prometheus-stack user gets, end to end: ModelService -> Inferwatch operator
//! -> prometheus-operator -> Prometheus -> Alertmanager -> receiver.
//!
//! Real parts: the local control plane; prometheus-operator (pinned, built from its Go module by
//! `e2e/cluster/build.sh`) as a process against the API server, reconciling a `Prometheus` and an
//! `Alertmanager` that carry kube-prometheus-stack's default selectors
//! (`e2e/fixtures/kube-prometheus-stack.yaml` says where they come from); our chart installed with
//! the values the README documents; the Inferwatch operator with exactly the flags the chart
//! rendered into its Deployment; promtool and amtool; a Prometheus and an Alertmanager process; a
//! real inference-server process.
//!
//! What cannot run here: kwok pods run no containers and have no network, so the StatefulSets
//! prometheus-operator creates never start Prometheus or Alertmanager. The test therefore runs
//! the files prometheus-operator generated (the config Secret, the rule-file ConfigMap, the
//! Alertmanager configuration Secret) in local processes, with only these edits, all of them
//! about where things are rather than what they say: the Kubernetes service discovery reads the
//! API server through the admin kubeconfig instead of an in-cluster token; the discovered kwok
//! pod address is rewritten to the real server's loopback port as the last relabel step; the
//! rule-file and template paths point at local copies; Prometheus sends to the local Alertmanager;
//! `$(SHARD)` and `$(POD_NAME)` are expanded as prometheus-config-reloader does in the pod.

use anyhow::{anyhow, bail, Context as _, Result};
use e2e::http::{prometheus_query, WebhookSink};
use e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NS: &str = "e2e-kps";
const MONITORING: &str = "monitoring";
const RELEASE: &str = "kube-prometheus-stack";
const PROMETHEUS: &str = "kube-prometheus-stack-prometheus";
const ALERTMANAGER: &str = "kube-prometheus-stack-alertmanager";

/// A child process killed with the test.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(name: &str, cmd: &mut Command) -> Result<Proc> {
    let log_dir = repo_root().join(".cache/cluster-run/logs");
    std::fs::create_dir_all(&log_dir)?;
    let log = std::fs::File::create(log_dir.join(format!("{name}.log")))?;
    let child = cmd.stdout(log.try_clone()?).stderr(log).spawn().with_context(|| format!("cannot start {name}"))?;
    Ok(Proc(child))
}

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

/// The prometheus-operator process, with the admin kubeconfig (it is the cluster's monitoring
/// controller here, as kube-prometheus-stack installs it with cluster-wide rights).
fn start_prometheus_operator() -> Result<Proc> {
    let bin = tools_dir()?.join("prometheus-operator");
    let port = free_port()?;
    spawn(
        "prometheus-operator",
        Command::new(bin).env("KUBECONFIG", admin_kubeconfig()?).args([
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--log-level",
            "info",
        ]),
    )
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

/// The generated Prometheus configuration, pointed at this machine (see the module doc): the
/// API server through `kubeconfig`, the ModelService's targets at `server`, the rule files in
/// `rules_dir`, alerts to `alertmanager`.
fn localise_prometheus_config(
    mut cfg: Value,
    kubeconfig: &Path,
    job: &str,
    server: &str,
    rules_dir: &Path,
    alertmanager: &str,
) -> Result<Value> {
    let kubeconfig = kubeconfig.to_str().ok_or_else(|| anyhow!("kubeconfig path is not UTF-8"))?;
    // What prometheus-config-reloader does in the pod: expand $(SHARD) and $(POD_NAME).
    let expanded = serde_json::to_string(&cfg)?
        .replace("$(SHARD)", "0")
        .replace("$(POD_NAME)", &format!("prometheus-{PROMETHEUS}-0"));
    cfg = serde_json::from_str(&expanded)?;
    let jobs = cfg["scrape_configs"].as_array_mut().ok_or_else(|| anyhow!("no scrape_configs"))?;
    jobs.retain(|j| j["job_name"] == job);
    let j = jobs.first_mut().ok_or_else(|| anyhow!("no job {job}"))?;
    for sd in j["kubernetes_sd_configs"].as_array_mut().into_iter().flatten() {
        sd["kubeconfig_file"] = json!(kubeconfig);
    }
    j["relabel_configs"]
        .as_array_mut()
        .ok_or_else(|| anyhow!("job {job} has no relabel_configs"))?
        .push(json!({"action": "replace", "target_label": "__address__", "replacement": server}));
    cfg["rule_files"] = json!([format!("{}/*.yaml", rules_dir.display())]);
    cfg["alerting"] =
        json!({"alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}]});
    Ok(cfg)
}

async fn wait_for_alert(sink: &WebhookSink, path: &str, status: &str, timeout: Duration) -> Result<Value> {
    eventually(&format!("{status} InferwatchTargetDown on {path}"), timeout, || async {
        Ok(sink.alerts(path, "InferwatchTargetDown", status).into_iter().find(|a| a["labels"]["namespace"] == NS))
    })
    .await
    .with_context(|| format!("the sink saw {:?}", sink.seen()))
}

fn start_server(bin: &Path, port: u16) -> Result<Proc> {
    spawn(
        "kps-inference-server",
        Command::new(bin)
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .args(["--model-dir", repo_root().join("models").to_str().unwrap_or("models")])
            .args(["--log-format", "json"])
            .stdin(Stdio::null()),
    )
}

#[tokio::test]
async fn a_stock_kube_prometheus_stack_scrapes_evaluates_and_routes_a_model_service_in_another_namespace() {
    let work = work_dir().unwrap();
    install_all_prometheus_operator_crds().unwrap();
    let fixture = std::fs::read_to_string(repo_root().join("e2e/fixtures/kube-prometheus-stack.yaml"))
        .unwrap()
        .replace("PROMETHEUS_VERSION", &installed_version(&pinned("prometheus").unwrap()).unwrap())
        .replace("ALERTMANAGER_VERSION", &installed_version(Path::new("prometheus-alertmanager")).unwrap());
    apply_stdin(&fixture).unwrap();
    let _po = start_prometheus_operator().unwrap();
    let sink = WebhookSink::start().unwrap();

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
    let ms = json!({
        "apiVersion": "inferwatch.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": "sentiment"},
        "spec": {"model": {"kind": "sentiment"}, "monitoring": {"serviceMonitor": {"interval": "5s"}}},
    });
    let job = format!("serviceMonitor/{NS}/sentiment/0");
    {
        let _op = Operator::start_with(NS, "e2e-kps", "kps-0", &chart_operator_args().unwrap()).await.unwrap();
        apply_model_service(&client, NS, &ms).await.unwrap();
        wait_ready(&client, NS, "sentiment", Duration::from_secs(90)).await.unwrap();
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

    // 3. The generated files in a real Alertmanager and Prometheus, scraping a real server.
    let am_port = free_port().unwrap();
    let _am = spawn(
        "kps-alertmanager",
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", am_cfg.display()))
            .arg(format!("--storage.path={}", work.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address="),
    )
    .unwrap();
    let server_bin = std::env::var("SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target/debug/inference-server"));
    let server_port = free_port().unwrap();
    let mut server = start_server(&server_bin, server_port).unwrap();
    let server_addr = format!("127.0.0.1:{server_port}");
    eventually("the inference server is ready", Duration::from_secs(60), || async {
        Ok(e2e::http::get(&server_addr, "/ready").ok().map(|_| ()))
    })
    .await
    .unwrap();
    let local = localise_prometheus_config(
        cfg,
        &admin_kubeconfig().unwrap(),
        &job,
        &server_addr,
        &rules_dir,
        &format!("127.0.0.1:{am_port}"),
    )
    .unwrap();
    let prom_cfg = work.join("prometheus.yaml");
    std::fs::write(&prom_cfg, serde_yaml_ng::to_string(&local).unwrap()).unwrap();
    let prom_port = free_port().unwrap();
    let _prom = spawn(
        "kps-prometheus",
        Command::new(pinned("prometheus").unwrap())
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!("--storage.tsdb.path={}", work.join("prom-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
    )
    .unwrap();
    let prom = format!("127.0.0.1:{prom_port}");
    // The target carries the labels prometheus-operator's relabelling gives it.
    let up = eventually("Prometheus scrapes the ModelService's target", Duration::from_secs(90), || async {
        let r = prometheus_query(&prom, &format!("up{{namespace=\"{NS}\",job=\"sentiment\"}} == 1"))?;
        Ok(r.into_iter().next())
    })
    .await
    .unwrap();
    assert_eq!(up["metric"]["service"], "sentiment", "{up}");
    assert_eq!(up["metric"]["endpoint"], "http", "{up}");

    // Kill the server: the page receiver gets InferwatchTargetDown for the namespace after the
    // rule's production `for: 2m`; restart it and the resolution arrives.
    drop(server);
    let fired = wait_for_alert(&sink, "/page", "firing", Duration::from_secs(240)).await.unwrap();
    assert_eq!(fired["labels"]["severity"], "critical", "{fired}");
    assert_eq!(fired["labels"]["job"], "sentiment", "{fired}");
    server = start_server(&server_bin, server_port).unwrap();
    wait_for_alert(&sink, "/page", "resolved", Duration::from_secs(120)).await.unwrap();
    assert!(sink.alerts("/digest", "InferwatchTargetDown", "firing").is_empty(), "a page is not also a digest");
    drop(server);

    // Leave the cluster as the other tests expect it.
    install_chart().unwrap();
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
}
