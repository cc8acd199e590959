//! The controller loop: watch ModelServices and the objects they own, and for each one
//! render → apply → observe → status. Errors back off per object (exponential, capped) and are
//! reported as Kubernetes Events and metrics.

use crate::apply::{self, Outcome, Owner, Slot, FIELD_MANAGER};
use crate::cache::{self, Cached, OwnedCaches};
use crate::crd::ModelService;
use crate::crds::{self, MonitoringCrds};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::render::{render, OperatorConfig};
use crate::status::{desired_status, needs_write, Observed};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{self as runtime, Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often a healthy ModelService is looked at again without any change (drift of objects the
/// operator does not watch, such as ServiceMonitors).
pub const RESYNC: Duration = Duration::from_secs(300);
/// How many ModelServices are reconciled at once, by default.
pub const CONCURRENCY: u16 = 16;
/// The label every owned object carries; the owned-object watches select on it.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by=inferwatch-operator";

/// The delay before retrying after the `failures`-th consecutive failure: 5 s doubling, at
/// most 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    Duration::from_secs(5u64.saturating_mul(1 << exp)).min(Duration::from_secs(300))
}

/// What every reconcile shares.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Operator-wide settings for `render`.
    pub config: OperatorConfig,
    /// Event recorder.
    pub recorder: Recorder,
    /// The operator's metrics.
    pub metrics: Arc<Metrics>,
    /// Time between two reconciles of an unchanged resource ([`RESYNC`] by default).
    pub resync: Duration,
    /// Reconciles running at once at most ([`CONCURRENCY`] by default).
    pub concurrency: u16,
    /// The owned-object watch caches, once [`run`] has started them (before, and in tests that
    /// call [`reconcile`] directly, every owned object is read from the API server).
    caches: OnceLock<OwnedCaches>,
    /// Whether the prometheus-operator CRDs are served, as the poller last saw it (unknown
    /// before its first answer: then each reconcile asks discovery itself).
    monitoring_crds: Arc<MonitoringCrds>,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context that reports events as `inferwatch-operator` from `instance`.
    pub fn new(client: Client, config: OperatorConfig, metrics: Arc<Metrics>, instance: Option<String>) -> Self {
        let reporter = Reporter { controller: FIELD_MANAGER.into(), instance };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            metrics,
            resync: RESYNC,
            concurrency: CONCURRENCY,
            caches: OnceLock::new(),
            monitoring_crds: Arc::default(),
            failures: Mutex::default(),
        }
    }

    /// The same context with another reconcile concurrency (at least 1).
    pub fn with_concurrency(mut self, concurrency: u16) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Whether the prometheus-operator CRDs are served: the poller's answer, or one discovery
    /// call while it has none yet.
    async fn monitoring_crds(&self) -> Result<bool, Error> {
        match self.monitoring_crds.known() {
            Some(served) => Ok(served),
            None => crds::served(&self.client).await,
        }
    }

    /// The same context with another resync interval.
    pub fn with_resync(mut self, resync: Duration) -> Self {
        self.resync = resync;
        self
    }

    /// Drop the per-resource state (failure count, managed-object gauge) of every ModelService
    /// that is not in `live`.
    pub fn forget_missing(&self, live: &HashSet<String>) {
        if let Ok(mut f) = self.failures.lock() {
            f.retain(|k, _| live.contains(k));
        }
        self.metrics.forget_except(live);
    }

    fn note_failure(&self, key: &str) -> u32 {
        let Ok(mut f) = self.failures.lock() else { return 1 };
        let n = f.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        *n
    }

    fn clear_failures(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }

    async fn event(&self, ms: &ModelService, type_: EventType, reason: &str, action: &str, note: String) {
        let ev = Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
        match self.recorder.publish(&ev, &ms.object_ref(&())).await {
            Ok(()) => self.metrics.wrote("event", "Event"),
            Err(e) => tracing::warn!(error = %e, reason, "cannot publish event"),
        }
    }
}

fn key(ms: &ModelService) -> String {
    format!("{}/{}", ms.namespace().unwrap_or_default(), ms.name_any())
}

/// Reconcile one ModelService.
pub async fn reconcile(ms: Arc<ModelService>, ctx: Arc<Context>) -> Result<Action, Error> {
    let start = Instant::now();
    let result = reconcile_once(&ms, &ctx).await;
    ctx.metrics.reconciled(start.elapsed().as_secs_f64(), result.as_ref().err().map(Error::reason));
    match &result {
        Ok(_) => ctx.clear_failures(&key(&ms)),
        Err(e) => {
            tracing::warn!(modelservice = %key(&ms), reason = e.reason(), error = %e, "reconcile failed");
            ctx.event(&ms, EventType::Warning, e.reason(), "Reconcile", e.to_string()).await;
        }
    }
    result
}

/// After a failed reconcile: retry with this object's backoff.
pub fn error_policy(ms: Arc<ModelService>, _error: &Error, ctx: Arc<Context>) -> Action {
    Action::requeue(backoff(ctx.note_failure(&key(&ms))))
}

