//! Grafana dashboards as pure functions returning dashboard JSON: executive, technical
//! operations and one per model kind. Every dashboard has `datasource`, `namespace` and `model`
//! template variables; every query is written against the metric catalogue.

use crate::alerts::records;
use crate::metrics as m;
use crate::serving::ModelKind;
use crate::slo;
use serde_json::{json, Value};

/// How a panel draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelKind {
    /// Lines over time.
    TimeSeries,
    /// One big number.
    Stat,
    /// Bucket heatmap.
    Heatmap,
    /// Horizontal bars (top-N).
    BarGauge,
    /// Table of the latest values.
    Table,
    /// A row header that starts a new section (no queries).
    Row,
}

impl PanelKind {
    fn grafana_type(self) -> &'static str {
        match self {
            Self::TimeSeries => "timeseries",
            Self::Stat => "stat",
            Self::Heatmap => "heatmap",
            Self::BarGauge => "bargauge",
            Self::Table => "table",
            Self::Row => "row",
        }
    }
}

/// One panel before layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title.
    pub title: String,
    /// Drawing.
    pub kind: PanelKind,
    /// (PromQL, legend) per query.
    pub queries: Vec<(String, String)>,
    /// Grafana unit id (`s`, `bytes`, `percentunit`, `reqps`, `short`).
    pub unit: &'static str,
    /// What the panel shows, for the panel's info tooltip.
    pub description: String,
}

/// A dashboard before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    /// Stable uid (URLs and the `dashboard_url` of alerts point here).
    pub uid: String,
    /// Title.
    pub title: String,
    /// Model kind whose models the `model` variable lists, or all models.
    pub kind: Option<&'static str>,
    /// Panels in reading order.
    pub panels: Vec<Panel>,
}

const NS: &str = r#"namespace=~"$namespace""#;
const MODEL: &str = r#"namespace=~"$namespace",model=~"$model""#;
/// User traffic (inference routes and job submission; the SLIs' routes).
const INFERENCE: &str = concat!(
    r#"namespace=~"$namespace","#,
    r#"route=~"/v1/models/[^/]+/(predict|recommend|jobs)|/v2/models/[^/]+(/versions/[^/]+)?/infer""#
);

/// Metric families of the dependencies' own exporters (redis_exporter, MinIO), which the chart
/// scrapes when asked; everything else on the dashboards comes from the catalogue.
pub const EXTERNAL_METRIC_PREFIXES: &[&str] = &["redis_", "minio_"];

fn panel(title: &str, kind: PanelKind, unit: &'static str, description: &str, queries: &[(String, &str)]) -> Panel {
    Panel {
        title: title.into(),
        kind,
        unit,
        description: description.into(),
        queries: queries.iter().map(|(q, l)| (q.clone(), (*l).to_string())).collect(),
    }
}

fn quantiles(metric: &str, sel: &str, by: &str) -> Vec<(String, &'static str)> {
    [("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")]
        .iter()
        .map(|(q, l)| {
            let legend = if by.is_empty() { *l } else { "{{model}} " };
            let by = if by.is_empty() { "le".to_string() } else { format!("{by}, le") };
            (format!("histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{{sel}}}[5m])))"), legend)
        })
        .collect()
}

/// Panels every per-model dashboard starts with: traffic, latency, errors.
fn model_basics() -> Vec<Panel> {
    vec![
        panel(
            "Predictions per second",
            PanelKind::TimeSeries,
            "reqps",
            "Items predicted per second, by model and outcome.",
            &[(
                format!("sum by (model, outcome) (rate({}{{{MODEL}}}[5m]))", m::PREDICTIONS.name),
                "{{model}} {{outcome}}",
            )],
        ),
        panel(
            "Model latency p50 / p95 / p99",
            PanelKind::TimeSeries,
            "s",
            "Model time per request (all stages), from summed buckets of every replica.",
            &quantiles(m::PREDICTION_DURATION.name, MODEL, ""),
        ),
        panel(
            "Latency by stage (p95)",
            PanelKind::TimeSeries,
            "s",
            "Featurize, infer and postprocess p95.",
            &[(
                format!(
                    "histogram_quantile(0.95, sum by (stage, le) (rate({}_bucket{{{MODEL}}}[5m])))",
                    m::PREDICTION_STAGE_DURATION.name
                ),
                "{{stage}}",
            )],
        ),
        panel(
            "Invalid inputs and errors",
            PanelKind::TimeSeries,
            "reqps",
            "Items rejected as invalid input (4xx) or failed (5xx), per second.",
            &[(
                format!("sum by (model, outcome) (rate({}{{{MODEL},outcome!=\"success\"}}[5m]))", m::PREDICTIONS.name),
                "{{model}} {{outcome}}",
            )],
        ),
    ]
}

/// Rows per model run of a text classifier: above 1 when dynamic batching lets concurrent
/// requests share runs.
fn run_rows_panel() -> Panel {
    let r = m::MODEL_RUN_ROWS.name;
    panel(
        "Rows per model run (dynamic batching)",
        PanelKind::TimeSeries,
        "short",
        "Mean rows per model run; above the request batch size when concurrent requests share runs.",
        &[
            (format!("sum(rate({r}_sum{{{MODEL}}}[5m])) / sum(rate({r}_count{{{MODEL}}}[5m]))"), "rows per run"),
            (
                format!(
                    "sum(rate({b}_sum{{{MODEL}}}[5m])) / sum(rate({b}_count{{{MODEL}}}[5m]))",
                    b = m::BATCH_SIZE.name
                ),
                "items per request",
            ),
        ],
    )
}

fn label_panels(what: &str) -> Vec<Panel> {
    vec![
        panel(
            &format!("{what} distribution"),
            PanelKind::TimeSeries,
            "percentunit",
            "Share of each predicted label over the last 5 minutes.",
            &[(
                format!(
                    "sum by (label) (rate({l}{{{MODEL}}}[5m])) / ignoring(label) group_left sum(rate({l}{{{MODEL}}}[5m]))",
                    l = m::PREDICTED_LABELS.name
                ),
                "{{label}}",
            )],
        ),
        panel(
            "Reference distribution (held-out data)",
            PanelKind::BarGauge,
            "percentunit",
            "Label shares the model predicted on its held-out set (model.json); drift is measured against these.",
            &[(format!("max by (label) ({}{{{MODEL}}})", m::MODEL_REFERENCE_LABEL_RATIO.name), "{{label}}")],
        ),
        panel(
            "Confidence (p10 / p50 / p90)",
            PanelKind::TimeSeries,
            "percentunit",
            "Top-class probability of each classification; falling confidence is an early drift sign.",
            &[("0.1", "p10"), ("0.5", "p50"), ("0.9", "p90")]
                .iter()
                .map(|(q, l)| {
                    (
                        format!(
                            "histogram_quantile({q}, sum by (le) (rate({}_bucket{{{MODEL}}}[5m])))",
                            m::PREDICTION_CONFIDENCE.name
                        ),
                        *l,
                    )
                })
                .collect::<Vec<_>>(),
        ),
    ]
}

