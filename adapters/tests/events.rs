//! `GET /v1/events` and `GET /v1/transfers/{id}`: the feed in pages (`limit`, `after`, `next_after`, `has_more`), scoped by
//! the caller's authority on several partitions, long-polled with `wait_ms`, refusing bad
//! cursors and callers without a key.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};

/// Every event `key` may see, `limit` at a time, following `next_after` to the end.
fn feed(server: &Server, key: &str, limit: usize) -> Vec<Value> {
    let (mut events, mut after) = (Vec::new(), None::<String>);
    loop {
        let path = match &after {
            Some(cursor) => format!("/v1/events?limit={limit}&after={cursor}"),
            None => format!("/v1/events?limit={limit}"),
        };
        let answer = server.call("GET", &path, Some(key), None);
        assert_eq!(answer.status, 200, "{answer:?}");
        let page = answer.body["data"].as_array().unwrap().clone();
        assert!(page.len() <= limit);
        events.extend(page);
        after = answer.body["next_after"].as_str().map(str::to_string);
        if answer.body["has_more"] != json!(true) {
            return events;
        }
    }
}

/// The accounts (or objects) the events are about.
fn subjects(events: &[Value]) -> Vec<String> {
    let mut subjects: Vec<String> = events
        .iter()
        .map(|event| event["account"].as_str().or(event["object_id"].as_str()).unwrap().to_string())
        .collect();
    subjects.sort();
    subjects.dedup();
    subjects
}

