use super::*;
use crate::command::{Command, Movement, Posting};
use crate::state_machine::State;
use crate::types::Id;
use snapshots::chunk_key;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn commands(n: usize) -> Vec<Submission> {
    (0..n)
        .map(|index| Command::Deposit(Movement { id: id(&format!("d{index}")), account: id("a"), amount: 1 }))
        .map(Submission::admin)
        .collect()
}

/// A record of partition 0 without messages (the only partition: its position is `seq`).
fn encode(seq: u64, now_ms: TimestampMs, commands: &[Submission]) -> Vec<u8> {
    encode_record(seq, &RecordBody { now_ms, partition: 0, position: seq, messages: &[], commands })
}

/// A deposit's posting of `delta` to `account`.
fn posting(account: &str, delta: i64) -> Posting {
    Posting {
        account: id(account),
        posted_delta: delta,
        held_delta: 0,
        posted_after: delta,
        held_after: 0,
        cause: crate::command::PostingCause::Deposit(id("d")),
    }
}

fn record(seq: u64) -> EncodedRecord {
    EncodedRecord { seq, value: encode(seq, 1_000 + seq, &commands(3)) }
}

impl Wal {
    fn put_raw(&self, seq: u64, value: &[u8]) {
        self.db.put_cf(self.cf(CF_WAL), seq.to_be_bytes(), value).unwrap();
    }
}

fn replayed(wal: &Wal, after: u64) -> Result<(u64, Vec<u64>), WalError> {
    let mut seqs = Vec::new();
    let last = wal.replay(after, |record| seqs.push(record.seq))?;
    Ok((last, seqs))
}

#[test]
fn appended_records_replay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
        wal.append(&[record(1), record(2)]).unwrap();
        wal.append(&[record(3)]).unwrap();
    }
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    let mut records = Vec::new();
    assert_eq!(wal.replay(0, |record| records.push(record)).unwrap(), 3);
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[2],
        WalRecord { seq: 3, now_ms: 1_003, partition: 0, position: 3, messages: Vec::new(), commands: commands(3) }
    );
}

#[test]
fn a_damaged_last_record_refuses_to_open() {
    // RocksDB applies a batch all or nothing, so a torn write never leaves half a kassa record:
    // a bad last record is damage to an acknowledged one, not a torn tail.
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(2), record(3)]).unwrap();
    let full = encode(3, 1_003, &commands(3));
    wal.put_raw(3, &full[..full.len() / 2]);
    match replayed(&wal, 0) {
        Err(WalError::CorruptRecord { seq: 3, .. }) => {}
        other => panic!("expected corruption at record 3, got {other:?}"),
    }
    // Nothing was dropped: the damage is still there for an operator.
    assert_eq!(wal.record_count().unwrap(), 3);
}

#[test]
fn corruption_before_the_tail_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(2), record(3)]).unwrap();
    let mut flipped = encode(2, 1_002, &commands(3));
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    wal.put_raw(2, &flipped);
    match replayed(&wal, 0) {
        Err(WalError::CorruptRecord { seq: 2, reason }) => assert!(reason.contains("checksum")),
        other => panic!("expected corruption at record 2, got {other:?}"),
    }
    let error = replayed(&wal, 0).unwrap_err().to_string();
    assert!(error.contains("WAL record 2 is corrupt"), "{error}");
}

#[test]
fn a_gap_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(3), record(4)]).unwrap();
    let error = replayed(&wal, 0).unwrap_err();
    assert!(matches!(error, WalError::MissingRecords { from: 2, to: 2, .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "WAL records 2..=2 are missing (the log jumps from record 1 to record 3); refusing to open"
    );
    // A log that starts late, with no snapshot before it.
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(4)]).unwrap();
    let error = replayed(&wal, 0).unwrap_err().to_string();
    assert!(error.contains("records 1..=3 are missing (the log starts at record 4"), "{error}");
}

#[test]
fn snapshots_trim_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(2), record(3)]).unwrap();
    let mut state = State { now_ms: 77, ..State::default() };
    wal.write_snapshot(&EncodedSnapshot { partition: 0, seq: 2, bytes: state.encode_snapshot() }, 1).unwrap();
    assert_eq!(wal.record_count().unwrap(), 1);
    let (seq, loaded) = wal.load_snapshot(0).unwrap().unwrap();
    assert_eq!((seq, loaded.now_ms), (2, 77));
    assert_eq!(replayed(&wal, seq).unwrap(), (3, vec![3]));
}

