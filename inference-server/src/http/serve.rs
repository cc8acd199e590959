//! Accepting client connections, with the limits a server exposed to the internet needs and
//! `axum::serve` does not set: a cap on open connections (one more is closed at accept), and a
//! header-read timeout that also ends idle keep-alive connections (hyper's, with a timer,
//! which `axum::serve` does not give hyper). The request body is read inside each route's
//! request timeout (`limit`), so a slow body ends in a 504, not a held permit. Both limits are
//! counted (`inferwatch_http_connections_closed_total{reason}`), and open connections are a
//! gauge.
//!
//! On shutdown the listener stops, idle connections close at once, and connections with a
//! request in flight finish it (HTTP/1 graceful shutdown) before the function returns, up to
//! the drain deadline: past it the connections still open (a client stalled in its headers or
//! body, an answer that outlives the deadline) are closed, so what runs after the drain (the
//! batch workers' stop, the prediction-record flush) still ends before the pod's SIGKILL.

use crate::telemetry::Metrics;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::Service;

/// The connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// Time to send a request's headers, from the connection's start or the previous answer.
    pub header_read_timeout: Duration,
    /// Longest wait for open connections once shutdown begins; the rest are then closed.
    pub drain_timeout: Duration,
}

/// Why a connection was closed by the server, as the metric's `reason` label.
fn close_reason(e: &hyper::Error) -> Option<&'static str> {
    if e.is_timeout() {
        Some("timeout")
    } else if e.is_parse() || e.is_parse_too_large() {
        Some("error")
    } else {
        None
    }
}

/// Serve `app` on `listener` until `shutdown` completes, then drain (at most
/// `limits.drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(Stop::No);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.connections_closed.with(&["limit"]).inc();
            drop(stream);
            continue;
        };
        tokio::spawn(connection(
            stream,
            app.clone(),
            limits.header_read_timeout,
            metrics.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(Stop::Drain);
    // Every connection holds a permit until it is closed: all of them back means all closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain_timeout, permits.acquire_many(all)).await.is_err() {
        let open = limits.max_connections.saturating_sub(permits.available_permits());
        tracing::warn!(
            open,
            drain_timeout_ms = limits.drain_timeout.as_millis() as u64,
            "drain deadline passed; closing the connections still open"
        );
        let _ = stop_tx.send(Stop::Close);
        let _ = permits.acquire_many(all).await;
    }
}

/// What the connections are told once the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stop {
    /// Serving.
    No,
    /// Finish the request in flight, then close.
    Drain,
    /// Close now (the drain deadline passed).
    Close,
}

/// Completes once the server's stop has reached `at` (or the sender is gone).
async fn stopping(stop: &mut watch::Receiver<Stop>, at: Stop) {
    loop {
        if *stop.borrow_and_update() >= at {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn connection(
    stream: TcpStream,
    app: Router,
    header_read_timeout: Duration,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<Stop>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    metrics.connections_open.inc();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| app.clone().call(req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopping(&mut stop, Stop::Drain) => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                r = conn.as_mut() => r,
                // Dropping the connection closes its socket.
                () = stopping(&mut stop, Stop::Close) => {
                    metrics.connections_closed.with(&["shutdown"]).inc();
                    Ok(())
                }
            }
        }
    };
    metrics.connections_open.dec();
    if let Err(e) = result {
        match close_reason(&e) {
            Some(reason) => {
                metrics.connections_closed.with(&[reason]).inc();
                tracing::debug!(reason, error = %e, "connection closed");
            }
            None => tracing::debug!(error = %e, "connection ended"),
        }
    }
}
