//! Drift references of a model package: the held-out distribution of each watched input and
//! prediction feature (`model.json` `reference_distribution.features`, written by
//! `training/references.py`), parsed and checked once at load, and the one rule that puts a
//! value into a bin. The server counts live traffic into the same bins (`telemetry::drift`);
//! Prometheus compares the two (docs/drift.md).

use crate::featurize::tabular::{Column, Columns, TabularSettings};
use crate::package::{ModelKind, ModelMeta};
use serde::Deserialize;

/// A feature the server knows how to compute. Names are the contract with `training/` and the
/// `feature` label of the drift metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Text models: tokens per text before truncation.
    InputTokens,
    /// Text models: share of the tokens outside the vocabulary (0 for a text without tokens).
    UnknownTokenShare,
    /// Email: characters of the subject.
    SubjectChars,
    /// Email: characters of the body.
    BodyChars,
    /// Classifiers: the predicted label (categories: the model's labels).
    PredictedLabel,
    /// Classifiers: probability of the predicted label.
    Confidence,
    /// Recommender: user id known to the encoders or not (categories `known`, `unknown`).
    User,
    /// Recommender: item id known or not.
    Item,
    /// Recommender: predicted rating before clamping.
    PredictedRating,
    /// Trend: points per series.
    SeriesPoints,
    /// Trend: std of the first differences over the mean absolute level.
    Volatility,
    /// Trend: absolute percentage error of each forecast point, when truth arrives.
    ForecastApe,
}

impl Feature {
    /// Every feature, in slot order.
    pub const ALL: [Feature; 12] = [
        Self::InputTokens,
        Self::UnknownTokenShare,
        Self::SubjectChars,
        Self::BodyChars,
        Self::PredictedLabel,
        Self::Confidence,
        Self::User,
        Self::Item,
        Self::PredictedRating,
        Self::SeriesPoints,
        Self::Volatility,
        Self::ForecastApe,
    ];

    /// The `feature` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InputTokens => "input_tokens",
            Self::UnknownTokenShare => "unknown_token_share",
            Self::SubjectChars => "subject_chars",
            Self::BodyChars => "body_chars",
            Self::PredictedLabel => "predicted_label",
            Self::Confidence => "confidence",
            Self::User => "user",
            Self::Item => "item",
            Self::PredictedRating => "predicted_rating",
            Self::SeriesPoints => "series_points",
            Self::Volatility => "volatility",
            Self::ForecastApe => "forecast_ape",
        }
    }

    /// The feature named `name`, if the server computes it.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Index into per-feature arrays.
    pub fn slot(self) -> usize {
        self as usize
    }
}

/// Which side of the model a feature watches (the `side` label; input drift and prediction drift
/// alert separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// What clients send.
    Input,
    /// What the model answers.
    Prediction,
}

impl Side {
    /// The `side` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Prediction => "prediction",
        }
    }
}

/// How a feature's values are binned.
#[derive(Debug, Clone, PartialEq)]
pub enum Bins {
    /// Upper edges e_0 < ... < e_{k-1}: a value v goes to the first bin with v <= e_i, else to
    /// the last (k + 1 bins).
    Edges(Vec<f64>),
    /// Named categories, one bin each.
    Categories(Vec<String>),
}

impl Bins {
    /// Number of bins.
    pub fn len(&self) -> usize {
        match self {
            Self::Edges(e) => e.len() + 1,
            Self::Categories(c) => c.len(),
        }
    }

    /// Whether there are no bins (never true for a parsed reference).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `bin` label of each bin: the upper edge (`+Inf` for the last), or the category.
    pub fn labels(&self) -> Vec<String> {
        match self {
            Self::Edges(e) => e.iter().map(|v| format!("{v}")).chain(std::iter::once("+Inf".to_string())).collect(),
            Self::Categories(c) => c.clone(),
        }
    }

