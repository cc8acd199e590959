//! The chain as users run it, in real pods on the cluster's real node (`e2e/cluster/node.sh`:
//! containerd, runc, CNI bridge, kubelet, kube-proxy): our chart with the images built from our
//! Dockerfiles (`e2e/cluster/images.sh`), the operator as a pod under its ServiceAccount, the
//! five examples as server pods Ready through the kubelet's probes, predictions and feedback
//! through their Services' ClusterIPs, a rolling update under steady traffic, a version change
//! through a real MLflow registry, the hostile battery
//! at the default limits, and the two ways a broken install shows: a wrong image tag
//! (ImagePullBackOff) and a missing RBAC verb (Forbidden).
//!
//! Real parts: everything named above, and `mlflow server` with SeaweedFS on the node's bridge
//! address. Nothing is mocked. The server pods run the test build's
//! binary (stripped) in the Dockerfile's final stage; `make images` builds the release binary in
//! the same Dockerfile's build stage.

use anyhow::{bail, Result};
use e2e::http::{get, post};
use e2e::node::{self, on_node, pod_report, service_addr, wait_answering, wait_ready_explained};
use e2e::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::Client;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NS: &str = "e2e-real";

/// The README's request for each example, and a field its answer must carry.
const EXAMPLES: [(&str, &str, &str); 5] = [
    ("sentiment", r#"{"text": "I love this movie, it is wonderful"}"#, "label"),
    ("topic", r#"{"text": "the space shuttle launch to orbit was delayed by nasa engineers"}"#, "label"),
    ("email", r#"{"subject": "WIN MONEY NOW", "body": "Click here to claim your free prize"}"#, "spam"),
    ("recsys", r#"{"user_id": "196", "item_id": "242"}"#, "rating"),
    (
        "trend",
        r#"{"values": [112,118,132,129,121,135,148,148,136,119,104,118,115,126,141,135,125,149,170,170,158,133,114,140], "horizon": 6}"#,
        "direction",
    ),
];

/// The chart's values here: the operator watches only this test's namespace (a Role there), so
/// the real operator pod never touches the namespaces of the suite's other tests.
fn chart_values() -> Value {
    json!({"operator": {"watchNamespace": NS}})
}

/// A fresh namespace, then the chart with our images on the real node. `None`: no real node.
async fn setup() -> Result<Option<Client>> {
    if !node::available()? {
        return Ok(None);
    }
    fresh_namespace(NS)?;
    let started = Instant::now();
    node::install_chart(&chart_values())?;
    eprintln!("chart installed, operator pod Ready in {:?}", started.elapsed());
    Ok(Some(admin().await?))
}

/// The operator pod: on the real node, under the chart's ServiceAccount, running, never restarted.
async fn operator_pod(client: &Client) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let list = pods.list(&ListParams::default().labels("app.kubernetes.io/name=inferwatch-operator")).await?;
    let Some(pod) = list.items.into_iter().find(|p| p.metadata.deletion_timestamp.is_none()) else {
        bail!("no operator pod: {}", node::recent_events(SYSTEM_NAMESPACE));
    };
    Ok(pod)
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |c| c.iter().map(|c| c.restart_count).sum())
}

/// Every pod of the ModelService `name`: running on the real node, never restarted, never killed.
async fn assert_pods_healthy(client: &Client, name: &str) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let list = pods.list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={name}"))).await?;
    for p in &list.items {
        let on = p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
        let killed = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.last_state.as_ref().is_some_and(|l| l.terminated.is_some()));
        if on != node::NODE_NAME || restarts(p) != 0 || killed {
            bail!("{name}: {}", pod_report(client, NS, &format!("app.kubernetes.io/instance={name}")).await?);
        }
    }
    if list.items.is_empty() {
        bail!("{name} has no pods");
    }
    Ok(())
}

/// Wait until the ModelService `name`'s `status.modelVersion` (the VERSION column) is `want`.
async fn served_version(client: &Client, name: &str, want: &str) -> Result<()> {
    let models = model_services(client, NS);
    eventually(&format!("status.modelVersion of {name} is {want}"), Duration::from_secs(120), || async {
        let ms = models.get(name).await?;
        Ok((ms.data["status"]["modelVersion"] == want).then_some(()))
    })
    .await
}

