//! An engine of several partitions: accounts spread over them, transfers between them paid
//! through transit (answered once final), batches split and answered in order, refusals
//! refunded, and the whole of it recovered from the log.

use kassa_engine::command::{Command, Movement, OpenAccount, Submission, Transfer};
use kassa_engine::{Currency, Engine, EngineConfig, Id, Outcome, Principal, Rejection};

const PARTITIONS: u16 = 4;
const ACCOUNTS: usize = 24;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn account(index: usize) -> Id {
    id(&format!("acct-{index}"))
}

fn transfer(name: &str, from: &Id, to: &Id, amount: u64) -> Submission {
    let transfer = Transfer { id: id(name), from: from.clone(), to: to.clone(), amount, currency: Currency::EUR };
    Submission::admin(Command::Transfer(transfer))
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.partitions = PARTITIONS;
    config.tick_interval_ms = 0;
    config.snapshot_every_commands = 50;
    // A fixed server key: placement is a hash keyed from it, so the spread the tests assert is
    // the same on every run.
    config.secret_key = Some([7; 32]);
    config
}

/// Every account's balance, and the money still in transit, over all partitions.
fn balances(engine: &Engine) -> (Vec<i64>, u128) {
    let mut balances = vec![0; ACCOUNTS];
    let mut in_flight = 0;
    for partition in 0..engine.placement().count() {
        let (found, transit) = engine
            .read_partition_blocking(partition, |machine| {
                machine.check_invariants();
                let found: Vec<(usize, i64)> =
                    (0..ACCOUNTS).filter_map(|index| Some((index, machine.account(&account(index))?.posted))).collect();
                (found, machine.transit().in_flight().values().sum::<u128>())
            })
            .unwrap();
        for (index, posted) in found {
            balances[index] = posted;
        }
        in_flight += transit;
    }
    (balances, in_flight)
}

#[test]
fn transfers_cross_partitions_once_and_money_is_conserved_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    let setup: Vec<Command> = (0..ACCOUNTS)
        .flat_map(|index| {
            [
                Command::OpenAccount(OpenAccount {
                    account: account(index),
                    currency: Currency::EUR,
                    overdraft_limit: 0,
                }),
                Command::Deposit(Movement { id: id(&format!("d-{index}")), account: account(index), amount: 1_000 }),
            ]
        })
        .collect();
    // One batch over every partition: split, then answered in order.
    let outcomes = engine.submit_batch_blocking(Submission::admin_all(setup)).unwrap();
    assert_eq!(outcomes.len(), 2 * ACCOUNTS);
    assert!(outcomes.iter().all(Outcome::is_applied), "{outcomes:?}");
    let placement = engine.placement().clone();
    let crossing =
        (1..ACCOUNTS).filter(|index| placement.of_account(&account(*index)) != placement.of_account(&account(0)));
    assert!(crossing.count() > ACCOUNTS / 2, "accounts are spread over the partitions");

    // A ring of transfers, one batch: each account pays the next 100; most cross partitions.
    let ring: Vec<Submission> = (0..ACCOUNTS)
        .map(|index| transfer(&format!("ring-{index}"), &account(index), &account((index + 1) % ACCOUNTS), 100))
        .collect();
    let outcomes = engine.submit_batch_blocking(ring.clone()).unwrap();
    assert!(outcomes.iter().all(Outcome::is_applied), "{outcomes:?}");
    // Repeats answer as the first time and move nothing.
    assert_eq!(engine.submit_batch_blocking(ring).unwrap(), outcomes);
    // Too much: refused where the payer lives, nothing in flight.
    let greedy = engine.submit_blocking(transfer("greedy", &account(0), &account(1), 5_000)).unwrap();
    assert_eq!(greedy.rejection(), Some(Rejection::InsufficientFunds));
    // A payee that does not exist on its partition: debited, refused there, refunded; the id
    // stays free, and once the payee opens the same transfer applies.
    let (ghost, payer) = (id("ghost-payee"), account(0));
    let far_payer = (0..ACCOUNTS)
        .map(account)
        .find(|payer| placement.of_account(payer) != placement.of_account(&ghost))
        .expect("an account on another partition");
    let refused = engine.submit_blocking(transfer("to-ghost", &far_payer, &ghost, 250)).unwrap();
    assert_eq!(refused.rejection(), Some(Rejection::CounterpartyNotFound));
    let (after_refusal, in_flight) = balances(&engine);
    assert_eq!((after_refusal.iter().sum::<i64>(), in_flight), (1_000 * ACCOUNTS as i64, 0));
    assert!(after_refusal.iter().all(|posted| *posted == 1_000), "the ring returned everyone's 100: {after_refusal:?}");
    let open_ghost = OpenAccount { account: ghost.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(engine.submit_blocking(Submission::admin(Command::OpenAccount(open_ghost))).unwrap().is_applied());
    assert!(engine.submit_blocking(transfer("to-ghost", &far_payer, &ghost, 250)).unwrap().is_applied());
    assert!(engine.submit_blocking(transfer("back", &ghost, &payer, 250)).unwrap().is_applied());
    drop(engine);

    // Snapshots of some partitions and the log after them rebuild the same balances.
    let (engine, report) = Engine::open_with_report(config(dir.path())).unwrap();
    assert!(report.records_replayed > 0);
    let (reopened, in_flight) = balances(&engine);
    assert_eq!(in_flight, 0);
    assert_eq!(reopened.iter().sum::<i64>(), 1_000 * ACCOUNTS as i64 - 250 + 250);
    let far = (0..ACCOUNTS).find(|index| account(*index) == far_payer).unwrap();
    assert_eq!(
        (reopened[0], reopened[far]),
        (if far == 0 { 1_000 } else { 1_250 }, if far == 0 { 1_000 } else { 750 })
    );
}

