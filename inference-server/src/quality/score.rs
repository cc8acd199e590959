//! Scoring one feedback item against the prediction it names (pure): what the metrics record.

use super::feedback::{Feedback, Truth, Vote};
use super::record::{Predicted, PredictionRecord};

/// What one matched feedback item adds to the quality metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The version that predicted.
    pub version: String,
    /// Seconds from the prediction to the feedback.
    pub delay_seconds: f64,
    /// The truth part (counted once per prediction).
    pub truth: Option<TruthScore>,
    /// A satisfaction score (counted once per prediction, with the vote).
    pub satisfaction: Option<u8>,
    /// A thumbs vote.
    pub vote: Option<Vote>,
}

/// The truth part of a score.
#[derive(Debug, Clone, PartialEq)]
pub enum TruthScore {
    /// A labelled classification.
    Class {
        /// True label index.
        truth: usize,
        /// Predicted label index.
        predicted: usize,
        /// Probability of the predicted label.
        confidence: f32,
    },
    /// A rating error (predicted minus observed).
    Rating {
        /// The error.
        error: f64,
    },
    /// Absolute percentage errors (ratios) of the forecast points with a non-zero observation.
    Forecast {
        /// One per scored point.
        errors: Vec<f64>,
    },
}

/// Why a feedback item did not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// The id is unknown to the store (never handed out, or expired).
    #[error("prediction '{0}' is unknown or expired")]
    Unknown(String),
    /// Everything the item carries was already counted for this prediction.
    #[error("feedback for prediction '{0}' was already received")]
    Duplicate(String),
    /// The prediction was made by another model.
    #[error("prediction '{id}' was made by model '{model}', not this one")]
    ModelMismatch {
        /// The id.
        id: String,
        /// The model that made it.
        model: String,
    },
    /// The truth does not fit the prediction.
    #[error("{0}")]
    Invalid(String),
}

impl Reject {
    /// `outcome` label value of `inferwatch_feedback_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "unknown_prediction",
            Self::Duplicate(_) => "duplicate",
            Self::ModelMismatch { .. } => "model_mismatch",
            Self::Invalid(_) => "invalid",
        }
    }
}

/// Score `feedback` against `record` (made by `model`), at `now_ms`.
pub fn score(model: &str, record: &PredictionRecord, feedback: &Feedback, now_ms: u64) -> Result<Score, Reject> {
    let id = &feedback.prediction_id;
    if record.model != model {
        return Err(Reject::ModelMismatch { id: id.clone(), model: record.model.clone() });
    }
    let truth = match (&feedback.truth, &record.predicted) {
        (None, _) => None,
        (Some(Truth::Label(t)), Predicted::Class { label, confidence }) => {
            Some(TruthScore::Class { truth: *t, predicted: *label, confidence: *confidence })
        }
        (Some(Truth::Rating(r)), Predicted::Rating { rating }) => {
            Some(TruthScore::Rating { error: f64::from(*rating) - r })
        }
        (Some(Truth::Values(v)), Predicted::Forecast { values }) => {
            if v.len() > values.len() {
                return Err(Reject::Invalid(format!(
                    "prediction '{id}' forecast {} steps; {} observed values cannot be matched",
                    values.len(),
                    v.len()
                )));
            }
            let errors = v.iter().zip(values).filter(|(o, _)| **o != 0.0).map(|(o, f)| ((f - o) / o).abs()).collect();
            Some(TruthScore::Forecast { errors })
        }
        (Some(_), p) => {
            return Err(Reject::Invalid(format!("prediction '{id}' takes {} as truth", p.truth_name())));
        }
    };
    Ok(Score {
        version: record.version.clone(),
        delay_seconds: now_ms.saturating_sub(record.at_ms) as f64 / 1000.0,
        truth,
        satisfaction: feedback.satisfaction,
        vote: feedback.vote,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: Predicted) -> PredictionRecord {
        PredictionRecord { model: "m".into(), version: "1".into(), at_ms: 1_000, predicted: p }
    }

    fn fb(truth: Option<Truth>) -> Feedback {
        Feedback { prediction_id: "id".into(), truth, satisfaction: None, vote: None }
    }

    #[test]
    fn classifications_ratings_and_forecasts_score_against_their_truth() {
        let s = score("m", &rec(Predicted::Class { label: 1, confidence: 0.8 }), &fb(Some(Truth::Label(2))), 61_000)
            .unwrap();
        assert_eq!(s.truth, Some(TruthScore::Class { truth: 2, predicted: 1, confidence: 0.8 }));
        assert_eq!(s.delay_seconds, 60.0);
        let s = score("m", &rec(Predicted::Rating { rating: 3.5 }), &fb(Some(Truth::Rating(4.0))), 1_000).unwrap();
        assert_eq!(s.truth, Some(TruthScore::Rating { error: -0.5 }));
        let f = rec(Predicted::Forecast { values: vec![110.0, 90.0, 5.0] });
        let s = score("m", &f, &fb(Some(Truth::Values(vec![100.0, 0.0]))), 1_000).unwrap();
        assert_eq!(s.truth, Some(TruthScore::Forecast { errors: vec![0.1] }), "observed zeros are skipped");
    }

    #[test]
    fn mismatched_truth_another_model_and_too_many_values_are_rejected() {
        let class = rec(Predicted::Class { label: 0, confidence: 0.5 });
        assert_eq!(score("other", &class, &fb(None), 0).unwrap_err().outcome(), "model_mismatch");
        let e = score("m", &rec(Predicted::Recommendations), &fb(Some(Truth::Rating(3.0))), 0).unwrap_err();
        assert!(e.to_string().contains("satisfaction or thumbs only"), "{e}");
        let f = rec(Predicted::Forecast { values: vec![1.0] });
        assert_eq!(score("m", &f, &fb(Some(Truth::Values(vec![1.0, 2.0]))), 0).unwrap_err().outcome(), "invalid");
    }
}
