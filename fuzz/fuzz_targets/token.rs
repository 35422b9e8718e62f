//! What the token and discovery endpoints send back: the id_token's claims
//! (`discovery::decode_id_token`), the two discovery documents, and the
//! refresh delay for any `expires_in` (`auth::refresh_after`).
#![no_main]

use std::time::Instant;

use cxone_cdp_core::auth::refresh_after;
use cxone_cdp_core::auth::discovery::{
    decode_id_token, parse_cxone_configuration, parse_openid_configuration,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_openid_configuration(data);
    let _ = parse_cxone_configuration(data);
    let text = String::from_utf8_lossy(data);
    let _ = decode_id_token(&text);
    if data.len() >= 8 {
        let x = f64::from_le_bytes(data[..8].try_into().unwrap());
        let d = refresh_after(x);
        let _ = Instant::now() + d;
    }
    if let Ok(x) = text.trim().parse::<f64>() {
        let _ = Instant::now() + refresh_after(x);
    }
});
