//! The server's reading of a `filter` parameter, written from
//! `shared/api-contract.md` ("Filters") and deliberately not shared with the
//! client's filter code: a grammar bug on one side shows up as a refusal or a
//! wrong listing on the other, instead of hiding on both.
//!
//! After percent-decoding, a parameter is `<attribute><symbol><value>` with
//! the symbols `=`, `!=`, `>`, `<` and `~`; the attribute runs up to the first
//! symbol character and must name a schema attribute exactly (no trimming).
//! The value text is read by the attribute's type: number as a decimal
//! literal (`250`, `-3`, `12.5`; no `+`, exponent, `inf` or out-of-range
//! magnitude), boolean as `true` / `false`,
//! date as `YYYY-MM-DD`, string as is. `>` and `<` do not apply to booleans,
//! `~` applies to strings only. A query has at most [`MAX_FILTERS`] filters
//! and a total complexity (eq 1, neq/gt/lt 2, contains 5) of at most
//! [`MAX_COMPLEXITY`].

use std::cmp::Ordering::{self, Equal, Greater, Less};
use std::collections::HashMap;

use chrono::NaiveDate;

/// At most this many `filter` parameters in one query.
pub const MAX_FILTERS: usize = 50;
/// At most this total complexity in one query.
pub const MAX_COMPLEXITY: u32 = 100;
/// Longest value text the server takes, in bytes.
const MAX_VALUE_BYTES: usize = 2048;

/// A comparison, by its wire symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=`
    Equals,
    /// `!=`
    Differs,
    /// `>`
    Above,
    /// `<`
    Below,
    /// `~` (a substring, strings only)
    Contains,
}

/// One row of the contract's operator table.
struct Row {
    op: Operator,
    symbol: &'static str,
    weight: u32,
    /// Applies to strings, numbers, dates, booleans (in `AttrType` order).
    applies: [bool; 4],
    /// The orderings of member value against filter value that match
    /// (`~` is a substring test instead).
    matches: &'static [Ordering],
}

/// The contract's operator table. `!=` comes before `=` so the longer
/// symbol is matched first.
const OPERATORS: [Row; 5] = [
    row(Operator::Differs, "!=", 2, [true; 4], &[Less, Greater]),
    row(Operator::Equals, "=", 1, [true; 4], &[Equal]),
    row(Operator::Above, ">", 2, ORDERED, &[Greater]),
    row(Operator::Below, "<", 2, ORDERED, &[Less]),
    row(Operator::Contains, "~", 5, TEXT, &[]),
];
const ORDERED: [bool; 4] = [true, true, true, false];
const TEXT: [bool; 4] = [true, false, false, false];

const fn row(
    op: Operator,
    symbol: &'static str,
    weight: u32,
    applies: [bool; 4],
    matches: &'static [Ordering],
) -> Row {
    Row {
        op,
        symbol,
        weight,
        applies,
        matches,
    }
}

impl Operator {
    fn row(self) -> &'static Row {
        OPERATORS
            .iter()
            .find(|r| r.op == self)
            .expect("every operator is in the table")
    }

    /// The wire symbol.
    pub fn symbol(self) -> &'static str {
        self.row().symbol
    }

    /// The contract's complexity weight.
    pub fn weight(self) -> u32 {
        self.row().weight
    }

    fn applies_to(self, ty: AttrType) -> bool {
        self.row().applies[ty as usize]
    }

    /// Whether a member value ordered `ord` against the filter's value matches.
    pub fn accepts(self, ord: Ordering) -> bool {
        self.row().matches.contains(&ord)
    }
}

/// An attribute type as the attributes endpoint lists it (in the order of
/// the operator table's columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrType {
    String = 0,
    Number = 1,
    Date = 2,
    Boolean = 3,
}

impl AttrType {
    /// The name on the wire (`"string"`, `"number"`, ...).
    pub fn name(self) -> &'static str {
        ["string", "number", "date", "boolean"][self as usize]
    }
}

/// Attribute name to type.
pub type Schema = HashMap<String, AttrType>;

/// A filter value, read by its attribute's type. Numbers compare as
/// decimals, so one `f64` holds them all.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Number(f64),
    Bool(bool),
    Date(NaiveDate),
}

impl Value {
    /// The canonical text of the value (what identifies a query for cursors).
    pub fn canonical(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Number(x) => x.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        }
    }
}

/// One condition a member must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub attribute: String,
    pub op: Operator,
    pub value: Value,
}

/// Why a filter was refused (the message of a 400 `invalid_filter`).
pub type Refusal = String;

