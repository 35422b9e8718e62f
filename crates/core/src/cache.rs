//! Response cache: an LRU of successful answers with a time-to-live, bounded
//! by entry count and by bytes.
//!
//! The cache maps a [`CacheKey`] (a 128-bit SHA-256 digest of the tenant and
//! the full request, see [`key`]) to the raw body of a *successful* page
//! response, and to the decoded forms of that body the listings asked for (a
//! page's tape for the dicts, its record batch for one Arrow layout; see
//! [`ResponseCache::lookup`]), so a hit hands out the decoded page (a shared
//! pointer) instead of decoding the body again. It never sees a token (tokens
//! travel in headers, which are not part of the key) and never stores an
//! error: it only takes bodies (and what decoded them), and the client calls
//! it only after a 2xx that parsed.
//!
//! Every entry's size is its body plus its decoded forms; the sum stays at or
//! under `max_bytes` (least recently used entries go first; an answer bigger
//! than the whole budget is not kept). `cache_stats()` reports the size held
//! and the bound.
//!
//! One `ResponseCache` is shared by sync and async callers: it is `Send +
//! Sync`, and the inner mutex is held only for the map operation itself, never
//! across an `.await` (no method here is async). Time comes from a [`Clock`],
//! so tests can move time forward without sleeping.
//!
//! A capacity of 0 or a TTL of 0 disables the cache: `get` always misses
//! (without counting) and `put` drops the body.

use std::any::Any;
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
/// Default bound on the bytes held (bodies and decoded forms together).
pub const DEFAULT_CACHE_BYTES: usize = 8 << 20;

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
    /// Bytes currently held: bodies and decoded forms.
    pub bytes: u64,
    /// The part of `bytes` held by decoded forms (tapes, record batches).
    pub decoded_bytes: u64,
    /// Bound on `bytes` (0 when disabled).
    pub max_bytes: u64,
    /// Configured capacity (0 = disabled).
    pub capacity: u64,
    /// Configured TTL in seconds.
    pub ttl_secs: f64,
}

/// A decoded form of a body, shared with whoever it is handed to.
pub type Shared = Arc<dyn Any + Send + Sync>;

/// What [`ResponseCache::lookup`] found.
pub enum Cached {
    /// The body decoded in the asked-for form.
    Decoded(Shared),
    /// Only the body (it was never decoded in that form).
    Body(Bytes),
}

struct Entry {
    body: Bytes,
    stored_at: Instant,
    /// Decoded forms of `body`, by form id, with their sizes.
    forms: Vec<(u64, Shared, usize)>,
}

impl Entry {
    fn size(&self) -> u64 {
        self.body.len() as u64 + self.decoded()
    }

    fn decoded(&self) -> u64 {
        self.forms.iter().map(|f| f.2 as u64).sum()
    }
}

struct Inner {
    lru: LruCache<CacheKey, Entry>,
    hits: u64,
    misses: u64,
    evictions: u64,
    expirations: u64,
    bytes: u64,
    decoded_bytes: u64,
}

impl Inner {
    fn forget(&mut self, old: &Entry) {
        self.bytes -= old.size();
        self.decoded_bytes -= old.decoded();
    }
}

