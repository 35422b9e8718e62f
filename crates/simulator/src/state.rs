//! The state shared by every connection: configuration and fault switches,
//! issued tokens, counters, stored webhooks and callbacks, and the two caches
//! (filtered selections per query, rendered page bodies per cursor) and the
//! membership clock. It lives in the `Simulator`, not in the listener, so it
//! survives `restart()`.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use bytes::Bytes;
use lru::LruCache;

use crate::grammar::Schema;

use super::clock::{Advance, AdvanceError, Clock, Moved, View};
use super::config::SimConfig;
use super::cursor::{Fingerprint, Position};
use super::data;
use super::query::{select_in, Filters, PageFaults, Selection};
use super::stats::{Callback, Stats};

/// The scopes the token endpoint grants.
pub const SCOPES: [&str; 3] = ["audiences:read", "cdp:read", "webhooks:write"];

/// An issued access token.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub scopes: Vec<&'static str>,
    pub issued: Instant,
}

/// Page cache budget, in bytes of rendered bodies.
const PAGE_CACHE_BYTES: usize = 256 << 20;
/// Filtered selections kept (each at most 4 bytes per member).
const SELECTION_CACHE: usize = 64;

/// (query, membership epoch, position, fault generation).
pub type PageKey = (Fingerprint, u32, Position, u64);

/// A rendered page body and the position its cursor points to.
pub type Page = (Bytes, Option<Position>);

struct PageCache {
    lru: LruCache<PageKey, Page>,
    bytes: usize,
}

