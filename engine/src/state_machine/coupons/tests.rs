//! A coupon's location-adjusted value at the POS and on bills: the payment says where it
//! happens, and the same adjustment applies as for an operator's redemption.

use crate::command::{
    AdjustmentCondition, Command, ConfirmBill, DeductionKind, DeductionRule, Reply, SubmitBill, ValueAdjustment,
};
use crate::state_machine::tests::{
    Harness, add_item, authorize, code_of, coupon_code, id, issue, open_bill, settle, submitted,
};
use crate::types::GeoPoint;

const STORE: GeoPoint = GeoPoint { latitude_e6: 48_856_600, longitude_e6: 2_352_200 };
const ELSEWHERE: GeoPoint = GeoPoint { latitude_e6: 45_764_000, longitude_e6: 4_835_700 };

/// Merchant m1, user u1 with account `a` (10,000) and coupon `coupon` worth 100 off, tripled
/// within 200 m of the store.
fn with_coupon(coupon: &str) -> Harness {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let rule = DeductionRule { kind: DeductionKind::FixedOff { amount: 100 }, min_spend: 0 };
    let mut command = issue(coupon, "u1", rule, None, &h);
    if let Command::IssueCoupon(issue) = &mut command {
        issue.adjustments = vec![ValueAdjustment {
            condition: AdjustmentCondition::Location { center: STORE, radius_m: 200 },
            factor_percent: 300,
        }];
    }
    coupon_code(h.ok(command));
    h
}

fn sale(h: &mut Harness, settlement: &str, nonce: u64, location: Option<GeoPoint>) -> Reply {
    let code = code_of(h.ok(authorize(&format!("au-{settlement}"), 5_000, h.now + 3_600_000, nonce)));
    let mut command = settle(settlement, &code, 1_000);
    if let Command::SettlePos(settle) = &mut command {
        settle.coupon = Some(id(&format!("c-{settlement}")));
        settle.location = location;
    }
    h.ok(command)
}

#[test]
fn a_pos_sale_in_the_store_gets_the_location_adjusted_discount() {
    let mut h = with_coupon("c-in");
    let reply = sale(&mut h, "in", 1, Some(STORE));
    assert!(matches!(reply, Reply::Settled { charged: 700, discount: 300, .. }), "{reply:?}");
    let mut h = with_coupon("c-out");
    let reply = sale(&mut h, "out", 2, Some(ELSEWHERE));
    assert!(matches!(reply, Reply::Settled { charged: 900, discount: 100, .. }), "{reply:?}");
    let mut h = with_coupon("c-unknown");
    let reply = sale(&mut h, "unknown", 3, None);
    assert!(matches!(reply, Reply::Settled { charged: 900, discount: 100, .. }), "no location: the base value");
    // A retry elsewhere is another body.
    let code = code_of(h.ok(authorize("au-x", 5_000, h.now + 3_600_000, 4)));
    let mut first = settle("x", &code, 10);
    h.ok(first.clone());
    if let Command::SettlePos(settle) = &mut first {
        settle.location = Some(STORE);
    }
    assert_eq!(h.rejected(first), crate::command::Rejection::IdReused);
}

#[test]
fn a_bill_confirmed_in_the_store_gets_the_location_adjusted_discount() {
    let mut h = with_coupon("c1");
    open_bill(&mut h, "b1");
    h.ok(add_item("b1", "lunch", 1, 1_000));
    let (_, challenge) = submitted(h.ok(Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 1 })));
    let confirm = ConfirmBill { bill: id("b1"), challenge, coupon: Some(id("c1")), location: Some(STORE) };
    assert_eq!(h.ok(Command::ConfirmBill(confirm)), Reply::BillPaid { charged: 700, discount: 300 });
}
