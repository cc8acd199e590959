//! Alert rules: pure functions from a model service's SLO settings to Prometheus rule groups
//! (recording rules + alerts at three severities), in monitoring-mixin style.
//!
//! Every expression aggregates with `sum by (..., le)` before `histogram_quantile`, so several
//! replicas combine correctly; no percentile is ever averaged.

use crate::metrics as m;
pub(crate) use crate::rules::{alert, record, AlertSpec};
pub use crate::rules::{sel, Rule, RuleFile, RuleGroup, Scope, Severity, Timing, ALERTS, MODEL_BY, SERVICE_BY};
use serde::Serialize;

/// Thresholds a team promises for one model service. Defaults are the ones the CRD documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slo {
    /// Availability and latency objectives with their error budgets (burn-rate alerts).
    pub objectives: crate::slo::Objectives,
    /// 5xx ratio of user requests over 5 m above which P1 fires (the team's "error rate < 1%").
    pub error_ratio_warning: f64,
    /// Resident memory / container memory limit above which P1 fires.
    pub memory_ratio: f64,
    /// Model cache hit ratio below which P1 fires (with real traffic).
    pub cache_hit_ratio_floor: f64,
    /// Drift (PSI per feature) settings.
    pub drift: crate::drift::Drift,
    /// Age of the oldest pending batch job above which P2 fires (seconds).
    pub queue_delay_seconds: f64,
    /// Online model quality targets (ground truth fed back).
    pub quality: Quality,
}

/// One online quality metric's target. Without a fixed `target`, the target is the model's
/// held-out figure (`inferwatch_model_heldout_quality`, from `model.json`) moved by
/// `tolerance` in the bad direction: accuracy below held-out minus tolerance, an error above
/// held-out plus tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// A fixed target, in the metric's unit.
    pub target: Option<f64>,
    /// How far from the held-out figure the metric may go, in the metric's unit.
    pub tolerance: f64,
}

/// Online quality settings of a model service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    /// Render the quality alerts.
    pub enabled: bool,
    /// Classifier accuracy (a ratio).
    pub accuracy: Target,
    /// Recommender RMSE (stars).
    pub rmse: Target,
    /// Forecast MAPE (a ratio: 0.1 is 10%).
    pub mape: Target,
    /// Fewest labelled predictions in the hour before an accuracy or error alert may fire.
    pub min_feedback: u64,
    /// Traffic without any matched feedback for this long fires the starvation alert (a
    /// Prometheus duration, e.g. `24h`).
    pub feedback_starvation: String,
}

impl Default for Quality {
    fn default() -> Self {
        Self {
            enabled: true,
            accuracy: Target { target: None, tolerance: 0.05 },
            rmse: Target { target: None, tolerance: 0.10 },
            mape: Target { target: None, tolerance: 0.05 },
            min_feedback: 50,
            feedback_starvation: "24h".into(),
        }
    }
}

impl Default for Slo {
    fn default() -> Self {
        Self {
            objectives: crate::slo::Objectives::default(),
            error_ratio_warning: 0.01,
            memory_ratio: 0.80,
            cache_hit_ratio_floor: 0.80,
            drift: crate::drift::Drift::default(),
            queue_delay_seconds: 300.0,
            quality: Quality::default(),
        }
    }
}

