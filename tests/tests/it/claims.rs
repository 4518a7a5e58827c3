//! Users' claims across partitions survive SIGKILL: a child drives two apps authorizing codes
//! for users placed on every partition of a 3-partition engine (`kassa_tests::claims`), killed
//! at a random moment while claims, answers and their ends are in flight; after each reopen
//! every acknowledged authorization is there and no refused one, each user belongs to at most
//! one app, recorded alike on its partition and on the home partition, and no claim is left
//! tentative once the steps between partitions are done. (A claim, its answer and its end are
//! usually written in one group commit, so a kill rarely falls between them; the messages sent
//! again after a restart are covered message by message in `transit/claims/tests.rs`.)

use std::time::Duration;

use kassa_engine::{Engine, EngineConfig};
use kassa_tests::claims::{ClaimAck, verify};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::durability::run_child_and_kill;

const PARTITIONS: u16 = 3;
const CYCLES: u64 = 8;

#[test]
fn users_claims_across_partitions_survive_sigkill() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(0x636c_6169_6d73);
    let mut all_acks: Vec<ClaimAck> = Vec::new();
    for cycle in 0..CYCLES {
        let run_for = Duration::from_millis(rng.random_range(50..500));
        let args = [cycle.to_string(), rng.random::<u64>().to_string(), PARTITIONS.to_string(), "claims".into()];
        all_acks.extend(run_child_and_kill(data_dir.path(), &args, run_for, ClaimAck::parse));
        let mut config = EngineConfig::new(data_dir.path());
        config.tick_interval_ms = 0;
        let engine = Engine::open(config).unwrap_or_else(|error| panic!("cycle {cycle}: reopen failed: {error}"));
        if let Err(error) = verify(&engine, &all_acks) {
            panic!("cycle {cycle}: {error}");
        }
        engine.shutdown();
    }
    let count = |wanted: &str| all_acks.iter().filter(|ack| ack.result == wanted).count();
    let (applied, given_up, forbidden) = (count("A"), count("R:invalid_expiry"), count("R:forbidden"));
    eprintln!("{CYCLES} cycles: {applied} applied, {given_up} refused after their claim, {forbidden} forbidden");
    assert!(applied > 100 && given_up > 20, "the workload claims users and gives claims up");
    assert!(forbidden > 0, "the apps race each other for users");
}
