//! Storage faults: a real engine acknowledges commands on a temporary directory, then its files
//! are damaged the way crashes and disks damage them, and it is reopened. kassa drops only a torn,
//! never-acknowledged write at the end of RocksDB's log; any other damage refuses to open with an
//! error naming it (file and byte, table file, or snapshot), changes nothing on disk, and is
//! reported the same way by the offline check behind `kassa verify --data-dir`
//! (`verify_data_dir`). The rules, and the one case a checksum cannot decide, are documented in
//! `engine/src/wal/mod.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use kassa_engine::Engine;
use kassa_engine::wal::verify::{TornTail, verify_data_dir};
use kassa_tests::faults::{self, DEPOSITS, FIRST_DATA_BLOCK_OFFSET, cleanly_shut_down, crash_image_with_deposits};
use rocksdb::{DB, IteratorMode, Options};

/// What a refused open leaves exactly as it was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Every file: RocksDB itself refused, before writing anything.
    EveryByte,
    /// Every table file: RocksDB opened (a read-write open writes a new MANIFEST, OPTIONS file and
    /// log) and kassa refused when recovery read the damaged block.
    TableFiles,
}

/// Opens the engine (which must fail) and the offline check (which must fail too); checks what
/// the open kept (`kept`; the offline check keeps every byte), and that a second open fails the
/// same way. Returns the error of the open.
fn refused(dir: &Path, kept: Kept) -> String {
    let tables = |files: BTreeMap<String, u64>| -> BTreeMap<String, u64> {
        files.into_iter().filter(|(name, _)| kept == Kept::EveryByte || name.ends_with(".sst")).collect()
    };
    let before = tables(faults::fingerprint(dir));
    let error = Engine::open(faults::config(dir, u64::MAX)).err().expect("the damaged directory must not open");
    let message = error.to_string();
    assert_eq!(tables(faults::fingerprint(dir)), before, "a refused open changed the files: {message}");
    let again = Engine::open(faults::config(dir, u64::MAX)).err().expect("still refused").to_string();
    assert_eq!(again, message, "the second open fails the same way");
    let before = faults::fingerprint(dir);
    let verified = verify_data_dir(dir).expect_err("verify must report the damage").to_string();
    assert_eq!(verified, message, "verify reports what the open refused");
    assert_eq!(faults::fingerprint(dir), before, "verify changed the files");
    message
}

/// Every key and value of every column family (read-only).
fn contents(dir: &Path) -> BTreeMap<(String, Vec<u8>), Vec<u8>> {
    let options = Options::default();
    let families = DB::list_cf(&options, dir).unwrap();
    let db = DB::open_cf_for_read_only(&options, dir, &families, false).unwrap();
    let mut all = BTreeMap::new();
    for family in &families {
        for item in db.iterator_cf(db.cf_handle(family).unwrap(), IteratorMode::Start) {
            let (key, value) = item.unwrap();
            all.insert((family.clone(), key.to_vec()), value.to_vec());
        }
    }
    all
}

/// Edits the `meta` column family directly (what no kassa code path does), then flushes it.
fn edit_meta(dir: &Path, edit: impl FnOnce(&DB, &rocksdb::ColumnFamily)) {
    let options = Options::default();
    let families = DB::list_cf(&options, dir).unwrap();
    let db = DB::open_cf(&options, dir, &families).unwrap();
    let meta = db.cf_handle("meta").unwrap();
    edit(&db, meta);
    db.flush_cf(meta).unwrap();
}

/// The key of snapshot chunk `n` (`engine/src/wal/mod.rs`).
/// Chunk `n` of the snapshot after record `seq`.
/// Chunk `n` of partition 0's snapshot after record `seq`.
fn snapshot_chunk_key(seq: u64, n: u32) -> Vec<u8> {
    [b"snapshot/".as_slice(), &0u16.to_be_bytes(), &seq.to_be_bytes(), &n.to_be_bytes()].concat()
}

