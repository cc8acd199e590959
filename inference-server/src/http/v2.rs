//! Open Inference Protocol (KServe v2) REST routes. JSON tensor data only; the binary tensor
//! extension is refused with a clear error.

use super::{ops, AppState, OipJson};
use crate::error::{ApiError, ErrorBody};
use crate::inference::{self, argmax, EmailInput, Inputs, Outputs};
use crate::models::trend::TrendInput;
use crate::models::{LoadedModel, Model};
use crate::package::ModelKind;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// An input tensor.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InferInput {
    /// Tensor name.
    pub name: String,
    /// Shape.
    pub shape: Vec<i64>,
    /// BYTES, FP32, FP64, INT64, INT32, ...
    pub datatype: String,
    /// Row-major data, flat or nested.
    #[schema(value_type = Vec<Object>)]
    pub data: Value,
    /// Per-input parameters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<Value>,
}

/// A requested output.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RequestedOutput {
    /// Output name.
    pub name: String,
}

/// `POST /v2/models/{name}/infer` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InferRequest {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// Request parameters (trend: horizon, season_length).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<Value>,
    /// Input tensors.
    pub inputs: Vec<InferInput>,
    /// Outputs wanted (all when absent).
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// An output tensor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutputTensor {
    /// Output name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Data type.
    pub datatype: &'static str,
    /// Row-major data.
    #[schema(value_type = Vec<Object>)]
    pub data: Value,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::Validation(m.into())
}

fn flatten(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other.clone()),
    }
}

fn elements(input: &InferInput) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    flatten(&input.data, &mut out);
    if input.shape.iter().any(|&d| d < 0) {
        return Err(bad(format!("input '{}': shape must not have negative dimensions", input.name)));
    }
    let expected: i64 = input.shape.iter().product();
    if usize::try_from(expected).ok() != Some(out.len()) {
        return Err(bad(format!(
            "input '{}': shape {:?} needs {expected} elements, data has {}",
            input.name,
            input.shape,
            out.len()
        )));
    }
    Ok(out)
}

fn strings(input: &InferInput) -> Result<Vec<String>, ApiError> {
    elements(input)?
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            Value::Number(n) if input.datatype != "BYTES" => Ok(n.to_string()),
            other => Err(bad(format!("input '{}': expected {} elements, got {other}", input.name, input.datatype))),
        })
        .collect()
}

fn numbers(input: &InferInput) -> Result<Vec<f64>, ApiError> {
    if !matches!(
        input.datatype.as_str(),
        "FP32" | "FP64" | "FP16" | "INT8" | "INT16" | "INT32" | "INT64" | "UINT8" | "UINT16" | "UINT32" | "UINT64"
    ) {
        return Err(bad(format!("input '{}': datatype {} is not numeric", input.name, input.datatype)));
    }
    elements(input)?
        .into_iter()
        .map(|v| v.as_f64().ok_or_else(|| bad(format!("input '{}': {v} is not a number", input.name))))
        .collect()
}

fn find<'a>(req: &'a InferRequest, name: &str) -> Option<&'a InferInput> {
    req.inputs.iter().find(|i| i.name == name)
}

fn need<'a>(req: &'a InferRequest, name: &str) -> Result<&'a InferInput, ApiError> {
    find(req, name).ok_or_else(|| {
        let got: Vec<&str> = req.inputs.iter().map(|i| i.name.as_str()).collect();
        bad(format!("missing input tensor '{name}' (got {got:?})"))
    })
}

fn param(req: &InferRequest, name: &str) -> Result<Option<usize>, ApiError> {
    if let Some(t) = find(req, name) {
        let v = numbers(t)?;
        return match v.as_slice() {
            [x] if *x >= 0.0 && x.fract() == 0.0 => Ok(Some(*x as usize)),
            _ => Err(bad(format!("input '{name}' must hold one non-negative integer"))),
        };
    }
    match req.parameters.as_ref().and_then(|p| p.get(name)) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|x| Some(x as usize))
            .ok_or_else(|| bad(format!("parameter '{name}' must be a non-negative integer"))),
    }
}

