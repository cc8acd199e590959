//! The in-memory prediction store: records of this process only, bounded by count and age.
//! Sharded by id so concurrent predictions rarely share a lock; the oldest record of a full
//! shard makes room (counted as dropped, reason `capacity`).
//!
//! A hand-written map rather than a cache crate (moka, quick_cache): what is needed is exact
//! FIFO eviction by insertion with an age limit and an in-place claim bit per record, which is
//! a `HashMap` plus a `VecDeque` per shard; the crates add admission policies that would drop
//! records we promised to keep. Keys are the ids' 96-bit values; they are uniformly random, so
//! their low bits are the hash (SipHash would spend more than the rest of the insert).

use super::id;
use super::record::PredictionRecord;
use super::shared::Aspect;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 16;

struct Entry {
    record: PredictionRecord,
    claimed: u8,
}

/// The low 64 bits of a random id are already a good hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used for keys; fold anything else in.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<u128, Entry, BuildHasherDefault<IdHasher>>,
    /// Keys with their prediction time, oldest first: expiry reads this, not the map.
    order: VecDeque<(u128, u64)>,
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

fn shard_of(key: u128) -> usize {
    // the top bits: the low ones pick the bucket inside the shard's map
    (key >> 92) as usize % SHARDS
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
            let Some(key) = id::value(&id) else { continue };
            let mut shard = self.lock(shard_of(key));
            let before = shard.map.len();
            self.expire(&mut shard, now_ms);
            while shard.map.len() >= self.per_shard {
                let Some((old, _)) = shard.order.pop_front() else { break };
                if shard.map.remove(&old).is_some() {
                    dropped += 1;
                }
            }
            let at_ms = record.at_ms;
            if shard.map.insert(key, Entry { record, claimed: 0 }).is_none() {
                shard.order.push_back((key, at_ms));
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
        while let Some(&(key, at_ms)) = shard.order.front() {
            if at_ms.saturating_add(self.ttl_ms) > now_ms {
                break;
            }
            shard.order.pop_front();
            shard.map.remove(&key);
        }
    }

    /// The live record of `id`.
    pub fn get(&self, id: &str, now_ms: u64) -> Option<PredictionRecord> {
        let key = id::value(id)?;
        let shard = self.lock(shard_of(key));
        shard.map.get(&key).filter(|e| e.record.at_ms.saturating_add(self.ttl_ms) > now_ms).map(|e| e.record.clone())
    }

    /// Claim `aspect` of `id`: true the first time only.
    pub fn claim(&self, id: &str, aspect: Aspect) -> bool {
        let Some(key) = id::value(id) else { return false };
        let mut shard = self.lock(shard_of(key));
        match shard.map.get_mut(&key) {
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

    /// A well-formed id; ids with the same first hex digit share a shard.
    fn id(shard: char, n: u32) -> String {
        format!("{shard}{n:023x}")
    }

    #[test]
    fn records_are_claimed_once_per_aspect() {
        let s = MemoryStore::new(100, 1_000);
        s.put(vec![(id('a', 0), rec(0))], 0);
        assert_eq!(s.get(&id('a', 0), 10), Some(rec(0)));
        assert!(s.claim(&id('a', 0), Aspect::Truth));
        assert!(!s.claim(&id('a', 0), Aspect::Truth));
        assert!(s.claim(&id('a', 0), Aspect::Opinion));
        assert!(!s.claim(&id('a', 1), Aspect::Truth), "unknown");
        assert!(!s.claim("nope", Aspect::Truth), "not an id");
    }

    #[test]
    fn the_oldest_records_go_when_full_and_all_go_when_expired() {
        let s = MemoryStore::new(SHARDS, 1_000);
        // one record per shard: the second in shard 'b' pushes out the first
        assert_eq!(s.put(vec![(id('b', 1), rec(0)), (id('b', 2), rec(1))], 1), 1);
        assert_eq!(s.get(&id('b', 1), 2), None);
        assert!(s.get(&id('b', 2), 2).is_some());
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(&id('b', 2), 1_001), None, "expired");
        s.put(vec![(id('b', 3), rec(2_000))], 2_000);
        assert_eq!(s.len(), 1, "the expired record was removed, not counted as dropped");
    }
}
