//! `apply`: the decisions of bringing the cluster to what `render` wants, as pure functions,
//! plus the one place that carries them out against the API server.
//!
//! Every object is written with server-side apply under one field manager. An object is only
//! written when the live copy does not already contain every field we want (so a second
//! reconcile of an unchanged resource writes nothing, and a hand edit of a field we own is put
//! back). Objects the spec no longer wants, and that this ModelService controls, are deleted.

use crate::cache::{compact_slot, compacted_slot, Cached, OwnedCaches};
use crate::error::Error;
use crate::render::Desired;
pub use crate::slot::Slot;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::Client;
use serde_json::Value;

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "inferwatch-operator";

/// The desired object of every slot (`None`: the spec does not want it).
pub fn desired_slots(d: &Desired) -> Result<Vec<(Slot, Option<Value>)>, Error> {
    let objects = d.objects()?;
    Ok(Slot::ALL
        .iter()
        .map(|slot| {
            let want = objects.iter().find(|o| o["kind"] == slot.kind()).cloned();
            (*slot, want)
        })
        .collect())
}

/// What to do with one slot.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Server-side apply this object.
    Apply(Value),
    /// Delete the live object (no longer wanted, and ours).
    Delete,
    /// Leave the live object alone: it is wanted, but another owner (or none) controls it, and
    /// taking it over would make the garbage collector delete it with this ModelService.
    Refuse,
    /// Nothing to do.
    Keep,
}

/// Whether `live` already holds every field of `want` with the same value. Objects compare by
/// key (extra live keys, such as server defaults, are fine); lists compare element by element
/// and must have the same length. Resource quantities (the values under `limits` and
/// `requests`) compare by amount: the API server stores `1.5` CPU as `1500m` and `0.5Gi` as
/// `512Mi`, and a textual comparison would re-apply them on every reconcile.
pub fn contains(want: &Value, live: &Value) -> bool {
    contains_in(want, live, false)
}

fn contains_in(want: &Value, live: &Value, quantities: bool) -> bool {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => w.iter().all(|(k, wv)| match l.get(k) {
            Some(lv) => contains_in(wv, lv, quantities || k == "limits" || k == "requests"),
            None => is_empty(wv),
        }),
        (Value::Array(w), Value::Array(l)) => w.len() == l.len() && w.iter().zip(l).all(|(a, b)| contains(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) if quantities && a != b => {
            matches!((quantity(a), quantity(b)), (Some(x), Some(y)) if (x - y).abs() <= 1e-9 * x.abs().max(y.abs()))
        }
        _ => want == live,
    }
}

/// The amount of a Kubernetes quantity (`1.5`, `1500m`, `512Mi`, `1e3`, `2G`); `None` when it
/// is not one.
pub fn quantity(s: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 15] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let s = s.trim();
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(suffix, scale)| s.strip_suffix(suffix).filter(|n| !n.ends_with(['e', 'E'])).map(|n| (n, *scale)))
        .unwrap_or((s, 1.0));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-' | b'e' | b'E'))
    {
        return None;
    }
    number.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v * scale)
}

