//! Leader election on a `coordination.k8s.io/v1` Lease, so that only one replica reconciles.
//!
//! The decision (`decide`) is pure; `LeaseLock` does the reads and optimistic-concurrency
//! writes (a write with a stale resourceVersion gets 409 and loses the race). A leader that
//! cannot renew within `renew_deadline` steps down before its lease can expire for others, also
//! when a call hangs: each renewal gets only the time left until that deadline, counted from
//! the start of the last renewal that succeeded (its `renewTime` is no earlier than that start,
//! so the lease is valid for `lease_duration` past it).
//!
//! Why not `kube-lease-manager` (0.13.1, which supports kube 5 and writes with server-side
//! apply): its `changed()` awaits the lease read and renewal with no deadline, so its watch
//! channel keeps saying "leader" while a call hangs. Run through the same frozen relay as the
//! e2e test `a_leader_whose_renewals_hang_stops_before_the_standby_takes_the_lease` (a
//! throwaway program, 15 s lease, 5 s grace), the standby led 14 s after the freeze while the
//! frozen leader's channel still said leader: two leaders. This module passes that test.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use std::sync::Mutex;
use std::time::Duration;

/// What a candidate should do with the lease as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: renew.
    Renew,
    /// Nobody holds it, or the holder let it expire: take it.
    Acquire,
    /// Someone else holds a live lease.
    Wait {
        /// The current holder.
        holder: String,
    },
}

/// Decide from the lease's spec (`None`: no lease yet).
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else { return Decision::Acquire };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == me {
        return Decision::Renew;
    }
    let duration_ms = i64::from(spec.lease_duration_seconds.unwrap_or(15)) * 1000;
    let renewed_ms = spec.renew_time.as_ref().map_or(0, |t| t.0.as_millisecond());
    if renewed_ms + duration_ms < now.as_millisecond() {
        Decision::Acquire
    } else {
        Decision::Wait { holder }
    }
}

/// Timings of the election.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long steps down (must be below `lease_duration`).
    pub renew_deadline: Duration,
    /// How often candidates retry and leaders renew.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One candidate's handle on the Lease.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
    /// The Lease as our last successful write left it, while we hold it.
    held: Mutex<Option<Lease>>,
}

