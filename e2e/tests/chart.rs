//! The Helm chart and the CRD against the real local API server.

use e2e::*;
use std::time::Duration;

#[test]
fn chart_lints_clean_in_strict_mode() {
    let chart = repo_root().join("charts/inferwatch");
    let out = helm(&["lint", "--strict", chart.to_str().unwrap()]).unwrap();
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn chart_rejects_values_the_schema_does_not_allow() {
    let chart = repo_root().join("charts/inferwatch");
    let c = chart.to_str().unwrap();
    let err = helm(&["template", "x", c, "--kube-version", "1.34.0", "--set", "operator.replicas=-1"]).unwrap_err();
    assert!(format!("{err}").contains("replicas"), "{err}");
    let err = helm(&["template", "x", c, "--kube-version", "1.34.0", "--set", "logging.format=xml"]).unwrap_err();
    assert!(format!("{err}").contains("format"), "{err}");
    let err =
        helm(&["template", "x", c, "--kube-version", "1.34.0", "--set", "alertmanager.enabled=true"]).unwrap_err();
    assert!(format!("{err}").contains("receivers"), "{err}");
    // A label Kubernetes would refuse is refused by the chart, before the operator sees it.
    for bad in ["monitoring.labels.release=has space", "monitoring.labels.-bad=x"] {
        let err = helm(&["template", "x", c, "--kube-version", "1.34.0", "--set", bad]).unwrap_err();
        assert!(format!("{err}").contains("monitoring"), "{bad}: {err}");
    }
    // Pod annotations are annotations, not labels: any string value (a label's pattern would
    // refuse this one), but still a valid key.
    let note = r#"operator.podAnnotations={"example.com/note": "owned by ml-platform: see the runbook"}"#;
    let out = helm(&["template", "x", c, "--kube-version", "1.34.0", "--set-json", note]).unwrap();
    assert!(out.contains("owned by ml-platform: see the runbook"), "the annotation reaches the pod");
    let bad = r#"operator.podAnnotations={"-bad key": "x"}"#;
    assert!(helm(&["template", "x", c, "--kube-version", "1.34.0", "--set-json", bad]).is_err());
}

#[test]
fn monitoring_labels_reach_every_monitoring_object_the_chart_renders_and_the_operators_flags() {
    let chart = repo_root().join("charts/inferwatch");
    let out = helm(&[
        "template",
        "x",
        chart.to_str().unwrap(),
        "--kube-version",
        "1.34.0",
        "--api-versions",
        "monitoring.coreos.com/v1/ServiceMonitor",
        "--set",
        "monitoring.labels.release=kube-prometheus-stack",
        "--set",
        "monitoring.annotations.owner=ml-platform",
        "--set",
        "alertmanager.enabled=true",
        "--set",
        "alertmanager.namespace=monitoring",
        "--set",
        "alertmanager.receivers.page.url=http://p",
        "--set",
        "alertmanager.receivers.team.url=http://t",
        "--set",
        "alertmanager.receivers.digest.url=http://d",
    ])
    .unwrap();
    let docs: Vec<serde_json::Value> = out
        .split("\n---")
        .filter_map(|d| serde_yaml_ng::from_str::<serde_json::Value>(d).ok())
        .filter(|d| d.is_object())
        .collect();
    let monitoring: Vec<&serde_json::Value> = docs
        .iter()
        .filter(|d| {
            matches!(d["kind"].as_str(), Some("ServiceMonitor" | "AlertmanagerConfig"))
                || (d["kind"] == "ConfigMap"
                    && d["metadata"]["name"].as_str().is_some_and(|n| n.ends_with("-dashboard")))
        })
        .collect();
    assert!(monitoring.len() >= 4, "ServiceMonitor, two dashboards, AlertmanagerConfig: {monitoring:?}");
    for d in &monitoring {
        let m = &d["metadata"];
        assert_eq!(m["labels"]["release"], "kube-prometheus-stack", "{m}");
        assert_eq!(m["labels"]["app.kubernetes.io/part-of"], "inferwatch", "{m}");
        assert_eq!(m["annotations"]["owner"], "ml-platform", "{m}");
    }
    let amc = monitoring.iter().find(|d| d["kind"] == "AlertmanagerConfig").unwrap();
    assert_eq!(amc["metadata"]["namespace"], "monitoring");
    assert_eq!(amc["spec"]["route"]["matchers"][0]["value"], "Inferwatch.+");
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].as_array().unwrap();
    assert!(
        args.contains(&serde_json::json!(r#"--monitoring-labels={"release":"kube-prometheus-stack"}"#)),
        "{args:?}"
    );
    assert!(args.contains(&serde_json::json!(r#"--monitoring-annotations={"owner":"ml-platform"}"#)), "{args:?}");
}

/// With `logging.shipperExample` the chart ships the generated pipelines unchanged (Helm must
/// not evaluate their Go templates) and Loki's retention per class from `logging.retention`.
#[test]
fn the_logging_example_carries_the_generated_pipelines_and_the_retention_values() {
    let chart = repo_root().join("charts/inferwatch");
    let c = chart.to_str().unwrap();
    let out = helm(&[
        "template",
        "x",
        c,
        "--kube-version",
        "1.34.0",
        "--show-only",
        "templates/logging.yaml",
        "--set",
        "logging.shipperExample=true",
        "--set",
        "logging.retention.audit=17520h",
    ])
    .unwrap();
    let cm: serde_json::Value = serde_yaml_ng::from_str(&out).unwrap();
    assert_eq!(cm["metadata"]["name"], "inferwatch-logging-example");
    for (key, file) in [("promtail-pipeline.yaml", "promtail-pipeline.yaml"), ("pipeline.alloy", "pipeline.alloy")] {
        let committed = std::fs::read_to_string(chart.join("files/logging").join(file)).unwrap();
        assert_eq!(cm["data"][key].as_str().map(str::trim_end), Some(committed.trim_end()), "{key}");
    }
    let loki: serde_json::Value = serde_yaml_ng::from_str(cm["data"]["loki-retention.yaml"].as_str().unwrap()).unwrap();
    let periods: Vec<(String, String)> = loki["limits_config"]["retention_stream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["selector"].as_str().unwrap().to_string(), s["period"].as_str().unwrap().to_string()))
        .collect();
    assert!(periods.contains(&(r#"{class="audit"}"#.to_string(), "17520h".to_string())), "{periods:?}");
    assert!(periods.contains(&(r#"{class="errors"}"#.to_string(), "2160h".to_string())), "{periods:?}");
    assert_eq!(loki["limits_config"]["retention_period"], "720h");
    assert_eq!(loki["compactor"]["retention_enabled"], true);
    let off = helm(&["template", "x", c, "--kube-version", "1.34.0"]).unwrap();
    assert!(!off.contains("inferwatch-logging-example"), "off by default");
}

#[test]
fn committed_install_bundles_match_the_chart() {
    for (variant, file) in
        [("default", "install.yaml"), ("kube-prometheus-stack", "install-kube-prometheus-stack.yaml")]
    {
        let rendered = std::process::Command::new(repo_root().join("scripts/render-install.sh"))
            .args(["--stdout", variant])
            .output()
            .unwrap();
        assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
        let committed = std::fs::read_to_string(repo_root().join("manifests").join(file)).unwrap();
        assert!(
            committed == String::from_utf8_lossy(&rendered.stdout),
            "manifests/{file} is stale: run `make generate` and commit the result"
        );
    }
    // The kube-prometheus-stack bundle: the operator passes the release label on, and its own
    // ServiceMonitor and alerts are there, selected by the same label.
    let kps = std::fs::read_to_string(repo_root().join("manifests/install-kube-prometheus-stack.yaml")).unwrap();
    assert!(kps.contains(r#"--monitoring-labels={\"release\":\"kube-prometheus-stack\"}"#), "operator flag");
    for kind in ["kind: ServiceMonitor", "kind: PrometheusRule"] {
        assert!(kps.contains(kind), "{kind} missing from the kube-prometheus-stack bundle");
    }
}

#[test]
fn crd_passes_server_side_dry_run() {
    let crd = repo_root().join("crds/modelservice.yaml");
    let out = kubectl(&["apply", "--server-side", "--dry-run=server", "-f", crd.to_str().unwrap()]).unwrap();
    assert!(out.contains("modelservices.inferwatch.io"), "{out}");
}

#[tokio::test]
async fn helm_install_creates_the_operator_with_least_privilege_rbac() {
    install_chart().unwrap();
    let out = kubectl(&["-n", SYSTEM_NAMESPACE, "get", "deployment,serviceaccount,service", "-o", "name"]).unwrap();
    for want in
        ["deployment.apps/inferwatch-operator", "serviceaccount/inferwatch-operator", "service/inferwatch-operator"]
    {
        assert!(out.contains(want), "{want} missing: {out}");
    }
    // kwok runs the pod, so the operator Deployment becomes Available.
    kubectl(&[
        "-n",
        SYSTEM_NAMESPACE,
        "wait",
        "--for=condition=Available",
        "--timeout=120s",
        "deployment/inferwatch-operator",
    ])
    .unwrap();
    let sa = format!("system:serviceaccount:{SYSTEM_NAMESPACE}:{SERVICE_ACCOUNT}");
    let can = |verb: &str, resource: &str, ns: &str| {
        let (resource, sub) = resource.split_once('/').map_or((resource, None), |(r, s)| (r, Some(s)));
        let mut args = vec!["auth", "can-i", verb, resource, "--as", &sa, "-n", ns];
        let sub_flag = sub.map(|s| format!("--subresource={s}"));
        args.extend(sub_flag.as_deref());
        kubectl(&args).map(|o| o.trim() == "yes").unwrap_or(false)
    };
    assert!(can("patch", "deployments.apps", "default"));
    assert!(can("patch", "modelservices.inferwatch.io/status", "default"));
    assert!(can("update", "leases.coordination.k8s.io", SYSTEM_NAMESPACE));
    assert!(!can("update", "leases.coordination.k8s.io", "default"), "leases only in the operator's namespace");
    assert!(!can("get", "secrets", "default"), "the operator never reads Secrets");
    assert!(!can("delete", "modelservices.inferwatch.io", "default"));
    assert!(!can("*", "*", "default"), "not cluster-admin");
    let dashboards =
        kubectl(&["-n", SYSTEM_NAMESPACE, "get", "configmap", "-l", "grafana_dashboard=1", "-o", "name"]).unwrap();
    assert!(
        dashboards.contains("inferwatch-executive-dashboard") && dashboards.contains("inferwatch-technical-dashboard")
    );
}

#[tokio::test]
async fn kubectl_explain_shows_the_field_docs() {
    install_chart().unwrap();
    let out = eventually("explain", Duration::from_secs(30), || async {
        Ok(kubectl(&["explain", "modelservice.spec.monitoring"]).ok())
    })
    .await
    .unwrap();
    assert!(out.contains("serviceMonitor") && out.contains("alerts") && out.contains("dashboard"), "{out}");
    assert!(out.lines().filter(|l| !l.trim().is_empty()).count() > 10, "{out}");
    let slo = kubectl(&["explain", "modelservice.spec.monitoring.slo.latencyThresholdSeconds"]).unwrap();
    assert!(slo.contains("bucket edge"), "{slo}");
}
