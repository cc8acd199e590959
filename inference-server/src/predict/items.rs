//! The JSON shape of one item per model kind (`{"text"}`, `{"subject","body"}`,
//! `{"user_id","item_id"}`, `{"values","horizon",...}`), and a body of one item or
//! `{"inputs": [...]}`. The v1 routes and the batch queue (which stores job items in this shape)
//! both decode through here, so an item at fault is named by the same position in both.

use super::{Items, PredictError, Request, Series};
use crate::models::trend::TrendInput;
use crate::package::ModelKind;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// A text to classify (sentiment, topic).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextInput {
    /// The text; not empty.
    pub text: String,
}

/// A user/item pair; ids may be strings or integers.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingInput {
    /// Raw user id (as in MovieLens).
    #[schema(value_type = String)]
    pub user_id: Id,
    /// Raw item id.
    #[schema(value_type = String)]
    pub item_id: Id,
}

/// A series to forecast and analyse.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesInput {
    /// Observations, oldest first; at least 3, finite.
    pub values: Vec<f64>,
    /// Optional numeric timestamps (e.g. unix seconds), one per value, strictly increasing.
    #[serde(default)]
    pub timestamps: Option<Vec<f64>>,
    /// Steps to forecast (1 to 120).
    pub horizon: usize,
    /// Season length in steps; detected from the data when absent.
    #[serde(default)]
    pub season_length: Option<usize>,
}

/// `POST /v1/models/{name}/recommend` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// Raw user id.
    #[schema(value_type = String)]
    pub user_id: Id,
    /// How many items (1 to 100, default 10).
    #[serde(default = "default_k")]
    pub k: usize,
}

fn default_k() -> usize {
    10
}

/// An id given as a JSON string or integer.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// "196"
    Str(String),
    /// 196
    Int(i64),
}

impl Id {
    /// The id as text.
    pub fn into_string(self) -> String {
        match self {
            Self::Str(s) => s,
            Self::Int(i) => i.to_string(),
        }
    }
}

/// What one item of `kind` looks like, for error messages.
fn shape(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Sentiment | ModelKind::Topic => "text input {\"text\": ...}",
        ModelKind::Email => "email {\"subject\": ..., \"body\": ...}",
        ModelKind::Recsys => "rating input {\"user_id\": ..., \"item_id\": ...}",
        ModelKind::Trend => "series {\"values\": [...], \"horizon\": ...}",
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value, item: Option<usize>, what: &'static str) -> Result<T, PredictError> {
    serde_json::from_value(v).map_err(|e| PredictError::Malformed { item, what, error: e.to_string() })
}

fn parse_all<T: serde::de::DeserializeOwned>(list: Vec<Value>, what: &'static str) -> Result<Vec<T>, PredictError> {
    list.into_iter().enumerate().map(|(i, v)| parse(v, Some(i), what)).collect()
}

fn series(s: SeriesInput, item: usize, batch: bool) -> Result<Series, PredictError> {
    if let Some(ts) = &s.timestamps {
        if ts.len() != s.values.len() {
            return Err(PredictError::invalid_item(
                item,
                batch,
                format!("timestamps has {} entries, values has {}", ts.len(), s.values.len()),
            ));
        }
        if ts.iter().any(|t| !t.is_finite()) || ts.windows(2).any(|w| w[1] <= w[0]) {
            return Err(PredictError::invalid_item(item, batch, "timestamps must be finite and strictly increasing"));
        }
    }
    Ok(Series {
        input: TrendInput { values: s.values, horizon: s.horizon, season_length: s.season_length },
        timestamps: s.timestamps,
    })
}

