//! The server's one HTTP error type and the one place that maps errors to HTTP status + JSON
//! body `{"error": "...", "type": "..."}`: the lower layers' errors (prediction, model
//! manager, batch queue) convert into it here.

use crate::jobs::QueueError;
use crate::model_manager::ManagerError;
use crate::predict::items::BodyError;
use crate::predict::PredictError;
use crate::quality::score::Reject;
use crate::quality::FeedbackUnavailable;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON (400).
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The JSON is well-formed but not what the endpoint takes, or a value is out of range (422).
    #[error("{0}")]
    Validation(String),
    /// Content-Type is not application/json (415).
    #[error("unsupported content type: send a JSON body ('Content-Type: application/json')")]
    UnsupportedMediaType,
    /// The body exceeds the configured limit (413).
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No model of that name (404).
    #[error("model '{0}' not found")]
    ModelNotFound(String),
    /// No such route (404).
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// The model exists but this operation does not apply to its kind (404 in OIP, 422 here).
    #[error("{0}")]
    WrongKind(String),
    /// Concurrency limit reached (429).
    #[error("server is at its concurrency limit of {0} requests; retry later")]
    Overloaded(usize),
    /// The request bodies being read already hold the body memory budget (429).
    #[error("server is reading its limit of {0} bytes of request bodies; retry later")]
    BodyBudget(usize),
    /// The request took longer than the configured timeout (504).
    #[error("request did not finish within {0} ms")]
    Timeout(u64),
    /// The model could not be loaded (503).
    #[error("{0}")]
    ModelUnavailable(String),
    /// The batch queue is not enabled on this server (404).
    #[error("the batch queue is not enabled on this server (start it with --redis-url)")]
    QueueDisabled,
    /// The batch queue's Redis cannot be reached (503); single predictions still work.
    #[error("{0}; single predictions still work, retry the job later")]
    QueueUnavailable(String),
    /// The batch queue holds its limit of unfinished jobs (429).
    #[error("{0}")]
    QueueFull(String),
    /// No job with that id, or its results expired (404).
    #[error("job '{0}' not found (unknown, or its results expired)")]
    JobNotFound(String),
    /// The server, or one model, is not ready to serve (503); `detail` joins the JSON body.
    #[error("{message}")]
    NotReady {
        /// What is missing.
        message: String,
        /// More fields of the answer (models, dependencies).
        detail: serde_json::Map<String, serde_json::Value>,
    },
    /// More items than a per-request limit allows (413).
    #[error("{0}")]
    TooManyItems(String),
    /// A feedback item names a prediction this server's store does not know (404).
    #[error("{0}; ids expire after --prediction-ttl-secs")]
    UnknownPrediction(String),
    /// Feedback for this prediction was already counted (409).
    #[error("{0}; it is counted once")]
    DuplicateFeedback(String),
    /// The prediction was made by another model (422).
    #[error("{0}")]
    ModelMismatch(String),
    /// Prediction ids are off: feedback has nothing to match (404).
    #[error("{0}")]
    FeedbackDisabled(String),
    /// The prediction store cannot be reached (503); predictions still work.
    #[error("{0}; predictions still work, retry the feedback later")]
    FeedbackStoreUnavailable(String),
    /// An API route called without a valid bearer token while `--auth-token-file` is set
    /// (401, with a `WWW-Authenticate` challenge).
    #[error("{}", if *invalid_token { "the bearer token is not valid" } else { "this route needs 'Authorization: Bearer <token>'" })]
    Unauthorized {
        /// A token was sent but is not one of the server's.
        invalid_token: bool,
    },
    /// A bug or runtime failure (500).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// Stable machine-readable kind.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Full(_) => ApiError::QueueFull(e.to_string()),
            e => ApiError::QueueUnavailable(e.to_string()),
        }
    }
}

