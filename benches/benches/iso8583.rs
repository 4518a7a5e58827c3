//! ISO 8583 parse and format: a 0200 POS purchase (pyiso8583 `default_ascii` layout) with a
//! secure code in field 48 and a MAC in field 64, as a terminal sends it.
//!
//! Run: `cargo bench -p kassa-benches --bench iso8583`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kassa_adapters::iso8583::{self, Message};

const MAC_KEY: &[u8] = b"terminal-mac-key-0123456789abcdef";

fn purchase() -> Message {
    let mut message = Message::new("0200").unwrap();
    message
        .set(2, "4000001234567890")
        .set(3, "000000")
        .set(4, "000000001250")
        .set(7, "1125120000")
        .set(11, "000123")
        .set(37, "000000000123")
        .set(41, "T0000001")
        .set(42, "M-CAFE         ")
        .set(48, "12345678")
        .set(49, "978");
    iso8583::sign(MAC_KEY, &mut message).unwrap();
    message
}

fn iso8583_codec(c: &mut Criterion) {
    let message = purchase();
    let body = iso8583::encode(&message).unwrap();
    let framed = iso8583::frame(&body).unwrap();
    let mut group = c.benchmark_group("iso8583");
    group.throughput(Throughput::Elements(1));
    group.bench_function("format_0200", |b| b.iter(|| iso8583::encode(black_box(&message)).unwrap()));
    group.bench_function("parse_0200", |b| b.iter(|| iso8583::decode(black_box(&body)).unwrap()));
    group.bench_function("unframe_parse_verify_mac_0200", |b| {
        b.iter(|| {
            let (_, body) = iso8583::split_frame(black_box(&framed)).unwrap().unwrap();
            let parsed = iso8583::decode(body).unwrap();
            assert!(iso8583::verify_mac(MAC_KEY, body, &parsed));
        })
    });
    group.finish();
}

criterion_group!(benches, iso8583_codec);
criterion_main!(benches);
