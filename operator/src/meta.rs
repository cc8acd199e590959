//! Labels and annotations on the monitoring objects the operator renders (ServiceMonitor,
//! PrometheusRule, dashboard ConfigMap): the operator-wide defaults from the chart, their merge
//! with a ModelService's own, and the syntax rules every key and value must follow.
//!
//! The syntax checks are written here because neither kube nor k8s-openapi exposes the API
//! server's validation (`apimachinery/pkg/util/validation`); checking before the apply lets the
//! Degraded condition name the field and key, instead of relaying a 422 for the whole object.
//! The CRD cannot do it in CEL: a regex over map keys of unbounded length exceeds the API
//! server's rule cost budget.

use std::collections::BTreeMap;

/// Labels and annotations for one kind of object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoration {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A key or value that Kubernetes (or Prometheus, for alert labels) would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {what} {value:?} {problem}")]
pub struct MetaError {
    /// Where it was set, e.g. `spec.monitoring.labels` or `--monitoring-labels`.
    pub field: String,
    /// `label key`, `label value`, `annotation key`, ...
    pub what: &'static str,
    /// The offending text (cut to 80 characters).
    pub value: String,
    /// Why it is refused.
    pub problem: &'static str,
}

fn refuse(field: &str, what: &'static str, value: &str, problem: &'static str) -> MetaError {
    MetaError { field: field.into(), what, value: value.chars().take(80).collect(), problem }
}

/// Parse a JSON object of strings (how the chart passes `monitoring.labels`/`annotations`).
pub fn parse_map(field: &str, json: &str) -> Result<BTreeMap<String, String>, MetaError> {
    let json = json.trim();
    if json.is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_json::from_str(json).map_err(|_| refuse(field, "value", json, "is not a JSON object of strings"))
}

/// Labels: qualified-name keys, values of at most 63 characters of `[A-Za-z0-9._-]` that start
/// and end alphanumeric (or empty).
pub fn check_labels(field: &str, labels: &BTreeMap<String, String>) -> Result<(), MetaError> {
    for (k, v) in labels {
        qualified_name(k).map_err(|p| refuse(field, "label key", k, p))?;
        label_value(v).map_err(|p| refuse(field, "label value", v, p))?;
    }
    Ok(())
}

/// Annotations: qualified-name keys; values are free text, 256 KiB in total at most.
pub fn check_annotations(field: &str, annotations: &BTreeMap<String, String>) -> Result<(), MetaError> {
    let mut total = 0;
    for (k, v) in annotations {
        qualified_name(k).map_err(|p| refuse(field, "annotation key", k, p))?;
        total += k.len() + v.len();
    }
    if total > 256 * 1024 {
        return Err(refuse(field, "annotations", "", "exceed 256 KiB in total"));
    }
    Ok(())
}

/// Alert labels: Prometheus label names (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`).
pub fn check_alert_labels(field: &str, labels: &BTreeMap<String, String>) -> Result<(), MetaError> {
    for k in labels.keys() {
        let mut chars = k.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(refuse(field, "alert label name", k, "must match [a-zA-Z_][a-zA-Z0-9_]*"));
        }
        if k.starts_with("__") {
            return Err(refuse(field, "alert label name", k, "must not start with __ (reserved by Prometheus)"));
        }
        if k == "severity" {
            return Err(refuse(field, "alert label name", k, "is set by Inferwatch per alert"));
        }
    }
    Ok(())
}

