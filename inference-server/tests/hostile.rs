//! The server against hostile and heavy clients (issue: hardening). Each test is one finding of
//! the review, tried against the real binary on loopback: the documented status and JSON error,
//! the server healthy afterwards, and where memory is the point, its peak resident memory read
//! from `/proc/<pid>/status` (`VmHWM`) against a bound the test states.

mod common;

use common::{error_of, Server};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: i32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// Whether a client error is the connection closing while the request body was still being
/// written (the server refused the request unread), not a failure to answer.
fn refused_while_writing(e: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(io.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset);
        }
        source = err.source();
    }
    false
}

/// A JSON body of about `bytes` bytes: `head`, then `item` repeated with commas, then `tail`.
fn repeated(head: &str, item: &str, tail: &str, bytes: usize) -> String {
    let n = (bytes - head.len() - tail.len()) / (item.len() + 1);
    let mut s = String::with_capacity(bytes);
    s.push_str(head);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(item);
    }
    s.push_str(tail);
    s
}

/// Bodies that used to multiply in memory (a JSON tree of tiny objects is ~80x its text), each
/// answered with its 4xx and the server's peak memory bounded: 48 of them at once, 2 MiB each.
#[tokio::test]
async fn bodies_that_multiply_in_memory_are_refused_within_a_stated_memory_bound() {
    let s = Server::ready(&[]).await;
    // Warm every route once so the baseline includes what ordinary traffic allocates.
    for (path, body) in [
        ("/v1/models/sentiment/predict", json!({"inputs": [{"text": "fine"}, {"text": "bad"}]})),
        (
            "/v2/models/sentiment/infer",
            json!({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["ok"]}]}),
        ),
    ] {
        assert_eq!(s.post(path, body).await.0, 200);
    }
    let baseline = peak_rss(s.pid());
    let near_limit = 2 * MIB - 1024;
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        (
            "/v1/models/sentiment/predict",
            repeated(r#"{"inputs": ["#, "{}", "]}", near_limit),
            422,
            "validation_error",
            "too many items: more than 256",
        ),
        (
            "/v1/models/sentiment/predict",
            repeated(r#"{"text": ["#, "0", "]}", near_limit),
            422,
            "validation_error",
            "invalid type: sequence",
        ),
        (
            "/v1/models/trend/predict",
            repeated(r#"{"horizon": 3, "values": ["#, "0", "]}", near_limit),
            422,
            "validation_error",
            "at most 10000 elements",
        ),
        (
            "/v2/models/sentiment/infer",
            repeated(
                r#"{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["#,
                "[0]",
                "]}]}",
                near_limit,
            ),
            422,
            "validation_error",
            "more than 10016 elements",
        ),
        (
            "/v2/models/sentiment/infer",
            repeated(r#"{"parameters": {"p": ["#, "{}", r#"]}, "inputs": []}"#, near_limit),
            422,
            "validation_error",
            "a string, number or boolean parameter value",
        ),
        (
            "/v1/models/sentiment/feedback",
            repeated(r#"{"feedback": ["#, "{}", "]}", near_limit),
            413,
            "too_many_items",
            "more than 1000 feedback items",
        ),
    ];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for round in 0..8 {
        for (i, (path, body, status, kind, message)) in cases.iter().cloned().enumerate() {
            let base = s.url(path);
            tasks.push(tokio::spawn(async move {
                let sent = reqwest::Client::new()
                    .post(base)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let r = match sent {
                    Ok(r) => r,
                    // Over the body budget a request is refused before its body is read, and
                    // the connection closes: a client still writing the body can see the close
                    // (broken pipe) before it reads the 429. Any other failure is a defect.
                    Err(e) if refused_while_writing(&e) => return,
                    Err(e) => panic!("case {i} round {round} not answered: {e:?}"),
                };
                let got = r.status().as_u16();
                let answer: Value = r.json().await.unwrap_or(Value::Null);
                // Over the body budget some are refused before they are read: also an answer.
                if got == 429 {
                    assert!(error_of(&answer, "overloaded").contains("bytes of request bodies"), "{answer}");
                } else {
                    assert_eq!(got, status, "case {i} round {round}: {answer}");
                    assert!(error_of(&answer, kind).contains(message), "case {i}: {answer}");
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("request task");
    }
    let grown = peak_rss(s.pid()).saturating_sub(baseline);
    // The bound: the body budget (32 MiB by default) is what may be read at once; reading and
    // decoding at most triples it, plus 32 MiB of allocator and runtime slack.
    let bound = 3 * 32 * MIB + 32 * MIB;
    assert!(grown < bound, "peak RSS grew {} MiB over the baseline; bound {} MiB", grown / MIB, bound / MIB);
    eprintln!(
        "48 hostile 2 MiB bodies in {:?}: peak RSS +{} MiB (bound {} MiB)",
        started.elapsed(),
        grown / MIB,
        bound / MIB
    );
    let (status, _) = s.post("/v1/models/sentiment/predict", json!({"text": "still healthy"})).await;
    assert_eq!(status, 200);
}

/// A shape whose element count overflows is a 422, not a wrapped count or a panic.
#[tokio::test]
async fn an_overflowing_v2_shape_is_a_clear_error() {
    let s = Server::ready(&["--preload", "sentiment"]).await;
    let body = json!({"inputs": [{"name": "text", "shape": [4611686018427387904_i64, 4611686018427387904_i64], "datatype": "BYTES", "data": ["a"]}]});
    let (status, answer) = s.post("/v2/models/sentiment/infer", body).await;
    assert_eq!(status, 422, "{answer}");
    assert!(error_of(&answer, "validation_error").contains("too large"), "{answer}");
}

fn long_series(series: usize, points: usize) -> Value {
    let values: Vec<u64> = (0..points as u64).map(|i| i % 97 + i / 100).collect();
    json!({"inputs": (0..series).map(|_| json!({"values": values, "horizon": 6})).collect::<Vec<_>>()})
}

/// Thirty series of the longest accepted length in one request: 1.5e9 comparisons for a
/// pairwise Mann-Kendall (past the 10 s request timeout in this debug build), a merge sort now.
#[tokio::test]
async fn the_longest_series_are_analysed_within_the_request_timeout() {
    let s = Server::ready(&["--preload", "trend"]).await;
    let (status, answer) = s.post("/v1/models/trend/predict", long_series(30, 10_000)).await;
    assert_eq!(status, 200, "{}", answer.to_string().chars().take(300).collect::<String>());
    assert_eq!(answer["predictions"].as_array().map(Vec::len), Some(30));
}

/// A request answered 504 keeps its concurrency permit until the work it started on the
/// blocking pool is done: the limit bounds the CPU in use, not only the requests waiting.
#[tokio::test]
async fn a_timed_out_request_holds_its_permit_until_its_work_is_done() {
    let s = Server::ready(&[
        "--preload",
        "trend,sentiment",
        "--concurrency-limit",
        "1",
        "--request-timeout-ms",
        "300",
        "--max-body-bytes",
        "33554432",
        "--body-memory-bytes",
        "33554432",
    ])
    .await;
    let (status, answer) = s.post("/v1/models/trend/predict", long_series(256, 10_000)).await;
    assert_eq!(status, 504, "{answer}");
    let (status, answer) = s.post("/v1/models/sentiment/predict", json!({"text": "am I admitted?"})).await;
    assert_eq!(status, 429, "the timed-out work still holds the only permit: {answer}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while s.metric("inferwatch_concurrency_in_use").await != Some(0.0) {
        assert!(Instant::now() < deadline, "the abandoned work never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = s.post("/v1/models/sentiment/predict", json!({"text": "now I am"})).await;
    assert_eq!(status, 200);
}

/// Reads until the peer closes; true when it did within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A client that sends half its headers and stalls, and one that stays idle after its answer,
/// are both closed after the header-read timeout and counted.
#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed_after_the_header_timeout() {
    let s = Server::ready(&["--preload", "sentiment", "--header-read-timeout-ms", "500"]).await;
    let addr = format!("127.0.0.1:{}", s.port);
    let mut slow = TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\n").expect("half the headers");
    let mut idle = TcpStream::connect(&addr).expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").expect("a request");
    let mut buf = [0u8; 512];
    assert!(idle.read(&mut buf).expect("an answer") > 0);
    assert!(closed_within(&mut slow, Duration::from_secs(10)), "a stalled header read is closed");
    assert!(closed_within(&mut idle, Duration::from_secs(10)), "an idle keep-alive connection is closed");
    let timeouts = s.metric(r#"inferwatch_http_connections_closed_total{reason="timeout"}"#).await;
    assert!(timeouts >= Some(2.0), "{timeouts:?}");
}

/// Past `--max-connections` a new connection is closed at once and counted; once the holders
/// go, connections are served again.
#[tokio::test]
async fn connections_over_the_cap_are_closed_at_accept_and_counted() {
    let s = Server::ready(&["--preload", "sentiment", "--max-connections", "3"]).await;
    let addr = format!("127.0.0.1:{}", s.port);
    // reqwest's pool may keep the readiness probe's connection: wait until it is gone.
    let deadline = Instant::now() + Duration::from_secs(40);
    let holders: Vec<TcpStream> = loop {
        let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).expect("connect")).collect();
        let mut extra = TcpStream::connect(&addr).expect("the kernel accepts");
        if closed_within(&mut extra, Duration::from_secs(2)) {
            break held;
        }
        assert!(Instant::now() < deadline, "the fourth connection was never refused");
        drop(held);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(holders);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let limited = s.metric(r#"inferwatch_http_connections_closed_total{reason="limit"}"#).await;
    assert!(limited >= Some(1.0), "{limited:?}");
    assert_eq!(s.metric(r#"inferwatch_configured_limit{limit="connections"}"#).await, Some(3.0));
    let (status, _) = s.post("/v1/models/sentiment/predict", json!({"text": "served again"})).await;
    assert_eq!(status, 200);
}

/// A body announced but not sent holds its share of the body budget; another request that does
/// not fit is refused 429 at once, and the budget is free again after the first one's timeout.
#[tokio::test]
async fn a_request_over_the_body_budget_is_refused_until_budget_is_free() {
    let s =
        Server::ready(&["--preload", "sentiment", "--body-memory-bytes", "1000", "--request-timeout-ms", "1000"]).await;
    let mut holder = TcpStream::connect(format!("127.0.0.1:{}", s.port)).expect("connect");
    holder
        .write_all(b"POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n{\"text\": ")
        .expect("headers and the start of a body");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = json!({"text": "x".repeat(200)});
    let (status, answer) = s.post("/v1/models/sentiment/predict", body.clone()).await;
    assert_eq!(status, 429, "{answer}");
    assert!(error_of(&answer, "overloaded").contains("1000 bytes of request bodies"), "{answer}");
    holder.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut buf = [0u8; 1024];
    let n = holder.read(&mut buf).expect("an answer");
    let response = String::from_utf8_lossy(&buf[..n]);
    assert!(response.starts_with("HTTP/1.1 504"), "the stalled body times out: {response}");
    let (status, answer) = s.post("/v1/models/sentiment/predict", body).await;
    assert_eq!(status, 200, "{answer}");
    let refused = s.metric(r#"inferwatch_http_requests_rejected_total{reason="body_memory"}"#).await;
    assert_eq!(refused, Some(1.0));
}

/// A client stalled in its headers and one stalled in its body keep their connections open
/// through a graceful shutdown (the drain waits for a request in flight); past
/// `--drain-timeout-ms` the server closes them and exits, long before the header and request
/// timeouts (30 s each here) would have let them go.
#[tokio::test]
async fn connections_stalled_at_shutdown_are_closed_at_the_drain_deadline() {
    let mut s = Server::ready(&[
        "--preload",
        "sentiment",
        "--drain-timeout-ms",
        "500",
        "--header-read-timeout-ms",
        "30000",
        "--request-timeout-ms",
        "30000",
    ])
    .await;
    let addr = format!("127.0.0.1:{}", s.port);
    let mut in_headers = TcpStream::connect(&addr).expect("connect");
    in_headers.write_all(b"POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\n").expect("half the headers");
    let mut in_body = TcpStream::connect(&addr).expect("connect");
    in_body
        .write_all(b"POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\":")
        .expect("headers and part of the body");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(s.pid(), libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = s.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the server still runs 15 s after SIGTERM with a 0.5 s drain deadline");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert!(closed_within(&mut in_headers, Duration::from_secs(1)), "the stalled header read is closed");
    assert!(closed_within(&mut in_body, Duration::from_secs(1)), "the stalled body read is closed");
}
