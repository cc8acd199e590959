//! HTTP: the router, shared state and the request middleware (metrics, limits, timeout).

pub mod ops;
pub mod v1;
pub mod v2;

use crate::error::ApiError;
use crate::inference::Limits;
use crate::metrics::Metrics;
use crate::model_manager::ModelManager;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Everything a handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Loaded models.
    pub manager: Arc<ModelManager>,
    /// Metric families.
    pub metrics: Arc<Metrics>,
    /// Models `/ready` waits for.
    pub required_models: Arc<Vec<String>>,
    /// Per-request limits.
    pub limits: Limits,
    /// Body limit in bytes (for error messages).
    pub max_body_bytes: usize,
    /// Request timeout.
    pub timeout: Duration,
    /// Inference concurrency permits.
    pub permits: Arc<Semaphore>,
    /// Concurrency limit (for error messages).
    pub concurrency_limit: usize,
    /// Whether request metrics are recorded.
    pub record_metrics: bool,
}

/// The JSON body extractor with our error mapping.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: axum::extract::FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(ApiError::from_json_rejection(r, limit)),
        }
    }
}

/// JSON body extractor for the Open Inference Protocol: clients such as tritonclient send JSON
/// without a `Content-Type`, so the body is parsed as JSON whatever the header says, unless it
/// uses the binary tensor extension, which is refused with a clear error.
pub struct OipJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for OipJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        if req.headers().contains_key("inference-header-content-length") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::InvalidJson(r.body_text())
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => ApiError::Validation(format!("invalid request at {path}: {inner}")),
                _ => ApiError::InvalidJson(inner.to_string()),
            }
        })?;
        de.end().map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        Ok(Self(value))
    }
}

#[derive(Clone, Copy)]
struct BodyLimit(usize);

/// Inference routes: concurrency limit (429 beyond it) and timeout (504).
async fn limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(BodyLimit(state.max_body_bytes));
    let Ok(_permit) = state.permits.clone().try_acquire_owned() else {
        if state.record_metrics {
            state.metrics.http_rejected.with(&["overloaded"]).inc();
        }
        return ApiError::Overloaded(state.concurrency_limit).into_response();
    };
    match tokio::time::timeout(state.timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            if state.record_metrics {
                state.metrics.http_rejected.with(&["timeout"]).inc();
            }
            ApiError::Timeout(u64::try_from(state.timeout.as_millis()).unwrap_or(u64::MAX)).into_response()
        }
    }
}

/// Request count, latency and in-flight gauge by route template.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let metrics = &state.metrics;
    metrics.http_in_flight.inc();
    let start = Instant::now();
    let resp = next.run(req).await;
    metrics.http_in_flight.dec();
    let status = resp.status();
    metrics.http_requests.with(&[&route, &method, status.as_str()]).inc();
    metrics.http_duration.with(&[&route, &method]).observe(start.elapsed().as_secs_f64());
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        metrics.http_rejected.with(&["too_large"]).inc();
    }
    resp
}

async fn fallback(req: Request) -> ApiError {
    ApiError::RouteNotFound(format!("{} {}", req.method(), req.uri().path()))
}

/// The full application.
pub fn router(state: AppState) -> Router {
    let inference = Router::new()
        .route("/v1/models/{name}/predict", post(v1::predict))
        .route("/v1/models/{name}/recommend", post(v1::recommend))
        .route("/v2/models/{name}/infer", post(v2::infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(v2::infer_version))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit));
    let app = Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/models", get(v1::list))
        .route("/v1/models/{name}", get(v1::describe))
        .route("/v2", get(v2::server_metadata))
        .route("/v2/health/live", get(v2::live))
        .route("/v2/health/ready", get(v2::ready))
        .route("/v2/models/{name}", get(v2::model_metadata))
        .route("/v2/models/{name}/ready", get(v2::model_ready))
        .route("/v2/models/{name}/versions/{version}", get(v2::model_metadata_version))
        .route("/v2/models/{name}/versions/{version}/ready", get(v2::model_ready_version))
        .merge(inference)
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    let app =
        if state.record_metrics { app.layer(middleware::from_fn_with_state(state.clone(), observe)) } else { app };
    app.with_state(state)
}