#[test]
fn a_torn_write_at_the_end_of_the_log_loses_only_that_unacknowledged_command() {
    let root = tempfile::tempdir().unwrap();
    let image = crash_image_with_deposits(root.path());
    let (log, torn) = faults::tear_last_log_record(&image);

    // The offline check: sound, the torn tail reported, nothing changed.
    let before = faults::fingerprint(&image);
    let report = verify_data_dir(&image).unwrap();
    assert_eq!(faults::fingerprint(&image), before);
    assert_eq!(report.last_seq, DEPOSITS as u64, "record {} (deposit d{}) was torn", DEPOSITS + 1, DEPOSITS - 1);
    assert_eq!(report.torn_tail, Some(TornTail { file: log, offset: torn.offset, bytes: torn.len / 2 }));

    // The start drops the torn write and keeps everything before it.
    let (engine, recovery) = Engine::open_with_report(faults::config(&image, u64::MAX)).unwrap();
    assert_eq!(recovery.records_replayed, DEPOSITS as u64);
    assert_eq!(faults::balance(&engine), DEPOSITS as i64 - 1);
    // The torn deposit was never acknowledged: its client retries it, and it applies once; an
    // earlier one is an idempotent replay.
    faults::deposit(&engine, DEPOSITS - 1..DEPOSITS);
    faults::deposit(&engine, 0..1);
    assert_eq!(faults::balance(&engine), DEPOSITS as i64);
    drop(engine);
    let engine = Engine::open(faults::config(&image, u64::MAX)).unwrap();
    assert_eq!(faults::balance(&engine), DEPOSITS as i64);
    drop(engine);
    let report = verify_data_dir(&image).unwrap();
    // Records 21 (the retried deposit) and 22 (the idempotent replay, logged like any command).
    assert_eq!((report.last_seq, report.torn_tail), (DEPOSITS as u64 + 2, None));
}

#[test]
fn flipped_bits_in_the_last_log_record_refuse_to_open() {
    // A complete last record that fails its checksum was written whole, so it may have been
    // acknowledged: damage, not a torn write.
    let root = tempfile::tempdir().unwrap();
    let image = crash_image_with_deposits(root.path());
    let (log, record) = faults::flip_log_record(&image, 0);
    let message = refused(&image, Kept::EveryByte);
    assert_eq!(
        message,
        format!(
            "RocksDB log {} is damaged at byte {} (checksum mismatch in a complete record (not a torn write)); \
             acknowledged commands may be in or after it, so kassa refuses to open rather than drop them \
             (RocksDB: Corruption: checksum mismatch)",
            log.display(),
            record.offset
        )
    );
}

#[test]
fn flipped_bits_in_an_earlier_log_record_refuse_to_open() {
    let root = tempfile::tempdir().unwrap();
    let image = crash_image_with_deposits(root.path());
    let (log, record) = faults::flip_log_record(&image, 10);
    let message = refused(&image, Kept::EveryByte);
    let expected = format!("RocksDB log {} is damaged at byte {} (checksum mismatch", log.display(), record.offset);
    assert!(message.starts_with(&expected), "{message}");
}

#[test]
fn flipped_bits_in_any_table_file_refuse_to_open() {
    let root = tempfile::tempdir().unwrap();
    let clean = cleanly_shut_down(root.path(), u64::MAX);
    let tables = faults::table_files(&clean);
    assert_eq!(tables.len(), 5, "one table file per column family: {tables:?}");
    for (index, table) in tables.iter().enumerate() {
        let copy = root.path().join(format!("flipped-{index}"));
        faults::copy_dir(&clean, &copy);
        let damaged = copy.join(table.file_name().unwrap());
        faults::flip_bit(&damaged, FIRST_DATA_BLOCK_OFFSET);
        let message = refused(&copy, Kept::TableFiles);
        assert!(message.starts_with("storage is damaged: Corruption: block checksum mismatch"), "{message}");
        assert!(message.contains(&damaged.display().to_string()), "the error names {}: {message}", damaged.display());
    }
}

