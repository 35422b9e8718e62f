//! Exporting a whole members listing to a file, end to end in Rust: pages
//! are fetched and decoded (on the runtime's workers, at most four pages
//! ahead) while the previous page is written, so memory stays bounded for
//! any audience size and no Python runs per member.
//!
//! Formats ([`format`]): JSONL (each member exactly as the API sent it, one
//! per line, unknown fields kept), CSV and Parquet (the Arrow layout of
//! `crate::page::arrow::ArrowLayout`: `memberId`, `joinedAt`, then one column
//! per attribute in schema order).
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

use crate::api::{Client, Prepared, Query};
use crate::error::{Error, ErrorKind, Result};
use crate::page::arrow::ArrowLayout;
use crate::paginate::Prefetch;

pub mod format;

use format::columnar;
pub use format::{page_to_jsonl, Format, FormatDecoder};

/// Checkpoint file format version.
const CHECKPOINT_VERSION: u32 = 1;
/// Pages decoded ahead of the writer.
const PREFETCH: usize = 2;

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

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .map_err(|e| io_error("write the output", &self.path, e))?;
        self.bytes += data.len() as u64;
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
    let decode = FormatDecoder::new(req.format, ArrowLayout::from_attributes(&attrs))?;

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
            sink.write(decode.header())?;
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
            let decode = std::sync::Arc::new(decode);
            let cursor = state.next_cursor.clone();
            let pages = Prefetch::spawn(
                &tokio::runtime::Handle::current(),
                PREFETCH,
                |demand| {
                    let stream = client.pages_paced(prepared, cursor, decode, demand);
                    async move { Ok(stream) }
                },
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
mod tests;
