//! Stateless, tamper-evident page cursors. A cursor is URL-safe base64 of
//! `version | query fingerprint | membership epoch | offset | page sequence
//! number | MAC`, the MAC an HMAC-SHA256 (truncated) under a fixed server key.
//! Because nothing is kept on the server, cursors survive a `restart()`;
//! because the fingerprint is inside, a cursor used with another query is
//! refused; because the epoch is inside, a listing that started before the
//! membership clock moved goes on reading the audience as it was (pages are
//! consistent: the same cursor always gives the same page).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 2;
const KEY: &[u8] = b"cxone-cdp simulator cursor key v1";
const FP_LEN: usize = 16;
const MAC_LEN: usize = 16;
const BODY_LEN: usize = 1 + FP_LEN + 4 + 8 + 4;
/// Where the offset starts in the body.
const AT: usize = 1 + FP_LEN + 4;

/// A query's identity: audience, normalized filters and limit.
pub type Fingerprint = [u8; FP_LEN];

/// The fingerprint of a query; `filters` must already be normalized (sorted
/// canonical forms) so that equal queries give equal fingerprints.
pub fn fingerprint(audience: &str, filters: &[String], limit: usize) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(audience.as_bytes());
    h.update([0u8]);
    for f in filters {
        h.update(f.as_bytes());
        h.update([0u8]);
    }
    h.update((limit as u64).to_be_bytes());
    let d = h.finalize();
    let mut fp = [0u8; FP_LEN];
    fp.copy_from_slice(&d[..FP_LEN]);
    fp
}

/// Where a cursor points (within the epoch it carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// Index into the query's filtered member list.
    pub offset: u64,
    /// Which page of the listing this is (0 = the first, cursor-less page).
    pub seq: u32,
}

/// Why a cursor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorError {
    /// Not ours: bad base64, wrong length or version, or a MAC that does not verify.
    Malformed,
    /// A genuine cursor, for a different query.
    OtherQuery,
}

fn mac(body: &[u8]) -> [u8; MAC_LEN] {
    let mut m = HmacSha256::new_from_slice(KEY).expect("any key length");
    m.update(body);
    let out = m.finalize().into_bytes();
    let mut t = [0u8; MAC_LEN];
    t.copy_from_slice(&out[..MAC_LEN]);
    t
}

/// The cursor of `pos` in the listing of query `fp` over membership epoch `epoch`.
pub fn encode(fp: &Fingerprint, epoch: u32, pos: Position) -> String {
    let mut buf = Vec::with_capacity(BODY_LEN + MAC_LEN);
    buf.push(VERSION);
    buf.extend_from_slice(fp);
    buf.extend_from_slice(&epoch.to_be_bytes());
    buf.extend_from_slice(&pos.offset.to_be_bytes());
    buf.extend_from_slice(&pos.seq.to_be_bytes());
    let t = mac(&buf);
    buf.extend_from_slice(&t);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The epoch and position of a cursor of query `expect`.
pub fn decode(token: &str, expect: &Fingerprint) -> Result<(u32, Position), CursorError> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| CursorError::Malformed)?;
    if raw.len() != BODY_LEN + MAC_LEN || raw[0] != VERSION {
        return Err(CursorError::Malformed);
    }
    let (body, tag) = raw.split_at(BODY_LEN);
    let mut m = HmacSha256::new_from_slice(KEY).expect("any key length");
    m.update(body);
    m.verify_truncated_left(tag)
        .map_err(|_| CursorError::Malformed)?;
    if &body[1..1 + FP_LEN] != expect {
        return Err(CursorError::OtherQuery);
    }
    let epoch = u32::from_be_bytes(body[1 + FP_LEN..AT].try_into().unwrap());
    let offset = u64::from_be_bytes(body[AT..AT + 8].try_into().unwrap());
    let seq = u32::from_be_bytes(body[AT + 8..].try_into().unwrap());
    Ok((epoch, Position { offset, seq }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(limit: usize) -> Fingerprint {
        fingerprint("aud", &["city\u{1f}=\u{1f}Paris".to_string()], limit)
    }

    #[test]
    fn round_trip() {
        let pos = Position {
            offset: 12_345,
            seq: 7,
        };
        let c = encode(&fp(100), 3, pos);
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode(&c, &fp(100)), Ok((3, pos)));
    }

    #[test]
    fn bound_to_the_query() {
        let c = encode(
            &fp(100),
            0,
            Position {
                offset: 100,
                seq: 1,
            },
        );
        assert_eq!(decode(&c, &fp(200)), Err(CursorError::OtherQuery));
        let other = fingerprint("aud", &["city\u{1f}=\u{1f}Tokyo".to_string()], 100);
        assert_eq!(decode(&c, &other), Err(CursorError::OtherQuery));
        assert_ne!(fingerprint("a", &[], 1), fingerprint("b", &[], 1));
    }

    #[test]
    fn tampering_is_detected() {
        let c = encode(
            &fp(100),
            0,
            Position {
                offset: 100,
                seq: 1,
            },
        );
        let mut raw = URL_SAFE_NO_PAD.decode(&c).unwrap();
        // Move the offset: the MAC no longer verifies.
        raw[AT + 7] ^= 1;
        let forged = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(decode(&forged, &fp(100)), Err(CursorError::Malformed));
        assert_eq!(
            decode("not a cursor!", &fp(100)),
            Err(CursorError::Malformed)
        );
        assert_eq!(decode("", &fp(100)), Err(CursorError::Malformed));
        assert_eq!(
            decode(&c[..c.len() - 2], &fp(100)),
            Err(CursorError::Malformed)
        );
    }
}
