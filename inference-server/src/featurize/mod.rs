//! Featurizers: raw request data -> model input tensors, in Rust, exactly as `training/` does.

pub mod recsys;
pub mod tabular;
pub mod text;
pub mod transformer;
pub mod trend;

/// Why an input could not be featurized. These are the caller's fault (422).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeaturizeError {
    /// The input is not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
}
