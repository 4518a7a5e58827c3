use super::*;
use kassa_engine::wal::{RecordBody, encode_record};

fn record(sequence: u64, epoch: u64, partition: u16, seq: u64) -> Entry {
    // Merged, never applied: any position does.
    let body = RecordBody { now_ms: 1, partition, position: seq, messages: &[], commands: &[] };
    Entry { sequence, kind: EntryKind::Record, epoch, payload: Bytes::from(encode_record(seq, &body)) }
}

fn cut(sequence: u64, epoch: u64, after: u64) -> Entry {
    Entry { sequence, kind: EntryKind::Cut, epoch, payload: Bytes::copy_from_slice(&after.to_be_bytes()) }
}

fn seqs(ready: &Ready) -> Vec<u64> {
    let seqs: Vec<u64> = ready.records.iter().map(|record| record.seq).collect();
    assert_eq!(seqs, ready.decoded.iter().map(|record| record.seq).collect::<Vec<_>>(), "decoded alike");
    seqs
}

#[test]
fn records_of_several_streams_come_out_in_the_engines_order() {
    let mut merge = Merge::after(0);
    merge.push(1, &record(1, 5, 1, 2)).unwrap();
    merge.push(1, &record(2, 5, 1, 4)).unwrap();
    assert!(merge.ready().is_empty(), "record 1 is not in yet");
    merge.push(0, &record(1, 5, 0, 1)).unwrap();
    assert_eq!(seqs(&merge.ready()), [1, 2]);
    assert_eq!(merge.waiting(), 1);
    merge.push(0, &record(2, 5, 0, 3)).unwrap();
    assert_eq!(seqs(&merge.ready()), [3, 4]);
    assert_eq!(merge.applied(), 4);
}

#[test]
fn a_cut_voids_the_dead_owners_tail_after_a_gap_in_any_stream() {
    let mut merge = Merge::after(10);
    // Owner of epoch 5 died in the middle of the group 11..=13: 11 and 13 landed, 12 did not.
    merge.push(0, &record(7, 5, 0, 11)).unwrap();
    merge.push(0, &record(8, 5, 0, 13)).unwrap();
    assert_eq!(seqs(&merge.ready()), [11]);
    // The new owner (epoch 9) cuts after 11 in every stream, then goes on numbering from 12.
    merge.push(0, &Entry { sequence: 9, kind: EntryKind::Takeover, epoch: 9, payload: Bytes::new() }).unwrap();
    merge.push(0, &cut(10, 9, 11)).unwrap();
    assert_eq!(merge.waiting(), 0, "record 13 of epoch 5 is void");
    merge.push(0, &record(11, 9, 0, 12)).unwrap();
    // A void record read from another stream only now is dropped too.
    merge.push(1, &record(3, 5, 1, 14)).unwrap();
    merge.push(1, &record(5, 9, 1, 13)).unwrap();
    assert_eq!(seqs(&merge.ready()), [12, 13]);
    assert_eq!(merge.waiting(), 0);
}

#[test]
fn a_cut_voiding_records_already_handed_out_means_the_state_must_be_rebuilt() {
    let mut merge = Merge::after(0);
    for (sequence, seq) in [(2, 1), (3, 2), (4, 3)] {
        merge.push(0, &record(sequence, 5, 0, seq)).unwrap();
    }
    assert_eq!(seqs(&merge.ready()), [1, 2, 3]);
    // Epoch 5's own cut, read late from another stream, voids nothing handed out.
    assert_eq!(merge.push(1, &cut(2, 5, 0)), Ok(()));
    // A later owner kept everything handed out: nothing to rebuild.
    assert_eq!(merge.push(1, &cut(3, 9, 3)), Ok(()));
    // One that kept only record 1 voids records 2 and 3, which were applied.
    assert_eq!(merge.push(2, &cut(3, 9, 1)), Err(MergeError::Voided { cut: 1, applied: 3 }));
}

#[test]
fn records_already_applied_are_passed_over_and_conflicts_refused() {
    let mut merge = Merge::after(3);
    merge.push(0, &record(1, 5, 0, 2)).unwrap();
    assert!(merge.ready().is_empty());
    merge.push(0, &record(2, 5, 0, 5)).unwrap();
    merge.push(0, &record(2, 5, 0, 5)).expect("the same entry read again");
    let conflict = merge.push(1, &record(2, 5, 1, 5));
    assert!(matches!(conflict, Err(MergeError::Malformed { partition: 1, sequence: 2, .. })), "{conflict:?}");
    let foreign = merge.push(1, &record(3, 5, 0, 6));
    assert!(matches!(foreign, Err(MergeError::Malformed { .. })), "a partition 0 record in stream 1");
    let short = merge.push(0, &Entry { sequence: 3, kind: EntryKind::Cut, epoch: 6, payload: Bytes::new() });
    assert!(matches!(short, Err(MergeError::Malformed { .. })));
    let garbage = merge.push(0, &Entry { sequence: 4, kind: EntryKind::Record, epoch: 6, payload: Bytes::new() });
    assert!(matches!(garbage, Err(MergeError::Malformed { .. })));
}
