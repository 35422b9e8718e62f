//! What happens when a query finishes: its latency and outcome go into the
//! metrics, a listing gets one audit record, and a listing made with a query
//! id gets a completion callback.
//!
//! The callback is delivered by [`crate::webhook::deliver`] in a spawned task
//! on the current tokio runtime, so the query never waits for it and never
//! fails because of it; the outcome is counted (`webhook_deliveries` /
//! `webhook_failures`) and logged on `cxone_cdp.webhook`. Deliveries in
//! flight are tracked process-wide so a caller about to exit can wait for
//! them ([`wait_for_callbacks`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::audit::{AuditRecord, AuditSink, AuditStatus};
use crate::metrics::Metrics;
use crate::webhook::{self, CallbackPayload, CallbackStatus, DeliveryPolicy};

/// Where completion callbacks go.
#[derive(Clone)]
pub struct CallbackTarget {
    pub url: String,
    pub secret: Option<String>,
    pub policy: DeliveryPolicy,
}

impl std::fmt::Debug for CallbackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackTarget")
            .field("url", &crate::config::redact_url(&self.url))
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

/// The per-client parts a finished query reports to.
#[derive(Debug)]
pub struct Reporter {
    pub metrics: Arc<Metrics>,
    pub audit: AuditSink,
    pub callback: Option<CallbackTarget>,
    /// The client's pooled HTTP client (callbacks reuse its connections).
    pub http: reqwest::Client,
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

fn idle() -> &'static Notify {
    static IDLE: std::sync::OnceLock<Notify> = std::sync::OnceLock::new();
    IDLE.get_or_init(Notify::new)
}

struct InFlight;

impl InFlight {
    fn new() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
            idle().notify_waiters();
        }
    }
}

/// Completion callbacks being delivered right now (all clients).
pub fn callbacks_in_flight() -> usize {
    IN_FLIGHT.load(Ordering::SeqCst)
}

/// Waits until no completion callback is being delivered, at most
/// `timeout`. Returns whether all were done.
pub async fn wait_for_callbacks(timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = idle().notified();
        if callbacks_in_flight() == 0 {
            return true;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return callbacks_in_flight() == 0;
        }
    }
}

impl Reporter {
    /// A count or validate finished.
    pub fn finish_simple(&self, ok: bool, started: Instant) {
        self.metrics.record_query(ok, started.elapsed());
    }

    fn spawn_callback(&self, payload: CallbackPayload) {
        let Some(target) = self.callback.clone() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            log::warn!(
                target: webhook::WEBHOOK_TARGET,
                "completion callback for query {} not sent: no async runtime",
                payload.query_id
            );
            self.metrics.add_webhook_failure();
            return;
        };
        let http = self.http.clone();
        let metrics = self.metrics.clone();
        let guard = InFlight::new();
        handle.spawn(async move {
            let _guard = guard;
            let out = webhook::deliver(
                &http,
                &target.url,
                &payload,
                target.secret.as_deref(),
                target.policy,
            )
            .await;
            if out.delivered {
                metrics.add_webhook_delivery();
            } else {
                metrics.add_webhook_failure();
            }
        });
    }
}

/// One listing in progress. Count members with [`Listing::page`] (one add
/// per page), then call [`Listing::finish`] once. A listing dropped without
/// `finish` (the caller stopped iterating) reports nothing.
#[derive(Debug)]
pub struct Listing {
    reporter: Arc<Reporter>,
    query_id: Option<String>,
    audience_id: String,
    filter_count: usize,
    started: Instant,
    members: u64,
}

impl Listing {
    pub fn new(
        reporter: Arc<Reporter>,
        query_id: Option<String>,
        audience_id: &str,
        filter_count: usize,
    ) -> Listing {
        Listing {
            reporter,
            query_id,
            audience_id: audience_id.to_owned(),
            filter_count,
            started: Instant::now(),
            members: 0,
        }
    }

    /// A page of `n` members was handed on.
    pub fn page(&mut self, n: usize) {
        self.members += n as u64;
        self.reporter.metrics.add_members(n as u64);
    }

    pub fn members(&self) -> u64 {
        self.members
    }

    /// Records the outcome: metrics, one audit record, and the completion
    /// callback (spawned) if a query id and a callback URL are set.
    pub fn finish(self, ok: bool) {
        let latency = self.started.elapsed();
        let r = &self.reporter;
        r.metrics.record_query(ok, latency);
        let count = if ok { self.members } else { 0 };
        let record = AuditRecord::new(
            self.query_id.as_deref(),
            &self.audience_id,
            self.filter_count,
            if ok {
                AuditStatus::Success
            } else {
                AuditStatus::Failure
            },
            latency,
            count,
        );
        if !r.audit.emit(&record) {
            r.metrics.add_audit_failure();
        }
        if let Some(qid) = self.query_id {
            let status = if ok {
                CallbackStatus::Completed
            } else {
                CallbackStatus::Failed
            };
            r.spawn_callback(CallbackPayload::new(qid, count, latency, status));
        }
    }
}
