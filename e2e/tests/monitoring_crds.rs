//! Without the prometheus-operator CRDs a ModelService reports MonitoringReady=False with a
//! clear reason; installing them later heals it with no operator restart.

use e2e::*;
use std::time::Duration;

const NS: &str = "e2e-monitoring";

#[tokio::test]
async fn missing_monitoring_crds_set_the_condition_and_installing_them_heals() {
    let client = scenario(NS, MonitoringCrds::Removed).await.unwrap();
    let mut op = Operator::start(NS, "e2e-monitoring", "monitoring-0").await.unwrap();
    apply_model_service(&client, NS, &example("sentiment.yaml").unwrap()).await.unwrap();

    let api = model_services(&client, NS);
    let ms = eventually("MonitoringReady=False", Duration::from_secs(60), || async {
        let ms = api.get("sentiment").await?;
        Ok(matches!(condition(&ms, "MonitoringReady"), Some((s, _, _)) if s == "False").then_some(ms))
    })
    .await
    .unwrap();
    let (_, reason, _) = condition(&ms, "MonitoringReady").unwrap();
    assert_eq!(reason, "PrometheusOperatorCRDsMissing");
    // The server itself still comes up.
    wait_ready(&client, NS, "sentiment", Duration::from_secs(60)).await.unwrap();

    install_monitoring_crds().unwrap();
    eventually("MonitoringReady=True after installing the CRDs", Duration::from_secs(90), || async {
        let ms = api.get("sentiment").await?;
        Ok(matches!(condition(&ms, "MonitoringReady"), Some((s, _, _)) if s == "True").then_some(()))
    })
    .await
    .unwrap();
    let sm = dynamic(&client, NS, "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors");
    assert!(sm.get_opt("sentiment").await.unwrap().is_some(), "the ServiceMonitor exists after healing");
    assert!(op.running(), "healed without restarting the operator");
}
