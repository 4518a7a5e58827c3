//! Message authentication in field 64: truncated HMAC-SHA256 over the message encoded without it.
//!
//! The MACed bytes are exactly [`mac_input`]: the [`encode`]-ing of the message with field 64
//! removed, i.e. with bitmap bit 64 cleared and the field's 16 bytes absent, everything else
//! (MTI, secondary bitmap, fields 65..=128) unchanged. The MAC is the first 8 bytes of
//! HMAC-SHA256 under the shared key, carried in field 64 as 16 upper-case hex digits (field 64 is
//! `b 64` in ISO 8583:1987, i.e. 16 ASCII characters in pyiso8583 `default_ascii`).

use ring::hmac;

use super::{Iso8583Error, Message, encode, hex};

/// The field carrying the MAC.
pub const MAC_FIELD: u8 = 64;

/// Bytes of MAC (16 hex digits in field 64).
pub const MAC_BYTES: usize = 8;

/// The first [`MAC_BYTES`] bytes of HMAC-SHA256 of `body_without_field_64` under `key`.
pub fn mac(key: &[u8], body_without_field_64: &[u8]) -> [u8; MAC_BYTES] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), body_without_field_64);
    let mut out = [0u8; MAC_BYTES];
    out.copy_from_slice(&tag.as_ref()[..MAC_BYTES]);
    out
}

/// The bytes the MAC covers: `message` encoded with field 64 removed.
pub fn mac_input(message: &Message) -> Result<Vec<u8>, Iso8583Error> {
    if message.contains(MAC_FIELD) {
        let mut unsigned = message.clone();
        unsigned.remove(MAC_FIELD);
        encode(&unsigned)
    } else {
        encode(message)
    }
}

/// Sets field 64 to the MAC of `message` (any previous field 64 is ignored and replaced).
///
/// Fails when the message does not encode.
pub fn sign(key: &[u8], message: &mut Message) -> Result<(), Iso8583Error> {
    let tag = mac(key, &mac_input(message)?);
    message.set(MAC_FIELD, hex::upper(&tag));
    Ok(())
}

/// Whether `message`, decoded from `message_body`, carries a valid MAC in field 64.
///
/// `false` when field 64 is missing or not 16 hex digits (either case), when the message does not
/// encode, when `message_body` is not exactly [`encode`]`(message)` (so the MAC always covers
/// the bytes received: a body with lower-case bitmaps fails), or when the MAC differs. The MAC
/// comparison takes the same time whatever the position of the first differing byte.
pub fn verify_mac(key: &[u8], message_body: &[u8], message: &Message) -> bool {
    let Some(received) = message.get(MAC_FIELD).and_then(hex::parse_array::<MAC_BYTES>) else {
        return false;
    };
    if encode(message).ok().as_deref() != Some(message_body) {
        return false;
    }
    match mac_input(message) {
        Ok(input) => constant_time_eq(&mac(key, &input), &received),
        Err(_) => false,
    }
}

/// Compares by OR-ing the XOR of every byte pair, so no early exit reveals where they differ
/// (`ring::constant_time` is deprecated in ring 0.17, and `ring::hmac::verify` needs the full tag).
fn constant_time_eq(a: &[u8; MAC_BYTES], b: &[u8; MAC_BYTES]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
