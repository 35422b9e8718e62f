//! The filter model shared by the client and the simulator: operators and
//! their wire symbols and complexity weights, typed values, local and
//! schema-aware validation, value rendering and the percent-encoded
//! `filter=` query parameters of the wire contract.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{Error, Result};

/// At most this many filters in one query.
pub const MAX_FILTERS: usize = 50;
/// At most this total complexity (sum of operator weights) in one query.
pub const MAX_COMPLEXITY: u32 = 100;
/// Longest accepted attribute name, in bytes.
pub const MAX_ATTRIBUTE_LEN: usize = 128;
/// Longest accepted rendered value, in bytes. Longer values would make URLs
/// that proxies and servers refuse; we refuse them first, with a clear error.
pub const MAX_VALUE_LEN: usize = 2048;

/// A filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Eq,
    Neq,
    Gt,
    Lt,
    Contains,
}

impl Operator {
    pub const ALL: [Operator; 5] = [
        Operator::Eq,
        Operator::Neq,
        Operator::Gt,
        Operator::Lt,
        Operator::Contains,
    ];

    /// Accepts the readable names (`eq`, `neq`, `gt`, `lt`, `contains`,
    /// case-insensitive) and the wire symbols (`=`, `!=`, `>`, `<`, `~`).
    /// Anything else is a validation error: never a silent fallback to `=`.
    pub fn parse(s: &str) -> Result<Operator> {
        let t = s.trim();
        let op = match t.to_ascii_lowercase().as_str() {
            "eq" | "=" | "==" => Operator::Eq,
            "neq" | "ne" | "!=" => Operator::Neq,
            "gt" | ">" => Operator::Gt,
            "lt" | "<" => Operator::Lt,
            "contains" | "~" => Operator::Contains,
            _ => {
                return Err(Error::validation(format!(
                    "unknown operator {:?}: expected one of eq, neq, gt, lt, contains (or =, !=, >, <, ~)",
                    truncate(s, 40)
                )))
            }
        };
        Ok(op)
    }

    /// The symbol on the wire.
    pub fn wire(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Neq => "!=",
            Operator::Gt => ">",
            Operator::Lt => "<",
            Operator::Contains => "~",
        }
    }

    /// The readable name.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Neq => "neq",
            Operator::Gt => "gt",
            Operator::Lt => "lt",
            Operator::Contains => "contains",
        }
    }

    /// Complexity weight per the contract.
    pub fn weight(self) -> u32 {
        match self {
            Operator::Eq => 1,
            Operator::Neq | Operator::Gt | Operator::Lt => 2,
            Operator::Contains => 5,
        }
    }

    /// Whether this operator applies to an attribute of the given type.
    pub fn applies_to(self, ty: AttrType) -> bool {
        match self {
            Operator::Eq | Operator::Neq => true,
            Operator::Gt | Operator::Lt => ty != AttrType::Boolean,
            Operator::Contains => ty == AttrType::String,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of a CDP attribute, as the attributes endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrType {
    String,
    Number,
    Boolean,
    Date,
}

impl AttrType {
    pub fn parse(s: &str) -> Option<AttrType> {
        match s {
            "string" => Some(AttrType::String),
            "number" => Some(AttrType::Number),
            "boolean" => Some(AttrType::Boolean),
            "date" => Some(AttrType::Date),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Number => "number",
            AttrType::Boolean => "boolean",
            AttrType::Date => "date",
        }
    }
}

/// The attribute schema: name to type.
pub type Schema = HashMap<String, AttrType>;

/// A filter value as the caller gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Date(_) => "date",
        }
    }

    /// The value rendered for an attribute of type `ty` (or, with no schema,
    /// by its own type), or a validation error if it does not fit that type.
    pub fn render(&self, ty: Option<AttrType>) -> Result<String> {
        let mismatch = |want: &str| {
            Err(Error::validation(format!(
                "a {} value does not fit a {want} attribute",
                self.type_name()
            )))
        };
        match (ty, self) {
            (Some(AttrType::Number) | None, Value::Int(i)) => Ok(i.to_string()),
            (Some(AttrType::Number) | None, Value::Float(x)) => {
                if x.is_finite() {
                    // Rust's Display for f64 never uses exponent notation and
                    // prints integral values without a fraction: 250, 12.5.
                    Ok(x.to_string())
                } else {
                    Err(Error::validation(format!("number value {x} is not finite")))
                }
            }
            (Some(AttrType::Boolean) | None, Value::Bool(b)) => {
                Ok(if *b { "true" } else { "false" }.to_string())
            }
            (Some(AttrType::Date) | None, Value::Date(d)) => Ok(d.format("%Y-%m-%d").to_string()),
            (Some(AttrType::Date), Value::Str(s)) => match parse_date(s) {
                Some(d) => Ok(d.format("%Y-%m-%d").to_string()),
                None => Err(Error::validation(format!(
                    "date value {:?} is not a YYYY-MM-DD date",
                    truncate(s, 40)
                ))),
            },
            (Some(AttrType::String) | None, Value::Str(s)) => Ok(s.clone()),
            (Some(t), _) => mismatch(t.name()),
        }
    }
}

