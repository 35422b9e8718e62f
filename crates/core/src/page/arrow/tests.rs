use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMicrosecondType};
use arrow_array::Array;
use chrono::NaiveDate;
use proptest::prelude::*;

fn layout() -> ArrowLayout {
    ArrowLayout::new(&[
        ("lifecycle_stage".to_string(), AttrType::String),
        ("last_purchase_date".to_string(), AttrType::Date),
        ("city".to_string(), AttrType::String),
        ("lifetime_value".to_string(), AttrType::Number),
        ("is_vip".to_string(), AttrType::Boolean),
    ])
}

fn decode(body: &[u8]) -> Result<DecodedPage> {
    layout().decode_page(body)
}

fn col<'a>(p: &'a DecodedPage, name: &str) -> &'a ArrayRef {
    p.batch.column_by_name(name).expect(name)
}

fn strs(p: &DecodedPage, name: &str) -> Vec<Option<String>> {
    col(p, name)
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn nums(p: &DecodedPage, name: &str) -> Vec<Option<f64>> {
    col(p, name).as_primitive::<Float64Type>().iter().collect()
}

fn bools(p: &DecodedPage, name: &str) -> Vec<Option<bool>> {
    col(p, name).as_boolean().iter().collect()
}

fn dates(p: &DecodedPage, name: &str) -> Vec<Option<i32>> {
    col(p, name).as_primitive::<Date32Type>().iter().collect()
}

fn stamps(p: &DecodedPage) -> Vec<Option<i64>> {
    col(p, JOINED_AT)
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect()
}

#[test]
fn schema_has_fixed_columns_then_attributes_in_order() {
    let s = layout().schema();
    let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "memberId",
            "joinedAt",
            "lifecycle_stage",
            "last_purchase_date",
            "city",
            "lifetime_value",
            "is_vip"
        ]
    );
    assert!(!s.field(0).is_nullable());
    assert_eq!(s.field(0).data_type(), &DataType::Utf8);
    assert_eq!(
        s.field(1).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(s.field(3).data_type(), &DataType::Date32);
    assert_eq!(s.field(5).data_type(), &DataType::Float64);
    assert_eq!(s.field(6).data_type(), &DataType::Boolean);
    assert!(s.fields().iter().skip(1).all(|f| f.is_nullable()));
}

#[test]
fn every_type_decodes() {
    let body = br#"{"items":[{"memberId":"m-1","joinedAt":"2024-03-01T12:30:00.25Z",
        "attributes":{"lifecycle_stage":"active","last_purchase_date":"2024-02-29",
        "city":"Lyon","lifetime_value":12.5,"is_vip":true}},
        {"memberId":"m-2","joinedAt":"1970-01-01T00:00:00Z",
        "attributes":{"lifecycle_stage":"lapsed","last_purchase_date":"1969-12-31",
        "city":"Oslo","lifetime_value":250,"is_vip":false}}],"nextPageToken":"abc"}"#;
    let p = decode(body).unwrap();
    assert_eq!(p.items, 2);
    assert_eq!(p.batch.num_rows(), 2);
    assert_eq!(p.next_page_token.as_deref(), Some("abc"));
    assert_eq!(
        strs(&p, MEMBER_ID),
        [Some("m-1".to_string()), Some("m-2".to_string())]
    );
    assert_eq!(stamps(&p), [Some(1_709_296_200_250_000), Some(0)]);
    assert_eq!(dates(&p, "last_purchase_date"), [Some(19_782), Some(-1)]);
    assert_eq!(nums(&p, "lifetime_value"), [Some(12.5), Some(250.0)]);
    assert_eq!(bools(&p, "is_vip"), [Some(true), Some(false)]);
    assert_eq!(
        strs(&p, "lifecycle_stage"),
        [Some("active".to_string()), Some("lapsed".to_string())]
    );
}

#[test]
fn timestamps_with_offsets_become_utc() {
    let body = br#"{"items":[
        {"memberId":"a","joinedAt":"2024-03-01T14:30:00+02:00"},
        {"memberId":"b","joinedAt":"2024-03-01T07:00:00.000001-05:30"},
        {"memberId":"c","joinedAt":"2024-03-01 12:30:00z"}]}"#;
    let p = decode(body).unwrap();
    let noon_thirty = 1_709_296_200_000_000;
    assert_eq!(
        stamps(&p),
        [Some(noon_thirty), Some(noon_thirty + 1), Some(noon_thirty)]
    );
}

