//! Authorizations and POS sales on an engine of several partitions (`docs/placement.md`, step
//! 3): each lives with its user, the commands and reads that name only the object find it
//! through the engine's directory, a sale's coupon on the home partition is priced and redeemed
//! there, the wrong-code lockout is the user's, the lists span the partitions, a settlement
//! that left memory is found through storage on its user's partition, and a reopen rebuilds
//! the directory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kassa_engine::command::{
    Authorize, CaptureHold, Command, DeductionKind, DeductionRule, IssueCoupon, Movement, OpenAccount, Refund,
    RegisterMerchant, RegisterTerminal, SettlePos,
};
use kassa_engine::partition::PartitionId;
use kassa_engine::runtime::QueryError;
use kassa_engine::state_machine::CouponState;
use kassa_engine::{Currency, Engine, Id, Outcome, Principal, Rejection, Reply, Submission};

use super::partition_holds::{START_MS, WINDOW_MS, balance, config};
use super::partition_splits::placed_on;

const UNTIL: u64 = START_MS + 10 * WINDOW_MS;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

pub(super) fn app() -> Principal {
    Principal::App(id("wallet"))
}

fn terminal() -> Principal {
    Principal::Terminal(id("t1"))
}

pub(super) fn submit(engine: &Engine, principal: Principal, command: Command) -> Outcome {
    engine.submit_blocking(Submission::new(principal, command)).unwrap()
}

/// The app's account on `partition`, holding 1,000.
pub(super) fn funded(engine: &Engine, partition: PartitionId, name: &str) -> Id {
    let account = placed_on(engine, partition, name);
    let open = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(submit(engine, app(), Command::OpenAccount(open)).is_applied());
    let deposit = Movement { id: id(&format!("dep-{account}")), account: account.clone(), amount: 1_000 };
    assert!(submit(engine, Principal::Admin, Command::Deposit(deposit)).is_applied());
    account
}

