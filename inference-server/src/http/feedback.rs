//! The feedback codec: `POST /v1/models/{name}/feedback` with one item (the answer is the
//! item's outcome: 200, or the 4xx of its rejection) or `{"feedback": [...]}` (200 with one
//! result per item; a list with any malformed item is refused whole, 422, nothing counted).

use super::error::{ApiError, ErrorBody};
use super::{ApiJson, AppState};
use crate::quality::feedback::{self, Accepts, FeedbackError};
use crate::quality::score::Reject;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use serde_json::value::RawValue;

/// The answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackResponse {
    /// Model name.
    pub model: String,
    /// Items counted.
    pub matched: usize,
    /// Items not counted.
    pub rejected: usize,
    /// One per item, in order.
    pub results: Vec<ItemResult>,
}

/// One item's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemResult {
    /// The id it named.
    pub prediction_id: String,
    /// matched, unknown_prediction, duplicate, model_mismatch or invalid.
    pub outcome: &'static str,
    /// Why it was not counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Ground truth (and satisfaction) for earlier predictions.
#[utoipa::path(
    post, path = "/v1/models/{name}/feedback", tag = "v1",
    params(("name" = String, Path, description = "the model that made the predictions")),
    request_body(content = Object, description = "{\"prediction_id\", \"label\" (classifiers) | \"rating\" (recsys) | \"values\" (trend), \"satisfaction\"? (1-5), \"thumbs\"? (up/down)}, or {\"feedback\": [..]} of these"),
    responses(
        (status = 200, description = "counted (a list: one result per item)", body = FeedbackResponse),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 404, description = "unknown model, or unknown / expired prediction id", body = ErrorBody),
        (status = 409, description = "feedback for this prediction was already counted", body = ErrorBody),
        (status = 413, description = "body or item count too large", body = ErrorBody),
        (status = 422, description = "invalid feedback: wrong truth type, unknown label, out of range", body = ErrorBody),
        (status = 503, description = "the prediction store cannot be reached", body = ErrorBody),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> Result<Json<FeedbackResponse>, ApiError> {
    let model = state.manager.get(&name).await?;
    let accepts = Accepts { kind: model.meta.kind, labels: &model.meta.labels, rating_range: model.rules.rating_range };
    let (items, batch) = match feedback::decode(body.get(), accepts, state.quality.max_feedback_items) {
        Ok(decoded) => decoded,
        Err(e) => {
            state.quality.refused(&model.meta.name);
            return Err(e.into());
        }
    };
    let answers = state.quality.feedback(&model, &items).await?;
    if !batch {
        if let Some(Err(reject)) = answers.first() {
            return Err(reject.clone().into());
        }
    }
    let results: Vec<ItemResult> = items
        .iter()
        .zip(answers)
        .map(|(f, a)| ItemResult {
            prediction_id: f.prediction_id.clone(),
            outcome: a.as_ref().map_or_else(Reject::outcome, |()| "matched"),
            error: a.err().map(|e| e.to_string()),
        })
        .collect();
    let matched = results.iter().filter(|r| r.error.is_none()).count();
    Ok(Json(FeedbackResponse { model: model.meta.name.clone(), matched, rejected: results.len() - matched, results }))
}

impl From<FeedbackError> for ApiError {
    fn from(e: FeedbackError) -> Self {
        match e {
            FeedbackError::TooMany { .. } => ApiError::TooManyItems(e.to_string()),
            FeedbackError::Invalid { .. } => ApiError::Validation(e.to_string()),
        }
    }
}