fn row(title: &str) -> Panel {
    panel(title, PanelKind::Row, "short", "", &[])
}

/// Online accuracy, recall, confusion: the classifiers' "Model quality" panels.
fn classifier_quality(small_label_set: bool) -> Vec<Panel> {
    let (c, l, x) = (m::CORRECT_PREDICTIONS.name, m::LABELLED_PREDICTIONS.name, m::EXPECTED_CORRECT.name);
    let conf = m::PREDICTION_CONFIDENCE.name;
    let by = "namespace, job, model, version";
    let mut panels = vec![
        panel(
            "Online accuracy vs held-out",
            PanelKind::TimeSeries,
            "percentunit",
            "Accuracy of the predictions whose true label came back as feedback (1 h and 1 d windows), the held-out accuracy from model.json, what a calibrated model expects on the same labelled predictions (mean confidence), and the estimate over all predictions while truth is pending (confidence-based; only as good as the held-out ECE).",
            &[
                (format!("sum by ({by}) (rate({c}{{{MODEL}}}[1h])) / sum by ({by}) (rate({l}{{{MODEL}}}[1h]))"), "{{model}} {{version}} online (1h)"),
                (format!("sum by ({by}) (rate({c}{{{MODEL}}}[1d])) / sum by ({by}) (rate({l}{{{MODEL}}}[1d]))"), "{{model}} {{version}} online (1d)"),
                (format!("max by (model, version) ({}{{{MODEL},metric=\"accuracy\"}})", m::MODEL_HELDOUT_QUALITY.name), "{{model}} {{version}} held-out"),
                (format!("sum by ({by}) (rate({x}{{{MODEL}}}[1h])) / sum by ({by}) (rate({l}{{{MODEL}}}[1h]))"), "{{model}} {{version}} expected on labelled (1h)"),
                (format!("sum by ({by}) (rate({conf}_sum{{{MODEL}}}[1h])) / sum by ({by}) (rate({conf}_count{{{MODEL}}}[1h]))"), "{{model}} {{version}} estimated, all predictions (1h)"),
            ],
        ),
        panel(
            "Recall by true label (1d)",
            PanelKind::BarGauge,
            "percentunit",
            "Share of each true label the model got right, over the labelled predictions of the last day.",
            &[(format!("sum by (true_label) (increase({c}{{{MODEL}}}[1d])) / (sum by (true_label) (increase({l}{{{MODEL}}}[1d])) > 0)"), "{{true_label}}")],
        ),
        panel(
            "Held-out calibration error (ECE)",
            PanelKind::Stat,
            "percentunit",
            "Expected calibration error on held-out data (model.json): how far confidence and accuracy differ on average. The estimated accuracy is off by about this much.",
            &[(format!("max({}{{{MODEL},metric=\"ece\"}})", m::MODEL_HELDOUT_QUALITY.name), "ECE")],
        ),
    ];
    if small_label_set {
        panels.push(panel(
            "Confusion (true vs predicted, 1d)",
            PanelKind::Table,
            "short",
            "Labelled predictions of the last day by true and predicted label.",
            &[(
                format!("sum by (true_label, predicted_label) (increase({}{{{MODEL}}}[1d]))", m::CONFUSION.name),
                "{{true_label}} -> {{predicted_label}}",
            )],
        ));
    }
    panels
}

/// Feedback coverage, outcomes, delay and satisfaction: every kind's quality panels.
fn feedback_panels() -> Vec<Panel> {
    let f = m::FEEDBACK.name;
    let d = m::FEEDBACK_DELAY.name;
    let s = m::SATISFACTION.name;
    vec![
        panel(
            "Feedback by outcome",
            PanelKind::TimeSeries,
            "reqps",
            "Feedback items per second: matched, or rejected (unknown or expired id, duplicate, model mismatch, invalid).",
            &[(format!("sum by (outcome) (rate({f}{{{MODEL}}}[5m]))"), "{{outcome}}")],
        ),
        panel(
            "Feedback coverage (1d)",
            PanelKind::Stat,
            "percentunit",
            "Matched feedback per successful prediction over the last day (feedback comes later than its prediction, so this trails).",
            &[(
                format!(
                    "sum(increase({f}{{{MODEL},outcome=\"matched\"}}[1d])) / sum(increase({p}{{{MODEL},outcome=\"success\"}}[1d]))",
                    p = m::PREDICTIONS.name
                ),
                "coverage",
            )],
        ),
        panel(
            "Feedback delay (p50 / p95)",
            PanelKind::TimeSeries,
            "s",
            "Time from a prediction to its matched feedback.",
            &[("0.5", "p50"), ("0.95", "p95")]
                .iter()
                .map(|(q, l)| (format!("histogram_quantile({q}, sum by (le) (rate({d}_bucket{{{MODEL}}}[1h])))"), *l))
                .collect::<Vec<_>>(),
        ),
        panel(
            "User satisfaction",
            PanelKind::TimeSeries,
            "short",
            "Mean satisfaction score (1 to 5) over the last hour, and thumbs per hour.",
            &[
                (format!("sum(rate({s}_sum{{{MODEL}}}[1h])) / sum(rate({s}_count{{{MODEL}}}[1h]))"), "mean score"),
                (format!("sum by (vote) (increase({}{{{MODEL}}}[1h]))", m::FEEDBACK_VOTES.name), "thumbs {{vote}} / h"),
            ],
        ),
    ]
}

