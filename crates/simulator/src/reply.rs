//! Building responses: JSON bodies, the contract's error body
//! `{"code", "message", "correlationId"}` and the token endpoint's errors.

use axum::body::Body;
use bytes::Bytes;
use hyper::{header, Response, StatusCode};

/// An API error as the simulator answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(400, code, message)
    }

    /// The response, with a fresh correlation id (also in `X-Correlation-Id`).
    pub fn into_response(self) -> Response<Body> {
        let id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::json!({
            "code": self.code,
            "message": self.message,
            "correlationId": id,
        });
        let mut r = json(self.status, Bytes::from(body.to_string()));
        r.headers_mut().insert(
            "x-correlation-id",
            id.parse().expect("uuid is a header value"),
        );
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, s.to_string().parse().expect("digits"));
        }
        if self.status == 401 {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer error=\"invalid_token\"".parse().expect("ascii"),
            );
        }
        r
    }
}

pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub fn with_type(code: u16, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status(code);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, content_type.parse().expect("ascii"));
    r
}

pub fn json(code: u16, body: Bytes) -> Response<Body> {
    with_type(code, "application/json", body)
}

/// A token endpoint error: `{"error": ..., "error_description": ...}`.
pub fn oauth_error(code: u16, error: &str, description: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut r = json(code, Bytes::from(body.to_string()));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("ascii"));
    r
}

pub const HTML_502: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>sim-proxy</center></body></html>\n";
