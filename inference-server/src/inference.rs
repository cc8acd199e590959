//! Running one request against one model: validate, featurize, infer, postprocess, record.
//! Shared by the v1 routes and the Open Inference Protocol routes, which differ only in shape.

use crate::error::ApiError;
use crate::featurize::recsys::ColdStart;
use crate::metrics::{ModelMetrics, Outcome};
use crate::models::recsys::Recommendation;
use crate::models::text::TextModel;
use crate::models::trend::{TrendInput, TrendOutput};
use crate::models::{LoadedModel, Model, PredictError, Stages};
use crate::package::ModelKind;
use std::sync::Arc;
use std::time::Instant;

/// How requests are run: the size limits that apply to every model, and whether text models
/// batch concurrent requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most items per request.
    pub max_batch_items: usize,
    /// Longest text in bytes.
    pub max_text_bytes: usize,
    /// Whether concurrent text-model requests share tract runs ([`crate::batcher`]).
    pub dynamic_batching: bool,
}

/// Work larger than this (input bytes, or series points x 8) runs on the blocking pool so the
/// async workers keep serving; smaller work runs inline, which is faster.
const INLINE_WORK_BYTES: usize = 32 * 1024;

/// An email.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct EmailInput {
    /// Subject line.
    #[serde(default)]
    pub subject: String,
    /// Plain-text (or raw HTML) body.
    #[serde(default)]
    pub body: String,
}

/// Decoded inputs, one variant per model family.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// Texts for sentiment / topic.
    Text(Vec<String>),
    /// Emails.
    Email(Vec<EmailInput>),
    /// (user id, item id) pairs.
    Rating(Vec<(String, String)>),
    /// Top-k items for a user.
    Recommend {
        /// Raw user id.
        user_id: String,
        /// How many.
        k: usize,
    },
    /// Series.
    Trend(Vec<TrendInput>),
}

/// Outputs matching [`Inputs`].
#[derive(Debug, Clone)]
pub enum Outputs {
    /// Class probabilities per item (label order of the model).
    Probabilities(Vec<Vec<f32>>),
    /// Rating and cold-start kind per pair.
    Ratings(Vec<(f32, ColdStart)>),
    /// Recommended items; `true` when the user was unknown.
    Recommendations(Vec<Recommendation>, bool),
    /// Forecast + analysis per series.
    Trends(Vec<TrendOutput>),
}

impl Inputs {
    fn len(&self) -> usize {
        match self {
            Self::Text(v) => v.len(),
            Self::Email(v) => v.len(),
            Self::Rating(v) => v.len(),
            Self::Recommend { .. } => 1,
            Self::Trend(v) => v.len(),
        }
    }

    fn work_bytes(&self) -> usize {
        match self {
            Self::Text(v) => v.iter().map(String::len).sum(),
            Self::Email(v) => v.iter().map(|e| e.subject.len() + e.body.len()).sum(),
            Self::Rating(v) => v.len() * 16,
            Self::Recommend { .. } => 0,
            Self::Trend(v) => v.iter().map(|t| t.values.len() * 64).sum(),
        }
    }