/// The shared response cache. Cheap to share behind an `Arc` (or clone the
/// `Arc` returned by [`ResponseCache::shared`]).
pub struct ResponseCache {
    /// `None` when disabled (capacity or TTL of 0).
    inner: Option<Mutex<Inner>>,
    capacity: usize,
    max_bytes: usize,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("capacity", &self.capacity)
            .field("max_bytes", &self.max_bytes)
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
                decoded_bytes: 0,
            })),
            _ => None,
        };
        ResponseCache {
            inner,
            capacity: if enabled { capacity } else { 0 },
            max_bytes: if enabled { DEFAULT_CACHE_BYTES } else { 0 },
            ttl,
            clock,
        }
    }

    /// The same cache, holding at most `max_bytes` bytes (bodies and
    /// decoded forms together; 0 disables it).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        if max_bytes == 0 {
            self.inner = None;
            self.capacity = 0;
        }
        if self.inner.is_some() {
            self.max_bytes = max_bytes;
        } else {
            self.max_bytes = 0;
        }
        self
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

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
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
        self.find(key, |entry| entry.body.clone())
    }

    /// The cached answer for `key` in decoded form `form` if it is held,
    /// else its body (which the caller decodes and hands back with
    /// [`ResponseCache::add_form`]). Counted as [`ResponseCache::get`] is.
    pub fn lookup(&self, key: &CacheKey, form: u64) -> Option<Cached> {
        self.find(key, |entry| {
            match entry.forms.iter().find(|f| f.0 == form) {
                Some((_, shared, _)) => Cached::Decoded(shared.clone()),
                None => Cached::Body(entry.body.clone()),
            }
        })
    }

    fn find<T>(&self, key: &CacheKey, hit: impl FnOnce(&Entry) -> T) -> Option<T> {
        let now = self.clock.now();
        let mut inner = self.lock()?;
        match inner.lru.get(key) {
            None => {
                inner.misses += 1;
                return None;
            }
            Some(entry) if !self.expired(entry, now) => {
                let out = hit(entry);
                inner.hits += 1;
                return Some(out);
            }
            Some(_) => {}
        }
        // Present but expired: drop it.
        if let Some(old) = inner.lru.pop(key) {
            inner.forget(&old);
        }
        inner.expirations += 1;
        inner.misses += 1;
        None
    }

    /// Adds the decoded form `form` (of `size` bytes) of the body held for
    /// `key`, if that entry is still there; its age and place are kept.
    pub fn add_form(&self, key: &CacheKey, form: u64, value: Shared, size: usize) {
        let Some(mut inner) = self.lock() else {
            return;
        };
        let inner = &mut *inner;
        let Some(entry) = inner.lru.peek_mut(key) else {
            return;
        };
        if entry.forms.iter().any(|f| f.0 == form)
            || entry.size() + size as u64 > self.max_bytes as u64
        {
            return;
        }
        entry.forms.push((form, value, size));
        inner.bytes += size as u64;
        inner.decoded_bytes += size as u64;
        self.fit(inner, Some(key));
    }

    /// Stores the body of a successful response. Replaces an existing entry
    /// for the same key (and restarts its TTL). When full, an expired
    /// least-recently-used entry is dropped first (an expiration), otherwise
    /// the least recently used one (an eviction).
    pub fn put(&self, key: CacheKey, body: Bytes) {
        self.store(key, body, Vec::new());
    }

    /// [`ResponseCache::put`] with the body's decoded form `form` (of `size`
    /// bytes) kept beside it.
    pub fn put_form(&self, key: CacheKey, body: Bytes, form: u64, value: Shared, size: usize) {
        self.store(key, body, vec![(form, value, size)]);
    }

    fn store(&self, key: CacheKey, body: Bytes, forms: Vec<(u64, Shared, usize)>) {
        let now = self.clock.now();
        let Some(mut inner) = self.lock() else {
            return;
        };
        let inner = &mut *inner;
        if let Some(old) = inner.lru.pop(&key) {
            inner.forget(&old);
        }
        let entry = Entry {
            body,
            stored_at: now,
            forms,
        };
        if entry.size() > self.max_bytes as u64 {
            return; // bigger than the whole budget: not kept
        }
        if inner.lru.len() >= inner.lru.cap().get() {
            self.drop_lru(inner, now);
        }
        inner.bytes += entry.size();
        inner.decoded_bytes += entry.decoded();
        let displaced = inner.lru.push(key, entry);
        // Room was made above, so nothing can be displaced here.
        debug_assert!(displaced.is_none());
        self.fit(inner, Some(&key));
    }

    /// Drops the least recently used entry: an expiration if its TTL had
    /// passed, else an eviction.
    fn drop_lru(&self, inner: &mut Inner, now: Instant) {
        let lru_expired = inner
            .lru
            .peek_lru()
            .is_some_and(|(_, e)| self.expired(e, now));
        if let Some((_, old)) = inner.lru.pop_lru() {
            inner.forget(&old);
            if lru_expired {
                inner.expirations += 1;
            } else {
                inner.evictions += 1;
            }
        }
    }

    /// Drops least recently used entries (never `keep`) until the bytes
    /// held fit the bound.
    fn fit(&self, inner: &mut Inner, keep: Option<&CacheKey>) {
        let now = self.clock.now();
        while inner.bytes > self.max_bytes as u64 {
            if inner.lru.peek_lru().map(|(k, _)| Some(k) == keep) != Some(false) {
                break;
            }
            self.drop_lru(inner, now);
        }
    }

    /// Drops every entry (counters are kept).
    pub fn clear(&self) {
        if let Some(mut inner) = self.lock() {
            inner.lru.clear();
            inner.bytes = 0;
            inner.decoded_bytes = 0;
        }
    }

    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            capacity: self.capacity as u64,
            max_bytes: self.max_bytes as u64,
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
            stats.decoded_bytes = inner.decoded_bytes;
        }
        stats
    }
}

#[cfg(test)]
mod tests;
