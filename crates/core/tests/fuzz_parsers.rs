//! Property tests ("fuzzing" with proptest; the cargo-fuzz targets are in fuzz/) over
//! every parser that reads server input, plus the filter encoder/parser
//! round trip. Default case counts run in seconds in CI; raise them locally:
//!
//!     PROPTEST_CASES=200000 cargo test --release --test fuzz_parsers
//!
//! Each parser must return a value or a typed `Error` for ANY input, never
//! panic (a panic in a core task would otherwise surface as an internal
//! error). `SEED_CORPUS` holds nasty inputs found by hand or by earlier runs;
//! they run as plain regression cases against every byte-level parser.

use std::time::{Duration, Instant};

use bytes::Bytes;
use cxone_cdp_core::auth::refresh_after;
use cxone_cdp_core::config::RetryPolicy;
use cxone_cdp_core::error::{Error, ErrorKind};
use cxone_cdp_core::filter::{
    encode_filters, parse_typed_value, parse_wire, AttrType, Filter, Operator, Value,
};
use cxone_cdp_core::page::parse_page;
use cxone_cdp_core::page::tape::decode_page;
use cxone_cdp_core::paginate::Paginator;
use cxone_cdp_core::transport::retry::{parse_retry_after, saturating_secs};
use cxone_cdp_core::transport::{api_error, Answer};
use cxone_cdp_simulator::cursor;
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};

mod page_differential;

/// Hand-picked hostile inputs (regression corpus).
const SEED_CORPUS: &[&[u8]] = &[
    // cargo-fuzz (page target): serde took a JSON array as a page's fields.
    b"[\r[\r\r\r\r]\r]",
    b"[[]]",
    b"[[{\"memberId\":\"a\"}], \"next\"]",
    b"",
    b"{",
    b"}",
    b"null",
    b"[]",
    b"{}",
    b"{\"items\":null}",
    b"{\"items\":{}}",
    b"{\"items\":[],\"nextPageToken\":5}",
    b"{\"items\":[],\"nextPageToken\":\"\"}",
    b"{\"items\":[1,2,\"x\",null,true,{\"a\":[[[[]]]]}],\"nextPageToken\":null}",
    b"{\"items\":[{\"memberId\":\"\\ud800\"}]}",
    b"{\"items\":[{\"memberId\":\"a\\u0000b\"}]}",
    b"{\"items\":[{\"n\":1e999}]}",
    b"{\"items\":[{\"n\":-0.0}],\"items\":[]}",
    b"{\"items\":[{\"n\":123456789012345678901234567890}]}",
    b"{\"items\":[],\"nextPageToken\":\"abc\"",
    b"<html><body>502 Bad Gateway</body></html>",
    b"\xff\xfe\x00\x00",
    b"\xef\xbb\xbf{\"items\":[]}",
    b"{\"code\":null,\"message\":null}",
    b"{\"code\":5,\"message\":[]}",
    b"{\"code\":\"x\",\"message\":\"\\u001b[31mred\",\"correlationId\":7}",
    b"{\"access_token\":\"\",\"expires_in\":1e300}",
    b"{\"access_token\":\"t\",\"expires_in\":-1}",
    b"{\"access_token\":\"t\",\"expires_in\":\"3600\"}",
    b"{\"access_token\":null}",
];

const RETRY_AFTER_CORPUS: &[&str] = &[
    "",
    "1",
    "-1",
    "0.5",
    "1e300",
    "1e400",
    "NaN",
    "inf",
    "-inf",
    "+5",
    " 7 ",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 32 Foo 2015 99:99:99 GMT",
    "18446744073709551616",
    "0x10",
];

fn answer(status: u16, body: &[u8], retry_after: Option<&str>) -> Answer {
    let mut headers = HeaderMap::new();
    if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert("retry-after", v);
    }
    Answer {
        status,
        headers,
        body: Bytes::copy_from_slice(body),
    }
}

fn policy(cap: f64, base: f64, max: f64) -> RetryPolicy {
    RetryPolicy {
        max_retries: 5,
        backoff_base: base,
        backoff_max: max,
        retry_after_cap: cap,
    }
}

