//! Money never goes into a closed account, where nothing could move it out again: a member
//! whose paid share sits in an open split's escrow keeps the account open, and a reversal to a
//! closed payer is refused as a refund is.

use super::users::{pay, request_split};
use super::*;

/// A member whose paid share sits in an open split's escrow may not close the account the
/// share came from (a cancel or an expiry pays it back there); once the split is resolved it may.
#[test]
fn an_account_with_a_paid_share_in_an_open_split_stays_open() {
    let mut h = Harness::new();
    for user in ["req", "x", "y", "z"] {
        h.open(&format!("acc-{user}"), 0);
        h.deposit(&format!("acc-{user}"), 100);
    }
    let withdraw_all = |h: &mut Harness, account: &str, n: u32| {
        let amount = u64::try_from(h.balance(account).0).unwrap();
        h.ok(Command::Withdraw(Movement { id: id(&format!("w-{account}-{n}")), account: id(account), amount }));
    };
    assert!(request_split(&mut h, "s1", 300, SplitShares::Equal).is_applied());
    h.ok(pay("s1", "x"));
    assert_eq!(h.balance("acc-x").0, 0, "its whole balance is the share in escrow");
    let close_x = Command::CloseAccount { account: id("acc-x") };
    assert_eq!(h.rejected(close_x.clone()), Rejection::AccountNotEmpty);
    h.ok(Command::CancelSplit { split: id("s1") });
    assert_eq!(h.balance("acc-x").0, 100, "the share came back to an open account");
    withdraw_all(&mut h, "acc-x", 1);
    h.ok(close_x);
    // Completed: every share left escrow, so a member may close.
    let mut h = Harness::new();
    for user in ["req", "x", "y", "z"] {
        h.open(&format!("acc-{user}"), 0);
        h.deposit(&format!("acc-{user}"), 100);
    }
    assert!(request_split(&mut h, "s2", 300, SplitShares::Equal).is_applied());
    h.ok(pay("s2", "x"));
    h.ok(pay("s2", "y"));
    assert_eq!(h.machine.state.escrowed_shares.get(&id("acc-y")), Some(&1));
    h.ok(pay("s2", "z"));
    assert!(h.machine.state.escrowed_shares.is_empty(), "{:?}", h.machine.state.escrowed_shares);
    h.ok(Command::CloseAccount { account: id("acc-y") });
}

/// A reversal of a sale whose payer account closed since is refused `account_closed` and moves
/// nothing, as a partial refund of it is.
#[test]
fn a_reversal_into_a_closed_account_is_refused() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 1_000);
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    h.ok(settle("pos-1", &code, 1_000));
    h.ok(Command::CloseAccount { account: id("a") });
    let refund = Command::RefundPos(Refund { of: id("pos-1"), refund: id("r1"), amount: 400 });
    assert_eq!(h.rejected(refund), Rejection::AccountClosed);
    assert_eq!(h.rejected(Command::ReversePos { settlement: id("pos-1") }), Rejection::AccountClosed);
    assert_eq!((h.balance("a").0, h.balance("shop").0), (0, 1_000), "nothing moved");
}
