//! Unit tests of the framing and message layout: the byte-for-byte examples of
//! `docs/protocol.md`, the variant-index tables it lists, and a no-panic sweep of the decoder.

use kassa_engine::command::*;
use kassa_engine::metadata::Metadata;
use kassa_engine::{Currency, Id};
use rust_decimal::Decimal;

use super::frame::{
    ErrorCode, FRAME_BYTES_MAX, FrameError, HELLO_BYTES_MAX, LENGTH_PREFIX_BYTES, PROTOCOL_VERSION, Request,
    RequestBody, Response, ResponseBody, body_length, decode_body, encode_frame, hello_body_length, split_frame,
};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn frame_of<T: serde::Serialize>(message: &T) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_frame(message, &mut frame).unwrap();
    frame
}

fn unhex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(digits).unwrap()
}

/// The Transfer example of `docs/protocol.md`.
fn transfer_request() -> Request {
    Request {
        request_id: 7,
        body: RequestBody::Submit(Command::Transfer(Transfer {
            id: id("t-1"),
            from: id("alice"),
            to: id("bob"),
            amount: 1234,
            currency: Currency::EUR,
        })),
    }
}

/// The SubmitWithMetadata example of `docs/protocol.md`: the transfer with an order id.
fn annotated_request() -> Request {
    let RequestBody::Submit(command) = transfer_request().body else { unreachable!() };
    let metadata = Metadata::new([("order_id".to_owned(), "A-1".to_owned())]).unwrap();
    Request { request_id: 10, body: RequestBody::SubmitWithMetadata { command, metadata } }
}

/// The hex examples of `docs/protocol.md`, byte for byte, both ways.
const EXAMPLES: &[(&str, &str)] = &[
    ("hello", "0000000e 01 01 00 01 09 61646d696e2d6b6579"),
    ("welcome", "00000009 01 01 00 01 fc00001000"),
    ("transfer", "00000018 01 07 01 04 03742d31 05616c696365 03626f62 fbd204 fbd203"),
    ("applied", "00000005 01 07 01 00 00"),
    ("rejected", "00000005 01 07 01 01 09"),
    ("batch", "00000005 01 08 02 01 1e"),
    ("outcomes", "00000007 01 08 02 01 00 0c 00"),
    ("ping", "00000003 01 09 03"),
    ("pong", "00000003 01 09 03"),
    ("busy", "00000010 01 00 04 06 0b 656e67696e652062757379"),
    ("annotated", "00000026 01 0a 04 04 03742d31 05616c696365 03626f62 fbd204 fbd203 01 086f726465725f6964 03412d31"),
];

fn example(name: &str) -> Vec<u8> {
    unhex(EXAMPLES.iter().find(|(example, _)| *example == name).unwrap().1)
}

#[test]
fn documented_examples_match_byte_for_byte() {
    let requests = [
        (
            "hello",
            Request {
                request_id: 1,
                body: RequestBody::Hello { protocol_version: PROTOCOL_VERSION, api_key: "admin-key".into() },
            },
        ),
        ("transfer", transfer_request()),
        ("batch", Request { request_id: 8, body: RequestBody::Batch(vec![Command::Tick]) }),
        ("ping", Request { request_id: 9, body: RequestBody::Ping }),
        ("annotated", annotated_request()),
    ];
    for (name, request) in requests {
        assert_eq!(hex::encode(frame_of(&request)), hex::encode(example(name)), "{name}");
        let frame = example(name);
        let (body, consumed) = split_frame(&frame).unwrap().unwrap();
        assert_eq!(consumed, frame.len());
        assert_eq!(decode_body::<Request>(body).unwrap(), request, "{name}");
    }
    let responses = [
        (
            "welcome",
            Response { request_id: 1, body: ResponseBody::Welcome { protocol_version: 1, frame_bytes_max: 1 << 20 } },
        ),
        ("applied", Response { request_id: 7, body: ResponseBody::Outcome(Outcome::Applied(Reply::Done)) }),
        (
            "rejected",
            Response { request_id: 7, body: ResponseBody::Outcome(Outcome::Rejected(Rejection::InsufficientFunds)) },
        ),
        (
            "outcomes",
            Response {
                request_id: 8,
                body: ResponseBody::Outcomes(vec![Outcome::Applied(Reply::Ticked { expired: 0 })]),
            },
        ),
        ("pong", Response { request_id: 9, body: ResponseBody::Pong }),
        ("busy", Response::error(0, ErrorCode::Busy, "engine busy")),
    ];
    for (name, response) in responses {
        assert_eq!(hex::encode(frame_of(&response)), hex::encode(example(name)), "{name}");
        let frame = example(name);
        let (body, _) = split_frame(&frame).unwrap().unwrap();
        assert_eq!(decode_body::<Response>(body).unwrap(), response, "{name}");
    }
}

