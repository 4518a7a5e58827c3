//! Storage fault injection on kassa data directories: a data directory with acknowledged
//! commands, its crash image, and damage to its files (a torn write in RocksDB's log, flipped
//! bits in a log record or a table file, a deleted table file).
//!
//! Only `std` and `kassa_engine`: `adapters/tests/verify.rs` includes this file as a module, to
//! run `kassa verify` on the same damaged directories.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use kassa_engine::command::Submission;
use kassa_engine::command::{Command, Movement, OpenAccount};
use kassa_engine::wal::rocks_log::{self, LogRecord, LogScan};
use kassa_engine::{Currency, Engine, EngineConfig, Id};

/// The account every deposit of [`deposit`] goes to.
pub const ACCOUNT: &str = "vault";

/// A configuration without a ticker (every WAL record is a command of the test's) and with a
/// snapshot every `snapshot_every_commands` commands.
pub fn config(dir: &Path, snapshot_every_commands: u64) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.tick_interval_ms = 0;
    config.snapshot_every_commands = snapshot_every_commands;
    config
}

/// Opens [`ACCOUNT`] (EUR), acknowledged.
pub fn open_account(engine: &Engine) {
    let open = OpenAccount { account: Id::new(ACCOUNT).unwrap(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(engine.submit_blocking(Submission::admin(Command::OpenAccount(open))).unwrap().is_applied());
}

/// Deposits 1 (minor unit) into [`ACCOUNT`] as deposit `d{n}`, each its own acknowledged batch,
/// so its own WAL record and its own synced RocksDB write: after recovery the balance counts the
/// deposits that survived, and they are always the first ones.
pub fn deposit(engine: &Engine, numbers: std::ops::Range<usize>) {
    for n in numbers {
        let deposit =
            Movement { id: Id::new(&format!("d{n}")).unwrap(), account: Id::new(ACCOUNT).unwrap(), amount: 1 };
        assert!(
            engine.submit_blocking(Submission::admin(Command::Deposit(deposit))).unwrap().is_applied(),
            "deposit d{n}"
        );
    }
}

/// The balance of [`ACCOUNT`] (0 when it does not exist).
pub fn balance(engine: &Engine) -> i64 {
    engine
        .read_blocking(|machine| machine.account(&Id::new(ACCOUNT).unwrap()).map_or(0, |account| account.posted))
        .unwrap()
}

/// Deposits acknowledged before the damage, after opening the account (WAL record 1): deposit
/// `d{n}` is record `n + 2`.
pub const DEPOSITS: usize = 20;

/// A crash image (in `root/image`) of an engine that acknowledged the account and [`DEPOSITS`]
/// deposits, all of them still in RocksDB's log: no table file holds them.
pub fn crash_image_with_deposits(root: &Path) -> PathBuf {
    let (live, image) = (root.join("live"), root.join("image"));
    let engine = Engine::open(config(&live, u64::MAX)).unwrap();
    open_account(&engine);
    deposit(&engine, 0..DEPOSITS);
    crash_image(&live, &image);
    drop(engine);
    assert!(table_files(&image).is_empty(), "the acknowledged writes are only in the log");
    // The storage format mark, the secret key, the id table's size, the partition count, the
    // window of resolved objects, the account, then one synced write per deposit.
    assert_eq!(newest_log(&image).records.len(), DEPOSITS + 6);
    image
}

/// A data directory (in `root/clean`) that an engine shut down cleanly: everything flushed into
/// table files, with a snapshot every `snapshot_every_commands` commands.
pub fn cleanly_shut_down(root: &Path, snapshot_every_commands: u64) -> PathBuf {
    let dir = root.join("clean");
    let engine = Engine::open(config(&dir, snapshot_every_commands)).unwrap();
    open_account(&engine);
    deposit(&engine, 0..DEPOSITS);
    drop(engine);
    dir
}

/// Copies the files of a running engine's `live` directory into `image`: what a crash (power
/// cut or SIGKILL) at this moment would leave, since every acknowledged write is already synced.
/// The engine must be idle (no command in flight, no ticker): then nothing writes while copying,
/// its synced writes are all in RocksDB's log, and nothing of them is in a table file yet.
pub fn crash_image(live: &Path, image: &Path) {
    std::fs::create_dir_all(image).unwrap();
    for entry in std::fs::read_dir(live).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, image.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// Copies a data directory that no engine has open.
pub fn copy_dir(from: &Path, to: &Path) {
    crash_image(from, to);
}

/// The newest RocksDB log file of `dir` (the one being written), scanned.
pub fn newest_log(dir: &Path) -> LogScan {
    let path = rocks_log::log_files(dir).unwrap().pop().expect("a RocksDB log file");
    rocks_log::scan(&path).unwrap()
}

/// Truncates the newest log in the middle of its last record: a write torn by a crash. Returns
/// the log and the record torn.
pub fn tear_last_log_record(dir: &Path) -> (PathBuf, LogRecord) {
    let log = newest_log(dir);
    let last = *log.records.last().expect("a record in the newest log");
    let file = std::fs::OpenOptions::new().write(true).open(&log.path).unwrap();
    file.set_len(last.offset + last.len / 2).unwrap();
    file.sync_all().unwrap();
    (log.path, last)
}

/// Flips one bit in the payload of a record of the newest log, `from_end` records before its last
/// (0: the last). Returns the log and the record damaged.
pub fn flip_log_record(dir: &Path, from_end: usize) -> (PathBuf, LogRecord) {
    let log = newest_log(dir);
    let record = log.records[log.records.len() - 1 - from_end];
    // Three bytes before its end: inside the payload (the `WriteBatch`), never a header.
    flip_bit(&log.path, record.offset + record.len - 3);
    (log.path, record)
}

/// RocksDB's table files (`NNNNNN.sst`) in `dir`, oldest first.
pub fn table_files(dir: &Path) -> Vec<PathBuf> {
    let mut tables: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let number = path.file_name()?.to_str()?.strip_suffix(".sst")?.parse::<u64>().ok()?;
            Some((number, path))
        })
        .collect();
    tables.sort();
    tables.into_iter().map(|(_, path)| path).collect()
}

/// Flips one bit of the file at `offset`.
pub fn flip_bit(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[usize::try_from(offset).unwrap()] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

/// Offset of a byte inside the first data block of a table file: data blocks come first, and
/// even the smallest (one key) is longer than this.
pub const FIRST_DATA_BLOCK_OFFSET: u64 = 8;

/// The contents of every file in `dir` (a hash per file name), except RocksDB's informational
/// `LOG` files, which any open (read-only too) rotates.
pub fn fingerprint(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), path))
        .filter(|(name, _)| !name.starts_with("LOG"))
        .map(|(name, path)| {
            let mut hasher = DefaultHasher::new();
            std::fs::read(&path).unwrap().hash(&mut hasher);
            (name, hasher.finish())
        })
        .collect()
}
