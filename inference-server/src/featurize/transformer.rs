//! Transformer text featurizer: a Hugging Face `tokenizer.json` (WordPiece, BPE, Unigram: what
//! Optimum exports beside the graph) into the `input_ids`, `attention_mask` and optional
//! `token_type_ids` tensors of a text classifier's graph.
//!
//! Each text is encoded with the tokenizer's own post-processor (`[CLS] ... [SEP]` for BERT) and
//! truncated by the tokenizer to `max_length` (its truncation keeps the special tokens); a batch
//! is padded to its longest row with the tokenizer's pad id, mask 0. The tokens of a text before
//! truncation (the drift feature `input_tokens`) are the non-special tokens of the encoding and of
//! its overflow.

use super::text::TokenCount;
use super::FeaturizeError;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// What the graph's first output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Raw scores (Optimum's `logits`): the server applies a softmax.
    Logits,
    /// Class probabilities already.
    Probabilities,
}

/// The featurizer section of a transformer package's `model.json` (`type: hf_transformer`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerSettings {
    /// Always `hf_transformer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tokenizer file (`tokenizer.json`).
    pub tokenizer: String,
    /// Most tokens per text fed to the graph, special tokens included (the model's maximum
    /// position embeddings, or less).
    pub max_length: usize,
    /// `logits` (default) or `probabilities`.
    #[serde(default = "logits")]
    pub output: OutputKind,
}

fn logits() -> OutputKind {
    OutputKind::Logits
}

/// The featurizer `type` of this family.
pub const TYPE: &str = "hf_transformer";

/// The graph's inputs, by their Optimum names.
pub const INPUT_IDS: &str = "input_ids";
/// 1 for a token, 0 for padding.
pub const ATTENTION_MASK: &str = "attention_mask";
/// Segment ids (all 0 for one text); only when the graph takes them.
pub const TOKEN_TYPE_IDS: &str = "token_type_ids";

/// A batch as the graph takes it: `[rows, width]` int64 tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// `[rows, width]`.
    pub shape: [usize; 2],
    /// Token ids, padded.
    pub ids: Vec<i64>,
    /// 1 for tokens, 0 for padding.
    pub mask: Vec<i64>,
    /// Each text's tokens before truncation and how many are unknown.
    pub counts: Vec<TokenCount>,
}

/// A ready transformer featurizer.
pub struct TransformerFeaturizer {
    tokenizer: Tokenizer,
    settings: TransformerSettings,
    pad_id: u32,
    unk_id: Option<u32>,
}

impl std::fmt::Debug for TransformerFeaturizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerFeaturizer").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl TransformerFeaturizer {
    /// Load the tokenizer and set its truncation to `max_length`; padding is done here, per batch.
    pub fn new(tokenizer_json: &[u8], settings: TransformerSettings) -> Result<Self, String> {
        if settings.kind != TYPE {
            return Err(format!("featurizer.type is '{}', expected '{TYPE}'", settings.kind));
        }
        if !(2..=8192).contains(&settings.max_length) {
            return Err(format!("featurizer.max_length must be between 2 and 8192, got {}", settings.max_length));
        }
        let mut tokenizer =
            Tokenizer::from_bytes(tokenizer_json).map_err(|e| format!("tokenizer.json does not load: {e}"))?;
        let pad_id = tokenizer.get_padding().map(|p| p.pad_id).or_else(|| tokenizer.token_to_id("[PAD]")).unwrap_or(0);
        let unk_id = ["[UNK]", "<unk>"].iter().find_map(|t| tokenizer.token_to_id(t));
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: settings.max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| format!("tokenizer truncation to featurizer.max_length: {e}"))?;
        Ok(Self { tokenizer, settings, pad_id, unk_id })
    }

    /// The settings from `model.json`.
    pub fn settings(&self) -> &TransformerSettings {
        &self.settings
    }

    /// The tokenizer's vocabulary size (special tokens included).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Encode `texts` into one padded batch.
    pub fn encode(&self, texts: &[&str]) -> Result<Encoded, FeaturizeError> {
        let mut rows: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
        let mut counts = Vec::with_capacity(texts.len());
        for text in texts {
            let encoding = self
                .tokenizer
                .encode_fast(*text, true)
                .map_err(|e| FeaturizeError::Invalid(format!("text could not be tokenized: {e}")))?;
            let mut count = TokenCount::default();
            for piece in std::iter::once(&encoding).chain(encoding.get_overflowing()) {
                for (id, special) in piece.get_ids().iter().zip(piece.get_special_tokens_mask()) {
                    if *special == 0 {
                        count.tokens = count.tokens.saturating_add(1);
                        if Some(*id) == self.unk_id {
                            count.unknown = count.unknown.saturating_add(1);
                        }
                    }
                }
            }
            rows.push(encoding.get_ids().to_vec());
            counts.push(count);
        }
        let width = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut ids = vec![i64::from(self.pad_id); rows.len() * width];
        let mut mask = vec![0i64; rows.len() * width];
        for (i, row) in rows.iter().enumerate() {
            for (j, id) in row.iter().enumerate() {
                ids[i * width + j] = i64::from(*id);
                mask[i * width + j] = 1;
            }
        }
        Ok(Encoded { shape: [rows.len(), width], ids, mask, counts })
    }
}

/// Softmax of each row of `width` logits, in place. Pure.
pub fn softmax_rows(flat: &mut [f32], width: usize) {
    for row in flat.chunks_mut(width.max(1)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        if sum > 0.0 {
            row.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut flat = [1.0, 2.0, 3.0, -1000.0, 0.0, 1000.0];
        softmax_rows(&mut flat, 3);
        assert!((flat[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(flat[0] < flat[1] && flat[1] < flat[2]);
        assert_eq!(flat[5], 1.0);
        assert!(flat.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn settings_name_the_family_and_refuse_unknown_fields() {
        let ok: TransformerSettings = serde_json::from_value(
            serde_json::json!({"type": "hf_transformer", "tokenizer": "tokenizer.json", "max_length": 128}),
        )
        .unwrap();
        assert_eq!(ok.output, OutputKind::Logits);
        let err = serde_json::from_value::<TransformerSettings>(serde_json::json!(
            {"type": "hf_transformer", "tokenizer": "tokenizer.json", "max_length": 128, "max_len": 3}
        ))
        .unwrap_err();
        assert!(err.to_string().contains("max_len"), "{err}");
    }
}
