//! Capacity planning: saturation of each configured limit, CPU per request and per prediction,
//! the request rate one replica sustains, headroom against the most replicas the service may
//! run, and time to exhaustion where a resource grows.
//!
//! The estimate of what one replica sustains is `CPU cores / CPU seconds per user request`: the
//! process CPU includes probes and scrapes, so it is a conservative figure, and it assumes CPU
//! is the bottleneck (the saturation panels show when concurrency or memory is instead).
//!
//! The CPU cores are the container's CPU limit, or its CPU request where it has no limit (the
//! operator's default resources set none): [`records::CPU_CORES`] carries which in its `basis`
//! label (`limit` or `request`). A request is what the scheduler reserves, not a ceiling: with
//! spare CPU on the node a replica can use more, so on the request basis saturation can pass 1
//! and the capacity figure is what the reservation sustains.

use crate::metrics as m;
use crate::rules::{alert, record, sel, AlertSpec, RuleGroup, Scope, Timing, SERVICE_BY};
use crate::slo::USER_ROUTES;

/// Names of the capacity recording rules.
pub mod records {
    /// Peak concurrency permits in use over 5 m / the concurrency limit, per instance.
    pub const CONCURRENCY_SATURATION: &str = "inferwatch:concurrency:saturation_ratio";
    /// The CPU cores capacity is measured against, per instance: the CPU limit, else the CPU
    /// request; label `basis` says which (`limit`, `request`).
    pub const CPU_CORES: &str = "inferwatch:cpu:cores";
    /// Process CPU / CPU cores (limit, else request), per instance.
    pub const CPU_SATURATION: &str = "inferwatch:cpu:saturation_ratio";
    /// Resident memory / memory limit, per instance.
    pub const MEMORY_SATURATION: &str = "inferwatch:memory:saturation_ratio";
    /// Loaded model bytes / model cache byte limit, per instance.
    pub const CACHE_SATURATION: &str = "inferwatch:model_cache_bytes:saturation_ratio";
    /// Process CPU seconds per user request, per service.
    pub const CPU_PER_REQUEST: &str = "inferwatch:cpu_seconds_per_request:rate5m";
    /// Model CPU seconds (featurize + run + post-process) per successful prediction, per model.
    pub const CPU_PER_PREDICTION: &str = "inferwatch:cpu_seconds_per_prediction:rate5m";
    /// User requests/s one replica sustains at its CPU cores (limit, else request), per service.
    pub const REPLICA_CAPACITY: &str = "inferwatch:replica_capacity:requests_per_second";
    /// User requests/s per service.
    pub const USER_REQUEST_RATE: &str = "inferwatch:user_requests:rate5m";
    /// Replicas being scraped and up, per service.
    pub const REPLICAS: &str = "inferwatch:replicas:count";
    /// The most replicas the service may run (`--max-replicas`; else the replicas now up).
    pub const MAX_REPLICAS: &str = "inferwatch:replicas:max";
    /// Share of the largest fleet's capacity still free: 1 - rate / (max replicas x capacity).
    pub const HEADROOM: &str = "inferwatch:capacity:headroom_ratio";
    /// Seconds until resident memory reaches the limit at its 1 h growth rate (growing only).
    pub const MEMORY_EXHAUSTION: &str = "inferwatch:memory:exhaustion_seconds";
    /// Seconds until the model cache is full at its 1 h growth rate (growing only).
    pub const CACHE_EXHAUSTION: &str = "inferwatch:model_cache_bytes:exhaustion_seconds";
}

/// How far ahead the memory forecast alert looks (seconds).
pub const FORECAST_HORIZON_SECONDS: u32 = 4 * 3600;

