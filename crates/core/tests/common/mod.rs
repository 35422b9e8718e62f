//! Helpers shared by the integration tests: a scripted mock of the API, a
//! per-thread log capture, a TLS server with a certificate nobody trusts,
//! small TCP servers that count connections and concurrent callers.
#![allow(dead_code)] // each test binary uses a different part

pub mod concurrent;
pub mod logs;
pub mod mock_api;
pub mod servers;
