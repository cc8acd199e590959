//! The named-tensor view of every model kind: the Open Inference Protocol's shape of the same
//! requests and answers. [`inputs`] and [`outputs`] are the one table of tensor names, datatypes
//! and shapes; the v2 codec's model metadata is built from it, [`encode`] only writes tensors it
//! lists (a test checks this for every kind), and [`decode`] reads the inputs it lists.

use super::{EmailInput, Items, PredictError, Prediction, Request, Series};
use crate::featurize::tabular::Row;
use crate::featurize::trend::Direction;
use crate::models::trend::{Method, TrendInput};
use crate::package::ModelKind;

/// Tensor element types used here (the protocol's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    /// Strings (UTF-8).
    Bytes,
    /// 32-bit floats.
    Fp32,
    /// 64-bit floats.
    Fp64,
    /// 64-bit integers.
    Int64,
}

impl Datatype {
    /// The protocol's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bytes => "BYTES",
            Self::Fp32 => "FP32",
            Self::Fp64 => "FP64",
            Self::Int64 => "INT64",
        }
    }
}

/// One dimension of a tensor's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// As many as there are items (variable).
    Items,
    /// The number of the model's labels.
    Labels,
    /// The number of a tabular model's feature columns.
    Features,
    /// Variable (forecast steps, anomalies).
    Any,
    /// Exactly one.
    One,
}

/// A tensor's name, datatype and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec {
    /// Name.
    pub name: &'static str,
    /// Element type.
    pub datatype: Datatype,
    /// Dimensions.
    pub shape: &'static [Dim],
}

const fn spec(name: &'static str, datatype: Datatype, shape: &'static [Dim]) -> TensorSpec {
    TensorSpec { name, datatype, shape }
}

use Datatype::{Bytes, Fp32, Fp64, Int64};
use Dim::{Any, Features, Items as N, Labels, One};

const CLASS_OUT: &[TensorSpec] =
    &[spec("label", Bytes, &[N]), spec("confidence", Fp32, &[N]), spec("probabilities", Fp32, &[N, Labels])];
const EMAIL_OUT: &[TensorSpec] = &[
    spec("label", Bytes, &[N]),
    spec("confidence", Fp32, &[N]),
    spec("spam_probability", Fp32, &[N]),
    spec("probabilities", Fp32, &[N, Labels]),
];
const RATING_OUT: &[TensorSpec] = &[spec("rating", Fp32, &[N]), spec("cold_start", Bytes, &[N])];
const TREND_OUT: &[TensorSpec] = &[
    spec("forecast", Fp64, &[One, Any]),
    spec("slope", Fp64, &[One]),
    spec("p_value", Fp64, &[One]),
    spec("direction", Bytes, &[One]),
    spec("season_length", Int64, &[One]),
    spec("method", Bytes, &[One]),
    spec("anomaly_indices", Int64, &[Any]),
];

const TEXT_IN: &[TensorSpec] = &[spec("text", Bytes, &[N])];
const EMAIL_IN: &[TensorSpec] = &[spec("subject", Bytes, &[N]), spec("body", Bytes, &[N])];
const RATING_IN: &[TensorSpec] = &[spec("user_id", Bytes, &[N]), spec("item_id", Bytes, &[N])];
const TABULAR_IN: &[TensorSpec] = &[spec("features", Fp32, &[N, Features])];
const TREND_IN: &[TensorSpec] =
    &[spec("values", Fp64, &[Any]), spec("horizon", Int64, &[One]), spec("season_length", Int64, &[One])];

/// The input tensors a model of `kind` reads (trend's `horizon` and `season_length` may also be
/// request parameters; email's `subject` is optional).
pub fn inputs(kind: ModelKind) -> &'static [TensorSpec] {
    match kind {
        ModelKind::Sentiment | ModelKind::Topic => TEXT_IN,
        ModelKind::Email => EMAIL_IN,
        ModelKind::Recsys => RATING_IN,
        ModelKind::Trend => TREND_IN,
        ModelKind::Tabular => TABULAR_IN,
    }
}