#[test]
fn missing_and_wrong_typed_values_are_null() {
    let body = br#"{"items":[
        {"memberId":"a","attributes":{}},
        {"memberId":"b","joinedAt":12,"attributes":{"lifecycle_stage":5,"last_purchase_date":"2024-13-01",
          "city":null,"lifetime_value":"12","is_vip":"true"}},
        {"memberId":"c","joinedAt":"yesterday","attributes":{"last_purchase_date":"2024-02-30",
          "lifetime_value":[1],"is_vip":{"x":1},"city":true}},
        {"memberId":"d","joinedAt":"2024-03-01","attributes":null},
        {"memberId":"e","joinedAt":null,"attributes":[1,2]}
    ],"nextPageToken":null}"#;
    let p = decode(body).unwrap();
    assert_eq!(p.items, 5);
    assert_eq!(p.next_page_token, None);
    for c in 1..p.batch.num_columns() {
        assert_eq!(p.batch.column(c).null_count(), 5, "column {c}");
    }
    assert_eq!(p.batch.column(0).null_count(), 0);
}

#[test]
fn unknown_fields_and_attributes_are_ignored() {
    let body = br#"{"meta":{"x":[1,{"y":2}]},"items":[
        {"extra":[{"a":1}],"memberId":"a","attributes":{"unknown":{"deep":[1,2]},"city":"Nice","other":1},
         "joinedAt":"2024-01-01T00:00:00Z","more":null}],
        "nextPageToken":"t","trailer":true}"#;
    let p = decode(body).unwrap();
    assert_eq!(p.batch.num_columns(), 7);
    assert_eq!(strs(&p, "city"), [Some("Nice".to_string())]);
    assert_eq!(stamps(&p), [Some(1_704_067_200_000_000)]);
    assert_eq!(p.next_page_token.as_deref(), Some("t"));
}

#[test]
fn duplicate_attributes_keep_the_first_value() {
    let body = br#"{"items":[{"memberId":"a",
        "attributes":{"city":"One","city":"Two","is_vip":"no","is_vip":true}}]}"#;
    let p = decode(body).unwrap();
    assert_eq!(strs(&p, MEMBER_ID), [Some("a".to_string())]);
    assert_eq!(strs(&p, "city"), [Some("One".to_string())]);
    // a wrong-typed first value does not fill the column; the next one may
    assert_eq!(bools(&p, "is_vip"), [Some(true)]);
    // a member's identity is never ambiguous (the envelope's member rule)
    let e = decode(br#"{"items":[{"memberId":"a","memberId":"b"}]}"#).unwrap_err();
    assert!(e.message.contains("two memberId"), "{}", e.message);
}

