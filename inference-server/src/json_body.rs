//! Bounded reading of JSON bodies: one item, or `{"<key>": [item, ...]}` (v1 predict and jobs
//! take `inputs`, feedback takes `feedback`), and capped lists inside items.
//!
//! A body is never turned into a `serde_json::Value` tree: a tree of tiny objects costs about
//! 80 times its text (a 2 MiB body of `{}` items is about 160 MB), which a few concurrent
//! requests turn into an OOM kill. Here the top level is scanned for the list's key, the list is
//! read as borrowed slices of the body text (16 bytes an item, and never more than `max_items`:
//! the item after the last allowed one ends the read), and each item is then parsed straight
//! into its typed form. Memory is the body plus its typed items.
//!
//! Written here rather than taken from a crate: serde_json gives the pieces (`RawValue`,
//! visitors), and a streaming JSON crate would add a second parser for four functions.

use serde::de::{self, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::fmt;

/// How a body is laid out.
#[derive(Debug)]
pub enum Shape<'a> {
    /// One item: the whole body.
    One,
    /// The list under the key, as slices of the body.
    List(Vec<&'a RawValue>),
}

/// Why a body is not one item or a list under its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Not JSON at all.
    #[error("{0}")]
    Syntax(String),
    /// JSON, but not an object.
    #[error("the body is not a JSON object")]
    NotObject,
    /// Other fields beside the list's key (the first few, by name).
    #[error("unknown fields beside {key}: {others:?}")]
    Beside {
        /// The list's key.
        key: &'static str,
        /// Names of the other fields (at most [`MAX_NAMED_FIELDS`]).
        others: Vec<String>,
    },
    /// The key holds something other than a list.
    #[error("{key} must be a list")]
    NotList {
        /// The list's key.
        key: &'static str,
    },
    /// More items than allowed; reading stopped at the first one over.
    #[error("too many items: more than {max}")]
    TooMany {
        /// The most items allowed.
        max: usize,
    },
}

/// How many of the other fields an error names.
pub const MAX_NAMED_FIELDS: usize = 8;

struct Top<'a> {
    list: Option<&'a RawValue>,
    others: Vec<String>,
}

struct TopVisitor(&'static str);

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut top = Top { list: None, others: Vec::new() };
        while let Some(key) = map.next_key::<String>()? {
            let value: &'de RawValue = map.next_value()?;
            if key == self.0 {
                top.list = Some(value);
            } else if top.others.len() < MAX_NAMED_FIELDS {
                top.others.push(key);
            }
        }
        Ok(top)
    }
}

fn syntax_or(e: &serde_json::Error, data: ShapeError) -> ShapeError {
    match e.classify() {
        serde_json::error::Category::Data => data,
        _ => ShapeError::Syntax(e.to_string()),
    }
}

/// Whether `json` is one item or a list under `key`, reading at most `max_items` of the list.
pub fn shape<'a>(json: &'a str, key: &'static str, max_items: usize) -> Result<Shape<'a>, ShapeError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let top = de.deserialize_map(TopVisitor(key)).map_err(|e| syntax_or(&e, ShapeError::NotObject))?;
    de.end().map_err(|e| ShapeError::Syntax(e.to_string()))?;
    match top.list {
        None => Ok(Shape::One),
        Some(_) if !top.others.is_empty() => Err(ShapeError::Beside { key, others: top.others }),
        Some(list) => items(list.get(), max_items).map(Shape::List).map_err(|e| match e {
            ShapeError::NotObject => ShapeError::NotList { key },
            e => e,
        }),
    }
}

struct ListSeed<'c> {
    max: usize,
    over: &'c Cell<bool>,
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if out.len() == self.max {
                self.over.set(true);
                return Err(de::Error::custom("too many items"));
            }
            out.push(item);
        }
        Ok(out)
    }
}

/// The items of a JSON list (a stored job's), as slices of it, at most `max_items`. A value
/// that is not a list is [`ShapeError::NotObject`]'s sibling for lists: reported as `NotObject`,
/// which [`shape`] renames for its key.
pub fn items(json: &str, max_items: usize) -> Result<Vec<&RawValue>, ShapeError> {
    let over = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(json);
    let list = de.deserialize_seq(ListSeed { max: max_items, over: &over }).map_err(|e| {
        if over.get() {
            ShapeError::TooMany { max: max_items }
        } else {
            syntax_or(&e, ShapeError::NotObject)
        }
    })?;
    de.end().map_err(|e| ShapeError::Syntax(e.to_string()))?;
    Ok(list)
}

/// A list of at most `N` elements, for `#[serde(deserialize_with = ...)]`: the element after the
/// `N`th ends the read with an error naming the limit, so a hostile list costs no more than the
/// limit.
pub fn capped<'de, D, T, const N: usize>(d: D) -> Result<Vec<T>, D::Error>
where
    D: de::Deserializer<'de>,
    T: de::Deserialize<'de>,
{
    struct Capped<T, const N: usize>(std::marker::PhantomData<T>);
    impl<'de, T: de::Deserialize<'de>, const N: usize> Visitor<'de> for Capped<T, N> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {N} elements")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N).min(4096));
            while let Some(v) = seq.next_element()? {
                if out.len() == N {
                    return Err(de::Error::custom(format_args!("a list of at most {N} elements is accepted")));
                }
                out.push(v);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Capped::<T, N>(std::marker::PhantomData))
}