fn shorten(s: &str) -> String {
    let mut t: String = s.chars().take(60).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

/// Reads one decoded `filter` parameter against the schema.
pub fn parse(text: &str, schema: &Schema) -> Result<Filter, Refusal> {
    let at = text
        .find(['=', '!', '>', '<', '~'])
        .ok_or_else(|| format!("filter {:?} has no operator", shorten(text)))?;
    let (attribute, rest) = text.split_at(at);
    let (op, value) = OPERATORS
        .iter()
        .find_map(|r| rest.strip_prefix(r.symbol).map(|v| (r.op, v)))
        .ok_or_else(|| format!("filter {:?}: '!' without '='", shorten(text)))?;
    // The name is exactly the text before the symbol: the attributes
    // endpoint names attributes exactly, and a client that sends `city =x`
    // has a bug that trimming here would hide.
    let ty = *schema
        .get(attribute)
        .ok_or_else(|| format!("unknown attribute {:?}", shorten(attribute)))?;
    if !op.applies_to(ty) {
        return Err(format!(
            "operator {} does not apply to {} attribute {attribute:?}",
            op.symbol(),
            ty.name()
        ));
    }
    if value.is_empty() {
        return Err(format!("filter on {attribute:?}: the value is empty"));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("filter on {attribute:?}: the value is too long"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "filter on {attribute:?}: the value holds control characters"
        ));
    }
    let value = read_value(value, ty).ok_or_else(|| {
        format!(
            "filter on {attribute:?}: {:?} is not a {}",
            shorten(value),
            ty.name()
        )
    })?;
    Ok(Filter {
        attribute: attribute.to_string(),
        op,
        value,
    })
}

fn read_value(text: &str, ty: AttrType) -> Option<Value> {
    match ty {
        AttrType::String => Some(Value::Str(text.to_string())),
        AttrType::Boolean => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        AttrType::Date => read_date(text).map(Value::Date),
        AttrType::Number => {
            let unsigned = text.strip_prefix('-').unwrap_or(text);
            let (whole, fraction) = match unsigned.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (unsigned, None),
            };
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(whole) || !fraction.is_none_or(digits) {
                return None;
            }
            // A literal beyond the f64 range is not a number we can compare.
            text.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Value::Number)
        }
    }
}

/// A strict `YYYY-MM-DD` (ASCII digits, a real calendar day).
pub fn read_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !digits(y, 4) || !digits(m, 2) || !digits(d, 2) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// Total complexity of a query's filters.
pub fn complexity(filters: &[Filter]) -> u32 {
    filters.iter().map(|f| f.op.weight()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::schema;

    #[test]
    fn reads_each_symbol_and_type() {
        let s = schema();
        let f = parse("city=Rock & Roll", &s).unwrap();
        assert_eq!(
            (f.op, f.value),
            (Operator::Equals, Value::Str("Rock & Roll".into()))
        );
        assert_eq!(
            parse("city!=a+b=c", &s).unwrap().value,
            Value::Str("a+b=c".into())
        );
        assert_eq!(
            parse("lifetime_value>12.5", &s).unwrap().value,
            Value::Number(12.5)
        );
        assert_eq!(
            parse("lifetime_value<-3", &s).unwrap().value,
            Value::Number(-3.0)
        );
        assert_eq!(parse("is_vip=true", &s).unwrap().value, Value::Bool(true));
        assert_eq!(parse("city~100%", &s).unwrap().op, Operator::Contains);
        let d = parse("last_purchase_date>2023-02-28", &s).unwrap();
        assert_eq!(d.value.canonical(), "2023-02-28");
    }

    #[test]
    fn refuses_what_the_contract_refuses() {
        let s = schema();
        for bad in [
            "city",
            "nope=1",
            "city!x",
            "is_vip>true",
            "lifetime_value~1",
            "lifetime_value=1e3",
            "lifetime_value=abc",
            "lifetime_value=.5",
            "last_purchase_date=2023-02-30",
            "last_purchase_date=+023-02-01",
            "is_vip=yes",
            "city=",
            "city=a\u{7}b",
            // Not decimal literals: a sign other than '-', an exponent,
            // beyond the f64 range.
            "lifetime_value=+5",
            "lifetime_value>1e400",
            "lifetime_value<-inf",
            "lifetime_value<NaN",
            "lifetime_value=5.",
            "lifetime_value=1_000",
            // The attribute is the text before the symbol, exactly.
            " city=a",
            "city =a",
            "CITY=a",
            "=a",
        ] {
            assert!(parse(bad, &s).is_err(), "{bad}");
        }
        let huge = format!("lifetime_value>1{}", "0".repeat(400));
        assert!(parse(&huge, &s).is_err(), "beyond the f64 range");
        // Large, but a real decimal: past i64, still a finite number.
        assert_eq!(
            parse("lifetime_value>99999999999999999999", &s)
                .unwrap()
                .value,
            Value::Number(1e20)
        );
        assert_eq!(
            parse("lifetime_value=-0", &s).unwrap().value,
            Value::Number(0.0)
        );
        // The value keeps its spaces: `city= a` is the value " a".
        assert_eq!(parse("city= a", &s).unwrap().value, Value::Str(" a".into()));
    }

    #[test]
    fn weights() {
        let s = schema();
        let fs: Vec<Filter> = ["city=a", "city!=b", "city~c"]
            .iter()
            .map(|t| parse(t, &s).unwrap())
            .collect();
        assert_eq!(complexity(&fs), 8);
    }
}
