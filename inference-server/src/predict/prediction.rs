//! Answers per model family, and the postprocessing that turns raw model outputs into them with
//! the rules `model.json` carries (labels, the spam threshold, the rating range). The JSON form
//! of a [`Prediction`] is the v1 answer and the stored result of a batch-job item.

use super::Series;
use crate::featurize::recsys::ColdStart;
use crate::featurize::trend::{Anomaly, Direction};
use crate::models::recsys::Recommendation;
use crate::models::trend::{Method, TrendOutput};
use crate::package::{ModelKind, OutputRules};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many labels a topic answer lists.
pub const TOPIC_TOP_K: usize = 3;

/// A label with its probability.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LabelProbability {
    /// Class label.
    pub label: String,
    /// Probability.
    pub probability: f32,
}

/// What a classifier computed for one item, beyond what its v1 answer shows (the v2 codec
/// answers with all of it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    /// Every label's probability, in label order.
    pub probabilities: Vec<f32>,
}

/// The answer for one item; which fields appear depends on the model family.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Prediction {
    /// sentiment / topic.
    Class {
        /// Most likely label.
        label: String,
        /// Its probability.
        confidence: f32,
        /// Every label's probability (sentiment).
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<BTreeMap<String, f32>>,
        /// The k most likely labels (topic).
        #[serde(skip_serializing_if = "Option::is_none")]
        top_k: Option<Vec<LabelProbability>>,
        /// Every label's probability, in label order.
        #[serde(skip)]
        scores: Scores,
    },
    /// email.
    Spam {
        /// The spam label when spam_probability reaches the model's threshold (`model.json`
        /// `email.threshold`), the other label otherwise.
        label: String,
        /// Whether spam_probability reached the threshold.
        spam: bool,
        /// Probability of spam.
        spam_probability: f32,
        /// Probability of the chosen label.
        #[serde(skip)]
        confidence: f32,
        /// Every label's probability, in label order.
        #[serde(skip)]
        scores: Scores,
    },
    /// recsys rating.
    Rating {
        /// Predicted rating, within the model's rating range.
        rating: f32,
        /// Which fallback applied.
        cold_start: ColdStart,
    },
    /// recsys top-k.
    Recommendations {
        /// The user.
        user_id: String,
        /// `unknown_user` when the user was not in training, else `none`.
        cold_start: &'static str,
        /// Best-rated unseen items, best first.
        items: Vec<Recommendation>,
    },
    /// trend.
    Trend {
        /// up, down or flat.
        direction: Direction,
        /// OLS slope per step.
        slope: f64,
        /// Mann-Kendall two-sided p-value.
        p_value: f64,
        /// Mann-Kendall z.
        mann_kendall_z: f64,
        /// Season length used.
        season_length: usize,
        /// model, or trend_line when the series has no season or fewer than two.
        method: Method,
        /// Why the trained model did not apply, when it did not.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// Forecast values.
        forecast: Vec<f64>,
        /// Forecast timestamps, when timestamps were given.
        #[serde(skip_serializing_if = "Option::is_none")]
        forecast_timestamps: Option<Vec<f64>>,
        /// Anomalous points.
        anomalies: Vec<Anomaly>,
    },
}

/// Raw model outputs matching [`Items`].
#[derive(Debug, Clone)]
pub(super) enum Outputs {
    /// Class probabilities per item (label order of the model).
    Probabilities(Vec<Vec<f32>>),
    /// Rating and cold-start kind per pair.
    Ratings(Vec<(f32, ColdStart)>),
    /// Recommended items; `true` when the user was unknown.
    Recommendations(Vec<Recommendation>, bool),
    /// Forecast + analysis per series.
    Trends(Vec<TrendOutput>),
}