    /// The bin of a numeric value (NaN goes to the last bin; categories: never called).
    pub fn bin(&self, value: f64) -> usize {
        match self {
            Self::Edges(e) if value.is_nan() => e.len(),
            Self::Edges(e) => e.partition_point(|edge| *edge < value),
            Self::Categories(c) => c.len().saturating_sub(1),
        }
    }
}

/// What a reference watches: a feature the server computes, or one of a tabular package's
/// columns (by position in `featurizer.features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// A computed feature.
    Feature(Feature),
    /// A tabular column.
    Column(usize),
}

/// One feature's reference: its bins and the held-out share of each.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRef {
    /// Which feature.
    pub watched: Watched,
    /// Its name: the `feature` label.
    pub name: String,
    /// Input or prediction.
    pub side: Side,
    /// The bins.
    pub bins: Bins,
    /// Held-out share per bin (sums to 1).
    pub shares: Vec<f64>,
}

#[derive(Deserialize)]
struct RawFeature {
    name: String,
    side: Side,
    #[serde(default)]
    edges: Option<Vec<f64>>,
    #[serde(default)]
    categories: Option<Vec<String>>,
    shares: Vec<f64>,
}

/// Most bins one feature may have (label cardinality stays bounded for any package).
pub const MAX_BINS: usize = 64;

/// The package's references, refused when one of its kind's watched features has none: what
/// a load checks (the manager and the packager's verification both call this).
pub fn complete_features(meta: &ModelMeta) -> Result<Vec<FeatureRef>, String> {
    let refs = features(meta)?;
    check_complete(meta, &refs)?;
    Ok(refs)
}

/// Every drift feature the package's kind is watched on has a reference
/// (`inferwatch_monitoring::package::watched_features`): a package without one would leave
/// that feature's drift panel and alert silently empty. Pure.
pub fn check_complete(meta: &ModelMeta, refs: &[FeatureRef]) -> Result<(), String> {
    let columns = columns(meta)?;
    let missing: Vec<&str> = inferwatch_monitoring::package::watched_features(meta.kind)
        .iter()
        .copied()
        .chain(columns.iter().flat_map(|c| c.all()).map(|c| c.name.as_str()))
        .filter(|name| !refs.iter().any(|r| r.name == *name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "model.json reference_distribution.features has no reference for {missing:?} (a {} model is watched on them)",
            meta.kind.as_str()
        ))
    }
}

/// The names of every feature the server computes: a tabular column may not take one.
pub fn reserved_names() -> Vec<&'static str> {
    Feature::ALL.iter().map(|f| f.as_str()).collect()
}

/// A tabular package's feature columns, checked (`featurizer.features`); `None` for other kinds.
pub fn columns(meta: &ModelMeta) -> Result<Option<Columns>, String> {
    if meta.kind != ModelKind::Tabular {
        return Ok(None);
    }
    let settings: TabularSettings =
        serde_json::from_value(meta.featurizer.clone()).map_err(|e| format!("model.json featurizer: {e}"))?;
    if settings.family != "tabular" {
        return Err(format!("model.json featurizer.type '{}': a tabular model's is `tabular`", settings.family));
    }
    Columns::new(&settings, &reserved_names()).map(Some).map_err(|e| format!("model.json {e}"))
}

