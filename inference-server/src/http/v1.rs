//! Per-model routes: `POST /v1/models/{name}/predict` (one item or `{"inputs": [...]}`),
//! `POST /v1/models/{name}/recommend`, `GET /v1/models[/{name}]`.

use super::{ApiJson, AppState};
use crate::error::{ApiError, ErrorBody};
use crate::featurize::recsys::ColdStart;
use crate::featurize::trend::{Anomaly, Direction};
use crate::inference::{self, argmax, EmailInput, Inputs, Outputs};
use crate::models::recsys::Recommendation;
use crate::models::trend::{Method, TrendInput, TrendOutput};
use crate::models::{LoadedModel, Model};
use crate::package::ModelKind;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::sync::Arc;

/// A text to classify (sentiment, topic).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextInput {
    /// The text; not empty.
    pub text: String,
}

/// A user/item pair; ids may be strings or integers.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingInput {
    /// Raw user id (as in MovieLens).
    #[schema(value_type = String)]
    pub user_id: Id,
    /// Raw item id.
    #[schema(value_type = String)]
    pub item_id: Id,
}

/// A series to forecast and analyse.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesInput {
    /// Observations, oldest first; at least 3, finite.
    pub values: Vec<f64>,
    /// Optional numeric timestamps (e.g. unix seconds), one per value, strictly increasing.
    #[serde(default)]
    pub timestamps: Option<Vec<f64>>,
    /// Steps to forecast (1 to 120).
    pub horizon: usize,
    /// Season length in steps; detected from the data when absent.
    #[serde(default)]
    pub season_length: Option<usize>,
}

/// `POST /v1/models/{name}/recommend` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// Raw user id.
    #[schema(value_type = String)]
    pub user_id: Id,
    /// How many items (1 to 100, default 10).
    #[serde(default = "default_k")]
    pub k: usize,
}

fn default_k() -> usize {
    10
}

/// An id given as a JSON string or integer.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// "196"
    Str(String),
    /// 196
    Int(i64),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Self::Str(s) => s,
            Self::Int(i) => i.to_string(),
        }
    }
}

/// A label with its probability.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LabelProbability {
    /// Class label.
    pub label: String,
    /// Probability.
    pub probability: f32,
}

/// The answer for one item; which fields appear depends on the model kind.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Prediction {
    /// sentiment / topic.
    Class {
        /// Most likely label.
        label: String,
        /// Its probability.
        confidence: f32,
        /// Every label's probability (sentiment).
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<std::collections::BTreeMap<String, f32>>,
        /// The k most likely labels (topic).
        #[serde(skip_serializing_if = "Option::is_none")]
        top_k: Option<Vec<LabelProbability>>,
    },
    /// email.
    Spam {
        /// spam or ham.
        label: String,
        /// Whether spam_probability >= the model's threshold.
        spam: bool,
        /// Probability of spam.
        spam_probability: f32,
    },
    /// recsys.
    Rating {
        /// Predicted rating (1 to 5).
        rating: f32,
        /// Which fallback applied.
        cold_start: ColdStart,
    },
    /// trend.
    Trend {
        /// up, down or flat.
        direction: Direction,
        /// OLS slope per step.
        slope: f64,
        /// Mann-Kendall two-sided p-value.
        p_value: f64,
        /// Mann-Kendall z.
        mann_kendall_z: f64,
        /// Season length used.
        season_length: usize,
        /// model or fallback_naive.
        method: Method,
        /// Forecast values.
        forecast: Vec<f64>,
        /// Forecast timestamps, when timestamps were given.
        #[serde(skip_serializing_if = "Option::is_none")]
        forecast_timestamps: Option<Vec<f64>>,
        /// Anomalous points.
        anomalies: Vec<Anomaly>,
    },
}

const TOPIC_TOP_K: usize = 3;

fn parse<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::Validation(format!("invalid {what}: {e}")))
}

/// `{"inputs": [...]}` is a batch; anything else is one item.
fn items<T: serde::de::DeserializeOwned>(body: Value, what: &str) -> Result<(Vec<T>, bool), ApiError> {
    match body {
        Value::Object(mut map) if map.contains_key("inputs") => {
            if map.len() > 1 {
                let extra: Vec<&String> = map.keys().filter(|k| *k != "inputs").collect();
                return Err(ApiError::Validation(format!("unknown fields beside inputs: {extra:?}")));
            }
            let inputs = map.remove("inputs").unwrap_or(Value::Null);
            let Value::Array(list) = inputs else {
                return Err(ApiError::Validation("inputs must be a list".into()));
            };
            let parsed = list
                .into_iter()
                .enumerate()
                .map(|(i, v)| parse(v, &format!("inputs[{i}] ({what})")))
                .collect::<Result<Vec<T>, _>>()?;
            Ok((parsed, true))
        }
        v @ Value::Object(_) => Ok((vec![parse(v, what)?], false)),
        _ => {
            Err(ApiError::Validation(format!("request body must be a JSON object: a {what} or {{\"inputs\": [...]}}")))
        }
    }
}

