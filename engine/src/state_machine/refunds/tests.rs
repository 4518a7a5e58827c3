//! Refunds: partial, repeated, bounded by the charge, and the reversal after them.

use crate::command::{Command, ConfirmBill, Outcome, Principal, Refund, Rejection, Reply, SubmitBill};
use crate::constants::REFUNDS_MAX;
use crate::state_machine::tests::{
    Harness, add_item, authorize, code_of, id, open_bill, settle, settle_held, submitted,
};

fn refund_pos(settlement: &str, refund: &str, amount: u64) -> Command {
    Command::RefundPos(Refund { of: id(settlement), refund: id(refund), amount })
}

fn refund_bill(bill: &str, refund: &str, amount: u64) -> Command {
    Command::RefundBill(Refund { of: id(bill), refund: id(refund), amount })
}

/// A machine with merchant m1 (account `shop`, terminal t1) and user u1's account `a` holding
/// 10,000, and an approved settlement `s1` of 4,000.
fn settled() -> Harness {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    h.ok(settle("s1", &code, 4_000));
    h
}

#[test]
fn a_settlement_is_refunded_in_parts_never_past_its_charge() {
    let mut h = settled();
    assert_eq!(h.ok(refund_pos("s1", "r1", 1_500)), Reply::Refunded { amount: 1_500, remaining: 2_500 });
    assert_eq!((h.balance("a").0, h.balance("shop").0), (7_500, 2_500));
    // A retry is answered as the first time and moves nothing; another amount is a new body.
    assert_eq!(h.ok(refund_pos("s1", "r1", 1_500)), Reply::Refunded { amount: 1_500, remaining: 2_500 });
    assert_eq!(h.balance("a").0, 7_500);
    assert_eq!(h.rejected(refund_pos("s1", "r1", 1_000)), Rejection::IdReused);
    assert_eq!(h.rejected(refund_pos("s1", "r2", 2_501)), Rejection::RefundExceedsCharge);
    assert_eq!(h.rejected(refund_pos("s1", "r2", 0)), Rejection::InvalidAmount);
    assert_eq!(h.ok(refund_pos("s1", "r2", 2_500)), Reply::Refunded { amount: 2_500, remaining: 0 });
    assert_eq!(h.rejected(refund_pos("s1", "r3", 1)), Rejection::RefundExceedsCharge);
    assert_eq!((h.balance("a").0, h.balance("shop").0), (10_000, 0));
    // The first retry still gets its first answer, after the later refund.
    assert_eq!(h.ok(refund_pos("s1", "r1", 1_500)), Reply::Refunded { amount: 1_500, remaining: 2_500 });
    let summary = h.machine.settlement_summary(&id("s1")).unwrap();
    let given: Vec<(String, u64)> = summary.refunds.iter().map(|r| (r.refund.to_string(), r.amount)).collect();
    assert_eq!(given, [("r1".to_string(), 1_500), ("r2".to_string(), 2_500)]);
    // Unknown and declined settlements.
    assert_eq!(h.rejected(refund_pos("nope", "r1", 1)), Rejection::SettlementNotFound);
    assert_eq!(h.rejected(settle("s2", "00000000", 1)), Rejection::IncorrectCode);
    assert_eq!(h.rejected(refund_pos("s2", "r1", 1)), Rejection::NotReversible);
}

#[test]
fn a_reversal_gives_back_what_the_refunds_left_and_ends_them() {
    let mut h = settled();
    h.ok(refund_pos("s1", "r1", 1_000));
    h.ok(Command::ReversePos { settlement: id("s1") });
    assert_eq!((h.balance("a").0, h.balance("shop").0), (10_000, 0), "3,000 more, not 4,000");
    assert_eq!(h.rejected(refund_pos("s1", "r2", 1)), Rejection::RefundExceedsCharge);
    assert_eq!(h.ok(refund_pos("s1", "r1", 1_000)), Reply::Refunded { amount: 1_000, remaining: 3_000 });
}

#[test]
fn refunds_need_the_merchants_money_an_open_account_and_stop_at_the_bound() {
    let mut h = settled();
    // The merchant paid its balance away: nothing to refund from.
    h.open("elsewhere", 0);
    h.ok(Command::Transfer(crate::state_machine::tests::transfer("out", "shop", "elsewhere", 4_000)));
    assert_eq!(h.rejected(refund_pos("s1", "r1", 1)), Rejection::InsufficientFunds);
    h.ok(Command::Transfer(crate::state_machine::tests::transfer("back", "elsewhere", "shop", 4_000)));
    for index in 0..REFUNDS_MAX {
        h.ok(refund_pos("s1", &format!("r{index}"), 1));
    }
    assert_eq!(h.rejected(refund_pos("s1", "one-more", 1)), Rejection::TooManyRefunds);
    // Repeats of refunds given are still answered.
    assert_eq!(h.ok(refund_pos("s1", "r0", 1)), Reply::Refunded { amount: 1, remaining: 3_999 });
}

