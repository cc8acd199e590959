//! Checks on a request before any model work: counts, emptiness, sizes, and that the request
//! suits the model's kind. Items at fault are named by position when the request is a list.

use super::{Items, Limits, PredictError, Request};
use crate::package::ModelKind;

fn text(limits: Limits, field: &str, t: &str, required: bool) -> Result<(), String> {
    if required && t.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if t.len() > limits.max_text_bytes {
        return Err(format!("{field} is {} bytes; the limit is {}", t.len(), limits.max_text_bytes));
    }
    Ok(())
}

fn id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 256 {
        return Err(format!("{field} must be 1 to 256 characters"));
    }
    Ok(())
}

fn each<T>(items: &[T], batch: bool, check: impl Fn(&T) -> Result<(), String>) -> Result<(), PredictError> {
    items.iter().enumerate().try_for_each(|(i, item)| check(item).map_err(|m| PredictError::invalid_item(i, batch, m)))
}

/// Whether a request of these items can go to a model of `kind`.
fn suits(items: &Items, kind: ModelKind) -> bool {
    match items {
        Items::Text(_) => matches!(kind, ModelKind::Sentiment | ModelKind::Topic),
        Items::Email(_) => kind == ModelKind::Email,
        Items::Rating(_) | Items::Recommend { .. } => kind == ModelKind::Recsys,
        Items::Trend(_) => kind == ModelKind::Trend,
        Items::Tabular(_) => kind == ModelKind::Tabular,
    }
}

/// Check `request` for a model of `kind` under `limits`.
#[inline]
pub fn validate(request: &Request, kind: ModelKind, limits: Limits) -> Result<(), PredictError> {
    let n = request.items.len();
    if n == 0 {
        return Err(PredictError::invalid("inputs must not be empty"));
    }
    if n > limits.max_batch_items {
        return Err(PredictError::invalid(format!(
            "too many items: {n}; at most {} per request",
            limits.max_batch_items
        )));
    }
    if !suits(&request.items, kind) {
        return Err(PredictError::WrongKind(format!("this operation is not available for {} models", kind.as_str())));
    }
    let batch = request.batch;
    match &request.items {
        Items::Text(v) => each(v, batch, |t| text(limits, "text", t, true)),
        Items::Email(v) => each(v, batch, |e| {
            text(limits, "subject", &e.subject, false)?;
            text(limits, "body", &e.body, false)?;
            if e.subject.trim().is_empty() && e.body.trim().is_empty() {
                return Err("subject and body must not both be empty".into());
            }
            Ok(())
        }),
        Items::Rating(v) => each(v, batch, |(u, i)| {
            id("user_id", u)?;
            id("item_id", i)
        }),
        Items::Recommend { user_id, k } => {
            id("user_id", user_id).map_err(PredictError::invalid)?;
            if *k == 0 || *k > 100 {
                return Err(PredictError::invalid(format!("k must be between 1 and 100, got {k}")));
            }
            Ok(())
        }
        // Series and rows are checked against the model's own settings when they run.
        Items::Trend(_) | Items::Tabular(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_batch_items: 4, max_text_bytes: 10, dynamic_batching: false };

    fn texts(t: &[&str], batch: bool) -> Request {
        Request::new(Items::Text(t.iter().map(|s| s.to_string()).collect()), batch)
    }

    #[test]
    fn counts_and_sizes_are_checked_before_any_work() {
        let err = |r: &Request| validate(r, ModelKind::Sentiment, LIMITS).unwrap_err().to_string();
        assert_eq!(err(&texts(&[], true)), "inputs must not be empty");
        assert_eq!(err(&texts(&["a"; 5], true)), "too many items: 5; at most 4 per request");
        assert_eq!(err(&texts(&["a", " "], true)), "inputs[1]: text must not be empty");
        assert_eq!(err(&texts(&[" "], false)), "text must not be empty");
        assert_eq!(err(&texts(&["a", "01234567890"], true)), "inputs[1]: text is 11 bytes; the limit is 10");
    }

    #[test]
    fn a_request_for_another_kind_is_refused() {
        let r = Request::new(Items::Recommend { user_id: "1".into(), k: 5 }, false);
        assert!(matches!(validate(&r, ModelKind::Topic, LIMITS), Err(PredictError::WrongKind(_))));
    }
}
