use super::*;

fn decoders() -> Vec<(Format, FormatDecoder)> {
    [Format::Jsonl, Format::Csv, Format::Parquet]
        .into_iter()
        .map(|f| (f, FormatDecoder::new(f, ArrowLayout::new(&[])).unwrap()))
        .collect()
}

#[test]
fn empty_cursor_ends_the_listing_in_every_format() {
    // `"nextPageToken": ""` once ended the dict path but was followed as a
    // cursor by the export and Arrow paths (found by the fuzz corpus).
    use crate::page::PageDecoder;
    let body = br#"{"items":[{"memberId":"m1"}],"nextPageToken":""}"#;
    for (format, d) in decoders() {
        let page = d.decode(body).unwrap();
        assert_eq!((page.items, page.next_page_token), (1, None), "{format:?}");
    }
}

#[test]
fn every_format_refuses_a_json_array_page() {
    // The JSONL splitter once read the envelope with serde on its own,
    // which takes an array as the page's fields in order.
    use crate::page::PageDecoder;
    let body = br#"[[{"memberId":"m1"}], null]"#;
    for (format, d) in decoders() {
        let e = d.decode(body).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server, "{format:?}");
        assert_eq!(e.code.as_deref(), Some("invalid_response"), "{format:?}");
    }
    assert!(page_to_jsonl(body).is_err());
}

#[test]
fn headers_per_format() {
    let layout = ArrowLayout::new(&[("city".to_string(), crate::filter::AttrType::String)]);
    let csv = FormatDecoder::new(Format::Csv, layout.clone()).unwrap();
    assert_eq!(csv.header(), b"memberId,joinedAt,city\n");
    let jsonl = FormatDecoder::new(Format::Jsonl, layout.clone()).unwrap();
    assert!(jsonl.header().is_empty());
    let ipc = FormatDecoder::new(Format::Parquet, layout).unwrap();
    assert!(!ipc.header().is_empty());
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
        br#"{"items":[{"x":1}]}"#,
        br#"{"items":[{"memberId":"m","n":1e400}]}"#,
        br#"{"items":[{"memberId":"m","s":"\ud800"}]}"#,
        br#"{"items":[],"items":[]}"#,
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
                let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap())
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
