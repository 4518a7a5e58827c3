//! Holds on an engine of several partitions (`docs/placement.md`, step 1): a hold lives with its
//! payer, the commands and reads that name only the hold find it through the engine's directory
//! (`runtime/directory.rs`), a tick expires holds everywhere, a hold that left memory is found
//! through storage, and a reopen rebuilds the directory. A payee on another partition is checked
//! there when the hold is placed and credited there when it is captured
//! (`state_machine/transit/holds.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kassa_engine::command::{CaptureHold, Command, Movement, ObjectKind, OpenAccount, PlaceHold, Submission};
use kassa_engine::partition::PartitionId;
use kassa_engine::runtime::Clock;
use kassa_engine::state_machine::HoldState;
use kassa_engine::{Currency, Engine, EngineConfig, Event, Id, Outcome, Principal, Rejection, Reply};

const PARTITIONS: u16 = 4;
pub(super) const WINDOW_MS: u64 = 60_000;
pub(super) const START_MS: u64 = 1_700_000_000_000;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn shop() -> Principal {
    Principal::App(id("shop"))
}

pub(super) fn config(dir: &std::path::Path, now: &Arc<AtomicU64>) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.partitions = PARTITIONS;
    config.tick_interval_ms = 0;
    config.secret_key = Some([7; 32]);
    config.clock = Clock::Manual(now.clone());
    config.resolved_in_memory_ms = WINDOW_MS;
    config
}

fn submit(engine: &Engine, command: Command) -> Outcome {
    engine.submit_blocking(Submission::new(shop(), command)).unwrap()
}

fn place(hold: &str, from: &Id, to: &Id, amount: u64, expires_at_ms: u64) -> Command {
    let place =
        PlaceHold { id: id(hold), from: from.clone(), to: to.clone(), amount, currency: Currency::EUR, expires_at_ms };
    Command::PlaceHold(place)
}

fn capture(hold: &str, amount: u64) -> Command {
    Command::CaptureHold(CaptureHold { hold: id(hold), amount })
}

/// `(posted, held)` of `account`, read where it lives.
pub(super) fn balance(engine: &Engine, account: &Id) -> (i64, u64) {
    let account = account.clone();
    let partition = engine.placement().of_account(&account);
    engine
        .read_partition_blocking(partition, move |machine| {
            machine.check_invariants();
            let found = machine.account(&account).unwrap();
            (found.posted, found.held)
        })
        .unwrap()
}

/// Two accounts of the shop on partition `partition`, and one on another, each holding 1,000.
fn accounts(engine: &Engine, partition: PartitionId) -> (Id, Id, Id) {
    let placement = engine.placement().clone();
    let mut here = (0..).map(|index| id(&format!("acct-{index}"))).filter(|id| placement.of_account(id) == partition);
    let (payer, payee) = (here.next().unwrap(), here.next().unwrap());
    let away =
        (0..).map(|index| id(&format!("away-{index}"))).find(|id| placement.of_account(id) != partition).unwrap();
    for (index, account) in [&payer, &payee, &away].into_iter().enumerate() {
        let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
        assert!(submit(engine, Command::OpenAccount(open)).is_applied());
        let deposit = Movement { id: id(&format!("dep-{index}")), account: account.clone(), amount: 1_000 };
        let outcome = engine.submit_blocking(Submission::admin(Command::Deposit(deposit))).unwrap();
        assert!(outcome.is_applied());
    }
    (payer, payee, away)
}

