//! Prometheus metrics, registered from the catalogue in `inferwatch_monitoring::metrics`.
//!
//! Per-model handles are resolved once when a model is loaded ([`ModelMetrics`]), so the hot
//! path touches only atomics and never hashes label sets.

use crate::package::ModelMeta;
use crate::sharded::{Counter, Histogram};
use inferwatch_monitoring::metrics::{self as cat, MetricDef, MetricKind};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};

use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Label values of a family, in catalogue order.
pub type Labels = Vec<(&'static str, String)>;
type CounterF = prometheus_client::metrics::counter::Counter<f64, AtomicU64>;

/// Builds histograms with one catalogue bucket layout.
#[derive(Clone)]
pub struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A metric family plus the catalogue entry that defines it.
#[derive(Clone)]
pub struct Fam<M, C = fn() -> M> {
    def: MetricDef,
    family: Family<Labels, M, C>,
}

impl<M: Clone, C: MetricConstructor<M> + Clone> Fam<M, C> {
    /// The metric for these label values (in catalogue order).
    pub fn with(&self, values: &[&str]) -> M {
        debug_assert_eq!(values.len(), self.def.labels.len(), "{}", self.def.name);
        let labels: Labels = self.def.labels.iter().copied().zip(values.iter().map(|v| (*v).to_string())).collect();
        self.family.get_or_create(&labels).clone()
    }
}

/// prometheus-client ends every help text with a period itself.
fn help(def: MetricDef) -> &'static str {
    def.help.strip_suffix('.').unwrap_or(def.help)
}