pub struct Shared {
    pub members: u64,
    /// Served over HTTPS (fixed at start).
    pub tls: bool,
    pub schema: Schema,
    /// Data variations (fixed at start, like `members`).
    pub data: data::DataOpts,
    /// The membership clock; every epoch stays readable. Replaced whole by
    /// an advance, so a request works on one snapshot without a lock.
    clock: RwLock<Arc<Clock>>,
    cfg: RwLock<SimConfig>,
    /// Bumped by `set_faults`, part of every page cache key.
    pub fault_gen: AtomicU64,
    pub api_calls: AtomicU64,
    pub members_calls: AtomicU64,
    tokens: Mutex<HashMap<String, TokenInfo>>,
    pub stats: Mutex<Stats>,
    pub webhooks: Mutex<Vec<serde_json::Value>>,
    pub callbacks: Mutex<Vec<Callback>>,
    selections: Mutex<LruCache<String, Arc<Vec<u32>>>>,
    pages: Mutex<PageCache>,
    prefetching: Mutex<HashSet<PageKey>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(cfg: SimConfig) -> Shared {
        Shared {
            members: cfg.members as u64,
            tls: cfg.tls,
            schema: data::schema(),
            data: data::DataOpts {
                missing_lifetime_every: cfg.missing_attribute_every,
            },
            clock: RwLock::new(Arc::new(Clock::new(cfg.members as u64))),
            cfg: RwLock::new(cfg),
            fault_gen: AtomicU64::new(0),
            api_calls: AtomicU64::new(0),
            members_calls: AtomicU64::new(0),
            tokens: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            webhooks: Mutex::new(Vec::new()),
            callbacks: Mutex::new(Vec::new()),
            selections: Mutex::new(LruCache::new(
                NonZeroUsize::new(SELECTION_CACHE).expect("non-zero"),
            )),
            pages: Mutex::new(PageCache {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            prefetching: Mutex::new(HashSet::new()),
        }
    }

    pub fn cfg(&self) -> SimConfig {
        self.cfg.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the fault switches (the member count, the data and HTTPS stay).
    pub fn set_cfg(&self, mut cfg: SimConfig) {
        cfg.members = self.members as usize;
        cfg.tls = self.tls;
        cfg.missing_attribute_every = self.data.missing_lifetime_every;
        *self.cfg.write().unwrap_or_else(|e| e.into_inner()) = cfg;
        self.fault_gen.fetch_add(1, Ordering::SeqCst);
    }

    pub fn page_faults(&self) -> PageFaults {
        let c = self.cfg.read().unwrap_or_else(|e| e.into_inner());
        PageFaults {
            empty_page_every: c.empty_page_every,
            short_pages: c.short_pages,
            repeat_cursor_after: c.repeat_cursor_after,
        }
    }

    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    pub fn reset(&self) {
        *lock(&self.stats) = Stats::default();
        lock(&self.callbacks).clear();
        self.api_calls.store(0, Ordering::SeqCst);
        self.members_calls.store(0, Ordering::SeqCst);
    }

    pub fn issue_token(&self, scopes: Vec<&'static str>) -> String {
        let token = format!("sim_{}", uuid::Uuid::new_v4().simple());
        lock(&self.tokens).insert(
            token.clone(),
            TokenInfo {
                scopes,
                issued: Instant::now(),
            },
        );
        token
    }

    /// The token's scopes if it is known, not expired and not revoked.
    pub fn check_token(&self, token: &str) -> Option<Vec<&'static str>> {
        let info = lock(&self.tokens).get(token).cloned()?;
        let cfg = self.cfg();
        let age = info.issued.elapsed();
        if age >= cfg.token_lifetime {
            return None;
        }
        if cfg.revoke_after.is_some_and(|r| age >= r) {
            return None;
        }
        Some(info.scopes)
    }

    /// Is this one of the simulator's audiences?
    pub fn knows(&self, audience: &str) -> bool {
        matches!(
            audience,
            super::AUDIENCE_ID | super::EMPTY_AUDIENCE_ID | super::SUBSET_AUDIENCE_ID
        )
    }

    /// The membership clock as it is now (all epochs).
    pub fn clock(&self) -> Arc<Clock> {
        self.clock.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Moves the membership clock on one epoch.
    pub fn advance(&self, a: Advance) -> Result<Moved, AdvanceError> {
        let mut slot = self.clock.write().unwrap_or_else(|e| e.into_inner());
        let mut next = Clock::clone(&slot);
        let moved = next.advance(a)?;
        *slot = Arc::new(next);
        Ok(moved)
    }

    /// The selection for (audience, filters) in one epoch, cached per
    /// normalized query and epoch.
    pub fn selection(&self, audience: &str, view: View<'_>, filters: &Filters) -> Selection {
        if audience == super::EMPTY_AUDIENCE_ID {
            return Selection::All(0);
        }
        let subset = audience == super::SUBSET_AUDIENCE_ID;
        if filters.filters.is_empty() && !subset && view.contiguous() {
            return Selection::All(view.end());
        }
        let key = format!(
            "{audience}\u{1e}{}\u{1e}{}",
            view.epoch,
            filters.normalized.join("\u{1e}")
        );
        if let Some(v) = lock(&self.selections).get(&key) {
            return Selection::Some(v.clone());
        }
        let sel = select_in(view, &filters.filters, self.data, subset);
        if let Selection::Some(v) = &sel {
            lock(&self.selections).put(key, v.clone());
        }
        sel
    }

    pub fn cached_page(&self, key: &PageKey) -> Option<Page> {
        lock(&self.pages).lru.get(key).cloned()
    }

    pub fn store_page(&self, key: PageKey, page: Page) {
        let mut p = lock(&self.pages);
        p.bytes += page.0.len();
        if let Some(old) = p.lru.put(key, page) {
            p.bytes -= old.0.len();
        }
        while p.bytes > PAGE_CACHE_BYTES {
            match p.lru.pop_lru() {
                Some((_, b)) => p.bytes -= b.0.len(),
                None => break,
            }
        }
    }

    /// Claims the prefetch of a page: false if it is cached or being rendered.
    pub fn begin_prefetch(&self, key: &PageKey) -> bool {
        if lock(&self.pages).lru.contains(key) {
            return false;
        }
        lock(&self.prefetching).insert(*key)
    }

    pub fn end_prefetch(&self, key: &PageKey) {
        lock(&self.prefetching).remove(key);
    }
}
