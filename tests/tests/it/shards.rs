//! Shards answer as one machine does: the simulation's command stream (every flow, accepted and
//! refused, with expiry ticks) applied to one state machine and to `ShardSet`s of 2, 3 and 5
//! shards gives the same outcomes and events, command by command, and the same state once the
//! shards are merged; every bucket sits on the shard that owns its key.

use kassa_engine::shards::{ShardSet, repartition};
use kassa_engine::{CommitOutput, Config, SecretKey, StateMachine};
use kassa_tests::model::Model;
use kassa_tests::simulation::generator::Generator;
use kassa_tests::simulation::{START_MS, secret_key};

fn same_as_one_machine(seed: u64, commands: u64) {
    let config = Config { secret_key: SecretKey::from_bytes(&secret_key(seed)) };
    let mut model = Model::new(secret_key(seed));
    let mut generator = Generator::new(seed);
    let mut one = StateMachine::new(config.clone());
    let mut sets: Vec<ShardSet> = [2, 3, 5].into_iter().map(|shards| ShardSet::new(config.clone(), shards)).collect();
    let (mut now, mut done, mut batches) = (START_MS, 0u64, 0u64);
    while done < commands {
        now += generator.time_step();
        let size = generator.batch_size().min(usize::try_from(commands - done).unwrap());
        let batch = generator.batch(&model, now, size);
        let mut expected = CommitOutput::default();
        one.commit(now, &batch, &mut expected);
        for set in &mut sets {
            let mut output = CommitOutput::default();
            set.commit(now, &batch, &mut output);
            for (index, (want, got)) in expected.outcomes.iter().zip(&output.outcomes).enumerate() {
                assert_eq!(want, got, "{} shards, seed {seed}, command {:?}", set.shards(), batch[index]);
            }
            assert_eq!(expected.events, output.events, "{} shards, seed {seed}, batch {batches}", set.shards());
        }
        for (command, outcome) in batch.iter().zip(&expected.outcomes) {
            model.apply(now, command, outcome);
        }
        for coupon in std::mem::take(&mut model.unknown_reward_codes) {
            let code = one.coupon_code(&coupon).expect("the reward coupon exists");
            model.learn_coupon_code(&coupon, code);
            generator.note_reward(coupon);
        }
        done += batch.len() as u64;
        batches += 1;
        if batches.is_multiple_of(40) {
            for set in &sets {
                set.view().check_invariants();
                assert!(set.view().merged().state() == one.state(), "{} shards: merged state differs", set.shards());
            }
        }
    }
    for set in &sets {
        set.view().check_invariants();
        assert!(set.view().merged().state() == one.state(), "{} shards: merged state differs", set.shards());
    }
    // Re-partitioning one machine's state onto 4 shards and back loses and adds nothing.
    let parts = repartition(vec![one.state().clone()], 4);
    let shards = ShardSet::from_states(config.clone(), parts.clone(), 4);
    shards.view().check_invariants();
    assert!(repartition(parts, 1)[0] == *one.state(), "1 -> 4 -> 1 shards changed the state");
}

#[test]
fn sharded_state_machines_answer_as_one_machine() {
    for seed in [11, 12] {
        same_as_one_machine(seed, 12_000);
    }
}
