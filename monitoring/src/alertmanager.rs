//! Alertmanager routing for the three severities: critical pages at once, warnings are grouped
//! for the owning team, info goes to a slow digest. The chart ships this as its default.

use serde_json::{json, Value};

/// Where each severity goes (webhook URLs; swap for PagerDuty/Slack receivers in production).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receivers {
    /// Critical (P0): the on-call pager.
    pub page: String,
    /// Warning (P1): the team channel.
    pub team: String,
    /// Info (P2): a daily digest.
    pub digest: String,
}

/// Grouping intervals; defaults are for production, tests shrink them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTiming {
    /// critical: (group_wait, group_interval, repeat_interval)
    pub critical: (String, String, String),
    /// warning: (group_wait, group_interval, repeat_interval)
    pub warning: (String, String, String),
    /// info: (group_wait, group_interval, repeat_interval)
    pub info: (String, String, String),
}

impl Default for RouteTiming {
    fn default() -> Self {
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        Self { critical: t("10s", "1m", "1h"), warning: t("1m", "5m", "4h"), info: t("10m", "1h", "24h") }
    }
}

fn route(receiver: &str, severity: &str, group_by: &[&str], t: &(String, String, String)) -> Value {
    json!({
        "receiver": receiver,
        "matchers": [format!("severity=\"{severity}\"")],
        "group_by": group_by,
        "group_wait": t.0, "group_interval": t.1, "repeat_interval": t.2,
        "continue": false,
    })
}

fn webhook(name: &str, url: &str) -> Value {
    json!({"name": name, "webhook_configs": [{"url": url, "send_resolved": true}]})
}

/// An Alertmanager configuration routing Inferwatch alerts by `severity`. Critical alerts
/// are grouped per alert and service and sent at once; warnings per alert name; info in one
/// digest. A critical alert inhibits the warning of the same name-space and service.
pub fn config(r: &Receivers, t: &RouteTiming) -> Value {
    json!({
        "route": {
            "receiver": "digest",
            "group_by": ["alertname"],
            "routes": [
                route("page", "critical", &["alertname", "namespace", "job"], &t.critical),
                route("team", "warning", &["alertname", "namespace"], &t.warning),
                route("digest", "info", &["namespace"], &t.info),
            ],
        },
        "inhibit_rules": [{
            "source_matchers": ["severity=\"critical\""],
            "target_matchers": ["severity=\"warning\""],
            "equal": ["namespace", "job"],
        }],
        "receivers": [webhook("page", &r.page), webhook("team", &r.team), webhook("digest", &r.digest)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_severity_has_its_own_receiver() {
        let r = Receivers { page: "http://p".into(), team: "http://t".into(), digest: "http://d".into() };
        let c = config(&r, &RouteTiming::default());
        let routes = c["route"]["routes"].as_array().unwrap();
        let pairs: Vec<(String, String)> = routes
            .iter()
            .map(|x| (x["matchers"][0].as_str().unwrap().to_string(), x["receiver"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("severity=\"critical\"".to_string(), "page".to_string()),
                ("severity=\"warning\"".to_string(), "team".to_string()),
                ("severity=\"info\"".to_string(), "digest".to_string())
            ]
        );
    }
}
