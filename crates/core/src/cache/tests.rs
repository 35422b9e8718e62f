use super::*;
use std::thread;

fn body(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn manual(capacity: usize, ttl_secs: u64) -> (ResponseCache, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let cache = ResponseCache::with_clock(capacity, Duration::from_secs(ttl_secs), clock.clone());
    (cache, clock)
}

const PQ: &str = "/api/v2/audiences/a/members?limit=100";

/// A cache of 4 entries with a manual clock, holding `b` under the key
/// of [`PQ`].
fn holding(ttl_secs: u64, b: &str) -> (ResponseCache, Arc<ManualClock>, CacheKey) {
    let (cache, clock) = manual(4, ttl_secs);
    let k = key("http://h", "c", PQ);
    cache.put(k, body(b));
    (cache, clock, k)
}

#[test]
fn key_depends_on_every_part() {
    let base = key("http://h", "c", PQ);
    assert_eq!(base, key("http://h", "c", PQ));
    assert_eq!(base, key("http://h/", "c", PQ), "trailing slash ignored");
    assert_ne!(base, key("http://other", "c", PQ));
    assert_ne!(base, key("http://h", "c2", PQ));
    assert_ne!(base, key("http://h", "c", &format!("{PQ}&cursor=x")));
    // length prefixes: moving a boundary changes the key
    assert_ne!(key("http://h", "ca", "b"), key("http://h", "c", "ab"));
}

#[test]
fn key_holds_no_request_text() {
    let k = key("http://h", "client-xyz", "/secretive?filter=city%3DParis");
    let dbg = format!("{k:?}");
    assert!(!dbg.contains("client-xyz") && !dbg.contains("Paris"));
    assert_eq!(dbg.len(), "CacheKey()".len() + 32);
}

#[test]
fn hit_and_miss_are_counted() {
    let (cache, _) = manual(4, 60);
    let k = key("http://h", "c", PQ);
    assert_eq!(cache.get(&k), None);
    cache.put(k, body("page1"));
    assert_eq!(cache.get(&k), Some(body("page1")));
    assert_eq!(cache.get(&k), Some(body("page1")));
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.entries, s.bytes), (2, 1, 1, 5));
    assert_eq!((s.capacity, s.ttl_secs), (4, 60.0));
}

#[test]
fn ttl_expiry_removes_and_counts() {
    let (cache, clock, k) = holding(120, "abc");
    clock.advance(Duration::from_secs(119));
    assert!(cache.get(&k).is_some(), "still fresh at 119 s");
    clock.advance(Duration::from_secs(1));
    assert!(cache.get(&k).is_none(), "expired at 120 s");
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.expirations), (1, 1, 1));
    assert_eq!((s.entries, s.bytes), (0, 0));
    // a second get is a plain miss, not another expiration
    assert!(cache.get(&k).is_none());
    assert_eq!(cache.stats().expirations, 1);
}

#[test]
fn put_again_refreshes_ttl_and_replaces_body() {
    let (cache, clock, k) = holding(10, "old");
    clock.advance(Duration::from_secs(8));
    cache.put(k, body("newer"));
    clock.advance(Duration::from_secs(8));
    assert_eq!(cache.get(&k), Some(body("newer")));
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.evictions), (1, 5, 0));
}

#[test]
fn lru_eviction_drops_least_recently_used() {
    let (cache, _) = manual(2, 60);
    let (a, b, c) = (
        key("h", "c", "/a"),
        key("h", "c", "/b"),
        key("h", "c", "/c"),
    );
    cache.put(a, body("aa"));
    cache.put(b, body("bbb"));
    assert!(cache.get(&a).is_some()); // a is now most recently used
    cache.put(c, body("c"));
    assert!(cache.get(&b).is_none(), "b was least recently used");
    assert!(cache.get(&a).is_some());
    assert!(cache.get(&c).is_some());
    let s = cache.stats();
    assert_eq!(
        (s.evictions, s.expirations, s.entries, s.bytes),
        (1, 0, 2, 3)
    );
}