/// The "Drift" row of one kind's dashboard: PSI per feature over time, live against reference
/// shares per bin, and how many observations the window holds (no PSI below the minimum).
fn drift_panels() -> Vec<Panel> {
    use crate::drift::{records as d, PSI_SIGNIFICANT, PSI_STABLE};
    vec![
        row("Drift (inputs and predictions against held-out references)"),
        panel(
            "PSI per feature",
            PanelKind::TimeSeries,
            "short",
            &format!("Population Stability Index of each watched feature over the drift window, summed across replicas (docs/drift.md). Below {PSI_STABLE} stable, {PSI_STABLE} to {PSI_SIGNIFICANT} moderate, above {PSI_SIGNIFICANT} significant."),
            &[(format!("max by (model, version, side, feature) ({}{{{MODEL}}})", d::PSI), "{{side}} {{feature}} ({{version}})")],
        ),
        panel(
            "Live vs reference shares",
            PanelKind::Table,
            "percentunit",
            "Share of each bin in the drift window beside its share on the held-out data (model.json): the bins that moved are the ones to look at.",
            &[
                (format!("max by (model, version, feature, bin) ({}{{{MODEL}}})", d::BIN_SHARE), "{{feature}} {{bin}} live"),
                (
                    format!("max by (model, version, feature, bin) ({}{{{MODEL}}})", m::DRIFT_REFERENCE_RATIO.name),
                    "{{feature}} {{bin}} reference",
                ),
            ],
        ),
        panel(
            "Observations in the drift window",
            PanelKind::TimeSeries,
            "short",
            "Observations of each feature in the window; a feature below the ModelService's minObservations has no PSI.",
            &[(format!("max by (model, version, feature) ({}{{{MODEL}}})", d::FEATURE_OBSERVATIONS), "{{feature}} ({{version}})")],
        ),
    ]
}

/// The "Model quality" row of one kind's dashboard.
fn quality_panels(kind: ModelKind) -> Vec<Panel> {
    let held = m::MODEL_HELDOUT_QUALITY.name;
    let mut panels = vec![row("Model quality (ground truth fed back)")];
    match kind {
        ModelKind::Sentiment | ModelKind::Email | ModelKind::Tabular => panels.extend(classifier_quality(true)),
        ModelKind::Topic => panels.extend(classifier_quality(false)),
        ModelKind::Recsys => {
            let (sq, abs) = (m::RATING_SQUARED_ERROR.name, m::RATING_ABSOLUTE_ERROR.name);
            panels.push(panel(
                "Online RMSE vs held-out",
                PanelKind::TimeSeries,
                "short",
                "RMSE of rating predictions whose observed rating came back (1 h and 1 d), and the held-out RMSE from model.json.",
                &[
                    (format!("sqrt(sum by (model, version) (rate({sq}{{{MODEL}}}[1h])) / sum by (model, version) (rate({abs}_count{{{MODEL}}}[1h])))"), "{{model}} {{version}} online (1h)"),
                    (format!("sqrt(sum by (model, version) (rate({sq}{{{MODEL}}}[1d])) / sum by (model, version) (rate({abs}_count{{{MODEL}}}[1d])))"), "{{model}} {{version}} online (1d)"),
                    (format!("max by (model, version) ({held}{{{MODEL},metric=\"rmse\"}})"), "{{model}} {{version}} held-out"),
                ],
            ));
            panels.push(panel(
                "Absolute rating error",
                PanelKind::Heatmap,
                "short",
                "Distribution of |predicted - observed| rating (stars).",
                &[(format!("sum by (le) (rate({abs}_bucket{{{MODEL}}}[5m]))"), "{{le}}")],
            ));
        }
        ModelKind::Trend => {
            let ape = m::FORECAST_PERCENTAGE_ERROR.name;
            panels.push(panel(
                "Online MAPE vs held-out",
                PanelKind::TimeSeries,
                "percentunit",
                "Mean absolute percentage error of forecast points whose observed value came back (1 h and 1 d), and the held-out MAPE from model.json.",
                &[
                    (format!("sum by (model, version) (rate({ape}_sum{{{MODEL}}}[1h])) / sum by (model, version) (rate({ape}_count{{{MODEL}}}[1h]))"), "{{model}} {{version}} online (1h)"),
                    (format!("sum by (model, version) (rate({ape}_sum{{{MODEL}}}[1d])) / sum by (model, version) (rate({ape}_count{{{MODEL}}}[1d]))"), "{{model}} {{version}} online (1d)"),
                    (format!("max by (model, version) ({held}{{{MODEL},metric=\"mape\"}})"), "{{model}} {{version}} held-out"),
                ],
            ));
            panels.push(panel(
                "Absolute percentage error",
                PanelKind::Heatmap,
                "percentunit",
                "Distribution of the forecast points' |forecast - observed| / |observed|.",
                &[(format!("sum by (le) (rate({ape}_bucket{{{MODEL}}}[5m]))"), "{{le}}")],
            ));
        }
    }
    panels.extend(feedback_panels());
    panels
}