#[test]
fn documented_field_layouts_match() {
    // SettlePos: strings, Options (Some and None) and a u64 >= 2^16.
    let settle = Request {
        request_id: 300,
        body: RequestBody::Submit(Command::SettlePos(SettlePos {
            id: id("s1"),
            user: id("u"),
            code: "12345678".into(),
            amount: 70_000,
            currency: Currency::USD,
            terminal: id("t"),
            coupon: None,
            hold_until_ms: Some(5),
            location: None,
        })),
    };
    let expected = "00000022 01 fb2c01 01 0d 027331 0175 083132333435363738 fc70110100 fb4803 0174 00 0105 00";
    assert_eq!(hex::encode(frame_of(&settle)), hex::encode(unhex(expected)));
    // IssueCoupon: a Decimal is its string; an empty Vec is one 0 byte.
    let issue = Command::IssueCoupon(IssueCoupon {
        coupon: id("c"),
        merchant: id("m"),
        holder: id("h"),
        currency: Currency::JPY,
        rule: DeductionRule {
            kind: DeductionKind::PercentOff { percent: Decimal::new(125, 1), cap: Some(9) },
            min_spend: 0,
        },
        adjustments: vec![],
        valid_from_ms: 1,
        valid_until_ms: 2,
        reward: None,
        nonce: 3,
    });
    let expected = "01 18 0163 016d 0168 fb8801 00 0431322e35 0109 00 00 01 02 00 03";
    assert_eq!(hex::encode(kassa_engine::codec::encode(&issue)), hex::encode(unhex(expected)));
    // RegisterApiKey: a [u8; 32] is 32 raw bytes without a length; roles carry their id.
    let register = Command::RegisterApiKey(RegisterApiKey {
        key_id: id("k"),
        role: Principal::App(id("a")),
        secret_hash: [0xab; 32],
    });
    let expected = format!("01 1c 016b 03 0161 {}", "ab".repeat(32));
    assert_eq!(hex::encode(kassa_engine::codec::encode(&register)), hex::encode(unhex(&expected)));
    // Signed integers are zigzag varints: GeoPoint { -1, 1 } is 01 02.
    let redeem = Command::RedeemCoupon(RedeemCoupon {
        id: id("r"),
        operator: id("o"),
        code: "1".into(),
        amount: 1,
        location: Some(kassa_engine::types::GeoPoint { latitude_e6: -1, longitude_e6: 1 }),
    });
    let expected = "01 1b 0172 016f 0131 01 01 01 02";
    assert_eq!(hex::encode(kassa_engine::codec::encode(&redeem)), hex::encode(unhex(expected)));
}

