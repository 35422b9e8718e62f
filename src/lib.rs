//! cxone-cdp: a native client (and simulator) for the NICE CXone CDP audience API.
//!
//! The core (everything but `py`) is plain async Rust, usable and tested
//! without Python; `py` is the thin PyO3 layer that becomes `cxone_cdp._native`.
pub mod arrow;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod client;
pub mod completion;
pub mod config;
pub mod discovery;
pub mod error;
pub mod export;
pub mod filter;
pub mod http;
pub mod metrics;
pub mod paginate;
pub mod partition;
pub mod py;
pub mod retry;
pub mod simulator;
pub mod tape;
pub mod webhook;
