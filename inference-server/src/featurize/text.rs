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

/// Tokens of one text before truncation, and how many of them are outside the vocabulary
/// (id 0): the text models' drift inputs, counted while featurizing so no text is tokenized twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCount {
    /// Tokens of the whole text.
    pub tokens: u32,
    /// Of those, unknown to the vocabulary.
    pub unknown: u32,
}

impl TokenCount {
    /// Share of unknown tokens (0 for a text without tokens).
    pub fn unknown_share(self) -> f64 {
        if self.tokens == 0 {
            0.0
        } else {
            f64::from(self.unknown) / f64::from(self.tokens)
        }
    }
}

/// A ready text featurizer.
pub struct TextFeaturizer {
    tokenizer: Tokenizer,
    settings: TextSettings,
    /// Token -> id, for the ASCII fast path.
    vocab: std::collections::HashMap<String, u32>,
    /// Whether the tokenizer is the one `training/` writes (NFKC + lowercase, Whitespace
    /// pre-tokenizer, WordLevel), for which the fast path is exact.
    fast_path: bool,
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
        let fast_path = is_standard_word_level(tokenizer_json);
        let vocab = tokenizer.get_vocab(false);
        Ok(Self { tokenizer, settings, vocab, fast_path })
    }

    /// Token ids: through the tokenizer, or — for printable ASCII with the standard pipeline —
    /// by the equivalent direct split (NFKC is the identity on ASCII; `\w` is `[A-Za-z0-9_]`).
    fn token_ids(&self, text: &str) -> Result<Vec<u32>, FeaturizeError> {
        if self.fast_path && text.bytes().all(|b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r')) {
            return Ok(self.ascii_token_ids(text));
        }
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| FeaturizeError::Invalid(format!("text could not be tokenized: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Lowercase, split into runs of word characters and runs of other non-space characters,
    /// look each up (unknown -> 0). Exact for printable ASCII; see `token_ids`.
    pub fn ascii_token_ids(&self, text: &str) -> Vec<u32> {
        #[derive(PartialEq, Clone, Copy)]
        enum Class {
            Word,
            Punct,
            Space,
        }
        let class = |b: u8| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                Class::Word
            } else if b.is_ascii_whitespace() {
                Class::Space
            } else {
                Class::Punct
            }
        };
        let bytes = text.as_bytes();
        let mut ids = Vec::with_capacity(bytes.len() / 4 + 1);
        let mut token = String::with_capacity(32);
        let mut i = 0;
        while i < bytes.len() {
            let c = class(bytes[i]);
            if c == Class::Space {
                i += 1;
                continue;
            }
            token.clear();
            while i < bytes.len() && class(bytes[i]) == c {
                token.push(char::from(bytes[i].to_ascii_lowercase()));
                i += 1;
            }
            ids.push(self.vocab.get(token.as_str()).copied().unwrap_or(0));
        }
        ids
    }

    /// Sorted, unique feature ids of one text.
    pub fn features(&self, text: &str) -> Result<Vec<i64>, FeaturizeError> {
        self.features_counted(text).map(|(ids, _)| ids)
    }

    /// Sorted, unique feature ids of one text, and its token count.
    pub fn features_counted(&self, text: &str) -> Result<(Vec<i64>, TokenCount), FeaturizeError> {
        let ids = self.token_ids(text)?;
        let count = TokenCount {
            tokens: u32::try_from(ids.len()).unwrap_or(u32::MAX),
            unknown: u32::try_from(ids.iter().filter(|&&t| t == 0).count()).unwrap_or(u32::MAX),
        };
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
        Ok((out, count))
    }
}

/// Whether `tokenizer.json` is exactly the pipeline `training/text.py` builds: NFKC then
/// Lowercase, the Whitespace pre-tokenizer, a WordLevel model with `[UNK]` at id 0, nothing else.
fn is_standard_word_level(tokenizer_json: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(tokenizer_json) else { return false };
    let normalizers: Vec<&str> = v["normalizer"]["normalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n["type"].as_str()).collect())
        .unwrap_or_default();
    normalizers == ["NFKC", "Lowercase"]
        && v["pre_tokenizer"]["type"] == "Whitespace"
        && v["model"]["type"] == "WordLevel"
        && v["model"]["unk_token"] == "[UNK]"
        && v["model"]["vocab"]["[UNK]"] == 0
        && v["post_processor"].is_null()
        && v["truncation"].is_null()
        && v["added_tokens"].as_array().is_none_or(|a| a.iter().all(|t| t["content"] == "[UNK]"))
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

    fn featurizer(name: &str) -> TextFeaturizer {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models").join(name);
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
        let settings: TextSettings = serde_json::from_value(meta["featurizer"].clone()).unwrap();
        TextFeaturizer::new(&std::fs::read(dir.join("tokenizer.json")).unwrap(), settings).unwrap()
    }

    #[test]
    fn built_in_tokenizers_qualify_for_the_fast_path() {
        for kind in crate::package::ModelKind::ALL.into_iter().filter(|k| k.is_text()) {
            assert!(featurizer(kind.as_str()).fast_path, "{kind}");
        }
    }

    /// The ASCII fast path must give exactly what the Hugging Face tokenizer gives.
    #[test]
    fn ascii_fast_path_equals_the_tokenizer_on_generated_text() {
        let f = featurizer("sentiment");
        let alphabet: Vec<char> = " \t\n\rabcXYZ019_!?.,:;()'\"-@#$%^&*+=<>/\\|~`{}[]".chars().collect();
        let words = ["good", "NOT", "bad", "movie", "don't", "can't", ":)", "!!!", "A+", "x_y", "12.5", "e-mail"];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..(next() % 40) {
                if next() % 3 == 0 {
                    text.push_str(words[(next() % words.len() as u64) as usize]);
                } else {
                    text.push(alphabet[(next() % alphabet.len() as u64) as usize]);
                }
            }
            let slow = f.tokenizer.encode_fast(text.as_str(), false).unwrap().get_ids().to_vec();
            assert_eq!(f.ascii_token_ids(&text), slow, "{text:?}");
        }
    }

    #[test]
    fn pad_fills_short_rows_with_zero() {
        let (shape, data) = pad(&[vec![1, 2, 3], vec![4]]);
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(data, vec![1, 2, 3, 4, 0, 0]);
    }
}
