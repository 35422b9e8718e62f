//! The layers of the core, read from its sources: the transport names
//! neither auth nor the API calls nor what runs on top; auth names no API
//! call; webhook delivery sends through the transport (no `.send()` of its
//! own) and knows neither auth nor the API calls. (Doc comments may
//! mention other layers; code lines may not.)

use std::path::{Path, PathBuf};

fn sources(rel: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(rel);
    if root.is_file() {
        return vec![root];
    }
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    assert!(!out.is_empty(), "no sources under {rel}");
    out
}

/// Code lines (not comments) of the files under `rel` that name any of `banned`.
fn offending(rel: &str, banned: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for file in sources(rel) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for b in banned {
                if code.contains(b) {
                    hits.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    hits
}

#[test]
fn transport_depends_on_no_layer_above_it() {
    let above = [
        "crate::auth",
        "crate::api",
        "crate::webhook",
        "crate::completion",
        "crate::page",
        "crate::paginate",
        "crate::export",
    ];
    let hits = offending("transport", &above);
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn auth_and_webhook_delivery_sit_on_the_transport() {
    let hits = offending(
        "auth",
        &["crate::api", "crate::webhook", "crate::completion"],
    );
    assert!(hits.is_empty(), "{hits:#?}");
    let hits = offending("webhook.rs", &["crate::auth", "crate::api", ".send()"]);
    assert!(hits.is_empty(), "{hits:#?}");
}
