//! A members page as a flat tape: the dict path's page form.
//!
//! [`crate::page::Json`] is a tree with one heap allocation per string,
//! key and container: a 1,000-member page is about 20,000 allocations, made
//! on a runtime thread and freed on another, and every object key is
//! compared with the keys seen before when Python dicts are built. Measured
//! with `perf record` on `members()`, malloc/free and those comparisons were
//! about a third of the process's CPU time.
//!
//! A [`Tape`] holds the same page in three buffers: the values in document
//! order ([`Node`], 16 bytes each), the text of every string back to back,
//! and the page's distinct object keys (each once; a [`Node::Key`] names one
//! by index). Building it costs a handful of growing vectors per page;
//! dropping it is three frees; and the Python side makes each key's `str`
//! once per page and then only indexes.
//!
//! Parsing is strict in the same way as [`crate::page::parse_page`]: the
//! body must be one JSON object with an `items` array (of any values) and
//! an optional `nextPageToken` (string or null, an empty string ends the
//! listing); anything else is a server fault, never an empty page.

use jiter::{Jiter, JiterError, Peek};

use crate::error::Result;
use crate::page::{walk_page, Decoded, Json, PageDecoder};

/// One value (or object key) of a tape, in document order. A container is
/// followed by its contents: an array by `len` values, an object by `len`
/// pairs of a `Key` and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX` that fits in 64 bits.
    UInt(u64),
    Float(f64),
    /// A string: `len` bytes of [`Tape::text`] from `start`.
    Str {
        start: u32,
        len: u32,
    },
    Array {
        len: u32,
    },
    Object {
        len: u32,
    },
    /// An object key: index into [`Tape::keys`].
    Key(u32),
}

/// A page's members (the `items` array) as a tape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tape {
    /// Every item's values, item after item.
    pub nodes: Vec<Node>,
    /// The text of every string value.
    pub text: String,
    /// The distinct object keys, in order of first appearance.
    pub keys: Vec<Box<str>>,
    /// How many items (top-level values) the tape holds.
    pub items: usize,
}

impl Tape {
    /// The text of a `Str` node.
    pub fn str_at(&self, start: u32, len: u32) -> &str {
        &self.text[start as usize..(start + len) as usize]
    }

    /// The items as [`Json`] trees (for comparisons and tests).
    pub fn to_json(&self) -> Vec<Json> {
        let mut at = 0;
        (0..self.items).map(|_| self.json_at(&mut at)).collect()
    }

    fn json_at(&self, at: &mut usize) -> Json {
        let node = self.nodes[*at];
        *at += 1;
        match node {
            Node::Null => Json::Null,
            Node::Bool(b) => Json::Bool(b),
            Node::Int(i) => Json::Int(i),
            Node::UInt(u) => Json::UInt(u),
            Node::Float(f) => Json::Float(f),
            Node::Str { start, len } => Json::Str(self.str_at(start, len).to_string()),
            Node::Array { len } => Json::Array((0..len).map(|_| self.json_at(at)).collect()),
            Node::Object { len } => Json::Object(
                (0..len)
                    .map(|_| {
                        let Node::Key(k) = self.nodes[*at] else {
                            unreachable!("an object's entries start with a key")
                        };
                        *at += 1;
                        (self.keys[k as usize].to_string(), self.json_at(at))
                    })
                    .collect(),
            ),
            Node::Key(_) => unreachable!("a key outside an object"),
        }
    }
}

/// What [`decode_page`] makes of a body.
#[derive(Debug, Clone, PartialEq)]
pub struct TapePage {
    pub tape: Tape,
    /// `None` ends the listing.
    pub next_page_token: Option<String>,
}

/// The dict path's [`PageDecoder`]: each page as a [`Tape`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TapePages;

impl PageDecoder for TapePages {
    type Output = Tape;
    fn decode(&self, body: &[u8]) -> Result<Decoded<Tape>> {
        let page = decode_page(body)?;
        Ok(Decoded {
            items: page.tape.items,
            data: page.tape,
            next_page_token: page.next_page_token,
        })
    }
}

