//! Member pages: the one page envelope reader ([`envelope`]) and the
//! decoders on it: the [`Json`] tree (no GIL needed, key order kept,
//! unknown fields passed through), the dict path's [`tape`] and the
//! [`arrow`] record batches; and the [`PageDecoder`] interface the client's
//! pagination runs them through.

pub mod arrow;
pub mod envelope;
pub mod tape;
#[cfg(test)]
mod testkit;

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::Result;
use envelope::{read_page, Fields, Kind, Members, Number, Value, R};

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

/// serde's reading of a [`Json`], for the answers of other endpoints (the
/// webhook's); members pages are read by [`envelope`] alone.
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

/// Parses a members page into [`Json`] trees, one per member. A body the
/// [`envelope`] reader refuses (truncated, HTML, ...) is a server fault,
/// never an empty page.
pub fn parse_page(body: &[u8]) -> Result<Page> {
    let mut trees = Trees::default();
    let next_page_token = read_page(body, &mut trees)?;
    Ok(Page {
        items: trees.items,
        next_page_token,
    })
}

/// The fields of one object, as read.
#[derive(Default)]
struct Entries(Vec<(String, Json)>);

impl<'j> Fields<'j> for Entries {
    type Key = String;
    fn key(&mut self, key: &str) -> String {
        key.to_owned()
    }
    fn value(&mut self, key: String, v: &mut Value<'_, 'j>) -> R<()> {
        self.0.push((key, tree(v)?));
        Ok(())
    }
}

/// One value as a tree.
fn tree(v: &mut Value<'_, '_>) -> R<Json> {
    Ok(match v.kind() {
        Kind::Null => {
            v.null()?;
            Json::Null
        }
        Kind::Bool => Json::Bool(v.bool()?),
        Kind::Number => match v.number()? {
            Number::Int(i) => Json::Int(i),
            Number::UInt(u) => Json::UInt(u),
            Number::Float(f) => Json::Float(f),
        },
        Kind::String => Json::Str(v.str()?.to_owned()),
        Kind::Array => {
            let mut out = Vec::new();
            v.array(|e| {
                out.push(tree(e)?);
                Ok(())
            })?;
            Json::Array(out)
        }
        Kind::Object => {
            let mut out = Entries::default();
            v.object(&mut out)?;
            Json::Object(out.0)
        }
    })
}

/// The members of a page as trees.
#[derive(Default)]
struct Trees {
    items: Vec<Json>,
    member: Entries,
}

impl<'j> Fields<'j> for Trees {
    type Key = String;
    fn key(&mut self, key: &str) -> String {
        self.member.key(key)
    }
    fn value(&mut self, key: String, v: &mut Value<'_, 'j>) -> R<()> {
        self.member.value(key, v)
    }
}

impl<'j> Members<'j> for Trees {
    fn end(&mut self, _fields: u32, _raw: &'j [u8]) -> R<()> {
        let fields = std::mem::take(&mut self.member.0);
        self.items.push(Json::Object(fields));
        Ok(())
    }
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
    type Output: Clone + Send + Sync + 'static;
    fn decode(&self, body: &[u8]) -> Result<Decoded<Self::Output>>;

    /// Under which id the response cache keeps this decoder's pages decoded
    /// (the same id must mean the same output for the same body), so a hit
    /// hands out the decoded page instead of decoding the body again; `None`
    /// (the default) keeps only the body. Worth it where cloning the output
    /// is cheap (shared buffers: a tape behind an `Arc`, a record batch).
    fn cache_form(&self) -> Option<u64> {
        None
    }

    /// Bytes one decoded page holds (for the cache's byte bound).
    fn size_of(&self, _page: &Self::Output) -> usize {
        0
    }
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
            br#"[[{"memberId":"m1"}], null]"#,
        ] {
            let e = parse_page(body).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Server);
            assert!(e.is_retryable());
        }
    }
}
