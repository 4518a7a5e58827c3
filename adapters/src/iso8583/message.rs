//! [`Message`] and its wire codec: [`encode`] and [`decode`].

use std::collections::BTreeMap;

use super::spec::{FIELD_MAX, Length, field_spec};
use super::{Iso8583Error, hex};

/// Bytes of the message type indicator.
const MTI_BYTES: usize = 4;
/// Bytes of one bitmap (16 hex digits).
const BITMAP_BYTES: usize = 16;
/// Field 1: the secondary bitmap, present when any field 65..=128 is.
const SECONDARY_BITMAP_FIELD: u8 = 1;
/// Field 65: the tertiary bitmap indicator in pyiso8583, unsupported here.
const TERTIARY_BITMAP_FIELD: u8 = 65;

/// One ISO 8583 message: a message type indicator and data fields 2..=128.
///
/// Field values are the raw field data (no length prefix). Nothing is checked until [`encode`]:
/// [`set`](Self::set) accepts any field number and bytes, so building a message never fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    mti: [u8; MTI_BYTES],
    fields: BTreeMap<u8, Vec<u8>>,
}

impl Message {
    /// An empty message of type `mti`, which must be 4 ASCII digits (e.g. `"0200"`).
    pub fn new(mti: &str) -> Result<Self, Iso8583Error> {
        Ok(Self { mti: parse_mti(mti.as_bytes())?, fields: BTreeMap::new() })
    }

    /// The message type indicator, e.g. `"0200"`.
    pub fn mti(&self) -> &str {
        // Always 4 ASCII digits: checked by `parse_mti`.
        std::str::from_utf8(&self.mti).unwrap_or_default()
    }

    /// Replaces the message type indicator (4 ASCII digits).
    pub fn set_mti(&mut self, mti: &str) -> Result<(), Iso8583Error> {
        self.mti = parse_mti(mti.as_bytes())?;
        Ok(())
    }

    /// Sets `field` to `value`, replacing any previous value.
    pub fn set(&mut self, field: u8, value: impl Into<Vec<u8>>) -> &mut Self {
        self.fields.insert(field, value.into());
        self
    }

    /// Builder form of [`set`](Self::set).
    #[must_use]
    pub fn with(mut self, field: u8, value: impl Into<Vec<u8>>) -> Self {
        self.set(field, value);
        self
    }

    /// The data of `field`, if present.
    pub fn get(&self, field: u8) -> Option<&[u8]> {
        self.fields.get(&field).map(Vec::as_slice)
    }

    /// The data of `field` as text, if present and valid UTF-8 (always so after [`decode`]).
    pub fn get_str(&self, field: u8) -> Option<&str> {
        std::str::from_utf8(self.get(field)?).ok()
    }

    /// Whether `field` is present.
    pub fn contains(&self, field: u8) -> bool {
        self.fields.contains_key(&field)
    }

    /// Removes `field`, returning its data.
    pub fn remove(&mut self, field: u8) -> Option<Vec<u8>> {
        self.fields.remove(&field)
    }

    /// The present fields and their data, in ascending field order (the wire order).
    pub fn fields(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.fields.iter().map(|(&field, value)| (field, value.as_slice()))
    }
}

fn parse_mti(mti: &[u8]) -> Result<[u8; MTI_BYTES], Iso8583Error> {
    match <[u8; MTI_BYTES]>::try_from(mti) {
        Ok(mti) if mti.iter().all(u8::is_ascii_digit) => Ok(mti),
        _ => Err(Iso8583Error::BadMti),
    }
}

/// The bit of `field` (1..=128) in the 128-bit primary-then-secondary bitmap; field 1 is the
/// most significant bit, as on the wire.
fn bit(field: u8) -> u128 {
    1u128 << (u32::from(FIELD_MAX) - u32::from(field))
}

