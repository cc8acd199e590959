//! The worker pool: each worker takes one job at a time (reclaimed jobs first), runs it in
//! chunks through the same inference path as `POST /predict`, stores the outcome, then
//! acknowledges. While Redis is down the workers back off and retry; nothing is acknowledged
//! that is not stored.

use super::queue::{Queue, Taken};
use super::record::JobState;
use crate::model_manager::{ManagerError, ModelManager};
use crate::predict::{self, items, Limits, PredictError};
use crate::telemetry::Metrics;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long one read blocks in Redis waiting for a job.
const BLOCK: Duration = Duration::from_millis(1000);

/// What the workers run jobs with.
#[derive(Debug, Clone)]
pub struct Context {
    /// The loaded models.
    pub manager: Arc<ModelManager>,
    /// The metric families (job counters).
    pub metrics: Arc<Metrics>,
    /// Per-request limits: a job runs in pieces of `max_batch_items`.
    pub limits: Limits,
    /// Prediction ids and records (each job item gets an id, like a single prediction).
    pub quality: Arc<crate::quality::Quality>,
    /// The prediction log (job items get lines like request items).
    pub prediction_log: Arc<crate::logs::PredictionLog>,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("{0}")]
    Model(#[from] ManagerError),
    #[error(transparent)]
    Predict(#[from] PredictError),
    #[error("stored job inputs are not JSON: {0}")]
    Stored(String),
    #[error("cannot encode predictions: {0}")]
    Encode(String),
    #[error("taken {0} times without an outcome (its worker stopped each time)")]
    Abandoned(u32),
}

impl JobError {
    /// Whether running the job again later can succeed: the model store or registry could not
    /// deliver the model (down, unreachable), or a failed load is in its backoff. Bad items, a broken package or a model that does
    /// not exist fail the same way every time.
    fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Model(ManagerError::Store(crate::store::StoreError::Io { .. }) | ManagerError::Backoff { .. })
        )
    }
}

/// Start the pool and the queue's health/depth reporter. They stop when `stop` turns true
/// (after finishing the job in hand).
pub fn spawn(queue: Arc<Queue>, state: Context, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let in_flight = InFlight::default();
    let mut handles: Vec<JoinHandle<()>> = (0..queue.config.workers)
        .map(|n| tokio::spawn(work(n, queue.clone(), state.clone(), in_flight.clone(), stop.clone())))
        .collect();
    handles.push(tokio::spawn(report(queue, state, stop)));
    handles
}

/// Stream entries a worker of this process is running now. The workers share one consumer
/// name, so a job that runs longer than the claim idle time is pending to "us" and idle in
/// Redis's eyes: a sibling's reclaim hands it back. The sibling skips it instead of running it
/// a second time.
#[derive(Debug, Clone, Default)]
struct InFlight(Arc<Mutex<HashSet<String>>>);

/// Holds an entry in [`InFlight`] until dropped.
struct Running<'a>(&'a InFlight, String);

impl InFlight {
    /// Mark `entry` running; `None` when a sibling already runs it.
    fn take(&self, entry: &str) -> Option<Running<'_>> {
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(entry.to_string()).then(|| Running(self, entry.to_string()))
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0 .0.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.1);
    }
}

