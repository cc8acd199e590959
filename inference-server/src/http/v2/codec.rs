//! The Open Inference Protocol's wire format: the JSON request and answer, and the binary tensor
//! data extension. With `Inference-Header-Content-Length: n`, the first n bytes of a body are
//! the JSON header and the rest holds the data of every input whose `parameters` carry a
//! `binary_data_size`, one after another in input order: numbers little-endian, BYTES elements
//! each as a 4-byte little-endian length and the bytes. Outputs asked for in binary
//! (`binary_data` on the output, or `binary_data_output` on the request) are written the same
//! way after the JSON header of the answer.
//!
//! Written here rather than taken from a crate: the Rust OIP/Triton crates found are gRPC
//! clients (tonic), none parses the HTTP binary extension on the server side.

use super::super::error::ApiError;
use super::super::BodyLimit;
use crate::json_body;
use crate::predict::tensors::{Data, Element, InputTensor, Tensor};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::{self, DeserializeSeed};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The header that announces the binary extension: the JSON header's length in bytes.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// An input tensor.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InferInput {
    /// Tensor name.
    pub name: String,
    /// Shape (at most 8 dimensions).
    #[serde(deserialize_with = "json_body::capped::<_, i64, MAX_DIMS>")]
    pub shape: Vec<i64>,
    /// BYTES, FP32, FP64, INT64, INT32, ...
    pub datatype: String,
    /// Row-major data, flat or nested; absent when the data is binary. Kept as text until
    /// [`inputs`] reads it element by element under the request's element limit.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub data: Option<Box<RawValue>>,
    /// Per-input parameters (`binary_data_size` for binary data).
    #[serde(default, deserialize_with = "scalar_parameters")]
    #[schema(value_type = Object)]
    pub parameters: Option<Map<String, Value>>,
}

/// Most dimensions of an input's shape.
pub const MAX_DIMS: usize = 8;
/// Most input tensors, requested outputs and parameters of one request.
pub const MAX_ENTRIES: usize = 64;

/// A requested output.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RequestedOutput {
    /// Output name.
    pub name: String,
    /// `binary_data: true` asks for the data in binary.
    #[serde(default, deserialize_with = "scalar_parameters")]
    #[schema(value_type = Object)]
    pub parameters: Option<Map<String, Value>>,
}

/// `POST /v2/models/{name}/infer` body (or its JSON header).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InferRequest {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// Request parameters (trend: horizon, season_length; `binary_data_output`).
    #[serde(default, deserialize_with = "scalar_parameters")]
    #[schema(value_type = Object)]
    pub parameters: Option<Map<String, Value>>,
    /// Input tensors (at most 64).
    #[serde(deserialize_with = "json_body::capped::<_, InferInput, MAX_ENTRIES>")]
    pub inputs: Vec<InferInput>,
    /// Outputs wanted (all when absent; at most 64).
    #[serde(default, deserialize_with = "json_body::capped_opt::<_, RequestedOutput, MAX_ENTRIES>")]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// An output tensor of the JSON answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutputTensor {
    /// Output name.
    pub name: &'static str,
    /// Shape.
    pub shape: Vec<usize>,
    /// Data type.
    pub datatype: &'static str,
    /// Row-major data (absent when sent in binary).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<Object>)]
    pub data: Option<Value>,
    /// `binary_data_size` when the data follows the JSON header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub parameters: Option<Value>,
}

/// An inference body: the JSON request, and the binary section when the extension is used.
/// Clients such as tritonclient send JSON without a `Content-Type`, so the body is read as JSON
/// (or as header + binary) whatever that header says.
#[derive(Debug)]
pub struct OipBody {
    /// The JSON request (or header).
    pub request: InferRequest,
    /// The bytes after the JSON header (empty without the extension).
    pub binary: Bytes,
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::Validation(format!("invalid request at {path}: {inner}")),
            _ => ApiError::InvalidJson(inner.to_string()),
        }
    })?;
    de.end().map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    Ok(value)
}

