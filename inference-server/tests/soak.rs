//! The soak (`make soak`; ignored by `make test`): ten minutes (`SOAK_SECONDS`) of mixed traffic
//! over every route of the real server, whose models come from a real S3 store (SeaweedFS) and
//! whose batch queue and prediction records live in a real `redis-server` (append-only file,
//! `appendfsync always`). Redis is killed (SIGKILL) once and started again on the same files; the
//! store is killed once and started again. Loopback only, bounded in time, stops by itself.
//!
//! What it checks:
//! - no unexpected 5xx: a 5xx answer counts as expected only when it is a documented answer to
//!   the fault under way (`queue_unavailable` and `feedback_store_unavailable` while Redis is
//!   down, `/storage/health` while the store is), within the fault and 20 s after it;
//! - no accepted job lost: every job answered 202 ends `done`;
//! - resident memory flat: the median of the last tenth of the run within 32 MiB of the median
//!   of the second and third tenths (after warm-up); the whole curve is reported.
//!
//! The report (`SOAK_REPORT`, e.g. docs/soak.md from `make soak`) has the counts per route and
//! status, the faults and their times, the jobs, and the memory curve.

mod common;

use common::redis::Redis;
use common::seaweedfs::{credentials, SeaweedFs};
use common::Server;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent clients, and each one's requests per second.
const CLIENTS: usize = 8;
const PER_CLIENT_RPS: u64 = 25;
/// How long after a fault ends its documented 5xx answers still count as expected.
const GRACE: Duration = Duration::from_secs(20);
/// Most resident-memory growth from warm-up to the end that still counts as flat.
const FLAT_MIB: f64 = 32.0;

/// A fault window: what is down, from and to (seconds since the start; `to` open while down).
#[derive(Clone, Debug)]
struct Fault {
    what: &'static str,
    from: f64,
    to: Option<f64>,
}

/// One fault of the run: `what` goes down at `at` and comes back `down_for` later.
struct Outage {
    what: &'static str,
    at: Duration,
    down_for: Duration,
    /// 0 up, 1 down, 2 back.
    state: u8,
}

impl Outage {
    fn new(what: &'static str, at: Duration, down_for: Duration) -> Self {
        Self { what, at, down_for, state: 0 }
    }

    /// Take the dependency down (`down(true)`) or bring it back (`down(false)`) when `now` says
    /// so, and mark it in the tally.
    fn step(&mut self, now: Duration, tally: &Mutex<Tally>, down: impl FnOnce(bool)) {
        let at = now.as_secs_f64();
        if self.state == 0 && now >= self.at {
            tally.lock().expect("tally").faults.push(Fault { what: self.what, from: at, to: None });
            down(true);
            self.state = 1;
        } else if self.state == 1 && now >= self.at + self.down_for {
            down(false);
            if let Some(f) = tally.lock().expect("tally").faults.iter_mut().rev().find(|f| f.what == self.what) {
                f.to = Some(at);
            }
            self.state = 2;
        }
    }
}

#[derive(Default)]
struct Tally {
    /// (route, status, error type) → count.
    answers: BTreeMap<(String, u16, String), u64>,
    unexpected: Vec<String>,
    accepted_jobs: Vec<String>,
    prediction_ids: Vec<String>,
    faults: Vec<Fault>,
}

impl Tally {
    fn in_fault(&self, what: &str, at: f64) -> bool {
        self.faults
            .iter()
            .any(|f| f.what == what && at >= f.from && f.to.is_none_or(|to| at <= to + GRACE.as_secs_f64()))
    }
}