/// Parses a members page body into a tape.
pub fn decode_page(body: &[u8]) -> Result<TapePage> {
    let mut b = TapeBuilder::with_capacity(body.len());
    let token = b
        .page(body)
        .map_err(|e| crate::transport::unreadable_body("members page", body, e))?;
    let next_page_token = match token {
        Some(t) if t.is_empty() => {
            log::debug!(target: "cxone_cdp", "empty nextPageToken taken as the end of the listing");
            None
        }
        other => other,
    };
    Ok(TapePage {
        tape: b.tape,
        next_page_token,
    })
}

type R<T> = std::result::Result<T, String>;

fn e(err: JiterError) -> String {
    err.to_string()
}

/// Deepest nesting accepted (as serde_json's default recursion limit).
const MAX_DEPTH: usize = 128;

struct TapeBuilder {
    tape: Tape,
    /// Key index expected next (objects usually repeat the previous
    /// member's key order).
    next_key: usize,
}

impl TapeBuilder {
    fn with_capacity(body_len: usize) -> Self {
        // About one node per 12 bytes of a members page, and half the
        // bytes are string text.
        TapeBuilder {
            tape: Tape {
                nodes: Vec::with_capacity(body_len / 12 + 16),
                text: String::with_capacity(body_len / 2),
                keys: Vec::new(),
                items: 0,
            },
            next_key: 0,
        }
    }

    fn page(&mut self, body: &[u8]) -> R<Option<String>> {
        walk_page(body, |j, p| {
            self.value(j, p, 1)?;
            self.tape.items += 1;
            Ok(())
        })
    }

    fn push_str(&mut self, s: &str) -> R<Node> {
        let start = u32::try_from(self.tape.text.len()).map_err(|_| "page too large")?;
        let len = u32::try_from(s.len()).map_err(|_| "string too large")?;
        self.tape.text.push_str(s);
        Ok(Node::Str { start, len })
    }

    fn key(&mut self, k: &str) -> Node {
        let keys = &mut self.tape.keys;
        let id = if keys.get(self.next_key).is_some_and(|x| **x == *k) {
            self.next_key
        } else if let Some(i) = keys.iter().position(|x| **x == *k) {
            i
        } else {
            keys.push(k.into());
            keys.len() - 1
        };
        self.next_key = id + 1;
        Node::Key(id as u32)
    }

    fn value(&mut self, j: &mut Jiter<'_>, peek: Peek, depth: usize) -> R<()> {
        if depth > MAX_DEPTH {
            return Err("recursion limit exceeded".into());
        }
        let node = match peek {
            Peek::Null => {
                j.known_null().map_err(e)?;
                Node::Null
            }
            Peek::True | Peek::False => Node::Bool(j.known_bool(peek).map_err(e)?),
            Peek::String => {
                let s = j.known_str().map_err(e)?;
                self.push_str(s)?
            }
            Peek::Array => {
                let at = self.tape.nodes.len();
                self.tape.nodes.push(Node::Array { len: 0 });
                let mut len = 0u32;
                let mut elem = j.known_array().map_err(e)?;
                while let Some(p) = elem {
                    self.value(j, p, depth + 1)?;
                    len += 1;
                    elem = j.array_step().map_err(e)?;
                }
                self.tape.nodes[at] = Node::Array { len };
                return Ok(());
            }
            Peek::Object => {
                let at = self.tape.nodes.len();
                self.tape.nodes.push(Node::Object { len: 0 });
                let mut len = 0u32;
                let mut key = j.known_object().map_err(e)?.map(|k| self.key(k));
                while let Some(k) = key {
                    self.tape.nodes.push(k);
                    let p = j.peek().map_err(e)?;
                    self.value(j, p, depth + 1)?;
                    len += 1;
                    key = j.next_key().map_err(e)?.map(|k| self.key(k));
                }
                self.tape.nodes[at] = Node::Object { len };
                return Ok(());
            }
            _ => number(j.known_number_bytes(peek).map_err(e)?)?,
        };
        self.tape.nodes.push(node);
        Ok(())
    }
}

