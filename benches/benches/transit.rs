//! What a transfer between partitions costs the state machines, beside a transfer within one:
//! batches of 8,190 transfers whose payers live on partition 0 of 2 and payees on partition 1,
//! each run as its three steps (the payer's partition debits into transit and sends the credits,
//! the payee's partition credits and answers, the payer's partition drains its transit), in
//! memory, no WAL; and the same transfers on one partition. Then linked batches of two legs,
//! the second paid by an account on the other partition (its funds reserved there first, the
//! leg paid from there once the batch applies: seven steps), beside the same batches on one
//! partition. Then an app's first commands for users whose claims live on the other partition
//! (asked there, answered tentatively, applied, ended, heard: five steps), beside users of the
//! partition applying them.
//!
//! Run: `cargo bench -p kassa-benches --bench transit`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kassa_engine::command::{
    AddContact, Command, Movement, OpenAccount, Principal, Submission, Transfer, TransferBatch,
};
use kassa_engine::constants::BATCH_COMMANDS_MAX;
use kassa_engine::partition::TransitMessage;
use kassa_engine::state_machine::State;
use kassa_engine::{CommitOutput, Config, Currency, Id, SecretKey, StateMachine};

/// Accounts on each side.
const ACCOUNTS: usize = 5_000;

fn config() -> Config {
    Config::with_ids_max(SecretKey::from_bytes(&[1; 32]), 1 << 20)
}

/// `ACCOUNTS` account ids that live on `partition` of 2.
fn accounts_on(partition: u16) -> Vec<Id> {
    let placement = config().for_partition(0, 2).placement().clone();
    (0..)
        .map(|n| Id::new(&format!("acc{n}")).unwrap())
        .filter(|id| placement.of_account(id) == partition)
        .take(ACCOUNTS)
        .collect()
}

/// Opens and funds `accounts` on `machine`.
fn open(machine: &mut StateMachine, accounts: &[Id]) {
    let mut setup = Vec::new();
    for account in accounts {
        let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
        setup.push(Submission::admin(Command::OpenAccount(open)));
        let id = Id::new(&format!("dep-{account}")).unwrap();
        setup.push(Submission::admin(Command::Deposit(Movement { id, account: account.clone(), amount: 1 << 40 })));
    }
    let mut output = CommitOutput::default();
    for chunk in setup.chunks(BATCH_COMMANDS_MAX) {
        machine.commit(1, chunk, &mut output);
        assert!(output.outcomes.iter().all(|outcome| outcome.is_applied()));
        output.clear();
    }
}

/// A batch of transfers with fresh ids from `payers` to `payees`.
fn transfer_batch(payers: &[Id], payees: &[Id], sequence: &mut u64) -> Vec<Submission> {
    (0..BATCH_COMMANDS_MAX)
        .map(|_| {
            *sequence += 1;
            let mixed = sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let from = payers[(mixed % payers.len() as u64) as usize].clone();
            let to = payees[((mixed >> 32) % payees.len() as u64) as usize].clone();
            let id = Id::new(&format!("t{sequence}")).unwrap();
            Submission::admin(Command::Transfer(Transfer {
                id,
                from,
                to,
                amount: 1 + mixed % 100,
                currency: Currency::EUR,
            }))
        })
        .collect()
}

/// The state of one partition holding every account of `groups`, opened and funded.
fn one_partition(groups: &[&[Id]]) -> kassa_engine::state_machine::State {
    let mut machine = StateMachine::new(config());
    for accounts in groups {
        open(&mut machine, accounts);
    }
    machine.state().clone()
}

/// Benches one commit, on one partition in state `state`, of the batches `batches` makes (all
/// applied).
fn bench_one_partition(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    state: &kassa_engine::state_machine::State,
    mut batches: impl FnMut() -> Vec<Submission>,
) {
    group.bench_function(name, |b| {
        b.iter_batched(
            || (StateMachine::from_state(config(), state.clone()), batches()),
            |(mut machine, batch)| {
                let mut output = CommitOutput::default();
                machine.commit(2, black_box(&batch), &mut output);
                assert!(output.outcomes.iter().all(|outcome| outcome.is_applied()));
                (machine, batch, output)
            },
            BatchSize::LargeInput,
        );
    });
}

/// The messages a step sends (moved out, as the executor moves them).
fn messages(output: &mut CommitOutput) -> Vec<TransitMessage> {
    output.outgoing.drain(..).map(|outgoing| outgoing.message).collect()
}

