//! Property tests over random command sequences (proptest).
//!
//! Checked after every batch: money is conserved (sum of balances plus split escrow equals
//! deposits minus withdrawals), no available balance is below minus its overdraft limit, held
//! amounts match active holds (all via `check_invariants`); holds resolve at most once; replaying
//! an applied idempotent command changes nothing; the same batches give the same state.

use std::collections::HashMap;

use kassa_engine::command::*;
use kassa_engine::state_machine::State;
use kassa_engine::{CommitOutput, Config, Currency, Id, SecretKey, StateMachine};
use proptest::prelude::*;

const ACCOUNTS: u8 = 6;
const START_MS: u64 = 1_700_000_000_000;

fn id(text: String) -> Id {
    Id::new(&text).unwrap()
}

fn account(index: u8) -> Id {
    id(format!("acc{index}"))
}

fn machine() -> StateMachine {
    StateMachine::new(Config::with_ids_max(SecretKey::from_bytes(&[3; 32]), 4_096))
}

/// One generated step: a command, or a jump of the clock.
#[derive(Debug, Clone)]
enum Step {
    Command(Command),
    Advance(u64),
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..200, 1u64..5_000, Just(0u64)]
}

fn transfer_strategy() -> impl Strategy<Value = Transfer> {
    (0u16..40, 0..ACCOUNTS, 0..ACCOUNTS, amount()).prop_map(|(number, from, to, amount)| Transfer {
        id: id(format!("t{number}")),
        from: account(from),
        to: account(to),
        amount,
        currency: Currency::EUR,
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u16..30, 0..ACCOUNTS, amount()).prop_map(|(number, to, amount)| Step::Command(Command::Deposit(Movement { id: id(format!("d{number}")), account: account(to), amount }))),
        2 => (0u16..30, 0..ACCOUNTS, amount()).prop_map(|(number, from, amount)| Step::Command(Command::Withdraw(Movement { id: id(format!("w{number}")), account: account(from), amount }))),
        6 => transfer_strategy().prop_map(|transfer| Step::Command(Command::Transfer(transfer))),
        2 => (any::<bool>(), prop::collection::vec(transfer_strategy(), 1..5)).prop_map(|(atomic, transfers)| Step::Command(Command::TransferBatch(TransferBatch { atomic, transfers }))),
        3 => (0u16..20, 0..ACCOUNTS, 0..ACCOUNTS, amount(), 1u64..20_000).prop_map(|(number, from, to, amount, ttl)| Step::Command(Command::PlaceHold(PlaceHold { id: id(format!("h{number}")), from: account(from), to: account(to), amount, currency: Currency::EUR, expires_at_ms: START_MS + ttl }))),
        3 => (0u16..20, amount()).prop_map(|(number, amount)| Step::Command(Command::CaptureHold(CaptureHold { hold: id(format!("h{number}")), amount }))),
        2 => (0u16..20).prop_map(|number| Step::Command(Command::VoidHold { hold: id(format!("h{number}")) })),
        1 => (0..ACCOUNTS).prop_map(|index| Step::Command(Command::CloseAccount { account: account(index) })),
        2 => (0u16..5, 1u64..3_000, 1u64..40_000, prop_oneof![Just(SplitShares::Equal), Just(SplitShares::Explicit(vec![1, 2, 3]))]).prop_map(|(number, total, ttl, shares)| {
            let members = (1..=3).map(|member| SplitMember { user: id(format!("u{member}")), account: account(member) }).collect();
            let total = if matches!(shares, SplitShares::Explicit(_)) { 6 } else { total };
            Step::Command(Command::RequestSplit(RequestSplit { split: id(format!("s{number}")), requester: id("u0".into()), requester_account: account(0), total, currency: Currency::EUR, members, shares, expires_at_ms: START_MS + ttl }))
        }),
        3 => (0u16..5, 1u8..4).prop_map(|(number, member)| Step::Command(Command::PaySplitShare(PaySplitShare { split: id(format!("s{number}")), member: id(format!("u{member}")) }))),
        1 => (0u16..5).prop_map(|number| Step::Command(Command::CancelSplit { split: id(format!("s{number}")) })),
        2 => Just(Step::Command(Command::Tick)),
        2 => (1u64..5_000).prop_map(Step::Advance),
    ]
}

