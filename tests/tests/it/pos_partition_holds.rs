//! POS pre-authorization holds whose payer lives on another partition, through the engine
//! (`state_machine/transit/pos_holds.rs`): the hold lives with its sale on its user's
//! partition, the payer's funds are held where the payer lives; capture, void, reversal and expiry reach
//! both; the hold's id is one space with every other hold's; and a reopen keeps the way to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kassa_engine::command::{
    Authorize, CaptureHold, Command, Movement, OpenAccount, PlaceHold, RegisterMerchant, RegisterTerminal, SettlePos,
    Submission,
};
use kassa_engine::partition::PartitionId;
use kassa_engine::state_machine::HoldState;
use kassa_engine::{Currency, Engine, Id, Outcome, Principal, Rejection, Reply};

use super::partition_holds::{START_MS, WINDOW_MS, balance, config};

const UNTIL: u64 = START_MS + 10 * WINDOW_MS;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn admin(engine: &Engine, command: Command) -> Outcome {
    engine.submit_blocking(Submission::admin(command)).unwrap()
}

/// The app that owns the payer account.
fn payer_app() -> Principal {
    Principal::App(id("payer-app"))
}

/// Opens `account` for `owner` with `deposit`.
fn open_account(engine: &Engine, (account, owner): (&Id, Principal), deposit: u64) {
    let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    let opened = engine.submit_blocking(Submission::new(owner, Command::OpenAccount(open))).unwrap();
    assert!(opened.is_applied());
    let movement = Movement { id: id(&format!("dep-{account}")), account: account.clone(), amount: deposit };
    assert!(deposit == 0 || admin(engine, Command::Deposit(movement)).is_applied());
}

/// The partition of user `u1`, who makes the sales: where they and their holds live.
fn sales_partition(engine: &Engine) -> PartitionId {
    engine.placement().of_user(&id("u1"))
}

/// An account named `name-N` that lives on a partition other than the sales' (`away`) or on
/// theirs.
fn account(engine: &Engine, name: &str, away: bool) -> Id {
    let (placement, sales) = (engine.placement().clone(), sales_partition(engine));
    (0..).map(|n| id(&format!("{name}-{n}"))).find(|id| (placement.of_account(id) != sales) == away).unwrap()
}

/// Merchant `shop` (its takings on the sales' partition) with terminal `t1`; a payer elsewhere
/// with 1,000. Returns the payer and the takings.
fn shop(engine: &Engine) -> (Id, Id) {
    let (payer, takings) = (account(engine, "payer", true), account(engine, "takings", false));
    open_account(engine, (&payer, payer_app()), 1_000);
    open_account(engine, (&takings, Principal::Admin), 0);
    let register = RegisterMerchant { merchant: id("shop"), account: takings.clone() };
    assert!(admin(engine, Command::RegisterMerchant(register)).is_applied());
    let terminal = RegisterTerminal { terminal: id("t1"), merchant: id("shop"), mac_key: None, location: None };
    assert!(admin(engine, Command::RegisterTerminal(terminal)).is_applied());
    (payer, takings)
}

/// A held sale of `amount` on the payer, with a fresh authorization `a-<sale>`.
fn held_sale(engine: &Engine, payer: &Id, sale: &str, amount: u64) -> Outcome {
    let authorize = Authorize {
        id: id(&format!("a-{sale}")),
        user: id("u1"),
        account: payer.clone(),
        limit: 1_000,
        expires_at_ms: UNTIL,
        nonce: 1,
    };
    let Outcome::Applied(Reply::Authorized { code, .. }) = admin(engine, Command::Authorize(authorize)) else {
        panic!("authorized")
    };
    let settle = SettlePos {
        id: id(sale),
        user: id("u1"),
        code,
        amount,
        currency: Currency::EUR,
        terminal: id("t1"),
        coupon: None,
        hold_until_ms: Some(UNTIL),
        location: None,
    };
    let terminal = Principal::Terminal(id("t1"));
    engine.submit_blocking(Submission::new(terminal, Command::SettlePos(settle))).unwrap()
}

fn hold_state(engine: &Engine, hold: &str) -> HoldState {
    engine.hold(&Principal::Admin, &id(hold)).unwrap().unwrap().state
}

