//! A ModelService's whole life against the real API server, controller-manager and kwok: every
//! example converges, spec changes are followed, unwanted objects are pruned, deletion
//! garbage-collects everything.

use e2e::*;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams};
use serde_json::{json, Value};
use std::time::Duration;

const NS: &str = "e2e-lifecycle";
const WAIT: Duration = Duration::from_secs(90);

async fn exists(client: &kube::Client, group: &str, version: &str, kind: &str, plural: &str, name: &str) -> bool {
    matches!(dynamic(client, NS, group, version, kind, plural).get_opt(name).await, Ok(Some(_)))
}

#[tokio::test]
async fn every_example_converges_and_follows_spec_changes_until_deleted() {
    let client = scenario(NS, MonitoringCrds::Installed).await.unwrap();
    let op = Operator::start(NS, "e2e-lifecycle", "lifecycle-0").await.unwrap();

    // Every example becomes Ready with every owned object in place.
    for file in ["sentiment.yaml", "topic.yaml", "email.yaml", "recsys.yaml", "trend.yaml"] {
        let doc = example(file).unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        apply_model_service(&client, NS, &doc).await.unwrap();
        let ms = wait_ready(&client, NS, &name, WAIT).await.unwrap();
        assert_eq!(ms.data["status"]["observedGeneration"], json!(ms.metadata.generation.unwrap()));
        assert_eq!(ms.data["status"]["endpoint"], json!(format!("http://{name}.{NS}.svc:80")));
        assert_eq!(condition(&ms, "MonitoringReady").unwrap().0, "True");
        let d: Deployment = Api::namespaced(client.clone(), NS).get(&name).await.unwrap();
        let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert!(c.readiness_probe.is_some() && c.liveness_probe.is_some() && c.startup_probe.is_some());
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(d.metadata.owner_references.as_ref().unwrap()[0].kind, "ModelService");
        assert!(exists(&client, "", "v1", "Service", "services", &name).await, "{name}: Service");
        assert!(exists(&client, "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors", &name).await);
        assert!(exists(&client, "monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules", &name).await);
        let cm =
            dynamic(&client, NS, "", "v1", "ConfigMap", "configmaps").get(&format!("{name}-dashboard")).await.unwrap();
        assert_eq!(cm.metadata.labels.as_ref().unwrap()["grafana_dashboard"], "1");
    }

    // `kubectl get msvc` shows the printer columns.
    let table = kubectl(&["-n", NS, "get", "msvc"]).unwrap();
    let header = table.lines().next().unwrap();
    for col in ["NAME", "KIND", "VERSION", "READY REPLICAS", "READY", "AGE"] {
        assert!(header.contains(col), "{col} missing from {header}");
    }
    assert!(table.lines().any(|l| l.starts_with("sentiment") && l.contains("True")), "{table}");

    // Spec changes: 3 replicas → PDB, Deployment scaled; SLO change → rule follows.
    let mut doc = example("sentiment.yaml").unwrap();
    doc["spec"]["replicas"] = json!(3);
    doc["spec"]["monitoring"] = json!({"slo": {"latencyThresholdSeconds": 0.25}});
    apply_model_service(&client, NS, &doc).await.unwrap();
    wait_ready(&client, NS, "sentiment", WAIT).await.unwrap();
    let d: Deployment = Api::namespaced(client.clone(), NS).get("sentiment").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    assert!(exists(&client, "policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "sentiment").await);
    let rule = dynamic(&client, NS, "monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules")
        .get("sentiment")
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&rule.data["spec"]).unwrap().contains(r#"le=\"0.25\""#),
        "the latency SLO reaches the rule"
    );

    // Autoscaling on: HPA appears, the Deployment's replicas are left to it.
    let mut auto = example("sentiment.yaml").unwrap();
    auto["spec"]["autoscaling"] = json!({"minReplicas": 2, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60});
    apply_model_service(&client, NS, &auto).await.unwrap();
    eventually("HPA created", WAIT, || async {
        Ok(exists(&client, "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "sentiment")
            .await
            .then_some(()))
    })
    .await
    .unwrap();

    // Autoscaling off, one replica, dashboard off: HPA, PDB and dashboard are deleted.
    // The same step turns on bearer tokens and a NetworkPolicy.
    let mut small = example("sentiment.yaml").unwrap();
    small["spec"]["monitoring"] = json!({"dashboard": {"enabled": false}});
    small["spec"]["auth"] = json!({"tokenSecret": {"name": "sentiment-tokens"}});
    small["spec"]["networkPolicy"] = json!({"enabled": true, "allowedNamespaces": ["ingress-nginx"]});
    apply_model_service(&client, NS, &small).await.unwrap();
    eventually("HPA, PDB and dashboard pruned", WAIT, || async {
        let hpa =
            exists(&client, "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "sentiment")
                .await;
        let pdb = exists(&client, "policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "sentiment").await;
        let cm = exists(&client, "", "v1", "ConfigMap", "configmaps", "sentiment-dashboard").await;
        Ok((!hpa && !pdb && !cm).then_some(()))
    })
    .await
    .unwrap();
    wait_ready(&client, NS, "sentiment", WAIT).await.unwrap();
    let np = dynamic(&client, NS, "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies")
        .get("sentiment")
        .await
        .unwrap();
    let from = &np.data["spec"]["ingress"][0]["from"];
    assert_eq!(from[1]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "ingress-nginx", "{np:?}");
    assert_eq!(
        np.data["spec"]["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    let d: Deployment = Api::namespaced(client.clone(), NS).get("sentiment").await.unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    assert!(pod.containers[0]
        .args
        .as_ref()
        .unwrap()
        .contains(&"--auth-token-file=/etc/inferwatch/auth/tokens".to_string()));
    assert!(pod
        .volumes
        .unwrap()
        .iter()
        .any(|v| v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some("sentiment-tokens")));

    // A background deletion removes the resource at once, without a reconcile that sees it go:
    // the operator's state of it (here its managed-objects gauge) is still forgotten.
    let deployments = r#"inferwatch_operator_managed_objects{kind="Deployment"}"#;
    let before = op.metric(deployments).unwrap();
    model_services(&client, NS).delete("trend", &DeleteParams::background()).await.unwrap();
    eventually("the deleted resource's objects are no longer counted", WAIT, || async {
        Ok((op.metric(deployments)? == before - 1.0).then_some(()))
    })
    .await
    .unwrap();

    // Delete: the garbage collector removes everything the resource owned.
    model_services(&client, NS).delete("sentiment", &DeleteParams::foreground()).await.unwrap();
    eventually("owned objects garbage-collected", WAIT, || async {
        let left: Vec<Value> = vec![
            json!(exists(&client, "apps", "v1", "Deployment", "deployments", "sentiment").await),
            json!(exists(&client, "", "v1", "Service", "services", "sentiment").await),
            json!(exists(&client, "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "sentiment").await),
            json!(
                exists(&client, "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors", "sentiment").await
            ),
            json!(
                exists(&client, "monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules", "sentiment").await
            ),
        ];
        Ok(left.iter().all(|v| v == &json!(false)).then_some(()))
    })
    .await
    .unwrap();
}
