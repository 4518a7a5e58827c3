//! ISO 8583:1987 ASCII messages, byte-compatible with the Python library pyiso8583's
//! `iso8583.specs.default_ascii` spec (checked against pyiso8583 4.0.1).
//!
//! # Wire format
//!
//! A message body is, with no header:
//!
//! 1. the message type indicator (MTI): 4 ASCII digits, e.g. `0200`;
//! 2. the primary bitmap: 16 hex digits, bit 1 (most significant) set when a secondary bitmap
//!    follows, bits 2..=64 for fields 2..=64;
//! 3. the secondary bitmap (field 1), 16 hex digits for fields 65..=128, present only when one of
//!    them is;
//! 4. the present fields in ascending order. Fixed fields are their bytes; LLVAR and LLLVAR fields
//!    are 2 or 3 ASCII digits of byte length, then the bytes. All field data is ASCII text, binary
//!    fields included: field 64 (MAC) is 16 hex characters, not 8 raw bytes.
//!
//! [`encode`] writes bitmaps in upper-case hex, as pyiso8583 does; [`decode`] accepts either case,
//! as pyiso8583 does. The field table ([`field_spec`]) copies `default_ascii`'s lengths and adds the
//! ISO 8583:1987 content classes (numeric, signed amount, hex), which pyiso8583 does not check;
//! see [`decode`] for every difference. Field 65 is pyiso8583's tertiary-bitmap indicator and is
//! refused both ways.
//!
//! On a stream each body is preceded by its length as 2 big-endian bytes: [`frame`] and
//! [`split_frame`]. Field 64 carries a truncated HMAC-SHA256: [`sign`], [`verify_mac`], and
//! [`mac_input`] for exactly which bytes are MACed.
//!
//! ```
//! use kassa_adapters::iso8583::{Message, decode, encode};
//!
//! let message = Message::new("0210")?.with(3, "111111").with(39, "05");
//! let body = encode(&message)?;
//! assert_eq!(body, b"0210200000000200000011111105"); // pyiso8583's own example
//! assert_eq!(decode(&body)?.get_str(39), Some("05"));
//! # Ok::<(), kassa_adapters::iso8583::Iso8583Error>(())
//! ```

mod error;
mod frame;
mod hex;
pub mod identity;
mod mac;
mod message;
#[cfg(feature = "server")]
mod server;
mod spec;
#[cfg(test)]
mod tests;

pub use error::Iso8583Error;
pub use frame::{LENGTH_PREFIX_BYTES, MESSAGE_BYTES_MAX, frame, split_frame};
pub use mac::{MAC_BYTES, MAC_FIELD, mac, mac_input, sign, verify_mac};
pub use message::{Message, decode, encode};
#[cfg(feature = "server")]
pub use server::{IsoConfig, answer, code_of, response_code, serve};
pub use spec::{Content, FIELD_MAX, FieldSpec, Length, field_spec};
