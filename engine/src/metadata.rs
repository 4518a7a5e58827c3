//! Metadata: a small, bounded map of strings a caller attaches to what a command creates (a
//! processor's order id on a transfer, hold, POS settlement, bill or split).
//!
//! It travels beside the command in its [`Submission`](crate::command::Submission), is logged
//! with it, and the state machine never keeps it: when the command creates its object, the
//! machine emits [`Event::Annotated`](crate::command::Event::Annotated), and the indexer stores
//! the map with the history (`wal/history.rs`), where lookups and the event feed find it. A
//! retry that creates nothing (an idempotent repeat) attaches nothing: the first metadata stays.
//! Metadata is not part of the body an id's retries are compared with.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::constants::{METADATA_ENTRIES_MAX, METADATA_KEY_LENGTH_MAX, METADATA_VALUE_LENGTH_MAX};
use crate::types::Id;

/// A validated metadata map: at most [`METADATA_ENTRIES_MAX`] entries; keys of
/// 1..=[`METADATA_KEY_LENGTH_MAX`] bytes of `A-Z a-z 0-9 . _ : -`, values of at most
/// [`METADATA_VALUE_LENGTH_MAX`] characters without control characters (as payment APIs count
/// them: a value of 500 `é` is 1,000 bytes and allowed). Kept in key order,
/// so equal maps encode alike. Encoded as a sequence of `(key, value)` pairs.
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
pub struct Metadata(BTreeMap<String, String>);

/// Why a map is not valid [`Metadata`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// More than [`METADATA_ENTRIES_MAX`] entries.
    #[error("metadata holds at most {METADATA_ENTRIES_MAX} entries")]
    TooManyEntries,
    /// A key is empty, too long or has a byte outside `A-Z a-z 0-9 . _ : -`.
    #[error("metadata key {0:?} must be 1..={METADATA_KEY_LENGTH_MAX} bytes of A-Z a-z 0-9 . _ : -")]
    BadKey(String),
    /// A value is too long or holds a control character.
    #[error("metadata value of {0:?} must be at most {METADATA_VALUE_LENGTH_MAX} characters, none a control character")]
    BadValue(String),
    /// The same key twice.
    #[error("metadata key {0:?} appears twice")]
    DuplicateKey(String),
}