impl<S: Send + Sync> FromRequest<S> for OipBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        let header_length =
            match req.headers().get(HEADER_LENGTH) {
                None => None,
                Some(v) => Some(v.to_str().ok().and_then(|v| v.trim().parse::<usize>().ok()).ok_or_else(|| {
                    ApiError::InvalidJson(format!("{HEADER_LENGTH} must be a byte count, got {v:?}"))
                })?),
            };
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::InvalidJson(r.body_text())
            }
        })?;
        let Some(n) = header_length else {
            return Ok(Self { request: parse_json(&bytes)?, binary: Bytes::new() });
        };
        if n > bytes.len() {
            return Err(ApiError::InvalidJson(format!(
                "{HEADER_LENGTH} is {n} but the body has only {} bytes",
                bytes.len()
            )));
        }
        Ok(Self { request: parse_json(&bytes[..n])?, binary: bytes.slice(n..) })
    }
}

/// Whether `name` is `true` in a parameter map.
pub fn flag(params: Option<&Map<String, Value>>, name: &str) -> bool {
    params.and_then(|p| p.get(name)).and_then(Value::as_bool).unwrap_or(false)
}

/// A 422 with the message.
pub(super) fn bad(m: impl Into<String>) -> ApiError {
    ApiError::Validation(m.into())
}

/// Parameters as the protocol defines them: a map of at most [`MAX_ENTRIES`] names to strings,
/// numbers or booleans. A list or object value is refused where it starts, before it is read,
/// so parameters cannot carry a large JSON tree.
fn scalar_parameters<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<Map<String, Value>>, D::Error> {
    struct Scalar(Value);
    impl<'de> de::Deserialize<'de> for Scalar {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl de::Visitor<'_> for V {
                type Value = Scalar;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a string, number or boolean parameter value")
                }
                fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                    Ok(Scalar(Value::Bool(v)))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                    Ok(Scalar(Value::from(v)))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                    Ok(Scalar(Value::from(v)))
                }
                fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                    Ok(Scalar(Value::from(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                    Ok(Scalar(Value::from(v)))
                }
            }
            d.deserialize_any(V)
        }
    }
    struct Params;
    impl<'de> de::Visitor<'de> for Params {
        type Value = Option<Map<String, Value>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "null or an object of at most {MAX_ENTRIES} parameters")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Map::new();
            while let Some((k, Scalar(v))) = map.next_entry::<String, Scalar>()? {
                if out.len() == MAX_ENTRIES {
                    return Err(de::Error::custom(format_args!("at most {MAX_ENTRIES} parameters are accepted")));
                }
                out.insert(k, v);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(Params)
}

/// Reads nested lists of elements into one flat row-major list, refusing the element past
/// `room` where it starts.
struct Flatten<'a> {
    out: &'a mut Vec<Element>,
    room: usize,
}

