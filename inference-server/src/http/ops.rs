//! Operational routes: liveness, readiness, metrics, OpenAPI.

use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// How long one check of the model store answers `/storage/health` and `/mlflow/health`.
pub const HEALTH_CACHE: std::time::Duration = std::time::Duration::from_secs(2);

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = Object)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200 only when every configured model is loaded and answered its warm-up
/// inference; otherwise 503 saying which are missing and why. Dependencies are reported, and
/// never make a pod with its models loaded unready: an outage of a shared dependency would
/// otherwise take every replica out of the Service at once.
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
    if let Some(name) = state.store.dependency() {
        dependencies
            .insert(name.into(), json!({"up": state.store.is_up(), "required": true, "needed_now": needed_now}));
    }
    // The batch queue is required for batch jobs only: with Redis down the job routes answer
    // 503 and the outage pages, but the pod stays in the Service so single predictions go on.
    if let Some(q) = &state.queue {
        dependencies.insert("queue".into(), json!({"up": q.is_up(), "required": true, "needed_for": "batch jobs"}));
    }
    let ready = problems.is_empty();
    let mut detail = serde_json::Map::new();
    detail.insert("ready".into(), ready.into());
    detail.insert("models".into(), json!(status));
    detail.insert("dependencies".into(), dependencies.into());
    if ready {
        (StatusCode::OK, Json(detail)).into_response()
    } else {
        ApiError::NotReady { message: problems.join("; "), detail }.into_response()
    }
}

/// One dependency's health answer: 200 `"disabled"` when the store is not that dependency;
/// otherwise 200 when healthy, 503 when not, with the store's report (checked at most once
/// per [`HEALTH_CACHE`], credentials redacted) as the body.
async fn store_health(state: &AppState, dependency: &str) -> Response {
    let health = match state.store.dependency() {
        Some(d) if d == dependency => state.store_health.get(state.store.as_ref()).await,
        _ => None,
    };
    match health {
        None => (StatusCode::OK, Json(json!({"status": "disabled"}))).into_response(),
        Some(h) if h.healthy => (StatusCode::OK, Json(h.report)).into_response(),
        Some(h) => (StatusCode::SERVICE_UNAVAILABLE, Json(h.report)).into_response(),
    }
}

/// The model store: 200 when it is reachable and the bucket readable, 503 otherwise (with
/// why), 200 with `"disabled"` when models do not come from S3.
#[utoipa::path(get, path = "/storage/health", tag = "ops", responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn storage_health(State(state): State<AppState>) -> Response {
    store_health(&state, "storage").await
}

/// The MLflow registry: 200 when the tracking server answers, 503 otherwise (with why, and
/// the version last resolved), 200 with `"disabled"` when the model does not come from MLflow.
#[utoipa::path(get, path = "/mlflow/health", tag = "ops", responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn mlflow_health(State(state): State<AppState>) -> Response {
    store_health(&state, "registry").await
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
