//! Alerts on the operator itself, from its own metrics (`inferwatch_operator_*`, scraped by the
//! chart's ServiceMonitor, job `inferwatch-operator`): no replica up, no replica leading,
//! reconciles failing, reconciles slow. While the operator is down or leaderless every
//! ModelService keeps serving, but no spec change, version rollout or deleted object is acted
//! on, and nothing else says so.

use crate::rules::{alert, AlertSpec, RuleGroup, Scope, Timing};

/// The operator's scrape job (the chart's Service and ServiceMonitor name).
pub const JOB: &str = "inferwatch-operator";
/// p99 reconcile time above which reconciles are slow (seconds): a reconcile applies a dozen
/// objects and normally takes well under a second. A bucket edge of the operator's histogram,
/// whose last finite edge is 10 s (a quantile never reads above it).
pub const SLOW_RECONCILE_SECONDS: f64 = 5.0;

/// The scope of the operator's rules: its job, the runbooks and the technical dashboard.
pub fn scope() -> Scope {
    Scope { name: "inferwatch-operator".into(), selector: format!(r#"job="{JOB}""#), ..Scope::default() }
}

/// The operator's alert group.
pub fn rule_group(scope: &Scope, t: &Timing) -> RuleGroup {
    let s = &scope.selector;
    let by = "namespace, job";
    let a = |spec| alert(scope, spec);
    let rules = vec![
        a(AlertSpec {
            name: "InferwatchOperatorDown",
            expr: format!("absent(up{{{s}}} == 1)"),
            for_: "5m",
            summary: "No Inferwatch operator replica is up: ModelService changes are not applied.",
            description: format!(
                "No target of {{{{ $labels.job }}}} has been up for 5 minutes (selector {{{s}}}). Serving continues, but spec changes, version rollouts, deleted objects and status are not acted on until the operator is back."
            ),
        }),
        a(AlertSpec {
            name: "InferwatchOperatorNoLeader",
            expr: format!("max by ({by}) (inferwatch_operator_leader{{{s}}}) == 0"),
            for_: "5m",
            summary: "Operator replicas are up but none holds the leader Lease.",
            description: "{{ $labels.job }} in {{ $labels.namespace }} has replicas up and none leading for 5 minutes: nothing reconciles.".into(),
        }),
        a(AlertSpec {
            name: "InferwatchOperatorReconcileErrors",
            expr: format!(
                "sum by ({by}, reason) (rate(inferwatch_operator_reconcile_errors_total{{{s}}}[10m])) > 0"
            ),
            for_: "15m",
            summary: "The operator keeps failing reconciles.",
            description: "{{ $labels.job }} in {{ $labels.namespace }} has failed reconciles with reason {{ $labels.reason }} for 15 minutes ({{ $value | humanize }}/s): some ModelServices are not converging.".into(),
        }),
        a(AlertSpec {
            name: "InferwatchOperatorSlowReconciles",
            expr: format!(
                "histogram_quantile(0.99, sum by ({by}, le) (rate(inferwatch_operator_reconcile_duration_seconds_bucket{{{s}}}[10m]))) > {SLOW_RECONCILE_SECONDS}"
            ),
            for_: &t.info,
            summary: "Reconciles are slow: the operator falls behind.",
            description: format!(
                "The p99 reconcile of {{{{ $labels.job }}}} in {{{{ $labels.namespace }}}} takes {{{{ $value | humanizeDuration }}}} (above {SLOW_RECONCILE_SECONDS} s): changes wait behind slow API calls or a throttled operator."
            ),
        }),
    ];
    RuleGroup { name: format!("{}.alerts", scope.name), rules }
}

/// The operator's rule file (`alerts/inferwatch-operator-rules.yaml`, and the chart's
/// PrometheusRule).
pub fn rule_file(t: &Timing) -> crate::rules::RuleFile {
    crate::rules::RuleFile { groups: vec![rule_group(&scope(), t)] }
}
