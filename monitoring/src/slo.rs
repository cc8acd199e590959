//! Service level objectives: SLIs on user traffic only, error budgets, and multi-window,
//! multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs"), rendered natively.
//!
//! Sloth and Pyrra generate the same shape for any Prometheus; we render it from the contract so
//! the SLIs can only name metrics and routes the server really has, and avoid the traps their
//! users hit:
//! - **0/0 on a quiet service.** Every ratio divides by `(events > 0)`: a window without traffic
//!   has no ratio (no NaN that poisons later windows), and a window with traffic but no error
//!   series yet (counters appear on their first increment) has ratio 0, not nothing.
//! - **Uneven traffic.** Every window, the 30-day one too, is computed from the counters over
//!   that window (`rate(x[30d])`), never as an average of 5-minute ratios, which weighs a quiet
//!   night as much as a busy day.
//! - **Latency thresholds.** The threshold must be a bucket edge of the server's latency
//!   histogram (the CRD validates it) and is matched as `le=~"2(\.0)?"`, so the classic `2` of
//!   Prometheus 2 and the normalised `2.0` of Prometheus 3 both match.
//!
//! User traffic is [`USER_ROUTES`] (predict, recommend, v2 infer, batch job submission) and the
//! finished batch jobs; probes (`/ready`, `/health`, `/v2/health/*`), scrapes (`/metrics`),
//! metadata and feedback never move an SLI.

use crate::metrics as m;
use crate::rules::{alert, record, sel, AlertSpec, Rule, RuleGroup, Scope, Timing, SERVICE_BY};
use serde::Serialize;

/// User traffic routes: the answers users wait for. A route template label, matched by regex
/// (`[^/]+` stands for the `{name}` and `{version}` placeholders).
pub const USER_ROUTES: &str =
    r#"route=~"/v1/models/[^/]+/(predict|recommend|jobs)|/v2/models/[^/]+(/versions/[^/]+)?/infer""#;

/// The objectives of one model service. Defaults are the team's KPIs: 99.5% available, 95% of
/// requests under 2 s, over 30 days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objectives {
    /// Share of user requests and batch jobs that must not fail with a 5xx (or fail as a job).
    pub availability: f64,
    /// Share of user requests that must be answered within `latency_threshold_seconds`.
    pub latency: f64,
    /// The latency threshold, a bucket edge of [`m::LATENCY_BUCKETS`].
    pub latency_threshold_seconds: f64,
    /// The SLO window, in days (`30` is 30d).
    pub window_days: u32,
}

impl Default for Objectives {
    fn default() -> Self {
        Self { availability: 0.995, latency: 0.95, latency_threshold_seconds: 2.0, window_days: 30 }
    }
}

impl Objectives {
    /// The SLO window as a Prometheus duration.
    pub fn window(&self) -> String {
        format!("{}d", self.window_days)
    }

    fn objective(&self, sli: Sli) -> f64 {
        match sli {
            Sli::Availability => self.availability,
            Sli::Latency => self.latency,
        }
    }
}

/// The two SLIs; the `slo` label value of every SLO series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sli {
    /// Non-5xx share of user requests and non-failed share of finished batch jobs.
    Availability,
    /// Share of user requests answered under the threshold.
    Latency,
}

impl Sli {
    /// Both, in the order they are rendered.
    pub const ALL: [Sli; 2] = [Sli::Availability, Sli::Latency];

    /// The `slo` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Availability => "availability",
            Self::Latency => "latency",
        }
    }
}

/// The short windows every burn-rate alert pair needs, besides the SLO window.
pub const WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// One multi-window burn-rate condition: the error ratio over `long` and over `short` both
/// above `factor` times the error budget. `budget_share` of the whole budget is spent in `long`
/// at that rate; the factor follows from the SLO window (14.4 for 2% in 1 h of 30 days).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnWindow {
    /// The long window: how much budget must burn.
    pub long: &'static str,
    /// Length of `long` in hours.
    pub long_hours: f64,
    /// The short window: is it still burning (resets the alert soon after the burn stops).
    pub short: &'static str,
    /// The share of the window's budget the long window catches.
    pub budget_share: f64,
}

