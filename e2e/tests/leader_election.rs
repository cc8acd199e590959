//! Two operator replicas: exactly one leads, the resource converges once, no duplicates; when
//! the leader dies the other takes over and keeps reconciling; a restart mid-way converges.

use e2e::*;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use std::time::Duration;

const NS: &str = "e2e-leader";
const LEASE: &str = "e2e-leader";

#[tokio::test]
async fn two_replicas_elect_one_leader_and_the_standby_takes_over() {
    let client = scenario(NS, MonitoringCrds::Installed).await.unwrap();
    let mut a = Operator::start(NS, LEASE, "replica-a").await.unwrap();
    let holder = eventually("a lease holder", Duration::from_secs(30), || async { lease_holder(&client, LEASE).await })
        .await
        .unwrap();
    let b = Operator::start(NS, LEASE, "replica-b").await.unwrap();
    assert_eq!(holder, "replica-a", "the first replica leads");

    apply_model_service(&client, NS, &example("email.yaml").unwrap()).await.unwrap();
    wait_ready(&client, NS, "email", Duration::from_secs(90)).await.unwrap();
    assert_eq!(a.metric("inferwatch_operator_leader").unwrap(), 1.0);
    assert_eq!(b.metric("inferwatch_operator_leader").unwrap(), 0.0);
    assert_eq!(b.writes().unwrap(), 0.0, "the standby wrote nothing");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    assert_eq!(deployments.list(&ListParams::default()).await.unwrap().items.len(), 1, "no duplicate Deployment");

    // The leader crashes (no lease release): the standby takes over after the lease expires.
    a.kill();
    eventually("replica-b leads", Duration::from_secs(60), || async {
        Ok((lease_holder(&client, LEASE).await? == Some("replica-b".into())).then_some(()))
    })
    .await
    .unwrap();
    apply_model_service(&client, NS, &example("trend.yaml").unwrap()).await.unwrap();
    wait_ready(&client, NS, "trend", Duration::from_secs(90)).await.unwrap();
    assert!(b.writes().unwrap() > 0.0, "the new leader reconciles");
    assert_eq!(deployments.list(&ListParams::default()).await.unwrap().items.len(), 2);

    // A restarted replica joins as standby and the graceful leader hands over at once.
    let _c = Operator::start(NS, LEASE, "replica-c").await.unwrap();
    let mut b = b;
    assert!(b.terminate().unwrap().success(), "graceful shutdown exits 0");
    eventually("replica-c leads after the release", Duration::from_secs(20), || async {
        Ok((lease_holder(&client, LEASE).await? == Some("replica-c".into())).then_some(()))
    })
    .await
    .unwrap();
    wait_ready(&client, NS, "email", Duration::from_secs(60)).await.unwrap();
    wait_ready(&client, NS, "trend", Duration::from_secs(60)).await.unwrap();
}

/// A leader whose API calls hang (here: a relay between it and the API server that stops
/// moving bytes) must stop leading before its lease can expire, because the standby takes the
/// lease once it has: otherwise two replicas reconcile at once. The leader gives each renewal
/// only the time left until its renew deadline (10 s after the last renewal began, 5 s before
/// the 15 s lease ends), then stops reconciling and exits.
#[tokio::test]
async fn a_leader_whose_renewals_hang_stops_before_the_standby_takes_the_lease() {
    const LEASE: &str = "e2e-leader-hang";
    let client = scenario(NS, MonitoringCrds::Installed).await.unwrap();
    let relay = proxy::FreezingProxy::start(api_server_addr().unwrap()).await.unwrap();
    let through = kubeconfig_through(&relay.addr, "hang").unwrap();
    let mut a = Operator::start_through(NS, LEASE, "hang-a", &[], &through).await.unwrap();
    eventually("hang-a leads", Duration::from_secs(30), || async {
        Ok((lease_holder(&client, LEASE).await? == Some("hang-a".into())).then_some(()))
    })
    .await
    .unwrap();
    let b = Operator::start(NS, LEASE, "hang-b").await.unwrap();
    assert_eq!(b.metric("inferwatch_operator_leader").unwrap(), 0.0);

    relay.freeze();
    let frozen_at = std::time::Instant::now();
    let mut a_stopped_after = None;
    let b_leads_after = loop {
        if a_stopped_after.is_none() && !a.running() {
            a_stopped_after = Some(frozen_at.elapsed());
        }
        if lease_holder(&client, LEASE).await.unwrap() == Some("hang-b".into()) {
            break frozen_at.elapsed();
        }
        assert!(frozen_at.elapsed() < Duration::from_secs(60), "hang-b never took the lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let a_stopped_after = a_stopped_after.unwrap_or_else(|| {
        panic!("hang-a still ran when hang-b took the lease {b_leads_after:?} after the freeze: two leaders")
    });
    assert!(a_stopped_after < b_leads_after, "hang-a stopped {a_stopped_after:?}, hang-b led {b_leads_after:?}");
    eventually("hang-b reports leading", Duration::from_secs(10), || async {
        Ok((b.metric("inferwatch_operator_leader")? == 1.0).then_some(()))
    })
    .await
    .unwrap();
}
