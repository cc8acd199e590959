//! The `inferwatch-report` binary as a platform engineer runs it: a bad flag, missing
//! credentials and an unreachable Prometheus each end with a clear message and a distinct exit
//! code, before or instead of any output.

use std::process::Command;

fn report(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_inferwatch-report"));
    c.args(args).env_remove("PROMETHEUS_PASSWORD").env_remove("PROMETHEUS_URL");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(out.stdout.is_empty(), "no report on a failure: {}", String::from_utf8_lossy(&out.stdout));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_flags_and_missing_credentials_are_refused_before_any_query() {
    let (code, err) = report(&["--since", "a week"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a Prometheus duration"), "{err}");
    let (code, err) = report(&["--basic-auth-user", "report"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PROMETHEUS_PASSWORD"), "{err}");
    let (code, err) = report(&["--ca-file", "/nonexistent/ca.pem"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the CA file"), "{err}");
    let (code, err) =
        report(&["--bearer-token-file", "/etc/hostname", "--basic-auth-user", "x"], &[("PROMETHEUS_PASSWORD", "p")]);
    assert_eq!(code, 2, "one kind of credentials: {err}");
}

#[test]
fn an_unreachable_prometheus_is_named_with_exit_code_one() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, err) = report(&["--prometheus", &url, "--timeout-secs", "2"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach Prometheus at") && err.contains(&url), "{err}");
}