/// Executive overview: traffic, success, health, top models, SLO attainment.
pub fn executive() -> Dashboard {
    let req = m::HTTP_REQUESTS.name;
    let panels = vec![
        panel(
            "User requests in the last hour",
            PanelKind::Stat,
            "short",
            "Inference requests and batch job submissions answered in the last hour (no probes or scrapes).",
            &[(format!("sum(increase({req}{{{INFERENCE}}}[1h]))"), "requests")],
        ),
        panel(
            "Availability SLO attainment (SLO window)",
            PanelKind::Stat,
            "percentunit",
            "Share of user requests and batch jobs that did not fail, over each ModelService's SLO window (default 30 days); the lowest service is shown.",
            &[(format!("min({}{{{NS},slo=\"availability\"}})", slo::records::ATTAINMENT), "availability")],
        ),
        panel(
            "Latency SLO attainment (SLO window)",
            PanelKind::Stat,
            "percentunit",
            "Share of user requests answered within each ModelService's latency threshold (default 2 s), over its SLO window; the lowest service is shown.",
            &[(format!("min({}{{{NS},slo=\"latency\"}})", slo::records::ATTAINMENT), "within threshold")],
        ),
        panel(
            "Error budget remaining",
            PanelKind::Stat,
            "percentunit",
            "The lowest share of error budget left over the SLO window, across ModelServices and SLOs: 100% untouched, 0 spent, below 0 overspent.",
            &[(format!("min({}{{{NS}}})", slo::records::BUDGET_REMAINING), "budget left")],
        ),
        panel(
            "SLOs per ModelService",
            PanelKind::Table,
            "percentunit",
            "Per ModelService and SLO: objective, attainment and error budget left over the SLO window.",
            &[
                (format!("max by (namespace, job, slo) ({}{{{NS}}})", slo::records::OBJECTIVE), "{{job}} {{slo}} objective"),
                (format!("max by (namespace, job, slo) ({}{{{NS}}})", slo::records::ATTAINMENT), "{{job}} {{slo}} attainment"),
                (format!("max by (namespace, job, slo) ({}{{{NS}}})", slo::records::BUDGET_REMAINING), "{{job}} {{slo}} budget left"),
            ],
        ),
        panel(
            "Burn rate (1h)",
            PanelKind::TimeSeries,
            "short",
            "How fast each SLO spends its budget over the last hour: 1 spends it exactly in the SLO window, 14.4 pages (with the 5-minute rate), 6 over 6 hours pages too.",
            &[(format!("max by (namespace, job, slo) ({}{{{NS}}})", slo::records::BURN_RATE_1H), "{{job}} {{slo}}")],
        ),
        panel(
            "Models ready",
            PanelKind::Stat,
            "short",
            "Loaded and warmed-up models (all replicas).",
            &[(format!("sum({}{{{NS}}})", m::MODEL_READY.name), "ready")],
        ),
        panel(
            "User requests per hour",
            PanelKind::TimeSeries,
            "short",
            "User requests answered per hour, by service.",
            &[(format!("sum by (job) (increase({req}{{{INFERENCE}}}[1h]))"), "{{job}}")],
        ),
        panel(
            "Success and errors",
            PanelKind::TimeSeries,
            "reqps",
            "User requests per second: successful, client errors (4xx), server errors (5xx).",
            &[
                (format!("sum(rate({req}{{{INFERENCE},status=~\"[123]..\"}}[5m]))"), "success"),
                (format!("sum(rate({req}{{{INFERENCE},status=~\"4..\"}}[5m]))"), "4xx"),
                (format!("sum(rate({req}{{{INFERENCE},status=~\"5..\"}}[5m]))"), "5xx"),
            ],
        ),
        panel(
            "Health of each model",
            PanelKind::Table,
            "short",
            "1 when the model is loaded and answered its warm-up inference on every replica that serves it.",
            &[(format!("min by (namespace, job, model) ({}{{{NS}}})", m::MODEL_READY.name), "{{model}}")],
        ),
        panel(
            "Top models by traffic (1h)",
            PanelKind::BarGauge,
            "short",
            "Predicted items in the last hour.",
            &[(format!("topk(10, sum by (model) (increase({}{{{NS}}}[1h])))", m::PREDICTIONS.name), "{{model}}")],
        ),
        panel(
            "Top models by online accuracy (1d)",
            PanelKind::BarGauge,
            "percentunit",
            "Classifiers ranked by the accuracy of their predictions whose true label came back in the last day.",
            &[(format!("topk(10, max by (model) ({}{{{NS}}}))", records::ACCURACY_1D), "{{model}}")],
        ),
        panel(
            "Online quality against held-out (1d)",
            PanelKind::Table,
            "short",
            "Each model's online figure over the last day divided by its held-out figure, oriented so that above 1 is better than in training: accuracy / held-out accuracy for classifiers, held-out RMSE / RMSE for recommenders, held-out MAPE / MAPE for forecasts.",
            &[
                (
                    format!(
                        "max by (model) ({a}{{{NS}}}) / max by (model) ({h}{{{NS},metric=\"accuracy\"}})",
                        a = records::ACCURACY_1D,
                        h = m::MODEL_HELDOUT_QUALITY.name
                    ),
                    "{{model}} accuracy",
                ),
                (
                    format!(
                        "max by (model) ({h}{{{NS},metric=\"rmse\"}}) / max by (model) ({r}{{{NS}}})",
                        h = m::MODEL_HELDOUT_QUALITY.name,
                        r = records::RMSE_1D
                    ),
                    "{{model}} rmse",
                ),
                (
                    format!(
                        "max by (model) ({h}{{{NS},metric=\"mape\"}}) / max by (model) ({e}{{{NS}}})",
                        h = m::MODEL_HELDOUT_QUALITY.name,
                        e = records::MAPE_1D
                    ),
                    "{{model}} mape",
                ),
            ],
        ),
    ];
    Dashboard {
        uid: "inferwatch-executive".into(),
        title: "Inferwatch / Executive overview".into(),
        kind: None,
        panels,
    }
}

