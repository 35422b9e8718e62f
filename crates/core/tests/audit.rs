//! The audit record: its fields and nothing more (no secret, token or member
//! value), one info line on `cxone_cdp.audit` per query, and the JSON Lines
//! file.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::logs;
use cxone_cdp_core::audit::*;

#[test]
fn emits_one_info_line_on_audit_target() {
    logs::start();
    let sink = AuditSink::new(None);
    let r = record(AuditStatus::Failure, 0);
    sink.emit(&r);
    let logs: Vec<_> = logs::take()
        .into_iter()
        .filter(|c| c.target == AUDIT_TARGET)
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].level, log::Level::Info);
    let back: AuditRecord = serde_json::from_str(&logs[0].message).unwrap();
    assert_eq!(back, r);
}

/// The record's keys, in the contract's order.
const FIELDS: &str =
    "auditId timestamp queryId audienceId filterCount status latencyMs recordCount complianceFlag";

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
        let mut want: Vec<&str> = FIELDS.split_whitespace().collect();
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
