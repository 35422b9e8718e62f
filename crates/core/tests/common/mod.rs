//! Helpers shared by the integration tests: a scripted mock of the API, a
//! per-thread log capture, a TLS server with a certificate nobody trusts and
//! small TCP servers that count connections.
#![allow(dead_code)] // each test binary uses a different part

pub mod logs;
pub mod mock_api;
pub mod servers;