/// A merchant registered (on the home partition) with an account that lives on another: the
/// registration checks it there; a sale pays it there; every partition learns the merchant.
#[test]
fn a_merchant_registers_with_an_account_on_another_partition_and_is_paid_there() {
    use kassa_engine::command::{Authorize, RegisterMerchant, RegisterTerminal, Reply, SettlePos};
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    let placement = engine.placement().clone();
    let away = (0..).map(account).find(|id| placement.of_account(id) != 0).unwrap();
    let payer = (0..).map(account).find(|id| placement.of_account(id) == 0).unwrap();
    let submit = |command| engine.submit_blocking(Submission::admin(command)).unwrap();
    let register = |account: &Id| RegisterMerchant { merchant: id("m1"), account: account.clone() };
    // Missing where it lives: refused as on one partition.
    assert_eq!(submit(Command::RegisterMerchant(register(&away))).rejection(), Some(Rejection::AccountNotFound));
    for account in [&away, &payer] {
        let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
        assert!(submit(Command::OpenAccount(open)).is_applied());
    }
    let deposit = Movement { id: id("d1"), account: payer.clone(), amount: 1_000 };
    assert!(submit(Command::Deposit(deposit)).is_applied());
    assert!(submit(Command::RegisterMerchant(register(&away))).is_applied());
    let terminal = RegisterTerminal { terminal: id("t1"), merchant: id("m1"), mac_key: None, location: None };
    assert!(submit(Command::RegisterTerminal(terminal)).is_applied());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let expires_at_ms = u64::try_from(now).unwrap() + 60_000;
    let authorize =
        Authorize { id: id("a1"), user: id("u1"), account: payer.clone(), limit: 500, expires_at_ms, nonce: 1 };
    let Outcome::Applied(Reply::Authorized { code, .. }) = submit(Command::Authorize(authorize)) else {
        panic!("authorized")
    };
    let sale = SettlePos {
        id: id("s1"),
        user: id("u1"),
        code,
        amount: 300,
        currency: Currency::EUR,
        terminal: id("t1"),
        coupon: None,
        hold_until_ms: None,
        location: None,
    };
    assert!(matches!(submit(Command::SettlePos(sale)), Outcome::Applied(Reply::Settled { charged: 300, .. })));
    let posted = |partition, account: &Id| {
        let account = account.clone();
        engine.read_partition_blocking(partition, move |machine| machine.account(&account).unwrap().posted).unwrap()
    };
    assert_eq!((posted(0, &payer), posted(placement.of_account(&away), &away)), (700, 300));
    for partition in 0..placement.count() {
        let known = engine.read_partition_blocking(partition, |machine| machine.merchant(&id("m1")).cloned()).unwrap();
        assert_eq!(known.map(|merchant| merchant.account), Some(away.clone()), "partition {partition}");
    }
}

/// A tenant's accounts, spread over every partition, are listed by the engine in one id order:
/// paged through, each exactly once, `has_more` false on the last page; another tenant's list
/// and the admin's are empty.
#[test]
fn a_tenants_accounts_are_listed_across_partitions_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    let shop = Principal::App(id("shop"));
    let open = |index: usize| {
        let open = OpenAccount { account: account(index), currency: Currency::EUR, overdraft_limit: 0 };
        Submission::new(shop.clone(), Command::OpenAccount(open))
    };
    let outcomes = engine.submit_batch_blocking((0..ACCOUNTS).map(open).collect()).unwrap();
    assert!(outcomes.iter().all(Outcome::is_applied), "{outcomes:?}");
    let mut expected: Vec<Id> = (0..ACCOUNTS).map(account).collect();
    expected.sort();
    let (mut listed, mut cursor, mut pages) = (Vec::new(), None::<Id>, 0);
    loop {
        let page = engine.accounts_owned(&shop, 5, cursor.as_ref()).unwrap();
        pages += 1;
        assert!(page.objects.len() <= 5);
        listed.extend(page.objects.iter().map(|(id, account)| (id.clone(), account.currency)));
        cursor = page.objects.last().map(|(id, _)| id.clone());
        if !page.has_more {
            break;
        }
    }
    assert_eq!(pages, ACCOUNTS.div_ceil(5));
    assert_eq!(listed, expected.iter().map(|id| (id.clone(), Currency::EUR)).collect::<Vec<_>>());
    assert!(engine.accounts_owned(&Principal::App(id("other")), 100, None).unwrap().objects.is_empty());
    assert!(engine.accounts_owned(&Principal::Admin, 100, None).unwrap().objects.is_empty());
}

