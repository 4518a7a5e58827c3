//! Snapshot encoding: the state's largest parts (accounts, the idempotency table) each as a
//! section of its own, then the rest, so that both encoding and reopening use every
//! core (decoding ten million accounts is mostly hash-map inserts, one core's worth each).
//!
//! Layout: `SECTIONS_FORMAT`, then for each of the [`SECTIONS`] sections a little-endian `u64`
//! length and that many bytes of [`codec`](crate::codec) encoding (each with its own version
//! byte). The whole snapshot is checksummed by the WAL before it is decoded.

use serde::Deserialize;

use super::{Account, IdTable, Map, State};
use crate::codec::{self, CodecError};
use crate::types::Id;

/// Most entries a decoded map reserves room for up front (more still fit; they grow the map).
pub(crate) const PRESIZE_ENTRIES_MAX: usize = 1 << 25;

/// Decodes a [`Map`] with room for all its entries reserved first: a snapshot of ten million
/// accounts otherwise rehashes the map a dozen times (serde reserves at most ~1 MiB). Used only
/// for the state, which is decoded only from snapshots the WAL has checksummed; the reservation
/// is still capped at [`PRESIZE_ENTRIES_MAX`].
pub(super) fn presized<'de, D, K, V>(deserializer: D) -> Result<Map<K, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de> + Eq + std::hash::Hash,
    V: Deserialize<'de>,
{
    struct MapVisitor<K, V>(std::marker::PhantomData<(K, V)>);
    impl<'de, K, V> serde::de::Visitor<'de> for MapVisitor<K, V>
    where
        K: Deserialize<'de> + Eq + std::hash::Hash,
        V: Deserialize<'de>,
    {
        type Value = Map<K, V>;
        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a map")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Map<K, V>, A::Error> {
            let reserve = access.size_hint().unwrap_or(0).min(PRESIZE_ENTRIES_MAX);
            let mut map = Map::with_capacity_and_hasher(reserve, ahash::RandomState::default());
            while let Some((key, value)) = access.next_entry()? {
                map.insert(key, value);
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
}

/// The accounts section as decoded: a map with room for every entry reserved up front.
#[derive(Deserialize)]
struct Accounts(#[serde(deserialize_with = "presized")] Map<Id, Account>);

/// First byte of a sectioned snapshot (distinct from every codec format version).
const SECTIONS_FORMAT: u8 = 0x80;

/// First byte of the multi-shard snapshots of the shard layer that runtime v2 removed.
const SHARDS_FORMAT: u8 = 0x81;

/// accounts, ids, rest.
const SECTIONS: usize = 3;

impl State {
    /// This state as `records` more records that change nothing else (repeats, refusals) leave
    /// it: each counts in the partition's position (`StateMachine::position`). For comparing
    /// states across such records.
    pub fn after_unchanged_records(&self, records: u64) -> State {
        State { position: self.position + records, ..self.clone() }
    }

    /// Encodes the state as a sectioned snapshot. It takes `&mut self` only to lend its big maps
    /// to the encoding threads; the state is unchanged afterwards.
    pub fn encode_snapshot(&mut self) -> Vec<u8> {
        let accounts = std::mem::take(&mut self.accounts);
        let ids = std::mem::take(&mut self.ids);
        let rest = &*self;
        let sections: [Vec<u8>; SECTIONS] = std::thread::scope(|scope| {
            let accounts = scope.spawn(|| codec::encode(&accounts));
            let ids = scope.spawn(|| codec::encode(&ids));
            let rest = codec::encode(rest);
            [accounts.join().expect("encoding cannot panic"), ids.join().expect("encoding cannot panic"), rest]
        });
        self.accounts = accounts;
        self.ids = ids;
        let total: usize = sections.iter().map(|section| 8 + section.len()).sum();
        let mut bytes = Vec::with_capacity(1 + total);
        bytes.push(SECTIONS_FORMAT);
        for section in &sections {
            bytes.extend_from_slice(&(section.len() as u64).to_le_bytes());
            bytes.extend_from_slice(section);
        }
        bytes
    }

    /// Decodes a snapshot written by [`State::encode_snapshot`], its sections in parallel.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<State, CodecError> {
        let (&format, mut body) = bytes.split_first().ok_or(CodecError::Empty)?;
        if format == SHARDS_FORMAT {
            let why = "a snapshot of several shards (kassa before runtime v2): open it with that kassa";
            return Err(CodecError::Malformed(why.into()));
        }
        if format != SECTIONS_FORMAT {
            return Err(CodecError::UnknownVersion(format));
        }
        let mut sections: [&[u8]; SECTIONS] = [&[]; SECTIONS];
        for (index, section) in sections.iter_mut().enumerate() {
            let malformed = || CodecError::Malformed(format!("snapshot section {index} is cut short"));
            let (length, after) = body.split_first_chunk::<8>().ok_or_else(malformed)?;
            let length = usize::try_from(u64::from_le_bytes(*length)).map_err(|_| malformed())?;
            (*section, body) = after.split_at_checked(length).ok_or_else(malformed)?;
        }
        if !body.is_empty() {
            return Err(CodecError::Trailing(body.len()));
        }
        let [accounts, ids, rest] = sections;
        std::thread::scope(|scope| {
            let accounts = scope.spawn(|| codec::decode_snapshot::<Accounts>(accounts));
            let ids = scope.spawn(|| codec::decode_snapshot::<IdTable>(ids));
            let mut state: State = codec::decode_snapshot(rest)?;
            state.accounts = accounts.join().expect("decoding never panics")?.0;
            state.ids = ids.join().expect("decoding never panics")?;
            Ok(state)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Movement, OpenAccount, Transfer};
    use crate::state_machine::{CommitOutput, Config, SecretKey, StateMachine};
    use crate::types::{Currency, Id};

    fn id(text: &str) -> Id {
        Id::new(text).unwrap()
    }

    #[test]
    fn a_sectioned_snapshot_round_trips_and_leaves_the_state_as_it_was() {
        let mut machine = StateMachine::new(Config::with_ids_max(SecretKey::from_bytes(&[3; 32]), 4_096));
        let mut commands = Vec::new();
        for name in ["a", "b", "c"] {
            commands.push(Command::OpenAccount(OpenAccount {
                account: id(name),
                currency: Currency::EUR,
                overdraft_limit: 5,
            }));
            commands.push(Command::Deposit(Movement { id: id(&format!("d-{name}")), account: id(name), amount: 100 }));
        }
        commands.push(Command::Transfer(Transfer {
            id: id("t"),
            from: id("a"),
            to: id("b"),
            amount: 30,
            currency: Currency::EUR,
        }));
        let commands: Vec<_> = commands.into_iter().map(crate::command::Submission::admin).collect();
        machine.commit(1_000, &commands, &mut CommitOutput::default());
        let before = machine.state().clone();
        let mut state = machine.state().clone();
        let bytes = state.encode_snapshot();
        assert_eq!(state, before, "encoding leaves the state as it was");
        assert_eq!(State::decode_snapshot(&bytes).unwrap(), before);
        // Every truncation is refused, never a panic; so is a wrong format byte or a tail.
        for cut in 0..bytes.len() {
            assert!(State::decode_snapshot(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong = bytes.clone();
        wrong[0] = 1;
        assert_eq!(State::decode_snapshot(&wrong), Err(CodecError::UnknownVersion(1)));
        let mut longer = bytes;
        longer.push(0);
        assert_eq!(State::decode_snapshot(&longer), Err(CodecError::Trailing(1)));
        // The shard layer's multi-shard snapshots are named, not misread.
        assert!(matches!(State::decode_snapshot(&[SHARDS_FORMAT, 3, 0, 0, 0]), Err(CodecError::Malformed(_))));
    }
}
