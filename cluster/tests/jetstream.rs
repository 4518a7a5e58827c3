//! The log and the lease against a real nats-server (2.10 or later, with `sync_interval:
//! always`), started by each test on a free loopback port and killed when it ends
//! (`kassa_cluster::testing`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use kassa_cluster::log::PART_BYTES_MAX;
use kassa_cluster::testing::{connect, runtime, start_server};
use kassa_cluster::{Entry, EntryKind, LeaseError, Leases, LogError, PartitionLog};

/// Publishes `payload` with `headers` straight to `subject`, as a writer that does not follow
/// the protocol (or a crash in the middle of a record) would leave it.
async fn forge(js: &async_nats::jetstream::Context, subject: &str, headers: &[(&str, &str)], payload: &str) {
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, *value);
    }
    let subject = subject.to_string();
    js.publish_with_headers(subject, map, Bytes::from(payload.to_string())).await.unwrap().await.unwrap();
}

fn payloads(texts: &[&str]) -> Vec<Bytes> {
    texts.iter().map(|text| Bytes::from(text.to_string())).collect()
}

fn records(entries: &[Entry]) -> Vec<(EntryKind, u64, String)> {
    entries
        .iter()
        .map(|entry| (entry.kind, entry.epoch, String::from_utf8_lossy(&entry.payload).into_owned()))
        .collect()
}

#[test]
fn an_owner_appends_and_a_reader_follows_the_chain_from_any_point() {
    let server = start_server();
    runtime().block_on(async {
        let js = connect(&server).await;
        PartitionLog::create_stream(&js, "kassa", 0, 1).await.unwrap();
        let mut log = PartitionLog::take_over(&js, "kassa", 0, 5, 0, |_| {}).await.unwrap();
        assert_eq!(log.position().sequence, 1, "the takeover entry");
        assert_eq!(log.append(&payloads(&["a", "b", "c"])).await.unwrap(), 4);
        assert_eq!(log.append(&payloads(&["d"])).await.unwrap(), 5);

        let mut read = Vec::new();
        let end = PartitionLog::read(&js, "kassa", 0, 0, |entry| read.push(entry)).await.unwrap();
        assert_eq!(end, log.position());
        let wanted = [(EntryKind::Takeover, 5, ""), (EntryKind::Record, 5, "a"), (EntryKind::Record, 5, "b")];
        let wanted: Vec<_> = wanted.iter().map(|(kind, epoch, text)| (*kind, *epoch, text.to_string())).collect();
        assert_eq!(records(&read)[..3], wanted[..]);
        assert_eq!(read.iter().map(|entry| entry.sequence).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);

        // From the middle: the link there comes from that entry's own header.
        let mut rest = Vec::new();
        assert_eq!(PartitionLog::read(&js, "kassa", 0, 3, |entry| rest.push(entry)).await.unwrap(), end);
        assert_eq!(records(&rest), records(&read[3..]));
        // An entry larger than a message goes as parts and is read back whole.
        let large: Vec<u8> = (0..PART_BYTES_MAX * 2 + 7).map(|index| (index % 251) as u8).collect();
        assert_eq!(log.append(&[Bytes::from(large.clone()), Bytes::from("e")]).await.unwrap(), 9);
        let mut tail = Vec::new();
        PartitionLog::read(&js, "kassa", 0, 5, |entry| tail.push(entry)).await.unwrap();
        let joined: Vec<(u64, usize)> = tail.iter().map(|entry| (entry.sequence, entry.payload.len())).collect();
        assert_eq!(joined, [(8, large.len()), (9, 1)]);
        assert_eq!(tail[0].payload, large);

        // A joining node reads only the end: the last whole record, past takeovers.
        let last = |js| async move { PartitionLog::last_record(&js, "kassa", 0).await.unwrap() };
        assert_eq!(last(js.clone()).await, (9, Some(tail[1].clone())));
        let log = PartitionLog::take_over(&js, "kassa", 0, 6, 9, |_| {}).await.unwrap();
        assert_eq!(log.position().sequence, 10);
        let (end, found) = last(js.clone()).await;
        assert_eq!((end, found.map(|entry| entry.payload)), (10, Some(Bytes::from("e"))));
        let mut log = log;
        log.append(&[Bytes::from(large.clone())]).await.unwrap();
        assert_eq!(
            last(js.clone()).await.1.map(|entry| (entry.sequence, entry.payload)),
            Some((13, Bytes::from(large)))
        );
    });
}