/// Every record of the log in `dir`, encoded as the log keeps it.
fn records_of(dir: &std::path::Path) -> Vec<kassa_engine::wal::EncodedRecord> {
    let wal = kassa_engine::wal::Wal::open(dir, kassa_engine::Durability::Sync).unwrap();
    let mut records = Vec::new();
    wal.replay(0, |record| records.push(record.encode())).unwrap();
    records
}

#[test]
fn a_follower_fed_an_engines_records_reaches_its_state_and_serves_on() {
    let (source, copy) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both hash each partition's state every other record (`state-hashes` in each directory).
    let unsnapshotted = |dir| EngineConfig { snapshot_every_commands: 1_000_000, state_hash_every: 2, ..config(dir) };
    let engine = Engine::open(unsnapshotted(source.path())).unwrap();
    let setup: Vec<Command> = (0..ACCOUNTS)
        .flat_map(|index| {
            let open = OpenAccount { account: account(index), currency: Currency::EUR, overdraft_limit: 0 };
            let deposit = Movement { id: id(&format!("d-{index}")), account: account(index), amount: 1_000 };
            [Command::OpenAccount(open), Command::Deposit(deposit)]
        })
        .collect();
    assert!(engine.submit_batch_blocking(Submission::admin_all(setup)).unwrap().iter().all(Outcome::is_applied));
    // Transfers between partitions: debits, messages between partitions, credits.
    for round in 0..3 {
        let ring: Vec<Submission> = (0..ACCOUNTS)
            .map(|index| {
                let (payee, amount) = (account((index * 7 + 3) % ACCOUNTS), 10 + index as u64);
                transfer(&format!("r{round}-{index}"), &account(index), &payee, amount)
            })
            .collect();
        assert!(engine.submit_batch_blocking(ring).unwrap().iter().all(Outcome::is_applied));
    }
    let before = balances(&engine);
    drop(engine);
    let records = records_of(source.path());
    assert!(records.len() > 4, "{} records", records.len());

    // A standby's state: the records applied a few at a time, each run written to its own log.
    let mut follower = kassa_engine::runtime::Follower::open(unsnapshotted(copy.path())).unwrap();
    for run in records.chunks(3) {
        follower.apply(run).unwrap();
    }
    assert_eq!(follower.last_seq(), records.last().unwrap().seq);
    let mut followed = vec![0; ACCOUNTS];
    for partition in 0..PARTITIONS {
        let machine = follower.machine(partition).unwrap();
        machine.check_invariants();
        for (index, posted) in followed.iter_mut().enumerate() {
            *posted = machine.account(&account(index)).map_or(*posted, |account| account.posted);
        }
    }
    assert_eq!(followed, before.0, "the follower's state, before it becomes an engine, is the engine's");
    // The engine's state (its snapshotters' replicas) and the follower's, hashed at the same
    // records: equal, though every map holds its entries in another order.
    let hashes = |dir| kassa_engine::runtime::read_state_hashes(dir).unwrap();
    let (owner, standby) = (hashes(source.path()), hashes(copy.path()));
    let common: Vec<_> = owner.keys().filter(|position| standby.contains_key(position)).collect();
    assert!(
        common.len() >= 3 && common.len() == owner.len(),
        "{} of {} positions in common",
        common.len(),
        owner.len()
    );
    for position in common {
        assert_eq!(owner[position], standby[position], "partition {} after record {}", position.0, position.1);
    }
    assert!(follower.apply(&records[..1]).is_err(), "a record applied twice is refused");
    let (engine, _) = follower.into_engine(None).unwrap();
    assert_eq!(balances(&engine), before, "the follower's state is the engine's");
    // The engine it became serves on, numbering after the records it followed.
    let next = engine.submit_blocking(transfer("after", &account(0), &account(5), 10)).unwrap();
    assert!(next.is_applied(), "{next:?}");
    drop(engine);
    let followed = records_of(copy.path());
    assert!(followed.len() > records.len());
    for (followed, original) in followed.iter().zip(&records) {
        assert_eq!((followed.seq, &followed.value), (original.seq, &original.value), "its log is the engine's");
    }
}