/// One sorted run of history lines: `(account, seq, index, delta)`.
fn run_of(lines: &[(&str, u64, u32, i64)]) -> LineRun {
    let mut run = LineRun::default();
    for &(account, seq, index, delta) in lines {
        run.push_posting(seq, index, 5, &posting(account, delta));
    }
    run.sort();
    run
}

/// `runs`, held in that order.
fn held(runs: Vec<LineRun>) -> HeldLines {
    let mut held = HeldLines::default();
    for run in runs {
        held.push(run);
    }
    held
}

#[test]
fn history_pages_go_from_newest_to_oldest_by_cursor_over_held_and_stored_lines() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    // Seven lines of "a" over records 1..=3, one of "b": records 1 and 2 in table files, 2 and 3
    // still held (line 2.1 is in both, as when it is ingested while a query runs).
    let stored = run_of(&[("a", 1, 0, 1), ("a", 1, 1, 2), ("a", 2, 0, 3), ("a", 2, 1, 4), ("b", 2, 3, 100)]);
    wal.ingest_history(&held(vec![stored]), 2).unwrap();
    let held = held(vec![run_of(&[("a", 2, 1, 4), ("a", 2, 2, 5)]), run_of(&[("a", 3, 1, 7), ("a", 3, 0, 6)])]);
    let page = |limit: usize, after: Option<LineId>| {
        wal.history_page(&id("a"), limit, after, held.lines_of(&id("a"), limit, after).unwrap()).unwrap()
    };
    let deltas = |page: &[HistoryLine]| page.iter().map(|line| line.record.posting.posted_delta).collect::<Vec<_>>();
    let (first, more) = page(3, None);
    assert_eq!((deltas(&first), more), (vec![7, 6, 5], true));
    assert_eq!(first[2].id, LineId { seq: 2, index: 2 });
    let (second, more) = page(3, Some(first[2].id));
    assert_eq!((deltas(&second), more), (vec![4, 3, 2], true));
    // Across a record boundary (index 0 -> the previous record's last line).
    let (third, more) = page(3, Some(second[1].id));
    assert_eq!((deltas(&third), more), (vec![2, 1], false));
    let (none, more) = page(3, Some(LineId { seq: 1, index: 0 }));
    assert!(none.is_empty() && !more);
    let (exact, more) = page(7, None);
    assert_eq!((exact.len(), more), (7, false), "a full last page has no more");
    let (everything, _) = page(usize::MAX, None);
    assert_eq!(deltas(&everything), vec![7, 6, 5, 4, 3, 2, 1], "each line once");
    assert_eq!("2.2".parse::<LineId>().unwrap(), LineId { seq: 2, index: 2 });
    assert_eq!(LineId { seq: 2, index: 2 }.to_string(), "2.2");
    assert!("2".parse::<LineId>().is_err() && "x.1".parse::<LineId>().is_err());
}

#[test]
fn history_is_queried_newest_last() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(2)]).unwrap();
    assert_eq!(wal.history_watermark().unwrap(), 0);
    wal.ingest_history(&held(vec![run_of(&[("a", 1, 0, 1), ("ab", 1, 1, 9)])]), 1).unwrap();
    wal.ingest_history(&held(vec![run_of(&[("a", 2, 0, 2)])]), 2).unwrap();
    // The lowest of the derived watermarks: the feed's and the transfer index's are still 0.
    assert_eq!(wal.history_watermark().unwrap(), 0);
    wal.append_events(&Derived::default(), 2).unwrap();
    wal.ingest_transfers(&[], 2).unwrap();
    assert_eq!(wal.history_watermark().unwrap(), 2);
    let lines = wal.history(&id("a"), 10, Vec::new()).unwrap();
    assert_eq!(lines.iter().map(|line| line.posting.posted_delta).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(wal.history(&id("a"), 1, Vec::new()).unwrap()[0].posting.posted_delta, 2);
    assert_eq!(wal.history(&id("ab"), 10, Vec::new()).unwrap().len(), 1);
    assert!(wal.history(&id("b"), 10, Vec::new()).unwrap().is_empty());
    // A line's value leaves out its account and record: both come back from its key.
    let read_back = |account: &str| {
        let lines = wal.history(&id(account), 10, Vec::new()).unwrap();
        lines.iter().map(|line| (line.seq, line.posting.account.to_string())).collect::<Vec<_>>()
    };
    assert_eq!(read_back("a"), vec![(1, "a".to_string()), (2, "a".to_string())]);
    assert_eq!(read_back("ab"), vec![(1, "ab".to_string())]);
}