/// [`capped`] for an optional list (`null` or absent is `None`).
pub fn capped_opt<'de, D, T, const N: usize>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: de::Deserializer<'de>,
    T: de::Deserialize<'de>,
{
    struct Capped<T, const N: usize>(Vec<T>);
    impl<'de, T: de::Deserialize<'de>, const N: usize> de::Deserialize<'de> for Capped<T, N> {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            capped::<D, T, N>(d).map(Self)
        }
    }
    Ok(<Option<Capped<T, N>> as de::Deserialize>::deserialize(d)?.map(|c| c.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_len(r: Result<Shape<'_>, ShapeError>) -> Result<Option<usize>, ShapeError> {
        r.map(|s| match s {
            Shape::One => None,
            Shape::List(v) => Some(v.len()),
        })
    }

    #[test]
    fn one_item_and_a_list_are_told_apart() {
        assert_eq!(list_len(shape(r#"{"text": "a"}"#, "inputs", 4)), Ok(None));
        assert_eq!(list_len(shape(r#"{"inputs": [{"text": "a"}, 1, "x"]}"#, "inputs", 4)), Ok(Some(3)));
        assert_eq!(list_len(shape(r#"{"inputs": []}"#, "inputs", 4)), Ok(Some(0)));
    }

    #[test]
    fn reading_stops_at_the_first_item_over_the_limit() {
        assert_eq!(list_len(shape(r#"{"inputs": [1, 2, 3, 4]}"#, "inputs", 4)), Ok(Some(4)));
        assert_eq!(list_len(shape(r#"{"inputs": [1, 2, 3, 4, 5]}"#, "inputs", 4)), Err(ShapeError::TooMany { max: 4 }));
        // Over the limit is found even when the rest of the list is broken.
        assert_eq!(items("[1, 2, 3, 4, 5, ", 4).map(|v| v.len()), Err(ShapeError::TooMany { max: 4 }));
    }

    #[test]
    fn bad_shapes_are_named() {
        assert_eq!(list_len(shape(r#"[1, 2]"#, "inputs", 4)), Err(ShapeError::NotObject));
        assert_eq!(list_len(shape(r#""text""#, "inputs", 4)), Err(ShapeError::NotObject));
        assert_eq!(list_len(shape(r#"{"inputs": 5}"#, "inputs", 4)), Err(ShapeError::NotList { key: "inputs" }));
        assert_eq!(
            list_len(shape(r#"{"inputs": [], "a": 1, "b": 2}"#, "inputs", 4)),
            Err(ShapeError::Beside { key: "inputs", others: vec!["a".into(), "b".into()] })
        );
        assert!(matches!(list_len(shape(r#"{"inputs": [1,"#, "inputs", 4)), Err(ShapeError::Syntax(_))));
        assert!(matches!(list_len(shape(r#"{"text": "a"} x"#, "inputs", 4)), Err(ShapeError::Syntax(_))));
    }

    #[test]
    fn a_hostile_number_of_fields_is_named_by_the_first_few() {
        let body = format!(
            "{{\"inputs\": [], {}}}",
            (0..10_000).map(|i| format!("\"f{i}\": 0")).collect::<Vec<_>>().join(",")
        );
        match shape(&body, "inputs", 4) {
            Err(ShapeError::Beside { others, .. }) => assert_eq!(others.len(), MAX_NAMED_FIELDS),
            other => panic!("expected Beside, got {other:?}"),
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Points {
        #[serde(deserialize_with = "capped::<_, f64, 3>")]
        values: Vec<f64>,
        #[serde(default, deserialize_with = "capped_opt::<_, f64, 3>")]
        timestamps: Option<Vec<f64>>,
    }

    #[test]
    fn capped_lists_refuse_the_element_over_their_limit() {
        let p: Points = serde_json::from_str(r#"{"values": [1, 2, 3], "timestamps": null}"#).expect("three values");
        assert_eq!((p.values.len(), p.timestamps), (3, None));
        let p: Points = serde_json::from_str(r#"{"values": [1], "timestamps": [5]}"#).expect("one value");
        assert_eq!(p.timestamps, Some(vec![5.0]));
        let e = serde_json::from_str::<Points>(r#"{"values": [1, 2, 3, 4]}"#).expect_err("four values");
        assert!(e.to_string().contains("at most 3 elements"), "{e}");
        let e = serde_json::from_str::<Points>(r#"{"values": [1], "timestamps": [1, 2, 3, 4]}"#).expect_err("four");
        assert!(e.to_string().contains("at most 3 elements"), "{e}");
    }
}
