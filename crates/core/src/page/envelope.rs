//! The one reading of a members page body, shared by every decoder (the
//! dict path's tape, the `Json` tree, Arrow, and the export's JSONL, CSV and
//! Parquet), so that they all accept and refuse exactly the same bodies.
//!
//! The page (the contract's `{"items": [member, ...], "nextPageToken": str | null}`):
//! - the body is one JSON object, and nothing but whitespace follows it;
//! - it has exactly one `items`, an array, and at most one `nextPageToken`, a
//!   string or null; an empty string, null or no `nextPageToken` at all ends
//!   the listing (all three are returned as `None`);
//! - no key of the page object appears twice; other keys are tolerated (the
//!   server may add fields) and their values are checked like any value.
//!
//! A member (each element of `items`): a JSON object with exactly one
//! `memberId` key, whose value is a string (possibly empty). Everything else
//! is tolerated and passed to the decoder as it is: `joinedAt` and
//! `attributes` may be missing or of any type (the Arrow decoder makes such
//! values null), unknown fields may appear, and keys other than `memberId`
//! may repeat (each decoder says what it keeps).
//!
//! Every value, read or skipped, is held to one strict rule, the one
//! `serde_json::from_slice` applies: valid UTF-8, no raw control characters
//! in strings, valid escapes (no lone surrogates), numbers in JSON syntax
//! (no `NaN`, no `Infinity`) that are finite as an `f64`, and at most
//! [`MAX_DEPTH`] nested arrays and objects counting the page object. So a
//! decoder that skips a value (Arrow, on an unknown field) refuses exactly
//! what a decoder that reads it (the tape) refuses.
//!
//! A decoder implements [`Members`]: it says what to do with each field of
//! a member, reading the value through a [`Value`] handle (or leaving it to
//! be skipped) and gets the member's raw bytes at the end. A refused body is
//! a [`ErrorKind::Server`](crate::error::ErrorKind::Server) error with code
//! `invalid_response` and a short excerpt of the body (see [`invalid_page`]):
//! retried as a server fault, never taken as an empty page.

use jiter::{Jiter, JiterError, Peek};

mod hint;
pub use hint::cursor_hint;

use crate::error::{Error, Result};

/// A decoder's error text (made into an [`invalid_page`] error).
pub type R<T> = std::result::Result<T, String>;

/// Deepest nesting of arrays and objects accepted, counting the page object
/// (so `items` is at depth 2 and a member at 3): what
/// `serde_json::from_slice` accepts with its default recursion limit.
pub const MAX_DEPTH: usize = 127;

/// Depth of a member object.
const MEMBER_DEPTH: usize = 3;

/// The key every member must have once, with a string value.
pub const MEMBER_ID: &str = "memberId";

#[cold]
fn e(err: JiterError) -> String {
    err.to_string()
}

/// The error for a body the envelope reader (or a decoder) refused.
pub fn invalid_page(body: &[u8], why: impl std::fmt::Display) -> Error {
    crate::transport::unreadable_body("members page", body, format!("not a valid page: {why}"))
}

/// A JSON number as serde_json reads it: an integer that fits in `i64` (or
/// else `u64`) stays an integer, except `-0`, which is `-0.0`; anything else
/// is an `f64`, and one out of its range is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Number {
    /// The number as an `f64` (as serde_json's `as_f64`).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::UInt(u) => u as f64,
            Number::Float(f) => f,
        }
    }

    /// Reads the text of a JSON number (already in JSON syntax).
    pub fn parse(b: &[u8]) -> R<Number> {
        let s = std::str::from_utf8(b).map_err(|_| "invalid number")?;
        if !s.contains(['.', 'e', 'E']) {
            if let Ok(i) = s.parse::<i64>() {
                if i == 0 && s.starts_with('-') {
                    return Ok(Number::Float(-0.0));
                }
                return Ok(Number::Int(i));
            }
            if let Ok(u) = s.parse::<u64>() {
                return Ok(Number::UInt(u));
            }
        }
        let f: f64 = s.parse().map_err(|_| format!("invalid number {s:?}"))?;
        if !f.is_finite() {
            return Err(format!(
                "number out of range: {}",
                crate::error::excerpt(b, 24)
            ));
        }
        Ok(Number::Float(f))
    }
}

