//! `status`: pure functions from what the operator observed to the ModelService status, with
//! condition transition times preserved, and the decision whether to write it at all (only when
//! it changed, so the operator never triggers itself).

use crate::crd::{ModelService, ModelServiceStatus};
use crate::render::MODEL_VERSION_ANNOTATION;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

/// Condition types.
pub const READY: &str = "Ready";
/// Rollout in progress.
pub const PROGRESSING: &str = "Progressing";
/// Something is wrong that will not fix itself.
pub const DEGRADED: &str = "Degraded";
/// ServiceMonitor / PrometheusRule are in place.
pub const MONITORING_READY: &str = "MonitoringReady";

/// What the reconciler saw.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The owned Deployment, if it exists.
    pub deployment: Option<Deployment>,
    /// Whether the prometheus-operator CRDs (ServiceMonitor, PrometheusRule) are installed.
    pub monitoring_crds: bool,
    /// The last apply error, if applying failed.
    pub apply_error: Option<String>,
    /// Objects with our names that this ModelService does not control, left untouched
    /// (`Kind/name`).
    pub not_owned: Vec<String>,
}

struct Cond {
    kind: &'static str,
    ok: bool,
    reason: &'static str,
    message: String,
}

fn evaluate(ms: &ModelService, o: &Observed) -> (Vec<Cond>, Option<i32>, Option<i32>) {
    let (mut replicas, mut ready) = (None, None);
    let mut conds = Vec::new();
    match &o.deployment {
        None => {
            conds.push(Cond {
                kind: READY,
                ok: false,
                reason: "DeploymentMissing",
                message: "the inference server Deployment does not exist yet".into(),
            });
            conds.push(Cond {
                kind: PROGRESSING,
                ok: true,
                reason: "Creating",
                message: "creating the inference server".into(),
            });
        }
        Some(d) => {
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let st = d.status.clone().unwrap_or_default();
            let available = st.available_replicas.unwrap_or(0);
            let updated = st.updated_replicas.unwrap_or(0);
            replicas = Some(st.replicas.unwrap_or(0));
            ready = Some(st.ready_replicas.unwrap_or(0));
            let rolled_out = rolled_out(d);
            conds.push(if want == 0 {
                Cond { kind: READY, ok: false, reason: "ScaledToZero", message: "spec asks for 0 replicas".into() }
            } else if available >= want && rolled_out {
                Cond {
                    kind: READY,
                    ok: true,
                    reason: "ReplicasAvailable",
                    message: format!("{available}/{want} replicas available"),
                }
            } else {
                Cond {
                    kind: READY,
                    ok: false,
                    reason: "ReplicasUnavailable",
                    message: format!("{available}/{want} replicas available"),
                }
            });
            conds.push(if rolled_out {
                Cond {
                    kind: PROGRESSING,
                    ok: false,
                    reason: "RolloutComplete",
                    message: "the latest spec is rolled out".into(),
                }
            } else {
                Cond {
                    kind: PROGRESSING,
                    ok: true,
                    reason: "RollingOut",
                    message: format!("{updated}/{want} replicas updated"),
                }
            });
        }
    }
    let stuck =
        o.deployment.as_ref().and_then(|d| d.status.as_ref()).and_then(|s| s.conditions.as_ref()).and_then(|cs| {
            cs.iter().find(|c| {
                (c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
                    || (c.type_ == "ReplicaFailure" && c.status == "True")
            })
        });
    conds.push(match (&o.apply_error, stuck) {
        (Some(e), _) => Cond { kind: DEGRADED, ok: true, reason: "ApplyFailed", message: e.clone() },
        (None, _) if !o.not_owned.is_empty() => Cond {
            kind: DEGRADED,
            ok: true,
            reason: "ObjectNotOwned",
            message: format!(
                "{} already exist and are not controlled by this ModelService; they are left as they are: rename the ModelService or remove them",
                o.not_owned.join(", ")
            ),
        },
        (None, Some(c)) => Cond {
            kind: DEGRADED,
            ok: true,
            reason: "DeploymentStuck",
            message: c.message.clone().unwrap_or_else(|| c.type_.clone()),
        },
        (None, None) => Cond { kind: DEGRADED, ok: false, reason: "AsExpected", message: "no problem detected".into() },
    });
    let mon = &ms.spec.monitoring;
    let wants_monitoring = mon.service_monitor.enabled || mon.alerts.enabled;
    conds.push(if !wants_monitoring {
        Cond { kind: MONITORING_READY, ok: true, reason: "Disabled", message: "ServiceMonitor and alerts are disabled".into() }
    } else if o.monitoring_crds {
        Cond { kind: MONITORING_READY, ok: true, reason: "Applied", message: "ServiceMonitor and PrometheusRule are applied".into() }
    } else {
        Cond {
            kind: MONITORING_READY,
            ok: false,
            reason: "PrometheusOperatorCRDsMissing",
            message: "the monitoring.coreos.com CRDs (ServiceMonitor, PrometheusRule) are not installed; install prometheus-operator and this heals by itself".into(),
        }
    });
    (conds, replicas, ready)
}

/// The status the ModelService should have. Conditions keep their `lastTransitionTime` while
/// their status does not change; `now` is used for the ones that do.
pub fn desired_status(ms: &ModelService, observed: &Observed, now: &Time) -> ModelServiceStatus {
    let previous = ms.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let (conds, replicas, ready_replicas) = evaluate(ms, observed);
    let conditions = conds
        .into_iter()
        .map(|c| {
            let status = if c.ok { "True" } else { "False" }.to_string();
            let since = previous
                .iter()
                .find(|p| p.type_ == c.kind && p.status == status)
                .map_or_else(|| now.clone(), |p| p.last_transition_time.clone());
            Condition {
                type_: c.kind.to_string(),
                status,
                reason: c.reason.to_string(),
                message: c.message,
                observed_generation: ms.metadata.generation,
                last_transition_time: since,
            }
        })
        .collect();
    ModelServiceStatus {
        conditions,
        observed_generation: ms.metadata.generation,
        replicas,
        ready_replicas,
        endpoint: ms.namespace().map(|ns| format!("http://{}.{ns}.svc:80", ms.name_any())),
        model_version: served_version(ms, observed.deployment.as_ref()),
    }
}

/// Whether the Deployment's latest spec is rolled out: its generation observed, every wanted
/// replica updated and no old one left.
fn rolled_out(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let seen = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    seen && st.updated_replicas.unwrap_or(0) >= want && st.replicas.unwrap_or(0) <= want
}

/// The pinned model version every available pod serves: the Deployment template's
/// [`MODEL_VERSION_ANNOTATION`] once its rollout is complete (a pod is Ready only with the pinned
/// version loaded, and every pod then runs that template); while a rollout is under way, the
/// version reported before it; nothing when no pod is available.
pub fn served_version(ms: &ModelService, deployment: Option<&Deployment>) -> Option<String> {
    let d = deployment?;
    let st = d.status.as_ref()?;
    if st.available_replicas.unwrap_or(0) == 0 {
        return None;
    }
    if rolled_out(d) {
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(MODEL_VERSION_ANNOTATION).cloned())
    } else {
        ms.status.as_ref().and_then(|s| s.model_version.clone())
    }
}

