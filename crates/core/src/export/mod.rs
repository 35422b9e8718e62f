//! Exporting a whole members listing to a file, end to end in Rust: pages
//! are fetched and decoded (on the runtime's workers, at most two pages
//! ahead) while the previous page is written, so memory stays bounded for
//! any audience size and no Python runs per member.
//!
//! Formats: JSONL (each member exactly as the API sent it, one per line,
//! unknown fields kept), CSV and Parquet (the Arrow layout of
//! `crate::page::arrow::ArrowLayout`: `memberId`, `joinedAt`, then one column per
//! attribute in schema order).
//!
//! Safety rules: the output is written to `<path>.part` beside the final
//! path and renamed at the end, so an interrupted or failed export never
//! leaves a truncated file that looks complete. With a checkpoint file,
//! after each page is written and flushed to disk the checkpoint records
//! the query fingerprint, the cursor of the next page, the members and the
//! bytes written (atomically: temp file + rename); a resumed export
//! truncates the partial output to the recorded length and continues from
//! that cursor, so it has neither duplicates nor gaps. Parquet is staged
//! as an Arrow IPC stream (appendable at page boundaries) and converted at
//! the end.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::{Client, Prepared, Query};
use crate::error::{excerpt, Error, ErrorKind, Result};
use crate::page::{Decoded, PageDecoder};
use crate::paginate::Prefetch;

/// Checkpoint file format version.
const CHECKPOINT_VERSION: u32 = 1;
/// Pages decoded ahead of the writer.
const PREFETCH: usize = 2;

/// An export file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    Parquet,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(Error::validation(format!(
                "unknown export format {:?}: expected jsonl, csv or parquet",
                excerpt(s.as_bytes(), 40)
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// What identifies a query for resuming: a cursor is only valid for the
/// query that produced it, and the partial file only for its format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub audience_id: String,
    /// Each filter in its decoded wire form (`city=Rock & Roll`).
    pub filters: Vec<String>,
    pub limit: u32,
    pub format: String,
}

/// The state saved after every written page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub fingerprint: Fingerprint,
    /// Cursor of the next page to fetch (`None` with `listing_done` false:
    /// the first page).
    pub next_cursor: Option<String>,
    /// Every page has been written; only the final rename is left.
    pub listing_done: bool,
    pub members: u64,
    pub pages: u64,
    /// The partial output this checkpoint describes.
    pub temp_path: PathBuf,
    /// Valid length of the partial output.
    pub bytes: u64,
}

impl Checkpoint {
    /// Reads a checkpoint file; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>> {
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read the checkpoint", path, e)),
        };
        let c: Checkpoint = serde_json::from_slice(&text).map_err(|e| {
            Error::validation(format!(
                "checkpoint {} is not a cxone-cdp checkpoint: {e}",
                path.display()
            ))
            .with_code("bad_checkpoint")
        })?;
        if c.version != CHECKPOINT_VERSION {
            return Err(Error::validation(format!(
                "checkpoint {} has version {}, this cxone-cdp writes version {CHECKPOINT_VERSION}",
                path.display(),
                c.version
            ))
            .with_code("bad_checkpoint"));
        }
        Ok(Some(c))
    }

    /// Writes the checkpoint atomically (temp file, fsync, rename).
    pub fn store(&self, path: &Path) -> Result<()> {
        let tmp = sibling(path, ".tmp");
        let body = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Other, format!("checkpoint encoding: {e}")))?;
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_data()?;
            fs::rename(&tmp, path)
        };
        write().map_err(|e| io_error("write the checkpoint", path, e))
    }
}

/// `path` with `suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Other,
        format!("could not {what} ({}): {e}", path.display()),
    )
    .with_code("io_error")
}

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub query: Query,
    pub format: Format,
    /// The final output path.
    pub output: PathBuf,
    pub checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint when there is one.
    pub resume: bool,
}