fn model_service(name: &str, kind: &str, spec: Value) -> Value {
    let mut doc = json!({
        "apiVersion": "inferwatch.io/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": {"model": {"kind": kind}},
    });
    if let (Some(to), Some(from)) = (doc["spec"].as_object_mut(), spec.as_object()) {
        to.extend(from.clone());
    }
    on_node(doc)
}

#[tokio::test]
async fn the_operator_pod_brings_up_the_five_examples_and_they_answer_through_their_services() {
    let Some(client) = setup().await.unwrap() else { return };
    let op = operator_pod(&client).await.unwrap();
    let spec = op.spec.clone().unwrap_or_default();
    assert_eq!(spec.node_name.as_deref(), Some(node::NODE_NAME), "the operator runs on the real node");
    assert_eq!(spec.service_account_name.as_deref(), Some(SERVICE_ACCOUNT));
    let image = spec.containers.first().and_then(|c| c.image.clone()).unwrap_or_default();
    assert_eq!(image, format!("{}:{}", node::OPERATOR_IMAGE, node::IMAGE_TAG));

    let started = Instant::now();
    for (name, _, _) in EXAMPLES {
        apply_model_service(&client, NS, &on_node(example(&format!("{name}.yaml")).unwrap())).await.unwrap();
    }
    for (name, _, _) in EXAMPLES {
        wait_ready_explained(&client, NS, name, Duration::from_secs(300)).await.unwrap();
        eprintln!("{name} Ready with a real pod after {:?}", started.elapsed());
    }
    eprintln!("five ModelServices Ready with real pods in {:?}", started.elapsed());

    for (name, body, field) in EXAMPLES {
        let addr = service_addr(NS, name).unwrap();
        wait_answering(&addr, "/ready", Duration::from_secs(30)).await.unwrap();
        let (status, answer) = post(&addr, &format!("/v1/models/{name}/predict"), body).unwrap();
        assert_eq!(status, 200, "{name} through {addr}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert!(!answer[field].is_null(), "{name}: no {field} in {answer}");
        if name == "sentiment" {
            let id = answer["prediction_id"].as_str().expect("a prediction id").to_string();
            let feedback = json!({"prediction_id": id, "label": "positive"}).to_string();
            let (status, answer) = post(&addr, "/v1/models/sentiment/feedback", &feedback).unwrap();
            assert!(status == 200 || status == 202, "feedback through {addr}: {status} {answer}");
        }
    }
    // The server pods' /metrics counted those requests (what Prometheus will scrape).
    let metrics = get(&service_addr(NS, "sentiment").unwrap(), "/metrics").unwrap();
    assert!(metrics.contains("inferwatch_predictions_total"), "no prediction counter in /metrics");
    for (name, _, _) in EXAMPLES {
        assert_pods_healthy(&client, name).await.unwrap();
    }
    let op = operator_pod(&client).await.unwrap();
    assert_eq!(
        restarts(&op),
        0,
        "{}",
        pod_report(&client, SYSTEM_NAMESPACE, "app.kubernetes.io/name=inferwatch-operator").await.unwrap()
    );
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
}

/// Steady traffic from `workers` loops, each request on a new connection through the Service,
/// until `stop`; failures are kept with their cause.
struct Traffic {
    ok: Arc<AtomicU64>,
    failed: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(addr: &str, path: &str, body: &str, workers: usize) -> Self {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|_| {
                let (ok, failed, stop) = (ok.clone(), failed.clone(), stop.clone());
                let (addr, path, body) = (addr.to_string(), path.to_string(), body.to_string());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match post(&addr, &path, &body) {
                            Ok((200, _)) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok((status, answer)) => failed.lock().unwrap().push(format!("{status}: {answer}")),
                            Err(e) => failed.lock().unwrap().push(format!("{e:#}")),
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Self { ok, failed, stop, workers }
    }

    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            let _ = w.join();
        }
        (self.ok.load(Ordering::Relaxed), self.failed.lock().unwrap().clone())
    }
}

/// `spec.model.version` pinned to 1.0.0 (the built-in package), then changed to 1.1.0 (the
/// e2e server image holds `sentiment/1.1.0/`, see `e2e/cluster/images.sh`): every pod is
/// replaced, one at a time behind the PDB and readiness, under steady traffic that loses no
/// request; the pods then serve 1.1.0 and `status.modelVersion` (the VERSION column) says so.
#[tokio::test]
async fn a_model_version_change_rolls_the_pods_under_steady_traffic_and_fails_no_request() {
    let Some(client) = setup().await.unwrap() else { return };
    let pinned = |version: &str| {
        model_service(
            "rolling",
            "sentiment",
            json!({"replicas": 2, "model": {"kind": "sentiment", "version": version}}),
        )
    };
    apply_model_service(&client, NS, &pinned("1.0.0")).await.unwrap();
    wait_ready_explained(&client, NS, "rolling", Duration::from_secs(240)).await.unwrap();
    let served = |want: &'static str| served_version(&client, "rolling", want);
    served("1.0.0").await.unwrap();
    let addr = service_addr(NS, "rolling").unwrap();
    wait_answering(&addr, "/ready", Duration::from_secs(30)).await.unwrap();
    let traffic = Traffic::start(&addr, "/v1/models/sentiment/predict", r#"{"text": "steady traffic"}"#, 4);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), NS);
    let before = deployments.get("rolling").await.unwrap().metadata.generation.unwrap_or(0);
    apply_model_service(&client, NS, &pinned("1.1.0")).await.unwrap();
    let started = Instant::now();
    eventually("the rollout completes", Duration::from_secs(300), || async {
        let d = deployments.get("rolling").await?;
        let generation = d.metadata.generation.unwrap_or(0);
        let status = d.status.unwrap_or_default();
        let done = generation > before
            && status.observed_generation == Some(generation)
            && status.updated_replicas == Some(2)
            && status.available_replicas == Some(2)
            && status.replicas == Some(2);
        Ok(done.then_some(()))
    })
    .await
    .unwrap();
    let rolled = started.elapsed();
    // Until the old pods have finished terminating (pre-stop sleep, drain).
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    eventually("the old pods are gone", Duration::from_secs(120), || async {
        let n = pods.list(&ListParams::default().labels("app.kubernetes.io/instance=rolling")).await?.items.len();
        Ok((n == 2).then_some(()))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (ok, failed) = traffic.finish();
    eprintln!(
        "rolling update (model version 1.0.0 -> 1.1.0) in {rolled:?}: {ok} requests answered, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the rollout: {:?}",
        failed.len(),
        ok + failed.len() as u64,
        &failed[..failed.len().min(10)]
    );
    assert!(ok > 100, "too little traffic to prove anything: {ok} requests");
    // What the pods serve now, through the Service, and what `kubectl get msvc` shows.
    for _ in 0..4 {
        let meta: Value = serde_json::from_str(&get(&addr, "/v2/models/sentiment").unwrap()).unwrap();
        assert_eq!(meta["versions"], json!(["1.1.0"]), "{meta}");
    }
    served("1.1.0").await.unwrap();
    let table = kubectl(&["get", "msvc", "rolling", "-n", NS]).unwrap();
    assert!(table.contains("1.1.0"), "the VERSION column: {table}");
    assert_pods_healthy(&client, "rolling").await.unwrap();
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
}

/// `spec.model.version` with an MLflow source, served by real pods from a real `mlflow server`
/// (SQLite backend, artifacts in a real SeaweedFS), both listening on the node's bridge address
/// so the pods reach them: registry version 1 is the built-in sentiment package, version 2 the
/// same graph as package 1.1.0. Changing the version from 1 to 2 rolls the pods; they then serve
/// registry version 2 (OIP metadata: package version 1.1.0, source `models:/sentiment/2`) and
/// the VERSION column says 2.
#[tokio::test]
async fn an_mlflow_version_change_rolls_the_pods_to_that_registry_version() {
    let Some(client) = setup().await.unwrap() else { return };
    testkit::seaweedfs::credentials();
    let store = testkit::seaweedfs::SeaweedFs::start_on(node::NODE_IP);
    store.create_bucket("mlflow").await;
    let registry = testkit::mlflow::Mlflow::start_on(node::NODE_IP, store.endpoint());
    let first = registry.register(&["sentiment"]);
    let newer = std::env::temp_dir().join(format!("e2e-mlflow-{}", std::process::id()));
    let package = newer.join("sentiment");
    std::fs::create_dir_all(&package).unwrap();
    for file in ["model.json", "model.onnx", "tokenizer.json"] {
        std::fs::copy(testkit::models_dir().join("sentiment").join(file), package.join(file)).unwrap();
    }
    let mut meta: Value = serde_json::from_slice(&std::fs::read(package.join("model.json")).unwrap()).unwrap();
    meta["version"] = json!("1.1.0");
    std::fs::write(package.join("model.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    let second = registry.register_from(&newer, &["sentiment"]);
    assert_eq!((first[0]["version"].as_str(), second[0]["version"].as_str()), (Some("1"), Some("2")));
    let _ = std::fs::remove_dir_all(&newer);
    kubectl(&[
        "-n",
        NS,
        "create",
        "secret",
        "generic",
        "registry-credentials",
        &format!("--from-literal=AWS_ACCESS_KEY_ID={}", testkit::seaweedfs::ACCESS_KEY),
        &format!("--from-literal=AWS_SECRET_ACCESS_KEY={}", testkit::seaweedfs::SECRET_KEY),
    ])
    .unwrap();
    let pinned = |version: &str| {
        let source = json!({"mlflow": {
            "trackingUri": registry.url(),
            "modelUri": "models:/sentiment/1",
            "artifactEndpoint": store.endpoint(),
            "credentialsSecret": {"name": "registry-credentials"},
        }});
        model_service(
            "registry",
            "sentiment",
            json!({"model": {"kind": "sentiment", "version": version, "source": source}}),
        )
    };
    let served = |want: &'static str| served_version(&client, "registry", want);
    let serving =
        |addr: String| -> Value { serde_json::from_str(&get(&addr, "/v2/models/sentiment").unwrap()).unwrap() };

    apply_model_service(&client, NS, &pinned("1")).await.unwrap();
    wait_ready_explained(&client, NS, "registry", Duration::from_secs(240)).await.unwrap();
    served("1").await.unwrap();
    let addr = service_addr(NS, "registry").unwrap();
    wait_answering(&addr, "/ready", Duration::from_secs(30)).await.unwrap();
    let meta = serving(addr.clone());
    assert_eq!(meta["versions"], json!(["1.0.0"]), "{meta}");
    assert!(meta["parameters"]["source"].as_str().unwrap().contains("models:/sentiment/1"), "{meta}");

    apply_model_service(&client, NS, &pinned("2")).await.unwrap();
    served("2").await.unwrap();
    let meta = eventually("the Service answers from registry version 2", Duration::from_secs(120), || async {
        let meta = serving(addr.clone());
        Ok((meta["versions"] == json!(["1.1.0"])).then_some(meta))
    })
    .await
    .unwrap();
    assert!(meta["parameters"]["source"].as_str().unwrap().contains("models:/sentiment/2"), "{meta}");
    let table = kubectl(&["get", "msvc", "registry", "-n", NS]).unwrap();
    assert!(table.split_whitespace().any(|w| w == "2"), "the VERSION column: {table}");
    assert_pods_healthy(&client, "registry").await.unwrap();
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
}

/// The weekly report ships in the operator image (`kubectl exec deploy/inferwatch-operator --
/// inferwatch-report ...`, docs/slo.md): a pod of that image runs the command to completion on
/// the real node, with no Rust toolchain anywhere near it.
#[tokio::test]
async fn the_operator_image_carries_the_report_command() {
    let Some(client) = setup().await.unwrap() else { return };
    let pod = on_node(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "report-version"},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532},
            "containers": [{
                "name": "report",
                "image": format!("{}:{}", node::OPERATOR_IMAGE, node::IMAGE_TAG),
                "imagePullPolicy": "IfNotPresent",
                "command": ["/usr/local/bin/inferwatch-report", "--version"],
            }],
        },
    }));
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let pod: Pod = serde_json::from_value(pod).unwrap();
    pods.create(&Default::default(), &pod).await.unwrap();
    let phase = eventually("the report pod finishes", Duration::from_secs(120), || async {
        let p = pods.get("report-version").await?;
        let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
        Ok(["Succeeded", "Failed"].contains(&phase.as_str()).then_some(phase))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", node::recent_events(NS)));
    assert_eq!(phase, "Succeeded", "inferwatch-report --version in the operator image");
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
}

/// A JSON body of about `bytes`: `head`, `item` repeated with commas, `tail`.
fn repeated(head: &str, item: &str, tail: &str, bytes: usize) -> String {
    let n = (bytes - head.len() - tail.len()) / (item.len() + 1);
    let mut s = String::with_capacity(bytes);
    s.push_str(head);
    s.push_str(&vec![item; n].join(","));
    s.push_str(tail);
    s
}

/// The container's peak memory as its cgroup counted it (cgroup v1 `memory.max_usage_in_bytes`).
fn peak_memory(pod: &Pod) -> Option<u64> {
    let uid = pod.metadata.uid.as_ref()?;
    let id = pod.status.as_ref()?.container_statuses.as_ref()?.first()?.container_id.clone()?;
    let id = id.rsplit('/').next()?.to_string();
    for qos in ["burstable", "besteffort", ""] {
        let path = format!("/sys/fs/cgroup/memory/inferwatch/kubepods/{qos}/pod{uid}/{id}/memory.max_usage_in_bytes")
            .replace("//", "/");
        if let Ok(v) = std::fs::read_to_string(&path) {
            return v.trim().parse().ok();
        }
    }
    None
}

#[tokio::test]
async fn the_hostile_battery_at_the_chart_default_limits_restarts_nothing() {
    let Some(client) = setup().await.unwrap() else { return };
    // The defaults: no resources set, so the operator's (256 MiB memory limit).
    apply_model_service(&client, NS, &model_service("hostile", "sentiment", json!({}))).await.unwrap();
    wait_ready_explained(&client, NS, "hostile", Duration::from_secs(240)).await.unwrap();
    let addr = service_addr(NS, "hostile").unwrap();
    wait_answering(&addr, "/ready", Duration::from_secs(30)).await.unwrap();
    let mib = 1024 * 1024;
    let started = Instant::now();

    // 1. Bodies that multiply in memory, many at once (2 MiB of tiny JSON items each).
    let bodies = [
        ("/v1/models/sentiment/predict", repeated(r#"{"inputs": ["#, "{}", "]}", 2 * mib - 1024)),
        ("/v1/models/sentiment/predict", repeated(r#"{"text": ["#, "0", "]}", 2 * mib - 1024)),
        (
            "/v2/models/sentiment/infer",
            repeated(
                r#"{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["#,
                "[0]",
                "]}]}",
                2 * mib - 1024,
            ),
        ),
        ("/v1/models/sentiment/feedback", repeated(r#"{"feedback": ["#, "{}", "]}", 2 * mib - 1024)),
    ];
    let mut answers = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..48)
            .map(|i| {
                let (path, body) = &bodies[i % bodies.len()];
                let addr = addr.clone();
                s.spawn(move || post(&addr, path, body))
            })
            .collect();
        for h in handles {
            answers.push(h.join().expect("request thread"));
        }
    });
    let mut closed_early = 0;
    for a in &answers {
        match a {
            Ok((status, answer)) => {
                assert!(matches!(status, 413 | 422 | 429), "hostile body answered {status}: {answer}")
            }
            // Refused before it was read (over the body budget): the server answered and closed
            // while this client still wrote.
            Err(e) if format!("{e:#}").contains(e2e::http::CLOSED_EARLY) => closed_early += 1,
            Err(e) => panic!("a hostile body got no answer: {e:#}"),
        }
    }
    eprintln!(
        "48 hostile 2 MiB bodies: {} answered 4xx, {closed_early} refused before they were read",
        answers.len() - closed_early
    );

    // 2. Oversized bodies: 64 MiB declared, sent in full.
    let huge = repeated(r#"{"text": ""#, "a", r#""}"#, 64 * mib);
    for _ in 0..4 {
        match post(&addr, "/v1/models/sentiment/predict", &huge) {
            Ok((status, answer)) => assert!(matches!(status, 413 | 429), "64 MiB body answered {status}: {answer}"),
            Err(e) => assert!(format!("{e:#}").contains(e2e::http::CLOSED_EARLY), "64 MiB body: {e:#}"),
        }
    }

    // 3. Many tiny items within the limits, concurrently.
    let tiny = json!({"inputs": vec![json!({"text": "x"}); 256]}).to_string();
    std::thread::scope(|s| {
        for _ in 0..16 {
            let (addr, tiny) = (addr.clone(), tiny.clone());
            s.spawn(move || {
                for _ in 0..10 {
                    let (status, answer) = post(&addr, "/v1/models/sentiment/predict", &tiny).expect("answered");
                    assert!(matches!(status, 200 | 429 | 503), "256 tiny items answered {status}: {answer}");
                }
            });
        }
    });

    // 4. Slow clients: 200 connections that send a header byte at a time, then go quiet.
    let slow: Vec<std::net::TcpStream> = (0..200)
        .filter_map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).ok()?;
            std::io::Write::write_all(&mut c, b"POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\n").ok()?;
            Some(c)
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // While they hang, real requests are still answered.
    let (status, answer) = post(&addr, "/v1/models/sentiment/predict", r#"{"text": "still serving"}"#).unwrap();
    assert_eq!(status, 200, "with 200 slow clients open: {answer}");
    drop(slow);

    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let list = pods.list(&ListParams::default().labels("app.kubernetes.io/instance=hostile")).await.unwrap();
    let pod = list.items.first().expect("the hostile pod");
    let peak = peak_memory(pod);
    eprintln!(
        "hostile battery in {:?}: peak container memory {} MiB of the 256 MiB limit, restarts {}",
        started.elapsed(),
        peak.map_or("unknown".to_string(), |p| (p / mib as u64).to_string()),
        restarts(pod)
    );
    assert_pods_healthy(&client, "hostile").await.unwrap();
    wait_answering(&addr, "/ready", Duration::from_secs(10)).await.unwrap();
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn a_wrong_image_tag_is_reported_as_image_pull_backoff() {
    let Some(client) = setup().await.unwrap() else { return };
    let image = format!("{}:no-such-tag", node::SERVER_IMAGE);
    apply_model_service(&client, NS, &model_service("wrong-tag", "sentiment", json!({"image": image}))).await.unwrap();
    let err = wait_ready_explained(&client, NS, "wrong-tag", Duration::from_secs(20)).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("ImagePullBackOff") || text.contains("ErrImagePull"), "the cause is not named:\n{text}");
    assert!(text.contains("no-such-tag"), "the image is not named:\n{text}");
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn an_operator_missing_an_rbac_verb_is_reported_as_forbidden() {
    let Some(client) = setup().await.unwrap() else { return };
    // The chart's Role without `patch` on Deployments: the operator's server-side apply of the
    // ModelService's Deployment is refused, as it would be with a hand-edited role.
    let role = kubectl(&["-n", NS, "get", "role", "inferwatch-operator", "-o", "json"]).unwrap();
    let mut role: Value = serde_json::from_str(&role).unwrap();
    let mut removed = false;
    for rule in role["rules"].as_array_mut().unwrap() {
        let deployments = rule["resources"].as_array().is_some_and(|r| r.iter().any(|x| x == "deployments"));
        if deployments {
            if let Some(verbs) = rule["verbs"].as_array_mut() {
                verbs.retain(|v| v != "patch");
                removed = true;
            }
        }
    }
    assert!(removed, "the chart's Role has no rule for deployments: {role}");
    let path = std::env::temp_dir().join(format!("e2e-role-{}.json", std::process::id()));
    std::fs::write(&path, role.to_string()).unwrap();
    kubectl(&["replace", "-f", path.to_str().unwrap()]).unwrap();

    apply_model_service(&client, NS, &model_service("forbidden", "sentiment", json!({}))).await.unwrap();
    let err = wait_ready_explained(&client, NS, "forbidden", Duration::from_secs(20)).await.unwrap_err();
    let text = format!("{err:#}");
    // Restore the chart's role before asserting, so a failure leaves the cluster usable.
    node::install_chart(&chart_values()).unwrap();
    assert!(text.to_lowercase().contains("forbidden"), "the cause is not named:\n{text}");
    assert!(text.contains("deployments"), "the refused resource is not named:\n{text}");
    kubectl(&["delete", "namespace", NS, "--wait=false"]).unwrap();
}
