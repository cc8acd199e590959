//! Loaded models: one type per model family, behind [`LoadedModel`].

pub mod recsys;
pub mod score_table;
pub mod tabular;
pub mod text;
pub mod trend;

use crate::featurize::FeaturizeError;
use crate::package::{Dim, ModelKind, ModelMeta, OutputRules, PackageError, PackageFiles};
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

/// The graph against `model.json`: the declared inputs are the graph's, by name and in order;
/// a classifier's labels are as many as its output's classes. Pure.
pub fn check_graph(meta: &ModelMeta, plan: &Plan) -> Result<(), LoadError> {
    let graph = plan.input_names();
    if !meta.inputs.is_empty() {
        let declared: Vec<&str> = meta.inputs.iter().map(|i| i.name.as_str()).collect();
        if declared != graph.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(LoadError::Invalid(format!(
                "model.json inputs {declared:?} do not match the graph's inputs {graph:?}"
            )));
        }
    }
    let classifier = meta.kind.is_classifier();
    if let (true, Some(width)) = (classifier, plan.output_width()) {
        if width != meta.labels.len() {
            return Err(LoadError::Invalid(format!(
                "model.json labels name {} classes {:?}, but the graph's output has {width}",
                meta.labels.len(),
                meta.labels
            )));
        }
    }
    if let (true, Some(Dim::Fixed(declared))) = (classifier, meta.outputs.first().and_then(|o| o.shape.last())) {
        if usize::try_from(*declared).ok() != Some(meta.labels.len()) {
            return Err(LoadError::Invalid(format!(
                "model.json outputs[0].shape says {declared} classes, but labels name {}",
                meta.labels.len()
            )));
        }
    }
    Ok(())
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
    /// tabular classification.
    Tabular(tabular::TabularModel),
}

impl Model {
    /// Bytes derived from the package at load and held beside it.
    pub fn derived_bytes(&self) -> u64 {
        match self {
            Self::Recsys(m) => m.derived_bytes(),
            Self::Text(_) | Self::Trend(_) | Self::Tabular(_) => 0,
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
        let output = meta.featurizer.get("output").and_then(serde_json::Value::as_str);
        let plan = Plan::compile_for_output(files.file("model.onnx")?, output)?;
        check_graph(&meta, &plan)?;
        let model = match meta.kind {
            ModelKind::Sentiment | ModelKind::Topic | ModelKind::Email => {
                Model::Text(Box::new(text::TextModel::new(&meta, files, plan)?))
            }
            ModelKind::Recsys => Model::Recsys(recsys::RecsysModel::new(&meta, files, plan)?),
            ModelKind::Trend => Model::Trend(trend::TrendModel::new(&meta, plan)?),
            ModelKind::Tabular => Model::Tabular(tabular::TabularModel::new(&meta, plan)?),
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
            Model::Tabular(m) => m.predict(&vec![0.0; m.columns().len()], &mut stages).map(drop)?,
        }
        let warmup = start.elapsed();
        let bytes = files.bytes() + model.derived_bytes();
        Ok((Self { bytes, meta, source, model, rules, metrics }, LoadTimings { optimize, warmup }))
    }
}