impl LeaseLock {
    /// A candidate called `identity` for the Lease `name` reached through `api`.
    pub fn new(api: Api<Lease>, name: impl Into<String>, identity: impl Into<String>, timing: Timing) -> Self {
        Self { api, name: name.into(), identity: identity.into(), timing, held: Mutex::default() }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Try once to take or renew the lease. `Ok(true)`: we lead now.
    ///
    /// While we hold it, a renewal writes the copy of our last write with a new `renewTime`,
    /// without reading the Lease first (client-go's fast path): one request per renewal instead
    /// of two. Its resourceVersion makes the write fail with 409 if anyone else wrote the Lease
    /// since; then the Lease is read and decided on as usual.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        if let Some(mut lease) = self.held() {
            if let Some(spec) = lease.spec.as_mut() {
                spec.renew_time = Some(MicroTime(Timestamp::now()));
            }
            match self.api.replace(&self.name, &PostParams::default(), &lease).await {
                Ok(written) => {
                    self.set_held(Some(written));
                    return Ok(true);
                }
                Err(kube::Error::Api(e)) if e.code == 409 => self.set_held(None),
                Err(e) => return Err(e),
            }
        }
        self.read_and_decide().await
    }

    fn held(&self) -> Option<Lease> {
        self.held.lock().ok().and_then(|h| h.clone())
    }

    fn set_held(&self, lease: Option<Lease>) {
        if let Ok(mut h) = self.held.lock() {
            *h = lease;
        }
    }

    async fn read_and_decide(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(current.as_ref().and_then(|l| l.spec.as_ref()), &self.identity, now);
        let mut spec = current.as_ref().and_then(|l| l.spec.clone()).unwrap_or_default();
        match decision {
            Decision::Wait { .. } => return Ok(false),
            Decision::Acquire => {
                spec.holder_identity = Some(self.identity.clone());
                spec.acquire_time = Some(MicroTime(now));
                spec.lease_transitions = Some(spec.lease_transitions.map_or(0, |t| t + 1));
            }
            Decision::Renew => {}
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(self.timing.lease_duration.as_secs().try_into().unwrap_or(15));
        let result = match current {
            Some(mut lease) => {
                lease.spec = Some(spec);
                self.api.replace(&self.name, &PostParams::default(), &lease).await
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                    spec: Some(spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
        };
        match result {
            Ok(written) => {
                self.set_held(Some(written));
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Wait until this candidate leads; returns when the winning attempt began (the lease's
    /// `renewTime` is no earlier), which [`LeaseLock::hold`] counts its deadline from.
    pub async fn acquire(&self) -> tokio::time::Instant {
        loop {
            let began = tokio::time::Instant::now();
            // A hung attempt is given up at the renew deadline: one that succeeded later would
            // leave less of the lease than the holder assumes.
            match tokio::time::timeout(self.timing.renew_deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => return began,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, lease = %self.name, "cannot reach the leader lease"),
                Err(_) => tracing::warn!(lease = %self.name, "the leader lease call did not answer in time"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renew until renewal fails for longer than the renew deadline, counted from `since` (the
    /// start of the last successful attempt); returns then (leadership lost). A renewal that
    /// hangs is cut at that deadline.
    pub async fn hold(&self, since: tokio::time::Instant) {
        let mut last = since;
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            let began = tokio::time::Instant::now();
            let Some(left) = self.timing.renew_deadline.checked_sub(last.elapsed()) else { break };
            match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last = began,
                Ok(Ok(false)) => {
                    tracing::error!(lease = %self.name, "another replica took the leader lease");
                    return;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, lease = %self.name, "cannot renew the leader lease"),
                Err(_) => tracing::warn!(lease = %self.name, "the leader lease renewal did not answer in time"),
            }
            if last.elapsed() >= self.timing.renew_deadline {
                break;
            }
        }
        tracing::error!(lease = %self.name, "leader lease not renewed within the deadline; stepping down");
    }

    /// Give the lease up (on graceful shutdown) so a standby takes over at once; a call that
    /// hangs is given up after the renew deadline (the lease then simply expires).
    pub async fn release(&self) {
        if tokio::time::timeout(self.timing.renew_deadline, self.release_now()).await.is_err() {
            tracing::warn!(lease = %self.name, "cannot release the leader lease in time; it will expire");
        }
    }

    async fn release_now(&self) {
        self.set_held(None);
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        if let Err(e) = self.api.replace(&self.name, &PostParams::default(), &lease).await {
            tracing::warn!(error = %e, lease = %self.name, "cannot release the leader lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_s: i64, duration_s: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed_s).unwrap())),
            lease_duration_seconds: Some(duration_s),
            ..LeaseSpec::default()
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn missing_or_released_lease_is_acquired() {
        assert_eq!(decide(None, "a", at(100)), Decision::Acquire);
        assert_eq!(decide(Some(&LeaseSpec::default()), "a", at(100)), Decision::Acquire);
    }

    #[test]
    fn own_lease_is_renewed_even_when_late() {
        assert_eq!(decide(Some(&lease("a", 0, 15)), "a", at(100)), Decision::Renew);
    }

    #[test]
    fn live_lease_of_another_replica_is_respected() {
        assert_eq!(decide(Some(&lease("b", 90, 15)), "a", at(100)), Decision::Wait { holder: "b".into() });
    }

    #[test]
    fn expired_lease_of_another_replica_is_taken_over() {
        assert_eq!(decide(Some(&lease("b", 80, 15)), "a", at(100)), Decision::Acquire);
    }
}
