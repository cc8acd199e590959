//! The client's request id (`x-request-id`, or the trace id of a W3C `traceparent`): accepted,
//! echoed in the `x-request-id` response header, and a field of every log line written while
//! the request is served.

use crate::quality::id::request_id;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// Echo and log the request id, when the client sent one.
pub async fn echo(req: Request, next: Next) -> Response {
    let Some(id) = request_id(req.headers()) else { return next.run(req).await };
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
