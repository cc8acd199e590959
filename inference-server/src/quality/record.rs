//! What the server keeps of a prediction until its feedback arrives: which model and version
//! made it, when, and the answer in the compact form scoring needs.

use crate::predict::Prediction;
use serde::{Deserialize, Serialize};

/// A kept prediction. The JSON form (short keys) is what Redis stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord {
    /// Model name.
    #[serde(rename = "m")]
    pub model: String,
    /// Model version that predicted.
    #[serde(rename = "v")]
    pub version: String,
    /// Unix milliseconds of the prediction.
    #[serde(rename = "t")]
    pub at_ms: u64,
    /// The answer.
    #[serde(rename = "p")]
    pub predicted: Predicted,
}

/// The part of an answer that truth is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Predicted {
    /// A classification: label index (model label order) and its probability.
    Class {
        /// Predicted label index.
        label: usize,
        /// Probability of the predicted label.
        confidence: f32,
    },
    /// A predicted rating.
    Rating {
        /// The rating.
        rating: f32,
    },
    /// A forecast.
    Forecast {
        /// Forecast values, one per step.
        values: Vec<f64>,
    },
    /// A top-k recommendation list (takes satisfaction feedback only).
    Recommendations,
}

impl Predicted {
    /// The record form of one answer; `labels` is the model's label order.
    pub fn of(prediction: &Prediction, labels: &[String]) -> Self {
        let index = |l: &str| labels.iter().position(|x| x == l).unwrap_or(0);
        match prediction {
            Prediction::Class { label, confidence, .. } => Self::Class { label: index(label), confidence: *confidence },
            Prediction::Spam { label, confidence, .. } => Self::Class { label: index(label), confidence: *confidence },
            Prediction::Rating { rating, .. } => Self::Rating { rating: *rating },
            Prediction::Trend { forecast, .. } => Self::Forecast { values: forecast.clone() },
            Prediction::Recommendations { .. } => Self::Recommendations,
        }
    }

    /// What kind of truth it takes, for error messages.
    pub fn truth_name(&self) -> &'static str {
        match self {
            Self::Class { .. } => "`label`",
            Self::Rating { .. } => "`rating`",
            Self::Forecast { .. } => "`values`",
            Self::Recommendations => "no truth (satisfaction or thumbs only)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_compact_json() {
        let r = PredictionRecord {
            model: "sentiment".into(),
            version: "1.0.0".into(),
            at_ms: 1_700_000_000_000,
            predicted: Predicted::Class { label: 2, confidence: 0.75 },
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"m":"sentiment","v":"1.0.0","t":1700000000000,"p":{"class":{"label":2,"confidence":0.75}}}"#
        );
        assert_eq!(serde_json::from_str::<PredictionRecord>(&json).unwrap(), r);
    }
}