/// Refresh health, depth and the oldest job's age every second.
async fn report(queue: Arc<Queue>, state: Context, mut stop: watch::Receiver<bool>) {
    let mut group_ready = false;
    loop {
        if queue.ping().await {
            if !group_ready {
                group_ready = queue.ensure_group().await.is_ok();
            }
            if let Ok((depth, age)) = queue.depth().await {
                state.metrics.queue_depth.set(i64::try_from(depth).unwrap_or(i64::MAX));
                state.metrics.queue_oldest_age.set(age as i64);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {},
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn work(n: usize, queue: Arc<Queue>, state: Context, in_flight: InFlight, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    let mut last_reclaim = Instant::now() - queue.config.claim_idle;
    while !*stop.borrow() {
        let reclaim_due = last_reclaim.elapsed() >= queue.config.claim_idle / 2;
        let taken = if reclaim_due {
            last_reclaim = Instant::now();
            queue.reclaim().await.map(|t| (t, true))
        } else {
            queue.read_new(n, BLOCK).await.map(|t| (t, false))
        };
        match taken {
            Ok((jobs, reclaimed)) => {
                failures = 0;
                for t in jobs {
                    let Some(_running) = in_flight.take(&t.entry) else {
                        tracing::debug!(worker = n, job = %t.job, "job already running in this process; not reclaimed");
                        continue;
                    };
                    process(&queue, &state, &t, reclaimed).await;
                }
            }
            Err(e) => {
                if e.to_string().contains("NOGROUP") {
                    let _ = queue.ensure_group().await;
                }
                failures = failures.saturating_add(1);
                let wait = Duration::from_millis(200u64.saturating_mul(1 << failures.min(5)));
                tracing::warn!(worker = n, error = %e, retry_ms = wait.as_millis() as u64, "batch queue read failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {},
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }
}

/// Run one job and store its outcome. A job whose outcome is already stored (its worker died
/// between storing and acknowledging) is only acknowledged.
async fn process(queue: &Queue, state: &Context, taken: &Taken, reclaimed: bool) {
    let record = match queue.get(&taken.job).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            tracing::warn!(job = %taken.job, "job expired or missing; dropping its queue entry");
            let _ = queue.ack(taken).await;
            return;
        }
        Err(e) => {
            tracing::warn!(job = %taken.job, error = %e, "cannot read job; it stays pending");
            return;
        }
    };
    if record.state.finished() {
        let _ = queue.ack(taken).await;
        return;
    }
    if reclaimed {
        state.metrics.batch_jobs.with(&[&record.model, "reclaimed"]).inc();
        tracing::info!(job = %taken.job, model = %record.model, "reclaimed a job from a dead worker");
    }
    let start = Instant::now();
    let attempts = match queue.mark_running(&taken.job).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(job = %taken.job, error = %e, "cannot mark job running; it stays pending");
            return;
        }
    };
    let outcome = match &record.items {
        // Taken more often than allowed without an outcome: its runs stopped the worker.
        _ if attempts > queue.config.max_attempts => Err(JobError::Abandoned(attempts - 1)),
        Some(items) => run(state, &record.model, items).await,
        None => Err(JobError::Stored("the job's inputs are gone".into())),
    };
    let (job_state, results, error) = match decide(&outcome, attempts, queue.config.max_attempts) {
        Decision::Store(state) => {
            (state, outcome.as_ref().ok().map(String::as_str), outcome.as_ref().err().map(ToString::to_string))
        }
        Decision::Retry => {
            let e = outcome.as_ref().err().map(ToString::to_string).unwrap_or_default();
            tracing::warn!(job = %taken.job, attempts, error = %e, "transient failure; the job is retried after the claim idle time");
            state.metrics.batch_jobs.with(&[&record.model, "retried"]).inc();
            if let Err(e) = queue.release(&taken.job).await {
                tracing::warn!(job = %taken.job, error = %e, "cannot release the job; it stays pending");
            }
            return;
        }
        Decision::DeadLetter => {
            let last = outcome.as_ref().err().map(ToString::to_string).unwrap_or_default();
            let error = format!("given up after {attempts} attempts; last error: {last}");
            if let Err(e) = queue.dead_letter(taken, &record.model, attempts, &last).await {
                tracing::warn!(job = %taken.job, error = %e, "cannot list the job as dead; it stays pending");
                return;
            }
            state.metrics.batch_jobs.with(&[&record.model, "dead_lettered"]).inc();
            tracing::error!(job = %taken.job, model = %record.model, attempts, error = %last, "job dead-lettered");
            (JobState::Failed, None, Some(error))
        }
    };
    if let Err(e) = queue.store_outcome(taken, job_state, results, error.as_deref()).await {
        tracing::warn!(job = %taken.job, error = %e, "cannot store job results; it stays pending and is redone");
        return;
    }
    state.metrics.batch_jobs.with(&[&record.model, job_state.as_str()]).inc();
    state.metrics.batch_job_duration.with(&[&record.model]).observe(start.elapsed().as_secs_f64());
    crate::logs::audit::job_finished(
        &taken.job,
        &record.model,
        record.item_count,
        job_state.as_str(),
        u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        error.as_deref(),
    );
    if let Err(e) = queue.ack(taken).await {
        // Stored but not acknowledged: a later reclaim sees the stored outcome and only acknowledges.
        tracing::warn!(job = %taken.job, error = %e, "cannot acknowledge a finished job");
    }
}

/// What to do with a job's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Store it as done or failed.
    Store(JobState),
    /// A transient failure (the model store is down): give the job back, run it again later.
    Retry,
    /// Taken too often (its worker died each time, or the failure never cleared): store it as
    /// failed and list it on the dead-letter stream.
    DeadLetter,
}

/// The outcome of the `attempts`-th run of a job: a result is stored, a permanent failure is
/// stored, a transient one is retried until `max_attempts` runs have been made.
fn decide(outcome: &Result<String, JobError>, attempts: u32, max_attempts: u32) -> Decision {
    match outcome {
        Ok(_) => Decision::Store(JobState::Done),
        Err(JobError::Abandoned(_)) => Decision::DeadLetter,
        Err(e) if e.is_transient() && attempts >= max_attempts => Decision::DeadLetter,
        Err(e) if e.is_transient() => Decision::Retry,
        Err(_) => Decision::Store(JobState::Failed),
    }
}

/// Inference over every item, in pieces of the per-request limit; the predictions as a JSON
/// array. An item at fault is named by its position in the job.
async fn run(state: &Context, model: &str, stored: &str) -> Result<String, JobError> {
    let model = state.manager.get(model).await?;
    let all = items::decode_job_items(model.meta.kind, stored, usize::MAX).map_err(|e| match e {
        items::BodyError::Syntax(m) => JobError::Stored(m),
        items::BodyError::Request(e) => JobError::Predict(e),
    })?;
    let size = state.limits.max_batch_items.max(1);
    let mut out = Vec::with_capacity(all.len());
    for (i, piece) in all.chunks(size).into_iter().enumerate() {
        let pending = state.prediction_log.begin(&piece);
        let predictions = predict::run(model.clone(), predict::Request::new(piece, true), state.limits)
            .await
            .map_err(|e| e.offset(i * size))?;
        let ids = state.quality.record(&model, &predictions);
        state.prediction_log.finish(pending, &model, &predictions, &ids, None);
        out.extend(crate::quality::Identified::pair(predictions, ids));
    }
    serde_json::to_string(&out).map_err(|e| JobError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_down() -> Result<String, JobError> {
        Err(JobError::Model(ManagerError::Store(crate::store::StoreError::Io {
            path: "s3://models/sentiment".into(),
            reason: "connection refused".into(),
        })))
    }

    #[test]
    fn transient_failures_are_retried_until_the_last_attempt_and_then_dead_lettered() {
        assert_eq!(decide(&Ok("[]".into()), 1, 3), Decision::Store(JobState::Done));
        assert_eq!(decide(&store_down(), 1, 3), Decision::Retry);
        assert_eq!(decide(&store_down(), 2, 3), Decision::Retry);
        assert_eq!(decide(&store_down(), 3, 3), Decision::DeadLetter);
    }

    #[test]
    fn permanent_failures_are_stored_at_once_and_an_abandoned_job_is_dead_lettered() {
        let bad = Err(JobError::Model(ManagerError::NotFound("nope".into())));
        assert_eq!(decide(&bad, 1, 3), Decision::Store(JobState::Failed));
        // A job whose worker died on each of its three runs is taken a fourth time: given up.
        assert_eq!(decide(&Err(JobError::Abandoned(3)), 4, 3), Decision::DeadLetter);
    }

    #[test]
    fn an_entry_runs_once_per_process_until_its_worker_is_done() {
        let f = InFlight::default();
        let first = f.take("1-0");
        assert!(first.is_some());
        assert!(f.take("1-0").is_none(), "a sibling skips it");
        assert!(f.take("2-0").is_some(), "other entries are free");
        drop(first);
        assert!(f.take("1-0").is_some(), "free again once done");
    }
}
