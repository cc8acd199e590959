//! The v1 codec: `POST /v1/models/{name}/predict` (one item or `{"inputs": [...]}`),
//! `POST /v1/models/{name}/recommend`, `GET /v1/models[/{name}]`. Bodies decode through
//! [`crate::predict::items`]; answers are the [`Prediction`]s of the prediction layer.

use super::error::{ApiError, ErrorBody};
use super::request_id::CurrentRequestId;
use super::{ApiJson, AppState};
use crate::logs::prediction::Pending;
use crate::models::LoadedModel;
use crate::predict::{self, items, Prediction};
use crate::quality::Identified;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::sync::Arc;

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
    request_id: CurrentRequestId,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> Result<Response, ApiError> {
    let model = model(&state, &name).await?;
    let request = items::decode_body(model.meta.kind, body.get(), state.limits.max_batch_items)?;
    let batch = request.batch;
    let logged = state.prediction_log.begin(&request.items);
    let preds = predict::run(model.clone(), request, state.limits).await?;
    Ok(answer(&state, &model, preds, batch, (logged, &request_id)))
}

/// The v1 answer: ids for every prediction, the single one's also in `x-prediction-id`; the
/// prediction lines of the items picked for them.
fn answer(
    state: &AppState,
    model: &LoadedModel,
    preds: Vec<Prediction>,
    batch: bool,
    (logged, request_id): (Pending, &CurrentRequestId),
) -> Response {
    let ids = state.quality.record(model, &preds);
    state.prediction_log.finish(logged, model, &preds, &ids, request_id.as_deref());
    let header = if batch { None } else { ids.first().and_then(|id| HeaderValue::from_str(id).ok()) };
    let mut identified = Identified::pair(preds, ids);
    let (prediction, predictions) = if batch { (None, Some(identified.collect())) } else { (identified.next(), None) };
    let body = PredictResponse {
        model: model.meta.name.clone(),
        version: model.meta.version.clone(),
        prediction,
        predictions,
    };
    let mut response = Json(body).into_response();
    if let Some(v) = header {
        response.headers_mut().insert(PREDICTION_ID_HEADER, v);
    }
    response
}

/// The response header that carries a single prediction's id.
pub const PREDICTION_ID_HEADER: &str = "x-prediction-id";

/// `POST /v1/models/{name}/predict` answer: the model and version, then either the one
/// prediction's fields (and `prediction_id`) inline or `predictions` for a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PredictResponse {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// The prediction of a single-item request, inline.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Identified>,
    /// One prediction per input of a batch request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<Vec<Identified>>,
}

/// The k best-rated unseen items for a user (recsys models).
#[utoipa::path(
    post, path = "/v1/models/{name}/recommend", tag = "v1",
    params(("name" = String, Path, description = "a recsys model")),
    request_body = crate::predict::items::RecommendRequest,
    responses((status = 200, description = "recommendations", body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn recommend(
    State(state): State<AppState>,
    request_id: CurrentRequestId,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> Result<Response, ApiError> {
    let model = model(&state, &name).await?;
    let request = items::decode_recommend(body.get())?;
    let logged = state.prediction_log.begin(&request.items);
    let preds = predict::run(model.clone(), request, state.limits).await?;
    if preds.is_empty() {
        return Err(ApiError::Internal("recommend produced no answer".into()));
    }
    Ok(answer(&state, &model, preds, false, (logged, &request_id)))
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
