//! Text classifiers (sentiment, topic, email), in two families named by `featurizer.type`:
//! `hashed_ngram_tfidf` (the built-ins: featurize -> Gather/ReduceSum/Softmax graph, class-major
//! weight table, see `training/text.py` `export_onnx`) and `hf_transformer` (a Hugging Face
//! tokenizer and a transformer graph as Optimum exports it, see [`transformer`]).

use super::{LoadError, ModelError};
use crate::batcher::{Batched, Batcher};
use crate::featurize::text::{pad, TextFeaturizer, TextSettings, TokenCount};
use crate::featurize::transformer::{self, softmax_rows, OutputKind, TransformerFeaturizer, TransformerSettings};
use crate::featurize::FeaturizeError;
use crate::package::{section, ModelMeta, PackageFiles};
use crate::runtime::{split_rows, Plan};
use crate::telemetry::cpu_time::CpuSampler;
use crate::telemetry::Stages;

/// Most texts in one run of a transformer graph (a request's texts run in chunks of it).
pub const TRANSFORMER_ROWS_PER_RUN: usize = 8;

/// A loaded text classifier.
#[derive(Debug)]
pub struct TextModel {
    encoder: Encoder,
    plan: Plan,
    /// Class labels in output order.
    pub labels: Vec<String>,
    /// Queue that lets concurrent requests share one run (see [`crate::batcher`]).
    batcher: Batcher,
}

/// How texts become the graph's inputs: the family, named by `featurizer.type` in `model.json`.
#[derive(Debug)]
enum Encoder {
    /// `hashed_ngram_tfidf`: the built-in models' sorted feature ids (`ids`).
    Hashed(TextFeaturizer),
    /// `hf_transformer`: a Hugging Face tokenizer into `input_ids`, `attention_mask` and
    /// optionally `token_type_ids`, in the graph's input order.
    Transformer { featurizer: TransformerFeaturizer, inputs: Vec<TransformerInput> },
}

/// One input of a transformer graph.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TransformerInput {
    Ids,
    Mask,
    TypeIds,
}

impl TextModel {
    /// Build from the package; the tokenizer must agree with `model.json` and the graph.
    pub fn new(meta: &ModelMeta, files: &PackageFiles, plan: Plan) -> Result<Self, LoadError> {
        if meta.labels.len() < 2 {
            return Err(LoadError::Invalid("a classifier needs at least two labels".into()));
        }
        let family = meta.featurizer.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        let encoder = if family == transformer::TYPE {
            let settings: TransformerSettings = section(&meta.featurizer, "model.json")?;
            let featurizer =
                TransformerFeaturizer::new(files.file("tokenizer.json")?, settings).map_err(LoadError::Invalid)?;
            let inputs = transformer_inputs(plan.input_names())?;
            check_vocabulary(&plan, &inputs, featurizer.vocab_size())?;
            Encoder::Transformer { featurizer, inputs }
        } else {
            let settings: TextSettings = section(&meta.featurizer, "model.json")?;
            Encoder::Hashed(TextFeaturizer::new(files.file("tokenizer.json")?, settings).map_err(LoadError::Invalid)?)
        };
        Ok(Self { encoder, plan, labels: meta.labels.clone(), batcher: Batcher::default() })
    }

    /// Whether concurrent requests can share a run (the hashed family; a transformer's run is
    /// long enough to go to the blocking pool instead).
    pub fn batches(&self) -> bool {
        matches!(self.encoder, Encoder::Hashed(_))
    }

    /// Feature ids of each text (one row per text), and each text's token count (the hashed
    /// family, for the shared runs of [`Self::predict_batched`]).
    pub fn featurize(&self, texts: &[&str]) -> Result<(Vec<Vec<i64>>, Vec<TokenCount>), FeaturizeError> {
        let Encoder::Hashed(featurizer) = &self.encoder else {
            return Err(FeaturizeError::Invalid("this model's texts are encoded per batch, not per row".into()));
        };
        let mut rows = Vec::with_capacity(texts.len());
        let mut counts = Vec::with_capacity(texts.len());
        for t in texts {
            let (row, count) = featurizer.features_counted(t)?;
            rows.push(row);
            counts.push(count);
        }
        Ok((rows, counts))
    }

