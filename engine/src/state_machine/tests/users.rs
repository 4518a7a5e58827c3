//! Flow tests of what users do: virtual bills, group-payment splits, coupons (issue, share,
//! claim, redeem, reward). The harness is the parent module's.

use rust_decimal_macros::dec;

use super::*;

pub(crate) fn open_bill(h: &mut Harness, bill: &str) {
    let (opens_at_ms, closes_at_ms) = (h.now, h.now + 600_000);
    h.ok(Command::OpenBill(OpenBill {
        bill: id(bill),
        user: id("u1"),
        account: id("a"),
        merchant: id("m1"),
        opens_at_ms,
        closes_at_ms,
    }));
}

pub(crate) fn add_item(bill: &str, item_ref: &str, quantity: u32, unit_amount: u64) -> Command {
    Command::AddBillItem(AddBillItem {
        bill: id(bill),
        terminal: id("t1"),
        item_ref: item_ref.into(),
        quantity,
        unit_amount,
    })
}

pub(crate) fn submitted(reply: Reply) -> (u64, String) {
    let Reply::BillSubmitted { total, challenge } = reply else { panic!("{reply:?}") };
    (total, challenge)
}

#[test]
fn bills_total_verify_and_charge() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    open_bill(&mut h, "b1");
    assert_eq!(h.rejected(Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 1 })), Rejection::BillEmpty);
    h.ok(add_item("b1", "coffee", 2, 350));
    h.ok(add_item("b1", "cake", 1, 425));
    assert_eq!(h.rejected(add_item("b1", "", 1, 1)), Rejection::InvalidField);
    assert_eq!(h.rejected(add_item("b1", "x", 0, 1)), Rejection::InvalidField);
    assert_eq!(h.rejected(add_item("b1", "x", 1, 0)), Rejection::InvalidAmount);
    // The merchant side may submit but never sees the user's challenge (on any listener).
    let by_merchant =
        h.run_as(Principal::Merchant(id("m1")), Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 9 }));
    assert_eq!(by_merchant, Outcome::Applied(Reply::BillSubmitted { total: 1_125, challenge: String::new() }));
    let (total, challenge) = submitted(h.ok(Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 9 })));
    assert_eq!(total, 1_125);
    assert!(!challenge.is_empty(), "the admin (and the user's app) sees it");
    assert_eq!(h.balance("a").0, 10_000, "submitting charges nothing");
    assert_eq!(h.rejected(add_item("b1", "late", 1, 1)), Rejection::BillNotOpen);
    let wrong = if challenge == "000000" { "000001" } else { "000000" };
    assert_eq!(
        h.rejected(Command::ConfirmBill(ConfirmBill {
            bill: id("b1"),
            challenge: wrong.into(),
            coupon: None,
            location: None
        })),
        Rejection::IncorrectCode
    );
    let paid = h.ok(Command::ConfirmBill(ConfirmBill {
        bill: id("b1"),
        challenge: challenge.clone(),
        coupon: None,
        location: None,
    }));
    assert_eq!(paid, Reply::BillPaid { charged: 1_125, discount: 0 });
    assert_eq!(h.balance("a").0, 8_875);
    assert_eq!(h.balance("shop").0, 1_125);
    assert_eq!(
        h.ok(Command::ConfirmBill(ConfirmBill { bill: id("b1"), challenge, coupon: None, location: None })),
        paid
    );
    assert_eq!(h.balance("a").0, 8_875, "charged once");
    assert_eq!(h.rejected(Command::CancelBill { bill: id("b1") }), Rejection::BillNotOpen);
}

