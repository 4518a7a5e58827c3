//! Conversions of request bodies, refused and accepted.

use kassa_engine::command::{Command, Principal};
use kassa_engine::{Currency, Id, Rejection};

use super::*;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

#[test]
fn bodies_become_commands() {
    let body: HoldBody =
        serde_json::from_str(r#"{"id":"h1","from":"a","to":"b","amount":5,"currency":"EUR","expires_in_s":60}"#)
            .unwrap();
    let Command::PlaceHold(hold) = body.command(1_000).unwrap() else { panic!("a hold") };
    assert_eq!((hold.currency, hold.expires_at_ms), (Currency::EUR, 61_000));
    let body: TerminalBody = serde_json::from_str(r#"{"id":"T1","merchant":"m","mac_key":"00ff10Ab"}"#).unwrap();
    let Command::RegisterTerminal(terminal) = body.command().unwrap() else { panic!("a terminal") };
    assert_eq!(terminal.mac_key, Some(vec![0x00, 0xff, 0x10, 0xab]));
    let body: CreateKey = serde_json::from_str(r#"{"role":"merchant","merchant":"m-1"}"#).unwrap();
    assert_eq!(body.role(48), Ok(Principal::Merchant(id("m-1"))));
}

#[test]
fn malformed_bodies_are_refused_with_a_code() {
    let body: OpenAccountBody = serde_json::from_str(r#"{"id":"a","currency":"XXX"}"#).unwrap();
    assert!(matches!(body.command(), Err(RequestError::Invalid { code: "invalid_currency", .. })));
    let body: HoldBody = serde_json::from_str(
        r#"{"id":"h1","from":"a","to":"b","amount":5,"currency":"EUR","expires_in_s":18446744073709551615}"#,
    )
    .unwrap();
    assert!(matches!(body.command(0), Err(RequestError::Rejected(Rejection::InvalidExpiry))));
    for mac_key in ["0", "zz", "é0", "0g"] {
        let body = TerminalBody { id: id("T1"), merchant: id("m"), mac_key: Some(mac_key.into()), location: None };
        assert!(matches!(body.command(), Err(RequestError::Invalid { code: "invalid_mac_key", .. })), "{mac_key}");
    }
    let body: CreateKey = serde_json::from_str(r#"{"role":"app"}"#).unwrap();
    assert!(matches!(body.role(48), Err(RequestError::Invalid { code: "missing_field", .. })));
    let body: CreateKey = serde_json::from_str(r#"{"role":"root"}"#).unwrap();
    assert!(matches!(body.role(48), Err(RequestError::Invalid { code: "invalid_role", .. })));
    let body: BatchBody = serde_json::from_str(r#"{"transfers":[]}"#).unwrap();
    assert!(matches!(body.command(), Err(RequestError::Invalid { code: "invalid_batch", .. })));
    assert!(serde_json::from_str::<CaptureBody>(r#"{"amount":1,"extra":2}"#).is_err());
    let body: QuoteBody = serde_json::from_str(r#"{"coupon":"c","amount":0}"#).unwrap();
    assert_eq!(body.check_amount(), Err(RequestError::Rejected(Rejection::InvalidAmount)));
}
