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
    /// The model does not apply (no season, or fewer than two seasons): the trend analysis'
    /// line, continued when the trend is significant, else flat at the recent mean.
    TrendLine,
}

/// Why the model did not apply to a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    /// No season detected or given (a season must repeat three times to be detected).
    NoSeason,
    /// Fewer than two whole seasons.
    TooShort,
}

impl FallbackReason {
    /// The `reason` label of `inferwatch_trend_fallbacks_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSeason => "no_season",
            Self::TooShort => "too_short",
        }
    }

    /// What the answer says about it.
    pub fn note(self, n: usize, p: usize) -> String {
        match self {
            Self::NoSeason => format!(
                "no season found in {n} values (one must repeat 3 times to be detected): the forecast follows the trend analysis; pass season_length for a seasonal forecast"
            ),
            Self::TooShort => format!(
                "{n} values are fewer than two seasons of {p}: the forecast follows the trend analysis"
            ),
        }
    }
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
    /// Why the model did not apply, when it did not.
    pub fallback: Option<FallbackReason>,
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
        let analysis = stages.time(|s| &mut s.postprocess, || tf::analyse(y, p, &self.analysis));
        if !tf::model_applies(y.len(), p) {
            let reason = if p < 2 { FallbackReason::NoSeason } else { FallbackReason::TooShort };
            let forecast = tf::trend_line(y, p, input.horizon, analysis.direction);
            return Ok(TrendOutput {
                forecast,
                season_length: p,
                method: Method::TrendLine,
                fallback: Some(reason),
                analysis,
            });
        }
        let (features, scale) = stages.time(|s| &mut s.featurize, || tf::features(y, p, input.horizon));
        let out = stages.time(|s| &mut s.infer, || self.plan.run_f32(&[input.horizon, N_FEATURES], &features))?;
        let forecast = out.into_iter().map(|v| f64::from(v) * scale).collect();
        Ok(TrendOutput { forecast, season_length: p, method: Method::Model, fallback: None, analysis })
    }
}