/// The JSON type of a [`Value`] (from its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    /// A number, or a byte no JSON value starts with (refused when read).
    Number,
    String,
    Array,
    Object,
}

#[inline(always)]
fn kind(peek: Peek) -> Kind {
    match peek {
        Peek::Null => Kind::Null,
        Peek::True | Peek::False => Kind::Bool,
        Peek::String => Kind::String,
        Peek::Array => Kind::Array,
        Peek::Object => Kind::Object,
        _ => Kind::Number,
    }
}

/// One value of the body, not yet read. A decoder reads it with exactly one
/// of the reading methods, or leaves it: the envelope then skips it, with
/// the same checks as a read.
pub struct Value<'a, 'j> {
    j: &'a mut Jiter<'j>,
    peek: Peek,
    depth: usize,
    done: bool,
}

impl<'a, 'j> Value<'a, 'j> {
    #[inline(always)]
    fn new(j: &'a mut Jiter<'j>, peek: Peek, depth: usize) -> Self {
        Value {
            j,
            peek,
            depth,
            done: false,
        }
    }

    /// The value's JSON type.
    #[inline]
    pub fn kind(&self) -> Kind {
        kind(self.peek)
    }

    /// Marks the value read; a second read, or a read as the wrong type
    /// (`is` says if the value has it), is an error: the parser would
    /// otherwise lose its place.
    #[inline(always)]
    fn take(&mut self, want: Kind, is: bool) -> R<()> {
        if self.done || !is {
            return Err(self.misread(want));
        }
        self.done = true;
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn misread(&self, want: Kind) -> String {
        if self.done {
            "a value was read twice".into()
        } else {
            format!("expected {want:?}, found {:?}", self.kind())
        }
    }

    #[inline]
    pub fn null(&mut self) -> R<()> {
        self.take(Kind::Null, self.peek == Peek::Null)?;
        self.j.known_null().map_err(e)
    }

    #[inline]
    pub fn bool(&mut self) -> R<bool> {
        self.take(Kind::Bool, matches!(self.peek, Peek::True | Peek::False))?;
        self.j.known_bool(self.peek).map_err(e)
    }

    #[inline]
    pub fn number(&mut self) -> R<Number> {
        use jiter::{NumberAny, NumberInt};
        self.take(Kind::Number, kind(self.peek) == Kind::Number)?;
        // jiter's reading (lexical's correctly rounded floats) for an
        // integer in `i64` and any float; the text itself, read by
        // `Number::parse`, for the rest (larger integers, and errors: the
        // parser has not moved on a failed read).
        #[allow(unreachable_patterns)] // (jiter's `num-bigint` feature)
        match self.j.known_number(self.peek) {
            Ok(NumberAny::Int(NumberInt::Int(0))) if self.peek == Peek::Minus => {
                Ok(Number::Float(-0.0))
            }
            Ok(NumberAny::Int(NumberInt::Int(i))) => Ok(Number::Int(i)),
            Ok(NumberAny::Float(f)) if f.is_finite() => Ok(Number::Float(f)),
            Ok(NumberAny::Float(_)) => Err(self.out_of_range()),
            _ => Number::parse(self.j.known_number_bytes(self.peek).map_err(e)?),
        }
    }

    /// Reads a number as an `f64`: what `number()?.as_f64()` gives, and
    /// refused exactly when `number()` refuses it (the tests hold the two
    /// to the same answers), read with jiter's float reading alone.
    #[inline]
    pub fn f64(&mut self) -> R<f64> {
        self.take(Kind::Number, kind(self.peek) == Kind::Number)?;
        match self.j.known_float(self.peek) {
            Ok(f) if f.is_finite() => Ok(f),
            Ok(_) => Err(self.out_of_range()),
            Err(err) => Err(e(err)),
        }
    }

    #[cold]
    #[inline(never)]
    fn out_of_range(&self) -> String {
        let read = self.j.slice_to_current(0);
        let start = read
            .iter()
            .rposition(|b| !b"+-.0123456789eE".contains(b))
            .map_or(0, |i| i + 1);
        format!(
            "number out of range: {}",
            crate::error::excerpt(&read[start..], 24)
        )
    }

    #[inline]
    pub fn str(&mut self) -> R<&str> {
        self.take(Kind::String, self.peek == Peek::String)?;
        self.j.known_str().map_err(e)
    }

    /// Reads an array: `elem` is called with each element in turn (an
    /// element it leaves unread is skipped). Returns the element count.
    #[inline]
    pub fn array(&mut self, mut elem: impl FnMut(&mut Value<'_, 'j>) -> R<()>) -> R<u32> {
        self.take(Kind::Array, self.peek == Peek::Array)?;
        let depth = self.enter()?;
        let mut len = 0u32;
        let mut next = self.j.known_array().map_err(e)?;
        while let Some(p) = next {
            let mut v = Value::new(self.j, p, depth);
            elem(&mut v)?;
            v.finish()?;
            len += 1;
            next = self.j.array_step().map_err(e)?;
        }
        Ok(len)
    }

    /// Reads an object, field by field, with `fields`. Returns the field count.
    #[inline]
    pub fn object<F: Fields<'j>>(&mut self, fields: &mut F) -> R<u32> {
        self.take(Kind::Object, self.peek == Peek::Object)?;
        let depth = self.enter()?;
        let mut len = 0u32;
        let mut key = self.j.known_object().map_err(e)?.map(|k| fields.key(k));
        while let Some(k) = key {
            let p = self.j.peek().map_err(e)?;
            let mut v = Value::new(self.j, p, depth);
            fields.value(k, &mut v)?;
            v.finish()?;
            len += 1;
            key = self.j.next_key().map_err(e)?.map(|k| fields.key(k));
        }
        Ok(len)
    }

