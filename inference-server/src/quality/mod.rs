//! Model quality from ground truth: every prediction gets an id and a record in the prediction
//! store; feedback (`POST /v1/models/{name}/feedback`) names the id with the truth (and
//! optionally the user's satisfaction), is scored against the record and counted once into
//! the quality metrics, whatever replica it reaches and whenever it comes within the TTL.
//!
//! - [`id`]: prediction ids and client request ids;
//! - [`record`]: what is kept of a prediction;
//! - [`feedback`]: the feedback body and its validation (pure);
//! - [`score`]: a feedback item against its record (pure);
//! - [`store`], [`memory`], [`redis_store`]: where records wait; [`shared`]: what they share.

pub mod feedback;
pub mod id;
pub mod memory;
pub mod record;
pub mod redis_store;
pub mod score;
pub mod shared;
pub mod store;

use crate::models::LoadedModel;
use crate::predict::Prediction;
use crate::telemetry::sharded::Counter;
use crate::telemetry::Metrics;
use feedback::Feedback;
use prometheus_client::metrics::gauge::Gauge;
use record::{Predicted, PredictionRecord};
use score::{Reject, Score};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
pub use store::{Aspect, Store, StoreError};

/// Which store keeps prediction records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// Redis when `--redis-url` is set, memory otherwise.
    Auto,
    /// This process's memory.
    Memory,
    /// Redis (`--redis-url`).
    Redis,
}

/// Settings of prediction ids and feedback.
#[derive(Debug, Clone)]
pub struct QualityConfig {
    /// Prediction ids and records on or off.
    pub enabled: bool,
    /// Which store.
    pub store: StoreKind,
    /// Redis, when configured.
    pub redis: Option<crate::redis_client::RedisTarget>,
    /// How long a record waits for its feedback.
    pub ttl: Duration,
    /// Most records the memory store keeps.
    pub max_records: usize,
    /// Most items per feedback request.
    pub max_feedback_items: usize,
}

/// Why quality could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    /// `--prediction-store=redis` without `--redis-url`.
    #[error("--prediction-store=redis needs --redis-url")]
    NoRedis,
    /// The Redis store could not be created.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Prediction ids, records and feedback.
