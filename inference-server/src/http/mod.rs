//! HTTP: the router, shared state and the request middleware (metrics, limits, timeout).

pub mod jobs;
pub mod limit;
pub mod observe;
pub mod ops;
pub mod v1;
pub mod v2;

use crate::error::ApiError;
use crate::inference::Limits;
use crate::metrics::Metrics;
use crate::model_manager::ModelManager;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Everything a handler needs, shared behind one `Arc` ([`AppState`]): axum clones the state
/// for every extractor and middleware of every request, and one reference count is cheaper
/// than a dozen.
#[derive(Debug)]
pub struct ServerState {
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
    /// The batch queue, when enabled (`--redis-url`).
    pub queue: Option<Arc<crate::jobs::Queue>>,
    /// The S3 model store, when the models come from one.
    pub storage: Option<Arc<crate::s3_store::S3Store>>,
    /// The MLflow registry, when the model comes from one.
    pub registry: Option<Arc<crate::mlflow_store::MlflowStore>>,
}

/// The handlers' state.
pub type AppState = Arc<ServerState>;

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
                serde_json::error::Category::Data => {
                    ApiError::Validation(format!("invalid request at {path}: {inner}"))
                }
                _ => ApiError::InvalidJson(inner.to_string()),
            }
        })?;
        de.end().map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        Ok(Self(value))
    }
}

/// The body limit, for the 413 message; set on inference requests by [`limit::LimitLayer`].
#[derive(Clone, Copy)]
struct BodyLimit(usize);

async fn fallback(req: Request) -> ApiError {
    ApiError::RouteNotFound(format!("{} {}", req.method(), req.uri().path()))
}

/// Wrap a route's handler with its metrics (when metrics are on).
fn observed(
    state: &AppState,
    route: &'static str,
    method: &'static str,
    handler: axum::routing::MethodRouter<AppState>,
) -> axum::routing::MethodRouter<AppState> {
    if state.record_metrics {
        handler.layer(observe::ObserveLayer(Arc::new(observe::RouteMetrics::new(&state.metrics, route, method))))
    } else {
        handler
    }
}

/// The full application.
pub fn router(state: AppState) -> Router {
    let s = &state;
    // The limit sits inside the metrics layer, so 429 and 504 answers are counted too.
    let limited = |h: axum::routing::MethodRouter<AppState>| h.layer(limit::LimitLayer(state.clone()));
    let post_routes: [(&'static str, axum::routing::MethodRouter<AppState>); 5] = [
        ("/v1/models/{name}/jobs", limited(post(jobs::submit))),
        ("/v1/models/{name}/predict", limited(post(v1::predict))),
        ("/v1/models/{name}/recommend", limited(post(v1::recommend))),
        ("/v2/models/{name}/infer", limited(post(v2::infer))),
        ("/v2/models/{name}/versions/{version}/infer", limited(post(v2::infer_version))),
    ];
    let get_routes: [(&'static str, axum::routing::MethodRouter<AppState>); 16] = [
        ("/mlflow/health", get(ops::mlflow_health)),
        ("/storage/health", get(ops::storage_health)),
        ("/v1/jobs/{id}", get(jobs::status)),
        ("/health", get(ops::health)),
        ("/ready", get(ops::ready)),
        ("/metrics", get(ops::metrics)),
        ("/openapi.json", get(ops::openapi)),
        ("/v1/models", get(v1::list)),
        ("/v1/models/{name}", get(v1::describe)),
        ("/v2", get(v2::server_metadata)),
        ("/v2/health/live", get(v2::live)),
        ("/v2/health/ready", get(v2::ready)),
        ("/v2/models/{name}", get(v2::model_metadata)),
        ("/v2/models/{name}/ready", get(v2::model_ready)),
        ("/v2/models/{name}/versions/{version}", get(v2::model_metadata_version)),
        ("/v2/models/{name}/versions/{version}/ready", get(v2::model_ready_version)),
    ];
    let mut app = Router::new();
    for (path, handler) in get_routes {
        app = app.route(path, observed(s, path, "GET", handler));
    }
    for (path, handler) in post_routes {
        app = app.route(path, observed(s, path, "POST", handler));
    }
    app.fallback(observed(s, "unmatched", "ANY", axum::routing::any(fallback)))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}
