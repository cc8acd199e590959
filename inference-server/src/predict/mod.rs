//! The protocol-neutral prediction layer, between the HTTP codecs (and the batch worker) and the
//! loaded models. A codec decodes its wire format into a [`Request`]; [`run`] validates it,
//! runs it through the model and returns one [`Prediction`] per item, postprocessed with the
//! rules `model.json` carries; the codec encodes those back. Nothing here knows about HTTP.
//!
//! - [`items`]: the JSON item shapes (`{"text"}`, `{"subject","body"}`, ...) shared by the v1
//!   routes and the batch queue;
//! - [`tensors`]: the named-tensor view of every kind (the Open Inference Protocol's shape of
//!   the same requests and answers), with the one output table its metadata is built from;
//! - [`prediction`]: answers per model family and the postprocessing that makes them;
//! - [`error`]: what can go wrong, with the position of the item at fault.

pub mod error;
pub mod items;
pub mod prediction;
mod run;
pub mod tensors;
mod validate;
pub use validate::validate;

pub use error::PredictError;
pub use prediction::{LabelProbability, Prediction};
pub use run::{email_text, run, Limits, WORK_GUARD};

use crate::models::trend::TrendInput;

/// An email.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct EmailInput {
    /// Subject line.
    #[serde(default)]
    pub subject: String,
    /// Plain-text (or raw HTML) body.
    #[serde(default)]
    pub body: String,
}

/// One series to forecast, with the timestamps the forecast's own timestamps continue.
#[derive(Debug, Clone)]
pub struct Series {
    /// Values, horizon and season length.
    pub input: TrendInput,
    /// One timestamp per value, strictly increasing, when given.
    pub timestamps: Option<Vec<f64>>,
}

/// The items of a request, one variant per model family.
#[derive(Debug, Clone)]
pub enum Items {
    /// Texts for sentiment / topic.
    Text(Vec<String>),
    /// Emails.
    Email(Vec<EmailInput>),
    /// (user id, item id) pairs.
    Rating(Vec<(String, String)>),
    /// Top-k items for a user.
    Recommend {
        /// Raw user id.
        user_id: String,
        /// How many.
        k: usize,
    },
    /// Series.
    Trend(Vec<Series>),
    /// Tabular rows.
    Tabular(Vec<crate::featurize::tabular::Row>),
}

impl Items {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(v) => v.len(),
            Self::Email(v) => v.len(),
            Self::Rating(v) => v.len(),
            Self::Recommend { .. } => 1,
            Self::Trend(v) => v.len(),
            Self::Tabular(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Split into pieces of at most `size` items, in order (the batch worker runs a job in
    /// pieces of the per-request limit). A recommendation is one piece.
    pub fn chunks(self, size: usize) -> Vec<Items> {
        fn split<T>(v: Vec<T>, size: usize, wrap: fn(Vec<T>) -> Items) -> Vec<Items> {
            let mut out = Vec::with_capacity(v.len().div_ceil(size));
            let mut it = v.into_iter().peekable();
            while it.peek().is_some() {
                out.push(wrap(it.by_ref().take(size).collect()));
            }
            out
        }
        let size = size.max(1);
        match self {
            Self::Text(v) => split(v, size, Self::Text),
            Self::Email(v) => split(v, size, Self::Email),
            Self::Rating(v) => split(v, size, Self::Rating),
            Self::Trend(v) => split(v, size, Self::Trend),
            Self::Tabular(v) => split(v, size, Self::Tabular),
            r @ Self::Recommend { .. } => vec![r],
        }
    }
}

/// A decoded request: its items, and whether it was a list (errors then name the item at
/// fault by its position, `inputs[i]`).
#[derive(Debug, Clone)]
pub struct Request {
    /// The items.
    pub items: Items,
    /// Whether the items came as a list.
    pub batch: bool,
}

impl Request {
    /// One item, or a list.
    pub fn new(items: Items, batch: bool) -> Self {
        Self { items, batch }
    }
}
