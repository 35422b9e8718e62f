//! A members page body, as the server sends it, through every decoder that
//! reads one: the dict path's tape, the `Json` tree, Arrow, and the export's
//! JSONL, CSV and Parquet (staged Arrow IPC) decoders, each as the paginator
//! runs it. The check is the one the proptest suites run
//! (`crates/core/tests/page_differential`): no decoder may panic; they all
//! accept or all refuse the body (as the serde_json oracle says, refusing
//! with a `Server` / `invalid_response` error); and when they accept, they
//! agree on the member count and the cursor (never an empty one), the tape
//! and the tree hold the values serde_json read, and every output reads
//! back to the same members.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/core/tests/page_differential/mod.rs"]
mod page_differential;

fuzz_target!(|body: &[u8]| {
    static DECODERS: OnceLock<page_differential::Decoders> = OnceLock::new();
    DECODERS.get_or_init(page_differential::Decoders::new).check(body);
});