/// Capacity recording rules.
pub fn capacity_recording_rules(scope: &Scope, t: &Timing) -> RuleGroup {
    let by = SERVICE_BY;
    let inst = format!("{by}, instance");
    let w = &t.rate_window;
    let s = |extra: &str| sel(scope, extra);
    let per_instance = |num: String, den: String| format!("max by ({inst}) ({num}) / (max by ({inst}) ({den}) > 0)");
    let rules = vec![
        record(
            records::CONCURRENCY_SATURATION,
            per_instance(
                format!("max_over_time({}{}[{w}])", m::CONCURRENCY_IN_USE.name, s("")),
                format!("{}{}", m::CONFIGURED_LIMIT.name, s(r#"limit="concurrency""#)),
            ),
        ),
        record(
            records::CPU_CORES,
            format!(
                r#"max by ({inst}, basis) (label_replace({limit}{s}, "basis", "limit", "", "")) or on ({inst}) max by ({inst}, basis) (label_replace({request}{s}, "basis", "request", "", ""))"#,
                limit = m::CPU_LIMIT.name,
                request = m::CPU_REQUEST.name,
                s = s("")
            ),
        ),
        record(
            records::CPU_SATURATION,
            per_instance(format!("rate({}{}[{w}])", m::PROCESS_CPU.name, s("")), records::CPU_CORES.to_string()),
        ),
        record(
            records::MEMORY_SATURATION,
            per_instance(format!("{}{}", m::PROCESS_RSS.name, s("")), format!("{}{}", m::MEMORY_LIMIT.name, s(""))),
        ),
        record(
            records::CACHE_SATURATION,
            per_instance(
                format!("{}{}", m::CACHE_BYTES.name, s("")),
                format!("{}{}", m::CACHE_CAPACITY_BYTES.name, s("")),
            ),
        ),
        record(records::USER_REQUEST_RATE, format!("sum by ({by}) (rate({}{}[{w}]))", m::HTTP_REQUESTS.name, s(USER_ROUTES))),
        record(
            records::CPU_PER_REQUEST,
            format!(
                "sum by ({by}) (rate({}{}[{w}])) / ({} > 0)",
                m::PROCESS_CPU.name,
                s(""),
                records::USER_REQUEST_RATE
            ),
        ),
        record(
            records::CPU_PER_PREDICTION,
            format!(
                "sum by ({by}, model) (rate({}{}[{w}])) / (sum by ({by}, model) (rate({}{}[{w}])) > 0)",
                m::MODEL_CPU_SECONDS.name,
                s(""),
                m::PREDICTIONS.name,
                s(r#"outcome="success""#)
            ),
        ),
        record(
            records::REPLICA_CAPACITY,
            format!("avg by ({by}) ({}) / {}", records::CPU_CORES, records::CPU_PER_REQUEST),
        ),
        record(records::REPLICAS, format!("count by ({by}) (up{} == 1)", s(""))),
        record(
            records::MAX_REPLICAS,
            format!(
                "max by ({by}) ({}{}) or {}",
                m::CONFIGURED_LIMIT.name,
                s(r#"limit="max_replicas""#),
                records::REPLICAS
            ),
        ),
        record(
            records::HEADROOM,
            format!(
                "1 - {rate} / ({max} * {cap})",
                rate = records::USER_REQUEST_RATE,
                max = records::MAX_REPLICAS,
                cap = records::REPLICA_CAPACITY
            ),
        ),
        record(
            records::MEMORY_EXHAUSTION,
            format!(
                "(max by ({inst}) ({lim}{s}) - max by ({inst}) ({rss}{s})) / (max by ({inst}) (deriv({rss}{s}[1h])) > 0)",
                lim = m::MEMORY_LIMIT.name,
                rss = m::PROCESS_RSS.name,
                s = s("")
            ),
        ),
        record(
            records::CACHE_EXHAUSTION,
            format!(
                "(max by ({inst}) ({cap}{s}) - max by ({inst}) ({b}{s})) / (max by ({inst}) (deriv({b}{s}[1h])) > 0)",
                cap = m::CACHE_CAPACITY_BYTES.name,
                b = m::CACHE_BYTES.name,
                s = s("")
            ),
        ),
    ];
    RuleGroup { name: format!("{}.capacity.rules", scope.name), rules }
}

/// The memory forecast alert (info): at its growth over the last hour, resident memory reaches
/// the container limit within [`FORECAST_HORIZON_SECONDS`].
pub fn capacity_alert_rules(scope: &Scope, t: &Timing) -> RuleGroup {
    let inst = format!("{SERVICE_BY}, instance");
    let rules = vec![alert(
        scope,
        AlertSpec {
            name: "InferwatchMemoryExhaustionForecast",
            expr: format!(
                "max by ({inst}) (predict_linear({rss}{s}[1h], {h})) > max by ({inst}) ({lim}{s})",
                rss = m::PROCESS_RSS.name,
                lim = m::MEMORY_LIMIT.name,
                s = sel(scope, ""),
                h = FORECAST_HORIZON_SECONDS
            ),
            for_: &t.info,
            summary: "Memory grows toward the container limit.",
            description: format!(
                "At its growth over the last hour, {{{{ $labels.instance }}}} of {{{{ $labels.job }}}} reaches its memory limit within {} h (an OOM kill).",
                FORECAST_HORIZON_SECONDS / 3600
            ),
        },
    )];
    RuleGroup { name: format!("{}.capacity", scope.name), rules }
}
