//! Filter text (`--filter` and the wire form): parsed by `filter::parse_wire`,
//! typed against every attribute type, checked, encoded and parsed back: the
//! encoding is unreserved characters and %XX only, and decodes to the same
//! attribute, operator and value.
#![no_main]

use cxone_cdp_core::filter::{
    encode_filters, parse_typed_value, parse_wire, validate, AttrType, Schema,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(w) = parse_wire(text) else {
        return;
    };
    for ty in [
        AttrType::String,
        AttrType::Number,
        AttrType::Boolean,
        AttrType::Date,
    ] {
        let schema: Schema = [(w.attribute.clone(), ty)].into_iter().collect();
        let Ok(f) = w.typed(&schema) else {
            continue;
        };
        if validate(std::slice::from_ref(&f), &schema).is_err() {
            continue;
        }
        let encoded = encode_filters(std::slice::from_ref(&f), Some(&schema)).unwrap();
        let raw = encoded.strip_prefix("filter=").unwrap();
        assert!(raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .unwrap();
        let back = parse_wire(&decoded).unwrap();
        assert_eq!(back.attribute, f.attribute);
        assert_eq!(back.op, f.op);
        let v = parse_typed_value(&back.value, ty).unwrap();
        // Same value as rendered for the wire (1.0 may come back as 1, and
        // -0 as 0: the same number for every comparison).
        let norm = |s: String| if s == "-0" { "0".to_string() } else { s };
        assert_eq!(
            norm(v.render(Some(ty)).unwrap()),
            norm(f.value.render(Some(ty)).unwrap()),
            "{text:?} as {ty:?}"
        );
    }
});
