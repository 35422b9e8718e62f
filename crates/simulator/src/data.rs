//! The simulator's deterministic members. Nothing is stored per member: every
//! attribute is computed from the member's index with a bijective mixer, so a
//! million members cost no memory until a page is rendered.

use chrono::{DateTime, Days, NaiveDate};

use crate::grammar::{AttrType, Filter, Operator, Schema, Value};

/// The five attributes of the contract, in the order the attributes endpoint lists them.
pub const ATTRIBUTES: [(&str, AttrType); 5] = [
    ("lifecycle_stage", AttrType::String),
    ("last_purchase_date", AttrType::Date),
    ("city", AttrType::String),
    ("lifetime_value", AttrType::Number),
    ("is_vip", AttrType::Boolean),
];

pub const STAGES: [&str; 6] = [
    "lead", "prospect", "customer", "loyal", "at_risk", "churned",
];

/// Cities, including every value that needs percent-encoding on the wire.
/// None of `Rock `, `a b=c`, `x` or `100` is a city, so a client that fails to
/// encode sees a different result.
pub const CITIES: [&str; 16] = [
    "São Paulo",
    "Rock & Roll",
    "a+b=c",
    "100%",
    "x#y",
    "New York",
    "London",
    "Berlin",
    "Paris",
    "Tokyo",
    "Sydney",
    "Toronto",
    "Madrid",
    "Austin",
    "Lagos",
    "Mumbai",
];

/// The schema the simulator serves.
pub fn schema() -> Schema {
    ATTRIBUTES
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect()
}

/// splitmix64's finalizer over `i + salt * golden`: a bijection on u64 for a
/// fixed salt, so ids built from it are unique.
pub(crate) fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i.wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn base_purchase_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 1, 1).expect("valid date")
}

/// 2019-01-01T00:00:00Z.
const JOINED_BASE: i64 = 1_546_300_800;
const JOINED_SPAN: u64 = 4 * 365 * 86_400;

/// One member's attribute value, computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrVal {
    Str(&'static str),
    /// Lifetime value in cents (exact); compared as a decimal number.
    Cents(i64),
    Bool(bool),
    Date(NaiveDate),
}

pub fn lifecycle_stage(i: u64) -> &'static str {
    stage_at(i, 0)
}

/// The key a member's attribute values are computed from: its index, with
/// the version (how often the membership clock changed them, see
/// `crate::clock`) above the 32 index bits. Version 0 is the index itself.
fn key(i: u64, v: u32) -> u64 {
    i | (u64::from(v) << 32)
}

/// The stage moves on with every version, so a change always shows.
fn stage_at(i: u64, v: u32) -> &'static str {
    STAGES[((mix(i, 1) + u64::from(v)) % STAGES.len() as u64) as usize]
}

pub fn city(i: u64) -> &'static str {
    CITIES[(mix(i, 2) % CITIES.len() as u64) as usize]
}

/// Cents; about half the members have a whole-unit value (`250`), the rest a
/// fraction (`12.5`, `1234.56`).
pub fn lifetime_cents(i: u64) -> i64 {
    let h = mix(i, 3);
    let cents = (h % 500_000) as i64;
    if (h >> 40) & 1 == 0 {
        cents - cents % 100
    } else {
        cents
    }
}

pub fn is_vip(i: u64) -> bool {
    mix(i, 4).is_multiple_of(10)
}

pub fn last_purchase_date(i: u64) -> NaiveDate {
    base_purchase_date() + Days::new((purchase_days(i) - PURCHASE_BASE_DAYS) as u64)
}

pub fn member_id(i: u64) -> String {
    let mut s = String::with_capacity(36);
    write_member_id(&mut s, i);
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, v: u64, digits: u32) {
    for k in (0..digits).rev() {
        out.push(HEX[((v >> (4 * k)) & 0xf) as usize] as char);
    }
}