#[test]
fn bills_expire_cancel_and_lock_without_charging() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    open_bill(&mut h, "b1");
    h.ok(add_item("b1", "x", 1, 100));
    h.ok(Command::CancelBill { bill: id("b1") });
    assert_eq!(h.rejected(add_item("b1", "x", 1, 100)), Rejection::BillNotOpen);
    open_bill(&mut h, "b2");
    h.ok(add_item("b2", "x", 1, 100));
    let (_, challenge) = submitted(h.ok(Command::SubmitBill(SubmitBill { bill: id("b2"), nonce: 1 })));
    let wrong = if challenge == "000000" { "000001" } else { "000000" };
    for _ in 0..crate::constants::BILL_CHALLENGE_FAILURES_MAX {
        h.rejected(Command::ConfirmBill(ConfirmBill {
            bill: id("b2"),
            challenge: wrong.into(),
            coupon: None,
            location: None,
        }));
    }
    assert_eq!(h.machine.bill(&id("b2")).unwrap().state, BillState::Cancelled);
    assert_eq!(
        h.rejected(Command::ConfirmBill(ConfirmBill { bill: id("b2"), challenge, coupon: None, location: None })),
        Rejection::BillNotOpen
    );
    open_bill(&mut h, "b3");
    h.ok(add_item("b3", "x", 1, 100));
    h.now += 600_000;
    assert_eq!(h.rejected(add_item("b3", "y", 1, 100)), Rejection::OutsideWindow);
    assert_eq!(h.ok(Command::Tick), Reply::Ticked { expired: 1 });
    assert_eq!(h.machine.bill(&id("b3")).unwrap().state, BillState::Expired);
    assert_eq!(h.balance("a").0, 10_000);
    // Terminals of other merchants cannot add items.
    h.open("shop2", 0);
    h.ok(Command::RegisterMerchant(RegisterMerchant { merchant: id("m2"), account: id("shop2") }));
    h.ok(Command::RegisterTerminal(RegisterTerminal {
        terminal: id("t2"),
        merchant: id("m2"),
        mac_key: None,
        location: None,
    }));
    open_bill(&mut h, "b4");
    let foreign = Command::AddBillItem(AddBillItem {
        bill: id("b4"),
        terminal: id("t2"),
        item_ref: "x".into(),
        quantity: 1,
        unit_amount: 1,
    });
    assert_eq!(h.rejected(foreign), Rejection::WrongMerchant);
    let before = h.now + 1;
    assert_eq!(
        h.rejected(Command::OpenBill(OpenBill {
            bill: id("b5"),
            user: id("u1"),
            account: id("a"),
            merchant: id("m1"),
            opens_at_ms: before,
            closes_at_ms: before
        })),
        Rejection::InvalidExpiry
    );
}

pub(crate) fn members(users: &[&str]) -> Vec<SplitMember> {
    users.iter().map(|user| SplitMember { user: id(user), account: id(&format!("acc-{user}")) }).collect()
}

pub(crate) fn request_split(h: &mut Harness, split: &str, total: u64, shares: SplitShares) -> Outcome {
    let expires_at_ms = h.now + 86_400_000;
    h.run(Command::RequestSplit(RequestSplit {
        split: id(split),
        requester: id("req"),
        requester_account: id("acc-req"),
        total,
        currency: Currency::EUR,
        members: members(&["x", "y", "z"]),
        shares,
        expires_at_ms,
    }))
}

pub(crate) fn pay(split: &str, member: &str) -> Command {
    Command::PaySplitShare(PaySplitShare { split: id(split), member: id(member) })
}