#[test]
fn a_captured_pre_authorization_is_refunded_up_to_what_was_captured() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    h.ok(settle_held("ph", &code, 3_000, h.now + 60_000));
    // Nothing is charged while it only holds.
    assert_eq!(h.rejected(refund_pos("ph", "r1", 1)), Rejection::RefundExceedsCharge);
    h.ok(Command::CaptureHold(crate::command::CaptureHold { hold: id("ph"), amount: 2_000 }));
    assert_eq!(h.rejected(refund_pos("ph", "r1", 2_001)), Rejection::RefundExceedsCharge);
    assert_eq!(h.ok(refund_pos("ph", "r1", 2_000)), Reply::Refunded { amount: 2_000, remaining: 0 });
    assert_eq!(h.balance("a"), (10_000, 0, 10_000));
}

#[test]
fn a_paid_bill_is_refunded_by_its_merchant_only() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    open_bill(&mut h, "b1");
    h.ok(add_item("b1", "coffee", 2, 350));
    assert_eq!(h.rejected(refund_bill("b1", "r1", 1)), Rejection::NotReversible, "open, not paid");
    let (_, challenge) = submitted(h.ok(Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 1 })));
    h.ok(Command::ConfirmBill(ConfirmBill { bill: id("b1"), challenge, coupon: None, location: None }));
    assert_eq!(h.balance("a").0, 9_300);
    // The merchant refunds; the user's app and another merchant may not.
    let merchant = Principal::Merchant(id("m1"));
    let refund = refund_bill("b1", "r1", 200);
    assert_eq!(h.run_as(merchant, refund.clone()), Outcome::Applied(Reply::Refunded { amount: 200, remaining: 500 }));
    for other in [Principal::App(id("wallet")), Principal::Merchant(id("m2")), Principal::Terminal(id("t1"))] {
        assert_eq!(h.run_as(other, refund_bill("b1", "r2", 1)), Outcome::Rejected(Rejection::Forbidden));
    }
    assert_eq!(h.balance("a").0, 9_500);
    assert_eq!(h.rejected(refund_bill("b1", "r2", 501)), Rejection::RefundExceedsCharge);
    assert_eq!(h.machine.bill(&id("b1")).unwrap().refunds.len(), 1);
    assert_eq!(h.rejected(refund_bill("nope", "r1", 1)), Rejection::BillNotFound);
}

#[test]
fn a_completed_split_is_refunded_whole_by_its_requester_once() {
    use crate::command::SplitShares;
    use crate::state_machine::SplitState;
    use crate::state_machine::tests::{pay, request_split};
    let mut h = Harness::new();
    for user in ["req", "x", "y", "z"] {
        h.open(&format!("acc-{user}"), 0);
        h.deposit(&format!("acc-{user}"), 1_000);
    }
    request_split(&mut h, "s1", 1_000, SplitShares::Equal);
    let refund = Command::RefundSplit { split: id("s1") };
    assert_eq!(h.rejected(refund.clone()), Rejection::NotReversible, "still open");
    for member in ["x", "y", "z"] {
        h.ok(pay("s1", member));
    }
    assert_eq!(h.balance("acc-req").0, 2_000);
    // Only its requester's side may refund it: not a member's app, not a merchant.
    for other in [Principal::App(id("wallet")), Principal::Merchant(id("m1"))] {
        assert_eq!(h.run_as(other, refund.clone()), Outcome::Rejected(Rejection::Forbidden));
    }
    assert_eq!(h.ok(refund.clone()), Reply::Refunded { amount: 1_000, remaining: 0 });
    let balances: Vec<i64> = ["req", "x", "y", "z"].iter().map(|user| h.balance(&format!("acc-{user}")).0).collect();
    assert_eq!(balances, [1_000, 1_000, 1_000, 1_000]);
    assert_eq!(h.machine.split(&id("s1")).unwrap().state, SplitState::Refunded);
    // A retry answers the same and moves nothing; a cancel of it is refused.
    assert_eq!(h.ok(refund), Reply::Refunded { amount: 1_000, remaining: 0 });
    assert_eq!(h.balance("acc-req").0, 1_000);
    assert_eq!(h.rejected(Command::CancelSplit { split: id("s1") }), Rejection::SplitClosed);
    assert_eq!(h.rejected(Command::RefundSplit { split: id("nope") }), Rejection::SplitNotFound);
}

#[test]
fn a_split_refund_needs_the_requesters_money_all_or_nothing() {
    use crate::command::SplitShares;
    use crate::state_machine::tests::{pay, request_split, transfer};
    let mut h = Harness::new();
    for user in ["req", "x", "y", "z", "sink"] {
        h.open(&format!("acc-{user}"), 0);
        h.deposit(&format!("acc-{user}"), 1_000);
    }
    request_split(&mut h, "s1", 900, SplitShares::Equal);
    for member in ["x", "y", "z"] {
        h.ok(pay("s1", member));
    }
    h.ok(Command::Transfer(transfer("away", "acc-req", "acc-sink", 1_100)));
    assert_eq!(h.rejected(Command::RefundSplit { split: id("s1") }), Rejection::InsufficientFunds);
    assert_eq!(h.balance("acc-x").0, 700, "nobody was paid back");
}
