//! The client against small scripted servers on 127.0.0.1: pagination,
//! the 401 replay, token endpoint failures, retries, the response cache,
//! bad input and the Arrow decoder's pagination.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::concurrent;
use common::mock_api::{
    always, api_error, count_of, cursor_cycle, failing_first, ids, ok, page, reply_with, serve,
    start, token_ok, Reply, AUD, TRUNCATED,
};
use cxone_cdp_core::api::{Client, Query};
use cxone_cdp_core::error::{ErrorKind, Result};
use cxone_cdp_core::filter::{Filter, Operator, Value};

/// Every member of [`AUD`], `limit` a page.
fn unfiltered(limit: u32) -> Query {
    Query::new(AUD, vec![], limit)
}

#[tokio::test]
async fn follows_cursors_over_empty_and_short_pages_with_encoding() {
    let (client, mock) = serve(|pq, _, _| {
        if !pq.contains("cursor=") {
            ok(&page(&[1, 2], Some("c+1/=")))
        } else if pq.contains("cursor=c%2B1%2F%3D") {
            ok(&page(&[], Some("c2")))
        } else if pq.contains("cursor=c2") {
            ok(&page(&[3], None))
        } else {
            api_error(400, "invalid_cursor", "?")
        }
    })
    .await;
    let q = Query::new(
        AUD,
        vec![Filter::new(
            "city",
            Operator::Eq,
            Value::Str("Rock & Roll".into()),
        )],
        2,
    );
    let members = client.members(q).await.unwrap();
    assert_eq!(ids(&members), ["m1", "m2", "m3"]);
    let seen = mock.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(seen[0].contains("limit=2") && seen[0].contains("filter=city%3DRock%20%26%20Roll"));
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn repeated_cursor_is_a_pagination_error() {
    let (client, _mock) = serve(cursor_cycle).await;
    let e = client.members(unfiltered(10)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Pagination);
}

#[tokio::test]
async fn unauthorized_refreshes_once_and_replays_once() {
    let (client, mock) = serve(|_, _, auth| {
        if auth == "Bearer tok1" {
            api_error(401, "unauthorized", "revoked")
        } else {
            ok(r#"{"count":7}"#)
        }
    })
    .await;
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 7);
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 2);
    assert_eq!(client.metrics_snapshot().auth_replays, 1);

    let (client, mock) = serve(always(api_error(401, "unauthorized", "no"))).await;
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 2);
    assert_eq!(mock.api.load(Ordering::SeqCst), 2);
    assert!(!e.to_string().contains("very-secret") && !e.to_string().contains("tok"));
}

#[tokio::test]
async fn invalid_client_is_not_retried() {
    for (status, body, kind, code) in [
        (
            401,
            r#"{"error":"invalid_client"}"#,
            ErrorKind::Authentication,
            "invalid_client",
        ),
        // 400 is a typed error too, also not retried.
        (
            400,
            r#"{"error":"invalid_scope","error_description":"nope"}"#,
            ErrorKind::BadRequest,
            "invalid_scope",
        ),
    ] {
        let (client, mock) = start(
            count_of(1),
            move |_| reply_with(status, body),
            Duration::ZERO,
        )
        .await;
        let e = client.count(AUD, &[]).await.unwrap_err();
        assert_eq!((e.kind, e.code.as_deref()), (kind, Some(code)), "{status}");
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 1, "{status}");
        assert!(!format!("{e:?}").contains("very-secret"));
    }
}

#[tokio::test]
async fn token_endpoint_5xx_is_retried() {
    let (client, mock) = start(
        count_of(3),
        |n| {
            if n < 3 {
                reply_with(503, "down")
            } else {
                token_ok(n)
            }
        },
        Duration::ZERO,
    )
    .await;
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 3);
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 3);
}

/// A 429 with a `Retry-After` of `secs`.
fn rate_limited(secs: &str) -> Reply {
    let (status, _, body) = api_error(429, "rate_limited", "slow down");
    (status, vec![("retry-after", secs.into())], body)
}

