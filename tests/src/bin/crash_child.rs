//! The crash child: opens a durable engine and drives a concurrent mixed workload forever,
//! printing one line per acknowledged command, until it is killed.

use std::sync::Arc;

use kassa_engine::command::*;
use kassa_engine::{Currency, Engine, EngineConfig, Id, Outcome};
use kassa_tests::{ACCOUNTS, Ack, OPENING_BALANCE, account, result_of};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TASKS: usize = 64;

fn id(text: &str) -> Id {
    Id::new(text).expect("valid id")
}

fn print(ack: Ack) {
    // stdout is line-buffered: each acknowledged line reaches the pipe whole, at once.
    println!("{}", ack.line());
}

async fn setup(engine: &Engine) {
    let mut commands = Vec::new();
    for index in 0..ACCOUNTS {
        commands.push(Command::OpenAccount(OpenAccount {
            account: account(index),
            currency: Currency::EUR,
            overdraft_limit: 0,
        }));
        commands.push(Command::Deposit(Movement {
            id: id(&format!("seed-{index}")),
            account: account(index),
            amount: OPENING_BALANCE,
        }));
    }
    commands.push(Command::OpenAccount(OpenAccount {
        account: id("shop"),
        currency: Currency::EUR,
        overdraft_limit: 0,
    }));
    commands.push(Command::RegisterMerchant(RegisterMerchant { merchant: id("m1"), account: id("shop") }));
    commands.push(Command::RegisterTerminal(RegisterTerminal {
        terminal: id("t1"),
        merchant: id("m1"),
        mac_key: None,
    }));
    // Idempotent: every cycle submits it again and gets the same answers.
    let outcomes = engine.submit_batch(commands).await.expect("setup accepted");
    assert!(outcomes.iter().all(Outcome::is_applied), "setup applied: {outcomes:?}");
}

async fn now_ms(engine: &Engine) -> u64 {
    engine.read(|machine| machine.state_now_ms()).await.expect("read")
}

async fn worker(engine: Arc<Engine>, cycle: u64, task: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ (task as u64).wrapping_mul(0x9E37_79B9));
    for n in 0.. {
        let tag = format!("c{cycle}-w{task}-{n}");
        let pick = rng.random_range(0..100);
        let from = rng.random_range(0..ACCOUNTS);
        let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
        let amount = rng.random_range(1..5_000);
        if pick < 70 {
            let transfer = Transfer {
                id: id(&format!("t-{tag}")),
                from: account(from),
                to: account(to),
                amount,
                currency: Currency::EUR,
            };
            let Ok(outcome) = engine.submit(Command::Transfer(transfer)).await else { continue };
            print(Ack::Transfer {
                id: format!("t-{tag}"),
                from: format!("acc{from}"),
                to: format!("acc{to}"),
                amount,
                result: result_of(&outcome),
            });
        } else if pick < 80 {
            let user = format!("u{from}");
            let expires_at_ms = now_ms(&engine).await + 600_000;
            let authorize = Authorize {
                id: id(&format!("a-{tag}")),
                user: id(&user),
                account: account(from),
                limit: 5_000,
                expires_at_ms,
                nonce: rng.random(),
            };
            let Ok(Outcome::Applied(Reply::Authorized { code, .. })) =
                engine.submit(Command::Authorize(authorize)).await
            else {
                continue;
            };
            let settle = SettlePos {
                id: id(&format!("p-{tag}")),
                user: id(&user),
                code,
                amount,
                currency: Currency::EUR,
                terminal: id("t1"),
                coupon: None,
                hold_until_ms: None,
            };
            let Ok(outcome) = engine.submit(Command::SettlePos(settle)).await else { continue };
            print(Ack::Settlement { id: format!("p-{tag}"), result: result_of(&outcome) });
        } else if pick < 90 {
            let bill = format!("b-{tag}");
            let now = now_ms(&engine).await;
            let open = OpenBill {
                bill: id(&bill),
                user: id(&format!("u{from}")),
                account: account(from),
                merchant: id("m1"),
                opens_at_ms: now,
                closes_at_ms: now + 600_000,
            };
            if !matches!(engine.submit(Command::OpenBill(open)).await, Ok(Outcome::Applied(_))) {
                continue;
            }
            for item in 0..2 {
                let add = AddBillItem {
                    bill: id(&bill),
                    terminal: id("t1"),
                    item_ref: format!("sku{item}"),
                    quantity: 1 + item,
                    unit_amount: amount,
                };
                let _ = engine.submit(Command::AddBillItem(add)).await;
            }
            let submit = SubmitBill { bill: id(&bill), nonce: rng.random() };
            let Ok(Outcome::Applied(Reply::BillSubmitted { challenge, .. })) =
                engine.submit(Command::SubmitBill(submit)).await
            else {
                continue;
            };
            let confirm = ConfirmBill { bill: id(&bill), challenge, coupon: None };
            let Ok(outcome) = engine.submit(Command::ConfirmBill(confirm)).await else { continue };
            print(Ack::BillPaid { id: bill, result: result_of(&outcome) });
        } else {
            let split = format!("s-{tag}");
            let members: Vec<usize> = (1..=3).map(|offset| (from + offset) % ACCOUNTS).collect();
            let request = RequestSplit {
                split: id(&split),
                requester: id(&format!("u{from}")),
                requester_account: account(from),
                total: amount * 3,
                currency: Currency::EUR,
                members: members
                    .iter()
                    .map(|member| SplitMember { user: id(&format!("u{member}")), account: account(*member) })
                    .collect(),
                shares: SplitShares::Equal,
                expires_at_ms: now_ms(&engine).await + 600_000,
            };
            if !matches!(engine.submit(Command::RequestSplit(request)).await, Ok(Outcome::Applied(_))) {
                continue;
            }
            for (index, member) in members.iter().enumerate() {
                let pay = PaySplitShare { split: id(&split), member: id(&format!("u{member}")) };
                let Ok(outcome) = engine.submit(Command::PaySplitShare(pay)).await else { continue };
                print(Ack::SharePaid { id: split.clone(), member: index, result: result_of(&outcome) });
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let data_dir = args.next().expect("usage: kassa-crash-child DATA_DIR CYCLE SEED");
    let cycle: u64 = args.next().and_then(|text| text.parse().ok()).expect("CYCLE");
    let seed: u64 = args.next().and_then(|text| text.parse().ok()).expect("SEED");
    let mut config = EngineConfig::new(data_dir);
    config.snapshot_every_commands = 3_000;
    config.tick_interval_ms = 100;
    let engine = Arc::new(Engine::open(config).expect("engine opens"));
    setup(&engine).await;
    println!("READY");
    let workers: Vec<_> = (0..TASKS).map(|task| tokio::spawn(worker(engine.clone(), cycle, task, seed))).collect();
    for worker in workers {
        let _ = worker.await;
    }
}
