//! `commit` throughput: batches of 8,190 transfers among 10,000 accounts, in memory (no WAL).
//!
//! Run: `cargo bench -p kassa-benches --bench state_machine`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kassa_engine::command::{Command, Movement, OpenAccount, Submission, Transfer};
use kassa_engine::constants::BATCH_COMMANDS_MAX;
use kassa_engine::{CommitOutput, Config, Currency, Id, SecretKey, StateMachine};

const ACCOUNTS: u64 = 10_000;

fn funded_machine() -> StateMachine {
    let mut machine = StateMachine::new(Config { secret_key: SecretKey::from_bytes(&[1; 32]) });
    let mut setup = Vec::new();
    for index in 0..ACCOUNTS {
        let account = Id::new(&format!("acc{index}")).unwrap();
        setup.push(Command::OpenAccount(OpenAccount {
            account: account.clone(),
            currency: Currency::EUR,
            overdraft_limit: 0,
        }));
        setup.push(Command::Deposit(Movement {
            id: Id::new(&format!("dep{index}")).unwrap(),
            account,
            amount: 1_000_000_000,
        }));
    }
    let mut output = CommitOutput::default();
    for chunk in setup.chunks(BATCH_COMMANDS_MAX) {
        machine.commit(1, &Submission::admin_all(chunk.to_vec()), &mut output);
        output.clear();
    }
    machine
}

/// A batch of transfers with fresh ids, between pseudo-random distinct accounts.
fn transfer_batch(accounts: &[Id], sequence: &mut u64) -> Vec<Submission> {
    (0..BATCH_COMMANDS_MAX)
        .map(|_| {
            *sequence += 1;
            let mixed = sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let from = (mixed % ACCOUNTS) as usize;
            let to = (from + 1 + ((mixed >> 32) % (ACCOUNTS - 1)) as usize) % ACCOUNTS as usize;
            Command::Transfer(Transfer {
                id: Id::new(&format!("t{sequence}")).unwrap(),
                from: accounts[from].clone(),
                to: accounts[to].clone(),
                amount: 1 + mixed % 100,
                currency: Currency::EUR,
            })
        })
        .map(Submission::admin)
        .collect()
}

fn commit_transfers(c: &mut Criterion) {
    let accounts: Vec<Id> = (0..ACCOUNTS).map(|index| Id::new(&format!("acc{index}")).unwrap()).collect();
    let mut machine = funded_machine();
    let mut sequence = 0u64;
    let mut output = CommitOutput::default();
    let mut group = c.benchmark_group("state_machine");
    group.throughput(Throughput::Elements(BATCH_COMMANDS_MAX as u64));
    group.sample_size(30);
    group.bench_function("commit_8190_transfers_10k_accounts", |b| {
        b.iter_batched(
            || transfer_batch(&accounts, &mut sequence),
            |batch| {
                output.clear();
                machine.commit(2, black_box(&batch), &mut output);
                assert!(output.outcomes.iter().all(|outcome| outcome.is_applied()));
                batch
            },
            BatchSize::LargeInput,
        );
    });
    // The same batches against a machine whose transfer index starts empty each time (its
    // setup, a copy of the funded state, is not timed): the cost without a multi-million-entry
    // idempotency index that no longer fits in cache.
    let funded = funded_machine().state().clone();
    group.bench_function("commit_8190_transfers_10k_accounts_empty_index", |b| {
        b.iter_batched(
            || {
                let config = Config { secret_key: SecretKey::from_bytes(&[1; 32]) };
                (StateMachine::from_state(config, funded.clone()), transfer_batch(&accounts, &mut sequence))
            },
            |(mut machine, batch)| {
                output.clear();
                machine.commit(2, black_box(&batch), &mut output);
                assert!(output.outcomes.iter().all(|outcome| outcome.is_applied()));
                (machine, batch)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, commit_transfers);
criterion_main!(benches);
