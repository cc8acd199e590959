//! The Redis side of the batch queue: one stream of job ids read through a consumer group, and
//! one hash per job holding its inputs, state and results. Every command is timed and counted
//! (`inferwatch_dependency_request_duration_seconds{dependency="queue"}`), and a failed command
//! marks the queue down until the next successful one.

use super::record::{entry_time_ms, new_job_id, JobRecord, JobState};
use crate::telemetry::dependency::Dependency;
use crate::telemetry::Metrics;
use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::{FromRedisValue, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Settings of the queue.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Redis URL.
    pub url: String,
    /// Stream key.
    pub stream: String,
    /// Consumer group.
    pub group: String,
    /// This process's consumer name.
    pub consumer: String,
    /// How long finished jobs are kept.
    pub result_ttl: Duration,
    /// Idle time after which another worker reclaims a taken job.
    pub claim_idle: Duration,
    /// Most items per job.
    pub max_items: usize,
    /// Concurrent jobs in this process.
    pub workers: usize,
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis cannot be reached or refused the command.
    #[error("batch queue unavailable: {0}")]
    Unavailable(String),
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Config(String),
}

/// A job taken from the stream: the stream entry and the job it names.
#[derive(Debug, Clone)]
pub struct Taken {
    /// Stream entry id (acknowledged when the job's outcome is stored).
    pub entry: String,
    /// Job id.
    pub job: String,
}

/// The queue: a lazily (re)connecting Redis connection plus health.
pub struct Queue {
    conn: ConnectionManager,
    /// Settings.
    pub config: QueueConfig,
    health: Dependency,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("stream", &self.config.stream).finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn job_key(id: &str) -> String {
    format!("inferwatch:job:{id}")
}

impl Queue {
    /// A queue on `config.url`; connects on first use and reconnects by itself.
    pub fn new(config: QueueConfig, metrics: Arc<Metrics>) -> Result<Self, QueueError> {
        let conn = crate::redis_client::connect(&config.url).map_err(QueueError::Config)?;
        Ok(Self { conn, config, health: Dependency::new("queue", metrics) })
    }

    /// Whether the last command reached Redis.
    pub fn is_up(&self) -> bool {
        self.health.is_up()
    }

    async fn run<T: FromRedisValue>(&self, op: &'static str, cmd: &redis::Cmd) -> Result<T, QueueError> {
        let start = Instant::now();
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<T> = cmd.query_async(&mut conn).await;
        self.health.record(op, start, crate::redis_client::outcome(result.as_ref().err()));
        result.map_err(|e| QueueError::Unavailable(e.to_string()))
    }

    async fn run_pipe<T: FromRedisValue>(&self, op: &'static str, pipe: &redis::Pipeline) -> Result<T, QueueError> {
        let start = Instant::now();
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<T> = pipe.query_async(&mut conn).await;
        self.health.record(op, start, crate::redis_client::outcome(result.as_ref().err()));
        result.map_err(|e| QueueError::Unavailable(e.to_string()))
    }

    /// Check the connection (and update health).
    pub async fn ping(&self) -> bool {
        self.run::<String>("ping", &redis::cmd("PING")).await.is_ok()
    }

    /// Create the stream and consumer group when they do not exist yet.
    pub async fn ensure_group(&self) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE").arg(&self.config.stream).arg(&self.config.group).arg("0").arg("MKSTREAM");
        match self.run::<Value>("xgroup_create", &cmd).await {
            Ok(_) => Ok(()),
            Err(QueueError::Unavailable(e)) if e.contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Accept a job: its hash and its stream entry are written in one transaction.
    pub async fn submit(&self, model: &str, items: &str, item_count: usize) -> Result<String, QueueError> {
        let id = new_job_id().map_err(|e| QueueError::Unavailable(format!("no randomness for a job id: {e}")))?;
        let key = job_key(&id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &key,
                &[
                    ("model", model.to_string()),
                    ("state", JobState::Queued.as_str().to_string()),
                    ("items", items.to_string()),
                    ("item_count", item_count.to_string()),
                    ("submitted_ms", now_ms().to_string()),
                ],
            )
            .ignore()
            .cmd("XADD")
            .arg(&self.config.stream)
            .arg("*")
            .arg("job")
            .arg(&id)
            .ignore();
        self.run_pipe::<()>("submit", &pipe).await?;
        Ok(id)
    }

    /// Read a job (`None`: unknown or expired).
    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        let h: HashMap<String, String> = self.run("hgetall", redis::cmd("HGETALL").arg(job_key(id))).await?;
        Ok(if h.is_empty() { None } else { JobRecord::from_hash(&h) })
    }

