//! The SLO rules against a real Prometheus scraping the real server under load with injected
//! errors (a model whose package fails its checksum answers 503) and slow requests (sixteen
//! 8000-point trend analyses each, well over the 0.1 s threshold this test sets; single
//! sentiment predictions are well under it), while probes and scrapes hammer `/ready` and `/metrics`. The SLI records
//! and the report command must give the ratios this test computes from its own request log,
//! to 0.5 percentage points.

mod common;

use common::prometheus::{Prometheus, Web};
use common::Server;
use inferwatch_monitoring::{alerts, slo};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const THRESHOLD: f64 = 0.1;
/// The secured Prometheus' basic-auth password, and its bcrypt hash (cost 10, made once with
/// Python's `bcrypt`; Prometheus' web config stores only the hash).
const REPORT_PASSWORD: &str = "report-test-password";
const REPORT_PASSWORD_BCRYPT: &str = "$2b$10$WyXW7woCdumPG1UOSqmYYO0zOwdFzBx.cFeGtJ7GUS2zV.zm.ZEq6";

/// Sentiment and trend as shipped; email with a corrupted model file (every request to it is a
/// failed load: 503 model_unavailable).
fn model_dir() -> std::path::PathBuf {
    common::model_dir_with("slo-models", &["sentiment", "trend", "email"], &["email"])
}

async fn value(prom: &Prometheus, expr: &str) -> f64 {
    let v = prom.query(expr).await;
    assert_eq!(v.len(), 1, "{expr}: {v:?}");
    v[0]["value"][1].as_str().unwrap().parse().unwrap()
}

