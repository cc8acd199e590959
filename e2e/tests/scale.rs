//! `make bench-operator`: the operator at 1000 ModelServices (`SCALE_MODELSERVICES`) across 10
//! namespaces, created at once, on the real local control plane (etcd, kube-apiserver,
//! controller-manager, scheduler; kwok stands in for the kubelets of two fake nodes). Not part
//! of `make test` (`#[ignore]`): it takes the convergence time plus one full resync interval.
//!
//! Measured, and written to `SCALE_REPORT` (docs/operator-scale.md):
//! - the time from the first create until every ModelService is `Ready=True` for its generation;
//! - the operator's CPU seconds (from /proc) and peak RSS (`VmHWM`);
//! - its API requests by verb, from the API server's audit log filtered on the operator's user
//!   agent (`apiserver_request_total` has no user-agent label), during convergence and during a
//!   quiet period of one full resync interval after it, plus its own write counter;
//! - reconcile duration percentiles from its histogram.
//!
//! It asserts what must hold whatever the machine's speed: every ModelService becomes Ready and
//! the quiet period has no write. Times are reported, not asserted.

use anyhow::{anyhow, Context as _, Result};
use e2e::*;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAMESPACES: usize = 10;
const USER_AGENT: &str = "inferwatch-operator/";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds (user + system) of a process.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').ok_or_else(|| anyhow!("odd /proc stat"))?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// A `Vm*` line of /proc/<pid>/status, in MiB.
fn vm_mib(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().trim_end_matches(" kB").trim().to_string()))
        .ok_or_else(|| anyhow!("no {field}"))?
        .parse()?;
    Ok(kib / 1024.0)
}

/// The operator's writes by `verb kind`.
fn writes_by_kind(op: &Operator) -> Result<BTreeMap<String, f64>> {
    let text = op.get("/metrics")?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("inferwatch_operator_writes_total{")) {
        let (labels, value) = line.rsplit_once(' ').ok_or_else(|| anyhow!("odd sample {line}"))?;
        let label = |k: &str| labels.split(&format!("{k}=\"")).nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
        out.insert(format!("{} {}", label("verb"), label("kind")), value.parse()?);
    }
    Ok(out)
}

/// Percentiles of the reconcile-duration histogram (upper bucket bound that holds the rank).
fn reconcile_percentiles(op: &Operator, qs: &[f64]) -> Result<(f64, Vec<String>)> {
    let text = op.get("/metrics")?;
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("inferwatch_operator_reconcile_duration_seconds_bucket{")) {
        let le = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("+Inf");
        let bound = if le == "+Inf" { f64::INFINITY } else { le.parse()? };
        let count: f64 = line.rsplit(' ').next().unwrap_or("0").parse()?;
        buckets.push((bound, count));
    }
    let total = buckets.last().map(|b| b.1).unwrap_or(0.0);
    let pct = qs
        .iter()
        .map(|q| {
            let rank = q * total;
            match buckets.iter().find(|(_, c)| *c >= rank) {
                Some((b, _)) if b.is_finite() => format!("≤ {} ms", b * 1000.0),
                _ => "> 10 s".to_string(),
            }
        })
        .collect();
    Ok((total, pct))
}

/// The operator's requests in the audit log between `from` and `to`, by verb and by
/// `verb resource`.
fn audited(log: &str, from: Timestamp, to: Timestamp) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut by_verb = BTreeMap::new();
    let mut by_resource = BTreeMap::new();
    for line in log.lines() {
        let Ok(ev) = serde_json::from_str::<Value>(line) else { continue };
        if !ev["userAgent"].as_str().is_some_and(|ua| ua.starts_with(USER_AGENT)) {
            continue;
        }
        let Some(at) = ev["requestReceivedTimestamp"].as_str().and_then(|t| t.parse::<Timestamp>().ok()) else {
            continue;
        };
        if at < from || at >= to {
            continue;
        }
        let verb = ev["verb"].as_str().unwrap_or("?").to_string();
        let mut resource = ev["objectRef"]["resource"].as_str().unwrap_or("(discovery)").to_string();
        if let Some(sub) = ev["objectRef"]["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        *by_resource.entry(format!("{verb} {resource}")).or_default() += 1;
        *by_verb.entry(verb).or_default() += 1;
    }
    (by_verb, by_resource)
}

