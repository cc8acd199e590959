//! Model packages as the server holds them: the files, their checks at load, and the output
//! rules read from `model.json` (whose type, [`ModelMeta`], is the shared contract in
//! `inferwatch_monitoring::package`; docs/model-package.md).

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// `model.json`: the package contract's one definition.
pub use inferwatch_monitoring::package::{Dim, ModelMeta, TensorSpec};
/// The model kinds: the serving contract's one definition.
pub use inferwatch_monitoring::serving::ModelKind;

/// How a spam classifier decides (`model.json` `email`): `label` when its probability reaches
/// `threshold`, the other label otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdRule {
    /// Index of the positive label in the output row.
    pub index: usize,
    /// The positive label (`spam`).
    pub label: String,
    /// The other label (`ham`).
    pub other_label: String,
    /// Probability at or above which the positive label is chosen.
    pub threshold: f32,
}

/// How raw model outputs become answers, read once from `model.json` at load.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputRules {
    /// Class labels in output order (classifiers).
    pub labels: Vec<String>,
    /// The spam decision (email).
    pub threshold: Option<ThresholdRule>,
    /// Ratings are clamped into this range (recsys `rating_range`).
    pub rating_range: Option<(f32, f32)>,
}

#[derive(Deserialize)]
struct EmailSection {
    spam_label: String,
    threshold: f32,
}

#[derive(Deserialize)]
struct RecsysSection {
    rating_range: (f32, f32),
}

impl OutputRules {
    /// Read the rules of `meta`'s kind; a classifier package without them is invalid.
    pub fn from_meta(meta: &ModelMeta) -> Result<Self, PackageError> {
        let invalid = |reason: String| PackageError::Invalid { file: "model.json", reason };
        let mut rules = Self { labels: meta.labels.clone(), ..Self::default() };
        match meta.kind {
            ModelKind::Email => {
                let e: EmailSection = section(
                    meta.email.as_ref().ok_or_else(|| invalid("an email model needs an `email` section".into()))?,
                    "model.json",
                )?;
                if !(0.0..=1.0).contains(&e.threshold) {
                    return Err(invalid(format!("email.threshold must be in [0, 1], got {}", e.threshold)));
                }
                let index = meta.labels.iter().position(|l| *l == e.spam_label).ok_or_else(|| {
                    invalid(format!("email.spam_label '{}' is not one of the labels {:?}", e.spam_label, meta.labels))
                })?;
                let others: Vec<&String> = meta.labels.iter().filter(|l| **l != e.spam_label).collect();
                let [other] = others.as_slice() else {
                    return Err(invalid(format!("an email model has two labels, got {:?}", meta.labels)));
                };
                rules.threshold = Some(ThresholdRule {
                    index,
                    label: e.spam_label,
                    other_label: (*other).clone(),
                    threshold: e.threshold,
                });
            }
            ModelKind::Recsys => {
                if let Some(r) = &meta.recsys {
                    let r: RecsysSection = section(r, "model.json")?;
                    let (lo, hi) = r.rating_range;
                    if !lo.is_finite() || !hi.is_finite() || lo >= hi {
                        return Err(invalid(format!("recsys.rating_range {:?} is empty", r.rating_range)));
                    }
                    rules.rating_range = Some(r.rating_range);
                }
            }
            ModelKind::Sentiment | ModelKind::Topic | ModelKind::Trend | ModelKind::Tabular => {}
        }
        Ok(rules)
    }
}

/// The raw files of one package, as fetched from a store.
#[derive(Debug, Clone, Default)]
pub struct PackageFiles {
    /// File name -> bytes (`model.json`, `model.onnx`, `tokenizer.json`, `encoders.json`).
    pub files: BTreeMap<String, Vec<u8>>,
}