/// Parses a strict `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    // Exactly `YYYY-MM-DD` in ASCII digits: chrono alone also takes a sign
    // and spaces (" -01-01- 2" was year -1; found by cargo-fuzz).
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// One `(attribute, operator, value)` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub attribute: String,
    pub op: Operator,
    pub value: Value,
}

impl Filter {
    pub fn new(attribute: impl Into<String>, op: Operator, value: Value) -> Self {
        Filter {
            attribute: attribute.into(),
            op,
            value,
        }
    }

    /// Checks that need no schema: attribute name shape, value shape.
    pub fn check_local(&self) -> Result<()> {
        check_attribute_name(&self.attribute)?;
        let rendered = self.value.render(None)?;
        check_value_text(&self.attribute, &rendered)?;
        if self.op == Operator::Contains && !matches!(self.value, Value::Str(_)) {
            return Err(Error::validation(format!(
                "filter on {:?}: contains applies to strings only, got a {}",
                self.attribute,
                self.value.type_name()
            )));
        }
        Ok(())
    }

    /// Checks against the schema: attribute exists, operator applies to its
    /// type, value fits its type. Returns the attribute's type.
    pub fn check_schema(&self, schema: &Schema) -> Result<AttrType> {
        let ty = *schema.get(&self.attribute).ok_or_else(|| {
            let mut known: Vec<&str> = schema.keys().map(String::as_str).collect();
            known.sort_unstable();
            Error::validation(format!(
                "attribute {:?} not found in CDP schema (known: {})",
                truncate(&self.attribute, 60),
                known.join(", ")
            ))
        })?;
        if !self.op.applies_to(ty) {
            return Err(Error::validation(format!(
                "operator {} does not apply to {} attribute {:?}",
                self.op,
                ty.name(),
                self.attribute
            )));
        }
        self.value.render(Some(ty)).map_err(|e| {
            Error::validation(format!("filter on {:?}: {}", self.attribute, e.message))
        })?;
        Ok(ty)
    }

