//! Audit log: one record per query, with the contract's fields only.
//!
//! An [`AuditRecord`] has no room for a secret, a token, a filter value or a
//! member attribute: it holds ids, counts, a status and a latency. The
//! [`AuditSink`] emits each record as one JSON line through the `log` crate
//! (target `cxone_cdp.audit`, level info; pyo3-log turns that into the Python
//! logger `cxone_cdp.audit`) and, when a path is configured, appends the same
//! line to that file. Writing never fails a query: an I/O error is logged
//! (target `cxone_cdp.audit`, level warn) and counted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The log target (and Python logger name) of audit records.
pub const AUDIT_TARGET: &str = "cxone_cdp.audit";
/// The compliance flag every record carries (as the tutorial).
pub const COMPLIANCE_FLAG: &str = "GDPR_SOC2_READY";

/// How a query ended (serialized as the tutorial does: `SUCCESS` / `FAILURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuditStatus {
    Success,
    Failure,
}

/// One audit record. Keys on the wire: `auditId`, `timestamp`, `queryId`,
/// `audienceId`, `filterCount`, `status`, `latencyMs`, `recordCount`,
/// `complianceFlag` (all always present; `queryId` is `null` for a query made
/// without a query id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// `AUD-<uuid v4>`, unique per record.
    pub audit_id: String,
    /// RFC 3339, UTC, millisecond precision.
    pub timestamp: String,
    pub query_id: Option<String>,
    pub audience_id: String,
    pub filter_count: usize,
    pub status: AuditStatus,
    pub latency_ms: f64,
    /// Members returned (0 on failure).
    pub record_count: u64,
    pub compliance_flag: String,
}

/// Now, as RFC 3339 in UTC with milliseconds (`2026-11-27T16:20:00.123Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl AuditRecord {
    /// A record stamped now, with a fresh audit id.
    pub fn new(
        query_id: Option<&str>,
        audience_id: &str,
        filter_count: usize,
        status: AuditStatus,
        latency: Duration,
        record_count: u64,
    ) -> Self {
        AuditRecord {
            audit_id: format!("AUD-{}", uuid::Uuid::new_v4()),
            timestamp: now_rfc3339(),
            query_id: query_id.map(str::to_owned),
            audience_id: audience_id.to_owned(),
            filter_count,
            status,
            latency_ms: latency.as_secs_f64() * 1000.0,
            record_count,
            compliance_flag: COMPLIANCE_FLAG.to_owned(),
        }
    }

    /// The record as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Only strings, integers and a finite float: serialization cannot fail.
        let mut s = serde_json::to_string(self).unwrap_or_default();
        debug_assert!(!s.contains('\n'));
        s.retain(|c| c != '\n');
        s
    }
}

/// Where audit records go: the `log` crate always, a JSON Lines file if
/// configured. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct AuditSink {
    path: Option<PathBuf>,
    /// The open file (opened lazily, reopened after an error).
    file: Mutex<Option<File>>,
    records: AtomicU64,
    write_errors: AtomicU64,
}

impl AuditSink {
    /// A sink logging only (`path == None`) or also appending to `path`. The
    /// file is created if missing and opened in append mode on first use.
    pub fn new(path: Option<PathBuf>) -> Self {
        AuditSink {
            path,
            file: Mutex::new(None),
            records: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Records emitted so far.
    pub fn records(&self) -> u64 {
        self.records.load(Relaxed)
    }

    /// Records that could not be written to the file.
    pub fn write_errors(&self) -> u64 {
        self.write_errors.load(Relaxed)
    }

    /// Emits one record. Returns `false` if the file write failed (already
    /// logged and counted); the caller only needs this to feed a metric.
    ///
    /// The file write is a small blocking append (no fsync) under a mutex; a
    /// line is written with a single `write_all` so concurrent writers never
    /// interleave, and other processes appending to the same file with
    /// `O_APPEND` get whole lines too (for lines below the pipe-buffer size).
    pub fn emit(&self, record: &AuditRecord) -> bool {
        let line = record.to_json_line();
        log::info!(target: AUDIT_TARGET, "{line}");
        self.records.fetch_add(1, Relaxed);
        let Some(path) = &self.path else {
            return true;
        };
        let mut buf = line.into_bytes();
        buf.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let result = (|| {
            if guard.is_none() {
                *guard = Some(OpenOptions::new().create(true).append(true).open(path)?);
            }
            let file = guard.as_mut().expect("opened above");
            file.write_all(&buf)?;
            file.flush()
        })();
        match result {
            Ok(()) => true,
            Err(e) => {
                // Reopen next time (the file may have been rotated away).
                *guard = None;
                drop(guard);
                self.write_errors.fetch_add(1, Relaxed);
                log::warn!(
                    target: AUDIT_TARGET,
                    "could not append audit record {} to {}: {e}",
                    record.audit_id,
                    path.display()
                );
                false
            }
        }
    }
}