#[test]
fn a_deleted_table_file_refuses_to_open() {
    let root = tempfile::tempdir().unwrap();
    let clean = cleanly_shut_down(root.path(), u64::MAX);
    let tables = faults::table_files(&clean);
    // The newest first, then every other one.
    for (index, table) in tables.iter().enumerate().rev() {
        let copy = root.path().join(format!("deleted-{index}"));
        faults::copy_dir(&clean, &copy);
        let deleted = copy.join(table.file_name().unwrap());
        std::fs::remove_file(&deleted).unwrap();
        let message = refused(&copy, Kept::EveryByte);
        let name = deleted.display().to_string();
        assert!(message.starts_with(&format!("table file {name} is missing; refusing to open")), "{message}");
    }
}

#[test]
fn a_damaged_snapshot_refuses_to_open_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    // A snapshot every 10 commands: the newest covers records 1..=20.
    let clean = cleanly_shut_down(root.path(), 10);
    let healthy = verify_data_dir(&clean).unwrap();
    assert_eq!((healthy.snapshot_seq, healthy.last_seq), (20, DEPOSITS as u64 + 1));

    let deleted = root.path().join("deleted-chunk");
    faults::copy_dir(&clean, &deleted);
    edit_meta(&deleted, |db, meta| {
        // The snapshot after record 10 was deleted when the one after 20 became current.
        assert!(db.get_cf(meta, snapshot_chunk_key(10, 0)).unwrap().is_none());
        db.delete_cf(meta, snapshot_chunk_key(20, 0)).unwrap();
    });
    let flipped = root.path().join("flipped-chunk");
    faults::copy_dir(&clean, &flipped);
    edit_meta(&flipped, |db, meta| {
        let mut chunk = db.get_cf(meta, snapshot_chunk_key(20, 0)).unwrap().unwrap();
        let middle = chunk.len() / 2;
        chunk[middle] ^= 0x10;
        db.put_cf(meta, snapshot_chunk_key(20, 0), chunk).unwrap();
    });
    for (dir, reason) in [(&deleted, "chunk 0 of 1 is missing"), (&flipped, "checksum mismatch")] {
        let before = contents(dir);
        let error = Engine::open(faults::config(dir, 10)).err().expect("refused").to_string();
        assert_eq!(
            error,
            format!("snapshot is corrupt (partition 0's snapshot at record 20: {reason}); refusing to open")
        );
        // A read-write RocksDB open may rewrite its own files (MANIFEST, OPTIONS); the keys and
        // values stay exactly as they were: nothing dropped, nothing written.
        assert!(contents(dir) == before, "the refused open changed the data");
        assert_eq!(Engine::open(faults::config(dir, 10)).err().expect("still refused").to_string(), error);
        assert_eq!(verify_data_dir(dir).unwrap_err().to_string(), error);
    }
}

#[test]
fn a_missing_secret_key_refuses_to_open() {
    let root = tempfile::tempdir().unwrap();
    let clean = cleanly_shut_down(root.path(), u64::MAX);
    edit_meta(&clean, |db, meta| db.delete_cf(meta, b"secret_key").unwrap());
    let error = Engine::open(faults::config(&clean, u64::MAX)).err().expect("refused").to_string();
    assert!(error.starts_with("metadata is corrupt: the secret key is missing"), "{error}");
    assert!(verify_data_dir(&clean).unwrap_err().to_string().contains("the secret key is missing"));
}

#[test]
fn a_healthy_directory_verifies() {
    let root = tempfile::tempdir().unwrap();
    let clean = cleanly_shut_down(root.path(), 10);
    let before = faults::fingerprint(&clean);
    let report = verify_data_dir(&clean).unwrap();
    assert_eq!(faults::fingerprint(&clean), before, "verify is read-only");
    // A snapshot every 10 commands: at record 20, or at 10 when the one at 20 came while the one
    // at 10 was still being written (the writer then skips it, by design); the rest is replayed.
    assert!(matches!(report.snapshot_seq, 10 | 20), "{report:?}");
    assert_eq!((report.last_seq, report.records_replayed), (21, 21 - report.snapshot_seq));
    assert_eq!(report.accounts, 1);
    assert_eq!(report.totals.len(), 1);
    assert_eq!(report.totals[0].1.deposited, DEPOSITS as u128);
    assert_eq!(report.torn_tail, None);
    // The crash image of a running engine is sound too (its log is replayed, not flushed).
    let image = crash_image_with_deposits(root.path());
    let report = verify_data_dir(&image).unwrap();
    assert_eq!((report.snapshot_seq, report.last_seq, report.keys.wal), (0, DEPOSITS as u64 + 1, DEPOSITS as u64 + 1));
}