fn series_input(s: SeriesInput) -> Result<(TrendInput, Option<Vec<f64>>), ApiError> {
    if let Some(ts) = &s.timestamps {
        if ts.len() != s.values.len() {
            return Err(ApiError::Validation(format!(
                "timestamps has {} entries, values has {}",
                ts.len(),
                s.values.len()
            )));
        }
        if ts.iter().any(|t| !t.is_finite()) || ts.windows(2).any(|w| w[1] <= w[0]) {
            return Err(ApiError::Validation("timestamps must be finite and strictly increasing".into()));
        }
    }
    let timestamps = s.timestamps;
    Ok((TrendInput { values: s.values, horizon: s.horizon, season_length: s.season_length }, timestamps))
}

/// Forecast timestamps continue the median step of the given ones.
fn forecast_timestamps(ts: &[f64], horizon: usize) -> Option<Vec<f64>> {
    let mut steps: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.is_empty() {
        return None;
    }
    steps.sort_by(f64::total_cmp);
    let step = steps[steps.len() / 2];
    let last = *ts.last()?;
    Some((1..=horizon).map(|h| last + step * h as f64).collect())
}

/// Decode a predict body for the model's kind. Returns the inputs, whether it was a batch, and
/// per-series timestamps (trend).
/// A decoded predict body: inputs, whether it was a batch, per-series timestamps (trend).
type Decoded = (Inputs, bool, Vec<Option<Vec<f64>>>);

/// Decode a request body (one item, or `{"inputs": [...]}`) into model inputs.
pub(crate) fn decode(kind: ModelKind, body: Value) -> Result<Decoded, ApiError> {
    Ok(match kind {
        ModelKind::Sentiment | ModelKind::Topic => {
            let (v, batch) = items::<TextInput>(body, "text input {\"text\": ...}")?;
            (Inputs::Text(v.into_iter().map(|t| t.text).collect()), batch, vec![])
        }
        ModelKind::Email => {
            let (v, batch) = items::<EmailInput>(body, "email {\"subject\": ..., \"body\": ...}")?;
            (Inputs::Email(v), batch, vec![])
        }
        ModelKind::Recsys => {
            let (v, batch) = items::<RatingInput>(body, "rating input {\"user_id\": ..., \"item_id\": ...}")?;
            (
                Inputs::Rating(v.into_iter().map(|r| (r.user_id.into_string(), r.item_id.into_string())).collect()),
                batch,
                vec![],
            )
        }
        ModelKind::Trend => {
            let (v, batch) = items::<SeriesInput>(body, "series {\"values\": [...], \"horizon\": ...}")?;
            let (series, ts): (Vec<_>, Vec<_>) =
                v.into_iter().map(series_input).collect::<Result<Vec<_>, _>>()?.into_iter().unzip();
            (Inputs::Trend(series), batch, ts)
        }
    })
}

/// Decode a predict body from its JSON text. One item of the model's input type is parsed
/// straight into it (the common case, no intermediate JSON value); anything else (a batch, bad
/// input) goes through [`decode`], which gives the detailed errors. Only objects are taken on the
/// direct path (serde also reads a struct from an array of its fields), and never emails: their
/// input accepts unknown fields, so `{"inputs": [...]}` would parse as an empty email.
pub(crate) fn decode_text(kind: ModelKind, body: &RawValue) -> Result<Decoded, ApiError> {
    let json = body.get();
    let one = match kind {
        _ if !json.starts_with('{') => None,
        ModelKind::Sentiment | ModelKind::Topic => {
            serde_json::from_str::<TextInput>(json).ok().map(|t| Ok((Inputs::Text(vec![t.text]), false, vec![])))
        }
        ModelKind::Recsys => serde_json::from_str::<RatingInput>(json)
            .ok()
            .map(|r| Ok((Inputs::Rating(vec![(r.user_id.into_string(), r.item_id.into_string())]), false, vec![]))),
        ModelKind::Trend => serde_json::from_str::<SeriesInput>(json)
            .ok()
            .map(|s| series_input(s).map(|(series, ts)| (Inputs::Trend(vec![series]), false, vec![ts]))),
        ModelKind::Email => None,
    };
    match one {
        Some(decoded) => decoded,
        None => decode(kind, serde_json::from_str(json).map_err(|e| ApiError::InvalidJson(e.to_string()))?),
    }
}

