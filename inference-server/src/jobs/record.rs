//! A batch job as stored in Redis (one hash per job), and the decisions about it.

use serde::Serialize;
use std::collections::HashMap;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker took it.
    Running,
    /// Results are stored.
    Done,
    /// It cannot succeed (the error says why).
    Failed,
}

impl JobState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }

    /// Whether the job's outcome is stored (a worker must not redo it).
    pub fn finished(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }
}

/// A job as read back from Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Model name.
    pub model: String,
    /// State.
    pub state: JobState,
    /// The inputs, a JSON array (dropped once the outcome is stored).
    pub items: Option<String>,
    /// Number of items.
    pub item_count: usize,
    /// Unix milliseconds of acceptance, start and finish.
    pub submitted_ms: u64,
    /// When a worker took it.
    pub started_ms: Option<u64>,
    /// When the outcome was stored.
    pub finished_ms: Option<u64>,
    /// How many times a worker has taken it.
    pub attempts: u32,
    /// The predictions, a JSON array (done jobs).
    pub results: Option<String>,
    /// Why it failed (failed jobs).
    pub error: Option<String>,
}

impl JobRecord {
    /// Parse a job hash; `None` when a required field is missing or malformed.
    pub fn from_hash(h: &HashMap<String, String>) -> Option<Self> {
        let num = |k: &str| h.get(k).and_then(|v| v.parse::<u64>().ok());
        Some(Self {
            model: h.get("model")?.clone(),
            state: JobState::parse(h.get("state")?)?,
            items: h.get("items").cloned(),
            item_count: h.get("item_count")?.parse().ok()?,
            submitted_ms: num("submitted_ms")?,
            started_ms: num("started_ms"),
            finished_ms: num("finished_ms"),
            attempts: num("attempts").and_then(|a| u32::try_from(a).ok()).unwrap_or(0),
            results: h.get("results").cloned(),
            error: h.get("error").cloned(),
        })
    }
}

/// A new job id: 128 random bits as 32 lowercase hex digits.
pub fn new_job_id() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    Ok(hex::encode(b))
}

/// Whether `id` can be a job id (so user input never reaches Redis key names unchecked).
pub fn valid_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The enqueue time (unix ms) encoded in a Redis stream entry id `<ms>-<seq>`.
pub fn entry_time_ms(entry_id: &str) -> Option<u64> {
    entry_id.split_once('-').and_then(|(ms, _)| ms.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_32_hex_digits_and_distinct() {
        let a = new_job_id().unwrap();
        let b = new_job_id().unwrap();
        assert!(valid_job_id(&a) && valid_job_id(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn user_supplied_ids_that_are_not_job_ids_are_refused() {
        for bad in
            ["", "abc", "../../etc", "ABCDEF0123456789ABCDEF0123456789", &"a".repeat(33), "g".repeat(32).as_str()]
        {
            assert!(!valid_job_id(bad), "{bad}");
        }
    }

    #[test]
    fn stream_entry_ids_carry_their_enqueue_time() {
        assert_eq!(entry_time_ms("1700000000123-4"), Some(1_700_000_000_123));
        assert_eq!(entry_time_ms("garbage"), None);
    }

    #[test]
    fn a_hash_missing_fields_is_not_a_job() {
        let mut h: HashMap<String, String> =
            [("model", "sentiment"), ("state", "queued"), ("items", "[]"), ("item_count", "0"), ("submitted_ms", "5")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let job = JobRecord::from_hash(&h).unwrap();
        assert_eq!(job.state, JobState::Queued);
        assert!(!job.state.finished());
        h.insert("state".into(), "exploded".into());
        assert!(JobRecord::from_hash(&h).is_none());
        h.remove("state");
        assert!(JobRecord::from_hash(&h).is_none());
    }
}
