//! The embedded CDP simulator: a real HTTP/1.1 server on 127.0.0.1 serving the
//! wire contract (`shared/api-contract.md`) over deterministic members, with
//! fault switches and introspection for tests. With `SimConfig { tls: true, .. }`
//! it serves HTTPS under a throwaway CA whose PEM file is [`Simulator::ca_path`].
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use cxone_cdp_simulator::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default(), 0).await?;
//! println!("{}", sim.base_url());
//! # Ok(()) }
//! ```

pub mod clock;
mod config;
pub mod cursor;
pub mod data;
pub mod grammar;
pub mod query;
pub mod reply;
mod routes;
mod server;
mod state;
mod stats;
mod tls;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use clock::{Advance, Moved};
pub use config::{valid_broken_discovery, SimConfig, BROKEN_DISCOVERY};
pub use reply::ApiError;
pub use state::SCOPES;
pub use stats::{Callback, Stats};

/// The audience with `members` members.
pub const AUDIENCE_ID: &str = "a1b2c3d4-e5f6-7890-abcd-ef1234567890";
/// The audience with no members.
pub const EMPTY_AUDIENCE_ID: &str = "00000000-0000-0000-0000-000000000000";
/// A third audience: about a third of `AUDIENCE_ID`'s members (a fixed,
/// hash-chosen subset), listed in the same order.
pub const SUBSET_AUDIENCE_ID: &str = "5b5e7a1d-0c0d-4e5f-8a9b-0123456789ab";

/// A running simulator. Stops on `shutdown()` or drop.
pub struct Simulator {
    shared: Arc<state::Shared>,
    port: u16,
    handle: tokio::runtime::Handle,
    /// The runtime, when `start_background` made one.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    /// The listening socket. Kept here (the server task holds a duplicate) so
    /// the port stays ours across `restart()`.
    listener: Mutex<Option<std::net::TcpListener>>,
    stop: Mutex<Option<watch::Sender<bool>>>,
    /// Open connections (of any server generation).
    active: Arc<AtomicUsize>,
    /// The certificate and CA of an HTTPS simulator.
    tls: Option<tls::Tls>,
}

impl Simulator {
    /// Starts on the current tokio runtime; `port` 0 picks a free port.
    pub async fn start(cfg: SimConfig, port: u16) -> std::io::Result<Simulator> {
        Self::start_on(cfg, port, tokio::runtime::Handle::current(), None)
    }