#[test]
fn full_cache_drops_expired_entry_as_expiration() {
    let (cache, clock) = manual(1, 5);
    cache.put(key("h", "c", "/a"), body("a"));
    clock.advance(Duration::from_secs(6));
    cache.put(key("h", "c", "/b"), body("b"));
    let s = cache.stats();
    assert_eq!((s.evictions, s.expirations, s.entries), (0, 1, 1));
}

#[test]
fn zero_size_or_ttl_disables() {
    for (cap, ttl) in [(0, 120), (50, 0)] {
        let (cache, _) = manual(cap, ttl);
        assert!(!cache.is_enabled());
        let k = key("h", "c", "/a");
        cache.put(k, body("x"));
        assert_eq!(cache.get(&k), None);
        let s = cache.stats();
        assert_eq!(
            (s.hits, s.misses, s.entries, s.bytes, s.capacity),
            (0, 0, 0, 0, 0)
        );
    }
}

#[test]
fn clear_empties_but_keeps_counters() {
    let (cache, _, k) = holding(60, "xyz");
    assert!(cache.get(&k).is_some());
    cache.clear();
    assert!(cache.get(&k).is_none());
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.hits, s.misses), (0, 0, 1, 1));
}

#[test]
fn defaults_match_tutorial() {
    let cache = ResponseCache::default();
    assert_eq!(cache.capacity(), 50);
    assert_eq!(cache.ttl(), Duration::from_secs(120));
}

#[test]
fn ttl_from_secs_validates() {
    assert_eq!(ttl_from_secs(120.0).unwrap(), Duration::from_secs(120));
    assert_eq!(ttl_from_secs(0.0).unwrap(), Duration::ZERO);
    assert_eq!(ttl_from_secs(0.25).unwrap(), Duration::from_millis(250));
    for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
        let e = ttl_from_secs(bad).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Validation);
    }
}

#[test]
fn concurrent_use_keeps_accounting_consistent() {
    let cache = Arc::new(ResponseCache::new(16, Duration::from_secs(60)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                let mut gets = 0u64;
                for i in 0..500u32 {
                    let k = key("h", "c", &format!("/p{}", (i * 7 + t) % 40));
                    if cache.get(&k).is_none() {
                        cache.put(k, Bytes::from(vec![b'x'; (i % 13 + 1) as usize]));
                    }
                    gets += 1;
                }
                gets
            })
        })
        .collect();
    let gets: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let s = cache.stats();
    assert_eq!(s.hits + s.misses, gets);
    assert!(s.entries <= 16);
    assert!(s.evictions > 0 && s.hits > 0);
    // bytes must equal the real sum of what is held
    let inner = cache.lock().unwrap();
    let real: u64 = inner.lru.iter().map(|(_, e)| e.body.len() as u64).sum();
    assert_eq!(real, s.bytes);
}

#[test]
fn shared_across_tokio_tasks() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let cache = ResponseCache::shared(8, Duration::from_secs(60));
    rt.block_on(async {
        let mut handles = Vec::new();
        for t in 0..4 {
            let cache = cache.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..50 {
                    let k = key("h", "c", &format!("/{t}/{i}"));
                    cache.put(k, body("x"));
                    tokio::task::yield_now().await;
                    let _ = cache.get(&k);
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
    });
    let s = cache.stats();
    assert_eq!(s.hits + s.misses, 200);
    assert_eq!(s.entries, 8);
}

#[test]
fn the_byte_bound_evicts_least_recently_used_entries() {
    let cache =
        ResponseCache::with_clock(10, Duration::from_secs(60), Arc::new(ManualClock::new()))
            .with_max_bytes(10);
    let (a, b, c) = (
        key("h", "c", "/a"),
        key("h", "c", "/b"),
        key("h", "c", "/c"),
    );
    cache.put(a, body("aaaa"));
    cache.put(b, body("bbbb"));
    cache.put(c, body("cccc"));
    assert!(cache.get(&a).is_none(), "a went to make room");
    assert!(cache.get(&b).is_some() && cache.get(&c).is_some());
    let s = cache.stats();
    assert_eq!(
        (s.entries, s.bytes, s.max_bytes, s.evictions),
        (2, 8, 10, 1)
    );
    // An answer bigger than the whole budget is not kept, and drops nothing.
    let big = key("h", "c", "/big");
    cache.put(big, body("0123456789x"));
    assert!(cache.get(&big).is_none());
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.evictions), (2, 8, 1));
}

