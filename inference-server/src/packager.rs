//! The packager: a team's exported classifier (its `model.onnx`, side files and a draft
//! `model.json`) plus a held-out sample becomes a complete package, computed by the server's own
//! code: the graph loaded and run as the server runs it, the probabilities the server answers (after the same input checks),
//! the drift features the server counts. It writes the `sha256`, the held-out `metrics`
//! (accuracy, macro F1, per-class recall, calibration), the drift references (bins from the
//! held-out quantiles) and `golden.json`, then loads the result as the server would, so a package
//! it writes is one the server accepts.
//!
//! Classifiers: text (sentiment, topic, email; hashed n-gram and transformer families) and
//! tabular (`featurizer.type: tabular`: a reference per feature column, quantile bins for a
//! numeric one, the share of each code for a categorical one). Recsys and trend packages are
//! still made by `training/`.

use crate::featurize::tabular;
use crate::models::{LoadedModel, Model};
use crate::package::{ModelKind, ModelMeta, PackageFiles};
use crate::predict::prediction::argmax;
use crate::predict::{email_text, Items, Limits};
use crate::reference::Bins;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Why a package could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The inputs are not usable; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The model does not load or run.
    #[error("the model does not load: {0}")]
    Load(String),
}

/// One held-out example: a request item (as `/predict` takes it) and its true label.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// The item, e.g. `{"text": "..."}`, `{"subject": "...", "body": "..."}`, or a tabular row
    /// (`{"feature": value, ...}` or `[value, ...]`).
    pub input: Value,
    /// The true label (one of the package's labels).
    pub label: String,
}

/// Bins per numeric drift feature (at most; equal held-out values share an edge).
pub const REFERENCE_BINS: usize = 10;
/// Calibration bins of top-class confidence, as `training/calibration.py`.
pub const CALIBRATION_BINS: usize = 15;
/// Golden cases written (the first held-out examples).
pub const GOLDEN_CASES: usize = 32;
/// Items per run through the server's prediction path.
const CHUNK: usize = 256;

/// Bin edges at the held-out quantiles: at most `bins` bins, strictly increasing, finite. Pure.
pub fn quantile_edges(values: &[f64], bins: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return vec![0.0];
    }
    let mut edges: Vec<f64> = (1..bins.max(2))
        .map(|i| sorted[(i * (sorted.len() - 1)) / bins.max(2)])
        .map(|v| (v * 1e6).round() / 1e6)
        .collect();
    edges.dedup();
    edges
}

/// Shares of `values` per bin of `edges` (the server's binning rule), rounded to 6 decimals and
/// summing to 1. Pure.
pub fn shares(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = Bins::Edges(edges.to_vec());
    let mut counts = vec![0usize; edges.len() + 1];
    for v in values {
        counts[bins.bin(*v).min(edges.len())] += 1;
    }
    normalized(&counts)
}

/// Counts as shares rounded to 6 decimals, the rounding remainder on the largest. Pure.
pub fn normalized(counts: &[usize]) -> Vec<f64> {
    let total = counts.iter().sum::<usize>().max(1) as f64;
    let mut s: Vec<f64> = counts.iter().map(|c| (*c as f64 / total * 1e6).round() / 1e6).collect();
    if let Some(i) = (0..s.len()).max_by(|a, b| s[*a].total_cmp(&s[*b])) {
        s[i] = ((s[i] + 1.0 - s.iter().sum::<f64>()) * 1e6).round() / 1e6;
    }
    s
}

