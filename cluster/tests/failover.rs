//! A partition's log on a three-server JetStream cluster (an R3 stream) while the server
//! leading the stream is killed: no acknowledged entry is lost or stored twice, and the owner
//! appends again once a new leader is elected. Bounded: one kill, at most 30 s of waiting.
//! Prints the time from the kill to the first acknowledged append after it (RELIABILITY.md).

use std::time::{Duration, Instant};

use bytes::Bytes;
use kassa_cluster::testing::{connect_all, runtime, start_cluster};
use kassa_cluster::{EntryKind, LogError, PartitionLog};

const PREFIX: &str = "kassa";

#[test]
fn killing_the_streams_leader_loses_no_acknowledged_entry() {
    let mut cluster = start_cluster();
    runtime().block_on(async {
        let js = connect_all(&cluster).await;
        // The cluster elects its meta leader first: creating the stream waits for it.
        let started = Instant::now();
        while let Err(error) = PartitionLog::create_stream(&js, PREFIX, 0, 3).await {
            assert!(started.elapsed() < Duration::from_secs(30), "no R3 stream within 30 s: {error}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut log = PartitionLog::take_over(&js, PREFIX, 0, 1, 0, |_| {}).await.unwrap();
        let mut acknowledged: Vec<String> = Vec::new();
        let mut next = 0u64;
        let mut append = async |log: &mut PartitionLog, acknowledged: &mut Vec<String>| {
            let payload = format!("entry-{next}");
            next += 1;
            let result = log.append(&[Bytes::from(payload.clone())]).await;
            if result.is_ok() {
                acknowledged.push(payload);
            }
            result
        };
        for _ in 0..50 {
            append(&mut log, &mut acknowledged).await.unwrap();
        }

        let stream = js.get_stream("KASSA_P0").await.unwrap();
        let leader = stream.get_info().await.unwrap().cluster.and_then(|cluster| cluster.leader).unwrap();
        let killed = Instant::now();
        cluster.iter_mut().find(|server| server.name == leader).unwrap().kill();

        // Append until one is acknowledged again; after a failed one the owner does not know
        // what landed, so it resumes from the stream (and learns it there).
        let mut resumed = 0;
        let back = loop {
            assert!(killed.elapsed() < Duration::from_secs(30), "no append acknowledged within 30 s of the kill");
            match append(&mut log, &mut acknowledged).await {
                Ok(_) => break killed.elapsed(),
                Err(LogError::Fenced(_) | LogError::Nats(_)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if let Ok(again) = PartitionLog::resume(&js, PREFIX, 0, 1, 0, |_| {}).await {
                        log = again;
                        resumed += 1;
                    }
                }
                Err(error) => panic!("{error}"),
            }
        };
        for _ in 0..20 {
            append(&mut log, &mut acknowledged).await.unwrap();
        }
        println!("stream leader {leader} killed: appends acknowledged again after {back:?} ({resumed} resumes)");

        // Every acknowledged entry is there once, in order (entries whose acknowledgement was
        // lost may be there too: that is what the owner learns when it resumes).
        // The cluster may still be settling: a read that times out is tried again (bounded).
        let read_started = Instant::now();
        let stored = loop {
            let mut stored = Vec::new();
            let read = PartitionLog::read(&js, PREFIX, 0, 0, |entry| {
                if entry.kind == EntryKind::Record {
                    stored.push(String::from_utf8_lossy(&entry.payload).into_owned());
                }
            });
            match read.await {
                Ok(_) => break stored,
                Err(LogError::Nats(error)) if read_started.elapsed() < Duration::from_secs(20) => {
                    eprintln!("read: {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("{error}"),
            }
        };
        let mut unique = stored.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), stored.len(), "an entry stored twice");
        let mut position = 0;
        for entry in &acknowledged {
            position += stored[position..]
                .iter()
                .position(|stored| stored == entry)
                .unwrap_or_else(|| panic!("acknowledged {entry} is not in the stream after it"))
                + 1;
        }
    });
}
