//! The differential check of the members page decoders, shared by the
//! proptest suites (`tests/page_decoders.rs`, the corpus replay in
//! `tests/fuzz_parsers.rs`) and the cargo-fuzz `page` target
//! (`fuzz/fuzz_targets/page.rs`, which includes this file by path).
//!
//! One body goes through every decoder the client has: the dict path's
//! tape, the `Json` tree, Arrow, and the export's JSONL, CSV and Parquet
//! (its staged Arrow IPC) decoders, each as the paginator runs it (its
//! `PageDecoder`). They must all accept or all refuse it, and a refusal is
//! a `Server` / `invalid_response` error. When they accept, they agree on
//! the member count and the cursor (never an empty one), the tape and the
//! tree hold the same values, each output reads back to the members, and
//! the pagination walk's cursor hint, where it gives one, is that cursor.
//!
//! An oracle decides, independently of the envelope reader, which of the
//! two it should be: serde_json reads the body (into the `Json` tree, which
//! keeps duplicate keys), and the page and member rules of
//! `page::envelope` are checked on that tree.
// Each including crate uses a part of it.
#![allow(dead_code)]

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use cxone_cdp_core::error::{ErrorKind, Result};
use cxone_cdp_core::export::{Format, FormatDecoder};
use cxone_cdp_core::filter::AttrType;
use cxone_cdp_core::page::arrow::ArrowLayout;
use cxone_cdp_core::page::envelope::cursor_hint;
use cxone_cdp_core::page::tape::TapePages;
use cxone_cdp_core::page::{Decoded, Json, JsonPages, PageDecoder};

/// What every decoder made of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Accepted {
        members: usize,
        cursor: Option<String>,
    },
    Refused,
}

/// The decoders, built once (the Arrow layout is the simulator's schema).
pub struct Decoders {
    layout: ArrowLayout,
    csv: FormatDecoder,
    jsonl: FormatDecoder,
    ipc: FormatDecoder,
}

impl Default for Decoders {
    fn default() -> Self {
        Self::new()
    }
}

/// A decoder's answer reduced to what all of them share.
type Summary = Result<(usize, Option<String>)>;

fn summary<T>(d: &Result<Decoded<T>>) -> Summary {
    d.as_ref()
        .map(|p| (p.items, p.next_page_token.clone()))
        .map_err(Clone::clone)
}

impl Decoders {
    pub fn new() -> Self {
        let layout = ArrowLayout::new(&[
            ("lifecycle_stage".to_string(), AttrType::String),
            ("last_purchase_date".to_string(), AttrType::Date),
            ("city".to_string(), AttrType::String),
            ("lifetime_value".to_string(), AttrType::Number),
            ("is_vip".to_string(), AttrType::Boolean),
        ]);
        let format = |f| FormatDecoder::new(f, layout.clone()).unwrap();
        Decoders {
            csv: format(Format::Csv),
            jsonl: format(Format::Jsonl),
            ipc: format(Format::Parquet),
            layout,
        }
    }

    /// Each decoder's answer, by name (for tests over all of them).
    pub fn each(&self, body: &[u8]) -> Vec<(&'static str, Summary)> {
        vec![
            ("tape", summary(&TapePages.decode(body))),
            ("tree", summary(&JsonPages.decode(body))),
            ("arrow", summary(&self.layout.decode(body))),
            ("jsonl", summary(&self.jsonl.decode(body))),
            ("csv", summary(&self.csv.decode(body))),
            ("parquet", summary(&self.ipc.decode(body))),
        ]
    }