/// Tensors -> model inputs, per kind.
fn decode(kind: ModelKind, req: &InferRequest) -> Result<Inputs, ApiError> {
    Ok(match kind {
        ModelKind::Sentiment | ModelKind::Topic => {
            let t = find(req, "text")
                .or_else(|| (req.inputs.len() == 1).then(|| &req.inputs[0]))
                .ok_or_else(|| bad("missing input tensor 'text' (BYTES)"))?;
            Inputs::Text(strings(t)?)
        }
        ModelKind::Email => {
            let body = strings(need(req, "body")?)?;
            let subject = match find(req, "subject") {
                Some(s) => strings(s)?,
                None => vec![String::new(); body.len()],
            };
            if subject.len() != body.len() {
                return Err(bad(format!("'subject' has {} elements, 'body' has {}", subject.len(), body.len())));
            }
            Inputs::Email(subject.into_iter().zip(body).map(|(subject, body)| EmailInput { subject, body }).collect())
        }
        ModelKind::Recsys => {
            let users = strings(need(req, "user_id")?)?;
            let items = strings(need(req, "item_id")?)?;
            if users.len() != items.len() {
                return Err(bad(format!("'user_id' has {} elements, 'item_id' has {}", users.len(), items.len())));
            }
            Inputs::Rating(users.into_iter().zip(items).collect())
        }
        ModelKind::Trend => {
            let values = numbers(need(req, "values")?)?;
            let horizon = param(req, "horizon")?
                .ok_or_else(|| bad("missing 'horizon' (an INT64 input tensor or a request parameter)"))?;
            Inputs::Trend(vec![TrendInput { values, horizon, season_length: param(req, "season_length")? }])
        }
    })
}

fn tensor(name: &str, shape: Vec<usize>, datatype: &'static str, data: Value) -> OutputTensor {
    OutputTensor { name: name.to_string(), shape, datatype, data }
}