fn table(out: &mut String, title: &str, rows: &BTreeMap<String, u64>, seconds: f64) {
    let total: u64 = rows.values().sum();
    let _ = writeln!(out, "\n| {title} | requests | per second |\n|---|---:|---:|");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} | {:.2} |", *v as f64 / seconds);
    }
    let _ = writeln!(out, "| **total** | **{total}** | **{:.2}** |", total as f64 / seconds);
}

async fn count_ready(all: &Api<DynamicObject>) -> Result<usize> {
    let list = all.list(&ListParams::default().labels("bench=operator-scale")).await?;
    Ok(list
        .items
        .iter()
        .filter(|ms| {
            let ready = matches!(condition(ms, "Ready"), Some((s, _, _)) if s == "True");
            ready && ms.data["status"]["observedGeneration"].as_i64() == ms.metadata.generation
        })
        .count())
}

#[tokio::test]
#[ignore = "benchmark: make bench-operator"]
async fn a_thousand_model_services_converge_and_then_stay_quiet() -> Result<()> {
    let total = env_or("SCALE_MODELSERVICES", 1000) as usize;
    let resync = env_or("SCALE_RESYNC_SECONDS", 300);
    let audit_path = repo_root().join(".cache/cluster-run/audit.log");
    anyhow::ensure!(audit_path.exists(), "no audit log: start the cluster with INFERWATCH_CLUSTER_AUDIT=1");
    install_chart()?;
    install_monitoring_crds()?;
    let namespaces: Vec<String> = (0..NAMESPACES).map(|i| format!("scale-{i}")).collect();
    for ns in &namespaces {
        fresh_namespace(ns)?;
    }
    let client = admin().await?;
    // All namespaces, the chart's flags, the default resync (300 s) unless told otherwise.
    let mut flags = chart_operator_args()?;
    flags.push(format!("--resync-seconds={resync}"));
    let op = Operator::start_with("", "scale", "scale-0", &flags).await?;
    eventually("operator leads", Duration::from_secs(60), || async {
        Ok((op.metric("inferwatch_operator_leader ")? == 1.0).then_some(()))
    })
    .await?;
    let pid = op.pid();
    let cpu_start = cpu_seconds(pid)?;
    let mut doc = example("sentiment.yaml")?;
    doc["spec"]["replicas"] = json!(1);
    doc["metadata"]["labels"] = json!({"bench": "operator-scale"});

    let t0 = Instant::now();
    let wall0 = Timestamp::now();
    let mut creates = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    for i in 0..total {
        let ns = namespaces[i % NAMESPACES].clone();
        let mut doc = doc.clone();
        doc["metadata"]["name"] = json!(format!("model-{i:04}"));
        let (client, gate) = (client.clone(), gate.clone());
        creates.spawn(async move {
            let _permit = gate.acquire().await?;
            apply_model_service(&client, &ns, &doc).await.map(|_| ())
        });
    }
    while let Some(r) = creates.join_next().await {
        r.context("create task")??;
    }
    let created_in = t0.elapsed().as_secs_f64();
    let all = model_services_all(&client);
    let mut ready = 0;
    while t0.elapsed() < Duration::from_secs(900) {
        ready = count_ready(&all).await?;
        if ready == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ready_in = t0.elapsed().as_secs_f64();
    let wall_ready = Timestamp::now();
    anyhow::ensure!(ready == total, "only {ready} of {total} ModelServices Ready after {ready_in:.0} s");
    let cpu_converged = cpu_seconds(pid)? - cpu_start;
    let rss_converged = vm_mib(pid, "VmRSS:")?;
    let writes_converged = writes_by_kind(&op)?;

    // The quiet period: the last status writes settle, then one full resync interval and a margin.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let quiet_from = Timestamp::now();
    let cpu_quiet_start = cpu_seconds(pid)?;
    let writes_before: f64 = writes_by_kind(&op)?.values().sum();
    let quiet = Duration::from_secs(resync + 15);
    tokio::time::sleep(quiet).await;
    let quiet_to = Timestamp::now();
    let writes_quiet = writes_by_kind(&op)?.values().sum::<f64>() - writes_before;
    let cpu_quiet = cpu_seconds(pid)? - cpu_quiet_start;
    let peak_rss = vm_mib(pid, "VmHWM:")?;
    let rss_end = vm_mib(pid, "VmRSS:")?;
    let (reconciles, pct) = reconcile_percentiles(&op, &[0.5, 0.9, 0.99])?;

    let log = std::fs::read_to_string(&audit_path)?;
    let (conv_verbs, conv_resources) = audited(&log, wall0, wall_ready);
    let (quiet_verbs, quiet_resources) = audited(&log, quiet_from, quiet_to);
    let quiet_secs = quiet.as_secs_f64();
    let quiet_requests: u64 = quiet_verbs.values().sum();

    let mut r = String::new();
    let _ = writeln!(r, "# The operator at {total} ModelServices\n");
    let _ = writeln!(
        r,
        "Generated by `make bench-operator` (`e2e/tests/scale.rs`) on the local control plane \
         (kube-apiserver, etcd, controller-manager, scheduler, kwok with two fake nodes), release \
         operator, chart flags, leader election on, resync {resync} s. {total} ModelServices \
         (the sentiment example, 1 replica) in {NAMESPACES} namespaces, created 64 at a time. \
         Requests by verb come from the API server's audit log, filtered on the operator's user \
         agent `{USER_AGENT}…`; writes from the operator's `inferwatch_operator_writes_total`.\n"
    );
    let _ = writeln!(r, "| measure | value |\n|---|---:|");
    let _ = writeln!(r, "| all created after | {created_in:.1} s |");
    let _ = writeln!(r, "| **all Ready=True after** | **{ready_in:.1} s** |");
    let _ = writeln!(r, "| operator CPU until all Ready | {cpu_converged:.1} s |");
    let _ = writeln!(r, "| operator CPU in the quiet period ({quiet_secs:.0} s) | {cpu_quiet:.1} s |");
    let _ = writeln!(r, "| **operator peak RSS** | **{peak_rss:.0} MiB** |");
    let _ = writeln!(r, "| operator RSS when all Ready / at the end | {rss_converged:.0} / {rss_end:.0} MiB |");
    let _ = writeln!(r, "| **writes in the quiet period** (operator counter) | **{writes_quiet}** |");
    let _ = writeln!(
        r,
        "| **API requests in the quiet period** (audit) | **{quiet_requests} ({:.3}/s)** |",
        quiet_requests as f64 / quiet_secs
    );
    let _ = writeln!(r, "| reconciles | {reconciles} |");
    let _ = writeln!(r, "| reconcile duration p50 / p90 / p99 (histogram bucket) | {} |", pct.join(" / "));
    let _ = writeln!(r, "\n## Writes until all Ready (operator counter)\n\n| verb kind | writes |\n|---|---:|");
    for (k, v) in &writes_converged {
        let _ = writeln!(r, "| {k} | {v} |");
    }
    let _ = writeln!(r, "\n## API requests until all Ready ({ready_in:.1} s)");
    table(&mut r, "verb", &conv_verbs, ready_in);
    table(&mut r, "verb resource", &conv_resources, ready_in);
    let _ = writeln!(r, "\n## API requests in the quiet period ({quiet_secs:.0} s: one resync interval and 15 s)");
    table(&mut r, "verb", &quiet_verbs, quiet_secs);
    table(&mut r, "verb resource", &quiet_resources, quiet_secs);
    println!("{r}");
    if let Ok(path) = std::env::var("SCALE_REPORT") {
        std::fs::write(path, &r)?;
    }
    anyhow::ensure!(writes_quiet == 0.0, "{writes_quiet} writes in the quiet period");
    Ok(())
}

fn model_services_all(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("inferwatch.io", "v1alpha1", "ModelService");
    Api::all_with(client.clone(), &kube::api::ApiResource::from_gvk_with_plural(&gvk, "modelservices"))
}