#[test]
fn held_metadata_is_the_newest_and_is_ingested_once() {
    use crate::metadata::{Metadata, MetadataKind};
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    let note = |value: &str| Metadata::new(vec![("note".into(), value.into())]).unwrap();
    let entry = |value: &str| {
        let mut run = LineRun::default();
        run.push(&history::metadata_key(MetadataKind::Hold, &id("h1")), &codec::encode(&note(value)));
        run.push_posting(1, 0, 5, &posting("a", 1));
        run.sort();
        run
    };
    let held = held(vec![entry("old"), entry("new")]);
    assert_eq!(held.metadata(MetadataKind::Hold, &id("h1")).unwrap(), Some(note("new")));
    assert_eq!(held.metadata(MetadataKind::Bill, &id("h1")).unwrap(), None);
    // One entry per key in the table file: the newest.
    assert_eq!(held.merged().len(), 2);
    wal.ingest_history(&held, 1).unwrap();
    assert_eq!(wal.metadata(MetadataKind::Hold, &id("h1")).unwrap(), Some(note("new")));
    assert_eq!(wal.history(&id("a"), 10, Vec::new()).unwrap().len(), 1);
}

#[test]
fn a_damaged_snapshot_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(2)]).unwrap();
    wal.write_snapshot(&EncodedSnapshot { partition: 0, seq: 2, bytes: codec::encode(&State::default()) }, 1).unwrap();
    wal.db.delete_cf(wal.cf(CF_META), chunk_key(0, 2, 0)).unwrap();
    let error = wal.load_snapshot(0).unwrap_err().to_string();
    assert_eq!(
        error,
        "snapshot is corrupt (partition 0's snapshot at record 2: chunk 0 of 1 is missing); refusing to open"
    );
    let mut chunk = codec::encode(&State::default());
    chunk[0] ^= 0x10;
    wal.db.put_cf(wal.cf(CF_META), chunk_key(0, 2, 0), chunk).unwrap();
    let error = wal.load_snapshot(0).unwrap_err().to_string();
    assert_eq!(error, "snapshot is corrupt (partition 0's snapshot at record 2: checksum mismatch); refusing to open");
}

#[test]
fn a_missing_secret_key_next_to_records_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!(wal.stored_secret_key().unwrap(), None, "a new directory has no key yet");
    wal.append(&[record(1)]).unwrap();
    let error = wal.secret_key(|| [1; 32]).unwrap_err().to_string();
    assert!(error.contains("the secret key is missing"), "{error}");
    assert_eq!(wal.stored_secret_key().ok(), None, "an error, not a key");
}

/// RocksDB's live log files in `dir`, and their scans.
fn scans(dir: &Path) -> Vec<rocks_log::LogScan> {
    rocks_log::log_files(dir).unwrap().iter().map(|path| rocks_log::scan(path).unwrap()).collect()
}

/// Five appends (five synced `WriteBatch`es) left in RocksDB's log: closing without writes that
/// skip the log does not flush the memtables.
fn five_records_in_the_log() -> (tempfile::TempDir, rocks_log::LogScan) {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
        for seq in 1..=5 {
            wal.append(&[record(seq)]).unwrap();
        }
    }
    let mut logs = scans(dir.path());
    let log = logs.pop().unwrap();
    assert_eq!(log.end, rocks_log::LogEnd::Clean);
    assert_eq!(log.records.len(), 5, "{log:?}");
    assert_eq!(log.records.last().map(|record| record.offset + record.len), Some(log.len));
    (dir, log)
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[usize::try_from(offset).unwrap()] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

fn replayed_after_open(dir: &Path) -> Result<Vec<u64>, WalError> {
    let wal = Wal::open(dir, Durability::Sync)?;
    Ok(replayed(&wal, 0)?.1)
}

#[test]
fn a_torn_log_tail_drops_only_the_unacknowledged_batch() {
    let (dir, log) = five_records_in_the_log();
    let last = log.records[4];
    let file = std::fs::OpenOptions::new().write(true).open(&log.path).unwrap();
    file.set_len(last.offset + last.len / 2).unwrap();
    drop(file);
    assert!(matches!(scans(dir.path())[0].end, rocks_log::LogEnd::TornTail { offset, .. } if offset == last.offset));
    assert_eq!(replayed_after_open(dir.path()).unwrap(), vec![1, 2, 3, 4]);
    // A header cut short is a torn write too.
    let (dir, log) = five_records_in_the_log();
    let file = std::fs::OpenOptions::new().write(true).open(&log.path).unwrap();
    file.set_len(log.records[4].offset + 3).unwrap();
    drop(file);
    assert_eq!(replayed_after_open(dir.path()).unwrap(), vec![1, 2, 3, 4]);
}

