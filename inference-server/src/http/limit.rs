//! The inference routes' load limits as a tower layer: a concurrency limit (429 beyond it) and
//! a request timeout (504). A plain `Service`, like [`super::observe`], so a request costs no
//! boxed service or future; the permit is held until the response is ready or the request is
//! dropped.

use super::error::ApiError;
use super::{AppState, BodyLimit};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::OwnedSemaphorePermit;

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
        let Ok(permit) = state.permits.clone().try_acquire_owned() else {
            if state.record_metrics {
                state.metrics.http_rejected.with(&["overloaded"]).inc();
            }
            return LimitFuture::Refused {
                response: Some(ApiError::Overloaded(state.concurrency_limit).into_response()),
            };
        };
        LimitFuture::Admitted {
            inner: tokio::time::timeout(state.timeout, self.inner.call(req)),
            _permit: permit,
            state: state.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A limited request: refused at once, or admitted and running under the timeout.
    #[project = LimitProjection]
    pub enum LimitFuture<F> {
        /// Over the concurrency limit: the 429 answer.
        Refused { response: Option<Response> },
        /// Holding a permit, running under the timeout.
        Admitted {
            #[pin]
            inner: tokio::time::Timeout<F>,
            _permit: OwnedSemaphorePermit,
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