/// Shape model outputs into v1 predictions.
pub fn predictions(model: &LoadedModel, outputs: Outputs, timestamps: &[Option<Vec<f64>>]) -> Vec<Prediction> {
    let labels = match &model.model {
        Model::Text(m) => m.labels.as_slice(),
        _ => &[],
    };
    match outputs {
        Outputs::Probabilities(rows) => rows
            .into_iter()
            .map(|row| {
                let (best, confidence) = argmax(&row).unwrap_or((0, 0.0));
                let label = labels.get(best).cloned().unwrap_or_default();
                match model.meta.kind {
                    ModelKind::Email => {
                        let spam_idx = labels.iter().position(|l| l == "spam").unwrap_or(1);
                        let p = row.get(spam_idx).copied().unwrap_or(0.0);
                        let spam = p >= 0.5;
                        Prediction::Spam {
                            label: if spam { "spam" } else { "ham" }.to_string(),
                            spam,
                            spam_probability: p,
                        }
                    }
                    ModelKind::Topic => {
                        let mut order: Vec<usize> = (0..row.len()).collect();
                        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                        let top = order
                            .into_iter()
                            .take(TOPIC_TOP_K)
                            .map(|i| LabelProbability {
                                label: labels.get(i).cloned().unwrap_or_default(),
                                probability: row[i],
                            })
                            .collect();
                        Prediction::Class { label, confidence, probabilities: None, top_k: Some(top) }
                    }
                    _ => Prediction::Class {
                        label,
                        confidence,
                        probabilities: Some(labels.iter().cloned().zip(row.iter().copied()).collect()),
                        top_k: None,
                    },
                }
            })
            .collect(),
        Outputs::Ratings(rows) => {
            rows.into_iter().map(|(rating, cold_start)| Prediction::Rating { rating, cold_start }).collect()
        }
        Outputs::Trends(rows) => rows
            .into_iter()
            .enumerate()
            .map(|(i, t): (usize, TrendOutput)| {
                let horizon = t.forecast.len();
                Prediction::Trend {
                    direction: t.analysis.direction,
                    slope: t.analysis.slope,
                    p_value: t.analysis.p_value,
                    mann_kendall_z: t.analysis.mann_kendall_z,
                    season_length: t.season_length,
                    method: t.method,
                    forecast: t.forecast,
                    forecast_timestamps: timestamps
                        .get(i)
                        .and_then(|ts| ts.as_deref())
                        .and_then(|ts| forecast_timestamps(ts, horizon)),
                    anomalies: t.analysis.anomalies,
                }
            })
            .collect(),
        Outputs::Recommendations(..) => vec![],
    }
}

async fn model(state: &AppState, name: &str) -> Result<Arc<LoadedModel>, ApiError> {
    Ok(state.manager.get(name).await?)
}

/// Predict one item, or a batch with `{"inputs": [...]}`.
#[utoipa::path(
    post, path = "/v1/models/{name}/predict", tag = "v1",
    params(("name" = String, Path, description = "model name: sentiment, topic, email, recsys, trend")),
    request_body(content = Object, description = "sentiment/topic: {\"text\"}; email: {\"subject\",\"body\"}; recsys: {\"user_id\",\"item_id\"}; trend: {\"values\",\"horizon\",\"season_length\"?,\"timestamps\"?}; or {\"inputs\": [..]} of any of these"),
    responses(
        (status = 200, description = "prediction(s)", body = Object),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 404, description = "unknown model", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "invalid input", body = ErrorBody),
        (status = 429, description = "concurrency limit", body = ErrorBody),
        (status = 503, description = "model cannot be loaded", body = ErrorBody),
    )
)]
pub async fn predict(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> Result<Json<PredictResponse>, ApiError> {
    let model = model(&state, &name).await?;
    let (inputs, batch, timestamps) = decode_text(model.meta.kind, &body)?;
    let outputs = inference::run(model.clone(), inputs, state.limits).await?;
    let mut preds = predictions(&model, outputs, &timestamps);
    let (prediction, predictions) = if batch { (None, Some(preds)) } else { (preds.pop(), None) };
    Ok(Json(PredictResponse {
        model: model.meta.name.clone(),
        version: model.meta.version.clone(),
        prediction,
        predictions,
    }))
}

/// `POST /v1/models/{name}/predict` answer: the model and version, then either the one
/// prediction's fields inline or `predictions` for a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PredictResponse {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// The prediction of a single-item request, inline.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// One prediction per input of a batch request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<Vec<Prediction>>,
}

