//! Metadata over HTTP and TCP against a real `kassa serve`: attached to transfers, holds, POS
//! settlements (a declined one too), bills and splits; returned by their lookups and in the event
//! feed, to their readers only; kept across a restart; the first kept when an id is retried;
//! malformed metadata refused with `invalid_metadata` (400 for a value that is not a string,
//! 422 for a key, value or count outside the bounds), metadata where it does not fit refused
//! with `metadata_not_supported`, and neither changes anything.

mod common;

use common::{ADMIN_KEY, Server, tcp_read, tcp_send, tcp_session};
use kassa_adapters::tcp::{Request, RequestBody, ResponseBody};
use kassa_engine::command::{Command, Movement, Transfer};
use kassa_engine::metadata::Metadata;
use kassa_engine::{Currency, Id, Outcome, Rejection};
use serde_json::{Value, json};

fn with_metadata(mut body: Value, order: &str) -> Value {
    body["metadata"] = json!({"order_id": order, "channel": "web"});
    body
}

fn expected(order: &str) -> Value {
    json!({"order_id": order, "channel": "web"})
}

#[test]
fn what_requests_create_carries_their_metadata_to_lookups_and_the_feed() {
    let mut server = Server::start(&[]);
    let app = server.key(json!({"role": "app", "app": "shop"}));
    let other = server.key(json!({"role": "app", "app": "rival"}));
    server.merchant_with_terminal("m1", "t1", None);
    let post = |path: &str, body: Value| {
        let answer = server.call("POST", path, Some(&app), Some(&body));
        assert_eq!(answer.status, 200, "{path} {body}: {answer:?}");
        answer.body
    };
    post("/v1/accounts", json!({"id": "a1", "currency": "EUR"}));
    post("/v1/accounts", json!({"id": "a2", "currency": "EUR"}));
    server.admin("POST", "/v1/accounts/a1/deposits", json!({"id": "fund", "amount": 10_000}));
    let transfer = json!({"id": "t-1", "from": "a1", "to": "a2", "amount": 100, "currency": "EUR"});
    post("/v1/transfers", with_metadata(transfer.clone(), "T-1"));
    // The retry answers as the first did; the first metadata stays.
    post("/v1/transfers", with_metadata(transfer, "T-2"));
    let hold = json!({"id": "h-1", "from": "a1", "to": "a2", "amount": 10, "currency": "EUR", "expires_in_s": 600});
    post("/v1/holds", with_metadata(hold, "H-1"));
    let code = server.authorize("au-1", "u1", "a1", 50_000);
    let declined = json!({"id": "s-1", "user": "u1", "code": code, "amount": 40_000, "terminal": "t1"});
    let answer = server.call("POST", "/v1/pos/settlements", Some(ADMIN_KEY), Some(&with_metadata(declined, "S-1")));
    assert_eq!(answer.body["approved"], json!(false), "{answer:?}");
    let bill = json!({"id": "b-1", "user": "u1", "account": "a1", "merchant": "m1", "expires_in_s": 600});
    post("/v1/bills", with_metadata(bill, "B-1"));
    let split = json!({"id": "p-1", "requester": "u1", "requester_account": "a1", "total": 2, "currency": "EUR",
                       "members": [{"user": "u1", "account": "a1"}], "expires_in_s": 600});
    post("/v1/splits", with_metadata(split, "P-1"));

    let lookups = [
        ("/v1/transfers/t-1", "T-1"),
        ("/v1/holds/h-1", "H-1"),
        ("/v1/pos/settlements/s-1", "S-1"),
        ("/v1/bills/b-1", "B-1"),
        ("/v1/splits/p-1", "P-1"),
    ];
    let check = |server: &Server| {
        for (path, order) in lookups {
            assert_eq!(server.admin_get(path)["metadata"], expected(order), "{path}");
            if path != "/v1/pos/settlements/s-1" {
                let mine = server.call("GET", path, Some(&app), None);
                assert_eq!(mine.body["metadata"], expected(order), "{path}: {mine:?}");
            }
            server.call("GET", path, Some(&other), None).assert_error(403, "forbidden");
        }
        let feed = server.call("GET", "/v1/events?limit=1000", Some(&app), None);
        let annotated: Vec<(Value, Value, Value)> = feed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["type"] == "annotated")
            .map(|event| (event["object"].clone(), event["object_id"].clone(), event["metadata"].clone()))
            .collect();
        let objects =
            [("transfer", "t-1", "T-1"), ("hold", "h-1", "H-1"), ("bill", "b-1", "B-1"), ("split", "p-1", "P-1")];
        let wanted: Vec<(Value, Value, Value)> =
            objects.iter().map(|(kind, id, order)| (json!(kind), json!(id), expected(order))).collect();
        assert_eq!(annotated, wanted, "the app's feed: its own objects' metadata, in log order");
        let rival = server.call("GET", "/v1/events?limit=1000", Some(&other), None);
        assert!(rival.body["data"].as_array().unwrap().iter().all(|event| event["type"] != "annotated"));
        // A hold with nothing attached answers an empty object.
        assert_eq!(server.admin_get("/v1/holds/h-2")["metadata"], json!({}));
    };
    let plain = json!({"id": "h-2", "from": "a1", "to": "a2", "amount": 1, "currency": "EUR", "expires_in_s": 600});
    post("/v1/holds", plain);
    check(&server);
    server.restart();
    check(&server);
}

