//! The operator's error type and its one mapping to a short reason (metrics label, event reason,
//! `Degraded` condition).

use crate::render::RenderError;

/// Everything a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("cannot {action}: {source}")]
    Kube {
        /// What the operator was doing.
        action: &'static str,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The resource cannot be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl Error {
    /// A short, bounded reason: the `reason` label of the error metric and the event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube { source: kube::Error::Api(e), .. } => match e.code {
                401 | 403 => "Forbidden",
                404 => "NotFound",
                409 => "Conflict",
                422 => "Invalid",
                429 => "Throttled",
                500..=599 => "ApiServerError",
                _ => "ApiError",
            },
            Error::Kube { .. } => "ApiUnreachable",
            Error::Render(_) => "RenderFailed",
        }
    }
}
