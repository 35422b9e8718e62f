use super::*;
use crate::error::ErrorKind;

/// A decoder that records what the envelope hands it: each member's field
/// keys, its memberId as read, and its raw bytes.
#[derive(Default)]
struct Record {
    begun: usize,
    keys: Vec<Vec<String>>,
    ids: Vec<String>,
    raw: Vec<String>,
    fields: Vec<u32>,
    /// Read every value in full instead of leaving it to be skipped.
    read_all: bool,
}

impl<'j> Fields<'j> for Record {
    type Key = String;
    fn key(&mut self, key: &str) -> String {
        key.to_owned()
    }
    fn value(&mut self, key: String, v: &mut Value<'_, 'j>) -> R<()> {
        if key == MEMBER_ID {
            self.ids.push(v.str()?.to_owned());
        } else if self.read_all {
            read_all(v)?;
        }
        self.keys.last_mut().unwrap().push(key);
        Ok(())
    }
}

fn read_all(v: &mut Value<'_, '_>) -> R<()> {
    struct All;
    impl<'j> Fields<'j> for All {
        type Key = ();
        fn key(&mut self, _: &str) {}
        fn value(&mut self, (): (), v: &mut Value<'_, 'j>) -> R<()> {
            read_all(v)
        }
    }
    match v.kind() {
        Kind::Null => v.null(),
        Kind::Bool => v.bool().map(drop),
        Kind::Number => v.number().map(drop),
        Kind::String => v.str().map(drop),
        Kind::Array => v.array(read_all).map(drop),
        Kind::Object => v.object(&mut All).map(drop),
    }
}

impl<'j> Members<'j> for Record {
    fn begin(&mut self) -> R<()> {
        self.begun += 1;
        self.keys.push(Vec::new());
        Ok(())
    }
    fn end(&mut self, fields: u32, raw: &'j [u8]) -> R<()> {
        self.fields.push(fields);
        self.raw.push(String::from_utf8(raw.to_vec()).unwrap());
        Ok(())
    }
}

fn read(body: &str) -> Result<(Record, Option<String>)> {
    let mut r = Record::default();
    let token = read_page(body.as_bytes(), &mut r)?;
    Ok((r, token))
}

/// Refused whether the decoder reads every value or leaves them all.
fn refused(body: &str) -> Error {
    let mut all = Record {
        read_all: true,
        ..Record::default()
    };
    let read_err = read_page(body.as_bytes(), &mut all).unwrap_err();
    let skip_err = read(body).map(|_| ()).unwrap_err();
    for e in [&read_err, &skip_err] {
        assert_eq!(e.kind, ErrorKind::Server, "{body}");
        assert_eq!(e.code.as_deref(), Some("invalid_response"), "{body}");
        assert!(e.is_retryable(), "{body}");
        assert!(e.message.contains("not a valid page"), "{}", e.message);
    }
    skip_err
}

fn accepted(body: &str) -> (Record, Option<String>) {
    let mut all = Record {
        read_all: true,
        ..Record::default()
    };
    let t = read_page(body.as_bytes(), &mut all).unwrap_or_else(|e| panic!("{body}: {e}"));
    let (r, token) = read(body).unwrap();
    assert_eq!((&all.ids, &t), (&r.ids, &token), "{body}");
    (r, token)
}

