//! A terminal captures, voids and reads only the holds its own sales placed: a sale without a
//! hold that takes a hold's id gives its terminal no power over that hold.

use super::*;

#[test]
fn a_terminal_cannot_take_another_holds_id_for_a_sale_to_capture_it() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 10_000);
    let expiry = h.now + 3_600_000;
    h.ok(hold("h1", 500, expiry));
    // The terminal's sale takes the hold's id: a sale without a hold may (they are not holds).
    let code = code_of(h.ok(authorize("au1", 5_000, expiry, 7)));
    assert!(matches!(h.ok(settle("h1", &code, 100)), Reply::Settled { charged: 100, .. }));
    let terminal = Principal::Terminal(id("t1"));
    let capture = Command::CaptureHold(CaptureHold { hold: id("h1"), amount: 500 });
    assert_eq!(h.run_as(terminal.clone(), capture), Outcome::Rejected(Rejection::Forbidden));
    let void = Command::VoidHold { hold: id("h1") };
    assert_eq!(h.run_as(terminal.clone(), void), Outcome::Rejected(Rejection::Forbidden));
    assert_eq!((h.balance("a").0, h.balance("a").1, h.balance("b").0), (9_900, 500, 0), "still held for b");
    // Its own pre-authorization it captures; where no hold has its sale's id, it hears so.
    let code = code_of(h.ok(authorize("au2", 5_000, expiry, 8)));
    h.ok(settle_held("s2", &code, 300, expiry));
    let capture = Command::CaptureHold(CaptureHold { hold: id("s2"), amount: 300 });
    assert!(h.run_as(terminal.clone(), capture).is_applied());
    let code = code_of(h.ok(authorize("au3", 5_000, expiry, 9)));
    h.ok(settle("s3", &code, 10));
    let void = Command::VoidHold { hold: id("s3") };
    assert_eq!(h.run_as(terminal, void), Outcome::Rejected(Rejection::HoldNotFound));
}
