//! A node taking the partitions over from a dead owner whose last group never landed whole
//! (docs/cluster.md, step 2): against a real nats-server, with the streams written by hand as
//! that owner left them. The new owner applies every record up to the gap, cuts after the last
//! one, and numbers on from there; the dead owner's records after the gap are void for every
//! reader of the streams.

use std::sync::Arc;
use std::time::Duration;

use kassa_cluster::directory::{self, DirectoryFacts};
use kassa_cluster::merge::Merge;
use kassa_cluster::testing::{connect, runtime, start_server};
use kassa_cluster::{ClusterOptions, Leases, PartitionLog, StandbyView};
use kassa_engine::command::{Command, Movement, OpenAccount, Submission};
use kassa_engine::wal::{EncodedRecord, Wal, decode_record};
use kassa_engine::{Currency, Durability, Engine, EngineConfig, Id};

const PREFIX: &str = "kt";
const PARTITIONS: u16 = 2;

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.partitions = PARTITIONS;
    config.tick_interval_ms = 0;
    config
}

fn records_of(dir: &std::path::Path) -> Vec<EncodedRecord> {
    let mut records = Vec::new();
    Wal::open(dir, Durability::Sync).unwrap().replay(0, |record| records.push(record.encode())).unwrap();
    records
}

fn deposit(id: &str, account: &str, amount: u64) -> Submission {
    let movement = Movement { id: Id::new(id).unwrap(), account: Id::new(account).unwrap(), amount };
    Submission::admin(Command::Deposit(movement))
}

/// Every record the streams hold, merged as a reader merges them: `(seq, partition)`.
async fn merged(js: &async_nats::jetstream::Context) -> Vec<(u64, u16)> {
    let mut merge = Merge::after(0);
    for partition in 0..PARTITIONS {
        PartitionLog::read(js, PREFIX, partition, 0, |entry| merge.push(partition, &entry).unwrap()).await.unwrap();
    }
    let ready = merge.ready();
    assert_eq!(merge.waiting(), 0, "records after a gap that no cut voided");
    ready.decoded.iter().map(|record| (record.seq, record.partition)).collect()
}

/// The dead owner's history: accounts, then deposits one batch each, the last two in one
/// group that it never finished copying. Its records, and its directory's facts.
fn dead_owners_history(dir: &std::path::Path) -> (Vec<EncodedRecord>, Option<DirectoryFacts>) {
    let engine = Engine::open(config(dir)).unwrap();
    for account in ["a", "b", "c", "d"] {
        let open = OpenAccount { account: Id::new(account).unwrap(), currency: Currency::EUR, overdraft_limit: 0 };
        assert!(engine.submit_blocking(Submission::admin(Command::OpenAccount(open))).unwrap().is_applied());
    }
    for (index, account) in ["a", "b", "c", "d"].iter().enumerate() {
        assert!(engine.submit_blocking(deposit(&format!("dep-{index}"), account, 100)).unwrap().is_applied());
    }
    engine.shutdown();
    drop(engine);
    let facts = DirectoryFacts::of(&Wal::open(dir, Durability::Sync).unwrap()).unwrap();
    (records_of(dir), facts)
}

/// The streams as the dead owner left them: its facts in the cluster, its lease (of 1 s), and
/// every record but the second to last.
async fn streams_as_the_dead_owner_left_them(
    js: &async_nats::jetstream::Context,
    records: &[EncodedRecord],
    facts: Option<DirectoryFacts>,
) {
    directory::shared(js, PREFIX, 1, facts, || unreachable!("the facts are written")).await.unwrap();
    let leases = Leases::open(js, &format!("{PREFIX}_leases"), Duration::from_secs(1), 1).await.unwrap();
    let dead = leases.acquire(0, "dead").await.unwrap();
    let mut logs = Vec::new();
    for partition in 0..PARTITIONS {
        PartitionLog::create_stream(js, PREFIX, partition, 1).await.unwrap();
        logs.push(PartitionLog::take_over(js, PREFIX, partition, dead.epoch, 0, |_| {}).await.unwrap());
    }
    for record in records.iter().take(records.len() - 2).chain(records.last()) {
        let partition = decode_record(&record.value).unwrap().partition;
        logs[usize::from(partition)].append(&[bytes::Bytes::from(record.value.clone())]).await.unwrap();
    }
}

#[test]
fn a_new_owner_cuts_off_a_dead_owners_unfinished_group() {
    let server = start_server();
    let root = tempfile::tempdir().unwrap();
    let (old_dir, new_dir) = (root.path().join("old"), root.path().join("new"));
    let (records, facts) = dead_owners_history(&old_dir);
    let last = records.len();
    assert!(last >= 8, "{last} records");
    let rt = runtime();
    rt.block_on(async { streams_as_the_dead_owner_left_them(&connect(&server).await, &records, facts).await });
    std::thread::sleep(Duration::from_millis(1_500)); // The dead owner's lease lapses.

    let options = ClusterOptions {
        urls: vec![server.url.clone()],
        node_id: "new".into(),
        prefix: PREFIX.into(),
        replicas: 1,
        lease_ttl: Duration::from_secs(1),
        addresses: None,
        snapshot_interval: Duration::from_secs(60),
    };
    let view = Arc::new(StandbyView::default());
    let (engine, _) = kassa_cluster::run(&options, config(&new_dir), view, |_| {}).unwrap();
    let balances = |engine: &Engine| -> Vec<Option<i64>> {
        ["a", "b", "c", "d"]
            .iter()
            .map(|account| {
                let id = Id::new(account).unwrap();
                (0..PARTITIONS).find_map(|partition| {
                    let id = id.clone();
                    engine
                        .read_partition_blocking(partition, move |machine| machine.account(&id).map(|a| a.posted))
                        .unwrap()
                })
            })
            .collect()
    };
    // Records up to the gap are applied: the last two deposits (the unfinished group) are not.
    assert_eq!(balances(&engine), [Some(100), Some(100), Some(0), Some(0)]);
    let kept: Vec<u64> = (1..=last as u64 - 2).collect();
    let streams = rt.block_on(async { merged(&connect(&server).await).await });
    assert_eq!(streams.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), kept, "the void record is not read");

    // The new owner numbers on after the cut: its first record takes the void record's number.
    assert!(engine.submit_blocking(deposit("dep-3", "d", 7)).unwrap().is_applied());
    assert_eq!(balances(&engine), [Some(100), Some(100), Some(0), Some(7)]);
    engine.shutdown();
    drop(engine);
    let streams = rt.block_on(async { merged(&connect(&server).await).await });
    let numbers: Vec<u64> = streams.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(numbers, (1..=last as u64 - 1).collect::<Vec<_>>(), "{streams:?}");
    assert_eq!(records_of(&new_dir).len(), last - 1, "the new owner's log is the streams'");
}
