//! Stream framing: each message body is preceded by its length as 2 big-endian bytes.

use super::Iso8583Error;

/// Largest message body accepted in a frame, in bytes.
pub const MESSAGE_BYTES_MAX: usize = 4096;

/// Bytes of the big-endian length prefix in front of every body.
pub const LENGTH_PREFIX_BYTES: usize = 2;

/// `body` preceded by its 2-byte big-endian length, ready to write to the stream.
///
/// Fails with [`Iso8583Error::EmptyFrame`] for an empty body and [`Iso8583Error::TooLarge`] for one
/// above [`MESSAGE_BYTES_MAX`].
pub fn frame(body: &[u8]) -> Result<Vec<u8>, Iso8583Error> {
    let len = check_len(body.len())?;
    let mut out = Vec::with_capacity(LENGTH_PREFIX_BYTES + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Splits the first frame off the front of `buffer` (bytes read from the stream so far).
///
/// Returns `Ok(None)` while more bytes are needed, `Ok(Some((consumed, body)))` once a whole frame
/// is there (drop `consumed` bytes from the buffer afterwards), and an error as soon as the prefix
/// announces 0 bytes ([`Iso8583Error::EmptyFrame`]) or more than [`MESSAGE_BYTES_MAX`]
/// ([`Iso8583Error::TooLarge`]): the stream cannot be resynchronised and should be closed.
pub fn split_frame(buffer: &[u8]) -> Result<Option<(usize, &[u8])>, Iso8583Error> {
    let Some((&[high, low], rest)) = buffer.split_first_chunk::<LENGTH_PREFIX_BYTES>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([high, low]));
    check_len(len)?;
    Ok(rest.get(..len).map(|body| (LENGTH_PREFIX_BYTES + len, body)))
}

fn check_len(len: usize) -> Result<u16, Iso8583Error> {
    match len {
        0 => Err(Iso8583Error::EmptyFrame),
        1..=MESSAGE_BYTES_MAX => u16::try_from(len).map_err(|_| Iso8583Error::TooLarge(len)),
        _ => Err(Iso8583Error::TooLarge(len)),
    }
}
