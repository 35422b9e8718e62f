//! The cursor a page body names, read without reading the page: only where
//! `nextPageToken` is the page object's first or last field (the simulator
//! writes it last). The pagination walk uses it to ask for the next page
//! while this one is decoded; it is a hint and nothing more. The decoded
//! page's cursor, from [`read_page`](super::read_page), is the one the walk
//! follows, and a request made on a hint that turns out different is
//! dropped.

use jiter::Jiter;

const KEY: &[u8] = b"\"nextPageToken\"";

/// The non-empty string cursor `body` seems to name, or `None` (the last
/// page, a body where the field is elsewhere, or one that does not look
/// like a page: the full read decides what it is).
pub fn cursor_hint(body: &[u8]) -> Option<String> {
    let b = body.trim_ascii();
    let inner = b.strip_prefix(b"{")?.strip_suffix(b"}")?;
    last_field(inner)
        .or_else(|| first_field(inner))
        .filter(|c| !c.is_empty())
}

/// `..., "nextPageToken": "<cursor>"` at the end of the object's contents.
fn last_field(inner: &[u8]) -> Option<String> {
    let inner = inner.trim_ascii_end();
    let close = inner.len().checked_sub(1)?;
    if inner[close] != b'"' {
        return None;
    }
    // The opening quote: the first one going back that no odd run of
    // backslashes escapes (a backslash only ever appears in a string).
    let mut open = None;
    for i in (0..close).rev() {
        if inner[i] == b'"' {
            let slashes = inner[..i].iter().rev().take_while(|&&c| c == b'\\').count();
            if slashes % 2 == 0 {
                open = Some(i);
                break;
            }
        }
    }
    let open = open?;
    let before = inner[..open]
        .trim_ascii_end()
        .strip_suffix(b":")?
        .trim_ascii_end()
        .strip_suffix(KEY)?
        .trim_ascii_end();
    if !before.ends_with(b",") {
        return None;
    }
    string(&inner[open..])
}

/// `"nextPageToken": "<cursor>", ...` at the start of the object's contents.
fn first_field(inner: &[u8]) -> Option<String> {
    let rest = inner
        .trim_ascii_start()
        .strip_prefix(KEY)?
        .trim_ascii_start()
        .strip_prefix(b":")?;
    string(rest)
}

/// The JSON string that `text` starts with, unescaped.
fn string(text: &[u8]) -> Option<String> {
    Jiter::new(text).next_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::envelope::{read_page, Skip};

    fn read(body: &str) -> Option<String> {
        read_page(body.as_bytes(), &mut Skip).unwrap()
    }

    #[test]
    fn the_hint_is_the_cursor_where_the_field_comes_first_or_last() {
        for body in [
            r#"{"items":[{"memberId":"a"}],"nextPageToken":"c-2"}"#,
            r#" { "items" : [ ] , "nextPageToken" : "c-2" } "#,
            r#"{"nextPageToken":"c-2","items":[{"memberId":"\"nextPageToken\":\"x\""}]}"#,
            r#"{"items":[{"memberId":"a","note":"\"nextPageToken\":\"x\"}"}],"nextPageToken":"c-2"}"#,
        ] {
            assert_eq!(
                cursor_hint(body.as_bytes()).as_deref(),
                Some("c-2"),
                "{body}"
            );
            assert_eq!(read(body).as_deref(), Some("c-2"), "{body}");
        }
        let escaped = r#"{"items":[],"nextPageToken":"a\"b\\\u00e9"}"#;
        assert_eq!(cursor_hint(escaped.as_bytes()), read(escaped));
        assert_eq!(read(escaped).as_deref(), Some("a\"b\\é"));
    }

    #[test]
    fn no_hint_for_the_last_page_or_a_field_in_the_middle() {
        for body in [
            r#"{"items":[],"nextPageToken":null}"#,
            r#"{"items":[],"nextPageToken":""}"#,
            r#"{"items":[]}"#,
            r#"{"items":[],"nextPageToken":"c","total":3}"#,
            r#"{"items":[{"memberId":"a","x":"\"nextPageToken\":\"c\""}]}"#,
            r#"{"items":[{"memberId":"a","x":",\"nextPageToken\":\"c\""}]"#,
            r#"["nextPageToken","c"]"#,
            "",
        ] {
            assert_eq!(cursor_hint(body.as_bytes()), None, "{body}");
        }
    }

    proptest::proptest! {
        /// Wherever a page names a cursor, first or last, the hint is that
        /// cursor: the walk's guesses are right for any string.
        #[test]
        fn the_hint_agrees_with_the_page(cursor in "\\PC{0,12}", first in proptest::bool::ANY) {
            let c = serde_json::to_string(&cursor).unwrap();
            let items = r#""items":[{"memberId":"m","a":{"nextPageToken":"zz"}}]"#;
            let body = if first {
                format!(r#"{{"nextPageToken":{c},{items}}}"#)
            } else {
                format!(r#"{{{items},"nextPageToken":{c}}}"#)
            };
            let hint = cursor_hint(body.as_bytes());
            proptest::prop_assert_eq!(&hint, &read(&body));
        }
    }
}
