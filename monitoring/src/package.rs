//! The model package contract: `model.json` as the server reads it, its format version, and the
//! drift features each kind's package must carry references for. One definition: the server
//! parses packages with these types, `make generate` writes `docs/model-package.schema.json` from
//! them (feature `schemars`), and `docs/model-package.md` describes them.

use crate::serving::ModelKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The package format this server reads and `training/` writes.
pub const FORMAT: &str = "inferwatch-model/v1";

/// The newest format version this server reads (the `N` of `inferwatch-model/vN`).
pub const FORMAT_VERSION: u32 = 1;

/// `model.json`: what a model package is. Kind-specific sections are optional at the type level
/// and checked when the package loads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schemars", schemars(title = "Inferwatch model package (model.json)"))]
pub struct ModelMeta {
    /// What the model does, for the API, the dashboards and the alerts: sentiment, topic, email,
    /// recsys, trend or tabular.
    pub kind: ModelKind,
    /// Package name: the `{name}` of the model's URLs and the `model` label of its metrics.
    pub name: String,
    /// Package version: the `version` label of its metrics, and what `--model-version` /
    /// `spec.model.version` pins.
    pub version: String,
    /// Package format, `inferwatch-model/v<N>`. A package of a newer format than the server
    /// reads is refused at load; absent means `inferwatch-model/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The graph's inputs, in order: names must match the ONNX graph's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<TensorSpec>,
    /// The graph's outputs, in order: a classifier's last dimension is its number of labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<TensorSpec>,
    /// Class labels of classifiers, in output order.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Featurizer settings; the shape depends on the kind (docs/model-package.md).
    pub featurizer: serde_json::Value,
    /// sha256 of `model.onnx` (hex), verified at load.
    pub sha256: String,
    /// Held-out metrics from training (`accuracy`, `macro_f1`, `rmse`, `mape`, ...): the
    /// `inferwatch_model_heldout_quality` series the online quality is compared with.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// Reference distributions on held-out data: `features` (one entry per drift feature, with
    /// `edges` or `categories` and `expected` shares) and the kind's prediction summary.
    #[serde(default)]
    pub reference_distribution: serde_json::Value,
    /// Where the training data came from (reported, not interpreted).
    #[serde(default)]
    pub training_data: serde_json::Value,
    /// Trend analysis settings (trend only).
    #[serde(default)]
    pub analysis: Option<serde_json::Value>,
    /// Recommender settings (recsys only): `rating_range`.
    #[serde(default)]
    pub recsys: Option<serde_json::Value>,
    /// Spam decision (email only): `spam_label` and `threshold`.
    #[serde(default)]
    pub email: Option<serde_json::Value>,
    /// Anything else the package carries; kept for `/v2/models/{name}`.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One input or output tensor of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TensorSpec {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// Element type (`int64`, `float32`).
    pub dtype: String,
    /// Dimensions: a number, or a name for a dimension that varies (`batch`).
    pub shape: Vec<Dim>,
    /// What the tensor holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One tensor dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A size that varies per request, by name (`batch`, `features`).
    Named(String),
}

/// Why a package's format cannot be read. Pure.
pub fn check_format(format: Option<&str>) -> Result<(), String> {
    let Some(format) = format else { return Ok(()) };
    let version = format
        .strip_prefix("inferwatch-model/v")
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| format!("format '{format}' is not inferwatch-model/v<N>"))?;
    if version > FORMAT_VERSION {
        return Err(format!(
            "format {format} is newer than this server reads ({FORMAT}): upgrade the server to serve this package"
        ));
    }
    if version == 0 {
        return Err(format!("format '{format}' is not inferwatch-model/v<N> with N >= 1"));
    }
    Ok(())
}

/// The drift features a package of `kind` must carry references for (`reference_distribution.
/// features[].name`): what the server counts live for that kind and the drift dashboards show.
pub fn watched_features(kind: ModelKind) -> &'static [&'static str] {
    match kind {
        ModelKind::Sentiment | ModelKind::Topic => {
            &["input_tokens", "unknown_token_share", "predicted_label", "confidence"]
        }
        ModelKind::Email => {
            &["input_tokens", "unknown_token_share", "subject_chars", "body_chars", "predicted_label", "confidence"]
        }
        ModelKind::Recsys => &["user", "item", "predicted_rating"],
        ModelKind::Trend => &["series_points", "volatility", "forecast_ape"],
        // And every feature column (`featurizer.features`), checked where the columns are read.
        ModelKind::Tabular => &["predicted_label", "confidence"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_of_this_or_an_older_format_are_read_and_newer_ones_refused() {
        assert!(check_format(None).is_ok());
        assert!(check_format(Some(FORMAT)).is_ok());
        let newer = check_format(Some("inferwatch-model/v2")).unwrap_err();
        assert!(newer.contains("newer than this server reads") && newer.contains(FORMAT), "{newer}");
        for bad in ["inferwatch-model/v0", "inferwatch-model/vx", "onnx", ""] {
            assert!(check_format(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dimensions_are_numbers_or_names() {
        let t: TensorSpec =
            serde_json::from_value(serde_json::json!({"name": "ids", "dtype": "int64", "shape": ["batch", 3]}))
                .unwrap();
        assert_eq!(t.shape, vec![Dim::Named("batch".into()), Dim::Fixed(3)]);
    }
}
