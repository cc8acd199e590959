//! The log classes of `docs/logging.md`: which log lines are kept how long. One table, read by
//! the inference server (the targets its access, prediction and audit events are written to)
//! and by the generator (the log shipper pipelines that sort lines into classes, and Loki's
//! retention per class), so a class the pipeline keeps is one the server feeds.
//!
//! Lines are sorted by two fields every JSON line carries, `target` and `level`; the first
//! class that matches wins.

/// Target of the access log: one line per request (sampled and rate-limited).
pub const ACCESS: &str = "access";
/// Target of the prediction log: one line per prediction (sampled and rate-limited).
pub const PREDICTION: &str = "prediction";
/// Target of audit events: models loaded, evicted or failed, the configuration at start, batch
/// jobs accepted and finished.
pub const AUDIT: &str = "audit";

/// Which lines a class takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Lines written to one of these targets.
    Target(&'static [&'static str]),
    /// Lines at one of these levels (upper case, as the JSON `level` field spells them).
    Level(&'static [&'static str]),
    /// Every line (the last class).
    Any,
}

/// One retention class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogClass {
    /// Its name: the `class` label the pipeline sets.
    pub name: &'static str,
    /// The lines it takes.
    pub takes: Match,
    /// How long Loki keeps it, in days.
    pub retention_days: u32,
    /// What it holds, for the docs.
    pub holds: &'static str,
}

impl LogClass {
    /// The retention as a Loki duration (hours).
    pub fn retention(&self) -> String {
        format!("{}h", self.retention_days * 24)
    }
}

/// The classes, first match first. Audit comes before errors so a failed model load (written
/// at WARN) is still kept a year.
pub const CLASSES: &[LogClass] = &[
    LogClass {
        name: "audit",
        takes: Match::Target(&[AUDIT]),
        retention_days: 365,
        holds: "model loaded / evicted / failed, configuration at start, batch job accepted / finished",
    },
    LogClass {
        name: "errors",
        takes: Match::Level(&["ERROR", "WARN"]),
        retention_days: 90,
        holds: "every other line at WARN or ERROR (including 5xx access lines)",
    },
    LogClass {
        name: "performance",
        takes: Match::Target(&[ACCESS, PREDICTION]),
        retention_days: 90,
        holds: "access lines (method, route, status, latency) and prediction lines",
    },
    LogClass { name: "application", takes: Match::Any, retention_days: 30, holds: "everything else" },
];

/// The class of a line with `target` and `level`.
pub fn classify(target: &str, level: &str) -> &'static str {
    CLASSES
        .iter()
        .find(|c| match c.takes {
            Match::Target(t) => t.contains(&target),
            Match::Level(l) => l.contains(&level),
            Match::Any => true,
        })
        .map_or("application", |c| c.name)
}

/// The class every line falls into when no other matches.
pub fn default_class() -> &'static LogClass {
    CLASSES.iter().find(|c| c.takes == Match::Any).unwrap_or(&CLASSES[CLASSES.len() - 1])
}

/// The classes as an if / else-if / else chain: `(Some(condition), class)` for each class but
/// the catch-all, `(None, class)` for it. `cond(field, values)` renders "field is one of values".
fn chain(cond: impl Fn(&str, &[&str]) -> String) -> Vec<(Option<String>, &'static str)> {
    CLASSES
        .iter()
        .map(|c| {
            let when = match c.takes {
                Match::Target(v) => Some(cond("target", v)),
                Match::Level(v) => Some(cond("level", v)),
                Match::Any => None,
            };
            (when, c.name)
        })
        .collect()
}

