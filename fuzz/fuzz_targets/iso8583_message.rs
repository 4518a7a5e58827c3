//! The ISO 8583 codec (`kassa_adapters::iso8583`): stream framing and message parsing on
//! arbitrary bytes.
//!
//! The input is read as a stream of 2-byte-length frames, as the POS listener does, and every
//! body, as well as the whole input, is parsed. Parsing must refuse bad input with an error,
//! never panic. When a parse succeeds the message must round-trip: it encodes, the encoding
//! parses back to the same message, that encoding is stable, and it frames and splits back;
//! computing and checking its MAC must not panic either.

#![no_main]

use kassa_adapters::iso8583::{
    LENGTH_PREFIX_BYTES, MAC_FIELD, MESSAGE_BYTES_MAX, decode, encode, frame, mac_input, sign, split_frame, verify_mac,
};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((consumed, body))) = split_frame(rest) {
        assert_eq!(consumed, LENGTH_PREFIX_BYTES + body.len());
        assert!(!body.is_empty() && body.len() <= MESSAGE_BYTES_MAX);
        parse(body);
        rest = &rest[consumed..];
    }
    parse(data);
});

fn parse(body: &[u8]) {
    let Ok(message) = decode(body) else { return };
    let encoded = encode(&message).expect("a parsed message encodes");
    let again = decode(&encoded).expect("an encoded message parses");
    assert_eq!(again, message, "round trip");
    assert_eq!(encode(&again).expect("encodes"), encoded, "encoding is stable");
    assert!(encoded.len() <= body.len(), "the re-encoding is no longer than the input");
    if let Ok(framed) = frame(&encoded) {
        let (consumed, split) = split_frame(&framed).expect("valid prefix").expect("a whole frame");
        assert_eq!((consumed, split), (framed.len(), &encoded[..]));
    }
    // MAC: checking never panics; a message signed with the key verifies.
    let _ = verify_mac(KEY, body, &message);
    let _ = mac_input(&message);
    let mut signed = message.clone();
    if sign(KEY, &mut signed).is_ok() {
        let signed_body = encode(&signed).expect("a signed message encodes");
        let parsed = decode(&signed_body).expect("a signed message parses");
        assert!(parsed.contains(MAC_FIELD));
        assert!(verify_mac(KEY, &signed_body, &parsed), "a signed message verifies");
    }
}
