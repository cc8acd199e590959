//! The Redis prediction store. A record is one string key `inferwatch:prediction:<id>` (its
//! compact JSON) with the prediction TTL; a claim is `SET inferwatch:feedback:<id>:<aspect> 1 NX`
//! with the same TTL, so two replicas receiving the same feedback count it once.
//!
//! Writes leave the request path: predictions hand their records to a bounded channel, and one
//! writer task sends them in pipelines of up to 512 `SET ... EX`. A full channel (Redis slower
//! than traffic) or a failed pipeline drops records, counted in
//! `inferwatch_prediction_records_dropped_total{store="redis"}`; predictions never wait for Redis.
//! On shutdown the writer drains the channel before the process exits.

use super::record::PredictionRecord;
use super::shared::{Aspect, StoreError};
use crate::telemetry::dependency::Dependency;
use crate::telemetry::sharded::Counter;
use crate::telemetry::Metrics;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Records waiting for the writer before new ones are dropped.
const BACKLOG: usize = 65_536;
/// Records per pipeline.
const PIPELINE: usize = 512;

fn record_key(id: &str) -> String {
    format!("inferwatch:prediction:{id}")
}

fn claim_key(id: &str, aspect: Aspect) -> String {
    format!("inferwatch:feedback:{id}:{}", aspect.as_str())
}

struct Shared {
    conn: ConnectionManager,
    ttl_secs: u64,
    health: Dependency,
    dropped_error: Counter,
}

impl Shared {
    async fn run<T: redis::FromRedisValue>(&self, op: &'static str, pipe: &redis::Pipeline) -> Result<T, StoreError> {
        let start = Instant::now();
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<T> = pipe.query_async(&mut conn).await;
        self.health.record(op, start, crate::redis_client::outcome(result.as_ref().err()));
        result.map_err(|e| StoreError(e.to_string()))
    }
}

/// Records in Redis.
pub struct RedisStore {
    shared: Arc<Shared>,
    tx: std::sync::Mutex<Option<mpsc::Sender<(String, String)>>>,
    writer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    dropped_backlog: Counter,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("ttl_secs", &self.shared.ttl_secs).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on `redis` keeping records `ttl`; spawns the writer (call inside a runtime).
    pub fn new(
        redis: &crate::redis_client::RedisTarget,
        ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let conn = crate::redis_client::connect(redis).map_err(StoreError)?;
        let dropped = |reason: &str| metrics.prediction_records_dropped.with(&["redis", reason]);
        let shared = Arc::new(Shared {
            conn,
            ttl_secs: ttl.as_secs().max(1),
            // Predictions are answered without it; only feedback waits: no page when it is down.
            health: Dependency::optional("prediction_store", metrics.clone()),
            dropped_error: dropped("store_error"),
        });
        let (tx, rx) = mpsc::channel(BACKLOG);
        let writer = tokio::spawn(write_loop(shared.clone(), rx));
        Ok(Self {
            shared,
            tx: std::sync::Mutex::new(Some(tx)),
            writer: std::sync::Mutex::new(Some(writer)),
            dropped_backlog: dropped("backlog"),
        })
    }

    /// Hand records to the writer; those that do not fit are dropped and counted.
    pub fn put(&self, records: Vec<(String, PredictionRecord)>) {
        let guard = self.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(tx) = guard.as_ref() else {
            self.dropped_backlog.inc_by(records.len() as u64);
            return;
        };
        for (id, record) in records {
            let Ok(json) = serde_json::to_string(&record) else { continue };
            if tx.try_send((id, json)).is_err() {
                self.dropped_backlog.inc();
            }
        }
    }

    /// The records of `ids`, in order.
    pub async fn get_many(&self, ids: &[&str]) -> Result<Vec<Option<PredictionRecord>>, StoreError> {
        let mut pipe = redis::pipe();
        let mut mget = redis::cmd("MGET");
        for id in ids {
            mget.arg(record_key(id));
        }
        pipe.add_command(mget);
        let (values,): (Vec<Option<String>>,) = self.shared.run("get_records", &pipe).await?;
        // A record that does not decode (written by an incompatible version) counts as unknown.
        Ok(values.into_iter().map(|v| v.and_then(|j| serde_json::from_str(&j).ok())).collect())
    }

    /// Claim each (id, aspect) with `SET NX`.
    pub async fn claim_many(&self, claims: &[(&str, Aspect)]) -> Result<Vec<bool>, StoreError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (id, aspect) in claims {
            pipe.cmd("SET").arg(claim_key(id, *aspect)).arg(1).arg("NX").arg("EX").arg(self.shared.ttl_secs);
        }
        let replies: Vec<Option<String>> = self.shared.run("claim_feedback", &pipe).await?;
        Ok(replies.into_iter().map(|r| r.is_some()).collect())
    }

    /// Stop taking records and wait until the writer has sent every one it holds.
    pub async fn flush(&self) {
        drop(self.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        let writer = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(w) = writer {
            let _ = w.await;
        }
    }
}

async fn write_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<(String, String)>) {
    let mut batch = Vec::with_capacity(PIPELINE);
    while rx.recv_many(&mut batch, PIPELINE).await > 0 {
        let mut pipe = redis::pipe();
        for (id, json) in &batch {
            pipe.cmd("SET").arg(record_key(id)).arg(json).arg("EX").arg(shared.ttl_secs).ignore();
        }
        if let Err(e) = shared.run::<()>("put_records", &pipe).await {
            tracing::warn!(records = batch.len(), error = %e, "prediction records not stored; their feedback will be unknown");
            shared.dropped_error.inc_by(batch.len() as u64);
        }
        batch.clear();
    }
}
