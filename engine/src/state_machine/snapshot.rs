//! Snapshot encoding: the state's largest parts (accounts, deposit/withdrawal ids, transfer ids)
//! each as a section of its own, then the rest, so that both encoding and reopening use every
//! core (decoding ten million accounts is mostly hash-map inserts, one core's worth each).
//!
//! Layout: `SECTIONS_FORMAT`, then for each of the [`SECTIONS`] sections a little-endian `u64`
//! length and that many bytes of [`codec`](crate::codec) encoding (each with its own version
//! byte). The whole snapshot is checksummed by the WAL before it is decoded.

use serde::Deserialize;

use super::{Account, IdempotencyIndex, Map, State, presized};
use crate::codec::{self, CodecError};
use crate::types::Id;

/// The accounts section as decoded: a map with room for every entry reserved up front.
#[derive(Deserialize)]
struct Accounts(#[serde(deserialize_with = "presized")] Map<Id, Account>);

/// First byte of a sectioned snapshot (distinct from every codec format version).
const SECTIONS_FORMAT: u8 = 0x80;

/// First byte of a snapshot of several shards: then a little-endian `u32` shard count and, per
/// shard, a little-endian `u64` length and that shard's sectioned snapshot.
const SHARDS_FORMAT: u8 = 0x81;

/// accounts, movements, transfers, rest.
const SECTIONS: usize = 4;

impl State {
    /// Encodes the state as a sectioned snapshot. It takes `&mut self` only to lend its big maps
    /// to the encoding threads; the state is unchanged afterwards.
    pub fn encode_snapshot(&mut self) -> Vec<u8> {
        let accounts = std::mem::take(&mut self.accounts);
        let movements = std::mem::take(&mut self.movements);
        let transfers = std::mem::take(&mut self.transfers);
        let rest = &*self;
        let sections: [Vec<u8>; SECTIONS] = std::thread::scope(|scope| {
            let accounts = scope.spawn(|| codec::encode(&accounts));
            let movements = scope.spawn(|| codec::encode(&movements));
            let transfers = scope.spawn(|| codec::encode(&transfers));
            let rest = codec::encode(rest);
            [
                accounts.join().expect("encoding cannot panic"),
                movements.join().expect("encoding cannot panic"),
                transfers.join().expect("encoding cannot panic"),
                rest,
            ]
        });
        self.accounts = accounts;
        self.movements = movements;
        self.transfers = transfers;
        let total: usize = sections.iter().map(|section| 8 + section.len()).sum();
        let mut bytes = Vec::with_capacity(1 + total);
        bytes.push(SECTIONS_FORMAT);
        for section in &sections {
            bytes.extend_from_slice(&(section.len() as u64).to_le_bytes());
            bytes.extend_from_slice(section);
        }
        bytes
    }

    /// Joins the sectioned snapshots of several shards (in shard order) into one snapshot; one
    /// shard's snapshot is kept as it is.
    pub fn join_shard_snapshots(mut parts: Vec<Vec<u8>>) -> Vec<u8> {
        if parts.len() == 1 {
            return parts.pop().expect("one part");
        }
        let total: usize = parts.iter().map(|part| 8 + part.len()).sum();
        let mut bytes = Vec::with_capacity(5 + total);
        bytes.push(SHARDS_FORMAT);
        bytes.extend_from_slice(&u32::try_from(parts.len()).expect("shard count fits u32").to_le_bytes());
        for part in &parts {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
        bytes
    }

    /// Decodes a snapshot of one shard ([`State::encode_snapshot`]) or several
    /// ([`State::join_shard_snapshots`]) into the shards' states, in shard order.
    pub fn decode_shard_snapshots(bytes: &[u8]) -> Result<Vec<State>, CodecError> {
        let Some((&SHARDS_FORMAT, body)) = bytes.split_first() else {
            return Ok(vec![State::decode_snapshot(bytes)?]);
        };
        let malformed = |what: &str| CodecError::Malformed(format!("sharded snapshot: {what}"));
        let (count, mut body) = body.split_first_chunk::<4>().ok_or_else(|| malformed("no shard count"))?;
        let count = u32::from_le_bytes(*count) as usize;
        if count == 0 || count > crate::shards::SHARDS_MAX {
            return Err(malformed("shard count out of range"));
        }
        let mut parts = Vec::with_capacity(count);
        for index in 0..count {
            let cut = || malformed(&format!("shard {index} is cut short"));
            let (length, after) = body.split_first_chunk::<8>().ok_or_else(cut)?;
            let length = usize::try_from(u64::from_le_bytes(*length)).map_err(|_| cut())?;
            let (part, rest) = after.split_at_checked(length).ok_or_else(cut)?;
            parts.push(part);
            body = rest;
        }
        if !body.is_empty() {
            return Err(CodecError::Trailing(body.len()));
        }
        parts.into_iter().map(State::decode_snapshot).collect()
    }

    /// Decodes a snapshot written by [`State::encode_snapshot`], its sections in parallel.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<State, CodecError> {
        let (&format, mut body) = bytes.split_first().ok_or(CodecError::Empty)?;
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
        let [accounts, movements, transfers, rest] = sections;
        std::thread::scope(|scope| {
            let accounts = scope.spawn(|| codec::decode_snapshot::<Accounts>(accounts));
            let movements = scope.spawn(|| codec::decode_snapshot::<IdempotencyIndex<_>>(movements));
            let transfers = scope.spawn(|| codec::decode_snapshot::<IdempotencyIndex<_>>(transfers));
            let mut state: State = codec::decode_snapshot(rest)?;
            state.accounts = accounts.join().expect("decoding never panics")?.0;
            state.movements = movements.join().expect("decoding never panics")?;
            state.transfers = transfers.join().expect("decoding never panics")?;
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
        let mut machine = StateMachine::new(Config { secret_key: SecretKey::from_bytes(&[3; 32]) });
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
    }

    #[test]
    fn a_snapshot_of_several_shards_round_trips_and_refuses_damage() {
        let states: Vec<State> = (0..3u64).map(|now_ms| State { now_ms, ..State::default() }).collect();
        let parts = states.iter().map(|state| state.clone().encode_snapshot()).collect();
        let bytes = State::join_shard_snapshots(parts);
        assert_eq!(State::decode_shard_snapshots(&bytes).unwrap(), states);
        for cut in 0..bytes.len() {
            assert!(State::decode_shard_snapshots(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(State::decode_shard_snapshots(&longer), Err(CodecError::Trailing(1)));
        let mut no_shards = bytes;
        no_shards[1..5].copy_from_slice(&0u32.to_le_bytes());
        assert!(State::decode_shard_snapshots(&no_shards).is_err());
        // One shard's snapshot is the plain sectioned format, as before shards.
        let one = State::join_shard_snapshots(vec![State::default().encode_snapshot()]);
        assert_eq!(State::decode_shard_snapshots(&one).unwrap(), vec![State::default()]);
    }
}