/// Names of the recording rules (dashboards query them too).
pub mod records {
    /// User requests/s per service (inference routes and job submission; no probes or scrapes).
    pub const REQUEST_RATE: &str = "inferwatch:http_requests:rate5m";
    /// 5xx ratio of user requests per service.
    pub const ERROR_RATIO: &str = "inferwatch:http_errors:ratio_rate5m";
    /// Predictions/s per model.
    pub const PREDICTION_RATE: &str = "inferwatch:predictions:rate5m";
    /// Inference route latency quantiles per service (label `quantile`).
    pub const HTTP_LATENCY: &str = "inferwatch:http_inference_latency_seconds:quantile5m";
    /// Model latency quantiles per model (label `quantile`).
    pub const MODEL_LATENCY: &str = "inferwatch:prediction_latency_seconds:quantile5m";
    /// Cache hit ratio per service.
    pub const CACHE_HIT_RATIO: &str = "inferwatch:model_cache_hit:ratio_rate5m";
    /// Cache lookups/s per service.
    pub const CACHE_LOOKUP_RATE: &str = "inferwatch:model_cache_lookups:rate5m";
    /// Predicted label shares per model and label.
    pub const LABEL_SHARE: &str = "inferwatch:predicted_label:share";
    /// Total-variation distance between predicted and reference label shares per model
    /// (classifiers; a dashboard figure beside the PSI of `crate::drift`).
    pub const DRIFT: &str = "inferwatch:prediction_drift:distance";
    /// Online accuracy per model and version over 1 h (labelled predictions only).
    pub const ACCURACY_1H: &str = "inferwatch:model_accuracy:ratio_rate1h";
    /// Online accuracy over 1 d.
    pub const ACCURACY_1D: &str = "inferwatch:model_accuracy:ratio_rate1d";
    /// Accuracy a calibrated model expects on the same labelled predictions (mean
    /// confidence), over 1 h: beside [`ACCURACY_1H`] it shows calibration holding or not.
    pub const EXPECTED_ACCURACY_1H: &str = "inferwatch:model_expected_accuracy:ratio_rate1h";
    /// Estimated accuracy of all predictions (mean confidence, labelled or not) over 1 h:
    /// the estimate while truth is still pending.
    pub const ESTIMATED_ACCURACY_1H: &str = "inferwatch:model_estimated_accuracy:ratio_rate1h";
    /// Recall per true label over 1 h.
    pub const RECALL_1H: &str = "inferwatch:model_recall:ratio_rate1h";
    /// Recall per true label over 1 d.
    pub const RECALL_1D: &str = "inferwatch:model_recall:ratio_rate1d";
    /// Macro recall (mean over the labels that got feedback) over 1 h.
    pub const MACRO_RECALL_1H: &str = "inferwatch:model_macro_recall:ratio_rate1h";
    /// Macro recall over 1 d.
    pub const MACRO_RECALL_1D: &str = "inferwatch:model_macro_recall:ratio_rate1d";
    /// Recommender RMSE over 1 h.
    pub const RMSE_1H: &str = "inferwatch:rating_rmse:rate1h";
    /// Recommender RMSE over 1 d.
    pub const RMSE_1D: &str = "inferwatch:rating_rmse:rate1d";
    /// Forecast MAPE (a ratio) over 1 h.
    pub const MAPE_1H: &str = "inferwatch:forecast_mape:ratio_rate1h";
    /// Forecast MAPE over 1 d.
    pub const MAPE_1D: &str = "inferwatch:forecast_mape:ratio_rate1d";
    /// Matched feedback per successful prediction over 1 d (feedback arrives later than its
    /// prediction, so this is an approximation of coverage).
    pub const FEEDBACK_COVERAGE_1D: &str = "inferwatch:feedback_coverage:ratio_rate1d";
}

/// Inference routes (v1 predict/recommend, v2 infer) and job submission: user traffic.
pub const INFERENCE_ROUTES: &str = crate::slo::USER_ROUTES;

fn pct(x: f64) -> String {
    format!("{}%", (x * 1000.0).round() / 10.0)
}

