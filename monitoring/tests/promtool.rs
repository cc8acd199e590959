//! The generated rules, run by the real `promtool`: `check rules` must be clean, and for every
//! alert one input that fires it (at its severity, only after its `for:`) and one near miss that
//! must not fire. Firing is read from the `ALERTS` series promtool's rule evaluation writes.

use inferwatch_monitoring::alerts::{rule_file, Scope, Slo, Timing, ALERTS};
use std::fmt::Write as _;
use std::process::Command;

/// One scenario: input series (at 1m steps), the time to look, and what must be true then.
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
        Case {
            alert: "InferwatchHighErrorRatio",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"500\"}", "0+30x20"),
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+120x20"),
            ],
            eval: "10m", fires: true, pending_at: Some("2m"),
        },
        Case {
            alert: "InferwatchHighErrorRatio",
            series: &[
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"500\"}", "0+6x20"),
                ("inferwatch_http_requests_total{J,route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"}", "0+120x20"),
            ],
            eval: "10m", fires: false, pending_at: None,
        },
        Case { alert: "InferwatchAllModelsFailing", series: &[("inferwatch_model_ready{J,model=\"sentiment\"}", "0x10"), ("inferwatch_model_ready{J,model=\"topic\"}", "0x10")], eval: "5m", fires: true, pending_at: Some("1m") },
        Case { alert: "InferwatchAllModelsFailing", series: &[("inferwatch_model_ready{J,model=\"sentiment\"}", "0x10"), ("inferwatch_model_ready{J,model=\"topic\"}", "1x10")], eval: "5m", fires: false, pending_at: None },
        Case { alert: "InferwatchDependencyDown", series: &[("inferwatch_dependency_up{J,dependency=\"s3\",required=\"true\"}", "0x10")], eval: "5m", fires: true, pending_at: Some("1m") },
        Case { alert: "InferwatchDependencyDown", series: &[("inferwatch_dependency_up{J,dependency=\"redis\",required=\"false\"}", "0x10")], eval: "5m", fires: false, pending_at: None },
        Case {
            alert: "InferwatchHighLatency",
            series: &[
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"1\"}", "0x30"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"2\"}", "0x30"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"5\"}", "0+60x30"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"+Inf\"}", "0+60x30"),
            ],
            eval: "20m", fires: true, pending_at: Some("8m"),
        },
        Case {
            alert: "InferwatchHighLatency",
            series: &[
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"1\"}", "0+60x30"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"2\"}", "0+60x30"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"5\"}", "0+60x30"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/v1/models/{name}/predict\",method=\"POST\",le=\"+Inf\"}", "0+60x30"),
                // slow requests on a route that is not an inference route must not count
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/ready\",method=\"GET\",le=\"5\"}", "0+600x30"),
                ("inferwatch_http_request_duration_seconds_bucket{J,route=\"/ready\",method=\"GET\",le=\"+Inf\"}", "0+600x30"),
            ],
            eval: "20m", fires: false, pending_at: None,
        },
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
            series: &[("inferwatch_http_requests_total{J,route=\"/health\",method=\"GET\",status=\"200\"}", "0+60x150 9000+600x60")],
            eval: "200m", fires: true, pending_at: Some("170m"),
        },
        Case {
            alert: "InferwatchUnusualTraffic",
            series: &[("inferwatch_http_requests_total{J,route=\"/health\",method=\"GET\",status=\"200\"}", "0+60x150 9000+70x60")],
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
            eval: "100m", fires: true, pending_at: Some("20m"),
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
    let rules = serde_yaml_ng::to_string(&rule_file(&Slo::default(), &scope(), &Timing::default())).unwrap();
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
    let rules = serde_yaml_ng::to_string(&rule_file(&Slo::default(), &scope(), &Timing::default())).unwrap();
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    let mut yaml = String::from("rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n");
    for c in &all {
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
    }
    std::fs::write(dir.join("tests.yaml"), &yaml).unwrap();
    let (ok, out) = promtool(&["test", "rules", dir.join("tests.yaml").to_str().unwrap()]);
    assert!(ok, "promtool test rules failed:\n{out}\n--- tests.yaml in {}", dir.display());
}
