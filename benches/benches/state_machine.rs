//! `commit` throughput: batches of 8,190 transfers among 10,000 accounts, in memory (no WAL):
//! with an empty idempotency table, as tenants, and with ten million ids remembered.
//!
//! Run: `cargo bench -p kassa-benches --bench state_machine`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kassa_engine::command::{Command, Movement, OpenAccount, Principal, Submission, Transfer};
use kassa_engine::constants::BATCH_COMMANDS_MAX;
use kassa_engine::{CommitOutput, Config, Currency, Id, SecretKey, StateMachine};

const ACCOUNTS: u64 = 10_000;

/// Apps the accounts of the tenant variant belong to (account `i` to app `i % APPS`).
const APPS: u64 = 16;

/// The principal that opens (and later debits) account `index`: the admin, or its app.
fn owner(index: u64, as_apps: bool) -> Principal {
    if as_apps { Principal::App(Id::new(&format!("app{}", index % APPS)).unwrap()) } else { Principal::Admin }
}

fn funded_machine(as_apps: bool, ids_max: usize) -> StateMachine {
    let mut machine = StateMachine::new(Config::with_ids_max(SecretKey::from_bytes(&[1; 32]), ids_max));
    let mut setup = Vec::new();
    for index in 0..ACCOUNTS {
        let account = Id::new(&format!("acc{index}")).unwrap();
        let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
        setup.push(Submission::new(owner(index, as_apps), Command::OpenAccount(open)));
        let deposit = Movement { id: Id::new(&format!("dep{index}")).unwrap(), account, amount: 1_000_000_000 };
        setup.push(Submission::admin(Command::Deposit(deposit)));
    }
    let mut output = CommitOutput::default();
    for chunk in setup.chunks(BATCH_COMMANDS_MAX) {
        machine.commit(1, chunk, &mut output);
        assert!(output.outcomes.iter().all(|outcome| outcome.is_applied()));
        output.clear();
    }
    machine
}

/// A batch of transfers with fresh ids, between pseudo-random distinct accounts.
fn transfer_batch(accounts: &[Id], sequence: &mut u64, as_apps: bool) -> Vec<Submission> {
    (0..BATCH_COMMANDS_MAX)
        .map(|_| {
            *sequence += 1;
            let mixed = sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let from = (mixed % ACCOUNTS) as usize;
            let to = (from + 1 + ((mixed >> 32) % (ACCOUNTS - 1)) as usize) % ACCOUNTS as usize;
            let transfer = Transfer {
                id: Id::new(&format!("t{sequence}")).unwrap(),
                from: accounts[from].clone(),
                to: accounts[to].clone(),
                amount: 1 + mixed % 100,
                currency: Currency::EUR,
            };
            // Sent by the payer's owner: the admin, or (tenant variant) the app owning it.
            Submission::new(owner(from as u64, as_apps), Command::Transfer(transfer))
        })
        .collect()
}

/// Ids remembered before the `10m_ids` variant is measured.
const REMEMBERED: u64 = 10_000_000;

/// Its table: room for the ten million and the millions more its samples add (at 5M/s, ~8M
/// in the warm-up and measurement below; 32 bytes each).
const REMEMBERED_IDS_MAX: usize = 32_000_000;

fn commit_transfers(c: &mut Criterion) {
    let accounts: Vec<Id> = (0..ACCOUNTS).map(|index| Id::new(&format!("acc{index}")).unwrap()).collect();
    let mut sequence = 0u64;
    let mut output = CommitOutput::default();
    let mut group = c.benchmark_group("state_machine");
    group.throughput(Throughput::Elements(BATCH_COMMANDS_MAX as u64));
    group.sample_size(30);
    // Against a machine whose id table starts empty each time (its setup, a copy of the funded
    // state, is not timed); then the same with every account opened by one of 16 apps and every
    // transfer sent by its payer's app: what the authority check (an owner lookup per transfer)
    // costs a tenant.
    for (name, as_apps) in [
        ("commit_8190_transfers_10k_accounts_empty_index", false),
        ("commit_8190_transfers_10k_accounts_empty_index_as_apps", true),
    ] {
        let funded = funded_machine(as_apps, 1 << 20).state().clone();
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let config = Config::with_ids_max(SecretKey::from_bytes(&[1; 32]), 1 << 20);
                    let batch = transfer_batch(&accounts, &mut sequence, as_apps);
                    (StateMachine::from_state(config, funded.clone()), batch)
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
    }
    // Ten million transfer ids remembered first (then more as the samples run: each batch adds
    // 8,190): every new transfer probes a 1 GiB table, far out of cache.
    let mut machine = funded_machine(false, REMEMBERED_IDS_MAX);
    while sequence < REMEMBERED {
        output.clear();
        machine.commit(2, &transfer_batch(&accounts, &mut sequence, false), &mut output);
    }
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(1));
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.bench_function("commit_8190_transfers_10m_ids", |b| {
        b.iter_batched(
            || transfer_batch(&accounts, &mut sequence, false),
            |batch| {
                output.clear();
                machine.commit(2, black_box(&batch), &mut output);
                assert!(output.outcomes.iter().all(|outcome| outcome.is_applied()));
                batch
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, commit_transfers);
criterion_main!(benches);