fn counter(reg: &mut Registry, def: MetricDef) -> Fam<Counter> {
    let family = Family::<Labels, Counter>::default();
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

fn counter_f(reg: &mut Registry, def: MetricDef) -> Fam<CounterF> {
    let family = Family::<Labels, CounterF>::default();
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

fn gauge(reg: &mut Registry, def: MetricDef) -> Fam<Gauge> {
    let family = Family::<Labels, Gauge>::default();
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

fn gauge_f(reg: &mut Registry, def: MetricDef) -> Fam<Gauge<f64, AtomicU64>> {
    let family = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

fn histogram(reg: &mut Registry, def: MetricDef) -> Fam<Histogram, Buckets> {
    let MetricKind::Histogram(buckets) = def.kind else {
        unreachable!("{} is not a histogram in the catalogue", def.name)
    };
    let family = Family::new_with_constructor(Buckets(buckets));
    reg.register(def.base_name(), help(def), family.clone());
    Fam { def, family }
}

/// Every metric family the server exports.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// HTTP requests.
    pub http_requests: Fam<Counter>,
    /// HTTP latency.
    pub http_duration: Fam<Histogram, Buckets>,
    /// In-flight requests.
    pub http_in_flight: crate::sharded::Gauge,
    /// Requests refused by the load limits.
    pub http_rejected: Fam<Counter>,
    predictions: Fam<Counter>,
    prediction_duration: Fam<Histogram, Buckets>,
    stage_duration: Fam<Histogram, Buckets>,
    confidence: Fam<Histogram, Buckets>,
    labels: Fam<Counter>,
    batch_size: Fam<Histogram, Buckets>,
    run_rows: Fam<Histogram, Buckets>,
    cpu: Fam<CounterF>,
    cold_starts: Fam<Counter>,
    rating: Fam<Histogram, Buckets>,
    lookups: Fam<Counter>,
    trend_series: Fam<Counter>,
    trend_points: Fam<Histogram, Buckets>,
    trend_analyses: Fam<Counter>,
    trend_fallbacks: Fam<Counter>,
    /// Cache hits by model.
    pub cache_hits: Fam<Counter>,
    /// Cache misses by model.
    pub cache_misses: Fam<Counter>,
    /// Evictions by model.
    pub cache_evictions: Fam<Counter>,
    /// Loaded models.
    pub cache_models: Gauge,
    /// Loaded bytes.
    pub cache_bytes: Gauge,
    /// Byte limit.
    pub cache_capacity: Gauge,
    /// Load phases.
    pub load_duration: Fam<Histogram, Buckets>,
    /// Load failures by reason.
    pub load_failures: Fam<Counter>,
    /// Model readiness.
    pub model_ready: Fam<Gauge>,
    /// Model info (value 1).
    pub model_info: Fam<Gauge>,
    /// Reference label shares from model.json.
    pub reference_label_ratio: Fam<Gauge<f64, AtomicU64>>,
    /// Dependency health (storage, registry, queue).
    pub dependency_up: Fam<Gauge>,
    /// Request latency to dependencies by operation.
    pub dependency_duration: Fam<Histogram, Buckets>,
    /// Failed dependency requests by operation.
    pub dependency_errors: Fam<Counter>,
    /// Bytes transferred with dependencies.
    pub dependency_bytes: Fam<Counter>,
    /// Batch jobs not yet finished.
    pub queue_depth: Gauge,
    /// Age of the oldest unfinished batch job, seconds.
    pub queue_oldest_age: Gauge,
    /// Batch jobs by model and outcome.
    pub batch_jobs: Fam<Counter>,
    /// Batch job processing time.
    pub batch_job_duration: Fam<Histogram, Buckets>,
    /// Items per batch job.
    pub batch_job_items: Fam<Histogram, Buckets>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every catalogue metric.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let in_flight = crate::sharded::Gauge::default();
        r.register(cat::HTTP_IN_FLIGHT.name, help(cat::HTTP_IN_FLIGHT), in_flight.clone());
        let single = |r: &mut Registry, def: MetricDef| {
            let g = Gauge::default();
            r.register(def.name, help(def), g.clone());
            g
        };
        let m = Self {
            http_requests: counter(&mut r, cat::HTTP_REQUESTS),
            http_duration: histogram(&mut r, cat::HTTP_REQUEST_DURATION),
            http_in_flight: in_flight,
            http_rejected: counter(&mut r, cat::HTTP_REJECTED),
            predictions: counter(&mut r, cat::PREDICTIONS),
            prediction_duration: histogram(&mut r, cat::PREDICTION_DURATION),
            stage_duration: histogram(&mut r, cat::PREDICTION_STAGE_DURATION),
            confidence: histogram(&mut r, cat::PREDICTION_CONFIDENCE),
            labels: counter(&mut r, cat::PREDICTED_LABELS),
            batch_size: histogram(&mut r, cat::BATCH_SIZE),
            run_rows: histogram(&mut r, cat::MODEL_RUN_ROWS),
            cpu: counter_f(&mut r, cat::MODEL_CPU_SECONDS),
            cold_starts: counter(&mut r, cat::RECSYS_COLD_STARTS),
            rating: histogram(&mut r, cat::RECSYS_PREDICTED_RATING),
            lookups: counter(&mut r, cat::RECSYS_ENCODER_LOOKUPS),
            trend_series: counter(&mut r, cat::TREND_SERIES),
            trend_points: histogram(&mut r, cat::TREND_SERIES_POINTS),
            trend_analyses: counter(&mut r, cat::TREND_ANALYSES),
            trend_fallbacks: counter(&mut r, cat::TREND_FALLBACKS),
            cache_hits: counter(&mut r, cat::CACHE_HITS),
            cache_misses: counter(&mut r, cat::CACHE_MISSES),
            cache_evictions: counter(&mut r, cat::CACHE_EVICTIONS),
            cache_models: single(&mut r, cat::CACHE_MODELS),
            cache_bytes: single(&mut r, cat::CACHE_BYTES),
            cache_capacity: single(&mut r, cat::CACHE_CAPACITY_BYTES),
            load_duration: histogram(&mut r, cat::MODEL_LOAD_DURATION),
            load_failures: counter(&mut r, cat::MODEL_LOAD_FAILURES),
            model_ready: gauge(&mut r, cat::MODEL_READY),
            model_info: gauge(&mut r, cat::MODEL_INFO),
            reference_label_ratio: gauge_f(&mut r, cat::MODEL_REFERENCE_LABEL_RATIO),
            // Registered always so the families exist (HELP/TYPE) for dashboards and alerts;
            // their series appear once a dependency or the batch queue is configured.
            dependency_up: gauge(&mut r, cat::DEPENDENCY_UP),
            dependency_duration: histogram(&mut r, cat::DEPENDENCY_REQUEST_DURATION),
            dependency_errors: counter(&mut r, cat::DEPENDENCY_ERRORS),
            dependency_bytes: counter(&mut r, cat::DEPENDENCY_BYTES),
            queue_depth: single(&mut r, cat::QUEUE_DEPTH),
            queue_oldest_age: single(&mut r, cat::QUEUE_OLDEST_AGE),
            batch_jobs: counter(&mut r, cat::BATCH_JOBS),
            batch_job_duration: histogram(&mut r, cat::BATCH_JOB_DURATION),
            batch_job_items: histogram(&mut r, cat::BATCH_JOB_ITEMS),
            registry: Registry::default(),
        };
        let build = gauge(&mut r, cat::BUILD_INFO);
        build.with(&[env!("CARGO_PKG_VERSION"), option_env!("INFERWATCH_RUSTC").unwrap_or("unknown")]).set(1);
        r.register_collector(Box::new(ProcessCollector::new()));
        Self { registry: r, ..m }
    }

    /// Encode the registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(64 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Encode in the classic Prometheus text format (0.0.4), for scrapers that do not ask for
    /// OpenMetrics (curl, `promtool check metrics`, older agents).
    pub fn encode_prometheus_text(&self) -> Result<String, std::fmt::Error> {
        Ok(openmetrics_to_prometheus_text(&self.encode()?))
    }

    /// Resolve the per-model handles for a model about to be served.
    pub fn for_model(&self, meta: &ModelMeta) -> ModelMetrics {
        let mv = [meta.name.as_str(), meta.version.as_str()];
        let with3 = |f: &Fam<Counter>, v: &str| f.with(&[mv[0], mv[1], v]);
        ModelMetrics {
            success: with3(&self.predictions, "success"),
            invalid: with3(&self.predictions, "invalid_input"),
            error: with3(&self.predictions, "error"),
            duration: self.prediction_duration.with(&mv),
            stages: ["featurize", "infer", "postprocess"].map(|s| self.stage_duration.with(&[mv[0], mv[1], s])),
            confidence: self.confidence.with(&mv),
            labels: meta.labels.iter().map(|l| with3(&self.labels, l)).collect(),
            batch_size: self.batch_size.with(&mv),
            run_rows: self.run_rows.with(&mv),
            cpu: self.cpu.with(&mv),
            cpu_sampler: std::sync::Arc::default(),
            run_cpu_sampler: std::sync::Arc::default(),
            cold_starts: ["unknown_user", "unknown_item", "both"].map(|k| with3(&self.cold_starts, k)),
            rating: self.rating.with(&mv),
            lookups: [("user", "known"), ("user", "unknown"), ("item", "known"), ("item", "unknown")]
                .map(|(e, r)| self.lookups.with(&[mv[0], mv[1], e, r])),
            trend_series: self.trend_series.with(&mv),
            trend_points: self.trend_points.with(&mv),
            trend_completed: with3(&self.trend_analyses, "completed"),
            trend_failed: with3(&self.trend_analyses, "failed"),
            trend_fallback: with3(&self.trend_fallbacks, "too_short"),
        }
    }
}

/// Metric handles of one (model, version).
#[derive(Debug, Clone)]
pub struct ModelMetrics {
    success: Counter,
    invalid: Counter,
    error: Counter,
    duration: Histogram,
    stages: [Histogram; 3],
    confidence: Histogram,
    labels: Vec<Counter>,
    batch_size: Histogram,
    run_rows: Histogram,
    cpu: CounterF,
    /// Which requests have their thread CPU time read (see [`crate::cpu_time`]).
    pub cpu_sampler: std::sync::Arc<crate::cpu_time::CpuSampler>,
    /// Which shared (dynamically batched) runs have their thread CPU time read.
    pub run_cpu_sampler: std::sync::Arc<crate::cpu_time::CpuSampler>,
    cold_starts: [Counter; 3],
    rating: Histogram,
    lookups: [Counter; 4],
    trend_series: Counter,
    trend_points: Histogram,
    trend_completed: Counter,
    trend_failed: Counter,
    trend_fallback: Counter,
}

/// How a predict request ended, for `inferwatch_predictions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered.
    Success,
    /// Rejected input.
    InvalidInput,
    /// Server-side failure.
    Error,
}

impl ModelMetrics {
    /// One request of `items` items finished with `outcome`, charged `cpu_seconds`.
    pub fn request(
        &self,
        items: usize,
        outcome: Outcome,
        stages: &crate::models::Stages,
        total: Duration,
        cpu_seconds: f64,
    ) {
        let c = match outcome {
            Outcome::Success => &self.success,
            Outcome::InvalidInput => &self.invalid,
            Outcome::Error => &self.error,
        };
        c.inc_by(items as u64);
        self.batch_size.observe(items as f64);
        if outcome == Outcome::Success {
            self.duration.observe(total.as_secs_f64());
            self.stages[0].observe(stages.featurize.as_secs_f64());
            self.stages[1].observe(stages.infer.as_secs_f64());
            self.stages[2].observe(stages.postprocess.as_secs_f64());
        }
        if cpu_seconds > 0.0 {
            self.cpu.inc_by(cpu_seconds);
        }
    }

    /// One tract run of `rows` rows that concurrent requests shared ([`crate::batcher`]).
    pub fn ran(&self, rows: usize) {
        self.run_rows.observe(rows as f64);
    }

    /// A classification with its winning label index and confidence.
    pub fn classified(&self, label: usize, confidence: f32) {
        if let Some(c) = self.labels.get(label) {
            c.inc();
        }
        self.confidence.observe(f64::from(confidence));
    }

    /// A rating prediction and its cold-start kind.
    pub fn rated(&self, rating: f32, cold: crate::featurize::recsys::ColdStart) {
        use crate::featurize::recsys::ColdStart;
        self.rating.observe(f64::from(rating));
        let (user_known, item_known) = match cold {
            ColdStart::None => (true, true),
            ColdStart::UnknownUser => (false, true),
            ColdStart::UnknownItem => (true, false),
            ColdStart::Both => (false, false),
        };
        self.lookups[usize::from(!user_known)].inc();
        self.lookups[2 + usize::from(!item_known)].inc();
        match cold {
            ColdStart::None => {}
            ColdStart::UnknownUser => self.cold_starts[0].inc(),
            ColdStart::UnknownItem => self.cold_starts[1].inc(),
            ColdStart::Both => self.cold_starts[2].inc(),
        }
    }

    /// A series arrived; `analysed` is whether it completed, `fallback` whether the placeholder was used.
    pub fn series(&self, points: usize, analysed: bool, fallback: bool) {
        self.trend_series.inc();
        self.trend_points.observe(points as f64);
        if analysed { &self.trend_completed } else { &self.trend_failed }.inc();
        if fallback {
            self.trend_fallback.inc();
        }
    }
}

/// `process_*` metrics read from `/proc/self` at scrape time.
#[derive(Debug)]
struct ProcessCollector {
    start_time: f64,
    ticks: f64,
    page_size: f64,
}

impl ProcessCollector {
    fn new() -> Self {
        // SAFETY: sysconf has no preconditions.
        let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        let start_time =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Self { start_time, ticks: ticks.max(1) as f64, page_size: page.max(1) as f64 }
    }
}

/// Fields of `/proc/self/stat` after the command name: (utime, stime, threads, vsize, rss pages).
fn read_stat() -> Option<(f64, f64, f64, f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((num(11)?, num(12)?, num(17)?, num(20)?, num(21)?))
}

fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        fn gauge(encoder: &mut DescriptorEncoder, def: MetricDef, v: f64) -> Result<(), std::fmt::Error> {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(def.name, help(def), None, g.metric_type())?)
        }
        if let Some((utime, stime, threads, vsize, rss)) = read_stat() {
            gauge(&mut encoder, cat::PROCESS_RSS, rss * self.page_size)?;
            gauge(&mut encoder, cat::PROCESS_VSZ, vsize)?;
            gauge(&mut encoder, cat::PROCESS_THREADS, threads)?;
            let cpu = prometheus_client::metrics::counter::ConstCounter::new((utime + stime) / self.ticks);
            cpu.encode(encoder.encode_descriptor(
                cat::PROCESS_CPU.base_name(),
                cat::PROCESS_CPU.help,
                None,
                cpu.metric_type(),
            )?)?;
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            gauge(&mut encoder, cat::PROCESS_OPEN_FDS, dir.count() as f64)?;
        }
        if let Some(m) = max_fds() {
            gauge(&mut encoder, cat::PROCESS_MAX_FDS, m)?;
        }
        if let Some(limit) = memory_limit() {
            gauge(&mut encoder, cat::MEMORY_LIMIT, limit)?;
        }
        gauge(&mut encoder, cat::PROCESS_START_TIME, self.start_time)
    }
}

/// Set the info gauge and the reference label shares of a freshly loaded model.
pub fn model_loaded(metrics: &Metrics, meta: &ModelMeta, source: &str) {
    metrics.model_info.with(&[&meta.name, meta.kind.as_str(), &meta.version, &meta.sha256, source]).set(1);
    let shares = meta.reference_distribution.get("predicted_label_frequencies").and_then(|v| v.as_object());
    for (label, share) in shares.into_iter().flatten() {
        if let Some(share) = share.as_f64() {
            metrics.reference_label_ratio.with(&[&meta.name, &meta.version, label]).set(share);
        }
    }
}

/// The cgroup memory limit (v2 `memory.max`, else v1 `memory.limit_in_bytes`); `None` when
/// unlimited or not in a cgroup.
fn memory_limit() -> Option<f64> {
    ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"].iter().find_map(|p| {
        let v: f64 = std::fs::read_to_string(p).ok()?.trim().parse().ok()?;
        // cgroup v1 reports "unlimited" as a huge page-aligned number.
        (v < 1e18).then_some(v)
    })
}

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
