//! The pagination walk asks for the next page on the cursor a body names
//! while that body is decoded. These tests hold it to what it promises: the
//! overlap happens (while the consumer waits, and only then), a request
//! made on a wrong hint never shows in the result (nor its error), it never
//! runs more than two pages ahead, and a right hint costs no request.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::mock_api::{api_error, ids, ok, page, serve, Mock, Reply, AUD};
use cxone_cdp_core::api::Query;
use cxone_cdp_core::error::Result;
use cxone_cdp_core::page::{Decoded, JsonPages, PageDecoder};
use cxone_cdp_core::paginate::Demand;
use futures_util::StreamExt;

fn unfiltered() -> Query {
    Query::new(AUD, vec![], 2)
}

/// `pages` pages of two members each, `p1` ... `p{pages-1}` as cursors.
fn paged(pages: u32) -> impl Fn(&str, u64, &str) -> Reply {
    move |pq, _, _| {
        let k: u32 = pq
            .split("cursor=p")
            .nth(1)
            .map_or(0, |c| c.parse().unwrap());
        let next = (k + 1 < pages).then(|| format!("p{}", k + 1));
        ok(&page(&[2 * k + 1, 2 * k + 2], next.as_deref()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_asked_for_on_a_wrong_hint_is_dropped_with_its_error() {
    // The first answer names cursor "wrong" but is refused (a member has no
    // memberId), so it is asked for again; the retry names "right". The
    // page asked for on "wrong" fails, and neither it nor its error shows.
    let first = AtomicBool::new(true);
    let (client, mock) = serve(move |pq, _, _| {
        if pq.contains("cursor=wrong") {
            api_error(400, "invalid_cursor", "no such cursor")
        } else if pq.contains("cursor=right") {
            ok(&page(&[3], None))
        } else if first.swap(false, Ordering::SeqCst) {
            ok(r#"{"items":[{"memberId":"m1"},{"id":2}],"nextPageToken":"wrong"}"#)
        } else {
            ok(&page(&[1, 2], Some("right")))
        }
    })
    .await;
    let members = client.members(unfiltered()).await.unwrap();
    assert_eq!(ids(&members), ["m1", "m2", "m3"]);
    let seen = mock.seen.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|p| !p.contains("cursor=")).count(), 2);
    assert_eq!(
        seen.iter().filter(|p| p.contains("cursor=right")).count(),
        1
    );
}

/// Decodes like [`JsonPages`], but the decode of the first page waits
/// (up to `patience`) until the server has been asked for the second.
struct WaitsForPageTwo {
    mock: Arc<Mock>,
    patience: Duration,
    overlapped: AtomicBool,
}

impl WaitsForPageTwo {
    fn new(mock: &Arc<Mock>, patience: Duration) -> Arc<WaitsForPageTwo> {
        Arc::new(WaitsForPageTwo {
            mock: mock.clone(),
            patience,
            overlapped: AtomicBool::new(false),
        })
    }
}

impl PageDecoder for WaitsForPageTwo {
    type Output = Vec<cxone_cdp_core::page::Json>;
    fn decode(&self, body: &[u8]) -> Result<Decoded<Self::Output>> {
        let page = JsonPages.decode(body)?;
        if page.next_page_token.as_deref() == Some("p1") {
            let deadline = Instant::now() + self.patience;
            while Instant::now() < deadline {
                if self
                    .mock
                    .seen
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|p| p.contains("cursor=p1"))
                {
                    self.overlapped.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(page)
    }
}

/// Walks `paged(3)` with `demand`; whether page 2 was asked for while page 1
/// decoded (waiting up to `patience` for it).
async fn overlapped(demand: Demand, patience: Duration) -> bool {
    let (client, mock) = serve(paged(3)).await;
    let decoder = WaitsForPageTwo::new(&mock, patience);
    let p = client.prepare(unfiltered()).await.unwrap();
    let pages: Vec<_> = client
        .pages_paced(p, None, decoder.clone(), demand)
        .collect()
        .await;
    let members: Vec<_> = pages.into_iter().flat_map(|p| p.unwrap().data).collect();
    assert_eq!(ids(&members), ["m1", "m2", "m3", "m4", "m5", "m6"]);
    assert_eq!(mock.api.load(Ordering::SeqCst), 3);
    decoder.overlapped.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_page_is_asked_for_while_a_page_decodes() {
    // A consumer reading the walk itself, and one behind a prefetch that
    // waits for its page.
    assert!(overlapped(Demand::eager(), Duration::from_secs(5)).await);
    let demand = Demand::counted();
    let _waiting = demand.park();
    assert!(overlapped(demand.clone(), Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_consumer_gets_one_page_at_a_time() {
    let demand = Demand::counted();
    assert!(!overlapped(demand.clone(), Duration::from_millis(300)).await);
    // Once the consumer waits, the walk overlaps again.
    let waiting = demand.park();
    assert!(overlapped(demand.clone(), Duration::from_secs(5)).await);
    drop(waiting);
    assert!(!demand.waiting());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walk_runs_at_most_two_pages_ahead_and_wastes_nothing() {
    let (client, mock) = serve(paged(20)).await;
    let p = client.prepare(unfiltered()).await.unwrap();
    let mut pages = std::pin::pin!(client.pages_with(p, None, Arc::new(JsonPages)));
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(ids(&first.data), ["m1", "m2"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = mock.api.load(Ordering::SeqCst);
    assert!((2..=3).contains(&asked), "{asked} pages asked for");
    let rest: Vec<_> = pages.collect().await;
    assert_eq!(rest.len(), 19);
    assert!(rest.iter().all(|p| p.is_ok()));
    // Every cursor hint was right: each page was asked for once.
    assert_eq!(mock.api.load(Ordering::SeqCst), 20);
}

#[tokio::test]
async fn on_a_current_thread_runtime_the_walk_still_reads_every_page() {
    let (client, mock) = serve(paged(5)).await;
    let members = client.members(unfiltered()).await.unwrap();
    assert_eq!(members.len(), 10);
    assert_eq!(mock.api.load(Ordering::SeqCst), 5);
}