#[test]
fn a_new_owner_fences_the_old_one_out() {
    let server = start_server();
    runtime().block_on(async {
        let js = connect(&server).await;
        PartitionLog::create_stream(&js, "kassa", 1, 1).await.unwrap();
        let mut old = PartitionLog::take_over(&js, "kassa", 1, 1, 0, |_| {}).await.unwrap();
        old.append(&payloads(&["old-1"])).await.unwrap();

        let mut seen = Vec::new();
        let mut new = PartitionLog::take_over(&js, "kassa", 1, 2, 0, |entry| seen.push(entry)).await.unwrap();
        assert_eq!(records(&seen).last(), Some(&(EntryKind::Takeover, 2, String::new())));
        assert!(matches!(old.append(&payloads(&["old-2", "old-3"])).await, Err(LogError::Fenced(2))));
        assert!(matches!(old.append(&payloads(&["old-4"])).await, Err(LogError::Fenced(_))), "and stays fenced");
        new.append(&payloads(&["new-1"])).await.unwrap();
        let stale = PartitionLog::take_over(&js, "kassa", 1, 2, 0, |_| {}).await;
        assert!(matches!(stale, Err(LogError::StaleEpoch { wanted: 2, current: 2 })));

        let mut read = Vec::new();
        PartitionLog::read(&js, "kassa", 1, 0, |entry| read.push(entry)).await.unwrap();
        let texts: Vec<String> =
            records(&read).into_iter().map(|(kind, epoch, text)| format!("{kind:?}/{epoch}/{text}")).collect();
        assert_eq!(texts, ["Takeover/1/", "Record/1/old-1", "Takeover/2/", "Record/2/new-1"]);
    });
}

#[test]
fn a_reader_refuses_an_entry_that_breaks_the_chain() {
    let server = start_server();
    runtime().block_on(async {
        let js = connect(&server).await;
        PartitionLog::create_stream(&js, "kassa", 2, 1).await.unwrap();
        let mut log = PartitionLog::take_over(&js, "kassa", 2, 1, 0, |_| {}).await.unwrap();
        log.append(&payloads(&["a"])).await.unwrap();
        // A writer that does not follow the protocol: right epoch and kind, another predecessor.
        let prev = hex::encode([9u8; 32]);
        forge(&js, "kassa.p2.log", &[("Kassa-Epoch", "1"), ("Kassa-Kind", "record"), ("Kassa-Prev", &prev)], "forged")
            .await;
        let mut read = Vec::new();
        let refused = PartitionLog::read(&js, "kassa", 2, 0, |entry| read.push(entry)).await;
        assert!(matches!(refused, Err(LogError::Broken { sequence: 3, .. })), "{refused:?}");
        assert_eq!(read.len(), 2, "what came before is handed over, nothing after");
        assert!(matches!(log.append(&payloads(&["b"])).await, Err(LogError::Fenced(2))), "the owner sees it too");
    });
}