async fn reconcile_once(ms: &ModelService, ctx: &Context) -> Result<Action, Error> {
    let k = key(ms);
    if ms.meta().deletion_timestamp.is_some() {
        // Owned objects carry owner references: the garbage collector removes them.
        ctx.metrics.managed(&k, None);
        return Ok(Action::await_change());
    }
    let ns = ms.namespace().unwrap_or_default();
    let name = ms.name_any();
    let uid = ms.uid().unwrap_or_default();
    let slots = apply::desired_slots(&render(ms, &ctx.config)?)?;
    let none = OwnedCaches::none();
    let caches = ctx.caches.get().unwrap_or(&none);
    let owner = Owner { namespace: &ns, name: &name, uid: &uid };
    let applied = match ctx.monitoring_crds().await {
        Ok(monitoring_crds) => apply::apply(&ctx.client, caches, monitoring_crds, &owner, &slots).await,
        Err(e) => Err(e),
    };
    let outcome = match applied {
        Ok(o) => o,
        Err(e) => {
            write_failure_status(ms, ctx, &e).await;
            return Err(e);
        }
    };
    for kind in &outcome.applied {
        ctx.metrics.wrote("apply", kind);
    }
    for kind in &outcome.deleted {
        ctx.metrics.wrote("delete", kind);
    }
    ctx.metrics.managed(&k, Some(outcome.managed.clone()));
    announce(ms, ctx, &outcome).await;
    let observed = Observed {
        deployment: outcome.deployment.clone(),
        monitoring_crds: outcome.monitoring_crds,
        apply_error: None,
        not_owned: outcome.not_owned.clone(),
    };
    write_status(ms, ctx, &observed).await?;
    // A resource waiting for the monitoring CRDs needs no shorter requeue: the CRD poller
    // reconciles every ModelService when they appear.
    Ok(Action::requeue(ctx.resync))
}

async fn announce(ms: &ModelService, ctx: &Context, o: &Outcome) {
    if !o.applied.is_empty() {
        tracing::info!(modelservice = %key(ms), kinds = ?o.applied, "applied");
        ctx.event(ms, EventType::Normal, "Applied", "Apply", format!("applied {}", o.applied.join(", "))).await;
    }
    if !o.not_owned.is_empty() {
        tracing::warn!(modelservice = %key(ms), objects = ?o.not_owned, "objects with our names that we do not control; left untouched");
        let note =
            format!("{} exist and are not controlled by this ModelService; not taken over", o.not_owned.join(", "));
        ctx.event(ms, EventType::Warning, "ObjectNotOwned", "Apply", note).await;
    }
    if !o.deleted.is_empty() {
        tracing::info!(modelservice = %key(ms), kinds = ?o.deleted, "deleted objects the spec no longer wants");
        ctx.event(ms, EventType::Normal, "Pruned", "Delete", format!("deleted {}", o.deleted.join(", "))).await;
    }
}

async fn write_status(ms: &ModelService, ctx: &Context, observed: &Observed) -> Result<(), Error> {
    let status = desired_status(ms, observed, &Time(Timestamp::now()));
    if !needs_write(ms, &status) {
        return Ok(());
    }
    let api: Api<ModelService> = Api::namespaced(ctx.client.clone(), &ms.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "status": status });
    api.patch_status(&ms.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::Kube { action: "write ModelService status", source: e })?;
    ctx.metrics.wrote("status", "ModelService");
    Ok(())
}

/// Best effort: mark the resource Degraded with the apply error (the API server may be the
/// thing that is failing, so a failure here is only logged).
async fn write_failure_status(ms: &ModelService, ctx: &Context, error: &Error) {
    let ns = ms.namespace().unwrap_or_default();
    let deployment = match ctx.caches.get().map(|c| c.lookup(Slot::Deployment, &ns, &ms.name_any())) {
        Some(Cached::Listed(d)) => Ok(d.and_then(|v| serde_json::from_value(v).ok())),
        _ => Api::<Deployment>::namespaced(ctx.client.clone(), &ns).get_opt(&ms.name_any()).await,
    };
    let monitoring_crds = ctx.monitoring_crds().await;
    let (Ok(deployment), Ok(monitoring_crds)) = (deployment, monitoring_crds) else { return };
    let observed =
        Observed { deployment, monitoring_crds, apply_error: Some(error.to_string()), not_owned: Vec::new() };
    if let Err(e) = write_status(ms, ctx, &observed).await {
        tracing::warn!(modelservice = %key(ms), error = %e, "cannot record the failure in status");
    }
}

/// Run the controller until `shutdown` resolves (in-flight reconciles finish first).
///
/// Owned objects are watched (label-selected) into the caches reconciles read from; the
/// prometheus-operator CRDs are polled once per [`crds::POLL`] for all resources; at most
/// `ctx.concurrency` reconciles run at once.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let models: Api<ModelService> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (caches, streams) = cache::owned_caches(&client, namespace, MANAGED_BY);
    if ctx.caches.set(caches).is_err() {
        tracing::warn!("the controller was started twice on one context; the first caches stay");
    }
    let (appeared_tx, appeared_rx) = futures::channel::mpsc::unbounded();
    let poller = tokio::spawn(crds::poll(client.clone(), ctx.monitoring_crds.clone(), appeared_tx));
    let mut controller = Controller::new(models, watcher::Config::default().any_semantic())
        .with_config(runtime::Config::default().concurrency(ctx.concurrency))
        .reconcile_all_on(appeared_rx);
    for (slot, stream) in streams {
        controller = controller.owns_stream_with(stream, slot.api_resource());
    }
    let sweeper = tokio::spawn(sweep(controller.store(), ctx.clone()));
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
    sweeper.abort();
    poller.abort();
}

/// How often the state of deleted ModelServices is swept.
pub const SWEEP: Duration = Duration::from_secs(10);

/// A background deletion removes a ModelService without a reconcile that sees it go: every
/// [`SWEEP`], forget the state of the ones the watch cache no longer holds.
/// (No wait for the cache's first list: state exists only for resources a reconcile saw, and
/// those were in the cache then.)
async fn sweep(store: kube::runtime::reflector::Store<ModelService>, ctx: Arc<Context>) {
    loop {
        tokio::time::sleep(SWEEP).await;
        let live: HashSet<String> = store.state().iter().map(|ms| key(ms)).collect();
        ctx.forget_missing(&live);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_and_caps_at_five_minutes() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff(u32::MAX), Duration::from_secs(300));
    }
}