/// Held-out classification metrics: accuracy, macro F1, per-class recall, mean confidence,
/// expected calibration error and the reliability table (`training/calibration.py`'s format).
/// `truth` and `predicted` are label indices. Pure.
pub fn classification_metrics(labels: &[String], truth: &[usize], predicted: &[usize], confidence: &[f64]) -> Value {
    let n = truth.len().max(1) as f64;
    let correct: Vec<bool> = truth.iter().zip(predicted).map(|(t, p)| t == p).collect();
    let accuracy = correct.iter().filter(|c| **c).count() as f64 / n;
    let mut recall = serde_json::Map::new();
    let mut f1_sum = 0.0;
    for (i, label) in labels.iter().enumerate() {
        let tp = truth.iter().zip(predicted).filter(|(t, p)| **t == i && **p == i).count() as f64;
        let actual = truth.iter().filter(|t| **t == i).count() as f64;
        let said = predicted.iter().filter(|p| **p == i).count() as f64;
        let r = if actual > 0.0 { tp / actual } else { 0.0 };
        let p = if said > 0.0 { tp / said } else { 0.0 };
        f1_sum += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
        recall.insert(label.clone(), json!(round4(r)));
    }
    let mut table = Vec::new();
    let mut ece = 0.0;
    for b in 0..CALIBRATION_BINS {
        let (lo, hi) = (b as f64 / CALIBRATION_BINS as f64, (b + 1) as f64 / CALIBRATION_BINS as f64);
        let members: Vec<usize> =
            (0..confidence.len()).filter(|i| confidence[*i] > lo && confidence[*i] <= hi).collect();
        if members.is_empty() {
            continue;
        }
        let m = members.len() as f64;
        let acc = members.iter().filter(|i| correct[**i]).count() as f64 / m;
        let conf = members.iter().map(|i| confidence[*i]).sum::<f64>() / m;
        ece += m / n * (acc - conf).abs();
        table.push(json!({"confidence_from": round4(lo), "confidence_to": round4(hi), "count": members.len(),
            "accuracy": round4(acc), "mean_confidence": round4(conf)}));
    }
    json!({
        "held_out_examples": truth.len(),
        "accuracy": round4(accuracy),
        "macro_f1": round4(f1_sum / labels.len().max(1) as f64),
        "per_class_recall": recall,
        "mean_confidence": round4(confidence.iter().sum::<f64>() / n),
        "ece": round4(ece),
        "calibration": {"bins": CALIBRATION_BINS, "method": "equal-width bins of top-class confidence", "table": table},
    })
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// A numeric drift reference from held-out values.
fn numeric_reference(name: &str, side: &str, values: &[f64]) -> Value {
    let edges = quantile_edges(values, REFERENCE_BINS);
    json!({"name": name, "side": side, "edges": edges, "shares": shares(values, &edges), "count": values.len()})
}

/// A categorical column's reference: the share of each code, then of any other value.
fn categorical_reference(name: &str, codes: &[f64], values: &[f64]) -> Value {
    let mut counts = vec![0usize; codes.len() + 1];
    for v in values {
        counts[crate::featurize::tabular::category_bin(codes, *v as f32)] += 1;
    }
    let labels: Vec<String> =
        codes.iter().map(|c| format!("{c}")).chain(std::iter::once(tabular::OTHER_CATEGORY.to_string())).collect();
    json!({"name": name, "side": "input", "categories": labels, "shares": normalized(&counts), "count": values.len()})
}

/// What one held-out example gave through the server's code.
struct Observed {
    label: usize,
    confidence: f64,
    probabilities: Vec<f32>,
    /// Text models: tokens and the unknown share; tabular: the row as the graph read it.
    inputs: Inputs,
}

enum Inputs {
    Text { tokens: f64, unknown_share: f64 },
    Row(Vec<f32>),
}

impl Observed {
    fn new(probabilities: Vec<f32>, inputs: Inputs) -> Self {
        // As the server's drift counters: the arg-max label and its probability.
        let (label, confidence) = argmax(&probabilities).unwrap_or((0, 0.0));
        Self { label, confidence: f64::from(confidence), probabilities, inputs }
    }

    fn text(&self) -> (f64, f64) {
        match self.inputs {
            Inputs::Text { tokens, unknown_share } => (tokens, unknown_share),
            Inputs::Row(_) => (0.0, 0.0),
        }
    }

    fn cell(&self, column: usize) -> f64 {
        match &self.inputs {
            Inputs::Row(row) => row.get(column).copied().map_or(0.0, f64::from),
            Inputs::Text { .. } => 0.0,
        }
    }
}

/// Make the package: `files` holds `model.onnx`, the side files and the draft `model.json`
/// (kind, name, version, labels, featurizer, inputs, outputs; no sha256, metrics or
/// references needed). Returns the complete `model.json` and `golden.json`.
pub fn make(files: &PackageFiles, examples: &[Example]) -> Result<(Value, Value), PackError> {
    let mut draft: Value =
        serde_json::from_slice(files.file("model.json").map_err(|e| PackError::Invalid(e.to_string()))?)
            .map_err(|e| PackError::Invalid(format!("model.json: {e}")))?;
    let onnx = files.file("model.onnx").map_err(|e| PackError::Invalid(e.to_string()))?;
    let sha = hex::encode(Sha256::digest(onnx));
    draft["sha256"] = json!(sha);
    draft["format"] = json!(inferwatch_monitoring::package::FORMAT);
    let meta: ModelMeta =
        serde_json::from_value(draft.clone()).map_err(|e| PackError::Invalid(format!("model.json: {e}")))?;
    if !meta.kind.is_classifier() {
        return Err(PackError::Invalid(format!(
            "the packager makes classifier packages (sentiment, topic, email, tabular); {} packages come from training/",
            meta.kind.as_str()
        )));
    }
    if examples.is_empty() {
        return Err(PackError::Invalid("the held-out sample is empty".into()));
    }
    let labels = meta.labels.clone();
    let truth = examples
        .iter()
        .enumerate()
        .map(|(i, e)| {
            labels.iter().position(|l| *l == e.label).ok_or_else(|| {
                PackError::Invalid(format!("held-out line {}: label '{}' is not one of {labels:?}", i + 1, e.label))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let source = "packager".to_string();
    let (model, _) =
        LoadedModel::build(meta.clone(), files, source, None).map_err(|e| PackError::Load(e.to_string()))?;
    let mut observed = Vec::with_capacity(examples.len());
    for (c, chunk) in examples.chunks(CHUNK).enumerate() {
        observed.extend(run_chunk(&model, meta.kind, chunk, c * CHUNK)?);
    }

    let predicted: Vec<usize> = observed.iter().map(|o| o.label).collect();
    let confidence: Vec<f64> = observed.iter().map(|o| o.confidence).collect();
    let label_counts: Vec<usize> = (0..labels.len()).map(|i| predicted.iter().filter(|p| **p == i).count()).collect();
    let mut features = match &model.model {
        Model::Tabular(t) => t
            .columns()
            .all()
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let values: Vec<f64> = observed.iter().map(|o| o.cell(j)).collect();
                match &c.categories {
                    Some(codes) => categorical_reference(&c.name, codes, &values),
                    None => numeric_reference(&c.name, "input", &values),
                }
            })
            .collect(),
        _ => vec![
            numeric_reference("input_tokens", "input", &observed.iter().map(|o| o.text().0).collect::<Vec<_>>()),
            numeric_reference("unknown_token_share", "input", &observed.iter().map(|o| o.text().1).collect::<Vec<_>>()),
        ],
    };
    if meta.kind == ModelKind::Email {
        let chars = |field: &str| -> Vec<f64> {
            examples.iter().map(|e| e.input[field].as_str().map_or(0, |s| s.chars().count()) as f64).collect()
        };
        features.push(numeric_reference("subject_chars", "input", &chars("subject")));
        features.push(numeric_reference("body_chars", "input", &chars("body")));
    }
    features.push(json!({"name": "predicted_label", "side": "prediction", "categories": labels,
        "shares": normalized(&label_counts), "count": examples.len()}));
    features.push(numeric_reference("confidence", "prediction", &confidence));
    let frequencies: serde_json::Map<String, Value> =
        labels.iter().zip(normalized(&label_counts)).map(|(l, s)| (l.clone(), json!(s))).collect();
    draft["metrics"] = classification_metrics(&labels, &truth, &predicted, &confidence);
    draft["reference_distribution"] = json!({"predicted_label_frequencies": frequencies, "features": features});
    let cases: Vec<Value> = examples
        .iter()
        .zip(&observed)
        .take(GOLDEN_CASES)
        .map(|(e, o)| json!({"input": e.input, "probabilities": o.probabilities}))
        .collect();
    let golden = json!({"model": meta.name, "tolerance": 1e-4, "cases": cases});
    Ok((draft, golden))
}

/// Run one chunk through the server's prediction path (the answers clients get) and the model's
/// own featurizer (the token counts the drift metrics count).
fn run_chunk(
    model: &LoadedModel,
    kind: ModelKind,
    chunk: &[Example],
    offset: usize,
) -> Result<Vec<Observed>, PackError> {
    let list: Vec<Value> = chunk.iter().map(|e| e.input.clone()).collect();
    let body = serde_json::to_string(&json!({ "inputs": list })).map_err(|e| PackError::Invalid(e.to_string()))?;
    let lines = format!("held-out lines {}-{}", offset + 1, offset + chunk.len());
    let request = crate::predict::items::decode_body(kind, &body, chunk.len()).map_err(|e| {
        PackError::Invalid(match e {
            crate::predict::items::BodyError::Syntax(m) => format!("{lines}: {m}"),
            crate::predict::items::BodyError::Request(e) => format!("{lines}: {e}"),
        })
    })?;
    // The refusals a request gets (empty text, sizes), then one run of the model's own code.
    let limits = Limits { max_batch_items: chunk.len(), max_text_bytes: usize::MAX, dynamic_batching: false };
    crate::predict::validate(&request, kind, limits).map_err(|e| PackError::Invalid(format!("{lines}: {e}")))?;
    let failed = |e: &dyn std::fmt::Display| PackError::Invalid(format!("{lines}: {e}"));
    match (&model.model, &request.items) {
        (Model::Text(text), Items::Text(_) | Items::Email(_)) => {
            let texts: Vec<String> = match &request.items {
                Items::Email(e) => e.iter().map(email_text).collect(),
                Items::Text(t) => t.clone(),
                _ => Vec::new(),
            };
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let (rows, counts) = text.predict(&refs, &mut Default::default()).map_err(|e| failed(&e))?;
            Ok(rows
                .into_iter()
                .zip(counts)
                .map(|(p, count)| {
                    let inputs = Inputs::Text { tokens: f64::from(count.tokens), unknown_share: count.unknown_share() };
                    Observed::new(p, inputs)
                })
                .collect())
        }
        (Model::Tabular(table), Items::Tabular(rows)) => {
            let matrix = table.matrix(rows, true).map_err(|e| failed(&e))?;
            let probabilities = table.predict(&matrix, &mut Default::default()).map_err(|e| failed(&e))?;
            let width = table.columns().len();
            Ok(probabilities
                .into_iter()
                .zip(matrix.chunks(width))
                .map(|(p, row)| Observed::new(p, Inputs::Row(row.to_vec())))
                .collect())
        }
        _ => Err(PackError::Invalid(format!("{lines}: the inputs do not suit a {} model", kind.as_str()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_edges_are_strictly_increasing_and_bounded() {
        let values: Vec<f64> = (0..1000).map(|i| f64::from(i % 37)).collect();
        let edges = quantile_edges(&values, 10);
        assert!(edges.len() <= 9 && edges.windows(2).all(|w| w[0] < w[1]), "{edges:?}");
        assert_eq!(quantile_edges(&[3.0; 50], 10), vec![3.0], "equal values share one edge");
        assert_eq!(quantile_edges(&[f64::NAN], 10), vec![0.0]);
    }

    #[test]
    fn shares_follow_the_servers_binning_and_sum_to_one() {
        let s = shares(&[0.5, 1.0, 1.5, 2.0, 4.0, 9.0], &[1.0, 2.0, 4.0]);
        assert_eq!(s.len(), 4);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s, [0.333333, 0.333333, 0.166667, 0.166667], "0.5 and 1.0 (on its edge) in the first bin");
        let n = normalized(&[1, 1, 1]);
        assert_eq!(n, [0.333333, 0.333333, 0.333334], "the rounding remainder goes to a largest share");
    }

    #[test]
    fn metrics_count_accuracy_recall_and_calibration() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let m = classification_metrics(&labels, &[0, 0, 1, 1], &[0, 1, 1, 1], &[0.9, 0.6, 0.8, 0.7]);
        assert_eq!(m["accuracy"], 0.75);
        assert_eq!(m["per_class_recall"]["a"], 0.5);
        assert_eq!(m["per_class_recall"]["b"], 1.0);
        assert_eq!(m["held_out_examples"], 4);
        let counted: u64 =
            m["calibration"]["table"].as_array().unwrap().iter().map(|r| r["count"].as_u64().unwrap()).sum();
        assert_eq!(counted, 4);
        assert!(m["ece"].as_f64().unwrap() >= 0.0);
    }
}
