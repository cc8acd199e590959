//! Tabular rows (`featurizer.type: tabular`): the package names its feature columns in graph
//! order (`featurizer.features`); a request item is either an array of numbers in that order
//! (KServe's and MLServer's `instances` form) or an object of feature name -> number (a record,
//! as pandas writes them). Both become one row of the float matrix the graph takes. Pure.
//!
//! The item is read by a small visitor instead of `#[serde(untagged)]`: untagged enums lose the
//! reason a row was refused ("did not match any variant"), keep only the last of two equal
//! keys, and cannot stop reading at the column limit.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;

/// Most feature columns a package may declare, and most values one item may carry.
pub const MAX_FEATURES: usize = 2048;
/// Longest feature name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// The drift bin of a categorical column's values outside its declared categories.
pub const OTHER_CATEGORY: &str = "other";

/// One request item of a tabular model.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// Values in the package's feature order.
    Values(Vec<f64>),
    /// (feature name, value) pairs, in the order sent.
    Named(Vec<(String, f64)>),
}

impl Row {
    /// Values carried (for the work-size estimate).
    pub fn len(&self) -> usize {
        match self {
            Self::Values(v) => v.len(),
            Self::Named(v) => v.len(),
        }
    }

    /// Whether the item carries no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = Row;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an array of numbers in feature order, or an object of feature name -> number")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_FEATURES));
        while let Some(v) = seq.next_element::<f64>()? {
            if values.len() == MAX_FEATURES {
                return Err(de::Error::custom(format!("more than {MAX_FEATURES} values")));
            }
            values.push(v);
        }
        Ok(Row::Values(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut pairs: Vec<(String, f64)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if pairs.len() == MAX_FEATURES {
                return Err(de::Error::custom(format!("more than {MAX_FEATURES} features")));
            }
            let value =
                map.next_value::<f64>().map_err(|e| de::Error::custom(format!("feature '{}': {e}", shown(&name))))?;
            pairs.push((name, value));
        }
        Ok(Row::Named(pairs))
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Row, D::Error> {
        d.deserialize_any(RowVisitor)
    }
}

/// A name as an error message shows it: at most 64 characters.
fn shown(name: &str) -> String {
    name.chars().take(64).collect()
}

/// One feature column as `model.json` declares it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The feature's name: the key of a record item and the `feature` label of its drift series.
    pub name: String,
    /// For a categorical column: its codes as the float tensor carries them. Its drift is the
    /// share of each code (and of any other value, `other`) instead of quantile bins.
    #[serde(default)]
    pub categories: Option<Vec<f64>>,
    /// What the feature is (reported, not interpreted).
    #[serde(default)]
    pub description: Option<String>,
}

impl Column {
    /// The drift bin labels of a categorical column: each code, then `other`.
    pub fn category_labels(&self) -> Option<Vec<String>> {
        self.categories
            .as_ref()
            .map(|c| c.iter().map(|v| format!("{v}")).chain(std::iter::once(OTHER_CATEGORY.to_string())).collect())
    }
}

/// `model.json` `featurizer` of a tabular package.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabularSettings {
    /// `tabular`.
    #[serde(rename = "type")]
    pub family: String,
    /// The feature columns, in the order of the graph's input tensor's last dimension.
    pub features: Vec<Column>,
    /// The graph output holding the class probabilities (skl2onnx: `probabilities`); the
    /// graph's first output when absent.
    #[serde(default)]
    pub output: Option<String>,
}

/// The package's feature columns, checked, with a name index.
#[derive(Debug, Clone)]
pub struct Columns {
    columns: Vec<Column>,
    index: HashMap<String, usize>,
}

