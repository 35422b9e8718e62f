//! The export formats: each members page body to output bytes, on the
//! runtime's workers. Every format reads the body through the one page
//! envelope reader (`crate::page::envelope`), so they accept and refuse the
//! same bodies as the dict and Arrow paths, and an empty `nextPageToken`
//! ends the listing in all of them.
//!
//! JSONL: each member exactly as the API sent it (its bytes copied from the
//! body), one per line, unknown fields kept. CSV and Parquet: the Arrow
//! layout of [`ArrowLayout`] (`memberId`, `joinedAt`, then one column per
//! attribute in schema order); Parquet is staged as an Arrow IPC stream
//! (appendable at page boundaries) and converted at the end.

use crate::error::{excerpt, Error, Result};
use crate::page::arrow::ArrowLayout;
use crate::page::envelope::{read_page, Fields, Members, Value, R};
use crate::page::{Decoded, PageDecoder};

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

/// A members page body to JSONL: each member's raw JSON on its own line,
/// byte for byte (raw CR/LF bytes, which JSON only allows as whitespace
/// between tokens, are dropped so a pretty-printed body still gives one
/// line per member). Returns the lines, the member count and the cursor.
pub fn page_to_jsonl(body: &[u8]) -> Result<(Vec<u8>, usize, Option<String>)> {
    let mut lines = Lines {
        out: Vec::with_capacity(body.len()),
        members: 0,
    };
    let next = read_page(body, &mut lines)?;
    Ok((lines.out, lines.members, next))
}

/// The JSONL decoder: reads no field (the envelope checks and skips them)
/// and copies each member's bytes.
struct Lines {
    out: Vec<u8>,
    members: usize,
}

impl<'j> Fields<'j> for Lines {
    type Key = ();
    fn key(&mut self, _: &str) {}
    fn value(&mut self, (): (), _: &mut Value<'_, 'j>) -> R<()> {
        Ok(())
    }
}

impl<'j> Members<'j> for Lines {
    fn end(&mut self, _fields: u32, raw: &'j [u8]) -> R<()> {
        if raw.contains(&b'\n') || raw.contains(&b'\r') {
            self.out
                .extend(raw.iter().filter(|b| !matches!(b, b'\n' | b'\r')));
        } else {
            self.out.extend_from_slice(raw);
        }
        self.out.push(b'\n');
        self.members += 1;
        Ok(())
    }
}

/// A format's page decoder: a body to the bytes the output gets for it.
/// It runs inside the client's pagination (`Client::pages_with`), so the
/// export shares its one state machine.
pub struct FormatDecoder {
    encode: Encode,
    header: Vec<u8>,
}

enum Encode {
    Jsonl,
    Csv(ArrowLayout),
    /// The IPC message of each batch, after the stream's schema message
    /// (of this length).
    Ipc(ArrowLayout, usize),
}

impl FormatDecoder {
    /// The decoder of `format`; CSV and Parquet have the columns of `layout`.
    pub fn new(format: Format, layout: ArrowLayout) -> Result<FormatDecoder> {
        Ok(match format {
            Format::Jsonl => FormatDecoder {
                encode: Encode::Jsonl,
                header: Vec::new(),
            },
            Format::Csv => FormatDecoder {
                header: columnar::csv_header(&layout)?,
                encode: Encode::Csv(layout),
            },
            Format::Parquet => {
                let header = columnar::ipc_header(&layout)?;
                FormatDecoder {
                    encode: Encode::Ipc(layout, header.len()),
                    header,
                }
            }
        })
    }

    /// The bytes a fresh output starts with (the CSV header line, the IPC
    /// schema message; nothing for JSONL).
    pub fn header(&self) -> &[u8] {
        &self.header
    }
}

impl PageDecoder for FormatDecoder {
    type Output = Vec<u8>;
    fn decode(&self, body: &[u8]) -> Result<Decoded<Vec<u8>>> {
        let (data, items, next_page_token) = match &self.encode {
            Encode::Jsonl => page_to_jsonl(body)?,
            Encode::Csv(layout) => {
                let page = layout.decode_page(body)?;
                let data = columnar::csv_bytes(&page.batch, false)?;
                (data, page.items, page.next_page_token)
            }
            Encode::Ipc(layout, header_len) => {
                let page = layout.decode_page(body)?;
                let data = columnar::ipc_batch(&page.batch, *header_len)?;
                (data, page.items, page.next_page_token)
            }
        };
        Ok(Decoded {
            data,
            next_page_token,
            items,
        })
    }
}

/// The Arrow side of CSV and Parquet: record batches to output bytes.
pub(super) mod columnar {
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
