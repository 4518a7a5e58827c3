//! The offline check behind `kassa verify --data-dir`: opens a data directory read-only (nothing
//! on disk changes), applies the same recovery rules as a start (a torn, never-acknowledged tail
//! of RocksDB's log is tolerated and reported; any other damage is an error naming it), loads the
//! snapshot, replays every record after it through `commit`, reads every block of every table
//! file (RocksDB checks each block's checksum) and checks the engine's invariants.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use super::rocks_log::{self, LogEnd};
use super::{StoredKeys, Wal, WalError, WalRecord};
use crate::partition::ids_max_per_partition;
use crate::state_machine::{CommitOutput, Config, SecretKey, StateMachine, Totals};
use crate::types::Currency;

/// What a sound data directory holds.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Sequence number of the oldest partition's snapshot (0: none).
    pub snapshot_seq: u64,
    /// The last record (`snapshot_seq` when none follows it).
    pub last_seq: u64,
    /// Records replayed after the snapshot.
    pub records_replayed: u64,
    /// Commands in them.
    pub commands_replayed: u64,
    /// Partitions of the directory.
    pub partitions: u16,
    /// Accounts in the recovered state.
    pub accounts: usize,
    /// Money in and out, per currency.
    pub totals: Vec<(Currency, Totals)>,
    /// Keys read per column family.
    pub keys: StoredKeys,
    /// RocksDB log files (`.log`).
    pub log_files: usize,
    /// RocksDB table files (`.sst`).
    pub table_files: usize,
    /// A torn write at the end of RocksDB's log, which the next start drops (not damage).
    pub torn_tail: Option<TornTail>,
}

/// An incomplete record at the end of a RocksDB log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The log file.
    pub file: PathBuf,
    /// Where the incomplete record starts.
    pub offset: u64,
    /// Its bytes present.
    pub bytes: u64,
}

/// Why a data directory is not sound.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No RocksDB database there.
    #[error("not a kassa data directory (no RocksDB CURRENT file)")]
    NotADataDirectory,
    /// A file is missing or damaged (the error names it).
    #[error(transparent)]
    Damaged(#[from] WalError),
    /// The files are intact but replaying them breaks an invariant of the engine.
    #[error("an invariant is broken after record {seq}: {message}")]
    Invariant {
        /// The last record applied.
        seq: u64,
        /// The broken invariant.
        message: String,
    },
    /// The directory could not be read.
    #[error("cannot read the data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks the data directory `dir` offline (the engine must not be running on it).
pub fn verify_data_dir(dir: &Path) -> Result<VerifyReport, VerifyError> {
    if !dir.join("CURRENT").is_file() {
        return Err(VerifyError::NotADataDirectory);
    }
    let wal = Wal::open_read_only(dir)?;
    let key = wal.stored_secret_key()?.unwrap_or([0; 32]);
    let ids_max = wal.stored_ids_max()?.unwrap_or(crate::state_machine::IDS_MAX_DEFAULT);
    let partitions = wal.stored_partitions()?.unwrap_or(1);
    let mut config = Config::with_ids_max(SecretKey::from_bytes(&key), ids_max_per_partition(ids_max, partitions));
    if let Some(window) = wal.stored_resolved_in_memory_ms()? {
        config.resolved_in_memory_ms = window;
    }
    let (mut machines, snapshot_seqs) = wal.load_partitions(&config, partitions)?;
    let snapshot_seq = snapshot_seqs.iter().copied().min().unwrap_or(0);
    let mut output = CommitOutput::default();
    let (mut records_replayed, mut commands_replayed) = (0u64, 0u64);
    let mut broken: Option<VerifyError> = None;
    let last_seq = wal.replay(snapshot_seq, |record| {
        if broken.is_some() {
            return;
        }
        match replay_one(&mut machines, &snapshot_seqs, &record, &mut output) {
            Ok(true) => {
                records_replayed += 1;
                commands_replayed += record.commands.len() as u64;
            }
            Ok(false) => {}
            Err(error) => broken = Some(error),
        }
    })?;
    if let Some(error) = broken {
        return Err(error);
    }
    for machine in &machines {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| machine.check_invariants())) {
            return Err(VerifyError::Invariant { seq: last_seq, message: panic_message(panic.as_ref()) });
        }
    }
    let keys = wal.scan_all()?;
    let logs = rocks_log::log_files(dir)?;
    let torn_tail = scan_logs(&logs)?;
    let table_files = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|extension| extension == "sst"))
        .count();
    Ok(VerifyReport {
        snapshot_seq,
        last_seq,
        records_replayed,
        commands_replayed,
        partitions,
        accounts: machines.iter().map(StateMachine::account_count).sum(),
        totals: merged_totals(&machines),
        keys,
        log_files: logs.len(),
        table_files,
        torn_tail,
    })
}

/// Replays `record` on its partition's machine, unless the partition's snapshot holds it
/// (`Ok(false)`); refuses a record of no partition, one that is not its partition's next, and
/// one whose commit panics.
fn replay_one(
    machines: &mut [StateMachine],
    snapshot_seqs: &[u64],
    record: &WalRecord,
    output: &mut CommitOutput,
) -> Result<bool, VerifyError> {
    let (partition, partitions, seq) = (usize::from(record.partition), machines.len(), record.seq);
    if snapshot_seqs.get(partition).is_some_and(|covered| seq <= *covered) {
        return Ok(false);
    }
    let Some(machine) = machines.get_mut(partition) else {
        let message = format!("the record names partition {partition} of {partitions}");
        return Err(VerifyError::Invariant { seq, message });
    };
    let expected = machine.position() + 1;
    if record.position != expected {
        let message = format!("record {} of partition {partition} where {expected} was expected", record.position);
        return Err(VerifyError::Invariant { seq, message });
    }
    output.clear();
    let committed = catch_unwind(AssertUnwindSafe(|| {
        machine.commit_with_messages(record.now_ms, &record.messages, &record.commands, output)
    }));
    committed.map_err(|panic| VerifyError::Invariant { seq, message: panic_message(panic.as_ref()) })?;
    Ok(true)
}

/// Scans every log file: the torn tail found, if any; a damaged log is an error (RocksDB
/// opened the directory all the same).
fn scan_logs(logs: &[std::path::PathBuf]) -> Result<Option<TornTail>, VerifyError> {
    let mut torn_tail = None;
    for log in logs {
        let scan = rocks_log::scan(log)?;
        match scan.end {
            LogEnd::Clean => {}
            LogEnd::TornTail { offset, bytes } => torn_tail = Some(TornTail { file: scan.path, offset, bytes }),
            LogEnd::Damaged { offset, reason } => {
                let rocksdb = "RocksDB tolerated it".to_string();
                return Err(WalError::DamagedLog { file: scan.path, offset, reason, rocksdb }.into());
            }
        }
    }
    Ok(torn_tail)
}

/// Money in and out of all partitions, per currency.
fn merged_totals(machines: &[StateMachine]) -> Vec<(Currency, Totals)> {
    let mut merged: std::collections::BTreeMap<Currency, Totals> = std::collections::BTreeMap::new();
    for (currency, totals) in machines.iter().flat_map(|machine| machine.totals()) {
        let sum = merged.entry(*currency).or_default();
        sum.deposited += totals.deposited;
        sum.withdrawn += totals.withdrawn;
    }
    merged.into_iter().collect()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message.to_string()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic without a message".into()
    }
}
