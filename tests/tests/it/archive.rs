//! Resolved objects leave memory (`state_machine/archive.rs`, `runtime/restore.rs`): with
//! simulated time, a POS settlement and the authorization it used move to storage a window
//! after they resolved, and everything that named them before still works: lookups, lists,
//! the event feed's scoping, a retried settlement (its first answer, nothing charged twice), a
//! retried authorize (its code), reversal and refunds; after a reopen too (replay decides as the
//! first run did, the restored objects being in the log). A redeemed coupon likewise: found by
//! its id, in its holder's list and by its code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kassa_engine::command::{
    Authorize, Command, DeductionKind, DeductionRule, IssueCoupon, Movement, ObjectKind, OpenAccount, RedeemCoupon,
    Refund, RegisterMerchant, RegisterOperator, RegisterTerminal, SettlePos, Submission,
};
use kassa_engine::runtime::{Clock, QueryError};
use kassa_engine::state_machine::AuthorizationState;
use kassa_engine::{Currency, Engine, EngineConfig, Event, Id, Outcome, Principal, Rejection, Reply};

const WINDOW_MS: u64 = 60_000;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn app() -> Principal {
    Principal::App(id("shop-app"))
}

fn config(dir: &std::path::Path, now: &Arc<AtomicU64>) -> EngineConfig {
    let mut config = super::events::config(dir, 1);
    config.clock = Clock::Manual(now.clone());
    config.resolved_in_memory_ms = WINDOW_MS;
    config
}

fn submit(engine: &Engine, principal: &Principal, command: Command) -> Outcome {
    engine.submit_blocking(Submission::new(principal.clone(), command)).unwrap()
}

fn applied(engine: &Engine, principal: &Principal, command: Command) -> Reply {
    match submit(engine, principal, command) {
        Outcome::Applied(reply) => reply,
        refused => panic!("refused: {refused:?}"),
    }
}

fn balance(engine: &Engine, account: &str) -> i64 {
    let account = id(account);
    engine.read_partition_blocking(0, move |machine| machine.account(&account).unwrap().posted).unwrap()
}

fn in_memory(engine: &Engine, settlement: &str) -> bool {
    let settlement = id(settlement);
    engine.read_partition_blocking(0, move |machine| machine.settlement(&settlement).is_some()).unwrap()
}

fn authorize(nonce: u64, expires_at_ms: u64) -> Command {
    let authorize = Authorize { id: id("au1"), user: id("u1"), account: id("a"), limit: 5_000, expires_at_ms, nonce };
    Command::Authorize(authorize)
}

fn settle(code: &str, amount: u64) -> Command {
    Command::SettlePos(SettlePos {
        id: id("s1"),
        user: id("u1"),
        code: code.into(),
        amount,
        currency: Currency::EUR,
        terminal: id("t1"),
        coupon: None,
        hold_until_ms: None,
        location: None,
    })
}

/// The app's account a (10,000) and the merchant m1 with terminal t1; an authorization and an
/// approved sale of 4,000. Returns the code.
fn populate(engine: &Engine, now: u64) -> String {
    let admin = Principal::Admin;
    for (owner, account) in [(app(), "a"), (admin.clone(), "shop")] {
        let open = OpenAccount { account: id(account), currency: Currency::EUR, overdraft_limit: 0 };
        applied(engine, &owner, Command::OpenAccount(open));
    }
    applied(engine, &admin, Command::Deposit(Movement { id: id("d1"), account: id("a"), amount: 10_000 }));
    applied(engine, &admin, Command::RegisterMerchant(RegisterMerchant { merchant: id("m1"), account: id("shop") }));
    let terminal = RegisterTerminal { terminal: id("t1"), merchant: id("m1"), mac_key: None, location: None };
    applied(engine, &admin, Command::RegisterTerminal(terminal));
    let Reply::Authorized { code, .. } = applied(engine, &app(), authorize(1, now + 3_600_000)) else { panic!() };
    applied(engine, &admin, settle(&code, 4_000));
    code
}

/// Moves the clock past the window and commits a batch, which takes what resolved out of memory.
fn window_later(engine: &Engine, now: &AtomicU64) {
    now.fetch_add(WINDOW_MS + 1, Ordering::SeqCst);
    applied(engine, &Principal::Admin, Command::Tick);
}

