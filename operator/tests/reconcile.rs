//! Reconcile tests against a mocked API server, in the kube-rs style (`tower-test`).
//!
//! The mock is a small in-memory API server: GET/PATCH/DELETE on object paths, the status
//! subresource, Events, and discovery of `monitoring.coreos.com/v1` (present or not). It records
//! every call so the tests can count writes. This is a mock because these tests must be fast and
//! run without a cluster; the e2e suite runs the same reconciler against a real kube-apiserver.

use http::{Method, Request, Response, StatusCode};
use inferwatch_operator::controller::{self, Context, RESYNC};
use inferwatch_operator::crd::ModelService;
use inferwatch_operator::metrics::Metrics;
use inferwatch_operator::render::OperatorConfig;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::Client;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

const NS: &str = "ml";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/ml/deployments/sentiment";
const PDB: &str = "/apis/policy/v1/namespaces/ml/poddisruptionbudgets/sentiment";
const DASHBOARD: &str = "/api/v1/namespaces/ml/configmaps/sentiment-dashboard";
const SERVICE_MONITOR: &str = "/apis/monitoring.coreos.com/v1/namespaces/ml/servicemonitors/sentiment";
const STATUS: &str = "/apis/inferwatch.io/v1alpha1/namespaces/ml/modelservices/sentiment/status";

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    calls: Vec<(Method, String)>,
    monitoring_crds: bool,
    fail_writes_to: HashSet<String>,
    version: u64,
}

/// The mocked API server and what it saw.
#[derive(Clone, Default)]
struct ApiServer(Arc<Mutex<State>>);

fn status_body(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": reason, "reason": reason, "code": code})
}

impl ApiServer {
    fn start(monitoring_crds: bool) -> (Self, Client) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = ApiServer::default();
        server.0.lock().unwrap().monitoring_crds = monitoring_crds;
        let s = server.clone();
        tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                let (parts, body) = req.into_parts();
                let body = body.collect_bytes().await.unwrap_or_default();
                let (code, reply) = s.answer(&parts.method, parts.uri.path(), &body);
                let resp = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(resp);
            }
        });
        (server, Client::new(service, NS))
    }

    fn answer(&self, method: &Method, path: &str, body: &[u8]) -> (StatusCode, Value) {
        let mut st = self.0.lock().unwrap();
        st.calls.push((method.clone(), path.to_string()));
        if path == "/apis/monitoring.coreos.com/v1" {
            return if st.monitoring_crds {
                let r = |n: &str, k: &str| json!({"name": n, "singularName": "", "namespaced": true, "kind": k, "verbs": ["get"]});
                (
                    StatusCode::OK,
                    json!({"kind": "APIResourceList", "groupVersion": "monitoring.coreos.com/v1",
                    "resources": [r("servicemonitors", "ServiceMonitor"), r("prometheusrules", "PrometheusRule")]}),
                )
            } else {
                (StatusCode::NOT_FOUND, status_body(404, "NotFound"))
            };
        }
        if *method != Method::GET && st.fail_writes_to.contains(path) {
            return (StatusCode::INTERNAL_SERVER_ERROR, status_body(500, "InternalError"));
        }
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match *method {
            Method::GET => match st.objects.get(path) {
                Some(o) => (StatusCode::OK, o.clone()),
                None => (StatusCode::NOT_FOUND, status_body(404, "NotFound")),
            },
            Method::PATCH | Method::POST => {
                st.version += 1;
                let mut o = body;
                if let Some(parent) = path.strip_suffix("/status") {
                    // The status subresource: merge into the stored resource and answer with all of it.
                    let mut whole = st.objects.get(parent).cloned().unwrap_or(Value::Null);
                    whole["status"] = o["status"].clone();
                    st.objects.insert(parent.to_string(), whole.clone());
                    o = whole;
                }
                o["metadata"]["resourceVersion"] = json!(st.version.to_string());
                o["metadata"]["uid"] = json!(format!("uid-{}", st.version));
                let key = if *method == Method::POST {
                    format!("{path}/{}", o["metadata"]["name"].as_str().unwrap_or("event"))
                } else {
                    path.to_string()
                };
                st.objects.insert(key, o.clone());
                (StatusCode::OK, o)
            }
            Method::DELETE => match st.objects.remove(path) {
                Some(_) => (StatusCode::OK, json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
                None => (StatusCode::NOT_FOUND, status_body(404, "NotFound")),
            },
            _ => (StatusCode::METHOD_NOT_ALLOWED, status_body(405, "MethodNotAllowed")),
        }
    }

    /// Calls other than GET since the last `take_writes`.
    fn take_writes(&self) -> Vec<(Method, String)> {
        let mut st = self.0.lock().unwrap();
        let calls = std::mem::take(&mut st.calls);
        calls.into_iter().filter(|(m, _)| *m != Method::GET).collect()
    }

    fn object(&self, path: &str) -> Option<Value> {
        self.0.lock().unwrap().objects.get(path).cloned()
    }

    fn edit(&self, path: &str, f: impl FnOnce(&mut Value)) {
        let mut st = self.0.lock().unwrap();
        if let Some(o) = st.objects.get_mut(path) {
            f(o);
        }
    }

    fn set_monitoring_crds(&self, on: bool) {
        self.0.lock().unwrap().monitoring_crds = on;
    }

    fn fail_writes_to(&self, path: &str) {
        self.0.lock().unwrap().fail_writes_to.insert(path.to_string());
    }

    /// The status last written for the ModelService.
    fn written_status(&self) -> Value {
        self.object(STATUS).map(|o| o["status"].clone()).unwrap_or(Value::Null)
    }
}

