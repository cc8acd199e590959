//! Running one request against one model: validate, featurize, infer, record, postprocess.

use super::prediction::{argmax, postprocess, Outputs};
use super::validate::validate;
use super::{Items, PredictError, Prediction, Request};
use crate::featurize::text::TokenCount;
use crate::models::text::TextModel;
use crate::models::{LoadedModel, Model, ModelError};
use crate::telemetry::{ModelMetrics, Outcome, Stages};
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

tokio::task_local! {
    /// What must live as long as the work a request starts (the HTTP layer puts its concurrency
    /// permit here). Work that leaves the request's task for the blocking pool takes a clone, so
    /// a request answered 504 keeps its permit until that work is done: the concurrency limit
    /// bounds the CPU in use, not just the requests waiting.
    pub static WORK_GUARD: Arc<dyn Send + Sync>;
}

/// Work larger than this (input bytes, or series points x 8) runs on the blocking pool so the
/// async workers keep serving; smaller work runs inline, which is faster.
const INLINE_WORK_BYTES: usize = 32 * 1024;

impl Items {
    fn work_bytes(&self) -> usize {
        match self {
            Self::Text(v) => v.iter().map(String::len).sum(),
            Self::Email(v) => v.iter().map(|e| e.subject.len() + e.body.len()).sum(),
            Self::Rating(v) => v.len() * 16,
            Self::Recommend { .. } => 0,
            Self::Trend(v) => v.iter().map(|t| t.input.values.len() * 64).sum(),
            Self::Tabular(v) => v.iter().map(|r| r.len() * 8).sum(),
        }
    }
}

/// Email subject and body become one text exactly as in training (`model.json` `email.join`).
pub fn email_text(e: &super::EmailInput) -> String {
    let mut s = String::with_capacity(e.subject.len() + 1 + e.body.len());
    s.push_str(&e.subject);
    s.push('\n');
    s.push_str(&e.body);
    s
}

/// The texts a text model reads: texts as given, or each email's subject and body joined.
fn model_texts(inputs: &Items) -> Option<Vec<std::borrow::Cow<'_, str>>> {
    match inputs {
        Items::Text(texts) => Some(texts.iter().map(|t| t.as_str().into()).collect()),
        Items::Email(emails) => Some(emails.iter().map(|e| email_text(e).into()).collect()),
        _ => None,
    }
}

/// What the featurizers computed that the drift metrics count.
#[derive(Debug, Default)]
struct Featurized {
    /// Each text's token count (text models).
    tokens: Vec<TokenCount>,
    /// The rows as the graph read them, row-major (tabular models).
    rows: Vec<f32>,
}

fn compute(
    model: &LoadedModel,
    inputs: &Items,
    batch: bool,
    stages: &mut Stages,
    seen: &mut Featurized,
) -> Result<Outputs, PredictError> {
    match (&model.model, inputs) {
        (Model::Text(m), Items::Text(_) | Items::Email(_)) => {
            let texts = stages.time(|s| &mut s.featurize, || model_texts(inputs)).unwrap_or_default();
            let refs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
            let (probabilities, counts) = m.predict(&refs, stages)?;
            seen.tokens = counts;
            Ok(Outputs::Probabilities(probabilities))
        }
        (Model::Tabular(m), Items::Tabular(rows)) => {
            let matrix = stages.time(|s| &mut s.featurize, || m.matrix(rows, batch)).map_err(ModelError::from)?;
            let probabilities = m.predict(&matrix, stages)?;
            seen.rows = matrix;
            Ok(Outputs::Probabilities(probabilities))
        }
        (Model::Recsys(m), Items::Rating(pairs)) => {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(u, i)| (u.as_str(), i.as_str())).collect();
            Ok(Outputs::Ratings(m.predict(&refs, stages)?))
        }
        (Model::Recsys(m), Items::Recommend { user_id, k }) => {
            let (recs, unknown) = m.top_k(user_id, *k, stages)?;
            Ok(Outputs::Recommendations(recs, unknown))
        }
        (Model::Trend(m), Items::Trend(series)) => {
            for (i, s) in series.iter().enumerate() {
                m.validate(&s.input).map_err(|e| PredictError::invalid_item(i, batch, e.to_string()))?;
            }
            Ok(Outputs::Trends(series.iter().map(|s| m.forecast(&s.input, stages)).collect::<Result<_, _>>()?))
        }
        _ => Err(PredictError::WrongKind("inputs do not match the model kind".into())),
    }
}

#[inline]
fn record(
    m: &ModelMetrics,
    inputs: &Items,
    result: &Result<Outputs, PredictError>,
    seen: &Featurized,
    stages: &Stages,
    start: Instant,
    cpu_seconds: f64,
) {
    let outcome = match result {
        Ok(_) => Outcome::Success,
        Err(PredictError::Runtime(_)) => Outcome::Error,
        Err(_) => Outcome::InvalidInput,
    };
    m.request(inputs.len(), outcome, stages, start.elapsed(), cpu_seconds);
    match (result, inputs) {
        (Ok(Outputs::Probabilities(rows)), _) => {
            for row in rows {
                if let Some((label, p)) = argmax(row) {
                    m.classified(label, p);
                }
            }
            seen.tokens.iter().for_each(|c| m.text(*c));
            match inputs {
                Items::Email(emails) => emails.iter().for_each(|e| m.email(&e.subject, &e.body)),
                Items::Tabular(rows) => m.rows(&seen.rows, seen.rows.len() / rows.len().max(1)),
                _ => {}
            }
        }
        (Ok(Outputs::Ratings(rows)), _) => rows.iter().for_each(|(r, c)| m.rated(*r, *c)),
        (Ok(Outputs::Trends(rows)), Items::Trend(series)) => {
            for (s, out) in series.iter().zip(rows) {
                m.series(s.input.values.len(), true, out.fallback.map(|r| r.as_str()));
                m.series_values(&s.input.values);
            }
        }
        (Err(_), Items::Trend(series)) => series.iter().for_each(|s| {
            m.series(s.input.values.len(), false, None);
            m.series_values(&s.input.values);
        }),
        _ => {}
    }
}

