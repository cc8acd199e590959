//! What both prediction stores share: the aspects a feedback item claims, and the store error.

/// What a feedback item can count for a prediction, each at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aspect {
    /// The truth (label, rating, observed values).
    Truth,
    /// The user's opinion (satisfaction score, thumbs).
    Opinion,
}

impl Aspect {
    pub(super) fn bit(self) -> u8 {
        match self {
            Self::Truth => 1,
            Self::Opinion => 2,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Truth => "truth",
            Self::Opinion => "opinion",
        }
    }
}

/// The store cannot answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("prediction store unavailable: {0}")]
pub struct StoreError(pub String);
