//! Many callers at once on one client.

use cxone_cdp_core::api::Client;

/// What `callers` concurrent counts of `audience` (no filter) on clones of
/// `client` return, in spawn order; panics if any of them fails.
pub async fn counts(client: &Client, callers: usize, audience: &str) -> Vec<u64> {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let c = client.clone();
            let audience = audience.to_string();
            tokio::spawn(async move { c.count(&audience, &[]).await })
        })
        .collect();
    let mut out = Vec::with_capacity(callers);
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}
