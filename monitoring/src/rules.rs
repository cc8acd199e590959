//! The vocabulary every rule file is built from: rule, group and file types, scope and timing,
//! severities and the one list of alerts with theirs, and the helpers that make a recording rule,
//! an alert and a selector. `alerts`, `slo`, `drift`, `capacity` and `operator_alerts` build
//! their rules from this; `alerts::rule_file` assembles a ModelService's. Kept apart from the
//! alerts themselves so the modules that build rules never import each other in a circle.

use serde::Serialize;
use std::collections::BTreeMap;

/// `for:` durations. Production defaults avoid flapping; tests shrink them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    /// For P0 availability alerts.
    pub critical: String,
    /// For P1 alerts.
    pub warning: String,
    /// For P2 alerts.
    pub info: String,
    /// Rate window of recording rules.
    pub rate_window: String,
    /// Baseline window for traffic anomaly and drift.
    pub baseline_window: String,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            critical: "2m".into(),
            warning: "10m".into(),
            info: "30m".into(),
            rate_window: "5m".into(),
            baseline_window: "1h".into(),
        }
    }
}

/// Which series the rules look at and where links point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scope {
    /// Rule group name prefix, e.g. `inferwatch` or `inferwatch-default-sentiment`.
    pub name: String,
    /// PromQL label matchers selecting the service's series, e.g. `job="inferwatch"`.
    pub selector: String,
    /// Base URL of the runbooks (`<base>/<AlertName>.md`).
    pub runbook_base: String,
    /// Grafana dashboard URL for annotations.
    pub dashboard_url: String,
    /// Extra labels put on every alert (team, service, ...).
    pub extra_labels: BTreeMap<String, String>,
}

impl Default for Scope {
    fn default() -> Self {
        Self {
            name: "inferwatch".into(),
            selector: r#"job=~".*inferwatch.*""#.into(),
            runbook_base: "https://github.com/inferwatch/inferwatch/blob/main/docs/runbooks".into(),
            dashboard_url: "/d/inferwatch-technical".into(),
            extra_labels: BTreeMap::new(),
        }
    }
}

/// One rule of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Rule {
    /// A recording rule.
    Record {
        /// Name of the recorded series.
        record: String,
        /// PromQL.
        expr: String,
    },
    /// An alert.
    Alert {
        /// CamelCase name with the `Inferwatch` prefix.
        alert: String,
        /// PromQL; fires for every series it returns.
        expr: String,
        /// How long the expression must hold.
        #[serde(rename = "for")]
        for_: String,
        /// `severity` and extra labels.
        labels: BTreeMap<String, String>,
        /// `summary`, `description`, `runbook_url`, `dashboard_url`.
        annotations: BTreeMap<String, String>,
    },
}

/// A rule group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    /// Unique group name.
    pub name: String,
    /// Rules, evaluated in order.
    pub rules: Vec<Rule>,
}

/// A rule file: `{groups: [...]}` (also the `spec` of a PrometheusRule).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFile {
    /// The groups.
    pub groups: Vec<RuleGroup>,
}

/// Alert severity; the `severity` label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// P0: page now.
    Critical,
    /// P1: look today.
    Warning,
    /// P2: worth knowing.
    Info,
}

impl Severity {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// The names of every alert, with severities (runbooks exist for each; a test checks it).
pub const ALERTS: &[(&str, Severity)] = &[
    ("InferwatchTargetDown", Severity::Critical),
    ("InferwatchTargetMissing", Severity::Critical),
    ("InferwatchErrorBudgetFastBurn", Severity::Critical),
    ("InferwatchAllModelsFailing", Severity::Critical),
    ("InferwatchDependencyDown", Severity::Critical),
    ("InferwatchErrorBudgetSlowBurn", Severity::Warning),
    ("InferwatchSloWindowBeyondRetention", Severity::Warning),
    ("InferwatchSlowModelLoad", Severity::Warning),
    ("InferwatchHighMemory", Severity::Warning),
    ("InferwatchModelLoadFailures", Severity::Warning),
    ("InferwatchLowCacheHitRatio", Severity::Warning),
    ("InferwatchElevatedErrorRatio", Severity::Warning),
    ("InferwatchUnusualTraffic", Severity::Info),
    ("InferwatchInputDrift", Severity::Info),
    ("InferwatchPredictionDrift", Severity::Info),
    ("InferwatchCacheMissRateRising", Severity::Info),
    ("InferwatchBatchQueueDelay", Severity::Info),
    ("InferwatchMemoryExhaustionForecast", Severity::Info),
    ("InferwatchModelAccuracyBelowTarget", Severity::Warning),
    ("InferwatchRatingErrorAboveTarget", Severity::Warning),
    ("InferwatchForecastErrorAboveTarget", Severity::Warning),
    ("InferwatchFeedbackStarvation", Severity::Info),
    // The operator's own (operator_alerts).
    ("InferwatchOperatorDown", Severity::Warning),
    ("InferwatchOperatorNoLeader", Severity::Warning),
    ("InferwatchOperatorReconcileErrors", Severity::Warning),
    ("InferwatchOperatorSlowReconciles", Severity::Info),
];

/// The label set of one model version of one service.
pub const MODEL_BY: &str = "namespace, job, model, version";

/// The label set that identifies one service.
pub const SERVICE_BY: &str = "namespace, job";

/// The braces of a selector: the scope's matchers and `extra` (either may be empty).
pub fn sel(scope: &Scope, extra: &str) -> String {
    match (scope.selector.is_empty(), extra.is_empty()) {
        (true, _) => format!("{{{extra}}}"),
        (false, true) => format!("{{{}}}", scope.selector),
        (false, false) => format!("{{{},{extra}}}", scope.selector),
    }
}

pub(crate) fn record(record: &str, expr: String) -> Rule {
    Rule::Record { record: record.to_string(), expr }
}

pub(crate) struct AlertSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) expr: String,
    pub(crate) for_: &'a str,
    pub(crate) summary: &'a str,
    pub(crate) description: String,
}

pub(crate) fn alert(scope: &Scope, spec: AlertSpec<'_>) -> Rule {
    let severity = ALERTS.iter().find(|(n, _)| *n == spec.name).map_or(Severity::Info, |(_, s)| *s);
    let mut labels = scope.extra_labels.clone();
    labels.insert("severity".into(), severity.as_str().into());
    let annotations = BTreeMap::from([
        ("summary".to_string(), spec.summary.to_string()),
        ("description".to_string(), spec.description),
        ("runbook_url".to_string(), format!("{}/{}.md", scope.runbook_base, spec.name)),
        ("dashboard_url".to_string(), scope.dashboard_url.clone()),
    ]);
    Rule::Alert { alert: spec.name.into(), expr: spec.expr, for_: spec.for_.into(), labels, annotations }
}