/// Where an export stands, handed to the progress callback after each page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Members written so far (including those of a resumed run).
    pub members: u64,
    /// Pages written so far (including those of a resumed run).
    pub pages: u64,
    /// Members fetched in this run.
    pub run_members: u64,
    /// Pages fetched in this run.
    pub run_pages: u64,
    /// Bytes of output so far.
    pub bytes: u64,
    /// Seconds since this run started.
    pub elapsed: f64,
}

/// The result of a finished export.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub members: u64,
    pub pages: u64,
    pub bytes: u64,
    pub elapsed: f64,
    /// Members already written by the run this one resumed (0 if fresh).
    pub resumed_members: u64,
    pub path: PathBuf,
}

/// The callback's answer: go on or stop (the caller was interrupted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// One decoded page, ready to write.
enum Payload {
    /// Encoded output bytes (JSONL lines).
    Bytes { data: Vec<u8>, members: usize },
}

impl Payload {
    fn members(&self) -> usize {
        match self {
            Payload::Bytes { members, .. } => *members,
        }
    }
}

#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
    #[serde(rename = "nextPageToken", default)]
    next_page_token: Option<String>,
}

/// A members page body to JSONL: each item's raw JSON on its own line,
/// byte for byte (raw CR/LF bytes, which JSON only allows as whitespace
/// between tokens, are dropped so a pretty-printed body still gives one
/// line per member).
pub fn page_to_jsonl(body: &[u8]) -> Result<(Vec<u8>, usize, Option<String>)> {
    let page: RawPage<'_> = serde_json::from_slice(body)
        .map_err(|e| crate::transport::unreadable_body("members page", body, e))?;
    let mut out = Vec::with_capacity(body.len() + page.items.len());
    for item in &page.items {
        let raw = item.get().as_bytes();
        if raw.first() != Some(&b'{') {
            return Err(crate::transport::unreadable_body(
                "members page",
                body,
                "a member is not a JSON object",
            ));
        }
        if raw.contains(&b'\n') || raw.contains(&b'\r') {
            out.extend(raw.iter().filter(|b| !matches!(b, b'\n' | b'\r')));
        } else {
            out.extend_from_slice(raw);
        }
        out.push(b'\n');
    }
    Ok((out, page.items.len(), page.next_page_token))
}

/// The Arrow side of CSV and Parquet: the layout built from the ordered
/// schema, each page body decoded straight into a record batch and encoded
/// to output bytes on the runtime's workers.
mod columnar {
    use std::io::Write;

    use arrow_array::RecordBatch;

    use crate::error::{Error, ErrorKind, Result};
    use crate::page::arrow::ArrowLayout;

    /// `joinedAt` in CSV: RFC 3339 in UTC with a `Z`, fraction only if any.
    const CSV_TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%S%.fZ";
    /// Rows per Parquet row group (bounds the writer's memory).
    pub const ROW_GROUP_ROWS: usize = 65_536;

    fn arrow_error(what: &str, e: impl std::fmt::Display) -> Error {
        Error::new(ErrorKind::Other, format!("{what}: {e}"))
    }

    /// CSV text of a batch (with the header line if `header`).
    pub fn csv_bytes(batch: &RecordBatch, header: bool) -> Result<Vec<u8>> {
        let mut w = arrow_csv::WriterBuilder::new()
            .with_header(header)
            .with_timestamp_tz_format(CSV_TIMESTAMP.to_string())
            .build(Vec::new());
        w.write(batch).map_err(|e| arrow_error("CSV encoding", e))?;
        Ok(w.into_inner())
    }

    /// The CSV header line of a layout.
    pub fn csv_header(layout: &ArrowLayout) -> Result<Vec<u8>> {
        csv_bytes(&layout.empty_batch(), true)
    }