/// A UUID-shaped id; the first 64 bits are a bijection of `i`, so ids are unique.
fn write_member_id(out: &mut String, i: u64) {
    let hi = mix(i, 6);
    let lo = mix(i, 7);
    push_hex(out, hi >> 32, 8);
    out.push('-');
    push_hex(out, (hi >> 16) & 0xffff, 4);
    out.push('-');
    push_hex(out, hi & 0xffff, 4);
    out.push('-');
    push_hex(out, lo >> 48, 4);
    out.push('-');
    push_hex(out, lo & 0xffff_ffff_ffff, 12);
}

fn joined_secs(i: u64) -> i64 {
    JOINED_BASE + (mix(i, 8) % JOINED_SPAN) as i64
}

pub fn joined_at(i: u64) -> String {
    DateTime::from_timestamp(joined_secs(i), 0)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// (year, month, day) of a day count since 1970-01-01 (Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn push_num(out: &mut String, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut n = v;
    let mut k = buf.len();
    loop {
        k -= 1;
        buf[k] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = buf.len() - k;
    for _ in digits..width {
        out.push('0');
    }
    out.push_str(std::str::from_utf8(&buf[k..]).expect("ascii digits"));
}

fn write_date(out: &mut String, days: i64) {
    let (y, m, d) = civil(days);
    push_num(out, y as u64, 4);
    out.push('-');
    push_num(out, u64::from(m), 2);
    out.push('-');
    push_num(out, u64::from(d), 2);
}

fn write_datetime(out: &mut String, secs: i64) {
    write_date(out, secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400) as u64;
    out.push('T');
    push_num(out, t / 3600, 2);
    out.push(':');
    push_num(out, t / 60 % 60, 2);
    out.push(':');
    push_num(out, t % 60, 2);
    out.push('Z');
}

/// 2022-01-01 as days since the epoch.
const PURCHASE_BASE_DAYS: i64 = 18_993;

fn purchase_days(i: u64) -> i64 {
    PURCHASE_BASE_DAYS + (mix(i, 5) % 1096) as i64
}

/// Variations of the data, fixed when a simulator starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataOpts {
    /// Every n-th member (1-based) lacks `lifetime_value`.
    pub missing_lifetime_every: Option<u64>,
}

impl DataOpts {
    pub fn lacks_lifetime_value(&self, i: u64) -> bool {
        matches!(self.missing_lifetime_every, Some(n) if n > 0 && (i + 1).is_multiple_of(n))
    }
}

/// Member `i`'s value of attribute `name` under `opts` (None if it has none).
pub fn attr_in(i: u64, name: &str, opts: DataOpts) -> Option<AttrVal> {
    attr_at(i, 0, name, opts)
}

/// [`attr_in`] for version `v` of member `i`'s values.
pub fn attr_at(i: u64, v: u32, name: &str, opts: DataOpts) -> Option<AttrVal> {
    if name == "lifetime_value" && opts.lacks_lifetime_value(i) {
        return None;
    }
    let k = key(i, v);
    Some(match name {
        "lifecycle_stage" => AttrVal::Str(stage_at(i, v)),
        "last_purchase_date" => AttrVal::Date(last_purchase_date(k)),
        "city" => AttrVal::Str(city(k)),
        "lifetime_value" => AttrVal::Cents(lifetime_cents(k)),
        "is_vip" => AttrVal::Bool(is_vip(k)),
        _ => return None,
    })
}

/// Is member `i` (of the main audience) also in the subset audience? About
/// a third of the members, chosen by a hash of the index.
pub fn in_subset(i: u64) -> bool {
    mix(i, 9).is_multiple_of(3)
}

pub fn attr(i: u64, name: &str) -> Option<AttrVal> {
    attr_at(i, 0, name, DataOpts::default())
}

/// Renders cents as a JSON / wire decimal: `250`, `12.5`, `1234.56`.
pub fn cents_text(c: i64) -> String {
    let mut s = String::new();
    write_cents(&mut s, c);
    s
}

fn write_cents(out: &mut String, c: i64) {
    if c < 0 {
        out.push('-');
    }
    let a = c.unsigned_abs();
    push_num(out, a / 100, 1);
    let frac = a % 100;
    if frac != 0 {
        out.push('.');
        if frac.is_multiple_of(10) {
            push_num(out, frac / 10, 1);
        } else {
            push_num(out, frac, 2);
        }
    }
}