#[test]
fn decoded_forms_are_kept_beside_the_body_and_counted() {
    let (cache, _) = manual(4, 60);
    let k = key("h", "c", "/a");
    cache.put(k, body("page"));
    match cache.lookup(&k, 7) {
        Some(Cached::Body(b)) => assert_eq!(b, body("page")),
        _ => panic!("expected the body"),
    }
    cache.add_form(&k, 7, Arc::new(42u32), 100);
    match cache.lookup(&k, 7) {
        Some(Cached::Decoded(v)) => assert_eq!(v.downcast_ref::<u32>(), Some(&42)),
        _ => panic!("expected the decoded form"),
    }
    // Another form of the same body has not been decoded yet.
    assert!(matches!(cache.lookup(&k, 8), Some(Cached::Body(_))));
    assert_eq!(cache.get(&k), Some(body("page")));
    let s = cache.stats();
    assert_eq!(
        (s.bytes, s.decoded_bytes, s.hits, s.misses),
        (104, 100, 4, 0)
    );

    let k2 = key("h", "c", "/b");
    cache.put_form(k2, body("xy"), 7, Arc::new(1u8), 10);
    assert!(matches!(cache.lookup(&k2, 7), Some(Cached::Decoded(_))));
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.decoded_bytes), (2, 116, 110));
    // Replacing an entry forgets its forms.
    cache.put(k, body("page"));
    assert!(matches!(cache.lookup(&k, 7), Some(Cached::Body(_))));
    assert_eq!(cache.stats().decoded_bytes, 10);
    cache.clear();
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.decoded_bytes), (0, 0, 0));
}

#[test]
fn a_form_that_would_overflow_the_bound_is_not_added() {
    let cache = ResponseCache::with_clock(4, Duration::from_secs(60), Arc::new(ManualClock::new()))
        .with_max_bytes(50);
    let k = key("h", "c", "/a");
    cache.put(k, body("0123456789"));
    cache.add_form(&k, 1, Arc::new(()), 100);
    assert!(matches!(cache.lookup(&k, 1), Some(Cached::Body(_))));
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.decoded_bytes), (1, 10, 0));
}

#[test]
fn expiry_and_eviction_forget_decoded_bytes() {
    let (cache, clock) = manual(1, 5);
    let (a, b) = (key("h", "c", "/a"), key("h", "c", "/b"));
    cache.put_form(a, body("a"), 1, Arc::new(()), 20);
    cache.put_form(b, body("b"), 1, Arc::new(()), 30);
    let s = cache.stats();
    assert_eq!(
        (s.entries, s.bytes, s.decoded_bytes, s.evictions),
        (1, 31, 30, 1)
    );
    clock.advance(Duration::from_secs(6));
    assert!(cache.lookup(&b, 1).is_none());
    let s = cache.stats();
    assert_eq!(
        (s.entries, s.bytes, s.decoded_bytes, s.expirations),
        (0, 0, 0, 1)
    );
}

#[test]
fn the_default_byte_bound_and_a_zero_bound() {
    let cache = ResponseCache::default();
    assert_eq!(cache.max_bytes(), DEFAULT_CACHE_BYTES);
    assert_eq!(cache.stats().max_bytes, DEFAULT_CACHE_BYTES as u64);
    let off = ResponseCache::new(50, Duration::from_secs(60)).with_max_bytes(0);
    assert!(!off.is_enabled());
    assert_eq!((off.stats().capacity, off.stats().max_bytes), (0, 0));
}