/// Every byte-level parser on one input: none may panic.
fn all_parsers(body: &[u8]) {
    thread_local! {
        static DECODERS: page_differential::Decoders = page_differential::Decoders::new();
    }
    // Every members page decoder accepts or refuses it, and they agree.
    DECODERS.with(|d| d.check(body));
    for status in [400u16, 401, 404, 429, 500, 502, 503] {
        let e = api_error(&answer(status, body, Some("1")));
        assert_eq!(e.status, Some(status));
        assert_eq!(e.kind, Error::kind_for_status(status));
    }
    let text = String::from_utf8_lossy(body);
    let _ = parse_retry_after(&text);
    let _ = parse_wire(&text);
    let _ = cursor::decode(&text, &cursor::fingerprint("a", &[], 10));
}

#[test]
fn dates_are_strictly_yyyy_mm_dd() {
    // cargo-fuzz (filter target): chrono took a sign and spaces.
    for bad in [
        " -01-01- 2",
        "-001-01-02",
        "+2024-1-02",
        "2024-01- 2",
        " 2024-1-01",
        "２０２４-01-01",
    ] {
        assert_eq!(cxone_cdp_core::filter::parse_date(bad), None, "{bad:?}");
    }
    assert!(cxone_cdp_core::filter::parse_date("2024-02-29").is_some());
    assert_eq!(cxone_cdp_core::filter::parse_date("2023-02-29"), None);
}

#[test]
fn a_json_array_is_not_a_page() {
    for body in [
        &b"[[]]"[..],
        b" [[{\"memberId\":\"a\"}], \"t\"]",
        b"[\r[\r\r\r\r]\r]",
    ] {
        let e = parse_page(body).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(decode_page(body).is_err());
    }
}

#[test]
fn seed_corpus_never_panics() {
    for body in SEED_CORPUS {
        all_parsers(body);
    }
    for v in RETRY_AFTER_CORPUS {
        if let Some(s) = parse_retry_after(v) {
            assert!(s.is_finite() && s >= 0.0, "{v:?} -> {s}");
        }
        let e = api_error(&answer(429, b"{}", Some(v)));
        // The delay is computable for any header (this panicked for 1e300
        // with a large cap before `saturating_secs`).
        let _ = policy(1e300, 0.5, 8.0).delay_for(&e, 0, 0.5);
        let _ = policy(0.05, 0.5, 8.0).delay_for(&e, 0, 0.5);
    }
}

#[test]
fn hostile_durations_never_panic() {
    for x in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        0.0,
        1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
        1.8446744073709552e19,
    ] {
        let d = refresh_after(x); // expires_in from the token endpoint
        let _ = Instant::now() + d; // the token manager adds it to now
        let _ = saturating_secs(x);
        let p = policy(x.abs(), x.abs(), x.abs());
        for n in [0, 1, 61, 62, 63, u32::MAX] {
            let _ = p.backoff(n, 0.3);
        }
    }
    assert_eq!(saturating_secs(f64::NAN), Duration::ZERO);
    assert_eq!(saturating_secs(1e300), Duration::MAX);
}

/// Any JSON value (nested a few levels), with awkward strings and numbers.
fn json_strategy() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as V;
    let leaf = prop_oneof![
        Just(V::Null),
        any::<bool>().prop_map(V::Bool),
        any::<i64>().prop_map(V::from),
        any::<u64>().prop_map(V::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(V::Null, V::Number)),
        ".{0,12}".prop_map(V::String),
        "[a-c]{1,3}".prop_map(V::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(V::Array),
            prop::collection::vec(("[a-d\\u{e9}\"]{0,4}", inner), 0..6)
                .prop_map(|kv| V::Object(kv.into_iter().collect())),
        ]
    })
}

fn value_strategy() -> impl Strategy<Value = (Value, AttrType)> {
    prop_oneof![
        "[^\\p{Cc}]{1,40}".prop_map(|s| (Value::Str(s), AttrType::String)),
        any::<i64>().prop_map(|i| (Value::Int(i), AttrType::Number)),
        (-1e15f64..1e15).prop_map(|x| (Value::Float(x), AttrType::Number)),
        any::<bool>().prop_map(|b| (Value::Bool(b), AttrType::Boolean)),
        (1i32..9999, 1u32..13, 1u32..29).prop_map(|(y, m, d)| (
            Value::Date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()),
            AttrType::Date
        )),
    ]
}

fn op_strategy() -> impl Strategy<Value = Operator> {
    prop::sample::select(Operator::ALL.to_vec())
}

