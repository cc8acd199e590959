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
