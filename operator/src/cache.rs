//! The watch caches of the objects ModelServices own: one reflector per [`Slot`], fed by the same
//! watch streams that trigger reconciles, so a reconcile reads the live objects from memory
//! instead of one GET per owned object (at 1000 ModelServices and a 5-minute resync that was
//! about 27 GETs a second while nothing changed).
//!
//! The caches hold objects in a compact form ([`compact`]): without `managedFields`, and with
//! every long string (dashboard JSON, alert descriptions) replaced by its digest. The desired
//! objects are compared in the same form, so the comparison means the same as on full objects
//! while a dashboard ConfigMap costs a few hundred bytes of memory instead of tens of KiB.

use crate::slot::Slot;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::DefaultBackoff;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Strings longer than this are kept as their digest.
pub const LONG_STRING: usize = 256;

/// Replace every string longer than [`LONG_STRING`] bytes by `sha256:<hex>` of it, anywhere in
/// `value` (object keys are left as they are).
pub fn compact(value: &mut Value) {
    match value {
        Value::String(s) if s.len() > LONG_STRING => *s = digest(s),
        Value::Array(items) => items.iter_mut().for_each(compact),
        Value::Object(map) => map.values_mut().for_each(compact),
        _ => {}
    }
}

fn digest(s: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(s.as_bytes())))
}

/// `value` of `slot` in the form the caches hold it: long strings as digests, and the whole
/// `spec` of a PrometheusRule as one digest of its canonical JSON (its hundreds of short rule
/// strings were most of the cache's memory). The API server stores a PrometheusRule's spec as
/// written (its CRD sets no defaults), so the digests of wanted and live spec are equal exactly
/// when the specs are; the quiet e2e test would see a write on every resync otherwise.
pub fn compact_slot(slot: Slot, value: &mut Value) {
    if slot == Slot::PrometheusRule {
        if let Some(spec) = value.get_mut("spec") {
            let mut canonical = String::new();
            write_canonical(spec, &mut canonical);
            *spec = Value::String(digest(&canonical));
        }
    }
    compact(value);
}

/// JSON with object keys sorted at every level (independent of serde_json's map order).
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `value` of `slot` in the form the caches hold it.
pub fn compacted_slot(slot: Slot, value: &Value) -> Value {
    let mut v = value.clone();
    compact_slot(slot, &mut v);
    v
}

/// The watcher's default backoff (0.8 s doubling to 30 s, starting over after 120 s without a
/// failure) without the reset on every successful item: the watcher yields `Init` before each
/// list attempt, so with the reset a list that keeps failing (a kind whose CRD is not installed,
/// a missing permission) was retried every second or two forever.
#[derive(Default)]
struct ListBackoff(DefaultBackoff);

impl Iterator for ListBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.0.next()
    }
}

impl Backoff for ListBackoff {
    fn reset(&mut self) {}
}

/// The readers of the owned-object caches.
#[derive(Clone, Default)]
pub struct OwnedCaches {
    stores: Vec<(Slot, Store<DynamicObject>)>,
}

/// What a cache knows of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Cached {
    /// The cache has listed its kind: the object as it holds it (compact form), or `None` when
    /// there is no such object with the managed-by label.
    Listed(Option<Value>),
    /// No cache of this kind, or it has not finished its first list: only a read can tell.
    Unknown,
}

impl OwnedCaches {
    /// No caches at all: every lookup is [`Cached::Unknown`] (a context without a running
    /// controller, as in the reconcile tests).
    pub fn none() -> Self {
        Self::default()
    }

    /// What the cache of `slot` holds of the object `name` in `namespace`.
    pub fn lookup(&self, slot: Slot, namespace: &str, name: &str) -> Cached {
        let Some((_, store)) = self.stores.iter().find(|(s, _)| *s == slot) else { return Cached::Unknown };
        if !matches!(store.wait_until_ready().now_or_never(), Some(Ok(()))) {
            return Cached::Unknown;
        }
        let key = ObjectRef::new_with(name, slot.api_resource()).within(namespace);
        Cached::Listed(store.get(&key).and_then(|o| serde_json::to_value(&*o).ok()))
    }
}

