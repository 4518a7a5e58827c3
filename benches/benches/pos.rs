//! POS sales in the state machine, in memory (no WAL): 1,000 users each authorize a secure code
//! and pay with it at one merchant's terminal, their lists of codes full (32 each) as in steady
//! state. What a sale costs the executor, and the snapshot replica again (it applies the same
//! `commit`): the codes' HMACs, the user's list, the settlement and its merchant's list.
//!
//! Run: `cargo bench -p kassa-benches --bench pos`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kassa_engine::command::{Authorize, Movement, OpenAccount, RegisterMerchant, RegisterTerminal, SettlePos};
use kassa_engine::constants::{AUTHORIZATIONS_PER_USER_MAX, BATCH_COMMANDS_MAX};
use kassa_engine::{
    Command, CommitOutput, Config, Currency, Id, Outcome, Reply, SecretKey, StateMachine, Submission, TimestampMs,
};

const USERS: u64 = 1_000;

/// An hour: no code expires while the bench runs.
const CODE_TTL_MS: TimestampMs = 3_600_000;

fn id(text: String) -> Id {
    Id::new(&text).unwrap()
}

/// Commits `commands` as the admin in batches, every one applied; returns the outcomes.
fn commit_all(machine: &mut StateMachine, now: TimestampMs, commands: Vec<Command>) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(commands.len());
    let mut output = CommitOutput::default();
    let submissions: Vec<Submission> = commands.into_iter().map(Submission::admin).collect();
    for chunk in submissions.chunks(BATCH_COMMANDS_MAX) {
        output.clear();
        machine.commit(now, chunk, &mut output);
        assert!(
            output.outcomes.iter().all(Outcome::is_applied),
            "{:?}",
            output.outcomes.iter().find(|o| !o.is_applied())
        );
        outcomes.append(&mut output.outcomes);
    }
    outcomes
}

/// One merchant with a terminal; `USERS` users with a funded account each.
fn shop() -> StateMachine {
    let mut machine = StateMachine::new(Config::new(SecretKey::from_bytes(&[1; 32])));
    let open = |account: Id| Command::OpenAccount(OpenAccount { account, currency: Currency::EUR, overdraft_limit: 0 });
    let mut accounts: Vec<Command> = (0..USERS).map(|user| open(id(format!("acc{user}")))).collect();
    accounts.push(open(id("merchant-acc".into())));
    commit_all(&mut machine, 1, accounts);
    let mut setup: Vec<Command> = (0..USERS)
        .map(|user| {
            let deposit = Movement { id: id(format!("dep{user}")), account: id(format!("acc{user}")), amount: 1 << 40 };
            Command::Deposit(deposit)
        })
        .collect();
    let merchant = RegisterMerchant { merchant: id("m1".into()), account: id("merchant-acc".into()) };
    setup.push(Command::RegisterMerchant(merchant));
    commit_all(&mut machine, 1, setup);
    let terminal =
        RegisterTerminal { terminal: id("t1".into()), merchant: id("m1".into()), mac_key: None, location: None };
    commit_all(&mut machine, 1, vec![Command::RegisterTerminal(terminal)]);
    machine
}

/// Sales in rounds: every user authorizes a code, then pays with it.
struct Sales {
    machine: StateMachine,
    now: TimestampMs,
    round: u64,
}

impl Sales {
    fn round(&mut self) {
        self.round += 1;
        self.now += 1;
        let round = self.round;
        let authorizations: Vec<Command> = (0..USERS)
            .map(|user| {
                Command::Authorize(Authorize {
                    id: id(format!("z{round}-{user}")),
                    user: id(format!("user{user}")),
                    account: id(format!("acc{user}")),
                    limit: 1_000,
                    expires_at_ms: self.now + CODE_TTL_MS,
                    nonce: round * USERS + user,
                })
            })
            .collect();
        let outcomes = commit_all(&mut self.machine, self.now, black_box(authorizations));
        let sales: Vec<Command> = outcomes
            .into_iter()
            .zip(0..USERS)
            .map(|(outcome, user)| {
                let Outcome::Applied(Reply::Authorized { code, .. }) = outcome else { panic!("not authorized") };
                Command::SettlePos(SettlePos {
                    id: id(format!("s{round}-{user}")),
                    user: id(format!("user{user}")),
                    code,
                    amount: 1 + (round + user) % 900,
                    currency: Currency::EUR,
                    terminal: id("t1".into()),
                    coupon: None,
                    hold_until_ms: None,
                    location: None,
                })
            })
            .collect();
        commit_all(&mut self.machine, self.now, black_box(sales));
    }
}

fn sales(c: &mut Criterion) {
    let mut sales = Sales { machine: shop(), now: 1, round: 0 };
    // Every user's list full, as after a while under load.
    for _ in 0..AUTHORIZATIONS_PER_USER_MAX {
        sales.round();
    }
    let mut group = c.benchmark_group("pos");
    group.throughput(Throughput::Elements(2 * USERS));
    group.sample_size(20);
    group.bench_function("authorize_and_sell_1000_users_lists_full", |b| b.iter(|| sales.round()));
    group.finish();
}

criterion_group!(benches, sales);
criterion_main!(benches);