#[test]
fn awkward_strings_are_preserved() {
    let cities = [
        "São Paulo",
        "Rock & Roll",
        "a+b=c",
        "100%",
        "x#y",
        "quote \" \\ \u{1F600}",
    ];
    let items: Vec<String> = cities
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                r#"{{"memberId":"m{i}","attributes":{{"city":{}}}}}"#,
                serde_json::to_string(c).unwrap()
            )
        })
        .collect();
    let body = format!(r#"{{"items":[{}]}}"#, items.join(","));
    let p = decode(body.as_bytes()).unwrap();
    let got: Vec<String> = strs(&p, "city").into_iter().map(Option::unwrap).collect();
    assert_eq!(got, cities);
    // escaped unicode in the JSON text decodes too
    let p =
        decode(br#"{"items":[{"memberId":"S\u00e3o","attributes":{"city":"S\u00e3o Paulo"}}]}"#)
            .unwrap();
    assert_eq!(strs(&p, "city"), [Some("São Paulo".to_string())]);
    assert_eq!(strs(&p, MEMBER_ID), [Some("São".to_string())]);
}

#[test]
fn empty_page_and_token_forms() {
    for (body, token) in [
        (&br#"{"items":[],"nextPageToken":null}"#[..], None),
        (br#"{"items":[]}"#, None),
        (br#"{"nextPageToken":"Zm9v","items":[]}"#, Some("Zm9v")),
        // an empty cursor ends the listing (the envelope's rule)
        (br#" { "items" : [ ] , "nextPageToken" : "" } "#, None),
    ] {
        let p = decode(body).unwrap();
        assert_eq!(p.items, 0);
        assert_eq!(p.batch.num_rows(), 0);
        assert_eq!(p.batch.schema(), layout().schema());
        assert_eq!(p.next_page_token.as_deref(), token);
    }
}

#[test]
fn malformed_bodies_are_server_errors() {
    for body in [
        &b""[..],
        b"<html>502 Bad Gateway</html>",
        b"{\"items\":[{\"memberId\":\"a\"}]",
        b"{\"items\":[]} trailing",
        b"{\"nextPageToken\":null}",
        b"{\"items\":{}}",
        b"{\"items\":null}",
        b"[]",
        b"{\"items\":[1]}",
        b"{\"items\":[{\"attributes\":{}}]}",
        b"{\"items\":[{\"memberId\":7}]}",
        b"{\"items\":[],\"nextPageToken\":5}",
        b"{\"items\":[{\"memberId\":\"a\",\"attributes\":{\"city\":\"x}}]}",
        b"[[{\"memberId\":\"m1\"}], null]",
    ] {
        let e = decode(body).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server, "{body:?}");
        assert_eq!(e.code.as_deref(), Some("invalid_response"), "{body:?}");
        assert!(e.message.contains("not a valid page"), "{}", e.message);
        assert!(e.message.contains("body starts"), "{}", e.message);
    }
    let e = decode(b"<html>502 Bad Gateway</html>").unwrap_err();
    assert!(e.message.contains("<html>502 Bad Gateway"), "{}", e.message);
    let long = vec![b'x'; 10_000];
    let e = decode(&long).unwrap_err();
    assert!(e.message.len() < 400, "{}", e.message.len());
}

#[test]
fn layout_without_attributes_and_from_schema() {
    let empty = ArrowLayout::new(&[]);
    let p = empty
        .decode_page(br#"{"items":[{"memberId":"a","attributes":{"city":"x"}}]}"#)
        .unwrap();
    assert_eq!(p.batch.num_columns(), 2);
    assert_eq!(p.items, 1);

    let mut schema = Schema::new();
    schema.insert("b".into(), AttrType::Number);
    schema.insert("a".into(), AttrType::Date);
    let l = ArrowLayout::from_schema(&schema);
    assert_eq!(
        l.attributes(),
        [
            ("a".to_string(), AttrType::Date),
            ("b".to_string(), AttrType::Number)
        ]
    );
    let dup = ArrowLayout::new(&[
        ("a".to_string(), AttrType::Date),
        ("a".to_string(), AttrType::Number),
    ]);
    assert_eq!(dup.schema().fields().len(), 3);
}

/// A page body shaped like the simulator's members (also used by the timing test).
pub(crate) fn sample_page(n: usize, offset: usize, token: Option<&str>) -> String {
    const CITIES: [&str; 6] = ["São Paulo", "Rock & Roll", "a+b=c", "100%", "x#y", "Lyon"];
    const STAGES: [&str; 4] = ["new", "active", "lapsed", "churned"];
    let mut out = String::from(r#"{"items":["#);
    for i in offset..offset + n {
        if i > offset {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"memberId":"mem-{i:08}","joinedAt":"2023-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z","attributes":{{"lifecycle_stage":"{}","last_purchase_date":"2024-{:02}-{:02}","city":{},"lifetime_value":{}.{:02},"is_vip":{}}}}}"#,
            i % 12 + 1,
            i % 28 + 1,
            i % 24,
            i % 60,
            (i * 7) % 60,
            i % 1000,
            STAGES[i % 4],
            (i * 5) % 12 + 1,
            (i * 3) % 28 + 1,
            serde_json::to_string(CITIES[i % 6]).unwrap(),
            (i * 37) % 5000,
            i % 100,
            i % 7 == 0
        ));
    }
    out.push_str("],\"nextPageToken\":");
    out.push_str(&match token {
        Some(t) => serde_json::to_string(t).unwrap(),
        None => "null".into(),
    });
    out.push('}');
    out
}

#[test]
fn large_page_round_trips() {
    let body = sample_page(1000, 5000, Some("next"));
    let p = decode(body.as_bytes()).unwrap();
    assert_eq!(p.items, 1000);
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let items = parsed["items"].as_array().unwrap();
    let ids = strs(&p, MEMBER_ID);
    let cities = strs(&p, "city");
    let ltv = nums(&p, "lifetime_value");
    let vip = bools(&p, "is_vip");
    let lpd = dates(&p, "last_purchase_date");
    let ts = stamps(&p);
    for (i, m) in items.iter().enumerate() {
        assert_eq!(ids[i].as_deref(), m["memberId"].as_str());
        let a = &m["attributes"];
        assert_eq!(cities[i].as_deref(), a["city"].as_str());
        assert_eq!(ltv[i], a["lifetime_value"].as_f64());
        assert_eq!(vip[i], a["is_vip"].as_bool());
        let d = NaiveDate::parse_from_str(a["last_purchase_date"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap();
        assert_eq!(
            lpd[i],
            Some((d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32)
        );
        let t = DateTime::parse_from_rfc3339(m["joinedAt"].as_str().unwrap()).unwrap();
        assert_eq!(ts[i], Some(t.timestamp_micros()));
    }
    assert_eq!(p.next_page_token.as_deref(), Some("next"));
    assert_eq!(p.batch.column(1).null_count(), 0);
}

#[test]
fn date_and_timestamp_helpers() {
    assert_eq!(date32("1970-01-01"), Some(0));
    assert_eq!(date32("2000-03-01"), Some(11_017));
    assert_eq!(date32("0001-01-01"), Some(-719_162));
    for bad in [
        "2024-02-30",
        "2024-1-01",
        "2024/01/01",
        "20240101xx",
        "２０２４-01-01",
        "",
    ] {
        assert_eq!(date32(bad), None, "{bad}");
    }
    assert_eq!(timestamp_us("1970-01-01T00:00:01Z"), Some(1_000_000));
    assert_eq!(timestamp_us("1970-01-01T01:00:00+01:00"), Some(0));
    assert_eq!(timestamp_us("1970-01-01"), None);
    // the fast path and chrono agree, and chrono still takes the rest
    for t in [
        "2024-03-01T12:30:00Z",
        "2024-03-01T12:30:00.1Z",
        "2024-03-01T12:30:00.123456789+05:45",
        "1969-12-31T23:59:59.999999Z",
        "1900-02-28T00:00:00-23:59",
        "2024-02-29T23:59:59.5-00:00",
    ] {
        let chrono = DateTime::parse_from_rfc3339(t).unwrap().timestamp_micros();
        assert_eq!(timestamp_us_fast(t.as_bytes()), Some(chrono), "{t}");
    }
    assert_eq!(timestamp_us_fast(b"2024-03-01t12:30:00z"), None);
    assert_eq!(
        timestamp_us("2024-03-01t12:30:00z"),
        timestamp_us("2024-03-01T12:30:00Z")
    );
    assert_eq!(
        timestamp_us("2016-12-31T23:59:60Z"),
        Some(1_483_228_800_000_000)
    );
    for bad in [
        "2024-02-30T00:00:00Z",
        "2024-03-01T24:00:00Z",
        "2024-03-01T12:60:00Z",
        "2024-03-01T12:00:00.Z",
        "2024-03-01T12:00:00+24:00",
        "2024-03-01T12:00:00+0100",
        "2024-03-01T12:00:00",
    ] {
        assert_eq!(timestamp_us(bad), None, "{bad}");
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&body);
    }

    #[test]
    fn never_panics_on_json_like_text(body in r#"[\{\}\[\]",:a-z0-9 \.\-\\]{0,200}"#) {
        let _ = decode(body.as_bytes());
        let wrapped = format!(r#"{{"items":[{{"memberId":"x","attributes":{{"city":{body}}}}}]}}"#);
        let _ = decode(wrapped.as_bytes());
    }

    #[test]
    fn fast_timestamps_agree_with_chrono(
        t in r"[0-9]{4}-(0[1-9]|1[0-2])-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-][01][0-9]:[0-5][0-9])"
    ) {
        let chrono = DateTime::parse_from_rfc3339(&t).ok().map(|d| d.timestamp_micros());
        prop_assert_eq!(timestamp_us_fast(t.as_bytes()), chrono);
    }

    #[test]
    fn dates_agree_with_chrono(year in 0i32..10_000, month in 0u32..14, day in 0u32..33) {
        use chrono::Datelike;
        let text = format!("{year:04}-{month:02}-{day:02}");
        let chrono = NaiveDate::from_ymd_opt(year, month, day)
            .map(|d| d.num_days_from_ce() - 719_163);
        prop_assert_eq!(date32(&text), chrono, "{}", text);
    }

    #[test]
    fn decoded_rows_match_member_count(n in 0usize..40, offset in 0usize..10_000) {
        let body = sample_page(n, offset, None);
        let p = decode(body.as_bytes()).unwrap();
        prop_assert_eq!(p.items, n);
        prop_assert_eq!(p.batch.num_rows(), n);
    }
}

/// `cargo test --release --lib arrow::tests::decode_throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn decode_throughput() {
    let l = layout();
    crate::page::testkit::print_decode_throughput("arrow decode_page", |p| {
        l.decode_page(p).unwrap().items
    });
}
