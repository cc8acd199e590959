//! Bearer-token authentication (`--auth-token-file`) on the real server: API routes answer 401
//! with a JSON error and a challenge unless a listed token comes with the request; probes,
//! `/metrics` and dependency health stay open; a bad token file stops the start.

mod common;

use common::{error_of, tempdir, Server};
use serde_json::json;

const TOKENS: &str = "# two tokens while clients move to the new one\nold-token\nnew-token\n";

async fn send(s: &Server, method: reqwest::Method, path: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method.clone(), s.url(path));
    if method == reqwest::Method::POST {
        req = req.json(&json!({"text": "a calm and pleasant day"}));
    }
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.send().await.expect("an answer")
}

async fn token_server() -> Server {
    let dir = tempdir("auth");
    let file = dir.join("tokens");
    std::fs::write(&file, TOKENS).expect("token file");
    Server::ready(&["--preload", "sentiment", "--auth-token-file", file.to_str().expect("utf-8 path")]).await
}

#[tokio::test]
async fn api_routes_without_a_valid_bearer_token_get_401_with_a_challenge() {
    let s = token_server().await;
    let predict = "/v1/models/sentiment/predict";
    let long = format!("Bearer {}", "x".repeat(64 * 1024));
    for (authorization, challenge) in [
        (None, r#"Bearer realm="inferwatch""#),
        (Some("Basic b2xkLXRva2Vu"), r#"Bearer realm="inferwatch""#),
        (Some("Bearer"), r#"Bearer realm="inferwatch""#),
        (Some("Bearer wrong-token"), r#"Bearer realm="inferwatch", error="invalid_token""#),
        (Some("Bearer old-token-and-more"), r#"Bearer realm="inferwatch", error="invalid_token""#),
        (Some(long.as_str()), r#"Bearer realm="inferwatch", error="invalid_token""#),
    ] {
        let r = send(&s, reqwest::Method::POST, predict, authorization).await;
        assert_eq!(r.status(), 401, "{:.40?}", authorization);
        assert_eq!(r.headers()["www-authenticate"], challenge, "{:.40?}", authorization);
        let body: serde_json::Value = r.json().await.expect("JSON error");
        error_of(&body, "unauthorized");
    }
    for path in ["/v1/models", "/v1/models/sentiment", "/v2", "/v2/models/sentiment", "/v1/jobs/abc"] {
        assert_eq!(send(&s, reqwest::Method::GET, path, None).await.status(), 401, "{path}");
    }
    let v2 = reqwest::Client::new()
        .post(s.url("/v2/models/sentiment/infer"))
        .json(&json!({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["fine"]}]}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(v2.status(), 401);
    let rejected = s
        .metric(r#"inferwatch_http_requests_total{route="/v1/models/{name}/predict",method="POST",status="401"}"#)
        .await;
    assert_eq!(rejected, Some(6.0), "401 answers are counted like any other");
}

#[tokio::test]
async fn either_listed_token_is_accepted_in_any_scheme_case() {
    let s = token_server().await;
    for authorization in ["Bearer old-token", "bearer new-token", "BEARER   new-token"] {
        let r = send(&s, reqwest::Method::POST, "/v1/models/sentiment/predict", Some(authorization)).await;
        assert_eq!(r.status(), 200, "{authorization}");
    }
    assert_eq!(send(&s, reqwest::Method::GET, "/v1/models", Some("Bearer old-token")).await.status(), 200);
}

#[tokio::test]
async fn probes_metrics_and_dependency_health_stay_open_under_authentication() {
    let s = token_server().await;
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/sentiment/ready",
    ] {
        assert_eq!(send(&s, reqwest::Method::GET, path, None).await.status(), 200, "{path}");
    }
    let (_, doc) = s.get("/openapi.json").await;
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer", "{}", doc["components"]);
    assert!(doc["paths"]["/health"]["get"].get("security").is_none());
    assert!(doc["paths"]["/v1/models/{name}/predict"]["post"]["security"].is_array());
}

#[tokio::test]
async fn a_token_file_that_is_missing_or_empty_stops_the_start_with_a_clear_error() {
    let dir = tempdir("auth-bad");
    let empty = dir.join("empty");
    std::fs::write(&empty, "# no token yet\n\n").expect("file");
    let missing = dir.join("missing");
    for (file, says) in [(&empty, "holds no token"), (&missing, "cannot read the token file")] {
        let text = common::start_refused(&["--auth-token-file".as_ref(), file.as_os_str()]);
        assert!(text.contains(says), "{text}");
    }
}
