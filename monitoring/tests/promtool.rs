//! The generated rules, run by the real `promtool`: `check rules` must be clean, and for every
//! alert one input that fires it (at its severity, only after its `for:`) and one near miss that
//! must not fire. Firing is read from the `ALERTS` series promtool's rule evaluation writes.

use inferwatch_monitoring::alerts::{rule_file, Scope, Slo, Timing, ALERTS};
use std::fmt::Write as _;
use std::process::Command;

/// One scenario: input series (at 1m steps), the time to look, and what must be true then.
///
/// promtool evaluates the rule groups of one step in no fixed order, so an alert on a recording
/// rule of another group may start pending one step later: `pending_at` keeps a step away from
/// the edges.
struct Case {
    alert: &'static str,
    series: &'static [(&'static str, &'static str)],
    eval: &'static str,
    fires: bool,
    /// A time before `for:` has elapsed, when the alert must be pending, not firing.
    pending_at: Option<&'static str>,
}

const L: &str = r#"job="inferwatch",namespace="ns""#;

fn cases() -> Vec<Case> {
    vec![
        Case { alert: "InferwatchTargetDown", series: &[("up{J,instance=\"a:8080\"}", "0x10")], eval: "5m", fires: true, pending_at: Some("1m") },
        Case { alert: "InferwatchTargetDown", series: &[("up{J,instance=\"a:8080\"}", "1 1 1 0 1 1 1 1")], eval: "5m", fires: false, pending_at: None },
        Case { alert: "InferwatchTargetMissing", series: &[("up{job=\"other\",namespace=\"ns\"}", "1x10")], eval: "5m", fires: true, pending_at: Some("1m") },
        Case { alert: "InferwatchTargetMissing", series: &[("up{J,instance=\"a:8080\"}", "1x10")], eval: "5m", fires: false, pending_at: None },
        // The operator: down (its target down, or none at all) for 5 minutes; a restart that
        // comes back within 3 minutes is not.
        Case { alert: "InferwatchOperatorDown", series: &[("up{job=\"inferwatch-operator\",instance=\"op:8081\"}", "0x10")], eval: "8m", fires: true, pending_at: Some("3m") },
        Case { alert: "InferwatchOperatorDown", series: &[("up{job=\"other\"}", "1x10")], eval: "8m", fires: true, pending_at: None },
        Case { alert: "InferwatchOperatorDown", series: &[("up{job=\"inferwatch-operator\",instance=\"op:8081\"}", "1 0 0 0 1 1 1 1 1 1")], eval: "8m", fires: false, pending_at: None },
        // Two replicas up, neither leading; then a standby that takes over within a minute.
        Case {
            alert: "InferwatchOperatorNoLeader",
            series: &[
                ("inferwatch_operator_leader{job=\"inferwatch-operator\",namespace=\"iw\",instance=\"a\"}", "0x10"),
                ("inferwatch_operator_leader{job=\"inferwatch-operator\",namespace=\"iw\",instance=\"b\"}", "0x10"),
            ],
            eval: "8m", fires: true, pending_at: Some("3m"),
        },
        Case {
            alert: "InferwatchOperatorNoLeader",
            series: &[
                ("inferwatch_operator_leader{job=\"inferwatch-operator\",namespace=\"iw\",instance=\"a\"}", "1 1 0 0 0 0 0 0 0 0"),
                ("inferwatch_operator_leader{job=\"inferwatch-operator\",namespace=\"iw\",instance=\"b\"}", "0 0 0 1 1 1 1 1 1 1"),
            ],
            eval: "8m", fires: false, pending_at: None,
        },
        // Forbidden reconciles every minute for half an hour; a burst of five that stops.
        Case {
            alert: "InferwatchOperatorReconcileErrors",
            series: &[("inferwatch_operator_reconcile_errors_total{job=\"inferwatch-operator\",namespace=\"iw\",reason=\"Forbidden\"}", "0+1x40")],
            eval: "30m", fires: true, pending_at: Some("15m"),
        },
        Case {
            alert: "InferwatchOperatorReconcileErrors",
            series: &[("inferwatch_operator_reconcile_errors_total{job=\"inferwatch-operator\",namespace=\"iw\",reason=\"Forbidden\"}", "0 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5")],
            eval: "30m", fires: false, pending_at: None,
        },
        // Every reconcile between 5 and 10 s (p99 9.95 s) against every one under 1 s.
        Case {
            alert: "InferwatchOperatorSlowReconciles",
            series: &[
                ("inferwatch_operator_reconcile_duration_seconds_bucket{job=\"inferwatch-operator\",namespace=\"iw\",le=\"5.0\"}", "0x60"),
                ("inferwatch_operator_reconcile_duration_seconds_bucket{job=\"inferwatch-operator\",namespace=\"iw\",le=\"10.0\"}", "0+6x60"),
                ("inferwatch_operator_reconcile_duration_seconds_bucket{job=\"inferwatch-operator\",namespace=\"iw\",le=\"+Inf\"}", "0+6x60"),
            ],
            eval: "50m", fires: true, pending_at: None,
        },
        Case {
            alert: "InferwatchOperatorSlowReconciles",
            series: &[
                ("inferwatch_operator_reconcile_duration_seconds_bucket{job=\"inferwatch-operator\",namespace=\"iw\",le=\"1.0\"}", "0+6x60"),
                ("inferwatch_operator_reconcile_duration_seconds_bucket{job=\"inferwatch-operator\",namespace=\"iw\",le=\"10.0\"}", "0+6x60"),
                ("inferwatch_operator_reconcile_duration_seconds_bucket{job=\"inferwatch-operator\",namespace=\"iw\",le=\"+Inf\"}", "0+6x60"),
            ],
            eval: "50m", fires: false, pending_at: None,
        },
        // Prometheus keeps 10 days (kube-prometheus-stack's default) against the 30-day window;
        // 35 days, or no time limit (0), is enough.
        Case {
            alert: "InferwatchSloWindowBeyondRetention",
            series: &[("up{J,instance=\"a:8080\"}", "1x90"), ("prometheus_tsdb_retention_limit_seconds{job=\"prometheus\"}", "864000x90")],
            eval: "70m", fires: true, pending_at: Some("30m"),
        },
        Case {
            alert: "InferwatchSloWindowBeyondRetention",
            series: &[("up{J,instance=\"a:8080\"}", "1x90"), ("prometheus_tsdb_retention_limit_seconds{job=\"prometheus\"}", "3024000x90")],
            eval: "70m", fires: false, pending_at: None,
        },
        Case {
            alert: "InferwatchSloWindowBeyondRetention",
            series: &[("up{J,instance=\"a:8080\"}", "1x90"), ("prometheus_tsdb_retention_limit_seconds{job=\"prometheus\"}", "0x90")],
            eval: "70m", fires: false, pending_at: None,
        },
        // Six clean hours, then half of all requests fail: 100x the 0.5% budget. The 1 h ratio
        // passes 14.4 x 0.5% = 7.2% about 5 minutes in (pending), firing 2 minutes later; the
        // workbook's detection time at this rate is 0.02 x 30 d x 0.005 / 0.5 = 8.6 minutes.
        Case {
            alert: "InferwatchErrorBudgetFastBurn",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+60x420"),
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"500\"}", "0x360 0+60x60"),
            ],
            eval: "370m", fires: true, pending_at: Some("367m"),
        },
        // Half of the requests answered over 2 s (`le="2"`, the classic spelling): 10x the 5%
        // latency budget, paged by the 6 h / 30 m pair (6 x 5% = 30%).
        Case {
            alert: "InferwatchErrorBudgetFastBurn",
            series: &[
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"2\"}", "0+30x40"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"+Inf\"}", "0+60x40"),
                ("inferwatch_http_request_duration_seconds_count{J,route=\"/v1/models/{name}/predict\",method=\"POST\"}", "0+60x40"),
            ],
            eval: "20m", fires: true, pending_at: None,
        },
        // A budget-neutral blip: after six clean hours, three minutes of total failure (180
        // errors; a 30-day budget at this traffic is 13 000). The 5 m ratio spikes but the 1 h
        // ratio peaks at 5% < 7.2% and the 6 h at 0.8% < 3%: no page.
        Case {
            alert: "InferwatchErrorBudgetFastBurn",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+60x360 21600x2 21660+60x30"),
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"500\"}", "0x360 60+60x2 180x30"),
            ],
            eval: "370m", fires: false, pending_at: None,
        },
        // A slow burn (below) must not page.
        Case {
            alert: "InferwatchErrorBudgetFastBurn",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v2/models/{name}/infer\",method=\"POST\",status=\"200\"}", "0+98x200"),
                ("inferwatch_http_requests_total{J,route=\"/v2/models/{name}/infer\",method=\"POST\",status=\"503\"}", "0+2x200"),
            ],
            eval: "40m", fires: false, pending_at: None,
        },
        // Requests under 2 s spelled `le="2.0"` (Prometheus 3) are good, and slow probes are not
        // user traffic: nothing burns.
        Case {
            alert: "InferwatchErrorBudgetFastBurn",
            series: &[
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v2/models/{name}/infer\",method=\"POST\",le=\"2.0\"}", "0+60x40"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v2/models/{name}/infer\",method=\"POST\",le=\"+Inf\"}", "0+60x40"),
                ("inferwatch_http_request_duration_seconds_count{J,route=\"/v2/models/{name}/infer\",method=\"POST\"}", "0+60x40"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/ready\",method=\"GET\",le=\"2.0\"}", "0x40"),
                ("inferwatch_http_request_duration_seconds_count{J,route=\"/ready\",method=\"GET\"}", "0+600x40"),
                ("inferwatch_http_requests_total{J,route=\"/ready\",method=\"GET\",status=\"503\"}", "0+600x40"),
            ],
            eval: "20m", fires: false, pending_at: None,
        },
        // 2% errors for hours (4x the budget): above 3x over 1 d and 2 h, a ticket.
        Case {
            alert: "InferwatchErrorBudgetSlowBurn",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v2/models/{name}/infer\",method=\"POST\",status=\"200\"}", "0+98x200"),
                ("inferwatch_http_requests_total{J,route=\"/v2/models/{name}/infer\",method=\"POST\",status=\"503\"}", "0+2x200"),
            ],
            eval: "40m", fires: true, pending_at: Some("5m"),
        },
        // 0.4% failed batch jobs and requests: inside the 0.5% budget, no ticket.
        Case {
            alert: "InferwatchErrorBudgetSlowBurn",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v2/models/{name}/infer\",method=\"POST\",status=\"200\"}", "0+249x200"),
                ("inferwatch_batch_jobs_total{J,model=\"topic\",outcome=\"done\"}", "0+249x200"),
                ("inferwatch_batch_jobs_total{J,model=\"topic\",outcome=\"failed\"}", "0+2x200"),
            ],
            eval: "40m", fires: false, pending_at: None,
        },
        // The blip opens no ticket either, after a clean day (the 3 d / 6 h pair needs history:
        // on a six-hour-old service the same 180 errors are 0.8% of all it ever served).
        Case {
            alert: "InferwatchErrorBudgetSlowBurn",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+60x1440 86400x2 86460+60x30"),
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"500\"}", "0x1440 60+60x2 180x30"),
            ],
            eval: "1470m", fires: false, pending_at: None,
        },
        // One load over 30 s.
        Case {
            alert: "InferwatchSlowModelLoad",
            series: &[
                ("inferwatch_model_load_seconds_bucket{J,model=\"topic\",le=\"30\"}", "0x10"),
                ("inferwatch_model_load_seconds_bucket{J,model=\"topic\",le=\"+Inf\"}", "0x3 1x7"),
            ],
            eval: "7m", fires: true, pending_at: Some("4m"),
        },
        // A 20 s load, its edge spelled `30.0`: within the KPI.
        Case {
            alert: "InferwatchSlowModelLoad",
            series: &[
                ("inferwatch_model_load_seconds_bucket{J,model=\"topic\",le=\"30.0\"}", "0x3 1x7"),
                ("inferwatch_model_load_seconds_bucket{J,model=\"topic\",le=\"+Inf\"}", "0x3 1x7"),
            ],
            eval: "7m", fires: false, pending_at: None,
        },
        // 2 MB a minute from 100 MB against a 400 MB limit: full within 4 h.
        Case {
            alert: "InferwatchMemoryExhaustionForecast",
            series: &[("process_resident_memory_bytes{J,instance=\"a\"}", "100000000+2000000x120"), ("inferwatch_memory_limit_bytes{J,instance=\"a\"}", "400000000x120")],
            eval: "45m", fires: true, pending_at: Some("20m"),
        },
        // Flat at 75% of the limit: high, not growing.
        Case {
            alert: "InferwatchMemoryExhaustionForecast",
            series: &[("process_resident_memory_bytes{J,instance=\"a\"}", "300000000x120"), ("inferwatch_memory_limit_bytes{J,instance=\"a\"}", "400000000x120")],
            eval: "45m", fires: false, pending_at: None,
        },
        Case { alert: "InferwatchAllModelsFailing", series: &[("inferwatch_model_ready{J,model=\"sentiment\"}", "0x10"), ("inferwatch_model_ready{J,model=\"topic\"}", "0x10")], eval: "5m", fires: true, pending_at: Some("1m") },
        Case { alert: "InferwatchAllModelsFailing", series: &[("inferwatch_model_ready{J,model=\"sentiment\"}", "0x10"), ("inferwatch_model_ready{J,model=\"topic\"}", "1x10")], eval: "5m", fires: false, pending_at: None },
        Case { alert: "InferwatchDependencyDown", series: &[("inferwatch_dependency_up{J,dependency=\"s3\",required=\"true\"}", "0x10")], eval: "5m", fires: true, pending_at: Some("1m") },
        Case { alert: "InferwatchDependencyDown", series: &[("inferwatch_dependency_up{J,dependency=\"redis\",required=\"false\"}", "0x10")], eval: "5m", fires: false, pending_at: None },
        Case {
            alert: "InferwatchHighMemory",
            series: &[("process_resident_memory_bytes{J,instance=\"a\"}", "900x20"), ("inferwatch_memory_limit_bytes{J,instance=\"a\"}", "1000x20")],
            eval: "15m", fires: true, pending_at: Some("5m"),
        },
        Case {
            alert: "InferwatchHighMemory",
            series: &[("process_resident_memory_bytes{J,instance=\"a\"}", "700x20"), ("inferwatch_memory_limit_bytes{J,instance=\"a\"}", "1000x20")],
            eval: "15m", fires: false, pending_at: None,
        },
        Case { alert: "InferwatchModelLoadFailures", series: &[("inferwatch_model_load_failures_total{J,model=\"topic\",reason=\"checksum\"}", "0 0 0 1 1 1 1 1 1 1")], eval: "6m", fires: true, pending_at: Some("3m") },
        Case { alert: "InferwatchModelLoadFailures", series: &[("inferwatch_model_load_failures_total{J,model=\"topic\",reason=\"checksum\"}", "1x10")], eval: "6m", fires: false, pending_at: None },
        Case {
            alert: "InferwatchLowCacheHitRatio",
            series: &[("inferwatch_model_cache_hits_total{J,model=\"topic\"}", "0+30x30"), ("inferwatch_model_cache_misses_total{J,model=\"topic\"}", "0+30x30")],
            eval: "20m", fires: true, pending_at: Some("8m"),
        },
        Case {
            alert: "InferwatchLowCacheHitRatio",
            // the same 50% ratio at 0.02 lookups/s is not real traffic
            series: &[("inferwatch_model_cache_hits_total{J,model=\"topic\"}", "0+0.6x30"), ("inferwatch_model_cache_misses_total{J,model=\"topic\"}", "0+0.6x30")],
            eval: "20m", fires: false, pending_at: None,
        },
        Case {
            alert: "InferwatchElevatedErrorRatio",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"503\"}", "0+6x30"),
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+120x30"),
            ],
            eval: "20m", fires: true, pending_at: Some("8m"),
        },
        Case {
            alert: "InferwatchElevatedErrorRatio",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"503\"}", "0+0.6x30"),
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+120x30"),
            ],
            eval: "20m", fires: false, pending_at: None,
        },
        Case {
            alert: "InferwatchUnusualTraffic",
            series: &[("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+60x150 9000+600x60")],
            eval: "200m", fires: true, pending_at: Some("170m"),
        },
        Case {
            alert: "InferwatchUnusualTraffic",
            series: &[("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+60x150 9000+70x60")],
            eval: "200m", fires: false, pending_at: None,
        },
        // Live label shares 0.9 / 0.1 against a 0.5 / 0.5 reference: PSI 0.88.
        Case {
            alert: "InferwatchPredictionDrift",
            series: &[
                ("inferwatch_drift_observations_total{J,model=\"sentiment\",version=\"1\",side=\"prediction\",feature=\"predicted_label\",bin=\"positive\"}", "0+54x110"),
                ("inferwatch_drift_observations_total{J,model=\"sentiment\",version=\"1\",side=\"prediction\",feature=\"predicted_label\",bin=\"negative\"}", "0+6x110"),
                ("inferwatch_drift_reference_ratio{J,model=\"sentiment\",version=\"1\",side=\"prediction\",feature=\"predicted_label\",bin=\"positive\"}", "0.5x110"),
                ("inferwatch_drift_reference_ratio{J,model=\"sentiment\",version=\"1\",side=\"prediction\",feature=\"predicted_label\",bin=\"negative\"}", "0.5x110"),
            ],
            eval: "100m", fires: true, pending_at: Some("20m"),
        },
        // 0.55 / 0.45: PSI 0.01, stable.
        Case {
            alert: "InferwatchPredictionDrift",
            series: &[
                ("inferwatch_drift_observations_total{J,model=\"sentiment\",version=\"1\",side=\"prediction\",feature=\"predicted_label\",bin=\"positive\"}", "0+33x110"),
                ("inferwatch_drift_observations_total{J,model=\"sentiment\",version=\"1\",side=\"prediction\",feature=\"predicted_label\",bin=\"negative\"}", "0+27x110"),
                ("inferwatch_drift_reference_ratio{J,model=\"sentiment\",version=\"1\",side=\"prediction\",feature=\"predicted_label\",bin=\"positive\"}", "0.5x110"),
                ("inferwatch_drift_reference_ratio{J,model=\"sentiment\",version=\"1\",side=\"prediction\",feature=\"predicted_label\",bin=\"negative\"}", "0.5x110"),
            ],
            eval: "100m", fires: false, pending_at: None,
        },
        // Every recommender request from an unknown user, against a reference with none: the
        // empty bin on each side counts as 0.0001 and the PSI is about 18.4.
        Case {
            alert: "InferwatchInputDrift",
            series: &[
                ("inferwatch_drift_observations_total{J,model=\"recsys\",version=\"1\",side=\"input\",feature=\"user\",bin=\"known\"}", "0x110"),
                ("inferwatch_drift_observations_total{J,model=\"recsys\",version=\"1\",side=\"input\",feature=\"user\",bin=\"unknown\"}", "0+10x110"),
                ("inferwatch_drift_reference_ratio{J,model=\"recsys\",version=\"1\",side=\"input\",feature=\"user\",bin=\"known\"}", "1x110"),
                ("inferwatch_drift_reference_ratio{J,model=\"recsys\",version=\"1\",side=\"input\",feature=\"user\",bin=\"unknown\"}", "0x110"),
            ],
            eval: "100m", fires: true, pending_at: Some("30m"),
        },
        // The same shift on a quiet model: 3 requests an hour is below the 200 observations a
        // PSI needs, so nothing is computed and nothing fires.
        Case {
            alert: "InferwatchInputDrift",
            series: &[
                ("inferwatch_drift_observations_total{J,model=\"recsys\",version=\"1\",side=\"input\",feature=\"user\",bin=\"known\"}", "0x110"),
                ("inferwatch_drift_observations_total{J,model=\"recsys\",version=\"1\",side=\"input\",feature=\"user\",bin=\"unknown\"}", "0+0.05x110"),
                ("inferwatch_drift_reference_ratio{J,model=\"recsys\",version=\"1\",side=\"input\",feature=\"user\",bin=\"known\"}", "1x110"),
                ("inferwatch_drift_reference_ratio{J,model=\"recsys\",version=\"1\",side=\"input\",feature=\"user\",bin=\"unknown\"}", "0x110"),
            ],
            eval: "100m", fires: false, pending_at: None,
        },
        Case { alert: "InferwatchCacheMissRateRising", series: &[("inferwatch_model_cache_misses_total{J,model=\"topic\"}", "0+0.6x70 42+6x60")], eval: "115m", fires: true, pending_at: Some("85m") },
        Case { alert: "InferwatchCacheMissRateRising", series: &[("inferwatch_model_cache_misses_total{J,model=\"topic\"}", "0+3x130")], eval: "115m", fires: false, pending_at: None },
        Case { alert: "InferwatchBatchQueueDelay", series: &[("inferwatch_batch_queue_oldest_job_age_seconds{J}", "600x40")], eval: "35m", fires: true, pending_at: Some("20m") },
        Case { alert: "InferwatchBatchQueueDelay", series: &[("inferwatch_batch_queue_oldest_job_age_seconds{J}", "100x40")], eval: "35m", fires: false, pending_at: None },
        // Online accuracy 0.5 against a held-out 0.70 (target 0.65 with the default tolerance).
        Case {
            alert: "InferwatchModelAccuracyBelowTarget",
            series: &[
                ("inferwatch_labelled_predictions_total{J,model=\"sentiment\",version=\"1\",true_label=\"positive\"}", "0+60x40"),
                ("inferwatch_correct_predictions_total{J,model=\"sentiment\",version=\"1\",true_label=\"positive\"}", "0+30x40"),
                ("inferwatch_model_heldout_quality{J,model=\"sentiment\",version=\"1\",metric=\"accuracy\"}", "0.70x40"),
            ],
            eval: "20m", fires: true, pending_at: Some("5m"),
        },
        // 0.667 is above the 0.65 target.
        Case {
            alert: "InferwatchModelAccuracyBelowTarget",
            series: &[
                ("inferwatch_labelled_predictions_total{J,model=\"sentiment\",version=\"1\",true_label=\"positive\"}", "0+60x40"),
                ("inferwatch_correct_predictions_total{J,model=\"sentiment\",version=\"1\",true_label=\"positive\"}", "0+40x40"),
                ("inferwatch_model_heldout_quality{J,model=\"sentiment\",version=\"1\",metric=\"accuracy\"}", "0.70x40"),
            ],
            eval: "20m", fires: false, pending_at: None,
        },
        // Accuracy 0.0, but 40 labelled items in the hour are fewer than the 50 an alert needs.
        Case {
            alert: "InferwatchModelAccuracyBelowTarget",
            series: &[
                ("inferwatch_labelled_predictions_total{J,model=\"sentiment\",version=\"1\",true_label=\"positive\"}", "0+1x40"),
                ("inferwatch_correct_predictions_total{J,model=\"sentiment\",version=\"1\",true_label=\"positive\"}", "0x40"),
                ("inferwatch_model_heldout_quality{J,model=\"sentiment\",version=\"1\",metric=\"accuracy\"}", "0.70x40"),
            ],
            eval: "35m", fires: false, pending_at: None,
        },
        // RMSE sqrt(90/60) = 1.22 against a held-out 0.93 (target 1.03).
        Case {
            alert: "InferwatchRatingErrorAboveTarget",
            series: &[
                ("inferwatch_rating_squared_error_total{J,model=\"recsys\",version=\"1\"}", "0+90x40"),
                ("inferwatch_rating_absolute_error_count{J,model=\"recsys\",version=\"1\"}", "0+60x40"),
                ("inferwatch_model_heldout_quality{J,model=\"recsys\",version=\"1\",metric=\"rmse\"}", "0.93x40"),
            ],
            eval: "20m", fires: true, pending_at: Some("5m"),
        },
        // RMSE 1.0 is within the target.
        Case {
            alert: "InferwatchRatingErrorAboveTarget",
            series: &[
                ("inferwatch_rating_squared_error_total{J,model=\"recsys\",version=\"1\"}", "0+60x40"),
                ("inferwatch_rating_absolute_error_count{J,model=\"recsys\",version=\"1\"}", "0+60x40"),
                ("inferwatch_model_heldout_quality{J,model=\"recsys\",version=\"1\",metric=\"rmse\"}", "0.93x40"),
            ],
            eval: "20m", fires: false, pending_at: None,
        },
        // MAPE 0.2 against a held-out 0.063 (target 0.113).
        Case {
            alert: "InferwatchForecastErrorAboveTarget",
            series: &[
                ("inferwatch_forecast_absolute_percentage_error_sum{J,model=\"trend\",version=\"1\"}", "0+12x40"),
                ("inferwatch_forecast_absolute_percentage_error_count{J,model=\"trend\",version=\"1\"}", "0+60x40"),
                ("inferwatch_model_heldout_quality{J,model=\"trend\",version=\"1\",metric=\"mape\"}", "0.063x40"),
            ],
            eval: "20m", fires: true, pending_at: Some("5m"),
        },
        // MAPE 0.1 is within it.
        Case {
            alert: "InferwatchForecastErrorAboveTarget",
            series: &[
                ("inferwatch_forecast_absolute_percentage_error_sum{J,model=\"trend\",version=\"1\"}", "0+6x40"),
                ("inferwatch_forecast_absolute_percentage_error_count{J,model=\"trend\",version=\"1\"}", "0+60x40"),
                ("inferwatch_model_heldout_quality{J,model=\"trend\",version=\"1\",metric=\"mape\"}", "0.063x40"),
            ],
            eval: "20m", fires: false, pending_at: None,
        },
        // Traffic, and feedback that never matches.
        Case {
            alert: "InferwatchFeedbackStarvation",
            series: &[
                ("inferwatch_predictions_total{J,model=\"email\",version=\"1\",outcome=\"success\"}", "0+60x60"),
                ("inferwatch_feedback_total{J,model=\"email\",outcome=\"matched\"}", "0x60"),
                ("inferwatch_feedback_total{J,model=\"email\",outcome=\"unknown_prediction\"}", "0+5x60"),
            ],
            eval: "45m", fires: true, pending_at: Some("15m"),
        },
        // A trickle of matched feedback is enough.
        Case {
            alert: "InferwatchFeedbackStarvation",
            series: &[
                ("inferwatch_predictions_total{J,model=\"email\",version=\"1\",outcome=\"success\"}", "0+60x60"),
                ("inferwatch_feedback_total{J,model=\"email\",outcome=\"matched\"}", "0x20 1x40"),
            ],
            eval: "45m", fires: false, pending_at: None,
        },
    ]
}