/// The requests the clients cycle through: (route label, method, path, body).
fn requests(i: usize, prediction_id: Option<String>) -> (&'static str, reqwest::Method, String, Option<Value>) {
    use reqwest::Method;
    let text = |n: usize| {
        format!(
            "review number {n}: {}",
            if n.is_multiple_of(2) { "loved it, great value" } else { "awful, broke in a day" }
        )
    };
    let series: Vec<f64> = (0..200).map(|t| 10.0 + (t as f64) * 0.1 + ((t % 7) as f64)).collect();
    match i % 16 {
        0 => ("v1 sentiment", Method::POST, "/v1/models/sentiment/predict".into(), Some(json!({"text": text(i)}))),
        1 => (
            "v1 topic",
            Method::POST,
            "/v1/models/topic/predict".into(),
            Some(json!({"text": "the rocket reached orbit after the launch window opened"})),
        ),
        2 => (
            "v1 email",
            Method::POST,
            "/v1/models/email/predict".into(),
            Some(json!({"subject": "lunch", "body": format!("see you at noon, item {i}")})),
        ),
        3 => (
            "v1 recsys predict",
            Method::POST,
            "/v1/models/recsys/predict".into(),
            Some(json!({"user_id": (i % 900 + 1).to_string(), "item_id": (i % 1600 + 1).to_string()})),
        ),
        4 => (
            "v1 recsys recommend",
            Method::POST,
            "/v1/models/recsys/recommend".into(),
            Some(json!({"user_id": (i % 900 + 1).to_string(), "k": 10})),
        ),
        5 => {
            ("v1 trend", Method::POST, "/v1/models/trend/predict".into(), Some(json!({"values": series, "horizon": 7})))
        }
        6 => (
            "v2 infer",
            Method::POST,
            "/v2/models/sentiment/infer".into(),
            Some(
                json!({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": [text(i), text(i + 1)]}]}),
            ),
        ),
        7 => (
            "v1 batch of 32",
            Method::POST,
            "/v1/models/sentiment/predict".into(),
            Some(json!({"inputs": (0..32).map(|k| json!({"text": text(i + k)})).collect::<Vec<_>>()})),
        ),
        8 => (
            "job submit",
            Method::POST,
            "/v1/models/topic/jobs".into(),
            Some(json!({"inputs": (0..20).map(|k| json!({"text": text(i + k)})).collect::<Vec<_>>()})),
        ),
        9 => match prediction_id {
            Some(id) => (
                "feedback",
                Method::POST,
                "/v1/models/sentiment/feedback".into(),
                Some(json!({"prediction_id": id, "label": "positive"})),
            ),
            None => {
                ("v1 sentiment", Method::POST, "/v1/models/sentiment/predict".into(), Some(json!({"text": text(i)})))
            }
        },
        10 => ("GET /v1/models", Method::GET, "/v1/models".into(), None),
        11 => ("GET /ready", Method::GET, "/ready".into(), None),
        12 => ("GET /metrics", Method::GET, "/metrics".into(), None),
        13 => ("GET /v2/models/{name}", Method::GET, "/v2/models/topic".into(), None),
        14 => ("GET /storage/health", Method::GET, "/storage/health".into(), None),
        _ => ("bad JSON (400 expected)", Method::POST, "/v1/models/sentiment/predict".into(), None),
    }
}

async fn client(n: usize, base: String, start: Instant, end: Instant, tally: Arc<Mutex<Tally>>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / PER_CLIENT_RPS));
    let mut i = n * 7919;
    while Instant::now() < end {
        tick.tick().await;
        i += 1;
        let pid = if i % 16 == 9 { tally.lock().expect("tally").prediction_ids.pop() } else { None };
        let (route, method, path, body) = requests(i, pid);
        let mut req = http.request(method, format!("{base}{path}"));
        req = match (&body, route) {
            (Some(b), _) => req.json(b),
            (None, "bad JSON (400 expected)") => req.header("content-type", "application/json").body("{\"text\": "),
            (None, _) => req,
        };
        let at = start.elapsed().as_secs_f64();
        let (status, answer) = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"type": format!("transport: {e}")})),
        };
        let kind = answer["type"].as_str().unwrap_or("").to_string();
        let mut t = tally.lock().expect("tally");
        let expected_5xx = match (route, kind.as_str()) {
            ("job submit", "queue_unavailable") | ("feedback", "feedback_store_unavailable") => t.in_fault("redis", at),
            ("GET /storage/health", _) => t.in_fault("store", at),
            _ => false,
        };
        if (status >= 500 || status == 0) && !expected_5xx {
            if t.unexpected.len() < 50 {
                t.unexpected.push(format!("{at:.1}s {route} {status} {answer}"));
            } else {
                t.unexpected.push(String::new());
            }
        }
        if route == "bad JSON (400 expected)" && status != 400 && t.unexpected.len() < 50 {
            t.unexpected.push(format!("{at:.1}s bad JSON answered {status}"));
        }
        if status == 202 {
            if let Some(id) = answer["job_id"].as_str() {
                t.accepted_jobs.push(id.to_string());
            }
        }
        if status == 200 && route == "v1 sentiment" {
            if let Some(id) = answer["prediction_id"].as_str() {
                if t.prediction_ids.len() < 1000 {
                    t.prediction_ids.push(id.to_string());
                }
            }
        }
        *t.answers.entry((route.to_string(), status, kind)).or_default() += 1;
    }
}