const MODEL_SERVICE: &str = "/apis/inferwatch.io/v1alpha1/namespaces/ml/modelservices/sentiment";

fn model_service(spec: Value) -> ModelService {
    serde_json::from_value(json!({
        "apiVersion": "inferwatch.io/v1alpha1", "kind": "ModelService",
        "metadata": {"name": "sentiment", "namespace": NS, "uid": "ms-uid", "generation": 2},
        "spec": spec,
    }))
    .unwrap()
}

/// The mocked API server holding `ms`, and a reconcile context talking to it.
fn setup(monitoring_crds: bool, ms: &ModelService) -> (ApiServer, Arc<Context>) {
    let (server, client) = ApiServer::start(monitoring_crds);
    server.0.lock().unwrap().objects.insert(MODEL_SERVICE.to_string(), serde_json::to_value(ms).unwrap());
    (server, context(client))
}

fn context(client: Client) -> Arc<Context> {
    Arc::new(Context::new(client, OperatorConfig::default(), Arc::new(Metrics::default()), Some("test".into())))
}

/// The ModelService as the controller's cache sees it after the operator's own status write.
fn with_written_status(ms: &ModelService, server: &ApiServer) -> ModelService {
    let mut next = ms.clone();
    next.status = Some(serde_json::from_value(server.written_status()).unwrap());
    next
}

/// Paths written with `method`, Events left out (the recorder patches a repeated event's series).
fn paths(writes: &[(Method, String)], method: Method) -> Vec<String> {
    writes.iter().filter(|(m, p)| *m == method && !p.contains("/events")).map(|(_, p)| p.clone()).collect()
}

