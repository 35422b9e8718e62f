//! Rough timing of the core alone (no Python), ignored by default: `cargo
//! test --release -p cxone-cdp-core --test core_walk_timing -- --ignored
//! --nocapture`. It prints; it asserts nothing about speed.

use cxone_cdp_core::api::{Client, Query};
use cxone_cdp_core::config::Config;
use futures_util::StreamExt;

/// A simulator of 100,000 members.
async fn simulator() -> cxone_cdp_simulator::Simulator {
    let cfg = cxone_cdp_simulator::SimConfig {
        members: 100_000,
        ..Default::default()
    };
    cxone_cdp_simulator::Simulator::start(cfg, 0).await.unwrap()
}

/// A client of `sim` whose response cache holds `cache_size` pages.
fn client(sim: &cxone_cdp_simulator::Simulator, cache_size: usize) -> Client {
    let mut c = Config::new(sim.base_url(), "sim-client", "sim-secret");
    c.token_url = Some(format!("{}/oauth/token", sim.base_url()));
    c.cache_size = cache_size;
    Client::new(c).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn core_walk_timing() {
    let sim = simulator().await;
    let client = client(&sim, cxone_cdp_core::cache::DEFAULT_CACHE_SIZE);
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let p = client
            .prepare(Query::new(cxone_cdp_simulator::AUDIENCE_ID, vec![], 1000))
            .await
            .unwrap();
        let mut pages = std::pin::pin!(client.pages(p, None));
        let mut n = 0;
        while let Some(pg) = pages.next().await {
            n += pg.unwrap().items.len();
        }
        println!("core walk: {n} members in {:?}", t.elapsed());
    }
}

/// The cursor alone (what the walk needs to go on), so the walk's time is
/// the network's and the simulator's.
struct CursorOnly;

impl cxone_cdp_core::page::PageDecoder for CursorOnly {
    type Output = ();
    fn decode(
        &self,
        body: &[u8],
    ) -> cxone_cdp_core::error::Result<cxone_cdp_core::page::Decoded<()>> {
        Ok(cxone_cdp_core::page::Decoded {
            data: (),
            next_page_token: cxone_cdp_core::page::envelope::cursor_hint(body),
            items: 0,
        })
    }
}

/// The Arrow walk against the same walk that only reads cursors (how much
/// of the decode the overlap with the next page's fetch hides), and with
/// the response cache filled (a client whose cache keeps every page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn arrow_walk_against_the_cursor_walk() {
    use cxone_cdp_core::page::arrow::ArrowLayout;
    use std::sync::Arc;
    let sim = simulator().await;
    let (plain, cached) = (
        client(&sim, 0),
        client(&sim, cxone_cdp_core::cache::DEFAULT_CACHE_SIZE),
    );
    let layout = Arc::new(ArrowLayout::from_attributes(
        &plain.attributes().await.unwrap(),
    ));
    cached.attributes().await.unwrap();
    let query = || Query::new(cxone_cdp_simulator::AUDIENCE_ID, vec![], 1000);
    let mut best = [f64::MAX; 3];
    for _ in 0..15 {
        let t = std::time::Instant::now();
        let p = plain.prepare(query()).await.unwrap();
        let pages: Vec<_> = plain
            .pages_with(p, None, Arc::new(CursorOnly))
            .collect()
            .await;
        assert_eq!(pages.len(), 100);
        best[0] = best[0].min(t.elapsed().as_secs_f64());
        for (i, client) in [(1, &plain), (2, &cached)] {
            let t = std::time::Instant::now();
            let p = client.prepare(query()).await.unwrap();
            let pages: Vec<_> = client.pages_with(p, None, layout.clone()).collect().await;
            let n: usize = pages.into_iter().map(|p| p.unwrap().items).sum();
            assert_eq!(n, 100_000);
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    println!(
        "cursor walk {:.1} ms; arrow walk {:.1} ms ({:.2}x), filling the cache {:.1} ms ({:.2}x)",
        best[0] * 1e3,
        best[1] * 1e3,
        best[1] / best[0],
        best[2] * 1e3,
        best[2] / best[0]
    );
}