/// A Vector (VRL) program for a `remap` transform: parse the JSON line and set `.class`.
pub fn vrl() -> String {
    let mut vrl = String::from(
        "parsed, err = parse_json(.message)\nif err == null && is_object(parsed) {\n  . = object!(parsed)\n}\n",
    );
    let one_of = |f: &str, vs: &[&str]| vs.iter().map(|v| format!(".{f} == \"{v}\"")).collect::<Vec<_>>().join(" || ");
    for (i, (when, class)) in chain(one_of).into_iter().enumerate() {
        let head = match (i, when) {
            (_, None) => "} else".to_string(),
            (0, Some(c)) => format!("if {c}"),
            (_, Some(c)) => format!("}} else if {c}"),
        };
        vrl.push_str(&format!("{head} {{\n  .class = \"{class}\"\n"));
    }
    vrl.push_str("}\n");
    vrl
}

/// A Go text/template (Promtail's and Grafana Alloy's `template` stage) that evaluates to the
/// class, reading the `target` and `level` values a `json` stage extracted.
pub fn go_template() -> String {
    let one_of = |f: &str, vs: &[&str]| match vs {
        [v] => format!("eq .{f} \"{v}\""),
        vs => format!("or {}", vs.iter().map(|v| format!("(eq .{f} \"{v}\")")).collect::<Vec<_>>().join(" ")),
    };
    let mut t = String::new();
    for (i, (when, class)) in chain(one_of).into_iter().enumerate() {
        let head = match (i, when) {
            (_, None) => "else".to_string(),
            (0, Some(c)) => format!("if {c}"),
            (_, Some(c)) => format!("else if {c}"),
        };
        t.push_str(&format!("{{{{ {head} }}}}{class}"));
    }
    t.push_str("{{ end }}");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_class_wins_and_the_last_takes_the_rest() {
        assert_eq!(classify(AUDIT, "WARN"), "audit");
        assert_eq!(classify(ACCESS, "WARN"), "errors");
        assert_eq!(classify(ACCESS, "INFO"), "performance");
        assert_eq!(classify(PREDICTION, "INFO"), "performance");
        assert_eq!(classify("inferwatch_server::server", "INFO"), "application");
        assert_eq!(classify("inferwatch_server::server", "ERROR"), "errors");
        assert_eq!(CLASSES.last().map(|c| c.takes), Some(Match::Any));
        assert_eq!(default_class().name, "application");
    }

    /// The Promtail/Alloy template, run by a Go text/template engine, names the class
    /// `classify` names for every target and level the server writes.
    #[test]
    fn the_go_template_sorts_lines_like_the_table() {
        let template = go_template();
        for target in [AUDIT, ACCESS, PREDICTION, "inferwatch_server::server", "kube_runtime::controller"] {
            for level in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] {
                let line: std::collections::HashMap<String, gtmpl::Value> =
                    [("target".to_string(), target.into()), ("level".to_string(), level.into())].into();
                let got = gtmpl::template(&template, gtmpl::Value::from(line));
                let got = got.map_err(|e| e.to_string());
                assert_eq!(got.as_deref(), Ok(classify(target, level)), "{target} {level}");
            }
        }
    }

    #[test]
    fn the_retention_is_the_one_the_team_asked_for() {
        let days: Vec<(&str, u32)> = CLASSES.iter().map(|c| (c.name, c.retention_days)).collect();
        assert_eq!(days, [("audit", 365), ("errors", 90), ("performance", 90), ("application", 30)]);
        assert_eq!(CLASSES[0].retention(), "8760h");
    }

    #[test]
    fn the_pipelines_name_every_class_in_table_order() {
        let t = go_template();
        assert_eq!(
            t,
            r#"{{ if eq .target "audit" }}audit{{ else if or (eq .level "ERROR") (eq .level "WARN") }}errors{{ else if or (eq .target "access") (eq .target "prediction") }}performance{{ else }}application{{ end }}"#
        );
        let v = vrl();
        let at = |s: &str| v.find(s).unwrap_or(usize::MAX);
        assert!(at(r#"if .target == "audit" {"#) < at(r#"} else if .level == "ERROR" || .level == "WARN" {"#), "{v}");
        assert!(
            at(r#".target == "access" || .target == "prediction""#) < at("} else {\n  .class = \"application\""),
            "{v}"
        );
    }
}