impl Metadata {
    /// Validates `entries` (a key may appear once).
    pub fn new(entries: impl IntoIterator<Item = (String, String)>) -> Result<Metadata, MetadataError> {
        let mut map = BTreeMap::new();
        for (key, value) in entries {
            let key_valid = (1..=METADATA_KEY_LENGTH_MAX).contains(&key.len())
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
            if !key_valid {
                return Err(MetadataError::BadKey(key));
            }
            if value.chars().count() > METADATA_VALUE_LENGTH_MAX || value.chars().any(char::is_control) {
                return Err(MetadataError::BadValue(key));
            }
            if map.len() == METADATA_ENTRIES_MAX {
                return Err(MetadataError::TooManyEntries);
            }
            if map.contains_key(&key) {
                return Err(MetadataError::DuplicateKey(key));
            }
            map.insert(key, value);
        }
        Ok(Metadata(map))
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_map().entries(self.0.iter()).finish()
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Metadata, D::Error> {
        struct EntriesVisitor;
        impl<'de> serde::de::Visitor<'de> for EntriesVisitor {
            type Value = Metadata;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "at most {METADATA_ENTRIES_MAX} metadata entries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Metadata, A::Error> {
                let mut entries = Vec::new();
                // Bounded before anything is validated: a hostile length costs nothing.
                while let Some(entry) = access.next_entry::<String, String>()? {
                    if entries.len() == METADATA_ENTRIES_MAX {
                        return Err(serde::de::Error::custom(MetadataError::TooManyEntries));
                    }
                    entries.push(entry);
                }
                Metadata::new(entries).map_err(serde::de::Error::custom)
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// The kinds of objects that carry metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataKind {
    /// A transfer.
    Transfer,
    /// A hold.
    Hold,
    /// A POS settlement.
    Settlement,
    /// A virtual bill.
    Bill,
    /// A group-payment split.
    Split,
}

impl MetadataKind {
    /// The kind's name (`"transfer"`, `"settlement"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MetadataKind::Transfer => "transfer",
            MetadataKind::Hold => "hold",
            MetadataKind::Settlement => "settlement",
            MetadataKind::Bill => "bill",
            MetadataKind::Split => "split",
        }
    }

    /// The object `command` creates that may carry metadata: a transfer, a hold, a POS
    /// settlement, a bill or a split; `None` for every other command.
    pub fn created_by(command: &Command) -> Option<(MetadataKind, &Id)> {
        match command {
            Command::Transfer(transfer) => Some((MetadataKind::Transfer, &transfer.id)),
            Command::PlaceHold(place) => Some((MetadataKind::Hold, &place.id)),
            Command::SettlePos(settle) => Some((MetadataKind::Settlement, &settle.id)),
            Command::OpenBill(open) => Some((MetadataKind::Bill, &open.bill)),
            Command::RequestSplit(request) => Some((MetadataKind::Split, &request.split)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> (String, String) {
        (key.to_owned(), value.to_owned())
    }

    #[test]
    fn metadata_is_bounded_and_validated() {
        let valid = Metadata::new([entry("order_id", "A-1"), entry("note", "caf\u{e9} \u{2615}")]).unwrap();
        assert_eq!(valid.iter().map(|(key, _)| key).collect::<Vec<_>>(), ["note", "order_id"]);
        assert_eq!(valid.get("order_id"), Some("A-1"));
        assert!(Metadata::new([entry("k", "")]).is_ok(), "an empty value is allowed");
        let too_many = (0..=METADATA_ENTRIES_MAX).map(|index| entry(&format!("k{index}"), "v"));
        assert_eq!(Metadata::new(too_many), Err(MetadataError::TooManyEntries));
        let longest_key = "k".repeat(METADATA_KEY_LENGTH_MAX);
        assert!(Metadata::new([entry(&longest_key, "v")]).is_ok());
        for bad in ["", "has space", "é", &format!("{longest_key}k")] {
            assert!(matches!(Metadata::new([entry(bad, "v")]), Err(MetadataError::BadKey(_))), "{bad:?}");
        }
        assert!(Metadata::new([entry("k", &"v".repeat(METADATA_VALUE_LENGTH_MAX))]).is_ok());
        assert!(
            Metadata::new([entry("k", &"\u{e9}".repeat(METADATA_VALUE_LENGTH_MAX))]).is_ok(),
            "characters, not bytes"
        );
        let too_long = "\u{e9}".repeat(METADATA_VALUE_LENGTH_MAX + 1);
        for bad in [too_long, "line\nbreak".to_owned(), "nul\0".to_owned(), "c1\u{85}".to_owned()] {
            assert!(matches!(Metadata::new([entry("k", &bad)]), Err(MetadataError::BadValue(_))));
        }
        assert_eq!(Metadata::new([entry("k", "1"), entry("k", "2")]), Err(MetadataError::DuplicateKey("k".into())));
    }

    #[test]
    fn decoding_validates_like_the_constructor() {
        let metadata = Metadata::new([entry("order", "7")]).unwrap();
        let bytes = crate::codec::encode(&metadata);
        assert_eq!(crate::codec::decode::<Metadata>(&bytes).unwrap(), metadata);
        let json: Metadata = serde_json::from_str(r#"{"order":"7"}"#).unwrap();
        assert_eq!(json, metadata);
        assert!(serde_json::from_str::<Metadata>(r#"{"bad key":"7"}"#).is_err());
        assert!(serde_json::from_str::<Metadata>(r#"{"k":"1","k":"2"}"#).is_err());
        let many: String = (0..100).map(|index| format!(r#""k{index}":"v""#)).collect::<Vec<_>>().join(",");
        assert!(serde_json::from_str::<Metadata>(&format!("{{{many}}}")).is_err());
    }
}