/// One command of every kind, in declaration order (the wire's variant index).
fn every_command() -> Vec<Command> {
    let transfer = Transfer { id: id("t"), from: id("a"), to: id("b"), amount: 1, currency: Currency::EUR };
    let movement = Movement { id: id("m"), account: id("a"), amount: 1 };
    let rule = DeductionRule { kind: DeductionKind::FixedOff { amount: 1 }, min_spend: 0 };
    vec![
        Command::OpenAccount(OpenAccount { account: id("a"), currency: Currency::EUR, overdraft_limit: 0 }),
        Command::CloseAccount { account: id("a") },
        Command::Deposit(movement.clone()),
        Command::Withdraw(movement),
        Command::Transfer(transfer.clone()),
        Command::TransferBatch(TransferBatch { atomic: true, transfers: vec![transfer] }),
        Command::PlaceHold(PlaceHold {
            id: id("h"),
            from: id("a"),
            to: id("b"),
            amount: 1,
            currency: Currency::EUR,
            expires_at_ms: 1,
        }),
        Command::CaptureHold(CaptureHold { hold: id("h"), amount: 1 }),
        Command::VoidHold { hold: id("h") },
        Command::RegisterMerchant(RegisterMerchant { merchant: id("m"), account: id("a") }),
        Command::RegisterTerminal(RegisterTerminal {
            terminal: id("t"),
            merchant: id("m"),
            mac_key: None,
            location: Some(kassa_engine::types::GeoPoint { latitude_e6: -1, longitude_e6: 2 }),
        }),
        Command::RegisterOperator(RegisterOperator { operator: id("o"), merchant: id("m") }),
        Command::Authorize(Authorize {
            id: id("z"),
            user: id("u"),
            account: id("a"),
            limit: 1,
            expires_at_ms: 1,
            nonce: 1,
        }),
        Command::SettlePos(SettlePos {
            id: id("s"),
            user: id("u"),
            code: "1".into(),
            amount: 1,
            currency: Currency::EUR,
            terminal: id("t"),
            coupon: None,
            hold_until_ms: None,
            location: None,
        }),
        Command::ReversePos { settlement: id("s") },
        Command::OpenBill(OpenBill {
            bill: id("b"),
            user: id("u"),
            account: id("a"),
            merchant: id("m"),
            opens_at_ms: 0,
            closes_at_ms: 1,
        }),
        Command::AddBillItem(AddBillItem {
            bill: id("b"),
            terminal: id("t"),
            item_ref: "x".into(),
            quantity: 1,
            unit_amount: 1,
        }),
        Command::SubmitBill(SubmitBill { bill: id("b"), nonce: 1 }),
        Command::ConfirmBill(ConfirmBill { bill: id("b"), challenge: "1".into(), coupon: None, location: None }),
        Command::CancelBill { bill: id("b") },
        Command::RequestSplit(RequestSplit {
            split: id("p"),
            requester: id("u"),
            requester_account: id("a"),
            total: 1,
            currency: Currency::EUR,
            members: vec![SplitMember { user: id("v"), account: id("c") }],
            shares: SplitShares::Equal,
            expires_at_ms: 1,
        }),
        Command::PaySplitShare(PaySplitShare { split: id("p"), member: id("v") }),
        Command::CancelSplit { split: id("p") },
        Command::AddContact(AddContact { user: id("u"), contact: id("v") }),
        Command::IssueCoupon(IssueCoupon {
            coupon: id("c"),
            merchant: id("m"),
            holder: id("u"),
            currency: Currency::EUR,
            rule,
            adjustments: vec![],
            valid_from_ms: 0,
            valid_until_ms: 1,
            reward: None,
            nonce: 1,
        }),
        Command::ShareCoupon(ShareCoupon { coupon: id("c"), user: id("u") }),
        Command::ClaimCoupon(ClaimCoupon { coupon: id("c"), claimer: id("v"), nonce: 1 }),
        Command::RedeemCoupon(RedeemCoupon {
            id: id("r"),
            operator: id("o"),
            code: "1".into(),
            amount: 1,
            location: None,
        }),
        Command::RegisterApiKey(RegisterApiKey { key_id: id("k"), role: Principal::Admin, secret_hash: [0; 32] }),
        Command::RevokeApiKey { key_id: id("k") },
        Command::Tick,
        Command::RevokeAuthorization { authorization: id("au") },
        Command::RefundPos(Refund { of: id("s"), refund: id("r"), amount: 1 }),
        Command::RefundBill(Refund { of: id("b"), refund: id("r"), amount: 1 }),
        Command::RefundSplit { split: id("sp") },
    ]
}

