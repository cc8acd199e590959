//! The JSON shape of one item per model kind (`{"text"}`, `{"subject","body"}`,
//! `{"user_id","item_id"}`, `{"values","horizon",...}`), and a body of one item or
//! `{"inputs": [...]}`. The v1 routes and the batch queue (which stores job items in this shape)
//! both decode through here, so an item at fault is named by the same position in both.

use super::{Items, PredictError, Request, Series};
use crate::json_body::{self, Shape, ShapeError};
use crate::models::trend::TrendInput;
use crate::models::trend::MAX_POINTS;
use crate::package::ModelKind;
use serde::Deserialize;
use serde_json::value::RawValue;

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
    /// Observations, oldest first; at least 3, finite, at most 10,000 (read no further).
    #[serde(deserialize_with = "json_body::capped::<_, f64, MAX_POINTS>")]
    pub values: Vec<f64>,
    /// Optional numeric timestamps (e.g. unix seconds), one per value, strictly increasing.
    #[serde(default, deserialize_with = "json_body::capped_opt::<_, f64, MAX_POINTS>")]
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
        ModelKind::Tabular => "row [value, ...] or {\"feature\": value, ...}",
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    json: &str,
    item: Option<usize>,
    what: &'static str,
) -> Result<T, PredictError> {
    serde_json::from_str(json).map_err(|e| PredictError::Malformed { item, what, error: e.to_string() })
}

fn parse_all<T: serde::de::DeserializeOwned>(list: &[&RawValue], what: &'static str) -> Result<Vec<T>, PredictError> {
    list.iter().enumerate().map(|(i, v)| parse(v.get(), Some(i), what)).collect()
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

/// Items of `kind` from the slices of a list; errors name items by their position.
pub fn decode_list(kind: ModelKind, list: &[&RawValue]) -> Result<Items, PredictError> {
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
        ModelKind::Tabular => Items::Tabular(parse_all(list, what)?),
    })
}

fn decode_one(kind: ModelKind, json: &str) -> Result<Items, PredictError> {
    let what = shape(kind);
    Ok(match kind {
        ModelKind::Sentiment | ModelKind::Topic => Items::Text(vec![parse::<TextInput>(json, None, what)?.text]),
        ModelKind::Email => Items::Email(vec![parse(json, None, what)?]),
        ModelKind::Recsys => {
            let r: RatingInput = parse(json, None, what)?;
            Items::Rating(vec![(r.user_id.into_string(), r.item_id.into_string())])
        }
        ModelKind::Trend => Items::Trend(vec![series(parse(json, None, what)?, 0, false)?]),
        ModelKind::Tabular => Items::Tabular(vec![parse(json, None, what)?]),
    })
}

/// Why a body could not be read as a request.
#[derive(Debug)]
pub enum BodyError {
    /// Not JSON (400).
    Syntax(String),
    /// JSON, but not a request (422).
    Request(PredictError),
}

impl From<PredictError> for BodyError {
    fn from(e: PredictError) -> Self {
        Self::Request(e)
    }
}

fn too_many(max: usize, per: &str) -> PredictError {
    PredictError::invalid(format!("too many items: more than {max}; at most {max} per {per}"))
}

fn shape_error(kind: ModelKind, e: ShapeError, per: &str) -> BodyError {
    match e {
        ShapeError::Syntax(m) => BodyError::Syntax(m),
        ShapeError::NotObject => BodyError::Request(PredictError::invalid(format!(
            "request body must be a JSON object: a {} or {{\"inputs\": [...]}}",
            shape(kind)
        ))),
        ShapeError::Beside { others, .. } => {
            BodyError::Request(PredictError::invalid(format!("unknown fields beside inputs: {others:?}")))
        }
        ShapeError::NotList { .. } => BodyError::Request(PredictError::invalid("inputs must be a list")),
        ShapeError::TooMany { max } => BodyError::Request(too_many(max, per)),
    }
}

/// A request body from its JSON text: one item, or `{"inputs": [...]}` of at most `max_items`.
/// One item of the model's input type is parsed straight into it (the common case); anything
/// else goes through [`json_body::shape`], which reads a list without building a JSON tree and
/// stops at the first item over the limit, so a hostile body costs what its text costs. Only
/// objects are taken on the direct path (serde also reads a struct from an array of its
/// fields), and never emails: their input accepts unknown fields, so `{"inputs": [...]}` would
/// parse as an empty email.
#[inline]
pub fn decode_body(kind: ModelKind, json: &str, max_items: usize) -> Result<Request, BodyError> {
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
        // A record's keys are the package's features, known only to the model: the shape
        // below tells one record from `{"inputs": [...]}` (a column may not be named `inputs`).
        ModelKind::Email | ModelKind::Tabular => None,
    };
    if let Some(items) = one {
        return Ok(Request::new(items?, false));
    }
    match json_body::shape(json, "inputs", max_items).map_err(|e| shape_error(kind, e, "request"))? {
        Shape::One => Ok(Request::new(decode_one(kind, json)?, false)),
        Shape::List(list) => Ok(Request::new(decode_list(kind, &list)?, true)),
    }
}