    /// Runs every decoder on `body` and panics on any disagreement.
    pub fn check(&self, body: &[u8]) -> Outcome {
        let text = || String::from_utf8_lossy(body).into_owned();
        let tape = TapePages.decode(body);
        let tree = JsonPages.decode(body);
        let arrow = self.layout.decode(body);
        let jsonl = self.jsonl.decode(body);
        let csv = self.csv.decode(body);
        let ipc = self.ipc.decode(body);
        let answers = [
            ("tape", summary(&tape)),
            ("tree", summary(&tree)),
            ("arrow", summary(&arrow)),
            ("jsonl", summary(&jsonl)),
            ("csv", summary(&csv)),
            ("parquet", summary(&ipc)),
        ];
        let oracle = oracle(body);
        for (name, answer) in &answers {
            match (answer, &oracle) {
                (Err(e), Err(_)) => {
                    assert_eq!(e.kind, ErrorKind::Server, "{name} on {:?}", text());
                    assert_eq!(
                        e.code.as_deref(),
                        Some("invalid_response"),
                        "{name} on {:?}",
                        text()
                    );
                }
                (Ok(got), Ok((items, cursor))) => {
                    assert_eq!(
                        (got.0, &got.1),
                        (items.len(), cursor),
                        "{name} vs the oracle on {:?}",
                        text()
                    );
                }
                (got, want) => panic!(
                    "{name} {} but the oracle {} on {:?}: {:?}",
                    if got.is_ok() { "accepts" } else { "refuses" },
                    if want.is_ok() { "accepts" } else { "refuses" },
                    text(),
                    got.as_ref()
                        .err()
                        .map(|e| &e.message)
                        .or(want.as_ref().err())
                ),
            }
        }
        let Ok((items, cursor)) = oracle else {
            return Outcome::Refused;
        };
        let (tape, tree, arrow) = (tape.unwrap(), tree.unwrap(), arrow.unwrap());
        assert_ne!(cursor.as_deref(), Some(""), "an empty cursor leaked");
        // The walk's hint (the next page asked for before this one is
        // decoded) is never a cursor other than the page's.
        if let Some(hint) = cursor_hint(body) {
            assert_eq!(Some(&hint), cursor.as_ref(), "cursor hint on {:?}", text());
        }
        // The tape and the tree hold the values serde_json read.
        assert_eq!(tree.data, items, "tree vs serde_json on {:?}", text());
        assert_eq!(
            tape.data.to_json(),
            items,
            "tape vs serde_json on {:?}",
            text()
        );
        // Arrow: one row per member, with its memberId.
        let ids: Vec<&str> = items
            .iter()
            .map(|m| m.get("memberId").and_then(Json::as_str).unwrap())
            .collect();
        let arrow_ids: Vec<&str> = arrow
            .data
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(arrow_ids, ids, "arrow memberId on {:?}", text());
        // JSONL: one line per member, each the member itself.
        let jsonl = jsonl.unwrap().data;
        let lines: Vec<&[u8]> = jsonl.split(|b| *b == b'\n').collect();
        assert_eq!(lines.len(), items.len() + 1, "jsonl lines on {:?}", text());
        assert_eq!(lines.last(), Some(&&b""[..]));
        for (line, item) in lines.iter().zip(&items) {
            let back: Json = serde_json::from_slice(line).expect("a JSONL line is JSON");
            assert_eq!(&back, item, "jsonl line on {:?}", text());
        }
        // Parquet's staged IPC stream reads back to Arrow's batch.
        let mut stream = self.ipc.header().to_vec();
        stream.extend_from_slice(&ipc.unwrap().data);
        stream.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let batches: Vec<RecordBatch> =
            arrow_ipc::reader::StreamReader::try_new(Cursor::new(stream), None)
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, items.len());
        if items.is_empty() {
            assert!(batches.iter().all(|b| b.num_rows() == 0));
        } else {
            assert_eq!(
                batches,
                std::slice::from_ref(&arrow.data),
                "ipc vs arrow on {:?}",
                text()
            );
        }
        // CSV: the header, then one record per member.
        let mut file = self.csv.header().to_vec();
        file.extend_from_slice(&csv.unwrap().data);
        assert_eq!(csv_records(&file, arrow.data.num_columns()), items.len());
        Outcome::Accepted {
            members: items.len(),
            cursor,
        }
    }
}

/// How many records a CSV file (with a header) holds.
fn csv_records(file: &[u8], columns: usize) -> usize {
    let fields: Vec<Field> = (0..columns)
        .map(|i| Field::new(format!("c{i}"), DataType::Utf8, true))
        .collect();
    arrow_csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
        .with_header(true)
        .build(Cursor::new(file))
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum()
}

/// The page as serde_json reads it, checked against the rules of
/// `page::envelope` (written again here, from its documentation): the
/// members and the cursor, or why the body is not a page.
pub fn oracle(body: &[u8]) -> std::result::Result<(Vec<Json>, Option<String>), String> {
    let page: Json = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Json::Object(fields) = page else {
        return Err("not an object".into());
    };
    for (i, (k, _)) in fields.iter().enumerate() {
        if fields[..i].iter().any(|(seen, _)| seen == k) {
            return Err(format!("duplicate page key {k:?}"));
        }
    }
    let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let Some(Json::Array(items)) = get("items") else {
        return Err("no items array".into());
    };
    let cursor = match get("nextPageToken") {
        None | Some(Json::Null) => None,
        Some(Json::Str(s)) if s.is_empty() => None,
        Some(Json::Str(s)) => Some(s.clone()),
        Some(_) => return Err("bad nextPageToken".into()),
    };
    for (n, item) in items.iter().enumerate() {
        let Json::Object(kv) = item else {
            return Err(format!("member {n} is not an object"));
        };
        let ids: Vec<&Json> = kv
            .iter()
            .filter(|(k, _)| k == "memberId")
            .map(|(_, v)| v)
            .collect();
        if !matches!(ids[..], [Json::Str(_)]) {
            return Err(format!("member {n}: not exactly one string memberId"));
        }
    }
    Ok((items.clone(), cursor))
}
