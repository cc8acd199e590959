//! Drift rules: Population Stability Index per model, version and feature over a window, from
//! the live bin counters summed across replicas (`inferwatch_drift_observations_total`) against
//! the held-out references (`inferwatch_drift_reference_ratio`), and the input and prediction
//! drift alerts.
//!
//! PSI = sum over bins of (live - ref) * ln(live / ref), where live and ref are bin shares.
//! Empty bins: every share below [`EPSILON`] counts as `EPSILON`, on both sides (Evidently's
//! 0.0001), so an empty bin adds a finite term. A feature with fewer than
//! `min_observations` observations in the window has no share and no PSI: a quiet model does
//! not alert on noise. The live bins are not cumulative `le` buckets, so shares need no
//! differencing. Reading (Yurdakul & Naranjo, Journal of Risk Model Validation 14(4), 2020):
//! below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 significant.

use crate::metrics as m;
use crate::rules::{alert, record, sel, AlertSpec, RuleGroup, Scope, Timing};
use serde::Serialize;

/// Shares below this count as this, on both sides of the PSI.
pub const EPSILON: f64 = 0.0001;

/// PSI below which a feature reads as stable.
pub const PSI_STABLE: f64 = 0.1;
/// PSI above which a shift reads as significant (the alert default).
pub const PSI_SIGNIFICANT: f64 = 0.25;

/// Drift settings of a model service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// Render the drift rules and alerts.
    pub enabled: bool,
    /// Window the live shares are taken over (a Prometheus duration, e.g. `1h`).
    pub window: String,
    /// Input-feature PSI above which InferwatchInputDrift fires.
    pub input_psi: f64,
    /// Prediction-feature PSI above which InferwatchPredictionDrift fires.
    pub prediction_psi: f64,
    /// Fewest observations of a feature in the window before its PSI is computed.
    pub min_observations: u64,
}

impl Default for Drift {
    fn default() -> Self {
        Self {
            enabled: true,
            window: "1h".into(),
            input_psi: PSI_SIGNIFICANT,
            prediction_psi: PSI_SIGNIFICANT,
            min_observations: 200,
        }
    }
}

/// Names of the drift recording rules.
pub mod records {
    /// Observations per bin over the drift window, summed across replicas.
    pub const BIN_OBSERVATIONS: &str = "inferwatch:drift_bin:observations";
    /// Observations per feature over the drift window.
    pub const FEATURE_OBSERVATIONS: &str = "inferwatch:drift_feature:observations";
    /// Live share per bin (only for features with at least `min_observations`).
    pub const BIN_SHARE: &str = "inferwatch:drift_bin:share";
    /// Population Stability Index per model, version and feature.
    pub const PSI: &str = "inferwatch:drift_feature:psi";
}

/// The labels of one feature of one model version of one service.
pub const FEATURE_BY: &str = "namespace, job, model, version, side, feature";

/// Recording rules: bin counts, feature counts, live shares, PSI.
pub fn drift_recording_rules(scope: &Scope, d: &Drift) -> RuleGroup {
    let s = sel(scope, "");
    let by = FEATURE_BY;
    let w = &d.window;
    let reference = format!("clamp_min(max by ({by}, bin) ({}{s}), {EPSILON})", m::DRIFT_REFERENCE_RATIO.name);
    let live = format!("clamp_min({}{s}, {EPSILON})", records::BIN_SHARE);
    let rules = vec![
        record(
            records::BIN_OBSERVATIONS,
            format!("sum by ({by}, bin) (increase({}{s}[{w}]))", m::DRIFT_OBSERVATIONS.name),
        ),
        record(records::FEATURE_OBSERVATIONS, format!("sum by ({by}) ({}{s})", records::BIN_OBSERVATIONS)),
        record(
            records::BIN_SHARE,
            format!(
                "{b}{s} / ignoring(bin) group_left() ({f}{s} >= {min})",
                b = records::BIN_OBSERVATIONS,
                f = records::FEATURE_OBSERVATIONS,
                min = d.min_observations
            ),
        ),
        record(records::PSI, format!("sum by ({by}) (({live} - {reference}) * ln({live} / {reference}))")),
    ];
    RuleGroup { name: format!("{}.drift.rules", scope.name), rules }
}

/// InferwatchInputDrift and InferwatchPredictionDrift (info).
pub fn drift_alert_rules(d: &Drift, scope: &Scope, t: &Timing) -> RuleGroup {
    let describe = |what: &str, threshold: f64| {
        format!(
            "PSI of the {what} feature {{{{ $labels.feature }}}} of {{{{ $labels.model }}}} {{{{ $labels.version }}}} ({{{{ $labels.job }}}}) is {{{{ $value | printf \"%.3f\" }}}} over the last {w} against its held-out reference (threshold {threshold}; below {PSI_STABLE} stable, {PSI_STABLE} to {PSI_SIGNIFICANT} moderate, above {PSI_SIGNIFICANT} significant).",
            w = d.window
        )
    };
    let rules = vec![
        alert(
            scope,
            AlertSpec {
                name: "InferwatchInputDrift",
                expr: format!("{}{} > {}", records::PSI, sel(scope, r#"side="input""#), d.input_psi),
                for_: &t.info,
                summary: "What clients send has moved away from the data the model was evaluated on.",
                description: describe("input", d.input_psi),
            },
        ),
        alert(
            scope,
            AlertSpec {
                name: "InferwatchPredictionDrift",
                expr: format!("{}{} > {}", records::PSI, sel(scope, r#"side="prediction""#), d.prediction_psi),
                for_: &t.info,
                summary: "The model's predictions have moved away from their held-out distribution.",
                description: describe("prediction", d.prediction_psi),
            },
        ),
    ];
    RuleGroup { name: format!("{}.drift", scope.name), rules }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_uses_one_epsilon_on_both_sides_and_a_minimum_count() {
        let d = Drift { min_observations: 321, ..Drift::default() };
        let g = drift_recording_rules(&Scope::default(), &d);
        let json = serde_json::to_string(&g).unwrap();
        assert!(json.contains(">= 321"), "{json}");
        assert_eq!(json.matches("clamp_min(").count(), 4, "{json}");
        assert!(json.contains(", 0.0001)"));
        assert!(
            json.contains("increase(inferwatch_drift_observations_total{job=~\\\".*inferwatch.*\\\"}[1h])"),
            "{json}"
        );
    }

    #[test]
    fn thresholds_and_window_appear_in_the_alerts() {
        let d = Drift { window: "6h".into(), input_psi: 0.3, prediction_psi: 0.2, ..Drift::default() };
        let g = drift_alert_rules(&d, &Scope::default(), &Timing::default());
        let json = serde_json::to_string(&g).unwrap();
        assert!(json.contains(r#"side=\"input\"} > 0.3"#), "{json}");
        assert!(json.contains(r#"side=\"prediction\"} > 0.2"#), "{json}");
        assert!(json.contains("over the last 6h"));
    }
}