    /// Reads the value and drops it (with every check of a read).
    pub fn skip(&mut self) -> R<()> {
        match self.kind() {
            Kind::Null => self.null(),
            Kind::Bool => self.bool().map(drop),
            Kind::Number => self.number().map(drop),
            Kind::String => self.str().map(drop),
            Kind::Array => self.array(|v| v.skip()).map(drop),
            Kind::Object => self.object(&mut Skip).map(drop),
        }
    }

    /// The depth of this container's contents; refused past [`MAX_DEPTH`].
    #[inline]
    fn enter(&self) -> R<usize> {
        if self.depth > MAX_DEPTH {
            return Err("recursion limit exceeded".into());
        }
        Ok(self.depth + 1)
    }

    /// Skips the value if the decoder left it.
    #[inline]
    fn finish(&mut self) -> R<()> {
        if self.done {
            Ok(())
        } else {
            self.skip()
        }
    }
}

/// How a decoder reads the fields of an object ([`Value::object`]): `key`
/// turns each key into the decoder's own token (before the value is read;
/// the key text is only borrowed), then `value` reads (or leaves) the value.
pub trait Fields<'j> {
    type Key;
    fn key(&mut self, key: &str) -> Self::Key;
    fn value(&mut self, key: Self::Key, v: &mut Value<'_, 'j>) -> R<()>;
}

/// Fields that are all skipped (and, as a [`Members`], a page read for its
/// cursor alone).
pub(crate) struct Skip;

impl<'j> Fields<'j> for Skip {
    type Key = ();
    fn key(&mut self, _: &str) {}
    fn value(&mut self, (): (), _: &mut Value<'_, 'j>) -> R<()> {
        Ok(())
    }
}

impl Members<'_> for Skip {}

/// What a decoder does with the members of a page, in order. For each
/// member: `begin`, then the [`Fields`] methods for each of its fields in
/// document order (`memberId` included; the envelope has already checked it
/// is the member's only one and a string), then `end` with the number of
/// fields and the member's bytes exactly as the body holds them.
pub trait Members<'j>: Fields<'j> {
    #[inline]
    fn begin(&mut self) -> R<()> {
        Ok(())
    }
    #[inline]
    fn end(&mut self, _fields: u32, _raw: &'j [u8]) -> R<()> {
        Ok(())
    }
}