fn condition(status: &Value, kind: &str) -> (String, String) {
    let c = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == kind).unwrap();
    (c["status"].as_str().unwrap().to_string(), c["reason"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn first_reconcile_creates_every_wanted_object_and_writes_status() {
    let ms = model_service(json!({"model": {"kind": "sentiment"}}));
    let (server, ctx) = setup(true, &ms);
    let action = controller::reconcile(Arc::new(ms), ctx).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    let writes = server.take_writes();
    let applied = paths(&writes, Method::PATCH);
    for kind in ["deployments", "services", "servicemonitors", "prometheusrules", "configmaps"] {
        assert!(applied.iter().any(|p| p.contains(&format!("/{kind}/"))), "{kind} not applied: {applied:?}");
    }
    assert!(!applied.iter().any(|p| p.contains("horizontalpodautoscalers") || p.contains("poddisruptionbudgets")));
    assert!(applied.contains(&STATUS.to_string()));
    let events = writes.iter().filter(|(m, p)| *m == Method::POST && p.contains("/events")).count();
    assert_eq!(events, 1, "one Applied event: {writes:?}");
    let deployment = server.object(DEPLOYMENT).unwrap();
    assert_eq!(deployment["metadata"]["ownerReferences"][0]["uid"], "ms-uid");
    let status = server.written_status();
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(condition(&status, "Ready").0, "False");
    assert_eq!(condition(&status, "MonitoringReady"), ("True".into(), "Applied".into()));
}

#[tokio::test]
async fn second_reconcile_of_an_unchanged_resource_makes_no_write_call() {
    let ms = model_service(json!({"model": {"kind": "sentiment"}, "replicas": 3}));
    let (server, ctx) = setup(true, &ms);
    controller::reconcile(Arc::new(ms.clone()), ctx.clone()).await.unwrap();
    assert!(!server.take_writes().is_empty());
    let ms = with_written_status(&ms, &server);
    controller::reconcile(Arc::new(ms), ctx).await.unwrap();
    assert_eq!(server.take_writes(), vec![], "an unchanged resource must not be written");
}

#[tokio::test]
async fn status_follows_the_deployment() {
    let ms = model_service(json!({"model": {"kind": "sentiment"}}));
    let (server, ctx) = setup(true, &ms);
    controller::reconcile(Arc::new(ms.clone()), ctx.clone()).await.unwrap();
    server.edit(DEPLOYMENT, |d| {
        d["metadata"]["generation"] = json!(1);
        d["status"] = json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1,
            "availableReplicas": 1, "updatedReplicas": 1});
    });
    let ms = with_written_status(&ms, &server);
    server.take_writes();
    controller::reconcile(Arc::new(ms), ctx).await.unwrap();
    assert_eq!(paths(&server.take_writes(), Method::PATCH), vec![STATUS.to_string()]);
    let status = server.written_status();
    assert_eq!(condition(&status, "Ready"), ("True".into(), "ReplicasAvailable".into()));
    assert_eq!(condition(&status, "Progressing").0, "False");
    assert_eq!(status["readyReplicas"], 1);
}

#[tokio::test]
async fn missing_monitoring_crds_set_the_condition_and_heal_once_installed() {
    let ms = model_service(json!({"model": {"kind": "sentiment"}}));
    let (server, ctx) = setup(false, &ms);
    let action = controller::reconcile(Arc::new(ms.clone()), ctx.clone()).await.unwrap();
    // No shorter requeue: the CRD poller of a running controller reconciles everything when
    // they appear (here the test reconciles again by hand).
    assert_eq!(action, Action::requeue(RESYNC));
    let applied = paths(&server.take_writes(), Method::PATCH);
    assert!(!applied.iter().any(|p| p.contains("monitoring.coreos.com")), "{applied:?}");
    assert!(applied.contains(&DEPLOYMENT.to_string()));
    let status = server.written_status();
    assert_eq!(condition(&status, "MonitoringReady"), ("False".into(), "PrometheusOperatorCRDsMissing".into()));

    server.set_monitoring_crds(true);
    let ms = with_written_status(&ms, &server);
    let action = controller::reconcile(Arc::new(ms), ctx).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    let applied = paths(&server.take_writes(), Method::PATCH);
    assert!(applied.contains(&SERVICE_MONITOR.to_string()), "{applied:?}");
    assert_eq!(condition(&server.written_status(), "MonitoringReady").0, "True");
}

