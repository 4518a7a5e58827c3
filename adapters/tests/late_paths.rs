//! Late answers against a real `kassa serve`: ISO 8583 messages that name a pre-authorization
//! after its hold left memory (`--resolved-in-memory-secs 1`) answer as memory did — a repeated
//! 0220 completion, a completion for another amount or of a reversed 0100, a repeated 0400 — and
//! the merchant's list of settlements crosses from storage into memory and back; and an atomic
//! transfer batch refused over the TCP binary protocol answers `BatchRejected`, naming its leg,
//! byte for byte as docs/protocol.md writes it.

#![cfg(feature = "server")]

mod common;

use std::io::Read;

use common::{Iso, Server, TRANSMITTED, purchase, response_code, tcp_read, tcp_send, tcp_session};
use kassa_adapters::iso8583::Message;
use kassa_adapters::tcp::frame::decode_body;
use kassa_adapters::tcp::{Request, RequestBody, Response, ResponseBody};
use kassa_engine::command::{Transfer, TransferBatch};
use kassa_engine::{Command, Currency, Id, Outcome, Rejection, Reply};
use serde_json::{Value, json};

// ----- ISO 8583: a completion after its hold left memory --------------------------------------

const TERMINAL: &str = "LPTERM01";
const USER: &str = "4000000000000051";

/// A 0100 (pre-authorization: a hold) of `amount` with STAN `stan`, sent at [`TRANSMITTED`].
fn authorization(stan: u32, code: &str, amount: u64) -> Message {
    authorization_at(TERMINAL, stan, code, amount)
}

/// [`authorization`] at `terminal`.
fn authorization_at(terminal: &str, stan: u32, code: &str, amount: u64) -> Message {
    let mut message = purchase(terminal, stan, USER, code, amount);
    message.set_mti("0100").unwrap();
    message
}

/// Field 90 naming the 0100 of STAN `stan` (its STAN and field 7).
fn original(stan: u32) -> String {
    format!("0100{stan:06}{TRANSMITTED}{}", "0".repeat(22))
}

/// A 0220 (completion) with STAN `stan` of the 0100 of STAN `of`, for the final `amount`.
fn completion(of: u32, stan: u32, amount: u64) -> Message {
    Message::new("0220")
        .unwrap()
        .with(4, format!("{amount:012}"))
        .with(7, "1204130000")
        .with(11, format!("{stan:06}"))
        .with(41, TERMINAL)
        .with(90, original(of))
}

/// A 0400 (reversal) with STAN `stan` of the 0100 of STAN `of`.
fn reversal(of: u32, stan: u32) -> Message {
    Message::new("0400")
        .unwrap()
        .with(7, "1204130500")
        .with(11, format!("{stan:06}"))
        .with(41, TERMINAL)
        .with(90, original(of))
}

/// The messages that name the resolved pre-authorizations (STAN 7 completed for 4,200, STAN 9
/// reversed), and the field 39 each gets: the repeated completion 00 (0230), another completion
/// of the captured hold 05, a completion of the voided one 05, of one never made 05, the
/// repeated reversal 00 (0410).
fn late_messages() -> Vec<(Message, &'static str)> {
    vec![
        (completion(7, 8, 4_200), "00"),
        (completion(7, 12, 4_300), "05"),
        (completion(9, 13, 3_000), "05"),
        (completion(99, 14, 100), "05"),
        (reversal(9, 10), "00"),
    ]
}

/// Sends [`late_messages`] on a fresh connection; the answers, each with its expected code.
fn send_late_messages(server: &Server) -> Vec<Message> {
    let mut iso = Iso::connect(server.iso);
    let answers: Vec<Message> = late_messages().iter().map(|(message, _)| iso.exchange(message)).collect();
    let codes: Vec<(&str, &str)> = answers.iter().map(|answer| (answer.mti(), response_code(answer))).collect();
    assert_eq!(codes, [("0230", "00"), ("0230", "05"), ("0230", "05"), ("0230", "05"), ("0410", "00")]);
    assert!(answers.iter().all(|answer| !answer.contains(38)), "no approval code: {answers:?}");
    answers
}

/// `((payer balance, held), shop balance)`: 4,200 captured, 1,000 still held by STAN 11.
fn assert_moved_once(server: &Server) {
    assert_eq!((server.balance("lp-payer"), server.balance("lp-shop-till").0), ((95_800, 1_000), 4_200));
}

