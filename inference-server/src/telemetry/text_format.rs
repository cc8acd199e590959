//! The classic Prometheus text format (0.0.4) from the OpenMetrics text the registry encodes.

use inferwatch_monitoring::metrics::{self as cat, MetricKind};

/// Convert OpenMetrics text to the classic Prometheus text format: counter families are named
/// with their `_total` suffix in `# HELP`/`# TYPE`, and the `# EOF` marker is dropped. Every
/// other line is the same in both formats for the metric types this server exports.
pub fn openmetrics_to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        cat::CATALOGUE.iter().filter(|m| m.kind == MetricKind::Counter).map(|m| m.base_name()).collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_their_total_suffix_in_classic_text_format() {
        let om = "# HELP inferwatch_predictions Predicted items.\n# TYPE inferwatch_predictions counter\ninferwatch_predictions_total{model=\"a\"} 1\n# HELP process_threads Threads.\n# TYPE process_threads gauge\nprocess_threads 3\n# EOF\n";
        let text = openmetrics_to_prometheus_text(om);
        assert_eq!(
            text,
            "# HELP inferwatch_predictions_total Predicted items.\n# TYPE inferwatch_predictions_total counter\ninferwatch_predictions_total{model=\"a\"} 1\n# HELP process_threads Threads.\n# TYPE process_threads gauge\nprocess_threads 3\n"
        );
    }
}