#[derive(Debug)]
pub struct Quality {
    store: Option<Store>,
    metrics: Arc<Metrics>,
    /// `inferwatch_prediction_records{store="memory"}` and the memory store's capacity drops,
    /// resolved once (a family lookup per request costs more than the record itself).
    memory: Option<(Gauge, Counter)>,
    /// Most items per feedback request.
    pub max_feedback_items: usize,
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Quality {
    /// The configured store (none when prediction ids are off). Call inside a runtime.
    pub fn new(config: &QualityConfig, metrics: Arc<Metrics>) -> Result<Self, QualityError> {
        let ttl_ms = u64::try_from(config.ttl.as_millis()).unwrap_or(u64::MAX);
        let store = match (config.enabled, config.store, &config.redis) {
            (false, _, _) => None,
            (true, StoreKind::Redis | StoreKind::Auto, Some(redis)) => {
                Some(Store::Redis(redis_store::RedisStore::new(redis, config.ttl, metrics.clone())?))
            }
            (true, StoreKind::Redis, None) => return Err(QualityError::NoRedis),
            (true, StoreKind::Memory | StoreKind::Auto, _) => {
                Some(Store::Memory(memory::MemoryStore::new(config.max_records, ttl_ms)))
            }
        };
        if let Some(s) = &store {
            for reason in ["capacity", "backlog", "store_error"] {
                metrics.prediction_records_dropped.with(&[s.name(), reason]);
            }
        }
        let memory = matches!(store, Some(Store::Memory(_))).then(|| {
            let records = metrics.prediction_records.with(&["memory"]);
            records.set(0);
            (records, metrics.prediction_records_dropped.with(&["memory", "capacity"]))
        });
        Ok(Self { store, metrics, memory, max_feedback_items: config.max_feedback_items })
    }

    /// Give each prediction an id and keep its record; empty when ids are off (or the
    /// operating system has no randomness, logged).
    pub fn record(&self, model: &LoadedModel, predictions: &[Prediction]) -> Vec<String> {
        let Some(store) = &self.store else { return Vec::new() };
        let ids = match id::new_ids(predictions.len()) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "no randomness for prediction ids; answering without them");
                return Vec::new();
            }
        };
        let at_ms = now_ms();
        let records = ids
            .iter()
            .zip(predictions)
            .map(|(id, p)| {
                let r = PredictionRecord {
                    model: model.meta.name.clone(),
                    version: model.meta.version.clone(),
                    at_ms,
                    predicted: Predicted::of(p, &model.meta.labels),
                };
                (id.clone(), r)
            })
            .collect();
        match store {
            Store::Memory(m) => {
                let dropped = m.put(records, at_ms);
                if let Some((kept, capacity)) = &self.memory {
                    if dropped > 0 {
                        capacity.inc_by(dropped as u64);
                    }
                    kept.set(i64::try_from(m.len()).unwrap_or(i64::MAX));
                }
            }
            Store::Redis(r) => r.put(records),
        }
        ids
    }

    /// Match, score and count feedback for `model`: one answer per item, in order. Nothing is
    /// counted when the store cannot answer.
    pub async fn feedback(
        &self,
        model: &LoadedModel,
        items: &[Feedback],
    ) -> Result<Vec<Result<(), Reject>>, FeedbackUnavailable> {
        let Some(store) = &self.store else { return Err(FeedbackUnavailable::Disabled) };
        let name = model.meta.name.as_str();
        let now = now_ms();
        // Ids this server cannot have handed out are unknown without asking the store.
        let ours: Vec<bool> = items.iter().map(|f| id::well_formed(&f.prediction_id)).collect();
        let wanted: Vec<&str> =
            items.iter().zip(&ours).filter(|(_, ok)| **ok).map(|(f, _)| f.prediction_id.as_str()).collect();
        let mut found = store.get_many(&wanted, now).await?.into_iter();
        let scored: Vec<Result<Score, Reject>> = items
            .iter()
            .zip(&ours)
            .map(|(f, ours)| {
                let record = if *ours { found.next().flatten() } else { None };
                let record = record.ok_or_else(|| Reject::Unknown(f.prediction_id.clone()))?;
                score::score(name, &record, f, now)
            })
            .collect();
        let mut claims = Vec::new();
        for (f, s) in items.iter().zip(&scored) {
            if let Ok(s) = s {
                if s.truth.is_some() {
                    claims.push((f.prediction_id.as_str(), Aspect::Truth));
                }
                if s.satisfaction.is_some() || s.vote.is_some() {
                    claims.push((f.prediction_id.as_str(), Aspect::Opinion));
                }
            }
        }
        let mut granted = store.claim_many(&claims).await?.into_iter();
        let mut answers = Vec::with_capacity(items.len());
        for (f, s) in items.iter().zip(scored) {
            let answer = s.and_then(|s| {
                let truth = s.truth.is_some() && granted.next().unwrap_or(false);
                let opinion = (s.satisfaction.is_some() || s.vote.is_some()) && granted.next().unwrap_or(false);
                if !truth && !opinion {
                    return Err(Reject::Duplicate(f.prediction_id.clone()));
                }
                count(&self.metrics, name, &model.meta.labels, &s, truth, opinion);
                if let (true, Some(m), Some(score::TruthScore::Forecast { errors })) =
                    (truth && s.version == model.meta.version, &model.metrics, &s.truth)
                {
                    m.forecast_errors(errors);
                }
                Ok(())
            });
            let outcome = answer.as_ref().map_or_else(Reject::outcome, |()| "matched");
            self.metrics.feedback_outcome(name, outcome);
            answers.push(answer);
        }
        Ok(answers)
    }

    /// Count a refused feedback request.
    pub fn refused(&self, model: &str) {
        self.metrics.feedback_outcome(model, "invalid");
    }

    /// Send every record still waiting for Redis (on shutdown).
    pub async fn flush(&self) {
        if let Some(Store::Redis(r)) = &self.store {
            r.flush().await;
        }
    }
}

/// What a matched feedback item adds to the quality metrics: its truth when `truth`, its
/// opinion when `opinion` (each counted once per prediction by the store's claims).
fn count(metrics: &Metrics, model: &str, labels: &[String], score: &Score, truth: bool, opinion: bool) {
    let mv = [model, score.version.as_str()];
    metrics.feedback_delay(mv, score.delay_seconds);
    if truth {
        match &score.truth {
            Some(score::TruthScore::Class { truth, predicted, confidence }) => {
                let label = |i: usize| labels.get(i).map_or("unknown", String::as_str);
                let confusion = labels.len() <= inferwatch_monitoring::metrics::CONFUSION_MAX_LABELS;
                metrics.labelled(mv, label(*truth), label(*predicted), *confidence, confusion);
            }
            Some(score::TruthScore::Rating { error }) => metrics.rating_error(mv, *error),
            Some(score::TruthScore::Forecast { errors }) => metrics.forecast_errors(mv, errors),
            None => {}
        }
    }
    if opinion {
        metrics.opinion(mv, score.satisfaction, score.vote.map(feedback::Vote::as_str));
    }
}

/// A prediction with its id (absent when ids are off): the v1 answer's and a batch job
/// result's item.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Identified {
    /// The id to send feedback with (`POST /v1/models/{name}/feedback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction_id: Option<String>,
    /// The prediction.
    #[serde(flatten)]
    pub prediction: Prediction,
}

impl Identified {
    /// Pair predictions with their ids, in order (`ids` empty: none).
    pub fn pair(predictions: Vec<Prediction>, ids: Vec<String>) -> impl Iterator<Item = Self> {
        let mut ids = ids.into_iter();
        predictions.into_iter().map(move |prediction| Self { prediction_id: ids.next(), prediction })
    }
}

/// Feedback cannot be taken now.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackUnavailable {
    /// Prediction ids are off on this server.
    #[error("prediction ids are off on this server (--prediction-ids=false): there is nothing to match feedback with")]
    Disabled,
    /// The store cannot answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}