#[test]
fn malformed_or_misplaced_metadata_is_refused_and_changes_nothing() {
    let server = Server::start(&[]);
    server.funded_account("a1", "EUR", 1_000);
    server.funded_account("a2", "EUR", 0);
    let transfer = |id: &str, metadata: Value| {
        let body = json!({"id": id, "from": "a1", "to": "a2", "amount": 1, "currency": "EUR", "metadata": metadata});
        server.call("POST", "/v1/transfers", Some(ADMIN_KEY), Some(&body))
    };
    let too_many: serde_json::Map<String, Value> = (0..17).map(|n| (format!("k{n}"), json!("v"))).collect();
    for not_strings in [json!({"order": 7}), json!({"order": null})] {
        transfer("t-bad", not_strings).assert_error(400, "invalid_metadata");
    }
    let bad = [
        json!({"has space": "v"}),
        json!({"": "v"}),
        json!({"k".repeat(41): "v"}),
        json!({"k": "é".repeat(501)}),
        json!({"k": "line\nbreak"}),
        Value::Object(too_many),
    ];
    for metadata in bad {
        let answer = transfer("t-bad", metadata.clone());
        assert_eq!((answer.status, answer.code()), (422, "invalid_metadata"), "{metadata}: {answer:?}");
    }
    // One key twice: refused as over the binary protocol, not the last one kept.
    let twice = r#"{"id": "t-bad", "from": "a1", "to": "a2", "amount": 1, "currency": "EUR", "metadata": {"k": "a", "k": "b"}}"#;
    let answer = server.call_raw("POST", "/v1/transfers", Some(ADMIN_KEY), Some(twice));
    assert_eq!((answer.status, answer.code()), (422, "invalid_metadata"), "{answer:?}");
    // Not an object at all: the body is malformed.
    transfer("t-bad", json!(["order", "7"])).assert_error(400, "malformed_request");
    // Sixteen entries, 40-byte keys and 500-character values are the bounds, inclusive.
    let full: serde_json::Map<String, Value> = (0..16).map(|n| (format!("{n:0>40}"), json!("é".repeat(500)))).collect();
    assert_eq!(transfer("t-full", Value::Object(full)).status, 200);
    // Metadata on a batch's transfers, or on a command that creates nothing it fits, is refused.
    let leg = json!({"id": "t-leg", "from": "a1", "to": "a2", "amount": 1, "currency": "EUR", "metadata": {"k": "v"}});
    let batch = server.call("POST", "/v1/transfers/batch", Some(ADMIN_KEY), Some(&json!({"transfers": [leg]})));
    batch.assert_error(422, "metadata_not_supported");
    let deposit = json!({"id": "d-1", "amount": 5, "metadata": {"k": "v"}});
    let answer = server.call("POST", "/v1/accounts/a1/deposits", Some(ADMIN_KEY), Some(&deposit));
    answer.assert_error(400, "malformed_request");
    assert_eq!(server.balance("a1").0, 999, "only t-full applied");
    server.call("GET", "/v1/transfers/t-bad", Some(ADMIN_KEY), None).assert_error(404, "transfer_not_found");
}

