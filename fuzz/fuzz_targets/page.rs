//! A members page body, as the server sends it, through every decoder that
//! reads one: the tree parser (`paginate::parse_page`), the dict path's
//! page tape (`tape::decode_page`, which must read exactly what the tree
//! parser reads), the Arrow decoder
//! (`ArrowLayout::decode_page`) and the export's JSONL splitter
//! (`export::page_to_jsonl`). None may panic; when two of them accept the
//! same body they must agree on the number of members and the cursor.
#![no_main]

use cxone_cdp_core::page::arrow::ArrowLayout;
use cxone_cdp_core::export::page_to_jsonl;
use cxone_cdp_core::filter::AttrType;
use cxone_cdp_core::page::{parse_page, PageDecoder};
use cxone_cdp_core::page::tape::decode_page;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let layout = ArrowLayout::new(&[
        ("city".to_string(), AttrType::String),
        ("lifetime_value".to_string(), AttrType::Number),
        ("is_vip".to_string(), AttrType::Boolean),
        ("last_purchase_date".to_string(), AttrType::Date),
    ]);
    let dict = parse_page(body);
    // As the paginator sees them: an empty cursor ends the listing.
    let raw = layout.decode_page(body);
    let arrow = PageDecoder::decode(&layout, body);
    let jsonl = page_to_jsonl(body).map(|(b, n, next)| (b, n, next.filter(|t| !t.is_empty())));
    if let (Ok(r), Ok(a)) = (&raw, &arrow) {
        assert_eq!(r.items, a.items);
    }
    if let Ok(p) = &dict {
        assert_ne!(p.next_page_token.as_deref(), Some(""));
    }
    match (&dict, decode_page(body)) {
        (Ok(p), Ok(t)) => {
            assert_eq!(t.tape.to_json(), p.items, "tree vs tape members");
            assert_eq!(t.next_page_token, p.next_page_token, "tree vs tape cursor");
        }
        (Err(_), Err(_)) => {}
        (p, t) => panic!("tree ok: {}, tape ok: {}", p.is_ok(), t.is_ok()),
    }
    if let (Ok(p), Ok(a)) = (&dict, &arrow) {
        assert_eq!(p.items.len(), a.items, "dict vs arrow member count");
        assert_eq!(p.items.len(), a.data.num_rows());
        assert_eq!(p.next_page_token, a.next_page_token, "dict vs arrow cursor");
    }
    if let (Ok(p), Ok((_, n, next))) = (&dict, &jsonl) {
        assert_eq!(p.items.len(), *n, "dict vs jsonl member count");
        assert_eq!(&p.next_page_token, next, "dict vs jsonl cursor");
    }
});