impl Flatten<'_> {
    fn push<E: de::Error>(self, e: Element) -> Result<(), E> {
        if self.out.len() >= self.room {
            return Err(E::custom(format_args!("more than {} elements", self.room)));
        }
        self.out.push(e);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> de::Visitor<'de> for Flatten<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("strings or numbers, in nested lists")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Flatten { out, room } = self;
        while seq.next_element_seed(Flatten { out: &mut *out, room })?.is_some() {}
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.push(Element::Str(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.push(Element::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.push(i64::try_from(v).map_or(Element::Float(v as f64), Element::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.push(Element::Float(v))
    }
}

/// The elements of an input's JSON data, at most `room` of them.
fn json_elements(input: &InferInput, data: &RawValue, room: usize) -> Result<Vec<Element>, ApiError> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_str(data.get());
    Flatten { out: &mut out, room }.deserialize(&mut de).map_err(|e| {
        let mut m = e.to_string();
        if let Some(at) = m.find(" at line ") {
            m.truncate(at);
        }
        bad(format!("input '{}': {} data: {m}", input.name, input.datatype))
    })?;
    Ok(out)
}

/// Why fixed-width binary data cannot be read.
enum BinaryError {
    /// Not a whole number of elements of this width.
    Width(usize),
    /// This many elements, more than the request may hold.
    TooMany(usize),
}

/// Fixed-width little-endian elements of `datatype`, or `None` for an unsupported type.
fn binary_numbers(datatype: &str, raw: &[u8], room: usize) -> Option<Result<Vec<Element>, BinaryError>> {
    macro_rules! read {
        ($t:ty, $wrap:expr) => {{
            const W: usize = std::mem::size_of::<$t>();
            if !raw.len().is_multiple_of(W) {
                return Some(Err(BinaryError::Width(W)));
            }
            if raw.len() / W > room {
                return Some(Err(BinaryError::TooMany(raw.len() / W)));
            }
            Some(Ok(raw
                .chunks_exact(W)
                .map(|c| {
                    let mut b = [0u8; W];
                    b.copy_from_slice(c);
                    $wrap(<$t>::from_le_bytes(b))
                })
                .collect()))
        }};
    }
    match datatype {
        "INT8" => read!(i8, |v| Element::Int(i64::from(v))),
        "INT16" => read!(i16, |v| Element::Int(i64::from(v))),
        "INT32" => read!(i32, |v| Element::Int(i64::from(v))),
        "INT64" => read!(i64, Element::Int),
        "UINT8" => read!(u8, |v| Element::Int(i64::from(v))),
        "UINT16" => read!(u16, |v| Element::Int(i64::from(v))),
        "UINT32" => read!(u32, |v| Element::Int(i64::from(v))),
        "UINT64" => read!(u64, |v: u64| i64::try_from(v).map_or(Element::Float(v as f64), Element::Int)),
        "FP32" => read!(f32, |v| Element::Float(f64::from(v))),
        "FP64" => read!(f64, Element::Float),
        _ => None,
    }
}

fn binary_strings(name: &str, mut raw: &[u8], room: usize) -> Result<Vec<Element>, ApiError> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        if out.len() == room {
            return Err(bad(format!("input '{name}': BYTES data: more than {room} elements")));
        }
        let Some((len, rest)) = raw.split_first_chunk::<4>() else {
            return Err(bad(format!("input '{name}': BYTES data ends inside an element's length")));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(bad(format!(
                "input '{name}': BYTES element {} claims {len} bytes, {} remain",
                out.len(),
                rest.len()
            )));
        }
        let (text, tail) = rest.split_at(len);
        let text = std::str::from_utf8(text)
            .map_err(|_| bad(format!("input '{name}': BYTES element {} is not UTF-8 text", out.len())))?;
        out.push(Element::Str(text.to_string()));
        raw = tail;
    }
    Ok(out)
}

/// The request's input tensors, their data read from JSON or from the binary section: at most
/// `max_elements` elements over all inputs, refused at the first one over (before a binary
/// section is copied), so the decoded tensors cost at most a known multiple of the limit.
pub fn inputs(inputs: &[InferInput], binary: &Bytes, max_elements: usize) -> Result<Vec<InputTensor>, ApiError> {
    let mut offset = 0usize;
    let mut out: Vec<InputTensor> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let room = max_elements.saturating_sub(out.iter().map(|t| t.data.len()).sum());
        let size = input.parameters.as_ref().and_then(|p| p.get("binary_data_size"));
        let data = match (size, &input.data) {
            (Some(size), _) => {
                let size = size
                    .as_u64()
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| bad(format!("input '{}': binary_data_size must be a byte count", input.name)))?;
                let end = offset.checked_add(size).filter(|&e| e <= binary.len()).ok_or_else(|| {
                    bad(format!(
                        "input '{}': binary_data_size {size} runs past the {} bytes of binary data",
                        input.name,
                        binary.len()
                    ))
                })?;
                let raw = &binary[offset..end];
                offset = end;
                if input.datatype == "BYTES" {
                    binary_strings(&input.name, raw, room)?
                } else {
                    match binary_numbers(&input.datatype, raw, room) {
                        Some(Ok(v)) => v,
                        Some(Err(BinaryError::Width(width))) => {
                            return Err(bad(format!(
                                "input '{}': {size} bytes are not a whole number of {} elements ({width} bytes each)",
                                input.name, input.datatype
                            )))
                        }
                        Some(Err(BinaryError::TooMany(n))) => {
                            return Err(bad(format!(
                                "input '{}': {} data: {n} elements, more than {room}",
                                input.name, input.datatype
                            )))
                        }
                        None => {
                            return Err(bad(format!(
                                "input '{}': datatype {} is not supported in binary",
                                input.name, input.datatype
                            )))
                        }
                    }
                }
            }
            (None, Some(data)) => json_elements(input, data, room)?,
            (None, None) => return Err(bad(format!("input '{}' has neither data nor binary_data_size", input.name))),
        };
        out.push(InputTensor {
            name: input.name.clone(),
            datatype: input.datatype.clone(),
            shape: input.shape.clone(),
            data,
        });
    }
    if offset != binary.len() {
        return Err(bad(format!("{} bytes of binary data are not claimed by any input", binary.len() - offset)));
    }
    Ok(out)
}