    /// Check sizes and emptiness before any model work.
    pub fn validate(&self, kind: ModelKind, limits: Limits) -> Result<(), ApiError> {
        let n = self.len();
        if n == 0 {
            return Err(ApiError::Validation("inputs must not be empty".into()));
        }
        if n > limits.max_batch_items {
            return Err(ApiError::Validation(format!(
                "too many items: {n}; at most {} per request",
                limits.max_batch_items
            )));
        }
        let at = |i: usize, m: String| ApiError::Validation(if n > 1 { format!("inputs[{i}]: {m}") } else { m });
        let text = |i: usize, field: &str, t: &str, required: bool| -> Result<(), ApiError> {
            if required && t.trim().is_empty() {
                return Err(at(i, format!("{field} must not be empty")));
            }
            if t.len() > limits.max_text_bytes {
                return Err(at(i, format!("{field} is {} bytes; the limit is {}", t.len(), limits.max_text_bytes)));
            }
            Ok(())
        };
        let matches_kind = match self {
            Self::Text(_) => matches!(kind, ModelKind::Sentiment | ModelKind::Topic),
            Self::Email(_) => kind == ModelKind::Email,
            Self::Rating(_) | Self::Recommend { .. } => kind == ModelKind::Recsys,
            Self::Trend(_) => kind == ModelKind::Trend,
        };
        if !matches_kind {
            return Err(ApiError::WrongKind(format!("this operation is not available for {} models", kind.as_str())));
        }
        match self {
            Self::Text(v) => v.iter().enumerate().try_for_each(|(i, t)| text(i, "text", t, true)),
            Self::Email(v) => v.iter().enumerate().try_for_each(|(i, e)| {
                text(i, "subject", &e.subject, false)?;
                text(i, "body", &e.body, false)?;
                if e.subject.trim().is_empty() && e.body.trim().is_empty() {
                    return Err(at(i, "subject and body must not both be empty".into()));
                }
                Ok(())
            }),
            Self::Rating(v) => v.iter().enumerate().try_for_each(|(i, (u, it))| {
                for (field, id) in [("user_id", u), ("item_id", it)] {
                    if id.is_empty() || id.len() > 256 {
                        return Err(at(i, format!("{field} must be 1 to 256 characters")));
                    }
                }
                Ok(())
            }),
            Self::Recommend { user_id, k } => {
                if user_id.is_empty() || user_id.len() > 256 {
                    return Err(ApiError::Validation("user_id must be 1 to 256 characters".into()));
                }
                if *k == 0 || *k > 100 {
                    return Err(ApiError::Validation(format!("k must be between 1 and 100, got {k}")));
                }
                Ok(())
            }
            Self::Trend(_) => Ok(()),
        }
    }
}

/// Email subject and body become one text exactly as in training (`model.json` `email.join`).
pub fn email_text(e: &EmailInput) -> String {
    let mut s = String::with_capacity(e.subject.len() + 1 + e.body.len());
    s.push_str(&e.subject);
    s.push('\n');
    s.push_str(&e.body);
    s
}

/// The texts a text model reads: texts as given, or each email's subject and body joined.
fn model_texts(inputs: &Inputs) -> Option<Vec<std::borrow::Cow<'_, str>>> {
    match inputs {
        Inputs::Text(texts) => Some(texts.iter().map(|t| t.as_str().into()).collect()),
        Inputs::Email(emails) => Some(emails.iter().map(|e| email_text(e).into()).collect()),
        _ => None,
    }
}

fn compute(model: &LoadedModel, inputs: &Inputs, stages: &mut Stages) -> Result<Outputs, PredictError> {
    match (&model.model, inputs) {
        (Model::Text(m), Inputs::Text(_) | Inputs::Email(_)) => {
            let texts = stages.time(|s| &mut s.featurize, || model_texts(inputs)).unwrap_or_default();
            let refs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
            Ok(Outputs::Probabilities(m.predict(&refs, stages)?))
        }
        (Model::Recsys(m), Inputs::Rating(pairs)) => {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(u, i)| (u.as_str(), i.as_str())).collect();
            Ok(Outputs::Ratings(m.predict(&refs, stages)?))
        }
        (Model::Recsys(m), Inputs::Recommend { user_id, k }) => {
            let (recs, unknown) = m.top_k(user_id, *k, stages)?;
            Ok(Outputs::Recommendations(recs, unknown))
        }
        (Model::Trend(m), Inputs::Trend(series)) => {
            for (i, s) in series.iter().enumerate() {
                m.validate(s).map_err(|e| match e {
                    crate::featurize::FeaturizeError::Invalid(msg) if series.len() > 1 => {
                        crate::featurize::FeaturizeError::Invalid(format!("inputs[{i}]: {msg}"))
                    }
                    e => e,
                })?;
            }
            Ok(Outputs::Trends(series.iter().map(|s| m.forecast(s, stages)).collect::<Result<_, _>>()?))
        }
        _ => Err(PredictError::Invalid(crate::featurize::FeaturizeError::Invalid(
            "inputs do not match the model kind".into(),
        ))),
    }
}