#[test]
fn the_body_is_one_object() {
    for body in [
        "",
        " ",
        "null",
        "[]",
        r#"[[{"memberId":"m1"}], null]"#,
        r#"[[{"memberId":"m1"}], "next"]"#,
        r#""items""#,
        "<html>502</html>",
        "\u{feff}{\"items\":[]}",
    ] {
        refused(body);
    }
    let e = refused(r#"[[{"memberId":"m1"}], null]"#);
    assert!(e.message.contains("not a JSON object"), "{}", e.message);
}

#[test]
fn nothing_may_follow_the_object() {
    for body in [
        r#"{"items":[]} x"#,
        r#"{"items":[]}{}"#,
        r#"{"items":[]},"#,
        "{\"items\":[]}\u{0}",
    ] {
        refused(body);
    }
    accepted("\r\n\t {\"items\":[]} \r\n\t");
}

#[test]
fn exactly_one_items_array() {
    for body in [
        r#"{}"#,
        r#"{"nextPageToken":"t"}"#,
        r#"{"items":null}"#,
        r#"{"items":{}}"#,
        r#"{"items":"[]"}"#,
        r#"{"items":[],"items":[]}"#,
        r#"{"items":[{"memberId":"a"}],"items":[]}"#,
    ] {
        refused(body);
    }
    let e = refused(r#"{"items":[],"items":[]}"#);
    assert!(
        e.message.contains("duplicate field `items`"),
        "{}",
        e.message
    );
}

#[test]
fn the_cursor_is_a_string_or_null_and_empty_ends() {
    for (body, want) in [
        (r#"{"items":[]}"#, None),
        (r#"{"items":[],"nextPageToken":null}"#, None),
        (r#"{"items":[],"nextPageToken":""}"#, None),
        (r#"{"nextPageToken":"abc","items":[]}"#, Some("abc")),
        (r#"{"items":[],"nextPageToken":"a\u0062"}"#, Some("ab")),
        (r#"{"items":[],"nextPageToken":" "}"#, Some(" ")),
    ] {
        assert_eq!(accepted(body).1.as_deref(), want, "{body}");
    }
    for body in [
        r#"{"items":[],"nextPageToken":5}"#,
        r#"{"items":[],"nextPageToken":false}"#,
        r#"{"items":[],"nextPageToken":[]}"#,
        r#"{"items":[],"nextPageToken":"a","nextPageToken":"b"}"#,
        r#"{"items":[],"nextPageToken":null,"nextPageToken":null}"#,
        r#"{"items":[],"nextPageToken":"\ud800"}"#,
    ] {
        refused(body);
    }
}

#[test]
fn no_page_key_twice_and_others_are_checked() {
    let (r, t) = accepted(r#"{"meta":{"a":[1,{"b":null}]},"items":[],"x":1,"nextPageToken":"t"}"#);
    assert_eq!((r.begun, t.as_deref()), (0, Some("t")));
    for body in [
        r#"{"items":[],"meta":1,"meta":2}"#,
        r#"{"meta":1,"items":[],"me\u0074a":2}"#,
        r#"{"items":[],"x":1e400}"#,
        r#"{"items":[],"x":"\u12"}"#,
        r#"{"items":[],"x":NaN}"#,
        r#"{"items":[],"x":[1,]}"#,
    ] {
        refused(body);
    }
}

#[test]
fn each_item_is_a_member_with_one_string_member_id() {
    let (r, _) = accepted(
        r#"{"items":[{"memberId":"a"},{"x":1,"memberId":""},{"memberId":"c","joinedAt":5,"attributes":[],"x":1,"x":2}]}"#,
    );
    assert_eq!(r.ids, ["a", "", "c"]);
    assert_eq!(r.keys[2], ["memberId", "joinedAt", "attributes", "x", "x"]);
    assert_eq!(r.fields, [1, 2, 5]);
    for (body, why) in [
        (r#"{"items":[1]}"#, "member 0 is not an object"),
        (
            r#"{"items":[{"memberId":"a"},[]]}"#,
            "member 1 is not an object",
        ),
        (r#"{"items":[null]}"#, "is not an object"),
        (r#"{"items":[{}]}"#, "member 0 has no memberId"),
        (r#"{"items":[{"memberid":"a"}]}"#, "has no memberId"),
        (r#"{"items":[{"memberId":7}]}"#, "memberId is not a string"),
        (
            r#"{"items":[{"memberId":null}]}"#,
            "memberId is not a string",
        ),
        (
            r#"{"items":[{"memberId":"a","memberId":"a"}]}"#,
            "two memberId",
        ),
        (
            r#"{"items":[{"memberId":"a","member\u0049d":"b"}]}"#,
            "two memberId",
        ),
    ] {
        let e = refused(body);
        assert!(e.message.contains(why), "{body}: {}", e.message);
    }
}

#[test]
fn members_come_with_their_raw_bytes() {
    let (r, _) = accepted(
        "{\"items\":[ {\"memberId\":\"a\",\r\n \"n\":[1, 2]} ,{\"memberId\":\"\\u0062\"}]}",
    );
    assert_eq!(
        r.raw,
        [
            "{\"memberId\":\"a\",\r\n \"n\":[1, 2]}",
            "{\"memberId\":\"\\u0062\"}"
        ]
    );
    assert_eq!(r.ids, ["a", "b"]);
}

#[test]
fn values_are_strict_whether_read_or_skipped() {
    let member = |v: &str| format!(r#"{{"items":[{{"memberId":"m","v":{v}}}]}}"#);
    for v in [
        "1e400",
        "-1e400",
        "1e99999999999999999999",
        "NaN",
        "Infinity",
        "-Infinity",
        "01",
        "1.",
        ".5",
        "+1",
        "0x10",
        "-",
        "tru",
        "nul",
        r#""\ud800""#,
        r#""\udc00\ud800""#,
        r#""\x""#,
        r#""\u12g4""#,
        "\"a\u{1}b\"",
        "\"a\nb\"",
        r#"[1,]"#,
        r#"{"a":1,}"#,
        r#"{"a"}"#,
        r#"{1:2}"#,
        "'a'",
    ] {
        refused(&member(v));
    }
    for bad_utf8 in [&b"\xff"[..], b"\xc3", b"\xed\xa0\x80"] {
        let mut body = br#"{"items":[{"memberId":"m","v":""#.to_vec();
        body.extend_from_slice(bad_utf8);
        body.extend_from_slice(br#""}]}"#);
        assert!(read_page(&body, &mut Record::default()).is_err());
        let mut all = Record {
            read_all: true,
            ..Record::default()
        };
        assert!(read_page(&body, &mut all).is_err());
    }
    for v in [
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "1e-400",
        "123456789012345678901234567890",
        "-0",
        "0.0e0",
        r#""\ud83d\ude00 \u00e9 \/ \b\f\n\r\t""#,
        "\"\u{7f}\"",
        r#"{"":{"":[[],{}]}}"#,
    ] {
        accepted(&member(v));
    }
}

#[test]
fn numbers_read_as_serde_json_reads_them() {
    for (text, want) in [
        ("0", Number::Int(0)),
        ("-9223372036854775808", Number::Int(i64::MIN)),
        ("9223372036854775808", Number::UInt(9223372036854775808)),
        ("18446744073709551615", Number::UInt(u64::MAX)),
        (
            "18446744073709551616",
            Number::Float(18446744073709551616.0),
        ),
        ("1.5", Number::Float(1.5)),
        ("1e3", Number::Float(1000.0)),
        ("1E+3", Number::Float(1000.0)),
        ("-0", Number::Float(-0.0)),
        ("1e-400", Number::Float(0.0)),
    ] {
        assert_eq!(Number::parse(text.as_bytes()).unwrap(), want, "{text}");
        let serde: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            Number::parse(text.as_bytes()).unwrap().as_f64(),
            serde.as_f64().unwrap()
        );
    }
    assert!(Number::parse(b"1e400").is_err());
    assert!(serde_json::from_str::<serde_json::Value>("1e400").is_err());
}

/// A number as a value reads it with `number()`, checked against the same
/// value read with `f64()` (refused by both, or the same `f64`).
fn read_number(text: &str) -> Result<Number> {
    struct One(Option<f64>, bool);
    impl<'j> Fields<'j> for One {
        type Key = bool;
        fn key(&mut self, key: &str) -> bool {
            key == "v"
        }
        fn value(&mut self, v_key: bool, v: &mut Value<'_, 'j>) -> R<()> {
            if !v_key {
                return Ok(());
            }
            if self.1 {
                self.0 = Some(v.f64()?);
            } else {
                self.0 = Some(v.number()?.as_f64());
            }
            Ok(())
        }
    }
    impl<'j> Members<'j> for One {}
    struct Exact(Option<Number>);
    impl<'j> Fields<'j> for Exact {
        type Key = bool;
        fn key(&mut self, key: &str) -> bool {
            key == "v"
        }
        fn value(&mut self, v_key: bool, v: &mut Value<'_, 'j>) -> R<()> {
            if v_key {
                self.0 = Some(v.number()?);
            }
            Ok(())
        }
    }
    impl<'j> Members<'j> for Exact {}
    let body = format!(r#"{{"items":[{{"memberId":"m","v":{text}}}]}}"#);
    let (mut as_number, mut as_f64) = (One(None, false), One(None, true));
    let by_number = read_page(body.as_bytes(), &mut as_number);
    let by_f64 = read_page(body.as_bytes(), &mut as_f64);
    assert_eq!(
        by_number.is_ok(),
        by_f64.is_ok(),
        "number() vs f64() on {text}"
    );
    assert_eq!(
        as_number.0.map(f64::to_bits),
        as_f64.0.map(f64::to_bits),
        "number() vs f64() on {text}"
    );
    let mut exact = Exact(None);
    read_page(body.as_bytes(), &mut exact)?;
    Ok(exact.0.unwrap())
}

fn same_number(a: Number, b: Number) -> bool {
    match (a, b) {
        (Number::Float(x), Number::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[test]
fn a_value_reads_a_number_as_its_text_reads() {
    for text in [
        "0",
        "-0",
        "-0.0",
        "0.0",
        "7",
        "-7",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
        "1e3",
        "1E-3",
        "12.50",
        "2.2250738585072011e-308",
        "4.9e-324",
        "1e-400",
        "-1e-400",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "1e308",
        "1e309",
        "-1e400",
        "0.1e99999999999",
    ] {
        let by_value = read_number(text);
        let by_text = Number::parse(text.as_bytes());
        match (&by_value, &by_text) {
            (Ok(a), Ok(b)) => assert!(same_number(*a, *b), "{text}: {a:?} vs {b:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text}: {by_value:?} vs {by_text:?}"),
        }
        let serde = serde_json::from_str::<serde_json::Value>(text);
        assert_eq!(by_value.is_ok(), serde.is_ok(), "{text}");
        if let (Ok(a), Ok(v)) = (&by_value, &serde) {
            assert_eq!(
                a.as_f64().to_bits(),
                v.as_f64().unwrap().to_bits(),
                "{text}"
            );
        }
    }
    let huge = format!("1{}", "0".repeat(5000));
    assert!(read_number(&huge).is_err() && Number::parse(huge.as_bytes()).is_err());
    let long = format!("1.{}1", "0".repeat(5000));
    assert_eq!(read_number(&long).unwrap(), Number::Float(1.0));
}

proptest::proptest! {
    #[test]
    fn a_value_reads_any_number_as_its_text_reads(
        text in "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"
    ) {
        let by_value = read_number(&text);
        let by_text = Number::parse(text.as_bytes());
        let serde = serde_json::from_str::<serde_json::Value>(&text);
        proptest::prop_assert_eq!(by_value.is_ok(), by_text.is_ok(), "{}", text);
        proptest::prop_assert_eq!(by_value.is_ok(), serde.is_ok(), "{}", text);
        if let (Ok(a), Ok(b), Ok(v)) = (by_value, by_text, serde) {
            proptest::prop_assert!(same_number(a, b), "{} {:?} {:?}", text, a, b);
            proptest::prop_assert_eq!(a.as_f64().to_bits(), v.as_f64().unwrap().to_bits());
        }
    }
}

#[test]
fn depth_is_limited_as_serde_json_limits_it() {
    // The page object, `items` and the member are three levels.
    let nest = crate::page::testkit::nested_page;
    let serde_ok = |b: &str| serde_json::from_str::<serde_json::Value>(b).is_ok();
    let limit = MAX_DEPTH - MEMBER_DEPTH;
    assert!(serde_ok(&nest(limit)) && !serde_ok(&nest(limit + 1)));
    accepted(&nest(limit));
    refused(&nest(limit + 1));
    let e = refused(&nest(100_000));
    assert!(e.message.contains("recursion limit"), "{}", e.message);
    // in a skipped page field, too
    let field = |n: usize| {
        let open = "{\"a\":".repeat(n - 1);
        format!(r#"{{"items":[],"x":{open}{{}}{}}}"#, "}".repeat(n - 1))
    };
    assert!(serde_ok(&field(MAX_DEPTH - 1)) && !serde_ok(&field(MAX_DEPTH)));
    accepted(&field(MAX_DEPTH - 1));
    refused(&field(MAX_DEPTH));
}

#[test]
fn a_decoder_error_refuses_the_page() {
    struct Picky;
    impl<'j> Fields<'j> for Picky {
        type Key = bool;
        fn key(&mut self, key: &str) -> bool {
            key == "bad"
        }
        fn value(&mut self, bad: bool, _: &mut Value<'_, 'j>) -> R<()> {
            if bad {
                Err("a bad field".into())
            } else {
                Ok(())
            }
        }
    }
    impl<'j> Members<'j> for Picky {}
    let body = br#"{"items":[{"memberId":"a","bad":1}]}"#;
    let e = read_page(body, &mut Picky).unwrap_err();
    assert_eq!(e.code.as_deref(), Some("invalid_response"));
    assert!(e.message.contains("a bad field"), "{}", e.message);
    assert!(read_page(br#"{"items":[{"memberId":"a"}]}"#, &mut Picky).is_ok());
}

#[test]
fn a_value_is_read_once() {
    struct Twice;
    impl<'j> Fields<'j> for Twice {
        type Key = ();
        fn key(&mut self, _: &str) {}
        fn value(&mut self, (): (), v: &mut Value<'_, 'j>) -> R<()> {
            v.str()?;
            v.str().map(drop)
        }
    }
    impl<'j> Members<'j> for Twice {}
    let e = read_page(br#"{"items":[{"memberId":"a"}]}"#, &mut Twice).unwrap_err();
    assert!(e.message.contains("read twice"), "{}", e.message);
    // and a read of the wrong type is an error, not a misparse
    struct Wrong;
    impl<'j> Fields<'j> for Wrong {
        type Key = ();
        fn key(&mut self, _: &str) {}
        fn value(&mut self, (): (), v: &mut Value<'_, 'j>) -> R<()> {
            v.number().map(drop)
        }
    }
    impl<'j> Members<'j> for Wrong {}
    assert!(read_page(br#"{"items":[{"memberId":"a"}]}"#, &mut Wrong).is_err());
}

#[test]
fn the_error_quotes_a_short_excerpt() {
    let body = format!("<html>{}", "x".repeat(10_000));
    let e = read(&body).map(|_| ()).unwrap_err();
    assert!(e.message.contains("body starts: <html>xx"), "{}", e.message);
    assert!(e.message.len() < 400, "{}", e.message.len());
}
