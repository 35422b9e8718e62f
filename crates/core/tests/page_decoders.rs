//! Every members page decoder (tape, tree, Arrow, JSONL, CSV, Parquet) on
//! the same bodies: they all accept or all refuse (as the serde_json oracle
//! of `page_differential` says), and agree when they accept. Default case
//! counts run in seconds; raise them locally:
//!
//!     PROPTEST_CASES=100000 cargo test --release --test page_decoders

mod page_differential;

use std::fmt::Write as _;

use page_differential::{Decoders, Outcome};
use proptest::prelude::*;

fn check(body: &[u8]) -> Outcome {
    thread_local! {
        static DECODERS: Decoders = Decoders::new();
    }
    DECODERS.with(|d| d.check(body))
}

#[test]
fn every_decoder_refuses_a_json_array_page() {
    // The JSONL export once read the envelope with serde on its own, which
    // takes an array as the page's fields in order, and wrote this page out.
    for body in [
        &br#"[[{"memberId":"m1"}], null]"#[..],
        br#"[[{"memberId":"m1"}], "next"]"#,
        b"[\r[\r\r\r\r]\r]",
    ] {
        for (name, answer) in Decoders::new().each(body) {
            let e = answer.expect_err(name);
            assert_eq!(e.code.as_deref(), Some("invalid_response"), "{name}");
        }
        assert_eq!(check(body), Outcome::Refused);
    }
}

#[test]
fn an_empty_cursor_ends_the_listing_in_every_decoder() {
    for body in [
        &br#"{"items":[{"memberId":"m1"}],"nextPageToken":""}"#[..],
        br#"{"items":[{"memberId":"m1"}],"nextPageToken":null}"#,
        br#"{"items":[{"memberId":"m1"}]}"#,
    ] {
        for (name, answer) in Decoders::new().each(body) {
            assert_eq!(answer.expect(name), (1, None), "{name}");
        }
    }
    let body = br#"{"items":[{"memberId":"m1"}],"nextPageToken":"c"}"#;
    for (name, answer) in Decoders::new().each(body) {
        assert_eq!(answer.expect(name), (1, Some("c".to_string())), "{name}");
    }
}

#[test]
fn hand_picked_bodies() {
    let accepted = |body: &str, members: usize| {
        assert!(
            matches!(check(body.as_bytes()), Outcome::Accepted { members: m, .. } if m == members),
            "{body}"
        );
    };
    accepted(r#"{"items":[]}"#, 0);
    accepted(
        r#"{"items":[{"memberId":"a","joinedAt":"2024-01-01T00:00:00Z","attributes":{"city":"Lyon","lifetime_value":1e308,"is_vip":true,"last_purchase_date":"2024-02-29","x":[{"y":null}]}}],"nextPageToken":"t","server":{"extra":[1]}}"#,
        1,
    );
    accepted(
        "{\"items\":[{\"memberId\":\"a\\nb\",\r\n\"attributes\":{\"city\":\"x,\\\"y\\\"\"}},{\"memberId\":\"\"}]}",
        2,
    );
    for body in [
        r#"{"items":[{"memberId":"a","memberId":"a"}]}"#,
        r#"{"items":[{"memberId":"a","attributes":{"lifetime_value":1e400}}]}"#,
        r#"{"items":[{"memberId":"a","x":"\ud800"}]}"#,
        r#"{"items":[1]}"#,
        r#"{"items":[],"nextPageToken":"a","nextPageToken":"b"}"#,
        r#"{"items":[],"extra":1,"extra":1}"#,
        r#"{"items":[]}]"#,
    ] {
        assert_eq!(check(body.as_bytes()), Outcome::Refused, "{body}");
    }
}

// ---------------------------------------------------------------------------
// Generated page-like bodies, with hostile mutations.

/// Any JSON value (nested a few levels) as text.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        number_text(),
        ".{0,10}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        string_text(),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key_text(), inner), 0..5).prop_map(|kv| {
                let fields: Vec<String> = kv.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// Number texts, some around the edges of what an f64 holds.
fn number_text() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(vec![
        "1e308",
        "1e309",
        "-1e400",
        "1e-400",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "-0",
        "-0.0",
        "18446744073709551616",
        "123456789012345678901234567890e-10",
        "1E+2",
    ])
    .prop_map(str::to_string);
    let any_exponent = (
        "-?[1-9][0-9]{0,2}",
        "(\\.[0-9]{1,3})?",
        "[eE][+-]?[0-9]{1,4}",
    )
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"));
    let plain = ("-?[1-9][0-9]{0,5}", "(\\.[0-9]{1,3})?").prop_map(|(a, b)| format!("{a}{b}"));
    prop_oneof![4 => plain, 1 => edges, 1 => any_exponent]
}

