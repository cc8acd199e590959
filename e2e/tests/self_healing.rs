//! An owned Deployment edited or deleted by hand is put back.

use e2e::*;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use std::time::Duration;

const NS: &str = "e2e-self-healing";

#[tokio::test]
async fn hand_edited_or_deleted_deployment_is_restored() {
    let client = scenario(NS, MonitoringCrds::Installed).await.unwrap();
    let _op = Operator::start(NS, "e2e-self-healing", "self-healing-0").await.unwrap();
    let mut doc = example("topic.yaml").unwrap();
    doc["spec"]["replicas"] = json!(2);
    let name = doc["metadata"]["name"].as_str().unwrap().to_string();
    apply_model_service(&client, NS, &doc).await.unwrap();
    wait_ready(&client, NS, &name, Duration::from_secs(90)).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);

    // Someone scales it by hand and changes the image (as another field manager).
    let edit = json!({"spec": {"replicas": 5}});
    deployments.patch(&name, &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
    eventually("replicas restored to 2", Duration::from_secs(60), || async {
        let d = deployments.get(&name).await?;
        Ok((d.spec.and_then(|s| s.replicas) == Some(2)).then_some(()))
    })
    .await
    .unwrap();

    // Someone deletes it.
    let uid = deployments.get(&name).await.unwrap().metadata.uid;
    deployments.delete(&name, &DeleteParams::default()).await.unwrap();
    eventually("Deployment recreated", Duration::from_secs(60), || async {
        let d = deployments.get_opt(&name).await?;
        Ok(d.filter(|d| d.metadata.uid != uid && d.metadata.deletion_timestamp.is_none()).map(|_| ()))
    })
    .await
    .unwrap();
    wait_ready(&client, NS, &name, Duration::from_secs(90)).await.unwrap();
}

/// A ModelService named like an existing Service that something else made does not take the
/// Service over (a takeover would hand it to the garbage collector with the ModelService): the
/// Service keeps its spec and has no owner, the ModelService is Degraded with `ObjectNotOwned`
/// and a Warning Event, and deleting the ModelService leaves the Service in place.
#[tokio::test]
async fn a_service_that_is_not_ours_is_never_taken_over() {
    const NS: &str = "e2e-not-owned";
    let client = scenario(NS, MonitoringCrds::Installed).await.unwrap();
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), NS);
    let theirs = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "reviews", "namespace": NS, "labels": {"team": "web"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "web", "port": 8000}]},
    });
    services.patch("reviews", &PatchParams::apply("someone-else"), &Patch::Apply(&theirs)).await.unwrap();
    let _op = Operator::start(NS, "e2e-not-owned", "not-owned-0").await.unwrap();
    let ms = json!({
        "apiVersion": "inferwatch.io/v1alpha1", "kind": "ModelService",
        "metadata": {"name": "reviews"},
        "spec": {"model": {"kind": "sentiment"}},
    });
    apply_model_service(&client, NS, &ms).await.unwrap();
    let api = model_services(&client, NS);
    eventually("Degraded with ObjectNotOwned", Duration::from_secs(60), || async {
        let ms = api.get("reviews").await?;
        Ok(condition(&ms, "Degraded").filter(|(s, r, _)| s == "True" && r == "ObjectNotOwned").map(|_| ()))
    })
    .await
    .unwrap();
    let svc = services.get("reviews").await.unwrap();
    assert!(svc.metadata.owner_references.unwrap_or_default().is_empty(), "no owner was added");
    let ports = svc.spec.and_then(|s| s.ports).unwrap_or_default();
    assert_eq!(ports.iter().map(|p| p.port).collect::<Vec<_>>(), vec![8000], "the spec is theirs");
    let events =
        kubectl(&["get", "events", "-n", NS, "--field-selector", "reason=ObjectNotOwned", "-o", "name"]).unwrap();
    assert!(!events.trim().is_empty(), "a Warning Event says why");

    api.delete("reviews", &DeleteParams::default()).await.unwrap();
    eventually("the ModelService is gone", Duration::from_secs(60), || async {
        Ok(api.get_opt("reviews").await?.is_none().then_some(()))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(services.get_opt("reviews").await.unwrap().is_some(), "the Service outlives the ModelService");
}