#[test]
fn holds_live_with_their_payer_and_are_found_by_id_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START_MS));
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    let (payer, payee, away) = accounts(&engine, 2);
    let expires = START_MS + 3_600_000;

    // A capture pipelined right behind its placement, in one batch: routed together, applied in
    // order on the payer's partition.
    let batch = vec![
        Submission::new(shop(), place("h1", &payer, &payee, 400, expires)),
        Submission::new(shop(), capture("h1", 300)),
    ];
    let outcomes = engine.submit_batch_blocking(batch).unwrap();
    assert_eq!(outcomes[1], Outcome::Applied(Reply::Captured { captured: 300, released: 100 }), "{outcomes:?}");
    assert_eq!((balance(&engine, &payer), balance(&engine, &payee)), ((700, 0), (1_300, 0)));
    assert_eq!(engine.hold_partition(&id("h1")).unwrap(), 2);
    // The event feed shows the hold's changes to the shop, which may read it, and to no one else.
    let changed_h1 = |principal: &Principal| {
        let page = engine.events(principal, None, 100).unwrap();
        page.events.iter().any(|line| {
            matches!(&line.record.event, Event::Changed { object: ObjectKind::Hold, id: hold, .. } if *hold == id("h1"))
        })
    };
    assert!(changed_h1(&shop()));
    assert!(!changed_h1(&Principal::App(id("other"))));

    // A void, a read by id and the list of the shop's holds, which spans partitions.
    assert!(submit(&engine, place("h2", &payer, &payee, 200, expires)).is_applied());
    assert_eq!(balance(&engine, &payer), (700, 200));
    assert!(submit(&engine, Command::VoidHold { hold: id("h2") }).is_applied());
    assert_eq!(engine.hold(&shop(), &id("h2")).unwrap().unwrap().state, HoldState::Voided);
    let away_payee = account_near(&engine, &away);
    assert!(submit(&engine, place("h0", &away, &away_payee, 50, expires)).is_applied());
    let listed: Vec<Id> =
        engine.holds_owned(&shop(), 10, None).unwrap().objects.into_iter().map(|(id, _)| id).collect();
    assert_eq!(listed, vec![id("h0"), id("h1"), id("h2")]);
    assert_eq!(engine.hold_partition(&id("h1")).unwrap(), 2);

    // A payee on another partition is checked there; the hold lives with its payer.
    assert!(submit(&engine, place("h3", &payer, &away, 100, expires)).is_applied());
    assert_eq!(balance(&engine, &payer), (700, 100));
    assert!(submit(&engine, Command::VoidHold { hold: id("h3") }).is_applied());
    assert_eq!(balance(&engine, &payer), (700, 0));
    // A refused placement leaves its id free for a payer on another partition.
    let outcome = submit(&engine, place("h4", &payer, &payee, 5_000, expires));
    assert_eq!(outcome.rejection(), Some(Rejection::InsufficientFunds));
    assert!(submit(&engine, place("h4", &away, &away_payee, 100, START_MS + 1_000)).is_applied());
    assert_eq!(engine.hold_partition(&id("h4")).unwrap(), engine.placement().of_account(&away));

    // A tick expires holds on every partition: h0 stays (later), h4 expires.
    now.store(START_MS + 2_000, Ordering::SeqCst);
    let ticked = engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    assert_eq!(ticked, Outcome::Applied(Reply::Ticked { expired: 1 }));
    assert_eq!(engine.hold(&shop(), &id("h4")).unwrap().unwrap().state, HoldState::Expired);
    assert_eq!(balance(&engine, &away), (1_000, 50));

    // A window later the resolved holds leave memory; a retried capture is found through
    // storage on its payer's partition and answers as the first time, moving nothing.
    now.store(START_MS + 3 * WINDOW_MS, Ordering::SeqCst);
    engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    let in_memory = engine.read_partition_blocking(2, |machine| machine.hold(&id("h1")).is_some()).unwrap();
    assert!(!in_memory, "h1 left memory");
    assert_eq!(submit(&engine, capture("h1", 300)), Outcome::Applied(Reply::Captured { captured: 300, released: 100 }));
    assert_eq!(balance(&engine, &payer), (700, 0));
    assert_eq!(engine.hold(&shop(), &id("h2")).unwrap().unwrap().state, HoldState::Voided);
    // An active hold survives a reopen, and so does the way to it.
    assert!(submit(&engine, place("h5", &payer, &payee, 100, START_MS + 10 * WINDOW_MS)).is_applied());
    drop(engine);

    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    assert_eq!(engine.hold_partition(&id("h5")).unwrap(), 2);
    assert_eq!(submit(&engine, capture("h5", 100)), Outcome::Applied(Reply::Captured { captured: 100, released: 0 }));
    assert_eq!((balance(&engine, &payer), balance(&engine, &payee)), ((600, 0), (1_400, 0)));
    // An unknown hold is the home partition's to refuse.
    assert_eq!(submit(&engine, capture("nope", 1)).rejection(), Some(Rejection::Forbidden));
    let admin_capture = engine.submit_blocking(Submission::admin(capture("nope", 1))).unwrap();
    assert_eq!(admin_capture.rejection(), Some(Rejection::HoldNotFound));
}