impl BurnWindow {
    /// The burn-rate factor for an SLO window of `window_days`.
    pub fn factor(&self, window_days: u32) -> f64 {
        round(self.budget_share * f64::from(window_days) * 24.0 / self.long_hours)
    }
}

/// Page: 2% of the budget in 1 h (checked over 5 m), or 5% in 6 h (over 30 m).
pub const PAGE: [BurnWindow; 2] = [
    BurnWindow { long: "1h", long_hours: 1.0, short: "5m", budget_share: 0.02 },
    BurnWindow { long: "6h", long_hours: 6.0, short: "30m", budget_share: 0.05 },
];
/// Ticket: 10% of the budget in 1 d (over 2 h), or 10% in 3 d (over 6 h).
pub const TICKET: [BurnWindow; 2] = [
    BurnWindow { long: "1d", long_hours: 24.0, short: "2h", budget_share: 0.10 },
    BurnWindow { long: "3d", long_hours: 72.0, short: "6h", budget_share: 0.10 },
];

/// Names of the SLO recording rules.
pub mod records {
    /// Error ratio per SLI over the SLO window (label `slo`).
    pub const ERROR_RATIO_PERIOD: &str = "inferwatch:slo_errors:ratio_period";
    /// The objective per SLI (labels `slo`, `period`), one series per service with a target.
    pub const OBJECTIVE: &str = "inferwatch:slo:objective_ratio";
    /// Attainment (good share) per SLI over the SLO window.
    pub const ATTAINMENT: &str = "inferwatch:slo:attainment_ratio_period";
    /// Error budget remaining over the SLO window: 1 is untouched, 0 spent, below 0 overspent.
    pub const BUDGET_REMAINING: &str = "inferwatch:slo_budget:remaining_ratio";
    /// Burn rate over 1 h: 1 spends the budget exactly in the SLO window.
    pub const BURN_RATE_1H: &str = "inferwatch:slo_burn:rate1h";
    /// Burn rate over 1 d.
    pub const BURN_RATE_1D: &str = "inferwatch:slo_burn:rate1d";
}

/// The error-ratio record of one of [`WINDOWS`].
pub fn error_ratio_record(window: &str) -> String {
    format!("inferwatch:slo_errors:ratio_rate{window}")
}

