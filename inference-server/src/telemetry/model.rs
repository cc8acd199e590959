//! Metric handles of one loaded (model, version), resolved once when it is loaded, so the hot
//! path touches only atomics and never hashes label sets; and the per-stage timings they record.

use super::drift::DriftCells;
use super::registry::{CounterF, Fam, Metrics};
use super::sharded::{Counter, Histogram};
use crate::featurize::text::TokenCount;
use crate::package::ModelMeta;
use crate::reference::{Feature, FeatureRef};
use std::time::{Duration, Instant};

/// Time spent per stage of one request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stages {
    /// Raw input -> tensors.
    pub featurize: Duration,
    /// tract run.
    pub infer: Duration,
    /// Tensors -> answer.
    pub postprocess: Duration,
}

impl Stages {
    /// Run `f`, adding its duration to the stage chosen by `pick`.
    pub fn time<T>(&mut self, pick: fn(&mut Self) -> &mut Duration, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        *pick(self) += start.elapsed();
        out
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
    /// Which requests have their thread CPU time read (see [`crate::telemetry::cpu_time`]).
    pub cpu_sampler: std::sync::Arc<super::cpu_time::CpuSampler>,
    /// Which shared (dynamically batched) runs have their thread CPU time read.
    pub run_cpu_sampler: std::sync::Arc<super::cpu_time::CpuSampler>,
    cold_starts: [Counter; 3],
    rating: Histogram,
    lookups: [Counter; 4],
    trend_series: Counter,
    trend_points: Histogram,
    trend_completed: Counter,
    trend_failed: Counter,
    trend_fallback: [Counter; 2],
    /// Drift counters (empty when drift metrics are off or the package has no references).
    drift: DriftCells,
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
    /// Resolve the per-model handles for a model about to be served; `drift` are its drift
    /// references (empty: no drift metrics).
    pub fn new(metrics: &Metrics, meta: &ModelMeta, drift: &[FeatureRef]) -> Self {
        let m = metrics;
        let mv = [meta.name.as_str(), meta.version.as_str()];
        let with3 = |f: &Fam<Counter>, v: &str| f.with(&[mv[0], mv[1], v]);
        Self {
            success: with3(&m.predictions, "success"),
            invalid: with3(&m.predictions, "invalid_input"),
            error: with3(&m.predictions, "error"),
            duration: m.prediction_duration.with(&mv),
            stages: ["featurize", "infer", "postprocess"].map(|s| m.stage_duration.with(&[mv[0], mv[1], s])),
            confidence: m.confidence.with(&mv),
            labels: meta.labels.iter().map(|l| with3(&m.labels, l)).collect(),
            batch_size: m.batch_size.with(&mv),
            run_rows: m.run_rows.with(&mv),
            cpu: m.cpu.with(&mv),
            cpu_sampler: std::sync::Arc::default(),
            run_cpu_sampler: std::sync::Arc::default(),
            cold_starts: ["unknown_user", "unknown_item", "both"].map(|k| with3(&m.cold_starts, k)),
            rating: m.rating.with(&mv),
            lookups: [("user", "known"), ("user", "unknown"), ("item", "known"), ("item", "unknown")]
                .map(|(e, r)| m.lookups.with(&[mv[0], mv[1], e, r])),
            trend_series: m.trend_series.with(&mv),
            trend_points: m.trend_points.with(&mv),
            trend_completed: with3(&m.trend_analyses, "completed"),
            trend_failed: with3(&m.trend_analyses, "failed"),
            trend_fallback: ["no_season", "too_short"].map(|r| with3(&m.trend_fallbacks, r)),
            drift: DriftCells::new(m, meta, drift),
        }
    }

    /// One request of `items` items finished with `outcome`, charged `cpu_seconds`.
    pub fn request(&self, items: usize, outcome: Outcome, stages: &Stages, total: Duration, cpu_seconds: f64) {
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
        self.drift.predicted_label(label);
        self.drift.observe(Feature::Confidence, f64::from(confidence));
    }

    /// A text's token count (text models' input drift).
    pub fn text(&self, count: TokenCount) {
        self.drift.observe(Feature::InputTokens, f64::from(count.tokens));
        self.drift.observe(Feature::UnknownTokenShare, count.unknown_share());
    }

    /// Tabular rows as the graph read them (row-major, `width` features per row), into their
    /// columns' drift bins.
    pub fn rows(&self, matrix: &[f32], width: usize) {
        self.drift.rows(matrix, width);
    }

    /// An email's subject and body, by characters.
    pub fn email(&self, subject: &str, body: &str) {
        if self.drift.watches(Feature::SubjectChars) {
            self.drift.observe(Feature::SubjectChars, subject.chars().count() as f64);
        }
        if self.drift.watches(Feature::BodyChars) {
            self.drift.observe(Feature::BodyChars, body.chars().count() as f64);
        }
    }

    /// A series' volatility (trend input drift), computed only when it is watched.
    pub fn series_values(&self, values: &[f64]) {
        if self.drift.watches(Feature::Volatility) {
            self.drift.observe(Feature::Volatility, crate::reference::volatility(values));
        }
    }

    /// Absolute percentage errors of forecast points, as truth arrives (trend prediction drift).
    pub fn forecast_errors(&self, errors: &[f64]) {
        errors.iter().for_each(|e| self.drift.observe(Feature::ForecastApe, *e));
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
        self.drift.category(Feature::User, usize::from(!user_known));
        self.drift.category(Feature::Item, usize::from(!item_known));
        self.drift.observe(Feature::PredictedRating, f64::from(rating));
        match cold {
            ColdStart::None => {}
            ColdStart::UnknownUser => self.cold_starts[0].inc(),
            ColdStart::UnknownItem => self.cold_starts[1].inc(),
            ColdStart::Both => self.cold_starts[2].inc(),
        }
    }

    /// A series arrived; `analysed` is whether it completed, `fallback` the reason label
    /// (`no_season`, `too_short`) when the model did not apply.
    pub fn series(&self, points: usize, analysed: bool, fallback: Option<&str>) {
        self.trend_series.inc();
        self.trend_points.observe(points as f64);
        self.drift.observe(Feature::SeriesPoints, points as f64);
        if analysed { &self.trend_completed } else { &self.trend_failed }.inc();
        match fallback {
            Some("no_season") => self.trend_fallback[0].inc(),
            Some(_) => self.trend_fallback[1].inc(),
            None => {}
        }
    }
}
