//! Response cache: an LRU of raw page bodies with a time-to-live.
//!
//! The cache maps a [`CacheKey`] (a 128-bit SHA-256 digest of the tenant and
//! the full request, see [`key`]) to the raw body of a *successful* page
//! response. It never sees a token (tokens travel in headers, which are not
//! part of the key) and never stores an error: [`ResponseCache::put`] only
//! takes bodies, and the client calls it only after a 2xx that parsed.
//!
//! One `ResponseCache` is shared by sync and async callers: it is `Send +
//! Sync`, and the inner mutex is held only for the map operation itself, never
//! across an `.await` (no method here is async). Time comes from a [`Clock`],
//! so tests can move time forward without sleeping.
//!
//! A capacity of 0 or a TTL of 0 disables the cache: `get` always misses
//! (without counting) and `put` drops the body.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lru::LruCache;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Default number of cached pages (as the tutorial).
pub const DEFAULT_CACHE_SIZE: usize = 50;
/// Default time-to-live of a cached page (as the tutorial).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(120);

/// A cache key: the first 128 bits of a SHA-256 over the tenant and the
/// request. It holds no request text, so it is safe to log or print.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 16]);

impl CacheKey {
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", hex::encode(self.0))
    }
}

/// The key of one request for one tenant.
///
/// `base_url` and `client_id` name the tenant (two clients against different
/// hosts or with different credentials never share entries; a trailing `/`
/// on the base URL is ignored). `path_and_query` is the full request path
/// with its encoded query, cursor included, exactly as sent, e.g.
/// `/api/v2/audiences/ID/members?limit=100&filter=city%3DX&cursor=abc`.
/// Each part is length-prefixed before hashing, so no two different triples
/// hash the same input.
pub fn key(base_url: &str, client_id: &str, path_and_query: &str) -> CacheKey {
    let mut h = Sha256::new();
    for part in [base_url.trim_end_matches('/'), client_id, path_and_query] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    CacheKey(out)
}

/// Where the cache gets "now" from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to (for tests).
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Self {
        ManualClock {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Validates a Python-side `cache_ttl` (seconds): finite and not negative.
pub fn ttl_from_secs(secs: f64) -> Result<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(Error::validation(format!(
            "cache_ttl must be a finite number of seconds >= 0, got {secs}"
        )));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|_| Error::validation(format!("cache_ttl is out of range: {secs}")))
}

/// Counters and sizes, as `cache_stats()` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CacheStats {
    /// `get` calls answered from the cache.
    pub hits: u64,
    /// `get` calls that found nothing usable (absent or expired).
    pub misses: u64,
    /// Entries pushed out because the cache was full.
    pub evictions: u64,
    /// Entries dropped because their TTL had passed.
    pub expirations: u64,
    /// Entries currently held.
    pub entries: u64,
    /// Sum of the body sizes currently held.
    pub bytes: u64,
    /// Configured capacity (0 = disabled).
    pub capacity: u64,
    /// Configured TTL in seconds.
    pub ttl_secs: f64,
}

struct Entry {
    body: Bytes,
    stored_at: Instant,
}

struct Inner {
    lru: LruCache<CacheKey, Entry>,
    hits: u64,
    misses: u64,
    evictions: u64,
    expirations: u64,
    bytes: u64,
}

/// The shared response cache. Cheap to share behind an `Arc` (or clone the
/// `Arc` returned by [`ResponseCache::shared`]).
pub struct ResponseCache {
    /// `None` when disabled (capacity or TTL of 0).
    inner: Option<Mutex<Inner>>,
    capacity: usize,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Default for ResponseCache {
    fn default() -> Self {
        ResponseCache::new(DEFAULT_CACHE_SIZE, DEFAULT_CACHE_TTL)
    }
}

impl ResponseCache {
    /// A cache of at most `capacity` pages, each kept for `ttl`. A capacity
    /// or TTL of zero gives a disabled cache.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self::with_clock(capacity, ttl, Arc::new(SystemClock))
    }