/// A member as the decoder sees it: the member rule checked around the
/// decoder's own [`Fields`].
struct Member<'m, M> {
    decoder: &'m mut M,
    /// The member's index on the page (for error texts).
    n: usize,
    has_id: bool,
}

impl<'j, M: Members<'j>> Fields<'j> for Member<'_, M> {
    type Key = (bool, M::Key);
    #[inline]
    fn key(&mut self, key: &str) -> Self::Key {
        (key == MEMBER_ID, self.decoder.key(key))
    }
    #[inline]
    fn value(&mut self, (is_id, key): Self::Key, v: &mut Value<'_, 'j>) -> R<()> {
        if is_id {
            if std::mem::replace(&mut self.has_id, true) {
                return Err(format!("member {} has two memberId fields", self.n));
            }
            if v.kind() != Kind::String {
                return Err(format!("member {}: memberId is not a string", self.n));
            }
        }
        self.decoder.value(key, v)
    }
}

/// Reads a members page body: checks the envelope and member rules (module
/// doc), hands every member to `decoder`, and returns the cursor of the next
/// page (`None`: the listing is over).
pub fn read_page<'j, M: Members<'j>>(body: &'j [u8], decoder: &mut M) -> Result<Option<String>> {
    walk(body, decoder).map_err(|why| invalid_page(body, why))
}

fn walk<'j, M: Members<'j>>(body: &'j [u8], decoder: &mut M) -> R<Option<String>> {
    let mut j = Jiter::new(body);
    if j.peek().map_err(e)? != Peek::Object {
        return Err("the body is not a JSON object".into());
    }
    let mut items = false;
    let mut token: Option<Option<String>> = None;
    let mut others: Vec<String> = Vec::new();
    let mut key = j.known_object().map_err(e)?.map(str::to_owned);
    while let Some(k) = key {
        match k.as_str() {
            "items" => {
                if std::mem::replace(&mut items, true) {
                    return Err("duplicate field `items`".into());
                }
                if j.peek().map_err(e)? != Peek::Array {
                    return Err("items is not an array".into());
                }
                members(&mut j, body, decoder)?;
            }
            "nextPageToken" => {
                if token.is_some() {
                    return Err("duplicate field `nextPageToken`".into());
                }
                token = Some(match j.peek().map_err(e)? {
                    Peek::Null => {
                        j.known_null().map_err(e)?;
                        None
                    }
                    Peek::String => Some(j.known_str().map_err(e)?.to_owned()),
                    _ => return Err("nextPageToken is neither a string nor null".into()),
                });
            }
            _ => {
                if others.contains(&k) {
                    return Err(format!(
                        "duplicate field {:?}",
                        crate::error::excerpt(k.as_bytes(), 40)
                    ));
                }
                let p = j.peek().map_err(e)?;
                Value::new(&mut j, p, 2).skip()?;
                others.push(k);
            }
        }
        key = j.next_key().map_err(e)?.map(str::to_owned);
    }
    j.finish().map_err(e)?;
    if !items {
        return Err("missing field `items`".into());
    }
    Ok(match token.flatten() {
        Some(t) if t.is_empty() => {
            log::debug!(target: "cxone_cdp", "empty nextPageToken taken as the end of the listing");
            None
        }
        other => other,
    })
}

/// The `items` array (the parser is at its `[`).
fn members<'j, M: Members<'j>>(j: &mut Jiter<'j>, body: &'j [u8], decoder: &mut M) -> R<()> {
    let mut n = 0usize;
    let mut next = j.known_array().map_err(e)?;
    while let Some(p) = next {
        if p != Peek::Object {
            return Err(format!("member {n} is not an object"));
        }
        let start = j.current_index();
        decoder.begin()?;
        let mut member = Member {
            decoder: &mut *decoder,
            n,
            has_id: false,
        };
        let fields = Value::new(j, p, MEMBER_DEPTH).object(&mut member)?;
        if !member.has_id {
            return Err(format!("member {n} has no memberId"));
        }
        decoder.end(fields, &body[start..j.current_index()])?;
        n += 1;
        next = j.array_step().map_err(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
