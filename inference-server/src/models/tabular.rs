//! The tabular classifier (`featurizer.type: tabular`): a team's graph taking one float tensor
//! `[batch, features]` and answering a probability per label, as skl2onnx exports a
//! scikit-learn pipeline with ZipMap off. The rows of a request run as one graph run.

use super::{LoadError, ModelError};
use crate::featurize::tabular::{Columns, Row};
use crate::featurize::FeaturizeError;
use crate::package::{Dim, ModelMeta};
use crate::runtime::{split_rows, Plan};
use crate::telemetry::Stages;
use std::time::Instant;

/// A loaded tabular classifier.
#[derive(Debug)]
pub struct TabularModel {
    plan: Plan,
    columns: Columns,
    labels: usize,
}

impl TabularModel {
    /// The model of a tabular package: its columns checked, its graph taking exactly one input
    /// of as many features.
    pub fn new(meta: &ModelMeta, plan: Plan) -> Result<Self, LoadError> {
        let columns = crate::reference::columns(meta).map_err(LoadError::Invalid)?.ok_or_else(|| {
            LoadError::Invalid("a tabular model needs featurizer.type `tabular` and its features".into())
        })?;
        if meta.labels.len() < 2 {
            return Err(LoadError::Invalid(format!(
                "model.json labels must name at least two classes, got {:?}",
                meta.labels
            )));
        }
        if plan.input_names().len() != 1 {
            return Err(LoadError::Invalid(format!(
                "a tabular graph takes one float tensor [batch, features]; this one takes {:?}",
                plan.input_names()
            )));
        }
        if let Some(Dim::Fixed(width)) = meta.inputs.first().and_then(|i| i.shape.last()) {
            if usize::try_from(*width).ok() != Some(columns.len()) {
                return Err(LoadError::Invalid(format!(
                    "model.json inputs[0].shape says {width} features, but featurizer.features lists {}",
                    columns.len()
                )));
            }
        }
        Ok(Self { plan, columns, labels: meta.labels.len() })
    }

    /// The feature columns.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// The rows as the graph's float matrix (the featurize stage).
    pub fn matrix(&self, rows: &[Row], batch: bool) -> Result<Vec<f32>, FeaturizeError> {
        self.columns
            .matrix(rows)
            .map_err(|(i, m)| FeaturizeError::Invalid(if batch { format!("inputs[{i}]: {m}") } else { m }))
    }

    /// Probabilities per row of a row-major matrix of `rows` rows (the infer stage).
    pub fn predict(&self, matrix: &[f32], stages: &mut Stages) -> Result<Vec<Vec<f32>>, ModelError> {
        let rows = matrix.len() / self.columns.len().max(1);
        let start = Instant::now();
        let flat = self.plan.run_f32(&[rows, self.columns.len()], matrix);
        stages.infer += start.elapsed();
        let flat = flat?;
        if flat.len() != rows * self.labels {
            return Err(ModelError::Runtime(crate::runtime::RuntimeError::new(format!(
                "the graph answered {} values for {rows} rows of {} labels",
                flat.len(),
                self.labels
            ))));
        }
        Ok(split_rows(&flat, self.labels))
    }
}
