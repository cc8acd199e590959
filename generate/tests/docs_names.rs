//! The operations docs cannot drift from what we generate: every alert, recording rule, metric,
//! dashboard panel, row or dashboard title, and report section that a doc, runbook, the README or
//! the chart's NOTES.txt names exists.
//!
//! How names are recognised: `Inferwatch<Name>` is an alert; `inferwatch:<name>` a recording
//! rule (a name ending in `:` or `_` is a prefix and must begin one); `inferwatch_<name>` a
//! metric family of the server's catalogue or the operator's registry (`_bucket`, `_sum`,
//! `_count` name a histogram's series); a capitalised phrase in double quotes in a runbook or
//! in docs/operations.md is a panel, row, dashboard or report section, or a heading of our docs.

use inferwatch_monitoring::{alerts, dashboards, metrics};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Alerts the docs may name only as removed (docs/slo.md, "Replaced"; CHANGELOG.md).
const REMOVED_ALERTS: &[&str] = &["InferwatchHighErrorRatio", "InferwatchHighLatency"];
/// Names with the metric or record shape that are something else: Redis keys
/// (inference-server/src/jobs/queue.rs, quality/store.rs), a Rust crate, log targets.
const NOT_METRICS: &[&str] = &[
    "inferwatch:jobs",
    "inferwatch:jobs:dead",
    "inferwatch:prediction:",
    "inferwatch:feedback:",
    "inferwatch_monitoring",
];

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The documents an operator reads.
fn documents() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        ["README.md", "charts/inferwatch/templates/NOTES.txt"].iter().map(|f| root().join(f)).collect();
    for dir in ["docs", "docs/runbooks"] {
        let mut md: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        md.sort();
        files.extend(md);
    }
    files
}

/// Tokens that start with `prefix` and continue with `[A-Za-z0-9_:]`.
fn tokens(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(tail[..end].to_string());
        }
        rest = &tail[end.max(prefix.len())..];
    }
    out
}

/// Double-quoted phrases that start with a capital letter, outside `code spans` (where quotes
/// are JSON or PromQL).
fn quoted(text: &str) -> Vec<String> {
    let prose: String = text.split('`').step_by(2).collect::<Vec<_>>().join(" ");
    prose
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && s.len() <= 80 && !s.contains('\n'))
        .map(str::to_string)
        .collect()
}

fn records() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("alerts/inferwatch-rules.yaml")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("record: "))
        .map(|r| r.trim().to_string())
        .collect()
}

fn metric_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = metrics::CATALOGUE.iter().map(|m| m.name.to_string()).collect();
    // Every family once (an empty family is not encoded).
    let m = inferwatch_operator::metrics::Metrics::default();
    m.reconciled(0.1, Some("apply"));
    m.wrote("patch", "Deployment");
    m.managed("ns/a", Some(vec![("Deployment", 1)]));
    m.set_leader(true);
    let operator = m.encode().unwrap();
    for line in operator.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        if let Some(name) = line.split_whitespace().next() {
            names.insert(name.to_string());
            names.insert(format!("{name}_total"));
        }
    }
    names
}

/// Panel, row and dashboard titles; the weekly report's sections; our docs' headings.
fn titles() -> BTreeSet<String> {
    let mut t = BTreeSet::new();
    for d in dashboards::all() {
        t.insert(d.title.clone());
        t.extend(d.panels.iter().map(|p| p.title.clone()));
    }
    t.extend(inferwatch_report::report::SECTIONS.iter().map(|s| s.to_string()));
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        t.extend(
            text.lines().filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### "))).map(str::to_string),
        );
    }
    t
}

fn relative(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

#[test]
fn every_alert_record_metric_panel_and_section_the_docs_name_exists() {
    let alert_names: BTreeSet<&str> = alerts::ALERTS.iter().map(|(n, _)| *n).collect();
    let records = records();
    let metrics = metric_names();
    let titles = titles();
    let mut missing = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let name = relative(&doc);
        for a in tokens(&text, "Inferwatch") {
            let removed_here = REMOVED_ALERTS.contains(&a.as_str()) && name == "docs/slo.md";
            if a.len() > "Inferwatch".len()
                && a.chars().nth(10).is_some_and(|c| c.is_ascii_uppercase())
                && !alert_names.contains(a.as_str())
                && !removed_here
            {
                missing.push(format!("{name}: alert {a}"));
            }
        }
        for r in tokens(&text, "inferwatch:") {
            // A prefix (`inferwatch:slo_`), or a family written `name{5m,1h}`.
            let family = r.ends_with(':') || r.ends_with('_') || text.contains(&format!("{r}{{"));
            let known = records.contains(&r)
                || (family && records.iter().any(|x| x.starts_with(&r)))
                || NOT_METRICS.contains(&r.as_str())
                || r.starts_with("inferwatch::");
            if !known {
                missing.push(format!("{name}: recording rule {r}"));
            }
        }
        for m in tokens(&text, "inferwatch_").into_iter().filter(|m| !m.contains("::")) {
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| m.strip_suffix(s)).unwrap_or(&m);
            let known = metrics.contains(&m)
                || metrics.contains(base)
                || (m.ends_with('_') && metrics.iter().any(|x| x.starts_with(&m)))
                || NOT_METRICS.contains(&m.as_str());
            if !known {
                missing.push(format!("{name}: metric {m}"));
            }
        }
        if name.starts_with("docs/runbooks/") || name == "docs/operations.md" {
            for q in quoted(&text) {
                // A row is named by its title's head: "Drift" for "Drift (inputs and ...)".
                if !titles.contains(&q) && !titles.iter().any(|t| t.starts_with(&format!("{q} ("))) {
                    missing.push(format!("{name}: panel or section \"{q}\""));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} names in the docs exist nowhere we generate:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