fn transfers_between_partitions(c: &mut Criterion) {
    let (payers, payees) = (accounts_on(0), accounts_on(1));
    let mut sequence = 0u64;
    let mut group = c.benchmark_group("transit");
    group.throughput(Throughput::Elements(BATCH_COMMANDS_MAX as u64));
    group.sample_size(30);

    let one = one_partition(&[&payers, &payees]);
    bench_one_partition(&mut group, "8190_transfers_one_partition", &one, || {
        transfer_batch(&payers, &payees, &mut sequence)
    });

    let (mut p0, mut p1) =
        (StateMachine::new(config().for_partition(0, 2)), StateMachine::new(config().for_partition(1, 2)));
    open(&mut p0, &payers);
    open(&mut p1, &payees);
    let (p0, p1) = (p0.state().clone(), p1.state().clone());
    group.bench_function("8190_transfers_between_two_partitions", |b| {
        b.iter_batched(
            || {
                let p0 = StateMachine::from_state(config().for_partition(0, 2), p0.clone());
                let p1 = StateMachine::from_state(config().for_partition(1, 2), p1.clone());
                (p0, p1, transfer_batch(&payers, &payees, &mut sequence))
            },
            |(mut p0, mut p1, batch)| {
                let (mut debited, mut credited, mut settled) =
                    (CommitOutput::default(), CommitOutput::default(), CommitOutput::default());
                p0.commit(2, black_box(&batch), &mut debited);
                p1.commit_with_messages(2, &messages(&mut debited), &[], &mut credited);
                p0.commit_with_messages(2, &messages(&mut credited), &[], &mut settled);
                assert_eq!(settled.completed.len(), batch.len(), "every transfer completes");
                (p0, p1, batch, [debited, credited, settled])
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

/// Linked batches (as many as one commit takes) of two legs: `firsts[i] -> payees[j]`, then
/// `seconds[k] -> payees[l]`, fresh ids.
fn linked_pairs(firsts: &[Id], seconds: &[Id], payees: &[Id], sequence: &mut u64) -> Vec<Submission> {
    (0..BATCH_COMMANDS_MAX)
        .map(|_| {
            *sequence += 1;
            let mixed = sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let pick = |ids: &[Id], shift: u32| ids[((mixed >> shift) % ids.len() as u64) as usize].clone();
            let leg = |n: u32, from: Id, to: Id| Transfer {
                id: Id::new(&format!("l{sequence}-{n}")).unwrap(),
                from,
                to,
                amount: 1 + mixed % 100,
                currency: Currency::EUR,
            };
            let transfers =
                vec![leg(0, pick(firsts, 0), pick(payees, 16)), leg(1, pick(seconds, 32), pick(payees, 48))];
            Submission::admin(Command::TransferBatch(TransferBatch { atomic: true, transfers }))
        })
        .collect()
}

fn linked_batches_paid_from_another_partition(c: &mut Criterion) {
    let (here, there) = (accounts_on(0), accounts_on(1));
    let (firsts, payees) = here.split_at(ACCOUNTS / 2);
    let mut sequence = 0u64;
    let mut group = c.benchmark_group("transit");
    group.throughput(Throughput::Elements(BATCH_COMMANDS_MAX as u64));
    group.sample_size(20);

    let one = one_partition(&[&here, &there]);
    bench_one_partition(&mut group, "8190_linked_pairs_one_partition", &one, || {
        linked_pairs(firsts, &there, payees, &mut sequence)
    });

    let (mut p0, mut p1) =
        (StateMachine::new(config().for_partition(0, 2)), StateMachine::new(config().for_partition(1, 2)));
    open(&mut p0, &here);
    open(&mut p1, &there);
    let (p0, p1) = (p0.state().clone(), p1.state().clone());
    group.bench_function("8190_linked_pairs_second_payer_on_another_partition", |b| {
        b.iter_batched(
            || {
                let p0 = StateMachine::from_state(config().for_partition(0, 2), p0.clone());
                let p1 = StateMachine::from_state(config().for_partition(1, 2), p1.clone());
                (p0, p1, linked_pairs(firsts, &there, payees, &mut sequence))
            },
            |(mut p0, mut p1, batch)| {
                let mut steps = vec![CommitOutput::default()];
                p0.commit(2, black_box(&batch), &mut steps[0]);
                let waiting: std::collections::BTreeSet<u64> = steps[0].pending.iter().map(|(_, n)| *n).collect();
                let mut completed = std::collections::BTreeSet::new();
                for step in 1..7 {
                    let mut output = CommitOutput::default();
                    let messages = messages(steps.last_mut().expect("a step"));
                    let machine = if step % 2 == 1 { &mut p1 } else { &mut p0 };
                    machine.commit_with_messages(2, &messages, &[], &mut output);
                    completed.extend(output.completed.iter().map(|(number, _)| *number));
                    steps.push(output);
                }
                assert_eq!(
                    (waiting.len(), waiting.is_subset(&completed)),
                    (batch.len(), true),
                    "every batch completes"
                );
                (p0, p1, batch, steps)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

/// A batch of an app's contact requests for fresh users placed on `partition` of 2 (each
/// user's first command: it claims the user).
fn first_commands(partition: u16, sequence: &mut u64) -> Vec<Submission> {
    let placement = config().for_partition(0, 2).placement().clone();
    let app = Principal::App(Id::new("bench-app").unwrap());
    let mut batch = Vec::with_capacity(BATCH_COMMANDS_MAX);
    while batch.len() < BATCH_COMMANDS_MAX {
        *sequence += 1;
        let user = Id::new(&format!("user{sequence}")).unwrap();
        if placement.of_user(&user) != partition {
            continue;
        }
        let contact = Id::new(&format!("friend{sequence}")).unwrap();
        batch.push(Submission::new(app.clone(), Command::AddContact(AddContact { user, contact })));
    }
    batch
}

/// Partitions 0 and 1 of 2, from the states `home` and `other`.
fn fresh_pair(home: &State, other: &State) -> (StateMachine, StateMachine) {
    let p0 = StateMachine::from_state(config().for_partition(0, 2), home.clone());
    (p0, StateMachine::from_state(config().for_partition(1, 2), other.clone()))
}

fn claims_asked_of_another_partition(c: &mut Criterion) {
    let mut sequence = 0u64;
    let mut group = c.benchmark_group("transit");
    group.throughput(Throughput::Elements(BATCH_COMMANDS_MAX as u64));
    group.sample_size(20);
    let empty = StateMachine::new(config().for_partition(0, 2)).state().clone();
    group.bench_function("8190_first_commands_for_users_of_this_partition", |b| {
        b.iter_batched(
            || {
                (
                    StateMachine::from_state(config().for_partition(0, 2), empty.clone()),
                    first_commands(0, &mut sequence),
                )
            },
            |(mut machine, batch)| {
                let mut output = CommitOutput::default();
                machine.commit(2, black_box(&batch), &mut output);
                assert!(output.outcomes.iter().all(|outcome| outcome.is_applied()) && output.outgoing.is_empty());
                (machine, batch, output)
            },
            BatchSize::LargeInput,
        );
    });
    let other = StateMachine::new(config().for_partition(1, 2)).state().clone();
    // Claimed on partition 1, their own: each claim is noted on the home partition, which
    // answers (`ClaimNoted`).
    group.bench_function("8190_first_commands_for_users_of_this_partition_noted_at_home", |b| {
        b.iter_batched(
            || {
                let (p0, p1) = fresh_pair(&empty, &other);
                (p0, p1, first_commands(1, &mut sequence))
            },
            |(mut p0, mut p1, batch)| {
                let mut steps: [CommitOutput; 3] = Default::default();
                let [applied, noted, heard] = &mut steps;
                p1.commit(2, black_box(&batch), applied);
                p0.commit_with_messages(2, &messages(applied), &[], noted);
                p1.commit_with_messages(2, &messages(noted), &[], heard);
                assert!(applied.outcomes.iter().all(|outcome| outcome.is_applied()));
                assert!(p1.transit().open_steps() == 0, "every note heard");
                (p0, p1, batch, steps)
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("8190_first_commands_for_users_claimed_on_another_partition", |b| {
        b.iter_batched(
            || {
                let (p0, p1) = fresh_pair(&empty, &other);
                (p0, p1, first_commands(1, &mut sequence))
            },
            |(mut p0, mut p1, batch)| {
                let mut steps: [CommitOutput; 5] = Default::default();
                let [asked, answered, applied, ended, heard] = &mut steps;
                p0.commit(2, black_box(&batch), asked);
                p1.commit_with_messages(2, &messages(asked), &[], answered);
                p0.commit_with_messages(2, &messages(answered), &[], applied);
                p1.commit_with_messages(2, &messages(applied), &[], ended);
                p0.commit_with_messages(2, &messages(ended), &[], heard);
                assert_eq!(applied.completed.len(), batch.len(), "every command completes");
                assert!(p0.transit().open_steps() == 0 && p1.transit().tentative_claims() == 0);
                (p0, p1, batch, steps)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(
    benches,
    transfers_between_partitions,
    linked_batches_paid_from_another_partition,
    claims_asked_of_another_partition
);
criterion_main!(benches);