/// The merchant's settlements, paged 1, 2 and 4 at a time: the three 0100s (7 and 9 out of
/// memory, 11 in it with its active hold) and the HTTP sale s-1 (out of memory), each once in id
/// order, each as it is looked up.
fn check_settlements(server: &Server, merchant: &str) {
    let ids =
        ["iso:LPTERM01:000007:1204120000", "iso:LPTERM01:000009:1204120000", "iso:LPTERM01:000011:1204120000", "s-1"];
    for limit in [1, 2, 4] {
        let mut listed: Vec<Value> = Vec::new();
        loop {
            let after = listed.last().map(|item| format!("&starting_after={}", item["id"].as_str().unwrap()));
            let path = format!("/v1/merchants/lp-shop/settlements?limit={limit}{}", after.unwrap_or_default());
            let page = server.call("GET", &path, Some(merchant), None);
            assert_eq!(page.status, 200, "{page:?}");
            let data = page.body["data"].as_array().unwrap();
            assert!(!data.is_empty() && data.len() <= limit, "{page:?}");
            listed.extend(data.iter().cloned());
            if page.body["has_more"] == json!(false) {
                break;
            }
            assert_eq!((data.len(), listed.len() < ids.len()), (limit, true), "has_more, and more: {page:?}");
        }
        let found: Vec<&str> = listed.iter().map(|item| item["id"].as_str().unwrap()).collect();
        assert_eq!(found, ids, "limit {limit}");
        for item in &listed {
            let mut looked_up = server.admin_get(&format!("/v1/pos/settlements/{}", item["id"].as_str().unwrap()));
            looked_up.as_object_mut().unwrap().remove("metadata");
            assert_eq!(looked_up, *item, "listed as it is looked up (less its metadata)");
        }
    }
}

/// Three 0100 holds; STAN 7 completed, STAN 9 reversed, STAN 11 left active; an HTTP sale s-1.
fn pre_authorize(server: &Server, iso: &mut Iso) {
    for (authorization_id, stan, amount) in [("lp-au-7", 7, 5_000), ("lp-au-9", 9, 3_000), ("lp-au-11", 11, 1_000)] {
        let code = server.authorize(authorization_id, USER, "lp-payer", 10_000);
        let answer = iso.exchange(&authorization(stan, &code, amount));
        assert_eq!((answer.mti(), response_code(&answer)), ("0110", "00"), "{answer:?}");
    }
    let completed = iso.exchange(&completion(7, 8, 4_200));
    assert_eq!((completed.mti(), response_code(&completed)), ("0230", "00"), "{completed:?}");
    let reversed = iso.exchange(&reversal(9, 10));
    assert_eq!((reversed.mti(), response_code(&reversed)), ("0410", "00"), "{reversed:?}");
    let code = server.authorize("lp-au-s", USER, "lp-payer", 10_000);
    let sale = json!({"id": "s-1", "user": USER, "code": code, "amount": 500, "terminal": TERMINAL});
    assert_eq!(server.admin("POST", "/v1/pos/settlements", sale)["approved"], json!(true));
    let refund = json!({"id": "r-1", "amount": 500}); // The sale given back: the balances stay simple.
    server.admin("POST", "/v1/pos/settlements/s-1/refunds", refund);
}

/// A 0220 completion, a 0400 reversal and their repeats, arriving after the 0100's hold was
/// captured or voided and left memory (with the 0100's settlement), answer exactly what they
/// answered while it was in memory, and move nothing; the same after a restart. (An active hold
/// never leaves memory: only a resolved one can be met in storage.)
#[test]
fn iso_8583_completions_after_the_hold_left_memory_answer_as_memory_did() {
    let mut server = Server::start(&["--resolved-in-memory-secs", "1"]);
    server.funded_account("lp-payer", "EUR", 100_000);
    server.merchant_with_terminal("lp-shop", TERMINAL, None);
    let merchant = server.key(json!({"role": "merchant", "merchant": "lp-shop"}));
    pre_authorize(&server, &mut Iso::connect(server.iso));
    assert_moved_once(&server);
    let in_memory = send_late_messages(&server);
    // Four authorizations, the sale, and the holds of STAN 7 and 9 with their settlements.
    server.wait_archived(9);
    assert_eq!(send_late_messages(&server), in_memory, "out of memory, the same answers");
    assert_moved_once(&server);
    server.wait_archived(13); // Taken back to be answered, STAN 7's and 9's left again.
    check_settlements(&server, &merchant);

    server.restart();
    assert_eq!(send_late_messages(&server), in_memory, "after a restart, the same answers");
    assert_moved_once(&server);
    check_settlements(&server, &merchant);
    // The active hold is still completed, once.
    let completed = Iso::connect(server.iso).exchange(&completion(11, 15, 1_000));
    assert_eq!((completed.mti(), response_code(&completed)), ("0230", "00"), "{completed:?}");
    assert_eq!((server.balance("lp-payer"), server.balance("lp-shop-till").0), ((94_800, 0), 5_200));
}