    /// The unencoded wire form, `<attribute><op><value>`, with the value
    /// rendered for `ty` (or by its own type without a schema).
    pub fn wire(&self, ty: Option<AttrType>) -> Result<String> {
        let v = self.value.render(ty)?;
        Ok(format!("{}{}{}", self.attribute, self.op.wire(), v))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Attribute names are identifiers: ASCII letters, digits, `_`, `.` and `-`.
pub fn check_attribute_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::validation("filter attribute name is empty"));
    }
    if name.len() > MAX_ATTRIBUTE_LEN {
        return Err(Error::validation(format!(
            "filter attribute name is longer than {MAX_ATTRIBUTE_LEN} bytes"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(Error::validation(format!(
            "filter attribute name {:?} may only hold ASCII letters, digits, '_', '.' and '-'",
            truncate(name, 60)
        )));
    }
    Ok(())
}

fn check_value_text(attribute: &str, v: &str) -> Result<()> {
    if v.is_empty() {
        return Err(Error::validation(format!(
            "filter on {attribute:?}: value is empty"
        )));
    }
    if v.len() > MAX_VALUE_LEN {
        return Err(Error::validation(format!(
            "filter on {attribute:?}: value is {} bytes, more than the {MAX_VALUE_LEN} allowed",
            v.len()
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::validation(format!(
            "filter on {attribute:?}: value contains control characters"
        )));
    }
    Ok(())
}

/// Total complexity of a set of filters.
pub fn complexity(filters: &[Filter]) -> u32 {
    filters.iter().map(|f| f.op.weight()).sum()
}

/// Count and complexity limits.
pub fn check_limits(filters: &[Filter]) -> Result<()> {
    if filters.len() > MAX_FILTERS {
        return Err(Error::validation(format!(
            "{} filters given; at most {MAX_FILTERS} are allowed",
            filters.len()
        )));
    }
    let c = complexity(filters);
    if c > MAX_COMPLEXITY {
        return Err(Error::validation(format!(
            "filter complexity {c} exceeds the maximum of {MAX_COMPLEXITY} (weights: eq 1, neq/gt/lt 2, contains 5)"
        ))
        .with_code("query_too_complex"));
    }
    Ok(())
}

/// Every check that needs no schema.
pub fn validate_local(filters: &[Filter]) -> Result<()> {
    check_limits(filters)?;
    for f in filters {
        f.check_local()?;
    }
    Ok(())
}

/// Every check, against the schema.
pub fn validate(filters: &[Filter], schema: &Schema) -> Result<()> {
    validate_local(filters)?;
    for f in filters {
        f.check_schema(schema)?;
    }
    Ok(())
}

/// Characters kept as they are in a query parameter value: RFC 3986
/// unreserved. Everything else, including space, `&`, `+`, `=`, `#`, `%`
/// and every non-ASCII byte, is percent-encoded.
pub const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one query parameter value.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// The query string part for a set of filters: `filter=...&filter=...`, each
/// value rendered per the schema type and percent-encoded. Empty for no
/// filters.
pub fn encode_filters(filters: &[Filter], schema: Option<&Schema>) -> Result<String> {
    let mut out = String::new();
    for f in filters {
        let ty = schema.and_then(|s| s.get(&f.attribute).copied());
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str("filter=");
        out.push_str(&encode_component(&f.wire(ty)?));
    }
    Ok(out)
}

/// A filter parameter as the server sees it after percent-decoding:
/// attribute, operator, raw value text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFilter {
    pub attribute: String,
    pub op: Operator,
    pub value: String,
}

/// Parses the decoded wire form `<attribute><op><value>` (also the CLI's
/// `--filter` form). The attribute runs up to the first operator character.
pub fn parse_wire(s: &str) -> Result<WireFilter> {
    let pos = s.find(['=', '!', '>', '<', '~']).ok_or_else(|| {
        Error::validation(format!(
            "filter {:?} has no operator (=, !=, >, <, ~)",
            truncate(s, 60)
        ))
    })?;
    let attribute = s[..pos].trim();
    let rest = &s[pos..];
    let (op, value) = if let Some(v) = rest.strip_prefix("!=") {
        (Operator::Neq, v)
    } else if rest.starts_with('!') {
        return Err(Error::validation(format!(
            "filter {:?}: '!' must be followed by '='",
            truncate(s, 60)
        )));
    } else {
        let op = Operator::parse(&rest[..1])?;
        (op, &rest[1..])
    };
    check_attribute_name(attribute)?;
    Ok(WireFilter {
        attribute: attribute.to_string(),
        op,
        value: value.to_string(),
    })
}

impl WireFilter {
    /// A typed filter from the raw text, per the attribute's schema type.
    pub fn typed(&self, schema: &Schema) -> Result<Filter> {
        let ty = schema.get(&self.attribute).copied().ok_or_else(|| {
            Error::validation(format!(
                "attribute {:?} not found in CDP schema",
                truncate(&self.attribute, 60)
            ))
        })?;
        let value = parse_typed_value(&self.value, ty).map_err(|e| {
            Error::validation(format!("filter on {:?}: {}", self.attribute, e.message))
        })?;
        let f = Filter::new(self.attribute.clone(), self.op, value);
        f.check_schema(schema)?;
        Ok(f)
    }

    /// A filter with the value's type guessed from its text, for callers with
    /// no schema at hand: `true`/`false`, numbers, dates, else a string.
    pub fn guessed(&self) -> Filter {
        let v = &self.value;
        let value = if v == "true" || v == "false" {
            Value::Bool(v == "true")
        } else if let Ok(i) = v.parse::<i64>() {
            Value::Int(i)
        } else if let Some(x) = parse_decimal(v) {
            Value::Float(x)
        } else if let Some(d) = parse_date(v) {
            Value::Date(d)
        } else {
            Value::Str(v.clone())
        };
        Filter::new(self.attribute.clone(), self.op, value)
    }
}

/// A decimal literal (`250`, `-3`, `12.5`): digits with an optional sign and
/// fraction; no exponent, no `inf`/`nan`.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let mut parts = body.splitn(2, '.');
    let int = parts.next()?;
    let frac = parts.next();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    s.parse().ok()
}

/// Parses raw wire text as a value of type `ty`.
pub fn parse_typed_value(text: &str, ty: AttrType) -> Result<Value> {
    match ty {
        AttrType::String => Ok(Value::Str(text.to_string())),
        AttrType::Number => {
            if let Ok(i) = text.parse::<i64>() {
                Ok(Value::Int(i))
            } else {
                parse_decimal(text).map(Value::Float).ok_or_else(|| {
                    Error::validation(format!("{:?} is not a decimal number", truncate(text, 40)))
                })
            }
        }
        AttrType::Boolean => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(Error::validation(format!(
                "{:?} is not true or false",
                truncate(text, 40)
            ))),
        },
        AttrType::Date => parse_date(text).map(Value::Date).ok_or_else(|| {
            Error::validation(format!("{:?} is not a YYYY-MM-DD date", truncate(text, 40)))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        [
            ("city", AttrType::String),
            ("lifetime_value", AttrType::Number),
            ("is_vip", AttrType::Boolean),
            ("last_purchase_date", AttrType::Date),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn operators_parse_names_and_symbols() {
        for op in Operator::ALL {
            assert_eq!(Operator::parse(op.name()).unwrap(), op);
            assert_eq!(Operator::parse(op.wire()).unwrap(), op);
        }
        assert_eq!(Operator::parse("EQ").unwrap(), Operator::Eq);
        for bad in ["", "like", "=>", "gte", "in"] {
            let e = Operator::parse(bad).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Validation);
        }
    }

    #[test]
    fn contract_example_encoding() {
        let f = Filter::new("city", Operator::Eq, Value::Str("Rock & Roll".into()));
        assert_eq!(
            encode_filters(&[f], None).unwrap(),
            "filter=city%3DRock%20%26%20Roll"
        );
    }

    #[test]
    fn encoding_of_every_awkward_value() {
        let cases = [
            ("a+b=c", "filter=city%3Da%2Bb%3Dc"),
            ("100%", "filter=city%3D100%25"),
            ("x#y", "filter=city%3Dx%23y"),
            ("São Paulo", "filter=city%3DS%C3%A3o%20Paulo"),
        ];
        for (v, want) in cases {
            let f = Filter::new("city", Operator::Eq, Value::Str(v.into()));
            assert_eq!(encode_filters(&[f], None).unwrap(), want);
        }
        let two = [
            Filter::new("city", Operator::Contains, Value::Str("Paulo".into())),
            Filter::new("lifetime_value", Operator::Gt, Value::Int(100)),
        ];
        assert_eq!(
            encode_filters(&two, None).unwrap(),
            "filter=city~Paulo&filter=lifetime_value%3E100"
        );
    }

    #[test]
    fn values_render_per_type() {
        let s = schema();
        let f = |a: &str, v: Value| Filter::new(a, Operator::Eq, v);
        assert_eq!(
            f("lifetime_value", Value::Float(250.0))
                .wire(Some(AttrType::Number))
                .unwrap(),
            "lifetime_value=250"
        );
        assert_eq!(
            f("lifetime_value", Value::Float(12.5))
                .wire(Some(AttrType::Number))
                .unwrap(),
            "lifetime_value=12.5"
        );
        assert_eq!(
            f("is_vip", Value::Bool(true)).wire(None).unwrap(),
            "is_vip=true"
        );
        let d = NaiveDate::from_ymd_opt(2024, 3, 9).unwrap();
        assert_eq!(
            f("last_purchase_date", Value::Date(d)).wire(None).unwrap(),
            "last_purchase_date=2024-03-09"
        );
        // A date given as text is checked and accepted for a date attribute.
        assert!(f("last_purchase_date", Value::Str("2024-03-09".into()))
            .check_schema(&s)
            .is_ok());
        assert!(f("last_purchase_date", Value::Str("2024-3-9".into()))
            .check_schema(&s)
            .is_err());
        // Wrong types are caught.
        assert!(f("lifetime_value", Value::Str("abc".into()))
            .check_schema(&s)
            .is_err());
        assert!(f("is_vip", Value::Int(1)).check_schema(&s).is_err());
        assert!(f("city", Value::Int(1)).check_schema(&s).is_err());
        assert!(f("nope", Value::Int(1)).check_schema(&s).is_err());
        // Non-finite numbers are refused.
        assert!(f("lifetime_value", Value::Float(f64::NAN))
            .check_local()
            .is_err());
        assert!(f("lifetime_value", Value::Float(f64::INFINITY))
            .check_local()
            .is_err());
    }

    #[test]
    fn operator_type_rules() {
        let s = schema();
        let c = |a: &str, v: Value| Filter::new(a, Operator::Contains, v);
        assert!(c("city", Value::Str("Pau".into())).check_schema(&s).is_ok());
        assert!(c("lifetime_value", Value::Int(1)).check_local().is_err());
        assert!(c("last_purchase_date", Value::Str("2024-01-01".into()))
            .check_schema(&s)
            .is_err());
        assert!(Filter::new("is_vip", Operator::Gt, Value::Bool(true))
            .check_schema(&s)
            .is_err());
        assert!(Filter::new("is_vip", Operator::Neq, Value::Bool(true))
            .check_schema(&s)
            .is_ok());
    }

    #[test]
    fn limits() {
        let eq = |i: i64| Filter::new("lifetime_value", Operator::Eq, Value::Int(i));
        let fifty: Vec<_> = (0..50).map(eq).collect();
        assert!(check_limits(&fifty).is_ok());
        let fifty_one: Vec<_> = (0..51).map(eq).collect();
        assert!(check_limits(&fifty_one).is_err());
        // 20 contains = 100 is fine, one more neq makes 102.
        let mut heavy: Vec<_> = (0..20)
            .map(|_| Filter::new("city", Operator::Contains, Value::Str("a".into())))
            .collect();
        assert_eq!(complexity(&heavy), 100);
        assert!(check_limits(&heavy).is_ok());
        heavy.push(Filter::new("city", Operator::Eq, Value::Str("a".into())));
        let e = check_limits(&heavy).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("query_too_complex"));
    }

    #[test]
    fn local_value_checks() {
        let f = |v: &str| Filter::new("city", Operator::Eq, Value::Str(v.into())).check_local();
        assert!(f("ok").is_ok());
        assert!(f("").is_err());
        assert!(f("a\u{0}b").is_err());
        assert!(f("a\nb").is_err());
        assert!(f(&"x".repeat(MAX_VALUE_LEN + 1)).is_err());
        let bad_attr = |a: &str| Filter::new(a, Operator::Eq, Value::Int(1)).check_local();
        assert!(bad_attr("").is_err());
        assert!(bad_attr("a=b").is_err());
        assert!(bad_attr("a b").is_err());
        assert!(bad_attr("lifetime_value").is_ok());
    }

    #[test]
    fn wire_parsing() {
        let w = parse_wire("city=Rock & Roll").unwrap();
        assert_eq!(
            (w.attribute.as_str(), w.op, w.value.as_str()),
            ("city", Operator::Eq, "Rock & Roll")
        );
        let w = parse_wire("city=a+b=c").unwrap();
        assert_eq!(w.value, "a+b=c");
        let w = parse_wire("lifetime_value!=5").unwrap();
        assert_eq!(w.op, Operator::Neq);
        let w = parse_wire("city~Paulo").unwrap();
        assert_eq!(w.op, Operator::Contains);
        assert!(parse_wire("city").is_err());
        assert!(parse_wire("=x").is_err());
        assert!(parse_wire("city!x").is_err());
        let s = schema();
        let t = parse_wire("lifetime_value>100").unwrap().typed(&s).unwrap();
        assert_eq!(t.value, Value::Int(100));
        assert!(parse_wire("lifetime_value>abc").unwrap().typed(&s).is_err());
        assert!(parse_wire("lifetime_value>1e5").unwrap().typed(&s).is_err());
        assert_eq!(
            parse_wire("is_vip=true").unwrap().guessed().value,
            Value::Bool(true)
        );
        assert_eq!(
            parse_wire("x=12.5").unwrap().guessed().value,
            Value::Float(12.5)
        );
    }

    #[test]
    fn render_then_parse_round_trips() {
        let s = schema();
        let cases = [
            ("city", Value::Str("São Paulo".into())),
            ("lifetime_value", Value::Float(12.5)),
            ("lifetime_value", Value::Int(-7)),
            ("is_vip", Value::Bool(false)),
            (
                "last_purchase_date",
                Value::Date(NaiveDate::from_ymd_opt(2023, 12, 31).unwrap()),
            ),
        ];
        for (a, v) in cases {
            let f = Filter::new(a, Operator::Eq, v);
            let wire = f.wire(s.get(a).copied()).unwrap();
            let back = parse_wire(&wire).unwrap().typed(&s).unwrap();
            assert_eq!(back.wire(s.get(a).copied()).unwrap(), wire);
        }
    }
}