#[tokio::test]
async fn api_error_backs_off_exponentially_and_is_reported() {
    let ms = Arc::new(model_service(json!({"model": {"kind": "sentiment"}})));
    let (server, ctx) = setup(true, &ms);
    server.fail_writes_to(DEPLOYMENT);
    let err = controller::reconcile(ms.clone(), ctx.clone()).await.unwrap_err();
    assert_eq!(err.reason(), "ApiServerError");
    assert_eq!(controller::error_policy(ms.clone(), &err, ctx.clone()), Action::requeue(controller::backoff(1)));
    assert_eq!(controller::error_policy(ms.clone(), &err, ctx.clone()), Action::requeue(controller::backoff(2)));
    assert!(controller::backoff(2) > controller::backoff(1));
    let writes = server.take_writes();
    let events: Vec<Value> = {
        let st = server.0.lock().unwrap();
        st.objects.iter().filter(|(k, _)| k.contains("/events/")).map(|(_, v)| v.clone()).collect()
    };
    assert!(events.iter().any(|e| e["type"] == "Warning" && e["reason"] == "ApiServerError"), "{events:?} {writes:?}");
    let (degraded, reason) = condition(&server.written_status(), "Degraded");
    assert_eq!((degraded.as_str(), reason.as_str()), ("True", "ApplyFailed"));
    let metrics = ctx.metrics.encode().unwrap();
    assert!(metrics.contains("inferwatch_operator_reconcile_errors_total{reason=\"ApiServerError\"} 1"), "{metrics}");
}

#[tokio::test]
async fn hand_edited_deployment_is_put_back() {
    let ms = model_service(json!({"model": {"kind": "sentiment"}, "replicas": 2}));
    let (server, ctx) = setup(true, &ms);
    controller::reconcile(Arc::new(ms.clone()), ctx.clone()).await.unwrap();
    server.edit(DEPLOYMENT, |d| d["spec"]["replicas"] = json!(7));
    let ms = with_written_status(&ms, &server);
    server.take_writes();
    controller::reconcile(Arc::new(ms), ctx).await.unwrap();
    assert_eq!(paths(&server.take_writes(), Method::PATCH), vec![DEPLOYMENT.to_string()]);
    assert_eq!(server.object(DEPLOYMENT).unwrap()["spec"]["replicas"], 2);
}

#[tokio::test]
async fn objects_the_spec_no_longer_wants_are_deleted() {
    let ms = model_service(json!({"model": {"kind": "sentiment"}, "replicas": 3}));
    let (server, ctx) = setup(true, &ms);
    controller::reconcile(Arc::new(ms.clone()), ctx.clone()).await.unwrap();
    assert!(server.object(PDB).is_some() && server.object(DASHBOARD).is_some());
    let mut smaller = with_written_status(&ms, &server);
    smaller.spec = model_service(json!({"model": {"kind": "sentiment"}, "replicas": 1,
        "monitoring": {"dashboard": {"enabled": false}}}))
    .spec;
    server.take_writes();
    controller::reconcile(Arc::new(smaller), ctx).await.unwrap();
    let deleted = paths(&server.take_writes(), Method::DELETE);
    assert_eq!(deleted, vec![PDB.to_string(), DASHBOARD.to_string()]);
    assert!(server.object(PDB).is_none() && server.object(DASHBOARD).is_none());
}

#[tokio::test]
async fn object_of_the_same_name_owned_by_someone_else_is_not_deleted() {
    let ms = model_service(json!({"model": {"kind": "sentiment"}}));
    let (server, ctx) = setup(true, &ms);
    server.0.lock().unwrap().objects.insert(
        PDB.to_string(),
        json!({"metadata": {"name": "sentiment", "ownerReferences": [{"uid": "someone-else", "controller": true}]}}),
    );
    controller::reconcile(Arc::new(ms), ctx).await.unwrap();
    assert!(paths(&server.take_writes(), Method::DELETE).is_empty());
    assert!(server.object(PDB).is_some());
}