#[test]
fn the_feed_is_paged_and_each_tenant_sees_its_own_events() {
    let server = Server::start(&["--partitions", "3"]);
    let (shop_a, shop_b) =
        (server.key(json!({"role": "app", "app": "shop-a"})), server.key(json!({"role": "app", "app": "shop-b"})));
    for (key, account) in [(&shop_a, "x1"), (&shop_a, "x2"), (&shop_b, "y1")] {
        let answer = server.call("POST", "/v1/accounts", Some(key), Some(&json!({"id": account, "currency": "EUR"})));
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    server.admin("POST", "/v1/accounts/x1/deposits", json!({"id": "d1", "amount": 1_000}));
    let pay = json!({"id": "t1", "from": "x1", "to": "y1", "amount": 250, "currency": "EUR"});
    assert_eq!(server.call("POST", "/v1/transfers", Some(&shop_a), Some(&pay)).status, 200);

    let everything = feed(&server, common::ADMIN_KEY, 1_000);
    assert_eq!(feed(&server, common::ADMIN_KEY, 2), everything, "pages of two give the same feed");
    // The admin also sees the API keys registered, which are the admin's only.
    let (keys, all): (Vec<Value>, Vec<Value>) =
        everything.into_iter().partition(|event| event["object"] == json!("api_key"));
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(subjects(&all), ["x1", "x2", "y1"]);
    let postings: Vec<(String, i64)> = all
        .iter()
        .filter(|event| event["type"] == json!("posting") && event["ref"] == json!("t1"))
        .map(|event| (event["account"].as_str().unwrap().to_string(), event["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(postings, [("x1".to_string(), -250), ("y1".to_string(), 250)]);
    let opened = all.iter().find(|event| event["type"] == json!("changed")).unwrap();
    assert_eq!((opened["object"].clone(), opened["change"].clone()), (json!("account"), json!("opened")));

    let seen_by_a = feed(&server, &shop_a, 1);
    assert_eq!(subjects(&seen_by_a), ["x1", "x2"]);
    let seen_by_b = feed(&server, &shop_b, 1_000);
    assert_eq!(subjects(&seen_by_b), ["y1"]);
    assert_eq!(seen_by_a.len() + seen_by_b.len(), all.len());
    let stranger = server.key(json!({"role": "app", "app": "shop-c"}));
    assert!(feed(&server, &stranger, 1_000).is_empty());

    // The transfer by id: to the admin, and to the tenant of either side.
    let found = server.admin_get("/v1/transfers/t1");
    assert_eq!(
        (found["from"].clone(), found["to"].clone(), found["amount"].clone(), found["currency"].clone()),
        (json!("x1"), json!("y1"), json!(250), json!("EUR"))
    );
    assert_eq!(found["status"], json!("posted"));
    for key in [&shop_a, &shop_b] {
        let answer = server.call("GET", "/v1/transfers/t1", Some(key), None);
        assert_eq!((answer.status, answer.body.clone()), (200, found.clone()));
    }
    server.call("GET", "/v1/transfers/t1", Some(&stranger), None).assert_error(403, "forbidden");
    server.call("GET", "/v1/transfers/nope", Some(&stranger), None).assert_error(403, "forbidden");
    server.call("GET", "/v1/transfers/nope", Some(common::ADMIN_KEY), None).assert_error(404, "transfer_not_found");

    server.call("GET", "/v1/events?after=nope", Some(common::ADMIN_KEY), None).assert_error(400, "invalid_cursor");
    assert_eq!(server.call("GET", "/v1/events", None, None).status, 401);
}

#[test]
fn a_long_poll_answers_when_an_event_arrives_or_when_its_wait_ends() {
    let server = Server::start(&[]);
    server.funded_account("z1", "EUR", 10);
    let last = feed(&server, common::ADMIN_KEY, 1_000).last().unwrap()["id"].as_str().unwrap().to_string();

    let started = Instant::now();
    let quiet = server.admin_get(&format!("/v1/events?after={last}&wait_ms=300"));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!((quiet["data"].clone(), quiet["next_after"].clone()), (json!([]), json!(last)));

    let started = Instant::now();
    let waiting = {
        let path = format!("/v1/events?after={last}&wait_ms=20000");
        let server = &server;
        std::thread::scope(|scope| {
            let poll = scope.spawn(move || server.admin_get(&path));
            std::thread::sleep(Duration::from_millis(300));
            server.admin("POST", "/v1/accounts/z1/deposits", json!({"id": "d-late", "amount": 5}));
            poll.join().unwrap()
        })
    };
    assert!(started.elapsed() < Duration::from_secs(10), "answered when the deposit came");
    assert_eq!(waiting["data"][0]["ref"], json!("d-late"), "{waiting}");
}

/// A POS settlement's refund and reversal are changes of the settlement (`"object":
/// "settlement"`), in the feed of the merchant it paid and of the admin, not of other merchants.
#[test]
fn a_settlements_refund_and_reversal_reach_its_merchants_feed() {
    let server = Server::start(&[]);
    server.funded_account("payer", "EUR", 5_000);
    server.merchant_with_terminal("shop", "T1", None);
    server.merchant_with_terminal("rival", "T2", None);
    let (merchant, rival) = (
        server.key(json!({"role": "merchant", "merchant": "shop"})),
        server.key(json!({"role": "merchant", "merchant": "rival"})),
    );
    let code = server.authorize("au-ev", "u-ev", "payer", 5_000);
    let settle = json!({"id": "sale-ev", "user": "u-ev", "code": code, "amount": 1_000, "terminal": "T1"});
    assert_eq!(server.admin("POST", "/v1/pos/settlements", settle)["approved"], json!(true));
    server.admin("POST", "/v1/pos/settlements/sale-ev/refunds", json!({"id": "rf-ev", "amount": 100}));
    server.admin("POST", "/v1/pos/settlements/sale-ev/reverse", json!({}));
    let changes = |key: &str| -> Vec<(String, String)> {
        feed(&server, key, 100)
            .iter()
            .filter(|event| event["type"] == "changed" && event["object_id"] == "sale-ev")
            .map(|event| (event["object"].as_str().unwrap().to_string(), event["change"].as_str().unwrap().to_string()))
            .collect()
    };
    let expected = vec![("settlement".to_string(), "refunded".to_string()), ("settlement".into(), "cancelled".into())];
    assert_eq!(changes(common::ADMIN_KEY), expected);
    assert_eq!(changes(&merchant), expected);
    assert!(changes(&rival).is_empty());
}
