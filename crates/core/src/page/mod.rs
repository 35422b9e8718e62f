//! Member pages: the JSON value type members are parsed into (no GIL needed,
//! key order kept, unknown fields passed through), page parsing, and the
//! pagination state machine (follow `nextPageToken` until it is null, keep
//! going over empty and short pages, stop on a repeated cursor).

pub mod arrow;
pub mod tape;

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::Result;
use crate::transport::unreadable_body;

/// A parsed JSON value. Objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The value under `key` when this is an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// As a `serde_json::Value` (for comparisons and re-serialising).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value as V;
        match self {
            Json::Null => V::Null,
            Json::Bool(b) => V::Bool(*b),
            Json::Int(i) => V::from(*i),
            Json::UInt(u) => V::from(*u),
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(V::Null, V::Number),
            Json::Str(s) => V::String(s.clone()),
            Json::Array(a) => V::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(kv) => {
                V::Object(kv.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(i64::try_from(v).map_or(Json::UInt(v), Json::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            out.push((k, v));
        }
        Ok(Json::Object(out))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// One page of members as the server sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Json>,
    /// `None` ends the listing.
    pub next_page_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct PageWire {
    items: Vec<Json>,
    #[serde(rename = "nextPageToken", default)]
    next_page_token: Option<String>,
}

/// Parses a members page. A body that is not a JSON object with an `items`
/// array (truncated, HTML, ...) is a server fault, never an empty page.
pub fn parse_page(body: &[u8]) -> Result<Page> {
    // serde would also take a JSON array as the struct's fields in order
    // (`[[...]]` as a page): the contract's page is an object (cargo-fuzz).
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(unreadable_body(
            "members page",
            body,
            "the body is not a JSON object",
        ));
    }
    let wire: PageWire =
        serde_json::from_slice(body).map_err(|e| unreadable_body("members page", body, e))?;
    let next_page_token = match wire.next_page_token {
        Some(t) if t.is_empty() => {
            log::debug!(target: "cxone_cdp", "empty nextPageToken taken as the end of the listing");
            None
        }
        other => other,
    };
    Ok(Page {
        items: wire.items,
        next_page_token,
    })
}

/// Walks a members page body with jiter, the one reading of the page
/// envelope shared by the streaming decoders (`tape`, `arrow`): the body
/// must be a JSON object with one `items` array and at most one
/// `nextPageToken` (a string or null); other fields are skipped, and
/// nothing may follow the object. `item` reads each element of `items`
/// (given its first token). Returns the raw `nextPageToken`; errors are
/// short texts for [`unreadable_body`].
pub fn walk_page<'j>(
    body: &'j [u8],
    mut item: impl FnMut(&mut jiter::Jiter<'j>, jiter::Peek) -> std::result::Result<(), String>,
) -> std::result::Result<Option<String>, String> {
    use jiter::{Jiter, Peek};
    let e = |err: jiter::JiterError| err.to_string();
    let mut j = Jiter::new(body);
    if j.peek().map_err(e)? != Peek::Object {
        return Err("the body is not a JSON object".into());
    }
    let mut items = false;
    let mut token: Option<Option<String>> = None;
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
                let mut elem = j.known_array().map_err(e)?;
                while let Some(p) = elem {
                    item(&mut j, p)?;
                    elem = j.array_step().map_err(e)?;
                }
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
            _ => j.next_skip().map_err(e)?,
        }
        key = j.next_key().map_err(e)?.map(str::to_owned);
    }
    j.finish().map_err(e)?;
    if !items {
        return Err("missing field `items`".into());
    }
    Ok(token.flatten())
}

/// What a [`PageDecoder`] makes of one members page body.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// The page in the decoder's form (a `Vec<Json>`, a record batch, ...).
    pub data: T,
    /// The cursor of the next page; `None` ends the listing.
    pub next_page_token: Option<String>,
    /// How many members the page held.
    pub items: usize,
}

/// Turns a members page body into some form. The client runs it inside its
/// retry loop (off the GIL): an error from `decode` makes the answer a server
/// fault, so a truncated body is fetched again, never taken as an empty page.
/// The dict path uses [`JsonPages`], the Arrow path `arrow::ArrowLayout`.
pub trait PageDecoder: Send + Sync + 'static {
    type Output: Send + 'static;
    fn decode(&self, body: &[u8]) -> Result<Decoded<Self::Output>>;
}

/// The dict path's decoder: each member as a [`Json`] tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonPages;

impl PageDecoder for JsonPages {
    type Output = Vec<Json>;
    fn decode(&self, body: &[u8]) -> Result<Decoded<Vec<Json>>> {
        let page = parse_page(body)?;
        Ok(Decoded {
            items: page.items.len(),
            data: page.items,
            next_page_token: page.next_page_token,
        })
    }
}

/// A decoded page together with its cursors (what `Client::pages_with` yields).
#[derive(Debug, Clone, PartialEq)]
pub struct PageOf<T> {
    pub data: T,
    /// Number of members on the page.
    pub items: usize,
    /// The cursor this page was fetched with (`None` for the first page).
    pub cursor: Option<String>,
    /// The cursor of the next page (`None`: this was the last page).
    pub next_cursor: Option<String>,
}

/// A page together with the cursor that produced it (for checkpointing).
#[derive(Debug, Clone, PartialEq)]
pub struct PageOut {
    pub items: Vec<Json>,
    /// The cursor this page was fetched with (`None` for the first page).
    pub cursor: Option<String>,
    /// The cursor of the next page (`None`: this was the last page).
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn parses_pages_and_keeps_fields_and_order() {
        let p = parse_page(
            br#"{"items":[{"memberId":"m1","joinedAt":"2024-01-01T00:00:00Z","attributes":{"lifetime_value":12.5,"n":3,"is_vip":true,"city":"S\u00e3o Paulo"},"extra":null}],"nextPageToken":"abc"}"#,
        )
        .unwrap();
        assert_eq!(p.next_page_token.as_deref(), Some("abc"));
        let m = &p.items[0];
        let Json::Object(kv) = m else { panic!() };
        let keys: Vec<&str> = kv.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["memberId", "joinedAt", "attributes", "extra"]);
        let a = m.get("attributes").unwrap();
        assert_eq!(a.get("lifetime_value"), Some(&Json::Float(12.5)));
        assert_eq!(a.get("n"), Some(&Json::Int(3)));
        assert_eq!(a.get("is_vip"), Some(&Json::Bool(true)));
        assert_eq!(a.get("city").unwrap().as_str(), Some("São Paulo"));
        assert_eq!(m.get("extra"), Some(&Json::Null));
    }

    #[test]
    fn last_and_empty_pages() {
        let p = parse_page(br#"{"items":[],"nextPageToken":null}"#).unwrap();
        assert!(p.items.is_empty() && p.next_page_token.is_none());
        let p = parse_page(br#"{"items":[]}"#).unwrap();
        assert!(p.next_page_token.is_none());
        let p = parse_page(br#"{"items":[],"nextPageToken":"c"}"#).unwrap();
        assert_eq!(p.next_page_token.as_deref(), Some("c"));
    }

    #[test]
    fn broken_bodies_are_server_faults_not_empty_pages() {
        for body in [
            &br#"{"items":[{"memberId":"m1""#[..],
            b"<html>oops</html>",
            b"",
            br#"{"nextPageToken":null}"#,
            br#"{"items":{}}"#,
        ] {
            let e = parse_page(body).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Server);
            assert!(e.is_retryable());
        }
    }
}
