//! The TCP binary protocol's decoder (`kassa_adapters::tcp::frame`) on arbitrary bytes.
//!
//! The input is read as a stream: frames are split off it one after another, as the server does,
//! and every body is decoded as a `Request` and as a `Response`; the whole input is also decoded
//! as a bare body. Decoding must refuse bad input with an error, never panic, and whatever
//! decodes must encode back to a frame that decodes to the same value.

#![no_main]

use kassa_adapters::tcp::frame::{
    FRAME_BYTES_MAX, FrameError, LENGTH_PREFIX_BYTES, Request, Response, body_length, decode_body, encode_frame,
    split_frame,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    loop {
        match split_frame(rest) {
            Ok(Some((body, consumed))) => {
                assert_eq!(consumed, LENGTH_PREFIX_BYTES + body.len());
                assert!(!body.is_empty() && body.len() <= FRAME_BYTES_MAX);
                assert_eq!(&rest[LENGTH_PREFIX_BYTES..consumed], body);
                check_body(body);
                rest = &rest[consumed..];
            }
            Ok(None) => {
                // Only a short prefix, or a valid prefix announcing more than is there.
                if let Some(prefix) = rest.first_chunk::<LENGTH_PREFIX_BYTES>() {
                    let length = body_length(*prefix).expect("a frame that waits has a valid prefix");
                    assert!(rest.len() < LENGTH_PREFIX_BYTES + length);
                }
                break;
            }
            Err(error) => {
                assert!(matches!(error, FrameError::Empty | FrameError::TooLarge(_)), "{error:?}");
                break;
            }
        }
    }
    check_body(data);
});

fn check_body(body: &[u8]) {
    round_trip::<Request>(body);
    round_trip::<Response>(body);
}

/// If `body` decodes as `T`, its re-encoding must frame, split and decode to the same value.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(body: &[u8]) {
    let Ok(message) = decode_body::<T>(body) else { return };
    let mut frame = Vec::new();
    if let Err(error) = encode_frame(&message, &mut frame) {
        assert!(matches!(error, FrameError::TooLarge(_)), "{error:?}");
        return;
    }
    let (again, consumed) = split_frame(&frame).expect("valid prefix").expect("a whole frame");
    assert_eq!(consumed, frame.len());
    assert_eq!(decode_body::<T>(again).expect("a re-encoded message decodes"), message);
}
