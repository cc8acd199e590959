//! What a prediction can fail with. Input errors carry the position of the item at fault, so
//! every codec (and the batch queue, which checks a job in pieces) reports the same position.

use crate::models::ModelError;

/// Why a request was not answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    /// An item (or the request) does not decode into the model's input type.
    #[error("invalid {}{}: {error}", at(*item, ""), what_of(*item, what))]
    Malformed {
        /// Position of the item in the request's list, when it came as a list.
        item: Option<usize>,
        /// What was expected, e.g. `text input {"text": ...}`.
        what: &'static str,
        /// The decoder's message.
        error: String,
    },
    /// An item decodes but is not acceptable (empty, too long, out of range).
    #[error("{}{message}", at(*item, ": "))]
    Invalid {
        /// Position of the item in the request's list, when it came as a list.
        item: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The operation does not apply to this model's kind.
    #[error("{0}")]
    WrongKind(String),
    /// The model failed to run (a server-side error).
    #[error("{0}")]
    Runtime(String),
}

fn at(item: Option<usize>, sep: &str) -> String {
    item.map(|i| format!("inputs[{i}]{sep}")).unwrap_or_default()
}

fn what_of(item: Option<usize>, what: &str) -> String {
    if item.is_some() {
        format!(" ({what})")
    } else {
        what.to_string()
    }
}

impl PredictError {
    /// An input error about the whole request (no item position).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid { item: None, message: message.into() }
    }

    /// An input error about item `item`, named when the request was a list.
    pub fn invalid_item(item: usize, batch: bool, message: impl Into<String>) -> Self {
        Self::Invalid { item: batch.then_some(item), message: message.into() }
    }

    /// The same error with item positions moved by `offset` (a piece of a longer list).
    pub fn offset(self, offset: usize) -> Self {
        match self {
            Self::Malformed { item, what, error } => Self::Malformed { item: item.map(|i| i + offset), what, error },
            Self::Invalid { item, message } => Self::Invalid { item: item.map(|i| i + offset), message },
            other => other,
        }
    }

    /// Whether the caller is at fault (as opposed to the server).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, Self::Runtime(_))
    }

    /// The item at fault, if one is.
    pub fn item(&self) -> Option<usize> {
        match self {
            Self::Malformed { item, .. } | Self::Invalid { item, .. } => *item,
            _ => None,
        }
    }
}

impl From<ModelError> for PredictError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Invalid(e) => Self::invalid(e.to_string()),
            ModelError::Runtime(e) => Self::Runtime(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_item_only_for_lists() {
        let e = PredictError::Malformed { item: Some(3), what: "text input", error: "bad".into() };
        assert_eq!(e.to_string(), "invalid inputs[3] (text input): bad");
        let e = PredictError::Malformed { item: None, what: "text input", error: "bad".into() };
        assert_eq!(e.to_string(), "invalid text input: bad");
        assert_eq!(PredictError::invalid_item(2, true, "empty").to_string(), "inputs[2]: empty");
        assert_eq!(PredictError::invalid_item(2, false, "empty").to_string(), "empty");
    }

    #[test]
    fn offsets_move_item_positions_and_nothing_else() {
        let e = PredictError::invalid_item(24, true, "text must not be empty").offset(256);
        assert_eq!(e.to_string(), "inputs[280]: text must not be empty");
        assert_eq!(e.item(), Some(280));
        assert_eq!(PredictError::invalid("inputs must not be empty").offset(256).item(), None);
    }
}
