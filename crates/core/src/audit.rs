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

/// A process-wide capturing logger for unit tests: records are kept per
/// thread, so parallel tests only see their own (use a current-thread runtime
/// in async tests).
#[cfg(test)]
pub(crate) mod test_log {
    use std::sync::{Mutex, OnceLock};
    use std::thread::ThreadId;

    #[derive(Debug, Clone)]
    pub struct Captured {
        pub target: String,
        pub level: log::Level,
        pub message: String,
    }

    struct Capture(Mutex<Vec<(ThreadId, Captured)>>);

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, r: &log::Record<'_>) {
            let c = Captured {
                target: r.target().to_owned(),
                level: r.level(),
                message: r.args().to_string(),
            };
            let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
            v.push((std::thread::current().id(), c));
        }
        fn flush(&self) {}
    }

    static LOGGER: OnceLock<&'static Capture> = OnceLock::new();

    fn logger() -> &'static Capture {
        LOGGER.get_or_init(|| {
            let l: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
            let _ = log::set_logger(l);
            log::set_max_level(log::LevelFilter::Trace);
            l
        })
    }

    /// Starts capturing for this thread (drops what it captured before).
    pub fn start() {
        let me = std::thread::current().id();
        logger()
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _)| *t != me);
    }

    /// What this thread logged since `start`.
    pub fn take() -> Vec<Captured> {
        let me = std::thread::current().id();
        let mut v = logger().0.lock().unwrap_or_else(|e| e.into_inner());
        let (mine, rest): (Vec<_>, Vec<_>) = v.drain(..).partition(|(t, _)| *t == me);
        *v = rest;
        mine.into_iter().map(|(_, c)| c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn emits_one_info_line_on_audit_target() {
        test_log::start();
        let sink = AuditSink::new(None);
        let r = record(AuditStatus::Failure, 0);
        sink.emit(&r);
        let logs: Vec<_> = test_log::take()
            .into_iter()
            .filter(|c| c.target == AUDIT_TARGET)
            .collect();
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!(logs[0].level, log::Level::Info);
        let back: AuditRecord = serde_json::from_str(&logs[0].message).unwrap();
        assert_eq!(back, r);
    }

    const FIELDS: [&str; 9] = [
        "auditId",
        "timestamp",
        "queryId",
        "audienceId",
        "filterCount",
        "status",
        "latencyMs",
        "recordCount",
        "complianceFlag",
    ];

    fn tmp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cxone-audit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn record(status: AuditStatus, n: u64) -> AuditRecord {
        AuditRecord::new(
            Some("QRY-001"),
            "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            2,
            status,
            Duration::from_micros(12_500),
            n,
        )
    }

    #[test]
    fn json_has_every_field_and_nothing_else() {
        for status in [AuditStatus::Success, AuditStatus::Failure] {
            let r = record(status, 42);
            let v: serde_json::Value = serde_json::from_str(&r.to_json_line()).unwrap();
            let obj = v.as_object().unwrap();
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut want = FIELDS.to_vec();
            want.sort_unstable();
            assert_eq!(keys, want);
            assert_eq!(v["queryId"], "QRY-001");
            assert_eq!(v["filterCount"], 2);
            assert_eq!(v["latencyMs"], 12.5);
            assert_eq!(v["recordCount"], 42);
            assert_eq!(v["complianceFlag"], COMPLIANCE_FLAG);
            assert_eq!(
                v["status"],
                if status == AuditStatus::Success {
                    "SUCCESS"
                } else {
                    "FAILURE"
                }
            );
            assert!(v["auditId"].as_str().unwrap().starts_with("AUD-"));
            let ts = v["timestamp"].as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
            // round trip
            let back: AuditRecord = serde_json::from_value(v).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn missing_query_id_is_null_not_absent() {
        let r = AuditRecord::new(None, "aud", 0, AuditStatus::Success, Duration::ZERO, 0);
        let v: serde_json::Value = serde_json::from_str(&r.to_json_line()).unwrap();
        assert!(v.as_object().unwrap().contains_key("queryId"));
        assert!(v["queryId"].is_null());
    }

    #[test]
    fn audit_ids_are_unique() {
        let a = record(AuditStatus::Success, 1);
        let b = record(AuditStatus::Success, 1);
        assert_ne!(a.audit_id, b.audit_id);
    }

    #[test]
    fn file_gets_one_parseable_line_per_record() {
        let path = tmp_path("audit.jsonl");
        std::fs::write(&path, "{\"pre\":\"existing\"}\n").unwrap();
        let sink = AuditSink::new(Some(path.clone()));
        let records: Vec<_> = (0..5)
            .map(|i| {
                record(
                    if i % 2 == 0 {
                        AuditStatus::Success
                    } else {
                        AuditStatus::Failure
                    },
                    i,
                )
            })
            .collect();
        for r in &records {
            assert!(sink.emit(r));
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "appended, existing content kept");
        assert_eq!(lines[0], "{\"pre\":\"existing\"}");
        for (line, r) in lines[1..].iter().zip(&records) {
            let back: AuditRecord = serde_json::from_str(line).unwrap();
            assert_eq!(&back, r);
        }
        assert!(text.ends_with('\n'));
        assert_eq!((sink.records(), sink.write_errors()), (5, 0));
        // a second sink on the same file appends too
        let sink2 = AuditSink::new(Some(path.clone()));
        sink2.emit(&records[0]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 7);
    }

    #[test]
    fn concurrent_writers_do_not_interleave() {
        let path = tmp_path("audit.jsonl");
        let sink = Arc::new(AuditSink::new(Some(path.clone())));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..100u64 {
                        // long audience ids make interleaving likely if unguarded
                        let aud = format!("{t}-{}", "x".repeat(2000));
                        let r = AuditRecord::new(
                            Some(&format!("Q{t}-{i}")),
                            &aud,
                            1,
                            AuditStatus::Success,
                            Duration::from_millis(i),
                            i,
                        );
                        assert!(sink.emit(&r));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut ids = std::collections::HashSet::new();
        for line in text.lines() {
            let r: AuditRecord = serde_json::from_str(line).expect("whole JSON line");
            assert!(ids.insert(r.query_id.unwrap()));
        }
        assert_eq!(ids.len(), 800);
    }

    #[test]
    fn io_error_is_counted_not_raised() {
        // a directory as the file path cannot be opened for appending
        let dir = tmp_path("d");
        std::fs::create_dir_all(&dir).unwrap();
        let sink = AuditSink::new(Some(dir));
        assert!(!sink.emit(&record(AuditStatus::Success, 1)));
        assert!(!sink.emit(&record(AuditStatus::Failure, 0)));
        assert_eq!((sink.records(), sink.write_errors()), (2, 2));
    }

    #[test]
    fn no_path_only_logs() {
        let sink = AuditSink::new(None);
        assert!(sink.emit(&record(AuditStatus::Success, 3)));
        assert_eq!((sink.records(), sink.write_errors()), (1, 0));
        assert!(sink.path().is_none());
    }
}