#[test]
fn a_lease_is_held_by_one_node_renewed_and_taken_over_once_it_lapses() {
    let server = start_server();
    runtime().block_on(async {
        let js = connect(&server).await;
        let leases = Leases::open(&js, "kassa_leases", Duration::from_secs(1), 1).await.unwrap();
        let mut first = leases.acquire(0, "node-a").await.unwrap();
        assert!(matches!(leases.acquire(0, "node-b").await, Err(LeaseError::Held { partition: 0, holder }) if holder == "node-a"));
        let other = leases.acquire(1, "node-b").await.unwrap();
        assert_ne!(other.epoch, first.epoch);
        leases.renew(&mut first).await.unwrap();
        assert_eq!(leases.holder(0).await.unwrap().as_deref(), Some("node-a"));

        // node-a stops renewing: within a bounded wait, node-b takes it, with a higher epoch.
        let started = Instant::now();
        let taken = loop {
            match leases.acquire(0, "node-b").await {
                Ok(lease) => break lease,
                Err(LeaseError::Held { .. }) => {
                    assert!(started.elapsed() < Duration::from_secs(10), "the lease never lapsed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("{error}"),
            }
        };
        assert!(started.elapsed() >= Duration::from_millis(500), "not before its time to live");
        assert!(taken.epoch > first.epoch && taken.epoch > other.epoch);
        assert!(matches!(leases.renew(&mut first).await, Err(LeaseError::Lost(0))));
        leases.release(taken).await.unwrap();
        assert_eq!(leases.holder(0).await.unwrap(), None);
    });
}

#[test]
fn an_owner_goes_on_appending_after_the_server_is_killed_and_restarted() {
    let mut server = start_server();
    let runtime = runtime();
    let mut log = runtime.block_on(async {
        let js = connect(&server).await;
        PartitionLog::create_stream(&js, "kassa", 3, 1).await.unwrap();
        let mut log = PartitionLog::take_over(&js, "kassa", 3, 1, 0, |_| {}).await.unwrap();
        log.append(&payloads(&["before"])).await.unwrap();
        log
    });
    server.kill_and_restart();
    runtime.block_on(async {
        // The client reconnects by itself; the acknowledged entries were synced before the kill,
        // and the stream still knows its last message id, so the fence lets the owner go on.
        let started = Instant::now();
        while connect(&server).await.get_stream("KASSA_P3").await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "JetStream did not come back within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let sequence = log.append(&payloads(&["after"])).await.unwrap();
        assert_eq!(sequence, 3);
        let mut read = Vec::new();
        PartitionLog::read(&connect(&server).await, "kassa", 3, 0, |entry| read.push(entry)).await.unwrap();
        assert_eq!(read.last().map(|entry| entry.sequence), Some(sequence));
        assert_eq!(read[1].payload, Bytes::from("before"), "what was acknowledged survived the kill");
    });
}

#[test]
fn a_record_torn_after_some_of_its_parts_is_passed_over() {
    let server = start_server();
    runtime().block_on(async {
        let js = connect(&server).await;
        PartitionLog::create_stream(&js, "kassa", 4, 1).await.unwrap();
        let mut log = PartitionLog::take_over(&js, "kassa", 4, 1, 0, |_| {}).await.unwrap();
        log.append(&payloads(&["a"])).await.unwrap();
        // What a crash leaves of a two-part record: its first part, chained correctly.
        let position = log.position();
        let prev = hex::encode(position.link);
        let headers = [("Kassa-Epoch", "1"), ("Kassa-Kind", "record"), ("Kassa-Part", "1/2"), ("Nats-Msg-Id", "1:3")];
        forge(&js, "kassa.p4.log", &[&headers[..], &[("Kassa-Prev", &prev)]].concat(), "half").await;

        let (end, last) = PartitionLog::last_record(&js, "kassa", 4).await.unwrap();
        assert_eq!((end, last.map(|entry| entry.payload)), (3, Some(Bytes::from("a"))));
        let mut log = PartitionLog::take_over(&js, "kassa", 4, 2, end, |_| {}).await.unwrap();
        log.append(&payloads(&["b"])).await.unwrap();
        let mut read = Vec::new();
        PartitionLog::read(&js, "kassa", 4, 0, |entry| read.push(entry)).await.unwrap();
        let texts: Vec<String> =
            records(&read).into_iter().map(|(kind, epoch, text)| format!("{kind:?}/{epoch}/{text}")).collect();
        assert_eq!(texts, ["Takeover/1/", "Record/1/a", "Takeover/2/", "Record/2/b"]);

        // An entry chained correctly but without the message id the protocol gives it: a
        // takeover is refused at once (trying again could never succeed), not retried forever.
        let prev = hex::encode(log.position().link);
        forge(&js, "kassa.p4.log", &[("Kassa-Epoch", "2"), ("Kassa-Kind", "record"), ("Kassa-Prev", &prev)], "no id")
            .await;
        let refused = PartitionLog::take_over(&js, "kassa", 4, 3, 0, |_| {}).await;
        assert!(matches!(refused, Err(LogError::Broken { sequence: 6, .. })), "{refused:?}");

        // A last entry claiming more parts than the stream holds is refused, not followed back.
        let prev = hex::encode([0u8; 32]);
        let headers = [("Kassa-Epoch", "2"), ("Kassa-Kind", "record"), ("Kassa-Part", "99/99"), ("Kassa-Prev", &prev)];
        forge(&js, "kassa.p4.log", &headers, "x").await;
        let refused = PartitionLog::last_record(&js, "kassa", 4).await;
        assert!(matches!(refused, Err(LogError::Broken { sequence: 7, .. })), "{refused:?}");
    });
}