/// The k best-rated unseen items for a user (recsys models).
#[utoipa::path(
    post, path = "/v1/models/{name}/recommend", tag = "v1",
    params(("name" = String, Path, description = "a recsys model")),
    request_body = RecommendRequest,
    responses((status = 200, description = "recommendations", body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn recommend(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let model = model(&state, &name).await?;
    let req: RecommendRequest = parse(body, "recommend request {\"user_id\": ..., \"k\": ...}")?;
    let user_id = req.user_id.into_string();
    let outputs =
        inference::run(model.clone(), Inputs::Recommend { user_id: user_id.clone(), k: req.k }, state.limits).await?;
    let Outputs::Recommendations(items, unknown): Outputs = outputs else {
        return Err(ApiError::Internal("recommend produced no recommendations".into()));
    };
    let items: Vec<Recommendation> = items;
    Ok(Json(json!({
        "model": model.meta.name, "version": model.meta.version, "user_id": user_id,
        "cold_start": if unknown { "unknown_user" } else { "none" }, "items": items,
    })))
}

/// The models this server can serve.
#[utoipa::path(get, path = "/v1/models", tag = "v1", responses((status = 200, body = Object)))]
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let names = state.manager.known();
    let status = state.manager.status(&names);
    Json(json!({"models": status}))
}

/// Metadata of one model (loads it if needed).
#[utoipa::path(get, path = "/v1/models/{name}", tag = "v1", params(("name" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let m = model(&state, &name).await?;
    Ok(Json(json!({
        "name": m.meta.name, "kind": m.meta.kind, "version": m.meta.version, "labels": m.meta.labels,
        "sha256": m.meta.sha256, "source": m.source, "bytes": m.bytes, "metrics": m.meta.metrics,
        "training_data": m.meta.training_data, "reference_distribution": m.meta.reference_distribution,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).expect("valid JSON")
    }

    fn texts(d: &Decoded) -> Option<(&Vec<String>, bool)> {
        match &d.0 {
            Inputs::Text(t) => Some((t, d.1)),
            _ => None,
        }
    }

    #[test]
    fn one_item_decodes_directly_and_a_batch_through_the_value_path() {
        let one = decode_text(ModelKind::Sentiment, &raw(r#"{"text": "good"}"#)).expect("decodes");
        assert_eq!(texts(&one), Some((&vec!["good".to_string()], false)));
        let batch =
            decode_text(ModelKind::Topic, &raw(r#"{"inputs": [{"text": "a"}, {"text": "b"}]}"#)).expect("decodes");
        assert_eq!(texts(&batch), Some((&vec!["a".to_string(), "b".to_string()], true)));
    }

    #[test]
    fn bad_bodies_get_the_same_errors_as_before() {
        for body in [r#"{"text": 3}"#, r#"{"text": "a", "extra": 1}"#, r#"["hello"]"#, r#"{"inputs": 5}"#] {
            let direct = decode_text(ModelKind::Sentiment, &raw(body)).map(|_| ()).expect_err(body).to_string();
            let value = decode(ModelKind::Sentiment, serde_json::from_str(body).expect("json")).map(|_| ());
            assert_eq!(direct, value.expect_err(body).to_string(), "{body}");
        }
    }

    #[test]
    fn an_email_batch_is_never_taken_for_one_empty_email() {
        let d =
            decode_text(ModelKind::Email, &raw(r#"{"inputs": [{"subject": "hi", "body": "x"}]}"#)).expect("decodes");
        assert!(matches!(&d.0, Inputs::Email(v) if v.len() == 1 && v[0].subject == "hi"));
        assert!(d.1, "a batch");
    }

    #[test]
    fn trend_series_decode_directly_with_their_timestamps_checked() {
        let d = decode_text(ModelKind::Trend, &raw(r#"{"values": [1, 2, 3], "timestamps": [1, 2, 3], "horizon": 2}"#))
            .expect("decodes");
        assert_eq!(d.2, vec![Some(vec![1.0, 2.0, 3.0])]);
        let e = decode_text(ModelKind::Trend, &raw(r#"{"values": [1, 2, 3], "timestamps": [3, 2, 1], "horizon": 2}"#))
            .map(|_| ())
            .expect_err("decreasing timestamps");
        assert!(e.to_string().contains("strictly increasing"), "{e}");
    }
}
