//! Operational routes: liveness, readiness, metrics, OpenAPI.

use super::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use utoipa::OpenApi;

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = Object)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200 only when every configured model is loaded and answered its warm-up
/// inference; otherwise 503 saying which are missing and why.
#[utoipa::path(get, path = "/ready", tag = "ops", responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let status = state.manager.status(&state.required_models);
    let mut problems: Vec<String> = Vec::new();
    let missing: Vec<&str> = status.iter().filter(|(_, s)| !s.loaded).map(|(n, _)| n.as_str()).collect();
    if !missing.is_empty() {
        problems.push(format!("models not ready: {}", missing.join(", ")));
    }
    let mut dependencies = serde_json::Map::new();
    // The model store and registry are required to load models, not to serve loaded ones: a
    // store outage shows here and pages (InferwatchDependencyDown), and makes /ready 503 only
    // through a configured model that is not loaded, so a blip never empties the Service.
    let needed_now = !missing.is_empty();
    if let Some(s3) = &state.storage {
        dependencies.insert("storage".into(), json!({"up": s3.is_up(), "required": true, "needed_now": needed_now}));
    }
    if let Some(r) = &state.registry {
        dependencies.insert("registry".into(), json!({"up": r.is_up(), "required": true, "needed_now": needed_now}));
    }
    if let Some(q) = &state.queue {
        let up = q.is_up();
        dependencies.insert("queue".into(), json!({"up": up, "required": true}));
        if !up {
            problems.push("required dependency down: queue (Redis)".into());
        }
    }
    if problems.is_empty() {
        (StatusCode::OK, Json(json!({"ready": true, "models": status, "dependencies": dependencies}))).into_response()
    } else {
        let body = json!({"ready": false, "error": problems.join("; "), "type": "not_ready", "models": status,
            "dependencies": dependencies});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// The model store: 200 when it is reachable and the bucket readable, 503 otherwise (with
/// why), 200 with `"disabled"` when models come from a local directory.
#[utoipa::path(get, path = "/storage/health", tag = "ops", responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn storage_health(State(state): State<AppState>) -> Response {
    let health = match &state.storage {
        Some(s3) => {
            let h = s3.health().await;
            Some((h.bucket_readable, json!(h)))
        }
        None => None,
    };
    dependency_health(health)
}

/// One dependency's health answer: `None` (not configured) is 200 `"disabled"`; otherwise
/// 200 when healthy, 503 when not, with the report as the body.
fn dependency_health(health: Option<(bool, serde_json::Value)>) -> Response {
    match health {
        None => (StatusCode::OK, Json(json!({"status": "disabled"}))).into_response(),
        Some((true, body)) => (StatusCode::OK, Json(body)).into_response(),
        Some((false, body)) => (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response(),
    }
}

/// The MLflow registry: 200 when the tracking server answers, 503 otherwise (with why, and
/// the version last resolved), 200 with `"disabled"` when the model does not come from MLflow.
#[utoipa::path(get, path = "/mlflow/health", tag = "ops", responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn mlflow_health(State(state): State<AppState>) -> Response {
    let health = match &state.registry {
        Some(r) => {
            let h = r.health().await;
            Some((h.reachable, json!(h)))
        }
        None => None,
    };
    dependency_health(health)
}

/// Prometheus metrics: OpenMetrics when the scraper asks for it (Prometheus does), else the
/// classic text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let fail = |e: std::fmt::Error| ApiError::Internal(format!("metrics encoding failed: {e}"));
    let (body, content_type) = if openmetrics {
        (state.metrics.encode().map_err(fail)?, "application/openmetrics-text; version=1.0.0; charset=utf-8")
    } else {
        (state.metrics.encode_prometheus_text().map_err(fail)?, "text/plain; version=0.0.4; charset=utf-8")
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// The OpenAPI document of this server, generated from the handlers and types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Inferwatch inference server",
        description = "Built-in models behind instrumented HTTP: per-model v1 routes, the Open Inference Protocol v2, and operational routes."
    ),
    paths(
        health,
        ready,
        storage_health,
        mlflow_health,
        metrics,
        openapi,
        crate::http::v1::predict,
        crate::http::v1::recommend,
        crate::http::v1::list,
        crate::http::v1::describe,
        crate::http::jobs::submit,
        crate::http::jobs::status,
        crate::http::v2::server_metadata,
        crate::http::v2::live,
        crate::http::v2::ready,
        crate::http::v2::model_metadata,
        crate::http::v2::model_ready,
        crate::http::v2::infer,
    ),
    components(schemas(
        crate::error::ErrorBody,
        crate::http::v1::TextInput,
        crate::http::v1::RatingInput,
        crate::http::v1::SeriesInput,
        crate::http::v1::RecommendRequest,
        crate::http::v1::Prediction,
        crate::http::v1::LabelProbability,
        crate::inference::EmailInput,
        crate::http::v2::InferRequest,
        crate::http::v2::InferInput,
        crate::http::v2::RequestedOutput,
        crate::http::v2::OutputTensor,
        crate::model_manager::ModelStatus,
    ))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