/// Does member `i` satisfy the (schema-checked) filter? Numbers compare
/// numerically, booleans by value, dates and strings by code point, `~` is a
/// substring test.
pub fn matches(i: u64, f: &Filter) -> bool {
    matches_in(i, f, DataOpts::default())
}

/// [`matches`] under data options: a member lacking the attribute matches
/// no condition on it (not even `!=`).
pub fn matches_in(i: u64, f: &Filter, opts: DataOpts) -> bool {
    matches_at(i, 0, f, opts)
}

/// [`matches_in`] for version `version` of member `i`'s values.
pub fn matches_at(i: u64, version: u32, f: &Filter, opts: DataOpts) -> bool {
    use std::cmp::Ordering;
    let Some(v) = attr_at(i, version, &f.attribute, opts) else {
        return false;
    };
    let ord: Option<Ordering> = match (&v, &f.value) {
        (AttrVal::Str(s), Value::Str(w)) => {
            if f.op == Operator::Contains {
                return s.contains(w.as_str());
            }
            Some((*s).cmp(w.as_str()))
        }
        (AttrVal::Cents(c), Value::Number(w)) => (*c as f64 / 100.0).partial_cmp(w),
        (AttrVal::Bool(b), Value::Bool(w)) => Some(b.cmp(w)),
        (AttrVal::Date(d), Value::Date(w)) => Some(d.cmp(w)),
        _ => None,
    };
    ord.is_some_and(|o| f.op.accepts(o))
}

/// Appends a JSON string. The data's strings are constants that need no
/// escaping (checked by a test); anything else goes through serde_json.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("string serializes"));
    }
}

/// Appends member `i` as a JSON object.
pub fn write_member(out: &mut String, i: u64) {
    write_member_in(out, i, DataOpts::default());
}

/// [`write_member`] under data options.
pub fn write_member_in(out: &mut String, i: u64, opts: DataOpts) {
    write_member_at(out, i, 0, opts);
}

/// [`write_member_in`] with version `v` of the attribute values (the id and
/// `joinedAt` never change).
pub fn write_member_at(out: &mut String, i: u64, v: u32, opts: DataOpts) {
    let k = key(i, v);
    out.push_str("{\"memberId\":\"");
    write_member_id(out, i);
    out.push_str("\",\"joinedAt\":\"");
    write_datetime(out, joined_secs(i));
    out.push_str("\",\"attributes\":{\"lifecycle_stage\":");
    push_json_str(out, stage_at(i, v));
    out.push_str(",\"last_purchase_date\":\"");
    write_date(out, purchase_days(k));
    out.push_str("\",\"city\":");
    push_json_str(out, city(k));
    if !opts.lacks_lifetime_value(i) {
        out.push_str(",\"lifetime_value\":");
        write_cents(out, lifetime_cents(k));
    }
    out.push_str(",\"is_vip\":");
    out.push_str(if is_vip(k) { "true" } else { "false" });
    out.push_str("}}");
}

/// Member `i` as a JSON value (for `expected_members`).
pub fn member_json(i: u64) -> serde_json::Value {
    member_json_in(i, DataOpts::default())
}

/// [`member_json`] under data options.
pub fn member_json_in(i: u64, opts: DataOpts) -> serde_json::Value {
    member_json_at(i, 0, opts)
}

