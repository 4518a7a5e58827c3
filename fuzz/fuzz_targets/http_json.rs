//! The HTTP API's JSON request bodies (`kassa_adapters::http::requests`) on arbitrary bytes.
//!
//! Every input is decoded with `serde_json::from_slice` (what actix-web's `web::Json` does) as
//! every body type; each body that decodes is converted into its command(s) exactly as the
//! handlers do, at an ordinary time and at one near the end of `u64` milliseconds (expiry
//! overflow). Neither may panic. The commands made must survive the kassa codec (they are what
//! the write-ahead log stores) and one batch of them must leave the state machine's invariants
//! intact.

#![no_main]

use kassa_adapters::http::requests::*;
use kassa_engine::command::{Command, Submission};
use kassa_engine::{CommitOutput, Config, Currency, Id, SecretKey, StateMachine, codec};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

const NOWS: [u64; 2] = [1_700_000_000_000, u64::MAX - 5_000];
const SCOPE_ID_LENGTH_MAX: usize = 48;

fn body<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

fn keep(commands: &mut Vec<Command>, converted: Result<Command, RequestError>) {
    match converted {
        Ok(command) => commands.push(command),
        Err(RequestError::Invalid { code, message }) => assert!(!code.is_empty() && !message.is_empty()),
        Err(RequestError::Rejected(rejection)) => assert!(!rejection.code().is_empty()),
        Err(RequestError::Unprocessable { code, message }) => assert!(!code.is_empty() && !message.is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Id::new("path-id").unwrap();
    let nonce = 0x5eed;
    let mut commands = Vec::new();
    if let Some(key) = body::<CreateKey>(data) {
        let _ = key.role(SCOPE_ID_LENGTH_MAX);
    }
    if let Some(open) = body::<OpenAccountBody>(data) {
        keep(&mut commands, open.command());
    }
    if let Some(movement) = body::<MovementBody>(data) {
        commands.push(movement.command(&path, true));
        commands.push(movement.command(&path, false));
    }
    let _ = body::<HistoryQuery>(data);
    if let Some(transfer) = body::<TransferBody>(data) {
        // Metadata of any shape converts or is refused with a code; what converts is bounded.
        match metadata(transfer.metadata.as_ref()) {
            Ok(converted) => assert!(converted.is_none_or(|map| map.len() <= 16)),
            Err(error) => assert!(!error.to_string().is_empty()),
        }
        keep(&mut commands, transfer.command());
    }
    if let Some(batch) = body::<BatchBody>(data) {
        keep(&mut commands, batch.command());
    }
    if let Some(capture) = body::<CaptureBody>(data) {
        commands.push(capture.command(&path));
    }
    if let Some(merchant) = body::<MerchantBody>(data) {
        commands.push(merchant.command());
    }
    if let Some(terminal) = body::<TerminalBody>(data) {
        keep(&mut commands, terminal.command());
    }
    if let Some(operator) = body::<OperatorBody>(data) {
        commands.push(operator.command());
    }
    if let Some(settle) = body::<SettleBody>(data) {
        keep(&mut commands, settle.command(Currency::EUR));
    }
    if let Some(item) = body::<BillItemBody>(data) {
        commands.push(item.command(&path));
    }
    if let Some(confirm) = body::<ConfirmBody>(data) {
        commands.push(confirm.command(&path));
    }
    if let Some(pay) = body::<PayBody>(data) {
        commands.push(pay.command(&path));
    }
    if let Some(contact) = body::<ContactBody>(data) {
        commands.push(contact.command());
    }
    if let Some(user) = body::<UserBody>(data) {
        commands.push(user.share(&path));
        commands.push(user.claim(&path, 7));
    }
    if let Some(verify) = body::<VerifyBody>(data) {
        let _ = verify.location.as_ref().map(LocationBody::point);
    }
    if let Some(redeem) = body::<RedeemBody>(data) {
        commands.push(redeem.command(&path));
    }
    if let Some(quote) = body::<QuoteBody>(data) {
        let _ = quote.check_amount();
    }
    let _ = body::<RuleBody>(data).map(|rule| rule.rule());
    let _ = body::<AdjustmentBody>(data).map(|adjustment| adjustment.adjustment());
    let _ = body::<MemberBody>(data);
    let _ = body::<LocationBody>(data).map(|location| location.point());
    let hold = body::<HoldBody>(data);
    let authorize = body::<AuthorizeBody>(data);
    let bill = body::<BillBody>(data);
    let split = body::<SplitBody>(data);
    let coupon = body::<CouponBody>(data);
    for now_ms in NOWS {
        if let Some(hold) = &hold {
            keep(&mut commands, hold.command(now_ms));
        }
        if let Some(authorize) = &authorize {
            keep(&mut commands, authorize.command(now_ms, nonce));
        }
        if let Some(bill) = &bill {
            keep(&mut commands, bill.command(now_ms));
        }
        if let Some(split) = &split {
            keep(&mut commands, split.command(now_ms));
        }
        if let Some(coupon) = &coupon {
            keep(&mut commands, coupon.command(now_ms, nonce));
        }
    }
    if commands.is_empty() {
        return;
    }
    // The commands are what the write-ahead log stores: the codec must give them back intact.
    let decoded: Vec<Command> = codec::decode(&codec::encode(&commands)).expect("commands decode");
    assert_eq!(decoded, commands);
    // And the engine takes any of them without breaking an invariant.
    let mut machine = StateMachine::new(Config::with_ids_max(SecretKey::from_bytes(&[9; 32]), 4_096));
    let mut output = CommitOutput::default();
    machine.commit(NOWS[0], &Submission::admin_all(commands.clone()), &mut output);
    assert_eq!(output.outcomes.len(), commands.len());
    machine.check_invariants();
});