#[test]
fn the_tcp_protocol_carries_metadata_and_refuses_it_where_it_does_not_fit() {
    let server = Server::start(&[]);
    server.funded_account("a1", "EUR", 1_000);
    server.funded_account("a2", "EUR", 0);
    let mut stream = tcp_session(server.tcp);
    let metadata = Metadata::new([("order_id".to_owned(), "A-1".to_owned())]).unwrap();
    let id = |text: &str| Id::new(text).unwrap();
    let transfer =
        Command::Transfer(Transfer { id: id("t-1"), from: id("a1"), to: id("a2"), amount: 7, currency: Currency::EUR });
    let deposit = Command::Deposit(Movement { id: id("d-1"), account: id("a1"), amount: 7 });
    let mut submit = |request_id: u64, command: Command| {
        let body = RequestBody::SubmitWithMetadata { command, metadata: metadata.clone() };
        tcp_send(&mut stream, &Request { request_id, body });
        let response = tcp_read(&mut stream).expect("an answer");
        assert_eq!(response.request_id, request_id);
        match response.body {
            ResponseBody::Outcome(outcome) => outcome,
            other => panic!("{other:?}"),
        }
    };
    assert!(submit(2, transfer).is_applied());
    assert_eq!(submit(3, deposit), Outcome::Rejected(Rejection::MetadataNotSupported));
    assert_eq!(server.admin_get("/v1/transfers/t-1")["metadata"], json!({"order_id": "A-1"}));
    assert_eq!(server.balance("a1").0, 993);
}

/// A transfer's metadata is the payer's note: a payee of another tenant looks the transfer up
/// and sees it without the metadata, as its feed shows no `annotated` event for it.
#[test]
fn a_payee_of_another_tenant_sees_the_transfer_without_the_payers_metadata() {
    let server = Server::start(&[]);
    let (payer, payee) =
        (server.key(json!({"role": "app", "app": "payer"})), server.key(json!({"role": "app", "app": "payee"})));
    server.call("POST", "/v1/accounts", Some(&payer), Some(&json!({"id": "pa", "currency": "EUR"})));
    server.call("POST", "/v1/accounts", Some(&payee), Some(&json!({"id": "pb", "currency": "EUR"})));
    server.admin("POST", "/v1/accounts/pa/deposits", json!({"id": "fund-pa", "amount": 1_000}));
    let transfer = json!({"id": "t-x", "from": "pa", "to": "pb", "amount": 100, "currency": "EUR"});
    let answer = server.call("POST", "/v1/transfers", Some(&payer), Some(&with_metadata(transfer, "X-1")));
    assert_eq!(answer.status, 200, "{answer:?}");
    let by_payer = server.call("GET", "/v1/transfers/t-x", Some(&payer), None);
    assert_eq!(by_payer.body["metadata"], expected("X-1"), "{by_payer:?}");
    let by_payee = server.call("GET", "/v1/transfers/t-x", Some(&payee), None);
    assert_eq!((by_payee.status, by_payee.body["amount"].clone()), (200, json!(100)), "{by_payee:?}");
    assert_eq!(by_payee.body["metadata"], json!({}), "{by_payee:?}");
    assert_eq!(server.admin_get("/v1/transfers/t-x")["metadata"], expected("X-1"));
}