/// Items of `kind` from a list of JSON values; errors name items by their position.
pub fn decode_list(kind: ModelKind, list: Vec<Value>) -> Result<Items, PredictError> {
    let what = shape(kind);
    Ok(match kind {
        ModelKind::Sentiment | ModelKind::Topic => {
            Items::Text(parse_all::<TextInput>(list, what)?.into_iter().map(|t| t.text).collect())
        }
        ModelKind::Email => Items::Email(parse_all(list, what)?),
        ModelKind::Recsys => Items::Rating(
            parse_all::<RatingInput>(list, what)?
                .into_iter()
                .map(|r| (r.user_id.into_string(), r.item_id.into_string()))
                .collect(),
        ),
        ModelKind::Trend => Items::Trend(
            parse_all::<SeriesInput>(list, what)?
                .into_iter()
                .enumerate()
                .map(|(i, s)| series(s, i, true))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn decode_one(kind: ModelKind, v: Value) -> Result<Items, PredictError> {
    let what = shape(kind);
    Ok(match kind {
        ModelKind::Sentiment | ModelKind::Topic => Items::Text(vec![parse::<TextInput>(v, None, what)?.text]),
        ModelKind::Email => Items::Email(vec![parse(v, None, what)?]),
        ModelKind::Recsys => {
            let r: RatingInput = parse(v, None, what)?;
            Items::Rating(vec![(r.user_id.into_string(), r.item_id.into_string())])
        }
        ModelKind::Trend => Items::Trend(vec![series(parse(v, None, what)?, 0, false)?]),
    })
}

/// A request body as a JSON value: one item, or `{"inputs": [...]}`.
pub fn decode_value(kind: ModelKind, body: Value) -> Result<Request, PredictError> {
    match body {
        Value::Object(mut map) if map.contains_key("inputs") => {
            if map.len() > 1 {
                let extra: Vec<&String> = map.keys().filter(|k| *k != "inputs").collect();
                return Err(PredictError::invalid(format!("unknown fields beside inputs: {extra:?}")));
            }
            let Some(Value::Array(list)) = map.remove("inputs") else {
                return Err(PredictError::invalid("inputs must be a list"));
            };
            Ok(Request::new(decode_list(kind, list)?, true))
        }
        v @ Value::Object(_) => Ok(Request::new(decode_one(kind, v)?, false)),
        _ => Err(PredictError::invalid(format!(
            "request body must be a JSON object: a {} or {{\"inputs\": [...]}}",
            shape(kind)
        ))),
    }
}

/// Why a body could not be read as JSON at all.
#[derive(Debug)]
pub enum BodyError {
    /// Not JSON (400).
    Syntax(String),
    /// JSON, but not a request (422).
    Request(PredictError),
}

/// A request body from its JSON text. One item of the model's input type is parsed straight
/// into it (the common case, no intermediate JSON value); anything else (a list, bad input)
/// goes through [`decode_value`], which gives the detailed errors. Only objects are taken on the
/// direct path (serde also reads a struct from an array of its fields), and never emails: their
/// input accepts unknown fields, so `{"inputs": [...]}` would parse as an empty email.
#[inline]
pub fn decode_body(kind: ModelKind, body: &RawValue) -> Result<Request, BodyError> {
    let json = body.get();
    let one = match kind {
        _ if !json.starts_with('{') => None,
        ModelKind::Sentiment | ModelKind::Topic => {
            serde_json::from_str::<TextInput>(json).ok().map(|t| Ok(Items::Text(vec![t.text])))
        }
        ModelKind::Recsys => serde_json::from_str::<RatingInput>(json)
            .ok()
            .map(|r| Ok(Items::Rating(vec![(r.user_id.into_string(), r.item_id.into_string())]))),
        ModelKind::Trend => {
            serde_json::from_str::<SeriesInput>(json).ok().map(|s| series(s, 0, false).map(|s| Items::Trend(vec![s])))
        }
        ModelKind::Email => None,
    };
    match one {
        Some(items) => items.map(|i| Request::new(i, false)).map_err(BodyError::Request),
        None => {
            let value = serde_json::from_str(json).map_err(|e| BodyError::Syntax(e.to_string()))?;
            decode_value(kind, value).map_err(BodyError::Request)
        }
    }
}

/// A recommend body.
pub fn decode_recommend(body: Value) -> Result<Request, PredictError> {
    let r: RecommendRequest = parse(body, None, "recommend request {\"user_id\": ..., \"k\": ...}")?;
    Ok(Request::new(Items::Recommend { user_id: r.user_id.into_string(), k: r.k }, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).expect("valid JSON")
    }

    fn texts(r: &Request) -> Option<(&Vec<String>, bool)> {
        match &r.items {
            Items::Text(t) => Some((t, r.batch)),
            _ => None,
        }
    }

    fn message(r: Result<Request, BodyError>) -> String {
        match r {
            Err(BodyError::Request(e)) => e.to_string(),
            Err(BodyError::Syntax(e)) => format!("syntax: {e}"),
            Ok(_) => "ok".into(),
        }
    }

    #[test]
    fn one_item_decodes_directly_and_a_batch_through_the_value_path() {
        let one = decode_body(ModelKind::Sentiment, &raw(r#"{"text": "good"}"#)).map_err(|_| ()).expect("decodes");
        assert_eq!(texts(&one), Some((&vec!["good".to_string()], false)));
        let batch = decode_body(ModelKind::Topic, &raw(r#"{"inputs": [{"text": "a"}, {"text": "b"}]}"#))
            .map_err(|_| ())
            .expect("decodes");
        assert_eq!(texts(&batch), Some((&vec!["a".to_string(), "b".to_string()], true)));
    }

    #[test]
    fn bad_bodies_get_the_same_errors_on_both_paths() {
        for body in [r#"{"text": 3}"#, r#"{"text": "a", "extra": 1}"#, r#"["hello"]"#, r#"{"inputs": 5}"#] {
            let direct = message(decode_body(ModelKind::Sentiment, &raw(body)));
            let value = decode_value(ModelKind::Sentiment, serde_json::from_str(body).expect("json"));
            assert_eq!(direct, value.map(|_| ()).expect_err(body).to_string(), "{body}");
        }
    }

    #[test]
    fn a_bad_item_in_a_list_is_named_by_its_position() {
        let mut list: Vec<Value> = (0..300).map(|i| serde_json::json!({"text": format!("t{i}")})).collect();
        list[280] = serde_json::json!({"text": 5});
        let e = decode_list(ModelKind::Sentiment, list).expect_err("item 280");
        assert_eq!(e.item(), Some(280));
        assert!(e.to_string().starts_with("invalid inputs[280] (text input"), "{e}");
    }

    #[test]
    fn an_email_batch_is_never_taken_for_one_empty_email() {
        let d = decode_body(ModelKind::Email, &raw(r#"{"inputs": [{"subject": "hi", "body": "x"}]}"#))
            .map_err(|_| ())
            .expect("decodes");
        assert!(matches!(&d.items, Items::Email(v) if v.len() == 1 && v[0].subject == "hi"));
        assert!(d.batch, "a batch");
    }

    #[test]
    fn trend_series_decode_directly_with_their_timestamps_checked() {
        let d = decode_body(ModelKind::Trend, &raw(r#"{"values": [1, 2, 3], "timestamps": [1, 2, 3], "horizon": 2}"#))
            .map_err(|_| ())
            .expect("decodes");
        assert!(matches!(&d.items, Items::Trend(s) if s[0].timestamps == Some(vec![1.0, 2.0, 3.0])));
        let e = message(decode_body(
            ModelKind::Trend,
            &raw(r#"{"values": [1, 2, 3], "timestamps": [3, 2, 1], "horizon": 2}"#),
        ));
        assert!(e.contains("strictly increasing"), "{e}");
    }
}