/// Validate, run, record and postprocess one request: one prediction per item (one for a
/// recommendation).
pub async fn run(model: Arc<LoadedModel>, request: Request, limits: Limits) -> Result<Vec<Prediction>, PredictError> {
    if let Err(e) = validate(&request, model.meta.kind, limits) {
        if let (Some(m), true) = (&model.metrics, e.is_input_error() && !matches!(e, PredictError::WrongKind(_))) {
            m.request(request.items.len(), Outcome::InvalidInput, &Stages::default(), std::time::Duration::ZERO, 0.0);
        }
        return Err(e);
    }
    let blocking = runs_on_blocking_pool(&model, &request.items);
    let shared_run = match &model.model {
        Model::Text(text) if !blocking && limits.dynamic_batching && text.batches() => Some(text),
        _ => None,
    };
    let outputs = if let Some(text) = shared_run {
        batched(&model, text, &request.items).await?
    } else {
        let for_work = model.clone();
        // Only work that leaves this task needs to hold the request's permit.
        let guard = if blocking { WORK_GUARD.try_with(Arc::clone).ok() } else { None };
        let work = move || {
            let _guard = guard;
            let model = for_work;
            let batch = request.batch;
            let mut seen = Featurized::default();
            let result = match &model.metrics {
                None => compute(&model, &request.items, batch, &mut Stages::default(), &mut seen),
                Some(metrics) => {
                    let start = Instant::now();
                    let cpu = metrics.cpu_sampler.start(blocking);
                    let mut stages = Stages::default();
                    let result = compute(&model, &request.items, batch, &mut stages, &mut seen);
                    let cpu_seconds = metrics.cpu_sampler.finish(cpu, request.items.len());
                    record(metrics, &request.items, &result, &seen, &stages, start, cpu_seconds);
                    result
                }
            };
            result.map(|outputs| (outputs, request))
        };
        let (outputs, back) = if blocking {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| PredictError::Runtime(format!("inference task failed: {e}")))??
        } else {
            work()?
        };
        return Ok(finish(&model, outputs, &back));
    };
    Ok(finish(&model, outputs, &request))
}

#[inline]
fn finish(model: &LoadedModel, outputs: Outputs, request: &Request) -> Vec<Prediction> {
    let (series, user_id) = match &request.items {
        Items::Trend(s) => (s.as_slice(), None),
        Items::Recommend { user_id, .. } => (&[][..], Some(user_id.as_str())),
        _ => (&[][..], None),
    };
    postprocess(model.meta.kind, &model.rules, outputs, series, user_id)
}

/// A text-model request through the model's batcher: featurized here, run together with
/// concurrent requests. The infer stage is the time from joining a batch to the answer.
async fn batched(model: &LoadedModel, text: &TextModel, inputs: &Items) -> Result<Outputs, PredictError> {
    let metrics = model.metrics.as_ref();
    let start = Instant::now();
    let mut stages = Stages::default();
    let cpu = metrics.map(|m| m.cpu_sampler.start(false));
    let rows = stages.time(
        |s| &mut s.featurize,
        || match model_texts(inputs) {
            Some(texts) => {
                text.featurize(&texts.iter().map(AsRef::as_ref).collect::<Vec<_>>()).map_err(ModelError::from)
            }
            None => Err(ModelError::Invalid(crate::featurize::FeaturizeError::Invalid(
                "inputs do not match the model kind".into(),
            ))),
        },
    );
    let mut cpu_seconds = match (metrics, cpu) {
        (Some(m), Some(cpu)) => m.cpu_sampler.finish(cpu, inputs.len()),
        _ => 0.0,
    };
    let (rows, seen) = match rows {
        Ok((rows, tokens)) => (Ok(rows), Featurized { tokens, rows: Vec::new() }),
        Err(e) => (Err(e), Featurized::default()),
    };
    let result = match rows {
        Ok(rows) => {
            let infer = Instant::now();
            let answer = text.predict_batched(rows, metrics.map(|m| &*m.run_cpu_sampler)).await;
            stages.infer = infer.elapsed();
            answer.map_err(PredictError::from).map(|b| {
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
        record(m, inputs, &result, &seen, &stages, start, cpu_seconds);
    }
    result
}

/// Large inputs, and recommendations that score the whole catalogue per request, leave the
/// async workers; a recommendation from a score table is a lookup and runs inline.
#[inline]
fn runs_on_blocking_pool(model: &LoadedModel, inputs: &Items) -> bool {
    match (inputs, &model.model) {
        (Items::Recommend { .. }, Model::Recsys(m)) => !m.has_score_table(),
        (Items::Recommend { .. }, _) => false,
        // A transformer's run takes milliseconds: never on an async worker.
        (_, Model::Text(m)) if !m.batches() => true,
        _ => inputs.work_bytes() > INLINE_WORK_BYTES,
    }
}
