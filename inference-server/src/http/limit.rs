//! The inference routes' load limits as a tower layer: a concurrency limit (429 beyond it), a
//! budget of request body bytes being read and decoded at once (429 beyond it: without it, the
//! concurrency limit times the body limit is 512 MiB of bodies in a 256 Mi pod), and a request
//! timeout (504), which also bounds how long a body may take to arrive. A plain `Service`, like
//! [`super::observe`], so a request costs no boxed service or future; the permit and the body
//! reservation are held until the response is ready or the request is dropped, and past that by
//! blocking work the request started (see [`WORK_GUARD`]).

use super::error::ApiError;
use super::{AppState, BodyLimit};
use crate::predict::WORK_GUARD;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::futures::TaskLocalFuture;

/// Applies the server's concurrency limit and request timeout to a route.
#[derive(Clone)]
pub struct LimitLayer(pub AppState);

impl<S> tower::Layer<S> for LimitLayer {
    type Service = Limit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limit { inner, state: self.0.clone() }
    }
}

/// The service [`LimitLayer`] builds.
#[derive(Clone)]
pub struct Limit<S> {
    inner: S,
    state: AppState,
}

impl<S> tower::Service<Request> for Limit<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let state = &self.state;
        req.extensions_mut().insert(BodyLimit(state.max_body_bytes));
        let refuse = |reason: &str, error: ApiError| {
            if state.record_metrics {
                state.metrics.http_rejected.with(&[reason]).inc();
            }
            LimitFuture::Refused { response: Some(error.into_response()) }
        };
        let Ok(permit) = state.permits.clone().try_acquire_owned() else {
            return refuse("overloaded", ApiError::Overloaded(state.concurrency_limit));
        };
        let reserve = body_reservation(&req, state.max_body_bytes, state.body_budget_bytes);
        let Ok(body_bytes) = state.body_budget.clone().try_acquire_many_owned(reserve) else {
            return refuse("body_memory", ApiError::BodyBudget(state.body_budget_bytes));
        };
        let guard: Arc<dyn Send + Sync> = Arc::new((permit, body_bytes));
        LimitFuture::Admitted {
            inner: tokio::time::timeout(state.timeout, WORK_GUARD.scope(guard, self.inner.call(req))),
            state: state.clone(),
        }
    }
}

/// What a request reserves of the body budget before its body is read: its `Content-Length`
/// (a larger one is refused 413 by the body limit), or the body limit when the length is not
/// announced (chunked); at least 1, at most the whole budget (`u32` units).
fn body_reservation(req: &Request, max_body: usize, budget: usize) -> u32 {
    let announced = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let bytes = announced.map_or(max_body, |n| n.min(max_body)).clamp(1, budget.max(1));
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

pin_project_lite::pin_project! {
    /// A limited request: refused at once, or admitted and running under the timeout.
    #[project = LimitProjection]
    pub enum LimitFuture<F> {
        /// Over the concurrency limit or the body budget: the 429 answer.
        Refused { response: Option<Response> },
        /// Holding a permit (in the [`WORK_GUARD`] of the request, which blocking work it
        /// starts keeps), running under the timeout.
        Admitted {
            #[pin]
            inner: tokio::time::Timeout<TaskLocalFuture<Arc<dyn Send + Sync>, F>>,
            state: AppState,
        },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for LimitFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            LimitProjection::Refused { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| ApiError::Internal("a refused request was polled again".into()).into_response()))),
            LimitProjection::Admitted { inner, state, .. } => match inner.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(answer)) => Poll::Ready(answer),
                Poll::Ready(Err(_elapsed)) => {
                    if state.record_metrics {
                        state.metrics.http_rejected.with(&["timeout"]).inc();
                    }
                    let ms = u64::try_from(state.timeout.as_millis()).unwrap_or(u64::MAX);
                    Poll::Ready(Ok(ApiError::Timeout(ms).into_response()))
                }
            },
        }
    }
}
