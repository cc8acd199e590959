//! Text classifiers (sentiment, topic, email): featurize -> Gather/ReduceSum/Softmax graph
//! (class-major weight table, see `training/text.py` `export_onnx`).

use super::{LoadError, PredictError, Stages};
use crate::featurize::text::{pad, TextFeaturizer, TextSettings};
use crate::package::{section, ModelMeta, PackageFiles};
use crate::runtime::Plan;

/// A loaded text classifier.
#[derive(Debug)]
pub struct TextModel {
    featurizer: TextFeaturizer,
    plan: Plan,
    /// Class labels in output order.
    pub labels: Vec<String>,
}

impl TextModel {
    /// Build from the package; the tokenizer must agree with `model.json`.
    pub fn new(meta: &ModelMeta, files: &PackageFiles, plan: Plan) -> Result<Self, LoadError> {
        let settings: TextSettings = section(&meta.featurizer, "model.json")?;
        let featurizer = TextFeaturizer::new(files.file("tokenizer.json")?, settings).map_err(LoadError::Invalid)?;
        if meta.labels.len() < 2 {
            return Err(LoadError::Invalid("a classifier needs at least two labels".into()));
        }
        Ok(Self { featurizer, plan, labels: meta.labels.clone() })
    }

    /// Class probabilities for each text, in label order.
    pub fn predict(&self, texts: &[&str], stages: &mut Stages) -> Result<Vec<Vec<f32>>, PredictError> {
        let rows = stages.time(
            |s| &mut s.featurize,
            || texts.iter().map(|t| self.featurizer.features(t)).collect::<Result<Vec<_>, _>>(),
        )?;
        let (shape, data) = pad(&rows);
        let flat = stages.time(|s| &mut s.infer, || self.plan.run_i64(&[(&shape, &data)]))?;
        let n = self.labels.len();
        Ok(stages.time(|s| &mut s.postprocess, || flat.chunks(n).map(<[f32]>::to_vec).collect()))
    }
}
