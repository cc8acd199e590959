//! The operator's own metrics: reconciles, errors by reason, reconcile duration, writes by verb,
//! objects managed by kind, and whether this replica leads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result_ {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Verb {
    verb: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

/// All operator metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<Result_, Counter>,
    errors: Family<Reason, Counter>,
    duration: Histogram,
    writes: Family<Verb, Counter>,
    managed: Family<Kind, Gauge>,
    leader: Gauge,
    per_object: Mutex<HashMap<String, Vec<(&'static str, usize)>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("inferwatch_operator");
        let reconciles = Family::<Result_, Counter>::default();
        let errors = Family::<Reason, Counter>::default();
        let duration = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]);
        let writes = Family::<Verb, Counter>::default();
        let managed = Family::<Kind, Gauge>::default();
        let leader = Gauge::default();
        registry.register("reconciliations", "Reconciles of ModelServices by result", reconciles.clone());
        registry.register("reconcile_errors", "Failed reconciles by reason", errors.clone());
        registry.register_with_unit(
            "reconcile_duration",
            "Time one reconcile took",
            prometheus_client::registry::Unit::Seconds,
            duration.clone(),
        );
        registry.register("writes", "Writes to the API server by verb and kind", writes.clone());
        registry.register("managed_objects", "Objects the operator manages, by kind", managed.clone());
        registry.register("leader", "1 when this replica holds the leader Lease", leader.clone());
        Self { registry, reconciles, errors, duration, writes, managed, leader, per_object: Mutex::default() }
    }
}

impl Metrics {
    /// A finished reconcile.
    pub fn reconciled(&self, seconds: f64, error_reason: Option<&'static str>) {
        self.duration.observe(seconds);
        let result = if error_reason.is_some() { "error" } else { "success" };
        self.reconciles.get_or_create(&Result_ { result }).inc();
        if let Some(reason) = error_reason {
            self.errors.get_or_create(&Reason { reason }).inc();
        }
    }

    /// A write (`apply`, `delete`, `status`, `event`) of a kind.
    pub fn wrote(&self, verb: &'static str, kind: &'static str) {
        self.writes.get_or_create(&Verb { verb, kind }).inc();
    }

    /// The objects one ModelService (by `namespace/name`) now has; `None` when it is gone.
    pub fn managed(&self, key: &str, objects: Option<Vec<(&'static str, usize)>>) {
        let Ok(mut per) = self.per_object.lock() else { return };
        match objects {
            Some(o) => per.insert(key.to_string(), o),
            None => per.remove(key),
        };
        self.set_totals(&per);
    }

    /// Forget every ModelService not in `live` (deleted without a reconcile seeing it: a
    /// background deletion removes the object at once).
    pub fn forget_except(&self, live: &std::collections::HashSet<String>) {
        let Ok(mut per) = self.per_object.lock() else { return };
        let before = per.len();
        per.retain(|k, _| live.contains(k));
        if per.len() != before {
            self.set_totals(&per);
        }
    }

    fn set_totals(&self, per: &HashMap<String, Vec<(&'static str, usize)>>) {
        let mut totals: HashMap<&'static str, i64> = HashMap::new();
        for (kind, n) in per.values().flatten() {
            *totals.entry(kind).or_default() += *n as i64;
        }
        self.managed.clear();
        for (kind, n) in totals {
            self.managed.get_or_create(&Kind { kind }).set(n);
        }
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_objects_sum_over_model_services_and_forget_deleted_ones() {
        let m = Metrics::default();
        m.managed("a/x", Some(vec![("Deployment", 1), ("Service", 1)]));
        m.managed("a/y", Some(vec![("Deployment", 1)]));
        let text = m.encode().unwrap();
        assert!(text.contains("inferwatch_operator_managed_objects{kind=\"Deployment\"} 2"), "{text}");
        m.managed("a/y", None);
        let text = m.encode().unwrap();
        assert!(text.contains("inferwatch_operator_managed_objects{kind=\"Deployment\"} 1"), "{text}");
        m.managed("a/y", Some(vec![("Deployment", 1)]));
        m.forget_except(&["a/y".to_string()].into_iter().collect());
        let text = m.encode().unwrap();
        assert!(text.contains("inferwatch_operator_managed_objects{kind=\"Deployment\"} 1"), "{text}");
        assert!(!text.contains("kind=\"Service\""), "a/x is forgotten: {text}");
    }

    #[test]
    fn errors_count_by_reason_and_reconciles_by_result() {
        let m = Metrics::default();
        m.reconciled(0.01, None);
        m.reconciled(0.02, Some("Forbidden"));
        let text = m.encode().unwrap();
        assert!(text.contains("inferwatch_operator_reconciliations_total{result=\"error\"} 1"), "{text}");
        assert!(text.contains("inferwatch_operator_reconcile_errors_total{reason=\"Forbidden\"} 1"), "{text}");
        assert!(text.contains("inferwatch_operator_reconcile_duration_seconds_count 2"), "{text}");
    }
}
