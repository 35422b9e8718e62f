//! Rough timing of the core alone (no Python), ignored by default: `cargo
//! test --release -p cxone-cdp-core --test core_walk_timing -- --ignored
//! --nocapture`. It prints; it asserts nothing about speed.

use cxone_cdp_core::api::{Client, Query};
use cxone_cdp_core::config::Config;
use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn core_walk_timing() {
    let cfg = cxone_cdp_simulator::SimConfig {
        members: 100_000,
        ..Default::default()
    };
    let sim = cxone_cdp_simulator::Simulator::start(cfg, 0).await.unwrap();
    let mut c = Config::new(sim.base_url(), "sim-client", "sim-secret");
    c.token_url = Some(format!("{}/oauth/token", sim.base_url()));
    let client = Client::new(c).unwrap();
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