/// The PSI recording rule gives the formula's value: live shares 0.9 / 0.1 / 0 against a
/// 0.5 / 0.5 / 0 reference is 0.4 ln(1.8) + (-0.4) ln(0.2) = 0.8789 (the bin empty on both sides
/// adds 0 under the epsilon rule), and a feature below the minimum count has no PSI at all.
#[test]
fn psi_recording_rule_equals_the_formula_and_is_absent_below_the_minimum_count() {
    let dir = workdir("psi");
    let rules = serde_yaml_ng::to_string(&rule_file(&Slo::default(), &scope(), &Timing::default())).unwrap();
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    let obs = |model: &str, bin: &str| {
        format!("inferwatch_drift_observations_total{{{L},model=\"{model}\",version=\"1\",side=\"input\",feature=\"input_tokens\",bin=\"{bin}\"}}")
    };
    let reference = |model: &str, bin: &str| {
        format!("inferwatch_drift_reference_ratio{{{L},model=\"{model}\",version=\"1\",side=\"input\",feature=\"input_tokens\",bin=\"{bin}\"}}")
    };
    let mut yaml = String::from(
        "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
    );
    for (model, counts) in [("busy", ["0+54x90", "0+6x90", "0x90"]), ("quiet", ["0+1x90", "0x90", "0x90"])] {
        for (bin, (values, share)) in ["8", "16", "+Inf"].iter().zip(counts.iter().zip(["0.5", "0.5", "0"])) {
            writeln!(yaml, "      - series: '{}'\n        values: '{values}'", obs(model, bin)).unwrap();
            writeln!(yaml, "      - series: '{}'\n        values: '{share}x90'", reference(model, bin)).unwrap();
        }
    }
    let psi = (0.9f64 - 0.5) * (0.9f64 / 0.5).ln() + (0.1f64 - 0.5) * (0.1f64 / 0.5).ln();
    writeln!(
        yaml,
        "    promql_expr_test:\n      - expr: 'round(inferwatch:drift_feature:psi, 0.0001)'\n        eval_time: 80m\n        exp_samples:\n          - labels: '{{{L},model=\"busy\",version=\"1\",side=\"input\",feature=\"input_tokens\"}}'\n            value: {}",
        (psi * 1e4).round() / 1e4
    )
    .unwrap();
    std::fs::write(dir.join("tests.yaml"), &yaml).unwrap();
    let (ok, out) = promtool(&["test", "rules", dir.join("tests.yaml").to_str().unwrap()]);
    assert!(ok, "promtool test rules failed:\n{out}\n--- tests.yaml in {}", dir.display());
}