    /// As [`ResponseCache::new`], with an injected clock.
    pub fn with_clock(capacity: usize, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let enabled = capacity > 0 && !ttl.is_zero();
        let inner = match (NonZeroUsize::new(capacity), ttl.is_zero()) {
            (Some(cap), false) => Some(Mutex::new(Inner {
                lru: LruCache::new(cap),
                hits: 0,
                misses: 0,
                evictions: 0,
                expirations: 0,
                bytes: 0,
            })),
            _ => None,
        };
        ResponseCache {
            inner,
            capacity: if enabled { capacity } else { 0 },
            ttl,
            clock,
        }
    }

    /// `new` wrapped in an `Arc`, the form the client keeps.
    pub fn shared(capacity: usize, ttl: Duration) -> Arc<Self> {
        Arc::new(Self::new(capacity, ttl))
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> Option<MutexGuard<'_, Inner>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // in a way that matters for a cache, so poisoning is ignored.
        self.inner
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.stored_at) >= self.ttl
    }

    /// The cached body for `key`, if present and younger than the TTL. An
    /// expired entry is removed (and counted as an expiration and a miss).
    /// `Bytes` clones are reference-counted, so a hit copies no body.
    pub fn get(&self, key: &CacheKey) -> Option<Bytes> {
        let now = self.clock.now();
        let mut inner = self.lock()?;
        match inner.lru.get(key) {
            None => {
                inner.misses += 1;
                return None;
            }
            Some(entry) if !self.expired(entry, now) => {
                let body = entry.body.clone();
                inner.hits += 1;
                return Some(body);
            }
            Some(_) => {}
        }
        // Present but expired: drop it.
        if let Some(old) = inner.lru.pop(key) {
            inner.bytes -= old.body.len() as u64;
        }
        inner.expirations += 1;
        inner.misses += 1;
        None
    }

    /// Stores the body of a successful response. Replaces an existing entry
    /// for the same key (and restarts its TTL). When full, an expired
    /// least-recently-used entry is dropped first (an expiration), otherwise
    /// the least recently used one (an eviction).
    pub fn put(&self, key: CacheKey, body: Bytes) {
        let now = self.clock.now();
        let Some(mut inner) = self.lock() else {
            return;
        };
        let inner = &mut *inner;
        if let Some(old) = inner.lru.pop(&key) {
            inner.bytes -= old.body.len() as u64;
        }
        if inner.lru.len() >= inner.lru.cap().get() {
            let lru_expired = inner
                .lru
                .peek_lru()
                .is_some_and(|(_, e)| self.expired(e, now));
            if let Some((_, old)) = inner.lru.pop_lru() {
                inner.bytes -= old.body.len() as u64;
                if lru_expired {
                    inner.expirations += 1;
                } else {
                    inner.evictions += 1;
                }
            }
        }
        inner.bytes += body.len() as u64;
        let displaced = inner.lru.push(
            key,
            Entry {
                body,
                stored_at: now,
            },
        );
        // Room was made above, so nothing can be displaced here.
        debug_assert!(displaced.is_none());
    }

    /// Drops every entry (counters are kept).
    pub fn clear(&self) {
        if let Some(mut inner) = self.lock() {
            inner.lru.clear();
            inner.bytes = 0;
        }
    }

    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            capacity: self.capacity as u64,
            ttl_secs: self.ttl.as_secs_f64(),
            ..CacheStats::default()
        };
        if let Some(inner) = self.lock() {
            stats.hits = inner.hits;
            stats.misses = inner.misses;
            stats.evictions = inner.evictions;
            stats.expirations = inner.expirations;
            stats.entries = inner.lru.len() as u64;
            stats.bytes = inner.bytes;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn body(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn manual(capacity: usize, ttl_secs: u64) -> (ResponseCache, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let cache =
            ResponseCache::with_clock(capacity, Duration::from_secs(ttl_secs), clock.clone());
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
}
