//! Batch jobs: `POST /v1/models/{name}/jobs` validates every item up front and queues the job;
//! `GET /v1/jobs/{id}` answers its state and, once done, its predictions.

use super::error::{ApiError, ErrorBody};
use super::{ApiJson, AppState};
use crate::jobs::record::valid_job_id;
use crate::jobs::{JobState, Queue};
use crate::json_body::{self, Shape, ShapeError};
use crate::predict::{items, Limits, Request};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::sync::Arc;

fn queue(state: &AppState) -> Result<&Arc<Queue>, ApiError> {
    state.queue.as_ref().ok_or(ApiError::QueueDisabled)
}

/// Queue a large batch for asynchronous processing.
#[utoipa::path(
    post, path = "/v1/models/{name}/jobs", tag = "jobs",
    params(("name" = String, Path, description = "model name")),
    request_body(content = Object, description = "{\"inputs\": [..]}: items of the model's predict shape"),
    responses(
        (status = 202, description = "accepted: {job_id, status, model, items}", body = Object),
        (status = 404, description = "unknown model, or the batch queue is not enabled", body = ErrorBody),
        (status = 422, description = "an item is invalid, or too many items", body = ErrorBody),
        (status = 429, description = "the queue holds its limit of unfinished jobs", body = ErrorBody),
        (status = 503, description = "the batch queue is unavailable", body = ErrorBody),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    request_id: super::request_id::CurrentRequestId,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> Result<Response, ApiError> {
    let q = queue(&state)?;
    let model = state.manager.get(&name).await?;
    let not_a_job = || ApiError::Validation("a job body is {\"inputs\": [...]} with at least one item".into());
    // The list is read without a JSON tree and no further than the job limit; it is stored as
    // the client sent it. Every item is checked now, so a job is only accepted when it can
    // run; positions in errors count from the start of the job.
    let list = match json_body::shape(body.get(), "inputs", q.config.max_items) {
        Ok(Shape::List(list)) if !list.is_empty() => list,
        Ok(_) | Err(ShapeError::NotObject | ShapeError::NotList { .. }) => return Err(not_a_job()),
        Err(ShapeError::TooMany { max }) => {
            return Err(ApiError::Validation(format!("too many items: more than {max}; at most {max} per job")))
        }
        Err(ShapeError::Beside { others, .. }) => {
            return Err(ApiError::Validation(format!("unknown fields beside inputs: {others:?}")))
        }
        Err(ShapeError::Syntax(m)) => return Err(ApiError::InvalidJson(m)),
    };
    let count = list.len();
    let request = Request::new(items::decode_list(model.meta.kind, &list)?, true);
    let encoded = stored_list(&list);
    crate::predict::validate(&request, model.meta.kind, Limits { max_batch_items: count, ..state.limits })?;
    let accepted = match q.submit(&model.meta.name, &encoded, count).await {
        Ok(accepted) => accepted,
        Err(e) => {
            state.metrics.batch_jobs.with(&[&model.meta.name, "rejected"]).inc();
            return Err(e.into());
        }
    };
    state.metrics.batch_jobs.with(&[&model.meta.name, "accepted"]).inc();
    let id = accepted.id;
    crate::logs::audit::job_accepted(&id, &model.meta.name, count, request_id.as_deref());
    state.metrics.batch_job_items.with(&[&model.meta.name]).observe(count as f64);
    let location = format!("/v1/jobs/{id}");
    let body = json!({
        "job_id": id, "status": JobState::Queued, "model": model.meta.name, "items": count, "location": location,
        "expires_at_ms": accepted.expires_ms,
    });
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(body)).into_response())
}

/// The items as one JSON list, each exactly as the client wrote it.
fn stored_list(list: &[&RawValue]) -> String {
    let mut out = String::with_capacity(2 + list.iter().map(|r| r.get().len() + 1).sum::<usize>());
    out.push('[');
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.get());
    }
    out.push(']');
    out
}

/// A job's state, and its predictions once done.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "job id from POST /v1/models/{name}/jobs")),
    responses(
        (status = 200, description = "{job_id, model, status, items, submitted_at, started_at?, finished_at?, predictions? | error?}", body = Object),
        (status = 404, description = "unknown or expired job, or the batch queue is not enabled", body = ErrorBody),
        (status = 503, description = "the batch queue is unavailable", body = ErrorBody),
    )
)]
pub async fn status(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let q = queue(&state)?;
    if !valid_job_id(&id) {
        return Err(ApiError::JobNotFound(id));
    }
    let record = q.get(&id).await?.ok_or_else(|| ApiError::JobNotFound(id.clone()))?;
    let mut body = json!({
        "job_id": id, "model": record.model, "status": record.state, "items": record.item_count,
        "submitted_at_ms": record.submitted_ms, "started_at_ms": record.started_ms, "finished_at_ms": record.finished_ms,
        "expires_at_ms": record.submitted_ms.saturating_add(q.config.result_ttl.as_millis().try_into().unwrap_or(u64::MAX)),
        "attempts": record.attempts,
    });
    if let Some(r) = &record.results {
        body["predictions"] =
            serde_json::from_str(r).map_err(|e| ApiError::Internal(format!("stored results are not JSON: {e}")))?;
    }
    if let Some(e) = record.error {
        body["error"] = Value::from(e);
    }
    Ok(Json(body))
}
