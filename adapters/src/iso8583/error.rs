//! The one error type of the ISO 8583 codec.

use thiserror::Error;

/// Everything that can go wrong encoding, decoding or framing an ISO 8583 message.
///
/// `field` is always the ISO 8583 data element number (2..=128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Iso8583Error {
    /// The message type indicator is missing, short, or not 4 ASCII digits.
    #[error("message type indicator must be 4 ASCII digits")]
    BadMti,
    /// The primary or secondary bitmap is missing, short, or not 16 hexadecimal digits.
    #[error("bitmap must be 16 hexadecimal digits")]
    BadBitmap,
    /// The caller set field 1: the secondary bitmap is computed by [`encode`](super::encode).
    #[error("field 1 (secondary bitmap) is computed by the encoder and must not be set")]
    Field1Set,
    /// Field 65 was set or announced: pyiso8583 reads it as the tertiary-bitmap indicator, which
    /// `default_ascii` cannot carry (its encoder silently drops field 65).
    #[error("field 65 (tertiary bitmap indicator) is not supported")]
    Field65,
    /// The field number is outside 1..=128.
    #[error("field {field} does not exist (fields are 1..=128)")]
    UnknownField {
        /// The offending field number.
        field: u8,
    },
    /// The input ended inside a field (its length prefix or its data).
    #[error("field {field}: message truncated")]
    Truncated {
        /// The field being read.
        field: u8,
    },
    /// An LLVAR/LLLVAR length prefix is not ASCII digits.
    #[error("field {field}: length prefix is not ASCII digits")]
    BadLength {
        /// The field whose prefix is malformed.
        field: u8,
    },
    /// A numeric (`n`) field holds something other than ASCII digits.
    #[error("field {field}: must be ASCII digits")]
    NotNumeric {
        /// The offending field.
        field: u8,
    },
    /// A signed amount (`x+n`) field is not `C` or `D` followed by ASCII digits.
    #[error("field {field}: must be 'C' or 'D' followed by ASCII digits")]
    BadAmount {
        /// The offending field.
        field: u8,
    },
    /// A binary (`b`) field, carried as hexadecimal text, holds a non-hex character.
    #[error("field {field}: must be hexadecimal digits")]
    NotHex {
        /// The offending field.
        field: u8,
    },
    /// A text field holds a byte above 0x7F.
    #[error("field {field}: must be 7-bit ASCII")]
    NotAscii {
        /// The offending field.
        field: u8,
    },
    /// A variable-length field is longer than its maximum.
    #[error("field {field}: {len} bytes exceed the maximum of {max}")]
    TooLong {
        /// The offending field.
        field: u8,
        /// Its actual (or announced) length.
        len: usize,
        /// The maximum the spec allows.
        max: usize,
    },
    /// A fixed-length field does not have exactly its length.
    #[error("field {field}: {len} bytes, expected exactly {expected}")]
    WrongLength {
        /// The offending field.
        field: u8,
        /// Its actual length.
        len: usize,
        /// The fixed length the spec requires.
        expected: usize,
    },
    /// Bytes are left over after the last field announced by the bitmaps.
    #[error("{0} unexpected bytes after the last field")]
    TrailingBytes(usize),
    /// A frame (or a body to be framed) is larger than [`MESSAGE_BYTES_MAX`](super::MESSAGE_BYTES_MAX).
    #[error("message of {0} bytes exceeds the maximum of {max}", max = super::MESSAGE_BYTES_MAX)]
    TooLarge(usize),
    /// A frame announces (or a body to be framed has) zero bytes.
    #[error("empty message frame")]
    EmptyFrame,
}
