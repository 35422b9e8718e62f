//! An error answer (status, `Retry-After` header, body) through
//! `http::api_error`, then the retry policy's delay for it: never a panic,
//! the status and kind kept, a bounded message, a finite delay.
#![no_main]

use bytes::Bytes;
use cxone_cdp_core::config::RetryPolicy;
use cxone_cdp_core::error::Error;
use cxone_cdp_core::transport::{api_error, Answer};
use cxone_cdp_core::transport::retry::parse_retry_after;
use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderValue};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = 400 + u16::from_le_bytes([data[0], data[1]]) % 200;
    let split = 3 + (data[2] as usize).min(data.len() - 3);
    let (retry_after, body) = data[3..].split_at(split - 3);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(retry_after) {
        headers.insert("retry-after", v);
    }
    if let Ok(text) = std::str::from_utf8(retry_after) {
        if let Some(s) = parse_retry_after(text) {
            assert!(s.is_finite() && s >= 0.0, "{text:?} -> {s}");
        }
    }
    let answer = Answer {
        status,
        headers,
        body: Bytes::copy_from_slice(body),
    };
    let e = api_error(&answer);
    assert_eq!(e.status, Some(status));
    assert_eq!(e.kind, Error::kind_for_status(status));
    // The message is the body's own `message` or a bounded excerpt of it
    // (an undecodable byte may show as up to 4 characters).
    assert!(
        e.message.len() <= 4 * body.len() + 64,
        "message of {} bytes",
        e.message.len()
    );
    if let Some(r) = e.retry_after {
        assert!(r.is_finite() && r >= 0.0);
    }
    for cap in [0.05, 60.0, 1e300] {
        let p = RetryPolicy {
            max_retries: 5,
            backoff_base: 0.5,
            backoff_max: 8.0,
            retry_after_cap: cap,
        };
        let _ = p.delay_for(&e, 0, 0.5);
        let _ = p.delay_for(&e, u32::MAX, 0.99);
    }
});
