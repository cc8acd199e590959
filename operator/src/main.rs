//! `inferwatch-operator`: runs the ModelService controller with leader election, its own
//! metrics and health endpoints, JSON logs, and a graceful shutdown on SIGTERM.

use clap::Parser;
use inferwatch_monitoring::logging::{self, LogFormat};
use inferwatch_operator::controller::{self, Context};
use inferwatch_operator::http::{self, Health};
use inferwatch_operator::leader::{LeaseLock, Timing};
use inferwatch_operator::meta::{self, Decoration, MetaError};
use inferwatch_operator::metrics::Metrics;
use inferwatch_operator::render::OperatorConfig;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// The Inferwatch operator: turns ModelService resources into monitored inference servers.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Inference server image for ModelServices that do not set spec.image.
    #[arg(long, env = "INFERWATCH_SERVER_IMAGE", default_value_t = OperatorConfig::default().image)]
    server_image: String,
    /// Base URL of the runbooks linked from alerts.
    #[arg(long, env = "INFERWATCH_RUNBOOK_BASE", default_value_t = OperatorConfig::default().runbook_base)]
    runbook_base: String,
    /// Base URL of Grafana, for alerts' dashboard links.
    #[arg(long, env = "INFERWATCH_GRAFANA_URL", default_value_t = OperatorConfig::default().grafana_url)]
    grafana_url: String,
    /// Labels on every ServiceMonitor, PrometheusRule and dashboard ConfigMap the operator
    /// renders, as a JSON object (the chart's `monitoring.labels`). kube-prometheus-stack's
    /// Prometheus selects by `{"release":"<its release name>"}`.
    #[arg(long, env = "INFERWATCH_MONITORING_LABELS", default_value = "{}", value_parser = monitoring_labels)]
    monitoring_labels: BTreeMap<String, String>,
    /// Annotations on the same objects, as a JSON object (the chart's `monitoring.annotations`).
    #[arg(long, env = "INFERWATCH_MONITORING_ANNOTATIONS", default_value = "{}", value_parser = monitoring_annotations)]
    monitoring_annotations: BTreeMap<String, String>,
    /// Give every ModelService that does not set `spec.networkPolicy.enabled` a NetworkPolicy
    /// (the chart's `networkPolicy.enabledByDefault`).
    #[arg(long, env = "INFERWATCH_NETWORK_POLICY_DEFAULT", default_value_t = false, action = clap::ArgAction::Set)]
    network_policy_default: bool,
    /// Namespaces Prometheus scrapes from, comma-separated, admitted by NetworkPolicies that do
    /// not name their own (`spec.networkPolicy.metricsNamespaces`).
    #[arg(long, env = "INFERWATCH_PROMETHEUS_NAMESPACES", default_value = "monitoring", value_delimiter = ',')]
    prometheus_namespaces: Vec<String>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "INFERWATCH_HTTP_ADDR", default_value = "0.0.0.0:8081")]
    http_addr: SocketAddr,
    /// Elect a leader through a Lease (turn off only when exactly one replica runs).
    #[arg(long, env = "INFERWATCH_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "INFERWATCH_LEASE_NAME", default_value = "inferwatch-operator")]
    lease_name: String,
    /// Namespace of the leader Lease (normally the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "inferwatch-system")]
    lease_namespace: String,
    /// This replica's identity in the Lease and in Events (normally the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds between two reconciles of an unchanged ModelService (the resync that puts back
    /// edits no watch saw).
    #[arg(long, env = "INFERWATCH_RESYNC_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(5..=86_400))]
    resync_seconds: u64,
    /// ModelServices reconciled at once at most (each reconcile mostly waits on the API server).
    #[arg(long, env = "INFERWATCH_MAX_CONCURRENT_RECONCILES", default_value_t = controller::CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
    max_concurrent_reconciles: u16,
    /// Log format.
    #[arg(long, env = "INFERWATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
    /// Log filter (tracing env-filter syntax).
    #[arg(long, env = "INFERWATCH_LOG", default_value = "info")]
    log: String,
}

fn monitoring_labels(json: &str) -> Result<BTreeMap<String, String>, MetaError> {
    let labels = meta::parse_map("--monitoring-labels", json)?;
    meta::check_labels("--monitoring-labels", &labels)?;
    Ok(labels)
}

fn monitoring_annotations(json: &str) -> Result<BTreeMap<String, String>, MetaError> {
    let annotations = meta::parse_map("--monitoring-annotations", json)?;
    meta::check_annotations("--monitoring-annotations", &annotations)?;
    Ok(annotations)
}

async fn terminate_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    logging::init(args.log_format, &args.log);
    let identity = args.identity.clone().unwrap_or_else(|| format!("inferwatch-operator-{}", std::process::id()));
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));

    let listener = tokio::net::TcpListener::bind(args.http_addr).await?;
    tracing::info!(addr = %args.http_addr, identity, "operator endpoints listening");
    let health = Health { metrics: metrics.clone(), ready: ready.clone() };
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, http::router(health)).await {
            tracing::error!(error = %e, "operator endpoints stopped");
        }
    });

    // A user agent of our own, so the API server's audit log and metrics can tell our requests.
    let mut kube_config = kube::Config::infer().await?;
    kube_config.headers.push((
        ::http::header::USER_AGENT,
        ::http::HeaderValue::from_static(concat!("inferwatch-operator/", env!("CARGO_PKG_VERSION"))),
    ));
    let client = Client::try_from(kube_config)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        terminate_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    ready.store(true, Ordering::Relaxed);

    let lock = args.leader_elect.then(|| {
        let api: Api<Lease> = Api::namespaced(client.clone(), &args.lease_namespace);
        LeaseLock::new(api, args.lease_name.clone(), identity.clone(), Timing::default())
    });
    let mut leading_since = tokio::time::Instant::now();
    if let Some(lock) = &lock {
        tracing::info!(lease = %args.lease_name, namespace = %args.lease_namespace, "waiting for leadership");
        tokio::select! {
            since = lock.acquire() => leading_since = since,
            _ = stopped(stop_rx.clone()) => return Ok(()),
        }
        tracing::info!("leading");
    }
    metrics.set_leader(true);

    let config = OperatorConfig {
        image: args.server_image,
        runbook_base: args.runbook_base,
        grafana_url: args.grafana_url,
        monitoring: Decoration { labels: args.monitoring_labels, annotations: args.monitoring_annotations },
        network_policy_default: args.network_policy_default,
        prometheus_namespaces: args.prometheus_namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
    };
    let ctx = Arc::new(
        Context::new(client, config, metrics.clone(), Some(identity))
            .with_resync(std::time::Duration::from_secs(args.resync_seconds))
            .with_concurrency(args.max_concurrent_reconciles),
    );
    let (lost_tx, lost_rx) = watch::channel(false);
    let shutdown = {
        let (stop, lost) = (stop_rx.clone(), lost_rx.clone());
        async move {
            tokio::select! {
                _ = stopped(stop) => {},
                _ = stopped(lost) => {},
            }
        }
    };
    let controller = controller::run(ctx, args.namespace.as_deref(), shutdown);
    match &lock {
        Some(lock) => {
            tokio::select! {
                _ = controller => {},
                _ = lock.hold(leading_since) => {
                    let _ = lost_tx.send(true);
                    metrics.set_leader(false);
                    anyhow::bail!("lost the leader lease; exiting so a fresh start rejoins the election");
                }
            }
            lock.release().await;
        }
        None => controller.await,
    }
    tracing::info!("stopped");
    Ok(())
}
