//! Optional bearer-token authentication of the API routes (`--auth-token-file`).
//!
//! The token file holds one token per line (blank lines and `#` comments skipped), typically a
//! Kubernetes Secret mounted as a volume. It is read again every [`RELOAD`], so a rotated Secret
//! takes effect without a restart, and an old and a new token can be valid together while
//! clients move. A file that turns unreadable or empty keeps the tokens last read (and says so
//! in the log) rather than opening or closing the server.
//!
//! Probes (`/health`, `/ready`, `/v2/health/*`, model readiness), `/metrics`, the dependency
//! health routes and `/openapi.json` stay open: they are what kubelets, Prometheus and
//! operators call, and a NetworkPolicy is the tool that limits who reaches them.
//!
//! Only SHA-256 digests of the tokens are kept, and a presented token's digest is compared with
//! each in constant time (`subtle`), so neither memory nor timing gives a token away.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The routes that stay open when tokens are required (the router and the OpenAPI document
/// both read this list).
pub const OPEN_ROUTES: [&str; 10] = [
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/storage/health",
    "/mlflow/health",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/{name}/ready",
    "/v2/models/{name}/versions/{version}/ready",
];

/// How often the token file is read again.
pub const RELOAD: Duration = Duration::from_secs(10);

/// Longest token file accepted (a Secret holds at most 1 MiB).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// Not readable.
    #[error("cannot read the token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Larger than a Secret can be.
    #[error("the token file {0} is larger than 1 MiB")]
    TooLarge(PathBuf),
    /// No token in it.
    #[error("the token file {0} holds no token (one per line; blank lines and # comments are skipped)")]
    Empty(PathBuf),
}

/// The accepted tokens, as digests, and the file they come from.
#[derive(Debug)]
pub struct Auth {
    path: PathBuf,
    digests: RwLock<Vec<[u8; 32]>>,
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The tokens in a token file's text: one per line, trimmed; blank lines and `#` comments
/// skipped.
fn parse(text: &str) -> Vec<[u8; 32]> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|l| digest(l.as_bytes())).collect()
}

fn read(path: &Path) -> Result<Vec<[u8; 32]>, TokenFileError> {
    let read_error = |source| TokenFileError::Read { path: path.to_path_buf(), source };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_FILE_BYTES {
        return Err(TokenFileError::TooLarge(path.to_path_buf()));
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let digests = parse(&text);
    if digests.is_empty() {
        return Err(TokenFileError::Empty(path.to_path_buf()));
    }
    Ok(digests)
}

/// What a request's `Authorization` header says.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A valid token.
    Allowed,
    /// No bearer token.
    Missing,
    /// A bearer token that is not valid.
    Invalid,
}

impl Auth {
    /// Read the token file; an unreadable or empty file is a start-up error.
    pub fn from_file(path: &Path) -> Result<Self, TokenFileError> {
        Ok(Self { path: path.to_path_buf(), digests: RwLock::new(read(path)?) })
    }

    /// Read the file again; on failure keep the tokens already read.
    pub fn reload(&self) -> Result<(), TokenFileError> {
        let fresh = read(&self.path)?;
        *self.digests.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Judge an `Authorization` header value (`Bearer <token>`, the scheme in any case).
    pub fn check(&self, header: Option<&[u8]>) -> Verdict {
        let Some(token) = header.and_then(bearer_token) else { return Verdict::Missing };
        let presented = digest(token);
        let digests = self.digests.read().unwrap_or_else(PoisonError::into_inner);
        // Every digest is compared, so the time taken does not say which one matched.
        let matched = digests.iter().fold(subtle::Choice::from(0), |any, d| any | d.ct_eq(&presented));
        if bool::from(matched) {
            Verdict::Allowed
        } else {
            Verdict::Invalid
        }
    }
}

/// The token of a `Bearer` credential (RFC 6750: scheme case-insensitive, one or more spaces).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.starts_with(b" ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Re-read the token file every [`RELOAD`], for as long as the server runs.
pub async fn keep_reloading(auth: Arc<Auth>) {
    loop {
        tokio::time::sleep(RELOAD).await;
        if let Err(e) = auth.reload() {
            tracing::warn!(error = %e, "keeping the tokens last read");
        }
    }
}

/// The middleware: 401 with a JSON error and a `WWW-Authenticate` challenge unless the
/// request carries a valid bearer token.
pub async fn require_token(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Result<Response, ApiError> {
    match auth.check(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes())) {
        Verdict::Allowed => Ok(next.run(req).await),
        Verdict::Missing => Err(ApiError::Unauthorized { invalid_token: false }),
        Verdict::Invalid => Err(ApiError::Unauthorized { invalid_token: true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_with(text: &str) -> (Auth, PathBuf) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("inferwatch-auth-{}-{n}", std::process::id()));
        std::fs::write(&path, text).expect("write");
        (Auth::from_file(&path).expect("tokens"), path)
    }

    #[test]
    fn a_listed_token_is_allowed_in_any_scheme_case_and_others_are_not() {
        let (auth, _) = auth_with("# rotation\nold-token\n\n  new-token  \n");
        assert_eq!(auth.check(Some(b"Bearer old-token")), Verdict::Allowed);
        assert_eq!(auth.check(Some(b"bearer   new-token")), Verdict::Allowed);
        assert_eq!(auth.check(Some(b"Bearer wrong")), Verdict::Invalid);
        assert_eq!(auth.check(Some(b"Bearer # rotation")), Verdict::Invalid);
        assert_eq!(auth.check(Some(b"Basic b2xkLXRva2Vu")), Verdict::Missing);
        assert_eq!(auth.check(Some(b"Bearer")), Verdict::Missing);
        assert_eq!(auth.check(Some(b"Bearer ")), Verdict::Missing);
        assert_eq!(auth.check(Some(b"Bearerold-token")), Verdict::Missing);
        assert_eq!(auth.check(None), Verdict::Missing);
    }

    #[test]
    fn an_empty_or_missing_token_file_is_refused_and_a_reload_keeps_the_last_tokens() {
        let empty = std::env::temp_dir().join(format!("inferwatch-auth-empty-{}", std::process::id()));
        std::fs::write(&empty, "# nothing\n\n").expect("write");
        assert!(matches!(Auth::from_file(&empty), Err(TokenFileError::Empty(_))));
        assert!(matches!(Auth::from_file(Path::new("/nonexistent/tokens")), Err(TokenFileError::Read { .. })));
        let (auth, path) = auth_with("first\n");
        std::fs::write(&path, "second\n").expect("rotate");
        auth.reload().expect("reload");
        assert_eq!(auth.check(Some(b"Bearer second")), Verdict::Allowed);
        assert_eq!(auth.check(Some(b"Bearer first")), Verdict::Invalid);
        std::fs::write(&path, "").expect("emptied");
        assert!(auth.reload().is_err());
        assert_eq!(auth.check(Some(b"Bearer second")), Verdict::Allowed, "an emptied file keeps the last tokens");
    }
}