/// The drift references of a package; empty when it has none. Features the server does not
/// compute are skipped (a newer package on an older server); a malformed reference is an error
/// naming the feature, so a broken package fails its load instead of alerting on nonsense.
pub fn features(meta: &ModelMeta) -> Result<Vec<FeatureRef>, String> {
    let Some(raw) = meta.reference_distribution.get("features") else { return Ok(Vec::new()) };
    let raw: Vec<RawFeature> =
        serde_json::from_value(raw.clone()).map_err(|e| format!("model.json reference_distribution.features: {e}"))?;
    let columns = columns(meta)?;
    let mut out: Vec<FeatureRef> = Vec::new();
    for r in raw {
        let column = columns.as_ref().and_then(|c| c.position(&r.name).map(|i| (i, &c.all()[i])));
        let watched = match (Feature::named(&r.name), column) {
            (Some(feature), _) => Watched::Feature(feature),
            (None, Some((i, _))) => Watched::Column(i),
            (None, None) => continue,
        };
        let bad = |why: &str| format!("model.json reference_distribution.features {}: {why}", r.name);
        if out.iter().any(|f| f.watched == watched) {
            return Err(bad("listed twice"));
        }
        if column.is_some() && r.side != Side::Input {
            return Err(bad("a feature column is on the input side"));
        }
        let bins = match (r.edges, r.categories) {
            (Some(edges), None) => {
                if edges.is_empty() || edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(bad("edges must be finite and strictly increasing"));
                }
                Bins::Edges(edges)
            }
            (None, Some(categories)) => {
                if categories.is_empty() || categories.iter().any(String::is_empty) {
                    return Err(bad("categories must be non-empty names"));
                }
                Bins::Categories(categories)
            }
            _ => return Err(bad("needs exactly one of edges or categories")),
        };
        if matches!(watched, Watched::Feature(Feature::User | Feature::Item))
            && bins != Bins::Categories(vec!["known".into(), "unknown".into()])
        {
            return Err(bad("categories must be [\"known\", \"unknown\"]"));
        }
        if let Some((_, c)) = column {
            check_column_bins(c, &bins).map_err(|why| bad(&why))?;
        }
        if bins.len() > MAX_BINS {
            return Err(bad(&format!("more than {MAX_BINS} bins")));
        }
        if r.shares.len() != bins.len() {
            return Err(bad(&format!("{} shares for {} bins", r.shares.len(), bins.len())));
        }
        if r.shares.iter().any(|s| !(0.0..=1.0).contains(s)) || (r.shares.iter().sum::<f64>() - 1.0).abs() > 1e-3 {
            return Err(bad("shares must be in [0, 1] and sum to 1"));
        }
        out.push(FeatureRef { watched, name: r.name, side: r.side, bins, shares: r.shares });
    }
    Ok(out)
}

/// A column's reference bins suit the column: a categorical column's are its codes and
/// `other`, a numeric column's are edges. Pure.
fn check_column_bins(column: &Column, bins: &Bins) -> Result<(), String> {
    match (column.category_labels(), bins) {
        (Some(labels), Bins::Categories(c)) if *c == labels => Ok(()),
        (Some(labels), _) => Err(format!("a categorical column's reference categories are {labels:?}")),
        (None, Bins::Edges(_)) => Ok(()),
        (None, Bins::Categories(_)) => Err("a numeric column's reference has edges".into()),
    }
}