/// `docs/protocol.md`'s Command table (index order).
const COMMAND_KINDS: &[&str] = &[
    "open_account",
    "close_account",
    "deposit",
    "withdraw",
    "transfer",
    "transfer_batch",
    "place_hold",
    "capture_hold",
    "void_hold",
    "register_merchant",
    "register_terminal",
    "register_operator",
    "authorize",
    "settle_pos",
    "reverse_pos",
    "open_bill",
    "add_bill_item",
    "submit_bill",
    "confirm_bill",
    "cancel_bill",
    "request_split",
    "pay_split_share",
    "cancel_split",
    "add_contact",
    "issue_coupon",
    "share_coupon",
    "claim_coupon",
    "redeem_coupon",
    "register_api_key",
    "revoke_api_key",
    "tick",
    "revoke_authorization",
    "refund_pos",
    "refund_bill",
    "refund_split",
];

/// `docs/protocol.md`'s Rejection table (index order).
const REJECTIONS: &[&str] = &[
    "IdReused",
    "AlreadyExists",
    "AccountNotFound",
    "CounterpartyNotFound",
    "AccountClosed",
    "AccountNotEmpty",
    "CurrencyMismatch",
    "SameAccount",
    "InvalidAmount",
    "InsufficientFunds",
    "Overflow",
    "LinkedTransferFailed",
    "InvalidBatch",
    "HoldNotFound",
    "HoldAlreadyResolved",
    "ExceedsHold",
    "InvalidExpiry",
    "Expired",
    "MerchantNotFound",
    "TerminalNotFound",
    "OperatorNotFound",
    "WrongMerchant",
    "TooManyAuthorizations",
    "IncorrectCode",
    "CodeAlreadyUsed",
    "CodeTriesExceeded",
    "ExceedsLimit",
    "BillNotFound",
    "BillNotOpen",
    "OutsideWindow",
    "BillEmpty",
    "TooManyItems",
    "InvalidField",
    "SplitNotFound",
    "SplitClosed",
    "NotAMember",
    "AlreadyPaid",
    "InvalidShares",
    "CouponNotFound",
    "CouponNotValid",
    "CouponRedeemed",
    "NotCouponHolder",
    "CouponNotShared",
    "CouponShared",
    "NotAContact",
    "BelowMinimumSpend",
    "InvalidRule",
    "LimitReached",
    "SettlementNotFound",
    "NotReversible",
    "Forbidden",
    "KeyNotFound",
    "IdTableFull",
    "CrossPartition",
    "CodeRevoked",
    "AuthorizationNotFound",
    "RefundExceedsCharge",
    "TooManyRefunds",
    "MetadataNotSupported",
];

/// `docs/protocol.md`'s ObjectKind table (index order).
const OBJECT_KINDS: &[&str] = &[
    "Account",
    "Hold",
    "Merchant",
    "Terminal",
    "Operator",
    "Authorization",
    "Bill",
    "Split",
    "User",
    "Coupon",
    "ApiKey",
    "Settlement",
];

/// A value's encoding without the format-version byte.
fn encoded<T: serde::Serialize>(value: &T) -> Vec<u8> {
    kassa_engine::codec::encode(value)[1..].to_vec()
}

/// Decodes the unit variant `index` of an enum (`[version, index]`).
fn unit_variant<T: serde::de::DeserializeOwned>(index: usize) -> Result<T, kassa_engine::codec::CodecError> {
    kassa_engine::codec::decode(&[kassa_engine::codec::FORMAT_VERSION, u8::try_from(index).unwrap()])
}

