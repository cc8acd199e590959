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
    /// Where Redis is.
    pub redis: crate::redis_client::RedisTarget,
    /// Stream key.
    pub stream: String,
    /// Consumer group.
    pub group: String,
    /// This process's consumer name.
    pub consumer: String,
    /// How long a job and its results are kept, counted from submission.
    pub result_ttl: Duration,
    /// Most unfinished jobs in the stream; a submission beyond it is refused.
    pub max_queued: usize,
    /// Deliveries of one job before it is dead-lettered.
    pub max_attempts: u32,
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
    /// The stream holds the most unfinished jobs allowed.
    #[error("the batch queue holds its limit of {0} unfinished jobs; retry later")]
    Full(usize),
}

/// A job accepted into the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Job id.
    pub id: String,
    /// Unix milliseconds after which the job and its results are gone (expired): a job that
    /// is not found before then was lost.
    pub expires_ms: u64,
}

/// Adds a job only while the stream holds fewer than the limit of unfinished jobs, in one step
/// (a check then an add would let concurrent submissions past the limit). The hash expires
/// from submission, so a job nobody runs cannot stay forever.
const SUBMIT: &str = r"
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'model', ARGV[2], 'state', 'queued', 'items', ARGV[3], 'item_count', ARGV[4], 'submitted_ms', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('XADD', KEYS[1], '*', 'job', ARGV[7])
return 1
";

/// Where dead-lettered jobs are listed (job id, model, attempts, last error), newest kept.
pub const DEAD_LETTER_STREAM: &str = "inferwatch:jobs:dead";
/// Dead-letter entries kept (approximately: `XADD MAXLEN ~`).
const DEAD_LETTER_KEEP: usize = 10_000;

/// A job taken from the stream: the stream entry and the job it names.
#[derive(Debug, Clone)]
pub struct Taken {
    /// Stream entry id (acknowledged when the job's outcome is stored).
    pub entry: String,
    /// Job id.
    pub job: String,
}

/// The queue: lazily (re)connecting Redis connections plus health.
///
/// A blocking `XREADGROUP ... BLOCK` holds its connection for the whole wait, and Redis answers
/// a connection's commands in order: on the shared multiplexed connection every submission and
/// status read queued behind the workers' waits (about 2 s each, seen in the soak). So each
/// worker reads new jobs on a connection of its own, and everything else shares `conn`.
pub struct Queue {
    conn: ConnectionManager,
    readers: Vec<ConnectionManager>,
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
    /// A queue on `config.redis`; connects on first use and reconnects by itself.
    pub fn new(config: QueueConfig, metrics: Arc<Metrics>) -> Result<Self, QueueError> {
        let conn = crate::redis_client::connect(&config.redis).map_err(QueueError::Config)?;
        let readers = (0..config.workers)
            .map(|_| crate::redis_client::connect(&config.redis).map_err(QueueError::Config))
            .collect::<Result<_, _>>()?;
        Ok(Self { conn, readers, config, health: Dependency::new("queue", metrics) })
    }

    /// Whether the last command reached Redis.
    pub fn is_up(&self) -> bool {
        self.health.is_up()
    }

    async fn run<T: FromRedisValue>(&self, op: &'static str, cmd: &redis::Cmd) -> Result<T, QueueError> {
        self.run_on(&self.conn, op, cmd).await
    }

    async fn run_on<T: FromRedisValue>(
        &self,
        conn: &ConnectionManager,
        op: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, QueueError> {
        let start = Instant::now();
        let mut conn = conn.clone();
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

    /// Accept a job: its hash (expiring `result_ttl` after now) and its stream entry are
    /// written in one script, refused with [`QueueError::Full`] at the queue limit.
    pub async fn submit(&self, model: &str, items: &str, item_count: usize) -> Result<Accepted, QueueError> {
        let id = new_job_id().map_err(|e| QueueError::Unavailable(format!("no randomness for a job id: {e}")))?;
        let now = now_ms();
        let ttl_ms = u64::try_from(self.config.result_ttl.as_millis()).unwrap_or(u64::MAX);
        let script = redis::Script::new(SUBMIT);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.config.stream)
            .key(job_key(&id))
            .arg(self.config.max_queued)
            .arg(model)
            .arg(items)
            .arg(item_count)
            .arg(now)
            .arg(ttl_ms)
            .arg(&id);
        let start = Instant::now();
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<i64> = invocation.invoke_async(&mut conn).await;
        self.health.record("submit", start, crate::redis_client::outcome(result.as_ref().err()));
        match result.map_err(|e| QueueError::Unavailable(e.to_string()))? {
            0 => Err(QueueError::Full(self.config.max_queued)),
            _ => Ok(Accepted { id, expires_ms: now.saturating_add(ttl_ms) }),
        }
    }

    /// Read a job (`None`: unknown or expired).
    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        let h: HashMap<String, String> = self.run("hgetall", redis::cmd("HGETALL").arg(job_key(id))).await?;
        Ok(if h.is_empty() { None } else { JobRecord::from_hash(&h) })
    }

    /// New jobs for this consumer, waiting up to `block` for one, on worker `worker`'s own
    /// connection.
    pub async fn read_new(&self, worker: usize, block: Duration) -> Result<Vec<Taken>, QueueError> {
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
        let conn = self.readers.get(worker % self.readers.len().max(1)).unwrap_or(&self.conn);
        let reply: Option<StreamReadReply> = self.run_on(conn, "xreadgroup", &cmd).await?;
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

    /// Mark a job taken; the number of times it has been taken, this one included.
    pub async fn mark_running(&self, id: &str) -> Result<u32, QueueError> {
        let key = job_key(id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("state")
            .arg(JobState::Running.as_str())
            .arg("started_ms")
            .arg(now_ms())
            .ignore()
            .cmd("HINCRBY")
            .arg(&key)
            .arg("attempts")
            .arg(1);
        let (attempts,): (i64,) = self.run_pipe("mark_running", &pipe).await?;
        Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
    }

    /// Give a job back after a transient failure: queued again, retried once its entry is
    /// reclaimed (after the claim idle time).
    pub async fn release(&self, id: &str) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(job_key(id)).arg("state").arg(JobState::Queued.as_str());
        self.run::<()>("hset", &cmd).await
    }

    /// List a job that has failed too often on the dead-letter stream.
    pub async fn dead_letter(&self, taken: &Taken, model: &str, attempts: u32, error: &str) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(DEAD_LETTER_STREAM)
            .arg("MAXLEN")
            .arg("~")
            .arg(DEAD_LETTER_KEEP)
            .arg("*")
            .arg("job")
            .arg(&taken.job)
            .arg("model")
            .arg(model)
            .arg("attempts")
            .arg(attempts)
            .arg("error")
            .arg(error);
        self.run::<Value>("dead_letter", &cmd).await.map(|_| ())
    }

    /// Store a job's outcome and drop its inputs (the results stand for them). The expiry set
    /// at submission stays (a job from before expiries were set gets the result TTL now). The
    /// caller acknowledges afterwards (`ack`): nothing is acknowledged unless the outcome is
    /// stored.
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
        pipe.atomic()
            .hset_multiple(&key, &fields)
            .ignore()
            .hdel(&key, "items")
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(ttl)
            .arg("NX")
            .ignore();
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
