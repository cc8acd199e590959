//! Where prediction records wait for their feedback: this process's memory, or Redis (shared
//! by every replica, kept across restarts). Feedback often arrives at another replica than the
//! one that predicted, hours or days later: only Redis answers that; memory is for a single
//! replica or a trial.

use super::memory::MemoryStore;
use super::record::PredictionRecord;
use super::redis_store::RedisStore;
pub use super::shared::{Aspect, StoreError};

/// The configured store.
#[derive(Debug)]
pub enum Store {
    /// This process only.
    Memory(MemoryStore),
    /// Shared Redis.
    Redis(RedisStore),
}

impl Store {
    /// `store` label value.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }

    /// The records of `ids`, in order (`None`: unknown or expired).
    pub async fn get_many(&self, ids: &[&str], now_ms: u64) -> Result<Vec<Option<PredictionRecord>>, StoreError> {
        match self {
            Self::Memory(m) => Ok(ids.iter().map(|id| m.get(id, now_ms)).collect()),
            Self::Redis(r) => r.get_many(ids).await,
        }
    }

    /// Claim each (id, aspect): true where this call is the first.
    pub async fn claim_many(&self, claims: &[(&str, Aspect)]) -> Result<Vec<bool>, StoreError> {
        match self {
            Self::Memory(m) => Ok(claims.iter().map(|(id, a)| m.claim(id, *a)).collect()),
            Self::Redis(r) => r.claim_many(claims).await,
        }
    }
}