/// Scale-free volatility of a series: the population standard deviation of its first
/// differences over its mean absolute level (0 for fewer than two points or a zero series).
pub fn volatility(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let level = values.iter().map(|v| v.abs()).sum::<f64>() / values.len() as f64;
    if level <= 0.0 || !level.is_finite() {
        return 0.0;
    }
    let n = (values.len() - 1) as f64;
    let diffs = values.windows(2).map(|w| w[1] - w[0]);
    let mean = diffs.clone().sum::<f64>() / n;
    let var = diffs.map(|d| (d - mean) * (d - mean)).sum::<f64>() / n;
    var.sqrt() / level
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_with(features: serde_json::Value) -> ModelMeta {
        let mut v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/sentiment/model.json")).unwrap(),
        )
        .unwrap();
        v["reference_distribution"]["features"] = features;
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_built_in_package_has_references_the_server_computes() {
        for kind in crate::package::ModelKind::BUILT_IN {
            let path = format!("{}/../models/{}/model.json", env!("CARGO_MANIFEST_DIR"), kind.as_str());
            let meta: ModelMeta = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            let refs = features(&meta).unwrap();
            assert!(refs.len() >= 3, "{kind}: {refs:?}");
            check_complete(&meta, &refs).unwrap();
            assert!(refs.iter().any(|f| f.side == Side::Input) && refs.iter().any(|f| f.side == Side::Prediction));
        }
    }

    #[test]
    fn a_package_without_a_watched_features_reference_is_incomplete_naming_it() {
        let meta = meta_with(serde_json::json!([
            {"name": "input_tokens", "side": "input", "edges": [8.0], "shares": [0.5, 0.5]},
            {"name": "predicted_label", "side": "prediction", "categories": ["negative", "neutral", "positive"], "shares": [0.3, 0.3, 0.4]}
        ]));
        let err = check_complete(&meta, &features(&meta).unwrap()).unwrap_err();
        assert!(err.contains(r#"["unknown_token_share", "confidence"]"#), "{err}");
    }

    #[test]
    fn a_value_on_an_edge_belongs_to_the_bin_below_it() {
        let bins = Bins::Edges(vec![1.0, 2.0, 4.0]);
        assert_eq!([0.5, 1.0, 1.5, 2.0, 4.0, 4.1, f64::INFINITY].map(|v| bins.bin(v)), [0, 0, 1, 1, 2, 3, 3]);
        assert_eq!(bins.bin(f64::NAN), 3);
        assert_eq!(bins.labels(), ["1", "2", "4", "+Inf"]);
        assert_eq!(Bins::Edges(vec![0.05]).labels(), ["0.05", "+Inf"]);
    }

    #[test]
    fn malformed_references_are_errors_naming_the_feature() {
        let cases = [
            serde_json::json!([{"name": "confidence", "side": "prediction", "edges": [0.5, 0.4], "shares": [0.2, 0.3, 0.5]}]),
            serde_json::json!([{"name": "confidence", "side": "prediction", "edges": [0.5], "shares": [1.0]}]),
            serde_json::json!([{"name": "confidence", "side": "prediction", "edges": [0.5], "shares": [0.7, 0.7]}]),
            serde_json::json!([{"name": "confidence", "side": "prediction", "shares": [1.0]}]),
            serde_json::json!([{"name": "user", "side": "input", "categories": [], "shares": []}]),
            serde_json::json!([{"name": "user", "side": "sideways", "categories": ["a"], "shares": [1.0]}]),
            serde_json::json!([{"name": "user", "side": "input", "categories": ["unknown", "known"], "shares": [0.5, 0.5]}]),
            serde_json::json!([{"name": "confidence", "side": "prediction", "edges": (0..70).collect::<Vec<_>>(), "shares": [1.0]}]),
        ];
        for case in cases {
            let err = features(&meta_with(case.clone())).unwrap_err();
            assert!(err.contains("reference_distribution.features"), "{case}: {err}");
        }
    }

    #[test]
    fn features_the_server_does_not_compute_are_skipped() {
        let refs = features(&meta_with(serde_json::json!([
            {"name": "from_the_future", "side": "input", "edges": [1.0], "shares": [0.5, 0.5]},
            {"name": "confidence", "side": "prediction", "edges": [0.5], "shares": [0.25, 0.75]},
        ])))
        .unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].watched, Watched::Feature(Feature::Confidence));
    }

    #[test]
    fn volatility_is_scale_free_and_zero_for_flat_or_tiny_series() {
        let y = [10.0, 12.0, 11.0, 13.0, 12.0];
        let scaled: Vec<f64> = y.iter().map(|v| v * 1000.0).collect();
        assert!((volatility(&y) - volatility(&scaled)).abs() < 1e-12);
        // diffs 2, -1, 2, -1: mean 0.5, population std 1.5; mean level 11.6
        assert!((volatility(&y) - 1.5 / 11.6).abs() < 1e-12);
        assert_eq!(volatility(&[0.0, 0.0, 0.0]), 0.0);
        assert_eq!(volatility(&[5.0]), 0.0);
    }
}
