//! The hash chain of a partition's log: each entry names the link of the one before it, and a
//! link is a SHA-256 of that predecessor's link, the entry's kind, its epoch and its payload.
//! A reader that finds an entry naming another predecessor refuses to go on.

use ring::digest::{Context, SHA256};

/// A link of the chain: the hash of an entry and, through it, of every entry before it.
pub type Link = [u8; 32];

/// The predecessor of a stream's first entry.
pub const GENESIS: Link = [0; 32];

const DOMAIN: &[u8] = b"kassa.partition-log.v1";

/// What an entry of a partition's log is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A record the partition's owner appended (the engine's encoded batch).
    Record,
    /// A new owner's first entry: from here on, entries carry its epoch.
    Takeover,
    /// A new owner's second entry, once every stream is fenced: the log goes on after the
    /// record its payload numbers (8 bytes, big-endian). Records of earlier epochs numbered
    /// after it are void: the dead owner's unacknowledged tail, some of whose records never
    /// landed.
    Cut,
}

impl EntryKind {
    /// The name the entry's `Kassa-Kind` header carries.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Record => "record",
            EntryKind::Takeover => "takeover",
            EntryKind::Cut => "cut",
        }
    }

    /// The kind a `Kassa-Kind` header names.
    pub fn from_name(name: &str) -> Option<EntryKind> {
        match name {
            "record" => Some(EntryKind::Record),
            "takeover" => Some(EntryKind::Takeover),
            "cut" => Some(EntryKind::Cut),
            _ => None,
        }
    }
}

/// The link of an entry whose predecessor's link is `previous`.
pub fn link(previous: &Link, kind: EntryKind, epoch: u64, payload: &[u8]) -> Link {
    let mut context = Context::new(&SHA256);
    context.update(DOMAIN);
    context.update(previous);
    context.update(kind.name().as_bytes());
    context.update(&epoch.to_be_bytes());
    context.update(payload);
    context.finish().as_ref().try_into().expect("SHA-256 is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_depends_on_every_part() {
        let base = link(&GENESIS, EntryKind::Record, 1, b"batch");
        assert_ne!(base, link(&[1; 32], EntryKind::Record, 1, b"batch"));
        assert_ne!(base, link(&GENESIS, EntryKind::Takeover, 1, b"batch"));
        assert_ne!(base, link(&GENESIS, EntryKind::Record, 2, b"batch"));
        assert_ne!(base, link(&GENESIS, EntryKind::Record, 1, b"batcH"));
        assert_eq!(base, link(&GENESIS, EntryKind::Record, 1, b"batch"));
        for kind in [EntryKind::Record, EntryKind::Takeover, EntryKind::Cut] {
            assert_eq!(EntryKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(EntryKind::from_name("other"), None);
    }
}