/// SLI values, by `promql_expr_test`:
/// - uneven traffic: 12 busy hours (100/min, 0.2% errors) then 12 quiet hours (1/min, none).
///   From counts the day's error ratio is 144 / 72 720 = 0.198% (Prometheus' extrapolation at
///   the series' edges makes it 0.199%) and 60% of the 30-day budget is left; averaging 5-minute
///   ratios would say 0.1% and 80%.
/// - probe, scrape and health traffic alone (all failing, all slow) gives no SLI series at all;
///   beside clean user traffic it leaves the error ratio at 0, with no NaN anywhere.
#[test]
fn slo_ratios_come_from_counts_and_probe_traffic_never_moves_them() {
    let dir = workdir("slo");
    let rules = serde_yaml_ng::to_string(&rule_file(&Slo::default(), &scope(), &Timing::default())).unwrap();
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    let predict = |status: &str| {
        format!("inferwatch_http_requests_total{{{L},route=\"/v1/models/{{name}}/predict\",method=\"POST\",status=\"{status}\"}}")
    };
    let probe =
        |route: &str| format!("inferwatch_http_requests_total{{{L},route=\"{route}\",method=\"GET\",status=\"503\"}}");
    let slow_probe = format!("inferwatch_http_request_duration_seconds_count{{{L},route=\"/ready\",method=\"GET\"}}");
    let slow_probe_bucket =
        format!("inferwatch_http_request_duration_seconds_bucket{{{L},route=\"/ready\",method=\"GET\",le=\"2\"}}");
    let svc = format!("{{{L},slo=\"availability\"}}");
    let yaml = format!(
        r#"rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - name: uneven traffic
    interval: 1m
    input_series:
      - series: '{ok}'
        values: '0+99.8x720 71856+1x720'
      - series: '{err}'
        values: '0+0.2x720 144x720'
    promql_expr_test:
      - expr: 'round(inferwatch:slo_errors:ratio_period, 0.0001)'
        eval_time: 1440m
        exp_samples:
          - labels: '{svc}'
            value: 0.002
      - expr: 'round(inferwatch:slo_budget:remaining_ratio, 0.01)'
        eval_time: 1440m
        exp_samples:
          - labels: '{svc}'
            value: 0.6
  - name: probes alone
    interval: 1m
    input_series:
      - series: '{ready}'
        values: '0+60x30'
      - series: '{metrics}'
        values: '0+60x30'
      - series: '{health}'
        values: '0+60x30'
      - series: '{slow_probe}'
        values: '0+60x30'
      - series: '{slow_probe_bucket}'
        values: '0x30'
    promql_expr_test:
      - expr: '{{__name__=~"inferwatch:slo_errors:.*"}}'
        eval_time: 20m
        exp_samples: []
  - name: probes beside clean user traffic
    interval: 1m
    input_series:
      - series: '{ok}'
        values: '0+60x30'
      - series: '{ready}'
        values: '0+600x30'
      - series: '{metrics}'
        values: '0+600x30'
    promql_expr_test:
      - expr: 'inferwatch:slo_errors:ratio_rate5m'
        eval_time: 20m
        exp_samples:
          - labels: 'inferwatch:slo_errors:ratio_rate5m{svc}'
            value: 0
"#,
        ok = predict("200"),
        err = predict("500"),
        ready = probe("/ready"),
        metrics = probe("/metrics"),
        health = probe("/v2/health/ready"),
    );
    std::fs::write(dir.join("tests.yaml"), &yaml).unwrap();
    let (ok, out) = promtool(&["test", "rules", dir.join("tests.yaml").to_str().unwrap()]);
    assert!(ok, "promtool test rules failed:\n{out}\n--- tests.yaml in {}", dir.display());
}