/// Technical operations: latency, throughput, errors, CPU, memory, cache, dependencies.
pub fn technical() -> Dashboard {
    let req = m::HTTP_REQUESTS.name;
    let mut panels = vec![
        panel(
            "Inference latency p50 / p95 / p99 by model",
            PanelKind::TimeSeries,
            "s",
            "Model time per request from summed buckets of every replica (recording rule, per ModelService).",
            &[(
                format!("max by (job, model, quantile) ({}{{{MODEL}}})", records::MODEL_LATENCY),
                "{{job}} {{model}} q{{quantile}}",
            )],
        ),
        panel(
            "HTTP latency heatmap (inference routes)",
            PanelKind::Heatmap,
            "s",
            "Distribution of request latency over time.",
            &[(format!("sum by (le) (rate({}_bucket{{{INFERENCE}}}[5m]))", m::HTTP_REQUEST_DURATION.name), "{{le}}")],
        ),
        panel(
            "Throughput by model",
            PanelKind::TimeSeries,
            "reqps",
            "Predicted items per second.",
            &[(format!("sum by (model) (rate({}{{{MODEL}}}[5m]))", m::PREDICTIONS.name), "{{model}}")],
        ),
        panel(
            "Errors by route and status",
            PanelKind::TimeSeries,
            "reqps",
            "4xx and 5xx answers per second by route template and status.",
            &[(format!("sum by (route, status) (rate({req}{{{NS},status=~\"[45]..\"}}[5m]))"), "{{route}} {{status}}")],
        ),
        panel(
            "Error ratio (5xx, user requests)",
            PanelKind::TimeSeries,
            "percentunit",
            "Share of user requests answered with 5xx, per ModelService (recording rule; probes and scrapes excluded).",
            &[(format!("max by (job) ({}{{{NS}}})", records::ERROR_RATIO), "{{job}}")],
        ),
        panel(
            "Requests in flight and refused",
            PanelKind::TimeSeries,
            "short",
            "Concurrent requests, and requests refused as overloaded (429), timed out (504) or too large (413).",
            &[
                (format!("sum({}{{{NS}}})", m::HTTP_IN_FLIGHT.name), "in flight"),
                (format!("sum by (reason) (rate({}{{{NS}}}[5m]))", m::HTTP_REJECTED.name), "refused {{reason}}"),
            ],
        ),
        panel(
            "CPU per model",
            PanelKind::TimeSeries,
            "percentunit",
            "Thread CPU time spent in each model, as a fraction of one core.",
            &[(format!("sum by (model) (rate({}{{{MODEL}}}[5m]))", m::MODEL_CPU_SECONDS.name), "{{model}}")],
        ),
        panel(
            "Process CPU",
            PanelKind::TimeSeries,
            "percentunit",
            "CPU of each server process, as a fraction of one core.",
            &[(format!("sum by (instance) (rate({}{{{NS}}}[5m]))", m::PROCESS_CPU.name), "{{instance}}")],
        ),
        panel(
            "Memory",
            PanelKind::TimeSeries,
            "bytes",
            "Resident memory of each server, its container limit, and bytes of loaded models.",
            &[
                (format!("sum by (instance) ({}{{{NS}}})", m::PROCESS_RSS.name), "rss {{instance}}"),
                (format!("sum by (instance) ({}{{{NS}}})", m::MEMORY_LIMIT.name), "limit {{instance}}"),
                (format!("sum by (instance) ({}{{{NS}}})", m::CACHE_BYTES.name), "models {{instance}}"),
            ],
        ),
        panel(
            "Model cache hit ratio",
            PanelKind::TimeSeries,
            "percentunit",
            "Lookups that found the model loaded.",
            &[(format!("max by (job) ({}{{{NS}}})", records::CACHE_HIT_RATIO), "{{job}}")],
        ),
        panel(
            "Model cache size and evictions",
            PanelKind::TimeSeries,
            "short",
            "Loaded models, and evictions per second.",
            &[
                (format!("sum by (instance) ({}{{{NS}}})", m::CACHE_MODELS.name), "models {{instance}}"),
                (format!("sum(rate({}{{{NS}}}[5m]))", m::CACHE_EVICTIONS.name), "evictions/s"),
            ],
        ),
        panel(
            "Model load duration by phase (p95)",
            PanelKind::TimeSeries,
            "s",
            "Read (fetch + verify), optimize (compile plan), warm-up.",
            &[(
                format!(
                    "histogram_quantile(0.95, sum by (phase, le) (rate({}_bucket{{{NS}}}[1h])))",
                    m::MODEL_LOAD_DURATION.name
                ),
                "{{phase}}",
            )],
        ),
        panel(
            "Model load time (p95; KPI under 30 s)",
            PanelKind::TimeSeries,
            "s",
            "Whole load time (read + optimize + warm-up) of successful loads; InferwatchSlowModelLoad fires above 30 s.",
            &[(
                format!(
                    "histogram_quantile(0.95, sum by (model, le) (rate({}_bucket{{{NS}}}[1h])))",
                    m::MODEL_LOAD_TIME.name
                ),
                "{{model}}",
            )],
        ),
        panel(
            "Model load failures",
            PanelKind::TimeSeries,
            "short",
            "Failed loads in the last hour by model and reason.",
            &[(
                format!("sum by (model, reason) (increase({}{{{NS}}}[1h]))", m::MODEL_LOAD_FAILURES.name),
                "{{model}} {{reason}}",
            )],
        ),
        panel(
            "Dependency health",
            PanelKind::Table,
            "short",
            "1 when storage, registry or queue answered its last health check.",
            &[(format!("min by (dependency, required) ({}{{{NS}}})", m::DEPENDENCY_UP.name), "{{dependency}}")],
        ),
        panel(
            "Batch queue: oldest pending job",
            PanelKind::TimeSeries,
            "s",
            "Age of the oldest batch job waiting in the queue.",
            &[(format!("max({}{{{NS}}})", m::QUEUE_OLDEST_AGE.name), "oldest job")],
        ),
        panel(
            "Batch queue: depth and jobs",
            PanelKind::TimeSeries,
            "short",
            "Jobs accepted and not finished, and jobs per second by outcome (accepted, done, failed, rejected, reclaimed).",
            &[
                (format!("max({}{{{NS}}})", m::QUEUE_DEPTH.name), "depth"),
                (format!("sum by (outcome) (rate({}{{{NS}}}[5m]))", m::BATCH_JOBS.name), "{{outcome}}"),
            ],
        ),
        panel(
            "Dependency latency p95",
            PanelKind::TimeSeries,
            "s",
            "95th percentile latency of requests to storage, registry and queue, by operation.",
            &[(
                format!(
                    "histogram_quantile(0.95, sum by (le, dependency, operation) (rate({}_bucket{{{NS}}}[5m])))",
                    m::DEPENDENCY_REQUEST_DURATION.name
                ),
                "{{dependency}} {{operation}}",
            )],
        ),
        panel(
            "Redis (redis_exporter)",
            PanelKind::TimeSeries,
            "short",
            "The batch queue's Redis as its own exporter sees it (chart value dependencies.redisExporter): up, clients, memory in MiB.",
            &[
                ("min(redis_up)".to_string(), "up"),
                ("sum(redis_connected_clients)".to_string(), "clients"),
                ("sum(redis_memory_used_bytes) / 1048576".to_string(), "memory MiB"),
            ],
        ),
        panel(
            "MinIO (its Prometheus endpoint)",
            PanelKind::TimeSeries,
            "short",
            "The model store as MinIO reports it (chart value dependencies.minio): nodes online, S3 errors per second, free capacity in GiB.",
            &[
                ("min(minio_cluster_nodes_online_total)".to_string(), "nodes online"),
                ("sum(rate(minio_s3_requests_errors_total[5m]))".to_string(), "S3 errors/s"),
                ("sum(minio_cluster_capacity_usable_free_bytes) / 1073741824".to_string(), "free GiB"),
            ],
        ),
        panel(
            "Dependency errors",
            PanelKind::TimeSeries,
            "reqps",
            "Failed requests to storage, registry and queue per second, by operation.",
            &[(
                format!("sum by (dependency, operation) (rate({}{{{NS}}}[5m]))", m::DEPENDENCY_ERRORS.name),
                "{{dependency}} {{operation}}",
            )],
        ),
    ];
    panels.push(panel(
        "Drift above threshold",
        PanelKind::Table,
        "short",
        "Features whose drift alert (InferwatchInputDrift, InferwatchPredictionDrift) is pending or firing, with each ModelService's own threshold.",
        &[(
            format!("max by (namespace, job, model, version, side, feature, alertstate) (ALERTS{{{NS},alertname=~\"InferwatchInputDrift|InferwatchPredictionDrift\"}})"),
            "{{job}} {{model}} {{feature}} {{alertstate}}",
        )],
    ));
    panels.push(panel(
        "Server builds",
        PanelKind::Table,
        "short",
        "Version of each running server.",
        &[(format!("count by (version) ({}{{{NS}}})", m::BUILD_INFO.name), "{{version}}")],
    ));
    panels.extend(operator_panels());
    Dashboard {
        uid: "inferwatch-technical".into(),
        title: "Inferwatch / Technical operations".into(),
        kind: None,
        panels,
    }
}