#[tokio::test]
async fn retry_after_then_success_and_cap() {
    let (client, mock) = serve(failing_first(1, rate_limited("0"), count_of(5))).await;
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 5);
    assert_eq!(mock.api.load(Ordering::SeqCst), 2);
    let c = client.metrics_snapshot();
    assert_eq!((c.rate_limited, c.retries), (1, 1));

    // A huge Retry-After is capped (here at 50 ms); 429 every time gives RateLimitError.
    let (client, mock) = serve(always(rate_limited("3600"))).await;
    let mut cfg = client.config().clone();
    cfg.retry.retry_after_cap = 0.05;
    cfg.retry.max_retries = 2;
    let capped = Client::new(cfg).unwrap();
    let t0 = std::time::Instant::now();
    let e = capped.count(AUD, &[]).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(
        (e.kind, e.retry_after),
        (ErrorKind::RateLimit, Some(3600.0))
    );
    assert_eq!(mock.api.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn server_errors_retry_then_fail_with_excerpt() {
    let (client, mock) = serve(failing_first(
        2,
        api_error(503, "unavailable", "busy"),
        count_of(9),
    ))
    .await;
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 9);
    assert_eq!(mock.api.load(Ordering::SeqCst), 3);

    let (client, mock) = serve(always(reply_with(502, "<html><h1>Bad Gateway</h1></html>"))).await;
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Server, Some(502)));
    assert!(e.message.contains("Bad Gateway"), "{}", e.message);
    assert_eq!(mock.api.load(Ordering::SeqCst), 4);

    // 404 is not retried.
    let body = r#"{"code":"not_found","message":"no audience","correlationId":"c9"}"#;
    let (client, mock) = serve(always(reply_with(404, body))).await;
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(
        (e.kind, e.correlation_id.as_deref()),
        (ErrorKind::NotFound, Some("c9"))
    );
    assert_eq!(mock.api.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn truncated_page_is_retried_never_empty() {
    let then = always(ok(&page(&[1, 2], None)));
    let (client, mock) = serve(failing_first(1, ok(TRUNCATED), then)).await;
    let m = client.members(unfiltered(10)).await.unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(mock.api.load(Ordering::SeqCst), 2);

    let (client, _) = serve(always(ok(r#"{"items":[{"#))).await;
    let e = client.members(unfiltered(10)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Server);
}

#[tokio::test]
async fn concurrent_calls_share_one_token_fetch() {
    let (client, mock) = start(count_of(1), token_ok, Duration::from_millis(200)).await;
    assert_eq!(concurrent::counts(&client, 16, AUD).await, [1; 16]);
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
    assert_eq!(client.metrics_snapshot().tokens_fetched, 1);
}

#[tokio::test]
async fn cache_serves_pages_and_counts_but_never_errors() {
    let (client, mock) = serve(|pq, _, _| {
        if pq.contains("/count") {
            ok(r#"{"count":3}"#)
        } else if pq.contains("nope") {
            api_error(404, "not_found", "x")
        } else if pq.contains("cursor=c2") {
            ok(&page(&[3], None))
        } else {
            ok(&page(&[1, 2], Some("c2")))
        }
    })
    .await;
    let q = unfiltered(2);
    let first = client.members(q.clone()).await.unwrap();
    assert_eq!(mock.api.load(Ordering::SeqCst), 2);
    assert_eq!(client.members(q.clone()).await.unwrap(), first);
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 3);
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 3);
    assert_eq!(
        mock.api.load(Ordering::SeqCst),
        3,
        "re-run and 2nd count from cache"
    );
    let s = client.cache_stats();
    assert_eq!((s.hits, s.misses, s.entries), (3, 3, 3));
    for _ in 0..2 {
        let e = client
            .members(Query::new("nope", vec![], 2))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
    }
    assert_eq!(mock.api.load(Ordering::SeqCst), 5, "errors are not cached");
    let m = client.metrics_snapshot();
    assert_eq!((m.cache_hits, m.cache_misses), (3, 5));
    // 2 listings + 2 counts succeeded, 2 listings failed
    assert_eq!((m.total, m.success, m.failed), (6, 4, 2));
    assert_eq!(m.members_returned, 6);
    assert_eq!(
        m.http_requests,
        1 + 1 + 5,
        "token, attributes, five API calls"
    );
    client.clear_cache();
    client.members(q).await.unwrap();
    assert_eq!(mock.api.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn disabled_cache_always_fetches() {
    let (client, mock) = serve(always(ok(&page(&[1], None)))).await;
    let mut cfg = client.config().clone();
    cfg.cache_ttl = Duration::ZERO;
    let client = Client::new(cfg).unwrap();
    for _ in 0..3 {
        client.members(unfiltered(5)).await.unwrap();
    }
    assert_eq!(mock.api.load(Ordering::SeqCst), 3);
    let m = client.metrics_snapshot();
    assert_eq!((m.cache_hits, m.cache_misses), (0, 0));
}

#[tokio::test]
async fn bad_input_sends_nothing() {
    let (client, mock) = serve(count_of(1)).await;
    for aud in ["", "a/b", "a?b", "a#b", "..", "a b", "a\nb"] {
        let e = client.count(aud, &[]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation, "{aud:?}");
    }
    for limit in [0, 1001] {
        let e = client.members(unfiltered(limit)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
    }
    let nan = Filter::new("lifetime_value", Operator::Gt, Value::Float(f64::NAN));
    assert!(client.count(AUD, &[nan]).await.is_err());
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 0);
    assert_eq!(mock.api.load(Ordering::SeqCst), 0);
    // Schema checks need the schema (one attributes call), then nothing more.
    let wrong = Filter::new("lifetime_value", Operator::Eq, Value::Str("abc".into()));
    let e = client.count(AUD, &[wrong]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Validation);
    let unknown = Filter::new("nope", Operator::Eq, Value::Int(1));
    assert_eq!(
        client.count(AUD, &[unknown]).await.unwrap_err().kind,
        ErrorKind::Validation
    );
    assert_eq!(mock.api.load(Ordering::SeqCst), 0);
}

/// The Arrow decoder goes through the same pagination as the dict path:
/// empty and short pages followed, a truncated body retried (never an
/// empty page), an empty `nextPageToken` ends the listing, a repeated
/// cursor is a pagination error.
#[tokio::test]
async fn arrow_pages_share_the_pagination() {
    use futures_util::StreamExt;
    let paging = |pq: &str, _: u64, _: &str| {
        if !pq.contains("cursor=") {
            ok(&page(&[1, 2], Some("c1")))
        } else if pq.contains("cursor=c1") {
            ok(&page(&[], Some("c2")))
        } else {
            ok(&page(&[3], Some("")))
        }
    };
    let (client, mock) = serve(failing_first(1, ok(TRUNCATED), paging)).await;
    let attrs = client.attributes().await.unwrap();
    let layout = Arc::new(cxone_cdp_core::page::arrow::ArrowLayout::from_attributes(
        &attrs,
    ));
    let p = client.prepare(unfiltered(2)).await.unwrap();
    let pages: Vec<_> = client
        .pages_with(p, None, layout.clone())
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()
        .unwrap();
    let rows: Vec<usize> = pages.iter().map(|p| p.data.num_rows()).collect();
    assert_eq!(rows, [2, 0, 1]);
    assert_eq!(pages.iter().map(|p| p.items).sum::<usize>(), 3);
    assert_eq!(pages[2].next_cursor, None);
    assert_eq!(pages[0].data.schema(), layout.schema());
    assert_eq!(mock.api.load(Ordering::SeqCst), 4);

    let (client, _) = serve(cursor_cycle).await;
    let p = client.prepare(unfiltered(2)).await.unwrap();
    let out: Vec<_> = client.pages_with(p, None, layout).collect().await;
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].as_ref().unwrap_err().kind, ErrorKind::Pagination);
}