/// The items of a job from their JSON list text (as stored), at most `max_items`.
pub fn decode_job_items(kind: ModelKind, json: &str, max_items: usize) -> Result<Items, BodyError> {
    let list = json_body::items(json, max_items).map_err(|e| match e {
        ShapeError::NotObject => BodyError::Request(PredictError::invalid("inputs must be a list")),
        e => shape_error(kind, e, "job"),
    })?;
    Ok(decode_list(kind, &list)?)
}

/// A recommend body.
pub fn decode_recommend(json: &str) -> Result<Request, PredictError> {
    let r: RecommendRequest = parse(json, None, "recommend request {\"user_id\": ..., \"k\": ...}")?;
    Ok(Request::new(Items::Recommend { user_id: r.user_id.into_string(), k: r.k }, false))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn decode(kind: ModelKind, json: &str) -> Request {
        decode_body(kind, json, 256).map_err(|e| message(Err(e))).expect("decodes")
    }

    #[test]
    fn one_item_decodes_directly_and_a_batch_through_the_list_reader() {
        assert_eq!(
            texts(&decode(ModelKind::Sentiment, r#"{"text": "good"}"#)),
            Some((&vec!["good".to_string()], false))
        );
        let batch = decode(ModelKind::Topic, r#"{"inputs": [{"text": "a"}, {"text": "b"}]}"#);
        assert_eq!(texts(&batch), Some((&vec!["a".to_string(), "b".to_string()], true)));
    }

    #[test]
    fn bad_bodies_get_errors_that_say_what_is_wrong() {
        let cases = [
            (r#"{"text": 3}"#, "invalid text input {\"text\": ...}: invalid type: integer `3`"),
            (r#"{"text": "a", "extra": 1}"#, "unknown field `extra`"),
            (r#"["hello"]"#, "request body must be a JSON object"),
            (r#"{"inputs": 5}"#, "inputs must be a list"),
            (r#"{"inputs": [], "extra": 1}"#, "unknown fields beside inputs: [\"extra\"]"),
            (r#"{"text": "a"} trailing"#, "syntax: trailing characters"),
        ];
        for (body, want) in cases {
            let got = message(decode_body(ModelKind::Sentiment, body, 4));
            assert!(got.contains(want), "{body}: {got}");
        }
    }

    #[test]
    fn a_list_over_the_limit_is_refused_without_reading_past_it() {
        let body = format!("{{\"inputs\": [{}]}}", [r#"{"text": "a"}"#; 5].join(","));
        assert_eq!(
            message(decode_body(ModelKind::Sentiment, &body, 4)),
            "too many items: more than 4; at most 4 per request"
        );
        assert_eq!(message(decode_body(ModelKind::Sentiment, &body, 5)), "ok");
    }

    #[test]
    fn a_bad_item_in_a_list_is_named_by_its_position() {
        let mut list: Vec<String> = (0..300).map(|i| format!(r#"{{"text": "t{i}"}}"#)).collect();
        list[280] = r#"{"text": 5}"#.into();
        let body = format!("{{\"inputs\": [{}]}}", list.join(","));
        let Err(BodyError::Request(e)) = decode_body(ModelKind::Sentiment, &body, 1000) else { panic!("item 280") };
        assert_eq!(e.item(), Some(280));
        assert!(e.to_string().starts_with("invalid inputs[280] (text input"), "{e}");
        let Err(BodyError::Request(e)) = decode_job_items(ModelKind::Sentiment, &format!("[{}]", list.join(",")), 1000)
        else {
            panic!("item 280 of a job")
        };
        assert_eq!(e.item(), Some(280));
    }

    #[test]
    fn an_email_batch_is_never_taken_for_one_empty_email() {
        let d = decode(ModelKind::Email, r#"{"inputs": [{"subject": "hi", "body": "x"}]}"#);
        assert!(matches!(&d.items, Items::Email(v) if v.len() == 1 && v[0].subject == "hi"));
        assert!(d.batch, "a batch");
    }

    #[test]
    fn trend_series_decode_directly_with_their_timestamps_checked() {
        let d = decode(ModelKind::Trend, r#"{"values": [1, 2, 3], "timestamps": [1, 2, 3], "horizon": 2}"#);
        assert!(matches!(&d.items, Items::Trend(s) if s[0].timestamps == Some(vec![1.0, 2.0, 3.0])));
        let e = message(decode_body(
            ModelKind::Trend,
            r#"{"values": [1, 2, 3], "timestamps": [3, 2, 1], "horizon": 2}"#,
            4,
        ));
        assert!(e.contains("strictly increasing"), "{e}");
    }

    #[test]
    fn a_series_longer_than_the_limit_is_refused_while_it_is_read() {
        let values = vec!["1"; MAX_POINTS + 1].join(",");
        let e = message(decode_body(ModelKind::Trend, &format!(r#"{{"values": [{values}], "horizon": 2}}"#), 4));
        assert!(e.contains(&format!("at most {MAX_POINTS} elements")), "{e}");
    }
}