/// `layered` merged in order, later layers winning; `own` (the operator's labels) wins over all.
pub fn merge(layers: &[&BTreeMap<String, String>], own: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for layer in layers {
        out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out.extend(own);
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn alnum_ends(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// `[prefix/]name`: prefix a DNS subdomain of at most 253 characters, name at most 63.
fn qualified_name(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if name.is_empty() || name.len() > 63 {
        return Err("must have a name part of 1 to 63 characters");
    }
    if !name.chars().all(is_name_char) || !alnum_ends(name) {
        return Err("must be alphanumeric, '-', '_' or '.', starting and ending alphanumeric");
    }
    if let Some(p) = prefix {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && alnum_ends(s)
        };
        if p.is_empty() || p.len() > 253 || !p.split('.').all(segment_ok) {
            return Err("must have a prefix that is a lowercase DNS subdomain of at most 253 characters");
        }
    }
    Ok(())
}

fn label_value(v: &str) -> Result<(), &'static str> {
    if v.is_empty() {
        return Ok(());
    }
    if v.len() > 63 || !v.chars().all(is_name_char) || !alnum_ends(v) {
        return Err("must be at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn usual_labels_pass() {
        let ok = map(&[
            ("release", "kube-prometheus-stack"),
            ("app.kubernetes.io/part-of", "inferwatch"),
            ("team", ""),
            ("a", "A.b_c-1"),
        ]);
        assert_eq!(check_labels("f", &ok), Ok(()));
    }

    #[test]
    fn bad_label_keys_and_values_are_named() {
        for (k, v, what) in [
            ("", "x", "label key"),
            ("-release", "x", "label key"),
            ("Example.com/x", "x", "label key"),
            ("a/b/c", "x", "label key"),
            (&"k".repeat(64) as &str, "x", "label key"),
            ("release", "has space", "label value"),
            ("release", "-lead", "label value"),
            ("release", &"v".repeat(64) as &str, "label value"),
        ] {
            let err = check_labels("spec.monitoring.labels", &map(&[(k, v)])).unwrap_err();
            assert_eq!(err.what, what, "{k:?}={v:?}");
            assert_eq!(err.field, "spec.monitoring.labels");
            assert!(err.to_string().starts_with("spec.monitoring.labels: "), "{err}");
        }
    }

    #[test]
    fn annotations_take_any_value_but_checked_keys_and_a_size_cap() {
        assert_eq!(check_annotations("f", &map(&[("note", "any text, with: commas / slashes")])), Ok(()));
        assert_eq!(check_annotations("f", &map(&[("bad key", "x")])).unwrap_err().what, "annotation key");
        let huge = map(&[("big", &"x".repeat(300 * 1024))]);
        assert_eq!(check_annotations("f", &huge).unwrap_err().what, "annotations");
    }

    #[test]
    fn alert_labels_follow_prometheus_names_and_leave_severity_to_inferwatch() {
        assert_eq!(check_alert_labels("f", &map(&[("team", "ml"), ("_x1", "")])), Ok(()));
        for k in ["1team", "team-name", "__reserved", "severity", ""] {
            assert!(check_alert_labels("f", &map(&[(k, "v")])).is_err(), "{k:?}");
        }
    }

    #[test]
    fn parse_map_reads_the_charts_json_and_refuses_anything_else() {
        assert_eq!(parse_map("--monitoring-labels", r#"{"release":"kps"}"#), Ok(map(&[("release", "kps")])));
        assert_eq!(parse_map("--monitoring-labels", ""), Ok(BTreeMap::new()));
        assert_eq!(parse_map("--monitoring-labels", "{}"), Ok(BTreeMap::new()));
        for bad in ["release=kps", r#"{"release":1}"#, "[]", r#"{"a":"b""#] {
            let err = parse_map("--monitoring-labels", bad).unwrap_err();
            assert_eq!(err.field, "--monitoring-labels", "{bad}");
        }
    }

    #[test]
    fn later_layers_win_and_the_operators_own_labels_win_over_all() {
        let chart = map(&[("release", "kps"), ("team", "platform")]);
        let spec = map(&[("team", "ml"), ("app.kubernetes.io/managed-by", "someone-else")]);
        let own = map(&[("app.kubernetes.io/managed-by", "inferwatch-operator")]);
        let merged = merge(&[&chart, &spec], own);
        assert_eq!(
            merged,
            map(&[("release", "kps"), ("team", "ml"), ("app.kubernetes.io/managed-by", "inferwatch-operator")])
        );
    }
}
