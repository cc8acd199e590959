//! The in-memory prediction store: records of this process only, bounded by count and age.
//! Sharded by id so concurrent predictions rarely share a lock; the oldest record of a full
//! shard makes room (counted as dropped, reason `capacity`).
//!
//! A hand-written map rather than a cache crate (moka, quick_cache): what is needed is exact
//! FIFO eviction by insertion with an age limit and an in-place claim bit per record, which is
//! a `HashMap` plus a `VecDeque` per shard; the crates add admission policies that would drop
//! records we promised to keep.

use super::record::PredictionRecord;
use super::store::Aspect;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const SHARDS: usize = 16;

struct Entry {
    record: PredictionRecord,
    claimed: u8,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Arc<str>, Entry>,
    order: VecDeque<Arc<str>>,
}

/// Bounded in-memory records.
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    ttl_ms: u64,
    len: AtomicUsize,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("len", &self.len()).finish_non_exhaustive()
    }
}

fn shard_of(id: &str) -> usize {
    // ids are random hex: their last byte spreads evenly; any other string still lands somewhere.
    id.bytes().last().map_or(0, |b| usize::from(b) % SHARDS)
}

impl MemoryStore {
    /// At most `max_records` records (at least one per shard), each kept `ttl_ms`.
    pub fn new(max_records: usize, ttl_ms: u64) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: max_records.div_ceil(SHARDS).max(1),
            ttl_ms,
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding the lock cannot leave a shard half-updated in a way that
        // matters more than losing its records: keep serving.
        self.shards[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records kept now.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether none are kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keep records; returns how many older records were dropped to make room.
    pub fn put(&self, records: Vec<(String, PredictionRecord)>, now_ms: u64) -> usize {
        let mut dropped = 0;
        for (id, record) in records {
            let mut shard = self.lock(shard_of(&id));
            let before = shard.map.len();
            self.expire(&mut shard, now_ms);
            while shard.map.len() >= self.per_shard {
                let Some(old) = shard.order.pop_front() else { break };
                if shard.map.remove(&old).is_some() {
                    dropped += 1;
                }
            }
            let id: Arc<str> = id.into();
            if shard.map.insert(id.clone(), Entry { record, claimed: 0 }).is_none() {
                shard.order.push_back(id);
            }
            let after = shard.map.len();
            drop(shard);
            if after >= before {
                self.len.fetch_add(after - before, Ordering::Relaxed);
            } else {
                self.len.fetch_sub(before - after, Ordering::Relaxed);
            }
        }
        dropped
    }

    fn expire(&self, shard: &mut Shard, now_ms: u64) {
        while let Some(front) = shard.order.front() {
            let old = shard.map.get(front).is_none_or(|e| e.record.at_ms.saturating_add(self.ttl_ms) <= now_ms);
            if !old {
                break;
            }
            if let Some(id) = shard.order.pop_front() {
                shard.map.remove(&id);
            }
        }
    }

    /// The live record of `id`.
    pub fn get(&self, id: &str, now_ms: u64) -> Option<PredictionRecord> {
        let shard = self.lock(shard_of(id));
        shard.map.get(id).filter(|e| e.record.at_ms.saturating_add(self.ttl_ms) > now_ms).map(|e| e.record.clone())
    }

    /// Claim `aspect` of `id`: true the first time only.
    pub fn claim(&self, id: &str, aspect: Aspect) -> bool {
        let mut shard = self.lock(shard_of(id));
        match shard.map.get_mut(id) {
            Some(e) if e.claimed & aspect.bit() == 0 => {
                e.claimed |= aspect.bit();
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::record::Predicted;

    fn rec(at_ms: u64) -> PredictionRecord {
        PredictionRecord { model: "m".into(), version: "1".into(), at_ms, predicted: Predicted::Rating { rating: 3.0 } }
    }

    #[test]
    fn records_are_claimed_once_per_aspect() {
        let s = MemoryStore::new(100, 1_000);
        s.put(vec![("a0".into(), rec(0))], 0);
        assert_eq!(s.get("a0", 10), Some(rec(0)));
        assert!(s.claim("a0", Aspect::Truth));
        assert!(!s.claim("a0", Aspect::Truth));
        assert!(s.claim("a0", Aspect::Opinion));
        assert!(!s.claim("nope", Aspect::Truth));
    }

    #[test]
    fn the_oldest_records_go_when_full_and_all_go_when_expired() {
        let s = MemoryStore::new(SHARDS, 1_000);
        // ids ending in the same byte share a shard of one record
        assert_eq!(s.put(vec![("x0".into(), rec(0)), ("y0".into(), rec(1))], 1), 1);
        assert_eq!(s.get("x0", 2), None);
        assert!(s.get("y0", 2).is_some());
        assert_eq!(s.len(), 1);
        assert_eq!(s.get("y0", 1_001), None, "expired");
        s.put(vec![("z0".into(), rec(2_000))], 2_000);
        assert_eq!(s.len(), 1, "the expired record was removed, not counted as dropped");
    }
}