#[test]
fn a_damaged_snapshot_of_one_partition_refuses_to_open_and_names_it() {
    use kassa_engine::command::{Command, Movement, OpenAccount, Submission, Transfer};
    use kassa_engine::{Currency, Id};
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("partitioned");
    let mut config = faults::config(&dir, 10);
    config.partitions = 3;
    let engine = Engine::open(config.clone()).unwrap();
    let id = |text: String| Id::new(&text).unwrap();
    for n in 0..12 {
        let open = OpenAccount { account: id(format!("acct-{n}")), currency: Currency::EUR, overdraft_limit: 0 };
        let deposit = Movement { id: id(format!("d-{n}")), account: id(format!("acct-{n}")), amount: 100 };
        let commands = vec![Command::OpenAccount(open), Command::Deposit(deposit)];
        assert!(engine.submit_batch_blocking(Submission::admin_all(commands)).unwrap().iter().all(|o| o.is_applied()));
    }
    for n in 0..60 {
        let transfer = Transfer {
            id: id(format!("t-{n}")),
            from: id(format!("acct-{}", n % 12)),
            to: id(format!("acct-{}", (n + 5) % 12)),
            amount: 1,
            currency: Currency::EUR,
        };
        assert!(engine.submit_blocking(Submission::admin(Command::Transfer(transfer))).unwrap().is_applied());
    }
    // Placement is a keyed hash (the key is random per directory): give every partition an
    // account of its own and more than `snapshot_every_commands` commands, so each snapshots.
    for partition in 0..3 {
        let account =
            (0..).map(|n| id(format!("p{partition}-{n}"))).find(|a| engine.placement().of_account(a) == partition);
        let account = account.expect("an id lands on every partition");
        let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
        let mut commands = vec![Command::OpenAccount(open)];
        commands.extend((0..12).map(|n| {
            Command::Deposit(Movement { id: id(format!("dp{partition}-{n}")), account: account.clone(), amount: 1 })
        }));
        assert!(engine.submit_batch_blocking(Submission::admin_all(commands)).unwrap().iter().all(|o| o.is_applied()));
    }
    drop(engine);
    let healthy = verify_data_dir(&dir).unwrap();
    assert_eq!((healthy.partitions, healthy.accounts), (3, 15));
    assert!(healthy.totals.iter().all(|(_, totals)| totals.deposited == 1_200 + 3 * 12));

    // Flip a byte in a chunk of partition 2's snapshot: the open is refused and names it.
    let prefix = [&b"snapshot/"[..], &2u16.to_be_bytes()].concat();
    edit_meta(&dir, |db, meta| {
        let (key, mut chunk) = db
            .iterator_cf(meta, IteratorMode::From(&prefix, rocksdb::Direction::Forward))
            .map(Result::unwrap)
            .find(|(key, value)| key.starts_with(&prefix) && !value.is_empty())
            .map(|(key, value)| (key.to_vec(), value.to_vec()))
            .expect("partition 2 has a snapshot");
        let middle = chunk.len() / 2;
        chunk[middle] ^= 0x10;
        db.put_cf(meta, key, chunk).unwrap();
    });
    let error = Engine::open(config).err().expect("refused").to_string();
    assert!(error.contains("partition 2's snapshot at record") && error.contains("checksum mismatch"), "{error}");
    assert_eq!(verify_data_dir(&dir).unwrap_err().to_string(), error);
}
