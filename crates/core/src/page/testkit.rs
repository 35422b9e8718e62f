//! Test helpers shared by the page decoders' unit tests.

/// A members page with one member whose field `x` nests `depth` arrays.
pub(crate) fn nested_page(depth: usize) -> String {
    format!(
        r#"{{"items":[{{"memberId":"m","x":{}{}}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

/// Decodes 100 pages of 1,000 members 15 times with `decode` (which returns
/// the members it read) and prints the best rate: the machine is shared, the
/// minimum is the signal. Run it with `--release -- --ignored --nocapture`.
pub(crate) fn print_decode_throughput(label: &str, decode: impl Fn(&[u8]) -> usize) {
    let pages: Vec<String> = (0..100)
        .map(|k| super::arrow::tests::sample_page(1000, k * 1000, Some("t")))
        .collect();
    let mb: usize = pages.iter().map(String::len).sum();
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = std::time::Instant::now();
        let n: usize = pages.iter().map(|p| decode(p.as_bytes())).sum();
        assert_eq!(n, 100_000);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{label}: {:.0} members/s, {:.0} MB/s",
        100_000.0 / best,
        mb as f64 / best / 1e6
    );
}
