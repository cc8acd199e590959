//! The prediction log: one line per sampled prediction, with the model, version, prediction
//! id, the answer (label and confidence, rating, first forecast step, or the recommended
//! items), latency and request id; the input only when `--prediction-log-payload` is on, cut
//! to a byte cap.
//!
//! Sampling is decided before inference ([`PredictionLog::begin`]), so an unsampled request
//! copies nothing, and a sampled one copies only its sampled items' payloads.

use super::LineBudget;
use crate::models::LoadedModel;
use crate::predict::{Items, Prediction};
use inferwatch_monitoring::log_classes::PREDICTION;
use std::time::Instant;

/// Most recommended item ids named in one line.
const MAX_ITEMS_NAMED: usize = 20;

/// The prediction log of the server.
#[derive(Debug)]
pub struct PredictionLog {
    budget: LineBudget,
    payload_bytes: Option<usize>,
}

/// The items of one request picked for lines, with their payloads; from [`PredictionLog::begin`].
#[derive(Debug)]
pub struct Pending {
    picked: Vec<(usize, Option<String>)>,
    start: Instant,
}

impl PredictionLog {
    /// A prediction log with `budget`; payloads of at most `payload_bytes` when given.
    pub fn new(budget: LineBudget, payload_bytes: Option<usize>) -> Self {
        Self { budget, payload_bytes }
    }

    /// Pick the items of a request that get lines (and copy their payloads when opted in).
    pub fn begin(&self, items: &Items) -> Pending {
        let picked = if self.budget.enabled() {
            (0..items.len())
                .filter(|_| self.budget.sampled())
                .map(|i| (i, self.payload_bytes.and_then(|cap| payload(items, i, cap))))
                .collect()
        } else {
            Vec::new()
        };
        Pending { picked, start: Instant::now() }
    }

    /// Write the lines of the picked items (within the per-second cap). `ids` are the
    /// prediction ids (empty when ids are off).
    pub fn finish(
        &self,
        pending: Pending,
        model: &LoadedModel,
        predictions: &[Prediction],
        ids: &[String],
        request_id: Option<&str>,
    ) {
        let latency_ms = pending.start.elapsed().as_secs_f64() * 1e3;
        for (i, payload) in pending.picked {
            let Some(p) = predictions.get(i) else { continue };
            if !self.budget.admit() {
                continue;
            }
            let (label, confidence, value, items) = answer(p);
            tracing::info!(
                target: PREDICTION,
                model = %model.meta.name,
                version = %model.meta.version,
                prediction_id = ids.get(i).map(String::as_str),
                item = i,
                label,
                confidence,
                value,
                items = items.as_deref(),
                latency_ms,
                request_id,
                payload = payload.as_deref(),
                "prediction"
            );
        }
    }
}

/// The answer's loggable parts: label, confidence, value, recommended items.
fn answer(p: &Prediction) -> (Option<&str>, Option<f32>, Option<f64>, Option<String>) {
    match p {
        Prediction::Class { label, confidence, .. } | Prediction::Spam { label, confidence, .. } => {
            (Some(label), Some(*confidence), None, None)
        }
        Prediction::Rating { rating, .. } => (None, None, Some(f64::from(*rating)), None),
        Prediction::Trend { forecast, direction, .. } => {
            (Some(direction_name(direction)), None, forecast.first().copied(), None)
        }
        Prediction::Recommendations { items, .. } => {
            let named: Vec<&str> = items.iter().take(MAX_ITEMS_NAMED).map(|r| r.item_id.as_str()).collect();
            (None, None, items.first().map(|r| f64::from(r.rating)), Some(named.join(",")))
        }
    }
}

use crate::featurize::tabular::Row;

fn direction_name(d: &crate::featurize::trend::Direction) -> &'static str {
    use crate::featurize::trend::Direction;
    match d {
        Direction::Up => "up",
        Direction::Down => "down",
        Direction::Flat => "flat",
    }
}

/// The input of item `i` as text, at most `cap` bytes (cut at a character edge).
fn payload(items: &Items, i: usize, cap: usize) -> Option<String> {
    let text = match items {
        Items::Text(v) => v.get(i)?.clone(),
        Items::Email(v) => v.get(i).map(crate::predict::email_text)?,
        Items::Rating(v) => v.get(i).map(|(u, it)| format!("user={u} item={it}"))?,
        Items::Recommend { user_id, k } => format!("user={user_id} k={k}"),
        Items::Trend(v) => serde_json::to_string(&v.get(i)?.input.values).ok()?,
        Items::Tabular(v) => match v.get(i)? {
            Row::Values(values) => serde_json::to_string(values).ok()?,
            Row::Named(pairs) => serde_json::to_string(
                &pairs.iter().map(|(k, v)| (k.as_str(), *v)).collect::<std::collections::BTreeMap<_, _>>(),
            )
            .ok()?,
        },
    };
    Some(cut(text, cap))
}

fn cut(mut s: String, cap: usize) -> String {
    if s.len() > cap {
        let mut end = cap;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_cut_at_a_character_edge_within_the_cap() {
        assert_eq!(cut("héllo".into(), 2), "h");
        assert_eq!(cut("héllo".into(), 3), "hé");
        assert_eq!(cut("ok".into(), 10), "ok");
        let items = Items::Text(vec!["a".repeat(5000)]);
        assert_eq!(payload(&items, 0, 2048).map(|p| p.len()), Some(2048));
        assert_eq!(payload(&items, 1, 2048), None);
    }
}