    /// The Arrow IPC stream prefix (the schema message) of a layout.
    pub fn ipc_header(layout: &ArrowLayout) -> Result<Vec<u8>> {
        // Not `into_inner`: that would finish the stream (end-of-stream marker).
        let w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &layout.schema())
            .map_err(|e| arrow_error("IPC encoding", e))?;
        Ok(w.get_ref().clone())
    }

    /// The IPC stream message of one batch (what follows the schema message).
    pub fn ipc_batch(batch: &RecordBatch, header_len: usize) -> Result<Vec<u8>> {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema())
            .map_err(|e| arrow_error("IPC encoding", e))?;
        w.write(batch).map_err(|e| arrow_error("IPC encoding", e))?;
        let mut bytes = std::mem::take(w.get_mut());
        bytes.drain(..header_len);
        Ok(bytes)
    }

    /// The end-of-stream marker of an IPC stream.
    pub const IPC_EOS: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

    /// Converts a complete IPC stream file to Parquet (batch by batch).
    pub fn ipc_to_parquet(stage: &std::path::Path, out: &std::path::Path) -> Result<()> {
        use parquet::arrow::ArrowWriter;
        use parquet::basic::Compression;
        use parquet::file::properties::WriterProperties;
        let io = |e: std::io::Error| arrow_error("Parquet conversion", e);
        let input = std::io::BufReader::new(std::fs::File::open(stage).map_err(io)?);
        let reader = arrow_ipc::reader::StreamReader::try_new(input, None)
            .map_err(|e| arrow_error("reading the staged batches", e))?;
        let file = std::fs::File::create(out).map_err(io)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let mut w = ArrowWriter::try_new(file, reader.schema(), Some(props))
            .map_err(|e| arrow_error("Parquet writer", e))?;
        for batch in reader {
            let batch = batch.map_err(|e| arrow_error("reading the staged batches", e))?;
            w.write(&batch)
                .map_err(|e| arrow_error("Parquet writing", e))?;
        }
        let mut file = w
            .into_inner()
            .map_err(|e| arrow_error("Parquet writing", e))?;
        file.flush().and_then(|()| file.sync_data()).map_err(io)?;
        Ok(())
    }
}

/// The output side: a partial file that grows page by page.
struct Sink {
    format: Format,
    path: PathBuf,
    file: BufWriter<File>,
    bytes: u64,
}

impl Sink {
    /// A fresh partial file (with its header, if the format has one).
    fn create(format: Format, path: PathBuf) -> Result<Sink> {
        let file = File::create(&path).map_err(|e| io_error("create the output", &path, e))?;
        Ok(Sink {
            format,
            path,
            file: BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
        })
    }

    /// The partial file of an earlier run, cut back to its last checkpoint.
    fn reopen(format: Format, path: PathBuf, bytes: u64) -> Result<Sink> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_error("reopen the partial output", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error("reopen the partial output", &path, e))?
            .len();
        if len < bytes {
            return Err(Error::validation(format!(
                "cannot resume: the partial output {} has {len} bytes, the checkpoint recorded {bytes}",
                path.display()
            ))
            .with_code("bad_checkpoint"));
        }
        file.set_len(bytes)
            .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()))
            .map_err(|e| io_error("truncate the partial output", &path, e))?;
        Ok(Sink {
            format,
            path,
            file: BufWriter::with_capacity(1 << 20, file),
            bytes,
        })
    }

    fn write(&mut self, payload: &Payload) -> Result<()> {
        match payload {
            Payload::Bytes { data, .. } => {
                self.file
                    .write_all(data)
                    .map_err(|e| io_error("write the output", &self.path, e))?;
                self.bytes += data.len() as u64;
            }
        }
        Ok(())
    }

    /// Flushes and syncs everything written so far; returns the length.
    fn sync(&mut self) -> Result<u64> {
        self.file
            .flush()
            .and_then(|()| self.file.get_ref().sync_data())
            .map_err(|e| io_error("flush the output", &self.path, e))?;
        Ok(self.bytes)
    }

    /// Completes the file and moves it to `output`.
    fn finish(mut self, output: &Path) -> Result<u64> {
        if self.format == Format::Parquet {
            self.file
                .write_all(&columnar::IPC_EOS)
                .map_err(|e| io_error("write the output", &self.path, e))?;
        }
        self.sync()?;
        drop(self.file);
        if self.format == Format::Parquet {
            let converted = sibling(output, ".tmp");
            let done = columnar::ipc_to_parquet(&self.path, &converted);
            if let Err(e) = done {
                let _ = fs::remove_file(&converted);
                return Err(e);
            }
            fs::rename(&converted, output).map_err(|e| io_error("rename the output", output, e))?;
            let _ = fs::remove_file(&self.path);
            return fs::metadata(output)
                .map(|m| m.len())
                .map_err(|e| io_error("read the output", output, e));
        }
        fs::rename(&self.path, output).map_err(|e| io_error("rename the output", output, e))?;
        Ok(self.bytes)
    }
}

