//! Drift cells of one loaded (model, version): a counter per bin of every watched feature the
//! package has a reference for, resolved (and so created at zero) when the model loads, so the
//! hot path does one binary search over a few edges and one atomic add per feature. The
//! references themselves become `inferwatch_drift_reference_ratio` gauges at the same moment.

use super::registry::Metrics;
use super::sharded::Counter;
use crate::featurize::tabular::category_bin;
use crate::package::ModelMeta;
use crate::reference::{Bins, Feature, FeatureRef, Watched};

/// One feature's bins and their counters.
#[derive(Debug, Clone)]
struct Cells {
    bins: Bins,
    counters: Vec<Counter>,
}

/// The drift counters of one (model, version), by feature slot.
#[derive(Debug, Clone, Default)]
pub struct DriftCells {
    slots: [Option<Cells>; Feature::ALL.len()],
    /// Tabular columns, by position; a categorical column's codes beside its cells.
    columns: Vec<Option<(Cells, Option<Vec<f64>>)>>,
    /// Model label index -> category bin of `predicted_label` (labels the reference lacks: none).
    label_bins: Vec<Option<usize>>,
}

impl DriftCells {
    /// Resolve every bin of every referenced feature (series at zero) and set the reference
    /// gauges.
    pub fn new(metrics: &Metrics, meta: &ModelMeta, references: &[FeatureRef]) -> Self {
        let mut cells = Self::default();
        let columns = crate::reference::columns(meta).ok().flatten();
        for r in references {
            let (side, feature) = (r.side.as_str(), r.name.as_str());
            let labels = r.bins.labels();
            let counters = labels
                .iter()
                .map(|bin| metrics.drift_observations.with(&[&meta.name, &meta.version, side, feature, bin]))
                .collect();
            for (bin, share) in labels.iter().zip(&r.shares) {
                metrics.drift_reference.with(&[&meta.name, &meta.version, side, feature, bin]).set(*share);
            }
            if let (Watched::Feature(Feature::PredictedLabel), Bins::Categories(categories)) = (r.watched, &r.bins) {
                cells.label_bins = meta.labels.iter().map(|l| categories.iter().position(|c| c == l)).collect();
            }
            let cell = Cells { bins: r.bins.clone(), counters };
            match r.watched {
                Watched::Feature(f) => cells.slots[f.slot()] = Some(cell),
                Watched::Column(i) => {
                    let codes = columns.as_ref().and_then(|c| c.all().get(i)).and_then(|c| c.categories.clone());
                    if cells.columns.len() <= i {
                        cells.columns.resize(i + 1, None);
                    }
                    cells.columns[i] = Some((cell, codes));
                }
            }
        }
        cells
    }

    /// Count each row of a row-major `[rows, width]` matrix of tabular features into its
    /// columns' bins.
    pub fn rows(&self, matrix: &[f32], width: usize) {
        if self.columns.is_empty() || width == 0 {
            return;
        }
        for row in matrix.chunks_exact(width) {
            for (value, column) in row.iter().zip(&self.columns) {
                let Some((c, codes)) = column else { continue };
                let bin = match codes {
                    Some(codes) => category_bin(codes, *value),
                    None => c.bins.bin(f64::from(*value)),
                };
                if let Some(counter) = c.counters.get(bin) {
                    counter.inc();
                }
            }
        }
    }

    /// Whether `feature` is watched for this model.
    pub fn watches(&self, feature: Feature) -> bool {
        self.slots[feature.slot()].is_some()
    }

    /// Count a numeric value of `feature` (nothing when the package has no reference for it).
    #[inline]
    pub fn observe(&self, feature: Feature, value: f64) {
        if let Some(c) = &self.slots[feature.slot()] {
            if let Some(counter) = c.counters.get(c.bins.bin(value)) {
                counter.inc();
            }
        }
    }

    /// Count category `index` of `feature`.
    #[inline]
    pub fn category(&self, feature: Feature, index: usize) {
        if let Some(counter) = self.slots[feature.slot()].as_ref().and_then(|c| c.counters.get(index)) {
            counter.inc();
        }
    }

    /// Count a predicted label by the model's label index.
    #[inline]
    pub fn predicted_label(&self, label: usize) {
        if let Some(Some(bin)) = self.label_bins.get(label) {
            self.category(Feature::PredictedLabel, *bin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{features, Side};

    fn sentiment() -> ModelMeta {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/sentiment/model.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn sample(text: &str, feature: &str, bin: &str) -> Option<f64> {
        let needle = format!(r#"feature="{feature}",bin="{bin}"}} "#);
        text.lines()
            .filter(|l| {
                l.starts_with("inferwatch_drift_observations_total{") || l.starts_with("inferwatch_drift_reference")
            })
            .find(|l| l.contains(&needle) && l.starts_with("inferwatch_drift_observations_total"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn every_bin_exists_at_zero_and_each_value_counts_in_exactly_one_bin() {
        let metrics = Metrics::new();
        let meta = sentiment();
        let refs = features(&meta).unwrap();
        let cells = DriftCells::new(&metrics, &meta, &refs);
        let text = metrics.encode().unwrap();
        for r in &refs {
            for bin in r.bins.labels() {
                assert_eq!(sample(&text, &r.name, &bin), Some(0.0), "{:?} {bin}", r.watched);
            }
        }
        cells.observe(Feature::InputTokens, 16.0);
        cells.observe(Feature::InputTokens, 17.0);
        cells.observe(Feature::Confidence, 0.999);
        cells.predicted_label(1);
        cells.observe(Feature::ForecastApe, 0.5); // not referenced by a classifier: ignored
        let text = metrics.encode().unwrap();
        assert_eq!(sample(&text, "input_tokens", "16"), Some(1.0));
        assert_eq!(sample(&text, "input_tokens", "32"), Some(1.0));
        assert_eq!(sample(&text, "confidence", "+Inf"), Some(1.0));
        assert_eq!(sample(&text, "predicted_label", "neutral"), Some(1.0));
        assert!(!text.contains(r#"feature="forecast_ape""#));
        assert!(text.contains(r#"inferwatch_drift_reference_ratio{model="sentiment",version="#));
        assert!(refs.iter().any(|r| r.side == Side::Input));
    }
}