#[test]
fn documented_variant_indices_match_the_code() {
    let commands = every_command();
    assert_eq!(commands.len(), COMMAND_KINDS.len());
    for (index, command) in commands.iter().enumerate() {
        assert_eq!(command.kind(), COMMAND_KINDS[index]);
        let bytes = kassa_engine::codec::encode(command);
        assert_eq!(usize::from(bytes[1]), index, "{}", command.kind());
        assert_eq!(&kassa_engine::codec::decode::<Command>(&bytes).unwrap(), command);
    }
    for (index, name) in REJECTIONS.iter().enumerate() {
        assert_eq!(format!("{:?}", unit_variant::<Rejection>(index).unwrap()), *name);
    }
    assert!(unit_variant::<Rejection>(REJECTIONS.len()).is_err());
    for (index, name) in OBJECT_KINDS.iter().enumerate() {
        assert_eq!(format!("{:?}", unit_variant::<ObjectKind>(index).unwrap()), *name);
    }
    assert!(unit_variant::<ObjectKind>(OBJECT_KINDS.len()).is_err());
    let codes = [
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::MalformedFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::InvalidBatch,
        ErrorCode::Busy,
        ErrorCode::ShuttingDown,
        ErrorCode::StorageFailed,
    ];
    for (index, code) in codes.into_iter().enumerate() {
        assert_eq!(unit_variant::<ErrorCode>(index).unwrap(), code);
    }
    assert!(unit_variant::<ErrorCode>(codes.len()).is_err());
    let replies = [
        Reply::Done,
        Reply::TransferBatch(vec![]),
        Reply::Captured { captured: 0, released: 0 },
        Reply::Authorized { code: String::new(), expires_at_ms: 0 },
        Reply::Settled { approval_code: String::new(), charged: 0, discount: 0 },
        Reply::BillSubmitted { total: 0, challenge: String::new() },
        Reply::BillPaid { charged: 0, discount: 0 },
        Reply::SplitRequested { shares: vec![] },
        Reply::SharePaid { amount: 0, completed: false },
        Reply::SplitCancelled { refunded: 0 },
        Reply::CouponIssued { code: String::new() },
        Reply::CouponRedeemed { discount: 0, payable: 0, reward_coupon: None },
        Reply::Ticked { expired: 0 },
        Reply::ContactRequested,
        Reply::CouponClaimed { code: String::new() },
        Reply::Refunded { amount: 0, remaining: 0 },
    ];
    for (index, reply) in replies.into_iter().enumerate() {
        let bytes = kassa_engine::codec::encode(&Outcome::Applied(reply));
        assert_eq!((bytes[1], usize::from(bytes[2])), (0, index));
    }
    assert_eq!(encoded(&SplitShares::Equal), [0]);
    assert_eq!(encoded(&SplitShares::Explicit(vec![7])), [1, 1, 7]);
    assert_eq!(encoded(&DeductionKind::FixedOff { amount: 7 }), [1, 7]);
    assert_eq!(encoded(&DeductionKind::SpendSave { threshold: 7, save: 8 }), [2, 7, 8]);
    assert_eq!(encoded(&AdjustmentCondition::TimeWindow { from_ms: 7, until_ms: 8 }), [0, 7, 8]);
    let center = kassa_engine::types::GeoPoint { latitude_e6: 1, longitude_e6: -2 };
    assert_eq!(encoded(&AdjustmentCondition::Location { center, radius_m: 300 }), [1, 2, 3, 0xfb, 0x2c, 0x01]);
    let roles = [
        Principal::Admin,
        Principal::Merchant(id("x")),
        Principal::Operator(id("x")),
        Principal::App(id("x")),
        Principal::Terminal(id("x")),
    ];
    for (index, role) in roles.iter().enumerate() {
        assert_eq!(usize::from(kassa_engine::codec::encode(role)[1]), index);
    }
    let bodies = [
        RequestBody::Hello { protocol_version: 1, api_key: String::new() },
        RequestBody::Submit(Command::Tick),
        RequestBody::Batch(vec![]),
        RequestBody::Ping,
        RequestBody::SubmitWithMetadata { command: Command::Tick, metadata: Metadata::default() },
    ];
    for (index, body) in bodies.iter().enumerate() {
        assert_eq!(usize::from(kassa_engine::codec::encode(body)[1]), index);
    }
    let bodies = [
        ResponseBody::Welcome { protocol_version: 1, frame_bytes_max: 1 },
        ResponseBody::Outcome(Outcome::Applied(Reply::Done)),
        ResponseBody::Outcomes(vec![]),
        ResponseBody::Pong,
        ResponseBody::Error { code: ErrorCode::Busy, message: String::new() },
    ];
    for (index, body) in bodies.iter().enumerate() {
        assert_eq!(usize::from(kassa_engine::codec::encode(body)[1]), index);
    }
}