#[test]
fn resolved_objects_in_storage_answer_as_they_did_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let started = now.load(Ordering::SeqCst);
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    let code = populate(&engine, started);
    let first = engine.settlement(&Principal::Admin, &id("s1")).unwrap().unwrap();
    window_later(&engine, &now);
    assert!(!in_memory(&engine, "s1"), "the settlement left memory");

    // Lookups and lists read storage, under the same rules.
    let merchant = Principal::Merchant(id("m1"));
    assert_eq!(engine.settlement(&merchant, &id("s1")).unwrap(), Some(first.clone()));
    assert!(matches!(engine.settlement(&app(), &id("s1")), Err(QueryError::Forbidden)));
    assert!(matches!(engine.settlement(&merchant, &id("nope")), Err(QueryError::Forbidden)));
    assert_eq!(engine.settlement(&Principal::Admin, &id("nope")).unwrap(), None);
    let authorization = engine.authorization(&app(), &id("au1")).unwrap().unwrap();
    assert_eq!(authorization.state, AuthorizationState::Used(id("s1")));
    assert!(matches!(engine.authorization(&merchant, &id("au1")), Err(QueryError::Forbidden)));
    let listed = engine.merchant_settlements(&merchant, &id("m1"), 10, None).unwrap();
    assert_eq!((listed.objects, listed.has_more), (vec![(id("s1"), first.clone())], false));
    let owned = engine.authorizations_owned(&app(), 10, None).unwrap();
    assert_eq!(owned.objects.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["au1"]);
    assert!(engine.authorizations_owned(&Principal::App(id("other")), 10, None).unwrap().objects.is_empty());
    // The app still sees its authorization's events in the feed.
    let feed = engine.events(&app(), None, 100).unwrap().events;
    let seen = |line: &kassa_engine::wal::EventLine| matches!(&line.record.event, Event::Changed { object: ObjectKind::Authorization, id, .. } if id.as_str() == "au1");
    assert_eq!(feed.iter().filter(|line| seen(line)).count(), 2, "opened and used");

    // Commands that name them find them: a retry gets its first answer, the code its first value.
    assert_eq!(submit(&engine, &Principal::Admin, settle(&code, 4_000)), Outcome::Applied(first_reply(&first)));
    assert_eq!(submit(&engine, &Principal::Admin, settle(&code, 4_001)), Outcome::Rejected(Rejection::IdReused));
    window_later(&engine, &now);
    let Reply::Authorized { code: again, .. } = applied(&engine, &app(), authorize(2, started + 1)) else { panic!() };
    assert_eq!(again, code, "a retried authorize gets its code, not a second one");
    assert_eq!((balance(&engine, "a"), balance(&engine, "shop")), (6_000, 4_000), "charged once");
    window_later(&engine, &now);
    let refund = Command::RefundPos(Refund { of: id("s1"), refund: id("r1"), amount: 1_000 });
    applied(&engine, &merchant, refund);
    window_later(&engine, &now);
    applied(&engine, &merchant, Command::ReversePos { settlement: id("s1") });
    assert_eq!((balance(&engine, "a"), balance(&engine, "shop")), (10_000, 0));
    window_later(&engine, &now);
    let reversed = engine.settlement(&merchant, &id("s1")).unwrap().unwrap();
    assert!(reversed.reversed && reversed.refunds.len() == 1 && !in_memory(&engine, "s1"));
    engine.shutdown();
    drop(engine);

    // Replay takes the same objects out and back (the restored ones are in the log).
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    assert_eq!((balance(&engine, "a"), balance(&engine, "shop")), (10_000, 0));
    assert_eq!(engine.settlement(&merchant, &id("s1")).unwrap(), Some(reversed));
    engine.read_partition_blocking(0, |machine| machine.check_invariants()).unwrap();
}

/// The reply a settlement's summary records.
fn first_reply(summary: &kassa_engine::state_machine::SettlementSummary) -> Reply {
    match &summary.outcome {
        Outcome::Applied(reply) => reply.clone(),
        refused => panic!("{refused:?}"),
    }
}

fn redeem(redemption: &str, code: &str) -> Command {
    let redeem =
        RedeemCoupon { id: id(redemption), operator: id("op1"), code: code.into(), amount: 1_000, location: None };
    Command::RedeemCoupon(redeem)
}

#[test]
fn a_redeemed_coupon_in_storage_is_found_by_its_id_its_holder_and_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let started = now.load(Ordering::SeqCst);
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    populate(&engine, started); // The app claims user u1.
    let admin = Principal::Admin;
    applied(&engine, &admin, Command::RegisterOperator(RegisterOperator { operator: id("op1"), merchant: id("m1") }));
    let issue = IssueCoupon {
        coupon: id("c1"),
        merchant: id("m1"),
        holder: id("u1"),
        currency: Currency::EUR,
        rule: DeductionRule { kind: DeductionKind::FixedOff { amount: 200 }, min_spend: 0 },
        adjustments: Vec::new(),
        valid_from_ms: started,
        valid_until_ms: started + 86_400_000,
        reward: None,
        nonce: 5,
    };
    let Reply::CouponIssued { code } = applied(&engine, &Principal::Merchant(id("m1")), Command::IssueCoupon(issue))
    else {
        panic!()
    };
    let operator = Principal::Operator(id("op1"));
    let first = submit(&engine, &operator, redeem("r1", &code));
    assert!(first.is_applied(), "{first:?}");
    let before = engine.coupon(&app(), &id("c1")).unwrap().unwrap();
    window_later(&engine, &now);
    let gone = engine.read_partition_blocking(0, |machine| machine.coupon(&id("c1")).is_none()).unwrap();
    assert!(gone, "the redeemed coupon left memory");

    // Its holder's app finds it with its code, its merchant without; another tenant not at all.
    assert_eq!(engine.coupon(&app(), &id("c1")).unwrap(), Some(before.clone()));
    assert_eq!(before.code.as_deref(), Some(code.as_str()));
    let by_merchant = engine.coupon(&Principal::Merchant(id("m1")), &id("c1")).unwrap().unwrap();
    assert_eq!((by_merchant.coupon, by_merchant.code), (before.coupon.clone(), None));
    assert!(matches!(engine.coupon(&Principal::App(id("other")), &id("c1")), Err(QueryError::Forbidden)));
    let held = engine.coupons_held(&app(), &id("u1"), 10, None).unwrap();
    assert_eq!(held.objects, vec![(id("c1"), before.clone())]);
    // A retried redemption answers as the first did; its code redeemed again, `coupon_redeemed`.
    assert_eq!(submit(&engine, &operator, redeem("r1", &code)), first);
    window_later(&engine, &now);
    assert_eq!(submit(&engine, &operator, redeem("r2", &code)), Outcome::Rejected(Rejection::CouponRedeemed));
    engine.shutdown();
    drop(engine);

    // Replay decides alike.
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    assert_eq!(submit(&engine, &operator, redeem("r1", &code)), first);
    assert_eq!(engine.coupon(&app(), &id("c1")).unwrap(), Some(before));
    engine.read_partition_blocking(0, |machine| machine.check_invariants()).unwrap();
}
