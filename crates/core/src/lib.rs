//! cxone-cdp-core: a native client for the NICE CXone CDP audience API.
//!
//! Plain async Rust on tokio, usable and tested without Python; the PyO3
//! bindings (`cxone-cdp-python`) are a thin layer over it. The layers, from
//! the wire up: [`transport`] (TLS, send, error mapping, the one retry
//! policy), [`auth`] (tokens and discovery, over the transport), [`api`] (the
//! client's calls), [`page`] (the members page envelope and its decoders) and
//! what runs on top: [`export`], [`partition`], [`cache`], [`metrics`],
//! [`audit`] and the completion callbacks ([`completion`], [`webhook`]).
pub mod api;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod completion;
pub mod config;
pub mod error;
pub mod export;
pub mod filter;
pub mod metrics;
pub mod page;
pub mod paginate;
pub mod partition;
pub mod transport;
pub mod webhook;
