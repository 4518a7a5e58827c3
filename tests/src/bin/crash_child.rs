//! The crash child: opens a durable engine and drives a concurrent mixed workload forever,
//! printing one line per acknowledged command, until it is killed. With a partition count above
//! 1 (its fourth argument) the workload is transfers (most of them between partitions) and holds;
//! with `claims` as its fifth, two apps authorizing codes for users placed on every partition
//! (`kassa_tests::claims`: the users' claims asked across partitions).

use std::sync::Arc;

use kassa_engine::command::Command;
use kassa_engine::command::Submission;
use kassa_engine::{Engine, EngineConfig};
use kassa_tests::workload::{Answer, Channel, run_worker, setup_applied, setup_batches};

const TASKS: usize = 64;

/// The engine in this process.
struct EngineChannel(Arc<Engine>);

impl Channel for EngineChannel {
    async fn submit(&mut self, command: Command) -> Option<Answer> {
        self.0.submit(Submission::admin(command)).await.ok().map(|outcome| Answer::from_outcome(&outcome))
    }

    async fn now_ms(&mut self) -> u64 {
        self.0.read(|machine| machine.state_now_ms()).await.expect("read")
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let data_dir = args.next().expect("usage: kassa-crash-child DATA_DIR CYCLE SEED [PARTITIONS]");
    let cycle: u64 = args.next().and_then(|text| text.parse().ok()).expect("CYCLE");
    let seed: u64 = args.next().and_then(|text| text.parse().ok()).expect("SEED");
    let partitions: u16 = args.next().map_or(1, |text| text.parse().expect("PARTITIONS"));
    let partitioned = partitions > 1;
    let claims = args.next().is_some_and(|mode| mode == "claims");
    let mut config = EngineConfig::new(data_dir);
    config.partitions = partitions;
    config.snapshot_every_commands = 3_000;
    config.tick_interval_ms = 100;
    let engine = Arc::new(Engine::open(config).expect("engine opens"));
    if claims {
        return kassa_tests::claims::run(engine, cycle, seed, TASKS).await;
    }
    let mut outcomes = Vec::new();
    for batch in setup_batches() {
        outcomes.extend(engine.submit_batch(Submission::admin_all(batch)).await.expect("setup accepted"));
    }
    assert!(setup_applied(&outcomes), "setup applied: {outcomes:?}");
    println!("READY");
    let workers: Vec<_> = (0..TASKS)
        .map(|task| {
            let mut channel = EngineChannel(engine.clone());
            let seed = seed ^ (task as u64).wrapping_mul(0x9E37_79B9);
            tokio::spawn(async move {
                // stdout is line-buffered: each acknowledged line reaches the pipe whole, at once.
                let tag = format!("c{cycle}-w{task}");
                run_worker(&mut channel, &tag, seed, None, partitioned, |ack| println!("{}", ack.line())).await
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
}