/// Whether the status must be written: only when it differs from what is stored.
pub fn needs_write(ms: &ModelService, desired: &ModelServiceStatus) -> bool {
    ms.status.as_ref() != Some(desired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};
    use k8s_openapi::jiff::Timestamp;

    fn ms() -> ModelService {
        let mut ms: ModelService = serde_json::from_value(serde_json::json!({
            "apiVersion": "inferwatch.io/v1alpha1", "kind": "ModelService",
            "metadata": {"name": "s", "namespace": "ns", "generation": 3, "uid": "u"},
            "spec": {"model": {"kind": "sentiment"}},
        }))
        .unwrap();
        ms.status = None;
        ms
    }

    fn deployment(want: i32, available: i32, updated: i32) -> Deployment {
        Deployment {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                generation: Some(1),
                ..Default::default()
            },
            spec: Some(DeploymentSpec { replicas: Some(want), ..Default::default() }),
            status: Some(DeploymentStatus {
                replicas: Some(want),
                available_replicas: Some(available),
                ready_replicas: Some(available),
                updated_replicas: Some(updated),
                observed_generation: Some(1),
                ..Default::default()
            }),
        }
    }

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn cond<'a>(s: &'a ModelServiceStatus, kind: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == kind).unwrap()
    }

    #[test]
    fn available_deployment_makes_ready_true_with_the_generation() {
        let o = Observed { deployment: Some(deployment(2, 2, 2)), monitoring_crds: true, ..Observed::default() };
        let s = desired_status(&ms(), &o, &t(100));
        assert_eq!(cond(&s, READY).status, "True");
        assert_eq!(cond(&s, PROGRESSING).status, "False");
        assert_eq!(cond(&s, DEGRADED).status, "False");
        assert_eq!(cond(&s, MONITORING_READY).status, "True");
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.endpoint.as_deref(), Some("http://s.ns.svc:80"));
    }

    #[test]
    fn rollout_in_progress_is_progressing_and_not_ready() {
        let o = Observed { deployment: Some(deployment(2, 1, 1)), monitoring_crds: true, ..Observed::default() };
        let s = desired_status(&ms(), &o, &t(100));
        assert_eq!((cond(&s, READY).status.as_str(), cond(&s, PROGRESSING).status.as_str()), ("False", "True"));
    }

    #[test]
    fn objects_we_do_not_control_make_the_resource_degraded_naming_them() {
        let o = Observed {
            deployment: Some(deployment(1, 1, 1)),
            monitoring_crds: true,
            not_owned: vec!["Service/reviews".into()],
            ..Observed::default()
        };
        let c = desired_status(&ms(), &o, &t(100)).conditions.into_iter().find(|c| c.type_ == DEGRADED).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "ObjectNotOwned"));
        assert!(c.message.contains("Service/reviews"), "{}", c.message);
    }

    #[test]
    fn missing_prometheus_operator_crds_set_monitoring_ready_false_with_a_clear_reason() {
        let o = Observed { deployment: Some(deployment(1, 1, 1)), monitoring_crds: false, ..Observed::default() };
        let c =
            desired_status(&ms(), &o, &t(100)).conditions.into_iter().find(|c| c.type_ == MONITORING_READY).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "PrometheusOperatorCRDsMissing"));
        assert!(c.message.contains("install prometheus-operator"));
    }

    #[test]
    fn an_apply_error_is_degraded() {
        let o = Observed {
            deployment: None,
            monitoring_crds: true,
            apply_error: Some("forbidden: deployments".into()),
            not_owned: Vec::new(),
        };
        let s = desired_status(&ms(), &o, &t(100));
        assert_eq!((cond(&s, DEGRADED).status.as_str(), cond(&s, DEGRADED).reason.as_str()), ("True", "ApplyFailed"));
        assert_eq!(cond(&s, READY).reason, "DeploymentMissing");
    }

    #[test]
    fn transition_times_are_kept_while_a_condition_holds_and_nothing_is_rewritten() {
        let o = Observed { deployment: Some(deployment(1, 1, 1)), monitoring_crds: true, ..Observed::default() };
        let mut m = ms();
        let first = desired_status(&m, &o, &t(100));
        m.status = Some(first.clone());
        let second = desired_status(&m, &o, &t(500));
        assert_eq!(first, second, "same observation, later clock: identical status");
        assert!(!needs_write(&m, &second));
        let o2 = Observed { deployment: Some(deployment(1, 0, 1)), ..o };
        let third = desired_status(&m, &o2, &t(900));
        assert_eq!(cond(&third, READY).last_transition_time, t(900), "Ready flipped: new time");
        assert_eq!(cond(&third, MONITORING_READY).last_transition_time, t(100), "unchanged: old time");
        assert!(needs_write(&m, &third));
    }

    fn pinned(mut d: Deployment, version: &str) -> Deployment {
        let spec = d.spec.get_or_insert_with(Default::default);
        spec.template.metadata = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            annotations: Some([(MODEL_VERSION_ANNOTATION.to_string(), version.to_string())].into()),
            ..Default::default()
        });
        d
    }

    #[test]
    fn the_served_version_is_the_pinned_one_once_every_pod_runs_it() {
        let s = desired_status(
            &ms(),
            &Observed { deployment: Some(pinned(deployment(2, 2, 2), "1.1.0")), ..Observed::default() },
            &t(1),
        );
        assert_eq!(s.model_version.as_deref(), Some("1.1.0"));
    }

    #[test]
    fn during_a_rollout_the_served_version_stays_the_one_reported_before() {
        let mut m = ms();
        m.status = Some(ModelServiceStatus { model_version: Some("1.0.0".into()), ..Default::default() });
        let rolling = Observed { deployment: Some(pinned(deployment(2, 2, 1), "1.1.0")), ..Observed::default() };
        assert_eq!(desired_status(&m, &rolling, &t(1)).model_version.as_deref(), Some("1.0.0"));
    }

    #[test]
    fn no_available_pod_or_no_pin_reports_no_version() {
        let down = Observed { deployment: Some(pinned(deployment(2, 0, 2), "1.1.0")), ..Observed::default() };
        assert_eq!(desired_status(&ms(), &down, &t(1)).model_version, None);
        let unpinned = Observed { deployment: Some(deployment(2, 2, 2)), ..Observed::default() };
        assert_eq!(desired_status(&ms(), &unpinned, &t(1)).model_version, None);
    }
}