fn record(
    m: &ModelMetrics,
    inputs: &Inputs,
    result: &Result<Outputs, PredictError>,
    stages: &Stages,
    start: Instant,
    cpu_seconds: f64,
) {
    let outcome = match result {
        Ok(_) => Outcome::Success,
        Err(PredictError::Invalid(_)) => Outcome::InvalidInput,
        Err(PredictError::Runtime(_)) => Outcome::Error,
    };
    m.request(inputs.len(), outcome, stages, start.elapsed(), cpu_seconds);
    match (result, inputs) {
        (Ok(Outputs::Probabilities(rows)), _) => {
            for row in rows {
                if let Some((label, p)) = argmax(row) {
                    m.classified(label, p);
                }
            }
        }
        (Ok(Outputs::Ratings(rows)), _) => rows.iter().for_each(|(r, c)| m.rated(*r, *c)),
        (Ok(Outputs::Trends(rows)), Inputs::Trend(series)) => {
            for (s, out) in series.iter().zip(rows) {
                m.series(s.values.len(), true, out.method == crate::models::trend::Method::FallbackNaive);
            }
        }
        (Err(_), Inputs::Trend(series)) => series.iter().for_each(|s| m.series(s.values.len(), false, false)),
        _ => {}
    }
}

/// Index and value of the largest probability.
pub fn argmax(row: &[f32]) -> Option<(usize, f32)> {
    row.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Validate, run and record one request.
pub async fn run(model: Arc<LoadedModel>, inputs: Inputs, limits: Limits) -> Result<Outputs, ApiError> {
    if let Err(e) = inputs.validate(model.meta.kind, limits) {
        if let (Some(m), ApiError::Validation(_)) = (&model.metrics, &e) {
            m.request(inputs.len(), Outcome::InvalidInput, &Stages::default(), std::time::Duration::ZERO, 0.0);
        }
        return Err(e);
    }
    let blocking = inputs_are_large(&inputs);
    if let (Model::Text(text), false, true) = (&model.model, blocking, limits.dynamic_batching) {
        return Ok(batched(&model, text, &inputs).await?);
    }
    let work = move || {
        let Some(metrics) = &model.metrics else {
            return compute(&model, &inputs, &mut Stages::default());
        };
        let start = Instant::now();
        let cpu = metrics.cpu_sampler.start(blocking);
        let mut stages = Stages::default();
        let result = compute(&model, &inputs, &mut stages);
        let cpu_seconds = metrics.cpu_sampler.finish(cpu, inputs.len());
        record(metrics, &inputs, &result, &stages, start, cpu_seconds);
        result
    };
    let result = if blocking {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal(format!("inference task failed: {e}")))?
    } else {
        work()
    };
    Ok(result?)
}

/// A text-model request through the model's batcher: featurized here, run together with
/// concurrent requests. The infer stage is the time from joining a batch to the answer.
async fn batched(model: &LoadedModel, text: &TextModel, inputs: &Inputs) -> Result<Outputs, PredictError> {
    let metrics = model.metrics.as_ref();
    let start = Instant::now();
    let mut stages = Stages::default();
    let cpu = metrics.map(|m| m.cpu_sampler.start(false));
    let rows = stages.time(
        |s| &mut s.featurize,
        || match model_texts(inputs) {
            Some(texts) => text.featurize(&texts.iter().map(AsRef::as_ref).collect::<Vec<_>>()),
            None => Err(crate::featurize::FeaturizeError::Invalid("inputs do not match the model kind".into())),
        },
    );
    let mut cpu_seconds = match (metrics, cpu) {
        (Some(m), Some(cpu)) => m.cpu_sampler.finish(cpu, inputs.len()),
        _ => 0.0,
    };
    let result = match rows {
        Ok(rows) => {
            let infer = Instant::now();
            let answer = text.predict_batched(rows, metrics.map(|m| &*m.run_cpu_sampler)).await;
            stages.infer = infer.elapsed();
            answer.map(|b| {
                if let (Some(m), Some(flushed)) = (metrics, &b.flushed) {
                    flushed.run_rows.iter().for_each(|&rows| m.ran(rows));
                    cpu_seconds += flushed.cpu_seconds;
                }
                Outputs::Probabilities(b.probabilities)
            })
        }
        Err(e) => Err(e.into()),
    };
    if let Some(m) = metrics {
        record(m, inputs, &result, &stages, start, cpu_seconds);
    }
    result
}

fn inputs_are_large(inputs: &Inputs) -> bool {
    inputs.work_bytes() > INLINE_WORK_BYTES || matches!(inputs, Inputs::Recommend { .. })
}
