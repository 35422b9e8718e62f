//! `POST /api/v2/webhooks`: a registration is checked field by field (400
//! `invalid_body` naming the field), stored with a new id and answered 201.

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::read_body;
use crate::reply::{json, ApiError};
use crate::state::Shared;

pub async fn webhooks(shared: &Shared, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body = read_body(req)
        .await
        .ok_or_else(|| ApiError::bad_request("invalid_body", "could not read the request body"))?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("body is not JSON: {e}")))?;
    let serde_json::Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request(
            "invalid_body",
            "body must be a JSON object",
        ));
    };
    let bad = |m: &str| Err(ApiError::bad_request("invalid_body", m.to_string()));
    match obj.get("name") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {}
        _ => return bad("name must be a non-empty string"),
    }
    match obj.get("url") {
        Some(serde_json::Value::String(s))
            if (s.starts_with("http://") && s.len() > 7)
                || (s.starts_with("https://") && s.len() > 8) => {}
        _ => return bad("url must be an http(s):// URL"),
    }
    match obj.get("events") {
        Some(serde_json::Value::Array(a)) if !a.is_empty() && a.iter().all(|e| e.is_string()) => {}
        _ => return bad("events must be a non-empty list of strings"),
    }
    match obj.get("enabled") {
        Some(serde_json::Value::Bool(_)) => {}
        _ => return bad("enabled must be a boolean"),
    }
    obj.insert(
        "id".into(),
        serde_json::Value::String(uuid::Uuid::new_v4().to_string()),
    );
    let stored = serde_json::Value::Object(obj);
    shared
        .webhooks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(stored.clone());
    Ok(json(201, Bytes::from(stored.to_string())))
}
