//! The feedback body and its validation, before any record is looked up: the shape, the truth
//! type the model kind takes, labels in the model's label set, ratings in its range, scores in
//! 1 to 5. Everything here is pure; a request with any invalid item is refused whole, so a
//! client fixes it and resends without anything having been counted.
//!
//! Body: one item, or `{"feedback": [item, ...]}`; an item is
//! `{"prediction_id", "label" | "rating" | "values", "satisfaction"?, "thumbs"?}`.

use crate::json_body::{self, Shape, ShapeError};
use crate::package::ModelKind;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Longest `values` list of one forecast's feedback.
pub const MAX_VALUES: usize = 10_000;

/// The truth of one prediction.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    /// A classifier's true label, as its index in the model's label order.
    Label(usize),
    /// The observed rating.
    Rating(f64),
    /// The observed values of a forecast's first steps.
    Values(Vec<f64>),
}

/// A thumbs vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vote {
    /// Thumbs up.
    Up,
    /// Thumbs down.
    Down,
}

impl Vote {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// One validated feedback item.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The prediction it is about.
    pub prediction_id: String,
    /// The truth, when it came.
    pub truth: Option<Truth>,
    /// A satisfaction score, 1 to 5.
    pub satisfaction: Option<u8>,
    /// A thumbs vote.
    pub vote: Option<Vote>,
}

/// Why a feedback body was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeedbackError {
    /// Not the feedback shape, or an item is invalid (422); `item` is its position in a list.
    #[error("{}{message}", item.map(|i| format!("feedback[{i}]: ")).unwrap_or_default())]
    Invalid {
        /// Position in the list, when the body was a list.
        item: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// More items than the limit; reading stopped at the first one over.
    #[error("more than {limit} feedback items; the limit of {limit} per request is set by --max-feedback-items")]
    TooMany {
        /// The limit.
        limit: usize,
    },
}

/// What the model accepts as truth.
#[derive(Debug, Clone, Copy)]
pub struct Accepts<'a> {
    /// The model kind.
    pub kind: ModelKind,
    /// Its labels (classifiers).
    pub labels: &'a [String],
    /// Its rating range (recsys).
    pub rating_range: Option<(f32, f32)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    prediction_id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    rating: Option<f64>,
    #[serde(default, deserialize_with = "json_body::capped_opt::<_, f64, MAX_VALUES>")]
    values: Option<Vec<f64>>,
    #[serde(default)]
    satisfaction: Option<f64>,
    #[serde(default)]
    thumbs: Option<Vote>,
}