#[test]
fn lengths_are_checked_before_anything_is_read() {
    assert_eq!(body_length([0, 0, 0, 0]), Err(FrameError::Empty));
    assert_eq!(body_length([0, 0, 0, 1]), Ok(1));
    assert_eq!(body_length([0, 0x10, 0, 0]), Ok(FRAME_BYTES_MAX));
    assert_eq!(body_length([0, 0x10, 0, 1]), Err(FrameError::TooLarge(FRAME_BYTES_MAX + 1)));
    assert_eq!(body_length([0xff; 4]), Err(FrameError::TooLarge(u32::MAX as usize)));
    assert_eq!(split_frame(&[0, 0, 0]), Ok(None));
    assert_eq!(split_frame(&[0, 0, 0, 2, 1]), Ok(None));
    assert_eq!(split_frame(&[0, 0, 0, 1, 1, 9]), Ok(Some((&[1u8][..], 5))));
    assert_eq!(split_frame(&[0xff, 0xff, 0xff, 0xff]), Err(FrameError::TooLarge(u32::MAX as usize)));
    assert_eq!(FrameError::Empty.code(), ErrorCode::MalformedFrame);
    assert_eq!(FrameError::TooLarge(0).code(), ErrorCode::FrameTooLarge);
    assert_eq!(hello_body_length([0, 0, 0x10, 0]), Ok(HELLO_BYTES_MAX));
    assert_eq!(hello_body_length([0, 0, 0x10, 1]), Err(FrameError::HelloTooLarge(HELLO_BYTES_MAX + 1)));
    assert_eq!(hello_body_length([0, 0, 0, 0]), Err(FrameError::Empty));
    assert_eq!(FrameError::HelloTooLarge(0).code(), ErrorCode::FrameTooLarge);
}

#[test]
fn oversized_messages_are_not_encoded() {
    let commands = vec![
        Command::Transfer(match transfer_request().body {
            RequestBody::Submit(Command::Transfer(transfer)) => transfer,
            _ => unreachable!(),
        });
        60_000
    ];
    let mut out = vec![7u8];
    let error = encode_frame(&Request { request_id: 1, body: RequestBody::Batch(commands) }, &mut out).unwrap_err();
    assert!(matches!(error, FrameError::TooLarge(bytes) if bytes > FRAME_BYTES_MAX));
    assert_eq!(out, [7]);
}

#[cfg(feature = "server")]
#[tokio::test]
async fn stream_reader_refuses_bad_lengths_without_allocating() {
    use super::frame::read_frame;
    let test = async {
        let mut body = Vec::new();
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let error = read_frame(&mut input, &mut body).await.unwrap_err();
        assert!(matches!(error, super::frame::ReadError::Frame(FrameError::TooLarge(_))));
        assert_eq!(body.capacity(), 0);
        assert_eq!(input, [1, 2, 3]);
        let mut input: &[u8] = &[0, 0, 0, 0];
        assert!(matches!(
            read_frame(&mut input, &mut body).await,
            Err(super::frame::ReadError::Frame(FrameError::Empty))
        ));
        let mut input: &[u8] = &[0, 0, 0, 5, 1, 2];
        assert!(matches!(read_frame(&mut input, &mut body).await, Err(super::frame::ReadError::Io(_))));
        // 1 MiB announced, 3 bytes sent: the buffer grew by what came, not by what was announced.
        let mut input: &[u8] = &[0, 0x10, 0, 0, 1, 2, 3];
        assert!(matches!(read_frame(&mut input, &mut body).await, Err(super::frame::ReadError::Io(_))));
        assert!(body.capacity() < 1024, "{}", body.capacity());
        let frame = example("transfer");
        let mut input: &[u8] = &frame;
        read_frame(&mut input, &mut body).await.unwrap();
        assert_eq!(decode_body::<Request>(&body).unwrap(), transfer_request());
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), test).await.expect("bounded");
}