    /// Class probabilities for each text, in label order, from a run of its own; and each
    /// text's token count.
    pub fn predict(&self, texts: &[&str], stages: &mut Stages) -> Result<(Vec<Vec<f32>>, Vec<TokenCount>), ModelError> {
        match &self.encoder {
            Encoder::Hashed(_) => {
                let (rows, counts) = stages.time(|s| &mut s.featurize, || self.featurize(texts))?;
                let (shape, data) = pad(&rows);
                let flat = stages.time(|s| &mut s.infer, || self.plan.run_i64(&[(&shape, &data)]))?;
                Ok((stages.time(|s| &mut s.postprocess, || split_rows(&flat, self.labels.len())), counts))
            }
            Encoder::Transformer { featurizer, inputs } => {
                // At most TRANSFORMER_ROWS_PER_RUN texts per run: attention holds rows x heads x
                // width^2 scores, so a request's memory is bounded by the chunk, not the request.
                let width = self.labels.len();
                let mut rows = Vec::with_capacity(texts.len());
                let mut counts = Vec::with_capacity(texts.len());
                for chunk in texts.chunks(TRANSFORMER_ROWS_PER_RUN) {
                    let encoded = stages.time(|s| &mut s.featurize, || featurizer.encode(chunk))?;
                    let mut flat = stages.time(
                        |s| &mut s.infer,
                        || run_transformer(&self.plan, inputs, encoded.shape, &encoded.ids, &encoded.mask),
                    )?;
                    stages.time(
                        |s| &mut s.postprocess,
                        || {
                            if featurizer.settings().output == OutputKind::Logits {
                                softmax_rows(&mut flat, width);
                            }
                            rows.extend(split_rows(&flat, width));
                        },
                    );
                    counts.extend(encoded.counts);
                }
                Ok((rows, counts))
            }
        }
    }

    /// Class probabilities for featurized rows, from a run shared with concurrent requests.
    pub async fn predict_batched(&self, rows: Vec<Vec<i64>>, cpu: Option<&CpuSampler>) -> Result<Batched, ModelError> {
        Ok(self.batcher.run(&self.plan, self.labels.len(), rows, cpu).await?)
    }
}

/// Run a transformer graph on a `[rows, width]` batch, its inputs in the graph's order
/// (`token_type_ids` all 0).
fn run_transformer(
    plan: &Plan,
    inputs: &[TransformerInput],
    shape: [usize; 2],
    ids: &[i64],
    mask: &[i64],
) -> Result<Vec<f32>, crate::runtime::RuntimeError> {
    let zeros = vec![0i64; ids.len()];
    let tensors: Vec<(&[usize], &[i64])> = inputs
        .iter()
        .map(|i| match i {
            TransformerInput::Ids => (&shape[..], ids),
            TransformerInput::Mask => (&shape[..], mask),
            TransformerInput::TypeIds => (&shape[..], zeros.as_slice()),
        })
        .collect();
    plan.run_i64(&tensors)
}

/// The tokenizer's largest id must be one the graph takes: a tokenizer from another model has
/// ids past the graph's embedding table, which no request may reach. Checked once at load by
/// running that id; tract indexes the table with bounds checks, so a table too small for it
/// unwinds here, at load, instead of in a request.
fn check_vocabulary(plan: &Plan, inputs: &[TransformerInput], vocab_size: usize) -> Result<(), LoadError> {
    let last = i64::try_from(vocab_size.saturating_sub(1)).unwrap_or(i64::MAX);
    let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_transformer(plan, inputs, [1, 2], &[0, last], &[1, 1])
    }));
    match probe {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(LoadError::Invalid(format!(
            "tokenizer.json has {vocab_size} tokens, but the graph does not run on id {last}: a tokenizer that does not match the model ({e})"
        ))),
        Err(_) => Err(LoadError::Invalid(format!(
            "tokenizer.json has {vocab_size} tokens, but the graph's embedding table is smaller: a tokenizer that does not match the model"
        ))),
    }
}

/// The roles of a transformer graph's inputs, in its order: `input_ids` and `attention_mask`
/// required, `token_type_ids` optional, nothing else.
fn transformer_inputs(names: &[String]) -> Result<Vec<TransformerInput>, LoadError> {
    let roles = names
        .iter()
        .map(|n| match n.as_str() {
            transformer::INPUT_IDS => Ok(TransformerInput::Ids),
            transformer::ATTENTION_MASK => Ok(TransformerInput::Mask),
            transformer::TOKEN_TYPE_IDS => Ok(TransformerInput::TypeIds),
            other => Err(LoadError::Invalid(format!(
                "the graph's input '{other}' is not one a transformer text classifier takes (input_ids, attention_mask, token_type_ids)"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (role, name) in [(TransformerInput::Ids, "input_ids"), (TransformerInput::Mask, "attention_mask")] {
        if !roles.contains(&role) {
            return Err(LoadError::Invalid(format!("the graph has no '{name}' input (its inputs: {names:?})")));
        }
    }
    Ok(roles)
}
