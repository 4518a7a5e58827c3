//! Each partition's state hashed at positions of the log that its owner and every standby
//! pass, so that a standby is shown to hold exactly the owner's state (issue 16; docs/cluster.md).
//!
//! With [`EngineConfig::state_hash_every`](super::EngineConfig::state_hash_every) set to `n`,
//! a partition's state is hashed right after the first of its records at or after every
//! multiple of `n`: by the owner's snapshotter replica (the state after durable records, never
//! the executor's, which runs ahead of the log) and by a follower once recovered (a standby).
//! Both number records alike, so the same position means the same records applied. A line
//! `partition record sha256` is appended to [`STATE_HASHES_FILE`] in the data directory for
//! each. The hash is SHA-256 of the state's canonical encoding ([`state_hash`]). It costs an
//! encoding of the partition's whole state per hash: a check for tests and operators, off by
//! default.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::state_machine::StateMachine;

/// The file in the data directory that state hashes are appended to.
pub const STATE_HASHES_FILE: &str = "state-hashes";

/// Where one partition's state is hashed, and where the hashes go.
#[derive(Debug)]
pub(super) struct StateHashes {
    partition: u16,
    every: u64,
    /// The last record of the partition the state applied (or the record its snapshot covers).
    through: u64,
    path: PathBuf,
}

impl StateHashes {
    /// Hashes partition `partition` every `every` records (0: never) after record `through`.
    pub(super) fn new(data_dir: &Path, partition: u16, every: u64, through: u64) -> StateHashes {
        StateHashes { partition, every, through, path: data_dir.join(STATE_HASHES_FILE) }
    }

    /// Hashes every `every` records from now on (a follower's recovery hashes nothing: it
    /// would only repeat what the log's writer hashed, at the cost of recovery time).
    pub(super) fn hash_every(&mut self, every: u64) {
        self.every = every;
    }

    /// Called once `machine` applied record `seq` of its partition: hashes its state if a
    /// multiple of `every` lies after the record before it, up to this one.
    pub(super) fn applied(&mut self, seq: u64, machine: &StateMachine) {
        let previous = std::mem::replace(&mut self.through, seq);
        if self.every == 0 || seq / self.every == previous / self.every {
            return;
        }
        let partition = self.partition;
        let line = match state_hash(machine) {
            Ok(hash) => format!("{partition} {seq} {}\n", hex::encode(hash)),
            Err(error) => return tracing::warn!(%error, partition, seq, "a state could not be hashed"),
        };
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(error) = appended {
            tracing::warn!(%error, partition, seq, "a state hash could not be written");
        }
    }
}

/// SHA-256 of `machine`'s state in its canonical encoding ([`crate::codec::encode_canonical`]:
/// every map's entries in key order, since a map's order in memory differs between processes).
/// What a snapshot holds; the paged lists, which no snapshot holds, are not in it either.
pub fn state_hash(machine: &StateMachine) -> Result<[u8; 32], crate::codec::CanonicalError> {
    let canonical = crate::codec::encode_canonical(machine.state())?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &canonical);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    Ok(hash)
}

/// The state hashes written in `data_dir`, by partition and record. Two lines for the same
/// position with different hashes are an error: one state machine disagreed with itself.
pub fn read_state_hashes(data_dir: &Path) -> Result<BTreeMap<(u16, u64), String>, String> {
    let text = match std::fs::read_to_string(data_dir.join(STATE_HASHES_FILE)) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error.to_string()),
    };
    let mut hashes = BTreeMap::new();
    for line in text.lines() {
        let malformed = || format!("malformed line {line:?}");
        let fields: Vec<&str> = line.split(' ').collect();
        let [partition, seq, hash] = fields[..] else { return Err(malformed()) };
        let position = (partition.parse().map_err(|_| malformed())?, seq.parse().map_err(|_| malformed())?);
        if let Some(earlier) = hashes.insert(position, hash.to_string())
            && earlier != hash
        {
            return Err(format!("two hashes at partition {} record {}", position.0, position.1));
        }
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Movement, OpenAccount, Submission};
    use crate::state_machine::{CommitOutput, Config, SecretKey};
    use crate::types::{Currency, Id};

    fn apply(machine: &mut StateMachine, command: Command) {
        machine.commit(1_700_000_000_000, &[Submission::admin(command)], &mut CommitOutput::default());
    }

    #[test]
    fn a_state_is_hashed_after_the_first_record_at_or_past_each_multiple() {
        let dir = tempfile::tempdir().unwrap();
        let mut machine = StateMachine::new(Config::with_ids_max(SecretKey::from_bytes(&[7; 32]), 1_024));
        let mut hashes = StateHashes::new(dir.path(), 0, 10, 3);
        let account = Id::new("a").unwrap();
        let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
        apply(&mut machine, Command::OpenAccount(open));
        // Records 4..9 pass no multiple of 10; 12 passes 10; 15 none; 31 passes 20 and 30.
        for seq in [4, 9, 12, 15, 31] {
            hashes.applied(seq, &machine);
        }
        let deposit = Movement { id: Id::new("d1").unwrap(), account, amount: 5 };
        apply(&mut machine, Command::Deposit(deposit));
        hashes.applied(40, &machine);
        let written = read_state_hashes(dir.path()).unwrap();
        assert_eq!(written.keys().copied().collect::<Vec<_>>(), [(0, 12), (0, 31), (0, 40)]);
        assert_eq!(written[&(0, 12)], written[&(0, 31)], "nothing applied between them");
        assert_ne!(written[&(0, 31)], written[&(0, 40)], "a deposit changes the state");
        assert_eq!(written[&(0, 40)], hex::encode(state_hash(&machine).unwrap()));
        assert_eq!(hashes.through, 40);
    }

    #[test]
    fn two_different_hashes_at_one_position_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_HASHES_FILE), "0 12 aa\n1 12 bb\n0 12 aa\n").unwrap();
        assert_eq!(read_state_hashes(dir.path()).unwrap().len(), 2);
        std::fs::write(dir.path().join(STATE_HASHES_FILE), "0 12 aa\n0 12 ab\n").unwrap();
        assert!(read_state_hashes(dir.path()).is_err());
        std::fs::write(dir.path().join(STATE_HASHES_FILE), "0 12\n").unwrap();
        assert!(read_state_hashes(dir.path()).is_err());
    }
}
