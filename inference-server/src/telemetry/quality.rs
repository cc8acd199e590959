//! Quality metrics: what matched feedback adds (online accuracy, recall, confusion, rating and
//! forecast errors, satisfaction, delay), the series created at zero when a model loads (so
//! ratios over any window start from a sample, and Prometheus' extrapolation is the same for
//! numerator and denominator), and the held-out figures read from `model.json`.

use super::registry::Metrics;
use crate::package::{ModelKind, ModelMeta};
use crate::quality::feedback::Vote;
use crate::quality::score::{Score, TruthScore};
use inferwatch_monitoring::metrics::CONFUSION_MAX_LABELS;

/// `inferwatch_feedback_total` outcomes.
pub const OUTCOMES: [&str; 5] = ["matched", "unknown_prediction", "duplicate", "model_mismatch", "invalid"];

/// The held-out figures of `model.json` as (metric, value): accuracy, macro_f1 and ece for
/// classifiers, rmse for recsys, mape (mean over the held-out series, as a ratio) for trend.
pub fn heldout(meta: &ModelMeta) -> Vec<(&'static str, f64)> {
    let m = &meta.metrics;
    let mut out = Vec::new();
    for key in ["accuracy", "macro_f1", "ece", "rmse"] {
        if let Some(v) = m.get(key).and_then(serde_json::Value::as_f64) {
            out.push((key, v));
        }
    }
    if meta.kind == ModelKind::Trend {
        let mapes: Vec<f64> = m
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.get("mape_percent").and_then(serde_json::Value::as_f64))
            .collect();
        if !mapes.is_empty() {
            out.push(("mape", mapes.iter().sum::<f64>() / mapes.len() as f64 / 100.0));
        }
    }
    out
}

impl Metrics {
    /// Create a loaded model's quality series at zero.
    pub fn quality_series(&self, meta: &ModelMeta) {
        let (name, version) = (meta.name.as_str(), meta.version.as_str());
        for outcome in OUTCOMES {
            self.feedback.with(&[name, outcome]);
        }
        let mv = [name, version];
        self.feedback_delay.with(&mv);
        self.satisfaction.with(&mv);
        for vote in ["up", "down"] {
            self.votes.with(&[name, version, vote]);
        }
        match meta.kind {
            ModelKind::Sentiment | ModelKind::Topic | ModelKind::Email => {
                self.expected_correct.with(&mv);
                for t in &meta.labels {
                    self.labelled.with(&[name, version, t]);
                    self.correct.with(&[name, version, t]);
                    if meta.labels.len() <= CONFUSION_MAX_LABELS {
                        for p in &meta.labels {
                            self.confusion.with(&[name, version, t, p]);
                        }
                    }
                }
            }
            ModelKind::Recsys => {
                self.rating_squared_error.with(&mv);
                self.rating_absolute_error.with(&mv);
            }
            ModelKind::Trend => {
                self.forecast_error.with(&mv);
            }
        }
    }

    /// One feedback outcome for `model`.
    pub fn feedback_outcome(&self, model: &str, outcome: &str) {
        self.feedback.with(&[model, outcome]).inc();
    }

    /// What a matched feedback item adds: its truth when `truth`, its opinion when `opinion`
    /// (each counted once per prediction by the caller's claims).
    pub fn feedback_scored(&self, model: &str, labels: &[String], score: &Score, truth: bool, opinion: bool) {
        let version = score.version.as_str();
        let mv = [model, version];
        self.feedback_delay.with(&mv).observe(score.delay_seconds);
        if truth {
            match &score.truth {
                Some(TruthScore::Class { truth, predicted, confidence }) => {
                    let label = |i: usize| labels.get(i).map_or("unknown", String::as_str);
                    self.labelled.with(&[model, version, label(*truth)]).inc();
                    if truth == predicted {
                        self.correct.with(&[model, version, label(*truth)]).inc();
                    }
                    self.expected_correct.with(&mv).inc_by(f64::from(*confidence));
                    if labels.len() <= CONFUSION_MAX_LABELS {
                        self.confusion.with(&[model, version, label(*truth), label(*predicted)]).inc();
                    }
                }
                Some(TruthScore::Rating { error }) => {
                    self.rating_squared_error.with(&mv).inc_by(error * error);
                    self.rating_absolute_error.with(&mv).observe(error.abs());
                }
                Some(TruthScore::Forecast { errors }) => {
                    let h = self.forecast_error.with(&mv);
                    errors.iter().for_each(|e| h.observe(*e));
                }
                None => {}
            }
        }
        if opinion {
            if let Some(s) = score.satisfaction {
                self.satisfaction.with(&mv).observe(f64::from(s));
            }
            if let Some(v) = score.vote {
                self.votes.with(&[model, version, Vote::as_str(v)]).inc();
            }
        }
    }
}
