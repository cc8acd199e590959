//! The kinds of object a ModelService owns (`Slot`), with their API coordinates and names: the
//! vocabulary `apply` (what to write) and `cache` (what is live) share, kept apart so neither
//! imports the other.

use kube::api::{ApiResource, GroupVersionKind};

/// One kind of object a ModelService owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// The inference server.
    Deployment,
    /// Its Service.
    Service,
    /// autoscaling/v2 HorizontalPodAutoscaler.
    Autoscaler,
    /// policy/v1 PodDisruptionBudget.
    DisruptionBudget,
    /// monitoring.coreos.com/v1 ServiceMonitor.
    ServiceMonitor,
    /// monitoring.coreos.com/v1 PrometheusRule.
    PrometheusRule,
    /// The per-model Grafana dashboard ConfigMap.
    Dashboard,
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy,
}

impl Slot {
    /// All slots, in apply order.
    pub const ALL: [Slot; 8] = [
        Slot::Deployment,
        Slot::Service,
        Slot::Autoscaler,
        Slot::DisruptionBudget,
        Slot::ServiceMonitor,
        Slot::PrometheusRule,
        Slot::Dashboard,
        Slot::NetworkPolicy,
    ];

    /// group, version, kind, plural.
    pub fn gvk(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Slot::Deployment => ("apps", "v1", "Deployment", "deployments"),
            Slot::Service => ("", "v1", "Service", "services"),
            Slot::Autoscaler => ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
            Slot::DisruptionBudget => ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
            Slot::ServiceMonitor => ("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"),
            Slot::PrometheusRule => ("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules"),
            Slot::Dashboard => ("", "v1", "ConfigMap", "configmaps"),
            Slot::NetworkPolicy => ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
        }
    }

    /// The kind, for logs, events and metrics.
    pub fn kind(self) -> &'static str {
        self.gvk().2
    }

    /// Whether the kind comes from the prometheus-operator CRDs (and may be missing).
    pub fn needs_monitoring_crds(self) -> bool {
        matches!(self, Slot::ServiceMonitor | Slot::PrometheusRule)
    }

    /// The object's name for a ModelService called `name`.
    pub fn object_name(self, name: &str) -> String {
        match self {
            Slot::Dashboard => format!("{name}-dashboard"),
            _ => name.to_string(),
        }
    }

    /// The dynamic API resource of the kind.
    pub fn api_resource(self) -> ApiResource {
        let (g, v, k, plural) = self.gvk();
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), plural)
    }
}