/// Values the API server drops when stored: null, `{}` and `[]`.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Whether `live` is controlled by the ModelService with this uid.
pub fn controlled_by(live: &Value, owner_uid: &str) -> bool {
    live["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid && r["controller"] == true))
}

/// The step for one slot, from what is wanted and what is there.
pub fn plan(want: Option<&Value>, live: Option<&Value>, owner_uid: &str) -> Step {
    match (want, live) {
        (Some(_), Some(l)) if !controlled_by(l, owner_uid) => Step::Refuse,
        (Some(w), Some(l)) if contains(w, l) => Step::Keep,
        (Some(w), _) => Step::Apply(w.clone()),
        (None, Some(l)) if controlled_by(l, owner_uid) => Step::Delete,
        (None, _) => Step::Keep,
    }
}

/// What one pass of apply did and saw.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Kinds written by server-side apply.
    pub applied: Vec<&'static str>,
    /// Kinds deleted because the spec no longer wants them.
    pub deleted: Vec<&'static str>,
    /// Wanted objects left alone because something else controls them (`Kind/name`).
    pub not_owned: Vec<String>,
    /// Number of objects that exist and are wanted after this pass.
    pub managed: Vec<(&'static str, usize)>,
    /// The live Deployment after apply.
    pub deployment: Option<k8s_openapi::api::apps::v1::Deployment>,
    /// Whether the prometheus-operator CRDs are served.
    pub monitoring_crds: bool,
}

/// Bring the owned objects of one ModelService to `slots`: look each up (in the watch cache; a
/// read only where the cache cannot tell), apply what differs, delete what is no longer wanted.
/// Monitoring kinds are skipped while their CRDs are missing (`monitoring_crds`).
pub async fn apply(
    client: &Client,
    caches: &OwnedCaches,
    monitoring_crds: bool,
    target: &Owner<'_>,
    slots: &[(Slot, Option<Value>)],
) -> Result<Outcome, Error> {
    let mut out = Outcome { monitoring_crds, ..Outcome::default() };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for (slot, want) in slots {
        if slot.needs_monitoring_crds() && !monitoring_crds {
            continue;
        }
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), target.namespace, &slot.api_resource());
        let object_name = slot.object_name(target.name);
        let live = match caches.lookup(*slot, target.namespace, &object_name) {
            // A wanted object the cache does not hold may still exist without our label: read it
            // before creating, so that it is refused rather than taken over.
            Cached::Listed(None) if want.is_some() => read(&api, *slot, &object_name).await?,
            Cached::Listed(live) => live,
            Cached::Unknown => read(&api, *slot, &object_name).await?,
        };
        let now = match plan(want.as_ref().map(|w| compacted_slot(*slot, w)).as_ref(), live.as_ref(), target.uid) {
            Step::Keep => live,
            Step::Refuse => {
                out.not_owned.push(format!("{}/{object_name}", slot.kind()));
                None
            }
            // (`plan` compared the compact form; the write sends the whole object.)
            Step::Apply(_) => {
                let Some(body) = want else { continue };
                let written = api
                    .patch(&object_name, &params, &Patch::Apply(body))
                    .await
                    .map_err(|e| Error::Kube { action: "apply owned object", source: e })?;
                out.applied.push(slot.kind());
                Some(serde_json::to_value(written).unwrap_or(Value::Null))
            }
            Step::Delete => {
                match api.delete(&object_name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    // Already gone (the cache was behind): what we wanted.
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(Error::Kube { action: "delete owned object", source: e }),
                }
                out.deleted.push(slot.kind());
                None
            }
        };
        if want.is_some() && now.is_some() {
            out.managed.push((slot.kind(), 1));
        }
        if *slot == Slot::Deployment {
            out.deployment = now.and_then(|v| serde_json::from_value(v).ok());
        }
    }
    Ok(out)
}

/// The ModelService whose objects are applied.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// Its namespace (every owned object lives there).
    pub namespace: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its uid, which owner references point at.
    pub uid: &'a str,
}