/// Capacity is measured against the CPU limit, else the CPU request, and the `basis` label says
/// which: instance `a` (0.25 cores used, limit 0.5, request 0.1) is half saturated against its
/// limit; instance `b` (0.05 cores used, request 0.1, no limit) is half saturated against its
/// request; an instance with neither has no CPU saturation at all.
#[test]
fn cpu_capacity_uses_the_limit_else_the_request_and_says_which() {
    let dir = workdir("cpu-basis");
    let rules = serde_yaml_ng::to_string(&rule_file(&Slo::default(), &scope(), &Timing::default())).unwrap();
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    let series = |name: &str, instance: &str| format!("{name}{{{L},instance=\"{instance}\"}}");
    let yaml = format!(
        r#"rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: '{cpu_a}'
        values: '0+15x30'
      - series: '{limit_a}'
        values: '0.5x30'
      - series: '{request_a}'
        values: '0.1x30'
      - series: '{cpu_b}'
        values: '0+3x30'
      - series: '{request_b}'
        values: '0.1x30'
      - series: '{cpu_c}'
        values: '0+3x30'
    promql_expr_test:
      - expr: 'inferwatch:cpu:cores'
        eval_time: 20m
        exp_samples:
          - labels: 'inferwatch:cpu:cores{{{L},instance="a",basis="limit"}}'
            value: 0.5
          - labels: 'inferwatch:cpu:cores{{{L},instance="b",basis="request"}}'
            value: 0.1
      - expr: 'round(inferwatch:cpu:saturation_ratio, 0.001)'
        eval_time: 20m
        exp_samples:
          - labels: '{{{L},instance="a"}}'
            value: 0.5
          - labels: '{{{L},instance="b"}}'
            value: 0.5
"#,
        cpu_a = series("process_cpu_seconds_total", "a"),
        limit_a = series("inferwatch_cpu_limit_cores", "a"),
        request_a = series("inferwatch_cpu_request_cores", "a"),
        cpu_b = series("process_cpu_seconds_total", "b"),
        request_b = series("inferwatch_cpu_request_cores", "b"),
        cpu_c = series("process_cpu_seconds_total", "c"),
    );
    std::fs::write(dir.join("tests.yaml"), &yaml).unwrap();
    let (ok, out) = promtool(&["test", "rules", dir.join("tests.yaml").to_str().unwrap()]);
    assert!(ok, "promtool test rules failed:\n{out}\n--- tests.yaml in {}", dir.display());
}

