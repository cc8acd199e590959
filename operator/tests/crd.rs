//! The ModelService CRD as generated from the Rust types: a structural schema with
//! descriptions, CEL rules with messages, printer columns and subresources; the examples parse.

use inferwatch_operator::crd::{ModelKind, ModelService};
use kube::CustomResourceExt;
use serde_json::Value;

fn schema() -> Value {
    let crd = serde_json::to_value(ModelService::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Walk every schema node: each has a type (or an explicit escape hatch), no `$ref`, and each
/// property of our own types is documented.
fn check(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else { return };
    let escape =
        obj.contains_key("x-kubernetes-int-or-string") || obj.contains_key("x-kubernetes-preserve-unknown-fields");
    if !obj.contains_key("type") && !escape {
        problems.push(format!("{path}: no type"));
    }
    for bad in ["$ref", "oneOf", "allOf"] {
        if obj.contains_key(bad) {
            problems.push(format!("{path}: {bad} is not allowed in a structural schema"));
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let p = format!("{path}.{k}");
            let external = p.contains(".resources.")
                || p.contains(".env.")
                || p.contains(".conditions.")
                || p.starts_with("$.metadata");
            if !external && v.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                problems.push(format!("{p}: no description (kubectl explain would be empty)"));
            }
            check(v, &p, problems);
        }
    }
    if let Some(items) = obj.get("items") {
        check(items, &format!("{path}[]"), problems);
    }
    if let Some(extra) = obj.get("additionalProperties") {
        check(extra, &format!("{path}{{}}"), problems);
    }
}

#[test]
fn crd_schema_is_structural_and_documented() {
    let mut problems = Vec::new();
    check(&schema(), "$", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn crd_has_names_subresources_and_printer_columns() {
    let crd = serde_json::to_value(ModelService::crd()).unwrap();
    assert_eq!(crd["spec"]["group"], "inferwatch.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "msvc");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    assert!(v["subresources"]["status"].is_object());
    assert_eq!(v["subresources"]["scale"]["specReplicasPath"], ".spec.replicas");
    let cols: Vec<&str> =
        v["additionalPrinterColumns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(cols, ["Kind", "Version", "Ready Replicas", "Ready", "Age"]);
}

#[test]
fn every_cel_rule_carries_a_message_naming_the_field() {
    let text = serde_json::to_string(&schema()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut rules = Vec::new();
    fn collect(n: &Value, out: &mut Vec<Value>) {
        match n {
            Value::Object(m) => {
                if let Some(Value::Array(r)) = m.get("x-kubernetes-validations") {
                    out.extend(r.iter().cloned());
                }
                m.values().for_each(|x| collect(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    collect(&v, &mut rules);
    assert!(rules.len() >= 10, "only {} CEL rules", rules.len());
    for r in &rules {
        let msg = r["message"].as_str().unwrap_or_default();
        assert!(msg.starts_with("spec.") || msg.starts_with("set either"), "rule {r} needs a message naming the field");
    }
}

#[test]
fn examples_parse_and_the_minimal_one_gets_every_default() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let ms: ModelService = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
        if path.file_stem().unwrap() == "sentiment" {
            assert_eq!(ms.spec.model.kind, ModelKind::Sentiment);
            assert!(ms.spec.monitoring.service_monitor.enabled && ms.spec.monitoring.alerts.enabled);
            assert_eq!(ms.spec.monitoring.slo.latency_threshold_seconds, 2.0);
            assert_eq!(ms.spec.monitoring.slo.availability, 0.995);
            assert_eq!(ms.spec.monitoring.slo.window, "30d");
            assert_eq!(ms.spec.serving.cache_max_models, 16);
        }
    }
    assert_eq!(n, 7, "one example per kind, s3.yaml and full.yaml");
}