/// One watch stream of owned objects: it fills its cache and yields the objects it saw change.
pub type OwnedStream = BoxStream<'static, Result<DynamicObject, watcher::Error>>;

/// The caches of every slot and the streams that fill them; every stream must be polled (the
/// controller does, through `owns_stream_with`). Watches select on `label_selector`; a kind whose
/// CRD is missing retries with the watcher's backoff (at most one list every 30 s or so).
pub fn owned_caches(
    client: &Client,
    namespace: Option<&str>,
    label_selector: &str,
) -> (OwnedCaches, Vec<(Slot, OwnedStream)>) {
    let mut stores = Vec::new();
    let mut streams = Vec::new();
    // One watch per kind: ConfigMap is one slot today; two slots of one kind would share it.
    for slot in Slot::ALL {
        let ar = slot.api_resource();
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
        stores.push((slot, writer.as_reader()));
        let config = watcher::Config::default().labels(label_selector).any_semantic();
        let shrink = move |obj: &mut DynamicObject| {
            obj.meta_mut().managed_fields = None;
            compact_slot(slot, &mut obj.data);
        };
        let stream = watcher(api, config)
            .backoff(ListBackoff::default())
            .modify(shrink)
            .reflect(writer)
            .touched_objects()
            .boxed();
        streams.push((slot, stream));
    }
    (OwnedCaches { stores }, streams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_strings_become_digests_and_short_ones_stay() {
        let long = "x".repeat(LONG_STRING + 1);
        let mut v = json!({"data": {"dash.json": long.clone(), "short": "abc"}, "list": [long.clone(), 3]});
        compact(&mut v);
        assert_eq!(v["data"]["short"], "abc");
        assert_eq!(v["data"]["dash.json"], v["list"][0]);
        assert!(v["list"][0].as_str().is_some_and(|s| s.starts_with("sha256:") && s.len() == 7 + 64));
        assert_eq!(v["list"][1], 3);
    }

    #[test]
    fn a_changed_long_string_changes_its_digest() {
        let a = compacted_slot(Slot::Dashboard, &json!("a".repeat(1000)));
        let b = compacted_slot(Slot::Dashboard, &json!(format!("{}b", "a".repeat(999))));
        assert_ne!(a, b);
        assert_eq!(a, compacted_slot(Slot::Dashboard, &json!("a".repeat(1000))));
    }

    #[test]
    fn a_prometheus_rule_spec_is_one_digest_independent_of_key_order() {
        let a = json!({"metadata": {"name": "r"}, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]}});
        let b = json!({"spec": {"groups": [{"rules": [{"expr": "up == 0", "alert": "A"}], "name": "g"}]}, "metadata": {"name": "r"}});
        let (ca, cb) = (compacted_slot(Slot::PrometheusRule, &a), compacted_slot(Slot::PrometheusRule, &b));
        assert_eq!(ca, cb);
        assert!(ca["spec"].as_str().is_some_and(|s| s.starts_with("sha256:")));
        assert_eq!(ca["metadata"]["name"], "r", "metadata stays comparable");
        let changed = json!({"spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 1"}]}]}});
        assert_ne!(compacted_slot(Slot::PrometheusRule, &changed)["spec"], ca["spec"]);
        // Other kinds keep their spec.
        let svc = json!({"spec": {"ports": [{"port": 80}]}});
        assert_eq!(compacted_slot(Slot::Service, &svc), svc);
    }

    #[test]
    fn a_string_of_exactly_the_limit_is_kept() {
        let s = "y".repeat(LONG_STRING);
        assert_eq!(compacted_slot(Slot::Dashboard, &json!(s.clone())), json!(s));
    }
}