/// A JSON number as serde_json reads it: an integer that fits in `i64` (or
/// else `u64`) stays an integer (but `-0` is `-0.0`); anything else is an
/// `f64`, and one out of its range is refused.
fn number(b: &[u8]) -> R<Node> {
    let s = std::str::from_utf8(b).map_err(|_| "invalid number")?;
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(i) = s.parse::<i64>() {
            if i == 0 && s.starts_with('-') {
                return Ok(Node::Float(-0.0)); // as serde_json: `-0` is a float
            }
            return Ok(Node::Int(i));
        }
        if let Ok(u) = s.parse::<u64>() {
            return Ok(Node::UInt(u));
        }
    }
    let f: f64 = s.parse().map_err(|_| format!("invalid number {s:?}"))?;
    if !f.is_finite() {
        return Err(format!("number out of range: {s}"));
    }
    Ok(Node::Float(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::parse_page;

    fn same_as_tree(body: &str) {
        let tree = parse_page(body.as_bytes()).unwrap();
        let tape = decode_page(body.as_bytes()).unwrap();
        assert_eq!(tape.tape.to_json(), tree.items, "{body}");
        assert_eq!(tape.next_page_token, tree.next_page_token, "{body}");
        assert_eq!(tape.tape.items, tree.items.len());
    }

    #[test]
    fn pages_read_as_the_tree_parser_reads_them() {
        same_as_tree(r#"{"items": [], "nextPageToken": null}"#);
        same_as_tree(r#"{"items": []}"#);
        same_as_tree(r#"{"items": [{}], "nextPageToken": ""}"#);
        same_as_tree(
            r#"{"extra": {"a": [1, {"b": 2}]}, "items": [
                {"memberId": "m1", "joinedAt": "2024-01-01T00:00:00Z",
                 "attributes": {"city": "Rock & Roll", "lifetime_value": 12.5, "is_vip": true,
                                "n": -3, "z": -0, "big": 18446744073709551615, "none": null}},
                {"attributes": {"lifetime_value": 1, "city": "Z\u00fcrich \"q\" \\ \ud83d\ude00"},
                 "memberId": "m2", "joinedAt": "2024-01-02T00:00:00Z"},
                [1, 2.0, -0.0, [], [[]], "x"], "s", 7, null, false
            ], "nextPageToken": "abc"}"#,
        );
        same_as_tree(r#"{"items": [{"a": 1, "a": 2}]}"#);
    }

    #[test]
    fn keys_are_stored_once_per_page() {
        let body = crate::page::arrow::tests::sample_page(50, 0, Some("t"));
        let page = decode_page(body.as_bytes()).unwrap();
        assert_eq!(page.tape.items, 50);
        let mut keys: Vec<&str> = page.tape.keys.iter().map(|k| &**k).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key stored twice");
        assert!(keys.contains(&"memberId") && keys.contains(&"attributes"));
        same_as_tree(&body);
    }

    #[test]
    fn malformed_bodies_are_server_faults() {
        for body in [
            "",
            "[]",
            "null",
            r#"{"items": {}}"#,
            r#"{"nextPageToken": "x"}"#,
            r#"{"items": [], "nextPageToken": 5}"#,
            r#"{"items": [], "items": []}"#,
            r#"{"items": [1,]}"#,
            r#"{"items": [NaN]}"#,
            r#"{"items": []} x"#,
            r#"{"items": [{"a": 1}"#,
            "<html>502</html>",
        ] {
            let err = decode_page(body.as_bytes()).unwrap_err();
            assert_eq!(err.kind, crate::error::ErrorKind::Server, "{body}");
            assert_eq!(err.code.as_deref(), Some("invalid_response"), "{body}");
            assert!(
                parse_page(body.as_bytes()).is_err(),
                "tree parser accepts {body}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!(
            r#"{{"items": [{}{}]}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(decode_page(deep.as_bytes()).is_err());
        let ok = format!(r#"{{"items": [{}{}]}}"#, "[".repeat(100), "]".repeat(100));
        same_as_tree(&ok);
    }

    #[test]
    fn numbers_follow_serde_json() {
        for (text, node) in [
            ("0", Node::Int(0)),
            ("-9223372036854775808", Node::Int(i64::MIN)),
            ("9223372036854775808", Node::UInt(9223372036854775808)),
            ("18446744073709551616", Node::Float(18446744073709551616.0)),
            ("1.5", Node::Float(1.5)),
            ("1e3", Node::Float(1000.0)),
            ("-0", Node::Float(-0.0)),
        ] {
            assert_eq!(number(text.as_bytes()).unwrap(), node, "{text}");
        }
        assert!(number(b"1e400").is_err());
    }
}
