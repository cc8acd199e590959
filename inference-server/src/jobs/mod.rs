//! The batch queue: `POST /v1/models/{name}/jobs` puts a large batch into a Redis stream, a
//! worker pool takes jobs through a consumer group, stores the results (with a TTL) and only
//! then acknowledges. Jobs left pending by a dead worker are reclaimed after an idle time.
//! Inference is deterministic, so a job done twice (crash between storing and acknowledging)
//! stores the same results.
//!
//! `record` holds the pure parts (ids, the stored job record), `queue` the Redis I/O, `worker`
//! the pool.

pub mod queue;
pub mod record;
pub mod worker;

pub use queue::{Queue, QueueConfig, QueueError};
pub use record::{JobRecord, JobState};