/// The `le` matcher of a bucket edge, matching both exposition spellings (`2` and `2.0`).
pub fn le_matcher(edge: f64) -> String {
    let text = format!("{edge}");
    if text.contains('.') || text.contains('e') {
        format!(r#"le="{text}""#)
    } else {
        format!(r#"le=~"{text}(\\.0)?""#)
    }
}

/// Whether `seconds` is a bucket edge of the inference latency histogram.
pub fn is_latency_bucket_edge(seconds: f64) -> bool {
    m::LATENCY_BUCKETS.iter().any(|b| (b - seconds).abs() < 1e-12)
}

fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn with_labels(expr: String, labels: &[(&str, &str)]) -> String {
    labels.iter().fold(expr, |e, (k, v)| format!(r#"label_replace({e}, "{k}", "{v}", "", "")"#))
}

/// Events and bad events of an SLI over window `w`, summed per service, as `func` (`rate` for
/// the recording rules, `increase` for counts): `(all, bad)`. The one definition of the SLIs;
/// the report command uses it too.
pub fn sli_events(scope: &Scope, sli: Sli, w: &str, o: &Objectives, func: &str) -> (String, String) {
    let by = SERVICE_BY;
    let s = |extra: &str| sel(scope, extra);
    let http = m::HTTP_REQUESTS.name;
    let jobs = m::BATCH_JOBS.name;
    match sli {
        // Different label sets (route vs model), so `or` keeps both and `sum` adds them.
        Sli::Availability => (
            format!(
                "sum by ({by}) ({func}({http}{}[{w}]) or {func}({jobs}{}[{w}]))",
                s(USER_ROUTES),
                s(r#"outcome=~"done|failed""#)
            ),
            format!(
                "sum by ({by}) ({func}({http}{}[{w}]) or {func}({jobs}{}[{w}]))",
                s(&format!(r#"{USER_ROUTES},status=~"5..""#)),
                s(r#"outcome="failed""#)
            ),
        ),
        Sli::Latency => {
            let h = m::HTTP_REQUEST_DURATION.name;
            let all = format!("sum by ({by}) ({func}({h}_count{}[{w}]))", s(USER_ROUTES));
            let good = format!(
                "sum by ({by}) ({func}({h}_bucket{}[{w}]))",
                s(&format!("{USER_ROUTES},{}", le_matcher(o.latency_threshold_seconds)))
            );
            (all.clone(), format!("({all} - {good})"))
        }
    }
}

/// The error ratio of an SLI over a window (label `slo`), absent without traffic, 0 with
/// traffic and no bad event yet.
pub fn error_ratio(scope: &Scope, sli: Sli, w: &str, o: &Objectives) -> String {
    let (all, bad) = sli_events(scope, sli, w, o, "rate");
    with_labels(format!("({bad} or 0 * {all}) / ({all} > 0)"), &[("slo", sli.as_str())])
}

/// SLI error ratios over every alert window and the SLO window, objectives, attainment, budget
/// remaining and burn rates.
pub fn slo_recording_rules(scope: &Scope, o: &Objectives) -> RuleGroup {
    let period = o.window();
    let mut rules = Vec::new();
    for sli in Sli::ALL {
        for w in WINDOWS {
            rules.push(record(&error_ratio_record(w), error_ratio(scope, sli, w, o)));
        }
        rules.push(record(records::ERROR_RATIO_PERIOD, error_ratio(scope, sli, &period, o)));
    }
    for sli in Sli::ALL {
        let objective = o.objective(sli);
        let budget = round(1.0 - objective);
        let one = sel(scope, &format!(r#"slo="{}""#, sli.as_str()));
        // The latency SLI also says its threshold, so readers of the records (the report)
        // count each service against its own.
        let threshold = format!("{}", o.latency_threshold_seconds);
        let mut labels = vec![("slo", sli.as_str()), ("period", period.as_str())];
        if sli == Sli::Latency {
            labels.push((THRESHOLD_LABEL, threshold.as_str()));
        }
        rules.push(record(
            records::OBJECTIVE,
            with_labels(format!("0 * max by ({}) (up{}) + {objective}", SERVICE_BY, sel(scope, "")), &labels),
        ));
        rules.push(record(records::BUDGET_REMAINING, format!("1 - {}{one} / {budget}", records::ERROR_RATIO_PERIOD)));
        rules.push(record(records::BURN_RATE_1H, format!("{}{one} / {budget}", error_ratio_record("1h"))));
        rules.push(record(records::BURN_RATE_1D, format!("{}{one} / {budget}", error_ratio_record("1d"))));
    }
    rules.push(record(records::ATTAINMENT, format!("1 - {}{}", records::ERROR_RATIO_PERIOD, sel(scope, ""))));
    RuleGroup { name: format!("{}.slo.rules", scope.name), rules }
}

/// The label of the latency objective record that carries the SLI's threshold in seconds.
pub const THRESHOLD_LABEL: &str = "threshold_seconds";

/// `(long > f·budget and short > f·budget) or ...` over the windows, for both SLIs.
fn burn_condition(scope: &Scope, o: &Objectives, windows: &[BurnWindow]) -> String {
    let mut parts = Vec::new();
    for sli in Sli::ALL {
        let budget = 1.0 - o.objective(sli);
        let s = sel(scope, &format!(r#"slo="{}""#, sli.as_str()));
        for bw in windows {
            let th = round(bw.factor(o.window_days) * budget);
            parts.push(format!(
                "({l}{s} > {th} and {sh}{s} > {th})",
                l = error_ratio_record(bw.long),
                sh = error_ratio_record(bw.short)
            ));
        }
    }
    parts.join(" or ")
}

fn describe(windows: &[BurnWindow], o: &Objectives) -> String {
    windows
        .iter()
        .map(|w| format!("{}x over {} and {}", w.factor(o.window_days), w.long, w.short))
        .collect::<Vec<_>>()
        .join(", or ")
}

/// Page and ticket alerts on the error budget, per service and SLI (label `slo`).
pub fn slo_alert_rules(scope: &Scope, o: &Objectives, t: &Timing) -> RuleGroup {
    let a = |spec| alert(scope, spec);
    let rules: Vec<Rule> = vec![
        a(AlertSpec {
            name: "InferwatchErrorBudgetFastBurn",
            expr: burn_condition(scope, o, &PAGE),
            for_: &t.critical,
            summary: "The error budget burns fast: at this rate it is gone in days.",
            description: format!(
                "The {{{{ $labels.slo }}}} SLO of {{{{ $labels.job }}}} in {{{{ $labels.namespace }}}} burns its {} error budget fast ({}): {{{{ $value | humanizePercentage }}}} of events are bad over the long window.",
                o.window(),
                describe(&PAGE, o)
            ),
        }),
        a(AlertSpec {
            name: "InferwatchErrorBudgetSlowBurn",
            expr: burn_condition(scope, o, &TICKET),
            for_: &t.warning,
            summary: "The error budget burns faster than the SLO allows.",
            description: format!(
                "The {{{{ $labels.slo }}}} SLO of {{{{ $labels.job }}}} in {{{{ $labels.namespace }}}} spends its {} error budget too fast ({}): {{{{ $value | humanizePercentage }}}} of events are bad over the long window.",
                o.window(),
                describe(&TICKET, o)
            ),
        }),
        a(AlertSpec {
            name: "InferwatchSloWindowBeyondRetention",
            expr: retention_condition(scope, o),
            for_: "1h",
            summary: "Prometheus keeps less data than the SLO window: attainment and budget cover only part of it.",
            description: format!(
                "Prometheus keeps {{{{ $value | humanizeDuration }}}} of data, but the SLO window of {{{{ $labels.job }}}} in {{{{ $labels.namespace }}}} is {}: its attainment and error budget silently cover only what is kept. Raise the retention (kube-prometheus-stack: prometheus.prometheusSpec.retention) or shorten spec.monitoring.slo.window.",
                o.window()
            ),
        }),
    ];
    RuleGroup { name: format!("{}.slo", scope.name), rules }
}

/// The Prometheus evaluating the rules keeps less than the SLO window (`--storage.tsdb.
/// retention.time`, as it reports in `prometheus_tsdb_retention_limit_seconds`; 0 means no time
/// limit), labelled per service: the retention in seconds, for every service being scraped.
/// Absent when Prometheus does not scrape itself.
fn retention_condition(scope: &Scope, o: &Objectives) -> String {
    format!(
        "max by ({by}) (up{s}) * 0 + on () group_left () max(prometheus_tsdb_retention_limit_seconds > 0) < {secs}",
        by = SERVICE_BY,
        s = sel(scope, ""),
        secs = u64::from(o.window_days) * 86_400
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_factors_are_the_workbook_ones_for_thirty_days() {
        let f: Vec<f64> = PAGE.iter().chain(&TICKET).map(|w| w.factor(30)).collect();
        assert_eq!(f, vec![14.4, 6.0, 3.0, 1.0]);
        assert_eq!(PAGE[0].factor(7), 3.36);
    }

    #[test]
    fn le_matcher_accepts_both_spellings_of_a_whole_number() {
        assert_eq!(le_matcher(2.0), r#"le=~"2(\\.0)?""#);
        assert_eq!(le_matcher(0.25), r#"le="0.25""#);
        assert!(is_latency_bucket_edge(2.0) && is_latency_bucket_edge(0.00025));
        assert!(!is_latency_bucket_edge(1.5));
    }

    #[test]
    fn every_ratio_is_gated_on_traffic_and_long_windows_come_from_counts() {
        let g = slo_recording_rules(&Scope::default(), &Objectives::default());
        for r in &g.rules {
            let Rule::Record { record, expr } = r else { continue };
            if record.starts_with("inferwatch:slo_errors:") {
                assert!(expr.contains("> 0)"), "{record}: {expr}");
                assert!(!expr.contains("avg_over_time"), "{record}: {expr}");
            }
        }
        let period: Vec<_> = g
            .rules
            .iter()
            .filter_map(|r| match r {
                Rule::Record { record, expr } if record == records::ERROR_RATIO_PERIOD => Some(expr),
                _ => None,
            })
            .collect();
        assert_eq!(period.len(), 2);
        assert!(period.iter().all(|e| e.contains("[30d]")));
    }
}