/// Decode and validate a feedback body: one item (a list of one, `batch` false) or a list of at
/// most `max_items`, read without a JSON tree and no further than the limit.
pub fn decode(json: &str, accepts: Accepts<'_>, max_items: usize) -> Result<(Vec<Feedback>, bool), FeedbackError> {
    let invalid = |item: Option<usize>, message: String| FeedbackError::Invalid { item, message };
    let (raw, batch) = match json_body::shape(json, "feedback", max_items) {
        Ok(Shape::One) => (vec![json], false),
        Ok(Shape::List(list)) => (list.into_iter().map(RawValue::get).collect(), true),
        Err(ShapeError::Beside { .. }) => {
            return Err(invalid(None, "a feedback list is `{\"feedback\": [...]}` with no other field".into()))
        }
        Err(ShapeError::NotList { .. }) => {
            return Err(invalid(None, "`feedback` must be a list of feedback items".into()))
        }
        Err(ShapeError::TooMany { max }) => return Err(FeedbackError::TooMany { limit: max }),
        Err(ShapeError::NotObject) => {
            return Err(invalid(
                None,
                "expected a feedback item {\"prediction_id\", ...} or {\"feedback\": [...]}".into(),
            ))
        }
        Err(ShapeError::Syntax(m)) => return Err(invalid(None, m)),
    };
    if raw.is_empty() {
        return Err(invalid(None, "`feedback` is empty: send at least one item".into()));
    }
    let mut seen = std::collections::HashSet::with_capacity(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    for (i, v) in raw.into_iter().enumerate() {
        let at = batch.then_some(i);
        let item: Item = serde_json::from_str(v).map_err(|e| invalid(at, e.to_string()))?;
        let f = validate(item, accepts).map_err(|m| invalid(at, m))?;
        if !seen.insert(f.prediction_id.clone()) {
            return Err(invalid(at, format!("prediction_id '{}' appears twice in this request", f.prediction_id)));
        }
        out.push(f);
    }
    Ok((out, batch))
}

fn validate(item: Item, accepts: Accepts<'_>) -> Result<Feedback, String> {
    let id = item.prediction_id;
    if id.is_empty() || id.len() > 64 {
        return Err("prediction_id must be 1 to 64 characters".into());
    }
    let kind = accepts.kind;
    let wants = match kind {
        ModelKind::Sentiment | ModelKind::Topic | ModelKind::Email | ModelKind::Tabular => "label",
        ModelKind::Recsys => "rating",
        ModelKind::Trend => "values",
    };
    let given: Vec<&str> =
        [("label", item.label.is_some()), ("rating", item.rating.is_some()), ("values", item.values.is_some())]
            .into_iter()
            .filter_map(|(n, g)| g.then_some(n))
            .collect();
    if let Some(other) = given.iter().find(|g| **g != wants) {
        return Err(format!("truth of the wrong type: {kind} models take `{wants}`, not `{other}`"));
    }
    let truth = if let Some(label) = item.label {
        let index = accepts.labels.iter().position(|l| *l == label).ok_or_else(|| {
            let shown: Vec<&str> = accepts.labels.iter().take(20).map(String::as_str).collect();
            format!(
                "label '{}' is not one of the model's labels: {}",
                label.chars().take(64).collect::<String>(),
                shown.join(", ")
            )
        })?;
        Some(Truth::Label(index))
    } else if let Some(r) = item.rating {
        let (lo, hi) = accepts.rating_range.map_or((f64::MIN, f64::MAX), |(lo, hi)| (f64::from(lo), f64::from(hi)));
        if !r.is_finite() || r < lo || r > hi {
            return Err(format!("rating {r} is outside the model's rating range {lo} to {hi}"));
        }
        Some(Truth::Rating(r))
    } else if let Some(v) = item.values {
        if v.is_empty() || v.len() > MAX_VALUES {
            return Err(format!("values must hold 1 to {MAX_VALUES} observed values"));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(format!("values[{i}] is not a finite number"));
        }
        Some(Truth::Values(v))
    } else {
        None
    };
    let satisfaction = match item.satisfaction {
        None => None,
        Some(s) if s.fract() == 0.0 && (1.0..=5.0).contains(&s) => Some(s as u8),
        Some(s) => return Err(format!("satisfaction {s} is not a whole score from 1 to 5")),
    };
    if truth.is_none() && satisfaction.is_none() && item.thumbs.is_none() {
        return Err(format!("no feedback: give `{wants}`, `satisfaction` (1-5) or `thumbs` (up/down)"));
    }
    Ok(Feedback { prediction_id: id, truth, satisfaction, vote: item.thumbs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn decode(body: Value, accepts: Accepts<'_>, max_items: usize) -> Result<(Vec<Feedback>, bool), FeedbackError> {
        super::decode(&body.to_string(), accepts, max_items)
    }

    fn labels() -> Vec<String> {
        vec!["negative".into(), "neutral".into(), "positive".into()]
    }

    fn sentiment(body: Value) -> Result<(Vec<Feedback>, bool), FeedbackError> {
        let l = labels();
        decode(body, Accepts { kind: ModelKind::Sentiment, labels: &l, rating_range: None }, 3)
    }

    #[test]
    fn one_item_or_a_list_decodes_with_the_label_as_its_index() {
        let (one, batch) = sentiment(json!({"prediction_id": "a", "label": "positive", "thumbs": "up"})).unwrap();
        assert!(!batch);
        assert_eq!(
            one[0],
            Feedback {
                prediction_id: "a".into(),
                truth: Some(Truth::Label(2)),
                satisfaction: None,
                vote: Some(Vote::Up)
            }
        );
        let (many, batch) =
            sentiment(json!({"feedback": [{"prediction_id": "a", "satisfaction": 4}, {"prediction_id": "b", "label": "neutral"}]}))
                .unwrap();
        assert!(batch);
        assert_eq!(many[0].satisfaction, Some(4));
        assert_eq!(many[1].truth, Some(Truth::Label(1)));
    }

    #[test]
    fn bad_items_are_refused_naming_the_item_and_the_reason() {
        let err = |b: Value| sentiment(b).unwrap_err().to_string();
        assert!(
            err(json!({"prediction_id": "a", "label": "happy"})).contains("'happy' is not one of the model's labels")
        );
        assert!(err(json!({"prediction_id": "a", "rating": 4}))
            .contains("wrong type: sentiment models take `label`, not `rating`"));
        assert!(err(json!({"prediction_id": "a"})).contains("no feedback"));
        assert!(err(json!({"prediction_id": "", "label": "neutral"})).contains("1 to 64"));
        assert!(err(json!({"prediction_id": "a", "satisfaction": 6})).contains("1 to 5"));
        assert!(err(json!({"prediction_id": "a", "satisfaction": 2.5})).contains("whole score"));
        assert!(err(json!({"prediction_id": "a", "thumbs": "sideways"})).contains("unknown variant"));
        assert!(err(json!({"prediction_id": "a", "label": "neutral", "extra": 1})).contains("unknown field"));
        assert!(err(
            json!({"feedback": [{"prediction_id": "a", "label": "neutral"}, {"prediction_id": "b", "label": 3}]})
        )
        .starts_with("feedback[1]: "));
        assert!(err(json!({"feedback": []})).contains("empty"));
        assert!(err(json!({"feedback": {"prediction_id": "a"}})).contains("must be a list"));
        assert!(err(json!([1, 2])).contains("expected a feedback item"));
        assert!(err(json!({"feedback": [{"prediction_id": "a", "label": "neutral"}, {"prediction_id": "a", "label": "neutral"}]}))
            .contains("appears twice"));
        let too_many: Vec<Value> =
            (0..4).map(|i| json!({"prediction_id": i.to_string(), "label": "neutral"})).collect();
        assert_eq!(sentiment(json!({ "feedback": too_many })).unwrap_err(), FeedbackError::TooMany { limit: 3 });
    }

    #[test]
    fn ratings_must_be_in_range_and_forecast_values_finite() {
        let rec = Accepts { kind: ModelKind::Recsys, labels: &[], rating_range: Some((1.0, 5.0)) };
        assert!(decode(json!({"prediction_id": "a", "rating": 4.5}), rec, 10).is_ok());
        let e = decode(json!({"prediction_id": "a", "rating": 7}), rec, 10).unwrap_err().to_string();
        assert!(e.contains("outside the model's rating range 1 to 5"), "{e}");
        let trend = Accepts { kind: ModelKind::Trend, labels: &[], rating_range: None };
        assert!(decode(json!({"prediction_id": "a", "values": []}), trend, 10).is_err());
        let e = decode(json!({"prediction_id": "a", "label": "up"}), trend, 10).unwrap_err().to_string();
        assert!(e.contains("trend models take `values`"), "{e}");
    }
}