#[test]
fn a_damaged_last_log_record_refuses_to_open() {
    let (dir, log) = five_records_in_the_log();
    let last = log.records[4];
    flip_byte(&log.path, last.offset + last.len - 3);
    let error = replayed_after_open(dir.path()).unwrap_err();
    match &error {
        WalError::DamagedLog { file, offset, .. } => assert_eq!((file, *offset), (&log.path, last.offset)),
        other => panic!("expected a damaged log, got {other:?}"),
    }
    let message = error.to_string();
    let name = log.path.display().to_string();
    assert!(message.starts_with(&format!("RocksDB log {name} is damaged at byte {}", last.offset)), "{message}");
    assert!(message.contains("checksum mismatch in a complete record (not a torn write)"), "{message}");
    assert!(message.contains("(RocksDB: Corruption: checksum mismatch)"), "{message}");
}

#[test]
fn damage_before_the_tail_refuses_where_point_in_time_would_drop_acknowledged_records() {
    let (dir, log) = five_records_in_the_log();
    let second = log.records[1];
    flip_byte(&log.path, second.offset + second.len - 3);
    // RocksDB's default recovery mode, read-only so as not to touch the files: it stops at the
    // damage and opens, silently without records 3, 4 and 5, all of them synced and answered.
    {
        let mut options = db_options();
        options.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
        let families = [CF_WAL, CF_HISTORY, CF_META].map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors_read_only(&options, dir.path(), families, false).unwrap();
        let wal = Wal { db: Arc::new(db), durability: Durability::Sync };
        assert_eq!(replayed(&wal, 0).unwrap(), (1, vec![1]));
    }
    // kassa's: refuses, naming the file and offset; so does a read-only open.
    for error in [replayed_after_open(dir.path()).unwrap_err(), Wal::open_read_only(dir.path()).err().unwrap()] {
        match error {
            WalError::DamagedLog { file, offset, .. } => assert_eq!((file, offset), (log.path.clone(), second.offset)),
            other => panic!("expected a damaged log, got {other:?}"),
        }
    }
}

#[test]
fn a_damaged_length_in_the_last_log_record_reads_as_a_torn_write() {
    // The documented ambiguity: a last record whose length now runs past the end of the file is
    // indistinguishable from a torn write, and is dropped as one.
    let (dir, log) = five_records_in_the_log();
    let last = log.records[4];
    flip_byte(&log.path, last.offset + 5); // The high byte of the u16 length.
    assert!(matches!(scans(dir.path())[0].end, rocks_log::LogEnd::TornTail { .. }));
    assert_eq!(replayed_after_open(dir.path()).unwrap(), vec![1, 2, 3, 4]);
}

#[test]
fn a_read_only_open_changes_nothing() {
    let (dir, _) = five_records_in_the_log();
    let listing = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| !path.file_name().unwrap().to_str().unwrap().starts_with("LOG"))
            .map(|path| (path.file_name().unwrap().to_str().unwrap().to_string(), std::fs::read(&path).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = listing(dir.path());
    {
        let wal = Wal::open_read_only(dir.path()).unwrap();
        assert_eq!(replayed(&wal, 0).unwrap().0, 5);
        assert_eq!(wal.scan_all().unwrap().wal, 5);
        assert!(wal.append(&[record(6)]).is_err(), "read-only");
    }
    assert!(before == listing(dir.path()), "a read-only open changed the files");
}

#[test]
fn a_damaged_length_before_the_last_block_refuses_to_open() {
    // Only at the very end can a damaged length pass for a torn write: in a full block, a record
    // running past its block is damage.
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
        for seq in 1..=10 {
            wal.append(&[EncodedRecord { seq, value: encode(seq, seq, &commands(1_000)) }]).unwrap();
        }
    }
    let log = scans(dir.path()).pop().unwrap();
    assert!(log.len > 2 * 32 * 1024, "the log spans several blocks: {}", log.len);
    // Records cross blocks (First, Middle, Last fragments) and are still read whole.
    assert_eq!((log.records.len(), &log.end), (10, &rocks_log::LogEnd::Clean));
    assert!(log.records.iter().any(|record| record.offset / 32_768 != (record.offset + record.len - 1) / 32_768));
    let first = log.records[0];
    let mut bytes = std::fs::read(&log.path).unwrap();
    bytes[usize::try_from(first.offset).unwrap() + 5] = 0xff; // The u16 length's high byte: past its block.
    std::fs::write(&log.path, bytes).unwrap();
    match replayed_after_open(dir.path()).unwrap_err() {
        WalError::DamagedLog { offset, reason, .. } => assert_eq!((offset, reason.as_str()), (0, "bad record length")),
        other => panic!("expected a damaged log, got {other:?}"),
    }
}