/// A ModelService's rules (default SLOs) and the operator's, in one file.
fn all_rules() -> inferwatch_monitoring::alerts::RuleFile {
    let mut rules = rule_file(&Slo::default(), &scope(), &Timing::default());
    rules.groups.extend(inferwatch_monitoring::operator_alerts::rule_file(&Timing::default()).groups);
    rules
}

fn scope() -> Scope {
    Scope { selector: r#"job="inferwatch""#.into(), ..Scope::default() }
}

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool").args(args).output().expect("promtool is installed (make test installs it)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn workdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("inferwatch-promtool-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn generated_rules_pass_promtool_check_rules() {
    let dir = workdir("check");
    let rules = serde_yaml_ng::to_string(&all_rules()).unwrap();
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    let (ok, out) = promtool(&["check", "rules", dir.join("rules.yaml").to_str().unwrap()]);
    assert!(ok, "{out}");
}

#[test]
fn every_alert_fires_on_its_scenario_after_its_for_and_not_on_the_near_miss() {
    let all = cases();
    for (name, _) in ALERTS {
        assert!(all.iter().any(|c| c.alert == *name && c.fires), "{name} has no firing case");
        assert!(all.iter().any(|c| c.alert == *name && !c.fires), "{name} has no near-miss case");
    }
    let dir = workdir("test");
    let rules = serde_yaml_ng::to_string(&all_rules()).unwrap();
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    // One file per case, run on every core: the day-long scenarios dominate the time.
    let files: Vec<std::path::PathBuf> = all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let path = dir.join(format!("case-{i:02}.yaml"));
            std::fs::write(&path, case_yaml(c)).unwrap();
            path
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(files.len().div_ceil(threads))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|f| {
                            let (ok, out) = promtool(&["test", "rules", f.to_str().unwrap()]);
                            (!ok).then(|| format!("{}:\n{out}", f.display()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "promtool test rules failed:\n{}", failures.join("\n"));
}

/// The promtool test file of one case: the series, then firing (or not) at `eval`, pending at
/// `pending_at`.
fn case_yaml(c: &Case) -> String {
    let mut yaml = String::from("rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n");
    let severity = ALERTS.iter().find(|(n, _)| *n == c.alert).map(|(_, s)| s.as_str()).unwrap();
    writeln!(
        yaml,
        "  - name: {} {}\n    interval: 1m\n    input_series:",
        c.alert,
        if c.fires { "fires" } else { "near miss" }
    )
    .unwrap();
    for (series, values) in c.series {
        let series = series.replace("{J", &format!("{{{L}"));
        writeln!(yaml, "      - series: '{series}'\n        values: '{values}'").unwrap();
    }
    writeln!(yaml, "    promql_expr_test:").unwrap();
    let query = format!("count by (alertstate, severity) (ALERTS{{alertname=\"{}\"}})", c.alert);
    if c.fires {
        writeln!(yaml, "      - expr: '{query}'\n        eval_time: {}\n        exp_samples:\n          - labels: '{{alertstate=\"firing\",severity=\"{severity}\"}}'\n            value: 1", c.eval).unwrap();
    } else {
        writeln!(yaml, "      - expr: '{query}'\n        eval_time: {}\n        exp_samples: []", c.eval).unwrap();
    }
    if let Some(t) = c.pending_at {
        writeln!(yaml, "      - expr: '{query}'\n        eval_time: {t}\n        exp_samples:\n          - labels: '{{alertstate=\"pending\",severity=\"{severity}\"}}'\n            value: 1").unwrap();
    }
    yaml
}