/// The output tensors an answer of a model of `kind` carries.
pub fn outputs(kind: ModelKind) -> &'static [TensorSpec] {
    match kind {
        ModelKind::Sentiment | ModelKind::Topic | ModelKind::Tabular => CLASS_OUT,
        ModelKind::Email => EMAIL_OUT,
        ModelKind::Recsys => RATING_OUT,
        ModelKind::Trend => TREND_OUT,
    }
}

/// The shape as model metadata writes it: -1 for variable dimensions.
pub fn metadata_shape(spec: &TensorSpec, labels: usize, features: usize) -> Vec<i64> {
    spec.shape
        .iter()
        .map(|d| match d {
            Dim::Labels => i64::try_from(labels).unwrap_or(-1),
            Dim::Features => i64::try_from(features).unwrap_or(-1),
            Dim::One => 1,
            Dim::Items | Dim::Any => -1,
        })
        .collect()
}

/// Elements of an output tensor, flat in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Strings.
    Bytes(Vec<String>),
    /// 32-bit floats.
    Fp32(Vec<f32>),
    /// 64-bit floats.
    Fp64(Vec<f64>),
    /// 64-bit integers.
    Int64(Vec<i64>),
}

impl Data {
    /// The element type.
    pub fn datatype(&self) -> Datatype {
        match self {
            Self::Bytes(_) => Bytes,
            Self::Fp32(_) => Fp32,
            Self::Fp64(_) => Fp64,
            Self::Int64(_) => Int64,
        }
    }
}

/// An output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Name, from [`outputs`].
    pub name: &'static str,
    /// Shape.
    pub shape: Vec<usize>,
    /// Elements.
    pub data: Data,
}

fn tensor(name: &'static str, shape: Vec<usize>, data: Data) -> Tensor {
    Tensor { name, shape, data }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Up => "up",
        Direction::Down => "down",
        Direction::Flat => "flat",
    }
}

fn method(m: Method) -> &'static str {
    match m {
        Method::Model => "model",
        Method::TrendLine => "trend_line",
    }
}

fn classes(preds: &[Prediction], email: bool) -> Vec<Tensor> {
    let n = preds.len();
    let (mut label, mut confidence, mut spam, mut probabilities) = (vec![], vec![], vec![], vec![]);
    let mut width = 0;
    for p in preds {
        let (l, c, s) = match p {
            Prediction::Class { label, confidence, scores, .. } => (label, *confidence, scores),
            Prediction::Spam { label, confidence, scores, spam_probability, .. } => {
                spam.push(*spam_probability);
                (label, *confidence, scores)
            }
            _ => continue,
        };
        label.push(l.clone());
        confidence.push(c);
        width = s.probabilities.len();
        probabilities.extend_from_slice(&s.probabilities);
    }
    let mut out =
        vec![tensor("label", vec![n], Data::Bytes(label)), tensor("confidence", vec![n], Data::Fp32(confidence))];
    if email {
        out.push(tensor("spam_probability", vec![n], Data::Fp32(spam)));
    }
    out.push(tensor("probabilities", vec![n, width], Data::Fp32(probabilities)));
    out
}