/// One object read from the API server, in the caches' compact form.
async fn read(api: &Api<DynamicObject>, slot: Slot, name: &str) -> Result<Option<Value>, Error> {
    let object = api.get_opt(name).await.map_err(|e| Error::Kube { action: "read owned object", source: e })?;
    Ok(object.and_then(|o| serde_json::to_value(o).ok()).map(|mut v| {
        compact_slot(slot, &mut v);
        v
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn live_object_with_server_defaults_contains_the_wanted_fields() {
        let want = json!({"spec": {"ports": [{"name": "http", "port": 80}]}});
        let live =
            ours(json!({"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}], "type": "ClusterIP"}}));
        assert!(contains(&want, &live));
        assert_eq!(plan(Some(&want), Some(&live), "u"), Step::Keep);
    }

    fn ours(v: Value) -> Value {
        let mut v = v;
        v["metadata"] = json!({"ownerReferences": [{"uid": "u", "controller": true}]});
        v
    }

    #[test]
    fn hand_edited_field_is_applied_again() {
        let want = json!({"spec": {"replicas": 2}});
        let live = ours(json!({"spec": {"replicas": 5}}));
        assert_eq!(plan(Some(&want), Some(&live), "u"), Step::Apply(want.clone()));
    }

    #[test]
    fn a_wanted_object_that_another_owner_or_nobody_controls_is_never_taken_over() {
        let want = json!({"spec": {"replicas": 2}});
        let unowned = json!({"metadata": {"name": "x"}, "spec": {"replicas": 5}});
        let theirs = json!({"metadata": {"ownerReferences": [{"uid": "other", "controller": true}]}});
        let owner_not_controller = json!({"metadata": {"ownerReferences": [{"uid": "u", "controller": false}]}});
        for live in [unowned, theirs, owner_not_controller] {
            assert_eq!(plan(Some(&want), Some(&live), "u"), Step::Refuse, "{live}");
        }
    }

    #[test]
    fn list_of_another_length_is_not_contained() {
        assert!(!contains(&json!({"a": [1]}), &json!({"a": [1, 2]})));
        assert!(!contains(&json!({"a": [1, 2]}), &json!({"a": [1]})));
    }

    #[test]
    fn empty_and_null_wanted_values_match_a_missing_live_field() {
        assert!(contains(&json!({"a": null, "b": {}, "c": []}), &json!({})));
        assert!(!contains(&json!({"a": {"x": 1}}), &json!({})));
    }

    #[test]
    fn resource_quantities_compare_by_amount_as_the_api_server_rewrites_them() {
        let want = json!({"resources": {"limits": {"cpu": "1.5", "memory": "0.5Gi"}, "requests": {"cpu": "0.1"}}});
        let live = json!({"resources": {"limits": {"cpu": "1500m", "memory": "512Mi"}, "requests": {"cpu": "100m"}}});
        assert!(contains(&want, &live));
        let other = json!({"resources": {"limits": {"cpu": "2", "memory": "512Mi"}, "requests": {"cpu": "100m"}}});
        assert!(!contains(&want, &other));
        // Elsewhere strings compare as written.
        assert!(!contains(&json!({"labels": {"v": "1.5"}}), &json!({"labels": {"v": "1500m"}})));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("2Gi"), Some(2.0 * 1_073_741_824.0));
        assert_eq!(quantity("250m"), Some(0.25));
        assert_eq!(quantity("1E"), Some(1e18));
        assert_eq!(quantity("abc"), None);
        assert_eq!(quantity(""), None);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(contains(&json!({"t": 0.5}), &json!({"t": 0.50})));
        assert!(contains(&json!({"n": 3}), &json!({"n": 3.0})));
    }

    #[test]
    fn missing_object_is_created() {
        let want = json!({"kind": "Service"});
        assert_eq!(plan(Some(&want), None, "u"), Step::Apply(want.clone()));
    }

    #[test]
    fn unwanted_object_is_deleted_only_when_this_resource_controls_it() {
        let ours = json!({"metadata": {"ownerReferences": [{"uid": "u", "controller": true}]}});
        let theirs = json!({"metadata": {"ownerReferences": [{"uid": "other", "controller": true}]}});
        let unowned = json!({"metadata": {"name": "x"}});
        assert_eq!(plan(None, Some(&ours), "u"), Step::Delete);
        assert_eq!(plan(None, Some(&theirs), "u"), Step::Keep);
        assert_eq!(plan(None, Some(&unowned), "u"), Step::Keep);
        assert_eq!(plan(None, None, "u"), Step::Keep);
    }

    #[test]
    fn dashboard_configmap_has_its_own_name() {
        assert_eq!(Slot::Dashboard.object_name("s"), "s-dashboard");
        assert_eq!(Slot::Deployment.object_name("s"), "s");
    }
}
