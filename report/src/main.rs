//! `inferwatch-report --prometheus http://prometheus:9090 [--namespace ml --service sentiment] --since 7d`

use clap::Parser;
use inferwatch_report::prom::{Connection, Prometheus};
use inferwatch_report::report::{gather, markdown, Options};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Print the weekly review of Inferwatch ModelServices as Markdown.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Base URL of the Prometheus that scrapes the servers.
    #[arg(long, env = "PROMETHEUS_URL", default_value = "http://localhost:9090")]
    prometheus: String,
    /// Namespace of the ModelService (all namespaces when unset).
    #[arg(long)]
    namespace: Option<String>,
    /// The ModelService (its Service name, Prometheus' `job`); all when unset.
    #[arg(long)]
    service: Option<String>,
    /// The review window, a Prometheus duration such as 7d, 24h or 30d.
    #[arg(long, default_value = "7d", value_parser = duration)]
    since: String,
    /// The latency SLI's threshold in seconds for services whose rules do not say theirs (each
    /// ModelService's own, from its objective record, wins).
    #[arg(long, default_value_t = 2.0, value_parser = threshold)]
    latency_threshold_seconds: f64,
    /// Timeout of each query, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// PEM file of the CA that signed Prometheus' TLS certificate (besides the system's roots;
    /// use an `https://` URL).
    #[arg(long, env = "PROMETHEUS_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// File holding a bearer token for Prometheus or the proxy in front of it.
    #[arg(long, env = "PROMETHEUS_BEARER_TOKEN_FILE", conflicts_with = "basic_auth_user")]
    bearer_token_file: Option<PathBuf>,
    /// HTTP basic auth user (Prometheus' `--web.config.file` users); the password comes from the
    /// environment variable `PROMETHEUS_PASSWORD`, never from the command line.
    #[arg(long, env = "PROMETHEUS_USERNAME")]
    basic_auth_user: Option<String>,
}

/// The connection settings from the flags: files read, secrets from the environment.
fn connection(args: &Args) -> Result<Connection, String> {
    let read =
        |what: &str, p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read the {what} {}: {e}", p.display()));
    let ca_pem = args.ca_file.as_ref().map(|p| read("CA file", p)).transpose()?;
    let bearer_token = match &args.bearer_token_file {
        Some(p) => {
            let token = String::from_utf8(read("bearer token file", p)?)
                .map_err(|_| format!("the bearer token file {} is not UTF-8", p.display()))?;
            let token = token.trim().to_string();
            if token.is_empty() {
                return Err(format!("the bearer token file {} is empty", p.display()));
            }
            Some(token)
        }
        None => None,
    };
    let basic_auth = match &args.basic_auth_user {
        Some(user) => {
            let password = std::env::var("PROMETHEUS_PASSWORD")
                .map_err(|_| "--basic-auth-user needs the password in PROMETHEUS_PASSWORD".to_string())?;
            Some((user.clone(), password))
        }
        None => None,
    };
    Ok(Connection { ca_pem, bearer_token, basic_auth })
}

/// A Prometheus duration: digits and a unit (ms, s, m, h, d, w, y), possibly several.
fn duration(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.split_inclusive(|c: char| c.is_ascii_alphabetic()).all(|part| {
            let digits = part.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let unit = &part[digits.len()..];
            !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
                && ["ms", "s", "m", "h", "d", "w", "y"].contains(&unit)
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a Prometheus duration like 7d or 24h"))
    }
}

fn threshold(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if inferwatch_monitoring::slo::is_latency_bucket_edge(v) {
        Ok(v)
    } else {
        Err(format!(
            "{v} is not a latency bucket edge of the server ({:?})",
            inferwatch_monitoring::metrics::LATENCY_BUCKETS
        ))
    }
}

/// A label value inside a PromQL string literal.
fn quote(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut matchers = Vec::new();
    if let Some(ns) = &args.namespace {
        matchers.push(format!("namespace=\"{}\"", quote(ns)));
    }
    if let Some(svc) = &args.service {
        matchers.push(format!("job=\"{}\"", quote(svc)));
    }
    let options = Options {
        selector: matchers.join(","),
        since: args.since.clone(),
        latency_threshold_seconds: args.latency_threshold_seconds,
    };
    let connection = match connection(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("inferwatch-report: {e}");
            return ExitCode::from(2);
        }
    };
    let result = Prometheus::connect(&args.prometheus, Duration::from_secs(args.timeout_secs), connection)
        .and_then(|p| gather(&p, &options));
    match result {
        Ok(report) => {
            print!("{}", markdown(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("inferwatch-report: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_thresholds_are_checked_before_any_query() {
        assert!(duration("7d").is_ok() && duration("1h30m").is_ok() && duration("90s").is_ok());
        for bad in ["", "7", "d", "7days", "-1d", "7d;drop"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert_eq!(threshold("2"), Ok(2.0));
        assert!(threshold("1.5").unwrap_err().contains("bucket edge"));
        assert!(threshold("fast").is_err());
    }

    #[test]
    fn label_values_are_escaped_inside_the_selector() {
        assert_eq!(quote(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}