/// The answer of a model of `kind` as output tensors, in [`outputs`] order.
pub fn encode(kind: ModelKind, preds: &[Prediction]) -> Vec<Tensor> {
    match kind {
        ModelKind::Sentiment | ModelKind::Topic | ModelKind::Tabular => classes(preds, false),
        ModelKind::Email => classes(preds, true),
        ModelKind::Recsys => {
            let (rating, cold): (Vec<f32>, Vec<String>) = preds
                .iter()
                .filter_map(|p| match p {
                    Prediction::Rating { rating, cold_start } => Some((*rating, cold_start.as_str().to_string())),
                    _ => None,
                })
                .unzip();
            let n = rating.len();
            vec![tensor("rating", vec![n], Data::Fp32(rating)), tensor("cold_start", vec![n], Data::Bytes(cold))]
        }
        ModelKind::Trend => {
            let Some(Prediction::Trend {
                direction: d,
                slope,
                p_value,
                season_length,
                method: m,
                forecast,
                anomalies,
                ..
            }) = preds.first()
            else {
                return vec![];
            };
            let indices: Vec<i64> = anomalies.iter().map(|a| i64::try_from(a.index).unwrap_or(i64::MAX)).collect();
            vec![
                tensor("forecast", vec![1, forecast.len()], Data::Fp64(forecast.clone())),
                tensor("slope", vec![1], Data::Fp64(vec![*slope])),
                tensor("p_value", vec![1], Data::Fp64(vec![*p_value])),
                tensor("direction", vec![1], Data::Bytes(vec![direction(*d).into()])),
                tensor("season_length", vec![1], Data::Int64(vec![i64::try_from(*season_length).unwrap_or(i64::MAX)])),
                tensor("method", vec![1], Data::Bytes(vec![method(*m).into()])),
                tensor("anomaly_indices", vec![indices.len()], Data::Int64(indices)),
            ]
        }
    }
}

/// One element of an input tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{}", serde_json::Value::from(s.as_str())),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
        }
    }
}

/// An input tensor as a codec decoded it (JSON or binary data alike).
#[derive(Debug, Clone, PartialEq)]
pub struct InputTensor {
    /// Name.
    pub name: String,
    /// Datatype as sent.
    pub datatype: String,
    /// Shape as sent.
    pub shape: Vec<i64>,
    /// Elements, flat in row-major order.
    pub data: Vec<Element>,
}

/// The element count a shape needs; `None` for negative dimensions or an overflowing product.
pub fn element_count(shape: &[i64]) -> Result<usize, String> {
    if shape.iter().any(|&d| d < 0) {
        return Err("shape must not have negative dimensions".into());
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)))
        .ok_or_else(|| format!("shape {shape:?} is too large"))
}

fn bad(m: impl Into<String>) -> PredictError {
    PredictError::invalid(m)
}

const NUMERIC: &[&str] =
    &["FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"];

impl InputTensor {
    fn elements(&self) -> Result<&[Element], PredictError> {
        let expected = element_count(&self.shape).map_err(|e| bad(format!("input '{}': {e}", self.name)))?;
        if expected != self.data.len() {
            return Err(bad(format!(
                "input '{}': shape {:?} needs {expected} elements, data has {}",
                self.name,
                self.shape,
                self.data.len()
            )));
        }
        Ok(&self.data)
    }

    fn strings(&self) -> Result<Vec<String>, PredictError> {
        self.elements()?
            .iter()
            .map(|v| match v {
                Element::Str(s) => Ok(s.clone()),
                Element::Int(i) if self.datatype != "BYTES" => Ok(i.to_string()),
                Element::Float(x) if self.datatype != "BYTES" => Ok(x.to_string()),
                other => Err(bad(format!("input '{}': expected {} elements, got {other}", self.name, self.datatype))),
            })
            .collect()
    }

    fn numbers(&self) -> Result<Vec<f64>, PredictError> {
        if !NUMERIC.contains(&self.datatype.as_str()) {
            return Err(bad(format!("input '{}': datatype {} is not numeric", self.name, self.datatype)));
        }
        self.elements()?
            .iter()
            .map(|v| match v {
                Element::Int(i) => Ok(*i as f64),
                Element::Float(x) => Ok(*x),
                other => Err(bad(format!("input '{}': {other} is not a number", self.name))),
            })
            .collect()
    }
}

/// Request parameters (`parameters` of the request), for the trend settings.
pub type Parameters = serde_json::Map<String, serde_json::Value>;

fn find<'a>(inputs: &'a [InputTensor], name: &str) -> Option<&'a InputTensor> {
    inputs.iter().find(|i| i.name == name)
}

fn need<'a>(inputs: &'a [InputTensor], name: &str) -> Result<&'a InputTensor, PredictError> {
    find(inputs, name).ok_or_else(|| {
        let got: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        bad(format!("missing input tensor '{name}' (got {got:?})"))
    })
}

