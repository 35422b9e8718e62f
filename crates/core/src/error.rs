//! One error type for the whole core. Every failure carries a kind (which maps
//! one-to-one onto a Python exception class in `cxone_cdp.errors`), the HTTP
//! status and API error code where there is one, a message and the server's
//! correlation id. Messages never contain a secret or a token: the places that
//! build errors only ever see status lines, error bodies and URLs without
//! credentials.

use std::fmt;

/// Which class of failure this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad input caught on the client before any request was sent.
    Validation,
    /// 401 after the single token refresh, or `invalid_client` from the token endpoint.
    Authentication,
    /// 403: the token lacks a scope.
    PermissionDenied,
    /// 404: unknown audience (or path).
    NotFound,
    /// 400 from the server (`invalid_filter`, `invalid_cursor`, ...).
    BadRequest,
    /// 429 after every retry was used.
    RateLimit,
    /// 5xx after every retry was used, or a body that could not be understood.
    Server,
    /// The request (or the whole call) timed out after every retry.
    Timeout,
    /// The connection failed (refused, reset, dropped) after every retry, or
    /// at once for a TLS failure (code `tls`, never retried).
    Connection,
    /// The server broke the pagination contract (a repeated cursor).
    Pagination,
    /// A webhook, audit or other local I/O failure; also internal bugs (panics).
    Other,
    /// API discovery failed: a `.well-known` document answered with an HTTP
    /// error, was not JSON or lacked a field, or the `id_token` needed for
    /// the tenant id was missing or malformed. (An issuer that cannot be
    /// reached at all is a `Connection` / `Timeout` error.)
    Discovery,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Validation => "ValidationError",
            ErrorKind::Authentication => "AuthenticationError",
            ErrorKind::PermissionDenied => "PermissionDeniedError",
            ErrorKind::NotFound => "NotFoundError",
            ErrorKind::BadRequest => "BadRequestError",
            ErrorKind::RateLimit => "RateLimitError",
            ErrorKind::Server => "ServerError",
            ErrorKind::Timeout => "TimeoutError",
            ErrorKind::Connection => "ConnectionError",
            ErrorKind::Pagination => "PaginationError",
            ErrorKind::Other => "CxoneError",
            ErrorKind::Discovery => "DiscoveryError",
        }
    }
}

/// The code of a TLS failure (an untrusted or invalid certificate, a failed
/// handshake): a `Connection` error that another attempt would not fix, so
/// the retry policy never retries it.
pub const TLS_CODE: &str = "tls";

/// The core's error.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    pub correlation_id: Option<String>,
    /// Seconds the server asked us to wait (429), when known.
    pub retry_after: Option<f64>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            status: None,
            code: None,
            message: message.into(),
            correlation_id: None,
            retry_after: None,
        }
    }

    /// A client-side validation error (no request was sent).
    pub fn validation(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Validation, message).with_code("validation_error")
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_correlation_id(mut self, id: Option<String>) -> Self {
        self.correlation_id = id;
        self
    }

    /// The error kind an HTTP status maps to (API endpoints, not the token endpoint).
    pub fn kind_for_status(status: u16) -> ErrorKind {
        match status {
            400 | 405 | 409 | 413 | 414 | 415 | 422 => ErrorKind::BadRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimit,
            _ => ErrorKind::Server,
        }
    }

    /// Is this worth another attempt (per the one retry policy)? Not a TLS
    /// failure: the next connection meets the same certificate.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ErrorKind::Connection => self.code.as_deref() != Some(TLS_CODE),
            ErrorKind::RateLimit | ErrorKind::Timeout => true,
            ErrorKind::Server => matches!(self.status, Some(500 | 502 | 503 | 504) | None),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "HTTP {status}")?;
            if let Some(code) = &self.code {
                write!(f, " {code}")?;
            }
            write!(f, ": ")?;
        } else if let (Some(code), false) = (&self.code, self.kind == ErrorKind::Validation) {
            write!(f, "{code}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(id) = &self.correlation_id {
            write!(f, " (correlationId {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// At most `max` characters of a body, for error messages about bodies we
/// could not understand (an HTML page from a proxy, a truncated JSON body).
pub fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

impl Error {
    /// The error for a task that panicked: a bug, reported as an exception
    /// (code `panic`) and logged, never an abort.
    pub fn panicked(payload: &(dyn std::any::Any + Send)) -> Error {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        log::error!(target: "cxone_cdp", "internal error (panic): {msg}");
        Error::new(ErrorKind::Other, format!("internal error (panic): {msg}")).with_code("panic")
    }
}

/// `Ok` when an object made in process `created_pid` may be used here; after
/// `fork()` the clear error to raise instead of reusing the parent's
/// connections or waiting on its runtime's tasks (which would hang: a child
/// inherits none of the parent's threads).
pub fn check_same_process(created_pid: u32, what: &str) -> Result<()> {
    if created_pid == 0 || created_pid == std::process::id() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Other,
            format!(
                "this {what} was created in process {created_pid} before os.fork(); its \
                 connections belong to that process: create a new {what} in the child"
            ),
        )
        .with_code("forked"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_status_code_and_correlation() {
        let e = Error::new(ErrorKind::BadRequest, "bad filter")
            .with_status(400)
            .with_code("invalid_filter")
            .with_correlation_id(Some("c-1".into()));
        assert_eq!(
            e.to_string(),
            "HTTP 400 invalid_filter: bad filter (correlationId c-1)"
        );
    }

    #[test]
    fn excerpt_truncates_and_strips_controls() {
        assert_eq!(excerpt(b"<html>\n</html>", 6), "<html>…");
        assert_eq!(excerpt(b"ab\ncd", 10), "ab cd");
    }

    #[test]
    fn retryable_statuses() {
        for s in [500, 502, 503, 504] {
            assert!(Error::new(ErrorKind::Server, "x")
                .with_status(s)
                .is_retryable());
        }
        assert!(!Error::new(ErrorKind::Server, "x")
            .with_status(501)
            .is_retryable());
        assert!(!Error::validation("x").is_retryable());
        assert!(Error::new(ErrorKind::RateLimit, "x")
            .with_status(429)
            .is_retryable());
        assert!(Error::new(ErrorKind::Connection, "reset").is_retryable());
        assert!(!Error::new(ErrorKind::Connection, "untrusted")
            .with_code(TLS_CODE)
            .is_retryable());
    }
}
