//! A thin client of the Prometheus HTTP API: instant queries only, the vector results decoded
//! into label maps and values. (The Prometheus client crates on crates.io are exporters; the
//! query API is one GET and one JSON shape, smaller than a dependency.)

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What can go wrong asking Prometheus.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// Prometheus could not be reached or did not answer in time.
    #[error("cannot reach Prometheus at {url}: {source}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// Prometheus answered with an error (a bad query, a timeout).
    #[error("Prometheus refused `{query}`: {message}")]
    Refused {
        /// The query.
        query: String,
        /// Its `error` field, or the HTTP status.
        message: String,
    },
    /// The connection settings cannot be used (an unreadable CA bundle).
    #[error("{0}")]
    Config(String),
    /// The answer was not the documented JSON.
    #[error("Prometheus answered `{query}` with an unexpected body: {message}")]
    Decode {
        /// The query.
        query: String,
        /// What did not fit.
        message: String,
    },
}

/// One series of a vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value (NaN and infinities as Prometheus wrote them).
    pub value: f64,
}

impl Sample {
    /// A label's value, or "".
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// Something that answers instant queries (the real client, or a fixed table in unit tests).
pub trait Query {
    /// Evaluate `query` now.
    fn query(&self, query: &str) -> Result<Vec<Sample>, PromError>;
}

/// How to reach a Prometheus that is not plain HTTP: the CA of its TLS certificate and the
/// credentials it (or the proxy in front of it) asks for.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// PEM certificates to trust besides the system's roots (a private CA).
    pub ca_pem: Option<Vec<u8>>,
    /// Sent as `Authorization: Bearer <token>` (kube-rbac-proxy, OpenShift's Thanos querier).
    pub bearer_token: Option<String>,
    /// Sent as HTTP basic auth (Prometheus' own `--web.config.file` users).
    pub basic_auth: Option<(String, String)>,
}

/// The HTTP client.
pub struct Prometheus {
    base: String,
    http: reqwest::blocking::Client,
    connection: Connection,
}

impl Prometheus {
    /// A client of the Prometheus at `base` (e.g. `http://prometheus:9090`).
    pub fn new(base: &str, timeout: Duration) -> Result<Self, PromError> {
        Self::connect(base, timeout, Connection::default())
    }

    /// A client of the Prometheus at `base` (`https://` for TLS) with `connection`'s CA and
    /// credentials.
    pub fn connect(base: &str, timeout: Duration, connection: Connection) -> Result<Self, PromError> {
        let mut builder = reqwest::blocking::Client::builder().timeout(timeout).use_rustls_tls();
        if let Some(pem) = &connection.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| PromError::Config(format!("the CA file is not PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(PromError::Config("the CA file holds no certificate".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|source| PromError::Unreachable { url: base.into(), source })?;
        Ok(Self { base: base.trim_end_matches('/').into(), http, connection })
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSample>,
}

#[derive(Deserialize)]
struct RawSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Decode an instant-query answer.
pub fn decode(query: &str, body: &str) -> Result<Vec<Sample>, PromError> {
    let decode_err = |message: String| PromError::Decode { query: query.into(), message };
    let a: Answer = serde_json::from_str(body).map_err(|e| decode_err(e.to_string()))?;
    if a.status != "success" {
        return Err(PromError::Refused { query: query.into(), message: a.error.unwrap_or(a.status) });
    }
    let data = a.data.ok_or_else(|| decode_err("no data".into()))?;
    if data.result_type != "vector" {
        return Err(decode_err(format!("result type {}, not vector", data.result_type)));
    }
    data.result
        .into_iter()
        .map(|r| {
            let value = match r.value.1.as_str() {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().map_err(|_| decode_err(format!("value {v:?}")))?,
            };
            Ok(Sample { labels: r.metric, value })
        })
        .collect()
}

impl Query for Prometheus {
    fn query(&self, query: &str) -> Result<Vec<Sample>, PromError> {
        let url = format!("{}/api/v1/query", self.base);
        let mut request = self.http.get(&url).query(&[("query", query)]);
        if let Some(token) = &self.connection.bearer_token {
            request = request.bearer_auth(token);
        }
        if let Some((user, password)) = &self.connection.basic_auth {
            request = request.basic_auth(user, Some(password));
        }
        let r = request.send().map_err(|source| PromError::Unreachable { url: self.base.clone(), source })?;
        let status = r.status();
        let body = r.text().map_err(|source| PromError::Unreachable { url: self.base.clone(), source })?;
        // A bad query is a 400 with the JSON error body; decode says what it was.
        match decode(query, &body) {
            Err(PromError::Decode { .. }) if !status.is_success() => {
                Err(PromError::Refused { query: query.into(), message: format!("HTTP {status}") })
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_answer_decodes_with_nan_and_labels() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"job":"a","slo":"latency"},"value":[1.5,"0.995"]},
            {"metric":{},"value":[1.5,"NaN"]}]}}"#;
        let v = decode("q", body).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].label("slo"), "latency");
        assert_eq!(v[0].value, 0.995);
        assert!(v[1].value.is_nan());
    }

    #[test]
    fn an_error_answer_is_refused_with_its_message() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        let e = decode("up{", body).unwrap_err();
        assert!(e.to_string().contains("parse error at char 3") && e.to_string().contains("up{"), "{e}");
        assert!(matches!(decode("q", "<html>"), Err(PromError::Decode { .. })));
    }
}