/// Merchant `m` (account on `partition`, owned by the admin) and its terminal `t1`: the
/// merchant's account.
pub(super) fn shop_on(engine: &Engine, partition: PartitionId) -> Id {
    let takings = placed_on(engine, partition, "takings");
    let open = OpenAccount { account: takings.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(submit(engine, Principal::Admin, Command::OpenAccount(open)).is_applied());
    let merchant = RegisterMerchant { merchant: id("m"), account: takings.clone() };
    assert!(submit(engine, Principal::Admin, Command::RegisterMerchant(merchant)).is_applied());
    let register = RegisterTerminal { terminal: id("t1"), merchant: id("m"), mac_key: None, location: None };
    assert!(submit(engine, Principal::Admin, Command::RegisterTerminal(register)).is_applied());
    takings
}

/// Coupon `c1` of merchant `m` for `holder`, `off` off any purchase (it lives on the home
/// partition).
pub(super) fn issue_coupon(engine: &Engine, holder: &Id, off: u64) {
    let coupon = IssueCoupon {
        coupon: id("c1"),
        merchant: id("m"),
        holder: holder.clone(),
        currency: Currency::EUR,
        rule: DeductionRule { kind: DeductionKind::FixedOff { amount: off }, min_spend: 0 },
        adjustments: Vec::new(),
        valid_from_ms: START_MS,
        valid_until_ms: UNTIL,
        reward: None,
        nonce: 3,
    };
    assert!(submit(engine, Principal::Admin, Command::IssueCoupon(coupon)).is_applied());
}

/// Authorization `authorization` of `user` on `account` (limit 500): its code.
fn authorize(engine: &Engine, authorization: &str, user: &Id, account: &Id) -> String {
    let authorize = Authorize {
        id: id(authorization),
        user: user.clone(),
        account: account.clone(),
        limit: 500,
        expires_at_ms: UNTIL,
        nonce: 1,
    };
    match submit(engine, app(), Command::Authorize(authorize)) {
        Outcome::Applied(Reply::Authorized { code, .. }) => code,
        other => panic!("{other:?}"),
    }
}

fn sale(settlement: &str, user: &Id, code: &str, amount: u64) -> SettlePos {
    SettlePos {
        id: id(settlement),
        user: user.clone(),
        code: code.to_string(),
        amount,
        currency: Currency::EUR,
        terminal: id("t1"),
        coupon: None,
        hold_until_ms: None,
        location: None,
    }
}

fn sell(engine: &Engine, sale: SettlePos) -> Outcome {
    submit(engine, terminal(), Command::SettlePos(sale))
}

#[test]
fn authorizations_and_sales_live_with_their_users_and_are_found_by_id_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START_MS));
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    let takings = shop_on(&engine, 0);
    // Three users on partitions 1, 2 and 3; b pays from an account on partition 0.
    let (a, b, c) = (placed_on(&engine, 1, "a"), placed_on(&engine, 2, "b"), placed_on(&engine, 3, "c"));
    let (pays_a, pays_b, pays_c) = (funded(&engine, 1, "pa"), funded(&engine, 0, "pb"), funded(&engine, 3, "pc"));
    let (code_a, code_b, code_c) = (
        authorize(&engine, "za", &a, &pays_a),
        authorize(&engine, "zb", &b, &pays_b),
        authorize(&engine, "zc", &c, &pays_c),
    );
    for (authorization, user) in [("za", &a), ("zb", &b), ("zc", &c)] {
        assert_eq!(engine.authorization_partition(&id(authorization)).unwrap(), engine.placement().of_user(user));
    }
    // b holds a coupon of the merchant, on the home partition: priced and redeemed there.
    issue_coupon(&engine, &b, 50);

    assert!(matches!(
        sell(&engine, sale("sa", &a, &code_a, 100)),
        Outcome::Applied(Reply::Settled { charged: 100, .. })
    ));
    let with_coupon = SettlePos { coupon: Some(id("c1")), ..sale("sb", &b, &code_b, 200) };
    assert!(matches!(sell(&engine, with_coupon), Outcome::Applied(Reply::Settled { charged: 150, discount: 50, .. })));
    assert_eq!(engine.coupon(&Principal::Admin, &id("c1")).unwrap().unwrap().coupon.state, CouponState::Redeemed);
    // c's sale places a hold, captured by the terminal where the sale lives.
    let held = SettlePos { hold_until_ms: Some(UNTIL), ..sale("sc", &c, &code_c, 300) };
    assert!(sell(&engine, held).is_applied());
    assert_eq!(engine.hold_partition(&id("sc")).unwrap(), 3);
    let capture = CaptureHold { hold: id("sc"), amount: 300 };
    assert!(submit(&engine, terminal(), Command::CaptureHold(capture)).is_applied());
    for (settlement, user) in [("sa", &a), ("sb", &b), ("sc", &c)] {
        assert_eq!(engine.settlement_partition(&id(settlement)).unwrap(), engine.placement().of_user(user));
    }
    assert_eq!(balance(&engine, &takings), (100 + 150 + 300, 0));
    assert_eq!((balance(&engine, &pays_a), balance(&engine, &pays_b)), ((900, 0), (850, 0)));

    // Read by id and listed across partitions, in id order; not by another tenant.
    let merchant = Principal::Merchant(id("m"));
    assert!(engine.settlement(&merchant, &id("sb")).unwrap().is_some());
    assert!(engine.authorization(&app(), &id("zc")).unwrap().is_some());
    let other = Principal::App(id("other"));
    assert!(matches!(engine.authorization(&other, &id("zc")), Err(QueryError::Forbidden)));
    let sales: Vec<Id> = engine
        .merchant_settlements(&merchant, &id("m"), 10, None)
        .unwrap()
        .objects
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(sales, vec![id("sa"), id("sb"), id("sc")]);
    let owned: Vec<Id> =
        engine.authorizations_owned(&app(), 10, None).unwrap().objects.into_iter().map(|(id, _)| id).collect();
    assert_eq!(owned, vec![id("za"), id("zb"), id("zc")]);

    // Follow-ups naming only the object are routed to it: a revocation, a reversal, a refund.
    let code_d = authorize(&engine, "zd", &a, &pays_a);
    assert!(submit(&engine, app(), Command::RevokeAuthorization { authorization: id("zd") }).is_applied());
    assert_eq!(sell(&engine, sale("sd", &a, &code_d, 10)).rejection(), Some(Rejection::CodeRevoked));
    assert!(submit(&engine, terminal(), Command::ReversePos { settlement: id("sa") }).is_applied());
    let refund = Refund { of: id("sb"), refund: id("rb"), amount: 50 };
    assert_eq!(
        submit(&engine, merchant.clone(), Command::RefundPos(refund)),
        Outcome::Applied(Reply::Refunded { amount: 50, remaining: 100 })
    );
    assert_eq!((balance(&engine, &pays_a), balance(&engine, &pays_b)), ((1_000, 0), (900, 0)));

    // The lockout is the user's: five wrong codes lock b out, a sells on.
    let code_e = authorize(&engine, "ze", &b, &pays_b);
    for attempt in 0..5 {
        let wrong = sell(&engine, sale(&format!("w{attempt}"), &b, "00000000", 10));
        assert_eq!(wrong.rejection(), Some(Rejection::IncorrectCode));
    }
    assert_eq!(sell(&engine, sale("se", &b, &code_e, 10)).rejection(), Some(Rejection::CodeTriesExceeded));
    let code_f = authorize(&engine, "zf", &a, &pays_a);
    assert!(sell(&engine, sale("sf", &a, &code_f, 10)).is_applied());
    drop(engine);

    // Reopened: the directory is rebuilt; a repeated sale answers as the first time.
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    assert_eq!(engine.settlement_partition(&id("sc")).unwrap(), 3);
    assert_eq!(engine.authorization_partition(&id("zb")).unwrap(), 2);
    let repeat = SettlePos { coupon: Some(id("c1")), ..sale("sb", &b, &code_b, 200) };
    assert!(matches!(sell(&engine, repeat), Outcome::Applied(Reply::Settled { charged: 150, .. })));

    // A window later the resolved settlements left memory; storage names their users'
    // partitions, and a refund of one is routed there.
    now.store(UNTIL + 3 * WINDOW_MS, Ordering::SeqCst);
    engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    assert!(!engine.read_partition_blocking(2, |machine| machine.settlement_summary(&id("sb")).is_some()).unwrap());
    assert_eq!(engine.settlement_partition(&id("sb")).unwrap(), 2, "storage names its user's partition");
    let refund = Refund { of: id("sb"), refund: id("rb2"), amount: 100 };
    assert_eq!(
        submit(&engine, merchant, Command::RefundPos(refund)),
        Outcome::Applied(Reply::Refunded { amount: 100, remaining: 0 })
    );
    assert_eq!(balance(&engine, &pays_b), (1_000, 0));
    let unknown = submit(&engine, Principal::Admin, Command::ReversePos { settlement: id("nope") });
    assert_eq!(unknown.rejection(), Some(Rejection::SettlementNotFound));
}
