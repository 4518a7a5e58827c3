use super::*;
use crate::command::Movement;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn commands(n: usize) -> Vec<Command> {
    (0..n)
        .map(|index| Command::Deposit(Movement { id: id(&format!("d{index}")), account: id("a"), amount: 1 }))
        .collect()
}

fn record(seq: u64) -> EncodedRecord {
    EncodedRecord { seq, value: encode_record(seq, 1_000 + seq, &commands(3)) }
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
    assert_eq!(records[2], WalRecord { seq: 3, now_ms: 1_003, commands: commands(3) });
}

#[test]
fn a_torn_last_record_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(2), record(3)]).unwrap();
    let full = encode_record(3, 1_003, &commands(3));
    wal.put_raw(3, &full[..full.len() / 2]);
    assert_eq!(replayed(&wal, 0).unwrap(), (2, vec![1, 2]));
    // Dropped for good: the next open sees two records, and record 3 can be written again.
    assert_eq!(wal.record_count().unwrap(), 2);
}

#[test]
fn corruption_before_the_tail_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(2), record(3)]).unwrap();
    let mut flipped = encode_record(2, 1_002, &commands(3));
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
    assert!(matches!(replayed(&wal, 0), Err(WalError::CorruptRecord { seq: 3, .. })));
}

#[test]
fn snapshots_trim_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    wal.append(&[record(1), record(2), record(3)]).unwrap();
    let state = State { now_ms: 77, ..State::default() };
    wal.write_snapshot(&EncodedSnapshot { seq: 2, bytes: codec::encode(&state) }).unwrap();
    assert_eq!(wal.record_count().unwrap(), 1);
    let (seq, loaded) = wal.load_snapshot().unwrap().unwrap();
    assert_eq!((seq, loaded.now_ms), (2, 77));
    assert_eq!(replayed(&wal, seq).unwrap(), (3, vec![3]));
}

#[test]
fn history_is_queried_newest_last() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    let posting = |account: &str, delta: i64| Posting {
        account: id(account),
        posted_delta: delta,
        held_delta: 0,
        posted_after: delta,
        held_after: 0,
        cause: crate::command::PostingCause::Deposit(id("d")),
    };
    wal.append(&[record(1), record(2)]).unwrap();
    assert_eq!(wal.history_watermark().unwrap(), 0);
    wal.append_history(&[history_entry(1, 0, 5, &posting("a", 1)), history_entry(1, 1, 5, &posting("ab", 9))], 1)
        .unwrap();
    wal.append_history(&[history_entry(2, 0, 6, &posting("a", 2))], 2).unwrap();
    assert_eq!(wal.history_watermark().unwrap(), 2);
    let lines = wal.history(&id("a"), 10).unwrap();
    assert_eq!(lines.iter().map(|line| line.posting.posted_delta).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(wal.history(&id("a"), 1).unwrap()[0].posting.posted_delta, 2);
    assert_eq!(wal.history(&id("ab"), 10).unwrap().len(), 1);
    assert!(wal.history(&id("b"), 10).unwrap().is_empty());
}
