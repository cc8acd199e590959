//! A converged cluster stays quiet: the operator writes nothing for 60 s and no resourceVersion
//! of the ModelService or its objects changes. The operator resyncs every 20 s here, so the
//! window holds two full resyncs, and one ModelService writes its quantities as the API server
//! does not store them (`1.5` CPU is stored as `1500m`, `0.5Gi` as `512Mi`). Every ModelService
//! here has a NetworkPolicy (the chart's default) and one has bearer tokens (a Secret volume).

use e2e::*;
use kube::api::ListParams;
use std::collections::BTreeMap;
use std::time::Duration;

const NS: &str = "e2e-quiet";

async fn versions(client: &kube::Client) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let kinds = [
        ("inferwatch.io", "v1alpha1", "ModelService", "modelservices"),
        ("apps", "v1", "Deployment", "deployments"),
        ("", "v1", "Service", "services"),
        ("", "v1", "ConfigMap", "configmaps"),
        ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        ("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"),
        ("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules"),
        ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
    ];
    for (g, v, k, p) in kinds {
        for o in dynamic(client, NS, g, v, k, p).list(&ListParams::default()).await.unwrap().items {
            let name = o.metadata.name.clone().unwrap_or_default();
            out.insert(format!("{k}/{name}"), o.metadata.resource_version.clone().unwrap_or_default());
        }
    }
    out
}

#[tokio::test]
async fn converged_cluster_sees_no_write_for_sixty_seconds() {
    let client = scenario(NS, MonitoringCrds::Installed).await.unwrap();
    // With the chart's default of a NetworkPolicy per ModelService, and bearer tokens on one.
    let flags = ["--resync-seconds=20", "--network-policy-default=true"].map(String::from);
    let op = Operator::start_with(NS, "e2e-quiet", "quiet-0", &flags).await.unwrap();
    for file in ["sentiment.yaml", "recsys.yaml"] {
        let mut doc = example(file).unwrap();
        doc["spec"]["replicas"] = serde_json::json!(2);
        if file == "sentiment.yaml" {
            doc["spec"]["auth"] = serde_json::json!({"tokenSecret": {"name": "sentiment-tokens"}});
            doc["spec"]["resources"] = serde_json::json!({
                "requests": {"cpu": "0.1", "memory": "0.125Gi"},
                "limits": {"cpu": "1.5", "memory": "0.5Gi"},
            });
        }
        apply_model_service(&client, NS, &doc).await.unwrap();
    }
    wait_ready(&client, NS, "sentiment", Duration::from_secs(90)).await.unwrap();
    wait_ready(&client, NS, "recsys", Duration::from_secs(90)).await.unwrap();
    // Let the last status writes and their watch events settle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = versions(&client).await;
    let writes_before = op.writes().unwrap();
    assert!(before.len() >= 10, "{before:?}");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = versions(&client).await;
    let changed: Vec<_> = before.iter().filter(|(k, v)| after.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect();
    assert!(changed.is_empty(), "objects written while nothing changed: {changed:?}");
    assert_eq!(op.writes().unwrap(), writes_before, "the operator wrote while nothing changed");
    assert!(op.metric("inferwatch_operator_reconciliations_total{result=\"success\"}").unwrap() > 0.0);
}