#[test]
fn splits_divide_collect_and_complete() {
    let mut h = Harness::new();
    for user in ["req", "x", "y", "z"] {
        h.open(&format!("acc-{user}"), 0);
        h.deposit(&format!("acc-{user}"), 1_000);
    }
    let outcome = request_split(&mut h, "s1", 1_000, SplitShares::Equal);
    assert_eq!(outcome, Outcome::Applied(Reply::SplitRequested { shares: vec![334, 333, 333] }));
    assert_eq!(h.ok(pay("s1", "x")), Reply::SharePaid { amount: 334, completed: false });
    assert_eq!(h.rejected(pay("s1", "x")), Rejection::AlreadyPaid);
    assert_eq!(h.rejected(pay("s1", "nobody")), Rejection::NotAMember);
    assert_eq!(h.machine.split(&id("s1")).unwrap().escrow, 334);
    h.ok(pay("s1", "y"));
    assert_eq!(h.ok(pay("s1", "z")), Reply::SharePaid { amount: 333, completed: true });
    assert_eq!(h.balance("acc-req").0, 2_000);
    assert_eq!(h.machine.split(&id("s1")).unwrap().state, SplitState::Completed);
    assert_eq!(h.rejected(pay("s1", "x")), Rejection::SplitClosed);
    assert_eq!(
        request_split(&mut h, "s2", 100, SplitShares::Explicit(vec![50, 50])),
        Outcome::Rejected(Rejection::InvalidShares)
    );
    assert_eq!(
        request_split(&mut h, "s2", 100, SplitShares::Explicit(vec![50, 40, 9])),
        Outcome::Rejected(Rejection::InvalidShares)
    );
    assert_eq!(request_split(&mut h, "s2", 2, SplitShares::Equal), Outcome::Rejected(Rejection::InvalidShares));
    assert_eq!(
        request_split(&mut h, "s2", 100, SplitShares::Explicit(vec![50, 40, 10])),
        Outcome::Applied(Reply::SplitRequested { shares: vec![50, 40, 10] })
    );
    // x has 666 left; a share above the balance is refused.
    assert!(request_split(&mut h, "s3", 3_000, SplitShares::Explicit(vec![2_000, 500, 500])).is_applied());
    assert_eq!(h.rejected(pay("s3", "x")), Rejection::InsufficientFunds);
}

#[test]
fn cancelled_and_expired_splits_refund_paid_shares() {
    let mut h = Harness::new();
    for user in ["req", "x", "y", "z"] {
        h.open(&format!("acc-{user}"), 0);
        h.deposit(&format!("acc-{user}"), 1_000);
    }
    assert!(request_split(&mut h, "s1", 300, SplitShares::Equal).is_applied());
    h.ok(pay("s1", "x"));
    h.ok(pay("s1", "y"));
    assert_eq!(h.balance("acc-x").0, 900);
    assert_eq!(h.ok(Command::CancelSplit { split: id("s1") }), Reply::SplitCancelled { refunded: 200 });
    assert_eq!((h.balance("acc-x").0, h.balance("acc-y").0, h.balance("acc-req").0), (1_000, 1_000, 1_000));
    assert_eq!(h.rejected(pay("s1", "z")), Rejection::SplitClosed);
    assert!(request_split(&mut h, "s2", 300, SplitShares::Equal).is_applied());
    h.ok(pay("s2", "z"));
    h.now += 86_400_000;
    assert_eq!(h.rejected(pay("s2", "x")), Rejection::Expired);
    assert_eq!(h.ok(Command::Tick), Reply::Ticked { expired: 1 });
    assert_eq!(h.machine.split(&id("s2")).unwrap().state, SplitState::Expired);
    assert_eq!(h.balance("acc-z").0, 1_000);
}

pub(crate) fn issue(
    coupon: &str,
    holder: &str,
    rule: DeductionRule,
    reward: Option<DeductionRule>,
    h: &Harness,
) -> Command {
    Command::IssueCoupon(IssueCoupon {
        coupon: id(coupon),
        merchant: id("m1"),
        holder: id(holder),
        currency: Currency::EUR,
        rule,
        adjustments: Vec::new(),
        valid_from_ms: h.now,
        valid_until_ms: h.now + 86_400_000,
        reward,
        nonce: 11,
    })
}

pub(crate) fn coupon_code(reply: Reply) -> String {
    let Reply::CouponIssued { code } = reply else { panic!("{reply:?}") };
    code
}

pub(crate) fn redeem(redemption: &str, operator: &str, code: &str, amount: u64) -> Command {
    Command::RedeemCoupon(RedeemCoupon {
        id: id(redemption),
        operator: id(operator),
        code: code.into(),
        amount,
        location: None,
    })
}