/// The "Operator" row of the technical dashboard: the operator's own metrics (its job, not a
/// ModelService's), beside its alerts (`operator_alerts`).
fn operator_panels() -> Vec<Panel> {
    let job = format!(r#"job="{}""#, crate::operator_alerts::JOB);
    vec![
        row("Operator (reconciles ModelServices; serving goes on without it)"),
        panel(
            "Operator replicas up and leading",
            PanelKind::TimeSeries,
            "short",
            "Replicas scraped up, and whether one holds the leader Lease (InferwatchOperatorDown, InferwatchOperatorNoLeader).",
            &[
                (format!("sum(up{{{job}}})"), "replicas up"),
                (format!("max(inferwatch_operator_leader{{{job}}})"), "leading"),
            ],
        ),
        panel(
            "Reconciles by result",
            PanelKind::TimeSeries,
            "ops",
            "Reconciles per second, by result.",
            &[(format!("sum by (result) (rate(inferwatch_operator_reconciliations_total{{{job}}}[5m]))"), "{{result}}")],
        ),
        panel(
            "Reconcile errors by reason",
            PanelKind::TimeSeries,
            "ops",
            "Failed reconciles per second, by reason (InferwatchOperatorReconcileErrors); the ModelServices' Degraded condition says which.",
            &[(
                format!("sum by (reason) (rate(inferwatch_operator_reconcile_errors_total{{{job}}}[5m])) or vector(0)"),
                "{{reason}}",
            )],
        ),
        panel(
            "Reconcile duration (p50 / p99)",
            PanelKind::TimeSeries,
            "s",
            "Time one reconcile takes (InferwatchOperatorSlowReconciles above 5 s at p99; the histogram's last edge is 10 s).",
            &[("0.5", "p50"), ("0.99", "p99")]
                .iter()
                .map(|(q, l)| {
                    (
                        format!("histogram_quantile({q}, sum by (le) (rate(inferwatch_operator_reconcile_duration_seconds_bucket{{{job}}}[5m])))"),
                        *l,
                    )
                })
                .collect::<Vec<_>>(),
        ),
    ]
}

/// Capacity planning: each limit beside its use, CPU per request and per prediction, what one
/// replica sustains, headroom against the most replicas, time to exhaustion.
pub fn capacity() -> Dashboard {
    use crate::capacity::records as c;
    let by_instance = |r: &str| format!("max by (job, instance) ({r}{{{NS}}})");
    let panels = vec![
        row("Saturation (use / limit)"),
        panel(
            "Concurrency saturation",
            PanelKind::TimeSeries,
            "percentunit",
            "Peak inference requests holding a permit over 5 minutes / the concurrency limit, per instance; at 100% new requests get 429.",
            &[(by_instance(c::CONCURRENCY_SATURATION), "{{instance}}")],
        ),
        panel(
            "CPU saturation",
            PanelKind::TimeSeries,
            "percentunit",
            "Process CPU / the container's CPU limit (else its CPU request: inferwatch:cpu:cores{basis}), per instance; near 100% of a limit the kernel throttles and latency grows; above 100% of a request the replica borrows spare node CPU it is not guaranteed.",
            &[(by_instance(c::CPU_SATURATION), "{{instance}}")],
        ),
        panel(
            "Memory saturation",
            PanelKind::TimeSeries,
            "percentunit",
            "Resident memory / the container memory limit, per instance; at 100% the pod is OOM-killed.",
            &[(by_instance(c::MEMORY_SATURATION), "{{instance}}")],
        ),
        panel(
            "Model cache saturation",
            PanelKind::TimeSeries,
            "percentunit",
            "Loaded model bytes / the cache byte limit, per instance; at 100% a new model evicts another.",
            &[(by_instance(c::CACHE_SATURATION), "{{instance}}")],
        ),
        panel(
            "Configured limits",
            PanelKind::Table,
            "short",
            "The limits each server runs with (inferwatch_configured_limit), beside the loaded cache byte limit.",
            &[
                (format!("max by (job, limit) ({}{{{NS}}})", m::CONFIGURED_LIMIT.name), "{{job}} {{limit}}"),
                (format!("max by (job) ({}{{{NS}}})", m::CACHE_CAPACITY_BYTES.name), "{{job}} cache_bytes"),
            ],
        ),
        row("Cost per request and what a replica sustains"),
        panel(
            "CPU seconds per user request",
            PanelKind::TimeSeries,
            "s",
            "Process CPU (probes and scrapes included: conservative) per user request, per ModelService.",
            &[(format!("max by (job) ({}{{{NS}}})", c::CPU_PER_REQUEST), "{{job}}")],
        ),
        panel(
            "Model CPU seconds per prediction",
            PanelKind::TimeSeries,
            "s",
            "Featurize + run + post-process CPU per successful predicted item, per model.",
            &[(format!("max by (job, model) ({}{{{MODEL}}})", c::CPU_PER_PREDICTION), "{{job}} {{model}}")],
        ),
        panel(
            "Requests/s: now and what one replica sustains",
            PanelKind::TimeSeries,
            "reqps",
            "User requests/s per ModelService, beside the estimate of one replica at its CPU cores (CPU limit, else CPU request, / CPU per request).",
            &[
                (format!("max by (job) ({}{{{NS}}})", c::USER_REQUEST_RATE), "{{job}} now"),
                (format!("max by (job) ({}{{{NS}}})", c::REPLICA_CAPACITY), "{{job}} one replica"),
            ],
        ),
        row("Headroom and exhaustion"),
        panel(
            "Replicas against their maximum",
            PanelKind::TimeSeries,
            "short",
            "Replicas up, and the most the ModelService may run (HPA maximum or fixed count).",
            &[
                (format!("max by (job) ({}{{{NS}}})", c::REPLICAS), "{{job}} up"),
                (format!("max by (job) ({}{{{NS}}})", c::MAX_REPLICAS), "{{job}} max"),
            ],
        ),
        panel(
            "Headroom at the most replicas",
            PanelKind::Stat,
            "percentunit",
            "Share of the largest fleet's estimated capacity still free: 1 - requests/s / (max replicas x one replica's capacity); the lowest ModelService.",
            &[(format!("min({}{{{NS}}})", c::HEADROOM), "headroom")],
        ),
        panel(
            "Time to exhaustion",
            PanelKind::Table,
            "s",
            "At the last hour's growth, seconds until memory reaches its limit or the model cache is full (only where it grows).",
            &[
                (by_instance(c::MEMORY_EXHAUSTION), "{{instance}} memory"),
                (by_instance(c::CACHE_EXHAUSTION), "{{instance}} model cache"),
            ],
        ),
        panel(
            "Batch queue depth",
            PanelKind::TimeSeries,
            "short",
            "Jobs accepted and not finished, and its growth forecast an hour ahead (predict_linear over 30 minutes).",
            &[
                (format!("max by (job) ({}{{{NS}}})", m::QUEUE_DEPTH.name), "{{job}} depth"),
                (format!("max by (job) (predict_linear({}{{{NS}}}[30m], 3600))", m::QUEUE_DEPTH.name), "{{job}} in 1h"),
            ],
        ),
    ];
    Dashboard { uid: "inferwatch-capacity".into(), title: "Inferwatch / Capacity".into(), kind: None, panels }
}

/// One dashboard per model kind.
pub fn model_kind(model_kind: ModelKind) -> Dashboard {
    let kind = model_kind.as_str();
    let mut panels = model_basics();
    match model_kind {
        ModelKind::Sentiment => {
            panels.extend(label_panels("Sentiment label"));
            panels.push(run_rows_panel());
        }
        ModelKind::Topic => {
            panels.extend(label_panels("Topic"));
            panels.push(run_rows_panel());
        }
        // Its feature columns' drift is in the Drift row, one PSI line per column.
        ModelKind::Tabular => panels.extend(label_panels("Predicted class")),
        ModelKind::Email => {
            let l = m::PREDICTED_LABELS.name;
            panels.push(panel(
                "Spam detection rate",
                PanelKind::TimeSeries,
                "percentunit",
                "Share of emails classified as spam.",
                &[(
                    format!(
                        "(sum(rate({l}{{{MODEL},label=\"spam\"}}[5m])) or vector(0)) / sum(rate({l}{{{MODEL}}}[5m]))"
                    ),
                    "spam rate",
                )],
            ));
            panels.push(panel(
                "Batch size (mean and p95)",
                PanelKind::TimeSeries,
                "short",
                "Emails per request.",
                &[
                    (
                        format!(
                            "sum(rate({b}_sum{{{MODEL}}}[5m])) / sum(rate({b}_count{{{MODEL}}}[5m]))",
                            b = m::BATCH_SIZE.name
                        ),
                        "mean",
                    ),
                    (
                        format!(
                            "histogram_quantile(0.95, sum by (le) (rate({}_bucket{{{MODEL}}}[5m])))",
                            m::BATCH_SIZE.name
                        ),
                        "p95",
                    ),
                ],
            ));
            panels.extend(label_panels("Spam / ham"));
            panels.push(run_rows_panel());
        }
        ModelKind::Recsys => {
            panels.push(panel(
                "Predicted rating distribution",
                PanelKind::Heatmap,
                "short",
                "Predicted ratings (1 to 5) over time.",
                &[(format!("sum by (le) (rate({}_bucket{{{MODEL}}}[5m]))", m::RECSYS_PREDICTED_RATING.name), "{{le}}")],
            ));
            panels.push(panel(
                "Cold-start rate",
                PanelKind::TimeSeries,
                "percentunit",
                "Share of rating predictions that used a fallback, by kind.",
                &[(
                    format!(
                        "sum by (kind) (rate({c}{{{MODEL}}}[5m])) / ignoring(kind) group_left sum(rate({p}{{{MODEL},outcome=\"success\"}}[5m]))",
                        c = m::RECSYS_COLD_STARTS.name,
                        p = m::PREDICTIONS.name
                    ),
                    "{{kind}}",
                )],
            ));
            panels.push(panel(
                "Encoder lookups",
                PanelKind::TimeSeries,
                "reqps",
                "User and item id lookups per second, known or unknown.",
                &[(
                    format!("sum by (entity, result) (rate({}{{{MODEL}}}[5m]))", m::RECSYS_ENCODER_LOOKUPS.name),
                    "{{entity}} {{result}}",
                )],
            ));
        }
        ModelKind::Trend => {
            panels.push(panel(
                "Series processed",
                PanelKind::TimeSeries,
                "reqps",
                "Series received per second.",
                &[(format!("sum(rate({}{{{MODEL}}}[5m]))", m::TREND_SERIES.name), "series/s")],
            ));
            panels.push(panel(
                "Analysis completion rate",
                PanelKind::TimeSeries,
                "percentunit",
                "Analyses completed out of all attempted.",
                &[(
                    format!(
                        "sum(rate({a}{{{MODEL},outcome=\"completed\"}}[5m])) / sum(rate({a}{{{MODEL}}}[5m]))",
                        a = m::TREND_ANALYSES.name
                    ),
                    "completed",
                )],
            ));
            panels.push(panel(
                "Forecasts without the model (trend line)",
                PanelKind::TimeSeries,
                "reqps",
                "Series with no season, or fewer than two seasons, answered with the trend analysis' line (continued when significant, else flat at the recent mean).",
                &[(format!("sum by (reason) (rate({}{{{MODEL}}}[5m]))", m::TREND_FALLBACKS.name), "{{reason}}")],
            ));
            panels.push(panel(
                "Points per series (p50 / p95)",
                PanelKind::TimeSeries,
                "short",
                "Length of the analysed series.",
                &[("0.5", "p50"), ("0.95", "p95")]
                    .iter()
                    .map(|(q, l)| {
                        (
                            format!(
                                "histogram_quantile({q}, sum by (le) (rate({}_bucket{{{MODEL}}}[5m])))",
                                m::TREND_SERIES_POINTS.name
                            ),
                            *l,
                        )
                    })
                    .collect::<Vec<_>>(),
            ));
        }
    }
    panels.extend(quality_panels(model_kind));
    panels.extend(drift_panels());
    Dashboard {
        uid: format!("inferwatch-model-{kind}"),
        title: format!("Inferwatch / Model: {kind}"),
        kind: Some(kind),
        panels,
    }
}

/// Every dashboard, in file order.
pub fn all() -> Vec<Dashboard> {
    let mut v = vec![executive(), technical(), capacity()];
    v.extend(ModelKind::ALL.into_iter().map(model_kind));
    v
}

fn variables(kind: Option<&str>) -> Value {
    let ds = json!({"type": "prometheus", "uid": "${datasource}"});
    let model_query = match kind {
        Some(k) => format!("label_values({}{{kind=\"{k}\",namespace=~\"$namespace\"}}, model)", m::MODEL_INFO.name),
        None => format!("label_values({}{{namespace=~\"$namespace\"}}, model)", m::MODEL_INFO.name),
    };
    let query_var = |name: &str, label: &str, query: String| {
        json!({
            "name": name, "label": label, "type": "query", "datasource": ds,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2, "includeAll": true, "multi": true, "allValue": ".*", "sort": 1,
            "current": {"selected": true, "text": ["All"], "value": ["$__all"]}, "options": [], "hide": 0,
        })
    };
    json!({"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "refresh": 1,
         "current": {}, "options": [], "hide": 0, "regex": "", "includeAll": false, "multi": false},
        query_var("namespace", "Namespace", format!("label_values({}, namespace)", m::BUILD_INFO.name)),
        query_var("model", "Model", model_query),
    ]})
}