/// Recording rules for one scope.
pub fn recording_rules(scope: &Scope, t: &Timing) -> RuleGroup {
    let w = &t.rate_window;
    let s = |extra: &str| sel(scope, extra);
    let by = SERVICE_BY;
    let mut rules = vec![
        record(
            records::REQUEST_RATE,
            format!("sum by ({by}) (rate({}{}[{w}]))", m::HTTP_REQUESTS.name, s(INFERENCE_ROUTES)),
        ),
        record(
            records::ERROR_RATIO,
            format!(
                "(sum by ({by}) (rate({n}{e}[{w}])) or 0 * {all}) / ({all} > 0)",
                n = m::HTTP_REQUESTS.name,
                e = s(&format!(r#"{INFERENCE_ROUTES},status=~"5..""#)),
                all = records::REQUEST_RATE
            ),
        ),
        record(
            records::PREDICTION_RATE,
            format!("sum by ({by}, model, outcome) (rate({}{}[{w}]))", m::PREDICTIONS.name, s("")),
        ),
    ];
    for q in ["0.5", "0.95", "0.99"] {
        rules.push(Rule::Record {
            record: records::HTTP_LATENCY.into(),
            expr: format!(
                "label_replace(histogram_quantile({q}, sum by ({by}, le) (rate({}_bucket{}[{w}]))), \"quantile\", \"{q}\", \"\", \"\")",
                m::HTTP_REQUEST_DURATION.name,
                s(INFERENCE_ROUTES)
            ),
        });
        rules.push(Rule::Record {
            record: records::MODEL_LATENCY.into(),
            expr: format!(
                "label_replace(histogram_quantile({q}, sum by ({by}, model, le) (rate({}_bucket{}[{w}]))), \"quantile\", \"{q}\", \"\", \"\")",
                m::PREDICTION_DURATION.name,
                s("")
            ),
        });
    }
    rules.push(record(
        records::CACHE_LOOKUP_RATE,
        format!(
            "sum by ({by}) (rate({h}{s}[{w}])) + sum by ({by}) (rate({mi}{s}[{w}]))",
            h = m::CACHE_HITS.name,
            mi = m::CACHE_MISSES.name,
            s = s("")
        ),
    ));
    rules.push(record(
        records::CACHE_HIT_RATIO,
        format!("sum by ({by}) (rate({}{}[{w}])) / {}", m::CACHE_HITS.name, s(""), records::CACHE_LOOKUP_RATE),
    ));
    let b = &t.baseline_window;
    rules.push(record(
        records::LABEL_SHARE,
        format!(
            "sum by ({by}, model, label) (rate({l}{s}[{b}])) / ignoring(label) group_left sum by ({by}, model) (rate({l}{s}[{b}]))",
            l = m::PREDICTED_LABELS.name,
            s = s("")
        ),
    ));
    rules.push(record(
        records::DRIFT,
        format!(
            "0.5 * sum by ({by}, model) (abs({share} - on({by}, model, label) group_left max by ({by}, model, label) ({r}{s})))",
            share = records::LABEL_SHARE,
            r = m::MODEL_REFERENCE_LABEL_RATIO.name,
            s = s("")
        ),
    ));
    RuleGroup { name: format!("{}.rules", scope.name), rules }
}

/// Recording rules of online model quality (1 h and 1 d windows).
pub fn quality_recording_rules(scope: &Scope) -> RuleGroup {
    let s = sel(scope, "");
    let by = MODEL_BY;
    let ratio = |num: &str, den: &str, w: &str| {
        format!("sum by ({by}) (rate({num}{s}[{w}])) / sum by ({by}) (rate({den}{s}[{w}]))")
    };
    let recall = |w: &str| {
        format!(
            "sum by ({by}, true_label) (rate({c}{s}[{w}])) / (sum by ({by}, true_label) (rate({l}{s}[{w}])) > 0)",
            c = m::CORRECT_PREDICTIONS.name,
            l = m::LABELLED_PREDICTIONS.name
        )
    };
    let rmse = |w: &str| {
        format!("sqrt({})", ratio(m::RATING_SQUARED_ERROR.name, &format!("{}_count", m::RATING_ABSOLUTE_ERROR.name), w))
    };
    let ape = m::FORECAST_PERCENTAGE_ERROR.name;
    let mut rules = Vec::new();
    for (w, acc, rec, macro_rec, rm, mape) in [
        ("1h", records::ACCURACY_1H, records::RECALL_1H, records::MACRO_RECALL_1H, records::RMSE_1H, records::MAPE_1H),
        ("1d", records::ACCURACY_1D, records::RECALL_1D, records::MACRO_RECALL_1D, records::RMSE_1D, records::MAPE_1D),
    ] {
        rules.push(record(acc, ratio(m::CORRECT_PREDICTIONS.name, m::LABELLED_PREDICTIONS.name, w)));
        rules.push(record(rec, recall(w)));
        rules.push(record(macro_rec, format!("avg by ({by}) ({rec})")));
        rules.push(record(rm, rmse(w)));
        rules.push(record(mape, ratio(&format!("{ape}_sum"), &format!("{ape}_count"), w)));
    }
    rules.push(record(
        records::EXPECTED_ACCURACY_1H,
        ratio(m::EXPECTED_CORRECT.name, m::LABELLED_PREDICTIONS.name, "1h"),
    ));
    let conf = m::PREDICTION_CONFIDENCE.name;
    rules.push(record(records::ESTIMATED_ACCURACY_1H, ratio(&format!("{conf}_sum"), &format!("{conf}_count"), "1h")));
    rules.push(record(
        records::FEEDBACK_COVERAGE_1D,
        format!(
            "sum by (namespace, job, model) (rate({f}{m}[1d])) / sum by (namespace, job, model) (rate({p}{ok}[1d]))",
            f = m::FEEDBACK.name,
            m = sel(scope, r#"outcome="matched""#),
            p = m::PREDICTIONS.name,
            ok = sel(scope, r#"outcome="success""#)
        ),
    ));
    RuleGroup { name: format!("{}.quality.rules", scope.name), rules }
}

/// `record < target` (or `>` for an error): against the fixed target, or against the held-out
/// figure moved by the tolerance; and only with at least `min` labelled items in the hour.
fn below_target(
    scope: &Scope,
    record_name: &str,
    metric: &str,
    t: &Target,
    lower_is_bad: bool,
    volume: &str,
) -> String {
    let by = MODEL_BY;
    let (op, sign) = if lower_is_bad { ("<", "-") } else { (">", "+") };
    let target = match t.target {
        Some(v) => format!("{v}"),
        None => format!(
            "on({by}) (max by ({by}) ({h}{s}) {sign} {tol})",
            h = m::MODEL_HELDOUT_QUALITY.name,
            s = sel(scope, &format!("metric=\"{metric}\"")),
            tol = t.tolerance
        ),
    };
    format!("{record_name}{s} {op} {target} and on({by}) {volume}", s = sel(scope, ""))
}

/// Quality alerts: accuracy / rating error / forecast error against their targets (warning),
/// and traffic without feedback (info).
pub fn quality_alert_rules(slo: &Slo, scope: &Scope, t: &Timing) -> RuleGroup {
    let q = &slo.quality;
    let by = MODEL_BY;
    let s = |extra: &str| sel(scope, extra);
    let a = |spec| alert(scope, spec);
    let min = q.min_feedback;
    let labelled = format!("sum by ({by}) (increase({}{}[1h])) >= {min}", m::LABELLED_PREDICTIONS.name, s(""));
    let rated = format!("sum by ({by}) (increase({}_count{}[1h])) >= {min}", m::RATING_ABSOLUTE_ERROR.name, s(""));
    let forecast =
        format!("sum by ({by}) (increase({}_count{}[1h])) >= {min}", m::FORECAST_PERCENTAGE_ERROR.name, s(""));
    let describe = |what: &str, target: &Target, unit: &str, value: &str| {
        match target.target {
        Some(v) => format!("{what} of {{{{ $labels.model }}}} {{{{ $labels.version }}}} is {value} over the last hour (target {v}{unit})."),
        None => format!("{what} of {{{{ $labels.model }}}} {{{{ $labels.version }}}} is {value} over the last hour, worse than its held-out figure by more than {}{unit}.", target.tolerance),
    }
    };
    let (ratio, plain) = ("{{ $value | humanizePercentage }}", "{{ $value }}");
    let rules = vec![
        a(AlertSpec {
            name: "InferwatchModelAccuracyBelowTarget",
            expr: below_target(scope, records::ACCURACY_1H, "accuracy", &q.accuracy, true, &labelled),
            for_: &t.warning,
            summary: "Online accuracy (ground truth fed back) is below its target.",
            description: describe("Accuracy", &q.accuracy, "", ratio),
        }),
        a(AlertSpec {
            name: "InferwatchRatingErrorAboveTarget",
            expr: below_target(scope, records::RMSE_1H, "rmse", &q.rmse, false, &rated),
            for_: &t.warning,
            summary: "Online RMSE of rating predictions is above its target.",
            description: describe("RMSE", &q.rmse, " stars", plain),
        }),
        a(AlertSpec {
            name: "InferwatchForecastErrorAboveTarget",
            expr: below_target(scope, records::MAPE_1H, "mape", &q.mape, false, &forecast),
            for_: &t.warning,
            summary: "Online MAPE of forecasts is above its target.",
            description: describe("MAPE", &q.mape, " (a ratio)", ratio),
        }),
        a(AlertSpec {
            name: "InferwatchFeedbackStarvation",
            expr: format!(
                "sum by (namespace, job, model) (increase({p}{ok}[{w}])) > 0 unless on(namespace, job, model) sum by (namespace, job, model) (increase({f}{matched}[{w}])) > 0",
                p = m::PREDICTIONS.name,
                ok = s(r#"outcome="success""#),
                f = m::FEEDBACK.name,
                matched = s(r#"outcome="matched""#),
                w = q.feedback_starvation
            ),
            for_: &t.info,
            summary: "A model serves traffic but gets no ground truth back.",
            description: format!(
                "{{{{ $labels.model }}}} of {{{{ $labels.job }}}} answered predictions but no feedback matched any of them in {}: its online accuracy is unknown.",
                q.feedback_starvation
            ),
        }),
    ];
    RuleGroup { name: format!("{}.quality", scope.name), rules }
}

/// Alerts for one scope.
pub fn alert_rules(slo: &Slo, scope: &Scope, t: &Timing) -> Vec<RuleGroup> {
    let s = |extra: &str| sel(scope, extra);
    let by = SERVICE_BY;
    let w = &t.rate_window;
    let b = &t.baseline_window;
    let a = |spec| alert(scope, spec);
    let critical = vec![
        a(AlertSpec {
            name: "InferwatchTargetDown",
            expr: format!("up{} == 0", s("")),
            for_: &t.critical,
            summary: "An inference server target is down.",
            description: "Prometheus cannot scrape {{ $labels.instance }} of {{ $labels.job }} in {{ $labels.namespace }}: the pod is down or /metrics fails.".into(),
        }),
        a(AlertSpec {
            name: "InferwatchTargetMissing",
            expr: format!("absent(up{})", s("")),
            for_: &t.critical,
            summary: "No inference server target is being scraped.",
            description: format!("No target matches {}: the service has no endpoints or the ServiceMonitor selects nothing.", s("")),
        }),
        a(AlertSpec {
            name: "InferwatchAllModelsFailing",
            expr: format!(
                "max by ({by}) ({ready}{s}) == 0 or (sum by ({by}) (rate({p}{ok}[{w}])) == 0 and sum by ({by}) (rate({p}{err}[{w}])) > 0)",
                ready = m::MODEL_READY.name,
                s = s(""),
                p = m::PREDICTIONS.name,
                ok = s(r#"outcome="success""#),
                err = s(r#"outcome="error""#)
            ),
            for_: &t.critical,
            summary: "No model of the service can answer.",
            description: "Every model of {{ $labels.job }} in {{ $labels.namespace }} is unloaded or every prediction fails.".into(),
        }),
        a(AlertSpec {
            name: "InferwatchDependencyDown",
            expr: format!(r#"max by ({by}, dependency) ({}{}) == 0"#, m::DEPENDENCY_UP.name, s(r#"required="true""#)),
            for_: &t.critical,
            summary: "A required dependency (model storage, registry, queue) is unreachable.",
            description: "{{ $labels.dependency }} is down for {{ $labels.job }} in {{ $labels.namespace }}; new model loads or batch jobs fail.".into(),
        }),
    ];
    let warning = vec![
        a(AlertSpec {
            name: "InferwatchHighMemory",
            expr: format!(
                "max by ({by}, instance) ({rss}{s}) / max by ({by}, instance) ({lim}{s}) > {th}",
                rss = m::PROCESS_RSS.name,
                lim = m::MEMORY_LIMIT.name,
                s = s(""),
                th = slo.memory_ratio
            ),
            for_: &t.warning,
            summary: "An inference server uses most of its memory limit.",
            description: format!(
                "{{{{ $labels.instance }}}} uses {{{{ $value | humanizePercentage }}}} of its container memory limit (threshold {}).",
                pct(slo.memory_ratio)
            ),
        }),
        a(AlertSpec {
            name: "InferwatchModelLoadFailures",
            expr: format!("sum by ({by}, model, reason) (increase({}{}[{w}])) > 0", m::MODEL_LOAD_FAILURES.name, s("")),
            for_: "1m",
            summary: "Model packages fail to load.",
            description: "{{ $labels.model }} failed to load ({{ $labels.reason }}) on {{ $labels.job }} in {{ $labels.namespace }}.".into(),
        }),
        a(AlertSpec {
            name: "InferwatchSlowModelLoad",
            expr: format!(
                "sum by ({by}, model) (increase({h}{all}[1h])) - sum by ({by}, model) (increase({h}{kpi}[1h])) > 0",
                h = format!("{}_bucket", m::MODEL_LOAD_TIME.name),
                all = s(r#"le="+Inf""#),
                kpi = s(&crate::slo::le_matcher(m::MODEL_LOAD_KPI_SECONDS))
            ),
            for_: "1m",
            summary: "A model took longer than the KPI to load.",
            description: format!(
                "{{{{ $value }}}} load(s) of {{{{ $labels.model }}}} on {{{{ $labels.job }}}} in {{{{ $labels.namespace }}}} took over {} s in the last hour (KPI: under {} s).",
                m::MODEL_LOAD_KPI_SECONDS, m::MODEL_LOAD_KPI_SECONDS
            ),
        }),
        a(AlertSpec {
            name: "InferwatchLowCacheHitRatio",
            expr: format!(
                "{r} < {th} and {lookups} > 0.1",
                r = records::CACHE_HIT_RATIO,
                th = slo.cache_hit_ratio_floor,
                lookups = records::CACHE_LOOKUP_RATE
            ),
            for_: &t.warning,
            summary: "The model cache misses too often under real traffic.",
            description: format!(
                "Hit ratio of {{{{ $labels.job }}}} is {{{{ $value | humanizePercentage }}}} (floor {}); models are being evicted and reloaded.",
                pct(slo.cache_hit_ratio_floor)
            ),
        }),
        a(AlertSpec {
            name: "InferwatchElevatedErrorRatio",
            expr: format!(
                "{r}{s} > {th} and {rate}{s} > 0.05",
                r = records::ERROR_RATIO,
                s = s(""),
                th = slo.error_ratio_warning,
                rate = records::REQUEST_RATE
            ),
            for_: &t.warning,
            summary: "More than the KPI's share of user requests fail.",
            description: format!(
                "{{{{ $labels.job }}}} answers {{{{ $value | humanizePercentage }}}} of requests with 5xx (warning above {}).",
                pct(slo.error_ratio_warning)
            ),
        }),
    ];
    let info = vec![
        a(AlertSpec {
            name: "InferwatchUnusualTraffic",
            // Baseline: the window before the current one (so a lasting shift does not become
            // its own baseline within the `for:`). Fires when the rate is both 3 sigma and 50%
            // away from it: statistically and practically unusual.
            expr: format!(
                "abs({r} - avg_over_time({r}[{b}] offset {b})) > 3 * stddev_over_time({r}[{b}] offset {b}) and abs({r} - avg_over_time({r}[{b}] offset {b})) > 0.5 * avg_over_time({r}[{b}] offset {b})",
                r = records::REQUEST_RATE
            ),
            for_: &t.info,
            summary: "Traffic is far from its recent baseline.",
            description: format!("Request rate of {{{{ $labels.job }}}} is more than 3 standard deviations and 50% away from its mean of the previous {b}."),
        }),
        a(AlertSpec {
            name: "InferwatchCacheMissRateRising",
            expr: format!(
                "sum by ({by}) (rate({mi}{s}[{w}])) > 2 * sum by ({by}) (rate({mi}{s}[{w}] offset {b})) and sum by ({by}) (rate({mi}{s}[{w}])) > 0.01",
                mi = m::CACHE_MISSES.name,
                s = s("")
            ),
            for_: &t.info,
            summary: "Model cache misses are rising.",
            description: format!("Cache misses of {{{{ $labels.job }}}} more than doubled against {b} ago."),
        }),
        a(AlertSpec {
            name: "InferwatchBatchQueueDelay",
            expr: format!("max by ({by}) ({}{}) > {}", m::QUEUE_OLDEST_AGE.name, s(""), slo.queue_delay_seconds),
            for_: &t.info,
            summary: "Batch jobs wait long in the queue.",
            description: format!(
                "The oldest pending batch job of {{{{ $labels.job }}}} is {{{{ $value | humanizeDuration }}}} old (threshold {} s).",
                slo.queue_delay_seconds
            ),
        }),
    ];
    vec![
        RuleGroup { name: format!("{}.critical", scope.name), rules: critical },
        RuleGroup { name: format!("{}.warning", scope.name), rules: warning },
        RuleGroup { name: format!("{}.info", scope.name), rules: info },
    ]
}

/// The whole rule file for one scope: recording rules first, then alerts by severity.
pub fn rule_file(slo: &Slo, scope: &Scope, timing: &Timing) -> RuleFile {
    let mut groups = vec![
        recording_rules(scope, timing),
        crate::slo::slo_recording_rules(scope, &slo.objectives),
        crate::capacity::capacity_recording_rules(scope, timing),
    ];
    groups.extend(alert_rules(slo, scope, timing));
    groups.push(crate::slo::slo_alert_rules(scope, &slo.objectives, timing));
    groups.push(crate::capacity::capacity_alert_rules(scope, timing));
    if slo.quality.enabled {
        groups.push(quality_recording_rules(scope));
        groups.push(quality_alert_rules(slo, scope, timing));
    }
    if slo.drift.enabled {
        groups.push(crate::drift::drift_recording_rules(scope, &slo.drift));
        groups.push(crate::drift::drift_alert_rules(&slo.drift, scope, timing));
    }
    RuleFile { groups }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alerts(file: &RuleFile) -> Vec<(String, String, String)> {
        file.groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter_map(|r| match r {
                Rule::Alert { alert, labels, for_, .. } => {
                    Some((alert.clone(), labels["severity"].clone(), for_.clone()))
                }
                Rule::Record { .. } => None,
            })
            .collect()
    }

    #[test]
    fn every_catalogued_alert_is_rendered_once_with_its_severity() {
        let mut file = rule_file(&Slo::default(), &Scope::default(), &Timing::default());
        file.groups.extend(crate::operator_alerts::rule_file(&Timing::default()).groups);
        let rendered = alerts(&file);
        assert_eq!(rendered.len(), ALERTS.len());
        for (name, sev) in ALERTS {
            let found: Vec<_> = rendered.iter().filter(|(n, _, _)| n == name).collect();
            assert_eq!(found.len(), 1, "{name}");
            assert_eq!(found[0].1, sev.as_str());
            assert!(!found[0].2.is_empty() && found[0].2 != "0s", "{name} needs a for:");
        }
    }

    #[test]
    fn slo_values_appear_in_the_expressions() {
        let objectives =
            crate::slo::Objectives { availability: 0.99, latency_threshold_seconds: 0.5, ..Default::default() };
        let slo = Slo { objectives, error_ratio_warning: 0.02, ..Slo::default() };
        let file = rule_file(&slo, &Scope::default(), &Timing::default());
        let yaml = serde_json::to_string(&file).unwrap();
        // 14.4 x (1 - 0.99) for the page; the latency threshold as its bucket edge.
        assert!(yaml.contains("> 0.144 and"), "{yaml}");
        assert!(yaml.contains(r#"le=\"0.5\""#), "{yaml}");
        assert!(yaml.contains("> 0.02 and"));
    }

    #[test]
    fn quality_targets_are_fixed_when_set_and_follow_the_held_out_figure_otherwise() {
        let expr_of = |slo: &Slo, name: &str| {
            rule_file(slo, &Scope::default(), &Timing::default())
                .groups
                .into_iter()
                .flat_map(|g| g.rules)
                .find_map(|r| match r {
                    Rule::Alert { alert, expr, .. } if alert == name => Some(expr),
                    _ => None,
                })
                .unwrap()
        };
        let default = expr_of(&Slo::default(), "InferwatchModelAccuracyBelowTarget");
        assert!(
            default.contains(r#"inferwatch_model_heldout_quality{job=~".*inferwatch.*",metric="accuracy"}) - 0.05"#),
            "{default}"
        );
        assert!(default.contains(">= 50"), "{default}");
        let mut slo = Slo::default();
        slo.quality.accuracy.target = Some(0.9);
        slo.quality.rmse.tolerance = 0.25;
        let fixed = expr_of(&slo, "InferwatchModelAccuracyBelowTarget");
        assert!(fixed.contains("< 0.9 and") && !fixed.contains("heldout"), "{fixed}");
        assert!(expr_of(&slo, "InferwatchRatingErrorAboveTarget").contains(r#"metric="rmse"}) + 0.25"#));
        slo.quality.enabled = false;
        let off = rule_file(&slo, &Scope::default(), &Timing::default());
        assert!(off.groups.iter().all(|g| !g.name.contains("quality")));
    }

    #[test]
    fn quantiles_are_computed_from_aggregated_buckets_never_averaged() {
        let file = rule_file(&Slo::default(), &Scope::default(), &Timing::default());
        for g in &file.groups {
            for r in &g.rules {
                let expr = match r {
                    Rule::Record { expr, .. } | Rule::Alert { expr, .. } => expr,
                };
                if expr.contains("histogram_quantile") {
                    assert!(expr.contains("sum by (") && expr.contains(", le)"), "{expr}");
                }
                assert!(!expr.contains("avg(histogram_quantile"), "{expr}");
            }
        }
    }

    #[test]
    fn extra_labels_and_links_are_on_every_alert() {
        let scope = Scope {
            extra_labels: std::collections::BTreeMap::from([("team".into(), "ml".into())]),
            ..Scope::default()
        };
        let file = rule_file(&Slo::default(), &scope, &Timing::default());
        for g in &file.groups {
            for r in &g.rules {
                if let Rule::Alert { alert, labels, annotations, .. } = r {
                    assert_eq!(labels["team"], "ml");
                    assert!(annotations["runbook_url"].ends_with(&format!("/{alert}.md")));
                    for k in ["summary", "description", "dashboard_url"] {
                        assert!(!annotations[k].is_empty(), "{alert} {k}");
                    }
                }
            }
        }
    }
}