#[test]
fn coupons_redeem_by_operator_of_their_merchant_only() {
    let mut h = Harness::new();
    h.merchant();
    h.open("shop2", 0);
    h.ok(Command::RegisterMerchant(RegisterMerchant { merchant: id("m2"), account: id("shop2") }));
    h.ok(Command::RegisterOperator(RegisterOperator { operator: id("op2"), merchant: id("m2") }));
    let rule =
        DeductionRule { kind: DeductionKind::PercentOff { percent: dec!(15), cap: Some(1_000) }, min_spend: 500 };
    let code = coupon_code(h.ok(issue("c1", "u1", rule, None, &h)));
    assert_eq!(code.len(), 12);
    assert_eq!(h.machine.coupon_code(&id("c1")).unwrap(), code);
    assert_eq!(
        h.machine.verify_coupon(h.now, &id("op1"), &code, 2_000, None).unwrap().1,
        rules::Quote { discount: 300, payable: 1_700 }
    );
    assert_eq!(h.rejected(redeem("r0", "op2", &code, 2_000)), Rejection::WrongMerchant);
    assert_eq!(h.rejected(redeem("r1", "op1", &code, 499)), Rejection::BelowMinimumSpend);
    assert_eq!(h.rejected(redeem("r2", "op1", "123", 2_000)), Rejection::CouponNotFound);
    assert_eq!(h.rejected(redeem("r3", "nobody", &code, 2_000)), Rejection::OperatorNotFound);
    let reply = h.ok(redeem("r4", "op1", &code, 2_000));
    assert_eq!(reply, Reply::CouponRedeemed { discount: 300, payable: 1_700, reward_coupon: None });
    assert_eq!(h.ok(redeem("r4", "op1", &code, 2_000)), reply, "idempotent");
    assert_eq!(h.rejected(redeem("r5", "op1", &code, 2_000)), Rejection::CouponRedeemed);
}

#[test]
fn shared_coupons_are_claimed_by_contacts_and_reward_the_sharer() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let rule = DeductionRule { kind: DeductionKind::FixedOff { amount: 200 }, min_spend: 0 };
    let reward = DeductionRule { kind: DeductionKind::FixedOff { amount: 100 }, min_spend: 0 };
    h.ok(issue("c1", "sharer", rule, Some(reward.clone()), &h));
    assert_eq!(
        h.rejected(Command::ShareCoupon(ShareCoupon { coupon: id("c1"), user: id("u1") })),
        Rejection::NotCouponHolder
    );
    h.ok(Command::ShareCoupon(ShareCoupon { coupon: id("c1"), user: id("sharer") }));
    assert_eq!(h.machine.pool(&id("sharer")).cloned().collect::<Vec<_>>(), vec![id("c1")]);
    assert_eq!(
        h.rejected(Command::ClaimCoupon(ClaimCoupon { coupon: id("c1"), claimer: id("u1"), nonce: 9 })),
        Rejection::NotAContact
    );
    h.ok(Command::AddContact(AddContact { user: id("sharer"), contact: id("u1") }));
    assert_eq!(h.machine.claimable_coupons(&id("u1")), vec![id("c1")]);
    h.ok(Command::ClaimCoupon(ClaimCoupon { coupon: id("c1"), claimer: id("u1"), nonce: 9 }));
    assert_eq!(
        h.rejected(Command::ClaimCoupon(ClaimCoupon { coupon: id("c1"), claimer: id("u2"), nonce: 9 })),
        Rejection::CouponNotShared
    );
    assert!(h.machine.claimable_coupons(&id("u1")).is_empty());
    // u1 redeems it in a POS purchase: discount and redemption in one step, sharer rewarded.
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    let mut purchase = settle("s1", &code, 1_000);
    if let Command::SettlePos(settle) = &mut purchase {
        settle.coupon = Some(id("c1"));
    }
    let Reply::Settled { charged, discount, .. } = h.ok(purchase) else { panic!() };
    assert_eq!((charged, discount), (800, 200));
    assert_eq!(h.balance("shop").0, 800);
    let coupon = h.machine.coupon(&id("c1")).unwrap();
    assert_eq!((coupon.state.clone(), coupon.shared_by.clone()), (CouponState::Redeemed, Some(id("sharer"))));
    let rewards: Vec<&Coupon> = h
        .machine
        .state()
        .coupons
        .values()
        .map(|coupon| &**coupon)
        .filter(|coupon| coupon.holder == id("sharer"))
        .collect();
    assert_eq!(rewards.len(), 1);
    assert_eq!(rewards[0].rule, reward);
}

