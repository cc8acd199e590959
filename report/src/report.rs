//! The weekly review: what to ask Prometheus ([`gather`], I/O through [`Query`]) and how to
//! print it ([`markdown`], pure). The SLIs come from `inferwatch_monitoring::slo`, the same
//! definitions the recording rules use, counted over `--since` with `increase`.

use crate::prom::{PromError, Query, Sample};
use inferwatch_monitoring::alerts::{sel, Scope};
use inferwatch_monitoring::metrics as m;
use inferwatch_monitoring::{capacity, drift, slo};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What the report covers.
#[derive(Debug, Clone)]
pub struct Options {
    /// PromQL matchers of the services, e.g. `namespace="ml",job="sentiment"`; empty for all.
    pub selector: String,
    /// The review window, a Prometheus duration (`7d`).
    pub since: String,
    /// The latency SLI's threshold for services whose objective record does not carry one
    /// (seconds; a bucket edge, as in `spec.monitoring.slo`).
    pub latency_threshold_seconds: f64,
}

/// A service: (namespace, job).
pub type Service = (String, String);

/// One SLO of one service over the review window.
#[derive(Debug, Clone, PartialEq)]
pub struct SloLine {
    /// The service.
    pub service: Service,
    /// `availability` or `latency`.
    pub slo: String,
    /// Its objective, when the service's SLO rules are loaded.
    pub objective: Option<f64>,
    /// The latency threshold the service was counted against (latency only).
    pub threshold_seconds: Option<f64>,
    /// Events (user requests, finished jobs) in the review window.
    pub events: f64,
    /// Bad events in it.
    pub bad: f64,
    /// Share of the SLO window's error budget spent during the review window (counts: bad
    /// events over budget x events of the SLO window).
    pub budget_spent: Option<f64>,
    /// Error budget left over the SLO window now (recording rule).
    pub budget_remaining: Option<f64>,
}

impl SloLine {
    /// Good share over the review window.
    pub fn attainment(&self) -> Option<f64> {
        (self.events > 0.0).then(|| 1.0 - self.bad / self.events)
    }
}

/// Everything the report prints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The review window.
    pub since: String,
    /// SLOs per service.
    pub slos: Vec<SloLine>,
    /// p95 model latency per (service, model), seconds.
    pub p95: Vec<(Service, String, f64)>,
    /// Alerts that fired: (service, alert, severity, firing evaluations).
    pub alerts: Vec<(Service, String, String, f64)>,
    /// Online quality: (service, model, metric, value, items).
    pub quality: Vec<(Service, String, &'static str, f64, f64)>,
    /// Highest PSI per feature in the window: (service, model, side/feature, psi).
    pub drift: Vec<(Service, String, String, f64)>,
    /// Capacity per service: (service, headroom now, lowest headroom, peak CPU, peak memory,
    /// peak concurrency saturation, max replicas).
    pub capacity: Vec<(Service, CapacityLine)>,
}

/// Capacity figures of one service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapacityLine {
    /// Headroom at the most replicas now.
    pub headroom_now: Option<f64>,
    /// Lowest headroom in the window.
    pub headroom_min: Option<f64>,
    /// Peak CPU saturation of any instance.
    pub cpu_peak: Option<f64>,
    /// Peak memory saturation of any instance.
    pub memory_peak: Option<f64>,
    /// Peak concurrency saturation of any instance.
    pub concurrency_peak: Option<f64>,
    /// The most replicas.
    pub max_replicas: Option<f64>,
}

fn service(s: &Sample) -> Service {
    (s.label("namespace").to_string(), s.label("job").to_string())
}

fn by_service(v: Vec<Sample>) -> BTreeMap<Service, f64> {
    v.iter().map(|s| (service(s), s.value)).collect()
}