impl ApiError {
    /// HTTP status and stable `type` string.
    pub fn status_and_kind(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::ModelNotFound(_) => (StatusCode::NOT_FOUND, "model_not_found"),
            Self::RouteNotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::WrongKind(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_for_model_kind"),
            Self::Overloaded(_) | Self::BodyBudget(_) => (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            Self::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            Self::ModelUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable"),
            Self::QueueDisabled => (StatusCode::NOT_FOUND, "queue_disabled"),
            Self::QueueUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "queue_unavailable"),
            Self::JobNotFound(_) => (StatusCode::NOT_FOUND, "job_not_found"),
            Self::QueueFull(_) => (StatusCode::TOO_MANY_REQUESTS, "queue_full"),
            Self::NotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            Self::TooManyItems(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_items"),
            Self::UnknownPrediction(_) => (StatusCode::NOT_FOUND, "unknown_prediction"),
            Self::DuplicateFeedback(_) => (StatusCode::CONFLICT, "duplicate_feedback"),
            Self::ModelMismatch(_) => (StatusCode::UNPROCESSABLE_ENTITY, "model_mismatch"),
            Self::FeedbackDisabled(_) => (StatusCode::NOT_FOUND, "feedback_disabled"),
            Self::FeedbackStoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "feedback_store_unavailable"),
            Self::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// Map an axum JSON rejection, keeping its precise message.
    pub fn from_json_rejection(r: JsonRejection, limit: usize) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(e) => Self::InvalidJson(e.body_text()),
            JsonRejection::JsonDataError(e) => Self::Validation(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge { limit },
            other => Self::InvalidJson(other.body_text()),
        }
    }
}

impl From<ManagerError> for ApiError {
    fn from(e: ManagerError) -> Self {
        match e {
            ManagerError::NotFound(name) => Self::ModelNotFound(name),
            other => Self::ModelUnavailable(other.to_string()),
        }
    }
}

impl From<PredictError> for ApiError {
    fn from(e: PredictError) -> Self {
        match e {
            PredictError::WrongKind(m) => Self::WrongKind(m),
            PredictError::Runtime(m) => Self::Internal(m),
            e @ (PredictError::Malformed { .. } | PredictError::Invalid { .. }) => Self::Validation(e.to_string()),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Syntax(m) => Self::InvalidJson(m),
            BodyError::Request(e) => e.into(),
        }
    }
}

impl From<Reject> for ApiError {
    fn from(r: Reject) -> Self {
        match r {
            Reject::Unknown(_) => Self::UnknownPrediction(r.to_string()),
            Reject::Duplicate(_) => Self::DuplicateFeedback(r.to_string()),
            Reject::ModelMismatch { .. } => Self::ModelMismatch(r.to_string()),
            Reject::Invalid(m) => Self::Validation(m),
        }
    }
}

impl From<FeedbackUnavailable> for ApiError {
    fn from(e: FeedbackUnavailable) -> Self {
        match e {
            FeedbackUnavailable::Disabled => Self::FeedbackDisabled(e.to_string()),
            FeedbackUnavailable::Store(s) => Self::FeedbackStoreUnavailable(s.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status_and_kind();
        // A server error's text can come from a dependency (a URL with credentials in it): it
        // leaves the process only through `redact`.
        let error = if status.is_server_error() {
            crate::redact::secrets(&self.to_string()).into_owned()
        } else {
            self.to_string()
        };
        // "Not ready" is a state that probes poll for while models load, not a failure.
        if status.is_server_error() && !matches!(self, Self::NotReady { .. }) {
            tracing::error!(status = status.as_u16(), kind, error = %error, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), kind, error = %error, "request rejected");
        }
        if let Self::NotReady { mut detail, .. } = self {
            detail.insert("error".into(), error.into());
            detail.insert("type".into(), kind.into());
            return (status, axum::Json(detail)).into_response();
        }
        if let Self::Unauthorized { invalid_token } = self {
            // RFC 6750 section 3: the challenge, with the error code when a token was sent.
            let challenge = if invalid_token {
                r#"Bearer realm="inferwatch", error="invalid_token""#
            } else {
                r#"Bearer realm="inferwatch""#
            };
            let headers = [(axum::http::header::WWW_AUTHENTICATE, challenge)];
            return (status, headers, axum::Json(ErrorBody { error, kind })).into_response();
        }
        (status, axum::Json(ErrorBody { error, kind })).into_response()
    }
}