/// [`member_json_in`] with version `v` of the attribute values.
pub fn member_json_at(i: u64, v: u32, opts: DataOpts) -> serde_json::Value {
    let mut s = String::with_capacity(256);
    write_member_at(&mut s, i, v, opts);
    serde_json::from_str(&s).expect("member renders as JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn filter(attribute: &str, op: Operator, value: Value) -> Filter {
        Filter {
            attribute: attribute.to_string(),
            op,
            value,
        }
    }

    #[test]
    fn deterministic_and_unique_ids() {
        assert_eq!(member_id(42), member_id(42));
        let ids: HashSet<String> = (0..20_000).map(member_id).collect();
        assert_eq!(ids.len(), 20_000);
    }

    #[test]
    fn every_city_occurs_and_values_vary() {
        let cities: HashSet<&str> = (0..2_000).map(city).collect();
        assert_eq!(cities.len(), CITIES.len());
        let whole = (0..2_000).filter(|&i| lifetime_cents(i) % 100 == 0).count();
        assert!(
            whole > 100 && whole < 1_900,
            "both integral and fractional values"
        );
        assert!((0..2_000).any(is_vip) && !(0..2_000).all(is_vip));
    }

    #[test]
    fn members_render_as_typed_json() {
        let m = member_json(7);
        let a = &m["attributes"];
        assert!(a["lifetime_value"].is_number());
        assert!(a["is_vip"].is_boolean());
        assert!(a["city"].is_string());
        assert_eq!(a["last_purchase_date"].as_str().unwrap().len(), 10);
        assert!(m["joinedAt"].as_str().unwrap().ends_with('Z'));
        assert!(chrono::DateTime::parse_from_rfc3339(m["joinedAt"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn fast_formatting_agrees_with_chrono_and_f64() {
        for i in 0..5_000 {
            let m = member_json(i);
            assert_eq!(m["joinedAt"].as_str().unwrap(), joined_at(i));
            assert_eq!(
                m["attributes"]["last_purchase_date"].as_str().unwrap(),
                last_purchase_date(i).format("%Y-%m-%d").to_string()
            );
            let c = lifetime_cents(i);
            assert_eq!(cents_text(c), (c as f64 / 100.0).to_string());
            assert_eq!(
                m["attributes"]["lifetime_value"].as_f64().unwrap(),
                c as f64 / 100.0
            );
            assert_eq!(m["attributes"]["city"].as_str().unwrap(), city(i));
        }
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(PURCHASE_BASE_DAYS), (2022, 1, 1));
        assert_eq!(cents_text(-1_250), "-12.5");
        assert_eq!(cents_text(5), "0.05");
    }

    #[test]
    fn missing_lifetime_value() {
        let opts = DataOpts {
            missing_lifetime_every: Some(4),
        };
        let m = member_json_in(3, opts);
        assert!(m["attributes"].get("lifetime_value").is_none());
        assert!(m["attributes"]["city"].is_string());
        assert!(member_json_in(4, opts)["attributes"]["lifetime_value"].is_number());
        for op in [
            Operator::Equals,
            Operator::Differs,
            Operator::Above,
            Operator::Below,
        ] {
            let f = filter("lifetime_value", op, Value::Number(-1.0));
            assert!(!matches_in(3, &f, opts));
        }
        let f = filter("lifetime_value", Operator::Above, Value::Number(-1.0));
        assert!(matches_in(3, &f, DataOpts::default()) && matches_in(4, &f, opts));
        let subset = (0..3_000).filter(|&i| in_subset(i)).count();
        assert!(subset > 800 && subset < 1_200, "{subset}");
    }

    #[test]
    fn versions_change_values_but_not_identity() {
        for i in 0..500 {
            let (a, b) = (
                member_json_at(i, 0, DataOpts::default()),
                member_json_at(i, 1, DataOpts::default()),
            );
            assert_eq!(a, member_json(i));
            assert_eq!(a["memberId"], b["memberId"]);
            assert_eq!(a["joinedAt"], b["joinedAt"]);
            assert_ne!(
                a["attributes"]["lifecycle_stage"],
                b["attributes"]["lifecycle_stage"]
            );
            let f = Filter {
                attribute: "city".into(),
                op: Operator::Equals,
                value: Value::Str(b["attributes"]["city"].as_str().unwrap().into()),
            };
            assert!(matches_at(i, 1, &f, DataOpts::default()));
        }
    }

    #[test]
    fn cents_render_as_decimals() {
        assert_eq!(cents_text(25_000), "250");
        assert_eq!(cents_text(1_250), "12.5");
        assert_eq!(cents_text(123_456), "1234.56");
        assert_eq!(cents_text(0), "0");
    }
}