fn setup() -> Vec<Command> {
    (0..ACCOUNTS)
        .map(|index| {
            Command::OpenAccount(OpenAccount {
                account: account(index),
                currency: Currency::EUR,
                overdraft_limit: if index == 5 { 1_000 } else { 0 },
            })
        })
        .collect()
}

/// Runs the steps in batches (a clock jump ends a batch); returns outcomes and events.
fn run(
    machine: &mut StateMachine,
    steps: &[Step],
    mut on_batch: impl FnMut(&mut StateMachine, u64, &[Command], &CommitOutput),
) {
    let mut now = START_MS;
    let mut batch = setup();
    let mut flush = |machine: &mut StateMachine, now: u64, batch: &mut Vec<Command>| {
        let mut output = CommitOutput::default();
        machine.commit(now, &Submission::admin_all(batch.iter().cloned()), &mut output);
        machine.check_invariants();
        on_batch(machine, now, batch, &output);
        batch.clear();
    };
    for step in steps {
        match step {
            Step::Command(command) => batch.push(command.clone()),
            Step::Advance(ms) => {
                flush(machine, now, &mut batch);
                now += ms;
            }
        }
    }
    flush(machine, now, &mut batch);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_holds_resolve_once(steps in prop::collection::vec(step(), 1..120)) {
        let mut machine = machine();
        let mut resolutions: HashMap<Id, u32> = HashMap::new();
        run(&mut machine, &steps, |_, _, batch, output| {
            assert_eq!(output.outcomes.len(), batch.len());
            for event in &output.events {
                if let Event::Posting(posting) = event {
                    if let PostingCause::HoldCaptured(hold) | PostingCause::HoldReleased(hold) = &posting.cause
                        && posting.held_delta < 0 {
                            *resolutions.entry(hold.clone()).or_default() += 1;
                        }
                    assert!(posting.held_after <= i64::MAX as u64);
                }
            }
        });
        for (hold, count) in resolutions {
            prop_assert!(count <= 1, "hold {hold} resolved {count} times");
        }
    }

    #[test]
    fn replaying_applied_commands_changes_nothing(steps in prop::collection::vec(step(), 1..80)) {
        let mut machine = machine();
        run(&mut machine, &steps, |machine, now, batch, output| {
            for (command, outcome) in batch.iter().zip(&output.outcomes) {
                let replayable = matches!(command, Command::Deposit(_) | Command::Withdraw(_) | Command::Transfer(_) | Command::PlaceHold(_) | Command::OpenAccount(_));
                if !replayable || !outcome.is_applied() {
                    continue;
                }
                let before: State = machine.state().after_unchanged_records(1);
                let mut replay = CommitOutput::default();
                machine.commit(now, &[Submission::admin(command.clone())], &mut replay);
                assert_eq!(&replay.outcomes[0], outcome, "a replay answers as the original");
                assert!(replay.events.is_empty(), "a replay emits nothing");
                assert!(*machine.state() == before, "a replay changes nothing");
            }
        });
    }

    #[test]
    fn the_same_batches_give_the_same_state(steps in prop::collection::vec(step(), 1..120)) {
        let (mut left, mut right) = (machine(), machine());
        let mut left_outputs = Vec::new();
        let mut right_outputs = Vec::new();
        run(&mut left, &steps, |_, _, _, output| left_outputs.push(output.clone()));
        run(&mut right, &steps, |_, _, _, output| right_outputs.push(output.clone()));
        prop_assert_eq!(left_outputs, right_outputs);
        prop_assert!(left.state() == right.state());
    }
}