#[test]
fn a_pre_authorization_hold_lives_with_its_sale_and_its_funds_with_the_payer() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START_MS));
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    let (payer, takings) = shop(&engine);

    // Approved: the hold is on the user's partition, the funds held where the payer lives.
    let sales = sales_partition(&engine);
    assert!(matches!(held_sale(&engine, &payer, "s1", 300), Outcome::Applied(Reply::Settled { charged: 300, .. })));
    assert_eq!(engine.hold_partition(&id("s1")).unwrap(), sales);
    assert_eq!((hold_state(&engine, "s1"), balance(&engine, &payer)), (HoldState::Active, (1_000, 300)));
    // The payer's own app reads it, as its account's partition said it owns the account; no
    // other app does.
    assert!(engine.hold(&payer_app(), &id("s1")).unwrap().is_some());
    let other_app = Principal::App(id("other-app"));
    assert!(!engine.hold(&other_app, &id("s1")).is_ok_and(|found| found.is_some()));
    // The terminal captures part of it; the rest is released there.
    let terminal = Principal::Terminal(id("t1"));
    let capture = Command::CaptureHold(CaptureHold { hold: id("s1"), amount: 200 });
    let captured = engine.submit_blocking(Submission::new(terminal.clone(), capture)).unwrap();
    assert_eq!(captured, Outcome::Applied(Reply::Captured { captured: 200, released: 100 }));
    assert_eq!((balance(&engine, &payer), balance(&engine, &takings)), ((800, 0), (200, 0)));

    // Voided by the terminal, and a sale reversed: the funds are released before they answer.
    assert!(held_sale(&engine, &payer, "s2", 100).is_applied());
    assert_eq!(balance(&engine, &payer), (800, 100));
    let void = Command::VoidHold { hold: id("s2") };
    assert!(engine.submit_blocking(Submission::new(terminal.clone(), void)).unwrap().is_applied());
    assert_eq!((hold_state(&engine, "s2"), balance(&engine, &payer)), (HoldState::Voided, (800, 0)));
    assert!(held_sale(&engine, &payer, "s3", 50).is_applied());
    assert!(admin(&engine, Command::ReversePos { settlement: id("s3") }).is_applied());
    assert_eq!((hold_state(&engine, "s3"), balance(&engine, &payer)), (HoldState::Voided, (800, 0)));

    // Refused for funds: nothing held, no hold, and the id stays free.
    let refused = held_sale(&engine, &payer, "s4", 900);
    assert_eq!(refused.rejection(), Some(Rejection::InsufficientFunds));
    assert!(engine.hold(&Principal::Admin, &id("s4")).unwrap().is_none());

    // A placement of a POS hold's id from an account elsewhere is refused, never a second hold.
    assert!(held_sale(&engine, &payer, "s5", 100).is_applied());
    let other = account(&engine, "other", true);
    open_account(&engine, (&other, Principal::Admin), 500);
    let place = PlaceHold {
        id: id("s5"),
        from: other.clone(),
        to: takings.clone(),
        amount: 10,
        currency: Currency::EUR,
        expires_at_ms: UNTIL,
    };
    assert!(!admin(&engine, Command::PlaceHold(place)).is_applied());
    assert_eq!(balance(&engine, &other), (500, 0));

    // An active hold survives a reopen with the way to it; then it expires on both sides.
    drop(engine);
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    assert_eq!(engine.hold_partition(&id("s5")).unwrap(), sales);
    assert_eq!((hold_state(&engine, "s5"), balance(&engine, &payer)), (HoldState::Active, (800, 100)));
    now.store(UNTIL, Ordering::SeqCst);
    // The hold, and the authorization the refused sale left active.
    assert_eq!(admin(&engine, Command::Tick), Outcome::Applied(Reply::Ticked { expired: 2 }));
    assert_eq!((hold_state(&engine, "s5"), balance(&engine, &payer)), (HoldState::Expired, (800, 0)));

    // A window later the resolved holds leave memory with their sales; a retried capture is
    // found through storage on the user's partition and answers as the first time.
    now.store(UNTIL + 3 * WINDOW_MS, Ordering::SeqCst);
    admin(&engine, Command::Tick);
    admin(&engine, Command::Tick);
    let in_memory = engine.read_partition_blocking(sales, |m| m.hold(&id("s1")).is_some()).unwrap();
    assert!(!in_memory, "s1 left memory");
    assert_eq!(engine.hold_partition(&id("s1")).unwrap(), sales, "storage says it lives with its sale");
    assert_eq!(engine.settlement_partition(&id("s1")).unwrap(), sales);
    let capture = Command::CaptureHold(CaptureHold { hold: id("s1"), amount: 200 });
    assert_eq!(engine.submit_blocking(Submission::new(terminal, capture)).unwrap(), captured);
    assert_eq!((balance(&engine, &payer), balance(&engine, &takings)), ((800, 0), (200, 0)));
}
