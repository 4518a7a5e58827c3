//! WAL append with sync: one RocksDB `WriteBatch` written with `sync = true` per record, for
//! records of 1, 100 and 1,000 transfers (what group commit buys: the fsync is paid per record,
//! not per command). Runs on a temporary directory on this machine's disk.
//!
//! Run: `cargo bench -p kassa-benches --bench wal`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kassa_engine::command::{Command, Transfer};
use kassa_engine::wal::{EncodedRecord, RecordBody, Wal, encode_record};
use kassa_engine::{Currency, Durability, Id};

fn transfers(count: usize) -> Vec<Command> {
    (0..count)
        .map(|index| {
            Command::Transfer(Transfer {
                id: Id::new(&format!("transfer-{index:09}")).unwrap(),
                from: Id::new(&format!("acc-{}", index % 100_000)).unwrap(),
                to: Id::new(&format!("acc-{}", (index * 7 + 1) % 100_000)).unwrap(),
                amount: 1 + (index as u64 % 5_000),
                currency: Currency::EUR,
            })
        })
        .collect()
}

fn wal_append_sync(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Durability::Sync).unwrap();
    let mut seq = 0u64;
    let mut group = c.benchmark_group("wal_append_sync");
    group.sample_size(20);
    for batch in [1usize, 100, 1_000] {
        let commands = kassa_engine::Submission::admin_all(transfers(batch));
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || {
                    seq += 1;
                    [EncodedRecord {
                        seq,
                        value: encode_record(
                            seq,
                            &RecordBody {
                                now_ms: 1_000,
                                partition: 0,
                                position: seq,
                                messages: &[],
                                commands: &commands,
                            },
                        ),
                    }]
                },
                |record| wal.append(&record).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, wal_append_sync);
criterion_main!(benches);
