//! Dynamic batching for the text classifiers: requests that arrive together share one tract run.
//!
//! A run of a text model costs about 4 µs whatever its batch (tract has a fixed cost per graph
//! node), against a fraction of a microsecond per extra row. So concurrent requests are run
//! together. The batching is opportunistic and has no timer, so it adds no waiting: the first
//! request that finds no batch forming becomes its leader and yields to the scheduler once,
//! letting requests the server has already read join it; then the leader runs everything queued
//! and hands every request its own rows. A lone request runs alone, one yield later. A request
//! that arrives while a run is in progress starts the next batch.
//!
//! One flush is cut into several runs when needed, so that no padded input exceeds
//! [`MAX_RUN_CELLS`] ids (rows × longest row): one long text does not pad a hundred short ones
//! into one large tensor. If the leader's request is cancelled before it runs the batch (client
//! gone, timeout), the batch still runs, from the leader's drop, so no joined request is lost.

use crate::featurize::text::pad;
use crate::runtime::{Plan, RuntimeError};
use crate::telemetry::cpu_time::CpuSampler;
use std::ops::Range;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// Most ids (rows × longest row) in one padded run, unless one request alone is larger.
pub const MAX_RUN_CELLS: usize = 16 * 1024;

type Answer = Result<Vec<Vec<f32>>, RuntimeError>;

/// One request's rows and where its answer goes.
struct Pending {
    rows: Vec<Vec<i64>>,
    reply: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    /// Whether a leader is about to flush `pending`.
    forming: bool,
}

/// The batch queue of one text model.
#[derive(Default)]
pub struct Batcher {
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

/// What the leader of a batch ran, for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flushed {
    /// Rows of each tract run.
    pub run_rows: Vec<usize>,
    /// Measured (or, when not sampled, zero) thread CPU seconds of the runs.
    pub cpu_seconds: f64,
}

/// A request's answer from the batcher.
#[derive(Debug)]
pub struct Batched {
    /// Class probabilities, one row per input row, in order.
    pub probabilities: Vec<Vec<f32>>,
    /// Set when this request led its batch.
    pub flushed: Option<Flushed>,
}

impl Batcher {
    /// Run `rows` (feature ids, one row per text) through `plan`, batched with whatever other
    /// requests are queued. `classes` is the width of the model's output; `cpu` decides whether
    /// the runs' CPU time is measured (see [`crate::telemetry::cpu_time`]).
    pub async fn run(
        &self,
        plan: &Plan,
        classes: usize,
        rows: Vec<Vec<i64>>,
        cpu: Option<&CpuSampler>,
    ) -> Result<Batched, RuntimeError> {
        let (reply, answer) = oneshot::channel();
        let leads = {
            let mut queue = self.lock();
            queue.pending.push(Pending { rows, reply });
            !std::mem::replace(&mut queue.forming, true)
        };
        let flushed = if leads {
            let mut leader = Leader { batcher: self, plan, classes, cpu, flushed: false };
            tokio::task::yield_now().await;
            Some(leader.flush())
        } else {
            None
        };
        let probabilities = answer
            .await
            .map_err(|_| RuntimeError::new("the batch this request joined was dropped before it ran"))??;
        Ok(Batched { probabilities, flushed })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is consistent after every statement; a panic elsewhere cannot break it.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The request that flushes the batch; flushes from `drop` if cancelled first.
struct Leader<'a> {
    batcher: &'a Batcher,
    plan: &'a Plan,
    classes: usize,
    cpu: Option<&'a CpuSampler>,
    flushed: bool,
}

impl Leader<'_> {
    fn flush(&mut self) -> Flushed {
        self.flushed = true;
        let pending = {
            let mut queue = self.batcher.lock();
            queue.forming = false;
            std::mem::take(&mut queue.pending)
        };
        let sizes: Vec<(usize, usize)> =
            pending.iter().map(|p| (p.rows.len(), p.rows.iter().map(Vec::len).max().unwrap_or(1))).collect();
        let started = self.cpu.map(|s| s.start(false));
        let mut pending = pending.into_iter();
        let mut run_rows = Vec::new();
        for range in cut(&sizes, MAX_RUN_CELLS) {
            let group: Vec<Pending> = pending.by_ref().take(range.len()).collect();
            run_rows.push(run_group(self.plan, self.classes, group));
        }
        let cpu_seconds = match (self.cpu, started) {
            (Some(sampler), Some(started)) => sampler.finish(started, run_rows.iter().sum()),
            _ => 0.0,
        };
        Flushed { run_rows, cpu_seconds }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.flushed {
            self.flush();
        }
    }
}

/// Run one group as one padded tensor and answer each request with its rows. Returns the rows.
fn run_group(plan: &Plan, classes: usize, group: Vec<Pending>) -> usize {
    let mut rows = Vec::with_capacity(group.iter().map(|p| p.rows.len()).sum());
    let mut replies = Vec::with_capacity(group.len());
    for p in group {
        replies.push((p.rows.len(), p.reply));
        rows.extend(p.rows);
    }
    let (shape, data) = pad(&rows);
    match plan.run_i64(&[(&shape, &data)]) {
        Ok(flat) if flat.len() == rows.len() * classes => {
            let mut chunks = crate::runtime::split_rows(&flat, classes).into_iter();
            for (n, reply) in replies {
                // A receiver that is gone (cancelled request) needs no answer.
                let _ = reply.send(Ok(chunks.by_ref().take(n).collect()));
            }
        }
        Ok(flat) => {
            let e =
                RuntimeError::new(format!("model returned {} values for {} rows of {classes}", flat.len(), rows.len()));
            replies.into_iter().for_each(|(_, reply)| drop(reply.send(Err(e.clone()))));
        }
        Err(e) => replies.into_iter().for_each(|(_, reply)| drop(reply.send(Err(e.clone())))),
    }
    rows.len()
}

