//! Per-route request metrics and access lines as a tower layer: count by status, latency,
//! in-flight, and the access line of [`crate::logs::access`].
//!
//! Written as a plain `Service` rather than `axum::middleware::from_fn` because the latter
//! boxes the inner service and the future on every request; here a request costs one `Arc`
//! clone and the metric atomics. The in-flight gauge is decremented by a guard, so a request
//! whose client goes away (its future dropped) does not leave the gauge raised.

use crate::logs::AccessLog;
use crate::telemetry::sharded::Counter;
use crate::telemetry::sharded::{Gauge, Histogram};
use crate::telemetry::Metrics;
use axum::extract::Request;
use axum::response::Response;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

pub use super::request_id::RequestId;

/// Status codes that get a lock-free counter slot; others take the slow path through the family.
const COMMON_STATUSES: [u16; 12] = [200, 202, 400, 404, 413, 415, 422, 429, 500, 502, 503, 504];

/// Metric handles of one route template, resolved when the router is built, so a request
/// touches atomics instead of hashing label sets. A status's series is created the first time
/// that status is answered, never before (no zero-valued series for answers never given).
pub struct RouteMetrics {
    route: &'static str,
    method: &'static str,
    duration: Histogram,
    statuses: [OnceLock<Counter>; COMMON_STATUSES.len()],
    in_flight: Gauge,
    metrics: Arc<Metrics>,
    /// Whether the metrics are recorded (the layer may be there for the access log alone).
    record: bool,
    access: Option<Arc<AccessLog>>,
}

impl RouteMetrics {
    /// Handles for `method route`; metrics recorded when `record`, access lines written to
    /// `access` when given.
    pub fn new(
        metrics: &Arc<Metrics>,
        route: &'static str,
        method: &'static str,
        record: bool,
        access: Option<Arc<AccessLog>>,
    ) -> Self {
        Self {
            record,
            access,
            route,
            method,
            duration: metrics.http_duration.with(&[route, method]),
            statuses: Default::default(),
            in_flight: metrics.http_in_flight.clone(),
            metrics: metrics.clone(),
        }
    }

    fn count(&self, status: u16) {
        let resolve = || self.metrics.http_requests.with(&[self.route, self.method, &status.to_string()]);
        match COMMON_STATUSES.iter().position(|s| *s == status) {
            Some(slot) => self.statuses[slot].get_or_init(resolve).inc(),
            None => resolve().inc(),
        }
        if status == 413 {
            self.metrics.http_rejected.with(&["too_large"]).inc();
        }
    }
}

/// Wraps a route's service with its [`RouteMetrics`].
#[derive(Clone)]
pub struct ObserveLayer(pub Arc<RouteMetrics>);

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner, route: self.0.clone() }
    }
}

/// The service [`ObserveLayer`] builds.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    route: Arc<RouteMetrics>,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if self.route.record {
            self.route.in_flight.inc();
        }
        let request_id = match self.route.access {
            Some(_) => req.extensions().get::<RequestId>().cloned(),
            None => None,
        };
        let guard = InFlight(self.route.clone());
        ObserveFuture { inner: self.inner.call(req), guard, start: Instant::now(), request_id }
    }
}

/// Lowers the in-flight gauge when the request ends, answered or dropped.
struct InFlight(Arc<RouteMetrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.record {
            self.0.in_flight.dec();
        }
    }
}

pin_project_lite::pin_project! {
    /// A request in flight; records its status and latency when it completes.
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        guard: InFlight,
        start: Instant,
        request_id: Option<RequestId>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for ObserveFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Poll::Ready(Ok(resp)) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        let route = &this.guard.0;
        let elapsed = this.start.elapsed();
        let status = resp.status().as_u16();
        if route.record {
            route.duration.observe(elapsed.as_secs_f64());
            route.count(status);
        }
        if let Some(access) = &route.access {
            access.write(route.method, route.route, status, elapsed, this.request_id.as_ref().map(|r| &*r.0));
        }
        Poll::Ready(Ok(resp))
    }
}