fn encode(model: &LoadedModel, outputs: Outputs) -> Vec<OutputTensor> {
    match outputs {
        Outputs::Probabilities(rows) => {
            let labels = match &model.model {
                Model::Text(m) => m.labels.clone(),
                _ => vec![],
            };
            let n = rows.len();
            let best: Vec<(usize, f32)> = rows.iter().map(|r| argmax(r).unwrap_or((0, 0.0))).collect();
            let label: Vec<String> = best.iter().map(|(i, _)| labels.get(*i).cloned().unwrap_or_default()).collect();
            let mut out = vec![
                tensor("label", vec![n], "BYTES", json!(label)),
                tensor("confidence", vec![n], "FP32", json!(best.iter().map(|b| b.1).collect::<Vec<_>>())),
                tensor("probabilities", vec![n, labels.len()], "FP32", json!(rows.concat())),
            ];
            if model.meta.kind == ModelKind::Email {
                let spam = labels.iter().position(|l| l == "spam").unwrap_or(1);
                out.push(tensor(
                    "spam_probability",
                    vec![n],
                    "FP32",
                    json!(rows.iter().map(|r| r.get(spam).copied().unwrap_or(0.0)).collect::<Vec<_>>()),
                ));
            }
            out
        }
        Outputs::Ratings(rows) => {
            let n = rows.len();
            vec![
                tensor("rating", vec![n], "FP32", json!(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                tensor("cold_start", vec![n], "BYTES", json!(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())),
            ]
        }
        Outputs::Trends(rows) => {
            let Some(t) = rows.into_iter().next() else {
                return vec![];
            };
            let h = t.forecast.len();
            vec![
                tensor("forecast", vec![1, h], "FP64", json!(t.forecast)),
                tensor("slope", vec![1], "FP64", json!([t.analysis.slope])),
                tensor("p_value", vec![1], "FP64", json!([t.analysis.p_value])),
                tensor("direction", vec![1], "BYTES", json!([t.analysis.direction])),
                tensor("season_length", vec![1], "INT64", json!([t.season_length])),
                tensor(
                    "anomaly_indices",
                    vec![t.analysis.anomalies.len()],
                    "INT64",
                    json!(t.analysis.anomalies.iter().map(|a| a.index).collect::<Vec<_>>()),
                ),
            ]
        }
        Outputs::Recommendations(..) => vec![],
    }
}

/// Input and output tensor descriptions per kind, for model metadata.
fn signature(kind: ModelKind, labels: usize) -> (Value, Value) {
    let t = |name: &str, dt: &str, shape: Value| json!({"name": name, "datatype": dt, "shape": shape});
    match kind {
        ModelKind::Sentiment | ModelKind::Topic => (
            json!([t("text", "BYTES", json!([-1]))]),
            json!([
                t("label", "BYTES", json!([-1])),
                t("confidence", "FP32", json!([-1])),
                t("probabilities", "FP32", json!([-1, labels]))
            ]),
        ),
        ModelKind::Email => (
            json!([t("subject", "BYTES", json!([-1])), t("body", "BYTES", json!([-1]))]),
            json!([
                t("label", "BYTES", json!([-1])),
                t("spam_probability", "FP32", json!([-1])),
                t("probabilities", "FP32", json!([-1, labels]))
            ]),
        ),
        ModelKind::Recsys => (
            json!([t("user_id", "BYTES", json!([-1])), t("item_id", "BYTES", json!([-1]))]),
            json!([t("rating", "FP32", json!([-1])), t("cold_start", "BYTES", json!([-1]))]),
        ),
        ModelKind::Trend => (
            json!([
                t("values", "FP64", json!([-1])),
                t("horizon", "INT64", json!([1])),
                t("season_length", "INT64", json!([1]))
            ]),
            json!([
                t("forecast", "FP64", json!([1, -1])),
                t("slope", "FP64", json!([1])),
                t("p_value", "FP64", json!([1])),
                t("direction", "BYTES", json!([1]))
            ]),
        ),
    }
}

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
    let (inputs, outputs) = signature(m.meta.kind, m.meta.labels.len());
    Ok(Json(json!({
        "name": m.meta.name, "versions": [m.meta.version], "platform": "onnx_tract",
        "inputs": inputs, "outputs": outputs,
        "parameters": {"kind": m.meta.kind, "sha256": m.meta.sha256, "source": m.source, "labels": m.meta.labels},
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
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"name": name, "ready": false, "error": "model is not loaded", "type": "not_ready"})),
        )
            .into_response(),
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

async fn run_infer(
    state: AppState,
    name: String,
    version: Option<String>,
    req: InferRequest,
) -> Result<Json<Value>, ApiError> {
    let model = loaded(&state, &name, version.as_deref()).await?;
    let inputs = decode(model.meta.kind, &req)?;
    let outputs = inference::run(model.clone(), inputs, state.limits).await?;
    let mut tensors = encode(&model, outputs);
    if let Some(wanted) = &req.outputs {
        for w in wanted {
            if !tensors.iter().any(|t| t.name == w.name) {
                return Err(bad(format!("unknown output '{}'", w.name)));
            }
        }
        tensors.retain(|t| wanted.iter().any(|w| w.name == t.name));
    }
    let mut out = json!({"model_name": model.meta.name, "model_version": model.meta.version, "outputs": tensors});
    if let Some(id) = req.id {
        out["id"] = json!(id);
    }
    Ok(Json(out))
}

/// Inference with JSON tensors.
#[utoipa::path(post, path = "/v2/models/{name}/infer", tag = "v2", params(("name" = String, Path)), request_body = InferRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    OipJson(req): OipJson<InferRequest>,
) -> Result<Json<Value>, ApiError> {
    run_infer(state, name, None, req).await
}

/// Inference against one version.
pub async fn infer_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    OipJson(req): OipJson<InferRequest>,
) -> Result<Json<Value>, ApiError> {
    run_infer(state, name, Some(version), req).await
}
