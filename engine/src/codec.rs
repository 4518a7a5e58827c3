//! The one codec module: every value kassa stores or sends as binary goes through here.
//!
//! Format: one format-version byte, then the value in bincode 2.0.1's standard configuration
//! (little endian, varint integers) via serde. bincode 3.0.0 is a tombstone and 2.0.1 its last
//! working release, so it is pinned (`=2.0.1`); the version byte lets a later release move to a
//! maintained bincode-compatible crate (or another layout) and still read old records.
//!
//! Decoding is total: malformed, truncated, oversized or trailing input is a [`CodecError`],
//! never a panic, and never allocates more than the given limit.

use serde::Serialize;
use serde::de::DeserializeOwned;

mod canonical;
pub use canonical::{CanonicalError, encode_canonical};

/// The format version written in front of every record.
pub const FORMAT_VERSION: u8 = 1;

/// Largest encoded value decoded by [`decode`], in bytes (records and frames have their own,
/// smaller limits at the edges).
pub const DECODE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Largest snapshot decoded by [`decode_snapshot`], in bytes (64 GiB): a snapshot is the whole
/// state, checksummed before it is decoded, so its limit is the machine's memory, not an edge's.
pub const SNAPSHOT_BYTES_MAX: usize = 1 << 36;

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// No bytes at all.
    #[error("empty record")]
    Empty,
    /// The version byte names a format this build cannot read.
    #[error("unknown format version {0}")]
    UnknownVersion(u8),
    /// Longer than the limit.
    #[error("record of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The body is not a valid encoding of the expected type.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// Bytes left over after the value.
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
}

/// bincode's standard configuration: little endian, varint integers.
const CONFIG: bincode::config::Configuration = bincode::config::standard();

/// Encodes `value` with its version byte, appending to `buffer`.
pub fn encode_into<T: Serialize>(value: &T, buffer: &mut Vec<u8>) {
    buffer.push(FORMAT_VERSION);
    bincode::serde::encode_into_std_write(value, buffer, CONFIG).expect("encoding into a Vec cannot fail");
}

/// Encodes `value` with its version byte.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(64);
    encode_into(value, &mut buffer);
    buffer
}

/// Decodes a value written by [`encode`], refusing input longer than `bytes_max`.
pub fn decode_limited<T: DeserializeOwned>(bytes: &[u8], bytes_max: usize) -> Result<T, CodecError> {
    decode_bounded::<T, DECODE_BYTES_MAX>(bytes, bytes_max)
}

/// Decodes a value written by [`encode`] (up to [`DECODE_BYTES_MAX`] bytes).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_limited(bytes, DECODE_BYTES_MAX)
}

/// Decodes a snapshot written by [`encode`] (up to [`SNAPSHOT_BYTES_MAX`] bytes).
pub fn decode_snapshot<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_bounded::<T, SNAPSHOT_BYTES_MAX>(bytes, SNAPSHOT_BYTES_MAX)
}

/// The decoder: `ALLOCATION_MAX` bounds every allocation bincode makes (a hostile length prefix
/// cannot make it reserve gigabytes); `bytes_max` bounds the input.
fn decode_bounded<T: DeserializeOwned, const ALLOCATION_MAX: usize>(
    bytes: &[u8],
    bytes_max: usize,
) -> Result<T, CodecError> {
    if bytes.len() > bytes_max {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnknownVersion(version));
    }
    let config = CONFIG.with_limit::<ALLOCATION_MAX>();
    let (value, read) =
        bincode::serde::decode_from_slice(body, config).map_err(|error| CodecError::Malformed(error.to_string()))?;
    if read != body.len() {
        return Err(CodecError::Trailing(body.len() - read));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Transfer};
    use crate::types::{Currency, Id};

    fn sample() -> Command {
        Command::Transfer(Transfer {
            id: Id::new("t-1").unwrap(),
            from: Id::new("a").unwrap(),
            to: Id::new("b").unwrap(),
            amount: 1_234,
            currency: Currency::EUR,
        })
    }

    #[test]
    fn round_trips_with_a_version_byte() {
        let bytes = encode(&sample());
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<Command>(&bytes).unwrap(), sample());
    }

    #[test]
    fn refuses_bad_input_without_panicking() {
        let bytes = encode(&sample());
        assert_eq!(decode::<Command>(&[]), Err(CodecError::Empty));
        assert_eq!(decode::<Command>(&[9, 0]), Err(CodecError::UnknownVersion(9)));
        assert!(matches!(decode::<Command>(&bytes[..bytes.len() - 1]), Err(CodecError::Malformed(_))));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode::<Command>(&trailing), Err(CodecError::Trailing(1)));
        assert_eq!(decode_limited::<Command>(&bytes, 3), Err(CodecError::TooLarge(bytes.len())));
        // A hostile length prefix (a string of 2^60 bytes) must not allocate.
        let hostile = [FORMAT_VERSION, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff];
        assert!(decode::<Command>(&hostile).is_err());
        // Every truncation and every single-byte corruption is refused or decodes cleanly.
        for cut in 0..bytes.len() {
            let _ = decode::<Command>(&bytes[..cut]);
        }
        for index in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[index] ^= 0xff;
            let _ = decode::<Command>(&flipped);
        }
    }

    #[test]
    fn snapshots_may_exceed_the_record_limit() {
        // A state larger than DECODE_BYTES_MAX once made a data directory impossible to reopen.
        let big = vec![7u8; DECODE_BYTES_MAX + 1024];
        let bytes = encode(&big);
        assert!(matches!(decode::<Vec<u8>>(&bytes), Err(CodecError::TooLarge(_))));
        assert_eq!(decode_snapshot::<Vec<u8>>(&bytes).unwrap().len(), big.len());
    }

    #[test]
    fn invalid_ids_and_currencies_are_refused_on_decode() {
        let mut bytes = encode(&Id::new("abc").unwrap());
        *bytes.last_mut().unwrap() = b' ';
        assert!(decode::<Id>(&bytes).is_err());
        let bytes = encode(&1u16);
        assert!(decode::<Currency>(&bytes).is_err());
    }
}