/// Ask Prometheus for everything the report prints.
pub fn gather(q: &impl Query, o: &Options) -> Result<Report, PromError> {
    let scope = Scope { selector: o.selector.clone(), ..Scope::default() };
    let s = |extra: &str| sel(&scope, extra);
    let w = &o.since;
    let objectives = slo::Objectives { latency_threshold_seconds: o.latency_threshold_seconds, ..Default::default() };
    let mut report = Report { since: w.clone(), ..Report::default() };

    // Objectives, SLO windows and latency thresholds per service, from the services' own rules.
    let mut objective: BTreeMap<(Service, String), (f64, String)> = BTreeMap::new();
    let mut thresholds: BTreeMap<Service, f64> = BTreeMap::new();
    for x in q.query(&format!("{}{}", slo::records::OBJECTIVE, s("")))? {
        objective.insert((service(&x), x.label("slo").into()), (x.value, x.label("period").into()));
        if let Ok(t) = x.label(slo::THRESHOLD_LABEL).parse::<f64>() {
            thresholds.insert(service(&x), t);
        }
    }
    let threshold_of = |svc: &Service| thresholds.get(svc).copied().unwrap_or(o.latency_threshold_seconds);
    let remaining: BTreeMap<(Service, String), f64> = q
        .query(&format!("{}{}", slo::records::BUDGET_REMAINING, s("")))?
        .iter()
        .map(|x| ((service(x), x.label("slo").to_string()), x.value))
        .collect();
    for sli in slo::Sli::ALL {
        let (all, _) = slo::sli_events(&scope, sli, w, &objectives, "increase");
        let all = by_service(q.query(&all)?);
        // Bad events: latency counts each service against its own threshold, one query per
        // threshold in use.
        let mut used: Vec<f64> = all.keys().map(threshold_of).collect();
        used.sort_by(f64::total_cmp);
        used.dedup();
        if sli != slo::Sli::Latency {
            used = vec![o.latency_threshold_seconds];
        }
        let mut bad: BTreeMap<Service, f64> = BTreeMap::new();
        for t in used {
            let counted = slo::Objectives { latency_threshold_seconds: t, ..objectives.clone() };
            let (_, bad_t) = slo::sli_events(&scope, sli, w, &counted, "increase");
            for (svc, v) in by_service(q.query(&bad_t)?) {
                if sli != slo::Sli::Latency || threshold_of(&svc) == t {
                    bad.insert(svc, v);
                }
            }
        }
        // Events over each SLO window that occurs, for the budget spent.
        let mut window_events: BTreeMap<String, BTreeMap<Service, f64>> = BTreeMap::new();
        for ((_, name), (_, period)) in &objective {
            if name == sli.as_str() && !period.is_empty() && !window_events.contains_key(period) {
                let (all_p, _) = slo::sli_events(&scope, sli, period, &objectives, "increase");
                window_events.insert(period.clone(), by_service(q.query(&all_p)?));
            }
        }
        for (svc, events) in all {
            let key = (svc.clone(), sli.as_str().to_string());
            let bad = bad.get(&svc).copied().unwrap_or(0.0).max(0.0);
            let obj = objective.get(&key);
            let budget_spent = obj.and_then(|(o, period)| {
                let total = window_events.get(period)?.get(&svc)?;
                (*total > 0.0 && *o < 1.0).then(|| bad / ((1.0 - o) * total))
            });
            let threshold_seconds = (sli == slo::Sli::Latency).then(|| threshold_of(&svc));
            report.slos.push(SloLine {
                service: svc,
                slo: sli.as_str().into(),
                objective: obj.map(|(o, _)| *o),
                threshold_seconds,
                events,
                bad,
                budget_spent,
                budget_remaining: remaining.get(&key).copied(),
            });
        }
    }

    for x in q.query(&format!(
        "histogram_quantile(0.95, sum by (namespace, job, model, le) (rate({}_bucket{}[{w}])))",
        m::PREDICTION_DURATION.name,
        s("")
    ))? {
        if x.value.is_finite() {
            report.p95.push((service(&x), x.label("model").into(), x.value));
        }
    }
    for x in q.query(&format!(
        "sum by (namespace, job, alertname, severity) (count_over_time(ALERTS{}[{w}]))",
        s(r#"alertstate="firing""#)
    ))? {
        report.alerts.push((service(&x), x.label("alertname").into(), x.label("severity").into(), x.value));
    }
    report.alerts.sort_by(|a, b| b.3.total_cmp(&a.3));

    let by = "namespace, job, model";
    let inc = |name: &str| format!("sum by ({by}) (increase({name}{}[{w}]))", s(""));
    let quality = [
        (
            "accuracy",
            format!("{} / ({} > 0)", inc(m::CORRECT_PREDICTIONS.name), inc(m::LABELLED_PREDICTIONS.name)),
            inc(m::LABELLED_PREDICTIONS.name),
        ),
        (
            "rmse",
            format!(
                "sqrt({} / ({} > 0))",
                inc(m::RATING_SQUARED_ERROR.name),
                inc(&format!("{}_count", m::RATING_ABSOLUTE_ERROR.name))
            ),
            inc(&format!("{}_count", m::RATING_ABSOLUTE_ERROR.name)),
        ),
        (
            "mape",
            format!(
                "{} / ({} > 0)",
                inc(&format!("{}_sum", m::FORECAST_PERCENTAGE_ERROR.name)),
                inc(&format!("{}_count", m::FORECAST_PERCENTAGE_ERROR.name))
            ),
            inc(&format!("{}_count", m::FORECAST_PERCENTAGE_ERROR.name)),
        ),
    ];
    for (metric, value, count) in quality {
        let counts: BTreeMap<(Service, String), f64> =
            q.query(&count)?.iter().map(|x| ((service(x), x.label("model").to_string()), x.value)).collect();
        for x in q.query(&value)? {
            let key = (service(&x), x.label("model").to_string());
            let n = counts.get(&key).copied().unwrap_or(0.0);
            report.quality.push((key.0, key.1, metric, x.value, n));
        }
    }

    for x in q.query(&format!(
        "topk(10, max by (namespace, job, model, side, feature) (max_over_time({}{}[{w}])))",
        drift::records::PSI,
        s("")
    ))? {
        report.drift.push((
            service(&x),
            x.label("model").into(),
            format!("{} {}", x.label("side"), x.label("feature")),
            x.value,
        ));
    }
    report.drift.sort_by(|a, b| b.3.total_cmp(&a.3));

    let c = capacity::records::HEADROOM;
    let peak = |r: &str| format!("max by (namespace, job) (max_over_time({r}{}[{w}]))", s(""));
    let figures = [
        format!("min by (namespace, job) ({c}{})", s("")),
        format!("min by (namespace, job) (min_over_time({c}{}[{w}]))", s("")),
        peak(capacity::records::CPU_SATURATION),
        peak(capacity::records::MEMORY_SATURATION),
        peak(capacity::records::CONCURRENCY_SATURATION),
        format!("max by (namespace, job) ({}{})", capacity::records::MAX_REPLICAS, s("")),
    ];
    let mut lines: BTreeMap<Service, CapacityLine> = BTreeMap::new();
    for (i, f) in figures.iter().enumerate() {
        for (svc, v) in by_service(q.query(f)?) {
            let l = lines.entry(svc).or_default();
            let slot = match i {
                0 => &mut l.headroom_now,
                1 => &mut l.headroom_min,
                2 => &mut l.cpu_peak,
                3 => &mut l.memory_peak,
                4 => &mut l.concurrency_peak,
                _ => &mut l.max_replicas,
            };
            *slot = Some(v);
        }
    }
    report.capacity = lines.into_iter().collect();
    Ok(report)
}

fn pct(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map_or("–".into(), |x| format!("{:.2}%", x * 100.0))
}

fn name((ns, job): &Service) -> String {
    if ns.is_empty() {
        job.clone()
    } else {
        format!("{ns}/{job}")
    }
}

/// The report's sections, in order (the docs name them; a test holds the docs to this list).
pub const SECTIONS: [&str; 6] = [
    "SLOs",
    "p95 model latency",
    "Alerts that fired",
    "Online model quality (ground truth fed back)",
    "Drift (highest PSI per feature; above 0.25 is significant)",
    "Capacity",
];

fn section(out: &mut String, i: usize) {
    let _ = write!(out, "\n## {}\n\n", SECTIONS[i]);
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut out = format!("# Inferwatch weekly review (last {})\n", r.since);
    section(&mut out, 0);
    if r.slos.is_empty() {
        out.push_str("No user traffic in the window.\n");
    } else {
        out.push_str(
            "| Service | SLO | Objective | Attainment | Events | Bad | Budget spent in window | Budget left |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        for l in &r.slos {
            let met = match (l.attainment(), l.objective) {
                (Some(a), Some(o)) if a < o => " (missed)",
                _ => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{met} | {:.0} | {:.0} | {} | {} |",
                name(&l.service),
                match l.threshold_seconds {
                    Some(t) => format!("{} (within {t} s)", l.slo),
                    None => l.slo.clone(),
                },
                pct(l.objective),
                pct(l.attainment()),
                l.events,
                l.bad,
                pct(l.budget_spent),
                pct(l.budget_remaining)
            );
        }
    }
    section(&mut out, 1);
    table(
        &mut out,
        &["Service", "Model", "p95"],
        r.p95.iter().map(|(s, model, v)| vec![name(s), model.clone(), format!("{:.1} ms", v * 1e3)]),
    );
    section(&mut out, 2);
    table(
        &mut out,
        &["Service", "Alert", "Severity", "Firing evaluations"],
        r.alerts.iter().map(|(s, a, sev, n)| vec![name(s), a.clone(), sev.clone(), format!("{n:.0}")]),
    );
    section(&mut out, 3);
    table(
        &mut out,
        &["Service", "Model", "Metric", "Value", "Items"],
        r.quality.iter().map(|(s, model, metric, v, n)| {
            let value = if *metric == "rmse" { format!("{v:.3}") } else { pct(Some(*v)) };
            vec![name(s), model.clone(), (*metric).into(), value, format!("{n:.0}")]
        }),
    );
    section(&mut out, 4);
    table(
        &mut out,
        &["Service", "Model", "Feature", "PSI"],
        r.drift.iter().map(|(s, model, f, v)| vec![name(s), model.clone(), f.clone(), format!("{v:.3}")]),
    );
    section(&mut out, 5);
    table(
        &mut out,
        &["Service", "Headroom now", "Lowest headroom", "Peak CPU", "Peak memory", "Peak concurrency", "Max replicas"],
        r.capacity.iter().map(|(s, c)| {
            vec![
                name(s),
                pct(c.headroom_now),
                pct(c.headroom_min),
                pct(c.cpu_peak),
                pct(c.memory_peak),
                pct(c.concurrency_peak),
                c.max_replicas.map_or("–".into(), |v| format!("{v:.0}")),
            ]
        }),
    );
    out
}

fn table(out: &mut String, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    if rows.is_empty() {
        out.push_str("None in the window.\n");
        return;
    }
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(bad: f64, objective: Option<f64>) -> SloLine {
        SloLine {
            service: ("ml".into(), "sentiment".into()),
            slo: "availability".into(),
            objective,
            threshold_seconds: None,
            events: 1000.0,
            bad,
            budget_spent: Some(0.4),
            budget_remaining: Some(0.6),
        }
    }

    #[test]
    fn a_missed_objective_is_marked_and_empty_sections_say_so() {
        let r = Report {
            since: "7d".into(),
            slos: vec![line(20.0, Some(0.995)), line(1.0, Some(0.995))],
            ..Report::default()
        };
        let md = markdown(&r);
        assert!(
            md.contains("| ml/sentiment | availability | 99.50% | 98.00% (missed) | 1000 | 20 | 40.00% | 60.00% |"),
            "{md}"
        );
        assert!(md.contains("| 99.90% | 1000 | 1 |"), "{md}");
        assert!(md.contains("## Drift") && md.contains("None in the window."), "{md}");
    }

    #[test]
    fn a_service_without_slo_rules_shows_dashes_not_numbers() {
        let r = Report {
            since: "7d".into(),
            slos: vec![SloLine { budget_spent: None, budget_remaining: None, ..line(0.0, None) }],
            ..Report::default()
        };
        assert!(markdown(&r).contains("| ml/sentiment | availability | – | 100.00% | 1000 | 0 | – | – |"));
    }
}