#[test]
fn a_directory_of_another_storage_format_is_refused_not_misread() {
    // A new directory is marked with this format and opens.
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.check_storage_format().unwrap();
    wal.check_storage_format().unwrap();
    drop(wal);
    // A directory written before the mark existed (format 1: commands without principals).
    let old = tempfile::tempdir().unwrap();
    let wal = Wal::open(old.path(), Durability::Sync).unwrap();
    wal.secret_key(|| [7; 32]).unwrap();
    wal.append(&[record(1)]).unwrap();
    let error = wal.check_storage_format().unwrap_err().to_string();
    assert!(error.contains("storage format 1") && error.contains("does not migrate"), "{error}");
    // A later format is refused the same way.
    wal.db.put_cf(wal.cf(CF_META), b"storage_format", [STORAGE_FORMAT + 1]).unwrap();
    let error = wal.check_storage_format().unwrap_err().to_string();
    assert!(error.contains(&format!("storage format {}", STORAGE_FORMAT + 1)), "{error}");
}

#[test]
fn the_id_table_size_is_fixed_when_the_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!(wal.stored_ids_max().unwrap(), None);
    assert_eq!(wal.ids_max(100).unwrap(), 100);
    drop(wal);
    // Reopened with another size, the directory keeps its own: replay decides as the first run.
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!((wal.ids_max(200).unwrap(), wal.stored_ids_max().unwrap()), (100, Some(100)));
}

#[test]
fn the_transfer_index_never_shows_another_transfer_for_a_colliding_key() {
    use crate::command::{Event, PostingCause};
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    let leg = |account: &str, delta: i64, transfer: &str| {
        Event::Posting(Posting { cause: PostingCause::Transfer(id(transfer)), ..posting(account, delta) })
    };
    let events = [leg("a", -5, "t1"), leg("b", 5, "t1"), leg("c", -7, "t2")];
    // Every id gets the same key: the worst collision there is.
    let same_key = |_: IndexedKind, _: &Id| [7u8; 16];
    let mut derived = Derived::default();
    derived.add(1, 0, 10, &events, &same_key);
    let entries = newest_per_key(std::mem::take(&mut derived.transfers));
    assert_eq!(entries.len(), 1, "one debit per key: the newest");
    let lines = held(vec![std::mem::take(&mut derived.lines)]);
    wal.append_events(&derived, 1).unwrap();
    wal.ingest_history(&lines, 1).unwrap();
    wal.ingest_transfers(&entries, 1).unwrap();
    assert_eq!(wal.history_watermark().unwrap(), 1);
    // The key now points at t2's debit (the last written): t2 is found, t1 is not shown as t2.
    let nothing_pending = |_: &TransferIndexKey| None;
    let t2 = wal.transfer(&[7; 16], &id("t2"), &nothing_pending).unwrap().expect("t2 is indexed");
    assert_eq!((t2.debit.id, t2.credit), (LineId { seq: 1, index: 2 }, None));
    assert_eq!(wal.transfer(&[7; 16], &id("t1"), &nothing_pending).unwrap(), None);
    assert_eq!(wal.transfer(&[8; 16], &id("t2"), &nothing_pending).unwrap(), None);
    // Entries not ingested yet are newer than the table files': t1 found through them.
    let t1_pending = |key: &TransferIndexKey| (key[16] == 0).then_some(LineId { seq: 1, index: 0 });
    let t1 = wal.transfer(&[7; 16], &id("t1"), &t1_pending).unwrap().expect("t1 through the pending entry");
    assert_eq!(t1.credit.map(|line| line.id), Some(LineId { seq: 1, index: 1 }));
    // The feed holds the three events at their positions.
    let (lines, more) = wal.events_after(Some(LineId { seq: 1, index: 0 }), 10).unwrap();
    assert_eq!((lines.len(), more), (2, false));
    assert_eq!(lines[0].id, LineId { seq: 1, index: 1 });
}