/// String texts with escapes, one in eight with broken ones.
fn string_text() -> impl Strategy<Value = String> {
    const GOOD: [&str; 11] = [
        "a",
        "é",
        "\\n",
        "\\\"",
        "\\\\",
        "\\/",
        "\\u00e9",
        "\\ud83d\\ude00",
        "\u{7f}",
        " ",
        ",",
    ];
    // (a raw tab or other control character is not allowed in a string)
    const BAD: [&str; 7] = ["\\ud800", "\\udc00", "\\u12", "\\x", "\\", "\u{1}", "\t"];
    let good = prop::collection::vec(prop::sample::select(GOOD.to_vec()), 0..5);
    let bad = prop::collection::vec(prop::sample::select([&GOOD[..], &BAD[..]].concat()), 0..5);
    prop_oneof![7 => good, 1 => bad].prop_map(|parts| format!("\"{}\"", parts.concat()))
}

fn key_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-d]{0,3}".prop_map(|k| format!("\"{k}\"")),
        prop::sample::select(vec![
            "\"memberId\"",
            "\"member\\u0049d\"",
            "\"joinedAt\"",
            "\"attributes\"",
            "\"city\"",
        ])
        .prop_map(str::to_string),
    ]
}

/// A member as text: a memberId and other fields (the attributes of the
/// simulator's schema, good and bad).
fn member_text() -> impl Strategy<Value = String> {
    let attr = prop_oneof![
        ("lifetime_value", prop_oneof![number_text(), json_text()]),
        ("city", prop_oneof![string_text(), json_text()]),
        ("is_vip", json_text()),
        ("last_purchase_date", Just("\"2024-02-29\"".to_string())),
        ("nope", json_text()),
    ]
    .prop_map(|(k, v)| format!("\"{k}\":{v}"));
    (
        "[ -~]{0,12}",
        prop::collection::vec(attr, 0..5),
        prop::collection::vec((key_text(), json_text()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(id, attrs, extra, joined)| {
            let mut m = format!("{{\"memberId\":{}", serde_json::to_string(&id).unwrap());
            if joined {
                m.push_str(",\"joinedAt\":\"2024-01-02T03:04:05.5+01:00\"");
            }
            let _ = write!(m, ",\"attributes\":{{{}}}", attrs.join(","));
            for (k, v) in extra {
                if k != "\"memberId\"" && k != "\"member\\u0049d\"" {
                    let _ = write!(m, ",{k}:{v}");
                }
            }
            m.push('}');
            m
        })
}

/// What is done to a well-formed page.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    /// Pretty-printed: CR/LF and tabs between tokens.
    Whitespace,
    DuplicateItems,
    DuplicateToken,
    DuplicatePageKey,
    ArrayBody,
    /// Member `n % len` replaced by a value that is not a member.
    NotAMember(usize, String),
    MissingMemberId(usize),
    DuplicateMemberId(usize),
    MemberIdNotAString(usize, String),
    /// A field nested this deep in member `n % len`.
    DeepNesting(usize, usize),
    TokenOfType(String),
    Trailing(String),
    Truncated(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        1 => Just(Mutation::Whitespace),
        1 => Just(Mutation::DuplicateItems),
        1 => Just(Mutation::DuplicateToken),
        1 => Just(Mutation::DuplicatePageKey),
        1 => Just(Mutation::ArrayBody),
        1 => (any::<usize>(), json_text()).prop_map(|(n, v)| Mutation::NotAMember(n, v)),
        1 => any::<usize>().prop_map(Mutation::MissingMemberId),
        1 => any::<usize>().prop_map(Mutation::DuplicateMemberId),
        1 => (any::<usize>(), json_text()).prop_map(|(n, v)| Mutation::MemberIdNotAString(n, v)),
        1 => (any::<usize>(), prop_oneof![118usize..130, 1000usize..1001])
            .prop_map(|(n, d)| Mutation::DeepNesting(n, d)),
        1 => json_text().prop_map(Mutation::TokenOfType),
        1 => prop::sample::select(vec![" x", "{}", ",", "]", "\u{0}", " \r\n", "null"])
            .prop_map(|t| Mutation::Trailing(t.to_string())),
        1 => any::<usize>().prop_map(Mutation::Truncated),
    ]
}

/// Renders a page, mutated; says whether every decoder must refuse it
/// (`Some(true)`), accept it (`Some(false)`), or the oracle decides (`None`).
fn render(members: &[String], token: &Option<String>, m: &Mutation) -> (Vec<u8>, Option<bool>) {
    // A generated member may hold a bad value (a broken escape, a huge
    // number): then only the oracle knows.
    let valid = members.iter().all(|member| {
        page_differential::oracle(format!("{{\"items\":[{member}]}}").as_bytes()).is_ok()
    });
    let mut members = members.to_vec();
    let mut token_text = match token {
        Some(t) => serde_json::to_string(t).unwrap(),
        None => "null".into(),
    };
    let pick = |n: usize, members: &[String]| (!members.is_empty()).then(|| n % members.len());
    let mut refuse = Some(false);
    let mut fields = None;
    match m {
        Mutation::None | Mutation::Trailing(_) | Mutation::Truncated(_) => {}
        Mutation::Whitespace => {
            // inside each member too (JSONL drops the CR/LF there)
            for member in &mut members {
                *member = member.replacen("{\"memberId\":", "{\r\n\t\"memberId\" :\r\n", 1);
            }
        }
        Mutation::DuplicateItems => {
            fields = Some(format!("\"nextPageToken\":{token_text},\"items\":[]"));
            refuse = Some(true);
        }
        Mutation::DuplicateToken => {
            fields = Some(format!(
                "\"nextPageToken\":null,\"nextPageToken\":{token_text}"
            ));
            refuse = Some(true);
        }
        Mutation::DuplicatePageKey => {
            fields = Some(format!("\"nextPageToken\":{token_text},\"x\":1,\"x\":1"));
            refuse = Some(true);
        }
        Mutation::ArrayBody => refuse = Some(true),
        Mutation::NotAMember(n, v) => {
            if let Some(i) = pick(*n, &members) {
                members[i] = v.clone();
                refuse = None;
            }
        }
        Mutation::MissingMemberId(n) => {
            if let Some(i) = pick(*n, &members) {
                members[i] = members[i].replacen("\"memberId\"", "\"memberid\"", 1);
                refuse = Some(true);
            }
        }
        Mutation::DuplicateMemberId(n) => {
            if let Some(i) = pick(*n, &members) {
                members[i] = members[i].replacen('{', "{\"memberId\":\"dup\",", 1);
                refuse = Some(true);
            }
        }
        Mutation::MemberIdNotAString(n, v) => {
            if let Some(i) = pick(*n, &members) {
                let id = format!("\"memberId\":{v},\"was\":");
                members[i] = members[i].replacen("\"memberId\":", &id, 1);
                refuse = None;
            }
        }
        Mutation::DeepNesting(n, d) => {
            if let Some(i) = pick(*n, &members) {
                let member = &mut members[i];
                member.pop();
                let _ = write!(member, ",\"deep\":{}{}}}", "[".repeat(*d), "]".repeat(*d));
                // the page, items and the member are three levels
                refuse = Some(d + 3 > 127);
            }
        }
        Mutation::TokenOfType(v) => {
            token_text = v.clone();
            refuse = None;
        }
    }
    let fields = fields.unwrap_or_else(|| format!("\"nextPageToken\":{token_text}"));
    let mut body = match m {
        Mutation::ArrayBody => format!("[[{}],{token_text}]", members.join(",")),
        Mutation::Whitespace => format!(
            "\r\n{{\r\n\t\"items\" : [\n {}\n]\r\n,\t{fields}\n}}\n",
            members.join(",\r\n\t ")
        ),
        _ => format!("{{\"items\":[{}],{fields}}}", members.join(",")),
    }
    .into_bytes();
    match m {
        Mutation::Trailing(t) => {
            body.extend_from_slice(t.as_bytes());
            refuse = Some(!t.trim_matches([' ', '\r', '\n']).is_empty());
        }
        Mutation::Truncated(cut) => {
            body.truncate(cut % body.len());
            refuse = Some(true);
        }
        _ => {}
    }
    if !valid && refuse == Some(false) {
        refuse = None;
    }
    (body, refuse)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn all_decoders_agree_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&body);
    }

    #[test]
    fn all_decoders_agree_on_json_like_text(text in "[\\[\\]{}\":,a-z0-9 .\\\\e+-]{0,120}") {
        check(text.as_bytes());
        check(format!("{{\"items\":[{{\"memberId\":\"m\",\"v\":{text}}}],\"nextPageToken\":{text}}}").as_bytes());
    }

    #[test]
    fn all_decoders_agree_on_mutated_pages(
        members in prop::collection::vec(member_text(), 0..6),
        token in proptest::option::of("[A-Za-z0-9_-]{0,12}"),
        m in mutation(),
    ) {
        let (body, refuse) = render(&members, &token, &m);
        let outcome = check(&body);
        match refuse {
            Some(true) => prop_assert_eq!(outcome, Outcome::Refused, "{:?}", m),
            Some(false) => prop_assert_eq!(
                outcome,
                Outcome::Accepted {
                    members: members.len(),
                    cursor: token.filter(|t| !t.is_empty()),
                },
                "{:?}",
                m
            ),
            None => {}
        }
    }
}