/// On three partitions, as a POS network sees it: 0100 pre-authorizations of payers on every
/// partition hold their funds where they live, a 0220 completion captures part and releases
/// the rest, a 0400 reversal releases it all, a payer short of funds is declined (51) and holds
/// nothing, and a hold left active completes after a restart. The money adds up.
#[test]
fn iso_8583_pre_authorizations_of_payers_on_every_partition_complete_and_reverse() {
    let mut server = Server::start(&["--partitions", "3"]);
    // Twelve merchants whose accounts live wherever their ids place them (all on the home
    // partition: one chance in 3^12); a 0100 goes through each, the rest through the first.
    let tills: Vec<String> = (0..12)
        .map(|n| {
            let till = format!("pa-till-{n}");
            server.funded_account(&till, "EUR", 0);
            server.admin("POST", "/v1/merchants", json!({"id": format!("pa-shop-{n}"), "account": till}));
            let terminal = if n == 0 { TERMINAL.to_string() } else { format!("PATERM{n:02}") };
            server.admin("POST", "/v1/terminals", json!({"id": terminal, "merchant": format!("pa-shop-{n}")}));
            till
        })
        .collect();
    let till = tills[0].clone();
    let mut iso = Iso::connect(server.iso);
    for n in 1..12u32 {
        let payer = format!("pa-other-{n}");
        server.funded_account(&payer, "EUR", 1_000);
        let code = server.authorize(&format!("pa-au-other-{n}"), USER, &payer, 1_000);
        let answer = iso.exchange(&authorization_at(&format!("PATERM{n:02}"), 100 + n, &code, 600));
        assert_eq!((answer.mti(), response_code(&answer)), ("0110", "00"), "merchant {n}: {answer:?}");
        assert_eq!(server.balance(&payer), (1_000, 600), "merchant {n}: held");
    }
    let mut iso = Iso::connect(server.iso);
    for n in 0..8u32 {
        let payer = format!("pa-payer-{n}");
        server.funded_account(&payer, "EUR", 10_000);
        let code = server.authorize(&format!("pa-au-{n}"), USER, &payer, 10_000);
        let answer = iso.exchange(&authorization(100 + n, &code, 1_000));
        assert_eq!((answer.mti(), response_code(&answer)), ("0110", "00"), "payer {n}: {answer:?}");
        assert_eq!(server.balance(&payer), (10_000, 1_000), "payer {n}: held where it lives");
        let (answer, expected) = if n % 2 == 0 {
            (iso.exchange(&completion(100 + n, 200 + n, 800)), ("0230", (9_200, 0)))
        } else {
            (iso.exchange(&reversal(100 + n, 200 + n)), ("0410", (10_000, 0)))
        };
        assert_eq!((answer.mti(), response_code(&answer)), (expected.0, "00"), "payer {n}: {answer:?}");
        assert_eq!(server.balance(&payer), expected.1, "payer {n}");
    }
    assert_eq!(server.balance(&till).0, 4 * 800);
    // Short of funds: declined, nothing held.
    server.funded_account("pa-poor", "EUR", 500);
    let code = server.authorize("pa-au-poor", USER, "pa-poor", 10_000);
    let declined = iso.exchange(&authorization(300, &code, 1_000));
    assert_eq!((declined.mti(), response_code(&declined)), ("0110", "51"), "{declined:?}");
    assert_eq!(server.balance("pa-poor"), (500, 0));
    // A hold left active survives a restart, and completes once.
    let code = server.authorize("pa-au-kept", USER, "pa-payer-1", 10_000);
    let answer = iso.exchange(&authorization(301, &code, 2_000));
    assert_eq!(response_code(&answer), "00", "{answer:?}");
    server.restart();
    assert_eq!(server.balance("pa-payer-1"), (10_000, 2_000));
    let completed = Iso::connect(server.iso).exchange(&completion(301, 302, 2_000));
    assert_eq!((completed.mti(), response_code(&completed)), ("0230", "00"), "{completed:?}");
    assert_eq!((server.balance("pa-payer-1"), server.balance(&till).0), ((8_000, 0), 4 * 800 + 2_000));
}