impl Columns {
    /// The columns of `settings`, refused (with the reason) when empty, too many, unnamed,
    /// named twice or named like a feature the server computes itself (`reserved`).
    pub fn new(settings: &TabularSettings, reserved: &[&str]) -> Result<Self, String> {
        let columns = settings.features.clone();
        if columns.is_empty() || columns.len() > MAX_FEATURES {
            return Err(format!("featurizer.features must list 1 to {MAX_FEATURES} columns"));
        }
        let mut index = HashMap::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            let bad = |why: &str| format!("featurizer.features[{i}] '{}': {why}", shown(&c.name));
            if c.name.is_empty() || c.name.len() > MAX_NAME_BYTES || c.name.chars().any(char::is_control) {
                return Err(bad(&format!("names are 1 to {MAX_NAME_BYTES} bytes without control characters")));
            }
            if reserved.contains(&c.name.as_str()) || c.name == "inputs" {
                return Err(bad("the name is reserved (a drift feature the server computes, or `inputs`)"));
            }
            if let Some(codes) = &c.categories {
                if codes.is_empty() || codes.len() > 63 || codes.iter().any(|v| !v.is_finite()) {
                    return Err(bad("categories must be 1 to 63 finite codes"));
                }
                if codes.iter().enumerate().any(|(j, v)| codes[..j].contains(v)) {
                    return Err(bad("categories lists a code twice"));
                }
            }
            if index.insert(c.name.clone(), i).is_some() {
                return Err(bad("listed twice"));
            }
        }
        Ok(Self { columns, index })
    }

    /// The columns, in order.
    pub fn all(&self) -> &[Column] {
        &self.columns
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether there are none (never for a checked package).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The column named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The items as one row-major `[items, columns]` float32 matrix. An item at fault is
    /// refused with its index and the reason: a wrong count, a missing, unknown or repeated
    /// feature, or a value outside the float32 range.
    pub fn matrix(&self, rows: &[Row]) -> Result<Vec<f32>, (usize, String)> {
        let width = self.columns.len();
        let mut out = vec![0f32; rows.len() * width];
        for (i, row) in rows.iter().enumerate() {
            let cells = &mut out[i * width..(i + 1) * width];
            match row {
                Row::Values(values) => {
                    if values.len() != width {
                        return Err((i, format!("{} values; the model takes {width} features", values.len())));
                    }
                    for (j, v) in values.iter().enumerate() {
                        cells[j] = self.cell(j, *v).map_err(|m| (i, m))?;
                    }
                }
                Row::Named(pairs) => {
                    let mut seen = vec![false; width];
                    for (name, v) in pairs {
                        let j = self.position(name).ok_or_else(|| {
                            (i, format!("unknown feature '{}' (the model takes {})", shown(name), self.listing()))
                        })?;
                        if std::mem::replace(&mut seen[j], true) {
                            return Err((i, format!("feature '{}' given twice", shown(name))));
                        }
                        cells[j] = self.cell(j, *v).map_err(|m| (i, m))?;
                    }
                    if let Some(j) = seen.iter().position(|s| !s) {
                        let missing = seen.iter().filter(|s| !**s).count();
                        return Err((
                            i,
                            format!("missing feature '{}' ({missing} of {width} missing)", self.columns[j].name),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    fn cell(&self, column: usize, v: f64) -> Result<f32, String> {
        if !v.is_finite() || v.abs() > f64::from(f32::MAX) {
            return Err(format!("feature '{}': {v:e} is outside the float32 range", self.columns[column].name));
        }
        Ok(v as f32)
    }

    /// The first names, for an error message.
    fn listing(&self) -> String {
        let names: Vec<&str> = self.columns.iter().take(8).map(|c| c.name.as_str()).collect();
        let more = self.columns.len().saturating_sub(names.len());
        if more > 0 {
            format!("{} and {more} more", names.join(", "))
        } else {
            names.join(", ")
        }
    }
}

/// The drift bin of a categorical value: its code's position, else `other` (the last). Pure.
pub fn category_bin(codes: &[f64], value: f32) -> usize {
    codes.iter().position(|c| *c as f32 == value).unwrap_or(codes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Columns {
        let settings: TabularSettings = serde_json::from_value(serde_json::json!({
            "type": "tabular",
            "features": [{"name": "age"}, {"name": "income"}, {"name": "plan", "categories": [0, 1, 2]}],
        }))
        .unwrap();
        Columns::new(&settings, &["confidence"]).unwrap()
    }

    fn row(json: &str) -> Row {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn arrays_and_records_become_the_same_row() {
        let c = columns();
        let a = c.matrix(&[row("[41, 52000.5, 2]")]).unwrap();
        let b = c.matrix(&[row(r#"{"plan": 2, "income": 52000.5, "age": 41}"#)]).unwrap();
        assert_eq!(a, vec![41.0, 52000.5, 2.0]);
        assert_eq!(a, b);
    }

    #[test]
    fn a_row_at_fault_is_refused_naming_the_feature_and_the_reason() {
        let c = columns();
        let err = |json: &str| c.matrix(&[row("[1, 2, 0]"), row(json)]).unwrap_err();
        assert_eq!(err("[1, 2]"), (1, "2 values; the model takes 3 features".into()));
        assert_eq!(err(r#"{"age": 1, "income": 2}"#), (1, "missing feature 'plan' (1 of 3 missing)".into()));
        assert_eq!(
            err(r#"{"age": 1, "income": 2, "plan": 0, "zip": 9}"#),
            (1, "unknown feature 'zip' (the model takes age, income, plan)".into())
        );
        assert_eq!(err(r#"{"age": 1, "age": 2, "plan": 0}"#), (1, "feature 'age' given twice".into()));
        assert_eq!(err("[1e300, 2, 0]"), (1, "feature 'age': 1e300 is outside the float32 range".into()));
    }

    #[test]
    fn items_that_are_not_numbers_are_refused_by_the_decoder_with_the_feature() {
        let e = serde_json::from_str::<Row>(r#"{"age": "old"}"#).unwrap_err().to_string();
        assert!(e.contains("feature 'age'") && e.contains("expected f64"), "{e}");
        assert!(serde_json::from_str::<Row>("[1, null]").is_err());
        assert!(serde_json::from_str::<Row>("\"text\"").is_err());
        let many = format!("[{}]", vec!["1"; MAX_FEATURES + 1].join(","));
        assert!(serde_json::from_str::<Row>(&many).unwrap_err().to_string().contains("more than"));
    }

    #[test]
    fn bad_column_lists_are_refused_naming_the_column() {
        let make = |features: serde_json::Value| {
            let s: TabularSettings =
                serde_json::from_value(serde_json::json!({"type": "tabular", "features": features})).unwrap();
            Columns::new(&s, &["confidence"]).map(|_| ()).unwrap_err()
        };
        assert!(make(serde_json::json!([])).contains("1 to"));
        assert!(make(serde_json::json!([{"name": "a"}, {"name": "a"}])).contains("listed twice"));
        assert!(make(serde_json::json!([{"name": "confidence"}])).contains("reserved"));
        assert!(make(serde_json::json!([{"name": ""}])).contains("1 to 128 bytes"));
        assert!(make(serde_json::json!([{"name": "c", "categories": [1, 1]}])).contains("twice"));
    }

    #[test]
    fn categorical_values_fall_in_their_code_or_other() {
        assert_eq!(category_bin(&[0.0, 1.0, 2.0], 1.0), 1);
        assert_eq!(category_bin(&[0.0, 1.0, 2.0], 7.0), 3);
        let c = Column { name: "plan".into(), categories: Some(vec![0.0, 1.5]), description: None };
        assert_eq!(c.category_labels().unwrap(), vec!["0", "1.5", "other"]);
    }
}
