//! Text featurizer: Hugging Face tokenizer, hashed bigrams, binary feature ids.
//!
//! The contract (see `training/text.py`): tokenize; keep the first `max_tokens` ids; features
//! are the known unigram ids plus `vocab_size + (a * 1000003 + b) % bigram_buckets` for each
//! adjacent pair of known tokens; sorted, deduplicated; an empty set becomes `[0]`.

use super::FeaturizeError;
use serde::Deserialize;
use tokenizers::Tokenizer;

const BIGRAM_PRIME: u64 = 1_000_003;

/// The featurizer section of a text model's `model.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct TextSettings {
    /// Tokens kept per text.
    pub max_tokens: usize,
    /// Tokenizer vocabulary size; bigram ids start here.
    pub vocab_size: u64,
    /// Number of hashed bigram buckets (0: unigrams only).
    pub bigram_buckets: u64,
}

/// A ready text featurizer.
pub struct TextFeaturizer {
    tokenizer: Tokenizer,
    settings: TextSettings,
}

impl std::fmt::Debug for TextFeaturizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextFeaturizer").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl TextFeaturizer {
    /// Build from `tokenizer.json` bytes and the settings; checks they agree.
    pub fn new(tokenizer_json: &[u8], settings: TextSettings) -> Result<Self, String> {
        let tokenizer = Tokenizer::from_bytes(tokenizer_json).map_err(|e| e.to_string())?;
        let vocab = tokenizer.get_vocab_size(true) as u64;
        if vocab != settings.vocab_size {
            return Err(format!("tokenizer has {vocab} tokens, model.json says {}", settings.vocab_size));
        }
        Ok(Self { tokenizer, settings })
    }

    /// Sorted, unique feature ids of one text.
    pub fn features(&self, text: &str) -> Result<Vec<i64>, FeaturizeError> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| FeaturizeError::Invalid(format!("text could not be tokenized: {e}")))?;
        let ids = encoding.get_ids();
        let ids = &ids[..ids.len().min(self.settings.max_tokens)];
        let mut out: Vec<i64> = ids.iter().filter(|&&t| t != 0).map(|&t| i64::from(t)).collect();
        if self.settings.bigram_buckets > 0 {
            let (vocab, buckets) = (self.settings.vocab_size, self.settings.bigram_buckets);
            for pair in ids.windows(2) {
                let (a, b) = (u64::from(pair[0]), u64::from(pair[1]));
                if a != 0 && b != 0 {
                    out.push((vocab + (a * BIGRAM_PRIME + b) % buckets) as i64);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            out.push(0);
        }
        Ok(out)
    }
}

/// Pad rows of feature ids with 0 (a zero-weight id) into one row-major `[rows, width]` batch.
pub fn pad(rows: &[Vec<i64>]) -> (Vec<usize>, Vec<i64>) {
    let width = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut data = vec![0i64; rows.len() * width];
    for (i, r) in rows.iter().enumerate() {
        data[i * width..i * width + r.len()].copy_from_slice(r);
    }
    (vec![rows.len(), width], data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_fills_short_rows_with_zero() {
        let (shape, data) = pad(&[vec![1, 2, 3], vec![4]]);
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(data, vec![1, 2, 3, 4, 0, 0]);
    }
}
