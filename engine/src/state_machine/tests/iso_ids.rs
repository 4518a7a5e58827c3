//! The ISO 8583 listener's settlement ids (`iso:<terminal>:<STAN>:<MMDDhhmmss>`) belong to the
//! terminal they name: nobody else can occupy the id of that terminal's next sale.

use super::*;

fn settle_at(settlement: &str, terminal: &str, code: &str, amount: u64) -> Command {
    let mut command = settle(settlement, code, amount);
    if let Command::SettlePos(settle) = &mut command {
        settle.terminal = id(terminal);
    }
    command
}

#[test]
fn an_iso_settlement_id_is_refused_to_every_other_terminal_and_to_holds() {
    let mut h = Harness::new();
    h.merchant();
    h.ok(Command::RegisterTerminal(RegisterTerminal {
        terminal: id("t:2"),
        merchant: id("m1"),
        mac_key: None,
        location: None,
    }));
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 10_000);
    let expiry = h.now + 3_600_000;
    let code = code_of(h.ok(authorize("au1", 5_000, expiry, 7)));
    let taken = "iso:t1:000777:1205120000";
    // Another terminal, as a sale and as a 0100 hold; a plain hold: refused, nothing recorded.
    assert_eq!(h.rejected(settle_at(taken, "t:2", &code, 100)), Rejection::InvalidField);
    assert_eq!(h.rejected(settle_held(&taken.replace("t1", "t:2:x"), &code, 100, expiry)), Rejection::InvalidField);
    assert_eq!(h.rejected(hold(taken, 100, expiry)), Rejection::InvalidField);
    assert_eq!(h.rejected(hold("iso:anything", 100, expiry)), Rejection::InvalidField);
    assert!(h.machine.state.settlements.get(&id(taken)).is_none());
    assert_eq!(h.balance("a"), (10_000, 0, 10_000));
    // The terminal it names settles under it, as the ISO listener does; a terminal whose id
    // holds ':' is parsed from the right.
    let reply = h.ok(settle_at(taken, "t1", &code, 100));
    assert!(matches!(reply, Reply::Settled { charged: 100, .. }), "{reply:?}");
    let code = code_of(h.ok(authorize("au2", 5_000, expiry, 8)));
    h.ok(settle_at("iso:t:2:000001:1205120000", "t:2", &code, 50));
    assert_eq!(h.balance("a").0, 9_850);
}