    /// Starts on a runtime of its own (two worker threads), for sync callers.
    pub fn start_background(cfg: SimConfig, port: u16) -> std::io::Result<Simulator> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cdp-simulator")
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        Self::start_on(cfg, port, handle, Some(rt))
    }

    fn start_on(
        cfg: SimConfig,
        port: u16,
        handle: tokio::runtime::Handle,
        runtime: Option<tokio::runtime::Runtime>,
    ) -> std::io::Result<Simulator> {
        let listener = server::bind(port)?;
        let port = listener.local_addr()?.port();
        let tls = if cfg.tls {
            Some(tls::Tls::generate()?)
        } else {
            None
        };
        let sim = Simulator {
            shared: Arc::new(state::Shared::new(cfg)),
            port,
            handle,
            runtime: Mutex::new(runtime),
            listener: Mutex::new(Some(listener)),
            stop: Mutex::new(None),
            active: Arc::new(AtomicUsize::new(0)),
            tls,
        };
        sim.run()?;
        Ok(sim)
    }

    fn run(&self) -> std::io::Result<()> {
        let guard = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        let Some(l) = guard.as_ref() else {
            return Err(std::io::Error::other("the simulator was shut down"));
        };
        let dup = l.try_clone()?;
        let (tx, rx) = watch::channel(false);
        self.handle.spawn(server::serve(
            dup,
            self.shared.clone(),
            rx,
            self.active.clone(),
            self.tls.as_ref().map(tls::Tls::acceptor),
        ));
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        Ok(())
    }

    fn halt(&self) {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(true);
        }
    }

    /// `http://127.0.0.1:{port}`, or `https://...` for an HTTPS simulator.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// HTTPS only: the path of the throwaway CA's certificate (PEM), for a
    /// client's trust store. The file exists while the simulator runs and is
    /// removed by `shutdown()` (or drop). `None` for a plain-HTTP simulator.
    pub fn ca_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(tls::Tls::ca_path)
    }

    /// HTTPS only: the throwaway CA's certificate as PEM text.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(tls::Tls::ca_pem)
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// The issuer for discovery (`{issuer}/.well-known/...`): the base URL.
    pub fn issuer(&self) -> String {
        self.base_url()
    }

    /// The CXone-style token endpoint (password grant): `{base}/auth/token`.
    pub fn auth_token_url(&self) -> String {
        format!("{}/auth/token", self.base_url())
    }

    pub fn callback_url(&self) -> String {
        format!("{}/_sim/callbacks", self.base_url())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The current configuration (fault switches included).
    pub fn config(&self) -> SimConfig {
        self.shared.cfg()
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    pub fn callbacks(&self) -> Vec<Callback> {
        self.shared
            .callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn webhooks(&self) -> Vec<serde_json::Value> {
        self.shared
            .webhooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Zeroes the counters (fault counters included) and forgets callbacks.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Replaces the fault switches and credentials; the member count stays.
    pub fn set_faults(&self, cfg: SimConfig) {
        self.shared.set_cfg(cfg);
    }

    /// What a complete, correct listing returns for decoded wire filters such
    /// as `"city=Rock & Roll"`, started now (after the latest [`advance`](Self::advance)).
    pub fn expected_members(
        &self,
        audience_id: &str,
        filters: &[&str],
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        if !self.shared.knows(audience_id) {
            return Err(ApiError::new(
                404,
                "not_found",
                format!("audience {audience_id} not found"),
            ));
        }
        let raw: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        let parsed = query::parse_filters(&raw, &self.shared.schema)?;
        let clock = self.shared.clock();
        let view = clock.now();
        let sel = self.shared.selection(audience_id, view, &parsed);
        Ok((0..sel.len())
            .map(|k| {
                let i = sel.get(k);
                data::member_json_at(i, view.version(i), self.shared.data)
            })
            .collect())
    }

    /// Moves the membership clock on: `left` current members leave,
    /// `changed` others get new attribute values, `joined` new members join
    /// (listed after the others). Deterministic: the same advances give the
    /// same audiences. Counts, listings and `expected_members` started
    /// afterwards see the new membership; a listing already under way goes
    /// on with the membership it started with (its cursors carry their
    /// epoch), so every listing is a consistent snapshot. The subset
    /// audience (a fixed third of the members, by id) follows.
    pub fn advance(&self, a: Advance) -> Result<Moved, String> {
        self.shared.advance(a).map_err(|e| e.to_string())
    }

    /// The membership clock's epoch (0 before any advance) and the number
    /// of members of the main audience now.
    pub fn membership(&self) -> (u32, u64) {
        let clock = self.shared.clock();
        (clock.epoch(), clock.now().size())
    }

    /// Stops serving and starts again on the same port: open connections are
    /// closed, state and counters are kept, and cursors stay valid.
    pub fn restart(&self) {
        self.halt();
        // Let the old connections close (bounded: never hang a caller, even
        // one on a single-threaded runtime that cannot make progress meanwhile).
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Err(e) = self.run() {
            log::error!("simulator: restart failed: {e}");
        }
    }

    /// Stops the server, frees the port and removes the CA file. Also done
    /// on drop.
    pub fn shutdown(&self) {
        self.halt();
        if let Some(t) = &self.tls {
            t.remove_ca_file();
        }
        self.listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Blocking is not allowed here; let the workers wind down.
                rt.shutdown_background();
            } else {
                // Waits for the workers, so the port is closed on return.
                rt.shutdown_timeout(Duration::from_secs(2));
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.base_url())
            .field("members", &self.shared.members)
            .field("ca_path", &self.ca_path())
            .finish()
    }
}