/// A new account of the shop on the same partition as `account`.
fn account_near(engine: &Engine, account: &Id) -> Id {
    let placement = engine.placement().clone();
    let partition = placement.of_account(account);
    let near =
        (0..).map(|index| id(&format!("near-{index}"))).find(|id| placement.of_account(id) == partition).unwrap();
    let open = OpenAccount { account: near.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(submit(engine, Command::OpenAccount(open)).is_applied());
    near
}

/// A placement turned away at the mailbox (`Busy`) leaves nothing in the directory: the flood
/// costs no memory, and the id routes as if it had never been sent.
#[test]
fn a_placement_answered_busy_leaves_no_entry_behind() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START_MS));
    let mut config = config(dir.path(), &now);
    config.mailbox_max = 1;
    let engine = Arc::new(Engine::open(config).unwrap());
    let (payer, payee, _) = accounts(&engine, 1);
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let (engine, payer, payee) = (engine.clone(), payer.clone(), payee.clone());
            std::thread::spawn(move || {
                let mut busy = Vec::new();
                for n in 0..100 {
                    let hold = format!("flood-{thread}-{n}");
                    let command = place(&hold, &payer, &payee, 1, START_MS + 3_600_000);
                    match engine.submit_blocking(Submission::new(shop(), command)) {
                        Ok(outcome) => assert!(outcome.is_applied(), "{outcome:?}"),
                        Err(kassa_engine::SubmitError::Busy) => busy.push(hold),
                        Err(error) => panic!("{error}"),
                    }
                }
                busy
            })
        })
        .collect();
    let busy: Vec<String> = threads.into_iter().flat_map(|thread| thread.join().unwrap()).collect();
    assert!(!busy.is_empty(), "a mailbox of one must turn some placements away");
    for hold in &busy {
        assert_eq!(engine.hold_partition(&id(hold)).unwrap(), 0, "{hold} was never placed");
    }
    assert_eq!(engine.hold_partition(&id("flood-0-0")).unwrap() == 1, !busy.contains(&"flood-0-0".to_string()));
}