fn param(inputs: &[InputTensor], params: Option<&Parameters>, name: &str) -> Result<Option<usize>, PredictError> {
    if let Some(t) = find(inputs, name) {
        let v = t.numbers()?;
        return match v.as_slice() {
            [x] if *x >= 0.0 && x.fract() == 0.0 && *x < 1e15 => Ok(Some(*x as usize)),
            _ => Err(bad(format!("input '{name}' must hold one non-negative integer"))),
        };
    }
    match params.and_then(|p| p.get(name)) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|x| usize::try_from(x).ok())
            .map(Some)
            .ok_or_else(|| bad(format!("parameter '{name}' must be a non-negative integer"))),
    }
}

/// Input tensors (and request parameters) -> a request for a model of `kind`.
pub fn decode(kind: ModelKind, inputs: &[InputTensor], params: Option<&Parameters>) -> Result<Request, PredictError> {
    let items = match kind {
        ModelKind::Sentiment | ModelKind::Topic => {
            let t = find(inputs, "text")
                .or_else(|| (inputs.len() == 1).then(|| &inputs[0]))
                .ok_or_else(|| bad("missing input tensor 'text' (BYTES)"))?;
            Items::Text(t.strings()?)
        }
        ModelKind::Email => {
            let body = need(inputs, "body")?.strings()?;
            let subject = match find(inputs, "subject") {
                Some(s) => s.strings()?,
                None => vec![String::new(); body.len()],
            };
            if subject.len() != body.len() {
                return Err(bad(format!("'subject' has {} elements, 'body' has {}", subject.len(), body.len())));
            }
            Items::Email(subject.into_iter().zip(body).map(|(subject, body)| EmailInput { subject, body }).collect())
        }
        ModelKind::Recsys => {
            let users = need(inputs, "user_id")?.strings()?;
            let items = need(inputs, "item_id")?.strings()?;
            if users.len() != items.len() {
                return Err(bad(format!("'user_id' has {} elements, 'item_id' has {}", users.len(), items.len())));
            }
            Items::Rating(users.into_iter().zip(items).collect())
        }
        ModelKind::Trend => {
            let values = need(inputs, "values")?.numbers()?;
            let horizon = param(inputs, params, "horizon")?
                .ok_or_else(|| bad("missing 'horizon' (an INT64 input tensor or a request parameter)"))?;
            let season_length = param(inputs, params, "season_length")?;
            Items::Trend(vec![Series { input: TrendInput { values, horizon, season_length }, timestamps: None }])
        }
        ModelKind::Tabular => {
            let t = find(inputs, "features")
                .or_else(|| (inputs.len() == 1).then(|| &inputs[0]))
                .ok_or_else(|| bad("missing input tensor 'features' (FP32 [rows, features])"))?;
            let [rows, width] = t.shape[..] else {
                return Err(bad(format!("input '{}': shape {:?} is not [rows, features]", t.name, t.shape)));
            };
            let values = t.numbers()?;
            let width = usize::try_from(width).unwrap_or(0);
            if rows <= 0 || width == 0 {
                return Err(bad(format!("input '{}': shape {:?} holds no row", t.name, t.shape)));
            }
            Items::Tabular(values.chunks(width).map(|r| Row::Values(r.to_vec())).collect())
        }
    };
    let batch = items.len() > 1;
    Ok(Request::new(items, batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_with_negative_or_overflowing_dimensions_are_refused() {
        assert_eq!(element_count(&[2, 3]), Ok(6));
        assert!(element_count(&[2, -1]).is_err());
        assert!(element_count(&[i64::MAX, i64::MAX, 4]).unwrap_err().contains("too large"));
    }

    #[test]
    fn metadata_shapes_fill_in_the_label_count() {
        let probs = outputs(ModelKind::Sentiment).iter().find(|s| s.name == "probabilities").copied().unwrap();
        assert_eq!(metadata_shape(&probs, 3, 0), vec![-1, 3]);
        assert_eq!(metadata_shape(&inputs(ModelKind::Tabular)[0], 2, 30), vec![-1, 30]);
    }
}
