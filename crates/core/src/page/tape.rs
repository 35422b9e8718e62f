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
//! The body is read by [`crate::page::envelope`] (the rules every decoder
//! shares); each item of the tape is a member object.

use std::sync::Arc;

use crate::error::Result;
use crate::page::envelope::{read_page, Fields, Kind, Members, Number, Value, R};
use crate::page::{Decoded, Json, PageDecoder};

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

    /// Bytes the tape's buffers hold.
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.text.capacity()
            + self.keys.iter().map(|k| k.len() + 16).sum::<usize>()
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

/// The response cache's form id of tapes.
const TAPE_FORM: u64 = 1;

/// Tapes are shared (`Arc`), so the response cache keeps them decoded and a
/// hit clones a pointer.
impl PageDecoder for TapePages {
    type Output = Arc<Tape>;
    fn decode(&self, body: &[u8]) -> Result<Decoded<Arc<Tape>>> {
        let page = decode_page(body)?;
        Ok(Decoded {
            items: page.tape.items,
            data: Arc::new(page.tape),
            next_page_token: page.next_page_token,
        })
    }

    fn cache_form(&self) -> Option<u64> {
        Some(TAPE_FORM)
    }

    fn size_of(&self, page: &Arc<Tape>) -> usize {
        page.heap_size()
    }
}

/// Parses a members page body into a tape.
pub fn decode_page(body: &[u8]) -> Result<TapePage> {
    let mut b = TapeBuilder::with_capacity(body.len());
    let next_page_token = read_page(body, &mut b)?;
    Ok(TapePage {
        tape: b.tape,
        next_page_token,
    })
}

struct TapeBuilder {
    tape: Tape,
    /// Key index expected next (objects usually repeat the previous
    /// member's key order).
    next_key: usize,
    /// Where the current member's `Object` node is.
    member_at: usize,
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
            member_at: 0,
        }
    }

    fn push_str(&mut self, s: &str) -> R<Node> {
        let start = u32::try_from(self.tape.text.len()).map_err(|_| "page too large")?;
        let len = u32::try_from(s.len()).map_err(|_| "string too large")?;
        self.tape.text.push_str(s);
        Ok(Node::Str { start, len })
    }

    /// Pushes a container node to be given its length once read.
    fn open(&mut self, node: Node) -> usize {
        self.tape.nodes.push(node);
        self.tape.nodes.len() - 1
    }

    fn value(&mut self, v: &mut Value<'_, '_>) -> R<()> {
        let node = match v.kind() {
            Kind::Null => {
                v.null()?;
                Node::Null
            }
            Kind::Bool => Node::Bool(v.bool()?),
            Kind::Number => match v.number()? {
                Number::Int(i) => Node::Int(i),
                Number::UInt(u) => Node::UInt(u),
                Number::Float(f) => Node::Float(f),
            },
            Kind::String => {
                let s = v.str()?;
                self.push_str(s)?
            }
            Kind::Array => {
                let at = self.open(Node::Array { len: 0 });
                let len = v.array(|e| self.value(e))?;
                self.tape.nodes[at] = Node::Array { len };
                return Ok(());
            }
            Kind::Object => {
                let at = self.open(Node::Object { len: 0 });
                let len = v.object(self)?;
                self.tape.nodes[at] = Node::Object { len };
                return Ok(());
            }
        };
        self.tape.nodes.push(node);
        Ok(())
    }
}

impl<'j> Fields<'j> for TapeBuilder {
    type Key = u32;

    #[inline]
    fn key(&mut self, k: &str) -> u32 {
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
        id as u32
    }

    #[inline]
    fn value(&mut self, key: u32, v: &mut Value<'_, 'j>) -> R<()> {
        self.tape.nodes.push(Node::Key(key));
        TapeBuilder::value(self, v)
    }
}

impl<'j> Members<'j> for TapeBuilder {
    #[inline]
    fn begin(&mut self) -> R<()> {
        self.member_at = self.open(Node::Object { len: 0 });
        Ok(())
    }

    #[inline]
    fn end(&mut self, fields: u32, _raw: &'j [u8]) -> R<()> {
        self.tape.nodes[self.member_at] = Node::Object { len: fields };
        self.tape.items += 1;
        Ok(())
    }
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
    fn pages_read_as_the_tree_reads_them() {
        same_as_tree(r#"{"items": [], "nextPageToken": null}"#);
        same_as_tree(r#"{"items": []}"#);
        same_as_tree(r#"{"items": [{"memberId": ""}], "nextPageToken": ""}"#);
        same_as_tree(
            r#"{"extra": {"a": [1, {"b": 2}]}, "items": [
                {"memberId": "m1", "joinedAt": "2024-01-01T00:00:00Z",
                 "attributes": {"city": "Rock & Roll", "lifetime_value": 12.5, "is_vip": true,
                                "n": -3, "z": -0, "big": 18446744073709551615, "none": null}},
                {"attributes": {"lifetime_value": 1, "city": "Z\u00fcrich \"q\" \\ \ud83d\ude00"},
                 "memberId": "m2", "joinedAt": "2024-01-02T00:00:00Z"},
                {"memberId": "m3", "x": [1, 2.0, -0.0, [], [[]], "x"], "s": "s", "n": 7,
                 "z": null, "f": false, "o": {}}
            ], "nextPageToken": "abc"}"#,
        );
        same_as_tree(r#"{"items": [{"memberId": "m", "a": 1, "a": 2}]}"#);
    }

    #[test]
    fn every_item_is_a_member_object() {
        let p = decode_page(br#"{"items": [{"joinedAt": null, "memberId": "m1"}]}"#).unwrap();
        assert_eq!(p.tape.items, 1);
        assert!(matches!(p.tape.nodes[0], Node::Object { len: 2 }));
        assert_eq!(&*p.tape.keys[1], "memberId");
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
            r#"{"items": [1]}"#,
            r#"{"items": [{"memberId": "a"},]}"#,
            r#"{"items": [{"memberId": NaN}]}"#,
            r#"{"items": []} x"#,
            r#"{"items": [{"memberId": "a"}"#,
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
        let nest = crate::page::testkit::nested_page;
        assert!(decode_page(nest(10_000).as_bytes()).is_err());
        same_as_tree(&nest(100));
    }

    #[test]
    fn numbers_keep_their_kind() {
        let p = decode_page(
            br#"{"items": [{"memberId": "m", "a": 0, "b": -9223372036854775808,
                "c": 9223372036854775808, "d": 18446744073709551616, "e": 1.5, "f": -0}]}"#,
        )
        .unwrap();
        let values: Vec<Node> = p.tape.nodes[4..].iter().step_by(2).copied().collect();
        assert_eq!(
            values,
            [
                Node::Int(0),
                Node::Int(i64::MIN),
                Node::UInt(9223372036854775808),
                Node::Float(18446744073709551616.0),
                Node::Float(1.5),
                Node::Float(-0.0),
            ]
        );
    }

    /// `cargo test --release --lib tape::tests::decode_throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn decode_throughput() {
        crate::page::testkit::print_decode_throughput("tape decode_page", |p| {
            decode_page(p).unwrap().tape.items
        });
    }
}