    /// New jobs for this consumer, waiting up to `block` for one.
    pub async fn read_new(&self, block: Duration) -> Result<Vec<Taken>, QueueError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.config.group)
            .arg(&self.config.consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(u64::try_from(block.as_millis()).unwrap_or(1000))
            .arg("STREAMS")
            .arg(&self.config.stream)
            .arg(">");
        let reply: Option<StreamReadReply> = self.run("xreadgroup", &cmd).await?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .filter_map(|e| e.get::<String>("job").map(|job| Taken { entry: e.id.clone(), job }))
            .collect())
    }

    /// Jobs another consumer took and left idle longer than the claim time, now ours.
    pub async fn reclaim(&self) -> Result<Vec<Taken>, QueueError> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&self.config.stream)
            .arg(&self.config.group)
            .arg(&self.config.consumer)
            .arg(u64::try_from(self.config.claim_idle.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(10);
        let reply: StreamAutoClaimReply = self.run("xautoclaim", &cmd).await?;
        Ok(reply
            .claimed
            .into_iter()
            .filter_map(|e| e.get::<String>("job").map(|job| Taken { entry: e.id.clone(), job }))
            .collect())
    }

    /// Mark a job taken.
    pub async fn mark_running(&self, id: &str) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(job_key(id)).arg("state").arg(JobState::Running.as_str()).arg("started_ms").arg(now_ms());
        self.run::<()>("hset", &cmd).await
    }

    /// Store a job's outcome with the result TTL. The caller acknowledges afterwards (`ack`):
    /// nothing is acknowledged unless the outcome is stored.
    pub async fn store_outcome(
        &self,
        taken: &Taken,
        state: JobState,
        results: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), QueueError> {
        let key = job_key(&taken.job);
        let mut fields = vec![("state", state.as_str().to_string()), ("finished_ms", now_ms().to_string())];
        if let Some(r) = results {
            fields.push(("results", r.to_string()));
        }
        if let Some(e) = error {
            fields.push(("error", e.to_string()));
        }
        let ttl = i64::try_from(self.config.result_ttl.as_secs()).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        pipe.atomic().hset_multiple(&key, &fields).ignore().expire(&key, ttl).ignore();
        self.run_pipe::<()>("store_result", &pipe).await
    }

    /// Acknowledge and delete a stream entry (its job is finished or gone).
    pub async fn ack(&self, taken: &Taken) -> Result<(), QueueError> {
        let mut pipe = redis::pipe();
        pipe.cmd("XACK")
            .arg(&self.config.stream)
            .arg(&self.config.group)
            .arg(&taken.entry)
            .ignore()
            .cmd("XDEL")
            .arg(&self.config.stream)
            .arg(&taken.entry)
            .ignore();
        self.run_pipe::<()>("ack", &pipe).await
    }

    /// Unfinished jobs and the age of the oldest one, in seconds.
    pub async fn depth(&self) -> Result<(u64, f64), QueueError> {
        let len: u64 = self.run("xlen", redis::cmd("XLEN").arg(&self.config.stream)).await?;
        let first: Vec<(String, HashMap<String, String>)> = self
            .run("xrange", redis::cmd("XRANGE").arg(&self.config.stream).arg("-").arg("+").arg("COUNT").arg(1))
            .await?;
        let age = first
            .first()
            .and_then(|(id, _)| entry_time_ms(id))
            .map_or(0.0, |t| now_ms().saturating_sub(t) as f64 / 1000.0);
        Ok((len, age))
    }
}