#[test]
fn a_failed_payment_leaves_its_coupon_unredeemed() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 100);
    let rule = DeductionRule { kind: DeductionKind::FixedOff { amount: 50 }, min_spend: 0 };
    h.ok(issue("c1", "u1", rule, None, &h));
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    let mut purchase = settle("s1", &code, 1_000);
    if let Command::SettlePos(settle) = &mut purchase {
        settle.coupon = Some(id("c1"));
    }
    assert_eq!(h.rejected(purchase), Rejection::InsufficientFunds);
    assert_eq!(h.machine.coupon(&id("c1")).unwrap().state, CouponState::Available);
    assert_eq!(h.machine.authorization(&id("au1")).unwrap().state, AuthorizationState::Active);
}

#[test]
fn bills_take_coupons_of_the_same_merchant() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let rule = DeductionRule { kind: DeductionKind::SpendSave { threshold: 1_000, save: 250 }, min_spend: 0 };
    h.ok(issue("c1", "u1", rule, None, &h));
    open_bill(&mut h, "b1");
    h.ok(add_item("b1", "x", 4, 300));
    let (_, challenge) = submitted(h.ok(Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 5 })));
    let paid =
        h.ok(Command::ConfirmBill(ConfirmBill { bill: id("b1"), challenge, coupon: Some(id("c1")), location: None }));
    assert_eq!(paid, Reply::BillPaid { charged: 950, discount: 250 });
    assert_eq!(h.balance("a").0, 9_050);
    assert_eq!(h.machine.coupon(&id("c1")).unwrap().state, CouponState::Redeemed);
}

/// Found by the model-based simulation: a repeated `IssueCoupon` with another holder used to be
/// answered with the existing coupon's code.
#[test]
fn a_repeated_coupon_issue_must_name_the_same_holder() {
    let mut h = Harness::new();
    h.merchant();
    let rule = DeductionRule { kind: DeductionKind::FixedOff { amount: 100 }, min_spend: 0 };
    let code = coupon_code(h.ok(issue("c1", "u1", rule.clone(), None, &h)));
    assert_eq!(coupon_code(h.ok(issue("c1", "u1", rule.clone(), None, &h))), code, "a retry gets the same code");
    assert_eq!(h.rejected(issue("c1", "u2", rule, None, &h)), Rejection::AlreadyExists);
    assert_eq!(h.machine.coupon(&id("c1")).unwrap().holder, id("u1"));
}

#[test]
fn coupon_value_adjusts_by_location_for_operators() {
    let mut h = Harness::new();
    h.merchant();
    let store = GeoPoint { latitude_e6: 48_856_600, longitude_e6: 2_352_200 };
    let mut command =
        issue("c1", "u1", DeductionRule { kind: DeductionKind::FixedOff { amount: 100 }, min_spend: 0 }, None, &h);
    if let Command::IssueCoupon(issue) = &mut command {
        issue.adjustments = vec![ValueAdjustment {
            condition: AdjustmentCondition::Location { center: store, radius_m: 200 },
            factor_percent: 300,
        }];
    }
    let code = coupon_code(h.ok(command));
    let in_store = RedeemCoupon { id: id("r1"), operator: id("op1"), code, amount: 1_000, location: Some(store) };
    assert_eq!(
        h.ok(Command::RedeemCoupon(in_store)),
        Reply::CouponRedeemed { discount: 300, payable: 700, reward_coupon: None }
    );
}
