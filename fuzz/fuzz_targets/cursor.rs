//! Cursors the simulator reads back from clients: any text is decoded to a
//! position or refused; a valid cursor round-trips.
#![no_main]

use cxone_cdp_simulator::cursor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fp = cursor::fingerprint("aud", &["city=x".to_string()], 100);
    if let Ok((epoch, pos)) = cursor::decode(&text, &fp) {
        assert_eq!(
            cursor::decode(&cursor::encode(&fp, epoch, pos), &fp),
            Ok((epoch, pos))
        );
    }
    let other = cursor::fingerprint(&text, &[], 1);
    let _ = cursor::decode(&text, &other);
});