/// A hold whose payee lives on another partition: the placement is decided with the payee's
/// partition's answer (refusals change nothing), the payee's owner may capture it, the capture
/// credits the payee there, and a capture the payee's partition refuses leaves the hold active,
/// reserving what it did. It all survives a reopen.
#[test]
fn a_payee_on_another_partition_is_checked_and_paid_there() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START_MS));
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    let (payer, _, away) = accounts(&engine, 2);
    let placement = engine.placement().clone();
    let elsewhere = |prefix: &str| {
        (0..).map(|index| id(&format!("{prefix}-{index}"))).find(|id| placement.of_account(id) != 2).unwrap()
    };
    let merchant = Principal::Merchant(id("m1"));
    let till = elsewhere("till");
    let open = OpenAccount { account: till.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(
        engine.submit_blocking(Submission::new(merchant.clone(), Command::OpenAccount(open))).unwrap().is_applied()
    );
    let expires = START_MS + 3_600_000;

    // Refused by the payee's partition: nothing changes, and the id stays free.
    let missing = elsewhere("missing");
    let outcome = submit(&engine, place("x1", &payer, &missing, 100, expires));
    assert_eq!(outcome.rejection(), Some(Rejection::CounterpartyNotFound));
    assert_eq!(balance(&engine, &payer), (1_000, 0));
    assert_eq!(engine.hold_partition(&id("x1")).unwrap(), 0, "a refused placement leaves no entry");
    let usd = elsewhere("usd");
    let open = OpenAccount { account: usd.clone(), currency: Currency::USD, overdraft_limit: 0 };
    assert!(submit(&engine, Command::OpenAccount(open)).is_applied());
    assert_eq!(submit(&engine, place("x1", &payer, &usd, 100, expires)).rejection(), Some(Rejection::CurrencyMismatch));
    // Checked in the one-partition order: the payee before the payer's funds.
    assert_eq!(
        submit(&engine, place("x1", &payer, &missing, 5_000, expires)).rejection(),
        Some(Rejection::CounterpartyNotFound)
    );
    assert_eq!(
        submit(&engine, place("x1", &payer, &till, 5_000, expires)).rejection(),
        Some(Rejection::InsufficientFunds)
    );

    // Placed, with a capture pipelined right behind it; captured by the payee's owner.
    let batch = vec![
        Submission::new(shop(), place("x1", &payer, &till, 400, expires)),
        Submission::new(shop(), place("x1", &payer, &till, 400, expires)),
    ];
    let outcomes = engine.submit_batch_blocking(batch).unwrap();
    assert_eq!(outcomes, vec![Outcome::Applied(Reply::Done); 2], "a repeat in flight answers as the first");
    assert_eq!(balance(&engine, &payer), (1_000, 400));
    assert_eq!(engine.hold(&merchant, &id("x1")).unwrap().unwrap().state, HoldState::Active, "the payee side reads it");
    let other = Principal::App(id("other"));
    let outcome = engine.submit_blocking(Submission::new(other, capture("x1", 1))).unwrap();
    assert_eq!(outcome.rejection(), Some(Rejection::Forbidden));
    let outcome = engine.submit_blocking(Submission::new(merchant.clone(), capture("x1", 300))).unwrap();
    assert_eq!(outcome, Outcome::Applied(Reply::Captured { captured: 300, released: 100 }));
    assert_eq!((balance(&engine, &payer), balance(&engine, &till)), ((700, 0), (300, 0)));
    assert_eq!(engine.hold(&shop(), &id("x1")).unwrap().unwrap().state, HoldState::Captured(300));
    let again = engine.submit_blocking(Submission::new(merchant.clone(), capture("x1", 300))).unwrap();
    assert_eq!(again, Outcome::Applied(Reply::Captured { captured: 300, released: 100 }), "a retry moves nothing");
    assert_eq!(balance(&engine, &till), (300, 0));

    // The payee's partition refuses the money (the account closed since): the hold is as it was.
    assert!(submit(&engine, place("x2", &payer, &away, 200, expires)).is_applied());
    let drain = Movement { id: id("drain-away"), account: away.clone(), amount: 1_000 };
    assert!(submit(&engine, Command::Withdraw(drain)).is_applied());
    assert!(submit(&engine, Command::CloseAccount { account: away.clone() }).is_applied());
    assert_eq!(submit(&engine, capture("x2", 150)).rejection(), Some(Rejection::AccountClosed));
    assert_eq!(balance(&engine, &payer), (700, 200));
    assert_eq!(engine.hold(&shop(), &id("x2")).unwrap().unwrap().state, HoldState::Active);
    assert!(submit(&engine, place("x3", &payer, &till, 50, expires)).is_applied());
    drop(engine);

    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    assert_eq!(engine.hold_partition(&id("x3")).unwrap(), 2);
    assert!(submit(&engine, Command::VoidHold { hold: id("x2") }).is_applied());
    let outcome = engine.submit_blocking(Submission::new(merchant, capture("x3", 50))).unwrap();
    assert_eq!(outcome, Outcome::Applied(Reply::Captured { captured: 50, released: 0 }));
    assert_eq!((balance(&engine, &payer), balance(&engine, &till)), ((650, 0), (350, 0)));
}
