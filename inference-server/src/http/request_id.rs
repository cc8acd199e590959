//! The request id: the client's (`x-request-id`, or the trace id of a W3C `traceparent`), or
//! else a fresh one. It is echoed in the `x-request-id` response header, is a field of every
//! log line written while the request is served (the `request` span), and is what access,
//! prediction and job-accepted lines carry as `request_id`, so one search joins them.

use crate::quality::id::{new_ids, request_id};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::convert::Infallible;
use std::sync::Arc;
use tracing::Instrument;

/// The id of the request being served (a request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// The request id for a handler; `None` only for a router built without [`echo`].
#[derive(Debug, Clone)]
pub struct CurrentRequestId(pub Option<RequestId>);

impl CurrentRequestId {
    /// The id as text.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_ref().map(|r| &*r.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentRequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<RequestId>().cloned()))
    }
}

/// Take or make the request id, log under it and echo it.
pub async fn echo(mut req: Request, next: Next) -> Response {
    let id = match request_id(req.headers()) {
        Some(id) => id,
        // A fresh id from the prediction-id pool: no system call on most requests.
        None => match new_ids(1).ok().and_then(|mut v| v.pop()) {
            Some(id) => id,
            None => return next.run(req).await,
        },
    };
    let header = HeaderValue::from_str(&id).ok();
    let span = tracing::info_span!("request", request_id = %id);
    req.extensions_mut().insert(RequestId(id.into()));
    let mut response = next.run(req).instrument(span).await;
    if let Some(v) = header {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
