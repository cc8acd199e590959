//! Invalid ModelServices are rejected by the real API server (OpenAPI schema + CEL rules) with a
//! message a person understands.

use e2e::*;
use serde_json::{json, Value};

const NS: &str = "e2e-validation";

fn ms(spec: Value) -> Value {
    json!({"apiVersion": "inferwatch.io/v1alpha1", "kind": "ModelService",
           "metadata": {"name": "bad", "namespace": NS}, "spec": spec})
}

/// Server-side dry-run create; the API server's error text.
fn rejection(doc: &Value) -> String {
    let path = std::env::temp_dir().join(format!("e2e-invalid-{}.json", std::process::id()));
    std::fs::write(&path, doc.to_string()).unwrap();
    let result = kubectl(&["create", "--dry-run=server", "-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(out) => panic!("accepted an invalid spec {doc}: {out}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn invalid_specs_are_rejected_with_a_message_naming_the_field() {
    install_chart().unwrap();
    fresh_namespace(NS).unwrap();
    let kind = || json!({"kind": "sentiment"});
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "spec.model: Required value"),
        (json!({"model": {"kind": "vision"}}), "Unsupported value: \"vision\""),
        (json!({"model": kind(), "replicas": 101}), "spec.replicas must be between 0 and 100"),
        (
            json!({"model": kind(), "replicas": 2, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}),
            "set either spec.replicas or spec.autoscaling, not both",
        ),
        (
            json!({"model": kind(), "autoscaling": {"minReplicas": 5, "maxReplicas": 3}}),
            "spec.autoscaling.minReplicas must not exceed maxReplicas",
        ),
        (
            json!({"model": {"kind": "sentiment", "source": {"builtin": {}, "s3": {"uri": "s3://b/m", "credentialsSecret": {"name": "s"}}}}}),
            "spec.model.source must set exactly one of builtin, s3 or mlflow",
        ),
        (
            json!({"model": {"kind": "sentiment", "source": {"s3": {"uri": "http://b/m", "credentialsSecret": {"name": "s"}}}}}),
            "spec.model.source.s3.uri must look like s3://bucket/prefix",
        ),
        (
            json!({"model": {"kind": "sentiment", "source": {"mlflow": {"trackingUri": "http://m:5000", "modelUri": "runs:/abc"}}}}),
            "spec.model.source.mlflow.modelUri must be models:/<name>/<version|stage>",
        ),
        (
            json!({"model": kind(), "monitoring": {"alerts": {"errorRatioWarning": 1.5}}}),
            "spec.monitoring.alerts.errorRatioWarning must be between 0 and 1",
        ),
        (
            json!({"model": kind(), "monitoring": {"slo": {"latencyThresholdSeconds": 1.5}}}),
            "spec.monitoring.slo.latencyThresholdSeconds must be a latency bucket edge",
        ),
        (
            json!({"model": kind(), "monitoring": {"slo": {"availability": 1.0}}}),
            "spec.monitoring.slo.availability must be at least 0.5 and below 1",
        ),
        (
            json!({"model": kind(), "monitoring": {"slo": {"latency": -1}}}),
            "spec.monitoring.slo.latency must be at least 0.5 and below 1",
        ),
        (
            json!({"model": kind(), "monitoring": {"slo": {"window": "4w"}}}),
            "spec.monitoring.slo.window must be whole days from 1d to 90d",
        ),
        (
            json!({"model": kind(), "monitoring": {"slo": {"window": "91d"}}}),
            "spec.monitoring.slo.window must be whole days from 1d to 90d",
        ),
        (
            json!({"model": kind(), "monitoring": {"serviceMonitor": {"interval": "often"}}}),
            "spec.monitoring.serviceMonitor.interval must be a duration like 15s, 1m",
        ),
        (
            json!({"model": kind(), "serving": {"concurrencyLimit": 0}}),
            "spec.serving.concurrencyLimit must be between 1 and 100000",
        ),
        (
            json!({"model": kind(), "serving": {"cacheMaxBytes": 10}}),
            "spec.serving.cacheMaxBytes must be at least 1048576",
        ),
        (json!({"model": {"kind": "sentiment", "name": "Bad Name"}}), "spec.model.name must be 1-64 lowercase"),
        (json!({"model": kind(), "image": "has space"}), "spec.image must be an image reference without spaces"),
        (
            json!({"model": {"kind": "sentiment", "version": "../1.0.0"}}),
            "spec.model.version must be 1-64 letters, digits",
        ),
        (
            json!({"model": {"kind": "sentiment", "version": "@champion"}}),
            "spec.model.version may name an alias (@...) only with an MLflow source",
        ),
        (
            json!({"model": kind(), "env": [{"name": "INFERWATCH_LOG", "value": "debug"}, {"name": "INFERWATCH_LOG_FORMAT", "value": "pretty"}]}),
            "spec.env must not set a variable the operator renders from the spec (INFERWATCH_PORT,",
        ),
        (
            json!({"model": {"kind": "tabular"}}),
            "spec.model.source must name s3 or mlflow for a tabular model (a team's own package, never built in)",
        ),
        (
            json!({"model": kind(), "imagePullSecrets": [{"name": ""}]}),
            "spec.imagePullSecrets must name Secrets (1 to 253 characters)",
        ),
        (
            json!({"model": kind(), "tolerations": vec![json!({"key": "k", "operator": "Exists"}); 21]}),
            "spec.tolerations: Too many: 21: must have at most 20 items",
        ),
        (
            json!({"model": kind(), "nodeSelector": (0..21).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            "spec.nodeSelector: Too many: 21: must have at most 20 items",
        ),
        (
            json!({"model": kind(), "affinity": {"nodeAffinity": "anywhere"}}),
            "spec.affinity.nodeAffinity: Invalid value",
        ),
        (
            json!({"model": kind(), "quality": {"accuracyTarget": 1.5}}),
            "spec.quality.accuracyTarget must be above 0 and at most 1",
        ),
        (
            json!({"model": kind(), "quality": {"accuracyTolerance": -0.1}}),
            "spec.quality.accuracyTolerance must be at least 0",
        ),
        (json!({"model": kind(), "quality": {"rmseTarget": 0}}), "spec.quality.rmseTarget must be above 0"),
        (
            json!({"model": kind(), "quality": {"mapeTarget": 11}}),
            "spec.quality.mapeTarget must be above 0 and at most 10",
        ),
        (
            json!({"model": kind(), "quality": {"minFeedback": 0}}),
            "spec.quality.minFeedback must be between 1 and 1000000",
        ),
        (
            json!({"model": kind(), "quality": {"feedbackStarvation": "forever"}}),
            "spec.quality.feedbackStarvation must be a duration",
        ),
        (
            json!({"model": kind(), "quality": {"predictionTtlSeconds": 10}}),
            "spec.quality.predictionTtlSeconds must be between 60 and 7776000",
        ),
        (
            json!({"model": kind(), "quality": {"memoryMaxRecords": 5}}),
            "spec.quality.memoryMaxRecords must be between 1000 and 10000000",
        ),
        (json!({"model": kind(), "quality": {"enabled": "yes"}}), "spec.quality.enabled: Invalid value"),
        (
            json!({"model": kind(), "monitoring": {"drift": {"window": "an hour"}}}),
            "spec.monitoring.drift.window must be a duration like 30m, 1h or 1d",
        ),
        (
            json!({"model": kind(), "monitoring": {"drift": {"inputThreshold": 0}}}),
            "spec.monitoring.drift.inputThreshold must be above 0 and at most 10",
        ),
        (
            json!({"model": kind(), "monitoring": {"drift": {"predictionThreshold": 11}}}),
            "spec.monitoring.drift.predictionThreshold must be above 0 and at most 10",
        ),
        (
            json!({"model": kind(), "monitoring": {"drift": {"minObservations": 0}}}),
            "spec.monitoring.drift.minObservations must be between 1 and 10000000",
        ),
        (
            json!({"model": kind(), "networkPolicy": {"allowedNamespaces": ["Not_A_Namespace"]}}),
            "spec.networkPolicy.allowedNamespaces must be at most 50 namespace names",
        ),
        (
            json!({"model": kind(), "networkPolicy": {"metricsNamespaces": ["x".repeat(64)]}}),
            "spec.networkPolicy.metricsNamespaces[0]: Too long",
        ),
        (
            json!({"model": kind(), "auth": {"tokenSecret": {"name": "t"}, "key": "../tokens/x"}}),
            "spec.auth.key must be a Secret key",
        ),
        (json!({"model": kind(), "auth": {"key": "tokens"}}), "spec.auth.tokenSecret: Required value"),
        (
            json!({"model": kind(), "monitoring": {"drift": {"inputThreshold": "high"}}}),
            "spec.monitoring.drift.inputThreshold: Invalid value",
        ),
    ];
    let mut wrong = Vec::new();
    for (spec, want) in &cases {
        let got = rejection(&ms(spec.clone()));
        if !got.contains(want) {
            wrong.push(format!("spec {spec}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} messages differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn the_smallest_spec_is_accepted_and_defaulted() {
    install_chart().unwrap();
    fresh_namespace(NS).unwrap();
    let path = std::env::temp_dir().join("e2e-minimal.json");
    std::fs::write(&path, ms(json!({"model": {"kind": "sentiment"}})).to_string()).unwrap();
    let out = kubectl(&["create", "--dry-run=server", "-o", "json", "-f", path.to_str().unwrap()]).unwrap();
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["spec"]["monitoring"]["serviceMonitor"]["enabled"], true, "{created}");
    assert_eq!(created["spec"]["monitoring"]["alerts"]["enabled"], true, "{created}");
}

/// Every example under manifests/examples, `full.yaml` (every field) included, is accepted as
/// written by the real API server's schema and CEL rules (server-side dry run).
#[test]
fn every_example_is_accepted_as_written() {
    install_chart().unwrap();
    fresh_namespace(NS).unwrap();
    let dir = repo_root().join("manifests/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    for f in files {
        // Into this test's namespace (full.yaml names its own).
        let mut doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        if let Some(meta) = doc["metadata"].as_object_mut() {
            meta.remove("namespace");
        }
        let path = std::env::temp_dir().join(format!("e2e-example-{}.json", f.file_stem().unwrap().to_string_lossy()));
        std::fs::write(&path, doc.to_string()).unwrap();
        let out = kubectl(&["-n", NS, "create", "--dry-run=server", "-o", "name", "-f", path.to_str().unwrap()]);
        assert!(out.is_ok(), "{} refused: {out:?}", f.display());
    }
}
