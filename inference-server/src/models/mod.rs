//! Loaded models: one type per model family, behind [`LoadedModel`].

pub mod recsys;
pub mod score_table;
pub mod text;
pub mod trend;

use crate::featurize::FeaturizeError;
use crate::package::{ModelKind, ModelMeta, OutputRules, PackageError, PackageFiles};
use crate::runtime::{Plan, RuntimeError};
use crate::telemetry::{ModelMetrics, Stages};
use std::time::{Duration, Instant};

/// A prediction failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The input is not acceptable (422).
    #[error(transparent)]
    Invalid(#[from] FeaturizeError),
    /// The runtime failed (500).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// A model package could not be turned into a running model.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The package is incomplete, corrupt or fails its checksum.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The ONNX graph does not compile or run.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The warm-up inference failed.
    #[error("warm-up inference failed: {0}")]
    Warmup(#[from] ModelError),
    /// The package is inconsistent (e.g. tokenizer and model.json disagree).
    #[error("invalid model package: {0}")]
    Invalid(String),
}

impl LoadError {
    /// Bounded reason label for `inferwatch_model_load_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Package(PackageError::Checksum { .. }) => "checksum",
            Self::Package(_) | Self::Invalid(_) => "invalid_package",
            Self::Runtime(_) | Self::Warmup(_) => "runtime",
        }
    }
}

/// The model families.
#[derive(Debug)]
pub enum Model {
    /// sentiment, topic, email.
    Text(Box<text::TextModel>),
    /// rating prediction + top-k.
    Recsys(recsys::RecsysModel),
    /// forecast + analysis.
    Trend(trend::TrendModel),
}

impl Model {
    /// Bytes derived from the package at load and held beside it.
    pub fn derived_bytes(&self) -> u64 {
        match self {
            Self::Recsys(m) => m.derived_bytes(),
            Self::Text(_) | Self::Trend(_) => 0,
        }
    }
}

/// A model in the cache: package metadata, the running model and its metric handles.
#[derive(Debug)]
pub struct LoadedModel {
    /// `model.json`.
    pub meta: ModelMeta,
    /// Where it was loaded from (e.g. `builtin:/models/sentiment`).
    pub source: String,
    /// Bytes held for it: the package, plus what is derived from it at load (the recommender's
    /// score table). The model cache's byte limit counts these.
    pub bytes: u64,
    /// The model.
    pub model: Model,
    /// How its raw outputs become answers (labels, thresholds, ranges from `model.json`).
    pub rules: OutputRules,
    /// Metric handles for this (model, version); `None` when metrics are off.
    pub metrics: Option<ModelMetrics>,
}

/// Durations of the load phases after the read.
#[derive(Debug, Clone, Copy)]
pub struct LoadTimings {
    /// Parse + optimize + featurizer setup.
    pub optimize: Duration,
    /// The warm-up inference.
    pub warmup: Duration,
}

impl LoadedModel {
    /// Build a model from a verified package and answer one warm-up inference.
    pub fn build(
        meta: ModelMeta,
        files: &PackageFiles,
        source: String,
        metrics: Option<ModelMetrics>,
    ) -> Result<(Self, LoadTimings), LoadError> {
        let start = Instant::now();
        let rules = OutputRules::from_meta(&meta)?;
        let plan = Plan::compile(files.file("model.onnx")?)?;
        let model = match meta.kind {
            ModelKind::Sentiment | ModelKind::Topic | ModelKind::Email => {
                Model::Text(Box::new(text::TextModel::new(&meta, files, plan)?))
            }
            ModelKind::Recsys => Model::Recsys(recsys::RecsysModel::new(&meta, files, plan)?),
            ModelKind::Trend => Model::Trend(trend::TrendModel::new(&meta, plan)?),
        };
        let optimize = start.elapsed();
        let start = Instant::now();
        let mut stages = Stages::default();
        match &model {
            Model::Text(m) => m.predict(&["warm up"], &mut stages).map(drop)?,
            Model::Recsys(m) => m.predict(&[("1", "1")], &mut stages).map(drop)?,
            Model::Trend(m) => m
                .forecast(
                    &trend::TrendInput { values: vec![1.0, 2.0, 3.0, 4.0, 5.0], horizon: 2, season_length: None },
                    &mut stages,
                )
                .map(drop)?,
        }
        let warmup = start.elapsed();
        let bytes = files.bytes() + model.derived_bytes();
        Ok((Self { bytes, meta, source, model, rules, metrics }, LoadTimings { optimize, warmup }))
    }
}
