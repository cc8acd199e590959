//! Text classifiers (sentiment, topic, email): featurize -> Gather/ReduceSum/Softmax graph
//! (class-major weight table, see `training/text.py` `export_onnx`).

use super::{LoadError, ModelError};
use crate::batcher::{Batched, Batcher};
use crate::featurize::text::{pad, TextFeaturizer, TextSettings, TokenCount};
use crate::featurize::FeaturizeError;
use crate::package::{section, ModelMeta, PackageFiles};
use crate::runtime::{split_rows, Plan};
use crate::telemetry::cpu_time::CpuSampler;
use crate::telemetry::Stages;

/// A loaded text classifier.
#[derive(Debug)]
pub struct TextModel {
    featurizer: TextFeaturizer,
    plan: Plan,
    /// Class labels in output order.
    pub labels: Vec<String>,
    /// Queue that lets concurrent requests share one run (see [`crate::batcher`]).
    batcher: Batcher,
}

impl TextModel {
    /// Build from the package; the tokenizer must agree with `model.json`.
    pub fn new(meta: &ModelMeta, files: &PackageFiles, plan: Plan) -> Result<Self, LoadError> {
        let settings: TextSettings = section(&meta.featurizer, "model.json")?;
        let featurizer = TextFeaturizer::new(files.file("tokenizer.json")?, settings).map_err(LoadError::Invalid)?;
        if meta.labels.len() < 2 {
            return Err(LoadError::Invalid("a classifier needs at least two labels".into()));
        }
        Ok(Self { featurizer, plan, labels: meta.labels.clone(), batcher: Batcher::default() })
    }

    /// Feature ids of each text (one row per text), and each text's token count.
    pub fn featurize(&self, texts: &[&str]) -> Result<(Vec<Vec<i64>>, Vec<TokenCount>), FeaturizeError> {
        let mut rows = Vec::with_capacity(texts.len());
        let mut counts = Vec::with_capacity(texts.len());
        for t in texts {
            let (row, count) = self.featurizer.features_counted(t)?;
            rows.push(row);
            counts.push(count);
        }
        Ok((rows, counts))
    }

    /// Class probabilities for each text, in label order, from a run of its own; and each
    /// text's token count.
    pub fn predict(&self, texts: &[&str], stages: &mut Stages) -> Result<(Vec<Vec<f32>>, Vec<TokenCount>), ModelError> {
        let (rows, counts) = stages.time(|s| &mut s.featurize, || self.featurize(texts))?;
        let (shape, data) = pad(&rows);
        let flat = stages.time(|s| &mut s.infer, || self.plan.run_i64(&[(&shape, &data)]))?;
        Ok((stages.time(|s| &mut s.postprocess, || split_rows(&flat, self.labels.len())), counts))
    }

    /// Class probabilities for featurized rows, from a run shared with concurrent requests.
    pub async fn predict_batched(&self, rows: Vec<Vec<i64>>, cpu: Option<&CpuSampler>) -> Result<Batched, ModelError> {
        Ok(self.batcher.run(&self.plan, self.labels.len(), rows, cpu).await?)
    }
}