/// Encodes `message` as pyiso8583 `default_ascii` does: MTI, primary bitmap, secondary bitmap
/// (only when a field 65..=128 is present), then each field in ascending order, LLVAR/LLLVAR
/// fields preceded by their length in ASCII digits. Bitmaps are upper-case hex.
///
/// Every field is checked against its [`FieldSpec`](super::FieldSpec) first; the error names the
/// lowest offending field. Field 1 ([`Iso8583Error::Field1Set`]) and field 65
/// ([`Iso8583Error::Field65`]) may not be set.
pub fn encode(message: &Message) -> Result<Vec<u8>, Iso8583Error> {
    let mut bitmap = 0u128;
    let mut body = Vec::with_capacity(message.fields.len());
    let mut body_len = 0;
    for (field, value) in message.fields() {
        match field {
            SECONDARY_BITMAP_FIELD => return Err(Iso8583Error::Field1Set),
            TERTIARY_BITMAP_FIELD => return Err(Iso8583Error::Field65),
            _ => {}
        }
        let spec = field_spec(field).ok_or(Iso8583Error::UnknownField { field })?;
        spec.check(field, value)?;
        bitmap |= bit(field);
        body_len += spec.length.prefix_digits() + value.len();
        body.push((spec.length, value));
    }
    let secondary = bitmap as u64;
    if secondary != 0 {
        bitmap |= bit(SECONDARY_BITMAP_FIELD);
    }

    let bitmaps_len = if secondary != 0 { 2 * BITMAP_BYTES } else { BITMAP_BYTES };
    let mut out = Vec::with_capacity(MTI_BYTES + bitmaps_len + body_len);
    out.extend_from_slice(&message.mti);
    hex::push_u64(&mut out, (bitmap >> 64) as u64);
    if secondary != 0 {
        hex::push_u64(&mut out, secondary);
    }
    for (length, value) in body {
        push_decimal(&mut out, value.len(), length.prefix_digits());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// Appends `value` as exactly `digits` ASCII digits (nothing when `digits` is 0).
fn push_decimal(out: &mut Vec<u8>, value: usize, digits: usize) {
    let mut place = 10usize.pow(u32::try_from(digits).unwrap_or(0));
    while place > 1 {
        place /= 10;
        out.push(b'0' + (value / place % 10) as u8);
    }
}

/// Decodes one message body (no length prefix), checking every field against its
/// [`FieldSpec`](super::FieldSpec).
///
/// Accepts what pyiso8583 `default_ascii` accepts and produces identical field data, with these
/// deliberate differences, all rejections: content classes are checked (numeric, signed amount,
/// hex), bitmaps and length prefixes must be plain digits (pyiso8583 lets Python's `int` and
/// `bytes.fromhex` skip whitespace or take a `+`), and bit 65 (a tertiary bitmap) is refused.
/// Bitmaps are read in either case; a secondary bitmap with no bit set is accepted (and dropped by
/// [`encode`]).
///
/// Never panics, and stores at most `bytes.len()` bytes of field data.
pub fn decode(bytes: &[u8]) -> Result<Message, Iso8583Error> {
    let mut input = Reader { bytes, pos: 0 };
    let mti = parse_mti(input.take(MTI_BYTES).ok_or(Iso8583Error::BadMti)?)?;
    let mut bitmap = u128::from(read_bitmap(&mut input)?) << 64;
    if bitmap & bit(SECONDARY_BITMAP_FIELD) != 0 {
        bitmap |= u128::from(read_bitmap(&mut input)?);
    }
    if bitmap & bit(TERTIARY_BITMAP_FIELD) != 0 {
        return Err(Iso8583Error::Field65);
    }

    let mut fields = BTreeMap::new();
    for field in 2..=FIELD_MAX {
        if bitmap & bit(field) == 0 {
            continue;
        }
        let spec = field_spec(field).ok_or(Iso8583Error::UnknownField { field })?;
        let len = match spec.length {
            Length::Fixed(len) => len,
            Length::LlVar(max) | Length::LllVar(max) => {
                let prefix = input.take(spec.length.prefix_digits()).ok_or(Iso8583Error::Truncated { field })?;
                let len = parse_decimal(prefix).ok_or(Iso8583Error::BadLength { field })?;
                if len > max {
                    return Err(Iso8583Error::TooLong { field, len, max });
                }
                len
            }
        };
        let value = input.take(len).ok_or(Iso8583Error::Truncated { field })?;
        spec.content.check(field, value)?;
        fields.insert(field, value.to_vec());
    }

    match input.remaining() {
        0 => Ok(Message { mti, fields }),
        extra => Err(Iso8583Error::TrailingBytes(extra)),
    }
}

fn read_bitmap(input: &mut Reader<'_>) -> Result<u64, Iso8583Error> {
    input.take(BITMAP_BYTES).and_then(hex::parse_u64).ok_or(Iso8583Error::BadBitmap)
}

/// Parses a length prefix: ASCII digits only (at most 3, so no overflow).
fn parse_decimal(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + usize::from(d - b'0')))
}

/// A cursor over the input that hands out slices only when they are entirely there.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }
}
