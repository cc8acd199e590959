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

/// The routing plan both renderings share: per severity, the receiver (by role) and how alerts
/// are grouped; a critical alert inhibits the warning of the same namespace and service.
const ROUTES: [(&str, &str, &[&str]); 3] = [
    ("page", "critical", &["alertname", "namespace", "job"]),
    ("team", "warning", &["alertname", "namespace"]),
    ("digest", "info", &["namespace"]),
];
/// Labels a critical alert and the warning it inhibits must share.
const INHIBIT_EQUAL: [&str; 2] = ["namespace", "job"];
/// Only Inferwatch's alerts, where the routing sits beside others' (the chart's
/// AlertmanagerConfig).
const INFERWATCH_ALERTS: &str = "Inferwatch.+";

impl RouteTiming {
    fn of(&self, severity: &str) -> &(String, String, String) {
        match severity {
            "critical" => &self.critical,
            "warning" => &self.warning,
            _ => &self.info,
        }
    }
}

impl Receivers {
    fn of(&self, role: &str) -> &str {
        match role {
            "page" => &self.page,
            "team" => &self.team,
            _ => &self.digest,
        }
    }
}

/// An Alertmanager configuration routing Inferwatch alerts by `severity`. Critical alerts
/// are grouped per alert and service and sent at once; warnings per alert name; info in one
/// digest. A critical alert inhibits the warning of the same name-space and service.
pub fn config(r: &Receivers, t: &RouteTiming) -> Value {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|(role, severity, group_by)| {
            let t = t.of(severity);
            json!({
                "receiver": role,
                "matchers": [format!("severity=\"{severity}\"")],
                "group_by": group_by,
                "group_wait": t.0, "group_interval": t.1, "repeat_interval": t.2,
                "continue": false,
            })
        })
        .collect();
    let receivers: Vec<Value> = ROUTES
        .iter()
        .map(|(role, _, _)| json!({"name": role, "webhook_configs": [{"url": r.of(role), "send_resolved": true}]}))
        .collect();
    json!({
        "route": {"receiver": "digest", "group_by": ["alertname"], "routes": routes},
        "inhibit_rules": [{
            "source_matchers": ["severity=\"critical\""],
            "target_matchers": ["severity=\"warning\""],
            "equal": INHIBIT_EQUAL,
        }],
        "receivers": receivers,
    })
}

/// The same routing as the `spec` of a prometheus-operator `AlertmanagerConfig`
/// (`monitoring.coreos.com/v1alpha1`), receivers named `<prefix><role>`, limited to Inferwatch's
/// alerts so it can sit beside other teams' routes. The chart's template is generated from this
/// (`make generate`), so the chart and a plain Alertmanager route the same way.
pub fn alertmanager_config_spec(prefix: &str, r: &Receivers, t: &RouteTiming) -> Value {
    let matcher = |name: &str, value: &str, op: &str| json!({"name": name, "value": value, "matchType": op});
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|(role, severity, group_by)| {
            let t = t.of(severity);
            json!({
                "receiver": format!("{prefix}{role}"),
                "matchers": [matcher("severity", severity, "=")],
                "groupBy": group_by,
                "groupWait": t.0, "groupInterval": t.1, "repeatInterval": t.2,
                "continue": false,
            })
        })
        .collect();
    let receivers: Vec<Value> = ROUTES
        .iter()
        .map(|(role, severity, _)| {
            // The digest is a summary: its resolutions would be noise.
            let resolved = *severity != "info";
            json!({"name": format!("{prefix}{role}"), "webhookConfigs": [{"url": r.of(role), "sendResolved": resolved}]})
        })
        .collect();
    json!({
        "route": {
            "receiver": format!("{prefix}digest"),
            "matchers": [matcher("alertname", INFERWATCH_ALERTS, "=~")],
            "groupBy": ["alertname"],
            "routes": routes,
        },
        "inhibitRules": [{
            "sourceMatch": [matcher("severity", "critical", "="), matcher("alertname", INFERWATCH_ALERTS, "=~")],
            "targetMatch": [matcher("severity", "warning", "="), matcher("alertname", INFERWATCH_ALERTS, "=~")],
            "equal": INHIBIT_EQUAL,
        }],
        "receivers": receivers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alertmanager_config_routes_and_inhibits_as_the_plain_config() {
        let r = Receivers { page: "http://p".into(), team: "http://t".into(), digest: "http://d".into() };
        let plain = config(&r, &RouteTiming::default());
        let spec = alertmanager_config_spec("iw-", &r, &RouteTiming::default());
        for (p, a) in
            plain["route"]["routes"].as_array().unwrap().iter().zip(spec["route"]["routes"].as_array().unwrap())
        {
            assert_eq!(format!("iw-{}", p["receiver"].as_str().unwrap()), a["receiver"]);
            assert_eq!(p["group_by"], a["groupBy"]);
            assert_eq!(p["repeat_interval"], a["repeatInterval"]);
        }
        assert_eq!(plain["inhibit_rules"][0]["equal"], spec["inhibitRules"][0]["equal"]);
        assert_eq!(spec["receivers"][0]["webhookConfigs"][0]["url"], "http://p");
    }

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
