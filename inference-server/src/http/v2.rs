//! The Open Inference Protocol (KServe v2) REST codec: JSON tensors and the binary tensor data
//! extension (`Inference-Header-Content-Length`), which NVIDIA's `tritonclient` uses by default.
//! Tensors map to requests and answers through [`crate::predict::tensors`], whose table the
//! model metadata is generated from; the wire format itself is in [`codec`].

pub mod codec;

use super::error::{ApiError, ErrorBody};
use super::request_id::CurrentRequestId;
use super::{ops, AppState};
use crate::models::{LoadedModel, Model};
use crate::predict;
use crate::predict::tensors::{self, TensorSpec};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use codec::bad;
pub use codec::{InferInput, InferRequest, OipBody, OutputTensor, RequestedOutput};
use serde_json::{json, Value};
use std::sync::Arc;

/// Server metadata.
#[utoipa::path(get, path = "/v2", tag = "v2", responses((status = 200, body = Object)))]
pub async fn server_metadata() -> Json<Value> {
    Json(json!({"name": "inferwatch", "version": env!("CARGO_PKG_VERSION"), "extensions": ["model_repository_list"]}))
}

/// Liveness.
#[utoipa::path(get, path = "/v2/health/live", tag = "v2", responses((status = 200, body = Object)))]
pub async fn live() -> Json<Value> {
    Json(json!({"live": true}))
}

/// Readiness (same rule as `/ready`).
#[utoipa::path(get, path = "/v2/health/ready", tag = "v2", responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn ready(state: State<AppState>) -> Response {
    ops::ready(state).await
}

async fn loaded(state: &AppState, name: &str, version: Option<&str>) -> Result<Arc<LoadedModel>, ApiError> {
    let model = state.manager.get(name).await?;
    if let Some(v) = version {
        if v != model.meta.version {
            return Err(ApiError::ModelNotFound(format!("{name} version {v} (serving {})", model.meta.version)));
        }
    }
    Ok(model)
}

async fn metadata(state: &AppState, name: &str, version: Option<&str>) -> Result<Json<Value>, ApiError> {
    let m = loaded(state, name, version).await?;
    let features: Vec<&str> = match &m.model {
        Model::Tabular(t) => t.columns().all().iter().map(|c| c.name.as_str()).collect(),
        _ => Vec::new(),
    };
    let describe = |specs: &[TensorSpec]| -> Vec<Value> {
        specs
            .iter()
            .map(|t| {
                let shape = tensors::metadata_shape(t, m.meta.labels.len(), features.len());
                json!({"name": t.name, "datatype": t.datatype.as_str(), "shape": shape})
            })
            .collect()
    };
    let mut parameters =
        json!({"kind": m.meta.kind, "sha256": m.meta.sha256, "source": m.source, "labels": m.meta.labels});
    if !features.is_empty() {
        parameters["features"] = json!(features);
    }
    Ok(Json(json!({
        "name": m.meta.name, "versions": [m.meta.version], "platform": "onnx_tract",
        "inputs": describe(tensors::inputs(m.meta.kind)), "outputs": describe(tensors::outputs(m.meta.kind)),
        "parameters": parameters,
    })))
}

/// Model metadata.
#[utoipa::path(get, path = "/v2/models/{name}", tag = "v2", params(("name" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn model_metadata(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    metadata(&state, &name, None).await
}

/// Model metadata for one version.
pub async fn model_metadata_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    metadata(&state, &name, Some(&version)).await
}

fn model_ready_response(state: &AppState, name: &str, version: Option<&str>) -> Response {
    match state.manager.cached(name) {
        Some(m) if version.is_none_or(|v| v == m.meta.version) => {
            (StatusCode::OK, Json(json!({"name": name, "ready": true}))).into_response()
        }
        _ if !state.manager.known().iter().any(|n| n == name) => {
            ApiError::ModelNotFound(name.to_string()).into_response()
        }
        _ => {
            let mut detail = serde_json::Map::new();
            detail.insert("name".into(), name.into());
            detail.insert("ready".into(), false.into());
            ApiError::NotReady { message: "model is not loaded".into(), detail }.into_response()
        }
    }
}

/// Model readiness: 200 when loaded and warmed up.
#[utoipa::path(get, path = "/v2/models/{name}/ready", tag = "v2", params(("name" = String, Path)), responses((status = 200, body = Object), (status = 503, body = Object), (status = 404, body = ErrorBody)))]
pub async fn model_ready(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    model_ready_response(&state, &name, None)
}

/// Model readiness for one version.
pub async fn model_ready_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    model_ready_response(&state, &name, Some(&version))
}

/// Most elements over all input tensors of one request: two per item (email subject and body,
/// recsys user and item) or one whole series, whichever is more, and room for scalar inputs.
fn max_elements(max_batch_items: usize) -> usize {
    max_batch_items.saturating_mul(2).max(crate::models::trend::MAX_POINTS) + 16
}

async fn run_infer(
    state: AppState,
    request_id: CurrentRequestId,
    name: String,
    version: Option<String>,
    body: OipBody,
) -> Result<Response, ApiError> {
    let model = loaded(&state, &name, version.as_deref()).await?;
    let OipBody { request: req, binary } = body;
    let inputs = codec::inputs(&req.inputs, &binary, max_elements(state.limits.max_batch_items))?;
    let request = tensors::decode(model.meta.kind, &inputs, req.parameters.as_ref())?;
    let logged = state.prediction_log.begin(&request.items);
    let predictions = predict::run(model.clone(), request, state.limits).await?;
    let mut outputs = tensors::encode(model.meta.kind, &predictions);
    let ids = state.quality.record(&model, &predictions);
    state.prediction_log.finish(logged, &model, &predictions, &ids, request_id.as_deref());
    let parameters = (!ids.is_empty()).then(|| json!({ "prediction_ids": ids }));
    let all_binary = codec::flag(req.parameters.as_ref(), "binary_data_output");
    let wanted: Vec<(&'static str, bool)> = match &req.outputs {
        None => outputs.iter().map(|t| (t.name, all_binary)).collect(),
        Some(wanted) => {
            let mut picked = Vec::with_capacity(wanted.len());
            for w in wanted {
                let Some(t) = outputs.iter().find(|t| t.name == w.name) else {
                    return Err(bad(format!("unknown output '{}'", w.name)));
                };
                picked.push((t.name, all_binary || codec::flag(w.parameters.as_ref(), "binary_data")));
            }
            picked
        }
    };
    outputs.retain(|t| wanted.iter().any(|(n, _)| *n == t.name));
    let binary_of = |name: &str| wanted.iter().any(|(n, b)| *n == name && *b);
    Ok(codec::response(&model.meta.name, &model.meta.version, req.id, parameters, outputs, binary_of))
}

/// Inference with JSON tensors or the binary tensor data extension.
#[utoipa::path(post, path = "/v2/models/{name}/infer", tag = "v2", params(("name" = String, Path)), request_body = InferRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn infer(
    State(state): State<AppState>,
    request_id: CurrentRequestId,
    Path(name): Path<String>,
    body: OipBody,
) -> Result<Response, ApiError> {
    run_infer(state, request_id, name, None, body).await
}

/// Inference against one version.
pub async fn infer_version(
    State(state): State<AppState>,
    request_id: CurrentRequestId,
    Path((name, version)): Path<(String, String)>,
    body: OipBody,
) -> Result<Response, ApiError> {
    run_infer(state, request_id, name, Some(version), body).await
}
