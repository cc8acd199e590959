//! The trend model: forecast from learned combination of classical forecasts, plus analysis.

use super::{LoadError, ModelError};
use crate::featurize::trend::{self as tf, Analysis, AnalysisSettings, TrendSettings, N_FEATURES};
use crate::featurize::FeaturizeError;
use crate::package::{section, ModelMeta};
use crate::runtime::Plan;
use crate::telemetry::Stages;

/// Longest accepted series (the Mann-Kendall test is O(n²)).
pub const MAX_POINTS: usize = 10_000;
/// Longest accepted season.
pub const MAX_SEASON: usize = 1_000;

/// A loaded trend model.
#[derive(Debug)]
pub struct TrendModel {
    plan: Plan,
    /// Featurizer settings from `model.json`.
    pub settings: TrendSettings,
    analysis: AnalysisSettings,
}

/// One series to analyse.
#[derive(Debug, Clone)]
pub struct TrendInput {
    /// The observations, oldest first.
    pub values: Vec<f64>,
    /// Steps to forecast.
    pub horizon: usize,
    /// Season length; detected when absent.
    pub season_length: Option<usize>,
}

/// How the forecast was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The trained model.
    Model,
    /// The series is too short for the model: the last value, repeated (a placeholder).
    FallbackNaive,
}

/// Forecast and analysis of one series.
#[derive(Debug, Clone)]
pub struct TrendOutput {
    /// Forecast values, one per step.
    pub forecast: Vec<f64>,
    /// Season length used.
    pub season_length: usize,
    /// How the forecast was made.
    pub method: Method,
    /// Slope, significance, anomalies.
    pub analysis: Analysis,
}

impl TrendModel {
    /// Build from `model.json`.
    pub fn new(meta: &ModelMeta, plan: Plan) -> Result<Self, LoadError> {
        let settings: TrendSettings = section(&meta.featurizer, "model.json")?;
        let analysis =
            meta.analysis.as_ref().ok_or_else(|| LoadError::Invalid("trend model.json has no analysis".into()))?;
        Ok(Self { plan, settings, analysis: section(analysis, "model.json")? })
    }

    /// Check a series before any work is done.
    pub fn validate(&self, input: &TrendInput) -> Result<(), FeaturizeError> {
        let n = input.values.len();
        let bad = |m: String| Err(FeaturizeError::Invalid(m));
        if n < self.settings.min_points {
            return bad(format!("series has {n} values; at least {} are needed", self.settings.min_points));
        }
        if n > MAX_POINTS {
            return bad(format!("series has {n} values; at most {MAX_POINTS} are accepted"));
        }
        if let Some(i) = input.values.iter().position(|v| !v.is_finite()) {
            return bad(format!("values[{i}] is not a finite number"));
        }
        if input.horizon == 0 || input.horizon > self.settings.max_horizon {
            return bad(format!("horizon must be between 1 and {}, got {}", self.settings.max_horizon, input.horizon));
        }
        if let Some(p) = input.season_length {
            if p == 0 || p > n.min(MAX_SEASON) {
                return bad(format!("season_length must be between 1 and the number of values ({n}), got {p}"));
            }
        }
        Ok(())
    }

    /// Forecast and analyse one series.
    pub fn forecast(&self, input: &TrendInput, stages: &mut Stages) -> Result<TrendOutput, ModelError> {
        self.validate(input)?;
        let y = &input.values;
        let p = input
            .season_length
            .unwrap_or_else(|| stages.time(|s| &mut s.featurize, || tf::detect_season(y, &self.settings)));
        let (forecast, method) = if tf::model_applies(y.len(), p) {
            let (features, scale) = stages.time(|s| &mut s.featurize, || tf::features(y, p, input.horizon));
            let out = stages.time(|s| &mut s.infer, || self.plan.run_f32(&[input.horizon, N_FEATURES], &features))?;
            (out.into_iter().map(|v| f64::from(v) * scale).collect(), Method::Model)
        } else {
            (vec![y[y.len() - 1]; input.horizon], Method::FallbackNaive)
        };
        let analysis = stages.time(|s| &mut s.postprocess, || tf::analyse(y, p, &self.analysis));
        Ok(TrendOutput { forecast, season_length: p, method, analysis })
    }
}