/// Render a dashboard to Grafana JSON (schema version 39) with a two-column layout; stat
/// panels take a quarter row.
pub fn render(d: &Dashboard) -> Value {
    let (mut x, mut y, mut row_h) = (0u32, 0u32, 0u32);
    let panels: Vec<Value> = d
        .panels
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (w, h) = match p.kind {
                PanelKind::Stat => (6, 4),
                PanelKind::Row => (24, 1),
                _ => (12, 8),
            };
            if x + w > 24 || (p.kind == PanelKind::Row && x > 0) {
                x = 0;
                y += row_h;
                row_h = 0;
            }
            let grid = json!({"x": x, "y": y, "w": w, "h": h});
            x += w;
            row_h = row_h.max(h);
            let targets: Vec<Value> = p
                .queries
                .iter()
                .enumerate()
                .map(|(j, (expr, legend))| {
                    let mut t = json!({
                        "refId": char::from(b'A' + u8::try_from(j).unwrap_or(0)).to_string(),
                        "datasource": {"type": "prometheus", "uid": "${datasource}"},
                        "expr": expr, "legendFormat": legend, "range": true, "editorMode": "code",
                    });
                    if p.kind == PanelKind::Heatmap {
                        t["format"] = json!("heatmap");
                    }
                    if matches!(p.kind, PanelKind::Table | PanelKind::Stat | PanelKind::BarGauge) {
                        t["instant"] = json!(true);
                        t["range"] = json!(false);
                    }
                    t
                })
                .collect();
            if p.kind == PanelKind::Row {
                return json!({"id": i + 1, "type": "row", "title": p.title, "gridPos": grid, "collapsed": false, "panels": []});
            }
            json!({
                "id": i + 1, "type": p.kind.grafana_type(), "title": p.title, "description": p.description,
                "gridPos": grid, "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "targets": targets,
                "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
                "options": {},
            })
        })
        .collect();
    json!({
        "uid": d.uid, "title": d.title, "tags": ["inferwatch"], "editable": true, "graphTooltip": 1,
        "schemaVersion": 39, "version": 1, "refresh": "30s", "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
        "templating": variables(d.kind), "annotations": {"list": []}, "links": [], "panels": panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dashboard_has_the_three_variables_and_unique_panel_ids() {
        for d in all() {
            let v = render(&d);
            let names: Vec<&str> =
                v["templating"]["list"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
            assert_eq!(names, ["datasource", "namespace", "model"], "{}", d.uid);
            let ids: std::collections::HashSet<u64> =
                v["panels"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect();
            assert_eq!(ids.len(), d.panels.len());
        }
    }

    #[test]
    fn panels_do_not_overlap_and_fit_the_grid() {
        for d in all() {
            let v = render(&d);
            let mut cells = std::collections::HashSet::new();
            for p in v["panels"].as_array().unwrap() {
                let g = &p["gridPos"];
                let (x, y, w, h) = (
                    g["x"].as_u64().unwrap(),
                    g["y"].as_u64().unwrap(),
                    g["w"].as_u64().unwrap(),
                    g["h"].as_u64().unwrap(),
                );
                assert!(x + w <= 24);
                for cx in x..x + w {
                    for cy in y..y + h {
                        assert!(cells.insert((cx, cy)), "{}: overlap at {cx},{cy}", d.uid);
                    }
                }
            }
        }
    }

    #[test]
    fn queries_use_only_catalogued_metrics_and_filter_by_namespace() {
        let mut names: Vec<String> = m::CATALOGUE.iter().map(|d| d.name.to_string()).collect();
        // Recording rules the shipped rules define, and Prometheus' own ALERTS series.
        let file = crate::alerts::rule_file(
            &crate::alerts::Slo::default(),
            &crate::alerts::Scope::default(),
            &crate::alerts::Timing::default(),
        );
        names.extend(file.groups.iter().flat_map(|g| &g.rules).filter_map(|r| match r {
            crate::alerts::Rule::Record { record, .. } => Some(format!("{record}{{")),
            crate::alerts::Rule::Alert { .. } => None,
        }));
        names.push("ALERTS{".into());
        for d in all() {
            for p in &d.panels {
                for (q, _) in &p.queries {
                    if EXTERNAL_METRIC_PREFIXES.iter().any(|x| q.contains(x)) {
                        // The dependencies' own exporters live in their own namespaces.
                        continue;
                    }
                    if q.contains(&format!(r#"job="{}""#, crate::operator_alerts::JOB)) {
                        // The operator's row: its own job and namespace, not the ModelServices'.
                        assert!(q.contains("inferwatch_operator_") || q.contains("up{"), "{}: {q}", p.title);
                        continue;
                    }
                    assert!(q.contains("$namespace"), "{}: {q}", p.title);
                    let used = names.iter().any(|n| q.contains(n.trim_end_matches("_total")));
                    assert!(used, "{}: {q} uses no catalogued metric", p.title);
                }
            }
        }
    }
}
