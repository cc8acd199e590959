//! HTTP: the router, shared state, the request middleware (metrics, limits, timeout), the
//! codecs (`v1`, `v2`, `jobs`, `ops`) and the one map from errors to statuses (`error`). No
//! file here decides anything per model kind: that is the prediction layer's job.

pub mod auth;
pub mod error;
pub mod feedback;
pub mod jobs;
pub mod limit;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod request_id;
pub mod serve;
pub mod v1;
pub mod v2;

use crate::model_manager::ModelManager;
use crate::predict::Limits;
use crate::store::ModelStore;
use crate::telemetry::Metrics;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
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
    /// Bytes of request bodies that may be read and decoded at once (permits are bytes).
    pub body_budget: Arc<Semaphore>,
    /// Its size (for error messages).
    pub body_budget_bytes: usize,
    /// Whether request metrics are recorded.
    pub record_metrics: bool,
    /// The batch queue, when enabled (`--redis-url`).
    pub queue: Option<Arc<crate::jobs::Queue>>,
    /// Where the models come from (its health answers `/storage/health` or `/mlflow/health`).
    pub store: Arc<dyn ModelStore>,
    /// The store's last health check, shared by those routes.
    pub store_health: crate::store::HealthCache,
    /// Prediction ids, records and feedback.
    pub quality: Arc<crate::quality::Quality>,
    /// The access log.
    pub access_log: Arc<crate::logs::AccessLog>,
    /// The prediction log.
    pub prediction_log: Arc<crate::logs::PredictionLog>,
    /// Bearer tokens the API routes require (`--auth-token-file`); `None`: open.
    pub auth: Option<Arc<auth::Auth>>,
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

/// The body limit, for the 413 message; set on inference requests by [`limit::LimitLayer`].
#[derive(Clone, Copy)]
pub(crate) struct BodyLimit(pub(crate) usize);

async fn fallback(req: Request) -> ApiError {
    ApiError::RouteNotFound(format!("{} {}", req.method(), req.uri().path()))
}

/// Wrap a route's handler with its metrics and access lines (when either is on).
fn observed(
    state: &AppState,
    route: &'static str,
    method: &'static str,
    handler: axum::routing::MethodRouter<AppState>,
) -> axum::routing::MethodRouter<AppState> {
    let access = state.access_log.logs(route).then(|| state.access_log.clone());
    if state.record_metrics || access.is_some() {
        let metrics = observe::RouteMetrics::new(&state.metrics, route, method, state.record_metrics, access);
        handler.layer(observe::ObserveLayer(Arc::new(metrics)))
    } else {
        handler
    }
}

/// The full application.
pub fn router(state: AppState) -> Router {
    let s = &state;
    // The limit sits inside the metrics layer, so 429 and 504 answers are counted too; the
    // token check sits outside the limit, so a request without a token takes no permit.
    let limited = |h: axum::routing::MethodRouter<AppState>| h.layer(limit::LimitLayer(state.clone()));
    // Every route but the open ones needs a token when tokens are configured.
    let api = |path: &str, h: axum::routing::MethodRouter<AppState>| match &state.auth {
        Some(a) if !auth::OPEN_ROUTES.contains(&path) => {
            h.layer(axum::middleware::from_fn_with_state(a.clone(), auth::require_token))
        }
        _ => h,
    };
    let post_routes: [(&'static str, axum::routing::MethodRouter<AppState>); 6] = [
        ("/v1/models/{name}/feedback", limited(post(feedback::submit))),
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
        ("/openapi.json", get(openapi::openapi)),
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
        app = app.route(path, observed(s, path, "GET", api(path, handler)));
    }
    for (path, handler) in post_routes {
        app = app.route(path, observed(s, path, "POST", api(path, handler)));
    }
    app.fallback(observed(s, "unmatched", "ANY", axum::routing::any(fallback)))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(axum::middleware::from_fn(request_id::echo))
        .with_state(state)
}
