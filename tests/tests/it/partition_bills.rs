//! Bills on an engine of several partitions (`docs/placement.md`, step 4): each lives with its
//! user, the commands and reads that name only the bill find it through the engine's
//! directory, its account and its merchant's may live anywhere, a coupon on the home partition
//! is priced and redeemed there, the list spans the partitions, a reopen rebuilds the
//! directory, and a bill that left memory is found through storage on its user's partition.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kassa_engine::command::{AddBillItem, Command, ConfirmBill, OpenBill, Refund, SubmitBill};
use kassa_engine::runtime::QueryError;
use kassa_engine::state_machine::{BillState, CouponState};
use kassa_engine::{Engine, Id, Outcome, Principal, Rejection, Reply, Submission};

use super::partition_holds::{START_MS, WINDOW_MS, balance, config};
use super::partition_pos::{app, funded, issue_coupon, shop_on, submit};
use super::partition_splits::placed_on;

const UNTIL: u64 = START_MS + 10 * WINDOW_MS;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

/// Bill `bill` of `user` on `account`, opened by the app, one item of 400 added by the
/// terminal, submitted: its challenge.
fn submitted_bill(engine: &Engine, bill: &str, user: &Id, account: &Id) -> String {
    let open = OpenBill {
        bill: id(bill),
        user: user.clone(),
        account: account.clone(),
        merchant: id("m"),
        opens_at_ms: START_MS,
        closes_at_ms: UNTIL,
    };
    assert_eq!(submit(engine, app(), Command::OpenBill(open)), Outcome::Applied(Reply::Done));
    let item =
        AddBillItem { bill: id(bill), terminal: id("t1"), item_ref: "tea".into(), quantity: 1, unit_amount: 400 };
    assert!(submit(engine, Principal::Terminal(id("t1")), Command::AddBillItem(item)).is_applied());
    match submit(engine, app(), Command::SubmitBill(SubmitBill { bill: id(bill), nonce: 9 })) {
        Outcome::Applied(Reply::BillSubmitted { total: 400, challenge }) => challenge,
        other => panic!("{other:?}"),
    }
}

fn confirm(bill: &str, challenge: &str, coupon: Option<&str>) -> Command {
    Command::ConfirmBill(ConfirmBill {
        bill: id(bill),
        challenge: challenge.into(),
        coupon: coupon.map(id),
        location: None,
    })
}

fn state(engine: &Engine, bill: &str) -> BillState {
    engine.bill(&Principal::Admin, &id(bill)).unwrap().expect("the bill").state
}

#[test]
fn bills_live_with_their_users_and_are_found_by_id_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(START_MS));
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    let takings = shop_on(&engine, 2);
    // Three users on partitions 1, 2 and 3; b pays from an account on partition 0.
    let (a, b, c) = (placed_on(&engine, 1, "a"), placed_on(&engine, 2, "b"), placed_on(&engine, 3, "c"));
    let (pays_a, pays_b, pays_c) = (funded(&engine, 1, "pa"), funded(&engine, 0, "pb"), funded(&engine, 3, "pc"));
    let challenge_a = submitted_bill(&engine, "ba", &a, &pays_a);
    let challenge_b = submitted_bill(&engine, "bb", &b, &pays_b);
    submitted_bill(&engine, "bc", &c, &pays_c);
    for (bill, user) in [("ba", &a), ("bb", &b), ("bc", &c)] {
        assert_eq!(engine.bill_partition(&id(bill)).unwrap(), engine.placement().of_user(user));
    }
    // b holds a coupon of the merchant, on the home partition: priced and redeemed there.
    issue_coupon(&engine, &b, 100);

    // A wrong challenge changes nothing; the right one pays, wherever the accounts live.
    assert_eq!(submit(&engine, app(), confirm("ba", "000000", None)).rejection(), Some(Rejection::IncorrectCode));
    let paid = Outcome::Applied(Reply::BillPaid { charged: 400, discount: 0 });
    assert_eq!(submit(&engine, app(), confirm("ba", &challenge_a, None)), paid);
    let with_coupon = Outcome::Applied(Reply::BillPaid { charged: 300, discount: 100 });
    assert_eq!(submit(&engine, app(), confirm("bb", &challenge_b, Some("c1"))), with_coupon);
    assert_eq!(engine.coupon(&Principal::Admin, &id("c1")).unwrap().unwrap().coupon.state, CouponState::Redeemed);
    let shop = Principal::Merchant(id("m"));
    assert!(submit(&engine, shop.clone(), Command::CancelBill { bill: id("bc") }).is_applied());
    assert_eq!(state(&engine, "bc"), BillState::Cancelled);
    assert_eq!(balance(&engine, &takings), (700, 0));
    assert_eq!((balance(&engine, &pays_a), balance(&engine, &pays_b)), ((600, 0), (700, 0)));

    // Read by id and listed across partitions, in id order; not by another tenant.
    assert!(engine.bill(&shop, &id("bb")).unwrap().is_some());
    let other = Principal::App(id("other"));
    assert!(matches!(engine.bill(&other, &id("bc")), Err(QueryError::Forbidden)));
    assert_eq!(
        submit(&engine, other.clone(), Command::CancelBill { bill: id("ba") }).rejection(),
        Some(Rejection::Forbidden)
    );
    let owned: Vec<Id> = engine.bills_owned(&app(), 10, None).unwrap().objects.into_iter().map(|(id, _)| id).collect();
    assert_eq!(owned, vec![id("ba"), id("bb"), id("bc")]);
    assert!(engine.bills_owned(&other, 10, None).unwrap().objects.is_empty());

    // A refund names only the bill: routed to it, paid back where the account lives.
    let refund = Refund { of: id("bb"), refund: id("rb"), amount: 100 };
    assert_eq!(
        submit(&engine, shop.clone(), Command::RefundBill(refund)),
        Outcome::Applied(Reply::Refunded { amount: 100, remaining: 200 })
    );
    assert_eq!(balance(&engine, &pays_b), (800, 0));
    drop(engine);

    // Reopened: the directory is rebuilt; a repeated confirmation answers as the first time.
    let engine = Engine::open(config(dir.path(), &now)).unwrap();
    assert_eq!(engine.bill_partition(&id("bc")).unwrap(), 3);
    assert_eq!(submit(&engine, app(), confirm("ba", &challenge_a, None)), paid);

    // A window later the resolved bills left memory; storage names their users' partitions,
    // and a refund of one is routed there.
    now.store(UNTIL + 3 * WINDOW_MS, Ordering::SeqCst);
    engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    engine.submit_blocking(Submission::admin(Command::Tick)).unwrap();
    assert!(!engine.read_partition_blocking(2, |machine| machine.bill(&id("bb")).is_some()).unwrap());
    assert_eq!(engine.bill_partition(&id("bb")).unwrap(), 2, "storage names its user's partition");
    let refund = Refund { of: id("bb"), refund: id("rb2"), amount: 200 };
    assert_eq!(
        submit(&engine, shop, Command::RefundBill(refund)),
        Outcome::Applied(Reply::Refunded { amount: 200, remaining: 0 })
    );
    assert_eq!(balance(&engine, &pays_b), (1_000, 0));
    assert_eq!(balance(&engine, &takings), (400, 0));
    let unknown = submit(&engine, Principal::Admin, Command::CancelBill { bill: id("nope") });
    assert_eq!(unknown.rejection(), Some(Rejection::BillNotFound));
}