/// Index and value of the largest probability.
pub fn argmax(row: &[f32]) -> Option<(usize, f32)> {
    row.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Forecast timestamps continue the median step of the given ones.
fn forecast_timestamps(ts: &[f64], horizon: usize) -> Option<Vec<f64>> {
    let mut steps: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.is_empty() {
        return None;
    }
    steps.sort_by(f64::total_cmp);
    let step = steps[steps.len() / 2];
    let last = *ts.last()?;
    Some((1..=horizon).map(|h| last + step * h as f64).collect())
}

fn label(rules: &OutputRules, i: usize) -> String {
    rules.labels.get(i).cloned().unwrap_or_default()
}

#[inline]
fn classify(kind: ModelKind, rules: &OutputRules, row: Vec<f32>) -> Prediction {
    let (best, confidence) = argmax(&row).unwrap_or((0, 0.0));
    if let Some(t) = &rules.threshold {
        let p = row.get(t.index).copied().unwrap_or(0.0);
        let spam = p >= t.threshold;
        return Prediction::Spam {
            label: if spam { t.label.clone() } else { t.other_label.clone() },
            spam,
            spam_probability: p,
            confidence: if spam { p } else { 1.0 - p },
            scores: Scores { probabilities: row },
        };
    }
    let label_of = label(rules, best);
    if kind == ModelKind::Topic {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let top = order
            .into_iter()
            .take(TOPIC_TOP_K)
            .map(|i| LabelProbability { label: label(rules, i), probability: row[i] })
            .collect();
        return Prediction::Class {
            label: label_of,
            confidence,
            probabilities: None,
            top_k: Some(top),
            scores: Scores { probabilities: row },
        };
    }
    Prediction::Class {
        label: label_of,
        confidence,
        probabilities: Some(rules.labels.iter().cloned().zip(row.iter().copied()).collect()),
        top_k: None,
        scores: Scores { probabilities: row },
    }
}

fn trend(t: TrendOutput, series: Option<&Series>) -> Prediction {
    let horizon = t.forecast.len();
    let n = series.map_or(0, |s| s.input.values.len());
    Prediction::Trend {
        note: t.fallback.map(|r| r.note(n, t.season_length)),
        direction: t.analysis.direction,
        slope: t.analysis.slope,
        p_value: t.analysis.p_value,
        mann_kendall_z: t.analysis.mann_kendall_z,
        season_length: t.season_length,
        method: t.method,
        forecast: t.forecast,
        forecast_timestamps: series
            .and_then(|s| s.timestamps.as_deref())
            .and_then(|ts| forecast_timestamps(ts, horizon)),
        anomalies: t.analysis.anomalies,
    }
}

/// Raw outputs -> one prediction per item.
#[inline]
pub(super) fn postprocess(
    kind: ModelKind,
    rules: &OutputRules,
    outputs: Outputs,
    series: &[Series],
    user_id: Option<&str>,
) -> Vec<Prediction> {
    match outputs {
        Outputs::Probabilities(rows) => rows.into_iter().map(|row| classify(kind, rules, row)).collect(),
        Outputs::Ratings(rows) => rows
            .into_iter()
            .map(|(rating, cold_start)| Prediction::Rating {
                rating: rules.rating_range.map_or(rating, |(lo, hi)| rating.clamp(lo, hi)),
                cold_start,
            })
            .collect(),
        Outputs::Trends(rows) => rows.into_iter().enumerate().map(|(i, t)| trend(t, series.get(i))).collect(),
        Outputs::Recommendations(items, unknown) => vec![Prediction::Recommendations {
            user_id: user_id.unwrap_or_default().to_string(),
            cold_start: if unknown { "unknown_user" } else { "none" },
            items,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::ThresholdRule;

    fn spam_rules(threshold: f32) -> OutputRules {
        OutputRules {
            labels: vec!["ham".into(), "spam".into()],
            threshold: Some(ThresholdRule { index: 1, label: "spam".into(), other_label: "ham".into(), threshold }),
            rating_range: None,
        }
    }

    #[test]
    fn the_spam_decision_uses_the_threshold_from_model_json() {
        let out = |t: f32| {
            postprocess(ModelKind::Email, &spam_rules(t), Outputs::Probabilities(vec![vec![0.4, 0.6]]), &[], None)
        };
        assert!(matches!(&out(0.5)[0], Prediction::Spam { spam: true, label, .. } if label == "spam"));
        assert!(
            matches!(&out(0.7)[0], Prediction::Spam { spam: false, label, confidence, .. } if label == "ham" && (*confidence - 0.4).abs() < 1e-6)
        );
    }

    #[test]
    fn ratings_are_clamped_into_the_model_range() {
        let rules = OutputRules { rating_range: Some((1.0, 5.0)), ..OutputRules::default() };
        let out = postprocess(
            ModelKind::Recsys,
            &rules,
            Outputs::Ratings(vec![(5.7, ColdStart::None), (0.2, ColdStart::Both), (3.3, ColdStart::None)]),
            &[],
            None,
        );
        let r: Vec<f32> = out
            .iter()
            .filter_map(|p| if let Prediction::Rating { rating, .. } = p { Some(*rating) } else { None })
            .collect();
        assert_eq!(r, vec![5.0, 1.0, 3.3]);
    }

    #[test]
    fn topic_answers_list_the_three_best_labels() {
        let rules = OutputRules { labels: (0..5).map(|i| format!("l{i}")).collect(), ..OutputRules::default() };
        let out = postprocess(
            ModelKind::Topic,
            &rules,
            Outputs::Probabilities(vec![vec![0.1, 0.4, 0.05, 0.3, 0.15]]),
            &[],
            None,
        );
        let Prediction::Class { label, top_k: Some(top), .. } = &out[0] else { panic!("a class answer") };
        assert_eq!(label, "l1");
        assert_eq!(top.iter().map(|t| t.label.as_str()).collect::<Vec<_>>(), ["l1", "l3", "l4"]);
    }
}