proptest! {
    #[test]
    fn page_parser_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        all_parsers(&body);
    }

    #[test]
    fn page_parser_never_panics_on_json_like_text(body in "[\\[\\]{}\":,a-z0-9.\\\\e+-]{0,200}") {
        let wrapped = format!("{{\"items\":[{body}],\"nextPageToken\":{body}}}");
        all_parsers(wrapped.as_bytes());
        all_parsers(body.as_bytes());
    }

    #[test]
    fn a_valid_page_parses_back(
        ids in prop::collection::vec("[ -~]{0,20}", 0..20),
        token in proptest::option::of("[A-Za-z0-9_-]{1,40}"),
    ) {
        let items: Vec<_> = ids.iter().map(|i| serde_json::json!({"memberId": i, "n": 1.5})).collect();
        let body = serde_json::to_vec(&serde_json::json!({"items": items, "nextPageToken": token})).unwrap();
        let page = parse_page(&body).unwrap();
        prop_assert_eq!(page.items.len(), ids.len());
        prop_assert_eq!(page.next_page_token, token);
    }

    #[test]
    fn any_json_page_reads_the_same_as_a_tape(
        items in prop::collection::vec(
            (".{0,8}", prop::collection::vec(("[a-d\\u{e9}\"]{0,4}", json_strategy()), 0..4)),
            0..12,
        ),
        token in proptest::option::of("[A-Za-z0-9_-]{0,10}"),
    ) {
        // Members: a memberId, then any fields (any JSON values).
        let members: Vec<serde_json::Value> = items
            .iter()
            .map(|(id, fields)| {
                let mut m = serde_json::Map::new();
                m.insert("memberId".into(), id.clone().into());
                for (k, v) in fields {
                    if k != "memberId" {
                        m.insert(k.clone(), v.clone());
                    }
                }
                serde_json::Value::Object(m)
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({"items": members, "nextPageToken": token})).unwrap();
        all_parsers(&body);
        let page = decode_page(&body).unwrap();
        prop_assert_eq!(page.tape.items, items.len());
        let tree = parse_page(&body).unwrap();
        prop_assert_eq!(page.tape.to_json(), tree.items);
    }

    #[test]
    fn truncated_pages_are_errors_not_short_pages(
        n in 1usize..30,
        cut in 1usize..1000,
    ) {
        let items: Vec<_> = (0..n).map(|i| serde_json::json!({"memberId": format!("m{i}")})).collect();
        let body = serde_json::to_vec(&serde_json::json!({"items": items, "nextPageToken": "c"})).unwrap();
        let cut = cut % body.len();
        // Any strict prefix of a page is a (retryable) server error.
        let e = parse_page(&body[..cut]).unwrap_err();
        prop_assert!(decode_page(&body[..cut]).is_err());
        prop_assert_eq!(e.kind, ErrorKind::Server);
        prop_assert_eq!(e.code.as_deref(), Some("invalid_response"));
    }

    #[test]
    fn error_bodies_never_panic(
        status in 100u16..600,
        code in proptest::option::of(".{0,30}"),
        message in proptest::option::of(".{0,300}"),
        raw in prop::collection::vec(any::<u8>(), 0..300),
        retry in ".{0,40}",
    ) {
        let json = serde_json::to_vec(&serde_json::json!({"code": code, "message": message})).unwrap();
        for body in [&json[..], &raw[..]] {
            let e = api_error(&answer(status, body, Some(&retry)));
            prop_assert_eq!(e.status, Some(status));
            // Non-JSON bodies are quoted only as a bounded excerpt.
            if serde_json::from_slice::<serde_json::Value>(body).is_err() {
                prop_assert!(e.message.chars().count() < 260, "{}", e.message.len());
            }
            if let Some(s) = e.retry_after {
                prop_assert!(s.is_finite() && s >= 0.0);
            }
            let _ = policy(60.0, 0.5, 8.0).delay_for(&e, 0, 0.9);
        }
    }

    #[test]
    fn retry_after_is_finite_and_non_negative(v in ".{0,40}") {
        if let Some(s) = parse_retry_after(&v) {
            prop_assert!(s.is_finite() && s >= 0.0);
        }
    }

    #[test]
    fn retry_after_numbers_round_trip(secs in 0u32..100_000, cap in 0.0f64..1e300) {
        prop_assert_eq!(parse_retry_after(&secs.to_string()), Some(secs as f64));
        let e = api_error(&answer(429, b"{}", Some(&secs.to_string())));
        let d = policy(cap, 0.5, 8.0).delay_for(&e, 0, 0.0).unwrap();
        prop_assert!(d.as_secs_f64() <= (secs as f64).min(cap) + 1e-6);
    }

    #[test]
    fn token_lifetimes_never_panic(x in any::<f64>()) {
        let d = refresh_after(x);
        prop_assert!(d <= Duration::from_secs(366 * 86_400));
        let _ = Instant::now() + d;
    }

    #[test]
    fn backoff_never_panics(base in any::<f64>(), max in any::<f64>(), n in any::<u32>(), j in any::<f64>()) {
        let _ = policy(1.0, base, max).backoff(n, j);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused(
        offset in any::<u64>(),
        seq in any::<u32>(),
        epoch in any::<u32>(),
        aud in ".{0,20}",
        limit in 1usize..1001,
        garbage in ".{0,80}",
        flip in 0usize..64,
    ) {
        let fp = cursor::fingerprint(&aud, &[], limit);
        let pos = cursor::Position { offset, seq };
        let c = cursor::encode(&fp, epoch, pos);
        prop_assert_eq!(cursor::decode(&c, &fp), Ok((epoch, pos)));
        let _ = cursor::decode(&garbage, &fp);
        // Any single changed character is refused (or is the same cursor).
        let mut bytes = c.clone().into_bytes();
        let i = flip % bytes.len();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(bytes).unwrap();
        if forged != c {
            prop_assert!(cursor::decode(&forged, &fp).is_err());
        }
    }

    #[test]
    fn paginator_terminates_on_any_token_sequence(tokens in prop::collection::vec(proptest::option::of("[ab]{1,2}"), 0..50)) {
        let mut p = Paginator::new(None);
        let mut steps = 0;
        for t in &tokens {
            if p.next_request().is_none() { break; }
            steps += 1;
            if p.advance(t.as_deref()).is_err() { break; }
        }
        // At most 6 distinct tokens exist, so at most 7 pages are followed.
        prop_assert!(steps <= 7 + 1);
    }

    #[test]
    fn wire_parser_never_panics(s in ".{0,80}") {
        let _ = parse_wire(&s);
    }

    #[test]
    fn filter_encoding_round_trips(
        attr in "[A-Za-z_][A-Za-z0-9_.-]{0,30}",
        op in op_strategy(),
        (value, ty) in value_strategy(),
    ) {
        let f = Filter::new(attr.clone(), op, value.clone());
        if let Err(e) = f.check_local() {
            // (contains on a non-string): refused locally, as a validation error.
            prop_assert_eq!(e.kind, ErrorKind::Validation);
            return Ok(());
        }
        let schema = [(attr.clone(), ty)].into_iter().collect();
        let encoded = encode_filters(std::slice::from_ref(&f), Some(&schema)).unwrap();
        let raw = encoded.strip_prefix("filter=").unwrap();
        // Only unreserved characters and %XX escapes are on the wire.
        prop_assert!(raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().unwrap();
        let wire = parse_wire(&decoded).unwrap();
        prop_assert_eq!(&wire.attribute, &attr);
        prop_assert_eq!(wire.op, op);
        let back = parse_typed_value(&wire.value, ty).unwrap();
        match (&back, &value) {
            (Value::Int(a), Value::Float(b)) => prop_assert_eq!(*a as f64, *b),
            _ => prop_assert_eq!(&back, &value),
        }
    }
}

/// The cargo-fuzz corpus (`fuzz/corpus/<target>/*`, small files kept in git)
/// replayed through the same parsers as the fuzz targets (for `page`, the
/// same differential check, in `all_parsers`), so every input the fuzzer
/// kept (and any crash turned regression) runs in CI in milliseconds.
#[test]
fn cargo_fuzz_corpus_replays() {
    use cxone_cdp_core::auth::discovery::{
        decode_id_token, parse_cxone_configuration, parse_openid_configuration,
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut n = 0;
    for target in ["page", "api_error", "token", "cursor", "filter"] {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in dir.flatten() {
            let body = std::fs::read(entry.path()).unwrap();
            n += 1;
            all_parsers(&body);
            if target == "token" {
                let _ = parse_openid_configuration(&body);
                let _ = parse_cxone_configuration(&body);
                let _ = decode_id_token(&String::from_utf8_lossy(&body));
            }
        }
    }
    assert!(n > 0, "no corpus under {}", root.display());
}