fn json_data(data: &Data) -> Value {
    match data {
        Data::Bytes(v) => Value::from(v.clone()),
        Data::Fp32(v) => Value::from(v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>()),
        Data::Fp64(v) => Value::from(v.clone()),
        Data::Int64(v) => Value::from(v.clone()),
    }
}

fn write_binary(data: &Data, out: &mut Vec<u8>) {
    match data {
        Data::Bytes(v) => v.iter().for_each(|s| {
            out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }),
        Data::Fp32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::Fp64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Data::Int64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
}

#[derive(Serialize)]
struct InferResponse {
    model_name: String,
    model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// `prediction_ids`: one per batch row, for feedback.
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<serde_json::Value>,
    outputs: Vec<OutputTensor>,
}

/// The answer: JSON, or JSON header + binary data when any output is asked for in binary.
pub fn response(
    model: &str,
    version: &str,
    id: Option<String>,
    parameters: Option<serde_json::Value>,
    tensors: Vec<Tensor>,
    binary: impl Fn(&str) -> bool,
) -> Response {
    let mut tail = Vec::new();
    let outputs = tensors
        .iter()
        .map(|t| {
            let (data, parameters) = if binary(t.name) {
                let start = tail.len();
                write_binary(&t.data, &mut tail);
                (None, Some(serde_json::json!({"binary_data_size": tail.len() - start})))
            } else {
                (Some(json_data(&t.data)), None)
            };
            OutputTensor {
                name: t.name,
                shape: t.shape.clone(),
                datatype: t.data.datatype().as_str(),
                data,
                parameters,
            }
        })
        .collect();
    let body =
        InferResponse { model_name: model.to_string(), model_version: version.to_string(), id, parameters, outputs };
    if tail.is_empty() && !tensors.iter().any(|t| binary(t.name)) {
        return axum::Json(body).into_response();
    }
    let mut bytes = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => return ApiError::Internal(format!("cannot encode the answer: {e}")).into_response(),
    };
    let header_length = bytes.len();
    bytes.extend_from_slice(&tail);
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(HEADER_LENGTH, HeaderValue::from(header_length));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, datatype: &str, shape: Vec<i64>, size: usize) -> InferInput {
        let mut p = Map::new();
        p.insert("binary_data_size".into(), size.into());
        InferInput { name: name.into(), shape, datatype: datatype.into(), data: None, parameters: Some(p) }
    }

    fn bytes_tensor(items: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        write_binary(&Data::Bytes(items.iter().map(|s| s.to_string()).collect()), &mut out);
        out
    }

    #[test]
    fn binary_bytes_and_numbers_decode_in_input_order() {
        let mut raw = bytes_tensor(&["hello", "wörld"]);
        let text_len = raw.len();
        raw.extend_from_slice(&7i64.to_le_bytes());
        let ins = [input("text", "BYTES", vec![2], text_len), input("horizon", "INT64", vec![1], 8)];
        let t = inputs(&ins, &Bytes::from(raw), 1000).expect("decodes");
        assert_eq!(t[0].data, vec![Element::Str("hello".into()), Element::Str("wörld".into())]);
        assert_eq!(t[1].data, vec![Element::Int(7)]);
    }

    #[test]
    fn truncated_or_unclaimed_binary_data_is_a_clear_error() {
        let raw = Bytes::from(bytes_tensor(&["hello"]));
        let short = inputs(&[input("text", "BYTES", vec![1], 100)], &raw, 1000).unwrap_err().to_string();
        assert!(short.contains("runs past the 9 bytes"), "{short}");
        let unclaimed = inputs(&[input("text", "BYTES", vec![1], 4)], &raw, 1000).unwrap_err().to_string();
        assert!(unclaimed.contains("claims 5 bytes, 0 remain"), "{unclaimed}");
        let odd = inputs(&[input("v", "FP64", vec![1], 9)], &Bytes::from(vec![0u8; 9]), 1000).unwrap_err().to_string();
        assert!(odd.contains("not a whole number of FP64 elements"), "{odd}");
        let fp16 = inputs(&[input("v", "FP16", vec![1], 2)], &Bytes::from(vec![0u8; 2]), 1000).unwrap_err().to_string();
        assert!(fp16.contains("not supported in binary"), "{fp16}");
        let bad_utf8 =
            inputs(&[input("t", "BYTES", vec![1], 5)], &Bytes::from(vec![1, 0, 0, 0, 0xff]), 1000).unwrap_err();
        assert!(bad_utf8.to_string().contains("not UTF-8"), "{bad_utf8}");
    }

    #[test]
    fn elements_past_the_request_limit_are_refused_where_they_start() {
        let json = |data: &str| InferInput {
            name: "text".into(),
            shape: vec![3],
            datatype: "BYTES".into(),
            data: Some(RawValue::from_string(data.into()).expect("json")),
            parameters: None,
        };
        let ok = inputs(&[json(r#"[["a"], ["b", ["c"]]]"#)], &Bytes::new(), 3).expect("three fit");
        assert_eq!(ok[0].data.len(), 3);
        let e = inputs(&[json(r#"["a", "b", "c", "d"]"#)], &Bytes::new(), 3).unwrap_err().to_string();
        assert!(e.contains("more than 3 elements"), "{e}");
        // The limit is over all inputs of the request.
        let e = inputs(&[json(r#"["a", "b"]"#), json(r#"["c", "d"]"#)], &Bytes::new(), 3).unwrap_err().to_string();
        assert!(e.contains("more than 1 elements"), "{e}");
        let e = inputs(&[json(r#"["a", {"b": 1}]"#)], &Bytes::new(), 3).unwrap_err().to_string();
        assert!(e.contains("input 'text': BYTES data: invalid type: map"), "{e}");
        let e = inputs(&[input("v", "INT8", vec![4], 4)], &Bytes::from(vec![0u8; 4]), 3).unwrap_err().to_string();
        assert!(e.contains("4 elements, more than 3"), "{e}");
        let raw = Bytes::from(bytes_tensor(&["a", "b", "c", "d"]));
        let e = inputs(&[input("t", "BYTES", vec![4], raw.len())], &raw, 3).unwrap_err().to_string();
        assert!(e.contains("more than 3 elements"), "{e}");
    }

    #[test]
    fn parameters_hold_scalars_only_and_counts_are_capped() {
        let parse = |body: &str| parse_json::<InferRequest>(body.as_bytes()).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(parse(r#"{"inputs": [], "parameters": {"horizon": 3, "x": "y", "b": true}}"#), Ok(()));
        let e = parse(r#"{"inputs": [], "parameters": {"horizon": [1, 2, 3]}}"#).unwrap_err();
        assert!(e.contains("a string, number or boolean parameter value"), "{e}");
        let many = (0..65).map(|i| format!(r#""p{i}": 1"#)).collect::<Vec<_>>().join(",");
        let e = parse(&format!(r#"{{"inputs": [], "parameters": {{{many}}}}}"#)).unwrap_err();
        assert!(e.contains("at most 64 parameters"), "{e}");
        let inputs = vec![r#"{"name": "a", "shape": [1], "datatype": "BYTES", "data": ["x"]}"#; 65].join(",");
        let e = parse(&format!(r#"{{"inputs": [{inputs}]}}"#)).unwrap_err();
        assert!(e.contains("at most 64 elements"), "{e}");
        let e = parse(r#"{"inputs": [{"name": "a", "shape": [1,1,1,1,1,1,1,1,1], "datatype": "BYTES"}]}"#).unwrap_err();
        assert!(e.contains("at most 8 elements"), "{e}");
    }

    #[test]
    fn binary_outputs_follow_the_json_header_with_their_sizes() {
        let t = vec![
            Tensor { name: "label", shape: vec![1], data: Data::Bytes(vec!["spam".into()]) },
            Tensor { name: "confidence", shape: vec![1], data: Data::Fp32(vec![0.5]) },
        ];
        let r = response("m", "1", None, None, t, |n| n == "label");
        let n: usize = r.headers()[HEADER_LENGTH].to_str().unwrap().parse().unwrap();
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/octet-stream");
        assert!(n > 0);
    }
}
