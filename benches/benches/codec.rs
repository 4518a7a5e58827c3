//! Codec throughput: encode and decode a transfer command (the WAL's most common record).
//!
//! Run: `cargo bench -p kassa-benches --bench codec`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kassa_engine::codec;
use kassa_engine::command::{Command, Transfer};
use kassa_engine::{Currency, Id};

fn codec_transfer(c: &mut Criterion) {
    let command = Command::Transfer(Transfer {
        id: Id::new("transfer-000123456").unwrap(),
        from: Id::new("acc-42").unwrap(),
        to: Id::new("acc-4242").unwrap(),
        amount: 12_345,
        currency: Currency::EUR,
    });
    let bytes = codec::encode(&command);
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    let mut buffer = Vec::with_capacity(128);
    group.bench_function("encode_transfer", |b| {
        b.iter(|| {
            buffer.clear();
            codec::encode_into(black_box(&command), &mut buffer);
        })
    });
    group.bench_function("decode_transfer", |b| b.iter(|| codec::decode::<Command>(black_box(&bytes)).unwrap()));
    group.finish();
}

criterion_group!(benches, codec_transfer);
criterion_main!(benches);
