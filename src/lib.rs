//! cxone-cdp: a native client (and simulator) for the NICE CXone CDP audience API.
//!
//! The core (everything but `py`) is plain async Rust, usable and tested
//! without Python; `py` is the thin PyO3 layer that becomes `cxone_cdp._native`.
pub mod arrow;
pub mod error;
pub mod filter;
pub mod py;
