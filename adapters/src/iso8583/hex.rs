//! Hexadecimal text helpers: upper case out, either case in, nothing else accepted.

const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// The value of one hex digit (`0-9`, `a-f`, `A-F`).
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Parses exactly 16 hex digits into a big-endian `u64`; no sign, no whitespace.
pub(super) fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.len() != 16 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &digit| Some(acc << 4 | u64::from(nibble(digit)?)))
}

/// Appends `value` as 16 upper-case hex digits.
pub(super) fn push_u64(out: &mut Vec<u8>, value: u64) {
    out.extend((0..16).rev().map(|i| UPPER[((value >> (i * 4)) & 0xF) as usize]));
}

/// Parses exactly `2 * N` hex digits into `N` bytes.
pub(super) fn parse_array<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        if let [high, low] = *pair {
            *byte = nibble(high)? << 4 | nibble(low)?;
        }
    }
    Some(out)
}

/// `bytes` as upper-case hex digits.
pub(super) fn upper(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|&b| [UPPER[usize::from(b >> 4)], UPPER[usize::from(b & 0xF)]]).collect()
}