fn rss_mib(pid: i32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "ten minutes: run with `make soak`"]
async fn ten_minutes_of_mixed_traffic_through_a_redis_restart_and_a_store_outage() {
    let seconds: u64 = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let total = Duration::from_secs(seconds);
    credentials();
    let mut store = SeaweedFs::start();
    store.create_bucket("models").await;
    for m in ["sentiment", "topic", "email", "recsys", "trend"] {
        store.upload("prod", m, false).await;
    }
    let mut redis = Redis::start();
    let cache = common::tempdir("soak-cache");
    let redis_url = redis.url();
    let mut args = store.server_args("prod", &cache);
    args.extend(["--redis-url", redis_url.as_str(), "--job-claim-idle-ms", "5000"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::ready(&args).await;
    let pid = server.pid();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let end = start + total;
    let clients: Vec<_> =
        (0..CLIENTS).map(|n| tokio::spawn(client(n, server.url(""), start, end, tally.clone()))).collect();

    // Faults: Redis killed at 30% for 15 s, the store killed at 60% for 30 s (shorter runs:
    // 5% and 10% of the run); RSS every 5 s.
    let mut curve: Vec<(f64, f64)> = Vec::new();
    let (redis_at, store_at) = (total.mul_f64(0.3), total.mul_f64(0.6));
    let redis_down = Duration::from_secs(15).min(total.mul_f64(0.05));
    let store_down = Duration::from_secs(30).min(total.mul_f64(0.1));
    let mut redis_outage = Outage::new("redis", redis_at, redis_down);
    let mut store_outage = Outage::new("store", store_at, store_down);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut last_sample = None::<Instant>;
    while Instant::now() < end {
        second.tick().await;
        let now = start.elapsed();
        if last_sample.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            last_sample = Some(Instant::now());
            curve.push((now.as_secs_f64(), rss_mib(pid)));
        }
        redis_outage.step(now, &tally, |down| if down { redis.kill() } else { redis.spawn() });
        store_outage.step(now, &tally, |down| if down { store.kill() } else { store.spawn() });
    }
    for c in clients {
        c.await.expect("client task");
    }

    // Every accepted job must end done (jobs taken when Redis died are reclaimed after 5 s).
    let jobs = tally.lock().expect("tally").accepted_jobs.clone();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut outcome: BTreeMap<String, usize> = BTreeMap::new();
    let mut lost = Vec::new();
    for id in &jobs {
        loop {
            let (code, body) = match http.get(server.url(&format!("/v1/jobs/{id}"))).send().await {
                Ok(r) => (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null)),
                Err(e) => (0, json!({"transport": e.to_string()})),
            };
            let state = body["status"].as_str().unwrap_or("").to_string();
            if state == "done" || state == "failed" || code == 404 || Instant::now() > deadline {
                // (a transport error is polled again until the deadline)
                let key = if code == 404 { "404 (lost)".to_string() } else { state.clone() };
                if state != "done" {
                    lost.push(format!("{id}: {code} {body}"));
                }
                *outcome.entry(key).or_default() += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let t = tally.lock().expect("tally");
    let n = curve.len();
    let warm = median(curve[n / 10..(3 * n / 10).max(n / 10 + 1)].iter().map(|c| c.1).collect());
    let last = median(curve[n - (n / 10).max(1)..].iter().map(|c| c.1).collect());
    let peak = curve.iter().map(|c| c.1).fold(0.0, f64::max);
    let total_requests: u64 = t.answers.values().sum();
    let mut report = String::new();
    let _ = writeln!(report, "# Soak: results of the last `make soak`\n");
    let _ = writeln!(
        report,
        "Generated by `make soak` (`inference-server/tests/soak.rs`); {seconds} s of mixed traffic, {CLIENTS} clients at {PER_CLIENT_RPS} requests/s each, debug build, on this machine (2 cores), loopback. Models from SeaweedFS (S3), batch queue and prediction records in `redis-server` (AOF, `appendfsync always`).\n"
    );
    let _ = writeln!(report, "## Faults\n\n| fault | down from | back at |\n|---|---|---|");
    for f in &t.faults {
        let what = if f.what == "redis" {
            "Redis killed (SIGKILL), restarted on its files"
        } else {
            "model store killed, restarted"
        };
        let _ = writeln!(
            report,
            "| {what} | {:.0} s | {} |",
            f.from,
            f.to.map_or("never".into(), |to| format!("{to:.0} s"))
        );
    }
    let _ = writeln!(
        report,
        "\n## Answers ({total_requests} requests)\n\n| route | status | type | count |\n|---|---|---|---|"
    );
    for ((route, status, kind), count) in &t.answers {
        let _ = writeln!(report, "| {route} | {status} | {kind} | {count} |");
    }
    let _ = writeln!(
        report,
        "\nUnexpected 5xx (or transport errors, or a bad body not answered 400): **{}**",
        t.unexpected.len()
    );
    for u in t.unexpected.iter().filter(|u| !u.is_empty()).take(20) {
        let _ = writeln!(report, "- `{u}`");
    }
    let _ = writeln!(report, "\n## Jobs\n\nAccepted: {}. Outcomes: {outcome:?}. Lost: **{}**.", jobs.len(), lost.len());
    for l in lost.iter().take(10) {
        let _ = writeln!(report, "- `{l}`");
    }
    let _ = writeln!(
        report,
        "\n## Resident memory\n\nMedian after warm-up (10-30% of the run) {warm:.1} MiB; median of the last 10% {last:.1} MiB (growth {:.1} MiB, bound {FLAT_MIB} MiB); peak {peak:.1} MiB.\n\n| s | RSS MiB |\n|---|---|",
        last - warm
    );
    for (at, mib) in curve.iter().step_by(6) {
        let _ = writeln!(report, "| {at:.0} | {mib:.1} |");
    }
    println!("{report}");
    if let Ok(path) = std::env::var("SOAK_REPORT") {
        std::fs::write(&path, &report).expect("write the report");
    }
    assert!(
        t.unexpected.is_empty(),
        "{} unexpected answers: {:?}",
        t.unexpected.len(),
        &t.unexpected[..t.unexpected.len().min(10)]
    );
    assert!(lost.is_empty(), "{} accepted jobs did not finish: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    assert!(last - warm < FLAT_MIB, "resident memory grew {:.1} MiB (from {warm:.1} to {last:.1})", last - warm);
}
