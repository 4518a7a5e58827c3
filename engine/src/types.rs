//! Value types shared by every command: identifiers, currencies, amounts and time.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::constants::ID_LENGTH_MAX;

/// Milliseconds since the Unix epoch. The state machine never reads a clock: time is an input.
pub type TimestampMs = u64;

/// A client-chosen identifier: 1..=64 bytes of `[A-Za-z0-9._:-]`. Short ids live inline (no heap).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Id(CompactString);

/// Why a string is not a valid [`Id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("id is empty")]
    Empty,
    /// The id is longer than `ID_LENGTH_MAX` bytes.
    #[error("id is longer than {ID_LENGTH_MAX} bytes")]
    TooLong,
    /// The id has a byte outside `[A-Za-z0-9._:-]`.
    #[error("id may only hold A-Z a-z 0-9 . _ : -")]
    BadCharacter,
}

impl Id {
    /// Validates and wraps `text`.
    pub fn new(text: &str) -> Result<Id, IdError> {
        if text.is_empty() {
            return Err(IdError::Empty);
        }
        if text.len() > ID_LENGTH_MAX {
            return Err(IdError::TooLong);
        }
        let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
        if !text.bytes().all(valid) {
            return Err(IdError::BadCharacter);
        }
        Ok(Id(CompactString::new(text)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        // A visitor, not `Cow<str>` (which always allocates a `String`): a borrowed id goes
        // straight into the inline representation. Snapshots decode tens of millions of ids.
        struct IdVisitor;
        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an id: 1..=64 bytes of [A-Za-z0-9._:-]")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Id, E> {
                Id::new(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(IdVisitor)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Id {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Id, IdError> {
        Id::new(text)
    }
}

/// An ISO 4217 currency, stored as its numeric code. Only currencies in the table are valid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Currency(u16);

/// `(alpha code, numeric code, minor-unit exponent)` of the supported ISO 4217 currencies.
const CURRENCIES: &[(&str, u16, u8)] = &[
    ("AED", 784, 2),
    ("AUD", 36, 2),
    ("BHD", 48, 3),
    ("BRL", 986, 2),
    ("CAD", 124, 2),
    ("CHF", 756, 2),
    ("CLP", 152, 0),
    ("CNY", 156, 2),
    ("CZK", 203, 2),
    ("DKK", 208, 2),
    ("EUR", 978, 2),
    ("GBP", 826, 2),
    ("HKD", 344, 2),
    ("HUF", 348, 2),
    ("IDR", 360, 2),
    ("ILS", 376, 2),
    ("INR", 356, 2),
    ("ISK", 352, 0),
    ("JOD", 400, 3),
    ("JPY", 392, 0),
    ("KRW", 410, 0),
    ("KWD", 414, 3),
    ("MXN", 484, 2),
    ("MYR", 458, 2),
    ("NOK", 578, 2),
    ("NZD", 554, 2),
    ("OMR", 512, 3),
    ("PHP", 608, 2),
    ("PLN", 985, 2),
    ("SAR", 682, 2),
    ("SEK", 752, 2),
    ("SGD", 702, 2),
    ("THB", 764, 2),
    ("TND", 788, 3),
    ("TRY", 949, 2),
    ("TWD", 901, 2),
    ("USD", 840, 2),
    ("VND", 704, 0),
    ("ZAR", 710, 2),
];

/// Why a currency code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown or unsupported ISO 4217 currency")]
pub struct CurrencyError;

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency(840);
    /// Euro.
    pub const EUR: Currency = Currency(978);
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency(392);
    /// Kuwaiti dinar (three minor digits).
    pub const KWD: Currency = Currency(414);

    fn entry(self) -> &'static (&'static str, u16, u8) {
        CURRENCIES.iter().find(|entry| entry.1 == self.0).expect("a Currency is only built from the table")
    }

    /// Looks up an alpha code such as `"EUR"` (upper case).
    pub fn from_alpha(alpha: &str) -> Result<Currency, CurrencyError> {
        CURRENCIES.iter().find(|entry| entry.0 == alpha).map(|entry| Currency(entry.1)).ok_or(CurrencyError)
    }

    /// Looks up a numeric code such as `978`.
    pub fn from_numeric(numeric: u16) -> Result<Currency, CurrencyError> {
        CURRENCIES.iter().find(|entry| entry.1 == numeric).map(|entry| Currency(entry.1)).ok_or(CurrencyError)
    }

    /// The three-letter code.
    pub fn alpha(self) -> &'static str {
        self.entry().0
    }

    /// The ISO 4217 numeric code.
    pub fn numeric(self) -> u16 {
        self.0
    }

    /// Digits after the decimal point of the minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(self) -> u8 {
        self.entry().2
    }
}

impl TryFrom<u16> for Currency {
    type Error = CurrencyError;
    fn try_from(numeric: u16) -> Result<Currency, CurrencyError> {
        Currency::from_numeric(numeric)
    }
}

impl From<Currency> for u16 {
    fn from(currency: Currency) -> u16 {
        currency.0
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha())
    }
}

/// A geographic point in microdegrees (integer, so that no float touches the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude in millionths of a degree, -90e6..=90e6.
    pub latitude_e6: i32,
    /// Longitude in millionths of a degree, -180e6..=180e6.
    pub longitude_e6: i32,
}

impl GeoPoint {
    /// Whether the coordinates are on the globe.
    pub fn is_valid(self) -> bool {
        self.latitude_e6.unsigned_abs() <= 90_000_000 && self.longitude_e6.unsigned_abs() <= 180_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(Id::new("acc_1:a.b-c").is_ok());
        assert_eq!(Id::new(""), Err(IdError::Empty));
        assert_eq!(Id::new(&"a".repeat(65)), Err(IdError::TooLong));
        assert!(Id::new(&"a".repeat(64)).is_ok());
        assert_eq!(Id::new("a b"), Err(IdError::BadCharacter));
        assert_eq!(Id::new("é"), Err(IdError::BadCharacter));
    }

    #[test]
    fn currencies_know_their_exponent() {
        let eur = Currency::from_alpha("EUR").unwrap();
        assert_eq!(eur.numeric(), 978);
        assert_eq!(eur.exponent(), 2);
        assert_eq!(Currency::from_numeric(392).unwrap().exponent(), 0);
        assert_eq!(Currency::KWD.exponent(), 3);
        assert!(Currency::from_alpha("XXX").is_err());
        assert!(Currency::from_numeric(1).is_err());
    }
}