/// Runs the whole decoding path over `bytes`; it may refuse them, never panic.
fn decode_everything(bytes: &[u8]) {
    if let Ok(Some((body, consumed))) = split_frame(bytes) {
        assert_eq!(consumed, body.len() + LENGTH_PREFIX_BYTES);
        let _ = decode_body::<Request>(body);
        let _ = decode_body::<Response>(body);
    }
    let _ = decode_body::<Request>(bytes);
    let _ = decode_body::<Response>(bytes);
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn decoder_never_panics_on_truncated_corrupted_or_random_input() {
    let mut corpus: Vec<Vec<u8>> = EXAMPLES.iter().map(|(name, _)| example(name)).collect();
    for (index, command) in every_command().into_iter().enumerate() {
        corpus.push(frame_of(&Request { request_id: index as u64, body: RequestBody::Submit(command) }));
    }
    corpus.push(frame_of(&Request { request_id: u64::MAX, body: RequestBody::Batch(every_command()) }));
    corpus.push(frame_of(&Response {
        request_id: 3,
        body: ResponseBody::Outcomes(vec![
            Outcome::Applied(Reply::CouponRedeemed { discount: 1, payable: 2, reward_coupon: Some(id("c")) }),
            Outcome::Applied(Reply::TransferBatch(vec![Outcome::Rejected(Rejection::SameAccount)])),
        ]),
    }));
    for frame in &corpus {
        // Every truncation: incomplete frames wait for more bytes; cut bodies are refused.
        for cut in 0..frame.len() {
            assert_eq!(split_frame(&frame[..cut]), Ok(None));
            decode_everything(&frame[..cut]);
            decode_everything(&frame[LENGTH_PREFIX_BYTES.min(cut)..cut]);
        }
        // Every single-byte corruption.
        for index in 0..frame.len() {
            for replacement in [frame[index] ^ 0xff, frame[index] ^ 0x01, 0x00, 0xfb, 0xfc, 0xfd, 0xfe, 0xff] {
                let mut corrupted = frame.clone();
                corrupted[index] = replacement;
                decode_everything(&corrupted);
            }
        }
    }
    // Pseudo-random inputs, half of them with a valid prefix and version byte to reach the body.
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..5_000 {
        let length = (random.next() % 96) as usize;
        let mut bytes: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
        if round % 2 == 0 && length > LENGTH_PREFIX_BYTES {
            let body = (length - LENGTH_PREFIX_BYTES) as u32;
            bytes[..LENGTH_PREFIX_BYTES].copy_from_slice(&body.to_be_bytes());
            bytes[LENGTH_PREFIX_BYTES] = kassa_engine::codec::FORMAT_VERSION;
        }
        decode_everything(&bytes);
        // And random mutations of valid frames.
        let mut mutated = corpus[round % corpus.len()].clone();
        for _ in 0..1 + random.next() % 4 {
            let index = (random.next() as usize) % mutated.len();
            mutated[index] = random.next() as u8;
        }
        decode_everything(&mutated);
    }
}

#[test]
fn metadata_is_validated_when_a_frame_is_decoded() {
    let frame = example("annotated");
    let (body, _) = split_frame(&frame).unwrap().unwrap();
    assert!(decode_body::<Request>(body).is_ok());
    // "order_id" becomes "order id": a key with a space.
    let bad_key = hex::encode(body).replace("6f726465725f6964", "6f72646572206964");
    assert!(decode_body::<Request>(&hex::decode(bad_key).unwrap()).is_err());
    // A count of 17 entries (more than the 16 allowed, and more than the frame holds) is refused.
    let too_many = hex::encode(body).replace("01086f72", "11086f72");
    assert!(decode_body::<Request>(&hex::decode(too_many).unwrap()).is_err());
}
