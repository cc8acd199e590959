//! Quality metrics: what matched feedback adds (online accuracy, recall, confusion, rating and
//! forecast errors, satisfaction, delay), the series created at zero when a model loads (so
//! ratios over any window start from a sample, and Prometheus' extrapolation is the same for
//! numerator and denominator). The held-out figures from `model.json` are set with the model
//! info (`registry::model_loaded`).

use super::registry::Metrics;
use crate::package::{ModelKind, ModelMeta};
use inferwatch_monitoring::metrics::CONFUSION_MAX_LABELS;

/// `inferwatch_feedback_total` outcomes.
pub const OUTCOMES: [&str; 5] = ["matched", "unknown_prediction", "duplicate", "model_mismatch", "invalid"];

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
            ModelKind::Sentiment | ModelKind::Topic | ModelKind::Email | ModelKind::Tabular => {
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

    /// A labelled classification: its true and predicted label and the predicted label's
    /// probability (`confusion`: whether the model's label set is small enough for the matrix).
    pub fn labelled(&self, mv: [&str; 2], truth: &str, predicted: &str, confidence: f32, confusion: bool) {
        let [model, version] = mv;
        self.labelled.with(&[model, version, truth]).inc();
        if truth == predicted {
            self.correct.with(&[model, version, truth]).inc();
        }
        self.expected_correct.with(&mv).inc_by(f64::from(confidence));
        if confusion {
            self.confusion.with(&[model, version, truth, predicted]).inc();
        }
    }

    /// A rating error (predicted minus observed).
    pub fn rating_error(&self, mv: [&str; 2], error: f64) {
        self.rating_squared_error.with(&mv).inc_by(error * error);
        self.rating_absolute_error.with(&mv).observe(error.abs());
    }

    /// Absolute percentage errors of forecast points.
    pub fn forecast_errors(&self, mv: [&str; 2], errors: &[f64]) {
        let h = self.forecast_error.with(&mv);
        errors.iter().for_each(|e| h.observe(*e));
    }

    /// A user's opinion: a satisfaction score and/or a thumbs vote (`up`, `down`).
    pub fn opinion(&self, mv: [&str; 2], satisfaction: Option<u8>, vote: Option<&str>) {
        if let Some(s) = satisfaction {
            self.satisfaction.with(&mv).observe(f64::from(s));
        }
        if let Some(v) = vote {
            self.votes.with(&[mv[0], mv[1], v]).inc();
        }
    }

    /// Seconds from a prediction to its matched feedback.
    pub fn feedback_delay(&self, mv: [&str; 2], seconds: f64) {
        self.feedback_delay.with(&mv).observe(seconds);
    }
}
