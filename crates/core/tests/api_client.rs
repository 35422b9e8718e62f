//! The client against small scripted servers on 127.0.0.1: pagination,
//! the 401 replay, token endpoint failures, retries, the response cache,
//! bad input and the Arrow decoder's pagination.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::mock_api::{ids, ok, page, start, token_ok, AUD};
use cxone_cdp_core::api::{Client, Query};
use cxone_cdp_core::error::{ErrorKind, Result};
use cxone_cdp_core::filter::{Filter, Operator, Value};

#[tokio::test]
async fn follows_cursors_over_empty_and_short_pages_with_encoding() {
    let (client, mock) = start(
        |pq, _, _| {
            if !pq.contains("cursor=") {
                ok(&page(&[1, 2], Some("c+1/=")))
            } else if pq.contains("cursor=c%2B1%2F%3D") {
                ok(&page(&[], Some("c2")))
            } else if pq.contains("cursor=c2") {
                ok(&page(&[3], None))
            } else {
                (
                    400,
                    vec![],
                    r#"{"code":"invalid_cursor","message":"?"}"#.into(),
                )
            }
        },
        token_ok,
        Duration::ZERO,
    )
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
    let (client, _mock) = start(
        |pq, _, _| {
            if pq.contains("cursor=b") {
                ok(&page(&[2], Some("a")))
            } else if pq.contains("cursor=a") {
                ok(&page(&[1], Some("b")))
            } else {
                ok(&page(&[0], Some("a")))
            }
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    let e = client
        .members(Query::new(AUD, vec![], 10))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Pagination);
}

#[tokio::test]
async fn unauthorized_refreshes_once_and_replays_once() {
    let (client, mock) = start(
        |_, _, auth| {
            if auth == "Bearer tok1" {
                (
                    401,
                    vec![],
                    r#"{"code":"unauthorized","message":"revoked"}"#.into(),
                )
            } else {
                ok(r#"{"count":7}"#)
            }
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 7);
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 2);
    assert_eq!(client.metrics_snapshot().auth_replays, 1);

    let (client, mock) = start(
        |_, _, _| {
            (
                401,
                vec![],
                r#"{"code":"unauthorized","message":"no"}"#.into(),
            )
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 2);
    assert_eq!(mock.api.load(Ordering::SeqCst), 2);
    assert!(!e.to_string().contains("very-secret") && !e.to_string().contains("tok"));
}

#[tokio::test]
async fn invalid_client_is_not_retried() {
    let (client, mock) = start(
        |_, _, _| ok(r#"{"count":1}"#),
        |_| (401, vec![], r#"{"error":"invalid_client"}"#.into()),
        Duration::ZERO,
    )
    .await;
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.code.as_deref(), Some("invalid_client"));
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
    assert!(!format!("{e:?}").contains("very-secret"));
    // 400 is a typed error too, also not retried.
    let (client, mock) = start(
        |_, _, _| ok(r#"{"count":1}"#),
        |_| {
            (
                400,
                vec![],
                r#"{"error":"invalid_scope","error_description":"nope"}"#.into(),
            )
        },
        Duration::ZERO,
    )
    .await;
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_deref()),
        (ErrorKind::BadRequest, Some("invalid_scope"))
    );
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn token_endpoint_5xx_is_retried() {
    let (client, mock) = start(
        |_, _, _| ok(r#"{"count":3}"#),
        |n| {
            if n < 3 {
                (503, vec![], "down".into())
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

#[tokio::test]
async fn retry_after_then_success_and_cap() {
    let (client, mock) = start(
        |_, n, _| {
            if n == 1 {
                (
                    429,
                    vec![("retry-after", "0".into())],
                    r#"{"code":"rate_limited","message":"slow down"}"#.into(),
                )
            } else {
                ok(r#"{"count":5}"#)
            }
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 5);
    assert_eq!(mock.api.load(Ordering::SeqCst), 2);
    let c = client.metrics_snapshot();
    assert_eq!((c.rate_limited, c.retries), (1, 1));

    // A huge Retry-After is capped (here at 50 ms); 429 every time gives RateLimitError.
    let (client, mock) = start(
        |_, _, _| {
            (
                429,
                vec![("retry-after", "3600".into())],
                r#"{"code":"rate_limited","message":"x"}"#.into(),
            )
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
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
    let (client, mock) = start(
        |_, n, _| {
            if n <= 2 {
                (
                    503,
                    vec![],
                    r#"{"code":"unavailable","message":"busy"}"#.into(),
                )
            } else {
                ok(r#"{"count":9}"#)
            }
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    assert_eq!(client.count(AUD, &[]).await.unwrap(), 9);
    assert_eq!(mock.api.load(Ordering::SeqCst), 3);

    let (client, mock) = start(
        |_, _, _| (502, vec![], "<html><h1>Bad Gateway</h1></html>".into()),
        token_ok,
        Duration::ZERO,
    )
    .await;
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Server, Some(502)));
    assert!(e.message.contains("Bad Gateway"), "{}", e.message);
    assert_eq!(mock.api.load(Ordering::SeqCst), 4);

    // 404 is not retried.
    let (client, mock) = start(
        |_, _, _| {
            (
                404,
                vec![],
                r#"{"code":"not_found","message":"no audience","correlationId":"c9"}"#.into(),
            )
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(
        (e.kind, e.correlation_id.as_deref()),
        (ErrorKind::NotFound, Some("c9"))
    );
    assert_eq!(mock.api.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn truncated_page_is_retried_never_empty() {
    let (client, mock) = start(
        |_, n, _| {
            if n == 1 {
                ok(r#"{"items":[{"memberId":"m1""#)
            } else {
                ok(&page(&[1, 2], None))
            }
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    let m = client.members(Query::new(AUD, vec![], 10)).await.unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(mock.api.load(Ordering::SeqCst), 2);

    let (client, _) = start(|_, _, _| ok(r#"{"items":[{"#), token_ok, Duration::ZERO).await;
    let e = client
        .members(Query::new(AUD, vec![], 10))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Server);
}

#[tokio::test]
async fn concurrent_calls_share_one_token_fetch() {
    let (client, mock) = start(
        |_, _, _| ok(r#"{"count":1}"#),
        token_ok,
        Duration::from_millis(200),
    )
    .await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.count(AUD, &[]).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 1);
    }
    assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
    assert_eq!(client.metrics_snapshot().tokens_fetched, 1);
}

#[tokio::test]
async fn cache_serves_pages_and_counts_but_never_errors() {
    let (client, mock) = start(
        |pq, _, _| {
            if pq.contains("/count") {
                ok(r#"{"count":3}"#)
            } else if pq.contains("nope") {
                (404, vec![], r#"{"code":"not_found","message":"x"}"#.into())
            } else if pq.contains("cursor=c2") {
                ok(&page(&[3], None))
            } else {
                ok(&page(&[1, 2], Some("c2")))
            }
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    let q = Query::new(AUD, vec![], 2);
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
    let (client, mock) = start(|_, _, _| ok(&page(&[1], None)), token_ok, Duration::ZERO).await;
    let mut cfg = client.config().clone();
    cfg.cache_ttl = Duration::ZERO;
    let client = Client::new(cfg).unwrap();
    for _ in 0..3 {
        client.members(Query::new(AUD, vec![], 5)).await.unwrap();
    }
    assert_eq!(mock.api.load(Ordering::SeqCst), 3);
    let m = client.metrics_snapshot();
    assert_eq!((m.cache_hits, m.cache_misses), (0, 0));
}

#[tokio::test]
async fn bad_input_sends_nothing() {
    let (client, mock) = start(|_, _, _| ok(r#"{"count":1}"#), token_ok, Duration::ZERO).await;
    for aud in ["", "a/b", "a?b", "a#b", "..", "a b", "a\nb"] {
        let e = client.count(aud, &[]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation, "{aud:?}");
    }
    for limit in [0, 1001] {
        let e = client
            .members(Query::new(AUD, vec![], limit))
            .await
            .unwrap_err();
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
    let (client, mock) = start(
        |pq, n, _| {
            if n == 1 {
                ok(r#"{"items":[{"memberId":"m1""#)
            } else if !pq.contains("cursor=") {
                ok(&page(&[1, 2], Some("c1")))
            } else if pq.contains("cursor=c1") {
                ok(&page(&[], Some("c2")))
            } else {
                ok(&page(&[3], Some("")))
            }
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    let attrs = client.attributes().await.unwrap();
    let layout = Arc::new(cxone_cdp_core::page::arrow::ArrowLayout::from_attributes(
        &attrs,
    ));
    let p = client.prepare(Query::new(AUD, vec![], 2)).await.unwrap();
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

    let (client, _) = start(
        |pq, _, _| {
            if pq.contains("cursor=b") {
                ok(&page(&[2], Some("a")))
            } else if pq.contains("cursor=a") {
                ok(&page(&[1], Some("b")))
            } else {
                ok(&page(&[0], Some("a")))
            }
        },
        token_ok,
        Duration::ZERO,
    )
    .await;
    let p = client.prepare(Query::new(AUD, vec![], 2)).await.unwrap();
    let out: Vec<_> = client.pages_with(p, None, layout).collect().await;
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].as_ref().unwrap_err().kind, ErrorKind::Pagination);
}