/// One logged user request: (status, seconds as the client saw them).
async fn send(c: &reqwest::Client, s: &Server, path: &str, body: &Value) -> (u16, f64) {
    let t = Instant::now();
    let status = c.post(s.url(path)).json(body).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
    (status, t.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_records_and_the_report_match_the_request_log_under_injected_errors_and_slow_requests() {
    let dir = model_dir();
    let s = Server::start(&["--model-dir", dir.to_str().unwrap(), "--preload", "sentiment,trend"]).await;
    s.wait_for("/v2/models/trend/ready", 200).await;
    let c = reqwest::Client::new();
    let light = json!({"text": "a wonderful film"});
    // Sixteen 8000-point series in one request: about 0.3 s in this debug build (one alone is
    // about 0.02 s since the trend test became O(n log n)).
    let series =
        json!({"values": (0..8000).map(|i| f64::from(i % 97) + f64::from(i) * 0.01).collect::<Vec<_>>(), "horizon": 3});
    let heavy = json!({"inputs": vec![series; 16]});
    let failing = json!({"subject": "hi", "body": "lunch?"});
    // Warm-up: every series the traffic moves exists before the first scrape, so `rate`
    // counts all of the logged requests (a counter's first sample has no increase before it).
    // Three of each at least, so no series starts near zero: `rate` extrapolates a series
    // towards the window's start by half a scrape interval, but by less when its first value
    // says it would reach zero sooner. And the warm-up has the logged traffic's mix (six light,
    // two heavy, one failing per two rounds of it), so whether a scrape sees part of it or all
    // of it, the ratios stay those of the log: a CI run once counted the warm-up's heavy
    // requests in (0.8 pp off with five of each kind).
    for _ in 0..3 {
        for (path, body, times) in [
            ("/v1/models/sentiment/predict", &light, 6),
            ("/v1/models/trend/predict", &heavy, 2),
            ("/v1/models/email/predict", &failing, 1),
        ] {
            for _ in 0..times {
                send(&c, &s, path, body).await;
            }
        }
    }

    let cfg = common::tempdir("slo-prom");
    let scope = alerts::Scope { selector: r#"job="inferwatch""#.into(), ..alerts::Scope::default() };
    let objectives = slo::Objectives { latency_threshold_seconds: THRESHOLD, ..slo::Objectives::default() };
    let rules =
        alerts::rule_file(&alerts::Slo { objectives, ..alerts::Slo::default() }, &scope, &alerts::Timing::default());
    let rules = serde_json::to_value(&rules).unwrap();
    let target = [format!("127.0.0.1:{}", s.port)];
    let prom = Prometheus::start(&cfg, &rules, &target, None).await;
    // A second Prometheus scraping the same server, as a platform team runs one: HTTPS with a
    // private CA and basic auth (its own --web.config.file). The report reads this one.
    let tls_dir = common::tempdir("slo-prom-tls");
    let (ca, cert, key) = common::tls::certificates(&tls_dir, "prometheus");
    let web = Web {
        ca: ca.clone(),
        cert,
        key,
        user: "report".into(),
        password: REPORT_PASSWORD.into(),
        bcrypt: REPORT_PASSWORD_BCRYPT.into(),
    };
    let secured = Prometheus::start_with(&tls_dir, &rules, &target, None, Some(&web)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    for p in [&prom, &secured] {
        while p.query(r#"inferwatch_http_requests_total{status="503"}"#).await.is_empty() {
            assert!(Instant::now() < deadline, "Prometheus never scraped the server");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let mut log = Vec::new();
    for i in 0..40 {
        for _ in 0..3 {
            log.push(send(&c, &s, "/v1/models/sentiment/predict", &light).await);
        }
        log.push(send(&c, &s, "/v1/models/trend/predict", &heavy).await);
        if i % 2 == 0 {
            log.push(send(&c, &s, "/v1/models/email/predict", &failing).await);
        }
        // Probes and scrapes, three times the user traffic: none of it may count.
        for path in ["/ready", "/metrics", "/health", "/v2/health/ready"] {
            for _ in 0..3 {
                let _ = c.get(s.url(path)).send().await;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(4)).await;

    let n = log.len() as f64;
    let errors = log.iter().filter(|(st, _)| *st >= 500).count() as f64 / n;
    let slow = log.iter().filter(|(_, t)| *t > THRESHOLD).count() as f64 / n;
    let borderline = log.iter().filter(|(_, t)| (*t - THRESHOLD).abs() < 0.02).count();
    assert!(errors > 0.05 && slow > 0.1, "the traffic injects errors ({errors}) and slow requests ({slow})");
    eprintln!(
        "log: {n} requests, {:.2}% 5xx, {:.2}% over {THRESHOLD} s, {borderline} within 20 ms of it",
        errors * 100.0,
        slow * 100.0
    );

    let ratio = |sli: &str| format!("{}{{job=\"inferwatch\",slo=\"{sli}\"}}", slo::error_ratio_record("30m"));
    let (avail, lat) = (value(&prom, &ratio("availability")).await, value(&prom, &ratio("latency")).await);
    assert!((avail - errors).abs() < 0.005, "availability error ratio {avail} vs log {errors}");
    assert!((lat - slow).abs() < 0.005, "latency error ratio {lat} vs log {slow}");
    let remaining =
        value(&prom, &format!("{}{{job=\"inferwatch\",slo=\"availability\"}}", slo::records::BUDGET_REMAINING)).await;
    let expected = 1.0 - errors / (1.0 - 0.995);
    assert!((remaining - expected).abs() < 0.005 / 0.005, "budget remaining {remaining} vs {expected}");
    // A burn this fast pages (the rules run with production `for:` durations, so only pending
    // can be seen in a test this short).
    let burn = prom.query(r#"ALERTS{alertname="InferwatchErrorBudgetFastBurn",slo="availability"}"#).await;
    assert!(!burn.is_empty(), "fast burn is pending or firing");

    // The report command prints the same figures, read over TLS with basic auth from the
    // secured Prometheus. Its fallback threshold is the default 2 s: the service's own 0.1 s
    // comes from the objective record its rules wrote.
    let options = inferwatch_report::report::Options {
        selector: r#"job="inferwatch""#.into(),
        since: "30m".into(),
        latency_threshold_seconds: 2.0,
    };
    let url = secured.url.clone();
    let ca_pem = std::fs::read(&ca).unwrap();
    let report = tokio::task::spawn_blocking(move || {
        use inferwatch_report::prom::{Connection, PromError, Prometheus, Query};
        let timeout = Duration::from_secs(10);
        let basic_auth = Some(("report".to_string(), REPORT_PASSWORD.to_string()));
        // Without the CA the certificate is refused; without the password Prometheus is.
        let untrusted = Connection { basic_auth: basic_auth.clone(), ..Connection::default() };
        let e = Prometheus::connect(&url, timeout, untrusted).unwrap().query("up").unwrap_err();
        assert!(matches!(e, PromError::Unreachable { .. }), "{e}");
        let anonymous = Connection { ca_pem: Some(ca_pem.clone()), ..Connection::default() };
        let e = Prometheus::connect(&url, timeout, anonymous).unwrap().query("up").unwrap_err();
        assert!(e.to_string().contains("401"), "{e}");
        let p = Prometheus::connect(&url, timeout, Connection { ca_pem: Some(ca_pem), basic_auth, bearer_token: None })
            .unwrap();
        inferwatch_report::report::gather(&p, &options).unwrap()
    })
    .await
    .unwrap();
    drop(secured);
    for (sli, expected_bad) in [("availability", errors), ("latency", slow)] {
        let line = report.slos.iter().find(|l| l.slo == sli).unwrap_or_else(|| panic!("{sli} in {report:?}"));
        let attainment = line.attainment().unwrap();
        assert!(
            (attainment - (1.0 - expected_bad)).abs() < 0.005,
            "{sli}: report {attainment} vs log {}",
            1.0 - expected_bad
        );
        assert!(line.objective.is_some() && line.budget_spent.is_some(), "{line:?}");
        if sli == "latency" {
            assert_eq!(line.threshold_seconds, Some(THRESHOLD), "the service's own threshold: {line:?}");
        }
    }
    let md = inferwatch_report::report::markdown(&report);
    let printed =
        format!("{:.2}%", report.slos.iter().find(|l| l.slo == "availability").unwrap().attainment().unwrap() * 100.0);
    assert!(md.contains(&printed) && md.contains("(missed)"), "{md}");
    assert!(report.p95.iter().any(|(_, m, _)| m == "trend") && md.contains("| test/inferwatch | trend |"), "{md}");
    eprintln!("{md}");
}