/// Cut requests of (rows, longest row) into consecutive runs whose padded size, rows × longest
/// row, stays within `max_cells`; a request larger than that alone gets a run of its own.
pub fn cut(sizes: &[(usize, usize)], max_cells: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut rows, mut width) = (0, 0, 0);
    for (i, &(r, w)) in sizes.iter().enumerate() {
        let (grown_rows, grown_width) = (rows + r, width.max(w));
        if i > start && grown_rows.saturating_mul(grown_width) > max_cells {
            runs.push(start..i);
            (start, rows, width) = (i, r, w);
        } else {
            (rows, width) = (grown_rows, grown_width);
        }
    }
    if start < sizes.len() {
        runs.push(start..sizes.len());
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[test]
    fn small_requests_share_one_run() {
        assert_eq!(cut(&[(1, 20), (1, 30), (2, 10)], 1000), vec![0..3]);
    }

    #[test]
    fn runs_are_cut_before_the_padded_size_passes_the_limit() {
        // 3 rows x 40 = 120 > 100: the third request starts a new run.
        assert_eq!(cut(&[(1, 40), (1, 10), (1, 40), (1, 5)], 100), vec![0..2, 2..4]);
    }

    #[test]
    fn a_request_larger_than_the_limit_runs_alone() {
        assert_eq!(cut(&[(1, 5), (10, 500), (1, 5)], 100), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn no_requests_no_runs() {
        assert!(cut(&[], 100).is_empty());
    }

    fn sentiment_plan() -> Plan {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/sentiment/model.onnx");
        Plan::compile(&std::fs::read(path).expect("model file")).expect("model compiles")
    }

    /// What one row gets from a run of its own, without the batcher.
    fn alone(plan: &Plan, row: &[i64]) -> Vec<f32> {
        plan.run_i64(&[(&[1, row.len()], row)]).expect("runs")
    }

    fn rows(n: usize) -> Vec<Vec<i64>> {
        // Different lengths, so rows are padded inside the batch.
        (0..n).map(|i| (1..=(i as i64 % 5 + 1)).map(|k| 7 + k * 131 + i as i64 * 17).collect()).collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn requests_that_arrive_together_share_one_run_and_each_gets_its_own_rows() {
        let plan = sentiment_plan();
        let batcher = std::sync::Arc::new(Batcher::default());
        let mut tasks = tokio::task::JoinSet::new();
        for (i, row) in rows(8).into_iter().enumerate() {
            let (batcher, plan) = (batcher.clone(), plan.clone());
            // The third request carries two rows.
            let input = if i == 2 { vec![row.clone(), vec![5, 6]] } else { vec![row.clone()] };
            tasks.spawn(async move { (input.clone(), batcher.run(&plan, 3, input, None).await) });
        }
        let mut runs = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (input, answer) = done.expect("task");
            let answer = answer.expect("batched run");
            runs.extend(answer.flushed.map(|f| f.run_rows).unwrap_or_default());
            assert_eq!(answer.probabilities.len(), input.len());
            for (row, got) in input.iter().zip(&answer.probabilities) {
                let want = alone(&plan, row);
                assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6), "{got:?} vs {want:?}");
            }
        }
        assert_eq!(runs, vec![9], "one leader ran all nine rows in one run");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lone_request_runs_alone_and_leads() {
        let plan = sentiment_plan();
        let batcher = Batcher::default();
        let answer = batcher.run(&plan, 3, rows(1), None).await.expect("runs");
        assert_eq!(answer.flushed.map(|f| f.run_rows), Some(vec![1]));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_leader_still_runs_the_batch_it_formed() {
        let plan = sentiment_plan();
        let batcher = Batcher::default();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut leader = Box::pin(batcher.run(&plan, 3, rows(1), None));
        assert!(leader.as_mut().poll(&mut cx).is_pending(), "the leader yields once before it runs");
        let mut follower = Box::pin(batcher.run(&plan, 3, vec![vec![42, 43]], None));
        assert!(follower.as_mut().poll(&mut cx).is_pending(), "the follower waits for the leader");
        drop(leader);
        let answer = follower.await.expect("the follower is answered");
        assert_eq!(answer.probabilities, vec![alone(&plan, &[42, 43])]);
        assert!(answer.flushed.is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_run_fails_every_request_in_it() {
        let plan = sentiment_plan();
        let batcher = std::sync::Arc::new(Batcher::default());
        // Four classes expected from a three-class model: the run's output does not fit.
        let other = {
            let (batcher, plan) = (batcher.clone(), plan.clone());
            tokio::spawn(async move { batcher.run(&plan, 4, rows(1), None).await })
        };
        tokio::task::yield_now().await;
        let mine = batcher.run(&plan, 4, rows(2), None).await;
        let theirs = other.await.expect("task");
        for answer in [mine, theirs] {
            let e = answer.expect_err("the run fails").to_string();
            assert!(e.contains("values for"), "{e}");
        }
    }
}