// ----- TCP: an atomic batch refused names its leg ---------------------------------------------

fn transfer(id: &str, from: &str, to: &str, amount: u64) -> Transfer {
    let id_of = |text: &str| Id::new(text).unwrap();
    Transfer { id: id_of(id), from: id_of(from), to: id_of(to), amount, currency: Currency::EUR }
}

/// Submits `batch` over `session` as request `request_id`; the reply frame's raw bytes (length
/// prefix included).
fn submit_raw(session: &mut std::net::TcpStream, request_id: u64, batch: TransferBatch) -> Vec<u8> {
    let body = RequestBody::Submit(Command::TransferBatch(batch));
    tcp_send(session, &Request { request_id, body });
    let mut frame = vec![0u8; 4];
    session.read_exact(&mut frame).unwrap();
    let length = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    frame.resize(4 + length, 0);
    session.read_exact(&mut frame[4..]).unwrap();
    frame
}

/// An atomic `TransferBatch` whose third transfer (leg 2, from 0) lacks the funds is answered
/// `Outcome::BatchRejected { leg: 2, rejection: InsufficientFunds }`: on the wire `00000006 01
/// 07 01 02 02 09` (docs/protocol.md §2, §6), and nothing moves; one whose first transfer names
/// no counterparty names leg 0; the same transfers unlinked apply one by one.
#[test]
fn an_atomic_batch_refused_over_tcp_answers_batch_rejected_naming_its_leg() {
    let server = Server::start(&[]);
    for (account, funds) in [("tb-a", 1_000), ("tb-b", 0), ("tb-c", 0)] {
        server.funded_account(account, "EUR", funds);
    }
    let balances = || ["tb-a", "tb-b", "tb-c"].map(|account| server.balance(account).0);
    let mut session = tcp_session(server.tcp);
    let legs = vec![
        transfer("tb-1", "tb-a", "tb-b", 600),
        transfer("tb-2", "tb-b", "tb-c", 500),
        transfer("tb-3", "tb-c", "tb-a", 501),
    ];
    let frame = submit_raw(&mut session, 7, TransferBatch { atomic: true, transfers: legs.clone() });
    assert_eq!(
        frame,
        [0, 0, 0, 6, 0x01, 0x07, 0x01, 0x02, 0x02, 0x09],
        "Outcome 1, BatchRejected 2, leg 2, rejection 9"
    );
    let rejected = Outcome::BatchRejected { leg: 2, rejection: Rejection::InsufficientFunds };
    let decoded: Response = decode_body(&frame[4..]).unwrap();
    assert_eq!(decoded, Response { request_id: 7, body: ResponseBody::Outcome(rejected) });
    assert_eq!(balances(), [1_000, 0, 0], "nothing applied");

    let nobody = vec![transfer("tb-4", "tb-a", "tb-nobody", 1), transfer("tb-5", "tb-a", "tb-b", 1)];
    tcp_send(
        &mut session,
        &Request {
            request_id: 8,
            body: RequestBody::Submit(Command::TransferBatch(TransferBatch { atomic: true, transfers: nobody })),
        },
    );
    let rejected = Outcome::BatchRejected { leg: 0, rejection: Rejection::CounterpartyNotFound };
    assert_eq!(tcp_read(&mut session), Some(Response { request_id: 8, body: ResponseBody::Outcome(rejected) }));

    let unlinked = TransferBatch { atomic: false, transfers: legs };
    tcp_send(&mut session, &Request { request_id: 9, body: RequestBody::Submit(Command::TransferBatch(unlinked)) });
    let applied = Outcome::Applied(Reply::Done);
    let each = vec![applied.clone(), applied, Outcome::Rejected(Rejection::InsufficientFunds)];
    let expected = Outcome::Applied(Reply::TransferBatch(each));
    assert_eq!(tcp_read(&mut session), Some(Response { request_id: 9, body: ResponseBody::Outcome(expected) }));
    assert_eq!(balances(), [400, 100, 500]);
}