/// What can be wrong with a package.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A required file is absent.
    #[error("model package is missing {0}")]
    MissingFile(&'static str),
    /// A file does not parse.
    #[error("model package file {file} is invalid: {reason}")]
    Invalid {
        /// The file.
        file: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `model.onnx` does not match the checksum in `model.json`.
    #[error("model.onnx sha256 is {actual}, model.json says {expected}")]
    Checksum {
        /// From `model.json`.
        expected: String,
        /// Computed.
        actual: String,
    },
}

impl PackageFiles {
    /// Total size of the package in bytes (what the cache limit counts).
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|f| f.len() as u64).sum()
    }

    /// A required file.
    pub fn file(&self, name: &'static str) -> Result<&[u8], PackageError> {
        self.files.get(name).map(Vec::as_slice).ok_or(PackageError::MissingFile(name))
    }

    /// Parse a required JSON file.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &'static str) -> Result<T, PackageError> {
        serde_json::from_slice(self.file(name)?)
            .map_err(|e| PackageError::Invalid { file: name, reason: e.to_string() })
    }

    /// Parse `model.json`, check its format version and verify the sha256 of `model.onnx`
    /// against it.
    pub fn verified_meta(&self) -> Result<ModelMeta, PackageError> {
        let meta: ModelMeta = self.json("model.json")?;
        inferwatch_monitoring::package::check_format(meta.format.as_deref())
            .map_err(|reason| PackageError::Invalid { file: "model.json", reason })?;
        let actual = hex::encode(Sha256::digest(self.file("model.onnx")?));
        if !actual.eq_ignore_ascii_case(&meta.sha256) {
            return Err(PackageError::Checksum { expected: meta.sha256.clone(), actual });
        }
        Ok(meta)
    }
}

/// Read a typed section out of a JSON settings value.
pub fn section<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    file: &'static str,
) -> Result<T, PackageError> {
    serde_json::from_value(value.clone()).map_err(|e| PackageError::Invalid { file, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(onnx: &[u8], sha: &str) -> PackageFiles {
        let meta = serde_json::json!({"kind": "trend", "name": "t", "version": "1", "featurizer": {}, "sha256": sha});
        let mut p = PackageFiles::default();
        p.files.insert("model.json".into(), serde_json::to_vec(&meta).unwrap());
        p.files.insert("model.onnx".into(), onnx.to_vec());
        p
    }

    #[test]
    fn checksum_mismatch_is_rejected_with_both_values() {
        let err = package(b"abc", "00").verified_meta().unwrap_err();
        assert!(matches!(err, PackageError::Checksum { .. }));
        assert!(err.to_string().contains("ba7816bf"), "{err}");
    }

    #[test]
    fn matching_checksum_is_accepted() {
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(package(b"abc", sha).verified_meta().unwrap().name, "t");
    }

    #[test]
    fn email_rules_come_from_model_json_and_are_checked() {
        let meta = |email: serde_json::Value| -> ModelMeta {
            serde_json::from_value(serde_json::json!({"kind": "email", "name": "e", "version": "1", "featurizer": {},
                "sha256": "", "labels": ["ham", "spam"], "email": email}))
            .unwrap()
        };
        let rules = OutputRules::from_meta(&meta(serde_json::json!({"spam_label": "spam", "threshold": 0.7}))).unwrap();
        assert_eq!(
            rules.threshold,
            Some(ThresholdRule { index: 1, label: "spam".into(), other_label: "ham".into(), threshold: 0.7 })
        );
        let err =
            OutputRules::from_meta(&meta(serde_json::json!({"spam_label": "junk", "threshold": 0.5}))).unwrap_err();
        assert!(err.to_string().contains("'junk' is not one of the labels"), "{err}");
        let err = OutputRules::from_meta(&meta(serde_json::json!({"spam_label": "spam", "threshold": 2}))).unwrap_err();
        assert!(err.to_string().contains("threshold must be in [0, 1]"), "{err}");
        let err = OutputRules::from_meta(&meta(serde_json::Value::Null)).unwrap_err();
        assert!(err.to_string().contains("needs an `email` section"), "{err}");
    }

    #[test]
    fn missing_model_json_is_a_clear_error() {
        let err = PackageFiles::default().verified_meta().unwrap_err();
        assert_eq!(err.to_string(), "model package is missing model.json");
    }
}