/// The fingerprint of a prepared query in a format.
pub fn fingerprint(
    prepared: &Prepared,
    schema: &crate::filter::Schema,
    format: Format,
) -> Result<Fingerprint> {
    let filters = prepared
        .query
        .filters
        .iter()
        .map(|f| f.wire(schema.get(&f.attribute).copied()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Fingerprint {
        audience_id: prepared.query.audience_id.clone(),
        filters,
        limit: prepared.query.limit,
        format: format.name().to_string(),
    })
}

type Decoder = Box<dyn Fn(&[u8]) -> Result<(Payload, Option<String>)> + Send + Sync>;

/// A format's decoder as a [`PageDecoder`], so the export shares the
/// client's one pagination state machine (`Client::pages_with`).
struct FormatDecoder(Decoder);

impl PageDecoder for FormatDecoder {
    type Output = Payload;
    fn decode(&self, body: &[u8]) -> Result<Decoded<Payload>> {
        let (data, next_page_token) = (self.0)(body)?;
        let items = data.members();
        Ok(Decoded {
            data,
            // An empty cursor ends the listing, as in `paginate::parse_page`
            // (followed, it would restart the listing: found by the fuzz
            // corpus, issue 8).
            next_page_token: next_page_token.filter(|t| !t.is_empty()),
            items,
        })
    }
}

/// The per-page decoder of a format (run on the runtime's workers) and the
/// bytes a fresh output starts with.
fn decoder(format: Format, attrs: &crate::api::Attributes) -> Result<(Decoder, Vec<u8>)> {
    use crate::page::arrow::ArrowLayout;
    // A columnar format: each page decoded to a record batch, then `encode`d.
    fn batch_format(
        layout: ArrowLayout,
        encode: impl Fn(&arrow_array::RecordBatch) -> Result<Vec<u8>> + Send + Sync + 'static,
    ) -> Decoder {
        Box::new(move |body: &[u8]| {
            let page = layout.decode_page(body)?;
            let data = encode(&page.batch)?;
            Ok((
                Payload::Bytes {
                    data,
                    members: page.items,
                },
                page.next_page_token,
            ))
        })
    }
    let layout = || ArrowLayout::from_attributes(attrs);
    Ok(match format {
        Format::Jsonl => (
            Box::new(|body: &[u8]| {
                let (data, members, next) = page_to_jsonl(body)?;
                Ok((Payload::Bytes { data, members }, next))
            }),
            Vec::new(),
        ),
        Format::Csv => {
            let layout = layout();
            let header = columnar::csv_header(&layout)?;
            (
                batch_format(layout, |batch| columnar::csv_bytes(batch, false)),
                header,
            )
        }
        Format::Parquet => {
            let layout = layout();
            let header = columnar::ipc_header(&layout)?;
            let header_len = header.len();
            (
                batch_format(layout, move |batch| columnar::ipc_batch(batch, header_len)),
                header,
            )
        }
    })
}

/// Runs an export to completion. `on_page` is called after every written
/// (and checkpointed) page; returning `Flow::Stop` ends the export with an
/// `interrupted` error, leaving the partial output and checkpoint for a
/// resume. Without a checkpoint, a failed export removes its partial file.
pub async fn export(
    client: &Client,
    req: ExportRequest,
    mut on_page: impl FnMut(&Progress) -> Flow,
) -> Result<Summary> {
    let started = Instant::now();
    let prepared = client.prepare(req.query.clone()).await?;
    let attrs = client.attributes().await?;
    let fp = fingerprint(&prepared, &attrs.schema, req.format)?;
    let (decode, header) = decoder(req.format, &attrs)?;

    let previous = match (&req.checkpoint, req.resume) {
        (Some(cp), true) => Checkpoint::load(cp)?,
        _ => None,
    };
    if let Some(prev) = &previous {
        if prev.fingerprint != fp {
            return Err(Error::validation(format!(
                "cannot resume: the checkpoint {} is for a different query (audience {}, filters {:?}, limit {}, format {}); \
                 run with the same audience, filters, limit and format, or without --resume to start over",
                req.checkpoint.as_deref().unwrap_or(Path::new("?")).display(),
                prev.fingerprint.audience_id,
                prev.fingerprint.filters,
                prev.fingerprint.limit,
                prev.fingerprint.format,
            ))
            .with_code("checkpoint_mismatch"));
        }
    }

    let (mut sink, mut state) = match previous {
        Some(prev) => {
            let sink = Sink::reopen(req.format, prev.temp_path.clone(), prev.bytes)?;
            (sink, prev)
        }
        None => {
            let temp = sibling(&req.output, ".part");
            let mut sink = Sink::create(req.format, temp.clone())?;
            sink.write(&Payload::Bytes {
                data: header,
                members: 0,
            })?;
            let bytes = if req.checkpoint.is_some() {
                sink.sync()?
            } else {
                0
            };
            let state = Checkpoint {
                version: CHECKPOINT_VERSION,
                fingerprint: fp,
                next_cursor: None,
                listing_done: false,
                members: 0,
                pages: 0,
                temp_path: temp,
                bytes,
            };
            (sink, state)
        }
    };
    let resumed_members = state.members;
    let temp_path = state.temp_path.clone();
    let keep_partial = req.checkpoint.is_some();

    let result = async {
        if let Some(cp) = &req.checkpoint {
            state.store(cp)?;
        }
        if !state.listing_done {
            // Decode on the runtime's workers, at most PREFETCH pages ahead.
            let decode = std::sync::Arc::new(FormatDecoder(decode));
            let stream = client.pages_with(prepared, state.next_cursor.clone(), decode);
            let pages = Prefetch::spawn(
                &tokio::runtime::Handle::current(),
                PREFETCH,
                async move { Ok(stream) },
                None,
                |_| 0,
            );
            let mut run_pages = 0u64;
            while let Some(page) = pages.recv().await {
                let page = page?;
                sink.write(&page.data)?;
                state.members += page.items as u64;
                state.pages += 1;
                run_pages += 1;
                state.listing_done = page.next_cursor.is_none();
                state.next_cursor = page.next_cursor;
                if let Some(cp) = &req.checkpoint {
                    state.bytes = sink.sync()?;
                    state.store(cp)?;
                } else {
                    state.bytes = sink.bytes;
                }
                let progress = Progress {
                    members: state.members,
                    pages: state.pages,
                    run_members: state.members - resumed_members,
                    run_pages,
                    bytes: state.bytes,
                    elapsed: started.elapsed().as_secs_f64(),
                };
                if on_page(&progress) == Flow::Stop {
                    return Err(interrupted());
                }
            }
            if !state.listing_done {
                return Err(Error::new(
                    ErrorKind::Other,
                    "the page stream ended before the last page",
                ));
            }
        }
        let bytes = sink.finish(&req.output)?;
        if let Some(cp) = &req.checkpoint {
            let _ = fs::remove_file(cp);
        }
        Ok(Summary {
            members: state.members,
            pages: state.pages,
            bytes,
            elapsed: started.elapsed().as_secs_f64(),
            resumed_members,
            path: req.output.clone(),
        })
    }
    .await;
    if result.is_err() && !keep_partial {
        let _ = fs::remove_file(&temp_path);
    }
    result
}

/// The error an export stopped by its caller ends with.
pub fn interrupted() -> Error {
    Error::new(ErrorKind::Other, "the export was interrupted").with_code("interrupted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_cursor_ends_the_listing_in_every_format() {
        // Regression (issue 8 fuzz corpus): `"nextPageToken": ""` ended the
        // dict path but was followed as a cursor by the export and Arrow paths.
        let attrs = crate::api::Attributes::default();
        let body = br#"{"items":[{"memberId":"m1"}],"nextPageToken":""}"#;
        for format in [Format::Jsonl, Format::Csv, Format::Parquet] {
            let (d, _) = decoder(format, &attrs).unwrap();
            let page = FormatDecoder(d).decode(body).unwrap();
            assert_eq!((page.items, page.next_page_token), (1, None), "{format:?}");
        }
        let layout = crate::page::arrow::ArrowLayout::new(&[]);
        let page = PageDecoder::decode(&layout, body).unwrap();
        assert_eq!((page.items, page.next_page_token), (1, None));
    }

    #[test]
    fn jsonl_keeps_items_verbatim() {
        let body = br#"{"items":[{"memberId":"m1","x":12.50,"attributes":{"city":"S\u00e3o"}},
 {"memberId":"m2",
  "n":null}],"nextPageToken":"c1","extra":1}"#;
        let (out, n, next) = page_to_jsonl(body).unwrap();
        assert_eq!(n, 2);
        assert_eq!(next.as_deref(), Some("c1"));
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"memberId":"m1","x":12.50,"attributes":{"city":"S\u00e3o"}}"#,
                r#"{"memberId":"m2",  "n":null}"#
            ]
        );
        let (out, n, next) = page_to_jsonl(br#"{"items":[],"nextPageToken":null}"#).unwrap();
        assert!(out.is_empty() && n == 0 && next.is_none());
    }

    #[test]
    fn jsonl_refuses_broken_pages() {
        for body in [
            &br#"{"items":[{"memberId":"m1""#[..],
            br#"{"items":[1]}"#,
            br#"{"nextPageToken":null}"#,
            b"<html>",
        ] {
            let e = page_to_jsonl(body).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Server);
        }
    }

    #[test]
    fn checkpoint_roundtrip_and_atomic_store() {
        let dir = std::env::temp_dir().join(format!("cxone-cp-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cp.json");
        assert_eq!(Checkpoint::load(&path).unwrap(), None);
        let cp = Checkpoint {
            version: CHECKPOINT_VERSION,
            fingerprint: Fingerprint {
                audience_id: "a".into(),
                filters: vec!["city=Rock & Roll".into()],
                limit: 10,
                format: "jsonl".into(),
            },
            next_cursor: Some("c".into()),
            listing_done: false,
            members: 20,
            pages: 2,
            temp_path: dir.join("out.jsonl.part"),
            bytes: 123,
        };
        cp.store(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(cp));
        assert!(!sibling(&path, ".tmp").exists());
        fs::write(&path, b"{}").unwrap();
        assert_eq!(
            Checkpoint::load(&path).unwrap_err().kind,
            ErrorKind::Validation
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn formats() {
        assert_eq!(Format::parse("JSONL").unwrap(), Format::Jsonl);
        assert_eq!(Format::parse("parquet").unwrap(), Format::Parquet);
        assert!(Format::parse("xml").is_err());
    }

    async fn sim_client(members: usize) -> (cxone_cdp_simulator::Simulator, Client) {
        let cfg = cxone_cdp_simulator::SimConfig {
            members,
            ..Default::default()
        };
        let sim = cxone_cdp_simulator::Simulator::start(cfg, 0).await.unwrap();
        let c = crate::config::Config::new(sim.base_url(), "sim-client", "sim-secret");
        let client = Client::new(c).unwrap();
        (sim, client)
    }

    fn read_ids(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["memberId"].as_str().unwrap().to_string()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jsonl_export_stops_and_resumes_exactly() {
        use crate::filter::{Filter, Operator, Value};
        let (sim, client) = sim_client(2_500).await;
        let dir = std::env::temp_dir().join(format!("cxone-exp-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("m.jsonl");
        let cp = dir.join("cp.json");
        let filters = vec![Filter::new("lifetime_value", Operator::Gt, Value::Int(100))];
        let req = ExportRequest {
            query: Query::new(cxone_cdp_simulator::AUDIENCE_ID, filters.clone(), 100),
            format: Format::Jsonl,
            output: out.clone(),
            checkpoint: Some(cp.clone()),
            resume: true,
        };
        // Stop after 3 pages: no final file, a checkpoint, a partial file.
        let e = export(&client, req.clone(), |p| {
            if p.pages == 3 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        })
        .await
        .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("interrupted"));
        assert!(!out.exists());
        let saved = Checkpoint::load(&cp).unwrap().unwrap();
        assert_eq!((saved.pages, saved.members), (3, 300));
        // Garbage past the recorded length is cut off on resume.
        let mut f = OpenOptions::new()
            .append(true)
            .open(&saved.temp_path)
            .unwrap();
        f.write_all(b"{\"memberId\":\"half").unwrap();
        drop(f);
        // A different query may not resume this checkpoint.
        let mut other = req.clone();
        other.query.limit = 50;
        let e = export(&client, other, |_| Flow::Continue)
            .await
            .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("checkpoint_mismatch"));
        let s = export(&client, req, |_| Flow::Continue).await.unwrap();
        assert_eq!(s.resumed_members, 300);
        let expected: Vec<String> = sim
            .expected_members(cxone_cdp_simulator::AUDIENCE_ID, &["lifetime_value>100"])
            .unwrap()
            .iter()
            .map(|m| m["memberId"].as_str().unwrap().to_string())
            .collect();
        assert!(expected.len() > 300);
        assert_eq!(read_ids(&out), expected);
        assert_eq!(s.members as usize, expected.len());
        assert!(!cp.exists());
        assert!(!saved.temp_path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_export_without_checkpoint_leaves_nothing() {
        let (_sim, client) = sim_client(100).await;
        let dir = std::env::temp_dir().join(format!("cxone-exp-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("m.jsonl");
        let req = ExportRequest {
            query: Query::new("no-such-audience", vec![], 10),
            format: Format::Jsonl,
            output: out.clone(),
            checkpoint: None,
            resume: false,
        };
        let e = export(&client, req, |_| Flow::Continue).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn csv_and_parquet_exports_resume_to_the_full_listing() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let (sim, client) = sim_client(1_050).await;
        let dir = std::env::temp_dir().join(format!("cxone-exp-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let want: Vec<String> = sim
            .expected_members(cxone_cdp_simulator::AUDIENCE_ID, &[])
            .unwrap()
            .iter()
            .map(|m| m["memberId"].as_str().unwrap().to_string())
            .collect();
        for format in [Format::Csv, Format::Parquet] {
            let out = dir.join(format!("m.{}", format.name()));
            let cp = dir.join(format!("{}.cp", format.name()));
            let req = ExportRequest {
                query: Query::new(cxone_cdp_simulator::AUDIENCE_ID, vec![], 100),
                format,
                output: out.clone(),
                checkpoint: Some(cp.clone()),
                resume: true,
            };
            let stop = |p: &Progress| {
                if p.pages == 4 {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            };
            export(&client, req.clone(), stop).await.unwrap_err();
            assert!(!out.exists());
            let s = export(&client, req, |_| Flow::Continue).await.unwrap();
            assert_eq!((s.members, s.resumed_members), (1_050, 400));
            let got: Vec<String> = match format {
                Format::Csv => {
                    let text = fs::read_to_string(&out).unwrap();
                    let mut lines = text.lines();
                    assert_eq!(
                        lines.next().unwrap(),
                        "memberId,joinedAt,lifecycle_stage,last_purchase_date,city,lifetime_value,is_vip"
                    );
                    lines
                        .map(|l| l.split(',').next().unwrap().to_string())
                        .collect()
                }
                _ => {
                    let reader =
                        ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap())
                            .unwrap()
                            .build()
                            .unwrap();
                    let mut ids = Vec::new();
                    for b in reader {
                        let b = b.unwrap();
                        let col = b
                            .column(0)
                            .as_any()
                            .downcast_ref::<arrow_array::StringArray>()
                            .unwrap();
                        ids.extend(col.iter().map(|v| v.unwrap().to_string()));
                    }
                    ids
                }
            };
            assert_eq!(got, want, "{format:?}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
